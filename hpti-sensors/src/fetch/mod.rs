//! Outbound fetches for the emulated shell's `wget`, `curl`, `tftp` and `ftpget`, and
//! the [`ArtifactStore`] where whatever they fetch is kept.
//!
//! Fetching for real is how the honeypot captures malware, but it must never make the
//! sensor an SSRF or relay tool, so:
//!
//! - every connection goes to an address checked by the guard (see
//!   [`forbidden_reason`]): loopback, private, link-local (cloud metadata), CGNAT,
//!   documentation, multicast and other special ranges are refused unless listed in
//!   [`FetchConfig::allow`]; literals, names (through a filtering resolver, so no DNS
//!   rebinding window), redirect hops and the TFTP/FTP clients are all covered;
//! - no proxy from the environment;
//! - size, time, per-session and global limits;
//! - the only file written is the content, in the store, named by its hash.

mod ftp;
mod guard;
mod store;
pub(crate) use store::is_quota_refusal;
mod tftp;

use std::error::Error as _;
use std::num::NonZeroU32;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use reqwest::Url;
use reqwest::header::{ACCEPT, USER_AGENT};
use serde::{Deserialize, Serialize};

pub use guard::{InvalidAllowEntry, forbidden_reason};
pub use store::{ArtifactStore, DiskQuota, StoreError, StoredArtifact};

use guard::{Blocked, DnsFailed, Guard, RedirectScheme, ResolveError, TooManyRedirects};

/// Longest URL accepted; anything longer is an attack on something, not a download.
const MAX_URL_LEN: usize = 8192;

/// How the sensor fetches files (`[sensors.fetch]` or similar in the configuration).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FetchConfig {
    /// Whether fetches happen at all; when off every fetch fails with
    /// [`FetchError::Disabled`].
    pub enabled: bool,
    /// Largest file kept, in bytes.
    pub max_bytes: u64,
    /// Most bytes the artifact store (`<data dir>/artifacts`: downloads and uploads)
    /// may hold; captures past it are refused and counted (`outcome="artifact_quota"`)
    /// so that the disk never fills. Default 10 GiB.
    pub max_total_bytes: u64,
    /// Longest a whole fetch may take, redirects and body included.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// Longest a TCP connection (or the TFTP request) may take to be established.
    #[serde(with = "humantime_serde")]
    pub connect_timeout: Duration,
    /// HTTP redirects followed.
    pub max_redirects: usize,
    /// Addresses or CIDRs allowed although special-purpose (e.g. `"127.0.0.1/32"` in
    /// tests, or a lab network).
    pub allow: Vec<String>,
    /// Fetches one session may make.
    pub per_session: u32,
    /// Fetches the whole sensor may make per minute (0: no limit).
    pub global_per_minute: u32,
    /// `User-Agent` of `wget`.
    pub user_agent_wget: String,
    /// `User-Agent` of `curl`.
    pub user_agent_curl: String,
    /// Accept any TLS certificate: droppers are often served with self-signed or
    /// expired ones (and fetched with `--no-check-certificate`), and verification
    /// protects nothing when the content is hostile anyway.
    pub accept_invalid_certs: bool,
}

impl Default for FetchConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            max_bytes: 16 * 1024 * 1024,
            max_total_bytes: 10 * 1024 * 1024 * 1024,
            timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            max_redirects: 5,
            allow: Vec::new(),
            per_session: 10,
            global_per_minute: 60,
            user_agent_wget: "Wget/1.21.3".to_owned(),
            user_agent_curl: "curl/7.88.1".to_owned(),
            accept_invalid_certs: true,
        }
    }
}

/// The shell command a fetch is made for; decides the `User-Agent` and which URL
/// schemes are accepted, as the real tool would.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FetchTool {
    /// `wget`: http, https, ftp.
    Wget,
    /// `curl`: http, https, ftp, tftp.
    Curl,
    /// `tftp -g -r FILE HOST` (as `tftp://HOST/FILE`): tftp.
    Tftp,
    /// `ftpget HOST LOCAL REMOTE` (as `ftp://[USER:PASS@]HOST[:PORT]/REMOTE`): ftp.
    Ftpget,
}

impl FetchTool {
    fn supports(self, scheme: &str) -> bool {
        match self {
            Self::Wget => matches!(scheme, "http" | "https" | "ftp"),
            Self::Curl => matches!(scheme, "http" | "https" | "ftp" | "tftp"),
            Self::Tftp => scheme == "tftp",
            Self::Ftpget => scheme == "ftp",
        }
    }
}

/// Why a fetch failed. [`FetchError::label`] is a short stable name for metrics;
/// `Display` is meant for the event's `error` field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    /// Fetching is switched off.
    #[error("fetching is disabled")]
    Disabled,
    /// The session's budget or the sensor's rate is used up.
    #[error("rate limited")]
    RateLimited,
    /// The URL, a redirect or a name led to an address the guard refuses.
    #[error("forbidden address {address} ({reason})")]
    ForbiddenAddress {
        /// The refused address.
        address: std::net::IpAddr,
        /// Which kind of range it is in.
        reason: &'static str,
    },
    /// A name could not be resolved.
    #[error("DNS: {0}")]
    Dns(String),
    /// Connecting failed, or the connection broke.
    #[error("connection failed: {0}")]
    Connect(String),
    /// The fetch took longer than allowed.
    #[error("timed out")]
    Timeout,
    /// The file is larger than allowed; nothing is kept.
    #[error("file larger than {limit} bytes")]
    TooLarge {
        /// The configured limit.
        limit: u64,
    },
    /// The HTTP server answered with a status other than 2xx.
    #[error("HTTP {status} {reason}")]
    HttpStatus {
        /// The status code, e.g. 404.
        status: u16,
        /// Its canonical reason phrase, e.g. `Not Found` (empty if unknown).
        reason: String,
    },
    /// Too many redirects, or a redirect to a scheme that is not followed.
    #[error("redirect: {0}")]
    Redirect(String),
    /// A TFTP or FTP server refused or misbehaved (its message is kept).
    #[error("{0}")]
    Protocol(String),
    /// The URL's scheme is not one this tool fetches.
    #[error("unsupported scheme {0:?}")]
    UnsupportedScheme(String),
    /// The URL cannot be parsed or used.
    #[error("bad URL: {0}")]
    BadUrl(String),
    /// The artifact store could not be written.
    #[error("storing failed: {0}")]
    Io(String),
}

impl FetchError {
    /// A short stable name for metrics labels.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Disabled => "disabled",
            Self::RateLimited => "rate_limited",
            Self::ForbiddenAddress { .. } => "forbidden_address",
            Self::Dns(_) => "dns",
            Self::Connect(_) => "connect",
            Self::Timeout => "timeout",
            Self::TooLarge { .. } => "too_large",
            Self::HttpStatus { .. } => "http_status",
            Self::Redirect(_) => "redirect",
            Self::Protocol(_) => "protocol",
            Self::UnsupportedScheme(_) => "unsupported_scheme",
            Self::BadUrl(_) => "bad_url",
            Self::Io(_) => "io",
        }
    }
}

impl From<Blocked> for FetchError {
    fn from(b: Blocked) -> Self {
        Self::ForbiddenAddress {
            address: b.address,
            reason: b.reason,
        }
    }
}

impl From<ResolveError> for FetchError {
    fn from(e: ResolveError) -> Self {
        match e {
            ResolveError::Blocked(b) => b.into(),
            ResolveError::Dns(d) => Self::Dns(d.to_string()),
        }
    }
}

/// The fetcher could not be built from its configuration.
#[derive(Debug, thiserror::Error)]
pub enum FetchSetupError {
    /// An `allow` entry does not parse.
    #[error(transparent)]
    Allow(#[from] InvalidAllowEntry),
    /// The HTTP client could not be built.
    #[error("cannot build the HTTP client: {0}")]
    Client(#[from] reqwest::Error),
}

/// A fetched and stored file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    /// Lower-case hex SHA-256 of the content.
    pub sha256: String,
    /// Size in bytes.
    pub size: u64,
    /// The content, for the shell to write into its fake file system.
    pub content: Bytes,
    /// Where the store keeps it.
    pub stored_path: PathBuf,
}

/// What one session may still fetch; get one per session from
/// [`Fetcher::session_budget`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionBudget {
    remaining: u32,
}

impl SessionBudget {
    /// Fetches left.
    pub fn remaining(&self) -> u32 {
        self.remaining
    }

    fn take(&mut self) -> Result<(), FetchError> {
        self.remaining = self
            .remaining
            .checked_sub(1)
            .ok_or(FetchError::RateLimited)?;
        Ok(())
    }
}

/// Makes fetches; one per sensor, cheap to clone.
#[derive(Clone)]
pub struct Fetcher {
    inner: Arc<Inner>,
}

struct Inner {
    config: FetchConfig,
    store: ArtifactStore,
    guard: Arc<Guard>,
    client: reqwest::Client,
    global: Option<DefaultDirectRateLimiter>,
}

impl std::fmt::Debug for Fetcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fetcher")
            .field("config", &self.inner.config)
            .field("store", &self.inner.store)
            .finish_non_exhaustive()
    }
}

/// Checks an allow list as [`Fetcher::new`] would.
pub fn check_allow(allow: &[String]) -> Result<(), InvalidAllowEntry> {
    Guard::new(allow).map(|_| ())
}

impl Fetcher {
    /// A fetcher keeping its captures in `store`.
    pub fn new(config: FetchConfig, store: ArtifactStore) -> Result<Self, FetchSetupError> {
        let guard = Arc::new(Guard::new(&config.allow)?);
        let client = reqwest::Client::builder()
            .no_proxy()
            .dns_resolver(Arc::new(guard::GuardedResolver(Arc::clone(&guard))))
            .redirect(guard::redirect_policy(
                Arc::clone(&guard),
                config.max_redirects,
            ))
            .referer(false)
            .timeout(config.timeout)
            .connect_timeout(config.connect_timeout)
            .danger_accept_invalid_certs(config.accept_invalid_certs)
            .build()?;
        let global = NonZeroU32::new(config.global_per_minute)
            .map(|n| RateLimiter::direct(Quota::per_minute(n)));
        Ok(Self {
            inner: Arc::new(Inner {
                config,
                store,
                guard,
                client,
                global,
            }),
        })
    }

    /// The configuration in use.
    pub fn config(&self) -> &FetchConfig {
        &self.inner.config
    }

    /// The store captures go to (shared with SFTP/SCP uploads).
    pub fn store(&self) -> &ArtifactStore {
        &self.inner.store
    }

    /// A fresh budget for a new session.
    pub fn session_budget(&self) -> SessionBudget {
        SessionBudget {
            remaining: self.inner.config.per_session,
        }
    }

    /// Fetches `url` as `tool` would and stores the content.
    ///
    /// Attempts that get as far as the network count against `budget` and the global
    /// rate whether they succeed or not; malformed URLs and unsupported schemes do
    /// not (the real tool fails on those without connecting either).
    pub async fn fetch(
        &self,
        url: &str,
        tool: FetchTool,
        budget: &mut SessionBudget,
    ) -> Result<Fetched, FetchError> {
        let config = &self.inner.config;
        if !config.enabled {
            return Err(FetchError::Disabled);
        }
        if url.len() > MAX_URL_LEN {
            return Err(FetchError::BadUrl("URL too long".to_owned()));
        }
        let url = Url::parse(url).map_err(|e| FetchError::BadUrl(e.to_string()))?;
        if !tool.supports(url.scheme()) {
            return Err(FetchError::UnsupportedScheme(url.scheme().to_owned()));
        }
        if url.host().is_none() {
            return Err(FetchError::BadUrl("URL has no host".to_owned()));
        }
        budget.take()?;
        if let Some(global) = &self.inner.global {
            global.check().map_err(|_| FetchError::RateLimited)?;
        }
        let content = tokio::time::timeout(config.timeout, self.download(&url, tool))
            .await
            .map_err(|_| FetchError::Timeout)??;
        let stored = self
            .inner
            .store
            .store(content.clone())
            .await
            .map_err(|e| FetchError::Io(e.to_string()))?;
        Ok(Fetched {
            sha256: stored.sha256,
            size: stored.size,
            content,
            stored_path: stored.path,
        })
    }

    async fn download(&self, url: &Url, tool: FetchTool) -> Result<Bytes, FetchError> {
        match url.scheme() {
            "http" | "https" => self.http(url, tool).await,
            "tftp" => self.tftp(url).await.map(Bytes::from),
            "ftp" => self.ftp(url).await.map(Bytes::from),
            other => Err(FetchError::UnsupportedScheme(other.to_owned())),
        }
    }

    async fn http(&self, url: &Url, tool: FetchTool) -> Result<Bytes, FetchError> {
        let config = &self.inner.config;
        // reqwest connects to IP literals without asking the resolver: check them here.
        if let Some(host) = url.host() {
            self.inner.guard.check_host(&host)?;
        }
        let user_agent = match tool {
            FetchTool::Curl => config.user_agent_curl.as_str(),
            _ => config.user_agent_wget.as_str(),
        };
        let mut response = self
            .inner
            .client
            .get(url.clone())
            .header(USER_AGENT, user_agent)
            .header(ACCEPT, "*/*")
            .send()
            .await
            .map_err(map_reqwest)?;
        let status = response.status();
        // A redirect the client did not follow (a Location it cannot use, such as
        // `file:///etc/passwd`) ends up here rather than in the redirect policy.
        if status.is_redirection() {
            if let Some(location) = response.headers().get(reqwest::header::LOCATION) {
                let location = String::from_utf8_lossy(location.as_bytes());
                let shown: String = location.chars().take(200).collect();
                return Err(FetchError::Redirect(format!(
                    "{} to unsupported location {shown:?}",
                    status.as_u16()
                )));
            }
        }
        if !status.is_success() {
            return Err(FetchError::HttpStatus {
                status: status.as_u16(),
                reason: status.canonical_reason().unwrap_or_default().to_owned(),
            });
        }
        let limit = config.max_bytes;
        if response.content_length().is_some_and(|len| len > limit) {
            return Err(FetchError::TooLarge { limit });
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(map_reqwest)? {
            if (body.len() + chunk.len()) as u64 > limit {
                return Err(FetchError::TooLarge { limit });
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body.into())
    }

    async fn tftp(&self, url: &Url) -> Result<Vec<u8>, FetchError> {
        let port = url.port().unwrap_or(69);
        let addrs = guard::url_addrs(&self.inner.guard, url, port).await?;
        let server = first(&addrs)?;
        let filename = percent_decode(url.path().trim_start_matches('/'))?;
        tftp::fetch(server, &filename, self.inner.config.max_bytes).await
    }

    async fn ftp(&self, url: &Url) -> Result<Vec<u8>, FetchError> {
        let port = url.port_or_known_default().unwrap_or(21);
        let addrs = guard::url_addrs(&self.inner.guard, url, port).await?;
        let server = first(&addrs)?;
        let user = match url.username() {
            "" => "anonymous".to_owned(),
            user => percent_decode(user)?,
        };
        let password = percent_decode(url.password().unwrap_or("anonymous@"))?;
        let path = percent_decode(url.path().trim_start_matches('/'))?;
        ftp::fetch(ftp::Request {
            server,
            user: &user,
            password: &password,
            path: &path,
            max_bytes: self.inner.config.max_bytes,
            connect_timeout: self.inner.config.connect_timeout,
        })
        .await
    }
}

fn first(addrs: &[std::net::SocketAddr]) -> Result<std::net::SocketAddr, FetchError> {
    addrs
        .first()
        .copied()
        .ok_or_else(|| FetchError::Dns("no addresses".to_owned()))
}

/// Decodes `%XX` escapes (the `url` crate keeps paths encoded); the result must be
/// UTF-8.
fn percent_decode(text: &str) -> Result<String, FetchError> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&byte) = bytes.get(i) {
        let hex = bytes
            .get(i + 1..i + 3)
            .filter(|_| byte == b'%')
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match hex {
            Some(decoded) => {
                out.push(decoded);
                i += 3;
            }
            None => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| FetchError::BadUrl("path is not UTF-8".to_owned()))
}

/// Turns a reqwest error into ours, looking through its causes for the guard's own
/// errors (raised inside the resolver or the redirect policy).
fn map_reqwest(error: reqwest::Error) -> FetchError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = error.source();
    while let Some(cause) = source {
        if let Some(blocked) = cause.downcast_ref::<Blocked>() {
            return blocked.clone().into();
        }
        if let Some(resolve) = cause.downcast_ref::<ResolveError>() {
            return resolve.clone().into();
        }
        if let Some(dns) = cause.downcast_ref::<DnsFailed>() {
            return FetchError::Dns(dns.to_string());
        }
        if let Some(redirects) = cause.downcast_ref::<TooManyRedirects>() {
            return FetchError::Redirect(redirects.to_string());
        }
        if let Some(scheme) = cause.downcast_ref::<RedirectScheme>() {
            return FetchError::Redirect(scheme.to_string());
        }
        source = cause.source();
    }
    if error.is_timeout() {
        FetchError::Timeout
    } else if error.is_builder() {
        FetchError::BadUrl(innermost(&error))
    } else if error.is_redirect() {
        FetchError::Redirect(innermost(&error))
    } else {
        FetchError::Connect(innermost(&error))
    }
}

/// The most specific message in an error chain (reqwest's outer ones repeat the URL).
fn innermost(error: &(dyn std::error::Error + 'static)) -> String {
    let mut current = error;
    while let Some(next) = current.source() {
        current = next;
    }
    current.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%20b%2Fc"), Ok("a b/c".to_owned()));
        assert_eq!(percent_decode("100%"), Ok("100%".to_owned()));
        assert_eq!(percent_decode("%zz%4"), Ok("%zz%4".to_owned()));
        assert_eq!(percent_decode("x%0d%0aDELE"), Ok("x\r\nDELE".to_owned()));
        assert!(percent_decode("%ff").is_err());
    }
}
