//! `hpti export cowrie`: a window of stored events as `cowrie.json` lines, oldest first.

use std::io::{Read as _, Seek as _, Write};

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
/// The store answers newest first, a page at a time: each page is written, reversed, to a
/// temporary file, and the files are copied out last to first, so memory holds one page
/// whatever the window's size.
pub async fn export_cowrie(
    store: &dyn EventQueries,
    window: Window,
    out: &mut dyn Write,
) -> Result<CowrieExport, IntelError> {
    let window = window.limit(MAX_LIMIT);
    let filter = EventFilter::default();
    let mut after = None;
    let mut pages: Vec<std::fs::File> = Vec::new();
    let mut done = CowrieExport::default();
    loop {
        let page = store.events(window, &filter, after.as_ref()).await?;
        let mut chunk = tempfile::tempfile()?;
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
        chunk.write_all(&text)?;
        pages.push(chunk);
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    let mut buffer = vec![0u8; 256 * 1024];
    for mut chunk in pages.into_iter().rev() {
        chunk.rewind()?;
        loop {
            let read = chunk.read(&mut buffer)?;
            if read == 0 {
                break;
            }
            out.write_all(buffer.get(..read).unwrap_or_default())?;
        }
    }
    out.flush()?;
    Ok(done)
}
