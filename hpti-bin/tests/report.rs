//! `hpti report` on the Cowrie fixtures (and an event carrying markup): HTML, Markdown and
//! PDF (printed by Debian's Chromium, rendered back to pixels by poppler's `pdftoppm`),
//! and a `[reports.<id>]` delivered to a real SMTP server (aiosmtpd).

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests panic on failure by design

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{fixture, hpti, run, stderr, stdout};
use hpti_core::event::{Event, EventKind, Protocol, Timestamp};

const PAYLOAD: &str = "<script>alert('report')</script>|`rm -rf`";

/// A data directory with the Cowrie fixture (2026-11-21) and one event carrying markup
/// on that day; its config file, with `extra` appended.
fn store(dir: &Path, extra: &str) -> PathBuf {
    let config = dir.join("hpti.toml");
    std::fs::write(
        &config,
        format!(
            "[data]\ndir = {:?}\n\n[metrics]\nenabled = false\n\n{extra}",
            dir.join("data")
        ),
    )
    .unwrap();
    let ingest = run(hpti()
        .arg("--config")
        .arg(&config)
        .args(["ingest", "--format", "cowrie", "--downloads"])
        .arg(fixture("testdata/cowrie/downloads"))
        .arg(fixture("testdata/cowrie/cowrie.json")));
    assert!(ingest.status.success(), "{}", stderr(&ingest));
    let event = Event::new(
        "ssh",
        Protocol::Ssh,
        "192.0.2.77".parse().unwrap(),
        EventKind::CommandInput {
            command: PAYLOAD.into(),
        },
    )
    .with_session("markup")
    .with_time(Timestamp::parse_rfc3339("2026-11-21T15:00:00Z").unwrap());
    let file = dir.join("markup.jsonl");
    std::fs::write(&file, serde_json::to_string(&event).unwrap() + "\n").unwrap();
    let ingest = run(hpti().arg("--config").arg(&config).arg("ingest").arg(&file));
    assert!(ingest.status.success(), "{}", stderr(&ingest));
    config
}

fn report(config: &Path, args: &[&str]) -> String {
    let output = run(hpti()
        .arg("--config")
        .arg(config)
        .args(["report", "--period", "daily", "--since", "2026-11-21"])
        .args(args));
    assert!(output.status.success(), "{}", stderr(&output));
    stdout(&output)
}

#[test]
fn a_daily_report_as_html_and_markdown() {
    let dir = tempfile::tempdir().unwrap();
    let config = store(dir.path(), "");
    let out = dir.path().join("daily.html");
    report(
        &config,
        &["--format", "html", "--out", out.to_str().unwrap()],
    );
    let html = std::fs::read_to_string(&out).unwrap();
    // The Cowrie fixture's day: 16 logins, 36 command lines (35 + the markup one).
    assert!(
        html.contains("<span class=\"n\">16</span><span class=\"l\">login attempts"),
        "{html}"
    );
    assert!(html.contains("<span class=\"n\">36</span><span class=\"l\">commands"));
    // The day before had nothing: no change to compute.
    assert!(html.contains("(none before)"));
    // Self-contained: charts are inline SVG, nothing is loaded, nothing runs.
    assert!(html.contains("<svg class=\"chart\"") && html.contains("<rect "));
    for outside in ["<script", "src=", "href=\"http", "<link", "@import", "url("] {
        assert!(!html.contains(outside), "the report has {outside:?}");
    }
    // Attacker text is escaped.
    assert!(html.contains("&lt;script&gt;alert("));
    // Top lists and new files from the fixture.
    assert!(html.contains("Top credentials") && html.contains("127.0.0.1"));
    assert!(html.contains("299001868fb8c02fd431c336c6d058f5558c5dff5b5af5e6fe04b870a6a9cbba"));
    assert!(html.contains("POSIX shell script"));

    let md = report(&config, &["--format", "md"]);
    assert!(md.starts_with("# hpti daily report"));
    assert!(md.contains("| login attempts | 16 | 0 | n/a |"), "{md}");
    // A pipe or a backtick in a command stays inside its cell; markup is not markup.
    let line = md.lines().find(|l| l.contains("alert(")).unwrap();
    assert!(
        line.contains("&lt;script&gt;alert('report')&lt;/script&gt;\\|\\`rm -rf\\`"),
        "{line}"
    );
    let cells = line
        .match_indices('|')
        .filter(|(i, _)| !line[..*i].ends_with('\\'))
        .count();
    assert_eq!(cells, 4, "three columns: {line}");
}

/// Pixels of a PPM (`P6`, as `pdftoppm` writes) that are not near white.
fn inked_pixels(ppm: &[u8]) -> (usize, usize) {
    let mut fields = Vec::new();
    let mut at = 0;
    while fields.len() < 4 {
        while ppm[at].is_ascii_whitespace() {
            at += 1;
        }
        let start = at;
        while !ppm[at].is_ascii_whitespace() {
            at += 1;
        }
        fields.push(String::from_utf8_lossy(&ppm[start..at]).into_owned());
    }
    assert_eq!(fields[0], "P6");
    let pixels = &ppm[at + 1..];
    let total = pixels.len() / 3;
    let inked = pixels
        .chunks(3)
        .filter(|p| p.iter().any(|&c| c < 200))
        .count();
    (inked, total)
}

#[test]
fn a_daily_report_prints_to_a_pdf_that_is_not_blank() {
    for tool in ["chromium", "pdftoppm"] {
        if !hpti_core::testing::require_tool(tool) {
            return;
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let config = store(dir.path(), "");
    let pdf = dir.path().join("daily.pdf");
    report(
        &config,
        &["--format", "pdf", "--out", pdf.to_str().unwrap()],
    );
    let bytes = std::fs::read(&pdf).unwrap();
    assert!(bytes.starts_with(b"%PDF-"));
    let prefix = dir.path().join("page");
    let render = Command::new("pdftoppm")
        .args(["-r", "40", "-f", "1", "-l", "1"])
        .arg(&pdf)
        .arg(&prefix)
        .output()
        .unwrap();
    assert!(
        render.status.success(),
        "{}",
        String::from_utf8_lossy(&render.stderr)
    );
    let page = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "ppm"))
        .unwrap();
    let (inked, total) = inked_pixels(&std::fs::read(page).unwrap());
    // Text, tables and the chart: a few percent of a page is ink; a blank page has none.
    assert!(inked * 100 > total, "{inked} of {total} pixels inked");
}

#[test]
fn a_scheduled_report_is_mailed_with_its_pdf() {
    let dir = tempfile::tempdir().unwrap();
    let Some(server) = hpti_core::testing::SmtpServer::start(dir.path()) else {
        return;
    };
    let with_pdf = which("chromium");
    let config = store(
        dir.path(),
        &format!(
            "[notifiers.mail]\ntype = \"email\"\nhost = \"127.0.0.1\"\nport = {}\ntls = \"none\"\n\
             from = \"hpti <hpti@example.org>\"\nto = [\"soc@example.org\"]\n\n\
             [reports.daily]\nperiod = \"daily\"\nat = \"07:00\"\nnotify = [\"mail\"]\npdf = {with_pdf}\n",
            server.port
        ),
    );
    let check = run(hpti()
        .arg("--config")
        .arg(&config)
        .args(["config", "check"]));
    assert!(check.status.success(), "{}", stderr(&check));
    let sent = run(hpti()
        .arg("--config")
        .arg(&config)
        .args(["report", "--send", "daily"]));
    assert!(sent.status.success(), "{}", stderr(&sent));
    let script = r#"
import json, mailbox, sys
out = []
for msg in mailbox.Maildir(sys.argv[1], create=False):
    parts = [(p.get_content_type(), p.get_filename(), len(p.get_payload(decode=True) or b''),
              (p.get_payload(decode=True) or b'')[:5].decode('latin-1'))
             for p in msg.walk() if not p.is_multipart()]
    out.append({"subject": msg["Subject"], "to": msg["To"], "parts": parts})
print(json.dumps(out))
"#;
    let output = Command::new("python3")
        .args(["-c", script])
        .arg(&server.maildir)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let mails: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(mails.as_array().unwrap().len(), 1, "{mails}");
    let mail = &mails[0];
    assert!(
        mail["subject"]
            .as_str()
            .unwrap()
            .starts_with("hpti daily report: "),
        "{mail}"
    );
    assert_eq!(mail["to"], "soc@example.org");
    let types: Vec<&str> = mail["parts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p[0].as_str().unwrap())
        .collect();
    assert!(
        types.contains(&"text/plain") && types.contains(&"text/html"),
        "{mail}"
    );
    if with_pdf {
        let pdf = mail["parts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p[0] == "application/pdf")
            .unwrap_or_else(|| panic!("no PDF attached: {mail}"));
        assert!(pdf[1].as_str().unwrap().starts_with("hpti-daily-"));
        assert_eq!(pdf[3], "%PDF-");
    }

    // A report naming a notifier that does not exist is refused with its key and line.
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "[metrics]\nenabled = false\n\n[reports.daily]\nperiod = \"daily\"\nnotify = [\"nobody\"]\n",
    )
    .unwrap();
    let refused = run(hpti().arg("--config").arg(&bad).args(["config", "check"]));
    assert!(!refused.status.success());
    let message = stderr(&refused);
    assert!(
        message.contains("reports.daily.notify") && message.contains(":6"),
        "{message}"
    );
    std::fs::write(
        &bad,
        "[metrics]\nenabled = false\n\n[reports.daily]\nperiod = \"daily\"\nat = \"7am\"\nnotify = []\n",
    )
    .unwrap();
    let refused = run(hpti().arg("--config").arg(&bad).args(["config", "check"]));
    let message = stderr(&refused);
    assert!(
        message.contains("reports.daily.at") && message.contains(":6"),
        "{message}"
    );
}

fn which(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success())
}
