//! The native JSON-lines parser and the validator never panic, whatever the bytes.
#![no_main]

use hpti_core::parser::{NativeParser, ParseContext, Parser};
use hpti_core::validate::Validator;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(Some(event)) = NativeParser.parse(data, &ParseContext::default()) {
        let _ = Validator::default().validate(&event);
        // What parsed must serialise again.
        let json = serde_json::to_vec(&event);
        assert!(json.is_ok());
    }
});
