//! SigmaHQ rules (`type: sigma`), evaluated by `rsigma-eval` against each event mapped to
//! the field names Sigma rules use (`docs/alerting.md` has the whole mapping):
//!
//! | hpti kind | logsource | fields (besides every hpti field: `src_ip`, `data.command`, ...) |
//! | --- | --- | --- |
//! | `command.input` | `product: linux`, `category: process_creation` | `CommandLine`, `Image` (the first word), `User` (`root`) |
//! | `login.attempt` | `product: linux`, `service: sshd` (SSH) or `telnet` | `User`, `TargetUserName`, `Password`, `AuthenticationMethod`, `Outcome` (`success`, `failure`) |
//! | `file.download` | `product: linux`, `category: proxy` | `c-uri`, `sha256`, `Hashes` (`SHA256=...`) |
//! | `file.upload` | `product: linux`, `category: file_event` | `TargetFilename`, `sha256`, `Hashes` |
//! | `http.request` | `category: webserver` | `cs-method`, `c-uri`, `cs-host`, `cs-user-agent`, `sc-status` |
//! | anything else | `product: hpti`, `category: <kind>` | `version`, `hassh` and the hpti fields |
//!
//! Every event also has `SourceIp`, `SourcePort`, `DestinationIp` and `DestinationPort`.

use std::path::{Path, PathBuf};

use hpti_core::Event;
use hpti_core::alert::Severity;
use hpti_core::event::{EventKind, Protocol};
use rsigma_eval::{Engine, JsonEvent};
use rsigma_parser::{Level, LogSource};
use serde_json::{Map, Value, json};

/// A matched Sigma rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigmaMatch {
    /// Its title.
    pub title: String,
    /// Its id, if it has one.
    pub id: Option<String>,
    /// Its level as an hpti severity (`medium` when it has none).
    pub severity: Severity,
}

/// Sigma rules compiled into one engine.
pub struct SigmaRules {
    engine: Engine,
    files: Vec<PathBuf>,
    /// Whether some rule reads a field of hpti's own event (or every field: keywords,
    /// field references, filters), so that events are given in full, not only the
    /// fields mapped to Sigma's names.
    needs_raw: bool,
}

impl std::fmt::Debug for SigmaRules {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigmaRules")
            .field("rules", &self.engine.rule_count())
            .field("files", &self.files)
            .finish()
    }
}

/// A Sigma file that cannot be used: the file, the line when known, why.
#[derive(Debug, Clone)]
pub struct SigmaError {
    /// The file.
    pub file: PathBuf,
    /// The line, when the parser says.
    pub line: Option<usize>,
    /// What is wrong.
    pub message: String,
}

impl SigmaRules {
    /// Reads and compiles the Sigma rules of `files`; correlation rules are refused (the
    /// hpti rule types count and group).
    pub fn load(files: &[PathBuf]) -> Result<Self, SigmaError> {
        let mut engine = Engine::new();
        let mut needs_raw = false;
        for file in files {
            let bad = |line: Option<usize>, message: String| SigmaError {
                file: file.clone(),
                line,
                message,
            };
            let text = std::fs::read_to_string(file)
                .map_err(|e| bad(None, format!("cannot read: {e}")))?;
            let collection = rsigma_parser::parse_sigma_yaml(&text).map_err(|e| {
                let line = match &e {
                    rsigma_parser::SigmaParserError::Condition(_, Some(at)) => {
                        Some(at.line as usize)
                    }
                    _ => None,
                };
                bad(line, e.to_string())
            })?;
            if let Some(error) = collection.errors.first() {
                return Err(bad(None, error.clone()));
            }
            if !collection.correlations.is_empty() {
                return Err(bad(
                    None,
                    "Sigma correlation rules are not supported: count with an hpti rule (frequency, cardinality)".into(),
                ));
            }
            if collection.rules.is_empty() {
                return Err(bad(
                    None,
                    "no Sigma rule in this file (a rule has `detection:`)".into(),
                ));
            }
            let mut fields = std::collections::BTreeSet::new();
            let named_only = collection.filters.is_empty()
                && collection.rules.iter().all(|rule| {
                    rule.detection
                        .named
                        .values()
                        .all(|d| detection_fields(d, &mut fields))
                });
            needs_raw |= !named_only
                || fields
                    .iter()
                    .any(|f| !MAPPED.iter().any(|m| m.eq_ignore_ascii_case(f)));
            engine
                .add_collection(&collection)
                .map_err(|e| bad(None, format!("cannot compile: {e}")))?;
        }
        Ok(Self {
            engine,
            files: files.to_vec(),
            needs_raw,
        })
    }

    /// Rules compiled.
    pub fn len(&self) -> usize {
        self.engine.rule_count()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the rules need events with hpti's own fields too, not only the ones
    /// mapped to Sigma's names.
    pub fn needs_raw(&self) -> bool {
        self.needs_raw
    }

    /// The rules that match `mapped` (the event as [`sigma_event`] maps it).
    pub fn matches(&self, mapped: &(Value, LogSource)) -> Vec<SigmaMatch> {
        let event = JsonEvent::borrow(&mapped.0);
        self.engine
            .evaluate_with_logsource(&event, &mapped.1)
            .into_iter()
            .map(|result| SigmaMatch {
                severity: match result.header.level {
                    Some(Level::Informational) => Severity::Informational,
                    Some(Level::Low) => Severity::Low,
                    Some(Level::High) => Severity::High,
                    Some(Level::Critical) => Severity::Critical,
                    Some(Level::Medium) | None => Severity::Medium,
                },
                title: result.header.rule_title,
                id: result.header.rule_id,
            })
            .collect()
    }
}

/// Whether `text` is a SigmaHQ rule (it has a top-level `detection:`).
pub fn is_sigma(text: &str) -> bool {
    text.lines().any(|l| l.starts_with("detection:"))
}

fn logsource(product: Option<&str>, category: Option<&str>, service: Option<&str>) -> LogSource {
    LogSource {
        product: product.map(str::to_owned),
        category: category.map(str::to_owned),
        service: service.map(str::to_owned),
        ..LogSource::default()
    }
}

/// The Sigma field names [`sigma_event`] maps hpti's events to.
const MAPPED: &[&str] = &[
    "SourceIp",
    "SourcePort",
    "DestinationIp",
    "DestinationPort",
    "CommandLine",
    "Image",
    "User",
    "TargetUserName",
    "Password",
    "AuthenticationMethod",
    "Outcome",
    "c-uri",
    "sha256",
    "Hashes",
    "TargetFilename",
    "cs-method",
    "cs-host",
    "cs-user-agent",
    "sc-status",
    "version",
    "hassh",
];

/// Adds the field names a detection reads to `fields`; false if it may read any field
/// (keywords, field references, array quantifiers).
fn detection_fields(
    detection: &rsigma_parser::Detection,
    fields: &mut std::collections::BTreeSet<String>,
) -> bool {
    use rsigma_parser::{Detection, Modifier};
    match detection {
        Detection::AllOf(items) => items.iter().all(|item| match &item.field.name {
            Some(name) if !item.field.modifiers.contains(&Modifier::FieldRef) => {
                fields.insert(name.clone());
                true
            }
            _ => false,
        }),
        Detection::AnyOf(detections) => detections.iter().all(|d| detection_fields(d, fields)),
        _ => false,
    }
}

/// The event as Sigma rules see it: Sigma's field names (and, when `raw`, its own JSON
/// form beneath them), and its logsource.
pub fn sigma_event(event: &Event, raw: bool) -> (Value, LogSource) {
    let mut fields = match raw.then(|| serde_json::to_value(event)) {
        Some(Ok(Value::Object(map))) => map,
        _ => Map::new(),
    };
    let mut put = |name: &str, value: Value| {
        fields.insert(name.to_owned(), value);
    };
    put("SourceIp", json!(event.src_ip.to_string()));
    if let Some(port) = event.src_port {
        put("SourcePort", json!(port));
    }
    if let Some(ip) = event.dst_ip {
        put("DestinationIp", json!(ip.to_string()));
    }
    if let Some(port) = event.dst_port {
        put("DestinationPort", json!(port));
    }
    let hashes = |sha: &Option<String>| sha.as_ref().map(|s| json!(format!("SHA256={s}")));
    let source = match &event.kind {
        EventKind::CommandInput { command } => {
            put("CommandLine", json!(command));
            let image = command.split_whitespace().next().unwrap_or_default();
            put("Image", json!(image));
            put("User", json!("root"));
            logsource(Some("linux"), Some("process_creation"), None)
        }
        EventKind::LoginAttempt {
            username,
            password,
            method,
            success,
            ..
        } => {
            put("User", json!(username));
            put("TargetUserName", json!(username));
            if let Some(password) = password {
                put("Password", json!(password));
            }
            put(
                "AuthenticationMethod",
                serde_json::to_value(method).unwrap_or(Value::Null),
            );
            put(
                "Outcome",
                json!(if *success { "success" } else { "failure" }),
            );
            let service = match event.protocol {
                Protocol::Ssh => "sshd",
                _ => event.protocol.as_str(),
            };
            logsource(Some("linux"), None, Some(service))
        }
        EventKind::FileDownload { url, sha256, .. } => {
            put("c-uri", json!(url));
            if let Some(sha) = sha256 {
                put("sha256", json!(sha));
            }
            if let Some(h) = hashes(sha256) {
                put("Hashes", h);
            }
            logsource(Some("linux"), Some("proxy"), None)
        }
        EventKind::FileUpload {
            filename, sha256, ..
        } => {
            put("TargetFilename", json!(filename));
            if let Some(sha) = sha256 {
                put("sha256", json!(sha));
            }
            if let Some(h) = hashes(sha256) {
                put("Hashes", h);
            }
            logsource(Some("linux"), Some("file_event"), None)
        }
        EventKind::HttpRequest {
            method,
            uri,
            host,
            user_agent,
            status,
        } => {
            put("cs-method", json!(method));
            put("c-uri", json!(uri));
            if let Some(host) = host {
                put("cs-host", json!(host));
            }
            if let Some(agent) = user_agent {
                put("cs-user-agent", json!(agent));
            }
            if let Some(status) = status {
                put("sc-status", json!(status));
            }
            logsource(None, Some("webserver"), None)
        }
        EventKind::ClientVersion { version } => {
            put("version", json!(version));
            logsource(Some("hpti"), Some("client.version"), None)
        }
        EventKind::ClientFingerprint {
            method,
            fingerprint,
            ..
        } => {
            if method == "hassh" {
                put("hassh", json!(fingerprint));
            }
            logsource(Some("hpti"), Some("client.fingerprint"), None)
        }
        other => logsource(Some("hpti"), Some(other.name()), None),
    };
    (Value::Object(fields), source)
}

/// The Sigma files `patterns` name, relative to `dir`.
pub fn sigma_files(patterns: &[String], dir: &Path) -> Result<Vec<PathBuf>, String> {
    let mut files = Vec::new();
    for pattern in patterns {
        let full = if Path::new(pattern).is_absolute() {
            PathBuf::from(pattern)
        } else {
            dir.join(pattern)
        };
        let paths = glob::glob(&full.to_string_lossy()).map_err(|e| format!("`{pattern}`: {e}"))?;
        let before = files.len();
        for path in paths.flatten() {
            if path.is_file() {
                files.push(path);
            }
        }
        if files.len() == before {
            return Err(format!("`{pattern}` names no file"));
        }
    }
    files.sort();
    files.dedup();
    Ok(files)
}
