//! USER and PASS as ProFTPD answers them: the 331 texts, anonymous logins with
//! Debian's `welcome.msg`, PAM's delay only for accounts the host has (§4).

use std::sync::Arc;

use hpti_core::event::AuthMethod;
use tokio::time::Instant;

use super::*;
use crate::ftp::{ANONYMOUS_ROOT, End, Login};
use crate::policy::Credential;
use crate::shell::fs::Node;

/// Debian's `welcome.msg` (170 bytes), shown by `DisplayLogin` after an anonymous login
/// with `%U`, `%R`, `%T`, `%L` expanded.
pub(super) const WELCOME: &str = "Welcome, archive user %U@%R !\n\nThe local time is: %T\n\nThis is an \
                       experimental FTP server.  If you have any unusual problems,\nplease \
                       report them via e-mail to <root@%L>.\n\n";

impl Proftpd<'_> {
    pub(super) async fn user(&mut self, raw: &[u8], words: &[&str]) -> Result<(), End> {
        if words.is_empty() {
            self.mod_delay().await;
            return self.say("500 USER: command requires a parameter").await;
        }
        // The name is the whole argument, as ProFTPD takes it.
        let name = String::from_utf8_lossy(raw).into_owned();
        if let Some(login) = &self.c.login {
            return if !login.anonymous && login.name == name {
                let reply = format!("230 User {name} logged in");
                self.say(&reply).await
            } else {
                self.say("501 Reauthentication not supported").await
            };
        }
        self.typed_user = raw.to_vec();
        self.c.user = Some(name);
        if self.anonymous_name(raw) {
            return self
                .say("331 Anonymous login ok, send your complete email address as your password")
                .await;
        }
        self.send(&line(&[b"331 Password required for ", raw]))
            .await
    }

    /// `anonymous` and `ftp`, exactly (`UserAlias anonymous ftp`), when anonymous logins
    /// are on.
    pub(super) fn anonymous_name(&self, raw: &[u8]) -> bool {
        self.c.config.anonymous && (raw == b"anonymous" || raw == b"ftp")
    }

    /// mod_delay's pause on some USER/PASS errors: about half of them waited 2.8–4.3 s
    /// (§4).
    pub(super) async fn mod_delay(&self) {
        if fastrand::bool() {
            let factor = 0.93 + fastrand::f64() * 0.5;
            tokio::time::sleep(self.c.config.login_failure_delay.mul_f64(factor)).await;
        }
    }

    pub(super) async fn pass(&mut self, password: &str) -> Result<(), End> {
        if self.c.login.is_some() {
            return self.say("503 You are already logged in").await;
        }
        let Some(user) = self.c.user.take() else {
            self.mod_delay().await;
            return self.say("503 Login with USER first").await;
        };
        let typed = std::mem::take(&mut self.typed_user);
        if self.anonymous_name(&typed) {
            self.c.record_anonymous_login(&user, password).await;
            self.login_anonymous();
            return self.welcome(&typed).await;
        }
        let success = self
            .c
            .session
            .login(&user, Credential::Password(password), AuthMethod::Password)
            .await;
        if success {
            self.login_local(&user);
            return self.say(&format!("230 User {user} logged in")).await;
        }
        self.c.fails += 1;
        // PAM's fail delay only for accounts the host has; unknown names and root
        // (RootLogin off: no PAM) are refused at once (§4).
        if user != "root" && self.account(&user).is_some() {
            let jitter = 0.75 + fastrand::f64() * 0.5;
            tokio::time::sleep(self.c.config.login_failure_delay.mul_f64(jitter)).await;
        }
        self.say("530 Login incorrect.").await?;
        if self.c.fails >= self.c.config.max_login_fails.max(1) {
            return Err(End::TooManyAuth);
        }
        Ok(())
    }

    /// The fake host's `/etc/passwd` entry of `name`: uid, gid, home.
    pub(super) fn account(&self, name: &str) -> Option<(u32, u32, String)> {
        let passwd = self.c.fs.read_file("/etc/passwd")?;
        let passwd = String::from_utf8_lossy(&passwd);
        passwd.lines().find_map(|entry| {
            let fields: Vec<&str> = entry.split(':').collect();
            match fields.as_slice() {
                [n, _, uid, gid, _, home, ..] if *n == name => {
                    Some((uid.parse().ok()?, gid.parse().ok()?, (*home).to_owned()))
                }
                _ => None,
            }
        })
    }

    /// A name of `/etc/passwd` (`by_uid`) or `/etc/group`, or the number.
    pub(super) fn name_of(&self, id: u32, file: &str) -> String {
        let found = self.c.fs.read_file(file).and_then(|text| {
            String::from_utf8_lossy(&text).lines().find_map(|entry| {
                let mut fields = entry.split(':');
                let name = fields.next()?;
                let number = fields.nth(1)?.parse::<u32>().ok()?;
                (number == id).then(|| name.to_owned())
            })
        });
        found.unwrap_or_else(|| id.to_string())
    }

    pub(super) fn login_anonymous(&mut self) {
        let now = chrono::Utc::now().timestamp();
        // What Debian's package creates: the `ftp` account's home with welcome.msg.
        let installed = self.c.fs.persona().boot_time - 40 * 86_400;
        if !self.c.fs.exists("/", "/srv") {
            let _ = self.c.fs.put("/srv", Node::dir(0o755, 0, 0, installed));
        }
        if !self.c.fs.exists("/", ANONYMOUS_ROOT) {
            let _ = self.c.fs.put(
                ANONYMOUS_ROOT,
                Node::dir(0o755, FTP_UID, NOGROUP, installed),
            );
        }
        let welcome = format!("{ANONYMOUS_ROOT}/welcome.msg");
        if !self.c.fs.exists("/", &welcome) {
            let _ = self.c.fs.put(
                &welcome,
                Node::file(
                    Arc::from(WELCOME.as_bytes()),
                    0o644,
                    0,
                    0,
                    installed.min(now),
                ),
            );
        }
        self.c.login = Some(Login {
            name: "ftp".to_owned(),
            anonymous: true,
            root: ANONYMOUS_ROOT.to_owned(),
            uid: FTP_UID,
            gid: NOGROUP,
        });
        self.c.cwd = "/".to_owned();
        self.transfer_deadline = Some(Instant::now() + self.c.config.no_transfer_timeout);
    }

    pub(super) fn login_local(&mut self, user: &str) {
        let (uid, gid, home) = self.account(user).unwrap_or_else(|| {
            let uid = if user == "root" { 0 } else { 1000 };
            let home = if user == "root" {
                "/root".to_owned()
            } else {
                format!("/home/{user}")
            };
            (uid, uid, home)
        });
        self.c.login = Some(Login {
            name: user.to_owned(),
            anonymous: false,
            root: "/".to_owned(),
            uid,
            gid,
        });
        // No DefaultRoot in Debian's config: a local user sees the whole host.
        self.c.cwd = if self.c.fs.stat("/", &home).is_ok_and(|(_, n)| n.is_dir()) {
            home
        } else {
            "/".to_owned()
        };
        self.transfer_deadline = Some(Instant::now() + self.c.config.no_transfer_timeout);
    }

    /// `230-` and the expanded welcome.msg, then `230 Anonymous access granted, …`.
    pub(super) async fn welcome(&mut self, typed: &[u8]) -> Result<(), End> {
        let (real, _) = self.c.locate("/welcome.msg");
        let text = self.c.fs.read_file(&real).unwrap_or_default();
        let now = chrono::Utc::now()
            .format("%a %b %d %H:%M:%S %Y")
            .to_string();
        let client = client_name(self.c.peer.ip());
        let host = self.host_name();
        let mut reply = Vec::new();
        for (i, text_line) in text
            .split(|b| *b == b'\n')
            .take(MAX_MESSAGE_LINES)
            .enumerate()
        {
            if i > 0 && text_line.is_empty() && i + 1 == text.split(|b| *b == b'\n').count() {
                break;
            }
            // An empty line of the file is sent as one space.
            reply.extend_from_slice(if i == 0 { b"230-" } else { b" " });
            reply.extend_from_slice(&expand(text_line, typed, &client, &now, &host));
            reply.extend_from_slice(b"\r\n");
        }
        reply.extend_from_slice(b"230 Anonymous access granted, restrictions apply");
        self.send(&reply).await
    }
}

/// `welcome.msg`'s variables: `%U` the name as typed, `%R` the client, `%T` the time,
/// `%L` the server's host name.
pub(super) fn expand(text: &[u8], user: &[u8], client: &str, now: &str, host: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len() + 32);
    let mut i = 0;
    while i < text.len() {
        if text[i] == b'%' {
            let value: Option<&[u8]> = match text.get(i + 1) {
                Some(b'U') => Some(user),
                Some(b'R') => Some(client.as_bytes()),
                Some(b'T') => Some(now.as_bytes()),
                Some(b'L') => Some(host.as_bytes()),
                _ => None,
            };
            if let Some(value) = value {
                out.extend_from_slice(value);
                i += 2;
                continue;
            }
        }
        out.push(text[i]);
        i += 1;
    }
    out
}
