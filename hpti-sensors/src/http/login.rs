//! Credentials in HTTP requests: `Authorization: Basic`/`Digest` headers, login forms,
//! WordPress XML-RPC calls (`wp.getUsersBlogs` and `system.multicall` batches of them,
//! the usual brute force), and the files of multipart bodies.

use base64::Engine as _;
use hpti_core::event::AuthMethod;

use super::request::{Body, Head};

/// Most credentials taken from one request (a `system.multicall` may carry thousands;
/// the rest are counted in the request's event only).
pub const MAX_ATTEMPTS_PER_REQUEST: usize = 1000;
/// Most files taken from one multipart body.
const MAX_FILES: usize = 16;

/// One login attempt found in a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    /// User name.
    pub username: String,
    /// Password, when the scheme carries it (Digest does not).
    pub password: Option<String>,
    /// How it was offered.
    pub method: AuthMethod,
}

/// Basic (user and password) and Digest (user only) credentials of the request.
pub fn from_authorization(head: &Head) -> Vec<Attempt> {
    let Some(value) = head.header("authorization") else {
        return Vec::new();
    };
    let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
    if scheme.eq_ignore_ascii_case("basic") {
        let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(rest.trim()) else {
            return Vec::new();
        };
        let text = String::from_utf8_lossy(&decoded);
        let (user, pass) = text.split_once(':').unwrap_or((&text, ""));
        return vec![Attempt {
            username: user.to_owned(),
            password: Some(pass.to_owned()),
            method: AuthMethod::Password,
        }];
    }
    if scheme.eq_ignore_ascii_case("digest") {
        let user = rest.split(',').find_map(|part| {
            let (k, v) = part.trim().split_once('=')?;
            k.trim()
                .eq_ignore_ascii_case("username")
                .then(|| v.trim().trim_matches('"').to_owned())
        });
        if let Some(username) = user {
            return vec![Attempt {
                username,
                password: None,
                method: AuthMethod::Other,
            }];
        }
    }
    Vec::new()
}

/// The fields of an urlencoded body (or of the query, for a GET form), in order.
pub fn form_fields(head: &Head, body: &Body) -> Vec<(String, String)> {
    let urlencoded = head.header("content-type").is_none_or(|ct| {
        ct.to_ascii_lowercase()
            .starts_with("application/x-www-form-urlencoded")
    });
    if !body.kept.is_empty() && urlencoded {
        return url::form_urlencoded::parse(&body.kept)
            .take(256)
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
    }
    match head.target.split_once('?') {
        Some((_, query)) if body.kept.is_empty() => url::form_urlencoded::parse(query.as_bytes())
            .take(256)
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect(),
        _ => Vec::new(),
    }
}

/// A login form's attempt: when the user-name or password field is present.
pub fn from_form(head: &Head, body: &Body, username: &str, password: &str) -> Vec<Attempt> {
    let fields = form_fields(head, body);
    let user = fields.iter().find(|(k, _)| k == username).map(|(_, v)| v);
    let pass = fields.iter().find(|(k, _)| k == password).map(|(_, v)| v);
    if user.is_none() && pass.is_none() {
        return Vec::new();
    }
    vec![Attempt {
        username: user.cloned().unwrap_or_default(),
        password: Some(pass.cloned().unwrap_or_default()),
        method: AuthMethod::Password,
    }]
}

/// Credentials of XML-RPC calls: each call (a `<methodName>`, or a `methodName` member
/// of a `system.multicall` batch) with its scalar parameters; for `wp.getUsersBlogs`
/// the first two are user and password, for `metaWeblog.*`, `blogger.*` and other
/// `wp.*` calls the second and third (after a blog id or app key).
pub fn from_xmlrpc(body: &Body) -> Vec<Attempt> {
    static CALL: std::sync::LazyLock<Option<regex::Regex>> = std::sync::LazyLock::new(|| {
        regex::Regex::new(
            r"(?s)<methodName>\s*([^<]*?)\s*</methodName>|<name>\s*methodName\s*</name>\s*<value>\s*(?:<string>)?\s*([^<]*?)\s*(?:</string>)?\s*</value>",
        )
        .ok()
    });
    let Some(call) = CALL.as_ref() else {
        return Vec::new();
    };
    let text = String::from_utf8_lossy(&body.kept);
    let marks: Vec<(usize, usize, String)> = call
        .captures_iter(&text)
        .filter_map(|c| {
            let whole = c.get(0)?;
            let name = c.get(1).or_else(|| c.get(2))?.as_str().to_owned();
            Some((whole.start(), whole.end(), name))
        })
        .take(MAX_ATTEMPTS_PER_REQUEST + 1)
        .collect();
    let mut out = Vec::new();
    for (i, (_, end, method)) in marks.iter().enumerate() {
        let next = marks.get(i + 1).map_or(text.len(), |m| m.0);
        let values = values_of(&text[*end..next]);
        let (user, pass) = match method.as_str() {
            "wp.getUsersBlogs" => (values.first(), values.get(1)),
            m if m.starts_with("wp.")
                || m.starts_with("metaWeblog.")
                || m.starts_with("blogger.") =>
            {
                (values.get(1), values.get(2))
            }
            _ => (None, None),
        };
        if let (Some(user), Some(pass)) = (user, pass) {
            out.push(Attempt {
                username: user.clone(),
                password: Some(pass.clone()),
                method: AuthMethod::Password,
            });
            if out.len() >= MAX_ATTEMPTS_PER_REQUEST {
                break;
            }
        }
    }
    out
}

/// The request's cookies, values percent-decoded (the first of a name wins, as in
/// PHP's `$_COOKIE`).
pub fn cookies(head: &Head) -> std::collections::BTreeMap<String, String> {
    let mut out = std::collections::BTreeMap::new();
    for (_, value) in head
        .headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("cookie"))
    {
        for pair in value.split(';').take(64) {
            let Some((name, value)) = pair.split_once('=') else {
                continue;
            };
            let name = name.trim();
            if name.is_empty() {
                continue;
            }
            let decoded: String =
                url::form_urlencoded::parse(format!("v={}", value.trim()).as_bytes())
                    .next()
                    .map(|(_, v)| v.into_owned())
                    .unwrap_or_default();
            out.entry(name.to_owned()).or_insert(decoded);
        }
    }
    out
}

/// What an XML-RPC body asks for, for templates: `method` (the `<methodName>` of a
/// well-formed `<methodCall>`, or none) and `calls` (the `methodName` of each call of a
/// `system.multicall`, in order).
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct XmlrpcCalls {
    /// The outer method.
    pub method: Option<String>,
    /// The calls of a multicall.
    pub calls: Vec<String>,
}

/// The [`XmlrpcCalls`] of a body.
pub fn xmlrpc_calls(body: &Body) -> XmlrpcCalls {
    static METHOD: std::sync::LazyLock<Option<regex::Regex>> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r"(?s)^\s*(?:<\?xml[^>]*\?>\s*)?<methodCall>\s*<methodName>\s*([^<]*?)\s*</methodName>.*</methodCall>\s*$").ok()
    });
    static MEMBER: std::sync::LazyLock<Option<regex::Regex>> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r"(?s)<name>\s*methodName\s*</name>\s*<value>\s*(?:<string>)?\s*([^<]*?)\s*(?:</string>)?\s*</value>").ok()
    });
    let text = String::from_utf8_lossy(&body.kept);
    let method = METHOD
        .as_ref()
        .and_then(|re| re.captures(&text))
        .and_then(|c| c.get(1))
        .map(|m| xml_unescape(m.as_str()));
    let calls = if method.as_deref() == Some("system.multicall") {
        MEMBER
            .as_ref()
            .map(|re| {
                re.captures_iter(&text)
                    .filter_map(|c| c.get(1).map(|m| xml_unescape(m.as_str())))
                    .take(MAX_ATTEMPTS_PER_REQUEST)
                    .collect()
            })
            .unwrap_or_default()
    } else {
        Vec::new()
    };
    XmlrpcCalls { method, calls }
}

/// The scalar values of a call's parameters, in order (`<string>`, or a bare `<value>`).
fn values_of(call: &str) -> Vec<String> {
    let mut values = Vec::new();
    let mut rest = call;
    while let Some(start) = rest.find("<value>") {
        rest = &rest[start + "<value>".len()..];
        let inner_end = rest.find("</value>").unwrap_or(rest.len());
        let inner = rest[..inner_end].trim();
        // A struct or array value: its own inner values come next in the loop.
        if inner.starts_with("<struct") || inner.starts_with("<array") {
            continue;
        }
        let scalar = inner
            .strip_prefix("<string>")
            .and_then(|s| s.strip_suffix("</string>"))
            .or_else(|| {
                let open_end = inner.find('>')?;
                let tag = inner.get(1..open_end)?;
                inner
                    .get(open_end + 1..)?
                    .strip_suffix(&format!("</{tag}>"))
            })
            .unwrap_or(inner);
        if scalar != "<string/>" && !scalar.starts_with('<') {
            values.push(xml_unescape(scalar));
        } else if scalar == "<string/>" {
            values.push(String::new());
        }
        rest = &rest[inner_end..];
    }
    values
}

fn xml_unescape(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

/// The files of a multipart body: (file name, content), at most [`MAX_FILES`].
pub async fn multipart_files(content_type: &str, body: &[u8]) -> Vec<(String, Vec<u8>)> {
    let Ok(boundary) = multer::parse_boundary(content_type) else {
        return Vec::new();
    };
    let data = bytes::Bytes::copy_from_slice(body);
    let stream = futures::stream::once(async move { Ok::<_, std::convert::Infallible>(data) });
    let mut multipart = multer::Multipart::new(stream, boundary);
    let mut files = Vec::new();
    while let Ok(Some(field)) = multipart.next_field().await {
        let Some(name) = field.file_name().map(str::to_owned) else {
            continue;
        };
        match field.bytes().await {
            Ok(content) => files.push((name, content.to_vec())),
            Err(_) => break,
        }
        if files.len() >= MAX_FILES {
            break;
        }
    }
    files
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(headers: &[(&str, &str)], target: &str) -> Head {
        Head {
            method: "POST".into(),
            target: target.into(),
            version: (1, 1),
            headers: headers
                .iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                .collect(),
        }
    }

    fn body(text: &str) -> Body {
        Body {
            kept: text.as_bytes().to_vec(),
            complete: true,
            size: text.len() as u64,
            sha256: None,
        }
    }

    #[test]
    fn basic_and_digest() {
        let h = head(&[("Authorization", "Basic YWRtaW46czNjcjN0OmV4dHJh")], "/");
        assert_eq!(
            from_authorization(&h),
            vec![Attempt {
                username: "admin".into(),
                password: Some("s3cr3t:extra".into()),
                method: AuthMethod::Password
            }]
        );
        let h = head(
            &[(
                "Authorization",
                r#"Digest username="root", realm="x", nonce="n""#,
            )],
            "/",
        );
        assert_eq!(from_authorization(&h)[0].username, "root");
        let h = head(&[("Authorization", "Basic !!!")], "/");
        assert!(from_authorization(&h).is_empty());
    }

    #[test]
    fn forms() {
        let h = head(
            &[("Content-Type", "application/x-www-form-urlencoded")],
            "/wp-login.php",
        );
        let got = from_form(
            &h,
            &body("log=admin&pwd=p%40ss+w&wp-submit=Log+In"),
            "log",
            "pwd",
        );
        assert_eq!(got[0].username, "admin");
        assert_eq!(got[0].password.as_deref(), Some("p@ss w"));
        assert!(from_form(&h, &body("x=1"), "log", "pwd").is_empty());
    }

    #[test]
    fn xmlrpc_multicall() {
        let call = r#"<?xml version="1.0"?><methodCall><methodName>system.multicall</methodName><params><param><value><array><data>
<value><struct><member><name>methodName</name><value><string>wp.getUsersBlogs</string></value></member><member><name>params</name><value><array><data><value><string>admin</string></value><value><string>pass1</string></value></data></array></value></member></struct></value>
<value><struct><member><name>methodName</name><value><string>wp.getUsersBlogs</string></value></member><member><name>params</name><value><array><data><value><string>admin</string></value><value><string>p&amp;2</string></value></data></array></value></member></struct></value>
</data></array></value></param></params></methodCall>"#;
        let got = from_xmlrpc(&body(call));
        let got: Vec<_> = got
            .iter()
            .map(|a| (a.username.as_str(), a.password.as_deref()))
            .collect();
        assert_eq!(got, vec![("admin", Some("pass1")), ("admin", Some("p&2"))]);

        let single = "<methodCall><methodName>wp.getUsersBlogs</methodName><params><param><value>\
                      <string>bob</string></value></param><param><value><string>hunter2</string>\
                      </value></param></params></methodCall>";
        let got = from_xmlrpc(&body(single));
        assert_eq!(got[0].username, "bob");
        assert_eq!(got[0].password.as_deref(), Some("hunter2"));
    }

    #[tokio::test]
    async fn multipart_files_are_found() {
        let body = "--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nfield\r\n--XyZ\r\n\
                    Content-Disposition: form-data; name=\"f\"; filename=\"shell.php\"\r\n\
                    Content-Type: application/octet-stream\r\n\r\n<?php system($_GET[1]); ?>\r\n--XyZ--\r\n";
        let files = multipart_files("multipart/form-data; boundary=XyZ", body.as_bytes()).await;
        assert_eq!(
            files,
            vec![(
                "shell.php".to_owned(),
                b"<?php system($_GET[1]); ?>".to_vec()
            )]
        );
    }
}
