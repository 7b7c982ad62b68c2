//! Logging in with an API token, the cookie that keeps it, and the CSRF tokens of forms.
//!
//! The cookie holds the token itself (HttpOnly, so no script reads it; SameSite=Strict,
//! so no other site's page sends it; Secure, so it never crosses plain HTTP except to a
//! loopback address, which browsers treat as secure). A revoked token logs its browsers
//! out within a second, as it does API clients. Forms carry an HMAC of the token under a
//! per-process key, checked in constant time, and state-changing requests must come from
//! the dashboard's own origin.

use axum::extract::{Form, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use hmac::{Hmac, Mac as _};
use hpti_api::{Caller, Role, SESSION_COOKIE};
use serde::Deserialize;
use subtle::ConstantTimeEq as _;

use crate::Dashboard;
use crate::error::PageError;

/// How long a login lasts in the browser.
const LOGIN_SECONDS: u64 = 12 * 3600;

/// Who is looking at a page, and the CSRF token their forms carry.
#[derive(Debug, Clone)]
pub(crate) struct Login {
    /// The token's name and role.
    pub caller: Caller,
    /// What the forms of this login must send back.
    pub csrf: String,
}

impl Login {
    /// Refuses a form whose CSRF token is not this login's.
    pub fn check_csrf(&self, sent: &str) -> Result<(), PageError> {
        if bool::from(self.csrf.as_bytes().ct_eq(sent.as_bytes())) {
            Ok(())
        } else {
            Err(PageError::new(
                StatusCode::FORBIDDEN,
                "This form has expired (or did not come from this dashboard): reload the page and try again.",
            ))
        }
    }

    /// Refuses callers that are not admins.
    pub fn require_admin(&self) -> Result<(), PageError> {
        if self.caller.role == Role::Admin {
            Ok(())
        } else {
            Err(PageError::new(
                StatusCode::FORBIDDEN,
                "Only an admin token may do this.",
            ))
        }
    }
}

fn csrf_token(dashboard: &Dashboard, token: &str) -> String {
    let Ok(mut mac) = Hmac::<sha2::Sha256>::new_from_slice(dashboard.csrf_key.as_slice()) else {
        return String::new();
    };
    mac.update(token.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// Lets through requests with a valid login cookie (and, for anything but GET and HEAD,
/// from this dashboard's origin); sends the others to the login page.
pub(crate) async fn require_login(
    State(dashboard): State<Dashboard>,
    mut request: Request,
    next: Next,
) -> Response {
    let token = hpti_api::session_token(request.headers()).map(str::to_owned);
    let caller = token
        .as_deref()
        .and_then(|token| dashboard.api.tokens().verify(token));
    let (Some(token), Some(caller)) = (token, caller) else {
        if request.method() == Method::GET {
            let next = request
                .uri()
                .path_and_query()
                .map_or("/", |pq| pq.as_str())
                .to_owned();
            let target = format!(
                "/login?{}",
                url::form_urlencoded::Serializer::new(String::new())
                    .append_pair("next", &next)
                    .finish()
            );
            return Redirect::to(&target).into_response();
        }
        return PageError::new(StatusCode::UNAUTHORIZED, "Log in first.").into_response();
    };
    if !matches!(*request.method(), Method::GET | Method::HEAD) && !same_origin(request.headers()) {
        return PageError::new(
            StatusCode::FORBIDDEN,
            "This request did not come from the dashboard's own pages.",
        )
        .into_response();
    }
    let csrf = csrf_token(&dashboard, &token);
    request.extensions_mut().insert(Login { caller, csrf });
    next.run(request).await
}

/// Whether a state-changing request came from a page of this origin: browsers send
/// `Sec-Fetch-Site` (and `Origin` on every POST); a request with neither is not from a
/// browser's cross-site form, so the CSRF token alone decides.
fn same_origin(headers: &HeaderMap) -> bool {
    if let Some(site) = headers.get("sec-fetch-site") {
        return site.as_bytes() == b"same-origin" || site.as_bytes() == b"none";
    }
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    let Some(host) = headers.get(header::HOST).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    origin
        .split_once("://")
        .is_some_and(|(_, authority)| authority.eq_ignore_ascii_case(host))
}

/// Where the login page sends the browser afterwards: only a path of this site.
fn local_target(next: Option<&str>) -> String {
    match next {
        Some(path)
            if path.starts_with('/')
                && !path.starts_with("//")
                && !path.contains('\\')
                && !path.chars().any(char::is_control) =>
        {
            path.to_owned()
        }
        _ => "/".to_owned(),
    }
}

/// The login page's query.
#[derive(Debug, Deserialize)]
pub(crate) struct LoginQuery {
    next: Option<String>,
}

/// `GET /login`.
pub(crate) async fn login_page(
    State(dashboard): State<Dashboard>,
    Query(query): Query<LoginQuery>,
) -> Result<Response, PageError> {
    let next = local_target(query.next.as_deref());
    crate::render::page(
        &dashboard,
        "login.html",
        minijinja::context! { title => "Log in", next, error => None::<String> },
        None,
    )
}

/// The login form.
#[derive(Debug, Deserialize)]
pub(crate) struct LoginForm {
    token: String,
    next: Option<String>,
}

/// `POST /login`: sets the cookie when the token is valid.
pub(crate) async fn login(
    State(dashboard): State<Dashboard>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Result<Response, PageError> {
    let next = local_target(form.next.as_deref());
    // Login CSRF (a foreign page logging the browser in as someone else).
    if !same_origin(&headers) {
        return Err(PageError::new(
            StatusCode::FORBIDDEN,
            "This login did not come from the dashboard's own page.",
        ));
    }
    let token = form.token.trim();
    let valid = !token.is_empty()
        // What `hpti token create` makes; anything else could not sit in a cookie.
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~'))
        && dashboard.api.tokens().verify(token).is_some();
    if !valid {
        tracing::info!("dashboard login refused: unknown token");
        let mut response = crate::render::page(
            &dashboard,
            "login.html",
            minijinja::context! { title => "Log in", next, error => Some("That token is not valid (or was revoked).") },
            None,
        )?;
        *response.status_mut() = StatusCode::UNAUTHORIZED;
        return Ok(response);
    }
    let cookie = format!(
        "{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Secure; Max-Age={LOGIN_SECONDS}"
    );
    let mut response = Redirect::to(&next).into_response();
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    Ok(response)
}

/// The logout form.
#[derive(Debug, Deserialize)]
pub(crate) struct LogoutForm {
    csrf: String,
}

/// `POST /logout`: clears the cookie.
pub(crate) async fn logout(
    axum::Extension(login): axum::Extension<Login>,
    Form(form): Form<LogoutForm>,
) -> Result<Response, PageError> {
    login.check_csrf(&form.csrf)?;
    let mut response = Redirect::to("/login").into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static(
            "hpti_session=; Path=/; HttpOnly; SameSite=Strict; Secure; Max-Age=0",
        ),
    );
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_are_followed_after_login() {
        assert_eq!(local_target(Some("/sessions?x=1")), "/sessions?x=1");
        for hostile in [
            "//evil.example/",
            "https://evil.example/",
            "/\\evil",
            "",
            "x",
        ] {
            assert_eq!(local_target(Some(hostile)), "/", "{hostile:?}");
        }
        assert_eq!(local_target(None), "/");
    }

    #[test]
    fn cross_site_posts_are_told_apart() {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, HeaderValue::from_static("127.0.0.1:8080"));
        assert!(same_origin(&headers));
        headers.insert(
            header::ORIGIN,
            HeaderValue::from_static("http://127.0.0.1:8080"),
        );
        assert!(same_origin(&headers));
        headers.insert(
            header::ORIGIN,
            HeaderValue::from_static("http://evil.example"),
        );
        assert!(!same_origin(&headers));
        headers.insert("sec-fetch-site", HeaderValue::from_static("cross-site"));
        assert!(!same_origin(&headers));
        headers.insert("sec-fetch-site", HeaderValue::from_static("same-origin"));
        assert!(same_origin(&headers));
    }
}
