//! The HTTP sensor's request reader (hpti-sensors/src/http/request.rs) on hostile bytes:
//! never panics; a head is found within the limits or refused; a complete head's length
//! is within the input and ends with its blank line; its fields obey the limits; chunked
//! bodies decode within their bound, consuming only what they were given.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../hpti-sensors/src/http/request.rs"]
#[allow(dead_code, unreachable_pub)]
mod request;

use bytes::BytesMut;
use request::{BodySink, ChunkState, Parsed, RequestLimits};

fuzz_target!(|data: &[u8]| {
    for lenient in [false, true] {
        let limits = RequestLimits {
            max_line_bytes: 512,
            max_headers: 16,
            max_head_bytes: 2048,
            max_body_bytes: 4096,
            ignore_invalid_headers: lenient,
        };
        // Requests one after another, as pipelined on one connection.
        let mut rest = data;
        while let Ok(Parsed::Complete(head, used)) = request::parse_head(rest, &limits) {
            assert!(used >= 1 && used <= rest.len() && used <= limits.max_head_bytes);
            assert_eq!(rest[used - 1], b'\n');
            assert!(head.headers.len() <= limits.max_headers);
            assert!(!head.method.is_empty() && !head.target.is_empty());
            for (name, value) in &head.headers {
                assert!(!name.is_empty() && !name.contains(':'));
                assert!(!value.contains('\r') && !value.contains('\0'));
            }
            let _ = head.body_framing();
            rest = &rest[used..];
        }
    }
    // The same bytes as a chunked body.
    let mut buf = BytesMut::from(data);
    let mut state = ChunkState::Size;
    let mut sink = BodySink::new(256);
    let before = buf.len();
    let result = request::decode_chunked(&mut buf, &mut state, &mut sink, 4096);
    let body = sink.finish();
    assert!(body.size <= 4096 || result.is_err());
    assert!(body.kept.len() <= 256);
    assert!(buf.len() <= before);
});
