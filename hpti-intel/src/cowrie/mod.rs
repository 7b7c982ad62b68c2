//! hpti's events as Cowrie 3.x JSON lines (`cowrie.json`), so that T-Pot's Logstash,
//! DShield's tools and the dashboards built for Cowrie take hpti's sensors as a drop-in.
//!
//! Each line has Cowrie 3.x's envelope (`session`, `protocol`, `src_ip`, `src_port`,
//! `dst_ip`, `dst_port` on every line; `eventid`, `sensor`, `uuid`, `timestamp` with six
//! fractional digits and `Z`, `message` in Cowrie's words), the fields Cowrie writes for
//! its eventid, and a few `hpti_*` fields Cowrie's tools ignore (`hpti_id`, the event id;
//! `hpti_method`, `hpti_recording`, `hpti_truncated`) with which `hpti ingest --format
//! cowrie` gets the very same events back.
//!
//! What Cowrie has no event for is not written: HTTP requests, fingerprints other than
//! HASSH, remote port forwards (`ssh -R`), events without a session, and foreign events
//! that did not come from Cowrie. [`to_cowrie`] says so with `None`.
//!
//! ```
//! use hpti_core::event::{AuthMethod, Event, EventKind, Protocol};
//! use hpti_intel::cowrie::to_cowrie;
//!
//! let login = Event::new("ssh-1", Protocol::Ssh, "198.51.100.7".parse().unwrap(), EventKind::LoginAttempt {
//!     username: "root".into(),
//!     password: Some("123456".into()),
//!     key_type: None,
//!     key_fingerprint: None,
//!     method: AuthMethod::Password,
//!     success: false,
//! })
//! .with_session("c0ffee");
//! let line = to_cowrie(&login).unwrap();
//! assert!(line.contains(r#""eventid":"cowrie.login.failed""#));
//! assert!(line.contains(r#""message":"login attempt [root/123456] failed""#));
//! ```

mod export;
pub mod sink;

use hpti_core::event::{AuthMethod, Event, EventKind};
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::Value;
use uuid::Uuid;

pub use export::{CowrieExport, export_cowrie};
pub use sink::{CowrieJsonSink, CowrieJsonSinkConfig};

/// The namespace of the `uuid` Cowrie gives each sensor (hpti derives it from the
/// sensor's name, so it is stable across restarts and hosts).
const SENSOR_NAMESPACE: Uuid = Uuid::from_u128(0x2c1e_7d0a_9b44_5e18_a3f6_0d5c_8e21_7b90);

/// One line's fields, in Cowrie 3.x's order.
struct Line(Vec<(&'static str, Value)>);

impl Line {
    fn push(&mut self, key: &'static str, value: impl Into<Value>) {
        self.0.push((key, value.into()));
    }
}

impl Serialize for Line {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (key, value) in &self.0 {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}

/// Where Cowrie keeps a captured file (`outfile`), by its SHA-256.
fn outfile(sha256: &str) -> String {
    format!("var/lib/cowrie/downloads/{sha256}")
}

/// The Cowrie 3.x JSON line of `event` (no trailing newline), or `None` when Cowrie has
/// no event for it.
pub fn to_cowrie(event: &Event) -> Option<String> {
    let session = event.session.as_deref()?;
    let mut line = Line(Vec::with_capacity(16));
    line.push("session", session);
    // Cowrie's protocols are ssh and telnet; hpti's others (ftp) keep their names.
    line.push("protocol", event.protocol.as_str());
    line.push("src_ip", event.src_ip.to_string());
    if let Some(port) = event.src_port {
        line.push("src_port", port);
    }
    let forward = matches!(event.kind, EventKind::PortForward { .. });
    if !forward {
        if let Some(ip) = event.dst_ip {
            line.push("dst_ip", ip.to_string());
        }
        if let Some(port) = event.dst_port {
            line.push("dst_port", port);
        }
    }
    let src = event.src_ip.to_string();
    let (eventid, message): (String, String) = match &event.kind {
        EventKind::SessionStarted => (
            "cowrie.session.connect".into(),
            format!(
                "New connection: {src}:{} ({}:{}) [session: {session}]",
                event.src_port.unwrap_or(0),
                event.dst_ip.map(|ip| ip.to_string()).unwrap_or_default(),
                event.dst_port.unwrap_or(0)
            ),
        ),
        EventKind::SessionClosed {
            duration_ms,
            recording,
        } => {
            line.push("duration_ms", *duration_ms);
            // Cowrie 2.x's field, in seconds, for the dashboards that still read it.
            line.push("duration", *duration_ms as f64 / 1000.0);
            if let Some(recording) = recording {
                line.push("hpti_recording", recording.as_str());
            }
            (
                "cowrie.session.closed".into(),
                format!("Connection lost after {duration_ms} milliseconds"),
            )
        }
        EventKind::ClientVersion { version } => {
            line.push("version", version.as_str());
            (
                "cowrie.client.version".into(),
                format!("Remote SSH version: {version}"),
            )
        }
        EventKind::ClientFingerprint {
            method,
            fingerprint,
            algorithms,
        } => {
            if method != "hassh" {
                return None;
            }
            line.push("hassh", fingerprint.as_str());
            if let Some(algorithms) = algorithms {
                line.push("hasshAlgorithms", algorithms.as_str());
                // HASSH is `kex;enc;mac;comp` of the client-to-server lists: Cowrie's
                // arrays are those lists.
                let mut parts = algorithms.split(';');
                for key in ["kexAlgs", "encCS", "macCS", "compCS"] {
                    let list: Vec<Value> = parts
                        .next()
                        .unwrap_or("")
                        .split(',')
                        .filter(|s| !s.is_empty())
                        .map(|s| Value::from(s.to_owned()))
                        .collect();
                    line.push(key, list);
                }
                line.push("keyAlgs", Vec::<Value>::new());
                line.push("langCS", vec![Value::from("")]);
            }
            (
                "cowrie.client.kex".into(),
                format!("SSH client hassh fingerprint: {fingerprint}"),
            )
        }
        EventKind::LoginAttempt {
            username,
            password,
            key_type,
            key_fingerprint,
            method,
            success,
        } => {
            line.push("username", username.as_str());
            let outcome = if *success { "succeeded" } else { "failed" };
            let message = match (method, password) {
                (AuthMethod::Publickey, _) => {
                    if let Some(fingerprint) = key_fingerprint {
                        line.push("fingerprint", fingerprint.as_str());
                    }
                    if let Some(key_type) = key_type {
                        line.push("type", key_type.as_str());
                    }
                    format!("public key login attempt for [{username}] {outcome}")
                }
                (_, Some(password)) => {
                    line.push("password", password.as_str());
                    format!("login attempt [{username}/{password}] {outcome}")
                }
                (_, None) => format!("login attempt [{username}] {outcome}"),
            };
            match method {
                AuthMethod::KeyboardInteractive => line.push("hpti_method", "keyboard-interactive"),
                AuthMethod::Other => line.push("hpti_method", "other"),
                _ => {}
            }
            (
                if *success {
                    "cowrie.login.success"
                } else {
                    "cowrie.login.failed"
                }
                .into(),
                message,
            )
        }
        EventKind::CommandInput { command } => {
            line.push("input", command.as_str());
            ("cowrie.command.input".into(), format!("CMD: {command}"))
        }
        EventKind::FileDownload {
            url,
            sha256,
            size,
            error,
        } => {
            line.push("url", url.as_str());
            match (sha256, error) {
                (Some(sha256), None) => {
                    line.push("outfile", outfile(sha256));
                    line.push("shasum", sha256.as_str());
                    line.push("duplicate", false);
                    if let Some(size) = size {
                        line.push("size", *size);
                    }
                    (
                        "cowrie.session.file_download".into(),
                        format!(
                            "Downloaded URL ({url}) with SHA-256 {sha256} to {}",
                            outfile(sha256)
                        ),
                    )
                }
                (_, error) => {
                    let error = error.as_deref().unwrap_or("download failed");
                    line.push("error", error);
                    (
                        "cowrie.session.file_download.failed".into(),
                        format!("Attempt to download file(s) from URL ({url}) failed: {error}"),
                    )
                }
            }
        }
        EventKind::FileUpload {
            filename,
            sha256,
            size,
        } => {
            line.push("filename", filename.as_str());
            let target = sha256.as_deref().map(outfile).unwrap_or_default();
            line.push("outfile", target.as_str());
            if let Some(sha256) = sha256 {
                line.push("shasum", sha256.as_str());
            }
            if let Some(size) = size {
                line.push("size", *size);
            }
            (
                "cowrie.session.file_upload".into(),
                format!("SFTP Uploaded file \"{filename}\" to {target}"),
            )
        }
        EventKind::PortForward { host, port, .. } => {
            // Cowrie logs direct-tcpip only; `ssh -R` (port 0, no host) has no event.
            if host.is_empty() || *port == 0 {
                return None;
            }
            line.push("dst_ip", host.as_str());
            line.push("dst_port", *port);
            (
                "cowrie.direct-tcpip.request".into(),
                format!(
                    "direct-tcp connection request to {host}:{port} from {src}:{}",
                    event.src_port.unwrap_or(0)
                ),
            )
        }
        EventKind::Unknown {
            original_type,
            fields,
        } if original_type.starts_with("cowrie.") => {
            // A Cowrie event hpti has no kind for: written back as Cowrie wrote it.
            let mut record = fields.clone();
            record.insert("hpti_id".into(), event.id.to_string().into());
            return serde_json::to_string(&record).ok();
        }
        // HTTP requests, foreign events: Cowrie has nothing for them.
        _ => return None,
    };
    line.push("eventid", eventid);
    line.push("sensor", event.sensor.as_str());
    line.push(
        "uuid",
        Uuid::new_v5(&SENSOR_NAMESPACE, event.sensor.as_bytes()).to_string(),
    );
    line.push("timestamp", event.time.to_string());
    line.push("message", message);
    line.push("hpti_id", event.id.to_string());
    if !event.truncated.is_empty() {
        line.push(
            "hpti_truncated",
            serde_json::to_value(&event.truncated).unwrap_or_default(),
        );
    }
    serde_json::to_string(&line).ok()
}
