//! Command dispatch, shell builtins, and the commands that run other commands
//! (`sh`, `sudo`, `su`, `busybox`, `env`, `xargs`, ...).

mod files;
mod net;
mod sys;
mod textproc;

use std::fmt::Write as _;

use super::fs;
use super::image::{USR_BIN, USR_SBIN};
use super::interp::{Flow, Interp, Io, Mode, NO_INPUT, NULL, State, TERM};
use super::persona::{OsFlavor, Persona};

/// Builtins that bypass `$PATH` (bash's own).
const BUILTINS: &[&str] = &[
    "cd", "pwd", "echo", "printf", "export", "unset", "set", "exit", "logout", "history", "type",
    "command", "source", ".", "eval", "read", "shift", "true", "false", ":", "test", "[", "[[",
    "break", "continue", "return", "local", "ulimit", "umask", "trap", "wait", "jobs", "alias",
    "unalias", "exec", "hash", "kill", "declare", "typeset", "readonly", "let", "builtin",
    "enable", "times", "shopt", "bg", "fg", "disown", "help", "time", "getopts",
];

pub(crate) fn is_builtin(name: &str) -> bool {
    BUILTINS.contains(&name)
}

/// The command a base-image binary implements, from its content seed.
pub(crate) fn binary_name(seed: u64) -> Option<&'static str> {
    USR_BIN
        .iter()
        .chain(USR_SBIN.iter())
        .chain(["killall5"].iter())
        .copied()
        .find(|n| name_seed(n) == seed)
}

fn name_seed(s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// `Mon Mar  4 12:00:00 2024`-style formatting of a unix time (UTC).
pub(crate) fn fmt_time(t: i64, fmt: &str) -> String {
    chrono::DateTime::from_timestamp(t, 0)
        .map(|d| d.format(fmt).to_string())
        .unwrap_or_default()
}

pub(crate) fn motd(st: &State) -> String {
    let p = &st.persona;
    let now = st.now();
    let last = (now - 3600 * (2 + p.derive(80, 70) as i64) - p.derive(81, 3600) as i64)
        .max(p.boot_time + 600);
    let last_line = format!(
        "Last login: {} from {}\n",
        fmt_time(last, "%a %b %e %H:%M:%S %Y"),
        p.last_login_from
    );
    if p.os.is_ubuntu() {
        let m = p.memory();
        let (load, _, _) = super::image::loadavg(p, now);
        let used_pct = p.disk_used_kib as f64 * 100.0 / p.disk_total_kib.max(1) as f64;
        let mut s = format!(
            "Welcome to {} (GNU/Linux {} x86_64)\n\n * Documentation:  https://help.ubuntu.com\n * Management:     https://landscape.canonical.com\n * Support:        https://ubuntu.com/pro\n\n System information as of {}\n\n",
            p.os.pretty_name(),
            p.kernel_release,
            fmt_time(now, "%a %b %e %H:%M:%S UTC %Y")
        );
        let left = [
            format!("System load:  {load:.2}"),
            format!(
                "Usage of /:   {used_pct:.1}% of {:.2}GB",
                p.disk_total_kib as f64 / 1024.0 / 1024.0
            ),
            format!("Memory usage: {}%", m.used * 100 / m.total.max(1)),
            "Swap usage:   0%".to_string(),
        ];
        let right = [
            format!("Processes:             {}", 100 + p.derive(82, 40)),
            "Users logged in:       0".to_string(),
            format!("IPv4 address for {}: {}", p.iface, p.ip),
            String::new(),
        ];
        for (l, r) in left.iter().zip(right.iter()) {
            let line = format!("  {l:<32}{r}");
            let _ = writeln!(s, "{}", line.trim_end());
        }
        s.push_str("\nExpanded Security Maintenance for Applications is not enabled.\n\n");
        let _ = writeln!(
            s,
            "{} updates can be applied immediately.\n",
            p.derive(83, 40)
        );
        s.push_str(&last_line);
        s
    } else {
        format!(
            "Linux {} {} {} x86_64\n\nThe programs included with the Debian GNU/Linux system are free software;\nthe exact distribution terms for each program are described in the\nindividual files in /usr/share/doc/*/copyright.\n\nDebian GNU/Linux comes with ABSOLUTELY NO WARRANTY, to the extent\npermitted by applicable law.\n{last_line}",
            p.hostname, p.kernel_release, p.kernel_version
        )
    }
}

/// Splits `-abc` style flags from operands (`--` ends options; long options are
/// returned as flags with their `--` prefix stripped into `long`).
pub(crate) struct Opts {
    pub flags: Vec<char>,
    pub long: Vec<String>,
    pub args: Vec<String>,
}

impl Opts {
    pub fn parse(args: &[String]) -> Opts {
        let mut o = Opts {
            flags: Vec::new(),
            long: Vec::new(),
            args: Vec::new(),
        };
        let mut only_args = false;
        for a in args {
            if only_args || a == "-" || !a.starts_with('-') {
                o.args.push(a.clone());
            } else if a == "--" {
                only_args = true;
            } else if let Some(l) = a.strip_prefix("--") {
                o.long.push(l.to_string());
            } else {
                o.flags.extend(a.chars().skip(1));
            }
        }
        o
    }

    pub fn has(&self, c: char) -> bool {
        self.flags.contains(&c)
    }

    pub fn has_long(&self, l: &str) -> bool {
        self.long
            .iter()
            .any(|x| x == l || x.starts_with(&format!("{l}=")))
    }
}

pub(crate) fn busybox_version(p: &Persona) -> &'static str {
    match p.os {
        OsFlavor::Debian12 => "BusyBox v1.35.0 (Debian 1:1.35.0-4+b3) multi-call binary.",
        OsFlavor::Ubuntu2204 => "BusyBox v1.30.1 (Ubuntu 1:1.30.1-7ubuntu3) multi-call binary.",
        OsFlavor::Ubuntu2404 => "BusyBox v1.36.1 (Ubuntu 1:1.36.1-6ubuntu3.1) multi-call binary.",
    }
}

/// Applets our busybox offers (all implemented).
const APPLETS: &[&str] = &[
    "[",
    "[[",
    "arch",
    "ash",
    "awk",
    "base64",
    "basename",
    "cat",
    "chgrp",
    "chmod",
    "chown",
    "clear",
    "cp",
    "cut",
    "date",
    "dd",
    "df",
    "dirname",
    "dmesg",
    "du",
    "echo",
    "egrep",
    "env",
    "false",
    "fgrep",
    "find",
    "free",
    "ftpget",
    "grep",
    "groups",
    "gunzip",
    "gzip",
    "halt",
    "head",
    "hostname",
    "id",
    "ifconfig",
    "ip",
    "kill",
    "killall",
    "ln",
    "ls",
    "md5sum",
    "mkdir",
    "mktemp",
    "more",
    "mount",
    "mv",
    "netstat",
    "nohup",
    "nproc",
    "passwd",
    "pgrep",
    "pidof",
    "pkill",
    "poweroff",
    "printf",
    "ps",
    "pwd",
    "readlink",
    "reboot",
    "rm",
    "rmdir",
    "route",
    "sed",
    "seq",
    "sh",
    "sha1sum",
    "sha256sum",
    "sleep",
    "sort",
    "stat",
    "sync",
    "tail",
    "tar",
    "tee",
    "test",
    "tftp",
    "timeout",
    "top",
    "touch",
    "tr",
    "true",
    "tty",
    "umount",
    "uname",
    "uniq",
    "uptime",
    "vi",
    "watch",
    "wc",
    "wget",
    "which",
    "whoami",
    "xargs",
    "yes",
];

impl Interp<'_> {
    /// Bash builtins.
    pub(crate) fn builtin<'s>(
        &'s mut self,
        name: &'s str,
        argv: Vec<String>,
        io: Io,
    ) -> super::interp::Fut<'s, i32> {
        Box::pin(async move {
            let args: Vec<String> = argv.get(1..).unwrap_or(&[]).to_vec();
            match name {
                "cd" => self.cd(&args, io),
                "pwd" => {
                    let cwd = self.st.cwd.clone();
                    self.out(io, format!("{cwd}\n"));
                    0
                }
                "export" | "declare" | "typeset" | "readonly" | "local" => {
                    self.export(name, &args, io)
                }
                "unset" => {
                    for a in args.iter().filter(|a| !a.starts_with('-')) {
                        self.st.vars.remove(a);
                        self.st.functions.remove(a);
                    }
                    0
                }
                "set" => self.set_builtin(&args, io),
                "exit" | "logout" => {
                    let code = args
                        .first()
                        .and_then(|a| a.parse::<i64>().ok())
                        .map(|c| (c & 0xff) as i32)
                        .unwrap_or(self.st.last_status);
                    if let Some(a) = args.first()
                        && a.parse::<i64>().is_err()
                    {
                        self.errln(io, &format!("exit: {a}: numeric argument required"));
                    }
                    self.flow = Flow::Exit;
                    code
                }
                "history" => self.history(&args, io),
                "type" => self.type_builtin(&args, io),
                "command" => {
                    let o = Opts::parse(&args);
                    if o.has('v') || o.has('V') {
                        let mut status = 0;
                        for a in &o.args {
                            if let Some(line) = self.describe(a, o.has('V')) {
                                self.out(io, format!("{line}\n"));
                            } else {
                                status = 1;
                            }
                        }
                        return status;
                    }
                    let rest: Vec<String> = args
                        .iter()
                        .skip_while(|a| a.starts_with('-'))
                        .cloned()
                        .collect();
                    let Some(cmd) = rest.first().cloned() else {
                        return 0;
                    };
                    if is_builtin(&cmd) {
                        return self.builtin(&cmd, rest, io).await;
                    }
                    match self.lookup_path(&cmd) {
                        Some(_) => self.run_argv_nofunc(rest, io).await,
                        None => self.run_argv(rest, io).await,
                    }
                }
                "builtin" => match args.first().cloned() {
                    Some(cmd) if is_builtin(&cmd) => self.builtin(&cmd, args, io).await,
                    Some(cmd) => {
                        self.errln(io, &format!("builtin: {cmd}: not a shell builtin"));
                        1
                    }
                    None => 0,
                },
                "source" | "." => {
                    let Some(file) = args.first().cloned() else {
                        self.errln(io, &format!("{name}: filename argument required"));
                        return 2;
                    };
                    let path = if file.contains('/') || self.st.fs.exists(&self.st.cwd, &file) {
                        Some(file.clone())
                    } else {
                        self.lookup_path(&file).map(|(p, _)| p)
                    };
                    let data = match path.map(|p| self.fs_read(&p)) {
                        Some(Ok(d)) => d,
                        Some(Err(e)) => {
                            self.errln(io, &format!("{file}: {e}"));
                            return 1;
                        }
                        None => {
                            self.errln(io, &format!("{file}: No such file or directory"));
                            return 1;
                        }
                    };
                    let text = String::from_utf8_lossy(&data).into_owned();
                    let mode = self.mode;
                    let saved_pos = if args.len() > 1 {
                        Some(std::mem::replace(
                            &mut self.st.positional,
                            args.get(1..).unwrap_or(&[]).to_vec(),
                        ))
                    } else {
                        None
                    };
                    let s = self
                        .run_script(&text, &file, Vec::new(), io, false, mode)
                        .await;
                    if let Some(p) = saved_pos {
                        self.st.positional = p;
                    }
                    s
                }
                "eval" => {
                    let text = args.join(" ");
                    let mode = self.mode;
                    let name = self.script_name.clone();
                    self.run_script(&text, &name, Vec::new(), io, false, mode)
                        .await
                }
                "exec" => {
                    let rest: Vec<String> = args
                        .iter()
                        .skip_while(|a| a.starts_with('-'))
                        .cloned()
                        .collect();
                    if rest.is_empty() {
                        return 0;
                    }
                    let s = self.run_argv_nofunc(rest, io).await;
                    if !self.aborted {
                        self.flow = Flow::Exit;
                    }
                    s
                }
                "read" => self.read_builtin(&args, io),
                "shift" => {
                    let n: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(1);
                    if n > self.st.positional.len() {
                        return 1;
                    }
                    self.st.positional.drain(..n);
                    0
                }
                "break" | "continue" => {
                    let n: u32 = args
                        .first()
                        .and_then(|a| a.parse().ok())
                        .unwrap_or(1)
                        .max(1);
                    self.flow = if name == "break" {
                        Flow::Break(n)
                    } else {
                        Flow::Continue(n)
                    };
                    0
                }
                "return" => {
                    let code = args
                        .first()
                        .and_then(|a| a.parse::<i64>().ok())
                        .map(|c| (c & 0xff) as i32)
                        .unwrap_or(self.st.last_status);
                    self.flow = Flow::Return;
                    code
                }
                "ulimit" => {
                    let o = Opts::parse(&args);
                    if o.has('a') {
                        self.out(io, ULIMIT_A);
                    } else if o.args.is_empty() {
                        self.out(
                            io,
                            if o.has('n') {
                                "1024\n"
                            } else if o.has('u') {
                                "15432\n"
                            } else {
                                "unlimited\n"
                            },
                        );
                    }
                    0
                }
                "umask" => {
                    if args.is_empty() {
                        self.out(io, "0022\n");
                    }
                    0
                }
                "alias" => {
                    if args.is_empty() {
                        let lines: String = self
                            .st
                            .aliases
                            .iter()
                            .map(|(k, v)| format!("alias {k}='{v}'\n"))
                            .collect();
                        self.out(io, lines);
                    }
                    for a in &args {
                        if let Some((k, v)) = a.split_once('=') {
                            self.st.aliases.insert(k.to_string(), v.to_string());
                        }
                    }
                    0
                }
                "unalias" => {
                    for a in &args {
                        self.st.aliases.remove(a);
                    }
                    0
                }
                "let" => {
                    let mut v = 0;
                    for a in &args {
                        match self.arith(a) {
                            Ok(x) => v = x,
                            Err(e) => {
                                self.errln(io, &format!("let: {a}: {e}"));
                                return 1;
                            }
                        }
                    }
                    i32::from(v == 0)
                }
                "jobs" | "trap" | "wait" | "hash" | "enable" | "shopt" | "disown" | "getopts" => 0,
                "bg" | "fg" => {
                    self.errln(io, &format!("{name}: current: no such job"));
                    1
                }
                "times" => {
                    self.out(io, "0m0.004s 0m0.002s\n0m0.001s 0m0.000s\n");
                    0
                }
                "help" => {
                    let v = super::interp::bash_version(&self.st.persona);
                    self.out(
                        io,
                        format!("GNU bash, version {v} (x86_64-pc-linux-gnu)\nThese shell commands are defined internally.  Type `help' to see this list.\n"),
                    );
                    0
                }
                "time" => {
                    let s = self.run_argv(args, io).await;
                    self.err(io, "\nreal\t0m0.002s\nuser\t0m0.001s\nsys\t0m0.000s\n");
                    s
                }
                "[[" => {
                    let mut a = args;
                    if a.last().map(String::as_str) == Some("]]") {
                        a.pop();
                    }
                    self.test(&a, io)
                }
                _ => self.external(name, argv, io).await,
            }
        })
    }

    /// Like `run_argv` but skipping shell functions (`command`, `exec`, `sudo`).
    pub(crate) fn run_argv_nofunc(
        &mut self,
        argv: Vec<String>,
        io: Io,
    ) -> super::interp::Fut<'_, i32> {
        Box::pin(async move {
            let Some(name) = argv.first().cloned() else {
                return 0;
            };
            let saved = self.st.functions.remove(&name);
            let s = self.run_argv(argv, io).await;
            if let Some(f) = saved {
                self.st.functions.insert(name, f);
            }
            s
        })
    }

    /// Commands that exist as files (dispatched by name).
    pub(crate) fn external<'s>(
        &'s mut self,
        name: &'s str,
        argv: Vec<String>,
        io: Io,
    ) -> super::interp::Fut<'s, i32> {
        Box::pin(async move {
            let args: Vec<String> = argv.get(1..).unwrap_or(&[]).to_vec();
            match name {
                "sh" | "bash" | "dash" | "rbash" | "ash" => self.cmd_sh(name, &args, io).await,
                "sudo" => self.cmd_sudo(&args, io).await,
                "su" => self.cmd_su(&args, io).await,
                "busybox" => {
                    let Some(applet) = args.first().cloned() else {
                        let text = self.busybox_banner();
                        self.out(io, text);
                        return 0;
                    };
                    if applet == "--list" || applet == "--list-full" {
                        let list: String = APPLETS.iter().map(|a| format!("{a}\n")).collect();
                        self.out(io, list);
                        return 0;
                    }
                    if applet == "--help" {
                        let text = self.busybox_banner();
                        self.out(io, text);
                        return 0;
                    }
                    let applet_name = fs::base_name(&applet).to_string();
                    if !APPLETS.contains(&applet_name.as_str()) {
                        self.err(io, format!("{applet}: applet not found\n"));
                        return 127;
                    }
                    let name = match applet_name.as_str() {
                        "ash" => "sh",
                        "egrep" | "fgrep" => "grep",
                        "gunzip" => "gzip",
                        "watch" => "timeout",
                        other => other,
                    };
                    let mut sub = args.clone();
                    if applet_name == "egrep" {
                        sub.insert(1, "-E".into());
                    } else if applet_name == "fgrep" {
                        sub.insert(1, "-F".into());
                    } else if applet_name == "gunzip" {
                        sub.insert(1, "-d".into());
                    } else if applet_name == "watch" {
                        sub.insert(1, "0".into());
                    }
                    let name = name.to_string();
                    let was = std::mem::replace(&mut self.busybox, true);
                    let s = if is_builtin(&name) && !matches!(name.as_str(), "kill" | "time") {
                        self.builtin(&name, sub, io).await
                    } else {
                        self.external(&name, sub, io).await
                    };
                    self.busybox = was;
                    s
                }
                "env" => {
                    let mut rest = args.iter().peekable();
                    let mut assigns = Vec::new();
                    let mut clear = false;
                    while let Some(a) = rest.peek() {
                        if *a == "-i" || *a == "-" {
                            clear = true;
                        } else if a.starts_with('-') {
                        } else if a.contains('=') && !a.starts_with('=') {
                            assigns.push((*a).clone());
                        } else {
                            break;
                        }
                        rest.next();
                    }
                    let cmd: Vec<String> = rest.cloned().collect();
                    if cmd.is_empty() {
                        let mut s = String::new();
                        if !clear {
                            for (k, v) in self.st.vars.iter().filter(|(_, v)| v.exported) {
                                let _ = writeln!(s, "{k}={}", v.value);
                            }
                        }
                        for a in &assigns {
                            let _ = writeln!(s, "{a}");
                        }
                        if !clear {
                            s.push_str("_=/usr/bin/env\n");
                        }
                        self.out(io, s);
                        return 0;
                    }
                    let saved = self.save_env();
                    for a in assigns {
                        if let Some((k, v)) = a.split_once('=') {
                            self.st.set_var(k, v.to_string(), true);
                        }
                    }
                    let s = self.run_argv_nofunc(cmd, io).await;
                    self.restore_env(saved);
                    s
                }
                "nohup" | "setsid" | "nice" | "ionice" | "stdbuf" | "timeout" => {
                    let mut rest: Vec<String> = args
                        .iter()
                        .skip_while(|a| a.starts_with('-'))
                        .cloned()
                        .collect();
                    if (name == "timeout"
                        || (name == "nice" && args.first().is_some_and(|a| a == "-n")))
                        && !rest.is_empty()
                    {
                        rest.remove(0);
                    }
                    if rest.is_empty() {
                        self.err(io, format!("{name}: missing operand\nTry '{name} --help' for more information.\n"));
                        return 125;
                    }
                    let mut io2 = io;
                    if name == "nohup" && io.out == TERM {
                        self.err(
                            io,
                            "nohup: ignoring input and appending output to 'nohup.out'\n",
                        );
                        io2.out = NULL;
                        io2.stdin = NO_INPUT;
                    }
                    self.run_argv_nofunc(rest, io2).await
                }
                "xargs" => self.cmd_xargs(&args, io).await,
                "wget" => self.cmd_wget(&args, io).await,
                "curl" => self.cmd_curl(&args, io).await,
                "tftp" => self.cmd_tftp(&args, io).await,
                "ftpget" => self.cmd_ftpget(&args, io).await,
                "scp" => self.cmd_scp(&args, io),
                // A file we have no emulation for behaves like a program that ran
                // and printed nothing.
                _ => self.sync_command(name, &args, io).unwrap_or_default(),
            }
        })
    }

    fn busybox_banner(&self) -> String {
        let mut s = format!(
            "{}\nBusyBox is copyrighted by many authors between 1998-2015.\nLicensed under GPLv2. See source distribution for detailed\ncopyright notices.\n\nUsage: busybox [function [arguments]...]\n   or: busybox --list[-full]\n   or: busybox --show SCRIPT\n   or: busybox --install [-s] [DIR]\n   or: function [arguments]...\n\n\tBusyBox is a multi-call binary that combines many common Unix\n\tutilities into a single executable.  Most people will create a\n\tlink to busybox for each function they wish to use and BusyBox\n\twill act like whatever it was invoked as.\n\nCurrently defined functions:\n",
            busybox_version(&self.st.persona)
        );
        let mut line = String::from("\t");
        for (i, a) in APPLETS.iter().enumerate() {
            let item = if i + 1 == APPLETS.len() {
                (*a).to_string()
            } else {
                format!("{a}, ")
            };
            if line.len() + item.len() > 78 {
                s.push_str(line.trim_end());
                s.push('\n');
                line = String::from("\t");
            }
            line.push_str(&item);
        }
        s.push_str(line.trim_end());
        s.push_str("\n\n");
        s
    }

    async fn cmd_sh(&mut self, name: &str, args: &[String], io: Io) -> i32 {
        let dash = matches!(name, "sh" | "dash" | "ash");
        let mode = if dash { Mode::Dash } else { Mode::BashC };
        let mut i = 0;
        let mut command: Option<String> = None;
        while let Some(a) = args.get(i) {
            if a == "-c" {
                command = Some(args.get(i + 1).cloned().unwrap_or_default());
                i += 2;
                break;
            } else if a.starts_with('-') && a.len() > 1 && !a.starts_with("--") {
                if a.contains('c') {
                    command = Some(args.get(i + 1).cloned().unwrap_or_default());
                    i += 2;
                    break;
                }
                i += 1;
            } else if a.starts_with("--") {
                i += 1;
            } else {
                break;
            }
        }
        if let Some(cmd) = command {
            if cmd.is_empty() && args.get(i - 1).is_none_or(|a| a != "-c") {
                self.err(io, format!("{name}: -c: option requires an argument\n"));
                return 2;
            }
            let rest = args.get(i..).unwrap_or(&[]).to_vec();
            let (arg0, params) = match rest.split_first() {
                Some((a0, p)) => (a0.clone(), p.to_vec()),
                None => (String::new(), Vec::new()),
            };
            let shown = if arg0.is_empty() { String::new() } else { arg0 };
            return self.run_script(&cmd, &shown, params, io, true, mode).await;
        }
        if let Some(file) = args.get(i).cloned() {
            let params = args.get(i + 1..).unwrap_or(&[]).to_vec();
            let data = match self.fs_read(&file) {
                Ok(d) => d,
                Err(e) => {
                    if dash {
                        self.err(io, format!("{name}: 0: cannot open {file}: {e}\n"));
                    } else {
                        self.err(io, format!("{name}: {file}: {e}\n"));
                    }
                    return if dash { 2 } else { 127 };
                }
            };
            if data.starts_with(b"\x7fELF") || data.contains(&0) {
                self.err(io, format!("{file}: {file}: cannot execute binary file\n"));
                return 126;
            }
            let text = String::from_utf8_lossy(&data).into_owned();
            return self.run_script(&text, &file, params, io, true, mode).await;
        }
        if self.has_stdin(io) {
            let data = self.read_all(io);
            let text = String::from_utf8_lossy(&data).into_owned();
            let script_io = Io {
                stdin: NO_INPUT,
                ..io
            };
            return self
                .run_script(&text, "", Vec::new(), script_io, true, mode)
                .await;
        }
        // An interactive sub-shell: the following lines simply keep running here.
        0
    }

    async fn cmd_sudo(&mut self, args: &[String], io: Io) -> i32 {
        let mut i = 0;
        let mut target = "root".to_string();
        let mut login_shell = false;
        while let Some(a) = args.get(i) {
            match a.as_str() {
                "-u" => {
                    target = args.get(i + 1).cloned().unwrap_or_else(|| "root".into());
                    i += 2;
                }
                "-i" | "-s" | "-su" => {
                    login_shell = true;
                    i += 1;
                }
                "-l" => {
                    let user = self.st.user.clone();
                    let host = self.st.persona.hostname.clone();
                    self.out(io, format!("Matching Defaults entries for {user} on {host}:\n    env_reset, mail_badpass,\n    secure_path=/usr/local/sbin\\:/usr/local/bin\\:/usr/sbin\\:/usr/bin\\:/sbin\\:/bin,\n    use_pty\n\nUser {user} may run the following commands on {host}:\n    (ALL : ALL) ALL\n"));
                    return 0;
                }
                "-V" => {
                    self.out(io, "Sudo version 1.9.13p3\nSudoers policy plugin version 1.9.13p3\nSudoers file grammar version 50\nSudoers I/O plugin version 1.9.13p3\nSudoers audit plugin version 1.9.13p3\n");
                    return 0;
                }
                s if s.starts_with('-') => i += 1,
                _ => break,
            }
        }
        if self.st.uid != 0 {
            let allowed = self
                .st
                .persona
                .users
                .iter()
                .any(|u| u.name == self.st.user && u.sudo);
            if !allowed {
                let user = self.st.user.clone();
                self.err(
                    io,
                    format!(
                        "{user} is not in the sudoers file.  This incident will be reported.\n"
                    ),
                );
                return 1;
            }
        }
        let rest = args.get(i..).unwrap_or(&[]).to_vec();
        let interactive_shell = rest.is_empty()
            || (rest.len() == 1 && matches!(fs::base_name(&rest[0]), "su" | "bash" | "sh" | "-"))
            || (rest.len() == 2 && fs::base_name(&rest[0]) == "su" && rest[1] == "-");
        if login_shell && rest.is_empty() || interactive_shell && !rest.is_empty() {
            self.switch_user(&target);
            return 0;
        }
        if rest.is_empty() {
            self.err(io, "usage: sudo -h | -K | -k | -V\nusage: sudo -v [-ABkNnS] [-g group] [-h host] [-p prompt] [-u user]\nusage: sudo -l [-ABkNnS] [-g group] [-h host] [-p prompt] [-U user] [-u user] [command [arg ...]]\nusage: sudo [-ABbEHknPSs] [-r role] [-t type] [-C num] [-D directory] [-g group] [-h host] [-p prompt] [-R] [-T timeout] [-u user] [VAR=value] [-i | -s] [command [arg ...]]\n");
            return 1;
        }
        let saved = (self.st.user.clone(), self.st.uid, self.st.gid);
        let saved_vars = self.st.vars.clone();
        self.st.uid = self.st.persona.uid_of(&target);
        self.st.gid = self.st.uid;
        self.st.user = target.clone();
        self.st.set_var("USER", target.clone(), true);
        self.st
            .set_var("HOME", self.st.persona.home_of(&target), true);
        self.st.set_var(
            "PATH",
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into(),
            true,
        );
        let s = self.run_argv_nofunc(rest, io).await;
        // `sudo su` inside may have pushed an identity; only undo our own switch.
        if self.st.user_stack.is_empty() || self.st.user == target {
            (self.st.user, self.st.uid, self.st.gid) = saved;
            self.st.vars = saved_vars;
        }
        s
    }

    /// Starts a "new shell" as `user`: later lines run as that user until `exit`.
    pub(crate) fn switch_user(&mut self, user: &str) {
        let id = super::interp::Identity {
            user: self.st.user.clone(),
            uid: self.st.uid,
            gid: self.st.gid,
            cwd: self.st.cwd.clone(),
            vars: self.st.vars.clone(),
        };
        if self.st.user_stack.len() < 16 {
            self.st.user_stack.push(id);
        }
        let cwd = self.st.cwd.clone();
        self.st.become_user(user);
        if self.in_subshell_depth() == 0 {
            // `su` without `-` keeps the directory.
            self.st.cwd = cwd;
            self.st.set_var("PWD", self.st.cwd.clone(), true);
        }
    }

    async fn cmd_su(&mut self, args: &[String], io: Io) -> i32 {
        let mut target = "root".to_string();
        let mut login = false;
        let mut command = None;
        let mut i = 0;
        while let Some(a) = args.get(i) {
            match a.as_str() {
                "-" | "-l" | "--login" => login = true,
                "-c" | "--command" => {
                    command = args.get(i + 1).cloned();
                    i += 1;
                }
                s if s.starts_with('-') => {}
                s => target = s.to_string(),
            }
            i += 1;
        }
        let known = target == "root" || self.st.persona.users.iter().any(|u| u.name == target);
        if !known {
            self.err(io, format!("su: user {target} does not exist or the user entry does not contain all the required fields\n"));
            return 1;
        }
        if let Some(cmd) = command {
            let saved = self.save_env();
            self.st.uid = self.st.persona.uid_of(&target);
            self.st.gid = self.st.uid;
            self.st.user = target.clone();
            let s = self
                .run_script(&cmd, "", Vec::new(), io, true, Mode::BashC)
                .await;
            self.restore_env(saved);
            return s;
        }
        let cwd = self.st.cwd.clone();
        self.switch_user(&target);
        if !login {
            self.st.cwd = cwd;
        } else {
            self.st.cwd = self.st.persona.home_of(&target);
        }
        0
    }

    fn in_subshell_depth(&self) -> u32 {
        self.depth
    }

    async fn cmd_xargs(&mut self, args: &[String], io: Io) -> i32 {
        let mut i = 0;
        let mut per: Option<usize> = None;
        let mut replace: Option<String> = None;
        while let Some(a) = args.get(i) {
            match a.as_str() {
                "-n" => {
                    per = args.get(i + 1).and_then(|v| v.parse().ok());
                    i += 2;
                }
                "-I" => {
                    replace = args.get(i + 1).cloned();
                    i += 2;
                }
                s if s.starts_with("-n") => {
                    per = s[2..].parse().ok();
                    i += 1;
                }
                s if s.starts_with('-') => i += 1,
                _ => break,
            }
        }
        let mut cmd = args.get(i..).unwrap_or(&[]).to_vec();
        if cmd.is_empty() {
            cmd.push("echo".into());
        }
        let input = self.read_all(io);
        let text = String::from_utf8_lossy(&input).into_owned();
        let io2 = Io {
            stdin: NO_INPUT,
            ..io
        };
        let mut status = 0;
        if let Some(r) = replace {
            for line in text.lines().filter(|l| !l.trim().is_empty()) {
                if self.stopped() {
                    break;
                }
                let argv: Vec<String> = cmd.iter().map(|c| c.replace(&r, line)).collect();
                status = self.run_argv_nofunc(argv, io2).await.max(status);
            }
            return status;
        }
        let items: Vec<String> = text.split_whitespace().map(str::to_string).collect();
        let chunk = per.unwrap_or(items.len().max(1)).max(1);
        if items.is_empty() {
            return self.run_argv_nofunc(cmd, io2).await;
        }
        for group in items.chunks(chunk) {
            if self.stopped() {
                break;
            }
            let mut argv = cmd.clone();
            argv.extend(group.iter().cloned());
            let s = self.run_argv_nofunc(argv, io2).await;
            if s != 0 {
                status = 123;
            }
        }
        status
    }

    fn cd(&mut self, args: &[String], io: Io) -> i32 {
        let operands: Vec<&String> = args
            .iter()
            .filter(|a| !a.starts_with('-') || *a == "-")
            .collect();
        if operands.len() > 1 {
            self.errln(io, "cd: too many arguments");
            return 1;
        }
        let target = match operands.first() {
            None => self.st.var("HOME").unwrap_or("/").to_string(),
            Some(a) if a.as_str() == "-" => match self.st.var("OLDPWD") {
                Some(o) => {
                    let o = o.to_string();
                    self.out(io, format!("{o}\n"));
                    o
                }
                None => {
                    self.errln(io, "cd: OLDPWD not set");
                    return 1;
                }
            },
            Some(a) => (*a).clone(),
        };
        if target.is_empty() {
            return 0;
        }
        match self.st.fs.stat(&self.st.cwd, &target) {
            Ok((_, node)) if !node.is_dir() => {
                self.errln(io, &format!("cd: {target}: Not a directory"));
                1
            }
            Ok((_, node)) if !fs::may(&node, self.st.uid, self.st.gid, fs::Access::Exec) => {
                self.errln(io, &format!("cd: {target}: Permission denied"));
                1
            }
            Ok(_) => {
                // bash keeps the logical path (symlinks not resolved).
                let logical = fs::normalize(&self.st.cwd, &target);
                let old = std::mem::replace(&mut self.st.cwd, logical.clone());
                self.st.set_var("OLDPWD", old, true);
                self.st.set_var("PWD", logical, true);
                0
            }
            Err(e) => {
                if self.mode == Mode::Dash {
                    let msg = format!("{}: cd: can't cd to {target}\n", self.prefix());
                    self.err(io, msg);
                    2
                } else {
                    self.errln(io, &format!("cd: {target}: {e}"));
                    1
                }
            }
        }
    }

    fn export(&mut self, name: &str, args: &[String], io: Io) -> i32 {
        let print = args.is_empty() || args.iter().all(|a| a == "-p");
        if print {
            let mut s = String::new();
            for (k, v) in &self.st.vars {
                if name == "export" && !v.exported {
                    continue;
                }
                let flag = if v.exported { "-x" } else { "--" };
                let _ = writeln!(s, "declare {flag} {k}=\"{}\"", v.value.replace('"', "\\\""));
            }
            self.out(io, s);
            return 0;
        }
        let export = name == "export" || args.iter().any(|a| a == "-x");
        let mut status = 0;
        for a in args.iter().filter(|a| !a.starts_with('-')) {
            let (k, v) = match a.split_once('=') {
                Some((k, v)) => (k.to_string(), Some(v.to_string())),
                None => (a.clone(), None),
            };
            if !k
                .chars()
                .next()
                .is_some_and(|c| c == '_' || c.is_ascii_alphabetic())
                || !k.chars().all(|c| c == '_' || c.is_ascii_alphanumeric())
            {
                self.errln(io, &format!("{name}: `{a}': not a valid identifier"));
                status = 1;
                continue;
            }
            match v {
                Some(v) => self.st.set_var(&k, v, export),
                None => {
                    let cur = self.st.var(&k).unwrap_or("").to_string();
                    if export || self.st.var(&k).is_none() {
                        self.st.set_var(&k, cur, export);
                    }
                }
            }
        }
        status
    }

    fn set_builtin(&mut self, args: &[String], io: Io) -> i32 {
        if args.is_empty() {
            let mut s = String::new();
            for (k, v) in &self.st.vars {
                let _ = writeln!(s, "{k}={}", shell_quote_value(&v.value));
            }
            self.out(io, s);
            return 0;
        }
        if let Some(pos) = args.iter().position(|a| a == "--") {
            self.st.positional = args.get(pos + 1..).unwrap_or(&[]).to_vec();
        } else if !args
            .iter()
            .any(|a| a.starts_with('-') || a.starts_with('+'))
        {
            self.st.positional = args.to_vec();
        }
        0
    }

    fn history(&mut self, args: &[String], io: Io) -> i32 {
        if args.first().is_some_and(|a| a == "-c") {
            self.st.history.clear();
            return 0;
        }
        let n: Option<usize> = args.first().and_then(|a| a.parse().ok());
        let total = self.st.history.len();
        let skip = n.map(|n| total.saturating_sub(n)).unwrap_or(0);
        let mut s = String::new();
        for (i, line) in self.st.history.iter().enumerate().skip(skip) {
            let _ = writeln!(s, "{:>5}  {line}", i + 1);
        }
        self.out(io, s);
        0
    }

    fn describe(&self, name: &str, verbose: bool) -> Option<String> {
        const KEYWORDS: &[&str] = &[
            "if", "then", "else", "elif", "fi", "case", "esac", "for", "while", "until", "do",
            "done", "in", "function", "{", "}", "!", "[[", "]]", "time",
        ];
        if KEYWORDS.contains(&name) {
            return Some(if verbose {
                format!("{name} is a shell keyword")
            } else {
                name.to_string()
            });
        }
        if self.st.functions.contains_key(name) {
            return Some(if verbose {
                format!("{name} is a function")
            } else {
                name.to_string()
            });
        }
        if let Some(a) = self.st.aliases.get(name) {
            return Some(format!("alias {name}='{a}'"));
        }
        if is_builtin(name) {
            return Some(if verbose {
                format!("{name} is a shell builtin")
            } else {
                name.to_string()
            });
        }
        if name.contains('/') {
            return self
                .st
                .fs
                .stat(&self.st.cwd, name)
                .ok()
                .filter(|(_, n)| n.kind == fs::Kind::File)
                .map(|_| {
                    if verbose {
                        format!("{name} is {name}")
                    } else {
                        name.to_string()
                    }
                });
        }
        let (canon, _) = self.lookup_path(name)?;
        // `type` shows the first PATH hit, not the resolved symlink.
        let path = self.st.var("PATH").unwrap_or("").to_string();
        let shown = path
            .split(':')
            .map(|d| format!("{d}/{name}"))
            .find(|p| self.st.fs.exists("/", p))
            .unwrap_or(canon);
        Some(if verbose {
            format!("{name} is {shown}")
        } else {
            shown
        })
    }

    fn type_builtin(&mut self, args: &[String], io: Io) -> i32 {
        let o = Opts::parse(args);
        let mut status = 0;
        for a in &o.args {
            match self.describe(a, !o.has('p') && !o.has('P')) {
                Some(line) => {
                    let line = if o.has('t') {
                        if is_builtin(a) {
                            "builtin".to_string()
                        } else if self.st.functions.contains_key(a) {
                            "function".to_string()
                        } else {
                            "file".to_string()
                        }
                    } else {
                        line
                    };
                    self.out(io, format!("{line}\n"));
                }
                None => {
                    self.errln(io, &format!("type: {a}: not found"));
                    status = 1;
                }
            }
        }
        status
    }

    fn read_builtin(&mut self, args: &[String], io: Io) -> i32 {
        let mut names = Vec::new();
        let mut i = 0;
        while let Some(a) = args.get(i) {
            if matches!(a.as_str(), "-p" | "-t" | "-n" | "-d" | "-u" | "-N") {
                if a == "-p" {
                    let prompt = args.get(i + 1).cloned().unwrap_or_default();
                    self.err(io, prompt);
                }
                i += 2;
                continue;
            }
            if !a.starts_with('-') {
                names.push(a.clone());
            }
            i += 1;
        }
        if names.is_empty() {
            names.push("REPLY".into());
        }
        let Some(line) = self.read_line(io) else {
            return 1;
        };
        let mut fields: Vec<String> = Vec::new();
        let mut rest = line.trim_start();
        for idx in 0..names.len() {
            if idx + 1 == names.len() {
                fields.push(rest.trim_end().to_string());
                break;
            }
            match rest.find([' ', '\t']) {
                Some(p) => {
                    fields.push(rest[..p].to_string());
                    rest = rest[p..].trim_start();
                }
                None => {
                    fields.push(rest.to_string());
                    rest = "";
                }
            }
        }
        for (n, v) in names
            .iter()
            .zip(fields.into_iter().chain(std::iter::repeat(String::new())))
        {
            self.st.set_var(n, v, false);
        }
        0
    }

    /// `test` / `[`.
    pub(crate) fn test(&mut self, args: &[String], io: Io) -> i32 {
        let mut p = TestParser {
            args,
            pos: 0,
            it: self,
            depth: 0,
        };
        if args.is_empty() {
            return 1;
        }
        match p.or() {
            Ok(v) if p.pos == args.len() => i32::from(!v),
            Ok(_) => {
                let tok = args.get(p.pos).cloned().unwrap_or_default();
                self.errln(io, &format!("test: {tok}: unexpected operator"));
                2
            }
            Err(e) => {
                self.errln(io, &format!("test: {e}"));
                2
            }
        }
    }
}

struct TestParser<'a, 'b, 'c> {
    args: &'a [String],
    pos: usize,
    it: &'b mut Interp<'c>,
    depth: u32,
}

impl TestParser<'_, '_, '_> {
    fn peek(&self) -> Option<&str> {
        self.args.get(self.pos).map(String::as_str)
    }

    fn or(&mut self) -> Result<bool, String> {
        let mut v = self.and()?;
        while matches!(self.peek(), Some("-o" | "||")) {
            self.pos += 1;
            let r = self.and()?;
            v = v || r;
        }
        Ok(v)
    }

    fn and(&mut self) -> Result<bool, String> {
        let mut v = self.not()?;
        while matches!(self.peek(), Some("-a" | "&&")) {
            self.pos += 1;
            let r = self.not()?;
            v = v && r;
        }
        Ok(v)
    }

    fn not(&mut self) -> Result<bool, String> {
        self.depth += 1;
        if self.depth > 100 {
            return Err("expression too complex".into());
        }
        let remaining = self.args.len() - self.pos;
        let r = if self.peek() == Some("!") && remaining > 1 {
            self.pos += 1;
            self.not().map(|v| !v)
        } else {
            self.primary()
        };
        self.depth -= 1;
        r
    }

    fn primary(&mut self) -> Result<bool, String> {
        let Some(a) = self.peek().map(str::to_string) else {
            return Err("argument expected".into());
        };
        if a == "(" {
            self.pos += 1;
            let v = self.or()?;
            if self.peek() != Some(")") {
                return Err("`)' expected".into());
            }
            self.pos += 1;
            return Ok(v);
        }
        // Binary operator?
        if let Some(op) = self.args.get(self.pos + 1).map(String::as_str)
            && let Some(rhs) = self.args.get(self.pos + 2)
            && is_binary_test(op)
        {
            let op = op.to_string();
            let rhs = rhs.clone();
            self.pos += 3;
            return self.binary(&a, &op, &rhs);
        }
        if a.starts_with('-') && a.len() == 2 && self.args.get(self.pos + 1).is_some() {
            let operand = self.args.get(self.pos + 1).cloned().unwrap_or_default();
            self.pos += 2;
            return self.unary(&a, &operand);
        }
        self.pos += 1;
        Ok(!a.is_empty())
    }

    fn unary(&mut self, op: &str, v: &str) -> Result<bool, String> {
        let st = &self.it.st;
        let stat = || st.fs.stat(&st.cwd, v).ok().map(|(_, n)| n);
        Ok(match op {
            "-z" => v.is_empty(),
            "-n" => !v.is_empty(),
            "-e" | "-a" => stat().is_some(),
            "-f" => stat().is_some_and(|n| n.kind == fs::Kind::File),
            "-d" => stat().is_some_and(|n| n.is_dir()),
            "-s" => stat().is_some_and(|n| n.size() > 0),
            "-L" | "-h" => st
                .fs
                .lstat(&st.cwd, v)
                .is_ok_and(|(_, n)| matches!(n.kind, fs::Kind::Symlink(_))),
            "-c" => stat().is_some_and(|n| matches!(n.kind, fs::Kind::CharDev(..))),
            "-b" | "-p" | "-S" | "-t" => false,
            "-r" => stat().is_some_and(|n| fs::may(&n, st.uid, st.gid, fs::Access::Read)),
            "-w" => stat().is_some_and(|n| fs::may(&n, st.uid, st.gid, fs::Access::Write)),
            "-x" => stat().is_some_and(|n| fs::may(&n, st.uid, st.gid, fs::Access::Exec)),
            "-u" => stat().is_some_and(|n| n.mode & 0o4000 != 0),
            "-g" => stat().is_some_and(|n| n.mode & 0o2000 != 0),
            "-k" => stat().is_some_and(|n| n.mode & 0o1000 != 0),
            "-O" => stat().is_some_and(|n| n.uid == st.uid),
            "-G" => stat().is_some_and(|n| n.gid == st.gid),
            _ => return Err(format!("{op}: unary operator expected")),
        })
    }

    fn binary(&mut self, a: &str, op: &str, b: &str) -> Result<bool, String> {
        let int = |s: &str| -> Result<i64, String> {
            s.trim()
                .parse::<i64>()
                .map_err(|_| format!("{s}: integer expression expected"))
        };
        Ok(match op {
            "=" | "==" => {
                if op == "==" && super::text::has_glob(b) {
                    super::text::glob_match(b, a)
                } else {
                    a == b
                }
            }
            "!=" => a != b,
            "<" => a < b,
            ">" => a > b,
            "=~" => super::text::regex(b, false).is_some_and(|r| r.is_match(a)),
            "-eq" => int(a)? == int(b)?,
            "-ne" => int(a)? != int(b)?,
            "-lt" => int(a)? < int(b)?,
            "-le" => int(a)? <= int(b)?,
            "-gt" => int(a)? > int(b)?,
            "-ge" => int(a)? >= int(b)?,
            "-nt" | "-ot" | "-ef" => {
                let st = &self.it.st;
                let ma = st.fs.stat(&st.cwd, a).ok().map(|(_, n)| n.mtime);
                let mb = st.fs.stat(&st.cwd, b).ok().map(|(_, n)| n.mtime);
                match op {
                    "-nt" => ma > mb,
                    "-ot" => ma < mb,
                    _ => ma.is_some() && ma == mb,
                }
            }
            _ => return Err(format!("{op}: binary operator expected")),
        })
    }
}

fn is_binary_test(op: &str) -> bool {
    matches!(
        op,
        "=" | "=="
            | "!="
            | "<"
            | ">"
            | "=~"
            | "-eq"
            | "-ne"
            | "-lt"
            | "-le"
            | "-gt"
            | "-ge"
            | "-nt"
            | "-ot"
            | "-ef"
    )
}

fn shell_quote_value(v: &str) -> String {
    if v.chars()
        .all(|c| c.is_ascii_alphanumeric() || "/._-:,@+=".contains(c))
        && !v.is_empty()
    {
        v.to_string()
    } else {
        format!("'{}'", v.replace('\'', "'\\''"))
    }
}

const ULIMIT_A: &str = "real-time non-blocking time  (microseconds, -R) unlimited\ncore file size              (blocks, -c) 0\ndata seg size               (kbytes, -d) unlimited\nscheduling priority                 (-e) 0\nfile size                   (blocks, -f) unlimited\npending signals                     (-i) 15432\nmax locked memory           (kbytes, -l) 8192\nmax memory size             (kbytes, -m) unlimited\nopen files                          (-n) 1024\npipe size                (512 bytes, -p) 8\nPOSIX message queues         (bytes, -q) 819200\nreal-time priority                  (-r) 0\nstack size                  (kbytes, -s) 8192\ncpu time                   (seconds, -t) unlimited\nmax user processes                  (-u) 15432\nvirtual memory              (kbytes, -v) unlimited\nfile locks                          (-x) unlimited\n";
