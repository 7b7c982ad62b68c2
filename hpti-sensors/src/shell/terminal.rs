//! Line editing for the interactive pty: turns raw keystrokes into lines and the
//! bytes to echo back, like a tty in canonical mode with bash's readline basics.

/// Something the editor recognised in the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EditorEvent {
    /// A completed line (without its line ending; cut at the maximum length).
    Line(String),
    /// `^C`: the line was abandoned; show a fresh prompt.
    Interrupt,
    /// `^D` on an empty line: log out.
    Eof,
}

/// The result of [`LineEditor::feed`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EditorOutput {
    /// Bytes to send back to the client (`\r\n` line ends).
    pub echo: Vec<u8>,
    /// Completed lines and control events, in input order.
    pub events: Vec<EditorEvent>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Esc {
    None,
    /// After ESC.
    Start,
    /// Inside `ESC [ ...` until a final byte.
    Csi,
    /// After `ESC O`: one more byte.
    Ss3,
}

/// A bounded line editor. Pure and synchronous.
#[derive(Debug, Clone)]
pub struct LineEditor {
    buf: Vec<u8>,
    max_len: usize,
    echo: bool,
    esc: Esc,
    csi_len: usize,
    after_cr: bool,
}

impl LineEditor {
    /// An editor keeping at most `max_len` bytes per line.
    pub fn new(max_len: usize) -> Self {
        LineEditor {
            buf: Vec::new(),
            max_len: max_len.max(1),
            echo: true,
            esc: Esc::None,
            csi_len: 0,
            after_cr: false,
        }
    }

    /// Turns echo on or off (off for password prompts).
    pub fn set_echo(&mut self, on: bool) {
        self.echo = on;
    }

    /// Whether typed characters are echoed.
    pub fn echo(&self) -> bool {
        self.echo
    }

    /// The partial line typed so far.
    pub fn pending(&self) -> &[u8] {
        &self.buf
    }

    /// Forgets the partial line.
    pub fn clear(&mut self) {
        self.buf.clear();
    }

    fn erase_last(&mut self, out: &mut Vec<u8>) {
        // Remove a whole UTF-8 character, not just its last byte.
        while let Some(b) = self.buf.pop() {
            if b & 0xc0 != 0x80 {
                break;
            }
        }
        if self.echo {
            out.extend_from_slice(b"\x08 \x08");
        }
    }

    /// Processes raw input bytes.
    pub fn feed(&mut self, input: &[u8]) -> EditorOutput {
        let mut out = EditorOutput::default();
        for &b in input {
            let after_cr = std::mem::replace(&mut self.after_cr, false);
            match self.esc {
                Esc::Start => {
                    self.esc = match b {
                        b'[' => {
                            self.csi_len = 0;
                            Esc::Csi
                        }
                        b'O' => Esc::Ss3,
                        _ => Esc::None,
                    };
                    continue;
                }
                Esc::Csi => {
                    self.csi_len += 1;
                    if (0x40..=0x7e).contains(&b) || self.csi_len > 32 {
                        self.esc = Esc::None;
                    }
                    continue;
                }
                Esc::Ss3 => {
                    self.esc = Esc::None;
                    continue;
                }
                Esc::None => {}
            }
            match b {
                b'\r' => {
                    self.after_cr = true;
                    self.finish_line(&mut out);
                }
                b'\n' | 0 if after_cr => {}
                b'\n' => self.finish_line(&mut out),
                0x7f | 0x08 => {
                    if !self.buf.is_empty() {
                        self.erase_last(&mut out.echo);
                    }
                }
                0x03 => {
                    out.echo.extend_from_slice(b"^C\r\n");
                    self.buf.clear();
                    out.events.push(EditorEvent::Interrupt);
                }
                0x04 => {
                    if self.buf.is_empty() {
                        out.events.push(EditorEvent::Eof);
                    }
                }
                0x15 => {
                    while !self.buf.is_empty() {
                        self.erase_last(&mut out.echo);
                    }
                }
                0x17 => {
                    while self.buf.last() == Some(&b' ') {
                        self.erase_last(&mut out.echo);
                    }
                    while self.buf.last().is_some_and(|&c| c != b' ') {
                        self.erase_last(&mut out.echo);
                    }
                }
                0x1b => self.esc = Esc::Start,
                b if b < 0x20 => {}
                b => {
                    if self.buf.len() < self.max_len {
                        self.buf.push(b);
                        if self.echo {
                            out.echo.push(b);
                        }
                    }
                }
            }
        }
        out
    }

    fn finish_line(&mut self, out: &mut EditorOutput) {
        out.echo.extend_from_slice(b"\r\n");
        let line = String::from_utf8_lossy(&self.buf).into_owned();
        self.buf.clear();
        out.events.push(EditorEvent::Line(line));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(ev: &[EditorEvent]) -> Vec<&str> {
        ev.iter()
            .filter_map(|e| match e {
                EditorEvent::Line(l) => Some(l.as_str()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn line_endings() {
        let mut e = LineEditor::new(100);
        let o = e.feed(b"ls\r\npwd\rid\nuname\r\0w\r");
        assert_eq!(lines(&o.events), ["ls", "pwd", "id", "uname", "w"]);
        assert_eq!(o.echo, b"ls\r\npwd\r\nid\r\nuname\r\nw\r\n");
    }

    #[test]
    fn editing_keys() {
        let mut e = LineEditor::new(100);
        let o = e.feed(b"lx\x7fs -la\x1b[A\x1b[D\x1bOA\r");
        assert_eq!(lines(&o.events), ["ls -la"]);
        assert_eq!(o.echo, b"lx\x08 \x08s -la\r\n");
        let o = e.feed(b"abc\x15id\r");
        assert_eq!(lines(&o.events), ["id"]);
        let o = e.feed(b"cat foo\x17bar\r");
        assert_eq!(lines(&o.events), ["cat bar"]);
        let o = e.feed("é\x7f\r".as_bytes());
        assert_eq!(lines(&o.events), [""]);
    }

    #[test]
    fn control_events() {
        let mut e = LineEditor::new(100);
        let o = e.feed(b"sleep\x03");
        assert_eq!(o.events, [EditorEvent::Interrupt]);
        assert_eq!(o.echo, b"sleep^C\r\n");
        assert!(e.pending().is_empty());
        let o = e.feed(b"x\x04");
        assert!(o.events.is_empty());
        let o = e.feed(b"\x7f\x04");
        assert_eq!(o.events, [EditorEvent::Eof]);
    }

    #[test]
    fn bounded_and_silent() {
        let mut e = LineEditor::new(8);
        let o = e.feed(&[b'a'; 10_000]);
        assert_eq!(o.echo.len(), 8);
        assert_eq!(e.pending().len(), 8);
        let o = e.feed(b"\r");
        assert_eq!(lines(&o.events), ["aaaaaaaa"]);
        e.set_echo(false);
        let o = e.feed(b"secret\r");
        assert_eq!(o.echo, b"\r\n");
        assert_eq!(lines(&o.events), ["secret"]);
    }
}
