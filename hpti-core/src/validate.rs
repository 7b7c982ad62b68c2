//! Schema checks every event passes before it reaches enrichers and sinks.
//!
//! A failure names the field and the rule; the pipeline sends the event to the dead-letter
//! file with that reason instead of retrying it (a validation error is permanent).

use std::net::IpAddr;

use crate::event::{Event, EventKind, Timestamp};

/// Limits the validator enforces. The defaults are generous for real attacker input and
/// small enough that one hostile record cannot bloat the store.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Longest short text field (user name, password, sensor, session id, key fields), in bytes.
    pub max_short_field: usize,
    /// Longest command line, URL, HTTP URI or version string, in bytes.
    pub max_long_field: usize,
    /// Largest raw record kept with an event, in bytes.
    pub max_raw: usize,
    /// Largest serialized `fields` map of an unknown event, in bytes.
    pub max_unknown_fields: usize,
    /// Earliest acceptable event time.
    pub min_time: Timestamp,
    /// How far in the future an event time may be, in microseconds (clock skew).
    pub max_future_skew_micros: i64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_short_field: 4 * 1024,
            max_long_field: 64 * 1024,
            max_raw: 256 * 1024,
            max_unknown_fields: 256 * 1024,
            // 2000-01-01T00:00:00Z: older than any honeypot log worth ingesting.
            min_time: Timestamp::from_micros(946_684_800_000_000),
            max_future_skew_micros: 24 * 3600 * 1_000_000,
        }
    }
}

/// Why an event failed validation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ValidationError {
    /// A text field is longer than its limit.
    #[error("field `{field}` is {len} bytes, over the limit of {max}")]
    TooLong {
        /// The field's JSON name.
        field: &'static str,
        /// Its length in bytes.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A required field is empty.
    #[error("field `{field}` must not be empty")]
    Empty {
        /// The field's JSON name.
        field: &'static str,
    },
    /// An address that cannot be a real peer (unspecified or multicast).
    #[error("field `{field}` has an impossible address {addr}")]
    BadAddress {
        /// The field's JSON name.
        field: &'static str,
        /// The address.
        addr: IpAddr,
    },
    /// Port 0 is not a TCP/UDP port a peer can use.
    #[error("field `{field}` is port 0")]
    ZeroPort {
        /// The field's JSON name.
        field: &'static str,
    },
    /// The event time is implausibly old or too far in the future.
    #[error("event time {time} is outside the accepted range ({reason})")]
    TimeOutOfRange {
        /// The time.
        time: Timestamp,
        /// `before 2000-01-01` or `in the future`.
        reason: &'static str,
    },
    /// A field does not have its required form (hex digest, ...).
    #[error("field `{field}` is malformed: {reason}")]
    Malformed {
        /// The field's JSON name.
        field: &'static str,
        /// What is wrong.
        reason: &'static str,
    },
    /// The record was written by a newer schema than this build understands.
    #[error("schema version {0} is newer than the supported {max}", max = crate::event::SCHEMA_VERSION)]
    UnsupportedVersion(u32),
}

impl ValidationError {
    /// A short stable label for metrics (`too_long`, `bad_address`, ...).
    pub fn label(&self) -> &'static str {
        match self {
            Self::TooLong { .. } => "too_long",
            Self::Empty { .. } => "empty",
            Self::BadAddress { .. } => "bad_address",
            Self::ZeroPort { .. } => "zero_port",
            Self::TimeOutOfRange { .. } => "time_out_of_range",
            Self::Malformed { .. } => "malformed",
            Self::UnsupportedVersion(_) => "unsupported_version",
        }
    }
}

/// Checks events against [`Limits`].
///
/// ```
/// use hpti_core::event::{Event, EventKind, Protocol};
/// use hpti_core::validate::Validator;
///
/// let validator = Validator::default();
/// let mut event = Event::new("ssh-1", Protocol::Ssh, "198.51.100.1".parse().unwrap(),
///     EventKind::CommandInput { command: "uname -a".into() });
/// assert!(validator.validate(&event).is_ok());
/// event.src_ip = "0.0.0.0".parse().unwrap();
/// assert!(validator.validate(&event).is_err());
/// ```
#[derive(Debug, Clone, Default)]
pub struct Validator {
    limits: Limits,
}

impl Validator {
    /// A validator with the given limits.
    pub fn new(limits: Limits) -> Self {
        Self { limits }
    }

    /// The limits in force.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Checks one event; the first problem found is returned.
    pub fn validate(&self, event: &Event) -> Result<(), ValidationError> {
        self.validate_at(event, Timestamp::now())
    }

    /// Like [`validate`](Self::validate) with an explicit "now", for deterministic tests.
    pub fn validate_at(&self, event: &Event, now: Timestamp) -> Result<(), ValidationError> {
        let limits = &self.limits;
        if event.schema_version > crate::event::SCHEMA_VERSION {
            return Err(ValidationError::UnsupportedVersion(event.schema_version));
        }
        if event.time < limits.min_time {
            return Err(ValidationError::TimeOutOfRange {
                time: event.time,
                reason: "before 2000-01-01",
            });
        }
        if event.time > now.saturating_add_micros(limits.max_future_skew_micros) {
            return Err(ValidationError::TimeOutOfRange {
                time: event.time,
                reason: "in the future",
            });
        }
        self.short("sensor", &event.sensor)?;
        non_empty("sensor", &event.sensor)?;
        self.short("protocol", event.protocol.as_str())?;
        if let Some(session) = &event.session {
            self.short("session", session)?;
            non_empty("session", session)?;
        }
        peer_address("src_ip", event.src_ip)?;
        if let Some(ip) = event.dst_ip {
            peer_address("dst_ip", ip)?;
        }
        if event.src_port == Some(0) {
            return Err(ValidationError::ZeroPort { field: "src_port" });
        }
        if event.dst_port == Some(0) {
            return Err(ValidationError::ZeroPort { field: "dst_port" });
        }
        if let Some(raw) = &event.raw {
            check_len("raw", raw, limits.max_raw)?;
        }
        for tag in &event.enrichment.tags {
            self.short("enrichment.tags", tag)?;
        }
        self.validate_kind(&event.kind)
    }

    fn validate_kind(&self, kind: &EventKind) -> Result<(), ValidationError> {
        match kind {
            EventKind::SessionStarted
            | EventKind::SessionClosed {
                recording: None, ..
            } => Ok(()),
            EventKind::SessionClosed {
                recording: Some(path),
                ..
            } => self.long("recording", path),
            EventKind::ClientVersion { version } => self.long("version", version),
            EventKind::ClientFingerprint {
                method,
                fingerprint,
                algorithms,
            } => {
                non_empty("method", method)?;
                self.short("method", method)?;
                non_empty("fingerprint", fingerprint)?;
                self.short("fingerprint", fingerprint)?;
                opt(algorithms, |a| self.long("algorithms", a))
            }
            EventKind::LoginAttempt {
                username,
                password,
                key_type,
                key_fingerprint,
                ..
            } => {
                self.short("username", username)?;
                opt(password, |p| self.short("password", p))?;
                opt(key_type, |k| self.short("key_type", k))?;
                opt(key_fingerprint, |k| self.short("key_fingerprint", k))
            }
            EventKind::CommandInput { command } => self.long("command", command),
            EventKind::FileDownload {
                url, sha256, error, ..
            } => {
                non_empty("url", url)?;
                self.long("url", url)?;
                opt(sha256, |s| sha256_hex("sha256", s))?;
                opt(error, |e| self.long("error", e))
            }
            EventKind::FileUpload {
                filename, sha256, ..
            } => {
                self.long("filename", filename)?;
                opt(sha256, |s| sha256_hex("sha256", s))
            }
            EventKind::HttpRequest {
                method,
                uri,
                host,
                user_agent,
                labels,
                detail,
                ..
            } => {
                non_empty("method", method)?;
                self.short("method", method)?;
                self.long("uri", uri)?;
                opt(host, |h| self.short("host", h))?;
                opt(user_agent, |u| self.long("user_agent", u))?;
                if labels.len() > MAX_HTTP_LABELS {
                    return Err(ValidationError::TooLong {
                        field: "labels",
                        len: labels.len(),
                        max: MAX_HTTP_LABELS,
                    });
                }
                for label in labels {
                    self.short("labels", label)?;
                }
                match detail {
                    Some(detail) => self.http_detail(detail),
                    None => Ok(()),
                }
            }
            EventKind::PortForward { host, .. } => {
                non_empty("host", host)?;
                self.short("host", host)
            }
            EventKind::Unknown {
                original_type,
                fields,
            } => {
                non_empty("original_type", original_type)?;
                self.short("original_type", original_type)?;
                let size = serde_json::to_vec(fields)
                    .map(|v| v.len())
                    .unwrap_or(usize::MAX);
                if size > self.limits.max_unknown_fields {
                    return Err(ValidationError::TooLong {
                        field: "fields",
                        len: size,
                        max: self.limits.max_unknown_fields,
                    });
                }
                Ok(())
            }
        }
    }

    fn short(&self, field: &'static str, value: &str) -> Result<(), ValidationError> {
        check_len(field, value, self.limits.max_short_field)
    }

    fn long(&self, field: &'static str, value: &str) -> Result<(), ValidationError> {
        check_len(field, value, self.limits.max_long_field)
    }

    /// Headers: at most [`MAX_HTTP_HEADERS`], names short, values long, and all of them
    /// within the raw-record limit; the body within the long-field limit.
    fn http_detail(&self, detail: &crate::event::HttpDetail) -> Result<(), ValidationError> {
        if detail.headers.len() > MAX_HTTP_HEADERS {
            return Err(ValidationError::TooLong {
                field: "headers",
                len: detail.headers.len(),
                max: MAX_HTTP_HEADERS,
            });
        }
        let mut total = 0;
        for (name, value) in &detail.headers {
            self.short("headers", name)?;
            self.long("headers", value)?;
            total += name.len() + value.len();
        }
        if total > self.limits.max_raw {
            return Err(ValidationError::TooLong {
                field: "headers",
                len: total,
                max: self.limits.max_raw,
            });
        }
        opt(&detail.body, |b| self.long("body", b))?;
        opt(&detail.body_sha256, |s| sha256_hex("body_sha256", s))?;
        self.short("version", &detail.version)?;
        opt(&detail.app, |a| self.short("app", a))?;
        opt(&detail.tls_sni, |s| self.short("tls_sni", s))?;
        opt(&detail.ja4, |j| self.short("ja4", j))
    }
}

/// Most labels an `http.request` event may carry.
pub const MAX_HTTP_LABELS: usize = 64;
/// Most header fields an `http.request` event may carry.
pub const MAX_HTTP_HEADERS: usize = 256;

fn opt<T>(
    value: &Option<T>,
    check: impl FnOnce(&T) -> Result<(), ValidationError>,
) -> Result<(), ValidationError> {
    value.as_ref().map_or(Ok(()), check)
}

fn check_len(field: &'static str, value: &str, max: usize) -> Result<(), ValidationError> {
    if value.len() > max {
        return Err(ValidationError::TooLong {
            field,
            len: value.len(),
            max,
        });
    }
    Ok(())
}

fn non_empty(field: &'static str, value: &str) -> Result<(), ValidationError> {
    if value.is_empty() {
        return Err(ValidationError::Empty { field });
    }
    Ok(())
}

fn peer_address(field: &'static str, addr: IpAddr) -> Result<(), ValidationError> {
    if addr.is_unspecified() || addr.is_multicast() {
        return Err(ValidationError::BadAddress { field, addr });
    }
    Ok(())
}

fn sha256_hex(field: &'static str, value: &str) -> Result<(), ValidationError> {
    if value.len() != 64 {
        return Err(ValidationError::Malformed {
            field,
            reason: "a SHA-256 digest is 64 hex digits",
        });
    }
    if !value
        .bytes()
        .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    {
        return Err(ValidationError::Malformed {
            field,
            reason: "a SHA-256 digest is lower-case hex",
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{AuthMethod, Protocol};

    fn login(username: &str) -> Event {
        Event::new(
            "t",
            Protocol::Ssh,
            "192.0.2.1".parse().unwrap(),
            EventKind::LoginAttempt {
                username: username.into(),
                password: Some("x".into()),
                key_type: None,
                key_fingerprint: None,
                method: AuthMethod::Password,
                success: false,
            },
        )
    }

    #[test]
    fn accepts_a_normal_event() {
        assert_eq!(Validator::default().validate(&login("root")), Ok(()));
    }

    #[test]
    fn rejects_oversized_username_naming_the_field() {
        let err = Validator::default()
            .validate(&login(&"a".repeat(5000)))
            .unwrap_err();
        assert_eq!(
            err,
            ValidationError::TooLong {
                field: "username",
                len: 5000,
                max: 4096
            }
        );
    }

    #[test]
    fn rejects_times_out_of_range() {
        let v = Validator::default();
        let old = login("root").with_time(Timestamp::from_micros(0));
        assert_eq!(v.validate(&old).unwrap_err().label(), "time_out_of_range");
        let now = Timestamp::now();
        let future = login("root").with_time(now.saturating_add_micros(3 * 86_400_000_000));
        assert_eq!(
            v.validate_at(&future, now).unwrap_err().label(),
            "time_out_of_range"
        );
    }

    #[test]
    fn rejects_impossible_addresses_and_ports() {
        let v = Validator::default();
        let mut e = login("root");
        e.src_ip = "224.0.0.1".parse().unwrap();
        assert_eq!(v.validate(&e).unwrap_err().label(), "bad_address");
        let e = login("root").with_source_port(0);
        assert_eq!(v.validate(&e).unwrap_err().label(), "zero_port");
    }

    #[test]
    fn rejects_malformed_digest() {
        let e = Event::new(
            "t",
            Protocol::Ssh,
            "192.0.2.1".parse().unwrap(),
            EventKind::FileDownload {
                url: "http://x/".into(),
                sha256: Some("ABC".into()),
                size: None,
                error: None,
            },
        );
        assert_eq!(
            Validator::default().validate(&e).unwrap_err().label(),
            "malformed"
        );
    }
}
