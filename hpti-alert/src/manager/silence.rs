//! Whether a silence covers an alert.

use hpti_core::alert::Alert;
use hpti_core::alert_store::{MatchOp, Silence};

use super::label;

/// Whether every matcher of `silence` holds for `alert` (its labels, and `rule`, `key`
/// and `severity`). A bad regular expression matches nothing.
pub fn silence_matches(silence: &Silence, alert: &Alert) -> bool {
    !silence.matchers.is_empty()
        && silence.matchers.iter().all(|m| {
            let value = label(alert, &m.name).unwrap_or_default();
            match m.op {
                MatchOp::Equal => value == m.value,
                MatchOp::NotEqual => value != m.value,
                MatchOp::Regex | MatchOp::NotRegex => {
                    let anchored = format!("^(?:{})$", m.value);
                    let hit = regex::RegexBuilder::new(&anchored)
                        .size_limit(1 << 20)
                        .build()
                        .is_ok_and(|re| re.is_match(value));
                    hit == (m.op == MatchOp::Regex)
                }
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use hpti_core::alert::Severity;
    use hpti_core::alert_store::LabelMatcher;
    use hpti_core::event::Timestamp;

    fn silence(matchers: &[&str]) -> Silence {
        Silence::new(
            matchers
                .iter()
                .map(|m| LabelMatcher::parse(m).unwrap())
                .collect(),
            Timestamp::from_micros(0),
            Timestamp::now().saturating_add_micros(3_600_000_000),
            "me",
            "test",
        )
    }

    #[test]
    fn matchers_compare_labels_rule_key_and_severity() {
        let alert = Alert::new(
            "ssh-brute-force",
            Severity::High,
            "203.0.113.7",
            "x",
            Timestamp::now(),
        )
        .with_label("src_ip", "203.0.113.7")
        .with_label("sensor", "edge-1");
        assert!(silence_matches(&silence(&["rule=ssh-brute-force"]), &alert));
        assert!(silence_matches(
            &silence(&["src_ip=~203\\.0\\.113\\..*", "severity=high"]),
            &alert
        ));
        assert!(
            !silence_matches(&silence(&["src_ip=~203"]), &alert),
            "regexes are anchored"
        );
        assert!(silence_matches(&silence(&["sensor!=edge-2"]), &alert));
        assert!(!silence_matches(
            &silence(&["rule=ssh-brute-force", "sensor=edge-2"]),
            &alert
        ));
        assert!(silence_matches(&silence(&["key!~198\\..*"]), &alert));
        assert!(
            !silence_matches(&silence(&["src_ip=~("]), &alert),
            "a bad regex matches nothing"
        );
        assert!(LabelMatcher::parse("no operator").is_err());
        assert!(LabelMatcher::parse("bad name=x").is_err());
    }
}
