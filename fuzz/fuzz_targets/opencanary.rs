//! The opencanary parser (OpenCanary JSON lines) never panics, whatever the bytes; what it accepts
//! serialises, and the same line at the same offset gets the same id again. The input is split into lines and fed to one
//! parser, so state kept between lines is exercised too.
#![no_main]

use hpti_core::parser::{ParseContext, Parser};
use hpti_core::parsers::OpenCanaryParser;
use hpti_core::validate::Validator;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let parser = OpenCanaryParser;
    let mut offset = 0u64;
    for line in data.split(|b| *b == b'\n') {
        let ctx = ParseContext {
            source: "fuzz",
            offset,
            sensor: "fuzz",
        };
        let first = parser.parse(line, &ctx);
        if let Ok(Some(event)) = &first {
            let _ = Validator::default().validate(event);
            assert!(serde_json::to_vec(event).is_ok());
            // Deterministic: the same line at the same offset gets the same id.
            let again = parser.parse(line, &ctx);
            assert_eq!(again.ok().flatten().map(|e| e.id), Some(event.id));
        }
        offset += line.len() as u64 + 1;
    }
});
