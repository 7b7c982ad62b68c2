//! `type = "email"`: a message per alert group over SMTP (lettre, rustls), with a
//! plain-text part and an HTML part in which every attacker-chosen string is escaped.
//!
//! ```toml
//! [notifiers.mail]
//! type = "email"
//! host = "smtp.example.org"
//! port = 587                 # default: 587 for starttls, 465 for tls, 25 for none
//! tls = "starttls"           # starttls | tls | none
//! username = "hpti"
//! password_env = "HPTI_SMTP_PASSWORD"
//! from = "hpti <hpti@example.org>"
//! to = ["soc@example.org"]
//! ```

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use hpti_core::component::{BuildContext, BuildError, NotifierConfig};
use hpti_core::notify::{AlertGroup, Notifier, NotifyError, ReportMessage};
use hpti_core::secret::Secret;
use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport as _, Message, Tokio1Executor};
use serde::Deserialize;

use super::{plain_text, secret_from, title, truncate_chars};

/// How the connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TlsMode {
    /// Plain, upgraded with STARTTLS (required).
    Starttls,
    /// TLS from the first byte (SMTPS).
    Tls,
    /// No encryption (a relay on localhost).
    None,
}

/// `[notifiers.<id>] type = "email"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailNotifierConfig {
    /// The SMTP server.
    pub host: String,
    /// Its port (default by `tls`).
    #[serde(default)]
    pub port: Option<u16>,
    /// How the connection is secured.
    #[serde(default = "default_tls")]
    pub tls: TlsMode,
    /// SMTP login.
    #[serde(default)]
    pub username: Option<String>,
    /// Its password.
    #[serde(default)]
    pub password: Option<Secret>,
    /// The environment variable holding the password.
    #[serde(default)]
    pub password_env: Option<String>,
    /// The sender (`Name <address>` or an address).
    pub from: String,
    /// The recipients.
    pub to: Vec<String>,
    /// One delivery's time limit.
    #[serde(default = "default_timeout", with = "humantime_serde")]
    pub timeout: Duration,
}

fn default_tls() -> TlsMode {
    TlsMode::Starttls
}

fn default_timeout() -> Duration {
    Duration::from_secs(30)
}

#[async_trait]
impl NotifierConfig for EmailNotifierConfig {
    async fn build(&self, _cx: &BuildContext) -> Result<Arc<dyn Notifier>, BuildError> {
        let from: Mailbox = self
            .from
            .parse()
            .map_err(|e| BuildError::msg(format!("not an address: {e}")).at_key("from"))?;
        if self.to.is_empty() {
            return Err(BuildError::msg("at least one recipient").at_key("to"));
        }
        let to = self
            .to
            .iter()
            .map(|t| t.parse::<Mailbox>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| BuildError::msg(format!("not an address: {e}")).at_key("to"))?;
        let port = self.port.unwrap_or(match self.tls {
            TlsMode::Starttls => 587,
            TlsMode::Tls => 465,
            TlsMode::None => 25,
        });
        let parameters = || {
            TlsParameters::new(self.host.clone())
                .map_err(|e| BuildError::new("cannot set up TLS", e).at_key("host"))
        };
        let tls = match self.tls {
            TlsMode::Starttls => Tls::Required(parameters()?),
            TlsMode::Tls => Tls::Wrapper(parameters()?),
            TlsMode::None => Tls::None,
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&self.host)
            .port(port)
            .tls(tls)
            .timeout(Some(self.timeout));
        let password = secret_from(
            self.password.as_ref(),
            self.password_env.as_deref(),
            "password",
        )?;
        match (&self.username, password) {
            (Some(user), Some(password)) => {
                builder = builder
                    .credentials(Credentials::new(user.clone(), password.expose().to_owned()));
            }
            (None, None) => {}
            _ => {
                return Err(
                    BuildError::msg("`username` and a password go together").at_key("username")
                );
            }
        }
        Ok(Arc::new(EmailNotifier {
            transport: builder.build(),
            from,
            to,
        }))
    }
}

/// `text` escaped for HTML text and attribute values.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The HTML part of a group: a heading and a table, everything escaped.
pub fn html(group: &AlertGroup) -> String {
    let mut rows = String::new();
    for alert in group.firing().chain(group.resolved()) {
        let state = if alert.ends_at.is_some() {
            "resolved"
        } else {
            alert.severity.as_str()
        };
        let labels: Vec<String> = alert
            .labels
            .iter()
            .map(|(k, v)| format!("{}={}", escape_html(k), escape_html(v)))
            .collect();
        rows.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
            escape_html(state),
            escape_html(&alert.rule),
            escape_html(&alert.summary),
            alert.count,
            labels.join("<br>")
        ));
    }
    format!(
        "<!DOCTYPE html>\n<html><body>\n<h2>{}</h2>\n<table border=\"1\" cellpadding=\"4\">\n<tr><th>state</th><th>rule</th><th>summary</th><th>events</th><th>labels</th></tr>\n{rows}</table>\n</body></html>\n",
        escape_html(&title(group))
    )
}

/// Sends alert groups by e-mail.
pub struct EmailNotifier {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    to: Vec<Mailbox>,
}

#[async_trait]
impl Notifier for EmailNotifier {
    fn name(&self) -> &str {
        "email"
    }

    async fn notify(&self, group: &AlertGroup) -> Result<(), NotifyError> {
        let mut builder = Message::builder()
            .from(self.from.clone())
            // A subject is one line: attacker text may hold line breaks.
            .subject(truncate_chars(
                &title(group).replace(['\r', '\n'], " "),
                200,
            ));
        for to in &self.to {
            builder = builder.to(to.clone());
        }
        let message = builder
            .multipart(MultiPart::alternative_plain_html(
                plain_text(group),
                html(group),
            ))
            .map_err(|e| NotifyError::permanent(format!("email: cannot build the message: {e}")))?;
        self.send(message).await
    }

    /// The report as text and HTML alternatives, with its attachments (the PDF).
    async fn send_report(&self, report: &ReportMessage) -> Result<(), NotifyError> {
        let mut builder = Message::builder()
            .from(self.from.clone())
            .subject(truncate_chars(
                &report.subject.replace(['\r', '\n'], " "),
                200,
            ));
        for to in &self.to {
            builder = builder.to(to.clone());
        }
        let mut body = MultiPart::mixed().multipart(MultiPart::alternative_plain_html(
            report.text.clone(),
            report.html.clone(),
        ));
        for (name, media_type, bytes) in &report.attachments {
            let content_type = ContentType::parse(media_type)
                .map_err(|e| NotifyError::permanent(format!("email: attachment {name:?}: {e}")))?;
            body = body.singlepart(Attachment::new(name.clone()).body(bytes.clone(), content_type));
        }
        let message = builder
            .multipart(body)
            .map_err(|e| NotifyError::permanent(format!("email: cannot build the message: {e}")))?;
        self.send(message).await
    }
}

impl EmailNotifier {
    async fn send(&self, message: Message) -> Result<(), NotifyError> {
        match self.transport.send(message).await {
            Ok(_) => Ok(()),
            Err(err) if err.is_permanent() => Err(NotifyError::permanent(format!("email: {err}"))),
            Err(err) => Err(NotifyError::temporary(format!("email: {err}"), err)),
        }
    }
}
