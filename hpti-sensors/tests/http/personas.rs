//! WordPress and phpMyAdmin personas against the captures of the real products
//! (`testdata/http/wordpress-debian/`, `testdata/http/phpmyadmin-debian/`): the sensor
//! replays each capture's request and must answer byte for byte (`compare_captures`;
//! masks only for per-request random values and for dates of a clock other than the
//! capture's), and what a client sends and a page echoes stays escaped.

use super::AppMount;

use super::{Harness, compare_captures, compare_gzip_capture, raw_exchange};

async fn wordpress_host() -> Harness {
    Harness::start(|c| {
        c.app = "wordpress".into();
        c.apps = vec![AppMount {
            app: "phpmyadmin".into(),
            host: None,
            path: Some("/phpmyadmin".into()),
        }];
    })
    .await
}

async fn phpmyadmin_host() -> Harness {
    Harness::start(|c| {
        c.app = "apache".into();
        c.apps = vec![AppMount {
            app: "phpmyadmin".into(),
            host: None,
            path: Some("/phpmyadmin".into()),
        }];
    })
    .await
}

/// WordPress's per-request values: the wp-login nonce (random per request in the
/// sensor; WordPress keeps one for 12 hours) and the OPML file's creation date (now).
const WORDPRESS_MASKS: &[(&str, &str)] = &[
    (r#""nonce":"[0-9a-f]{10}""#, r#""nonce":"<nonce>""#),
    (
        r"<dateCreated>[^<]*</dateCreated>",
        "<dateCreated><now></dateCreated>",
    ),
];

/// phpMyAdmin's per-request values: session ids, token, and its own dates (now in
/// `Expires`, now + 1 h in messages.php's `Expires`, now + 30 days in the pma_lang
/// cookie). Fixed dates (`Expires: Wed, 11 Jan 1984 ...`, the cookie deletion's 1970)
/// stay compared.
const PHPMYADMIN_MASKS: &[(&str, &str)] = &[
    (r"phpMyAdmin=[0-9a-v]{26};", "phpMyAdmin=<sid>;"),
    (
        r#"name="set_session" value="[0-9a-v]{26}""#,
        r#"name="set_session" value="<sid>""#,
    ),
    (r#"token:"[0-9a-f]{32}""#, r#"token:"<token>""#),
    (
        r#"name="token" value="[0-9a-f]{32}""#,
        r#"name="token" value="<token>""#,
    ),
    (r"(?m)^Expires: [^\r\n]* \+0000", "Expires: <date> +0000"),
    (
        r"(?m)^Expires: [A-Z][a-z]{2}, [0-9]{2} [A-Z][a-z]{2} 20[0-9]{2} [0-9:]{8} GMT",
        "Expires: <date> GMT",
    ),
    (
        r"pma_lang=en; expires=[^;]*;",
        "pma_lang=en; expires=<date>;",
    ),
];

/// Every WordPress capture but these (features the sensor lacks, or what a remote
/// client cannot see):
/// * `get-root-gzip`: compared by `compare_gzip_capture` (zlib's bytes are not copied);
/// * `get-root-host-ip`, `get-root-http10-nohost`: Debian's wp-config.php answers
///   `HTTP/1.0 404` ("Neither /etc/wordpress/config-<host>.php nor ...") to a Host it has
///   no config file for;
/// * `get-root-host-noport`, `get-wp-login-host-noport`: WordPress builds its URLs from
///   the stored site URL, not from the Host header (the sensor uses the Host);
/// * `head-wp-includes-jquery`: the persona does not ship wp-includes' 89 KB jquery.min.js;
/// * `get-server-status`: from loopback only (a remote client gets Apache's 403:
///   `get-server-status-remote-sim`).
const WORDPRESS_CASES: &[&str] = &[
    // The blog: home, HEAD, keep-alive, close, HTTP/1.0 (status line HTTP/1.0), POST,
    // two requests on one connection, search, the post and the author, canonical
    // redirects.
    "get-root",
    "head-root",
    "get-root-keepalive",
    "get-root-close",
    "get-root-http10",
    "keepalive-pair",
    "post-root",
    "get-search",
    "get-index-php",
    "get-p-1",
    "get-hello-world",
    "get-author-1",
    "get-author-1-followed",
    "get-author-2",
    // wp-login.php: the form and every failed login.
    "get-wp-login",
    "head-wp-login",
    "get-wp-login-keepalive",
    "get-wp-login-lostpassword",
    "get-wp-login-register",
    "post-wp-login-wrongpass-cookie",
    "post-wp-login-wrongpass-nocookie",
    "post-wp-login-unknownuser-cookie",
    "post-wp-login-unknownuser-nocookie",
    "post-wp-login-email-wrongpass",
    "post-wp-login-email-unknown",
    "post-wp-login-empty-both",
    "post-wp-login-empty-pwd",
    "post-wp-login-empty-user",
    "post-wp-login-hydra",
    "post-wp-login-hydra-withcookie",
    "post-wp-login-hydra-curlstyle",
    "get-wp-signup",
    "get-login-alias",
    "get-admin-alias",
    // wp-admin.
    "get-wp-admin",
    "get-wp-admin-index",
    "get-wp-admin-noslash",
    "get-wp-admin-ajax",
    "get-wp-admin-install",
    "get-wp-admin-setup-config",
    // XML-RPC.
    "get-xmlrpc",
    "get-xmlrpc-rsd",
    "post-xmlrpc-listmethods",
    "post-xmlrpc-getusersblogs-wrongpass",
    "post-xmlrpc-getusersblogs-unknownuser",
    "post-xmlrpc-multicall-3",
    "post-xmlrpc-unknown-method",
    "post-xmlrpc-malformed",
    "post-xmlrpc-empty",
    "post-xmlrpc-pingback-ping",
    // REST API.
    "get-wp-json",
    "get-wp-json-noslash",
    "get-wp-json-users",
    "get-rest-route-users",
    "get-wp-json-users-1",
    "get-wp-json-users-2",
    "get-wp-json-users-me",
    "get-wp-json-posts",
    "get-wp-json-nosuchroute",
    // Feeds, robots, sitemap, small PHP files.
    "get-feed",
    "get-comments-feed",
    "get-robots",
    "get-sitemap",
    "get-favicon",
    "get-wp-links-opml",
    "get-wp-trackback",
    "get-wp-cron",
    "get-wp-config",
    "get-wp-config-sample",
    "get-wp-includes-version-php",
    "get-wp-content",
    "get-wp-content-plugins",
    // The theme's 404 for everything else.
    "head-no-such-page",
    "get-no-such-page",
    "get-no-such-php",
    "get-license",
    "get-env",
    "get-git-config",
    "get-phpinfo",
    "get-pma",
    "get-phpMyAdmin-caps",
    "get-wp-config-bak",
    // What Apache answers itself.
    "get-readme",
    "get-wp-content-themes-tt3-style",
    "get-wp-content-akismet-readme",
    "get-wp-content-plugin-nosuch-readme",
    "get-wp-content-uploads",
    "get-wp-includes",
    "get-htaccess",
    "get-server-status-remote-sim",
    // phpMyAdmin's global Alias on the WordPress host.
    "get-phpmyadmin",
];

/// Every phpMyAdmin capture but these:
/// * `get-pma-root-gzip`: compared by `compare_gzip_capture`;
/// * `head-pma-root`: phpMyAdmin's HEAD keeps `Vary: Accept-Encoding` (the sensor sends
///   no Vary on a HEAD of a PHP page, as WordPress's HEAD answers have none);
/// * `get-pma-robots`: Apache sends no `Vary` with a 26-byte static text file (too small
///   for mod_deflate); the sensor does;
/// * `get-pma-favicon`, `get-pma-themes-css`: HEADs of files the persona does not ship
///   (22 KB favicon.ico, 230 KB theme.css);
/// * `get-server-status`: from loopback only (`get-server-status-remote-sim` is the
///   remote view).
const PHPMYADMIN_CASES: &[&str] = &[
    // The login page and its framings.
    "get-pma-root",
    "get-pma-root-keepalive",
    "get-pma-root-http10",
    "get-pma-noslash",
    "get-pma-index",
    "get-pma-index-route",
    "get-pma-lowercase-no-slash-index",
    // Failed logins (with the session cookie and a token) and blind POSTs.
    "post-pma-login-wrong-browser-get",
    "post-pma-login-wrong-browser",
    "post-pma-login-unknownuser-browser-get",
    "post-pma-login-unknownuser-browser",
    "post-pma-login-emptypw-browser-get",
    "post-pma-login-emptypw-browser",
    "post-pma-login-wrong-brief-get",
    "post-pma-login-wrong-brief",
    "post-pma-login-wrong-notoken",
    "post-pma-login-wrong-notoken-root",
    "post-pma-login-badtoken-nocookie",
    // Other phpMyAdmin pages.
    "get-pma-js-messages",
    "get-pma-url-php",
    "get-pma-show-config-errors",
    // What Apache answers itself.
    "get-pma-doc",
    "get-pma-setup",
    "get-pma-readme",
    "get-pma-changelog",
    "get-pma-nosuch-php",
    "get-pma-config-inc",
    "get-pma-libraries",
    "get-pma-templates",
    "get-pma-caps",
    "get-pma-short",
    "get-root",
    "get-env",
    "get-git-config",
    "get-phpinfo",
    "get-javascript-jquery",
    "get-server-status-remote-sim",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wordpress_persona_answers_as_debians_wordpress() {
    let harness = wordpress_host().await;
    compare_captures(
        &harness,
        "wordpress-debian",
        WORDPRESS_CASES,
        &[WORDPRESS_MASKS, PHPMYADMIN_MASKS].concat(),
    )
    .await;
    compare_gzip_capture(
        &harness,
        "wordpress-debian",
        "get-root-gzip",
        &[WORDPRESS_MASKS, PHPMYADMIN_MASKS].concat(),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_phpmyadmin_persona_answers_as_debians_phpmyadmin() {
    let harness = phpmyadmin_host().await;
    compare_captures(
        &harness,
        "phpmyadmin-debian",
        PHPMYADMIN_CASES,
        PHPMYADMIN_MASKS,
    )
    .await;
    compare_gzip_capture(
        &harness,
        "phpmyadmin-debian",
        "get-pma-root-gzip",
        PHPMYADMIN_MASKS,
    )
    .await;
}

/// The head and the (de-chunked) body of an answer.
fn split_answer(answer: &[u8]) -> (String, String) {
    let text = String::from_utf8_lossy(answer).into_owned();
    let (head, mut rest) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    if !head
        .lines()
        .any(|l| l.eq_ignore_ascii_case("transfer-encoding: chunked"))
    {
        return (head.to_owned(), rest.to_owned());
    }
    let mut body = String::new();
    while let Some((size, after)) = rest.split_once("\r\n") {
        let size = usize::from_str_radix(size, 16).unwrap();
        if size == 0 {
            break;
        }
        body.push_str(&after[..size]);
        rest = &after[size + 2..];
    }
    (head.to_owned(), body)
}

/// What a client sends and the pages echo (the posted user name, the search terms, the
/// Host, the request target, an XML-RPC method name, the session cookie) stays escaped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn echoed_request_values_stay_escaped() {
    let harness = wordpress_host().await;
    let evil = "<script>alert(1)</script>\"'";
    let encoded: String = url::form_urlencoded::byte_serialize(evil.as_bytes()).collect();
    let post = |target: &str, cookie: &str, content_type: &str, body: String| {
        format!(
            "POST {target} HTTP/1.1\r\nHost: localhost:8181\r\nCookie: {cookie}\r\n\
             Content-Type: {content_type}\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
    };
    let form = "application/x-www-form-urlencoded";
    let get = |target: &str, host: &str| format!("GET {target} HTTP/1.1\r\nHost: {host}\r\n\r\n");
    let cases = [
        (
            "wrong password",
            post(
                "/wp-login.php",
                "wordpress_test_cookie=x",
                form,
                format!("log=admin&pwd=x&redirect_to={encoded}"),
            ),
        ),
        (
            "unknown user",
            post(
                "/wp-login.php",
                "wordpress_test_cookie=x",
                form,
                format!("log={encoded}&pwd=x"),
            ),
        ),
        (
            "empty password",
            post(
                "/wp-login.php",
                "wordpress_test_cookie=x",
                form,
                format!("log={encoded}&pwd="),
            ),
        ),
        ("search", get(&format!("/?s={encoded}"), "localhost:8181")),
        (
            "feed self link",
            get(
                "/feed/?x=%22%3E%3Cscript%3Ealert(1)%3C/script%3E\"'",
                "localhost:8181",
            ),
        ),
        (
            "host",
            get("/wp-login.php", "x\"><script>alert(1)</script>"),
        ),
        (
            "phpMyAdmin user",
            post(
                "/phpmyadmin/index.php",
                "phpMyAdmin=abcdefghijklmnopqrstuvwxyz",
                form,
                format!("pma_username={encoded}&pma_password=x&token=t&route={encoded}"),
            ),
        ),
        (
            "phpMyAdmin url",
            get(
                &format!("/phpmyadmin/url.php?url={encoded}"),
                "localhost:8181",
            ),
        ),
        (
            "XML-RPC method",
            post(
                "/xmlrpc.php",
                "",
                "text/xml",
                "<methodCall><methodName>x\"'&amp;&lt;script&gt;y</methodName></methodCall>"
                    .to_owned(),
            ),
        ),
    ];
    for (name, request) in cases {
        let answer = raw_exchange(harness.addr, request.as_bytes()).await;
        let (head, body) = split_answer(&answer);
        assert!(!body.is_empty(), "{name}: {head}");
        assert!(!body.contains("<script>alert"), "{name}: {body}");
        assert!(!body.contains("\"'"), "{name}: {body}");
        if name == "XML-RPC method" {
            assert!(
                body.contains("requested method x&quot;&#039;&amp;&lt;script&gt;y does not exist."),
                "{body}"
            );
        }
        if name == "phpMyAdmin user" {
            // The posted name is kept in the form, escaped.
            assert!(
                body.contains("value=\"&lt;script&gt;alert(1)&lt;/script&gt;&quot;&#039;\""),
                "{body}"
            );
        }
    }
    // A session cookie PHP would not take is not sent back: a new session instead.
    let answer = raw_exchange(
        harness.addr,
        get("/phpmyadmin/", "localhost:8181")
            .replace("\r\n\r\n", "\r\nCookie: phpMyAdmin=<script>x\r\n\r\n")
            .as_bytes(),
    )
    .await;
    let (head, _) = split_answer(&answer);
    let cookies: Vec<&str> = head
        .lines()
        .filter_map(|l| l.strip_prefix("Set-Cookie: phpMyAdmin="))
        .collect();
    assert_eq!(cookies.len(), 3, "{head}");
    for cookie in cookies {
        let id = cookie.split(';').next().unwrap();
        assert!(
            id.len() == 26 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'v')),
            "{head}"
        );
    }
}

/// WordPress's answers that depend on the query string, beyond the captured ones.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wordpress_routes_on_the_query_string() {
    let harness = wordpress_host().await;
    let head_of = |target: &str| {
        let request = format!("GET {target} HTTP/1.1\r\nHost: localhost:8181\r\n\r\n");
        async move {
            let answer = raw_exchange(harness.addr, request.as_bytes()).await;
            split_answer(&answer).0
        }
    };
    for (target, status, header) in [
        // redirect_canonical keeps the query, sanitised (wp_sanitize_redirect).
        (
            "/index.php?option=com_x&a=%3Cb%3E<c>\"",
            "301",
            Some("Location: http://localhost:8181/?option=com_x&a=%3Cb%3Ec"),
        ),
        // A search is not redirected.
        (
            "/index.php?s=%2FIndex%2F%5Cthink%5Capp%2Finvokefunction",
            "200",
            None,
        ),
        (
            "/?p=1&utm=x",
            "301",
            Some("Location: http://localhost:8181/2026/12/06/hello-world/"),
        ),
        (
            "/?author=01",
            "301",
            Some("Location: http://localhost:8181/author/admin/"),
        ),
        (
            "/?author=7",
            "404",
            Some("Link: <http://localhost:8181/wp-json/>; rel=\"https://api.w.org/\""),
        ),
        (
            "/?rest_route=%2Fwp%2Fv2%2Fusers%2F1",
            "200",
            Some("Allow: GET"),
        ),
        ("/?rest_route=/wp/v2/users/me", "401", Some("Vary: Origin")),
        ("/?rest_route=/no/such", "404", Some("Vary: Origin")),
        ("/?rest_route=/", "200", Some("Allow: GET")),
        // An empty rest_route is not the REST API: the blog.
        ("/?rest_route=", "200", Some("Transfer-Encoding: chunked")),
        (
            "/wp-login.php?action=retrievepassword",
            "200",
            Some("Content-Length: 6936"),
        ),
        ("/xmlrpc.php?rsd=1", "200", Some("Content-Length: 792")),
    ] {
        let head = head_of(target).await;
        assert!(
            head.starts_with(&format!("HTTP/1.1 {status} ")),
            "{target}: {head}"
        );
        if let Some(header) = header {
            assert!(head.lines().any(|l| l == header), "{target}: {head}");
        }
    }
}
