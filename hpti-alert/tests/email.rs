//! The e-mail notifier against a real SMTP server (PyPI's aiosmtpd, started by the test,
//! delivering into a maildir the test reads back).

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests panic on failure by design

use std::path::Path;
use std::process::Command;

use hpti_alert::notifiers::email::EmailNotifierConfig;
use hpti_core::alert::{Alert, Severity};
use hpti_core::component::{BuildContext, ComponentId, NotifierConfig};
use hpti_core::event::Timestamp;
use hpti_core::metrics::PipelineMetrics;
use hpti_core::notify::AlertGroup;
use hpti_core::testing::SmtpServer;

/// aiosmtpd on a free port delivering into `dir/maildir`; `None` (loudly) without it.
fn smtp(dir: &Path) -> Option<SmtpServer> {
    SmtpServer::start(dir)
}

/// The delivered messages, parsed by Python's own e-mail package.
fn delivered(maildir: &Path) -> Vec<serde_json::Value> {
    let script = r#"
import json, mailbox, sys
out = []
for msg in mailbox.Maildir(sys.argv[1], create=False):
    parts = {p.get_content_type(): p.get_payload(decode=True).decode(p.get_content_charset() or 'utf-8')
             for p in msg.walk() if not p.is_multipart()}
    out.append({"from": msg["From"], "to": msg["To"], "subject": msg["Subject"],
                "type": msg.get_content_type(), "parts": parts})
print(json.dumps(out))
"#;
    let output = Command::new("python3")
        .args(["-c", script])
        .arg(maildir)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

fn cx() -> BuildContext {
    BuildContext::new(
        ComponentId::new("mail").unwrap(),
        "/nonexistent",
        PipelineMetrics::default(),
    )
}

#[tokio::test]
async fn a_group_arrives_as_a_plain_and_html_message_with_attacker_text_escaped() {
    let dir = tempfile::tempdir().unwrap();
    let Some(server) = smtp(dir.path()) else {
        return;
    };
    let config: EmailNotifierConfig = toml::from_str(&format!(
        "host = \"127.0.0.1\"\nport = {}\ntls = \"none\"\nfrom = \"hpti <hpti@example.org>\"\nto = [\"soc@example.org\", \"oncall@example.org\"]\n",
        server.port
    ))
    .unwrap();
    let notifier = config.build(&cx()).await.unwrap();
    let hostile = "root tried <script>alert(1)</script> & \"x\"\r\nBcc: victim@example.org";
    let alert = Alert::new(
        "ssh-brute-force",
        Severity::High,
        "203.0.113.7",
        hostile,
        Timestamp::now(),
    )
    .with_label("src_ip", "203.0.113.7")
    .with_events(50, []);
    notifier
        .notify(&AlertGroup::new("g", vec![alert]))
        .await
        .unwrap();
    let messages = delivered(&server.maildir);
    assert_eq!(messages.len(), 1, "{messages:#?}");
    let m = &messages[0];
    assert_eq!(m["from"], "hpti <hpti@example.org>");
    assert_eq!(m["to"], "soc@example.org, oncall@example.org");
    assert_eq!(m["subject"], "[FIRING:1] ssh-brute-force");
    assert_eq!(m["type"], "multipart/alternative");
    let text = m["parts"]["text/plain"].as_str().unwrap();
    assert!(
        text.contains("[high] root tried <script>alert(1)</script>"),
        "{text}"
    );
    let html = m["parts"]["text/html"].as_str().unwrap();
    assert!(
        html.contains("root tried &lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;x&quot;"),
        "{html}"
    );
    assert!(!html.contains("<script>"), "{html}");
    assert!(html.contains("src_ip=203.0.113.7"));

    // STARTTLS required, and this server offers none: not delivered.
    let strict: EmailNotifierConfig = toml::from_str(&format!(
        "host = \"127.0.0.1\"\nport = {}\ntls = \"starttls\"\nfrom = \"hpti@example.org\"\nto = [\"soc@example.org\"]\ntimeout = \"5s\"\n",
        server.port
    ))
    .unwrap();
    let strict = strict.build(&cx()).await.unwrap();
    let group = AlertGroup::new(
        "g",
        vec![Alert::new("r", Severity::Low, "k", "s", Timestamp::now())],
    );
    assert!(strict.notify(&group).await.is_err());
    assert_eq!(delivered(&server.maildir).len(), 1);
}

#[tokio::test]
async fn bad_addresses_are_refused_at_build() {
    for (body, key) in [
        ("from = \"not an address\"\nto = [\"a@b.org\"]\n", "from"),
        ("from = \"a@b.org\"\nto = []\n", "to"),
        ("from = \"a@b.org\"\nto = [\"nope\"]\n", "to"),
        (
            "from = \"a@b.org\"\nto = [\"a@b.org\"]\nusername = \"u\"\n",
            "username",
        ),
    ] {
        let config: EmailNotifierConfig = toml::from_str(&format!("host = \"h\"\n{body}")).unwrap();
        let err = config.build(&cx()).await.err().unwrap();
        assert_eq!(err.key.as_deref(), Some(key), "{body}: {err}");
    }
}
