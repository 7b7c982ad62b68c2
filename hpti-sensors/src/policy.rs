//! Which login attempts succeed; the SSH and Telnet sensors share one
//! [`CredentialPolicy`].
//!
//! Rules use Cowrie's `userdb.txt` syntax, one `username:x:password` per line (the
//! middle field is ignored):
//!
//! - `*` matches anything; `/regex/` (optionally `/regex/i`) is an unanchored regular
//!   expression, as in Cowrie; anything else matches exactly;
//! - a password starting with `!` negates the rule: a match is rejected;
//! - the first rule whose username and password both match decides; no match rejects;
//! - blank lines and lines starting with `#` are ignored.
//!
//! On top of the rules:
//!
//! - `accept_after`: the Nth password attempt from an address succeeds whatever the
//!   credential, N drawn per address from a range (Cowrie's `AuthRandom`); the
//!   credential that got in is remembered, so logging in again with it works;
//! - `pin_first_password`: once a password got `username` in from an address, only
//!   that password works for `username` from that address. "Any password works" is a
//!   well-known honeypot tell (Cowrie issue #234).
//!
//! Per-address state is bounded (entry count, idle expiry) and holds hashes, not the
//! credentials themselves.

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use moka::sync::Cache;
use regex::{Regex, RegexBuilder};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Pins kept per address; the oldest is dropped beyond this, so a scanner cycling
/// through usernames cannot grow one entry without bound.
const MAX_PINS_PER_IP: usize = 16;
/// Compiled size limit of one rule's regex: the userdb is trusted, but a typo should
/// not cost gigabytes.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// The rules used when the configuration gives none.
///
/// Like Cowrie's example userdb: `root` gets in with any password except the few that
/// bots try first and a "this is a honeypot" check (accepting `root:root` at once
/// looks fake; rejecting `123456` makes the bot move on to its next guess, which then
/// succeeds), and never with an empty password, which a real sshd refuses. A couple
/// of other accounts commonly brute-forced on IoT and cloud hosts exist too.
pub const DEFAULT_USERDB: &[&str] = &[
    "root:x:!root",
    "root:x:!123456",
    "root:x:!/honeypot/i",
    "root:x:!/^$/",
    "root:x:*",
    "admin:x:!admin",
    "admin:x:!/^$/",
    "admin:x:*",
    "ubuntu:x:!/^$/",
    "ubuntu:x:*",
    "pi:x:raspberry",
];

/// How logins are decided.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PolicyConfig {
    /// Rules in `userdb.txt` syntax, first match wins (default: [`DEFAULT_USERDB`]).
    pub userdb: Vec<String>,
    /// A `userdb.txt` file; when set, its rules replace `userdb`.
    pub userdb_file: Option<PathBuf>,
    /// Accept the Nth attempt from an address whatever the credential (off by default).
    pub accept_after: Option<AcceptAfter>,
    /// Once a password succeeded for (address, username), only it works (default on).
    pub pin_first_password: bool,
    /// Accept public keys (default off, so clients fall back to passwords, which is
    /// what the honeypot wants to see).
    pub accept_publickey: bool,
    /// Most addresses whose state is kept (default 100,000).
    pub max_tracked_ips: u64,
    /// An address's state is forgotten after this long without attempts (default 24 h).
    #[serde(with = "humantime_serde")]
    pub forget_after: Duration,
}

impl Default for PolicyConfig {
    fn default() -> Self {
        Self {
            userdb: DEFAULT_USERDB.iter().map(|&rule| rule.to_owned()).collect(),
            userdb_file: None,
            accept_after: None,
            pin_first_password: true,
            accept_publickey: false,
            max_tracked_ips: 100_000,
            forget_after: Duration::from_secs(24 * 3600),
        }
    }
}

/// The range N is drawn from, per address, for [`PolicyConfig::accept_after`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AcceptAfter {
    /// Smallest N (at least 1).
    pub min: u32,
    /// Largest N (at least `min`).
    pub max: u32,
}

/// What a client offered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credential<'a> {
    /// A password (SSH `password` or `keyboard-interactive`, Telnet login).
    Password(&'a str),
    /// An SSH public key.
    PublicKey {
        /// E.g. `ssh-ed25519`.
        key_type: &'a str,
        /// E.g. `SHA256:...`.
        fingerprint: &'a str,
    },
}

/// The policy could not be built.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// A rule does not parse.
    #[error("{origin} line {line}: {message}")]
    Userdb {
        /// `userdb` (the inline list) or the file's path.
        origin: String,
        /// 1-based line (or list entry) number.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// The userdb file cannot be read.
    #[error("cannot read {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// `accept_after` is not a valid range.
    #[error("accept_after: need 1 <= min <= max, got min {min}, max {max}")]
    AcceptAfter {
        /// The configured minimum.
        min: u32,
        /// The configured maximum.
        max: u32,
    },
}

#[derive(Debug, Clone)]
enum Pattern {
    Any,
    Exact(String),
    Regex(Regex),
}

impl Pattern {
    fn parse(text: &str) -> Result<Self, String> {
        if text == "*" {
            return Ok(Self::Any);
        }
        if let Some(body) = text.strip_prefix('/') {
            if let Some(end) = body.rfind('/') {
                let (expression, flags) = (&body[..end], &body[end + 1..]);
                let case_insensitive = match flags {
                    "" => false,
                    "i" => true,
                    other => return Err(format!("unknown regex flags {other:?} (only i)")),
                };
                return RegexBuilder::new(expression)
                    .case_insensitive(case_insensitive)
                    .size_limit(REGEX_SIZE_LIMIT)
                    .build()
                    .map(Self::Regex)
                    .map_err(|e| format!("bad regex /{expression}/: {e}"));
            }
        }
        Ok(Self::Exact(text.to_owned()))
    }

    fn matches(&self, value: &str) -> bool {
        match self {
            Self::Any => true,
            Self::Exact(exact) => exact == value,
            Self::Regex(regex) => regex.is_match(value),
        }
    }
}

#[derive(Debug, Clone)]
struct Rule {
    username: Pattern,
    password: Pattern,
    reject: bool,
}

impl Rule {
    fn parse(line: &str) -> Result<Self, String> {
        let mut fields = line.splitn(3, ':');
        let (Some(username), Some(_), Some(password)) =
            (fields.next(), fields.next(), fields.next())
        else {
            return Err(format!("expected username:x:password, got {line:?}"));
        };
        if username.is_empty() {
            return Err("empty username (use * for any)".to_owned());
        }
        let (reject, password) = match password.strip_prefix('!') {
            Some(rest) => (true, rest),
            None => (false, password),
        };
        Ok(Self {
            username: Pattern::parse(username)?,
            password: Pattern::parse(password)?,
            reject,
        })
    }
}

/// Parses userdb text: one rule a line, `#` comments and blank lines ignored.
fn parse_userdb<'a>(
    origin: &str,
    lines: impl Iterator<Item = &'a str>,
) -> Result<Vec<Rule>, PolicyError> {
    let mut rules = Vec::new();
    for (index, line) in lines.enumerate() {
        let line = line.trim_end_matches(['\r', '\n']);
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        let rule = Rule::parse(line).map_err(|message| PolicyError::Userdb {
            origin: origin.to_owned(),
            line: index + 1,
            message,
        })?;
        rules.push(rule);
    }
    Ok(rules)
}

type Digest32 = [u8; 32];

fn digest(text: &str) -> Digest32 {
    Sha256::digest(text.as_bytes()).into()
}

#[derive(Debug)]
struct IpState {
    attempts: u32,
    /// N for `accept_after`, or `None` when off or already used.
    accept_at: Option<u32>,
    /// (username, password) digests, oldest first.
    pins: Vec<(Digest32, Digest32)>,
}

impl IpState {
    fn pinned(&self, username: &Digest32) -> Option<&Digest32> {
        self.pins
            .iter()
            .find(|(user, _)| user == username)
            .map(|(_, password)| password)
    }

    fn pin(&mut self, username: Digest32, password: Digest32) {
        if self.pins.len() >= MAX_PINS_PER_IP {
            self.pins.remove(0);
        }
        self.pins.push((username, password));
    }
}

/// Decides login attempts; thread-safe, share one per sensor (or one for both).
pub struct CredentialPolicy {
    rules: Vec<Rule>,
    accept_after: Option<AcceptAfter>,
    pin_first_password: bool,
    accept_publickey: bool,
    state: Cache<IpAddr, Arc<Mutex<IpState>>>,
}

impl std::fmt::Debug for CredentialPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CredentialPolicy")
            .field("rules", &self.rules.len())
            .field("accept_after", &self.accept_after)
            .field("pin_first_password", &self.pin_first_password)
            .field("accept_publickey", &self.accept_publickey)
            .finish_non_exhaustive()
    }
}

impl CredentialPolicy {
    /// Builds the policy, reading `userdb_file` if set.
    pub fn new(config: PolicyConfig) -> Result<Self, PolicyError> {
        let rules = match &config.userdb_file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| PolicyError::Io {
                    path: path.clone(),
                    source,
                })?;
                parse_userdb(&path.display().to_string(), text.lines())?
            }
            None => parse_userdb("userdb", config.userdb.iter().map(String::as_str))?,
        };
        if let Some(AcceptAfter { min, max }) = config.accept_after {
            if min == 0 || min > max {
                return Err(PolicyError::AcceptAfter { min, max });
            }
        }
        let state = Cache::builder()
            .max_capacity(config.max_tracked_ips)
            .time_to_idle(config.forget_after)
            .build();
        Ok(Self {
            rules,
            accept_after: config.accept_after,
            pin_first_password: config.pin_first_password,
            accept_publickey: config.accept_publickey,
            state,
        })
    }

    /// What the rules alone say (`None`: no rule matches).
    fn rules_decide(&self, username: &str, password: &str) -> Option<bool> {
        self.rules
            .iter()
            .find(|rule| rule.username.matches(username) && rule.password.matches(password))
            .map(|rule| !rule.reject)
    }

    /// Whether this attempt from `ip` succeeds. Every password attempt is counted.
    pub fn check(&self, ip: IpAddr, username: &str, credential: Credential<'_>) -> bool {
        let password = match credential {
            Credential::Password(password) => password,
            Credential::PublicKey { .. } => return self.accept_publickey,
        };
        let entry = self.state.get_with(ip, || {
            Arc::new(Mutex::new(IpState {
                attempts: 0,
                accept_at: self
                    .accept_after
                    .map(|AcceptAfter { min, max }| fastrand::u32(min..=max)),
                pins: Vec::new(),
            }))
        });
        // A panic elsewhere while holding the lock leaves consistent-enough state
        // (counters and a short list): carry on rather than propagate it.
        let mut state = entry.lock().unwrap_or_else(PoisonError::into_inner);
        state.attempts = state.attempts.saturating_add(1);
        let user_digest = digest(username);
        let password_digest = digest(password);
        if let Some(pinned) = state.pinned(&user_digest) {
            return *pinned == password_digest;
        }
        if self.rules_decide(username, password) == Some(true) {
            if self.pin_first_password {
                state.pin(user_digest, password_digest);
            }
            return true;
        }
        if state.accept_at.is_some_and(|n| state.attempts >= n) {
            state.accept_at = None;
            // Pinned whatever `pin_first_password` says: the same credential must keep
            // working, or the lucky bot's second login would fail.
            state.pin(user_digest, password_digest);
            return true;
        }
        false
    }
}
