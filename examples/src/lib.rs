//! Examples of extending hpti from outside its crates; see `custom_enricher.rs` and
//! `custom_sink.rs` beside this folder (`cargo run -p hpti-examples --example custom_sink`).
