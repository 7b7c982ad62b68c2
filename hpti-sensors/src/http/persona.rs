//! Personas: what one web application serves, as data. A persona is a folder holding
//! `routes.yaml` and the files and templates it names; the built-in ones are in
//! `hpti-sensors/personas/http/` (compiled in), and a user's own go in the sensor's
//! `persona_dir` (a folder there with the same name replaces a built-in one).
//!
//! ```yaml
//! # routes.yaml
//! server: apache                 # apache | nginx | tomcat: framing, errors, banner
//! description: WordPress 6.1 on Debian 12
//! vars: { site_title: My Blog }  # available to templates
//! headers:                       # sent with every answer of a template or body
//!   - X-Powered-By: PHP/8.2.29
//! include: [bait]                # routes of other personas, tried after these
//! routes:
//!   - path: /wp-login.php
//!     methods: [POST]
//!     login: { form: { username: log, password: pwd } }
//!     template: wp-login-failed.html
//!     content_type: text/html; charset=UTF-8
//!   - prefix: /wp-admin/
//!     status: 302
//!     headers:
//!       - Location: "{{ base_url }}/wp-login.php?redirect_to={{ request.url | urlencode }}&reauth=1"
//! ```
//!
//! A route answers with a `file` (served as the server serves static files: ETag,
//! Last-Modified, ranges of the web server), a `template` (minijinja; HTML-escaped when
//! its name ends in `.html`/`.htm`/`.xml`) or an inline `body`. Header values are
//! templates too; CR and LF are removed from what they render to.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use include_dir::{Dir, include_dir};
use serde::Deserialize;

use super::server::{Server, ServerKind};

static BUILTIN: Dir<'_> = include_dir!("$CARGO_MANIFEST_DIR/personas/http");

/// Names of the built-in personas.
pub fn builtin_names() -> Vec<&'static str> {
    let mut names: Vec<&str> = BUILTIN
        .dirs()
        .filter(|d| d.get_file(d.path().join("routes.yaml")).is_some())
        .filter_map(|d| d.path().file_name().and_then(|n| n.to_str()))
        .collect();
    names.sort_unstable();
    names
}

/// Why a persona cannot be loaded.
#[derive(Debug, thiserror::Error)]
pub enum PersonaError {
    /// No built-in persona and no folder in `persona_dir` has this name.
    #[error("no persona named `{name}` (built in: {builtin}{dir})")]
    Unknown {
        /// The name asked for.
        name: String,
        /// The built-in names.
        builtin: String,
        /// Where user personas were looked for.
        dir: String,
    },
    /// A file of the persona cannot be read.
    #[error("persona `{name}`: cannot read {path}: {source}")]
    Read {
        /// Persona.
        name: String,
        /// File.
        path: String,
        /// Cause.
        source: std::io::Error,
    },
    /// `routes.yaml` is not valid (the message names the line and the key).
    #[error("persona `{name}`: routes.yaml: {message}")]
    Routes {
        /// Persona.
        name: String,
        /// The parser's message.
        message: String,
    },
    /// A route names a file that is not in the persona's folder.
    #[error("persona `{name}`: route {route}: no file `{file}` in the persona")]
    MissingFile {
        /// Persona.
        name: String,
        /// The route's path or prefix.
        route: String,
        /// The file.
        file: String,
    },
    /// A template does not compile.
    #[error("persona `{name}`: template `{file}`: {message}")]
    Template {
        /// Persona.
        name: String,
        /// The template.
        file: String,
        /// The template engine's message.
        message: String,
    },
    /// A route is incomplete.
    #[error("persona `{name}`: route {route}: {message}")]
    Route {
        /// Persona.
        name: String,
        /// The route's path or prefix.
        route: String,
        /// What is wrong.
        message: String,
    },
    /// `include` loops.
    #[error("persona `{name}`: include loop or more than 8 levels")]
    IncludeLoop {
        /// Persona.
        name: String,
    },
}

/// `routes.yaml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct AppSpec {
    server: ServerKind,
    #[serde(default)]
    #[allow(dead_code)]
    description: String,
    /// Replaces the server's `Server` header and signature.
    #[serde(default)]
    banner: Option<String>,
    #[serde(default)]
    vars: BTreeMap<String, String>,
    #[serde(default)]
    headers: Vec<BTreeMap<String, String>>,
    #[serde(default)]
    include: Vec<String>,
    #[serde(default)]
    routes: Vec<RouteSpec>,
    #[serde(default)]
    not_found: Option<AnswerSpec>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RouteSpec {
    #[serde(default)]
    path: Option<String>,
    #[serde(default)]
    prefix: Option<String>,
    /// A regular expression over the whole (decoded, normalised) path.
    #[serde(default)]
    pattern: Option<String>,
    /// A regular expression the raw query string (without `?`) must match.
    #[serde(default)]
    query: Option<String>,
    #[serde(default)]
    methods: Vec<String>,
    #[serde(default)]
    login: Option<LoginSpec>,
    /// Files of a multipart body are captured (they always are; this documents intent
    /// and makes the route accept PUT as well).
    #[serde(default)]
    upload: bool,
    /// The path is a directory (ends in `/`): asked for without its slash, the server
    /// redirects (301) to it.
    #[serde(default)]
    directory: bool,
    #[serde(flatten)]
    answer: AnswerSpec,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct AnswerSpec {
    #[serde(default)]
    status: Option<u16>,
    #[serde(default)]
    file: Option<String>,
    #[serde(default)]
    template: Option<String>,
    #[serde(default)]
    body: Option<String>,
    /// The server's own error page: `not_found` or `forbidden`.
    #[serde(default)]
    error: Option<ServerError>,
    #[serde(default)]
    content_type: Option<String>,
    #[serde(default)]
    headers: Vec<BTreeMap<String, String>>,
    /// Send the body chunked (as the product does for generated output).
    #[serde(default)]
    chunked: bool,
    /// The status line's protocol when the application sets its own status line (PHP's
    /// `header("HTTP/1.0 404 ...")`, WordPress's `status_header()`): `request` answers
    /// an HTTP/1.0 request with `HTTP/1.0`, `"1.0"` always.
    #[serde(default)]
    status_protocol: Option<StatusProtocol>,
}

/// The protocol of an application's own status line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum StatusProtocol {
    /// The request's (HTTP/1.0 for an HTTP/1.0 request, else HTTP/1.1).
    #[serde(rename = "request")]
    Request,
    /// Always HTTP/1.0.
    #[serde(rename = "1.0")]
    Http10,
}

/// The server error pages a route can answer with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ServerError {
    /// 404.
    NotFound,
    /// 403.
    Forbidden,
}

/// How a route takes logins.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum LoginSpec {
    /// A form: the user name and password fields of the (urlencoded or multipart) body.
    Form {
        /// The user-name field (`log` for WordPress).
        username: String,
        /// The password field (`pwd`).
        password: String,
    },
    /// XML-RPC calls carrying credentials (`wp.getUsersBlogs`, `system.multicall`).
    Xmlrpc,
}

/// How a route's body is made.
#[derive(Debug, Clone)]
pub enum Content {
    /// A static file (bytes, served with the server's file headers).
    File(Bytes),
    /// A template, by name in the persona's environment.
    Template(String),
    /// The server's own error page.
    Error(ServerError),
    /// Nothing.
    Empty,
}

/// A route of a loaded persona.
#[derive(Debug, Clone)]
pub struct Route {
    /// Exact path, or prefix when `prefix` is set, or the pattern's text.
    pub path: String,
    /// Whether `path` is a prefix.
    pub prefix: bool,
    /// A pattern instead of `path`.
    pub pattern: Option<regex::Regex>,
    /// A pattern the query must match.
    pub query: Option<regex::Regex>,
    /// Methods (upper-case); empty: GET, HEAD and POST.
    pub methods: Vec<String>,
    /// Logins taken here.
    pub login: Option<LoginSpec>,
    /// A directory: the path without its slash is redirected to it.
    pub directory: bool,
    /// The answer.
    pub answer: Answer,
    /// The persona the route came from (an included one, maybe).
    pub origin: Arc<str>,
}

/// A route's answer.
#[derive(Debug, Clone)]
pub struct Answer {
    /// Status.
    pub status: u16,
    /// Body.
    pub content: Content,
    /// `Content-Type`.
    pub content_type: Option<String>,
    /// Header templates (by name in the environment), in order.
    pub headers: Vec<(String, String)>,
    /// Send chunked.
    pub chunked: bool,
    /// The status line's protocol, when the application sets it.
    pub status_protocol: Option<StatusProtocol>,
}

impl Route {
    /// Whether the route answers `path` (decoded, normalised, relative to the mount)
    /// with `query` (raw, without `?`; empty when there is none).
    pub fn matches_query(&self, path: &str, query: &str) -> bool {
        self.query.as_ref().is_none_or(|q| q.is_match(query)) && self.matches(path)
    }

    /// Whether the route answers `path` (decoded, normalised, relative to the mount).
    pub fn matches(&self, path: &str) -> bool {
        if let Some(pattern) = &self.pattern {
            pattern.is_match(path)
        } else if self.prefix {
            path.starts_with(&self.path)
        } else {
            path == self.path
        }
    }

    /// Whether the route takes `method`.
    pub fn allows(&self, method: &str) -> bool {
        if self.methods.is_empty() {
            matches!(method, "GET" | "HEAD" | "POST")
        } else {
            self.methods
                .iter()
                .any(|m| m == method || (m == "GET" && method == "HEAD"))
        }
    }
}

/// A loaded persona.
pub struct App {
    /// Its name.
    pub name: Arc<str>,
    /// The server it runs on.
    pub server: Server,
    /// Routes, its own first, then included ones.
    pub routes: Vec<Route>,
    /// The answer for paths no route takes (else the server's 404).
    pub not_found: Option<Answer>,
    /// Headers every template or body answer carries first (`X-Powered-By`).
    pub headers: Vec<(String, String)>,
    /// Templates (bodies and header values).
    pub env: minijinja::Environment<'static>,
    /// Variables for templates.
    pub vars: BTreeMap<String, String>,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("name", &self.name)
            .field("server", &self.server.kind)
            .field("routes", &self.routes.len())
            .finish_non_exhaustive()
    }
}

/// Where persona files come from.
trait Files {
    fn read(&self, name: &str, file: &str) -> Result<Option<Vec<u8>>, PersonaError>;
    fn list(&self, name: &str) -> Vec<String>;
}

struct Sources<'a> {
    user_dir: Option<&'a Path>,
}

impl Sources<'_> {
    fn user_folder(&self, name: &str) -> Option<PathBuf> {
        let dir = self.user_dir?.join(name);
        dir.join("routes.yaml").is_file().then_some(dir)
    }
}

impl Files for Sources<'_> {
    fn read(&self, name: &str, file: &str) -> Result<Option<Vec<u8>>, PersonaError> {
        if file.contains("..") || file.starts_with('/') {
            return Ok(None);
        }
        if let Some(dir) = self.user_folder(name) {
            let path = dir.join(file);
            return match std::fs::read(&path) {
                Ok(bytes) => Ok(Some(bytes)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(source) => Err(PersonaError::Read {
                    name: name.to_owned(),
                    path: path.display().to_string(),
                    source,
                }),
            };
        }
        Ok(BUILTIN
            .get_file(Path::new(name).join(file))
            .map(|f| f.contents().to_vec()))
    }

    fn list(&self, name: &str) -> Vec<String> {
        if let Some(dir) = self.user_folder(name) {
            let mut out = Vec::new();
            walk(&dir, &dir, &mut out);
            return out;
        }
        let mut out = Vec::new();
        if let Some(dir) = BUILTIN.get_dir(name) {
            collect_builtin(dir, Path::new(name), &mut out);
        }
        out
    }
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            walk(root, &path, out);
        } else if let Ok(rel) = path.strip_prefix(root) {
            out.push(rel.to_string_lossy().replace('\\', "/"));
        }
    }
}

fn collect_builtin(dir: &Dir<'_>, root: &Path, out: &mut Vec<String>) {
    for file in dir.files() {
        if let Ok(rel) = file.path().strip_prefix(root) {
            out.push(rel.to_string_lossy().into_owned());
        }
    }
    for sub in dir.dirs() {
        collect_builtin(sub, root, out);
    }
}

fn is_html(name: &str) -> bool {
    [".html", ".htm", ".xml", ".php"]
        .iter()
        .any(|ext| name.ends_with(ext))
}

/// Loads persona `name` (a user's folder in `user_dir` first, then the built-in one).
pub fn load(name: &str, user_dir: Option<&Path>) -> Result<App, PersonaError> {
    let sources = Sources { user_dir };
    let mut env = minijinja::Environment::new();
    env.set_auto_escape_callback(|name| {
        if is_html(name) {
            minijinja::AutoEscape::Html
        } else {
            minijinja::AutoEscape::None
        }
    });
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Lenient);
    // A template is a copy of a real page: its last newline is part of it.
    env.set_keep_trailing_newline(true);
    // `http_date(seconds)`: the HTTP date that many seconds from now (cookie expiries,
    // `Expires`).
    env.add_function("http_date", |seconds: i64| {
        let now = std::time::SystemTime::now();
        let at = if seconds >= 0 {
            now + std::time::Duration::from_secs(seconds.unsigned_abs())
        } else {
            now - std::time::Duration::from_secs(seconds.unsigned_abs())
        };
        super::server::http_date(at)
    });
    let mut seen = Vec::new();
    let mut routes = Vec::new();
    let mut vars = BTreeMap::new();
    let top = load_into(&sources, name, &mut env, &mut routes, &mut vars, &mut seen)?;
    let mut server = Server::stock(top.server);
    if let Some(banner) = &top.banner {
        server.banner = banner.clone();
    }
    let headers = header_templates(&mut env, name, "*", &top.headers)?;
    let not_found = top
        .not_found
        .as_ref()
        .map(|a| answer(&sources, &mut env, name, "not_found", a))
        .transpose()?;
    Ok(App {
        name: Arc::from(name),
        server,
        routes,
        not_found,
        headers,
        env,
        vars,
    })
}

fn load_into(
    sources: &Sources<'_>,
    name: &str,
    env: &mut minijinja::Environment<'static>,
    routes: &mut Vec<Route>,
    vars: &mut BTreeMap<String, String>,
    seen: &mut Vec<String>,
) -> Result<AppSpec, PersonaError> {
    if seen.iter().any(|s| s == name) || seen.len() > 8 {
        return Err(PersonaError::IncludeLoop {
            name: name.to_owned(),
        });
    }
    seen.push(name.to_owned());
    let Some(text) = sources.read(name, "routes.yaml")? else {
        return Err(PersonaError::Unknown {
            name: name.to_owned(),
            builtin: builtin_names().join(", "),
            dir: sources
                .user_dir
                .map(|d| format!("; looked in {}", d.display()))
                .unwrap_or_default(),
        });
    };
    let text = String::from_utf8_lossy(&text);
    let spec: AppSpec = serde_saphyr::from_str(&text).map_err(|e| PersonaError::Routes {
        name: name.to_owned(),
        message: e.to_string(),
    })?;
    // Templates are registered under `<persona>/<file>` so included personas keep theirs.
    for file in sources.list(name) {
        if file == "routes.yaml" {
            continue;
        }
        let Some(bytes) = sources.read(name, &file)? else {
            continue;
        };
        if let Ok(source) = String::from_utf8(bytes) {
            // Binary files are only ever served as files.
            let key = format!("{name}/{file}");
            if let Err(e) = env.add_template_owned(key.clone(), source) {
                if is_template_name(&spec, &file) {
                    return Err(PersonaError::Template {
                        name: name.to_owned(),
                        file,
                        message: e.to_string(),
                    });
                }
            }
        }
    }
    for (key, value) in &spec.vars {
        vars.entry(key.clone()).or_insert_with(|| value.clone());
    }
    let origin: Arc<str> = Arc::from(name);
    for (index, route) in spec.routes.iter().enumerate() {
        let (path, prefix, pattern) = match (&route.path, &route.prefix, &route.pattern) {
            (Some(p), None, None) => (p.clone(), false, None),
            (None, Some(p), None) => (p.clone(), true, None),
            (None, None, Some(p)) => {
                let regex = regex::Regex::new(p).map_err(|e| PersonaError::Route {
                    name: name.to_owned(),
                    route: p.clone(),
                    message: format!("bad pattern: {e}"),
                })?;
                (p.clone(), false, Some(regex))
            }
            _ => {
                return Err(PersonaError::Route {
                    name: name.to_owned(),
                    route: format!(
                        "{:?}",
                        route
                            .path
                            .as_ref()
                            .or(route.prefix.as_ref())
                            .or(route.pattern.as_ref())
                    ),
                    message: "needs exactly one of `path`, `prefix` or `pattern`".to_owned(),
                });
            }
        };
        let mut methods: Vec<String> = route
            .methods
            .iter()
            .map(|m| m.to_ascii_uppercase())
            .collect();
        if route.upload && !methods.is_empty() && !methods.iter().any(|m| m == "PUT") {
            methods.push("PUT".to_owned());
        }
        routes.push(Route {
            answer: answer(
                sources,
                env,
                name,
                &format!("{path}#{index}"),
                &route.answer,
            )?,
            query: match &route.query {
                Some(q) => Some(regex::Regex::new(q).map_err(|e| PersonaError::Route {
                    name: name.to_owned(),
                    route: path.clone(),
                    message: format!("bad query pattern: {e}"),
                })?),
                None => None,
            },
            path,
            prefix,
            pattern,
            methods,
            login: route.login.clone(),
            directory: route.directory,
            origin: origin.clone(),
        });
    }
    for included in &spec.include {
        load_into(sources, included, env, routes, vars, seen)?;
    }
    Ok(spec)
}

fn is_template_name(spec: &AppSpec, file: &str) -> bool {
    spec.routes
        .iter()
        .any(|r| r.answer.template.as_deref() == Some(file))
        || spec
            .not_found
            .as_ref()
            .is_some_and(|a| a.template.as_deref() == Some(file))
}

fn answer(
    sources: &Sources<'_>,
    env: &mut minijinja::Environment<'static>,
    name: &str,
    route: &str,
    spec: &AnswerSpec,
) -> Result<Answer, PersonaError> {
    let bad = |message: &str| PersonaError::Route {
        name: name.to_owned(),
        route: route.to_owned(),
        message: message.to_owned(),
    };
    let content = match (&spec.file, &spec.template, &spec.body) {
        (None, None, None) if spec.error.is_some() => {
            Content::Error(spec.error.unwrap_or(ServerError::NotFound))
        }
        _ if spec.error.is_some() => {
            return Err(bad("`error` takes no `file`, `template` or `body`"));
        }
        (Some(file), None, None) => {
            let bytes = sources
                .read(name, file)?
                .ok_or_else(|| PersonaError::MissingFile {
                    name: name.to_owned(),
                    route: route.to_owned(),
                    file: file.clone(),
                })?;
            Content::File(Bytes::from(bytes))
        }
        (None, Some(template), None) => {
            let key = format!("{name}/{template}");
            if env.get_template(&key).is_err() {
                return Err(PersonaError::MissingFile {
                    name: name.to_owned(),
                    route: route.to_owned(),
                    file: template.clone(),
                });
            }
            Content::Template(key)
        }
        (None, None, Some(body)) => {
            let key = format!("{name}/{route}#body");
            env.add_template_owned(key.clone(), body.clone())
                .map_err(|e| PersonaError::Template {
                    name: name.to_owned(),
                    file: format!("{route} body"),
                    message: e.to_string(),
                })?;
            Content::Template(key)
        }
        (None, None, None) => Content::Empty,
        _ => return Err(bad("takes only one of `file`, `template`, `body`")),
    };
    let status = spec.status.unwrap_or(200);
    if !(100..=599).contains(&status) {
        return Err(bad("status must be 100-599"));
    }
    Ok(Answer {
        status,
        content,
        content_type: spec.content_type.clone(),
        headers: header_templates(env, name, route, &spec.headers)?,
        chunked: spec.chunked,
        status_protocol: spec.status_protocol,
    })
}

fn header_templates(
    env: &mut minijinja::Environment<'static>,
    name: &str,
    route: &str,
    headers: &[BTreeMap<String, String>],
) -> Result<Vec<(String, String)>, PersonaError> {
    let mut out = Vec::new();
    for (i, map) in headers.iter().enumerate() {
        for (header, value) in map {
            if header.is_empty()
                || !header
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            {
                return Err(PersonaError::Route {
                    name: name.to_owned(),
                    route: route.to_owned(),
                    message: format!("`{header}` is not a header name"),
                });
            }
            let key = format!("{name}/{route}#h{i}{header}");
            env.add_template_owned(key.clone(), value.clone())
                .map_err(|e| PersonaError::Template {
                    name: name.to_owned(),
                    file: format!("{route} header {header}"),
                    message: e.to_string(),
                })?;
            out.push((header.clone(), key));
        }
    }
    Ok(out)
}

/// The personas a sensor serves and which requests each takes.
#[derive(Debug)]
pub struct Site {
    /// The default persona (and the server that answers malformed requests).
    pub default: Arc<App>,
    /// Personas by virtual host or path, most specific first.
    pub mounts: Vec<Mount>,
}

/// A persona mounted on a host or path.
#[derive(Debug, Clone)]
pub struct Mount {
    /// Host (lower-case, no port) it answers, or any.
    pub host: Option<String>,
    /// Path prefix (no trailing slash), or the root.
    pub path: String,
    /// The persona.
    pub app: Arc<App>,
}

impl Site {
    /// Loads each named persona once.
    pub fn load(
        default: &str,
        mounts: &[(Option<String>, Option<String>, String)],
        user_dir: Option<&Path>,
    ) -> Result<Self, PersonaError> {
        let mut loaded: HashMap<String, Arc<App>> = HashMap::new();
        let mut get = |name: &str| -> Result<Arc<App>, PersonaError> {
            if let Some(app) = loaded.get(name) {
                return Ok(app.clone());
            }
            let app = Arc::new(load(name, user_dir)?);
            loaded.insert(name.to_owned(), app.clone());
            Ok(app)
        };
        let default = get(default)?;
        let mut list = Vec::new();
        for (host, path, app) in mounts {
            let path = path
                .as_deref()
                .unwrap_or("")
                .trim_end_matches('/')
                .to_owned();
            list.push(Mount {
                host: host.as_ref().map(|h| h.to_ascii_lowercase()),
                path,
                app: get(app)?,
            });
        }
        // Longer paths first; a host match before an any-host one of the same length.
        list.sort_by(|a, b| {
            b.path
                .len()
                .cmp(&a.path.len())
                .then(b.host.is_some().cmp(&a.host.is_some()))
        });
        Ok(Self {
            default,
            mounts: list,
        })
    }

    /// The persona for `host` (lower-case, no port) and `path`, and its mount path.
    pub fn route(&self, host: Option<&str>, path: &str) -> (&Arc<App>, &str) {
        for mount in &self.mounts {
            if let Some(want) = &mount.host
                && host != Some(want.as_str())
            {
                continue;
            }
            let under = mount.path.is_empty()
                || path == mount.path
                || path
                    .strip_prefix(mount.path.as_str())
                    .is_some_and(|rest| rest.starts_with('/'));
            if under {
                return (&mount.app, &mount.path);
            }
        }
        (&self.default, "")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_persona_loads() {
        let names = builtin_names();
        assert!(names.len() >= 6, "{names:?}");
        for name in names {
            let app = load(name, None).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(!app.routes.is_empty(), "{name} has no routes");
        }
    }

    #[test]
    fn unknown_names_list_the_builtin_ones() {
        let err = load("no-such-app", None).unwrap_err().to_string();
        assert!(err.contains("wordpress"), "{err}");
    }

    #[test]
    fn a_users_persona_replaces_and_errors_name_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let app = dir.path().join("shop");
        std::fs::create_dir(&app).unwrap();
        std::fs::write(
            app.join("routes.yaml"),
            "server: nginx\nroutes:\n  - path: /\n    template: index.html\n",
        )
        .unwrap();
        std::fs::write(app.join("index.html"), "<p>{{ request.path }}</p>").unwrap();
        let loaded = load("shop", Some(dir.path())).unwrap();
        assert_eq!(loaded.server.kind, ServerKind::Nginx);

        std::fs::write(
            app.join("routes.yaml"),
            "server: nginx\nroutes:\n  - path: /\n    templat: index.html\n",
        )
        .unwrap();
        let err = load("shop", Some(dir.path())).unwrap_err().to_string();
        assert!(err.contains("templat") && err.contains('4'), "{err}");
    }
}
