//! Rule files: YAML with ElastAlert 2's field names, read and checked before anything
//! runs. An error names the file, the line and the field.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use hpti_core::alert::Severity;
use serde::Deserialize;
use yaml_serde::Value as Yaml;

use super::field::FieldPath;
use super::matcher::Filter;
use super::template::Summary;

/// Largest `num_events` of a frequency rule (its window keeps that many times per key).
pub const MAX_NUM_EVENTS: u64 = 100_000;
/// Largest `max_cardinality`/`min_cardinality` (the values kept per key).
pub const MAX_CARDINALITY: u64 = 10_000;
/// Default cap on the keys a rule keeps state for.
pub const DEFAULT_MAX_KEYS: usize = 10_000;
/// Default cap on the terms a `new_term` rule remembers.
pub const DEFAULT_MAX_TERMS: usize = 100_000;
/// How often a firing alert's updates are sent on by default (ElastAlert 2's `realert`).
pub const DEFAULT_REALERT: Duration = Duration::from_secs(60);
/// The largest rule file read.
pub const MAX_RULE_FILE_BYTES: u64 = 1 << 20;

/// The rule types (ElastAlert 2's names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleType {
    /// Every matching event.
    Any,
    /// At least `num_events` within `timeframe`, per query key.
    Frequency,
    /// The count in the current `timeframe` against the one before it.
    Spike,
    /// Fewer than `threshold` within `timeframe`: something went quiet.
    Flatline,
    /// A value of `fields` never seen before.
    NewTerm,
    /// More than `max_cardinality` (or fewer than `min_cardinality`) distinct values of
    /// `cardinality_field` within `timeframe`, per query key.
    Cardinality,
    /// `compare_key` changed for a query key.
    Change,
    /// A SigmaHQ rule.
    Sigma,
}

impl RuleType {
    /// The name as written in rule files.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Any => "any",
            Self::Frequency => "frequency",
            Self::Spike => "spike",
            Self::Flatline => "flatline",
            Self::NewTerm => "new_term",
            Self::Cardinality => "cardinality",
            Self::Change => "change",
            Self::Sigma => "sigma",
        }
    }
}

/// Which direction of a spike fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SpikeType {
    /// More than `spike_height` times the reference.
    #[default]
    Up,
    /// Less than the reference divided by `spike_height`.
    Down,
    /// Either.
    Both,
}

/// A time span: `30s`, `5m`, `1h 30m`, or ElastAlert's `{minutes: 5}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span(pub Duration);

impl<'de> Deserialize<'de> for Span {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Text(String),
            Units(Units),
        }
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Units {
            #[serde(default)]
            weeks: f64,
            #[serde(default)]
            days: f64,
            #[serde(default)]
            hours: f64,
            #[serde(default)]
            minutes: f64,
            #[serde(default)]
            seconds: f64,
        }
        let duration = match Raw::deserialize(deserializer)? {
            Raw::Text(text) => humantime::parse_duration(&text).map_err(|e| {
                serde::de::Error::custom(format!("`{text}` is not a duration (30s, 5m, 1h): {e}"))
            })?,
            Raw::Units(u) => {
                let seconds = u.weeks * 604_800.0
                    + u.days * 86_400.0
                    + u.hours * 3_600.0
                    + u.minutes * 60.0
                    + u.seconds;
                Duration::try_from_secs_f64(seconds).map_err(|_| {
                    serde::de::Error::custom("a duration must be positive and finite")
                })?
            }
        };
        Ok(Self(duration))
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", humantime::format_duration(self.0))
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    fn into_vec(self) -> Vec<String> {
        match self {
            Self::One(s) => vec![s],
            Self::Many(v) => v,
        }
    }
}

/// A rule file as written (before checks).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    name: String,
    #[serde(rename = "type")]
    rule_type: RuleType,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    is_enabled: Option<bool>,
    #[serde(default)]
    filter: Option<Yaml>,
    #[serde(default)]
    query_key: Option<OneOrMany>,
    #[serde(default)]
    num_events: Option<u64>,
    #[serde(default)]
    timeframe: Option<Span>,
    #[serde(default)]
    spike_height: Option<f64>,
    #[serde(default)]
    spike_type: Option<SpikeType>,
    #[serde(default)]
    threshold_ref: Option<u64>,
    #[serde(default)]
    threshold_cur: Option<u64>,
    #[serde(default)]
    threshold: Option<u64>,
    #[serde(default)]
    fields: Option<Vec<OneOrMany>>,
    #[serde(default)]
    max_terms: Option<usize>,
    #[serde(default)]
    cardinality_field: Option<String>,
    #[serde(default)]
    max_cardinality: Option<u64>,
    #[serde(default)]
    min_cardinality: Option<u64>,
    #[serde(default)]
    compare_key: Option<OneOrMany>,
    #[serde(default)]
    ignore_null: Option<bool>,
    #[serde(default)]
    severity: Option<Severity>,
    #[serde(default)]
    summary: Option<String>,
    #[serde(default)]
    notify: Option<OneOrMany>,
    #[serde(default)]
    labels: Option<BTreeMap<String, String>>,
    #[serde(default)]
    group_by: Option<Vec<String>>,
    #[serde(default)]
    max_keys: Option<usize>,
    #[serde(default)]
    resolve_after: Option<Span>,
    #[serde(default)]
    realert: Option<Span>,
    #[serde(default)]
    escalate_after: Option<Span>,
    #[serde(default)]
    escalate_to: Option<OneOrMany>,
    #[serde(default)]
    sigma: Option<OneOrMany>,
}

/// A checked rule: what it matches, how it counts, and where its alerts go.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RuleSpec {
    /// Unique name; alerts and metrics carry it.
    pub name: String,
    /// The rule type.
    pub rule_type: RuleType,
    /// Free text for people.
    pub description: Option<String>,
    /// The file it came from.
    pub file: PathBuf,
    /// Which events it looks at.
    pub filter: Filter,
    /// Counted separately per value of these fields (empty: one count).
    pub query_key: Vec<FieldPath>,
    /// `frequency`: events needed within the timeframe.
    pub num_events: u64,
    /// The window of `frequency`, `spike`, `flatline`, `cardinality` (and of `change`
    /// when given).
    pub timeframe: Option<Duration>,
    /// `spike`: the ratio that fires.
    pub spike_height: f64,
    /// `spike`: which way.
    pub spike_type: SpikeType,
    /// `spike`: the reference window needs at least this many events.
    pub threshold_ref: u64,
    /// `spike`: the current window needs at least this many events.
    pub threshold_cur: u64,
    /// `flatline`: fewer events than this fire.
    pub threshold: u64,
    /// `new_term`: the fields (each one field, or several together).
    pub fields: Vec<Vec<FieldPath>>,
    /// `new_term`: terms remembered at most.
    pub max_terms: usize,
    /// `cardinality`: the field whose distinct values are counted.
    pub cardinality_field: Option<FieldPath>,
    /// `cardinality`: more distinct values than this fire.
    pub max_cardinality: Option<u64>,
    /// `cardinality`: fewer distinct values than this fire.
    pub min_cardinality: Option<u64>,
    /// `change`: the fields whose change fires.
    pub compare_key: Vec<FieldPath>,
    /// `change`: events without the compare key are ignored (else "absent" is a value).
    pub ignore_null: bool,
    /// How urgent its alerts are.
    pub severity: Severity,
    /// The alert's one line (a minijinja template).
    pub summary: Summary,
    /// The notifiers (by id) its alerts go to.
    pub notify: Vec<String>,
    /// Labels added to every alert (part of its identity).
    pub labels: BTreeMap<String, String>,
    /// Alertmanager's `group_by` for this rule's alerts (labels; `rule` and `key` too).
    pub group_by: Vec<String>,
    /// Keys the rule keeps state for at most.
    pub max_keys: usize,
    /// An alert not raised again for this long is resolved (rules whose condition has no
    /// end of its own: `any`, `frequency`, `new_term`, `change`, `sigma`).
    pub resolve_after: Duration,
    /// A firing alert raised again is sent on with its new count at most this often
    /// (ElastAlert 2's `realert`; the updates in between are folded into the next one).
    pub realert: Duration,
    /// Not acknowledged within this long: also sent to `escalate_to`.
    pub escalate_after: Option<Duration>,
    /// The notifiers of an escalation.
    pub escalate_to: Vec<String>,
    /// `is_enabled: false` keeps a rule in place without running it.
    pub enabled: bool,
    /// Whether the file sets `severity` (a Sigma rule's level is used otherwise).
    pub severity_given: bool,
    /// `sigma`: the SigmaHQ rule files (resolved, relative to the rule file).
    pub sigma: Vec<PathBuf>,
}

/// A rule file that cannot be used: the file, the line (when known), the field, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct RuleError {
    /// The file.
    pub file: PathBuf,
    /// 1-based line of the problem, when known.
    pub line: Option<usize>,
    /// The field (`num_events`, `filter.data.size.gt`), when one is to blame.
    pub field: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for RuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        f.write_str(": ")?;
        if let Some(field) = &self.field {
            write!(f, "{field}: ")?;
        }
        f.write_str(&self.message)
    }
}

impl RuleSpec {
    /// Reads one rule from `text` (the contents of `file`).
    pub fn parse(text: &str, file: &Path) -> Result<Self, RuleError> {
        let error = |field: Option<&str>, message: String| RuleError {
            file: file.to_owned(),
            line: field.and_then(|f| line_of(text, f)),
            field: field.map(str::to_owned),
            message,
        };
        let deserializer = yaml_serde::Deserializer::from_str(text);
        let raw: RawRule = match serde_path_to_error::deserialize(deserializer) {
            Ok(raw) => raw,
            Err(err) => {
                let path = err.path().to_string();
                let inner = err.into_inner();
                // A custom error (a bad duration) is reported at the document's start:
                // the field's own line is better then.
                let line = inner
                    .location()
                    .filter(|l| (l.line(), l.column()) != (1, 1))
                    .map(|l| l.line());
                let field = (path != "." && !path.is_empty()).then_some(path);
                let mut message = inner.to_string();
                // The location and the field are reported on their own.
                if let Some(at) = message.find(" at line ") {
                    message.truncate(at);
                }
                if let Some(field) = &field
                    && let Some(rest) = message.strip_prefix(&format!("{field}: "))
                {
                    message = rest.to_owned();
                }
                return Err(RuleError {
                    file: file.to_owned(),
                    line: line.or_else(|| field.as_deref().and_then(|f| line_of(text, f))),
                    field,
                    message,
                });
            }
        };
        Self::check(raw, text, file).map_err(|(field, message)| error(field.as_deref(), message))
    }

    fn check(raw: RawRule, text: &str, file: &Path) -> Result<Self, (Option<String>, String)> {
        let fail = |field: &str, message: String| Err((Some(field.to_owned()), message));
        if raw.name.trim().is_empty() {
            return fail("name", "a rule needs a name".into());
        }
        if raw.name.len() > 200 || raw.name.chars().any(char::is_control) {
            return fail(
                "name",
                "a name is at most 200 characters, without control characters".into(),
            );
        }
        let filter =
            Filter::from_yaml(raw.filter.as_ref()).map_err(|e| (Some(e.path), e.message))?;
        let fields = |name: &str,
                      list: Vec<String>|
         -> Result<Vec<FieldPath>, (Option<String>, String)> {
            list.iter()
                .map(|f| FieldPath::parse(f).map_err(|e| (Some(name.to_owned()), e.to_string())))
                .collect()
        };
        let query_key = fields(
            "query_key",
            raw.query_key.map(OneOrMany::into_vec).unwrap_or_default(),
        )?;
        let timeframe = raw.timeframe.map(|s| s.0);
        if timeframe.is_some_and(|t| t.is_zero()) {
            return fail("timeframe", "must be longer than zero".into());
        }
        let needs = |field: &str, present: bool| -> Result<(), (Option<String>, String)> {
            if present {
                Ok(())
            } else {
                Err((
                    Some(field.to_owned()),
                    format!("a `{}` rule needs `{field}`", raw.rule_type.as_str()),
                ))
            }
        };
        let mut spec_fields = Vec::new();
        let mut cardinality_field = None;
        let mut compare_key = Vec::new();
        match raw.rule_type {
            RuleType::Any => {}
            RuleType::Frequency => {
                needs("num_events", raw.num_events.is_some())?;
                needs("timeframe", timeframe.is_some())?;
                let n = raw.num_events.unwrap_or(0);
                if n == 0 || n > MAX_NUM_EVENTS {
                    return fail("num_events", format!("must be 1 to {MAX_NUM_EVENTS}"));
                }
            }
            RuleType::Spike => {
                needs("spike_height", raw.spike_height.is_some())?;
                needs("timeframe", timeframe.is_some())?;
                if !raw.spike_height.is_some_and(|h| h.is_finite() && h > 1.0) {
                    return fail("spike_height", "must be a number above 1".into());
                }
            }
            RuleType::Flatline => {
                needs("threshold", raw.threshold.is_some())?;
                needs("timeframe", timeframe.is_some())?;
                if raw.threshold == Some(0) {
                    return fail(
                        "threshold",
                        "must be at least 1 (fewer than 0 events never happens)".into(),
                    );
                }
            }
            RuleType::NewTerm => {
                needs("fields", raw.fields.as_ref().is_some_and(|f| !f.is_empty()))?;
                for (i, entry) in raw
                    .fields
                    .clone()
                    .unwrap_or_default()
                    .into_iter()
                    .enumerate()
                {
                    let list = entry.into_vec();
                    if list.is_empty() {
                        return fail(&format!("fields[{i}]"), "an empty list".into());
                    }
                    spec_fields.push(fields("fields", list)?);
                }
            }
            RuleType::Cardinality => {
                needs("cardinality_field", raw.cardinality_field.is_some())?;
                needs("timeframe", timeframe.is_some())?;
                if raw.max_cardinality.is_none() && raw.min_cardinality.is_none() {
                    return fail(
                        "max_cardinality",
                        "a `cardinality` rule needs `max_cardinality` or `min_cardinality`".into(),
                    );
                }
                for (name, value) in [
                    ("max_cardinality", raw.max_cardinality),
                    ("min_cardinality", raw.min_cardinality),
                ] {
                    if value.is_some_and(|v| v > MAX_CARDINALITY) {
                        return fail(name, format!("at most {MAX_CARDINALITY}"));
                    }
                }
                if raw.min_cardinality == Some(0) {
                    return fail("min_cardinality", "must be at least 1".into());
                }
                cardinality_field = Some(
                    FieldPath::parse(raw.cardinality_field.as_deref().unwrap_or_default())
                        .map_err(|e| (Some("cardinality_field".to_owned()), e.to_string()))?,
                );
            }
            RuleType::Change => {
                needs("compare_key", raw.compare_key.is_some())?;
                needs("query_key", !query_key.is_empty())?;
                compare_key = fields(
                    "compare_key",
                    raw.compare_key
                        .clone()
                        .map(OneOrMany::into_vec)
                        .unwrap_or_default(),
                )?;
                if compare_key.is_empty() {
                    return fail("compare_key", "an empty list".into());
                }
            }
            RuleType::Sigma => {
                needs("sigma", raw.sigma.is_some())?;
            }
        }
        let sigma = match (&raw.sigma, raw.rule_type) {
            (Some(_), t) if t != RuleType::Sigma => {
                return fail("sigma", "only a `sigma` rule takes `sigma`".into());
            }
            (Some(patterns), _) => sigma_files(patterns.clone().into_vec(), file)
                .map_err(|m| (Some("sigma".to_owned()), m))?,
            (None, _) => Vec::new(),
        };
        let max_keys = raw.max_keys.unwrap_or(DEFAULT_MAX_KEYS);
        if max_keys == 0 || max_keys > 10_000_000 {
            return fail("max_keys", "must be 1 to 10000000".into());
        }
        let max_terms = raw.max_terms.unwrap_or(DEFAULT_MAX_TERMS);
        if max_terms == 0 || max_terms > 10_000_000 {
            return fail("max_terms", "must be 1 to 10000000".into());
        }
        let summary_text = raw
            .summary
            .clone()
            .unwrap_or_else(|| default_summary(raw.rule_type).to_owned());
        let summary = Summary::compile(&raw.name, &summary_text)
            .map_err(|e| (Some("summary".to_owned()), e))?;
        let escalate_to = raw.escalate_to.map(OneOrMany::into_vec).unwrap_or_default();
        if raw.escalate_after.is_some() && escalate_to.is_empty() {
            return fail(
                "escalate_to",
                "`escalate_after` needs notifiers to escalate to".into(),
            );
        }
        let _ = text;
        Ok(Self {
            name: raw.name,
            rule_type: raw.rule_type,
            description: raw.description,
            file: file.to_owned(),
            filter,
            query_key,
            num_events: raw.num_events.unwrap_or(1),
            timeframe,
            spike_height: raw.spike_height.unwrap_or(2.0),
            spike_type: raw.spike_type.unwrap_or_default(),
            threshold_ref: raw.threshold_ref.unwrap_or(0),
            threshold_cur: raw.threshold_cur.unwrap_or(0),
            threshold: raw.threshold.unwrap_or(1),
            fields: spec_fields,
            max_terms,
            cardinality_field,
            max_cardinality: raw.max_cardinality,
            min_cardinality: raw.min_cardinality,
            compare_key,
            ignore_null: raw.ignore_null.unwrap_or(false),
            severity: raw.severity.unwrap_or(Severity::Medium),
            summary,
            notify: raw.notify.map(OneOrMany::into_vec).unwrap_or_default(),
            labels: raw.labels.unwrap_or_default(),
            group_by: raw.group_by.unwrap_or_default(),
            max_keys,
            resolve_after: raw
                .resolve_after
                .map(|s| s.0)
                .or(timeframe)
                .unwrap_or(Duration::from_secs(300)),
            realert: raw.realert.map_or(DEFAULT_REALERT, |s| s.0),
            escalate_after: raw.escalate_after.map(|s| s.0),
            escalate_to,
            enabled: raw.is_enabled.unwrap_or(true),
            severity_given: raw.severity.is_some(),
            sigma,
        })
    }
}

/// The Sigma files `patterns` name, relative to the rule file's directory; each is
/// parsed and compiled here, so that a bad one is an error of the rule that names it.
#[cfg(feature = "sigma")]
fn sigma_files(patterns: Vec<String>, file: &Path) -> Result<Vec<PathBuf>, String> {
    let dir = file.parent().unwrap_or(Path::new("."));
    let files = super::sigma::sigma_files(&patterns, dir)?;
    super::sigma::SigmaRules::load(&files).map_err(|e| {
        format!(
            "{}{}: {}",
            e.file.display(),
            e.line.map(|l| format!(":{l}")).unwrap_or_default(),
            e.message
        )
    })?;
    Ok(files)
}

#[cfg(not(feature = "sigma"))]
fn sigma_files(_: Vec<String>, _: &Path) -> Result<Vec<PathBuf>, String> {
    Err("this hpti was built without Sigma (feature `sigma`)".into())
}

/// The summary of a rule type that gives none.
pub fn default_summary(rule_type: RuleType) -> &'static str {
    match rule_type {
        RuleType::Any => "{{ rule }}: {{ event.kind }} from {{ event.src_ip }}",
        RuleType::Sigma => "{{ sigma_title }}: {{ event.kind }} from {{ event.src_ip }}",
        RuleType::Frequency => {
            "{{ rule }}: {{ count }} events from {{ key }} within {{ timeframe }}"
        }
        RuleType::Spike => {
            "{{ rule }}: {{ key }} went from {{ reference_count }} to {{ current_count }} events per {{ timeframe }}"
        }
        RuleType::Flatline => {
            "{{ rule }}: {{ key }} had only {{ count }} events in {{ timeframe }}"
        }
        RuleType::NewTerm => "{{ rule }}: new {{ field }} {{ value }}",
        RuleType::Cardinality => {
            "{{ rule }}: {{ cardinality }} distinct {{ field }} for {{ key }} within {{ timeframe }}"
        }
        RuleType::Change => {
            "{{ rule }}: {{ field }} of {{ key }} changed from {{ old_value }} to {{ new_value }}"
        }
    }
}

/// The 1-based line of `field` in the rule file at `file`, if it can be read and found.
pub fn line_of_field(file: &Path, field: &str) -> Option<usize> {
    line_of(&std::fs::read_to_string(file).ok()?, field)
}

/// The 1-based line where `field` (a dotted or indexed path) is written, if found: the
/// line of its most specific key.
pub(crate) fn line_of(text: &str, field: &str) -> Option<usize> {
    let field = field.split('[').next().unwrap_or(field);
    // `filter.data.size.gt`: try `data.size.gt`, `data.size`, ... under `filter`.
    let (section, rest) = match field.split_once('.') {
        Some((section, rest)) => (section, Some(rest)),
        None => (field, None),
    };
    let key_line = |name: &str, from: usize| {
        text.lines().enumerate().skip(from).find_map(|(i, line)| {
            let trimmed = line.trim_start().trim_start_matches("- ");
            let quoted = [
                format!("{name}:"),
                format!("'{name}':"),
                format!("\"{name}\":"),
                format!("{{{name}:"),
            ];
            let hit = quoted.iter().any(|q| trimmed.starts_with(q.as_str()))
                || line.contains(&format!("{{ {name}:"))
                || line.contains(&format!(", {name}:"))
                || line.contains(&format!("{{{name}:"));
            hit.then_some(i)
        })
    };
    let section_line = key_line(section, 0)?;
    let Some(rest) = rest else {
        return Some(section_line + 1);
    };
    let parts: Vec<&str> = rest.split('.').collect();
    for end in (1..=parts.len()).rev() {
        let name = parts[..end].join(".");
        if let Some(i) = key_line(&name, section_line) {
            return Some(i + 1);
        }
    }
    Some(section_line + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<RuleSpec, RuleError> {
        RuleSpec::parse(text, Path::new("rules/test.yml"))
    }

    #[test]
    fn the_issue_example_reads() {
        let spec = parse(
            "name: ssh-brute-force
type: frequency
filter:
  kind: login.attempt
  data.success: false
query_key: src_ip
num_events: 50
timeframe: 1m
severity: high
summary: \"{{ key }} tried {{ count }} logins in {{ timeframe }}\"
notify: [oncall]
",
        )
        .unwrap();
        assert_eq!(spec.rule_type, RuleType::Frequency);
        assert_eq!(spec.num_events, 50);
        assert_eq!(spec.timeframe, Some(Duration::from_secs(60)));
        assert_eq!(spec.severity, Severity::High);
        assert_eq!(spec.notify, vec!["oncall".to_owned()]);
        assert_eq!(spec.query_key[0].as_str(), "src_ip");
    }

    #[test]
    fn elastalert_durations_read() {
        let spec = parse(
            "name: x\ntype: frequency\nnum_events: 3\ntimeframe:\n  minutes: 5\n  seconds: 30\n",
        )
        .unwrap();
        assert_eq!(spec.timeframe, Some(Duration::from_secs(330)));
    }

    #[test]
    fn errors_name_the_line_and_the_field() {
        let err = parse("name: x\ntype: frequency\nnum_events: many\ntimeframe: 1m\n").unwrap_err();
        assert_eq!(err.line, Some(3), "{err}");
        assert_eq!(err.field.as_deref(), Some("num_events"), "{err}");
        assert!(
            err.to_string()
                .starts_with("rules/test.yml:3: num_events: "),
            "{err}"
        );

        let err = parse("name: x\ntype: frequency\ntimeframe: 1m\n").unwrap_err();
        assert_eq!(err.field.as_deref(), Some("num_events"));
        assert!(err.message.contains("needs `num_events`"), "{err}");

        let err = parse("name: x\ntype: often\n").unwrap_err();
        assert_eq!(err.line, Some(2), "{err}");
        assert!(err.message.contains("unknown variant `often`"), "{err}");

        let err =
            parse("name: x\ntype: any\nfilter:\n  kind: login.attempt\n  data.size: {gt: big}\n")
                .unwrap_err();
        assert_eq!(err.line, Some(5), "{err}");
        assert_eq!(err.field.as_deref(), Some("filter.data.size.gt"));

        let err = parse("name: x\ntype: any\nnum_event: 3\n").unwrap_err();
        assert_eq!(err.line, Some(3), "{err}");
        assert!(err.message.contains("unknown field `num_event`"), "{err}");

        let err = parse("name: x\ntype: frequency\nnum_events: 3\ntimeframe: soon\n").unwrap_err();
        assert_eq!(err.line, Some(4), "{err}");

        let err = parse("name: x\ntype: any\nsummary: '{{ key '\n").unwrap_err();
        assert_eq!(err.line, Some(3), "{err}");
        assert_eq!(err.field.as_deref(), Some("summary"));

        let err = parse("name: x\ntype: change\ncompare_key: data.version\n").unwrap_err();
        assert_eq!(err.field.as_deref(), Some("query_key"), "{err}");
    }

    #[test]
    fn every_type_checks_its_options() {
        let cases = [
            (
                "type: spike\ntimeframe: 1m\nspike_height: 1\n",
                "spike_height",
            ),
            ("type: flatline\ntimeframe: 1m\n", "threshold"),
            ("type: new_term\n", "fields"),
            (
                "type: cardinality\ntimeframe: 1m\ncardinality_field: src_ip\n",
                "max_cardinality",
            ),
            (
                "type: frequency\ntimeframe: 1m\nnum_events: 1000000000\n",
                "num_events",
            ),
            ("type: sigma\n", "sigma"),
            ("type: any\nsigma: x.yml\n", "sigma"),
        ];
        for (body, field) in cases {
            let err = parse(&format!("name: x\n{body}")).unwrap_err();
            assert_eq!(err.field.as_deref(), Some(field), "{body}: {err}");
        }
    }
}
