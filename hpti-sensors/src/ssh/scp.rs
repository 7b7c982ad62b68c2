//! The receiving end of legacy SCP (`scp -t DIR`, what `scp -O` and most bots speak):
//! a small state machine over the channel's bytes. Files are captured, never written
//! anywhere but the artifact store.

/// Largest file accepted (larger ones are refused as a full disk would refuse them).
const MAX_FILE: u64 = 32 * 1024 * 1024;

/// Longest control line.
const MAX_LINE: usize = 4096;

/// What the sink must do after some input.
#[derive(Debug, PartialEq, Eq)]
pub enum ScpStep {
    /// Send the zero byte that acknowledges a control line or a file.
    Ack,
    /// A whole file arrived.
    File {
        /// Its name (as sent, under the target directory).
        name: String,
        /// Its content.
        content: Vec<u8>,
    },
    /// Refuse with this message (sent after a 1 byte).
    Fail(String),
}

enum State {
    Line(Vec<u8>),
    Body {
        name: String,
        remaining: u64,
        content: Vec<u8>,
    },
    Trailer {
        name: String,
        content: Vec<u8>,
    },
    Failed,
}

/// An `scp -t` session.
pub struct ScpSink {
    target: String,
    dirs: Vec<String>,
    state: State,
}

impl ScpSink {
    /// A sink when `command` is `scp ... -t ... TARGET`.
    pub fn for_command(command: &str) -> Option<Self> {
        let mut words = command.split_whitespace();
        let program = words.next()?;
        if program != "scp" && !program.ends_with("/scp") {
            return None;
        }
        let rest: Vec<&str> = words.collect();
        let sink = rest
            .iter()
            .any(|w| w.starts_with('-') && !w.starts_with("--") && w.contains('t'));
        if !sink {
            return None;
        }
        let target = rest
            .iter()
            .rev()
            .find(|w| !w.starts_with('-'))
            .map_or(".", |w| w)
            .to_owned();
        Some(Self {
            target,
            dirs: Vec::new(),
            state: State::Line(Vec::new()),
        })
    }

    fn path(&self, name: &str) -> String {
        let mut path = self.target.trim_end_matches('/').to_owned();
        for dir in &self.dirs {
            path.push('/');
            path.push_str(dir);
        }
        path.push('/');
        path.push_str(name);
        path
    }

    /// Refuses the rest of the transfer as a full disk would (the upload bounds are
    /// reached).
    pub fn no_space(&mut self) -> Vec<ScpStep> {
        let name = match &self.state {
            State::Failed => return Vec::new(),
            State::Body { name, .. } | State::Trailer { name, .. } => self.path(name),
            State::Line(_) => self.target.clone(),
        };
        self.state = State::Failed;
        vec![ScpStep::Fail(format!(
            "scp: {name}: No space left on device"
        ))]
    }

    /// Consumes channel bytes.
    pub fn feed(&mut self, mut data: &[u8]) -> Vec<ScpStep> {
        let mut steps = Vec::new();
        while !data.is_empty() {
            match &mut self.state {
                State::Failed => return steps,
                State::Line(line) => {
                    let Some(&byte) = data.first() else { break };
                    data = &data[1..];
                    if byte != b'\n' {
                        if line.len() >= MAX_LINE {
                            self.state = State::Failed;
                            steps.push(ScpStep::Fail("scp: protocol error: line too long".into()));
                            return steps;
                        }
                        line.push(byte);
                        continue;
                    }
                    let text = String::from_utf8_lossy(line).into_owned();
                    self.state = State::Line(Vec::new());
                    steps.extend(self.control(&text));
                }
                State::Body {
                    remaining, content, ..
                } => {
                    let take = usize::try_from(*remaining)
                        .unwrap_or(usize::MAX)
                        .min(data.len());
                    content.extend_from_slice(&data[..take]);
                    data = &data[take..];
                    *remaining -= take as u64;
                    if *remaining == 0
                        && let State::Body { name, content, .. } =
                            std::mem::replace(&mut self.state, State::Failed)
                    {
                        self.state = State::Trailer { name, content };
                    }
                }
                State::Trailer { .. } => {
                    // The source ends each file with one status byte (0 when well).
                    data = &data[1..];
                    if let State::Trailer { name, content } =
                        std::mem::replace(&mut self.state, State::Line(Vec::new()))
                    {
                        let name = self.path(&name);
                        steps.push(ScpStep::File { name, content });
                        steps.push(ScpStep::Ack);
                    }
                }
            }
        }
        steps
    }

    fn control(&mut self, line: &str) -> Vec<ScpStep> {
        let Some(kind) = line.chars().next() else {
            return vec![ScpStep::Ack];
        };
        // `line` is lossily decoded attacker input: its first character may be several
        // bytes long.
        let fields: Vec<&str> = line[kind.len_utf8()..].splitn(3, ' ').collect();
        match kind {
            'C' => {
                let (Some(size), Some(name)) = (fields.get(1), fields.get(2)) else {
                    self.state = State::Failed;
                    return vec![ScpStep::Fail("scp: protocol error: bad mode".into())];
                };
                let Ok(size) = size.parse::<u64>() else {
                    self.state = State::Failed;
                    return vec![ScpStep::Fail(
                        "scp: protocol error: size not delimited".into(),
                    )];
                };
                if size > MAX_FILE {
                    self.state = State::Failed;
                    return vec![ScpStep::Fail(format!(
                        "scp: {}: No space left on device",
                        self.path(name)
                    ))];
                }
                // Only the last path component counts, as in scp's sink.
                let name = name.rsplit('/').next().unwrap_or(name).to_owned();
                self.state = if size == 0 {
                    State::Trailer {
                        name,
                        content: Vec::new(),
                    }
                } else {
                    State::Body {
                        name,
                        remaining: size,
                        content: Vec::with_capacity(
                            usize::try_from(size.min(1 << 20)).unwrap_or(0),
                        ),
                    }
                };
                vec![ScpStep::Ack]
            }
            'D' => {
                if let Some(name) = fields.get(2) {
                    self.dirs
                        .push(name.rsplit('/').next().unwrap_or(name).to_owned());
                }
                vec![ScpStep::Ack]
            }
            'E' => {
                self.dirs.pop();
                vec![ScpStep::Ack]
            }
            'T' => vec![ScpStep::Ack],
            // A warning or error from the source: nothing to acknowledge.
            '\u{1}' | '\u{2}' => Vec::new(),
            _ => {
                self.state = State::Failed;
                vec![ScpStep::Fail(
                    "scp: protocol error: expected control record".into(),
                )]
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_that_are_sinks() {
        assert!(ScpSink::for_command("scp -t /tmp").is_some());
        assert!(ScpSink::for_command("scp -r -d -t -- /tmp/").is_some());
        assert!(ScpSink::for_command("/usr/bin/scp -qt .").is_some());
        assert!(ScpSink::for_command("scp -f /etc/passwd").is_none());
        assert!(ScpSink::for_command("ls -t").is_none());
    }

    #[test]
    fn a_refusal_mid_file_names_it_as_a_full_disk_and_ends_the_transfer() {
        let mut sink = ScpSink::for_command("scp -t /tmp").unwrap();
        assert_eq!(sink.feed(b"C0644 10 big.bin\nhello"), vec![ScpStep::Ack]);
        assert_eq!(
            sink.no_space(),
            vec![ScpStep::Fail(
                "scp: /tmp/big.bin: No space left on device".into()
            )]
        );
        assert!(sink.feed(b"world\0").is_empty(), "nothing after a refusal");
        assert!(sink.no_space().is_empty(), "refused once");
    }

    #[test]
    fn files_arrive_in_pieces() {
        let mut sink = ScpSink::for_command("scp -t /tmp").unwrap();
        let mut steps = sink.feed(b"T1 0 1 0\nC0755 5 x.sh\nhel");
        steps.extend(sink.feed(b"lo\0D0755 0 d\nC0644 0 e\n\0E\n"));
        assert_eq!(
            steps,
            vec![
                ScpStep::Ack,
                ScpStep::Ack,
                ScpStep::File {
                    name: "/tmp/x.sh".into(),
                    content: b"hello".to_vec()
                },
                ScpStep::Ack,
                ScpStep::Ack,
                ScpStep::Ack,
                ScpStep::File {
                    name: "/tmp/d/e".into(),
                    content: Vec::new()
                },
                ScpStep::Ack,
                ScpStep::Ack,
            ]
        );
    }

    #[test]
    fn garbage_and_huge_files_fail_cleanly() {
        let mut sink = ScpSink::for_command("scp -t .").unwrap();
        assert!(matches!(sink.feed(b"Z\n")[..], [ScpStep::Fail(_)]));
        assert!(sink.feed(b"C0644 1 x\n").is_empty());
        let mut sink = ScpSink::for_command("scp -t .").unwrap();
        assert!(matches!(
            sink.feed(b"C0644 99999999999 x\n")[..],
            [ScpStep::Fail(_)]
        ));
        let mut sink = ScpSink::for_command("scp -t .").unwrap();
        assert!(matches!(sink.feed(&[b'C'; 5000])[..], [ScpStep::Fail(_)]));
    }

    /// Found by the `scp` fuzz target: a control line starting with a byte that is not
    /// ASCII (decoded as a multi-byte replacement character, or a real `é`).
    #[test]
    fn control_lines_starting_with_non_ascii_fail_cleanly() {
        for line in [&b"\xff\n"[..], "é0644 1 x\n".as_bytes(), b"\xc3"] {
            let mut sink = ScpSink::for_command("scp -t /tmp").unwrap();
            let steps = sink.feed(line);
            assert!(
                steps.is_empty() || matches!(steps[..], [ScpStep::Fail(_)]),
                "{line:?}: {steps:?}"
            );
        }
    }
}
