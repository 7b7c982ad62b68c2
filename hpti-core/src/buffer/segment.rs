//! The segment file format: an 8-byte magic, then records of
//! `[payload length: u32 LE][CRC-32 of the payload: u32 LE][payload: JSON]`.
//!
//! The payload is the event's JSON with where it came from: JSON because the event model
//! grows (new fields read back as defaults), and a segment outlives the binary that wrote
//! it across an upgrade.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::event::Event;
use crate::pipeline::{Envelope, Origin};

/// The first bytes of every segment file.
pub(crate) const MAGIC: &[u8; 8] = b"HPTIBUF1";
/// Where the first record of a segment starts.
pub(crate) const HEADER_LEN: u64 = MAGIC.len() as u64;
const RECORD_HEADER_LEN: u64 = 8;
/// The largest payload a reader accepts: a length past it is damage, not an event
/// (events are far smaller: the validator caps their fields).
pub(crate) const MAX_PAYLOAD: u32 = 64 * 1024 * 1024;

/// A record that cannot be read back.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SegmentError {
    /// The file ends inside a record (a write cut short by a crash).
    #[error("the record at byte {offset} is cut short")]
    Torn {
        /// Where the record starts.
        offset: u64,
    },
    /// The record's length, checksum or JSON is wrong.
    #[error("the record at byte {offset} is damaged: {reason}")]
    Corrupt {
        /// Where the record starts.
        offset: u64,
        /// What is wrong.
        reason: String,
    },
    /// The file could not be read.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

#[derive(Serialize, Deserialize)]
struct Record {
    event: Event,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    origin: Option<(String, u64)>,
}

#[derive(Serialize)]
struct RecordRef<'a> {
    event: &'a Event,
    #[serde(skip_serializing_if = "Option::is_none")]
    origin: Option<(&'a str, u64)>,
}

/// Appends the record of `envelope` to `out`.
pub(crate) fn encode(envelope: &Envelope, out: &mut Vec<u8>) -> Result<(), serde_json::Error> {
    let start = out.len();
    out.extend_from_slice(&[0; RECORD_HEADER_LEN as usize]);
    let record = RecordRef {
        event: &envelope.event,
        origin: envelope
            .origin
            .as_ref()
            .map(|origin| (&*origin.source, origin.offset)),
    };
    if let Err(err) = serde_json::to_writer(&mut *out, &record) {
        out.truncate(start);
        return Err(err);
    }
    let payload = &out[start + RECORD_HEADER_LEN as usize..];
    let Ok(len) = u32::try_from(payload.len()) else {
        out.truncate(start);
        return Err(serde::ser::Error::custom(
            "event too large for a buffer record",
        ));
    };
    let crc = crc32fast::hash(payload);
    out[start..start + 4].copy_from_slice(&len.to_le_bytes());
    out[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
    Ok(())
}

fn decode(payload: &[u8]) -> Result<Envelope, serde_json::Error> {
    let record: Record = serde_json::from_slice(payload)?;
    Ok(Envelope {
        event: record.event,
        ack: None,
        origin: record.origin.map(|(source, offset)| Origin {
            source: Arc::from(source),
            offset,
        }),
    })
}

/// The file of segment `id`.
pub(crate) fn segment_path(dir: &Path, id: u64) -> PathBuf {
    dir.join(format!("{id:020}.segment"))
}

/// The segments in `dir`: id → length in bytes.
pub(crate) fn list_segments(dir: &Path) -> std::io::Result<BTreeMap<u64, u64>> {
    let mut segments = BTreeMap::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(id) = name
            .to_str()
            .and_then(|name| name.strip_suffix(".segment"))
            .and_then(|stem| stem.parse::<u64>().ok())
        else {
            continue;
        };
        segments.insert(id, entry.metadata()?.len());
    }
    Ok(segments)
}

/// Reads the records of one segment in order.
pub(crate) struct SegmentReader {
    file: BufReader<File>,
    /// Where the next record starts.
    pub(crate) offset: u64,
    payload: Vec<u8>,
}

impl SegmentReader {
    /// Opens `path` at record offset `offset` (at least the header), checking the magic.
    pub(crate) fn open(path: &Path, offset: u64) -> Result<Self, SegmentError> {
        let mut file = File::open(path)?;
        let mut magic = [0u8; MAGIC.len()];
        match file.read_exact(&mut magic) {
            Ok(()) if &magic == MAGIC => {}
            Ok(()) => {
                return Err(SegmentError::Corrupt {
                    offset: 0,
                    reason: "not a segment file (wrong magic)".into(),
                });
            }
            Err(err) if err.kind() == std::io::ErrorKind::UnexpectedEof => {
                return Err(SegmentError::Torn { offset: 0 });
            }
            Err(err) => return Err(err.into()),
        }
        let offset = offset.max(HEADER_LEN);
        file.seek(SeekFrom::Start(offset))?;
        Ok(Self {
            file: BufReader::with_capacity(256 * 1024, file),
            offset,
            payload: Vec::new(),
        })
    }

    /// The next record if one starts before `end` (the bytes known to be written), with
    /// the offset past it; `None` at `end`.
    pub(crate) fn next(&mut self, end: u64) -> Result<Option<Envelope>, SegmentError> {
        if self.offset >= end {
            return Ok(None);
        }
        let offset = self.offset;
        if end - offset < RECORD_HEADER_LEN {
            return Err(SegmentError::Torn { offset });
        }
        let mut header = [0u8; RECORD_HEADER_LEN as usize];
        read_exact_or_torn(&mut self.file, &mut header, offset)?;
        let [l0, l1, l2, l3, c0, c1, c2, c3] = header;
        let len = u32::from_le_bytes([l0, l1, l2, l3]);
        let crc = u32::from_le_bytes([c0, c1, c2, c3]);
        if len == 0 || len > MAX_PAYLOAD {
            return Err(SegmentError::Corrupt {
                offset,
                reason: format!("impossible record length {len}"),
            });
        }
        let next = offset + RECORD_HEADER_LEN + u64::from(len);
        if next > end {
            return Err(SegmentError::Torn { offset });
        }
        self.payload.resize(len as usize, 0);
        read_exact_or_torn(&mut self.file, &mut self.payload, offset)?;
        if crc32fast::hash(&self.payload) != crc {
            return Err(SegmentError::Corrupt {
                offset,
                reason: "checksum mismatch".into(),
            });
        }
        let envelope = decode(&self.payload).map_err(|err| SegmentError::Corrupt {
            offset,
            reason: format!("unreadable event: {err}"),
        })?;
        self.offset = next;
        Ok(Some(envelope))
    }
}

fn read_exact_or_torn(
    file: &mut BufReader<File>,
    buf: &mut [u8],
    offset: u64,
) -> Result<(), SegmentError> {
    file.read_exact(buf).map_err(|err| {
        if err.kind() == std::io::ErrorKind::UnexpectedEof {
            SegmentError::Torn { offset }
        } else {
            SegmentError::Io(err)
        }
    })
}

/// Where the valid records of segment `path` end: its length, or the start of the
/// first torn or damaged record.
pub(crate) fn valid_length(path: &Path) -> Result<(u64, Option<SegmentError>), SegmentError> {
    let len = std::fs::metadata(path)?.len();
    let mut reader = match SegmentReader::open(path, HEADER_LEN) {
        Ok(reader) => reader,
        Err(err @ (SegmentError::Torn { .. } | SegmentError::Corrupt { .. })) => {
            return Ok((0, Some(err)));
        }
        Err(err) => return Err(err),
    };
    loop {
        match reader.next(len) {
            Ok(Some(_)) => {}
            Ok(None) => return Ok((reader.offset, None)),
            Err(err @ (SegmentError::Torn { .. } | SegmentError::Corrupt { .. })) => {
                return Ok((reader.offset, Some(err)));
            }
            Err(err) => return Err(err),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{EventKind, Protocol};
    use std::io::Write as _;

    fn envelope(n: u16) -> Envelope {
        let mut envelope = Envelope::new(
            Event::new(
                "s",
                Protocol::Ssh,
                std::net::IpAddr::from([192, 0, 2, 1]),
                EventKind::CommandInput {
                    command: format!("echo {n}"),
                },
            )
            .with_source_port(n),
        );
        if n % 2 == 0 {
            envelope.origin = Some(Origin {
                source: Arc::from("/var/log/x.json"),
                offset: u64::from(n) * 100,
            });
        }
        envelope
    }

    fn write_segment(path: &Path, records: &[Envelope]) -> Vec<u8> {
        let mut bytes = MAGIC.to_vec();
        for record in records {
            encode(record, &mut bytes).unwrap();
        }
        std::fs::File::create(path)
            .unwrap()
            .write_all(&bytes)
            .unwrap();
        bytes
    }

    #[test]
    fn records_read_back_as_written() {
        let dir = tempfile::tempdir().unwrap();
        let path = segment_path(dir.path(), 7);
        let written: Vec<Envelope> = (0..5).map(envelope).collect();
        let bytes = write_segment(&path, &written);
        let mut reader = SegmentReader::open(&path, 0).unwrap();
        for expected in &written {
            let read = reader.next(bytes.len() as u64).unwrap().unwrap();
            assert_eq!(read.event, expected.event);
            assert_eq!(
                read.origin.map(|o| (o.source.to_string(), o.offset)),
                expected
                    .origin
                    .as_ref()
                    .map(|o| (o.source.to_string(), o.offset))
            );
        }
        assert!(reader.next(bytes.len() as u64).unwrap().is_none());
        assert_eq!(list_segments(dir.path()).unwrap()[&7], bytes.len() as u64);
    }

    #[test]
    fn a_cut_record_is_torn_and_a_flipped_byte_is_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        let path = segment_path(dir.path(), 1);
        let written: Vec<Envelope> = (0..3).map(envelope).collect();
        let bytes = write_segment(&path, &written);
        let mut first = MAGIC.to_vec();
        encode(&written[0], &mut first).unwrap();
        let second_start = first.len() as u64;

        // Cut in the middle of the last record.
        std::fs::write(&path, &bytes[..bytes.len() - 5]).unwrap();
        let (valid, err) = valid_length(&path).unwrap();
        assert!(matches!(err, Some(SegmentError::Torn { .. })), "{err:?}");
        let mut two = first.clone();
        encode(&written[1], &mut two).unwrap();
        assert_eq!(valid, two.len() as u64);

        // A flipped byte inside the second record's payload.
        let mut damaged = bytes.clone();
        damaged[second_start as usize + 20] ^= 0x55;
        std::fs::write(&path, &damaged).unwrap();
        let (valid, err) = valid_length(&path).unwrap();
        assert_eq!(valid, second_start);
        match err {
            Some(SegmentError::Corrupt { offset, reason }) => {
                assert_eq!(offset, second_start);
                assert!(reason.contains("checksum"), "{reason}");
            }
            other => panic!("expected Corrupt, got {other:?}"),
        }

        // An impossible length.
        let mut damaged = bytes;
        damaged[second_start as usize..second_start as usize + 4]
            .copy_from_slice(&u32::MAX.to_le_bytes());
        std::fs::write(&path, &damaged).unwrap();
        assert!(matches!(
            valid_length(&path).unwrap().1,
            Some(SegmentError::Corrupt { .. })
        ));

        // Not a segment at all.
        std::fs::write(&path, b"garbage!garbage!").unwrap();
        assert_eq!(valid_length(&path).unwrap().0, 0);
    }
}
