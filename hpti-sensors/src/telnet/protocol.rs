//! The Telnet wire protocol (RFC 854/855): a bounded state machine that strips
//! commands and option negotiation from the input, answers options without loops
//! (RFC 1143's rule: answer only what changes an option's state), and reads the
//! subnegotiations a Linux telnetd asks for (terminal type, window size, environment).
//!
//! Pure and synchronous: bytes in, data and replies out.

/// Interpret As Command.
pub const IAC: u8 = 255;
/// Refuse / stop an option on the peer's side.
pub const DONT: u8 = 254;
/// Ask the peer to enable an option.
pub const DO: u8 = 253;
/// Refuse / stop an option on our side.
pub const WONT: u8 = 252;
/// Offer to enable an option.
pub const WILL: u8 = 251;
/// Subnegotiation start.
pub const SB: u8 = 250;
/// Erase line.
const EL: u8 = 248;
/// Erase character.
const EC: u8 = 247;
/// Are you there.
const AYT: u8 = 246;
/// Interrupt process.
const IP: u8 = 244;
/// Subnegotiation end.
pub const SE: u8 = 240;
/// Data mark (the end of urgent data: telnetd's answer to an interrupt).
pub const DM: u8 = 242;
/// Abort process (RFC 1184).
const ABORT: u8 = 238;
/// End of file (RFC 1184).
const XEOF: u8 = 236;

/// Binary transmission.
pub const OPT_BINARY: u8 = 0;
/// Echo.
pub const OPT_ECHO: u8 = 1;
/// Suppress go-ahead.
pub const OPT_SGA: u8 = 3;
/// Status.
pub const OPT_STATUS: u8 = 5;
/// Timing mark.
pub const OPT_TM: u8 = 6;
/// Terminal type.
pub const OPT_TTYPE: u8 = 24;
/// Negotiate about window size.
pub const OPT_NAWS: u8 = 31;
/// Terminal speed.
pub const OPT_TSPEED: u8 = 32;
/// Remote flow control.
pub const OPT_LFLOW: u8 = 33;
/// X display location.
pub const OPT_XDISPLOC: u8 = 35;
/// Line mode (RFC 1184).
pub const OPT_LINEMODE: u8 = 34;
/// The environment option before RFC 1572 (RFC 1408).
pub const OPT_OLD_ENVIRON: u8 = 36;
/// Authentication (RFC 2941).
pub const OPT_AUTHENTICATION: u8 = 37;
/// Encryption (RFC 2946).
pub const OPT_ENCRYPT: u8 = 38;
/// New environment option (RFC 1572).
pub const OPT_NEW_ENVIRON: u8 = 39;

/// `MODE` in a LINEMODE subnegotiation.
pub const LM_MODE: u8 = 1;
/// `SLC` (special line characters) in a LINEMODE subnegotiation.
const LM_SLC: u8 = 3;

/// `IS` in a subnegotiation.
const QUAL_IS: u8 = 0;
/// `SEND` in a subnegotiation.
pub const QUAL_SEND: u8 = 1;
/// `INFO` in a NEW-ENVIRON subnegotiation.
const ENV_INFO: u8 = 2;
/// NEW-ENVIRON codes.
const ENV_VAR: u8 = 0;
const ENV_VALUE: u8 = 1;
const ENV_ESC: u8 = 2;
const ENV_USERVAR: u8 = 3;

/// Longest subnegotiation kept; longer ones are read to their end and ignored.
pub const MAX_SUBNEGOTIATION: usize = 512;
/// Client negotiation commands kept for the fingerprint.
const MAX_TRACE: usize = 64;
/// Refusals sent per option and direction; a peer that keeps asking gets silence,
/// so two confused peers cannot loop.
const MAX_REFUSALS: u8 = 2;
/// Longest terminal type kept (netkit telnetd keeps 40 characters).
const MAX_TERMINAL_TYPE: usize = 40;
/// Longest user name taken from NEW-ENVIRON.
const MAX_ENV_USER: usize = 64;
/// `IAC AYT` answered per connection (an answer is longer than the question).
const MAX_AYT_ANSWERS: u8 = 16;
/// Largest window dimension believed.
const MAX_WINDOW: u16 = 1000;

/// The options the client may enable on its side (we answer `DO`).
fn accept_his(option: u8) -> bool {
    matches!(
        option,
        OPT_BINARY
            | OPT_SGA
            | OPT_TM
            | OPT_TTYPE
            | OPT_NAWS
            | OPT_TSPEED
            | OPT_LFLOW
            | OPT_LINEMODE
            | OPT_XDISPLOC
            | OPT_OLD_ENVIRON
            | OPT_NEW_ENVIRON
    )
}

/// The options we enable on our side when asked (we answer `WILL`).
fn accept_mine(option: u8) -> bool {
    matches!(option, OPT_BINARY | OPT_ECHO | OPT_SGA | OPT_STATUS)
}

#[derive(Debug, Clone, Copy, Default)]
struct OptionState {
    /// Enabled on our side.
    us: bool,
    /// We asked (WILL/WONT) and await the answer.
    us_pending: bool,
    /// Enabled on the client's side.
    him: bool,
    /// We asked (DO/DONT) and await the answer.
    him_pending: bool,
    /// The client answered about its side at least once.
    him_answered: bool,
    /// Refusals sent (capped).
    refused_us: u8,
    refused_him: u8,
    /// A subnegotiation of this option was received.
    sub_seen: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Data,
    Iac,
    Verb(u8),
    SbOption,
    SbData,
    SbIac,
}

/// One Telnet connection's protocol state.
#[derive(Debug, Clone)]
pub struct Telnet {
    state: State,
    sb_option: u8,
    sb: Vec<u8>,
    sb_overflow: bool,
    options: Box<[OptionState; 256]>,
    window: Option<(u16, u16)>,
    resized: bool,
    terminal_type: Option<String>,
    env_user: Option<String>,
    trace: Vec<(u8, u8)>,
    echo_refused: bool,
    ayt_answers: u8,
    linemode_slc: bool,
}

impl Default for Telnet {
    fn default() -> Self {
        Self::new()
    }
}

impl Telnet {
    /// A fresh connection: every option off.
    pub fn new() -> Self {
        Self {
            state: State::Data,
            sb_option: 0,
            sb: Vec::new(),
            sb_overflow: false,
            options: Box::new([OptionState::default(); 256]),
            window: None,
            resized: false,
            terminal_type: None,
            env_user: None,
            trace: Vec::new(),
            echo_refused: false,
            ayt_answers: 0,
            linemode_slc: false,
        }
    }

    /// Asks the client to disable `option` on its side (`IAC DONT option`) when it is
    /// on; returns the bytes to send.
    pub fn ask_dont(&mut self, option: u8) -> Vec<u8> {
        let state = &mut self.options[usize::from(option)];
        if !state.him || state.him_pending {
            return Vec::new();
        }
        state.him = false;
        state.him_pending = true;
        vec![IAC, DONT, option]
    }

    /// Whether the client refused (or turned off) `option` on our side after we offered
    /// it.
    pub fn refused_mine(&self, option: u8) -> bool {
        let state = &self.options[usize::from(option)];
        !state.us && !state.us_pending
    }

    /// Offers `option` on our side again even though the client refused it before, as
    /// telnetd does when login resets the terminal; returns the bytes to send.
    pub fn offer_will_again(&mut self, option: u8) -> Vec<u8> {
        let state = &mut self.options[usize::from(option)];
        if state.us {
            return Vec::new();
        }
        state.us_pending = true;
        vec![IAC, WILL, option]
    }

    /// Whether the client sent its special line characters (LINEMODE SLC).
    pub fn linemode_slc(&self) -> bool {
        self.linemode_slc
    }

    /// Asks the client to enable `option` on its side (`IAC DO option`), unless it is
    /// already on or asked; returns the bytes to send.
    pub fn ask_do(&mut self, option: u8) -> Vec<u8> {
        let state = &mut self.options[usize::from(option)];
        if state.him || state.him_pending {
            return Vec::new();
        }
        state.him_pending = true;
        vec![IAC, DO, option]
    }

    /// Offers to enable `option` on our side (`IAC WILL option`), unless it is already
    /// on or offered; returns the bytes to send.
    pub fn offer_will(&mut self, option: u8) -> Vec<u8> {
        let state = &mut self.options[usize::from(option)];
        if state.us || state.us_pending {
            return Vec::new();
        }
        state.us_pending = true;
        vec![IAC, WILL, option]
    }

    /// Whether the client has answered about `option` on its side (or we never asked).
    pub fn his_settled(&self, option: u8) -> bool {
        !self.options[usize::from(option)].him_pending
    }

    /// Whether the client has enabled `option` on its side.
    pub fn his(&self, option: u8) -> bool {
        self.options[usize::from(option)].him
    }

    /// Whether a subnegotiation of `option` arrived.
    pub fn sub_seen(&self, option: u8) -> bool {
        self.options[usize::from(option)].sub_seen
    }

    /// Whether the server should echo input: yes unless the client said `DONT ECHO`
    /// (it then echoes locally).
    pub fn echo(&self) -> bool {
        !self.echo_refused
    }

    /// The window size from NAWS, if the client sent one.
    pub fn window(&self) -> Option<(u16, u16)> {
        self.window
    }

    /// A window size that changed since the last call.
    pub fn take_resize(&mut self) -> Option<(u16, u16)> {
        if std::mem::take(&mut self.resized) {
            self.window
        } else {
            None
        }
    }

    /// The terminal type (lower case, as netkit telnetd keeps it).
    pub fn terminal_type(&self) -> Option<&str> {
        self.terminal_type.as_deref()
    }

    /// `USER` from NEW-ENVIRON (as `telnet -l user` sends), taken once.
    pub fn take_env_user(&mut self) -> Option<String> {
        self.env_user.take()
    }

    /// The client's negotiation so far, e.g. `WONT 24,WILL 31,SB 31`, for a fingerprint.
    pub fn trace(&self) -> String {
        let mut text = String::new();
        for &(verb, option) in &self.trace {
            if !text.is_empty() {
                text.push(',');
            }
            let name = match verb {
                WILL => "WILL",
                WONT => "WONT",
                DO => "DO",
                DONT => "DONT",
                _ => "SB",
            };
            text.push_str(name);
            text.push(' ');
            text.push_str(&option.to_string());
        }
        text
    }

    /// Whether the client negotiated anything at all.
    pub fn negotiated(&self) -> bool {
        !self.trace.is_empty()
    }

    fn note(&mut self, verb: u8, option: u8) {
        if self.trace.len() < MAX_TRACE {
            self.trace.push((verb, option));
        }
    }

    /// Processes received bytes: appends the data bytes to `data` (commands removed,
    /// `IAC IAC` as one 0xff, IP/EC/EL/EOF as the control characters a pty would see)
    /// and returns the bytes to answer.
    pub fn receive(&mut self, input: &[u8], data: &mut Vec<u8>) -> Vec<u8> {
        let mut reply = Vec::new();
        for &byte in input {
            match self.state {
                State::Data => {
                    if byte == IAC {
                        self.state = State::Iac;
                    } else {
                        data.push(byte);
                    }
                }
                State::Iac => self.command(byte, data, &mut reply),
                State::Verb(verb) => {
                    self.state = State::Data;
                    self.negotiate(verb, byte, &mut reply);
                }
                State::SbOption => {
                    self.sb_option = byte;
                    self.sb.clear();
                    self.sb_overflow = false;
                    self.state = State::SbData;
                }
                State::SbData => {
                    if byte == IAC {
                        self.state = State::SbIac;
                    } else {
                        self.sb_push(byte);
                    }
                }
                State::SbIac => match byte {
                    IAC => {
                        self.sb_push(IAC);
                        self.state = State::SbData;
                    }
                    SE => {
                        self.state = State::Data;
                        self.subnegotiation();
                    }
                    other => {
                        // A subnegotiation without its IAC SE (as netkit telnetd does):
                        // end it and take `other` as the command after IAC.
                        self.subnegotiation();
                        self.command(other, data, &mut reply);
                    }
                },
            }
        }
        reply
    }

    fn sb_push(&mut self, byte: u8) {
        if self.sb.len() < MAX_SUBNEGOTIATION {
            self.sb.push(byte);
        } else {
            self.sb_overflow = true;
        }
    }

    /// The byte after IAC (outside a subnegotiation).
    fn command(&mut self, byte: u8, data: &mut Vec<u8>, reply: &mut Vec<u8>) {
        self.state = State::Data;
        match byte {
            IAC => data.push(IAC),
            WILL | WONT | DO | DONT => self.state = State::Verb(byte),
            SB => self.state = State::SbOption,
            IP | ABORT => data.push(0x03),
            EC => data.push(0x7f),
            EL => data.push(0x15),
            XEOF => data.push(0x04),
            AYT if self.ayt_answers < MAX_AYT_ANSWERS => {
                self.ayt_answers += 1;
                reply.extend_from_slice(b"\r\n[Yes]\r\n");
            }
            // NOP, DM, BRK, AO, GA, SUSP, EOR, a stray SE, anything unknown.
            _ => {}
        }
    }

    fn negotiate(&mut self, verb: u8, option: u8, reply: &mut Vec<u8>) {
        self.note(verb, option);
        let state = &mut self.options[usize::from(option)];
        match verb {
            WILL => {
                state.him_answered = true;
                if state.him_pending {
                    // What we asked for is taken (telnetd's DO ECHO probe included: it
                    // turns it off later itself).
                    state.him_pending = false;
                    state.him = true;
                } else if !state.him {
                    if accept_his(option) {
                        state.him = true;
                        reply.extend_from_slice(&[IAC, DO, option]);
                    } else if state.refused_him < MAX_REFUSALS {
                        state.refused_him += 1;
                        reply.extend_from_slice(&[IAC, DONT, option]);
                    }
                }
            }
            WONT => {
                state.him_answered = true;
                if state.him_pending {
                    state.him_pending = false;
                    state.him = false;
                } else if state.him {
                    state.him = false;
                    reply.extend_from_slice(&[IAC, DONT, option]);
                }
            }
            DO => {
                if option == OPT_TM {
                    // A timing mark is answered every time, without state.
                    reply.extend_from_slice(&[IAC, WILL, OPT_TM]);
                } else if state.us_pending {
                    state.us_pending = false;
                    state.us = true;
                } else if !state.us {
                    if accept_mine(option) {
                        state.us = true;
                        reply.extend_from_slice(&[IAC, WILL, option]);
                    } else if state.refused_us < MAX_REFUSALS {
                        state.refused_us += 1;
                        reply.extend_from_slice(&[IAC, WONT, option]);
                    }
                }
                if option == OPT_ECHO {
                    self.echo_refused = false;
                }
            }
            _ => {
                // DONT
                if state.us_pending {
                    state.us_pending = false;
                    state.us = false;
                } else if state.us {
                    state.us = false;
                    reply.extend_from_slice(&[IAC, WONT, option]);
                }
                if option == OPT_ECHO {
                    self.echo_refused = true;
                }
            }
        }
    }

    fn subnegotiation(&mut self) {
        let option = self.sb_option;
        self.note(SB, option);
        self.options[usize::from(option)].sub_seen = true;
        if self.sb_overflow {
            return;
        }
        match option {
            OPT_NAWS if self.sb.len() >= 4 => {
                let width = u16::from_be_bytes([self.sb[0], self.sb[1]]);
                let height = u16::from_be_bytes([self.sb[2], self.sb[3]]);
                if width > 0 && height > 0 {
                    let size = (width.min(MAX_WINDOW), height.min(MAX_WINDOW));
                    if self.window != Some(size) {
                        self.window = Some(size);
                        self.resized = true;
                    }
                }
            }
            OPT_TTYPE if self.sb.first() == Some(&QUAL_IS) => {
                let name: String = self.sb[1..]
                    .iter()
                    .take(MAX_TERMINAL_TYPE)
                    .map(|&b| char::from(b.to_ascii_lowercase()))
                    .collect();
                if !name.is_empty()
                    && name
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "-_.+".contains(c))
                {
                    self.terminal_type = Some(name);
                }
            }
            OPT_LINEMODE if self.sb.first() == Some(&LM_SLC) => self.linemode_slc = true,
            OPT_NEW_ENVIRON if matches!(self.sb.first(), Some(&QUAL_IS) | Some(&ENV_INFO)) => {
                if let Some(user) = environ_user(&self.sb[1..]) {
                    self.env_user = Some(user);
                }
            }
            _ => {}
        }
    }
}

/// `USER` in a NEW-ENVIRON `IS`/`INFO` list, when it is a plausible user name (not
/// an option such as `-froot`, as telnetd refuses).
fn environ_user(list: &[u8]) -> Option<String> {
    let mut found = None;
    let mut i = 0;
    while i < list.len() {
        let kind = list[i];
        i += 1;
        if kind != ENV_VAR && kind != ENV_USERVAR {
            continue;
        }
        let name = environ_text(list, &mut i);
        let value = if list.get(i) == Some(&ENV_VALUE) {
            i += 1;
            Some(environ_text(list, &mut i))
        } else {
            None
        };
        if kind == ENV_VAR && name == b"USER" {
            found = value;
        }
    }
    let user = found?;
    let plausible = !user.is_empty()
        && user.len() <= MAX_ENV_USER
        && !user.starts_with(b"-")
        && user
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b"._-$".contains(&b));
    plausible.then(|| String::from_utf8_lossy(&user).into_owned())
}

/// A name or value of a NEW-ENVIRON list, up to the next code (ESC escapes).
fn environ_text(list: &[u8], i: &mut usize) -> Vec<u8> {
    let mut text = Vec::new();
    while let Some(&byte) = list.get(*i) {
        match byte {
            ENV_VAR | ENV_VALUE | ENV_USERVAR => break,
            ENV_ESC => {
                if let Some(&next) = list.get(*i + 1) {
                    text.push(next);
                }
                *i += 2;
            }
            other => {
                text.push(other);
                *i += 1;
            }
        }
    }
    text
}

/// Prepares output for the wire as a telnetd does in non-binary mode: 0xff doubled,
/// a CR not followed by LF followed by NUL.
pub fn encode(output: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(output.len() + 8);
    let mut bytes = output.iter().peekable();
    while let Some(&byte) = bytes.next() {
        out.push(byte);
        if byte == IAC {
            out.push(IAC);
        } else if byte == b'\r' && bytes.peek() != Some(&&b'\n') {
            out.push(0);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(telnet: &mut Telnet, input: &[u8]) -> (Vec<u8>, Vec<u8>) {
        let mut data = Vec::new();
        let reply = telnet.receive(input, &mut data);
        (data, reply)
    }

    #[test]
    fn plain_data_passes_and_iac_iac_is_one_byte() {
        let mut t = Telnet::new();
        let (data, reply) = feed(&mut t, b"ab\xff\xffc");
        assert_eq!(data, b"ab\xffc");
        assert!(reply.is_empty());
    }

    #[test]
    fn sequences_split_across_reads() {
        let mut t = Telnet::new();
        let mut data = Vec::new();
        let mut reply = Vec::new();
        for &b in b"x\xff\xfb\x18y\xff\xfa\x1f\x00\x50\x00\x18\xff\xf0z" {
            reply.extend(t.receive(&[b], &mut data));
        }
        assert_eq!(data, b"xyz");
        assert_eq!(reply, [IAC, DO, OPT_TTYPE]);
        assert_eq!(t.window(), Some((80, 24)));
    }

    const LINEMODE: u8 = 34;

    #[test]
    fn answers_once_and_acknowledgements_are_silent() {
        let mut t = Telnet::new();
        assert_eq!(t.ask_do(OPT_NAWS), [IAC, DO, OPT_NAWS]);
        assert!(t.ask_do(OPT_NAWS).is_empty());
        assert_eq!(t.offer_will(OPT_ECHO), [IAC, WILL, OPT_ECHO]);
        // Acknowledgements: no reply.
        let (_, reply) = feed(&mut t, &[IAC, WILL, OPT_NAWS, IAC, DO, OPT_ECHO]);
        assert!(reply.is_empty());
        assert!(t.his(OPT_NAWS));
        // Repeated: still no reply (no loop).
        let (_, reply) = feed(&mut t, &[IAC, WILL, OPT_NAWS, IAC, DO, OPT_ECHO]);
        assert!(reply.is_empty());
        // Unsupported: refused, but not forever.
        let (_, reply) = feed(&mut t, &[IAC, DO, LINEMODE, IAC, WILL, 200]);
        assert_eq!(reply, [IAC, WONT, LINEMODE, IAC, DONT, 200]);
        let mut flood = Vec::new();
        for _ in 0..100 {
            flood.extend_from_slice(&[IAC, DO, LINEMODE]);
        }
        let (_, reply) = feed(&mut t, &flood);
        assert_eq!(reply, [IAC, WONT, LINEMODE]);
    }

    #[test]
    fn dont_echo_turns_server_echo_off() {
        let mut t = Telnet::new();
        let _ = t.offer_will(OPT_ECHO);
        assert!(t.echo());
        let (_, reply) = feed(&mut t, &[IAC, DONT, OPT_ECHO]);
        assert!(reply.is_empty());
        assert!(!t.echo());
    }

    #[test]
    fn terminal_type_and_environment() {
        let mut t = Telnet::new();
        let (_, _) = feed(&mut t, b"\xff\xfa\x18\x00XTERM-256color\xff\xf0");
        assert_eq!(t.terminal_type(), Some("xterm-256color"));
        let (_, _) = feed(
            &mut t,
            b"\xff\xfa\x27\x00\x00USER\x01root\x03DISPLAY\x01:0\xff\xf0",
        );
        assert_eq!(t.take_env_user().as_deref(), Some("root"));
        let (_, _) = feed(&mut t, b"\xff\xfa\x27\x00\x00USER\x01-froot\xff\xf0");
        assert_eq!(t.take_env_user(), None);
        let (_, _) = feed(&mut t, b"\xff\xfa\x18\x00../../etc\xff\xf0");
        assert_eq!(t.terminal_type(), Some("xterm-256color"));
    }

    #[test]
    fn subnegotiation_is_bounded() {
        let mut t = Telnet::new();
        let mut input = vec![IAC, SB, OPT_NAWS];
        input.extend(std::iter::repeat_n(7u8, 100_000));
        input.extend_from_slice(&[IAC, SE]);
        input.extend_from_slice(b"ok");
        let (data, _) = feed(&mut t, &input);
        assert_eq!(data, b"ok");
        assert_eq!(t.window(), None);
        assert!(t.sb.capacity() <= MAX_SUBNEGOTIATION * 2);
    }

    #[test]
    fn unterminated_subnegotiation_ends_at_the_next_command() {
        let mut t = Telnet::new();
        let (data, reply) = feed(&mut t, b"\xff\xfa\x1f\x00\x50\x00\x18\xff\xfb\x01a");
        assert_eq!(data, b"a");
        assert_eq!(t.window(), Some((80, 24)));
        // WILL ECHO from a client is refused.
        assert_eq!(reply, [IAC, DONT, OPT_ECHO]);
    }

    #[test]
    fn control_commands_become_pty_characters() {
        let mut t = Telnet::new();
        let (data, reply) = feed(
            &mut t,
            &[b'a', IAC, EC, IAC, EL, IAC, IP, IAC, XEOF, IAC, AYT],
        );
        assert_eq!(data, [b'a', 0x7f, 0x15, 0x03, 0x04]);
        assert_eq!(reply, b"\r\n[Yes]\r\n");
    }

    #[test]
    fn random_input_never_panics() {
        let mut t = Telnet::new();
        let mut rng = fastrand::Rng::with_seed(7);
        for _ in 0..2000 {
            let len = rng.usize(0..64);
            let chunk: Vec<u8> = (0..len)
                .map(|_| {
                    if rng.bool() {
                        rng.u8(236..)
                    } else {
                        rng.u8(..)
                    }
                })
                .collect();
            let mut data = Vec::new();
            let reply = t.receive(&chunk, &mut data);
            assert!(data.len() <= chunk.len());
            assert!(reply.len() <= chunk.len() * 3 + 16 * 9);
        }
        assert!(t.trace().len() < 64 * 10);
    }

    #[test]
    fn output_encoding() {
        assert_eq!(encode(b"a\r\nb\rc\xff"), b"a\r\nb\r\0c\xff\xff");
        assert_eq!(encode(b"x\r"), b"x\r\0");
    }
}
