//! The russh [`Handler`] of one connection: authentication through the policy, session
//! channels into the emulated shell, SFTP and SCP uploads captured, forwarding refused.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use hpti_core::event::{AuthMethod, EventKind};
use russh::keys::HashAlg;
use russh::server::{Auth, ChannelOpenHandle, Handler, Msg, Response, Session as SshSession};
use russh::{Channel, ChannelId, ChannelOpenFailure, MethodKind, MethodSet};
use tokio::sync::Mutex;

use super::scp::{ScpSink, ScpStep};
use super::sftp::SftpCapture;
use crate::policy::Credential;
use crate::session::{Session, Terminal, crlf};
use crate::uploads::Held;

/// The terminals of a connection, shared with the connection task so that recordings
/// are finished however the connection ends.
/// Boxed: a map allocates room for several entries, and a terminal is large.
pub(crate) type Terminals = Arc<Mutex<HashMap<ChannelId, Box<Terminal>>>>;

/// What a session channel is doing.
enum ChannelState {
    /// Opened; waiting for a shell, exec or subsystem request.
    Pending {
        channel: Option<Channel<Msg>>,
        pty: Option<(String, u16, u16)>,
    },
    /// An interactive shell (its [`Terminal`] is in [`Terminals`]).
    Shell { pty: bool },
    /// `scp -t`: receiving files, holding their bytes of the sensor's upload memory.
    Scp(ScpSink, Held),
    /// The SFTP subsystem, served by its own task.
    Sftp,
    /// Finished or handed to another task.
    Done,
}

/// One connection's handler.
pub(crate) struct SshHandler {
    pub session: Session,
    pub user: Option<String>,
    pub authenticated: Arc<AtomicBool>,
    pub terminals: Terminals,
    pub max_auth_attempts: usize,
    /// Open session channels (at most `limits.max_channels`), until the client closes
    /// them.
    channels: HashMap<ChannelId, ChannelState>,
    /// Port-forward requests seen (recorded up to `limits.max_forward_requests`).
    forward_requests: usize,
}

/// Errors end the connection; russh's own are the only kind.
#[derive(Debug, thiserror::Error)]
pub(crate) enum HandlerError {
    #[error(transparent)]
    Ssh(#[from] russh::Error),
    /// The client failed `max_auth_attempts` logins on this connection: it is dropped
    /// at once, as sshd drops it at `MaxAuthTries`.
    #[error("too many authentication failures")]
    TooManyAuthFailures,
}

impl SshHandler {
    pub fn new(
        session: Session,
        authenticated: Arc<AtomicBool>,
        terminals: Terminals,
        max_auth_attempts: usize,
    ) -> Self {
        Self {
            session,
            user: None,
            authenticated,
            terminals,
            max_auth_attempts,
            channels: HashMap::new(),
            forward_requests: 0,
        }
    }

    /// The methods offered, as sshd with password and public key authentication on.
    pub(crate) fn methods() -> MethodSet {
        MethodSet::from(
            &[
                MethodKind::PublicKey,
                MethodKind::Password,
                MethodKind::KeyboardInteractive,
            ][..],
        )
    }

    fn reject() -> Auth {
        Auth::Reject {
            proceed_with_methods: Some(Self::methods()),
            partial_success: false,
        }
    }

    /// The outcome of a judged (and recorded) login, remembering the user on success.
    /// The failure that reaches `max_auth_attempts` ends the connection, as sshd's
    /// `MaxAuthTries` does: every attempt the client made is recorded first. (russh's
    /// own cap, set above ours, would refuse the next request unrecorded and leave the
    /// client waiting: Hydra stalled 32 s on it and lost that password.)
    fn outcome(&mut self, user: &str, success: bool) -> Result<Auth, HandlerError> {
        if success {
            self.user = Some(user.to_owned());
            self.authenticated.store(true, Ordering::Relaxed);
            Ok(Auth::Accept)
        } else if self.session.auth_attempts >= self.max_auth_attempts {
            self.session.honeypot.counters.too_many_auth.inc();
            Err(HandlerError::TooManyAuthFailures)
        } else {
            Ok(Self::reject())
        }
    }

    fn user(&self) -> String {
        self.user.clone().unwrap_or_else(|| "root".to_owned())
    }

    // The bodies of the handler methods that wait on the terminals' lock: boxed by
    // their trait methods (see the note on `impl Handler`).

    async fn shell_request_boxed(
        &mut self,
        channel: ChannelId,
        session: &mut SshSession,
    ) -> Result<(), HandlerError> {
        let Some(ChannelState::Pending { pty, .. }) = self.channels.remove(&channel) else {
            session.channel_failure(channel)?;
            return Ok(());
        };
        let (term, width, height) = pty.clone().unwrap_or_else(|| ("dumb".into(), 80, 24));
        let user = self.user();
        let (terminal, greeting) = Box::pin(Terminal::open(
            self.session.core(),
            &user,
            width,
            height,
            Some(&term),
        ))
        .await;
        self.terminals
            .lock()
            .await
            .insert(channel, Box::new(terminal));
        self.channels
            .insert(channel, ChannelState::Shell { pty: pty.is_some() });
        session.channel_success(channel)?;
        session.data(channel, greeting)?;
        Ok(())
    }

    async fn data_boxed(
        &mut self,
        channel: ChannelId,
        data: &[u8],
        session: &mut SshSession,
    ) -> Result<(), HandlerError> {
        match self.channels.get_mut(&channel) {
            Some(ChannelState::Shell { pty }) => {
                let pty = *pty;
                let mut terminals = self.terminals.lock().await;
                let Some(terminal) = terminals.get_mut(&channel) else {
                    return Ok(());
                };
                if !pty {
                    // No pty: no echo (a script piped into `ssh host`).
                    terminal.set_echo(false);
                }
                let out = Box::pin(terminal.feed(&mut self.session, data)).await;
                if !out.output.is_empty() {
                    session.data(channel, out.output)?;
                }
                if let Some(status) = out.exit {
                    if let Some(terminal) = terminals.remove(&channel) {
                        let recording = Box::pin(terminal.close(self.session.core())).await;
                        if let Some(recording) = recording {
                            self.session.remember_recording(recording);
                        }
                    }
                    drop(terminals);
                    self.channels.insert(channel, ChannelState::Done);
                    Self::finish_channel(session, channel, Vec::new(), status)?;
                }
            }
            Some(ChannelState::Scp(sink, held)) => {
                let steps = if self.session.take_upload(held, data.len() as u64) {
                    sink.feed(data)
                } else {
                    sink.no_space()
                };
                for step in steps {
                    match step {
                        ScpStep::Ack => session.data(channel, vec![0u8])?,
                        ScpStep::File { name, content } => {
                            let size = content.len() as u64;
                            Box::pin(self.session.upload(&name, content)).await;
                            held.shrink(size);
                        }
                        ScpStep::Fail(message) => {
                            let mut reply = vec![1u8];
                            reply.extend_from_slice(message.as_bytes());
                            reply.push(b'\n');
                            session.data(channel, reply)?;
                        }
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }

    async fn channel_eof_boxed(
        &mut self,
        channel: ChannelId,
        session: &mut SshSession,
    ) -> Result<(), HandlerError> {
        match self.channels.get(&channel) {
            // sftp-server exits 0 when its input ends; scp reports an exit without a
            // status as a failure.
            Some(ChannelState::Scp(..) | ChannelState::Sftp) => {
                self.channels.insert(channel, ChannelState::Done);
                Self::finish_channel(session, channel, Vec::new(), 0)?;
            }
            Some(ChannelState::Shell { pty: false }) => {
                // Commands piped into a shell without a pty: the end of input ends it.
                if let Some(terminal) = self.terminals.lock().await.remove(&channel)
                    && let Some(recording) = Box::pin(terminal.close(self.session.core())).await
                {
                    self.session.remember_recording(recording);
                }
                self.channels.insert(channel, ChannelState::Done);
                Self::finish_channel(session, channel, Vec::new(), 0)?;
            }
            _ => {}
        }
        Ok(())
    }

    /// Whether a port-forward request is recorded: the first `max_forward_requests` of
    /// a connection are; later ones are refused all the same, and only counted.
    fn record_forward(&mut self) -> bool {
        self.forward_requests += 1;
        let recorded = self.forward_requests <= self.session.honeypot.limits.max_forward_requests;
        if !recorded {
            self.session.honeypot.counters.forward_unrecorded.inc();
        }
        recorded
    }

    /// The client closed a channel: its slot is free again, and an interactive shell
    /// closed without `exit` still gets its recording finished.
    async fn channel_close_boxed(&mut self, channel: ChannelId) {
        self.channels.remove(&channel);
        let terminal = self.terminals.lock().await.remove(&channel);
        if let Some(terminal) = terminal
            && let Some(recording) = Box::pin(terminal.close(self.session.core())).await
        {
            self.session.remember_recording(recording);
        }
    }

    /// Sends a finished command's output, status, EOF and close.
    fn finish_channel(
        session: &mut SshSession,
        channel: ChannelId,
        output: Vec<u8>,
        status: i32,
    ) -> Result<(), HandlerError> {
        if !output.is_empty() {
            session.data(channel, output)?;
        }
        session.exit_status_request(channel, u32::try_from(status).unwrap_or(1))?;
        session.eof(channel)?;
        session.close(channel)?;
        Ok(())
    }
}

// russh keeps the future of every handler method inline in its per-connection future,
// which lives as long as the connection: the largest of them (the shell, with its fetches)
// would be paid by every idle session. Heavy awaits below are boxed, so they take memory
// only while they run.
impl Handler for SshHandler {
    type Error = HandlerError;

    async fn auth_none(&mut self, _user: &str) -> Result<Auth, Self::Error> {
        Ok(Self::reject())
    }

    async fn auth_password(&mut self, user: &str, password: &str) -> Result<Auth, Self::Error> {
        let success = self
            .session
            .login(user, Credential::Password(password), AuthMethod::Password)
            .await;
        self.outcome(user, success)
    }

    async fn auth_publickey_offered(
        &mut self,
        user: &str,
        offer: russh::server::PublicKeyOffer<'_>,
    ) -> Result<Auth, Self::Error> {
        let key_type = offer.algorithm.as_str().to_owned();
        let fingerprint = offer.public_key.fingerprint(HashAlg::Sha256).to_string();
        let success = self
            .session
            .login(
                user,
                Credential::PublicKey {
                    key_type: &key_type,
                    fingerprint: &fingerprint,
                },
                AuthMethod::Publickey,
            )
            .await;
        // Accepting the offer only lets the client sign; the login completes in
        // `auth_publickey` after russh verified the signature.
        Ok(if success {
            Auth::Accept
        } else {
            Self::reject()
        })
    }

    async fn auth_publickey(
        &mut self,
        user: &str,
        _key: russh::server::VerifiedPublicKey<'_>,
    ) -> Result<Auth, Self::Error> {
        self.outcome(user, true)
    }

    async fn auth_keyboard_interactive<'a>(
        &'a mut self,
        user: &str,
        _submethods: &str,
        response: Option<Response<'a>>,
    ) -> Result<Auth, Self::Error> {
        let Some(mut response) = response else {
            // As sshd with PAM: one prompt, no echo.
            return Ok(Auth::Partial {
                name: "".into(),
                instructions: "".into(),
                prompts: vec![("Password: ".into(), false)].into(),
            });
        };
        let answer = response
            .next()
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default();
        let success = self
            .session
            .login(
                user,
                Credential::Password(&answer),
                AuthMethod::KeyboardInteractive,
            )
            .await;
        self.outcome(user, success)
    }

    async fn channel_open_session(
        &mut self,
        channel: Channel<Msg>,
        reply: ChannelOpenHandle,
        _session: &mut SshSession,
    ) -> Result<(), Self::Error> {
        if self.channels.len() >= self.session.honeypot.limits.max_channels {
            // What sshd answers past `MaxSessions`.
            self.session.honeypot.counters.channel_refused.inc();
            reply
                .reject(ChannelOpenFailure::AdministrativelyProhibited)
                .await;
            return Ok(());
        }
        let id = channel.id();
        self.channels.insert(
            id,
            ChannelState::Pending {
                channel: Some(channel),
                pty: None,
            },
        );
        reply.accept().await;
        Ok(())
    }

    async fn channel_open_direct_tcpip(
        &mut self,
        _channel: Channel<Msg>,
        host_to_connect: &str,
        port_to_connect: u32,
        _originator_address: &str,
        _originator_port: u32,
        reply: ChannelOpenHandle,
        _session: &mut SshSession,
    ) -> Result<(), Self::Error> {
        if self.record_forward() {
            self.session
                .emit(EventKind::PortForward {
                    host: host_to_connect.chars().take(1024).collect(),
                    port: u16::try_from(port_to_connect).unwrap_or(0),
                    accepted: false,
                })
                .await;
        }
        // What sshd answers with `AllowTcpForwarding no`.
        reply
            .reject(ChannelOpenFailure::AdministrativelyProhibited)
            .await;
        Ok(())
    }

    async fn tcpip_forward(
        &mut self,
        address: &str,
        port: &mut u32,
        _session: &mut SshSession,
    ) -> Result<bool, Self::Error> {
        if self.record_forward() {
            self.session
                .emit(EventKind::PortForward {
                    host: address.chars().take(1024).collect(),
                    port: u16::try_from(*port).unwrap_or(0),
                    accepted: false,
                })
                .await;
        }
        Ok(false)
    }

    async fn channel_close(
        &mut self,
        channel: ChannelId,
        _session: &mut SshSession,
    ) -> Result<(), Self::Error> {
        Box::pin(self.channel_close_boxed(channel)).await;
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    async fn pty_request(
        &mut self,
        channel: ChannelId,
        term: &str,
        col_width: u32,
        row_height: u32,
        _pix_width: u32,
        _pix_height: u32,
        _modes: &[(russh::Pty, u32)],
        session: &mut SshSession,
    ) -> Result<(), Self::Error> {
        if let Some(ChannelState::Pending { pty, .. }) = self.channels.get_mut(&channel) {
            *pty = Some((
                term.chars().take(64).collect(),
                u16::try_from(col_width).unwrap_or(80),
                u16::try_from(row_height).unwrap_or(24),
            ));
            session.channel_success(channel)?;
        } else {
            session.channel_failure(channel)?;
        }
        Ok(())
    }

    async fn shell_request(
        &mut self,
        channel: ChannelId,
        session: &mut SshSession,
    ) -> Result<(), Self::Error> {
        Box::pin(self.shell_request_boxed(channel, session)).await
    }

    async fn exec_request(
        &mut self,
        channel: ChannelId,
        data: &[u8],
        session: &mut SshSession,
    ) -> Result<(), Self::Error> {
        let Some(ChannelState::Pending { pty, .. }) = self.channels.remove(&channel) else {
            session.channel_failure(channel)?;
            return Ok(());
        };
        session.channel_success(channel)?;
        let command = String::from_utf8_lossy(data).into_owned();
        if let Some(sink) = ScpSink::for_command(&command) {
            self.session
                .emit(EventKind::CommandInput {
                    command: command.clone(),
                })
                .await;
            // The sink's readiness: one zero byte.
            session.data(channel, vec![0u8])?;
            let held = Held::none(&self.session.honeypot.upload_memory);
            self.channels.insert(channel, ChannelState::Scp(sink, held));
            return Ok(());
        }
        let user = self.user();
        let (output, status) = Box::pin(self.session.exec(&user, &command)).await;
        let output = if pty.is_some() { crlf(&output) } else { output };
        self.channels.insert(channel, ChannelState::Done);
        Self::finish_channel(session, channel, output, status)
    }

    async fn subsystem_request(
        &mut self,
        channel: ChannelId,
        name: &str,
        session: &mut SshSession,
    ) -> Result<(), Self::Error> {
        match self.channels.remove(&channel) {
            Some(ChannelState::Pending {
                channel: Some(stream_channel),
                ..
            }) if name == "sftp" => {
                session.channel_success(channel)?;
                self.session
                    .emit(EventKind::CommandInput {
                        command: "sftp-server".to_owned(),
                    })
                    .await;
                let capture = SftpCapture::new(self.session.core().clone(), self.user());
                let stream = stream_channel.into_stream();
                tokio::spawn(russh_sftp::server::run(stream, capture));
                self.channels.insert(channel, ChannelState::Sftp);
            }
            other => {
                if let Some(state) = other {
                    self.channels.insert(channel, state);
                }
                session.channel_failure(channel)?;
            }
        }
        Ok(())
    }

    async fn window_change_request(
        &mut self,
        channel: ChannelId,
        col_width: u32,
        row_height: u32,
        _pix_width: u32,
        _pix_height: u32,
        _session: &mut SshSession,
    ) -> Result<(), Self::Error> {
        if let Some(terminal) = self.terminals.lock().await.get_mut(&channel) {
            terminal
                .resize(
                    u16::try_from(col_width).unwrap_or(80),
                    u16::try_from(row_height).unwrap_or(24),
                )
                .await;
        }
        Ok(())
    }

    async fn data(
        &mut self,
        channel: ChannelId,
        data: &[u8],
        session: &mut SshSession,
    ) -> Result<(), Self::Error> {
        Box::pin(self.data_boxed(channel, data, session)).await
    }

    async fn channel_eof(
        &mut self,
        channel: ChannelId,
        session: &mut SshSession,
    ) -> Result<(), Self::Error> {
        Box::pin(self.channel_eof_boxed(channel, session)).await
    }
}
