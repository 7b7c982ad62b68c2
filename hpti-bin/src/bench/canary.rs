//! `hpti bench pipeline --alert-latency`: how long an event takes to reach a notifier.
//!
//! Canary events (a command `hpti-canary-N`) go through the pipeline among the traffic;
//! a `type: any` rule raises one alert per canary, routed with `group_wait = 0s` to a
//! webhook notifier whose receiver is an HTTP server in this process. The latency of a
//! canary is from its emission to the arrival of the request that names it.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use hdrhistogram::Histogram;
use hpti_core::component::{BuildContext, NotifierConfig as _};
use hpti_core::event::{Event, EventKind, Protocol};
use hpti_core::notify::Notifier;
use serde::Serialize;

/// The notifier id the canary rule routes to.
pub const NOTIFIER: &str = "bench-canary-hook";
/// The canary rule.
const RULE: &str = "name: bench-canary
type: any
filter:
  kind: command.input
  data.command: { startswith: 'hpti-canary-' }
query_key: data.command
severity: high
notify: [bench-canary-hook]
";
/// The marker a canary's command starts with.
const MARKER: &str = "hpti-canary-";
/// Canaries whose request has not arrived are kept at most this many.
const MAX_PENDING: usize = 100_000;

/// What the canaries measured.
#[derive(Debug, Serialize)]
pub struct AlertLatency {
    /// Canary events sent.
    pub sent: u64,
    /// Canaries whose notification arrived.
    pub received: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

#[derive(Default)]
struct Shared {
    sent_at: HashMap<u64, Instant>,
    latencies_us: Vec<u64>,
}

/// The canary's rule, receiver and bookkeeping.
pub struct Canary {
    shared: Arc<Mutex<Shared>>,
    url: String,
    next: u64,
    server: tokio::task::JoinHandle<()>,
}

impl Canary {
    /// Starts the webhook receiver on a loopback port.
    pub async fn start() -> anyhow::Result<Self> {
        let shared = Arc::new(Mutex::new(Shared::default()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}/hook", listener.local_addr()?);
        let state = shared.clone();
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |body: axum::body::Bytes| {
                let state = state.clone();
                async move {
                    let arrived = Instant::now();
                    let text = String::from_utf8_lossy(&body);
                    let mut shared = lock(&state);
                    for part in text.split(MARKER).skip(1) {
                        let digits: String =
                            part.chars().take_while(char::is_ascii_digit).collect();
                        if let Ok(n) = digits.parse::<u64>()
                            && let Some(sent) = shared.sent_at.remove(&n)
                        {
                            let us = arrived.duration_since(sent).as_micros();
                            shared
                                .latencies_us
                                .push(u64::try_from(us).unwrap_or(u64::MAX));
                        }
                    }
                    "ok"
                }
            }),
        );
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self {
            shared,
            url,
            next: 0,
            server,
        })
    }

    /// The canary rule.
    pub fn rule() -> anyhow::Result<hpti_alert::rules::RuleSpec> {
        hpti_alert::rules::RuleSpec::parse(RULE, Path::new("bench-canary.yml"))
            .map_err(|e| anyhow::anyhow!("{e}"))
    }

    /// The webhook notifier posting to the receiver.
    pub async fn notifier(&self, cx: &BuildContext) -> anyhow::Result<Arc<dyn Notifier>> {
        let config: hpti_alert::notifiers::webhook::WebhookNotifierConfig =
            serde_json::from_value(serde_json::json!({ "url": self.url }))?;
        config.build(cx).await.map_err(|e| anyhow::anyhow!("{e}"))
    }

    /// The next canary event, its emission time recorded now.
    pub fn event(&mut self) -> Event {
        let n = self.next;
        self.next += 1;
        let mut shared = lock(&self.shared);
        if shared.sent_at.len() < MAX_PENDING {
            shared.sent_at.insert(n, Instant::now());
        }
        Event::new(
            "ssh-eu-1",
            Protocol::Ssh,
            IpAddr::from([198, 51, 100, 77]),
            EventKind::CommandInput {
                command: format!("{MARKER}{n}"),
            },
        )
    }

    /// What was measured; stops the receiver.
    pub fn finish(self) -> AlertLatency {
        self.server.abort();
        let shared = lock(&self.shared);
        let mut histogram =
            Histogram::<u64>::new(3).unwrap_or_else(|_| super::unreachable_histogram());
        for us in &shared.latencies_us {
            let _ = histogram.record(*us);
        }
        let ms = |us: u64| us as f64 / 1000.0;
        AlertLatency {
            sent: self.next,
            received: shared.latencies_us.len() as u64,
            p50_ms: ms(histogram.value_at_quantile(0.50)),
            p99_ms: ms(histogram.value_at_quantile(0.99)),
            max_ms: ms(histogram.max()),
        }
    }
}

fn lock(shared: &Mutex<Shared>) -> std::sync::MutexGuard<'_, Shared> {
    shared
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
