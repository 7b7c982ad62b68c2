//! The configuration loader never panics, whatever the file says, and every error it
//! reports points at a line of the file.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../hpti-bin/src/config/schema.rs"]
#[allow(dead_code, unreachable_pub)]
mod schema;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Err(err) = schema::Config::parse(text, "fuzz.toml") {
        if let Some(line) = err.line {
            assert!(line >= 1 && line <= text.lines().count().max(1) + 1, "{err}");
        }
        let _ = err.to_string();
    }
});
