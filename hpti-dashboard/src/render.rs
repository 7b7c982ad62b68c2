//! The templates (compiled into the binary) and how a page is rendered: whole, or only
//! its `main` block when the dashboard's script asks for a fragment (the window picker
//! and table links reload the content without a full page load).
//!
//! Every template is `.html`, so minijinja escapes every value it prints: an attacker's
//! username, command or URL is always text, never markup.

use axum::http::HeaderMap;
use axum::response::{Html, IntoResponse, Response};
use minijinja::{Environment, Value};

use crate::Dashboard;
use crate::error::PageError;
use crate::session::Login;

/// The header the dashboard's script sends to get only a page's `main` block.
pub(crate) const FRAGMENT_HEADER: &str = "x-hpti-fragment";

const TEMPLATES: &[(&str, &str)] = &[
    ("base.html", include_str!("../templates/base.html")),
    ("macros.html", include_str!("../templates/macros.html")),
    ("login.html", include_str!("../templates/login.html")),
    ("overview.html", include_str!("../templates/overview.html")),
    (
        "attackers.html",
        include_str!("../templates/attackers.html"),
    ),
    ("attacker.html", include_str!("../templates/attacker.html")),
    ("sessions.html", include_str!("../templates/sessions.html")),
    ("session.html", include_str!("../templates/session.html")),
    (
        "credentials.html",
        include_str!("../templates/credentials.html"),
    ),
    ("commands.html", include_str!("../templates/commands.html")),
    (
        "downloads.html",
        include_str!("../templates/downloads.html"),
    ),
    ("download.html", include_str!("../templates/download.html")),
    ("alerts.html", include_str!("../templates/alerts.html")),
    ("live.html", include_str!("../templates/live.html")),
];

/// The template environment with the dashboard's filters.
pub(crate) fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    for (name, source) in TEMPLATES {
        if let Err(err) = env.add_template(name, source) {
            // A broken template is a bug caught by the tests, which render every page.
            tracing::error!(template = name, error = %err, "dashboard template does not parse");
        }
    }
    env.add_filter("when", when);
    env.add_filter("num", num);
    env.add_filter("bytes", bytes);
    env.add_filter("short", short);
    env
}

/// `2026-12-07T06:31:56.123456Z` → `2026-12-07 06:31:56`.
fn when(value: Value) -> String {
    let text = value.as_str().map(str::to_owned).unwrap_or_default();
    match (text.get(..10), text.get(11..19)) {
        (Some(day), Some(time)) => format!("{day} {time}"),
        _ => text,
    }
}

/// `1234567` → `1,234,567`.
fn num(value: Value) -> String {
    let Some(n) = value.as_i64() else {
        return value.to_string();
    };
    let digits = n.unsigned_abs().to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    if n < 0 {
        out.push('-');
    }
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `1536` → `1.5 KiB`.
fn bytes(value: Value) -> String {
    let Some(n) = value.as_i64() else {
        return String::new();
    };
    let mut size = n as f64;
    for unit in ["B", "KiB", "MiB", "GiB"] {
        if size < 1024.0 || unit == "GiB" {
            return if unit == "B" {
                format!("{n} B")
            } else {
                format!("{size:.1} {unit}")
            };
        }
        size /= 1024.0;
    }
    format!("{n} B")
}

/// The first `len` characters of a long value (SHA-256s, session ids), with an ellipsis.
fn short(value: Value, len: Option<usize>) -> String {
    let text = value
        .as_str()
        .map(str::to_owned)
        .unwrap_or_else(|| value.to_string());
    let len = len.unwrap_or(12);
    if text.chars().count() <= len {
        text
    } else {
        let mut cut: String = text.chars().take(len).collect();
        cut.push('…');
        cut
    }
}

/// Renders `name` with `context` and the login's name, role and CSRF token.
pub(crate) fn page(
    dashboard: &Dashboard,
    name: &str,
    context: Value,
    login: Option<&Login>,
) -> Result<Response, PageError> {
    Ok(Html(render(dashboard, name, context, login, false)?).into_response())
}

/// [`page`], or only its `main` block when the request asked for a fragment.
pub(crate) fn view(
    dashboard: &Dashboard,
    name: &str,
    context: Value,
    login: &Login,
    headers: &HeaderMap,
) -> Result<Response, PageError> {
    let fragment = headers.contains_key(FRAGMENT_HEADER);
    Ok(Html(render(dashboard, name, context, Some(login), fragment)?).into_response())
}

fn render(
    dashboard: &Dashboard,
    name: &str,
    context: Value,
    login: Option<&Login>,
    fragment: bool,
) -> Result<String, PageError> {
    let template = dashboard.templates.get_template(name)?;
    let context = minijinja::context! {
        user => login.map(|l| l.caller.name.clone()),
        admin => login.is_some_and(|l| l.caller.role == hpti_api::Role::Admin),
        csrf => login.map(|l| l.csrf.clone()),
        ..context
    };
    if fragment {
        let mut rendered = template.render_captured(context)?;
        Ok(rendered.with_state_mut(|state| state.render_block("main"))?)
    } else {
        Ok(template.render(context)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_format_numbers_sizes_and_times() {
        assert_eq!(num(Value::from(1_234_567)), "1,234,567");
        assert_eq!(num(Value::from(-1000)), "-1,000");
        assert_eq!(num(Value::from(12)), "12");
        assert_eq!(bytes(Value::from(1536)), "1.5 KiB");
        assert_eq!(bytes(Value::from(100)), "100 B");
        assert_eq!(
            when(Value::from("2026-12-07T06:31:56.123456Z")),
            "2026-12-07 06:31:56"
        );
        assert_eq!(short(Value::from("abcdef"), Some(3)), "abc…");
    }

    #[test]
    fn every_template_parses() {
        let env = environment();
        for (name, _) in TEMPLATES {
            assert!(env.get_template(name).is_ok(), "{name}");
        }
    }
}
