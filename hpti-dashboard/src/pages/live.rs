//! The live view: new events as they are stored, pushed to the page as Server-Sent
//! Events. The stream reads the store (so it works wherever the store is, in `hpti run`
//! or a separate API process) once a second, after the newest event it sent.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::Extension;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use hpti_core::Event;
use hpti_core::event::Timestamp;
use hpti_store::{EventFilter, EventQueries, Window};
use serde::Serialize;

use crate::Dashboard;
use crate::charts::kind_class;
use crate::error::PageError;
use crate::session::Login;

/// Events sent when the page opens.
const BACKLOG: u32 = 25;
/// Most events sent per poll (a flood is sampled, not buffered).
const PER_POLL: u32 = 200;
/// How often the store is asked.
const POLL: Duration = Duration::from_secs(1);
/// Most live streams open at once (each polls the store).
const MAX_STREAMS: usize = 32;

/// An event as a table row shows it: every attacker-controlled string stays a string
/// (the templates escape it; the live script sets it as text).
#[derive(Debug, Clone, Serialize)]
pub(crate) struct EventRow {
    id: String,
    pub(crate) time: String,
    kind: &'static str,
    class: String,
    sensor: String,
    protocol: String,
    src_ip: String,
    session: Option<String>,
    summary: String,
}

/// What one event says, in a line.
pub(crate) fn row(event: &Event) -> EventRow {
    let summary = event.kind.detail();
    EventRow {
        id: event.id.to_string(),
        time: serde_json::to_value(event.time)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default(),
        kind: event.kind.name(),
        class: kind_class(event.kind.name()),
        sensor: event.sensor.clone(),
        protocol: event.protocol.as_str().to_owned(),
        src_ip: event.src_ip.to_string(),
        session: event.session.clone(),
        summary,
    }
}

/// `GET /live`.
pub(crate) async fn page(
    State(dashboard): State<Dashboard>,
    Extension(login): Extension<Login>,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    let context = minijinja::context! { title => "Live", nav => "live" };
    crate::render::view(&dashboard, "live.html", context, &login, &headers)
}

/// Bounds the open streams.
fn streams() -> &'static Arc<tokio::sync::Semaphore> {
    static STREAMS: std::sync::OnceLock<Arc<tokio::sync::Semaphore>> = std::sync::OnceLock::new();
    STREAMS.get_or_init(|| Arc::new(tokio::sync::Semaphore::new(MAX_STREAMS)))
}

/// `GET /live/events`: the stream (`text/event-stream`), one `message` per event with
/// the [`EventRow`] as JSON, oldest first.
pub(crate) async fn stream(State(dashboard): State<Dashboard>) -> Response {
    let Ok(permit) = streams().clone().try_acquire_owned() else {
        return PageError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "Too many live views are open; close one and reload.",
        )
        .into_response();
    };
    let store = dashboard.api.event_queries().clone();
    let state = Follow {
        store,
        last: None,
        first: true,
        pending: Vec::new(),
        _permit: permit,
    };
    let events = futures::stream::unfold(state, |mut state| async move {
        loop {
            if let Some(row) = state.pending.pop() {
                let data = serde_json::to_string(&row).unwrap_or_default();
                return Some((Ok::<_, Infallible>(SseEvent::default().data(data)), state));
            }
            if !state.first {
                tokio::time::sleep(POLL).await;
            }
            state.poll().await;
        }
    });
    Sse::new(events)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response()
}

/// A stream's position.
struct Follow {
    store: Arc<dyn EventQueries>,
    /// The newest event sent: its time and id.
    last: Option<(Timestamp, String)>,
    first: bool,
    /// Rows to send, newest first (popped from the end: oldest first).
    pending: Vec<EventRow>,
    _permit: tokio::sync::OwnedSemaphorePermit,
}

impl Follow {
    async fn poll(&mut self) {
        let (window, limit) = match &self.last {
            None => (Window::default().limit(BACKLOG), BACKLOG),
            Some((time, _)) => (Window::default().since(*time).limit(PER_POLL), PER_POLL),
        };
        self.first = false;
        let page = match self
            .store
            .events(window.limit(limit), &EventFilter::default(), None)
            .await
        {
            Ok(page) => page,
            Err(err) => {
                tracing::warn!(error = %err, "live view: the store failed");
                return;
            }
        };
        let last = self.last.clone();
        // Newest first; keep those after the last one sent (same-time events by id).
        let fresh: Vec<&Event> = page
            .events
            .iter()
            .filter(|e| match &last {
                None => true,
                Some((time, id)) => e.time > *time || (e.time == *time && e.id.to_string() > *id),
            })
            .collect();
        if let Some(newest) = fresh.first() {
            self.last = Some((newest.time, newest.id.to_string()));
        }
        self.pending = fresh.into_iter().map(row).collect();
    }
}
