//! Alert rules read from YAML files (ElastAlert 2's rule types and field names), checked
//! when read and run over event time with bounded state.
//!
//! ```
//! use std::path::Path;
//! use hpti_alert::rules::{RuleOptions, RuleSpec, YamlRule};
//! use hpti_core::alert::AlertRule;
//!
//! let spec = RuleSpec::parse(
//!     "name: ssh-brute-force
//! type: frequency
//! filter: { kind: login.attempt, data.success: false }
//! query_key: src_ip
//! num_events: 50
//! timeframe: 1m
//! severity: high
//! ",
//!     Path::new("rules/brute-force.yml"),
//! )?;
//! let rule = YamlRule::new(spec, &RuleOptions::default());
//! assert_eq!(rule.name(), "ssh-brute-force");
//! # Ok::<(), hpti_alert::rules::RuleError>(())
//! ```

pub mod field;
pub mod matcher;
mod runtime;
mod set;
#[cfg(feature = "sigma")]
pub mod sigma;
pub mod spec;
pub mod state;
mod template;
mod terms;

use std::path::{Path, PathBuf};

pub use runtime::{RuleOptions, YamlRule};
pub use set::RuleSet;
pub use spec::{DEFAULT_MAX_KEYS, RuleError, RuleSpec, RuleType, SpikeType};
pub use state::ClockMode;
pub use template::Summary;

/// Reads every rule file that `patterns` (globs, relative to `base`) name, in path order.
/// A pattern that names no file, a file that cannot be read or checked, and two rules of
/// one name are errors.
pub fn load_rules(patterns: &[String], base: &Path) -> Result<Vec<RuleSpec>, RuleError> {
    let mut files: Vec<PathBuf> = Vec::new();
    for pattern in patterns {
        let full = if Path::new(pattern).is_absolute() {
            PathBuf::from(pattern)
        } else {
            base.join(pattern)
        };
        let text = full.to_string_lossy().into_owned();
        let bad = |message: String| RuleError {
            file: full.clone(),
            line: None,
            field: None,
            message,
        };
        let paths = glob::glob(&text).map_err(|e| bad(format!("not a file pattern: {e}")))?;
        let before = files.len();
        for path in paths {
            let path = path.map_err(|e| bad(e.to_string()))?;
            if path.is_file() {
                files.push(path);
            }
        }
        if files.len() == before {
            return Err(bad("no rule file matches this pattern".into()));
        }
    }
    files.sort();
    files.dedup();
    let mut specs: Vec<RuleSpec> = Vec::with_capacity(files.len());
    for file in files {
        let spec = load_rule_file(&file)?;
        if let Some(other) = specs.iter().find(|s| s.name == spec.name) {
            return Err(RuleError {
                line: spec::line_of(&std::fs::read_to_string(&file).unwrap_or_default(), "name"),
                file,
                field: Some("name".into()),
                message: format!(
                    "rule `{}` is also defined in {}",
                    spec.name,
                    other.file.display()
                ),
            });
        }
        specs.push(spec);
    }
    Ok(specs)
}

/// Reads and checks one rule file.
pub fn load_rule_file(file: &Path) -> Result<RuleSpec, RuleError> {
    let bad = |message: String| RuleError {
        file: file.to_owned(),
        line: None,
        field: None,
        message,
    };
    let size = std::fs::metadata(file)
        .map_err(|e| bad(format!("cannot read: {e}")))?
        .len();
    if size > spec::MAX_RULE_FILE_BYTES {
        return Err(bad(format!(
            "{size} bytes: a rule file is at most {} bytes",
            spec::MAX_RULE_FILE_BYTES
        )));
    }
    let text = std::fs::read_to_string(file).map_err(|e| bad(format!("cannot read: {e}")))?;
    #[cfg(feature = "sigma")]
    if sigma::is_sigma(&text) {
        return sigma_file_rule(file, &text);
    }
    RuleSpec::parse(&text, file)
}

/// A SigmaHQ file named directly among the rules: a `sigma` rule of its own, named by the
/// Sigma rule's title, its severity the Sigma level, notified nowhere (stored; list it
/// with `hpti alert list`). Wrap it in a `type: sigma` rule to route it.
#[cfg(feature = "sigma")]
fn sigma_file_rule(file: &Path, text: &str) -> Result<RuleSpec, RuleError> {
    let bad = |message: String| RuleError {
        file: file.to_owned(),
        line: None,
        field: None,
        message,
    };
    let collection = rsigma_parser::parse_sigma_yaml(text).map_err(|e| bad(e.to_string()))?;
    let title = collection
        .rules
        .first()
        .map(|r| r.title.clone())
        .ok_or_else(|| bad("no Sigma rule in this file".into()))?;
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let wrapper = format!(
        "name: {}\ntype: sigma\nsigma: [{}]\n",
        serde_json::to_string(&title).unwrap_or_default(),
        serde_json::to_string(&name).unwrap_or_default()
    );
    RuleSpec::parse(&wrapper, file)
}
