//! Events in Elasticsearch: `_bulk` `create` actions into daily indices
//! (`<prefix>-YYYY.MM.DD`, by the event's time in UTC), an ECS mapping installed as an
//! index template, and an ILM policy that deletes indices after `retention`.
//!
//! The document id is the event id and the action is `create`, so a replayed event is
//! answered 409 (already stored) and counts as delivered: the sink is idempotent. Each
//! item of a bulk response is classified on its own: 429 or
//! `es_rejected_execution_exception` is retried alone, a mapping or parsing error
//! dead-letters only that event, with Elasticsearch's reason.
//!
//! Why reqwest and not the `elasticsearch` crate: that crate is still published only
//! as pre-releases, brings its own HTTP transport (and TLS settings) beside the reqwest
//! client the workspace already has, and hpti needs just four endpoints (`_bulk`,
//! `_index_template`, `_ilm/policy`, and the same two with `GET`), whose wire formats
//! are stable and documented.

mod config;
mod ecs;

pub mod bulk;
pub mod template;

use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use hpti_core::event::{Event, Timestamp};
use hpti_core::secret::Secret;
use hpti_core::sink::{Sink, SinkCapabilities, SinkError, WriteReport};
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderValue, RETRY_AFTER};
use reqwest::{StatusCode, Url};

use self::bulk::{BulkBody, BulkEncoder, BulkResponse, EsError, ItemOutcome};
pub use config::ElasticsearchSinkConfig;

/// How the sink authenticates.
#[derive(Clone, Default)]
pub enum Auth {
    /// No `Authorization` header.
    #[default]
    None,
    /// HTTP basic authentication.
    Basic {
        /// The user.
        username: String,
        /// Its password.
        password: Secret,
    },
    /// An API key: the `encoded` value Elasticsearch returned, or `id:api_key`.
    ApiKey(Secret),
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.scheme())
    }
}

impl Auth {
    /// The scheme, for messages (the user name, never a secret).
    pub fn scheme(&self) -> String {
        match self {
            Self::None => "no credentials".into(),
            Self::Basic { username, .. } => format!("basic auth as user `{username}`"),
            Self::ApiKey(_) => "API key".into(),
        }
    }

    fn header(&self) -> Option<HeaderValue> {
        use base64::Engine as _;
        let engine = base64::engine::general_purpose::STANDARD;
        let text = match self {
            Self::None => return None,
            Self::Basic { username, password } => format!(
                "Basic {}",
                engine.encode(format!("{username}:{}", password.expose()))
            ),
            Self::ApiKey(key) => {
                let key = key.expose();
                if key.contains(':') {
                    format!("ApiKey {}", engine.encode(key))
                } else {
                    format!("ApiKey {key}")
                }
            }
        };
        let mut value = HeaderValue::from_str(&text).ok()?;
        value.set_sensitive(true);
        Some(value)
    }
}

/// A failure to open the sink or install its template.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ElasticsearchError {
    /// An option cannot be used.
    #[error("{0}")]
    Invalid(String),
    /// The HTTP client could not be built (a bad CA certificate).
    #[error("cannot set up the HTTP client: {0}")]
    Client(#[source] reqwest::Error),
    /// The server could not be reached.
    #[error("cannot reach {target}: {}", chain(.source))]
    Connect {
        /// `scheme://host:port`.
        target: String,
        /// Why.
        #[source]
        source: reqwest::Error,
    },
    /// The server refused the credentials (401) or their rights (403).
    #[error("{target} refused the request ({scheme}): {status}: {reason}")]
    Auth {
        /// `scheme://host:port`.
        target: String,
        /// How hpti authenticated (never the secret).
        scheme: String,
        /// 401 or 403.
        status: u16,
        /// Elasticsearch's reason.
        reason: String,
    },
    /// Another unexpected answer.
    #[error("{target} answered {status} to {what}: {reason}")]
    Status {
        /// `scheme://host:port`.
        target: String,
        /// The request.
        what: String,
        /// The status code.
        status: u16,
        /// Elasticsearch's reason.
        reason: String,
    },
}

/// The error and its causes on one line (reqwest's own message omits them).
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// How the Elasticsearch sink connects and writes.
#[derive(Debug, Clone)]
pub struct ElasticsearchOptions {
    /// The cluster's base URL (`https://es.internal:9200`).
    pub url: Url,
    /// Indices are `<index_prefix>-YYYY.MM.DD`; the template and the ILM policy are
    /// named `<index_prefix>`.
    pub index_prefix: String,
    /// Indices are deleted this long after their day (ILM), and older events refused.
    pub retention: Option<Duration>,
    /// Credentials.
    pub auth: Auth,
    /// PEM certificates of extra CAs to trust.
    pub ca_pem: Option<Vec<u8>>,
    /// The largest `_bulk` body.
    pub max_bytes: usize,
    /// Time limit of one request.
    pub timeout: Duration,
    /// Install the index template and ILM policy when absent.
    pub install_template: bool,
}

impl ElasticsearchOptions {
    /// Defaults for the cluster at `url`.
    pub fn new(url: &str) -> Result<Self, ElasticsearchError> {
        let url = Url::parse(url).map_err(|e| {
            ElasticsearchError::Invalid(format!("not a URL ({e}): expected https://host:9200"))
        })?;
        if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
            return Err(ElasticsearchError::Invalid(
                "expected an http:// or https:// URL with a host, such as https://host:9200".into(),
            ));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(ElasticsearchError::Invalid(
                "put credentials in `username` and `password_env` (or `api_key_env`), not in the URL"
                    .into(),
            ));
        }
        Ok(Self {
            url,
            index_prefix: "hpti-events".into(),
            retention: None,
            auth: Auth::None,
            ca_pem: None,
            max_bytes: DEFAULT_MAX_BYTES,
            timeout: Duration::from_secs(30),
            install_template: true,
        })
    }

    /// `scheme://host:port`, for messages.
    pub fn target(&self) -> String {
        let mut target = format!(
            "{}://{}",
            self.url.scheme(),
            self.url.host_str().unwrap_or_default()
        );
        if let Some(port) = self.url.port_or_known_default() {
            target.push_str(&format!(":{port}"));
        }
        target
    }
}

/// The default largest `_bulk` body: 5 MiB, within Elasticsearch's advice of a few MB.
pub const DEFAULT_MAX_BYTES: usize = 5 * 1024 * 1024;

/// Checks an index prefix: what Elasticsearch allows in an index name, lower case.
pub fn check_prefix(prefix: &str) -> Result<(), ElasticsearchError> {
    let ok = !prefix.is_empty()
        && prefix.len() <= 200
        && prefix
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_.".contains(&b))
        && prefix
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    if ok {
        Ok(())
    } else {
        Err(ElasticsearchError::Invalid(format!(
            "index prefix {prefix:?}: use 1 to 200 lower-case letters, digits, `-`, `_` or `.`, starting with a letter or digit"
        )))
    }
}

/// An Elasticsearch [`Sink`].
///
/// ```no_run
/// # async fn demo() -> Result<(), hpti_store::elasticsearch::ElasticsearchError> {
/// use hpti_store::elasticsearch::{ElasticsearchOptions, ElasticsearchSink};
/// let mut options = ElasticsearchOptions::new("https://es.internal:9200")?;
/// options.retention = Some(std::time::Duration::from_secs(90 * 86_400));
/// let sink = ElasticsearchSink::open(options).await?; // installs the template if absent
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct ElasticsearchSink {
    client: reqwest::Client,
    options: ElasticsearchOptions,
    target: String,
    bulk_url: Url,
    /// Encoders to reuse (their index-name cache and scratch buffer).
    encoders: Mutex<Vec<BulkEncoder>>,
}

impl ElasticsearchSink {
    /// Builds the client and, unless `install_template` is off, installs the index
    /// template and ILM policy where absent.
    pub async fn open(options: ElasticsearchOptions) -> Result<Self, ElasticsearchError> {
        check_prefix(&options.index_prefix)?;
        if options.max_bytes < 1024 {
            return Err(ElasticsearchError::Invalid(
                "max_bytes must be at least 1024".into(),
            ));
        }
        let mut headers = HeaderMap::new();
        if let Some(value) = options.auth.header() {
            headers.insert(AUTHORIZATION, value);
        } else if !matches!(options.auth, Auth::None) {
            return Err(ElasticsearchError::Invalid(
                "the credentials hold characters an HTTP header cannot carry".into(),
            ));
        }
        let mut builder = reqwest::Client::builder()
            .default_headers(headers)
            .timeout(options.timeout)
            .connect_timeout(options.timeout.min(Duration::from_secs(10)))
            .user_agent(concat!("hpti/", env!("CARGO_PKG_VERSION")));
        if let Some(pem) = &options.ca_pem {
            let certs =
                reqwest::Certificate::from_pem_bundle(pem).map_err(ElasticsearchError::Client)?;
            if certs.is_empty() {
                return Err(ElasticsearchError::Invalid(
                    "no PEM certificate in the CA file".into(),
                ));
            }
            for cert in certs {
                builder = builder.add_root_certificate(cert);
            }
        }
        let client = builder.build().map_err(ElasticsearchError::Client)?;
        let target = options.target();
        let bulk_url = endpoint(
            &options.url,
            "_bulk?filter_path=errors,items.*.status,items.*.error",
        )?;
        let sink = Self {
            client,
            target,
            bulk_url,
            encoders: Mutex::new(Vec::new()),
            options,
        };
        if sink.options.install_template {
            sink.install().await?;
        }
        Ok(sink)
    }

    /// The options it was opened with.
    pub fn options(&self) -> &ElasticsearchOptions {
        &self.options
    }

    /// Installs the ILM policy and the index template unless they exist (they are never
    /// overwritten: an operator's edits stay).
    pub async fn install(&self) -> Result<(), ElasticsearchError> {
        let prefix = &self.options.index_prefix;
        let policy = template::ilm_policy(self.options.retention);
        self.put_if_absent(&format!("_ilm/policy/{prefix}"), &policy, "ILM policy")
            .await?;
        let template = template::index_template(prefix);
        self.put_if_absent(
            &format!("_index_template/{prefix}"),
            &template,
            "index template",
        )
        .await
    }

    async fn put_if_absent(
        &self,
        path: &str,
        body: &serde_json::Value,
        what: &str,
    ) -> Result<(), ElasticsearchError> {
        let url = endpoint(&self.options.url, path)?;
        let found = self
            .call(self.client.get(url.clone()), &format!("GET {path}"))
            .await;
        match found {
            Ok(_) => {
                tracing::debug!(target_es = %self.target, path, "{what} present; kept as it is");
                return Ok(());
            }
            Err(ElasticsearchError::Status { status: 404, .. }) => {}
            Err(e) => return Err(e),
        }
        self.call(self.client.put(url).json(body), &format!("PUT {path}"))
            .await?;
        tracing::info!(target_es = %self.target, path, "{what} installed");
        Ok(())
    }

    /// Sends a request; any status but 2xx is an error.
    async fn call(
        &self,
        request: reqwest::RequestBuilder,
        what: &str,
    ) -> Result<String, ElasticsearchError> {
        let response = request
            .send()
            .await
            .map_err(|source| ElasticsearchError::Connect {
                target: self.target.clone(),
                source,
            })?;
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        if status.is_success() {
            return Ok(text);
        }
        let reason = error_reason(&text);
        if matches!(status.as_u16(), 401 | 403) {
            return Err(ElasticsearchError::Auth {
                target: self.target.clone(),
                scheme: self.options.auth.scheme(),
                status: status.as_u16(),
                reason,
            });
        }
        Err(ElasticsearchError::Status {
            target: self.target.clone(),
            what: what.to_owned(),
            status: status.as_u16(),
            reason,
        })
    }

    fn encoder(&self) -> BulkEncoder {
        self.encoders
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .pop()
            .unwrap_or_else(|| {
                BulkEncoder::new(self.options.index_prefix.clone(), self.options.max_bytes)
            })
    }

    fn give_back(&self, encoder: BulkEncoder) {
        let mut encoders = self
            .encoders
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if encoders.len() < 8 {
            encoders.push(encoder);
        }
    }

    /// Sends one body; a 413 splits it and sends the halves. Item outcomes are added to
    /// `report`.
    async fn send(&self, body: BulkBody, report: &mut WriteReport) -> Result<(), SinkError> {
        let mut queue = vec![body];
        while let Some(body) = queue.pop() {
            match self.send_one(&body).await? {
                Sent::Items(response) => self.apply(&body, response, report)?,
                Sent::TooLarge => match body.split() {
                    Some((a, b)) => {
                        tracing::warn!(sink = %self.target, events = body.len(), "elasticsearch answered 413 to a _bulk request; splitting it");
                        queue.push(b);
                        queue.push(a);
                    }
                    None => {
                        for i in body.batch_indexes() {
                            report.rejected.push(hpti_core::sink::Rejection::new(
                                i,
                                "elasticsearch refused the event as too large (413 Request Entity Too Large); raise http.max_content_length or lower max_bytes",
                            ));
                        }
                    }
                },
            }
        }
        Ok(())
    }

    async fn send_one(&self, body: &BulkBody) -> Result<Sent, SinkError> {
        let response = self
            .client
            .post(self.bulk_url.clone())
            .header(CONTENT_TYPE, "application/x-ndjson")
            .body(body.bytes().to_vec())
            .send()
            .await
            .map_err(|e| {
                SinkError::temporary(
                    format!(
                        "cannot send a _bulk request to {}: {}",
                        self.target,
                        chain(&e)
                    ),
                    e,
                )
            })?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let text = response.text().await.map_err(|e| {
            SinkError::temporary(
                format!("the _bulk answer of {} was cut: {}", self.target, chain(&e)),
                e,
            )
        })?;
        match status {
            s if s.is_success() => {
                let parsed: BulkResponse = serde_json::from_str(&text).map_err(|e| {
                    SinkError::temporary(
                        format!("{} sent a _bulk answer that is not one", self.target),
                        e,
                    )
                })?;
                Ok(Sent::Items(parsed))
            }
            StatusCode::PAYLOAD_TOO_LARGE => Ok(Sent::TooLarge),
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => Err(SinkError::permanent(
                format!(
                    "{} refused the _bulk request ({}): {}: {}",
                    self.target,
                    self.options.auth.scheme(),
                    status.as_u16(),
                    error_reason(&text)
                ),
                AuthFailed,
            )),
            StatusCode::TOO_MANY_REQUESTS => Err(SinkError::rate_limited(
                format!(
                    "{} is overloaded (429): {}",
                    self.target,
                    error_reason(&text)
                ),
                retry_after,
            )),
            s if s.is_server_error() || s == StatusCode::REQUEST_TIMEOUT => {
                Err(SinkError::temporary(
                    format!(
                        "{} answered {} to a _bulk request: {}",
                        self.target,
                        s.as_u16(),
                        error_reason(&text)
                    ),
                    Unavailable,
                ))
            }
            s => Err(SinkError::permanent(
                format!(
                    "{} answered {} to a _bulk request: {}",
                    self.target,
                    s.as_u16(),
                    error_reason(&text)
                ),
                Refused,
            )),
        }
    }

    /// Adds the outcome of each item of `body` to `report`.
    fn apply(
        &self,
        body: &BulkBody,
        response: BulkResponse,
        report: &mut WriteReport,
    ) -> Result<(), SinkError> {
        if !response.errors {
            return Ok(());
        }
        if response.items.len() != body.len() {
            return Err(SinkError::temporary(
                format!(
                    "{} answered {} items to a _bulk request of {}",
                    self.target,
                    response.items.len(),
                    body.len()
                ),
                Unavailable,
            ));
        }
        for (n, item) in response.items.iter().enumerate() {
            let Some(index) = body.batch_index(n) else {
                continue;
            };
            let outcome = match &item.create {
                Some(result) => result.outcome(),
                None => {
                    ItemOutcome::Retry("elasticsearch answered an item without a result".into())
                }
            };
            match outcome {
                ItemOutcome::Delivered => {}
                ItemOutcome::Rejected(reason) => {
                    tracing::warn!(sink = %self.target, %reason, "elasticsearch refused an event");
                    report
                        .rejected
                        .push(hpti_core::sink::Rejection::new(index, reason));
                }
                ItemOutcome::Retry(reason) => {
                    report
                        .retry
                        .push(hpti_core::sink::PartialRetry::new(index, reason));
                }
            }
        }
        Ok(())
    }
}

enum Sent {
    Items(BulkResponse),
    TooLarge,
}

/// Causes for [`SinkError`]s that have no underlying error.
#[derive(Debug, thiserror::Error)]
#[error("authentication or authorization failed")]
struct AuthFailed;
#[derive(Debug, thiserror::Error)]
#[error("the server is unavailable")]
struct Unavailable;
#[derive(Debug, thiserror::Error)]
#[error("the server refused the request")]
struct Refused;

/// `base` + `path` (which may carry a query).
fn endpoint(base: &Url, path: &str) -> Result<Url, ElasticsearchError> {
    let mut text = base.as_str().trim_end_matches('/').to_owned();
    text.push('/');
    text.push_str(path);
    Url::parse(&text).map_err(|e| ElasticsearchError::Invalid(format!("bad URL {text}: {e}")))
}

/// Elasticsearch's `error` of an answer (`type: reason`), or the start of the text.
fn error_reason(text: &str) -> String {
    #[derive(serde::Deserialize)]
    struct Answer {
        error: AnswerError,
    }
    #[derive(serde::Deserialize)]
    #[serde(untagged)]
    enum AnswerError {
        Object(EsError),
        Text(String),
    }
    match serde_json::from_str::<Answer>(text) {
        Ok(Answer {
            error: AnswerError::Object(e),
        }) => e.to_string(),
        Ok(Answer {
            error: AnswerError::Text(e),
        }) => e,
        Err(_) => {
            let mut end = text.len().min(200);
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            if text.is_empty() {
                "(no body)".into()
            } else {
                text[..end].to_owned()
            }
        }
    }
}

#[async_trait]
impl Sink for ElasticsearchSink {
    fn name(&self) -> &str {
        "elasticsearch"
    }

    fn capabilities(&self) -> SinkCapabilities {
        SinkCapabilities::DURABLE_IDEMPOTENT
    }

    async fn write(&self, events: &[&Event]) -> Result<WriteReport, SinkError> {
        if events.is_empty() {
            return Ok(WriteReport::delivered());
        }
        let oldest = self.options.retention.map(|r| {
            let micros = i64::try_from(r.as_micros()).unwrap_or(i64::MAX);
            Timestamp::now().saturating_add_micros(micros.saturating_neg())
        });
        let mut encoder = self.encoder();
        let encoded = encoder.encode(events, oldest);
        self.give_back(encoder);
        let mut report = WriteReport::delivered();
        for (index, reason) in encoded.rejected {
            report = report.reject(index, reason);
        }
        let mut bodies = encoded.bodies.into_iter();
        let mut sent_any = false;
        while let Some(body) = bodies.next() {
            let indexes: Vec<usize> = body.batch_indexes().collect();
            match self.send(body, &mut report).await {
                Ok(()) => sent_any = true,
                Err(e) if sent_any && e.class().is_retryable() => {
                    // Earlier bodies are stored: retry only this one and the rest.
                    let reason = e.to_string();
                    if let Some(wait) = e.class().retry_after() {
                        report = report.retry_after(wait);
                    }
                    let settled: std::collections::HashSet<usize> = report
                        .rejected
                        .iter()
                        .map(|r| r.index)
                        .chain(report.retry.iter().map(|r| r.index))
                        .collect();
                    let rest: Vec<usize> = indexes
                        .into_iter()
                        .chain(
                            bodies
                                .by_ref()
                                .flat_map(|b| b.batch_indexes().collect::<Vec<_>>()),
                        )
                        .filter(|i| !settled.contains(i))
                        .collect();
                    for index in rest {
                        report = report.retry(index, reason.clone());
                    }
                    break;
                }
                Err(e) => return Err(e),
            }
        }
        if !report.rejected.is_empty() || !report.retry.is_empty() {
            tracing::debug!(
                sink = %self.target,
                events = events.len(),
                rejected = report.rejected.len(),
                retry = report.retry.len(),
                "elasticsearch stored part of a batch"
            );
        }
        Ok(report)
    }
}
