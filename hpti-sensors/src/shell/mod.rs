//! The emulated shell the SSH and Telnet sensors drive.
//!
//! Pure emulation: nothing typed is ever executed and no real file is read or
//! written. The filesystem is an in-memory copy-on-write overlay ([`FileSystem`]) over
//! a read-only [`BaseImage`] built from a per-install [`Persona`], so no value is
//! shared by every install. Every line runs under [`ShellLimits`]: a budget of
//! executed commands, an output cap, a nesting cap and overlay caps, so hostile
//! input (`while :; do :; done`, `cat /dev/urandom`, fork bombs) ends promptly.
//!
//! Downloads (`wget`, `curl`, `tftp`, `ftpget`, `busybox wget`) are delegated to the
//! [`ShellHost`], which decides whether to fetch; files the attacker writes are
//! reported to it once per file per line with their final content.
//!
//! Memory: the base image (~250 nodes) is built once per persona and shared; a fresh
//! [`Shell`] with its empty overlay measured about 4.5 KB of heap (10,000 idle
//! sessions ≈ 45 MB RSS).
//!
//! Decisions worth knowing:
//! - `sudo` never asks for a password (the login user is a NOPASSWD sudoer when the
//!   persona says so) and `su`/`sudo su`/`sudo -i` switch to the target user at once;
//!   `exit` returns to the previous user. `passwd` reads the new password twice from
//!   stdin (`echo -e "a\na" | passwd`) and otherwise fails like an empty entry.
//! - Running a downloaded ELF: x86-64/i386 "runs" silently with status 0 (a
//!   daemonising bot prints nothing); any other machine, or a truncated header, gets
//!   `cannot execute binary file: Exec format error` (126). Text files run as
//!   scripts; a non-shell `#!` interpreter is a "bad interpreter".
//! - Files fetched by `wget`/`curl`/`tftp`/`ftpget` are not reported through
//!   [`ShellHost::file_written`] (the host already has them); empty files are not
//!   reported either.

mod commands;
pub mod fs;
mod image;
mod interp;
pub mod parser;
mod persona;
pub mod terminal;
pub mod text;

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

pub use fs::{BaseImage, FileSystem, FsError};
pub use parser::{ParseError, parse, quote};
pub use persona::{MemorySplit, OsFlavor, Persona, PersonaUser};
pub use terminal::{EditorEvent, LineEditor};

/// Bounds applied to every input line (and the session's filesystem overlay).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShellLimits {
    /// Simple commands executed per line before the line is abandoned.
    pub max_commands: u64,
    /// Bytes of output per line (and per pipe or capture buffer).
    pub max_output_bytes: usize,
    /// Bytes moved through all buffers, variables and file reads per line.
    pub max_work_bytes: u64,
    /// Nesting of functions, `sh -c`, `$(...)`, `eval`, `source` and scripts.
    pub max_depth: u32,
    /// Bytes of file content in the session overlay.
    pub max_overlay_bytes: u64,
    /// Entries (files, directories, deletions) in the session overlay.
    pub max_overlay_nodes: usize,
    /// Longest input line the [`LineEditor`] keeps (longer input is cut).
    pub max_line_len: usize,
    /// Lines kept by `history`.
    pub max_history: usize,
    /// Downloads one line may ask the host for.
    pub max_fetches: usize,
}

impl Default for ShellLimits {
    fn default() -> Self {
        ShellLimits {
            max_commands: 10_000,
            max_output_bytes: 1 << 20,
            max_work_bytes: 64 << 20,
            max_depth: 32,
            max_overlay_bytes: fs::DEFAULT_OVERLAY_BYTES,
            max_overlay_nodes: fs::DEFAULT_OVERLAY_NODES,
            max_line_len: 8 * 1024,
            max_history: 1000,
            max_fetches: 32,
        }
    }
}

/// Where "now" comes from; tests pin it so snapshots are stable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Clock {
    /// The system clock.
    #[default]
    System,
    /// A fixed unix time.
    Fixed(i64),
}

impl Clock {
    /// Current unix time.
    pub fn now(self) -> i64 {
        match self {
            Clock::System => chrono::Utc::now().timestamp(),
            Clock::Fixed(t) => t,
        }
    }
}

/// Everything a [`Shell`] starts from.
#[derive(Debug, Clone)]
pub struct ShellOptions {
    /// Login name (`root` or any other; unknown names get a home under `/home`).
    pub user: String,
    /// The host identity.
    pub persona: Arc<Persona>,
    /// The session's filesystem (fresh, or kept from an earlier session of the IP).
    pub fs: FileSystem,
    /// Bounds.
    pub limits: ShellLimits,
    /// Address of the attacker, shown by `w`, `who` and `last`.
    pub client_ip: Option<IpAddr>,
    /// Time source.
    pub clock: Clock,
    /// Extra environment variables (e.g. from an SSH `env` request).
    pub env: BTreeMap<String, String>,
}

impl ShellOptions {
    /// Options with default limits, the system clock and no client address.
    pub fn new(user: impl Into<String>, persona: Arc<Persona>, fs: FileSystem) -> Self {
        ShellOptions {
            user: user.into(),
            persona,
            fs,
            limits: ShellLimits::default(),
            client_ip: None,
            clock: Clock::System,
            env: BTreeMap::new(),
        }
    }
}

/// Result of one input line.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Outcome {
    /// What the terminal shows (stdout and stderr interleaved, `\n` line ends).
    pub output: Vec<u8>,
    /// `$?` after the line.
    pub exit_status: i32,
    /// The session should end (`exit`, `logout`, `^D` is the editor's business).
    pub exit: bool,
}

/// Which program asked for a URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FetchTool {
    /// `wget` (also `busybox wget`).
    Wget,
    /// `curl`.
    Curl,
    /// `tftp` (also `busybox tftp`).
    Tftp,
    /// `ftpget` (also `busybox ftpget`).
    Ftpget,
}

/// A download the attacker asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchRequest {
    /// Absolute URL (`tftp`/`ftpget` requests are turned into `tftp://`/`ftp://`).
    pub url: String,
    /// The program.
    pub tool: FetchTool,
}

/// What the host did with a [`FetchRequest`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchOutcome {
    /// The body.
    Fetched {
        /// Content (already bounded by the host).
        content: Vec<u8>,
    },
    /// Not fetched; `reason` picks the error the tool prints: contains `refused`,
    /// `404`/`not found`, `resolve`/`host`, `timed out`/`timeout`, else generic.
    Failed {
        /// Why.
        reason: String,
    },
}

/// The sensor side of a shell session.
#[async_trait::async_trait]
pub trait ShellHost: Send {
    /// wget/curl/tftp/ftpget/busybox wget asked for a URL. The host decides whether
    /// and how to fetch (SSRF guard, limits) and emits the download event.
    async fn fetch(&mut self, request: FetchRequest) -> FetchOutcome;
    /// The attacker created or finished writing a file in the fake filesystem.
    /// Called once per file per input line, after the line, with the file's final
    /// content (or its last content if the line deleted it).
    fn file_written(&mut self, path: &str, content: &[u8]);
}

/// A host that refuses downloads and ignores written files.
#[derive(Debug, Default, Clone, Copy)]
pub struct NullHost;

#[async_trait::async_trait]
impl ShellHost for NullHost {
    async fn fetch(&mut self, _request: FetchRequest) -> FetchOutcome {
        FetchOutcome::Failed {
            reason: "disabled".into(),
        }
    }
    fn file_written(&mut self, _path: &str, _content: &[u8]) {}
}

/// One emulated login shell.
#[derive(Debug)]
pub struct Shell {
    state: interp::State,
}

impl Shell {
    /// A login shell for `options.user` in its home directory.
    pub fn new(options: ShellOptions) -> Self {
        Shell {
            state: interp::State::new(options),
        }
    }

    /// What a Debian/Ubuntu login prints before the first prompt.
    pub fn motd(&self) -> String {
        commands::motd(&self.state)
    }

    /// The prompt, e.g. `root@web-prod-03:~# `.
    pub fn prompt(&self) -> String {
        self.state.prompt()
    }

    /// Runs one interactive input line.
    pub async fn run(&mut self, line: &str, host: &mut dyn ShellHost) -> Outcome {
        interp::run_line(&mut self.state, line, host, false).await
    }

    /// Runs the command string of an SSH `exec` request (bash `-c` error style).
    pub async fn exec(&mut self, command: &str, host: &mut dyn ShellHost) -> Outcome {
        interp::run_line(&mut self.state, command, host, true).await
    }

    /// The session's filesystem, for per-IP persistence between sessions.
    pub fn into_filesystem(self) -> FileSystem {
        self.state.fs
    }

    /// The session's filesystem.
    pub fn filesystem(&self) -> &FileSystem {
        &self.state.fs
    }

    /// The lines run so far (what `history` shows).
    pub fn history(&self) -> impl Iterator<Item = &str> {
        self.state.history.iter().map(String::as_str)
    }

    /// The current user (changes with `su`/`sudo su`).
    pub fn user(&self) -> &str {
        &self.state.user
    }

    /// The current working directory.
    pub fn cwd(&self) -> &str {
        &self.state.cwd
    }
}
