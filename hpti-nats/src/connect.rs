//! How a component reaches NATS: the server URL, credentials and TLS, the same keys for
//! the edge's sink and the center's source.
//!
//! ```toml
//! [sinks.up]
//! type = "nats"
//! url = "nats://nats.example.net:4222"
//! auth.creds_file = "/etc/hpti/edge.creds"    # or user/password, token, nkey_seed_file
//! tls.ca_file = "/etc/hpti/nats-ca.pem"
//! ```
//!
//! Secrets (password, token) are [`Secret`]s: they never appear in `Debug`, logs or
//! errors. Files holding secrets (NKey seeds, `.creds`) are refused when others may read
//! them, as OpenSSH refuses such a key.

use std::path::{Path, PathBuf};
use std::time::Duration;

use async_nats::{Client, ConnectOptions};
use hpti_core::component::{BuildContext, BuildError};
use hpti_core::secret::Secret;
use serde::Deserialize;

/// `auth.*`: at most one way of proving who the component is.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NatsAuth {
    /// User name, with `password`.
    #[serde(default)]
    pub user: Option<String>,
    /// Password, with `user`.
    #[serde(default)]
    pub password: Option<Secret>,
    /// A server token.
    #[serde(default)]
    pub token: Option<Secret>,
    /// A file holding an NKey seed (`SU...`), readable by its owner only.
    #[serde(default)]
    pub nkey_seed_file: Option<PathBuf>,
    /// A `.creds` file (user JWT and NKey seed, as `nsc` writes it), readable by its
    /// owner only.
    #[serde(default)]
    pub creds_file: Option<PathBuf>,
}

/// `tls.*`: TLS to the server.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NatsTls {
    /// Insist on TLS even if the server does not announce it (also implied by a
    /// `tls://` URL or any other `tls.*` key).
    #[serde(default)]
    pub required: bool,
    /// PEM file of the certificate authorities to trust instead of the system's.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// PEM client certificate, for servers that verify clients (with `key_file`).
    #[serde(default)]
    pub cert_file: Option<PathBuf>,
    /// PEM private key of `cert_file`, readable by its owner only.
    #[serde(default)]
    pub key_file: Option<PathBuf>,
}

impl NatsTls {
    fn wanted(&self) -> bool {
        self.required || self.ca_file.is_some() || self.cert_file.is_some()
    }
}

/// Where and how to connect: the keys every NATS component shares.
#[derive(Debug, Clone)]
pub struct NatsConnect {
    /// `nats://host:port` (or `tls://`); several servers separated by commas.
    pub url: String,
    /// Credentials.
    pub auth: NatsAuth,
    /// TLS.
    pub tls: NatsTls,
    /// Longest wait for one connection attempt.
    pub connect_timeout: Duration,
    /// The connection's name in the server's monitoring (`hpti-<component id>`).
    pub name: String,
}

impl NatsConnect {
    /// A plain connection to `url`.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            auth: NatsAuth::default(),
            tls: NatsTls::default(),
            connect_timeout: Duration::from_secs(5),
            name: "hpti".to_owned(),
        }
    }

    /// The connection of component `cx.id` (named `hpti-<id>` in the server's
    /// monitoring) with its `url`, `auth.*` and `tls.*` keys.
    pub fn for_component(url: &str, auth: &NatsAuth, tls: &NatsTls, cx: &BuildContext) -> Self {
        Self {
            auth: auth.clone(),
            tls: tls.clone(),
            name: format!("hpti-{}", cx.id),
            ..Self::new(url)
        }
    }

    /// `url` without any user information, for logs and errors.
    pub fn display_url(&self) -> String {
        self.url
            .split(',')
            .map(|server| {
                let server = server.trim();
                match (server.find("://"), server.rfind('@')) {
                    (Some(scheme), Some(at)) if at > scheme => {
                        format!("{}{}", &server[..scheme + 3], &server[at + 1..])
                    }
                    (None, Some(at)) => server[at + 1..].to_owned(),
                    _ => server.to_owned(),
                }
            })
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Checks what can be checked without connecting: one way of authenticating, the
    /// files it names exist and are private. Errors name the key.
    pub fn check(&self, cx: &BuildContext) -> Result<(), BuildError> {
        if self.url.trim().is_empty() {
            return Err(BuildError::msg("must name a NATS server").at_key("url"));
        }
        for server in self.url.split(',') {
            let server = server.trim();
            if let Some((scheme, _)) = server.split_once("://") {
                if !matches!(scheme, "nats" | "tls") {
                    return Err(BuildError::msg(format!(
                        "scheme {scheme:?} is not nats:// or tls://"
                    ))
                    .at_key("url"));
                }
            }
        }
        let a = &self.auth;
        let ways = [
            a.user.is_some() || a.password.is_some(),
            a.token.is_some(),
            a.nkey_seed_file.is_some(),
            a.creds_file.is_some(),
        ]
        .iter()
        .filter(|set| **set)
        .count();
        if ways > 1 {
            return Err(BuildError::msg(
                "set one of user/password, token, nkey_seed_file or creds_file",
            )
            .at_key("auth"));
        }
        match (&a.user, &a.password) {
            (Some(_), None) => {
                return Err(BuildError::msg("needs auth.password").at_key("auth.user"));
            }
            (None, Some(_)) => {
                return Err(BuildError::msg("needs auth.user").at_key("auth.password"));
            }
            _ => {}
        }
        if let Some(path) = &a.nkey_seed_file {
            read_private(&cx.data_path(path)).map_err(|e| e.at_key("auth.nkey_seed_file"))?;
        }
        if let Some(path) = &a.creds_file {
            read_private(&cx.data_path(path)).map_err(|e| e.at_key("auth.creds_file"))?;
        }
        if self.tls.cert_file.is_some() != self.tls.key_file.is_some() {
            return Err(BuildError::msg("cert_file and key_file go together").at_key("tls"));
        }
        for (key, path) in [
            ("tls.ca_file", &self.tls.ca_file),
            ("tls.cert_file", &self.tls.cert_file),
        ] {
            if let Some(path) = path {
                let path = cx.data_path(path);
                if !path.is_file() {
                    return Err(
                        BuildError::msg(format!("{} is not a file", path.display())).at_key(key)
                    );
                }
            }
        }
        if let Some(path) = &self.tls.key_file {
            read_private(&cx.data_path(path)).map_err(|e| e.at_key("tls.key_file"))?;
        }
        Ok(())
    }

    /// The client options for this connection. The client reconnects on its own for
    /// ever, and a component built while the server is down starts anyway and connects
    /// when it can (the edge keeps events in its outbox meanwhile).
    pub fn options(&self, cx: &BuildContext) -> Result<ConnectOptions, BuildError> {
        self.check(cx)?;
        let a = &self.auth;
        let mut options = ConnectOptions::new();
        if let (Some(user), Some(password)) = (&a.user, &a.password) {
            options = options.user_and_password(user.clone(), password.expose().to_owned());
        }
        if let Some(token) = &a.token {
            options = options.token(token.expose().to_owned());
        }
        if let Some(path) = &a.nkey_seed_file {
            let seed =
                read_private(&cx.data_path(path)).map_err(|e| e.at_key("auth.nkey_seed_file"))?;
            options = options.nkey(seed.expose().to_owned());
        }
        if let Some(path) = &a.creds_file {
            let creds =
                read_private(&cx.data_path(path)).map_err(|e| e.at_key("auth.creds_file"))?;
            options = options.credentials(creds.expose()).map_err(|e| {
                BuildError::msg(format!("not a NATS .creds file: {e}")).at_key("auth.creds_file")
            })?;
        }
        if self.tls.wanted() || self.url.contains("tls://") {
            options = options.require_tls(true);
        }
        if let Some(path) = &self.tls.ca_file {
            options = options.add_root_certificates(cx.data_path(path));
        }
        if let (Some(cert), Some(key)) = (&self.tls.cert_file, &self.tls.key_file) {
            options = options.add_client_certificate(cx.data_path(cert), cx.data_path(key));
        }
        let shown = self.display_url();
        Ok(options
            .name(&self.name)
            .connection_timeout(self.connect_timeout)
            .retry_on_initial_connect()
            // A stalled link (no RST, nothing flowing) is found by two missed pings: 20 s,
            // not the client's default 2 minutes, before the client reconnects.
            .ping_interval(Duration::from_secs(10))
            .max_reconnects(None)
            // Reconnect quickly at first, then every 2 s at most: an edge that was cut
            // off should drain its outbox soon after the link returns.
            .reconnect_delay_callback(|attempts| {
                Duration::from_millis((100 * attempts as u64).min(2_000))
            })
            .event_callback(move |event| {
                let shown = shown.clone();
                async move {
                    match event {
                        async_nats::Event::Connected => {
                            tracing::info!(server = %shown, "NATS connected")
                        }
                        async_nats::Event::Disconnected => {
                            tracing::warn!(server = %shown, "NATS disconnected; reconnecting")
                        }
                        other => tracing::debug!(server = %shown, event = %other, "NATS"),
                    }
                }
            }))
    }

    /// Connects (or, with the server down, returns a client that keeps trying).
    pub async fn connect(&self, cx: &BuildContext) -> Result<Client, BuildError> {
        let options = self.options(cx)?;
        let servers = self.url.split(',').map(str::trim).collect::<Vec<_>>();
        let addrs = servers
            .iter()
            .map(|s| s.parse::<async_nats::ServerAddr>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| BuildError::msg(format!("{}: {e}", self.display_url())).at_key("url"))?;
        options
            .connect(addrs)
            .await
            .map_err(|e| BuildError::msg(format!("NATS {}: {e}", self.display_url())).at_key("url"))
    }
}

/// Reads a secret from a file that only its owner may read.
fn read_private(path: &Path) -> Result<Secret, BuildError> {
    Secret::from_file(path).map_err(|e| BuildError::msg(e.to_string()))
}

/// A subject token from text chosen by others (a sensor name read from a log): letters,
/// digits, `-` and `_` pass; anything else, which could split the subject (`.`) or
/// match others (`*`, `>`), becomes `_`. At most 64 bytes; never empty.
pub fn subject_token(text: &str) -> String {
    let mut token: String = text
        .chars()
        .take(64)
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if token.is_empty() {
        token.push('_');
    }
    token
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn urls_are_shown_without_credentials() {
        let c = NatsConnect::new("nats://edge:s3cret@nats.example:4222, tls://a@b:4443");
        assert_eq!(c.display_url(), "nats://nats.example:4222,tls://b:4443");
        assert_eq!(
            NatsConnect::new("127.0.0.1:4222").display_url(),
            "127.0.0.1:4222"
        );
    }

    #[test]
    fn subject_tokens_cannot_split_or_match_subjects() {
        assert_eq!(subject_token("ssh"), "ssh");
        assert_eq!(subject_token("a.b*>c d"), "a_b__c_d");
        assert_eq!(subject_token(""), "_");
        assert_eq!(subject_token(&"x".repeat(100)).len(), 64);
    }

    #[test]
    fn auth_must_be_one_way_and_files_private() {
        let dir = tempfile::tempdir().unwrap();
        let cx = BuildContext::new(
            hpti_core::component::ComponentId::new("up").unwrap(),
            dir.path(),
            hpti_core::metrics::PipelineMetrics::default(),
        );
        let mut c = NatsConnect::new("nats://127.0.0.1:4222");
        c.auth.token = Some(Secret::new("t"));
        c.auth.user = Some("u".into());
        c.auth.password = Some(Secret::new("p"));
        assert_eq!(c.check(&cx).unwrap_err().key.as_deref(), Some("auth"));

        let mut c = NatsConnect::new("nats://127.0.0.1:4222");
        c.auth.user = Some("u".into());
        assert_eq!(c.check(&cx).unwrap_err().key.as_deref(), Some("auth.user"));

        let seed = dir.path().join("edge.nk");
        std::fs::write(
            &seed,
            "SUAGMJH5XLGZKQQWAWKRZJIGMOU4HPFUYLXJMXOO5NLFEO2OOQJ5LPRDPM\n",
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&seed, std::fs::Permissions::from_mode(0o644)).unwrap();
        let mut c = NatsConnect::new("nats://127.0.0.1:4222");
        c.auth.nkey_seed_file = Some(seed.clone());
        let err = c.check(&cx).unwrap_err();
        assert_eq!(err.key.as_deref(), Some("auth.nkey_seed_file"));
        std::fs::set_permissions(&seed, std::fs::Permissions::from_mode(0o600)).unwrap();
        c.check(&cx).unwrap();

        let c = NatsConnect::new("http://127.0.0.1:4222");
        assert_eq!(c.check(&cx).unwrap_err().key.as_deref(), Some("url"));
    }

    #[test]
    fn secrets_never_show_in_debug() {
        let mut c = NatsConnect::new("nats://127.0.0.1:4222");
        c.auth.token = Some(Secret::new("very-secret-token"));
        c.auth.password = Some(Secret::new("very-secret-password"));
        let shown = format!("{c:?}");
        assert!(!shown.contains("very-secret"), "{shown}");
    }
}
