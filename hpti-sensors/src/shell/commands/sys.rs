//! System information and administration commands, all derived from the persona
//! (`uname`, `free`, `df`, `ps`, `ifconfig`, `w`, ...), and the dispatch table of
//! commands that need no async work.

use std::fmt::Write as _;

use super::super::fs;
use super::super::image::{self, group_name};
use super::super::interp::{Flow, Interp, Io, Mode};
use super::super::text;
use super::{Opts, fmt_time};

struct Proc {
    user: String,
    pid: u32,
    cpu: f32,
    mem: f32,
    vsz: u64,
    rss: u64,
    tty: &'static str,
    stat: &'static str,
    start: i64,
    time: String,
    cmd: String,
}

impl Interp<'_> {
    /// Commands implemented synchronously; `None` if `name` is not one of them.
    pub(crate) fn sync_command(&mut self, name: &str, args: &[String], io: Io) -> Option<i32> {
        Some(match name {
            "echo" => self.cmd_echo(args, io),
            "printf" => self.cmd_printf(args, io),
            "true" | ":" => 0,
            "false" => 1,
            "test" => self.test(args, io),
            "[" => {
                let mut a = args.to_vec();
                if a.last().map(String::as_str) != Some("]") {
                    self.errln(io, "[: missing `]'");
                    return Some(2);
                }
                a.pop();
                self.test(&a, io)
            }
            "ls" => self.cmd_ls(args, io),
            "cat" | "more" | "less" => self.cmd_cat(name, args, io),
            "mkdir" => self.cmd_mkdir(args, io),
            "rmdir" => self.cmd_rmdir(args, io),
            "rm" => self.cmd_rm(args, io),
            "touch" => self.cmd_touch(args, io),
            "cp" | "mv" => self.cmd_cp(name, args, io),
            "ln" => self.cmd_ln(args, io),
            "chmod" => self.cmd_chmod(args, io),
            "chown" | "chgrp" => self.cmd_chown(name, args, io),
            "stat" => self.cmd_stat(args, io),
            "find" => self.cmd_find(args, io),
            "du" => self.cmd_du(args, io),
            "readlink" => self.cmd_readlink(args, io),
            "mktemp" => self.cmd_mktemp(args, io),
            "tar" => self.cmd_tar(args, io),
            "gzip" => self.cmd_gzip(args, io),
            "dd" => self.cmd_dd(args, io),
            "tee" => self.cmd_tee(args, io),
            "head" | "tail" => self.cmd_head_tail(name, args, io),
            "grep" => self.cmd_grep(args, io),
            "wc" => self.cmd_wc(args, io),
            "sort" => self.cmd_sort(args, io),
            "uniq" => self.cmd_uniq(args, io),
            "tr" => self.cmd_tr(args, io),
            "cut" => self.cmd_cut(args, io),
            "awk" => self.cmd_awk(args, io),
            "sed" => self.cmd_sed(args, io),
            "base64" => self.cmd_base64(args, io),
            "md5sum" | "sha1sum" | "sha256sum" => self.cmd_hashsum(name, args, io),
            "seq" => self.cmd_seq(args, io),
            "yes" => self.cmd_yes(args, io),
            "basename" => {
                let o = Opts::parse(args);
                let Some(p) = o.args.first() else {
                    self.err(
                        io,
                        "basename: missing operand\nTry 'basename --help' for more information.\n",
                    );
                    return Some(1);
                };
                let trimmed = p.trim_end_matches('/');
                let mut b = if trimmed.is_empty() {
                    "/".to_string()
                } else {
                    fs::base_name(trimmed).to_string()
                };
                if let Some(suffix) = o.args.get(1)
                    && b.len() > suffix.len()
                {
                    b = b.strip_suffix(suffix.as_str()).unwrap_or(&b).to_string();
                }
                self.out(io, format!("{b}\n"));
                0
            }
            "dirname" => {
                let o = Opts::parse(args);
                let mut out = String::new();
                for p in &o.args {
                    let t = p.trim_end_matches('/');
                    let d = match t.rfind('/') {
                        Some(0) => "/".to_string(),
                        Some(i) => t[..i].to_string(),
                        None => {
                            if p.starts_with('/') {
                                "/".into()
                            } else {
                                ".".into()
                            }
                        }
                    };
                    let _ = writeln!(out, "{d}");
                }
                self.out(io, out);
                0
            }
            "uname" => self.cmd_uname(args, io),
            "arch" => {
                self.out(io, "x86_64\n");
                0
            }
            "id" => self.cmd_id(args, io),
            "whoami" => {
                let u = self.st.user.clone();
                self.out(io, format!("{u}\n"));
                0
            }
            "groups" => {
                let g = self
                    .group_list()
                    .into_iter()
                    .map(|(_, n)| n)
                    .collect::<Vec<_>>()
                    .join(" ");
                self.out(io, format!("{g}\n"));
                0
            }
            "w" | "who" | "uptime" | "users" => self.cmd_w(name, args, io),
            "ps" => self.cmd_ps(args, io),
            "top" => self.cmd_top(io),
            "free" => self.cmd_free(args, io),
            "df" => self.cmd_df(args, io),
            "ifconfig" => self.cmd_ifconfig(io),
            "ip" => self.cmd_ip(args, io),
            "route" => {
                let p = self.st.persona.clone();
                self.out(
                    io,
                    format!(
                        "Kernel IP routing table\nDestination     Gateway         Genmask         Flags Metric Ref    Use Iface\n{:<16}{:<16}{:<16}UG    100    0        0 {}\n{:<16}{:<16}{:<16}U     100    0        0 {}\n",
                        "default", p.gateway, "0.0.0.0", p.iface, p.network(), "0.0.0.0", p.netmask(), p.iface
                    ),
                );
                0
            }
            "netstat" | "ss" => self.cmd_netstat(name, args, io),
            "hostname" => {
                let p = self.st.persona.clone();
                match args.first().map(String::as_str) {
                    Some("-I" | "--all-ip-addresses") => self.out(io, format!("{} \n", p.ip)),
                    Some("-i" | "--ip-address") => self.out(io, format!("{}\n", p.ip)),
                    Some("-f" | "-s" | "--fqdn" | "--short" | "-A") | None => {
                        self.out(io, format!("{}\n", p.hostname))
                    }
                    Some(_) if self.st.uid != 0 => {
                        self.err(io, "hostname: you must be root to change the host name\n");
                        return Some(1);
                    }
                    Some(_) => {}
                }
                0
            }
            "nproc" => {
                let n = self.st.persona.cpu_cores;
                self.out(io, format!("{n}\n"));
                0
            }
            "lscpu" => self.cmd_lscpu(io),
            "getconf" => self.cmd_getconf(args, io),
            "last" => self.cmd_last(io),
            "lastlog" => self.cmd_lastlog(io),
            "date" => self.cmd_date(args, io),
            "mount" => self.cmd_mount(args, io),
            "umount" => {
                let t = args
                    .iter()
                    .find(|a| !a.starts_with('-'))
                    .cloned()
                    .unwrap_or_default();
                if self.st.uid != 0 {
                    self.err(io, format!("umount: {t}: must be superuser to unmount.\n"));
                } else {
                    self.err(io, format!("umount: {t}: not mounted.\n"));
                }
                32
            }
            "crontab" => self.cmd_crontab(args, io),
            "passwd" => self.cmd_passwd(args, io),
            "chpasswd" => {
                if self.st.uid != 0 {
                    self.err(io, "chpasswd: Permission denied.\nchpasswd: cannot lock /etc/passwd; try again later.\n");
                    return Some(1);
                }
                let _ = self.read_all(io);
                0
            }
            "useradd" | "adduser" | "userdel" | "usermod" => self.cmd_useradd(name, args, io),
            "kill" => self.cmd_kill(args, io),
            "killall" | "pkill" | "pgrep" | "pidof" | "killall5" => {
                self.cmd_killall(name, args, io)
            }
            "clear" => {
                self.out(io, "\x1b[H\x1b[2J\x1b[3J");
                0
            }
            "sleep" => {
                let bad = args.iter().find(|a| {
                    let t = a.trim_end_matches(['s', 'm', 'h', 'd']);
                    t.parse::<f64>().is_err()
                });
                if let Some(b) = bad {
                    self.err(io, format!("sleep: invalid time interval ‘{b}’\nTry 'sleep --help' for more information.\n"));
                    return Some(1);
                }
                if args.is_empty() {
                    self.err(
                        io,
                        "sleep: missing operand\nTry 'sleep --help' for more information.\n",
                    );
                    return Some(1);
                }
                0
            }
            "sync" => 0,
            "tty" => {
                if self.mode == Mode::Interactive {
                    self.out(io, "/dev/pts/0\n");
                    0
                } else {
                    self.out(io, "not a tty\n");
                    1
                }
            }
            "dmesg" => self.cmd_dmesg(io),
            "lsb_release" => {
                let p = self.st.persona.clone();
                let (id, rel) = if p.os.is_ubuntu() {
                    (
                        "Ubuntu",
                        if p.os == super::super::OsFlavor::Ubuntu2404 {
                            "24.04"
                        } else {
                            "22.04"
                        },
                    )
                } else {
                    ("Debian", "12")
                };
                let o = Opts::parse(args);
                let mut s = String::new();
                if o.has('a') || o.flags.is_empty() {
                    self.err(io, "No LSB modules are available.\n");
                }
                if o.has('a') || o.has('i') {
                    let _ = writeln!(s, "Distributor ID:\t{id}");
                }
                if o.has('a') || o.has('d') {
                    let _ = writeln!(s, "Description:\t{}", p.os.pretty_name());
                }
                if o.has('a') || o.has('r') {
                    let _ = writeln!(s, "Release:\t{rel}");
                }
                if o.has('a') || o.has('c') {
                    let _ = writeln!(s, "Codename:\t{}", p.os.codename());
                }
                self.out(io, s);
                0
            }
            "systemctl" | "service" => self.cmd_systemctl(name, args, io),
            "journalctl" => {
                if self.st.uid != 0 {
                    self.out(io, "Hint: You are currently not seeing messages from other users and the system.\n      Users in groups 'adm', 'systemd-journal' can see all messages.\n      Pass -q to turn off this notice.\n-- No entries --\n");
                } else {
                    self.out(io, "-- No entries --\n");
                }
                0
            }
            "apt" | "apt-get" => self.cmd_apt(name, args, io),
            "dpkg" => {
                if args.iter().any(|a| a == "--print-architecture") {
                    self.out(io, "amd64\n");
                } else {
                    self.out(io, "Desired=Unknown/Install/Remove/Purge/Hold\n| Status=Not/Inst/Conf-files/Unpacked/halF-conf/Half-inst/trig-aWait/Trig-pend\n|/ Err?=(none)/Reinst-required (Status,Err: uppercase=bad)\n||/ Name           Version      Architecture Description\n+++-==============-============-============-=================================\n");
                }
                0
            }
            "iptables" => {
                if self.st.uid != 0 {
                    self.err(
                        io,
                        "iptables v1.8.9 (nf_tables): Permission denied (you must be root)\n",
                    );
                    return Some(4);
                }
                if args.iter().any(|a| a == "-L" || a == "--list") {
                    self.out(io, "Chain INPUT (policy ACCEPT)\ntarget     prot opt source               destination         \n\nChain FORWARD (policy ACCEPT)\ntarget     prot opt source               destination         \n\nChain OUTPUT (policy ACCEPT)\ntarget     prot opt source               destination         \n");
                }
                0
            }
            "reboot" | "shutdown" | "halt" | "poweroff" => {
                if self.st.uid != 0 {
                    self.err(io, "Failed to set wall message, ignoring: Interactive authentication required.\nCall to Reboot failed: Interactive authentication required.\n");
                    return Some(1);
                }
                if name == "shutdown" && !args.iter().any(|a| a == "now" || a == "-r" || a == "-h")
                {
                    let t = fmt_time(self.now + 60, "%a %Y-%m-%d %H:%M:%S UTC");
                    self.err(
                        io,
                        format!("Shutdown scheduled for {t}, use 'shutdown -c' to cancel.\n"),
                    );
                    return Some(0);
                }
                self.st.user_stack.clear();
                self.flow = Flow::Exit;
                0
            }
            "sshd" => {
                self.err(
                    io,
                    "sshd re-exec requires execution with an absolute path\n",
                );
                255
            }
            "cron" => {
                self.err(io, "cron: can't lock /var/run/crond.pid, otherpid may be 612: Resource temporarily unavailable\n");
                1
            }
            "nano" => {
                self.err(io, "Too many errors from stdin\n");
                1
            }
            "vi" => {
                self.err(io, "Vim: Warning: Output is not to a terminal\nVim: Warning: Input is not from a terminal\n");
                1
            }
            "which" => {
                let o = Opts::parse(args);
                let path = self.st.var("PATH").unwrap_or("").to_string();
                let mut status = 0;
                let mut out = String::new();
                for a in &o.args {
                    let mut found = false;
                    for d in path.split(':') {
                        let cand = format!("{d}/{a}");
                        if let Ok((_, n)) = self.st.fs.stat(&self.st.cwd, &cand)
                            && n.kind == fs::Kind::File
                            && fs::may(&n, self.st.uid, self.st.gid, fs::Access::Exec)
                        {
                            let _ = writeln!(out, "{cand}");
                            found = true;
                            if !o.has('a') {
                                break;
                            }
                        }
                    }
                    if !found {
                        status = 1;
                    }
                }
                self.out(io, out);
                status
            }
            "chattr" => {
                let files: Vec<&String> = args
                    .iter()
                    .filter(|a| !a.starts_with(['-', '+', '=']))
                    .collect();
                for f in files {
                    if !self.st.fs.exists(&self.st.cwd, f) {
                        self.err(
                            io,
                            format!("chattr: No such file or directory while trying to stat {f}\n"),
                        );
                        return Some(1);
                    }
                    if self.st.uid != 0 {
                        self.err(
                            io,
                            format!("chattr: Operation not permitted while setting flags on {f}\n"),
                        );
                        return Some(1);
                    }
                }
                0
            }
            _ => return None,
        })
    }

    fn cmd_uname(&mut self, args: &[String], io: Io) -> i32 {
        let p = self.st.persona.clone();
        let o = Opts::parse(args);
        let all = o.has('a') || o.has_long("all");
        let mut parts = Vec::new();
        let want = |c: char| all || o.has(c);
        if want('s') || (o.flags.is_empty() && o.long.is_empty()) {
            parts.push("Linux".to_string());
        }
        if want('n') {
            parts.push(p.hostname.clone());
        }
        if want('r') {
            parts.push(p.kernel_release.clone());
        }
        if want('v') {
            parts.push(p.kernel_version.clone());
        }
        if want('m') {
            parts.push("x86_64".into());
        }
        if o.has('p') {
            parts.push("unknown".into());
        }
        if o.has('i') {
            parts.push("unknown".into());
        }
        if want('o') {
            parts.push("GNU/Linux".into());
        }
        self.out(io, format!("{}\n", parts.join(" ")));
        0
    }

    fn group_list(&self) -> Vec<(u32, String)> {
        let p = &self.st.persona;
        if self.st.uid == 0 {
            return vec![(0, "root".into())];
        }
        let mut v = vec![(self.st.gid, group_name(p, self.st.gid))];
        let first = p.users.first().is_some_and(|u| u.name == self.st.user);
        let sudo = p.users.iter().any(|u| u.name == self.st.user && u.sudo);
        if first {
            v.push((4, "adm".into()));
            v.push((24, "cdrom".into()));
        }
        if sudo {
            v.push((27, "sudo".into()));
        }
        if first {
            v.push((46, "plugdev".into()));
        }
        v.push((100, "users".into()));
        v
    }

    fn cmd_id(&mut self, args: &[String], io: Io) -> i32 {
        let o = Opts::parse(args);
        let (uid, gid, user) = (self.st.uid, self.st.gid, self.st.user.clone());
        let gname = group_name(&self.st.persona, gid);
        let out = if o.has('u') {
            if o.has('n') { user } else { uid.to_string() }
        } else if o.has('g') {
            if o.has('n') { gname } else { gid.to_string() }
        } else if o.has('G') {
            let g = self.group_list();
            if o.has('n') {
                g.into_iter().map(|(_, n)| n).collect::<Vec<_>>().join(" ")
            } else {
                g.into_iter()
                    .map(|(i, _)| i.to_string())
                    .collect::<Vec<_>>()
                    .join(" ")
            }
        } else {
            let groups = self
                .group_list()
                .into_iter()
                .map(|(i, n)| format!("{i}({n})"))
                .collect::<Vec<_>>()
                .join(",");
            format!("uid={uid}({user}) gid={gid}({gname}) groups={groups}")
        };
        self.out(io, format!("{out}\n"));
        0
    }

    fn uptime_text(&self) -> String {
        let p = &self.st.persona;
        let up = image::uptime_secs(p, self.now);
        let days = up / 86_400;
        let hours = (up % 86_400) / 3600;
        let mins = (up % 3600) / 60;
        let mut s = String::from("up ");
        if days > 0 {
            let _ = write!(s, "{days} day{}, ", if days == 1 { "" } else { "s" });
        }
        if hours > 0 {
            let _ = write!(s, "{hours:2}:{mins:02}");
        } else {
            let _ = write!(s, "{mins} min");
        }
        let (a, b, c) = image::loadavg(p, self.now);
        format!(
            " {} {s},  1 user,  load average: {a:.2}, {b:.2}, {c:.2}",
            fmt_time(self.now, "%H:%M:%S")
        )
    }

    fn cmd_w(&mut self, name: &str, args: &[String], io: Io) -> i32 {
        let from = self
            .st
            .client_ip
            .map(|i| i.to_string())
            .unwrap_or_else(|| self.st.persona.last_login_from.to_string());
        let login = self.st.login_time;
        let user = self.st.persona_login_user();
        let o = Opts::parse(args);
        let out = match name {
            "uptime" => {
                if o.has('p') {
                    let up = image::uptime_secs(&self.st.persona, self.now);
                    let (d, h, m) = (up / 86_400, (up % 86_400) / 3600, (up % 3600) / 60);
                    let mut parts = Vec::new();
                    if d > 0 {
                        parts.push(format!("{d} day{}", if d == 1 { "" } else { "s" }));
                    }
                    if h > 0 {
                        parts.push(format!("{h} hour{}", if h == 1 { "" } else { "s" }));
                    }
                    parts.push(format!("{m} minute{}", if m == 1 { "" } else { "s" }));
                    format!("up {}\n", parts.join(", "))
                } else if o.has('s') {
                    format!(
                        "{}\n",
                        fmt_time(self.st.persona.boot_time, "%Y-%m-%d %H:%M:%S")
                    )
                } else {
                    format!("{}\n", self.uptime_text())
                }
            }
            "users" => format!("{user}\n"),
            "who" => {
                if o.has('b') {
                    format!(
                        "         system boot  {}\n",
                        fmt_time(self.st.persona.boot_time, "%Y-%m-%d %H:%M")
                    )
                } else {
                    format!(
                        "{user:<8} pts/0        {} ({from})\n",
                        fmt_time(login, "%Y-%m-%d %H:%M")
                    )
                }
            }
            _ => {
                let cmd = if self.mode == Mode::Interactive {
                    "w"
                } else {
                    "-bash"
                };
                format!(
                    "{}\nUSER     TTY      FROM             LOGIN@   IDLE   JCPU   PCPU WHAT\n{user:<8} pts/0    {from:<16} {}    0.00s  0.0{}s  0.00s {cmd}\n",
                    self.uptime_text(),
                    fmt_time(login, "%H:%M"),
                    1 + self.st.persona.derive(95, 8)
                )
            }
        };
        self.out(io, out);
        0
    }

    fn processes(&mut self, with_self: Option<&str>) -> Vec<Proc> {
        let p = self.st.persona.clone();
        let boot = p.boot_time;
        let mem_total = p.mem_total_kib.max(1) as f32;
        let mut v = Vec::new();
        let mut push = |user: &str,
                        pid: u32,
                        vsz: u64,
                        rss: u64,
                        tty: &'static str,
                        stat: &'static str,
                        start: i64,
                        time: &str,
                        cmd: String| {
            v.push(Proc {
                user: user.to_string(),
                pid,
                cpu: 0.0,
                mem: (rss as f32 * 100.0 / mem_total * 10.0).round() / 10.0,
                vsz,
                rss,
                tty,
                stat,
                start,
                time: time.to_string(),
                cmd,
            });
        };
        push(
            "root",
            1,
            168_000 + p.derive(100, 9000),
            11_000 + p.derive(101, 3000),
            "?",
            "Ss",
            boot,
            "0:07",
            "/sbin/init".into(),
        );
        push("root", 2, 0, 0, "?", "S", boot, "0:00", "[kthreadd]".into());
        push("root", 3, 0, 0, "?", "I<", boot, "0:00", "[rcu_gp]".into());
        push(
            "root",
            4,
            0,
            0,
            "?",
            "I<",
            boot,
            "0:00",
            "[rcu_par_gp]".into(),
        );
        push(
            "root",
            6,
            0,
            0,
            "?",
            "I<",
            boot,
            "0:00",
            "[kworker/0:0H-events_highpri]".into(),
        );
        push(
            "root",
            9,
            0,
            0,
            "?",
            "I<",
            boot,
            "0:00",
            "[mm_percpu_wq]".into(),
        );
        let mut pid = 10;
        for cpu in 0..p.cpu_cores.max(1) {
            push(
                "root",
                pid,
                0,
                0,
                "?",
                "S",
                boot,
                "0:00",
                format!("[ksoftirqd/{cpu}]"),
            );
            push(
                "root",
                pid + 2,
                0,
                0,
                "?",
                "S",
                boot,
                "0:00",
                format!("[migration/{cpu}]"),
            );
            pid += 6;
        }
        let base = 180 + p.derive(102, 60) as u32;
        let ubuntu = p.os.is_ubuntu();
        let mut services: Vec<(&str, String, u64, u64)> = vec![
            (
                "root",
                "/lib/systemd/systemd-journald".into(),
                41_000,
                14_000,
            ),
            ("root", "/lib/systemd/systemd-udevd".into(), 26_000, 6_800),
        ];
        if ubuntu {
            services.push((
                "systemd+",
                "/lib/systemd/systemd-networkd".into(),
                16_000,
                8_000,
            ));
            services.push((
                "systemd+",
                "/lib/systemd/systemd-resolved".into(),
                25_000,
                12_000,
            ));
        } else {
            services.push(("root", format!("dhclient -4 -v -i -pf /run/dhclient.{0}.pid -lf /var/lib/dhcp/dhclient.{0}.leases -I -df /var/lib/dhcp/dhclient6.{0}.leases {0}", p.iface), 5_900, 3_900));
            services.push((
                "systemd+",
                "/lib/systemd/systemd-timesyncd".into(),
                90_000,
                6_500,
            ));
        }
        services.push(("root", "/usr/sbin/cron -f".into(), 6_700, 2_700));
        services.push(("message+", "/usr/bin/dbus-daemon --system --address=systemd: --nofork --nopidfile --systemd-activation --syslog-only".into(), 9_000, 4_900));
        if !ubuntu {
            services.push((
                "root",
                "/usr/sbin/rsyslogd -n -iNONE".into(),
                222_000,
                5_000,
            ));
        }
        services.push(("root", "/lib/systemd/systemd-logind".into(), 17_000, 7_800));
        services.push((
            "root",
            "/sbin/agetty -o -p -- \\u --keep-baud 115200,57600,38400,9600 - vt220".into(),
            5_800,
            2_000,
        ));
        services.push((
            "root",
            "/sbin/agetty -o -p -- \\u --noclear - linux".into(),
            5_900,
            1_900,
        ));
        if ubuntu {
            services.push(("root", "/usr/bin/python3 /usr/share/unattended-upgrades/unattended-upgrade-shutdown --wait-for-signal".into(), 109_000, 21_000));
        }
        services.push((
            "root",
            "sshd: /usr/sbin/sshd -D [listener] 0 of 10-100 startups".into(),
            15_400,
            9_200,
        ));
        let mut spid = base;
        for (i, (user, cmd, vsz, rss)) in services.into_iter().enumerate() {
            spid += 5 + p.derive(103 + i as u64, 60) as u32;
            push(
                user,
                spid,
                vsz,
                rss,
                "?",
                "Ss",
                boot + 3 + i as i64,
                "0:00",
                cmd,
            );
        }
        let login = self.st.login_time;
        let spid = self.st.pid;
        let user = self.st.persona_login_user();
        push(
            "root",
            spid.saturating_sub(9),
            17_000,
            10_900,
            "?",
            "Ss",
            login,
            "0:00",
            format!("sshd: {user} [priv]"),
        );
        if user != "root" {
            push(
                &user,
                spid.saturating_sub(4),
                17_500,
                6_900,
                "?",
                "S",
                login,
                "0:00",
                format!("sshd: {user}@pts/0"),
            );
        } else {
            push(
                "root",
                spid.saturating_sub(4),
                17_500,
                6_900,
                "?",
                "S",
                login,
                "0:00",
                "sshd: root@pts/0".into(),
            );
        }
        push(
            &user,
            spid,
            8_200,
            5_100,
            "pts/0",
            "Ss",
            login,
            "0:00",
            "-bash".into(),
        );
        if self.st.user != user {
            push(
                &self.st.user.clone(),
                spid + 20,
                8_100,
                4_900,
                "pts/0",
                "S",
                login,
                "0:00",
                "bash".into(),
            );
        }
        if let Some(cmd) = with_self {
            let pid = self.st.alloc_pid();
            let u = self.st.user.clone();
            v.push(Proc {
                user: u,
                pid,
                cpu: 0.0,
                mem: 0.1,
                vsz: 11_000,
                rss: 4_400,
                tty: "pts/0",
                stat: "R+",
                start: self.now,
                time: "0:00".into(),
                cmd: cmd.to_string(),
            });
        }
        v
    }

    fn cmd_ps(&mut self, args: &[String], io: Io) -> i32 {
        let joined: String = args.join(" ");
        let bsd_u = args.iter().any(|a| !a.starts_with('-') && a.contains('u'))
            || joined.contains("-aux")
            || joined.contains("aux");
        let full = args
            .iter()
            .any(|a| a.starts_with('-') && (a.contains('e') || a.contains('A') || a.contains('f')));
        let all = bsd_u || full || args.iter().any(|a| a.contains('x') || a.contains('a'));
        let shown = if args.is_empty() {
            "ps".to_string()
        } else {
            format!("ps {joined}")
        };
        let procs = self.processes(Some(&shown));
        let now = self.now;
        let mut out = String::new();
        if bsd_u {
            out.push_str(
                "USER         PID %CPU %MEM    VSZ   RSS TTY      STAT START   TIME COMMAND\n",
            );
            for p in &procs {
                let start = if now - p.start < 86_400 {
                    fmt_time(p.start, "%H:%M")
                } else {
                    fmt_time(p.start, "%b%d")
                };
                let _ = writeln!(
                    out,
                    "{:<10} {:>6} {:>4.1} {:>4.1} {:>6} {:>5} {:<8} {:<4} {:>5} {:>6} {}",
                    p.user, p.pid, p.cpu, p.mem, p.vsz, p.rss, p.tty, p.stat, start, p.time, p.cmd
                );
            }
        } else if full {
            out.push_str("UID          PID    PPID  C STIME TTY          TIME CMD\n");
            for p in &procs {
                let start = if now - p.start < 86_400 {
                    fmt_time(p.start, "%H:%M")
                } else {
                    fmt_time(p.start, "%b%d")
                };
                let ppid = if p.pid <= 2 {
                    0
                } else if p.cmd.starts_with('[') {
                    2
                } else {
                    1
                };
                let _ = writeln!(
                    out,
                    "{:<8} {:>7} {:>7}  0 {:<5} {:<8} {:>8} {}",
                    p.user, p.pid, ppid, start, p.tty, "00:00:00", p.cmd
                );
            }
        } else {
            out.push_str("    PID TTY          TIME CMD\n");
            for p in procs.iter().filter(|p| all || p.tty == "pts/0") {
                let cmd = short_cmd(&p.cmd);
                let _ = writeln!(out, "{:>7} {:<8} {:>8} {}", p.pid, p.tty, "00:00:00", cmd);
            }
        }
        self.out(io, out);
        0
    }

    fn cmd_top(&mut self, io: Io) -> i32 {
        let p = self.st.persona.clone();
        let m = p.memory();
        let procs = self.processes(Some("top"));
        let mib = |k: u64| k as f64 / 1024.0;
        let mut out = format!(
            "top -{}\nTasks: {:>3} total,   1 running, {:>3} sleeping,   0 stopped,   0 zombie\n%Cpu(s):  0.3 us,  0.2 sy,  0.0 ni, 99.5 id,  0.0 wa,  0.0 hi,  0.0 si,  0.0 st\nMiB Mem : {:>8.1} total, {:>8.1} free, {:>8.1} used, {:>8.1} buff/cache\nMiB Swap: {:>8.1} total, {:>8.1} free, {:>8.1} used. {:>8.1} avail Mem\n\n    PID USER      PR  NI    VIRT    RES    SHR S  %CPU  %MEM     TIME+ COMMAND\n",
            self.uptime_text(),
            procs.len(),
            procs.len() - 1,
            mib(m.total),
            mib(m.free),
            mib(m.used),
            mib(m.buffers + m.cached),
            mib(m.swap_total),
            mib(m.swap_free),
            0.0,
            mib(m.available)
        );
        for pr in procs.iter().take(20) {
            let cmd = short_cmd(&pr.cmd);
            let _ = writeln!(
                out,
                "{:>7} {:<9} 20   0 {:>7} {:>6} {:>6} {} {:>5.1} {:>5.1} {:>9} {}",
                pr.pid,
                pr.user,
                pr.vsz,
                pr.rss,
                pr.rss * 2 / 3,
                pr.stat.chars().next().unwrap_or('S'),
                pr.cpu,
                pr.mem,
                "0:00.12",
                cmd
            );
        }
        self.out(io, out);
        0
    }

    fn cmd_free(&mut self, args: &[String], io: Io) -> i32 {
        let m = self.st.persona.memory();
        let o = Opts::parse(args);
        let human = o.has('h');
        let conv = |k: u64| -> String {
            if human {
                let s = text::human(k * 1024, true);
                s.replace("GiBi", "Gi")
            } else if o.has('g') {
                (k / 1024 / 1024).to_string()
            } else if o.has('m') {
                (k / 1024).to_string()
            } else if o.has('b') {
                (k * 1024).to_string()
            } else {
                k.to_string()
            }
        };
        let mut out = format!(
            "{:<8}{:>12}{:>12}{:>12}{:>12}{:>12}{:>12}\n",
            "", "total", "used", "free", "shared", "buff/cache", "available"
        );
        let _ = writeln!(
            out,
            "{:<8}{:>12}{:>12}{:>12}{:>12}{:>12}{:>12}",
            "Mem:",
            conv(m.total),
            conv(m.used),
            conv(m.free),
            conv(m.shared),
            conv(m.buffers + m.cached),
            conv(m.available)
        );
        let _ = writeln!(
            out,
            "{:<8}{:>12}{:>12}{:>12}",
            "Swap:",
            conv(m.swap_total),
            conv(m.swap_total - m.swap_free),
            conv(m.swap_free)
        );
        self.out(io, out);
        0
    }

    fn cmd_df(&mut self, args: &[String], io: Io) -> i32 {
        let p = self.st.persona.clone();
        let o = Opts::parse(args);
        let human = o.has('h') || o.has('H');
        let run = p.mem_total_kib / 10;
        let root_avail = (p.disk_total_kib * 95 / 100).saturating_sub(p.disk_used_kib);
        let rows: Vec<(String, u64, u64, String)> = vec![
            ("udev".into(), p.mem_total_kib / 2 - 4096, 0, "/dev".into()),
            ("tmpfs".into(), run, 400 + p.derive(110, 600), "/run".into()),
            (
                p.root_device.clone(),
                p.disk_total_kib,
                p.disk_used_kib,
                "/".into(),
            ),
            ("tmpfs".into(), p.mem_total_kib / 2, 0, "/dev/shm".into()),
            ("tmpfs".into(), 5120, 0, "/run/lock".into()),
            ("tmpfs".into(), run, 4, format!("/run/user/{}", self.st.uid)),
        ];
        let mut table: Vec<[String; 6]> = vec![[
            "Filesystem".into(),
            if human {
                "Size".into()
            } else {
                "1K-blocks".into()
            },
            "Used".into(),
            if human {
                "Avail".into()
            } else {
                "Available".into()
            },
            "Use%".into(),
            "Mounted on".into(),
        ]];
        for (fsname, size, used, mnt) in rows {
            let avail = if mnt == "/" { root_avail } else { size - used };
            let pct = if size == 0 {
                0
            } else {
                (used * 100).div_ceil(used + avail).min(100)
            };
            let f = |k: u64| {
                if human {
                    text::human(k * 1024, false)
                } else {
                    k.to_string()
                }
            };
            table.push([fsname, f(size), f(used), f(avail), format!("{pct}%"), mnt]);
        }
        let w: Vec<usize> = (0..5)
            .map(|i| table.iter().map(|r| r[i].len()).max().unwrap_or(0))
            .collect();
        let mut out = String::new();
        for r in table {
            let _ = writeln!(
                out,
                "{:<w0$} {:>w1$} {:>w2$} {:>w3$} {:>w4$} {}",
                r[0],
                r[1],
                r[2],
                r[3],
                r[4],
                r[5],
                w0 = w[0].max(if human { 15 } else { 14 }),
                w1 = w[1].max(if human { 5 } else { 0 }),
                w2 = w[2].max(if human { 5 } else { 0 }),
                w3 = w[3].max(if human { 5 } else { 0 }),
                w4 = w[4]
            );
        }
        self.out(io, out);
        0
    }

    fn counters(&self) -> (u64, u64, u64, u64) {
        let p = &self.st.persona;
        let up = image::uptime_secs(p, self.now) as u64;
        let rx_pk = up * (3 + p.derive(120, 20));
        let tx_pk = up * (2 + p.derive(121, 12));
        (
            rx_pk,
            rx_pk * (300 + p.derive(122, 900)),
            tx_pk,
            tx_pk * (150 + p.derive(123, 500)),
        )
    }

    fn link_local(&self) -> String {
        let parts: Vec<u8> = self
            .st
            .persona
            .mac
            .split(':')
            .filter_map(|h| u8::from_str_radix(h, 16).ok())
            .collect();
        if parts.len() != 6 {
            return "fe80::1".into();
        }
        format!(
            "fe80::{:x}:{:x}:{:x}:{:x}",
            (u16::from(parts[0] ^ 0x02) << 8) | u16::from(parts[1]),
            (u16::from(parts[2]) << 8) | 0xff,
            0xfe00 | u16::from(parts[3]),
            (u16::from(parts[4]) << 8) | u16::from(parts[5])
        )
    }

    fn cmd_ifconfig(&mut self, io: Io) -> i32 {
        let p = self.st.persona.clone();
        let (rxp, rxb, txp, txb) = self.counters();
        let h = |b: u64| {
            // net-tools prints decimal units with one decimal.
            let units = ["B", "KB", "MB", "GB", "TB"];
            let mut v = b as f64;
            let mut u = 0;
            while v >= 1000.0 && u + 1 < units.len() {
                v /= 1000.0;
                u += 1;
            }
            format!("{v:.1} {}", units.get(u).copied().unwrap_or("TB"))
        };
        let out = format!(
            "{iface}: flags=4163<UP,BROADCAST,RUNNING,MULTICAST>  mtu 1500\n        inet {ip}  netmask {mask}  broadcast {bc}\n        inet6 {ll}  prefixlen 64  scopeid 0x20<link>\n        ether {mac}  txqueuelen 1000  (Ethernet)\n        RX packets {rxp}  bytes {rxb} ({rxh})\n        RX errors 0  dropped {drop}  overruns 0  frame 0\n        TX packets {txp}  bytes {txb} ({txh})\n        TX errors 0  dropped 0 overruns 0  carrier 0  collisions 0\n\nlo: flags=73<UP,LOOPBACK,RUNNING>  mtu 65536\n        inet 127.0.0.1  netmask 255.0.0.0\n        inet6 ::1  prefixlen 128  scopeid 0x10<host>\n        loop  txqueuelen 1000  (Local Loopback)\n        RX packets {lp}  bytes {lb} ({lh})\n        RX errors 0  dropped 0  overruns 0  frame 0\n        TX packets {lp}  bytes {lb} ({lh})\n        TX errors 0  dropped 0 overruns 0  carrier 0  collisions 0\n\n",
            iface = p.iface,
            ip = p.ip,
            mask = p.netmask(),
            bc = p.broadcast(),
            ll = self.link_local(),
            mac = p.mac,
            rxh = h(rxb),
            txh = h(txb),
            drop = p.derive(124, 2000),
            lp = rxp / 50,
            lb = rxb / 60,
            lh = h(rxb / 60),
        );
        self.out(io, out);
        0
    }

    fn cmd_ip(&mut self, args: &[String], io: Io) -> i32 {
        let p = self.st.persona.clone();
        let obj = args
            .iter()
            .find(|a| !a.starts_with('-'))
            .map(String::as_str)
            .unwrap_or("");
        let addr = format!(
            "1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536 qdisc noqueue state UNKNOWN group default qlen 1000\n    link/loopback 00:00:00:00:00:00 brd 00:00:00:00:00:00\n    inet 127.0.0.1/8 scope host lo\n       valid_lft forever preferred_lft forever\n    inet6 ::1/128 scope host noprefixroute \n       valid_lft forever preferred_lft forever\n2: {0}: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc fq_codel state UP group default qlen 1000\n    link/ether {1} brd ff:ff:ff:ff:ff:ff\n    inet {2}/{3} brd {4} scope global dynamic {0}\n       valid_lft {5}sec preferred_lft {5}sec\n    inet6 {6}/64 scope link \n       valid_lft forever preferred_lft forever\n",
            p.iface,
            p.mac,
            p.ip,
            p.prefix_len,
            p.broadcast(),
            40_000 + p.derive(125, 40_000),
            self.link_local()
        );
        let out = match obj {
            "a" | "addr" | "address" | "" => {
                if obj.is_empty() {
                    self.err(io, "Usage: ip [ OPTIONS ] OBJECT { COMMAND | help }\n       ip [ -force ] -batch filename\nwhere  OBJECT := { address | addrlabel | fou | help | ila | ioam | l2tp | link |\n                   macsec | maddress | monitor | mptcp | mroute | mrule |\n                   neighbor | neighbour | netconf | netns | nexthop | ntable |\n                   ntbl | route | rule | sr | tap | tcpmetrics |\n                   token | tunnel | tuntap | vrf | xfrm }\n");
                    return 255;
                }
                addr
            }
            "r" | "ro" | "route" => format!(
                "default via {0} dev {1} proto dhcp src {2} metric 100 \n{3}/{4} dev {1} proto kernel scope link src {2} metric 100 \n",
                p.gateway,
                p.iface,
                p.ip,
                p.network(),
                p.prefix_len
            ),
            "l" | "link" => format!(
                "1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536 qdisc noqueue state UNKNOWN mode DEFAULT group default qlen 1000\n    link/loopback 00:00:00:00:00:00 brd 00:00:00:00:00:00\n2: {0}: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc fq_codel state UP mode DEFAULT group default qlen 1000\n    link/ether {1} brd ff:ff:ff:ff:ff:ff\n",
                p.iface, p.mac
            ),
            "n" | "neigh" | "neighbor" | "neighbour" => format!(
                "{} dev {} lladdr fe:ff:ff:ff:ff:ff REACHABLE\n",
                p.gateway, p.iface
            ),
            other => {
                self.err(
                    io,
                    format!("Object \"{other}\" is unknown, try \"ip help\".\n"),
                );
                return 1;
            }
        };
        self.out(io, out);
        0
    }

    fn cmd_netstat(&mut self, name: &str, args: &[String], io: Io) -> i32 {
        let p = self.st.persona.clone();
        let joined = args.join("");
        let listen_only = joined.contains('l');
        let show_prog = joined.contains('p') && self.st.uid == 0;
        let client = self
            .st
            .client_ip
            .map(|i| i.to_string())
            .unwrap_or_else(|| p.last_login_from.to_string());
        let cport = 40_000 + p.derive(130, 20_000);
        let sshd_pid = self.st.pid.saturating_sub(9);
        let listener_pid = self
            .processes(None)
            .iter()
            .find(|p| p.cmd.starts_with("sshd: /usr/sbin/sshd"))
            .map_or(600, |p| u64::from(p.pid));
        let mut out = String::new();
        if name == "ss" {
            out.push_str(
                "Netid State  Recv-Q Send-Q Local Address:Port  Peer Address:Port Process\n",
            );
            let prog = |pid: u64, fd: u32| {
                if show_prog {
                    format!("users:((\"sshd\",pid={pid},fd={fd}))")
                } else {
                    String::new()
                }
            };
            let _ = writeln!(
                out,
                "tcp   LISTEN 0      128          0.0.0.0:22         0.0.0.0:*     {}",
                prog(listener_pid, 3)
            );
            let _ = writeln!(
                out,
                "tcp   LISTEN 0      128             [::]:22            [::]:*     {}",
                prog(listener_pid, 4)
            );
            if p.os.is_ubuntu() {
                let _ = writeln!(
                    out,
                    "tcp   LISTEN 0      4096   127.0.0.53%lo:53         0.0.0.0:*     "
                );
            }
            if !listen_only {
                let _ = writeln!(
                    out,
                    "tcp   ESTAB  0      36     {}:22  {client}:{cport} {}",
                    p.ip,
                    prog(u64::from(sshd_pid), 4)
                );
            }
        } else {
            if listen_only {
                out.push_str("Active Internet connections (only servers)\n");
            } else {
                out.push_str("Active Internet connections (servers and established)\n");
            }
            out.push_str(
                "Proto Recv-Q Send-Q Local Address           Foreign Address         State      ",
            );
            out.push_str(if joined.contains('p') {
                " PID/Program name    \n"
            } else {
                "\n"
            });
            let prog = |pid: u64| {
                if show_prog {
                    format!(" {pid}/sshd: /usr/sbin")
                } else if joined.contains('p') {
                    " -                   ".to_string()
                } else {
                    String::new()
                }
            };
            let _ = writeln!(
                out,
                "tcp        0      0 0.0.0.0:22              0.0.0.0:*               LISTEN     {}",
                prog(listener_pid)
            );
            if p.os.is_ubuntu() {
                let _ = writeln!(
                    out,
                    "tcp        0      0 127.0.0.53:53           0.0.0.0:*               LISTEN     {}",
                    prog(410)
                );
            }
            if !listen_only {
                let local = format!("{}:22", p.ip);
                let remote = format!("{client}:{cport}");
                let _ = writeln!(
                    out,
                    "tcp        0     36 {local:<23} {remote:<23} ESTABLISHED{}",
                    prog(u64::from(sshd_pid))
                );
            }
            let _ = writeln!(
                out,
                "tcp6       0      0 :::22                   :::*                    LISTEN     {}",
                prog(listener_pid)
            );
        }
        if !show_prog && joined.contains('p') && self.st.uid != 0 && name == "netstat" {
            self.err(io, "(Not all processes could be identified, non-owned process info\n will not be shown, you would have to be root to see it all.)\n");
        }
        self.out(io, out);
        0
    }

    fn cmd_lscpu(&mut self, io: Io) -> i32 {
        let p = self.st.persona.clone();
        let amd = p.cpu_model.contains("AMD");
        let n = p.cpu_cores.max(1);
        let list = if n == 1 {
            "0".to_string()
        } else {
            format!("0-{}", n - 1)
        };
        let out = format!(
            "Architecture:            x86_64\n  CPU op-mode(s):        32-bit, 64-bit\n  Address sizes:         {} bits physical, 48 bits virtual\n  Byte Order:            Little Endian\nCPU(s):                  {n}\n  On-line CPU(s) list:   {list}\nVendor ID:               {}\n  Model name:            {}\n    CPU family:          {}\n    Model:               {}\n    Thread(s) per core:  1\n    Core(s) per socket:  1\n    Socket(s):           {n}\n    Stepping:            {}\n    BogoMIPS:            {:.2}\nVirtualization features: \n  Hypervisor vendor:     KVM\n  Virtualization type:   full\nCaches (sum of all):     \n  L1d:                   {} KiB ({n} instances)\n  L1i:                   {} KiB ({n} instances)\n  L2:                    {} MiB ({n} instances)\n  L3:                    {} MiB ({n} instances)\nNUMA:                    \n  NUMA node(s):          1\n  NUMA node0 CPU(s):     {list}\n",
            if amd { 40 } else { 46 },
            if amd { "AuthenticAMD" } else { "GenuineIntel" },
            p.cpu_model,
            if amd { 23 } else { 6 },
            if amd { 49 } else { 85 },
            if amd { 0 } else { 7 },
            f64::from(p.cpu_mhz) * 2.0,
            32 * n,
            32 * n,
            if amd { n / 2 + 1 } else { n * 4 },
            16 * n,
        );
        self.out(io, out);
        0
    }

    fn cmd_getconf(&mut self, args: &[String], io: Io) -> i32 {
        let cores = self.st.persona.cpu_cores;
        let v = match args.first().map(String::as_str) {
            Some("_NPROCESSORS_ONLN" | "_NPROCESSORS_CONF") => cores.to_string(),
            Some("LONG_BIT") => "64".into(),
            Some("PAGESIZE" | "PAGE_SIZE") => "4096".into(),
            Some("CLK_TCK") => "100".into(),
            Some("ARG_MAX") => "2097152".into(),
            Some("OPEN_MAX") => "1024".into(),
            Some("GNU_LIBC_VERSION") => match self.st.persona.os {
                super::super::OsFlavor::Debian12 => "glibc 2.36".into(),
                super::super::OsFlavor::Ubuntu2204 => "glibc 2.35".into(),
                super::super::OsFlavor::Ubuntu2404 => "glibc 2.39".into(),
            },
            Some(other) => {
                self.err(io, format!("getconf: Unrecognized variable '{other}'\n"));
                return 1;
            }
            None => {
                self.err(io, "Usage: getconf [-v specification] variable_name [pathname]\n       getconf -a [pathname]\n");
                return 1;
            }
        };
        self.out(io, format!("{v}\n"));
        0
    }

    fn cmd_last(&mut self, io: Io) -> i32 {
        let p = self.st.persona.clone();
        let user = self.st.persona_login_user();
        let from = self
            .st
            .client_ip
            .map(|i| i.to_string())
            .unwrap_or_else(|| "-".into());
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{:<8} {:<12} {:<16} {}   still logged in",
            user,
            "pts/0",
            from,
            fmt_time(self.st.login_time, "%a %b %e %H:%M")
        );
        let prev =
            (self.st.login_time - 3600 * (2 + p.derive(80, 70) as i64) - p.derive(81, 3600) as i64)
                .max(p.boot_time + 600);
        let dur = 300 + p.derive(84, 3000) as i64;
        let _ = writeln!(
            out,
            "{:<8} {:<12} {:<16} {} - {}  ({:02}:{:02})",
            p.users.first().map_or("root", |u| u.name.as_str()),
            "pts/0",
            p.last_login_from.to_string(),
            fmt_time(prev, "%a %b %e %H:%M"),
            fmt_time(prev + dur, "%H:%M"),
            dur / 3600,
            (dur % 3600) / 60
        );
        let _ = writeln!(
            out,
            "{:<8} {:<12} {:<16} {}   still running",
            "reboot",
            "system boot",
            p.kernel_release,
            fmt_time(p.boot_time, "%a %b %e %H:%M")
        );
        let _ = writeln!(
            out,
            "\nwtmp begins {}",
            fmt_time(p.boot_time - 86_400 * 30, "%a %b %e %H:%M:%S %Y")
        );
        self.out(io, out);
        0
    }

    fn cmd_lastlog(&mut self, io: Io) -> i32 {
        let p = self.st.persona.clone();
        let mut out = String::from(
            "Username         Port     From                                       Latest\n",
        );
        let prev =
            (self.st.login_time - 3600 * (2 + p.derive(80, 70) as i64)).max(p.boot_time + 600);
        let _ = writeln!(
            out,
            "{:<16} {:<8} {:<42} {}",
            "root",
            "pts/0",
            p.last_login_from.to_string(),
            fmt_time(prev, "%a %b %e %H:%M:%S +0000 %Y")
        );
        for (name, ..) in image::SYSTEM_ACCOUNTS {
            let _ = writeln!(
                out,
                "{name:<16}                                            **Never logged in**"
            );
        }
        for u in &p.users {
            let _ = writeln!(
                out,
                "{:<16} {:<8} {:<42} {}",
                u.name,
                "pts/1",
                p.last_login_from.to_string(),
                fmt_time(prev - 86_400 * 3, "%a %b %e %H:%M:%S +0000 %Y")
            );
        }
        self.out(io, out);
        0
    }

    fn cmd_date(&mut self, args: &[String], io: Io) -> i32 {
        let fmt = args.iter().find_map(|a| a.strip_prefix('+'));
        let out = match fmt {
            Some(f) => {
                let f = f.replace("%N", "000000000");
                let mut s = String::new();
                if let Some(d) = chrono::DateTime::from_timestamp(self.now, 0) {
                    let items = chrono::format::StrftimeItems::new(&f);
                    if write!(s, "{}", d.format_with_items(items)).is_err() {
                        s = f.clone();
                    }
                }
                s
            }
            None => fmt_time(self.now, "%a %b %e %H:%M:%S UTC %Y"),
        };
        if args.iter().any(|a| a == "-s" || a.starts_with("--set")) && self.st.uid != 0 {
            self.err(io, "date: cannot set date: Operation not permitted\n");
            return 1;
        }
        self.out(io, format!("{out}\n"));
        0
    }

    fn cmd_mount(&mut self, args: &[String], io: Io) -> i32 {
        let operands: Vec<&String> = args.iter().filter(|a| !a.starts_with('-')).collect();
        if operands.is_empty() {
            let text = image::mounts(&self.st.persona);
            let mut out = String::new();
            for l in text.lines() {
                let f: Vec<&str> = l.split_whitespace().collect();
                if let [dev, mnt, ty, opts, ..] = f.as_slice() {
                    let _ = writeln!(out, "{dev} on {mnt} type {ty} ({opts})");
                }
            }
            self.out(io, out);
            return 0;
        }
        let target = operands.last().map(|s| s.as_str()).unwrap_or("");
        if self.st.uid != 0 {
            self.err(io, format!("mount: {target}: must be superuser to use mount.\n       dmesg(1) may have more information after failed mount system call.\n"));
        } else {
            let dev = operands.first().map(|s| s.as_str()).unwrap_or("");
            self.err(io, format!("mount: {target}: special device {dev} does not exist.\n       dmesg(1) may have more information after failed mount system call.\n"));
        }
        32
    }

    fn cmd_crontab(&mut self, args: &[String], io: Io) -> i32 {
        let mut user = self.st.user.clone();
        let mut action = None;
        let mut file = None;
        let mut i = 0;
        while let Some(a) = args.get(i) {
            match a.as_str() {
                "-u" => {
                    if let Some(u) = args.get(i + 1) {
                        if self.st.uid != 0 && *u != self.st.user {
                            self.err(io, "must be privileged to use -u\n");
                            return 1;
                        }
                        user = u.clone();
                    }
                    i += 1;
                }
                "-l" | "-r" | "-e" | "-i" => action = Some(a.clone()),
                other => file = Some(other.to_string()),
            }
            i += 1;
        }
        let path = format!("/var/spool/cron/crontabs/{user}");
        match action.as_deref() {
            Some("-l") => match self.st.fs.read_file(&path) {
                Some(d) => {
                    self.out(io, d);
                    0
                }
                None => {
                    self.err(io, format!("no crontab for {user}\n"));
                    1
                }
            },
            Some("-r") => {
                if self.st.fs.exists("/", &path) {
                    self.before_remove(&path);
                    let _ = self.st.fs.remove_tree(&path);
                    0
                } else {
                    self.err(io, format!("no crontab for {user}\n"));
                    1
                }
            }
            Some("-e") => {
                if !self.st.fs.exists("/", &path) {
                    self.err(io, format!("no crontab for {user} - using an empty one\n"));
                }
                self.err(io, "No modification made\n");
                0
            }
            _ => {
                let data = match file.as_deref() {
                    None | Some("-") => self.read_all(io),
                    Some(f) => match self.fs_read(f) {
                        Ok(d) => d,
                        Err(e) => {
                            self.err(io, format!("{f}: {e}\n"));
                            return 1;
                        }
                    },
                };
                let mut content = format!(
                    "# DO NOT EDIT THIS FILE - edit the master and reinstall.\n# ({} installed on {})\n",
                    file.as_deref().unwrap_or("-"),
                    fmt_time(self.now, "%a %b %e %H:%M:%S %Y")
                )
                .into_bytes();
                content.extend_from_slice(&data);
                let (uid, gid) = (self.st.uid, self.st.gid);
                // The spool is root-owned; crontab is setgid crontab in reality.
                self.st.uid = 0;
                let res = self.fs_write(&path, &content, false, true);
                self.st.uid = uid;
                self.st.gid = gid;
                if let Err(e) = res {
                    self.err(io, format!("crontab: installing new crontab: {e}\n"));
                    return 1;
                }
                0
            }
        }
    }

    fn cmd_passwd(&mut self, args: &[String], io: Io) -> i32 {
        let target = args
            .iter()
            .find(|a| !a.starts_with('-'))
            .cloned()
            .unwrap_or_else(|| self.st.user.clone());
        if target != self.st.user && self.st.uid != 0 {
            self.err(
                io,
                format!("passwd: You may not view or modify password information for {target}.\n"),
            );
            return 1;
        }
        if args.iter().any(|a| a == "-S") {
            let d = fmt_time(self.st.persona.boot_time - 40 * 86_400, "%m/%d/%Y");
            self.out(io, format!("{target} P {d} 0 99999 7 -1\n"));
            return 0;
        }
        let first = self.read_line(io);
        let second = self.read_line(io);
        let mut prompt = String::new();
        if self.st.uid != 0 {
            prompt.push_str(&format!(
                "Changing password for {target}.\nCurrent password: "
            ));
        }
        prompt.push_str("New password: \nRetype new password: \n");
        self.err(io, prompt);
        match (first, second) {
            (Some(a), Some(b)) if !a.is_empty() && a == b => {
                self.err(io, "passwd: password updated successfully\n");
                0
            }
            (Some(a), Some(b)) if a != b => {
                self.err(io, "Sorry, passwords do not match.\npasswd: Authentication token manipulation error\npasswd: password unchanged\n");
                10
            }
            _ => {
                self.err(io, "No password has been supplied.\npasswd: Authentication token manipulation error\npasswd: password unchanged\n");
                10
            }
        }
    }

    fn cmd_useradd(&mut self, name: &str, args: &[String], io: Io) -> i32 {
        if self.st.uid != 0 {
            let msg = match name {
                "adduser" => {
                    "fatal: Only root may add a user or group to the system.\n".to_string()
                }
                _ => format!(
                    "{name}: Permission denied.\n{name}: cannot lock /etc/passwd; try again later.\n"
                ),
            };
            self.err(io, msg);
            return 1;
        }
        let Some(user) = args.iter().rev().find(|a| !a.starts_with('-')).cloned() else {
            self.err(io, format!("Usage: {name} [options] LOGIN\n"));
            return 2;
        };
        if name == "useradd" || name == "adduser" {
            let uid = 1002 + self.st.persona.derive(140, 5) as u32;
            let line = format!("{user}:x:{uid}:{uid}::/home/{user}:/bin/sh\n");
            let _ = self.fs_write("/etc/passwd", line.as_bytes(), true, true);
            let shadow = format!("{user}:!:{}:0:99999:7:::\n", self.now / 86_400);
            let _ = self.fs_write("/etc/shadow", shadow.as_bytes(), true, true);
            if args.iter().any(|a| a == "-m") || name == "adduser" {
                let home = format!("/home/{user}");
                let _ = self.make_dir(&home);
            }
            if name == "adduser" {
                self.out(io, format!("Adding user `{user}' ...\nAdding new group `{user}' ({uid}) ...\nAdding new user `{user}' ({uid}) with group `{user}' ...\nCreating home directory `/home/{user}' ...\nCopying files from `/etc/skel' ...\n"));
            }
        }
        0
    }

    fn cmd_kill(&mut self, args: &[String], io: Io) -> i32 {
        if args.first().is_some_and(|a| a == "-l" || a == "-L") {
            self.out(io, " 1) SIGHUP\t 2) SIGINT\t 3) SIGQUIT\t 4) SIGILL\t 5) SIGTRAP\n 6) SIGABRT\t 7) SIGBUS\t 8) SIGFPE\t 9) SIGKILL\t10) SIGUSR1\n11) SIGSEGV\t12) SIGUSR2\t13) SIGPIPE\t14) SIGALRM\t15) SIGTERM\n");
            return 0;
        }
        let pids: Vec<&String> = args.iter().filter(|a| !a.starts_with('-')).collect();
        if pids.is_empty() {
            self.errln(io, "kill: usage: kill [-s sigspec | -n signum | -sigspec] pid | jobspec ... or kill -l [sigspec]");
            return 2;
        }
        let known: Vec<u32> = self.processes(None).iter().map(|p| p.pid).collect();
        let mut status = 0;
        for p in pids {
            match p.parse::<i64>() {
                Ok(n) if n == i64::from(self.st.pid) => {
                    self.st.user_stack.clear();
                    self.flow = Flow::Exit;
                }
                Ok(n)
                    if known.iter().any(|&k| i64::from(k) == n)
                        || Some(n) == self.st.last_bg.map(i64::from) =>
                {
                    if self.st.uid != 0 && n < i64::from(self.st.pid.saturating_sub(20)) {
                        self.errln(io, &format!("kill: ({n}) - Operation not permitted"));
                        status = 1;
                    }
                }
                Ok(n) => {
                    self.errln(io, &format!("kill: ({n}) - No such process"));
                    status = 1;
                }
                Err(_) => {
                    self.errln(
                        io,
                        &format!("kill: {p}: arguments must be process or job IDs"),
                    );
                    status = 1;
                }
            }
        }
        status
    }

    fn cmd_killall(&mut self, name: &str, args: &[String], io: Io) -> i32 {
        let targets: Vec<String> = args
            .iter()
            .filter(|a| !a.starts_with('-'))
            .cloned()
            .collect();
        if name == "killall5" {
            return 0;
        }
        let procs = self.processes(None);
        let mut status = 0;
        let mut out = String::new();
        for t in &targets {
            let hits: Vec<u32> = procs
                .iter()
                .filter(|p| {
                    let base = p
                        .cmd
                        .split_whitespace()
                        .next()
                        .unwrap_or("")
                        .rsplit('/')
                        .next()
                        .unwrap_or("")
                        .trim_matches(['[', ']', '-', ':']);
                    if name == "pkill" || name == "pgrep" {
                        base.contains(t.as_str())
                    } else {
                        base == t
                    }
                })
                .map(|p| p.pid)
                .collect();
            if hits.is_empty() {
                if name == "killall" {
                    self.err(io, format!("{t}: no process found\n"));
                }
                status = 1;
                continue;
            }
            match name {
                "pgrep" => {
                    for h in hits {
                        let _ = writeln!(out, "{h}");
                    }
                }
                "pidof" => {
                    let s: Vec<String> = hits.iter().map(u32::to_string).collect();
                    let _ = writeln!(out, "{}", s.join(" "));
                }
                _ => {
                    if self.st.uid != 0 {
                        if name == "killall" {
                            for h in &hits {
                                self.err(io, format!("{t}({h}): Operation not permitted\n"));
                            }
                        }
                        status = 1;
                    }
                }
            }
        }
        self.out(io, out);
        status
    }

    fn cmd_dmesg(&mut self, io: Io) -> i32 {
        if self.st.uid != 0 {
            self.err(
                io,
                "dmesg: read kernel buffer failed: Operation not permitted\n",
            );
            return 1;
        }
        let p = self.st.persona.clone();
        let out = format!(
            "[    0.000000] {}[    0.000000] Command line: BOOT_IMAGE=/boot/vmlinuz-{} root=UUID=... ro console=tty1 console=ttyS0\n[    0.000000] BIOS-provided physical RAM map:\n[    0.000000] Hypervisor detected: KVM\n[    0.004000] smpboot: Allowing {} CPUs, 0 hotplug CPUs\n[    0.120000] smpboot: CPU0: {}\n[    1.032000] EXT4-fs ({}): mounted filesystem with ordered data mode. Quota mode: none.\n[    2.410000] virtio_net virtio0 {}: renamed from eth0\n",
            image::proc_version(&p).trim_end_matches('\n').to_string() + "\n",
            p.kernel_release,
            p.cpu_cores,
            p.cpu_model,
            p.root_device.trim_start_matches("/dev/"),
            p.iface
        );
        self.out(io, out);
        0
    }

    fn cmd_systemctl(&mut self, name: &str, args: &[String], io: Io) -> i32 {
        let (verb, unit) = if name == "service" {
            (
                args.get(1).cloned().unwrap_or_default(),
                args.first().cloned().unwrap_or_default(),
            )
        } else {
            let ops: Vec<&String> = args.iter().filter(|a| !a.starts_with('-')).collect();
            (
                ops.first().map(|s| s.to_string()).unwrap_or_default(),
                ops.get(1).map(|s| s.to_string()).unwrap_or_default(),
            )
        };
        let unit_name = if unit.contains('.') {
            unit.clone()
        } else {
            format!("{unit}.service")
        };
        const KNOWN: &[&str] = &[
            "ssh",
            "sshd",
            "cron",
            "rsyslog",
            "systemd-journald",
            "systemd-logind",
            "dbus",
            "networking",
            "systemd-resolved",
            "systemd-timesyncd",
        ];
        let known = KNOWN.contains(&unit.trim_end_matches(".service"));
        match verb.as_str() {
            "" | "list-units" => {
                self.out(io, "  UNIT                      LOAD   ACTIVE SUB     DESCRIPTION\n  cron.service              loaded active running Regular background program processing daemon\n  ssh.service               loaded active running OpenBSD Secure Shell server\n  systemd-journald.service  loaded active running Journal Service\n  systemd-logind.service    loaded active running User Login Management\n");
                0
            }
            "status" => {
                if known {
                    self.out(io, format!("● {unit_name} - {unit}\n     Loaded: loaded (/lib/systemd/system/{unit_name}; enabled; preset: enabled)\n     Active: active (running) since {}; {} ago\n", fmt_time(self.st.persona.boot_time, "%a %Y-%m-%d %H:%M:%S UTC"), "1 week"));
                    0
                } else {
                    self.err(io, format!("Unit {unit_name} could not be found.\n"));
                    4
                }
            }
            "is-active" => {
                self.out(io, if known { "active\n" } else { "inactive\n" });
                i32::from(!known) * 3
            }
            "start" | "stop" | "restart" | "reload" | "enable" | "disable" | "mask" | "unmask"
            | "daemon-reload" => {
                if self.st.uid != 0 && verb != "daemon-reload" {
                    self.err(io, format!("Failed to {verb} {unit_name}: Interactive authentication required.\nSee system logs and 'systemctl status {unit_name}' for details.\n"));
                    return 1;
                }
                if !known && !unit.is_empty() && verb != "daemon-reload" {
                    if verb == "enable" || verb == "disable" {
                        self.err(
                            io,
                            format!(
                                "Failed to {verb} unit: Unit file {unit_name} does not exist.\n"
                            ),
                        );
                    } else {
                        self.err(
                            io,
                            format!("Failed to {verb} {unit_name}: Unit {unit_name} not loaded.\n"),
                        );
                    }
                    return if verb == "stop" { 5 } else { 1 };
                }
                0
            }
            _ => {
                self.err(io, format!("Unknown command verb {verb}.\n"));
                1
            }
        }
    }

    fn cmd_apt(&mut self, name: &str, args: &[String], io: Io) -> i32 {
        let verb = args
            .iter()
            .find(|a| !a.starts_with('-'))
            .cloned()
            .unwrap_or_default();
        if verb.is_empty() {
            self.out(
                io,
                format!("{name} 2.6.1 (amd64)\nUsage: {name} [options] command\n"),
            );
            return 1;
        }
        if self.st.uid != 0
            && matches!(
                verb.as_str(),
                "install" | "update" | "upgrade" | "remove" | "purge"
            )
        {
            self.err(io, "E: Could not open lock file /var/lib/dpkg/lock-frontend - open (13: Permission denied)\nE: Unable to acquire the dpkg frontend lock (/var/lib/dpkg/lock-frontend), are you root?\n");
            return 100;
        }
        let p = self.st.persona.clone();
        let mirror = if p.os.is_ubuntu() {
            "http://archive.ubuntu.com/ubuntu"
        } else {
            "http://deb.debian.org/debian"
        };
        let code = p.os.codename();
        match verb.as_str() {
            "update" => {
                self.out(io, format!("Hit:1 {mirror} {code} InRelease\nHit:2 {mirror} {code}-updates InRelease\nHit:3 {mirror}-security {code}-security InRelease\nReading package lists... Done\n"));
                0
            }
            "install" | "remove" | "purge" => {
                let pkgs: Vec<&String> = args
                    .iter()
                    .filter(|a| !a.starts_with('-') && *a != &verb)
                    .collect();
                let mut out = String::from(
                    "Reading package lists... Done\nBuilding dependency tree... Done\nReading state information... Done\n",
                );
                for pkg in &pkgs {
                    if verb == "install" && USR_INSTALLED.contains(&pkg.as_str()) {
                        let _ = writeln!(out, "{pkg} is already the newest version.");
                    }
                }
                let missing: Vec<&&String> = pkgs
                    .iter()
                    .filter(|p| !USR_INSTALLED.contains(&p.as_str()))
                    .collect();
                self.out(io, out);
                if let Some(m) = missing.first() {
                    self.err(io, format!("E: Unable to locate package {m}\n"));
                    return 100;
                }
                self.out(
                    io,
                    "0 upgraded, 0 newly installed, 0 to remove and 0 not upgraded.\n",
                );
                0
            }
            _ => {
                self.out(io, "Reading package lists... Done\nBuilding dependency tree... Done\nReading state information... Done\n");
                0
            }
        }
    }
}

/// The program name `ps`/`top` show for a command line.
fn short_cmd(cmd: &str) -> String {
    if cmd.starts_with('[') {
        return cmd.trim_matches(['[', ']']).to_string();
    }
    let first = cmd
        .trim_start_matches('-')
        .split_whitespace()
        .next()
        .unwrap_or("");
    let first = first.trim_end_matches(':');
    first.rsplit('/').next().unwrap_or(first).to_string()
}

const USR_INSTALLED: &[&str] = &[
    "wget",
    "curl",
    "busybox",
    "bash",
    "coreutils",
    "openssh-server",
    "net-tools",
    "iproute2",
    "cron",
    "sudo",
    "procps",
    "gzip",
    "tar",
];

impl super::super::interp::State {
    /// The account that logged in over SSH (the bottom of the `su` stack).
    pub(crate) fn persona_login_user(&self) -> String {
        self.user_stack
            .first()
            .map(|i| i.user_name().to_string())
            .unwrap_or_else(|| self.user.clone())
    }
}
