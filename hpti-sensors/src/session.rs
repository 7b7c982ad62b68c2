//! One attacker connection, protocol-independent: the events it emits, logins judged by
//! the policy, and the interactive [`Terminal`] (line editor, emulated shell, recording)
//! that SSH shell/exec channels and Telnet drive.

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

use hpti_core::event::{AuthMethod, Event, EventId, EventKind};
use hpti_core::pipeline::{EventEmitter, PipelineClosed, TryEmitError};

use crate::fetch::{FetchError, FetchTool as FetcherTool, SessionBudget};
use crate::honeypot::Honeypot;
use crate::policy::Credential;
use crate::recording::Recorder;
use crate::shell::{
    EditorEvent, FetchOutcome, FetchRequest, FetchTool, LineEditor, Shell, ShellHost, ShellOptions,
};
use crate::uploads::{ConnectionUploads, Held};
use hpti_core::validate::Limits;

/// One connection's identity and event output; shared by the tasks of a connection.
pub struct SessionCore {
    pub(crate) honeypot: Arc<Honeypot>,
    pub(crate) id: String,
    pub(crate) peer: SocketAddr,
    pub(crate) local: SocketAddr,
    pub(crate) started: Instant,
    emitter: EventEmitter,
    /// The recording of the session's terminal, once finished.
    recording: std::sync::Mutex<Option<String>>,
    /// Bytes uploaded over all of the connection's channels.
    uploads: ConnectionUploads,
}

/// One connection: its [`SessionCore`] and the state of its conversation.
pub struct Session {
    core: Arc<SessionCore>,
    budget: SessionBudget,
    /// Logins attempted on this connection.
    pub(crate) auth_attempts: usize,
}

impl std::ops::Deref for Session {
    type Target = SessionCore;
    fn deref(&self) -> &SessionCore {
        &self.core
    }
}

impl Session {
    /// A new session; emits nothing yet (see [`SessionCore::start`]).
    pub fn new(
        honeypot: Arc<Honeypot>,
        emitter: EventEmitter,
        peer: SocketAddr,
        local: SocketAddr,
    ) -> Self {
        let budget = honeypot.fetcher.session_budget();
        Self {
            core: Arc::new(SessionCore {
                honeypot,
                id: EventId::new().to_string(),
                peer,
                local,
                started: Instant::now(),
                emitter,
                recording: std::sync::Mutex::new(None),
                uploads: ConnectionUploads::default(),
            }),
            budget,
            auth_attempts: 0,
        }
    }

    /// The shareable part.
    pub fn core(&self) -> &Arc<SessionCore> {
        &self.core
    }

    /// Judges a login with the policy and emits the attempt.
    pub async fn login(
        &mut self,
        username: &str,
        credential: Credential<'_>,
        method: AuthMethod,
    ) -> bool {
        self.auth_attempts += 1;
        let success = self
            .honeypot
            .policy
            .check(self.peer.ip(), username, credential);
        let (password, key_type, key_fingerprint) = match credential {
            Credential::Password(p) => (Some(p.to_owned()), None, None),
            Credential::PublicKey {
                key_type,
                fingerprint,
            } => (
                None,
                Some(key_type.to_owned()),
                Some(fingerprint.to_owned()),
            ),
        };
        self.emit(EventKind::LoginAttempt {
            username: username.to_owned(),
            password,
            key_type,
            key_fingerprint,
            method,
            success,
        })
        .await;
        success
    }

    /// Runs an exec request's command line (emits `command.input`): output and status.
    pub async fn exec(&mut self, user: &str, command: &str) -> (Vec<u8>, i32) {
        self.emit(EventKind::CommandInput {
            command: command.to_owned(),
        })
        .await;
        let mut shell = self.shell(user);
        let outcome = {
            let mut host = Host::new(self);
            let outcome = shell.exec(command, &mut host).await;
            host.finish().await;
            outcome
        };
        self.honeypot
            .keep_filesystem(self.peer.ip(), shell.into_filesystem());
        (outcome.output, outcome.exit_status)
    }
}

impl SessionCore {
    /// The session id every event of the connection carries.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The attacker's address.
    pub fn peer_ip(&self) -> IpAddr {
        self.peer.ip()
    }

    /// An event of this session.
    pub fn event(&self, kind: EventKind) -> Event {
        let mut event = Event::new(
            self.honeypot.sensor.clone(),
            self.honeypot.protocol.clone(),
            self.peer.ip(),
            kind,
        )
        .with_session(self.id.clone())
        .with_source_port(self.peer.port())
        .with_destination(self.local.ip(), self.local.port());
        // Kept, cut, with the full length and digest: the validator would refuse it whole.
        event.truncate_long_fields(Limits::default().max_long_field);
        event
    }

    /// Emits an event of this session, waiting at most `max_emit_wait` while the
    /// pipeline is full (then the event is dropped and counted, `emit_dropped`: a session
    /// never hangs on a store that is down). With a disk buffer it also waits, within the
    /// same bound, until the event is on disk, so that a crash loses nothing the client
    /// saw answered.
    ///
    /// The event is queued when this is called, not when the future is first polled.
    /// Every connection keeps a handful of these futures inside its own for as long as
    /// it lives, so the future is made small: when the queue has room (nearly always)
    /// there is nothing left to wait for, and a wait is boxed.
    pub fn emit(&self, kind: EventKind) -> impl Future<Output = ()> + Send + '_ {
        let event = self.event(kind);
        let waiting: Option<Pin<Box<dyn Future<Output = ()> + Send + '_>>> =
            if self.emitter.on_disk() {
                Some(Box::pin(self.emit_to_disk(event)))
            } else {
                match self.emitter.try_emit(event) {
                    Ok(()) => None,
                    Err(TryEmitError::Full(event)) => Some(Box::pin(self.wait_for_room(*event))),
                    Err(TryEmitError::Closed) => {
                        self.honeypot.counters.emit_failed.inc();
                        None
                    }
                }
            };
        async move {
            if let Some(wait) = waiting {
                wait.await;
            }
        }
    }

    async fn wait_for_room(&self, event: Event) {
        let counters = &self.honeypot.counters;
        match tokio::time::timeout(self.honeypot.limits.max_emit_wait, self.emitter.emit(event))
            .await
        {
            Ok(Ok(())) => {}
            Ok(Err(PipelineClosed)) => {
                counters.emit_failed.inc();
            }
            Err(_) => {
                counters.emit_dropped.inc();
            }
        }
    }

    async fn emit_to_disk(&self, event: Event) {
        let counters = &self.honeypot.counters;
        let deadline = tokio::time::Instant::now() + self.honeypot.limits.max_emit_wait;
        let receiver =
            match tokio::time::timeout_at(deadline, self.emitter.emit_acknowledged(event)).await {
                Ok(Ok(receiver)) => receiver,
                Ok(Err(PipelineClosed)) => {
                    counters.emit_failed.inc();
                    return;
                }
                Err(_) => {
                    counters.emit_dropped.inc();
                    return;
                }
            };
        match tokio::time::timeout_at(deadline, receiver).await {
            Ok(status) if status.is_accounted_for() => {}
            Ok(_) => {
                counters.emit_failed.inc();
            }
            Err(_) => {
                counters.emit_late.inc();
            }
        }
    }

    /// Emits `session.started`.
    pub async fn start(&self) {
        self.emit(EventKind::SessionStarted).await;
    }

    /// Notes the path of a finished recording for `session.closed` (the first one
    /// counts: a connection rarely opens two shells).
    pub fn remember_recording(&self, path: String) {
        if let Ok(mut slot) = self.recording.lock()
            && slot.is_none()
        {
            *slot = Some(path);
        }
    }

    /// Emits `session.closed` with the duration and the recording (`recording`, else
    /// the one remembered).
    pub async fn close(&self, recording: Option<String>) {
        let recording = recording.or_else(|| self.recording.lock().ok().and_then(|mut r| r.take()));
        let duration_ms = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.emit(EventKind::SessionClosed {
            duration_ms,
            recording,
        })
        .await;
    }

    /// Room for `bytes` more of an upload in progress, held by `held`: within the
    /// connection's `max_upload_bytes`, the address's `max_upload_bytes_per_ip` and the
    /// sensor's `max_upload_memory`. A refusal is counted (`upload_refused`).
    pub(crate) fn take_upload(&self, held: &mut Held, bytes: u64) -> bool {
        let limits = &self.honeypot.limits;
        let ip = self.peer.ip();
        let taken = if self.uploads.admit(bytes, limits.max_upload_bytes) {
            if !self.honeypot.admit_ip_upload(ip, bytes) {
                self.uploads.undo(bytes);
                false
            } else if held.grow(bytes) {
                true
            } else {
                self.uploads.undo(bytes);
                self.honeypot.undo_ip_upload(ip, bytes);
                false
            }
        } else {
            false
        };
        if !taken {
            self.honeypot.counters.upload_refused.inc();
            tracing::debug!(
                session = %self.id, bytes, uploaded = self.uploads.total(),
                held_by_sensor = self.honeypot.upload_memory.held(),
                "upload refused (over the connection's, the address's or the sensor's bound)"
            );
        }
        taken
    }

    /// Gives back the part of a [`SessionCore::take_upload`] reservation an upload did
    /// not use (an HTTP body reserved at its limit that turned out shorter).
    pub(crate) fn give_back_upload(&self, bytes: u64) {
        self.uploads.undo(bytes);
        self.honeypot.undo_ip_upload(self.peer.ip(), bytes);
    }

    /// Stores a file the attacker pushed (SFTP, SCP, a file written in the shell) by
    /// sha256 and emits `file.upload`.
    pub async fn upload(&self, filename: &str, content: Vec<u8>) {
        let size = content.len() as u64;
        match self.honeypot.artifacts.store(content).await {
            Ok(stored) => {
                self.emit(EventKind::FileUpload {
                    filename: filename.to_owned(),
                    sha256: Some(stored.sha256),
                    size: Some(stored.size),
                })
                .await;
            }
            Err(e) => {
                if crate::fetch::is_quota_refusal(&e) {
                    tracing::debug!(session = %self.id, error = %e, "uploaded file refused by the artifact quota");
                } else {
                    self.honeypot.counters.artifact_failed.inc();
                    tracing::warn!(session = %self.id, error = %e, "cannot store an uploaded file");
                }
                self.emit(EventKind::FileUpload {
                    filename: filename.to_owned(),
                    sha256: None,
                    size: Some(size),
                })
                .await;
            }
        }
    }

    /// A shell for `user` on this session's (fresh or kept) filesystem.
    pub fn shell(&self, user: &str) -> Shell {
        let mut options = ShellOptions::new(
            user,
            self.honeypot.persona.clone(),
            self.honeypot.filesystem_for(self.peer.ip()),
        );
        options.client_ip = Some(self.peer.ip());
        Shell::new(options)
    }
}

/// The [`ShellHost`] of a session: fetches through the guarded fetcher and emits the
/// download events; collects written files to store after the line.
struct Host<'a> {
    session: &'a mut Session,
    written: Vec<(String, Vec<u8>)>,
}

impl<'a> Host<'a> {
    fn new(session: &'a mut Session) -> Self {
        Self {
            session,
            written: Vec::new(),
        }
    }

    /// Stores the files written during the line.
    async fn finish(self) {
        for (path, content) in self.written {
            self.session.upload(&path, content).await;
        }
    }
}

#[async_trait::async_trait]
impl ShellHost for Host<'_> {
    async fn fetch(&mut self, request: FetchRequest) -> FetchOutcome {
        let tool = match request.tool {
            FetchTool::Wget => FetcherTool::Wget,
            FetchTool::Curl => FetcherTool::Curl,
            FetchTool::Tftp => FetcherTool::Tftp,
            FetchTool::Ftpget => FetcherTool::Ftpget,
        };
        let session = &mut *self.session;
        let fetcher = session.core.honeypot.fetcher.clone();
        let result = fetcher.fetch(&request.url, tool, &mut session.budget).await;
        match result {
            Ok(fetched) => {
                session
                    .emit(EventKind::FileDownload {
                        url: request.url,
                        sha256: Some(fetched.sha256),
                        size: Some(fetched.size),
                        error: None,
                    })
                    .await;
                FetchOutcome::Fetched {
                    content: fetched.content.to_vec(),
                }
            }
            Err(error) => {
                session
                    .emit(EventKind::FileDownload {
                        url: request.url,
                        sha256: None,
                        size: None,
                        error: Some(error.to_string()),
                    })
                    .await;
                FetchOutcome::Failed {
                    reason: shell_reason(&error),
                }
            }
        }
    }

    fn file_written(&mut self, path: &str, content: &[u8]) {
        self.written.push((path.to_owned(), content.to_vec()));
    }
}

/// What the emulated tool prints for a failed fetch: a refused fetch (forbidden
/// address, disabled, rate limited) looks like a refused connection, not a honeypot.
fn shell_reason(error: &FetchError) -> String {
    match error.label() {
        "http_status" => error.to_string(),
        "dns" => "unable to resolve host address".to_owned(),
        "timeout" => "Connection timed out".to_owned(),
        _ => "Connection refused".to_owned(),
    }
}

/// What feeding input to a terminal produced.
#[derive(Debug, Default)]
pub struct TerminalOutput {
    /// Bytes for the client.
    pub output: Vec<u8>,
    /// The session ended (`exit`, `^D`) with this status.
    pub exit: Option<i32>,
}

/// An interactive shell on a pty: keystrokes in, echo and output out, everything
/// recorded.
pub struct Terminal {
    shell: Shell,
    editor: LineEditor,
    recorder: Option<Recorder>,
}

impl Terminal {
    /// Opens a terminal for `user` (a recording starts when recordings are on) and
    /// returns it with what the client sees first: the motd and the prompt.
    pub async fn open(
        session: &SessionCore,
        user: &str,
        width: u16,
        height: u16,
        term: Option<&str>,
    ) -> (Self, Vec<u8>) {
        let honeypot = &session.honeypot;
        let recorder = if honeypot.recording.enabled {
            let dir = honeypot.data_dir.join("recordings");
            match Recorder::create_in_quota(
                &honeypot.recording,
                Some(honeypot.recording_quota.clone()),
                &dir,
                &session.id,
                width,
                height,
                term,
            )
            .await
            {
                Ok(recorder) => Some(recorder),
                Err(e) => {
                    honeypot.counters.recording_failed.inc();
                    tracing::warn!(session = %session.id, error = %e, "cannot start a recording");
                    None
                }
            }
        } else {
            None
        };
        let shell = session.shell(user);
        let mut terminal = Self {
            editor: LineEditor::new(honeypot.limits.max_line_bytes),
            shell,
            recorder,
        };
        let mut greeting = crlf(terminal.shell.motd().as_bytes());
        greeting.extend_from_slice(terminal.shell.prompt().as_bytes());
        terminal.record_output(session, &greeting).await;
        (terminal, greeting)
    }

    /// Feeds keystrokes: echoes, runs completed lines, returns what to send.
    pub async fn feed(&mut self, session: &mut Session, input: &[u8]) -> TerminalOutput {
        if let Some(recorder) = &mut self.recorder
            && recorder.input(input).await.is_err()
        {
            session.honeypot.counters.recording_failed.inc();
        }
        let edited = self.editor.feed(input);
        let mut out = TerminalOutput {
            output: edited.echo,
            exit: None,
        };
        for event in edited.events {
            match event {
                EditorEvent::Line(line) => {
                    if !line.trim().is_empty() {
                        session
                            .emit(EventKind::CommandInput {
                                command: line.clone(),
                            })
                            .await;
                    }
                    let outcome = {
                        let mut host = Host::new(session);
                        let outcome = self.shell.run(&line, &mut host).await;
                        host.finish().await;
                        outcome
                    };
                    out.output.extend_from_slice(&crlf(&outcome.output));
                    if outcome.exit {
                        out.exit = Some(outcome.exit_status);
                        break;
                    }
                    out.output.extend_from_slice(self.shell.prompt().as_bytes());
                }
                EditorEvent::Interrupt => {
                    out.output.extend_from_slice(self.shell.prompt().as_bytes());
                }
                EditorEvent::Eof => {
                    out.output.extend_from_slice(b"logout\r\n");
                    out.exit = Some(0);
                    break;
                }
            }
        }
        // Echo of a line's end is the editor's; output and prompt are recorded here.
        self.record_output(session, &out.output).await;
        out
    }

    /// Whether the line editor echoes input (off while a password is typed).
    pub fn set_echo(&mut self, on: bool) {
        self.editor.set_echo(on);
    }

    /// A window size change, for the recording.
    pub async fn resize(&mut self, width: u16, height: u16) {
        if let Some(recorder) = &mut self.recorder {
            let _ = recorder.resize(width, height).await;
        }
    }

    async fn record_output(&mut self, session: &SessionCore, output: &[u8]) {
        if let Some(recorder) = &mut self.recorder
            && !output.is_empty()
            && recorder.output(output).await.is_err()
        {
            session.honeypot.counters.recording_failed.inc();
        }
    }

    /// Ends the terminal: keeps the filesystem (when enabled) and finishes the
    /// recording, returning its path relative to the data directory.
    pub async fn close(self, session: &SessionCore) -> Option<String> {
        session
            .honeypot
            .keep_filesystem(session.peer.ip(), self.shell.into_filesystem());
        let recorder = self.recorder?;
        match recorder.finish().await {
            Ok(relative) => Some(
                std::path::Path::new("recordings")
                    .join(relative)
                    .to_string_lossy()
                    .into_owned(),
            ),
            Err(e) => {
                session.honeypot.counters.recording_failed.inc();
                tracing::warn!(session = %session.id, error = %e, "recording incomplete");
                None
            }
        }
    }
}

/// `\n` → `\r\n` (a pty in cooked mode does this; the shell writes bare `\n`).
pub fn crlf(text: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len() + text.len() / 16);
    let mut previous = 0u8;
    for &byte in text {
        if byte == b'\n' && previous != b'\r' {
            out.push(b'\r');
        }
        out.push(byte);
        previous = byte;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::crlf;

    #[test]
    fn newlines_become_crlf_once() {
        assert_eq!(crlf(b"a\nb\r\nc\n"), b"a\r\nb\r\nc\r\n");
        assert_eq!(crlf(b""), b"");
    }
}
