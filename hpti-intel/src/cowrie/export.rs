//! `hpti export cowrie`: a window of stored events as `cowrie.json` lines, oldest first.

use std::io::{Read as _, Seek as _, SeekFrom, Write};

use hpti_store::query::MAX_LIMIT;
use hpti_store::{EventFilter, EventQueries, Window};

use super::to_cowrie;
use crate::IntelError;

/// What an export wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CowrieExport {
    /// Lines written.
    pub lines: u64,
    /// Events Cowrie has no line for.
    pub skipped: u64,
}

/// Writes the events of `window` to `out` as Cowrie lines, oldest first.
///
/// The store answers newest first, a page at a time: each page is appended, reversed, to
/// one temporary file, and the pages are copied out last to first, so memory holds one
/// page whatever the window's size.
pub async fn export_cowrie(
    store: &dyn EventQueries,
    window: Window,
    out: &mut dyn Write,
) -> Result<CowrieExport, IntelError> {
    let window = window.limit(MAX_LIMIT);
    let filter = EventFilter::default();
    let mut after = None;
    let mut spool = tempfile::tempfile()?;
    // Where each page starts in the spool, and its length.
    let mut pages: Vec<(u64, u64)> = Vec::new();
    let mut offset = 0u64;
    let mut done = CowrieExport::default();
    loop {
        let page = store.events(window, &filter, after.as_ref()).await?;
        let mut text = Vec::with_capacity(page.events.len() * 320);
        for event in page.events.iter().rev() {
            match to_cowrie(event) {
                Some(line) => {
                    text.extend_from_slice(line.as_bytes());
                    text.push(b'\n');
                    done.lines += 1;
                }
                None => done.skipped += 1,
            }
        }
        spool.write_all(&text)?;
        pages.push((offset, text.len() as u64));
        offset += text.len() as u64;
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    let mut buffer = vec![0u8; 256 * 1024];
    for (start, length) in pages.into_iter().rev() {
        spool.seek(SeekFrom::Start(start))?;
        let mut left = length;
        while left > 0 {
            let want = usize::try_from(left.min(buffer.len() as u64)).unwrap_or(buffer.len());
            let chunk = buffer.get_mut(..want).unwrap_or_default();
            spool.read_exact(chunk)?;
            out.write_all(chunk)?;
            left -= want as u64;
        }
    }
    out.flush()?;
    Ok(done)
}
