//! OpenCanary's JSON log (`opencanary.log`), one JSON object per line.
//!
//! See `testdata/FORMATS.md` §2. OpenCanary has no session ids; `logtype` says what
//! happened and `logdata` holds the module's fields (key names vary by module). The
//! mapping:
//!
//! | `logtype` | kind |
//! | --- | --- |
//! | 2000 FTP, 3001 HTTP form, 4002 SSH, 6001 Telnet, 7001 HTTP proxy | `login.attempt` (`USERNAME`, `PASSWORD`) |
//! | 8001 MySQL | `login.attempt`, method `other`, no password (`PASSWORD` is the hex of the scramble, not a password) |
//! | 9001 MSSQL SQL auth, 9002 MSSQL Windows auth | `login.attempt` (`UserName` / `USERNAME`), method `password` / `other` |
//! | 12001 VNC | `login.attempt`, user `""`, the cracked `VNC Password` when OpenCanary found it |
//! | 14001 RDP | `login.attempt` with the `mstshash` user name, method `other` |
//! | 17001 Redis `AUTH` | `login.attempt` (`ARGS` = `[user] password`) |
//! | 20001 MongoDB `mongodb.auth_attempt` | `login.attempt`, method `other` |
//! | 3000 HTTP GET, 3002 other HTTP methods, 3003 redirect of `/` | `http.request` |
//! | 4000 SSH, 6002 Telnet, 9003 MySQL connection | `session.started` |
//! | 4001 SSH client version | `client.version` |
//! | anything else | `unknown`, `original_type` = `opencanary.<name>` (e.g. `opencanary.redis_command`, or `opencanary.<logtype>`), `fields` = the whole record |
//!
//! Every login is `success: false` (OpenCanary never lets anyone in). The `"<not supplied>"`
//! placeholder of the HTTP module and VNC's `"<Password was not in the common list>"`
//! become absent values.
//!
//! Lines without a source address (`src_host` is `""`: logtype 1001 daemon messages)
//! are not attacker events: `Ok(None)`. Times come from `utc_time` (then `local_time`),
//! which are UTC without a zone designator. Ports may be integers or strings; `-1` means
//! none. A text prefix before the JSON object (a syslog-style formatter) is skipped.

use std::net::IpAddr;

use serde_json::{Map, Value};

use super::{NoZone, excerpt, parse_datetime, peer_ip, prepare};
use crate::event::{AuthMethod, Enrichment, Event, EventId, EventKind, Protocol, SCHEMA_VERSION};
use crate::parser::{ParseContext, ParseError, Parser};

/// Parses OpenCanary's JSON log. Format name `opencanary`.
///
/// ```
/// use hpti_core::event::EventKind;
/// use hpti_core::parser::{ParseContext, Parser};
/// use hpti_core::parsers::OpenCanaryParser;
///
/// let line = br#"{"dst_host": "192.0.2.1", "dst_port": 2121, "local_time": "2026-11-21 13:31:34.949847", "logdata": {"PASSWORD": "guest", "USERNAME": "anonymous"}, "logtype": 2000, "node_id": "oc-1", "src_host": "198.51.100.9", "src_port": 39580, "utc_time": "2026-11-21 13:31:34.949852"}"#;
/// let event = OpenCanaryParser.parse(line, &ParseContext::default()).unwrap().unwrap();
/// assert!(matches!(event.kind, EventKind::LoginAttempt { success: false, .. }));
/// assert_eq!(event.sensor, "oc-1");
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct OpenCanaryParser;

type Object = Map<String, Value>;

impl Parser for OpenCanaryParser {
    fn name(&self) -> &str {
        "opencanary"
    }

    fn parse(&self, line: &[u8], ctx: &ParseContext<'_>) -> Result<Option<Event>, ParseError> {
        let Some(text) = prepare(line)? else {
            return Ok(None);
        };
        // A prefixing log formatter puts text before the object.
        let json = match text.find('{') {
            Some(0) | None => text,
            Some(start) => text.get(start..).unwrap_or(text),
        };
        let record: Object = serde_json::from_str(json).map_err(|e| ParseError::from_json(&e))?;

        let logtype = match record.get("logtype") {
            None => return Err(ParseError::MissingField("logtype")),
            Some(value) => value.as_u64().ok_or_else(|| ParseError::InvalidField {
                field: "logtype",
                reason: format!("expected a non-negative integer, found {}", kind_of(value)),
            })?,
        };
        let src_host = top_str(&record, "src_host")?.ok_or(ParseError::MissingField("src_host"))?;
        if src_host.is_empty() {
            return Ok(None);
        }
        let time_text = match top_str(&record, "utc_time")? {
            Some(t) => t,
            None => top_str(&record, "local_time")?.ok_or(ParseError::MissingField("utc_time"))?,
        };
        let time =
            parse_datetime(time_text, NoZone::Utc).ok_or_else(|| ParseError::InvalidField {
                field: "utc_time",
                reason: format!("not a time: {:?}", excerpt(time_text)),
            })?;
        let src_ip = peer_ip("src_host", src_host)?;
        let src_port = port(&record, "src_port")?;
        let dst_ip = top_str(&record, "dst_host")?
            .and_then(|h| h.parse::<IpAddr>().ok())
            .filter(|ip| !ip.is_unspecified() && !ip.is_multicast());
        let dst_port = port(&record, "dst_port")?;
        let sensor = match top_str(&record, "node_id")? {
            Some(s) if !s.is_empty() => s.to_owned(),
            _ => ctx.sensor.to_owned(),
        };
        let (protocol, name) = describe(logtype);
        let kind = match map_kind(logtype, &record)? {
            Some(kind) => kind,
            None => EventKind::Unknown {
                original_type: match name {
                    Some(name) => format!("opencanary.{name}"),
                    None => format!("opencanary.{logtype}"),
                },
                fields: record,
            },
        };

        Ok(Some(Event {
            schema_version: SCHEMA_VERSION,
            id: EventId::derived(time, &[b"opencanary", text.as_bytes()]),
            time,
            observed: None,
            sensor,
            protocol,
            session: None,
            src_ip,
            src_port,
            dst_ip,
            dst_port,
            kind,
            enrichment: Enrichment::default(),
            raw: Some(text.to_owned()),
            truncated: Vec::new(),
        }))
    }
}

/// The typed kind of a record, or `None` for `unknown`.
fn map_kind(logtype: u64, record: &Object) -> Result<Option<EventKind>, ParseError> {
    let data = || -> Result<&Object, ParseError> {
        match record.get("logdata") {
            Some(Value::Object(map)) => Ok(map),
            Some(other) => Err(ParseError::InvalidField {
                field: "logdata",
                reason: format!("expected an object, found {}", kind_of(other)),
            }),
            None => Err(ParseError::MissingField("logdata")),
        }
    };
    let kind = match logtype {
        // FTP, HTTP form, SSH, Telnet, HTTP proxy: cleartext credentials.
        2000 | 3001 | 4002 | 6001 | 7001 => {
            let d = data()?;
            let placeholder = logtype == 3001;
            let username = req_str(d, "USERNAME")?;
            let password = opt_str(d, "PASSWORD")?;
            let (username, password) = if placeholder {
                (
                    if username == NOT_SUPPLIED {
                        ""
                    } else {
                        username
                    },
                    password.filter(|p| *p != NOT_SUPPLIED),
                )
            } else {
                (username, password)
            };
            login(username, password, AuthMethod::Password)
        }
        // MySQL: PASSWORD is the scramble response in hex, not the password.
        8001 => login(req_str(data()?, "USERNAME")?, None, AuthMethod::Other),
        9001 => login(req_str(data()?, "UserName")?, None, AuthMethod::Password),
        9002 => {
            let d = data()?;
            let password = opt_str(d, "PASSWORD")?.filter(|p| !p.is_empty());
            login(req_str(d, "USERNAME")?, password, AuthMethod::Other)
        }
        12001 => {
            let password = opt_str(data()?, "VNC Password")?
                .filter(|p| !p.is_empty() && *p != "<Password was not in the common list>");
            login("", password, AuthMethod::Password)
        }
        14001 => login(req_str(data()?, "USERNAME")?, None, AuthMethod::Other),
        17001 => {
            let d = data()?;
            if !req_str(d, "CMD")?.eq_ignore_ascii_case("AUTH") {
                return Ok(None);
            }
            let args = opt_str(d, "ARGS")?.unwrap_or_default();
            let (username, password) = match args.split_once(' ') {
                Some((user, pass)) => (user, pass),
                None => ("", args),
            };
            login(username, Some(password), AuthMethod::Password)
        }
        20001 => {
            let d = data()?;
            if opt_str(d, "action")? != Some("mongodb.auth_attempt") {
                return Ok(None);
            }
            login(
                opt_str(d, "username")?.unwrap_or_default(),
                None,
                AuthMethod::Other,
            )
        }
        3000 | 3002 | 3003 => {
            let d = data()?;
            let method = if logtype == 3002 {
                req_str(d, "REQUEST_TYPE")?
            } else {
                "GET"
            };
            if method.is_empty() {
                return Err(ParseError::InvalidField {
                    field: "REQUEST_TYPE",
                    reason: "empty".into(),
                });
            }
            EventKind::HttpRequest {
                method: method.to_owned(),
                uri: req_str(d, "PATH")?.to_owned(),
                host: opt_str(d, "HOSTNAME")?
                    .filter(|h| !h.is_empty())
                    .map(str::to_owned),
                user_agent: opt_str(d, "USERAGENT")?
                    .filter(|u| !u.is_empty() && *u != NOT_SUPPLIED)
                    .map(str::to_owned),
                status: None,
                labels: Vec::new(),
                detail: None,
            }
        }
        4000 | 6002 | 9003 => EventKind::SessionStarted,
        4001 => EventKind::ClientVersion {
            version: req_str(data()?, "REMOTEVERSION")?.to_owned(),
        },
        _ => return Ok(None),
    };
    Ok(Some(kind))
}

/// What OpenCanary's HTTP module logs for a missing header or form field.
const NOT_SUPPLIED: &str = "<not supplied>";

fn login(username: &str, password: Option<&str>, method: AuthMethod) -> EventKind {
    EventKind::LoginAttempt {
        username: username.to_owned(),
        password: password.map(str::to_owned),
        key_type: None,
        key_fingerprint: None,
        method,
        success: false,
    }
}

/// Protocol and `unknown` name of a logtype (names from `opencanary/logger.py`).
fn describe(logtype: u64) -> (Protocol, Option<&'static str>) {
    let other = |name: &str| Protocol::Other(name.to_owned());
    match logtype {
        1000 => (other("opencanary"), Some("boot")),
        1001 => (other("opencanary"), Some("msg")),
        1002 => (other("opencanary"), Some("debug")),
        1003 => (other("opencanary"), Some("error")),
        1004 => (other("opencanary"), Some("ping")),
        1005 => (other("opencanary"), Some("config_save")),
        1006 => (other("opencanary"), Some("example")),
        2000 => (Protocol::Ftp, Some("ftp_login_attempt")),
        2001 => (Protocol::Ftp, Some("ftp_auth_attempt_initiated")),
        3000 => (Protocol::Http, Some("http_get")),
        3001 => (Protocol::Http, Some("http_post_login_attempt")),
        3002 => (Protocol::Http, Some("http_unimplemented_method")),
        3003 => (Protocol::Http, Some("http_redirect")),
        4000 => (Protocol::Ssh, Some("ssh_new_connection")),
        4001 => (Protocol::Ssh, Some("ssh_remote_version_sent")),
        4002 => (Protocol::Ssh, Some("ssh_login_attempt")),
        5000 => (other("smb"), Some("smb_file_open")),
        5001 => (other("portscan"), Some("port_syn")),
        5002 => (other("portscan"), Some("port_nmapos")),
        5003 => (other("portscan"), Some("port_nmapnull")),
        5004 => (other("portscan"), Some("port_nmapxmas")),
        5005 => (other("portscan"), Some("port_nmapfin")),
        6001 => (Protocol::Telnet, Some("telnet_login_attempt")),
        6002 => (Protocol::Telnet, Some("telnet_connection_made")),
        7001 => (Protocol::Http, Some("httpproxy_login_attempt")),
        8001 => (other("mysql"), Some("mysql_login_attempt")),
        9001 => (other("mssql"), Some("mssql_login_sqlauth")),
        9002 => (other("mssql"), Some("mssql_login_winauth")),
        9003 => (other("mysql"), Some("mysql_connection_made")),
        10001 => (other("tftp"), Some("tftp")),
        11001 => (other("ntp"), Some("ntp_monlist")),
        12001 => (other("vnc"), Some("vnc")),
        13001 => (other("snmp"), Some("snmp_cmd")),
        14001 => (other("rdp"), Some("rdp")),
        15001 => (other("sip"), Some("sip_request")),
        16001 => (other("git"), Some("git_clone_request")),
        17001 => (other("redis"), Some("redis_command")),
        18001 => (other("tcpbanner"), Some("tcp_banner_connection_made")),
        18002 => (
            other("tcpbanner"),
            Some("tcp_banner_keep_alive_connection_made"),
        ),
        18003 => (
            other("tcpbanner"),
            Some("tcp_banner_keep_alive_secret_received"),
        ),
        18004 => (
            other("tcpbanner"),
            Some("tcp_banner_keep_alive_data_received"),
        ),
        18005 => (other("tcpbanner"), Some("tcp_banner_data_received")),
        19001 => (other("llmnr"), Some("llmnr_query_response")),
        20001 => (other("mongodb"), Some("mongodb")),
        _ => (other("opencanary"), None),
    }
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A top-level string field: `None` when absent or null, an error for another type.
fn top_str<'m>(record: &'m Object, field: &'static str) -> Result<Option<&'m str>, ParseError> {
    match record.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(ParseError::InvalidField {
            field,
            reason: format!("expected a string, found {}", kind_of(other)),
        }),
    }
}

fn opt_str<'m>(data: &'m Object, key: &'static str) -> Result<Option<&'m str>, ParseError> {
    top_str(data, key)
}

fn req_str<'m>(data: &'m Object, key: &'static str) -> Result<&'m str, ParseError> {
    opt_str(data, key)?.ok_or(ParseError::MissingField(key))
}

/// A port that may be an integer or a string; `-1` (and 0) mean none.
fn port(record: &Object, field: &'static str) -> Result<Option<u16>, ParseError> {
    let number = match record.get(field) {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Number(n)) => n.as_i64(),
        Some(Value::String(s)) => s.trim().parse::<i64>().ok(),
        Some(other) => {
            return Err(ParseError::InvalidField {
                field,
                reason: format!("expected a port, found {}", kind_of(other)),
            });
        }
    };
    match number {
        Some(-1 | 0) => Ok(None),
        Some(n) => u16::try_from(n)
            .map(Some)
            .map_err(|_| ParseError::InvalidField {
                field,
                reason: format!("{n} is not a port"),
            }),
        None => Err(ParseError::InvalidField {
            field,
            reason: "not a port number".into(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &str) -> Result<Option<Event>, ParseError> {
        OpenCanaryParser.parse(line.as_bytes(), &ParseContext::default())
    }

    #[test]
    fn string_ports_and_prefix() {
        let line = r#"opencanaryd[1234:5678]: opencanary-1 INFO {"dst_host": "0.0.0.0", "dst_port": "445", "logdata": {"USER": "x"}, "logtype": 5000, "node_id": "n", "src_host": "198.51.100.2", "src_port": "-1", "utc_time": "2026-11-21 13:31:34.949852"}"#;
        let event = parse(line).unwrap().unwrap();
        assert_eq!(event.src_port, None);
        assert_eq!(event.dst_ip, None);
        assert_eq!(event.protocol, Protocol::Other("smb".into()));
        assert!(
            matches!(&event.kind, EventKind::Unknown { original_type, .. } if original_type == "opencanary.smb_file_open")
        );
        assert_eq!(event.raw.as_deref(), Some(line));
    }

    #[test]
    fn redis_auth_with_user() {
        let line = r#"{"dst_host": "192.0.2.1", "dst_port": 6379, "logdata": {"ARGS": "default s3cret", "CMD": "AUTH"}, "logtype": 17001, "node_id": "n", "src_host": "198.51.100.2", "src_port": 5000, "utc_time": "2026-11-21 13:31:34.949852"}"#;
        let event = parse(line).unwrap().unwrap();
        assert!(
            matches!(&event.kind, EventKind::LoginAttempt { username, password: Some(p), .. } if username == "default" && p == "s3cret")
        );
    }

    #[test]
    fn bad_shapes_are_errors() {
        for line in [
            r#"{}"#,
            r#"{"logtype": "2000"}"#,
            r#"{"logtype": 2000, "src_host": 7}"#,
            r#"{"logtype": 2000, "src_host": "198.51.100.2"}"#,
            r#"{"logtype": 2000, "src_host": "198.51.100.2", "utc_time": "yesterday"}"#,
            r#"{"logtype": 2000, "src_host": "198.51.100.2", "utc_time": "2026-11-21 13:31:34.949852", "logdata": "x"}"#,
            r#"{"logtype": 2000, "src_host": "198.51.100.2", "utc_time": "2026-11-21 13:31:34.949852", "logdata": {}}"#,
            r#"{"logtype": 2000, "src_host": "198.51.100.2", "utc_time": "2026-11-21 13:31:34.949852", "src_port": 70000, "logdata": {"USERNAME": "a"}}"#,
            r#"{"logtype": 2000, "src_host": "0.0.0.0", "utc_time": "2026-11-21 13:31:34.949852", "logdata": {"USERNAME": "a"}}"#,
            r#"[1, 2]"#,
            r#"x {"#,
        ] {
            assert!(parse(line).is_err(), "{line}");
        }
    }
}
