//! The dashboard over HTTP on a real SQLite store holding the query suite's fixture
//! (moved to the last hour) and hostile strings: login, every page, the numbers shown,
//! escaping, CSRF, fragments and the live stream. The browser tests (hpti-bin's
//! `dashboard_browser.rs`) drive the same pages in Chromium.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests panic on failure by design

use std::sync::Arc;
use std::time::Duration;

use hpti_api::{ApiConfig, ApiState, Role, TokenStore};
use hpti_core::Event;
use hpti_core::alert_store::AlertStore as _;
use hpti_core::event::{EventKind, Protocol, Timestamp};
use hpti_core::sink::Sink as _;
use hpti_store::testing::{ADDRESS_A, ADDRESS_B, FIXTURE_BASE_MICROS, SHA_SHARED, fixture};
use hpti_store::{EventQueries, SqliteOptions, SqliteStore, Window};
use reqwest::StatusCode;
use reqwest::header::{CONTENT_SECURITY_POLICY, COOKIE, LOCATION, SET_COOKIE};

/// Attacker-controlled strings that would run script if printed as HTML.
const XSS_USER: &str = "<script>window.__xss=1</script>";
const XSS_COMMAND: &str = "<img src=x onerror=\"window.__xss=2\">";
const XSS_URL: &str = "http://198.51.100.66/\"><svg onload=alert(3)>";
const XSS_CLIENT: &str = "SSH-2.0-<b onmouseover=alert(4)>x</b>";

struct Dash {
    base: String,
    viewer: String,
    admin: String,
    store: Arc<SqliteStore>,
    alerts: Arc<hpti_store::SqliteAlertStore>,
    client: reqwest::Client,
    _dir: tempfile::TempDir,
}

/// The fixture moved to two hours ago.
fn recent_fixture() -> Vec<Event> {
    let shift = Timestamp::now().as_micros() - 7_200_000_000 - FIXTURE_BASE_MICROS;
    let mut events = fixture();
    for event in &mut events {
        event.time = Timestamp::from_micros(event.time.as_micros() + shift);
    }
    events
}

fn hostile(now: Timestamp) -> Vec<Event> {
    let ip: std::net::IpAddr = "192.0.2.66".parse().unwrap();
    let at = |s: i64| Timestamp::from_micros(now.as_micros() - 600_000_000 + s * 1_000_000);
    let event = |s, kind| {
        Event::new("ssh", Protocol::Ssh, ip, kind)
            .with_session("xss-session")
            .with_time(at(s))
    };
    vec![
        event(0, EventKind::SessionStarted),
        event(
            1,
            EventKind::ClientVersion {
                version: XSS_CLIENT.into(),
            },
        ),
        event(
            2,
            EventKind::LoginAttempt {
                username: XSS_USER.into(),
                password: Some(XSS_COMMAND.into()),
                key_type: None,
                key_fingerprint: None,
                method: hpti_core::event::AuthMethod::Password,
                success: true,
            },
        ),
        event(
            3,
            EventKind::CommandInput {
                command: XSS_COMMAND.into(),
            },
        ),
        event(
            4,
            EventKind::FileDownload {
                url: XSS_URL.into(),
                sha256: Some(SHA_SHARED.into()),
                size: Some(4),
                error: None,
            },
        ),
        event(
            5,
            EventKind::SessionClosed {
                duration_ms: 5000,
                recording: Some("recordings/xss-session.cast".into()),
            },
        ),
    ]
}

impl Dash {
    async fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(
            SqliteStore::open(SqliteOptions::new(dir.path().join("db/hpti.db")))
                .await
                .unwrap(),
        );
        let mut events = recent_fixture();
        events.extend(hostile(Timestamp::now()));
        let refs: Vec<&Event> = events.iter().collect();
        store.write(&refs).await.unwrap();
        // The shared file's bytes ("test") and the hostile session's recording.
        let artifact =
            hpti_core::file::artifact_path(&dir.path().join("artifacts"), SHA_SHARED).unwrap();
        std::fs::create_dir_all(artifact.parent().unwrap()).unwrap();
        std::fs::write(&artifact, "test").unwrap();
        std::fs::create_dir_all(dir.path().join("recordings")).unwrap();
        std::fs::write(
            dir.path().join("recordings/xss-session.cast"),
            "{\"version\": 2, \"width\": 80, \"height\": 24}\n[0.5, \"o\", \"$ uname -a\\r\\n\"]\n",
        )
        .unwrap();
        let tokens = TokenStore::open(dir.path());
        let viewer = tokens.create("analyst", Role::Viewer).unwrap();
        let admin = tokens.create("ops", Role::Admin).unwrap();
        let alerts = Arc::new(
            hpti_store::SqliteAlertStore::open(&dir.path().join("db/hpti-alerts.db"))
                .await
                .unwrap(),
        );
        let now = Timestamp::now();
        let alert = hpti_core::alert::Alert::new(
            "ssh-brute-force",
            hpti_core::alert::Severity::High,
            XSS_USER,
            format!("{XSS_USER} tried 50 logins in 1m"),
            now,
        );
        alerts
            .save_alert(&hpti_core::alert_store::StoredAlert::new(alert, now))
            .await
            .unwrap();
        let state = ApiState::new(store.clone(), tokens, &ApiConfig::default())
            .with_data_dir(dir.path())
            .with_alerts(alerts.clone());
        let app = hpti_api::router(state.clone()).merge(hpti_dashboard::router(state));
        let (addr, _server) = hpti_api::serve(std::net::SocketAddr::from(([127, 0, 0, 1], 0)), app)
            .await
            .unwrap();
        Self {
            base: format!("http://{addr}"),
            viewer,
            admin,
            store,
            alerts,
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            _dir: dir,
        }
    }

    fn cookie(token: &str) -> String {
        format!("hpti_session={token}")
    }

    /// A page as `token`'s browser gets it: status, CSP header, body.
    async fn page_as(&self, token: &str, path: &str) -> (StatusCode, Option<String>, String) {
        let response = self
            .client
            .get(format!("{}{path}", self.base))
            .header(COOKIE, Self::cookie(token))
            .send()
            .await
            .unwrap();
        let status = response.status();
        let csp = response
            .headers()
            .get(CONTENT_SECURITY_POLICY)
            .map(|v| v.to_str().unwrap().to_owned());
        (status, csp, response.text().await.unwrap())
    }

    async fn page(&self, path: &str) -> String {
        let (status, csp, body) = self.page_as(&self.viewer, path).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        let csp = csp.unwrap_or_else(|| panic!("{path} has no Content-Security-Policy"));
        assert!(
            csp.contains("script-src 'self'")
                && !csp.contains("unsafe-inline")
                && !csp.contains("'unsafe-eval'"),
            "{csp}"
        );
        body
    }

    /// [`page`](Self::page) with the escapes of plain characters undone (minijinja also
    /// escapes `/`), for checking what text a page shows. Checks for markup use the raw
    /// page.
    async fn text(&self, path: &str) -> String {
        unescape(&self.page(path).await)
    }
}

fn unescape(html: &str) -> String {
    html.replace("&#x2f;", "/")
        .replace("&quot;", "\"")
        .replace("&#x27;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

impl Dash {}

/// The text of the element whose attribute `data-stat` is `name` (the overview's totals).
fn stat(html: &str, name: &str) -> String {
    let marker = format!("data-stat=\"{name}\">");
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no {name} stat"))
        + marker.len();
    html[start..].split('<').next().unwrap().to_owned()
}

#[tokio::test]
async fn without_a_login_pages_send_the_browser_to_the_login_page() {
    let dash = Dash::start().await;
    for path in [
        "/",
        "/attackers",
        "/sessions/a1",
        "/downloads?window=7d",
        "/live/events",
    ] {
        let response = dash
            .client
            .get(format!("{}{path}", dash.base))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{path}");
        let location = response.headers()[LOCATION].to_str().unwrap().to_owned();
        assert!(location.starts_with("/login?next="), "{path}: {location}");
    }
    // A revoked or made-up cookie is no login either.
    let (status, _, _) = dash.page_as("hpti_made-up", "/").await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    // Forms posted without a login are refused, not redirected.
    let response = dash
        .client
        .post(format!("{}/alerts/silences", dash.base))
        .form(&[
            ("csrf", "x"),
            ("matchers", "rule=x"),
            ("duration", "1h"),
            ("comment", ""),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn the_login_form_sets_a_strict_http_only_secure_cookie() {
    let dash = Dash::start().await;
    let login = dash
        .client
        .get(format!("{}/login?next=%2Fsessions", dash.base))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), StatusCode::OK);
    assert!(login.headers().contains_key(CONTENT_SECURITY_POLICY));
    assert!(unescape(&login.text().await.unwrap()).contains("value=\"/sessions\""));

    let post = |token: &str, next: &str| {
        dash.client
            .post(format!("{}/login", dash.base))
            .form(&[("token", token), ("next", next)])
            .send()
    };
    let refused = post("not-a-token", "/").await.unwrap();
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    assert!(refused.headers().get(SET_COOKIE).is_none());

    let accepted = post(&dash.viewer, "/sessions").await.unwrap();
    assert_eq!(accepted.status(), StatusCode::SEE_OTHER);
    assert_eq!(accepted.headers()[LOCATION], "/sessions");
    let cookie = accepted.headers()[SET_COOKIE].to_str().unwrap();
    for attribute in ["HttpOnly", "SameSite=Strict", "Secure", "Path=/"] {
        assert!(cookie.contains(attribute), "{cookie}");
    }
    assert!(cookie.starts_with(&format!("hpti_session={}", dash.viewer)));

    // An open redirect through `next` goes home instead.
    let offsite = post(&dash.viewer, "//evil.example/").await.unwrap();
    assert_eq!(offsite.headers()[LOCATION], "/");

    // A login posted from another site's page is refused (login CSRF).
    let cross = dash
        .client
        .post(format!("{}/login", dash.base))
        .header("origin", "http://evil.example")
        .form(&[("token", dash.viewer.as_str()), ("next", "/")])
        .send()
        .await
        .unwrap();
    assert_eq!(cross.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn the_overview_shows_what_the_store_answers() {
    let dash = Dash::start().await;
    let html = dash.text("/?window=24h").await;
    let since = Timestamp::from_micros(Timestamp::now().as_micros() - 86_400_000_000);
    let window = Window::default().since(since).limit(10_000);
    let attackers = dash.store.attackers(window).await.unwrap();
    let series = dash
        .store
        .timeseries(window, 3_600_000_000, None)
        .await
        .unwrap();
    let count = |kind: &str| -> u64 {
        series
            .iter()
            .filter(|b| b.kind == kind)
            .map(|b| b.count)
            .sum()
    };
    let total: u64 = series.iter().map(|b| b.count).sum();
    assert_eq!(stat(&html, "events"), total.to_string());
    assert_eq!(stat(&html, "attackers"), attackers.len().to_string());
    assert_eq!(stat(&html, "logins"), count("login.attempt").to_string());
    assert_eq!(stat(&html, "commands"), count("command.input").to_string());
    assert_eq!(stat(&html, "downloads"), count("file.download").to_string());
    assert_eq!(
        stat(&html, "sessions"),
        count("session.started").to_string()
    );
    // The fixture: 6 logins (5 + 1 hostile), 5 command lines (4 + 1), 4 downloads (3 + 1).
    assert_eq!(
        (
            stat(&html, "logins"),
            stat(&html, "commands"),
            stat(&html, "downloads")
        ),
        ("6".into(), "5".into(), "4".into())
    );
    // The map shades the fixture's country, and the top lists show the fixture's rows.
    let country = attackers.iter().find_map(|a| a.country.clone()).unwrap();
    assert!(
        html.contains(&format!("class=\"c5\" data-country=\"{country}\"")),
        "{country}"
    );
    assert!(html.contains("uname -a"));
    assert!(html.contains("SSH-2.0-libssh_0.9.6"));
    assert!(html.contains(ADDRESS_A) && html.contains(ADDRESS_B));
    // The last hour has only the hostile session (ten minutes ago).
    let hour = dash.page("/?window=1h").await;
    assert_eq!(stat(&hour, "commands"), "1");
}

#[tokio::test]
async fn every_page_renders_the_fixture() {
    let dash = Dash::start().await;
    let cases: &[(&str, &[&str])] = &[
        ("/attackers", &[ADDRESS_A, ADDRESS_B, "192.0.2.66"]),
        (
            &format!("/attackers/{ADDRESS_A}"),
            &["root", "uname -a", "Enrichment", "a1"],
        ),
        ("/sessions", &["libssh", ADDRESS_B, "/sessions/a1"]),
        ("/sessions?protocol=telnet", &[ADDRESS_B]),
        (
            "/sessions/a1",
            &[
                "SSH-2.0-libssh_0.9.6",
                "wget http://198.51.100.9/x.sh",
                "no terminal recording",
            ],
        ),
        ("/credentials", &["123456", "admin"]),
        ("/commands", &["cat /proc/cpuinfo", "uname -a"]),
        (
            "/commands?show=uname+-a",
            &["Sessions that ran", "/sessions/a1", "/sessions/b2"],
        ),
        (
            "/downloads",
            &[&SHA_SHARED[..16], "http://203.0.113.99/x.sh"],
        ),
        (
            &format!("/downloads/{SHA_SHARED}"),
            &["Preview", "test", "only admin tokens may download it"],
        ),
        ("/alerts", &["ssh-brute-force", "firing"]),
        ("/live", &["data-source=\"/live/events\""]),
    ];
    for (path, expected) in cases {
        let html = dash.text(path).await;
        for text in *expected {
            assert!(html.contains(text), "{path} lacks {text:?}");
        }
    }
    // Filters narrow the tables.
    let telnet = dash.text("/sessions?protocol=telnet").await;
    assert!(!telnet.contains("libssh"));
    let filtered = dash.text("/credentials?username=adm").await;
    assert!(filtered.contains("admin") && !filtered.contains(">123456<"));
    // The session with a recording gets the player, reading the API with the cookie.
    let replay = dash.text("/sessions/xss-session").await;
    assert!(replay.contains("data-cast=\"/api/v1/sessions/xss-session/recording\""));
    assert!(replay.contains("/assets/vendor/asciinema-player/asciinema-player.min.js"));
    let (status, _, cast) = dash
        .page_as(&dash.viewer, "/api/v1/sessions/xss-session/recording")
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(cast.starts_with("{\"version\": 2"));
    // Admins get the zipped file; the API serves it on the cookie too.
    let (_, _, admin_view) = dash
        .page_as(&dash.admin, &format!("/downloads/{SHA_SHARED}"))
        .await;
    assert!(unescape(&admin_view).contains(&format!("/api/v1/downloads/{SHA_SHARED}/content")));
    let (status, _, _) = dash
        .page_as(
            &dash.admin,
            &format!("/api/v1/downloads/{SHA_SHARED}/content"),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, _) = dash
        .page_as(
            &dash.viewer,
            &format!("/api/v1/downloads/{SHA_SHARED}/content"),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Bad parameters are a 400 that names them; unknown things a 404.
    for (path, status, name) in [
        ("/?window=2w", StatusCode::BAD_REQUEST, "window"),
        ("/attackers/not-an-ip", StatusCode::BAD_REQUEST, "address"),
        ("/downloads/abc", StatusCode::BAD_REQUEST, "sha256"),
        ("/sessions/no-such-session", StatusCode::NOT_FOUND, ""),
        (
            "/sessions?logged_in=maybe",
            StatusCode::BAD_REQUEST,
            "logged_in",
        ),
    ] {
        let (got, csp, body) = dash.page_as(&dash.viewer, path).await;
        assert_eq!(got, status, "{path}: {body}");
        assert!(csp.is_some(), "{path}: error pages carry the CSP too");
        assert!(body.contains(name), "{path}: {body}");
    }
}

#[tokio::test]
async fn sorting_paging_and_fragments_keep_permalinks() {
    let dash = Dash::start().await;
    let html = dash.text("/credentials?sort=username&dir=asc").await;
    let admin = html.find(">admin<").unwrap();
    let root = html.find(">root<").unwrap();
    assert!(admin < root, "sorted by username ascending");
    let html = dash.text("/credentials?sort=username&dir=desc").await;
    assert!(html.find(">root<").unwrap() < html.find(">admin<").unwrap());
    // The header link flips the direction and keeps the window.
    let html = dash
        .text("/credentials?window=7d&sort=username&dir=desc")
        .await;
    assert!(
        html.contains("href=\"/credentials?window=7d&sort=username&dir=asc\""),
        "{html}"
    );
    // The script's fragment request gets only the main block.
    let fragment = dash
        .client
        .get(format!("{}/credentials?window=1h", dash.base))
        .header(COOKIE, Dash::cookie(&dash.viewer))
        .header("x-hpti-fragment", "1")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!fragment.contains("<html") && fragment.contains("<h1>Credentials</h1>"));
}

#[tokio::test]
async fn attacker_strings_are_escaped_on_every_page() {
    let dash = Dash::start().await;
    let pages = [
        "/".to_owned(),
        "/attackers".into(),
        "/attackers/192.0.2.66".into(),
        "/sessions".into(),
        "/sessions/xss-session".into(),
        "/credentials".into(),
        "/commands".into(),
        format!("/commands?show={}", url_escape(XSS_COMMAND)),
        "/downloads".into(),
        format!("/downloads/{SHA_SHARED}"),
        "/alerts".into(),
    ];
    let payloads = [XSS_USER, XSS_COMMAND, XSS_URL, XSS_CLIENT];
    for path in &pages {
        let html = dash.page(path).await;
        for payload in payloads {
            assert!(
                !html.contains(payload),
                "{path} prints {payload:?} unescaped"
            );
        }
        // No markup from a payload survives anywhere.
        for tag in [
            "<script>window",
            "<img src=x",
            "<svg onload",
            "<b onmouseover",
        ] {
            assert!(!html.contains(tag), "{path} has {tag:?}");
        }
    }
    // They are shown, as text.
    let html = dash.page("/credentials").await;
    assert!(
        html.contains("&lt;script&gt;window.__xss=1&lt;&#x2f;script&gt;")
            || html.contains("&lt;script&gt;window.__xss=1&lt;/script&gt;"),
        "escaped username shown"
    );
}

fn url_escape(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

#[tokio::test]
async fn acknowledging_and_silencing_need_an_admin_and_the_forms_token() {
    let dash = Dash::start().await;
    let fingerprint = dash.alerts.alerts(true, 10).await.unwrap()[0]
        .alert
        .fingerprint
        .to_string();
    // The admin's page has the form and its token.
    let html = dash.page_as(&dash.admin, "/alerts").await.2;
    let marker = "name=\"csrf\" value=\"";
    let start = html.find(marker).unwrap() + marker.len();
    let csrf = html[start..].split('"').next().unwrap().to_owned();
    assert_eq!(csrf.len(), 64);
    let ack = |token: &str, csrf: &str, origin: Option<&str>| {
        let mut request = dash
            .client
            .post(format!("{}/alerts/{fingerprint}/ack", dash.base))
            .header(COOKIE, Dash::cookie(token))
            .form(&[("csrf", csrf)]);
        if let Some(origin) = origin {
            request = request.header("origin", origin);
        }
        request.send()
    };
    // Wrong token, another site, a viewer (with the viewer's own token): refused.
    assert_eq!(
        ack(&dash.admin, "0".repeat(64).as_str(), None)
            .await
            .unwrap()
            .status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        ack(&dash.admin, &csrf, Some("http://evil.example"))
            .await
            .unwrap()
            .status(),
        StatusCode::FORBIDDEN
    );
    let viewer_html = dash.page("/alerts").await;
    assert!(
        !viewer_html.contains("Acknowledge</button>"),
        "viewers get no ack button"
    );
    let viewer_csrf = {
        let start = viewer_html.find(marker).unwrap() + marker.len();
        viewer_html[start..].split('"').next().unwrap().to_owned()
    };
    assert_ne!(viewer_csrf, csrf, "each login has its own form token");
    assert_eq!(
        ack(&dash.viewer, &viewer_csrf, None)
            .await
            .unwrap()
            .status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        ack(&dash.viewer, &csrf, None).await.unwrap().status(),
        StatusCode::FORBIDDEN
    );
    assert!(
        dash.alerts.alerts(true, 10).await.unwrap()[0]
            .acked
            .is_none(),
        "nothing refused was written"
    );
    // The admin with the form's token, from the dashboard's origin.
    let origin = dash.base.clone();
    let done = ack(&dash.admin, &csrf, Some(&origin)).await.unwrap();
    assert_eq!(done.status(), StatusCode::SEE_OTHER);
    let acked = dash.alerts.alerts(true, 10).await.unwrap()[0]
        .acked
        .clone()
        .unwrap();
    assert_eq!(acked.by, "dashboard:ops");

    let silence = |matchers: &str, duration: &str| {
        dash.client
            .post(format!("{}/alerts/silences", dash.base))
            .header(COOKIE, Dash::cookie(&dash.admin))
            .form(&[
                ("csrf", csrf.as_str()),
                ("matchers", matchers),
                ("duration", duration),
                ("comment", "maintenance <b>"),
            ])
            .send()
    };
    assert_eq!(
        silence("not a matcher", "2h").await.unwrap().status(),
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        silence("rule=ssh-brute-force", "200d")
            .await
            .unwrap()
            .status(),
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        silence("rule=ssh-brute-force", "2h")
            .await
            .unwrap()
            .status(),
        StatusCode::SEE_OTHER
    );
    let silences = dash.alerts.silences().await.unwrap();
    assert_eq!(silences.len(), 1);
    assert_eq!(silences[0].created_by, "dashboard:ops");
    let html = dash.page("/alerts").await;
    assert!(html.contains("maintenance &lt;b&gt;"));

    // Logging out needs the token too, and clears the cookie.
    let out = dash
        .client
        .post(format!("{}/logout", dash.base))
        .header(COOKIE, Dash::cookie(&dash.admin))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), StatusCode::SEE_OTHER);
    assert!(
        out.headers()[SET_COOKIE]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
}

#[tokio::test]
async fn the_live_stream_sends_new_events_as_they_are_stored() {
    let dash = Dash::start().await;
    let mut response = dash
        .client
        .get(format!("{}/live/events", dash.base))
        .header(COOKIE, Dash::cookie(&dash.viewer))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let mut received = String::new();
    // The backlog first: the newest event stored (the hostile session's close).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !received.contains("session.closed") {
        let chunk = tokio::time::timeout_at(deadline, response.chunk())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        received.push_str(&String::from_utf8_lossy(&chunk));
    }
    let fresh = Event::new(
        "ssh",
        Protocol::Ssh,
        "192.0.2.99".parse().unwrap(),
        EventKind::CommandInput {
            command: "echo live-marker".into(),
        },
    );
    dash.store.write(&[&fresh]).await.unwrap();
    while !received.contains("live-marker") {
        let chunk = tokio::time::timeout_at(deadline, response.chunk())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        received.push_str(&String::from_utf8_lossy(&chunk));
    }
    let line = received
        .lines()
        .find(|l| l.contains("live-marker"))
        .unwrap();
    let row: serde_json::Value =
        serde_json::from_str(line.trim_start_matches("data:").trim()).unwrap();
    assert_eq!(row["kind"], "command.input");
    assert_eq!(row["src_ip"], "192.0.2.99");
    assert_eq!(row["id"], fresh.id.to_string());
}
