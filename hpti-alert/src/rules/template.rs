//! A rule's `summary`: a minijinja template, compiled when the rule is read.
//!
//! The text is plain (not HTML): attacker-controlled values go in as they are, and each
//! notifier escapes for its own format (Slack mrkdwn, HTML e-mail).

use std::sync::Arc;

use minijinja::{Environment, Value};

/// Longest summary kept (longer ones are cut at a character boundary).
pub const MAX_SUMMARY_BYTES: usize = 1_024;

/// A compiled summary template.
#[derive(Clone)]
pub struct Summary {
    env: Arc<Environment<'static>>,
    source: Arc<str>,
    /// Whether the template reads the event (`{{ event.src_ip }}`): its JSON form is
    /// then built for each alert, and not otherwise.
    uses_event: bool,
}

impl std::fmt::Debug for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Summary").field(&self.source).finish()
    }
}

impl Summary {
    /// Compiles `source`; the error says what is wrong with it.
    pub fn compile(rule: &str, source: &str) -> Result<Self, String> {
        let mut env = Environment::new();
        // Plain text: no HTML escaping here (notifiers escape for their format).
        env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
        env.set_fuel(Some(50_000));
        env.add_template_owned("summary".to_owned(), source.to_owned())
            .map_err(|e| format!("not a valid template: {e}"))?;
        let _ = rule;
        let uses_event = env
            .get_template("summary")
            .map(|t| t.undeclared_variables(false).contains("event"))
            .map_err(|e| format!("not a valid template: {e}"))?;
        Ok(Self {
            env: Arc::new(env),
            source: Arc::from(source),
            uses_event,
        })
    }

    /// Whether the template reads `event`.
    pub fn uses_event(&self) -> bool {
        self.uses_event
    }

    /// The template as written.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Renders with `context`; a failure (a bad filter, too much work) falls back to
    /// `fallback` and is logged.
    pub fn render(&self, context: &Value, fallback: &str) -> String {
        let rendered = self
            .env
            .get_template("summary")
            .and_then(|t| t.render(context));
        let mut text = match rendered {
            Ok(text) => text,
            Err(err) => {
                tracing::warn!(error = %err, "alert summary failed to render");
                fallback.to_owned()
            }
        };
        if text.len() > MAX_SUMMARY_BYTES {
            let mut end = MAX_SUMMARY_BYTES;
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            text.truncate(end);
            text.push('…');
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn knows_whether_it_reads_the_event() {
        let uses = |t: &str| Summary::compile("r", t).unwrap().uses_event();
        assert!(!uses("{{ key }} tried {{ count }} logins"));
        assert!(uses(
            "{{ key }} from {{ event.enrichment.geo.country_code }}"
        ));
        assert!(uses("{% if event %}{{ event['src_ip'] }}{% endif %}"));
    }

    #[test]
    fn renders_plain_text() {
        let s = Summary::compile("r", "{{ key }} tried {{ count }} logins").unwrap();
        let ctx = minijinja::context! { key => "<b>1.2.3.4</b>", count => 50 };
        assert_eq!(s.render(&ctx, "x"), "<b>1.2.3.4</b> tried 50 logins");
    }

    #[test]
    fn bad_templates_fail_at_compile_and_runaway_ones_fall_back() {
        assert!(Summary::compile("r", "{{ key ").is_err());
        let s = Summary::compile(
            "r",
            "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}",
        )
        .unwrap();
        assert_eq!(s.render(&minijinja::context! {}, "fallback"), "fallback");
        let long = Summary::compile("r", "{{ key }}").unwrap();
        let text = long.render(&minijinja::context! { key => "é".repeat(5000) }, "x");
        assert!(text.len() <= MAX_SUMMARY_BYTES + 3);
    }
}
