//! The `scp -t` sink (hpti-sensors/src/ssh/scp.rs) on hostile channel bytes: never
//! panics, captures no more file content than it was fed, names every file under the
//! target, acknowledges each file, stops for good after a refusal, and how the bytes are
//! split into channel reads changes nothing.
//!
//! Input: `l1, l2, l3, stream...`; `l1..l3` cycle as the chunk lengths (`% 64`, 0 = an
//! empty read followed by a 1-byte one) the stream is fed in. The stream's first line is
//! also tried as an exec command.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../hpti-sensors/src/ssh/scp.rs"]
#[allow(dead_code, unreachable_pub)]
mod scp;

use scp::{ScpSink, ScpStep};

fn check(steps: &[ScpStep], fed: usize) {
    let content: usize = steps
        .iter()
        .map(|step| match step {
            ScpStep::File { content, .. } => content.len(),
            _ => 0,
        })
        .sum();
    assert!(content <= fed, "{content} bytes captured from {fed} fed");
    for (i, step) in steps.iter().enumerate() {
        match step {
            ScpStep::File { name, .. } => {
                assert!(name.starts_with("/tmp/"), "{name:?}");
                assert_eq!(steps.get(i + 1), Some(&ScpStep::Ack), "file acknowledged");
            }
            ScpStep::Fail(message) => {
                assert!(message.starts_with("scp: "), "{message:?}");
                assert_eq!(i + 1, steps.len(), "nothing after a refusal");
            }
            ScpStep::Ack => {}
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let (lengths, stream) = data.split_at(data.len().min(3));

    // The exec command parser on arbitrary text.
    let first = stream.split(|&b| b == b'\n').next().unwrap_or(&[]);
    let _ = ScpSink::for_command(&String::from_utf8_lossy(&first[..first.len().min(256)]));

    let mut split = ScpSink::for_command("scp -t /tmp").expect("a sink command");
    let mut steps_split = Vec::new();
    let mut rest = stream;
    let mut i = 0;
    while !rest.is_empty() {
        let mut len = lengths
            .get(i % lengths.len().max(1))
            .map_or(rest.len(), |&l| usize::from(l % 64));
        i += 1;
        if len == 0 {
            assert!(split.feed(&[]).is_empty());
            len = 1;
        }
        let (chunk, tail) = rest.split_at(len.min(rest.len()));
        rest = tail;
        steps_split.extend(split.feed(chunk));
    }
    check(&steps_split, stream.len());

    // Reads of any size give the same steps as one read.
    let mut whole = ScpSink::for_command("scp -t /tmp").expect("a sink command");
    let steps_whole = whole.feed(stream);
    assert_eq!(steps_split, steps_whole);
    // After a refusal the sink stays silent.
    if matches!(steps_whole.last(), Some(ScpStep::Fail(_))) {
        assert!(whole.feed(b"C0644 1 x\nx\0").is_empty());
    }
});
