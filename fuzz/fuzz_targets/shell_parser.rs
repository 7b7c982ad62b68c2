//! The emulated shell's parser (hpti-sensors/src/shell/parser.rs) on hostile lines:
//! never panics or overflows the stack, and quoting round-trips exactly as the
//! project's proptest `quoting_round_trips` (hpti-sensors/tests/shell_prop.rs) states it:
//! for 1 to 5 words of at most 12 characters other than LF, `parse(&quote(&words))`
//! parses, and its first simple command has exactly those words (reserved words such as
//! `esac` included: this target found that `quote` left them bare).
//!
//! Input: the bytes as UTF-8 (lossy) are parsed; the same text split at LF gives the
//! words for the round trip.
#![no_main]

use libfuzzer_sys::fuzz_target;

// parser.rs calls `super::text::unescape_c`: text.rs is its sibling at the crate root,
// as both are children of `shell` in hpti-sensors.
#[path = "../../hpti-sensors/src/shell/text.rs"]
#[allow(dead_code, unreachable_pub)]
mod text;

#[path = "../../hpti-sensors/src/shell/parser.rs"]
#[allow(dead_code, unreachable_pub)]
mod parser;

use parser::{Command, List, parse, quote};

/// `words_of` of shell_prop.rs.
fn words_of(list: &List) -> Option<Vec<String>> {
    let item = list.first()?;
    match item.and_or.first.commands.first()? {
        Command::Simple(s) => s.words.iter().map(|w| w.literal_text()).collect(),
        _ => None,
    }
}

fuzz_target!(|data: &[u8]| {
    let line = String::from_utf8_lossy(data);
    if let Err(err) = parse(&line) {
        let _ = err.to_string();
    }

    // proptest: `prop::collection::vec(".{0,12}", 1..6)`.
    let words: Vec<String> = line
        .split('\n')
        .take(5)
        .map(|w| w.chars().take(12).collect())
        .collect();
    let quoted = quote(&words);
    let list = match parse(&quoted) {
        Ok(list) => list,
        Err(err) => panic!("quoted words {words:?} as {quoted:?} do not parse: {err}"),
    };
    assert_eq!(words_of(&list), Some(words), "quoted as {quoted:?}");
});
