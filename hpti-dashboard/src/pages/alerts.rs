//! Alerts from the alert manager's store: state, acknowledgement, and silences. Acking
//! and silencing change state, so they are admin-only forms with CSRF tokens.

use axum::Extension;
use axum::extract::{Form, Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use hpti_core::alert_store::{Acknowledgement, LabelMatcher, Silence};
use hpti_core::event::Timestamp;
use serde::Deserialize;

use crate::Dashboard;
use crate::error::PageError;
use crate::session::Login;

/// Most alerts listed.
const MAX_ALERTS: usize = 500;

/// Longest silence.
const MAX_SILENCE: std::time::Duration = std::time::Duration::from_secs(90 * 86_400);

fn store(
    dashboard: &Dashboard,
) -> Result<&std::sync::Arc<dyn hpti_core::alert_store::AlertStore>, PageError> {
    dashboard.api.alert_store().ok_or_else(|| {
        PageError::new(
            StatusCode::NOT_FOUND,
            "This store keeps no alerts (alerting needs a query store that can hold them).",
        )
    })
}

fn failed(err: hpti_core::alert_store::AlertStoreError) -> PageError {
    tracing::error!(error = %err, "dashboard: the alert store failed");
    PageError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "The alert store failed; the server's log says why.",
    )
}

/// `GET /alerts`: `state=firing` (default) or `all`.
pub(crate) async fn list(
    State(dashboard): State<Dashboard>,
    Extension(login): Extension<Login>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, PageError> {
    let query = super::query(raw);
    let all = query.get("state") == Some("all");
    let store = store(&dashboard)?;
    let alerts = store.alerts(!all, MAX_ALERTS).await.map_err(failed)?;
    let silences = store.silences().await.map_err(failed)?;
    let now = Timestamp::now();
    let alerts: Vec<_> = alerts
        .iter()
        .map(|stored| {
            minijinja::context! {
                alert => stored.alert,
                fingerprint => stored.alert.fingerprint.to_string(),
                firing => stored.is_firing(),
                acked => stored.acked,
                updated_at => stored.updated_at,
            }
        })
        .collect();
    let silences: Vec<_> = silences
        .iter()
        .map(|s| {
            minijinja::context! {
                matchers => s.matchers.iter().map(ToString::to_string).collect::<Vec<_>>().join(", "),
                starts_at => s.starts_at,
                ends_at => s.ends_at,
                created_by => s.created_by,
                comment => s.comment,
                active => s.is_active(now),
            }
        })
        .collect();
    let context = minijinja::context! {
        title => "Alerts",
        nav => "alerts",
        alerts,
        silences,
        all,
        notice => query.get("done"),
    };
    crate::render::view(&dashboard, "alerts.html", context, &login, &headers)
}

/// The ack form.
#[derive(Debug, Deserialize)]
pub(crate) struct AckForm {
    csrf: String,
}

/// `POST /alerts/{fingerprint}/ack`.
pub(crate) async fn acknowledge(
    State(dashboard): State<Dashboard>,
    Extension(login): Extension<Login>,
    Path(fingerprint): Path<String>,
    Form(form): Form<AckForm>,
) -> Result<Response, PageError> {
    login.check_csrf(&form.csrf)?;
    login.require_admin()?;
    if fingerprint.len() > 128 || !fingerprint.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(PageError::bad_parameter(
            "fingerprint",
            "not an alert fingerprint",
        ));
    }
    let ack = Acknowledgement {
        by: format!("dashboard:{}", login.caller.name),
        at: Timestamp::now(),
    };
    let found = store(&dashboard)?
        .acknowledge(&fingerprint, &ack)
        .await
        .map_err(failed)?;
    if !found {
        return Err(PageError::new(StatusCode::NOT_FOUND, "No such alert."));
    }
    tracing::info!(%fingerprint, by = %ack.by, "alert acknowledged in the dashboard");
    Ok(Redirect::to("/alerts?done=acknowledged").into_response())
}

/// The silence form.
#[derive(Debug, Deserialize)]
pub(crate) struct SilenceForm {
    csrf: String,
    /// Matchers, one per line or comma-separated (`rule=ssh-brute-force`).
    matchers: String,
    /// How long (`2h`, `1d`).
    duration: String,
    comment: String,
}

/// `POST /alerts/silences`.
pub(crate) async fn silence(
    State(dashboard): State<Dashboard>,
    Extension(login): Extension<Login>,
    Form(form): Form<SilenceForm>,
) -> Result<Response, PageError> {
    login.check_csrf(&form.csrf)?;
    login.require_admin()?;
    let matchers = form
        .matchers
        .split(['\n', ','])
        .map(str::trim)
        .filter(|m| !m.is_empty())
        .map(LabelMatcher::parse)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| PageError::bad_parameter("matchers", e))?;
    if matchers.is_empty() || matchers.len() > 16 {
        return Err(PageError::bad_parameter(
            "matchers",
            "one to sixteen matchers",
        ));
    }
    let duration = humantime::parse_duration(form.duration.trim())
        .map_err(|e| PageError::bad_parameter("duration", e))?;
    if duration.is_zero() || duration > MAX_SILENCE {
        return Err(PageError::bad_parameter("duration", "between 1s and 90d"));
    }
    let comment: String = form.comment.chars().take(1000).collect();
    let now = Timestamp::now();
    let micros = i64::try_from(duration.as_micros()).unwrap_or(i64::MAX);
    let silence = Silence::new(
        matchers,
        now,
        Timestamp::from_micros(now.as_micros().saturating_add(micros)),
        format!("dashboard:{}", login.caller.name),
        comment,
    );
    store(&dashboard)?
        .save_silence(&silence)
        .await
        .map_err(failed)?;
    tracing::info!(id = %silence.id, by = %silence.created_by, "silence created in the dashboard");
    Ok(Redirect::to("/alerts?done=silenced").into_response())
}
