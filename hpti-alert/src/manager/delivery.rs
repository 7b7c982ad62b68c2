//! One delivery of a group to one notifier: a timeout per attempt, retries with
//! exponential backoff (or the `Retry-After` the service asked for), and the dead-letter
//! file for what fails for good.

use std::io::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use hpti_core::alert_store::NotificationRecord;
use hpti_core::error::ErrorClass;
use hpti_core::event::Timestamp;
use hpti_core::metrics::PipelineMetrics;
use hpti_core::notify::{AlertGroup, Notifier};

/// How a failed delivery is retried: with exponential backoff until `retry_for` has
/// passed since the first attempt, so an outage of the receiving service shorter than
/// that loses nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// How long a delivery keeps being retried before it is dead-lettered.
    pub retry_for: Duration,
    /// The first backoff; doubled after each failure.
    pub initial_backoff: Duration,
    /// The longest backoff between two attempts.
    pub max_backoff: Duration,
    /// One attempt's time limit: a notifier that hangs fails this attempt.
    pub attempt_timeout: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            retry_for: Duration::from_secs(600),
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(60),
            attempt_timeout: Duration::from_secs(30),
        }
    }
}

/// What became of a delivery.
pub(super) struct Outcome {
    pub receiver: String,
    pub group: AlertGroup,
    pub record: NotificationRecord,
    /// `Err(reason)` when it failed for good.
    pub result: Result<(), String>,
}

pub(super) async fn deliver(
    notifier: Arc<dyn Notifier>,
    receiver: String,
    group: AlertGroup,
    record: NotificationRecord,
    policy: RetryPolicy,
    metrics: PipelineMetrics,
) -> Outcome {
    let started = tokio::time::Instant::now();
    let mut backoff = policy.initial_backoff;
    let mut attempt = 1;
    let health = metrics.health();
    let result = loop {
        let error =
            match tokio::time::timeout(policy.attempt_timeout, notifier.notify(&group)).await {
                Ok(Ok(())) => {
                    health.ok("notifier", &receiver);
                    metrics.notification(&receiver, "delivered");
                    break Ok(());
                }
                Ok(Err(err)) => err,
                Err(_) => hpti_core::notify::NotifyError::temporary(
                    format!("no answer within {:?}", policy.attempt_timeout),
                    "timeout",
                ),
            };
        health.failing("notifier", &receiver, &error.to_string());
        let left = policy.retry_for.saturating_sub(started.elapsed());
        let wait = match error.class() {
            ErrorClass::Permanent => break Err(error.to_string()),
            ErrorClass::RateLimited {
                retry_after: Some(after),
            } => {
                if after > left {
                    break Err(format!(
                        "{error} (asked to wait {after:?}, beyond the {:?} of retries)",
                        policy.retry_for
                    ));
                }
                after
            }
            // The last wait is cut to the budget, so that the last attempt is made at
            // its end: an outage shorter than `retry_for` loses nothing.
            _ => backoff.min(left),
        };
        if left.is_zero() {
            break Err(format!(
                "{error} (after {attempt} attempts over {:?})",
                started.elapsed()
            ));
        }
        metrics.notification(&receiver, "retried");
        // Loud at first, then every tenth attempt: an outage is not a line a second.
        if attempt <= 2 || attempt % 10 == 0 {
            tracing::warn!(notifier = %receiver, attempt, error = %error, wait = ?wait, "notification failed; retrying");
        }
        tokio::time::sleep(wait).await;
        backoff = (backoff * 2).min(policy.max_backoff);
        attempt += 1;
    };
    if result.is_err() {
        metrics.notification(&receiver, "dead_lettered");
    }
    Outcome {
        receiver,
        group,
        record,
        result,
    }
}

/// Largest dead-letter file; beyond it deliveries that fail are only logged and counted.
const MAX_DEAD_LETTER_BYTES: u64 = 64 << 20;

/// The file deliveries that failed for good are written to, one JSON object per line:
/// `{"time", "notifier", "reason", "group"}`.
#[derive(Debug)]
pub struct DeadLetters {
    path: Option<PathBuf>,
    /// Lines not written (the file was full or could not be written).
    pub lost: u64,
}

impl DeadLetters {
    /// Dead letters at `path` (`None`: logged only).
    pub fn new(path: Option<PathBuf>) -> Self {
        Self { path, lost: 0 }
    }

    /// Writes one.
    pub fn write(&mut self, receiver: &str, group: &AlertGroup, reason: &str) {
        let Some(path) = &self.path else {
            self.lost += 1;
            return;
        };
        let line = serde_json::json!({
            "time": Timestamp::now(),
            "notifier": receiver,
            "reason": reason,
            "group": group,
        });
        let result = (|| -> std::io::Result<()> {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
            if size > MAX_DEAD_LETTER_BYTES {
                return Err(std::io::Error::other("dead-letter file full"));
            }
            let mut file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)?;
            let mut bytes = serde_json::to_vec(&line).map_err(std::io::Error::other)?;
            bytes.push(b'\n');
            file.write_all(&bytes)?;
            file.sync_data()
        })();
        if let Err(err) = result {
            self.lost += 1;
            tracing::error!(path = %path.display(), error = %err, "notification dead letter not written");
        }
    }
}
