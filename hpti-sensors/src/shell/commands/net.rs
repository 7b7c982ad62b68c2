//! Download tools. The shell never touches the network: it asks the [`ShellHost`]
//! and prints what the real tool would print for the outcome.
//!
//! [`ShellHost`]: super::super::ShellHost

use super::super::fs;
use super::super::interp::{Interp, Io};
use super::super::text;
use super::super::{FetchOutcome, FetchRequest, FetchTool};
use super::fmt_time;

/// Parts of a URL the tools print.
struct Target {
    url: String,
    host: String,
    port: u16,
    path: String,
}

fn parse_url(raw: &str, default_scheme: &str) -> Option<Target> {
    let url = if raw.contains("://") {
        raw.to_string()
    } else {
        format!("{default_scheme}://{raw}")
    };
    let (scheme, rest) = url.split_once("://")?;
    let (scheme, rest) = (scheme.to_string(), rest.to_string());
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest.as_str(), "/"),
    };
    let path = path.to_string();
    let authority = authority.rsplit('@').next().unwrap_or(authority);
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) if !h.is_empty() && p.chars().all(|c| c.is_ascii_digit()) && !p.is_empty() => {
            (h.to_string(), p.parse().ok()?)
        }
        _ => (
            authority.to_string(),
            match scheme.as_str() {
                "https" => 443,
                "ftp" => 21,
                "tftp" => 69,
                _ => 80,
            },
        ),
    };
    if host.is_empty() || host.len() > 253 {
        return None;
    }
    let url = if path == "/" && !rest.contains('/') {
        format!("{url}/")
    } else {
        url
    };
    Some(Target {
        url,
        host,
        port,
        path,
    })
}

fn is_ip(h: &str) -> bool {
    h.parse::<std::net::IpAddr>().is_ok()
}

/// A stable stand-in address for a host name (we never resolve anything).
fn fake_ip(host: &str) -> String {
    let mut h: u32 = 2_166_136_261;
    for b in host.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(16_777_619);
    }
    format!(
        "{}.{}.{}.{}",
        [104u32, 172, 185, 151, 93][(h % 5) as usize],
        (h >> 8) & 0xff,
        (h >> 16) & 0xff,
        1 + (h >> 24) % 254
    )
}

fn remote_name(path: &str) -> String {
    let p = path.split(['?', '#']).next().unwrap_or("");
    let name = p.rsplit('/').next().unwrap_or("");
    name.to_string()
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Failure {
    Refused,
    NotFound,
    Resolve,
    Timeout,
}

fn classify(reason: &str) -> Failure {
    let r = reason.to_ascii_lowercase();
    if r.contains("404") || r.contains("not found") {
        Failure::NotFound
    } else if r.contains("resolve") || r.contains("dns") || r.contains("host") {
        Failure::Resolve
    } else if r.contains("timed out") || r.contains("timeout") {
        Failure::Timeout
    } else {
        Failure::Refused
    }
}

impl Interp<'_> {
    async fn fetch(&mut self, url: &str, tool: FetchTool) -> FetchOutcome {
        if self.fetches >= self.st.limits.max_fetches {
            return FetchOutcome::Failed {
                reason: "timed out".into(),
            };
        }
        self.fetches += 1;
        self.host
            .fetch(FetchRequest {
                url: url.to_string(),
                tool,
            })
            .await
    }

    /// Picks `name`, or `name.1`, `name.2`... like wget does when the file exists.
    fn unique_name(&self, dir: &str, name: &str) -> String {
        let base = if dir.is_empty() {
            name.to_string()
        } else {
            format!("{}/{name}", dir.trim_end_matches('/'))
        };
        if !self.st.fs.exists(&self.st.cwd, &base) {
            return base;
        }
        for i in 1..1000 {
            let cand = format!("{base}.{i}");
            if !self.st.fs.exists(&self.st.cwd, &cand) {
                return cand;
            }
        }
        base
    }

    pub(crate) async fn cmd_wget(&mut self, args: &[String], io: Io) -> i32 {
        let mut output: Option<String> = None;
        let mut quiet = false;
        let mut prefix = String::new();
        let mut urls = Vec::new();
        let mut i = 0;
        let busybox = self.busybox;
        while let Some(a) = args.get(i) {
            let next = args.get(i + 1).cloned();
            match a.as_str() {
                "-O" | "--output-document" => {
                    output = next;
                    i += 1;
                }
                "-P" | "--directory-prefix" => {
                    prefix = next.unwrap_or_default();
                    i += 1;
                }
                "-q" | "--quiet" | "-nv" | "--no-verbose" => quiet = true,
                "-U" | "-t" | "-T" | "-o" | "-a" | "--user-agent" | "--header" | "-Y" | "-e" => {
                    i += 1
                }
                s if s.starts_with("--output-document=") => {
                    output = Some(s["--output-document=".len()..].to_string())
                }
                s if s.starts_with("--") => {}
                s if s.starts_with('-') && s.len() > 1 => {
                    // Bundled short options: `-qO-`, `-qO file`, `-P/tmp`.
                    let flags: Vec<char> = s.chars().skip(1).collect();
                    for (k, c) in flags.iter().enumerate() {
                        match c {
                            'q' => quiet = true,
                            'O' | 'P' => {
                                let rest: String =
                                    flags.get(k + 1..).unwrap_or(&[]).iter().collect();
                                let value = if rest.is_empty() {
                                    i += 1;
                                    args.get(i).cloned().unwrap_or_default()
                                } else {
                                    rest
                                };
                                if *c == 'O' {
                                    output = Some(value);
                                } else {
                                    prefix = value;
                                }
                                break;
                            }
                            _ => {}
                        }
                    }
                }
                s => urls.push(s.to_string()),
            }
            i += 1;
        }
        if urls.is_empty() {
            if busybox {
                self.err(io, "BusyBox v1.35.0 multi-call binary.\n\nUsage: wget [-cqS] [--spider] [-O FILE] [-o LOGFILE] [--header STR]\n\t[--post-data STR | --post-file FILE] [-Y on/off]\n\t[--no-check-certificate] [-P DIR] [-U AGENT] [-T SEC] URL...\n");
            } else {
                self.err(io, "wget: missing URL\nUsage: wget [OPTION]... [URL]...\n\nTry `wget --help' for more options.\n");
            }
            return 1;
        }
        let mut status = 0;
        for raw in urls {
            if self.stopped() {
                break;
            }
            let Some(t) = parse_url(&raw, "http") else {
                if busybox {
                    self.err(io, format!("wget: bad address '{raw}'\n"));
                } else {
                    self.err(io, format!("{raw}: Invalid host name.\n"));
                }
                status = 1;
                continue;
            };
            let stamp = fmt_time(self.now, "%Y-%m-%d %H:%M:%S");
            let addr = if is_ip(&t.host) {
                t.host.clone()
            } else {
                fake_ip(&t.host)
            };
            let to_stdout = output.as_deref() == Some("-");
            let fname = match &output {
                Some(o) if o != "-" => o.clone(),
                _ => {
                    let r = remote_name(&t.path);
                    let r = if r.is_empty() {
                        "index.html".to_string()
                    } else {
                        r
                    };
                    self.unique_name(&prefix, &r)
                }
            };
            let mut log = String::new();
            if !busybox {
                log.push_str(&format!("--{stamp}--  {}\n", t.url));
                if is_ip(&t.host) {
                    log.push_str(&format!("Connecting to {}:{}... ", t.host, t.port));
                } else {
                    log.push_str(&format!("Resolving {0} ({0})... ", t.host));
                }
            }
            let outcome = self.fetch(&t.url, FetchTool::Wget).await;
            match outcome {
                FetchOutcome::Fetched { content } => {
                    let len = content.len();
                    if busybox {
                        log.push_str(&format!("Connecting to {} ({}:{})\n", t.host, addr, t.port));
                    } else {
                        if !is_ip(&t.host) {
                            log.push_str(&format!(
                                "{addr}\nConnecting to {0} ({0})|{addr}|:{1}... ",
                                t.host, t.port
                            ));
                        }
                        let size = if len >= 1024 {
                            format!(" ({})", text::human(len as u64, false))
                        } else {
                            String::new()
                        };
                        log.push_str(&format!(
                            "connected.\nHTTP request sent, awaiting response... 200 OK\nLength: {len}{size} [application/octet-stream]\n"
                        ));
                    }
                    let shown = if to_stdout {
                        "STDOUT".to_string()
                    } else {
                        fname.clone()
                    };
                    let write_res = if to_stdout {
                        self.out(io, &content);
                        Ok(())
                    } else {
                        self.fs_write(&fname, &content, false, false).map(|_| ())
                    };
                    if let Err(e) = write_res {
                        if !quiet || busybox {
                            self.err(io, log);
                        }
                        if busybox {
                            self.err(io, format!("wget: can't open '{fname}': {e}\n"));
                        } else {
                            self.err(
                                io,
                                format!("{fname}: {e}\nCannot write to ‘{fname}’ ({e}).\n"),
                            );
                        }
                        status = if busybox { 1 } else { 3 };
                        continue;
                    }
                    if busybox {
                        log.push_str(&format!(
                            "saving to '{shown}'\n{:<20} 100% |********************************| {:>5}  0:00:00 ETA\n'{shown}' saved\n",
                            fs::base_name(&shown),
                            text::human(len as u64, false)
                        ));
                    } else {
                        log.push_str(&format!(
                            "Saving to: ‘{shown}’\n\n{:<20}100%[===================>] {:>7}  --.-KB/s    in 0s      \n\n{stamp} ({:.1} MB/s) - ‘{shown}’ saved [{len}/{len}]\n\n",
                            truncate(&shown, 19),
                            text::human(len as u64, false),
                            1.0 + (len % 90) as f64
                        ));
                    }
                    if !quiet {
                        self.err(io, log);
                    }
                }
                FetchOutcome::Failed { reason } => {
                    let f = classify(&reason);
                    if busybox {
                        let msg = match f {
                            Failure::Resolve => format!("wget: bad address '{}'\n", t.host),
                            Failure::NotFound => format!(
                                "Connecting to {} ({}:{})\nwget: server returned error: HTTP/1.1 404 Not Found\n",
                                t.host, addr, t.port
                            ),
                            Failure::Timeout => format!(
                                "Connecting to {} ({}:{})\nwget: download timed out\n",
                                t.host, addr, t.port
                            ),
                            Failure::Refused => format!(
                                "Connecting to {} ({}:{})\nwget: can't connect to remote host ({addr}): Connection refused\n",
                                t.host, addr, t.port
                            ),
                        };
                        self.err(io, msg);
                        status = 1;
                        continue;
                    }
                    let (tail, code) = match f {
                        Failure::Resolve => (
                            format!(
                                "failed: Name or service not known.\nwget: unable to resolve host address ‘{}’\n",
                                t.host
                            ),
                            4,
                        ),
                        Failure::NotFound => {
                            let pre = if is_ip(&t.host) {
                                String::new()
                            } else {
                                format!(
                                    "{addr}\nConnecting to {0} ({0})|{addr}|:{1}... ",
                                    t.host, t.port
                                )
                            };
                            (
                                format!(
                                    "{pre}connected.\nHTTP request sent, awaiting response... 404 Not Found\n{stamp} ERROR 404: Not Found.\n\n"
                                ),
                                8,
                            )
                        }
                        Failure::Timeout | Failure::Refused => {
                            let pre = if is_ip(&t.host) {
                                String::new()
                            } else {
                                format!(
                                    "{addr}\nConnecting to {0} ({0})|{addr}|:{1}... ",
                                    t.host, t.port
                                )
                            };
                            let why = if f == Failure::Timeout {
                                "Connection timed out"
                            } else {
                                "Connection refused"
                            };
                            (format!("{pre}failed: {why}.\n"), 4)
                        }
                    };
                    log.push_str(&tail);
                    if !quiet {
                        self.err(io, log);
                    }
                    status = code;
                    if output.is_some() && !to_stdout {
                        // `-O file` creates the file even when the download fails.
                        let _ = self.fs_write(&fname, b"", false, false);
                    }
                }
            }
        }
        status
    }

    pub(crate) async fn cmd_curl(&mut self, args: &[String], io: Io) -> i32 {
        let mut output: Option<String> = None;
        let mut remote = false;
        let mut silent = false;
        let mut show_err = false;
        let mut fail = false;
        let mut urls = Vec::new();
        let mut i = 0;
        while let Some(a) = args.get(i) {
            let next = args.get(i + 1).cloned();
            match a.as_str() {
                "-o" | "--output" => {
                    output = next;
                    i += 1;
                }
                "-O" | "--remote-name" => remote = true,
                "-s" | "--silent" => silent = true,
                "-S" | "--show-error" => show_err = true,
                "-f" | "--fail" => fail = true,
                "-X" | "-H" | "-d" | "-A" | "-e" | "-u" | "-m" | "-x" | "--data" | "--header"
                | "--request" | "--user-agent" | "--connect-timeout" | "--max-time" | "-w"
                | "-b" | "-c" | "-T" | "-F" | "--retry" | "--proxy" => i += 1,
                s if s.starts_with("--") => {}
                s if s.starts_with('-') && s.len() > 1 => {
                    for c in s.chars().skip(1) {
                        match c {
                            's' => silent = true,
                            'S' => show_err = true,
                            'f' => fail = true,
                            'O' => remote = true,
                            'o' => {
                                output = next.clone();
                                i += 1;
                            }
                            _ => {}
                        }
                    }
                }
                s => urls.push(s.to_string()),
            }
            i += 1;
        }
        if urls.is_empty() {
            self.err(
                io,
                "curl: try 'curl --help' or 'curl --manual' for more information\n",
            );
            return 2;
        }
        let show_errors = !silent || show_err;
        let mut status = 0;
        for raw in urls {
            if self.stopped() {
                break;
            }
            let Some(t) = parse_url(&raw, "http") else {
                if show_errors {
                    self.err(
                        io,
                        "curl: (3) URL using bad/illegal format or missing URL\n",
                    );
                }
                status = 3;
                continue;
            };
            let dest = if let Some(o) = &output {
                Some(o.clone())
            } else if remote {
                let r = remote_name(&t.path);
                if r.is_empty() {
                    if show_errors {
                        self.err(io, "curl: Remote file name has no length!\ncurl: (23) Failed writing received data to disk/application\n");
                    }
                    status = 23;
                    continue;
                }
                Some(r)
            } else {
                None
            };
            let outcome = self.fetch(&t.url, FetchTool::Curl).await;
            match outcome {
                FetchOutcome::Fetched { content } => {
                    let len = content.len();
                    match &dest {
                        Some(d) if d != "-" => {
                            if !silent {
                                self.err(io, format!(
                                    "  % Total    % Received % Xferd  Average Speed   Time    Time     Time  Current\n                                 Dload  Upload   Total   Spent    Left  Speed\n100 {len:>5}  100 {len:>5}    0     0  {:>5}      0 --:--:-- --:--:-- --:--:-- {:>5}\n",
                                    len * 7 % 90_000 + 1000,
                                    len * 7 % 90_000 + 1000
                                ));
                            }
                            if let Err(e) = self.fs_write(d, &content, false, false) {
                                if show_errors {
                                    self.err(io, format!("Warning: Failed to open the file {d}: {e}\ncurl: (23) Failure writing output to destination\n"));
                                }
                                status = 23;
                            }
                        }
                        _ => self.out(io, &content),
                    }
                }
                FetchOutcome::Failed { reason } => {
                    let (msg, code) = match classify(&reason) {
                        Failure::Resolve => {
                            (format!("curl: (6) Could not resolve host: {}\n", t.host), 6)
                        }
                        Failure::Timeout => (
                            format!(
                                "curl: (28) Failed to connect to {} port {} after 129{} ms: Couldn't connect to server\n",
                                t.host,
                                t.port,
                                100 + self.now % 900
                            ),
                            28,
                        ),
                        Failure::NotFound => {
                            if fail {
                                (
                                    "curl: (22) The requested URL returned error: 404\n"
                                        .to_string(),
                                    22,
                                )
                            } else {
                                let page = "<html>\r\n<head><title>404 Not Found</title></head>\r\n<body>\r\n<center><h1>404 Not Found</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n";
                                match &dest {
                                    Some(d) if d != "-" => {
                                        let _ = self.fs_write(d, page.as_bytes(), false, false);
                                    }
                                    _ => self.out(io, page),
                                }
                                continue;
                            }
                        }
                        Failure::Refused => (
                            format!(
                                "curl: (7) Failed to connect to {} port {} after {} ms: Couldn't connect to server\n",
                                t.host,
                                t.port,
                                1 + self.now % 40
                            ),
                            7,
                        ),
                    };
                    if show_errors {
                        self.err(io, msg);
                    }
                    status = code;
                }
            }
        }
        status
    }

    pub(crate) async fn cmd_tftp(&mut self, args: &[String], io: Io) -> i32 {
        let mut remote = None;
        let mut local = None;
        let mut host = None;
        let mut port = None;
        let mut i = 0;
        while let Some(a) = args.get(i) {
            let next = args.get(i + 1).cloned();
            match a.as_str() {
                "-r" => {
                    remote = next;
                    i += 1;
                }
                "-l" => {
                    local = next;
                    i += 1;
                }
                "-c" => {
                    // tftp-hpa: `tftp HOST -c get FILE [LOCAL]`
                    if args.get(i + 1).is_some_and(|v| v == "get") {
                        remote = args.get(i + 2).cloned();
                        local = args.get(i + 3).cloned();
                        i += 3;
                    }
                }
                "-g" | "-p" | "-v" | "-m" => {}
                s if s.starts_with('-') => {}
                s => {
                    if host.is_none() {
                        host = Some(s.to_string());
                    } else if port.is_none() && s.chars().all(|c| c.is_ascii_digit()) {
                        port = Some(s.to_string());
                    }
                }
            }
            i += 1;
        }
        let (Some(host), Some(remote)) = (host, remote) else {
            self.err(io, "BusyBox v1.35.0 multi-call binary.\n\nUsage: tftp [OPTIONS] HOST [PORT]\n\nTransfer a file from/to tftp server\n\n\t-l FILE\tLocal FILE\n\t-r FILE\tRemote FILE\n\t-g\tGet file\n\t-p\tPut file\n\t-b SIZE\tTransfer blocks in bytes\n");
            return 1;
        };
        let url = match &port {
            Some(p) => format!("tftp://{host}:{p}/{}", remote.trim_start_matches('/')),
            None => format!("tftp://{host}/{}", remote.trim_start_matches('/')),
        };
        let local = local.unwrap_or_else(|| remote_name(&remote));
        match self.fetch(&url, FetchTool::Tftp).await {
            FetchOutcome::Fetched { content } => {
                match self.fs_write(&local, &content, false, false) {
                    Ok(_) => 0,
                    Err(e) => {
                        self.err(io, format!("tftp: can't open '{local}': {e}\n"));
                        1
                    }
                }
            }
            FetchOutcome::Failed { reason } => {
                let msg = match classify(&reason) {
                    Failure::NotFound => "tftp: server error: (1) File not found\n".to_string(),
                    Failure::Resolve => format!("tftp: bad address '{host}'\n"),
                    _ => "tftp: timeout\n".to_string(),
                };
                self.err(io, msg);
                1
            }
        }
    }

    pub(crate) async fn cmd_ftpget(&mut self, args: &[String], io: Io) -> i32 {
        let mut ops = Vec::new();
        let mut port = None;
        let mut i = 0;
        while let Some(a) = args.get(i) {
            match a.as_str() {
                "-u" | "-p" => i += 1,
                "-P" => {
                    port = args.get(i + 1).cloned();
                    i += 1;
                }
                s if s.starts_with('-') => {}
                s => ops.push(s.to_string()),
            }
            i += 1;
        }
        let (Some(host), Some(local)) = (ops.first().cloned(), ops.get(1).cloned()) else {
            self.err(io, "BusyBox v1.35.0 multi-call binary.\n\nUsage: ftpget [OPTIONS] HOST [LOCAL_FILE] REMOTE_FILE\n\nDownload a file via FTP\n\n\t-c\tContinue previous transfer\n\t-v\tVerbose\n\t-u USER\tUsername\n\t-p PASS\tPassword\n\t-P PORT\tPort\n");
            return 1;
        };
        let remote = ops.get(2).cloned().unwrap_or_else(|| local.clone());
        let url = match &port {
            Some(p) => format!("ftp://{host}:{p}/{}", remote.trim_start_matches('/')),
            None => format!("ftp://{host}/{}", remote.trim_start_matches('/')),
        };
        match self.fetch(&url, FetchTool::Ftpget).await {
            FetchOutcome::Fetched { content } => {
                match self.fs_write(&local, &content, false, false) {
                    Ok(_) => 0,
                    Err(e) => {
                        self.err(io, format!("ftpget: can't open '{local}': {e}\n"));
                        1
                    }
                }
            }
            FetchOutcome::Failed { reason } => {
                let msg = match classify(&reason) {
                    Failure::NotFound => format!(
                        "ftpget: unexpected server response to RETR: 550 {remote}: No such file or directory\n"
                    ),
                    Failure::Resolve => format!("ftpget: bad address '{host}'\n"),
                    Failure::Timeout => format!(
                        "ftpget: can't connect to remote host ({host}): Connection timed out\n"
                    ),
                    Failure::Refused => format!(
                        "ftpget: can't connect to remote host ({host}): Connection refused\n"
                    ),
                };
                self.err(io, msg);
                1
            }
        }
    }

    pub(crate) fn cmd_scp(&mut self, args: &[String], io: Io) -> i32 {
        if args.iter().any(|a| a == "-t" || a == "-f") {
            // Remote end of an scp transfer: the sensor speaks the protocol.
            return 0;
        }
        let remote = args.iter().find(|a| !a.starts_with('-') && a.contains(':'));
        match remote {
            Some(r) => {
                let host = r
                    .split(':')
                    .next()
                    .unwrap_or("")
                    .rsplit('@')
                    .next()
                    .unwrap_or("");
                self.err(
                    io,
                    format!(
                        "ssh: connect to host {host} port 22: Connection refused\nlost connection\n"
                    ),
                );
                1
            }
            None => {
                self.err(io, "usage: scp [-346ABCOpqRrsTv] [-c cipher] [-D sftp_server_path] [-F ssh_config]\n           [-i identity_file] [-J destination] [-l limit] [-o ssh_option]\n           [-P port] [-S program] [-X sftp_option] source ... target\n");
                1
            }
        }
    }
}

fn truncate(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}
