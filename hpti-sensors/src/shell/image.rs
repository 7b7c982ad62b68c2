//! Builds the base image tree and the text of persona-derived files (`/proc/*`,
//! `/etc/*`), shared by the filesystem and by commands such as `free` and `uname`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;

use super::fs::{Content, Dynamic, Kind, Node};
use super::persona::{OsFlavor, Persona};

/// Executables in `/usr/bin` (every one of them is implemented by the shell).
pub const USR_BIN: &[&str] = &[
    "[",
    "apt",
    "apt-get",
    "arch",
    "awk",
    "base64",
    "basename",
    "bash",
    "busybox",
    "cat",
    "chattr",
    "chgrp",
    "chmod",
    "chown",
    "clear",
    "cp",
    "crontab",
    "curl",
    "cut",
    "dash",
    "date",
    "dd",
    "df",
    "dirname",
    "dmesg",
    "dpkg",
    "du",
    "echo",
    "env",
    "false",
    "find",
    "free",
    "ftpget",
    "getconf",
    "grep",
    "groups",
    "gzip",
    "head",
    "hostname",
    "id",
    "ip",
    "journalctl",
    "kill",
    "killall",
    "last",
    "lastlog",
    "ln",
    "ls",
    "lsb_release",
    "lscpu",
    "md5sum",
    "mkdir",
    "mktemp",
    "more",
    "mount",
    "mv",
    "nano",
    "netstat",
    "nohup",
    "nproc",
    "passwd",
    "pgrep",
    "pkill",
    "printf",
    "ps",
    "pwd",
    "readlink",
    "rm",
    "rmdir",
    "scp",
    "sed",
    "seq",
    "sha1sum",
    "sha256sum",
    "sleep",
    "sort",
    "ss",
    "stat",
    "su",
    "sudo",
    "sync",
    "systemctl",
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
    "unzip",
    "uptime",
    "vi",
    "w",
    "wc",
    "wget",
    "which",
    "who",
    "whoami",
    "xargs",
    "yes",
];

/// Executables in `/usr/sbin`.
pub const USR_SBIN: &[&str] = &[
    "adduser", "chpasswd", "cron", "halt", "ifconfig", "iptables", "poweroff", "reboot", "route",
    "service", "shutdown", "sshd", "useradd", "userdel", "usermod",
];

/// Binaries that are symlinks in a real install (name, target).
const LINKS: &[(&str, &str)] = &[
    ("/usr/bin/sh", "dash"),
    ("/usr/bin/rbash", "bash"),
    ("/usr/bin/pidof", "/sbin/killall5"),
];

fn name_hash(s: &str) -> u64 {
    // FNV-1a: stable across builds, unlike the std hasher.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

fn binary_size(name: &str) -> u64 {
    match name {
        "bash" => 1_265_648,
        "busybox" => 2_172_576,
        "dash" => 125_560,
        "curl" => 260_328,
        "wget" => 524_504,
        "ls" => 151_344,
        "ip" => 788_176,
        "sudo" => 281_624,
        _ => 14_000 + name_hash(name) % 140_000,
    }
}

struct Builder<'a> {
    nodes: BTreeMap<String, Node>,
    p: &'a Persona,
    install: i64,
}

impl Builder<'_> {
    fn dir(&mut self, path: &str, mode: u32, uid: u32, gid: u32) {
        let t = self.install + (name_hash(path) % 86_400) as i64;
        self.nodes
            .insert(path.to_string(), Node::dir(mode, uid, gid, t));
    }
    fn root_dir(&mut self, path: &str) {
        self.dir(path, 0o755, 0, 0);
    }
    fn file(&mut self, path: &str, text: &str, mode: u32, uid: u32, gid: u32) {
        let t = self.install + (name_hash(path) % (30 * 86_400)) as i64;
        self.nodes.insert(
            path.to_string(),
            Node::file(Arc::from(text.as_bytes()), mode, uid, gid, t),
        );
    }
    fn etc(&mut self, path: &str, text: &str) {
        self.file(path, text, 0o644, 0, 0);
    }
    fn link(&mut self, path: &str, target: &str) {
        let mut n = Node::dir(0o777, 0, 0, self.install);
        n.kind = Kind::Symlink(Arc::from(target));
        self.nodes.insert(path.to_string(), n);
    }
    fn special(&mut self, path: &str, content: Content, mode: u32, kind: Kind) {
        let mut n = Node::dir(mode, 0, 0, self.p.boot_time);
        n.kind = kind;
        n.content = content;
        self.nodes.insert(path.to_string(), n);
    }
    fn binary(&mut self, path: &str, name: &str, mode: u32) {
        let mut n = Node::dir(
            mode,
            0,
            0,
            self.install + (name_hash(name) % 5_000_000) as i64,
        );
        n.kind = Kind::File;
        n.content = Content::Binary {
            size: binary_size(name),
            seed: name_hash(name),
        };
        self.nodes.insert(path.to_string(), n);
    }
}

/// Builds the tree of `p` (canonical absolute paths → nodes).
pub fn build(p: &Persona) -> BTreeMap<String, Node> {
    let install = p.boot_time - 86_400 * (30 + p.derive(10, 400) as i64);
    let mut b = Builder {
        nodes: BTreeMap::new(),
        p,
        install,
    };
    for d in [
        "/",
        "/boot",
        "/dev",
        "/etc",
        "/etc/cron.d",
        "/etc/cron.daily",
        "/etc/default",
        "/etc/network",
        "/etc/ssh",
        "/etc/systemd",
        "/etc/apt",
        "/home",
        "/media",
        "/mnt",
        "/opt",
        "/proc",
        "/run",
        "/run/sshd",
        "/srv",
        "/sys",
        "/usr",
        "/usr/bin",
        "/usr/sbin",
        "/usr/lib",
        "/usr/lib64",
        "/usr/local",
        "/usr/local/bin",
        "/usr/local/sbin",
        "/usr/local/lib",
        "/usr/share",
        "/usr/share/doc",
        "/usr/include",
        "/var",
        "/var/backups",
        "/var/cache",
        "/var/lib",
        "/var/lib/dpkg",
        "/var/local",
        "/var/log",
        "/var/mail",
        "/var/opt",
        "/var/spool",
        "/var/spool/cron",
        "/var/www",
        "/var/www/html",
        "/dev/pts",
        "/lost+found",
    ] {
        b.root_dir(d);
    }
    b.dir("/lost+found", 0o700, 0, 0);
    b.dir("/root", 0o700, 0, 0);
    b.dir("/root/.ssh", 0o700, 0, 0);
    b.dir("/tmp", 0o1777, 0, 0);
    b.dir("/var/tmp", 0o1777, 0, 0);
    b.dir("/dev/shm", 0o1777, 0, 0);
    b.dir("/run/lock", 0o1777, 0, 0);
    b.dir("/var/spool/cron/crontabs", 0o1730, 0, 102);
    b.dir("/var/log/apt", 0o755, 0, 0);
    b.link("/bin", "usr/bin");
    b.link("/sbin", "usr/sbin");
    b.link("/lib", "usr/lib");
    b.link("/lib64", "usr/lib64");
    b.link("/var/run", "/run");
    b.link("/var/lock", "/run/lock");
    b.link("/etc/mtab", "../proc/self/mounts");
    b.link("/etc/os-release", "../usr/lib/os-release");
    for name in USR_BIN {
        b.binary(&format!("/usr/bin/{name}"), name, 0o755);
    }
    b.binary("/usr/bin/su", "su", 0o4755);
    b.binary("/usr/bin/sudo", "sudo", 0o4755);
    b.binary("/usr/bin/passwd", "passwd", 0o4755);
    for name in USR_SBIN {
        b.binary(&format!("/usr/sbin/{name}"), name, 0o755);
    }
    b.binary("/usr/sbin/killall5", "killall5", 0o755);
    for (path, target) in LINKS {
        b.link(path, target);
    }
    b.binary("/usr/lib64/ld-linux-x86-64.so.2", "ld-linux", 0o755);
    b.root_dir("/usr/lib/x86_64-linux-gnu");
    b.binary("/usr/lib/x86_64-linux-gnu/libc.so.6", "libc.so.6", 0o755);
    b.binary(
        &format!("/boot/vmlinuz-{}", p.kernel_release),
        "vmlinuz",
        0o644,
    );

    // Devices and pseudo files.
    b.special(
        "/dev/null",
        Content::Dynamic(Dynamic::Null),
        0o666,
        Kind::CharDev(1, 3),
    );
    b.special(
        "/dev/zero",
        Content::Dynamic(Dynamic::Zero),
        0o666,
        Kind::CharDev(1, 5),
    );
    b.special(
        "/dev/random",
        Content::Dynamic(Dynamic::Random),
        0o666,
        Kind::CharDev(1, 8),
    );
    b.special(
        "/dev/urandom",
        Content::Dynamic(Dynamic::Random),
        0o666,
        Kind::CharDev(1, 9),
    );
    b.special(
        "/dev/tty",
        Content::Dynamic(Dynamic::Null),
        0o666,
        Kind::CharDev(5, 0),
    );
    b.special(
        "/dev/console",
        Content::Dynamic(Dynamic::Null),
        0o600,
        Kind::CharDev(5, 1),
    );
    b.special(
        "/proc/uptime",
        Content::Dynamic(Dynamic::Uptime),
        0o444,
        Kind::File,
    );
    b.special(
        "/proc/loadavg",
        Content::Dynamic(Dynamic::LoadAvg),
        0o444,
        Kind::File,
    );
    let proc_files = [
        ("/proc/cpuinfo", cpuinfo(p)),
        ("/proc/meminfo", meminfo(p)),
        ("/proc/version", proc_version(p)),
        ("/proc/mounts", mounts(p)),
        ("/proc/self/mounts", mounts(p)),
        ("/proc/cmdline", format!(
            "BOOT_IMAGE=/boot/vmlinuz-{} root=UUID={} ro console=tty1 console=ttyS0\n",
            p.kernel_release,
            uuid_like(p, 20)
        )),
        ("/proc/filesystems", "nodev\tsysfs\nnodev\ttmpfs\nnodev\tproc\nnodev\tdevtmpfs\nnodev\tdevpts\n\text3\n\text4\nnodev\tcgroup2\nnodev\tmqueue\n".to_string()),
        ("/proc/sys/kernel/hostname", format!("{}\n", p.hostname)),
    ];
    b.root_dir("/proc/self");
    b.root_dir("/proc/sys");
    b.root_dir("/proc/sys/kernel");
    for (path, text) in &proc_files {
        b.special(
            path,
            Content::Bytes(Arc::from(text.as_bytes())),
            0o444,
            Kind::File,
        );
    }

    // /etc
    b.etc("/etc/hostname", &format!("{}\n", p.hostname));
    b.etc("/etc/hosts", &hosts(p));
    b.etc("/usr/lib/os-release", &os_release(p.os));
    b.etc("/etc/issue", &format!("{} \\n \\l\n\n", issue_name(p.os)));
    b.etc("/etc/issue.net", &format!("{}\n", issue_name(p.os)));
    b.etc("/etc/passwd", &passwd(p));
    b.etc("/etc/group", &group(p));
    b.file("/etc/shadow", &shadow(p), 0o640, 0, 42);
    b.file("/etc/gshadow", "root:*::\nsudo:*::\n", 0o640, 0, 42);
    b.file(
        "/etc/sudoers",
        "#\n# This file MUST be edited with the 'visudo' command as root.\n#\nDefaults\tenv_reset\nDefaults\tmail_badpass\nDefaults\tsecure_path=\"/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\"\n\nroot\tALL=(ALL:ALL) ALL\n%sudo\tALL=(ALL:ALL) ALL\n\n@includedir /etc/sudoers.d\n",
        0o440,
        0,
        0,
    );
    b.etc(
        "/etc/resolv.conf",
        &if p.os.is_ubuntu() {
            "# This is /run/systemd/resolve/stub-resolv.conf managed by man:systemd-resolved(8).\n# Do not edit.\n\nnameserver 127.0.0.53\noptions edns0 trust-ad\nsearch .\n".to_string()
        } else {
            format!("nameserver {}\n", p.nameserver)
        },
    );
    b.etc("/etc/shells", "# /etc/shells: valid login shells\n/bin/sh\n/usr/bin/sh\n/bin/bash\n/usr/bin/bash\n/bin/rbash\n/usr/bin/rbash\n/bin/dash\n/usr/bin/dash\n");
    b.etc("/etc/timezone", "Etc/UTC\n");
    b.etc(
        "/etc/machine-id",
        &format!("{}\n", uuid_like(p, 21).replace('-', "")),
    );
    b.etc(
        "/etc/fstab",
        &format!(
            "# /etc/fstab: static file system information.\n#\n# <file system> <mount point>   <type>  <options>       <dump>  <pass>\nUUID={} /               ext4    errors=remount-ro 0       1\n",
            uuid_like(p, 20)
        ),
    );
    b.etc("/etc/crontab", CRONTAB);
    b.etc("/etc/profile", ETC_PROFILE);
    b.etc("/etc/bash.bashrc", "# System-wide .bashrc file for interactive bash(1) shells.\n[ -z \"$PS1\" ] && return\nshopt -s checkwinsize\n");
    b.etc("/etc/motd", if p.os.is_ubuntu() { "" } else { MOTD_DEBIAN });
    if p.os.is_ubuntu() {
        let (ver, code) = match p.os {
            OsFlavor::Ubuntu2404 => ("24.04", "noble"),
            _ => ("22.04", "jammy"),
        };
        b.etc(
            "/etc/lsb-release",
            &format!(
                "DISTRIB_ID=Ubuntu\nDISTRIB_RELEASE={ver}\nDISTRIB_CODENAME={code}\nDISTRIB_DESCRIPTION=\"{}\"\n",
                p.os.pretty_name()
            ),
        );
        b.etc(
            "/etc/debian_version",
            if ver == "24.04" {
                "trixie/sid\n"
            } else {
                "bookworm/sid\n"
            },
        );
    } else {
        b.etc("/etc/debian_version", "12.7\n");
        b.etc(
            "/etc/network/interfaces",
            &format!("source /etc/network/interfaces.d/*\n\nauto lo\niface lo inet loopback\n\nallow-hotplug {0}\niface {0} inet dhcp\n", p.iface),
        );
    }
    b.etc("/etc/ssh/sshd_config", "Include /etc/ssh/sshd_config.d/*.conf\nKbdInteractiveAuthentication no\nUsePAM yes\nX11Forwarding yes\nPrintMotd no\nAcceptEnv LANG LC_*\nSubsystem\tsftp\t/usr/lib/openssh/sftp-server\nPermitRootLogin yes\nPasswordAuthentication yes\n");
    b.file("/var/log/auth.log", "", 0o640, 0, 4);
    b.file("/var/log/syslog", "", 0o640, 0, 4);
    b.file("/var/log/wtmp", "", 0o664, 0, 43);
    b.file("/var/log/lastlog", "", 0o664, 0, 43);
    b.file("/var/log/dpkg.log", "", 0o644, 0, 0);

    // Homes.
    b.file("/root/.bashrc", ROOT_BASHRC, 0o644, 0, 0);
    b.file("/root/.profile", ROOT_PROFILE, 0o644, 0, 0);
    b.file("/root/.ssh/authorized_keys", "", 0o600, 0, 0);
    for u in &p.users {
        let home = format!("/home/{}", u.name);
        b.dir(&home, 0o750, u.uid, u.uid);
        b.file(&format!("{home}/.bashrc"), USER_BASHRC, 0o644, u.uid, u.uid);
        b.file(
            &format!("{home}/.profile"),
            USER_PROFILE,
            0o644,
            u.uid,
            u.uid,
        );
        b.file(
            &format!("{home}/.bash_logout"),
            BASH_LOGOUT,
            0o644,
            u.uid,
            u.uid,
        );
        b.dir(&format!("{home}/.ssh"), 0o700, u.uid, u.uid);
        b.file(&format!("{home}/.bash_history"), "", 0o600, u.uid, u.uid);
    }
    b.nodes
}

/// Text of a dynamic file at time `now`, at most `limit` bytes.
pub fn dynamic(p: &Persona, d: Dynamic, now: i64, limit: usize) -> Vec<u8> {
    match d {
        Dynamic::Uptime => {
            let up = uptime_secs(p, now) as f64 + (p.derive(30, 100) as f64) / 100.0;
            let idle = up * f64::from(p.cpu_cores.max(1)) * 0.97;
            format!("{up:.2} {idle:.2}\n").into_bytes()
        }
        Dynamic::LoadAvg => {
            let (a, b2, c) = loadavg(p, now);
            format!(
                "{a:.2} {b2:.2} {c:.2} 1/{} {}\n",
                110 + p.derive(31, 60),
                4000 + p.derive(32, 30_000)
            )
            .into_bytes()
        }
        Dynamic::Random => {
            let mut rng = fastrand::Rng::new();
            let n = limit.min(1 << 20);
            (0..n).map(|_| rng.u8(..)).collect()
        }
        Dynamic::Zero => vec![0; limit.min(1 << 20)],
        Dynamic::Null => Vec::new(),
    }
}

/// Seconds since boot at `now`.
pub fn uptime_secs(p: &Persona, now: i64) -> i64 {
    (now - p.boot_time).max(60)
}

/// Load averages (1, 5, 15 min), slowly varying with time.
pub fn loadavg(p: &Persona, now: i64) -> (f64, f64, f64) {
    let slot = (now / 300) as u64;
    let base = (p.derive(slot, 25) as f64) / 100.0;
    (base, base * 0.7 + 0.02, base * 0.5 + 0.01)
}

fn uuid_like(p: &Persona, salt: u64) -> String {
    let a = p.derive(salt, u64::MAX);
    let b = p.derive(salt + 1000, u64::MAX);
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xffff,
        b >> 48,
        b & 0xffff_ffff_ffff
    )
}

fn issue_name(os: OsFlavor) -> &'static str {
    match os {
        OsFlavor::Debian12 => "Debian GNU/Linux 12",
        other => other.pretty_name(),
    }
}

/// `/etc/os-release`.
pub fn os_release(os: OsFlavor) -> String {
    match os {
        OsFlavor::Debian12 => "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\nVERSION=\"12 (bookworm)\"\nVERSION_CODENAME=bookworm\nID=debian\nHOME_URL=\"https://www.debian.org/\"\nSUPPORT_URL=\"https://www.debian.org/support\"\nBUG_REPORT_URL=\"https://bugs.debian.org/\"\n".to_string(),
        OsFlavor::Ubuntu2204 => "PRETTY_NAME=\"Ubuntu 22.04.4 LTS\"\nNAME=\"Ubuntu\"\nVERSION_ID=\"22.04\"\nVERSION=\"22.04.4 LTS (Jammy Jellyfish)\"\nVERSION_CODENAME=jammy\nID=ubuntu\nID_LIKE=debian\nHOME_URL=\"https://www.ubuntu.com/\"\nSUPPORT_URL=\"https://help.ubuntu.com/\"\nBUG_REPORT_URL=\"https://bugs.launchpad.net/ubuntu/\"\nPRIVACY_POLICY_URL=\"https://www.ubuntu.com/legal/terms-and-policies/privacy-policy\"\nUBUNTU_CODENAME=jammy\n".to_string(),
        OsFlavor::Ubuntu2404 => "PRETTY_NAME=\"Ubuntu 24.04.1 LTS\"\nNAME=\"Ubuntu\"\nVERSION_ID=\"24.04\"\nVERSION=\"24.04.1 LTS (Noble Numbat)\"\nVERSION_CODENAME=noble\nID=ubuntu\nID_LIKE=debian\nHOME_URL=\"https://www.ubuntu.com/\"\nSUPPORT_URL=\"https://help.ubuntu.com/\"\nBUG_REPORT_URL=\"https://bugs.launchpad.net/ubuntu/\"\nPRIVACY_POLICY_URL=\"https://www.ubuntu.com/legal/terms-and-policies/privacy-policy\"\nUBUNTU_CODENAME=noble\nLOGO=ubuntu-logo\n".to_string(),
    }
}

fn gcc_banner(p: &Persona) -> &'static str {
    match p.os {
        OsFlavor::Debian12 => {
            "gcc-12 (Debian 12.2.0-14) 12.2.0, GNU ld (GNU Binutils for Debian) 2.40"
        }
        OsFlavor::Ubuntu2204 => {
            "gcc (Ubuntu 11.4.0-1ubuntu1~22.04) 11.4.0, GNU ld (GNU Binutils for Ubuntu) 2.38"
        }
        OsFlavor::Ubuntu2404 => {
            "x86_64-linux-gnu-gcc-13 (Ubuntu 13.2.0-23ubuntu4) 13.2.0, GNU ld (GNU Binutils for Ubuntu) 2.42"
        }
    }
}

/// `/proc/version`.
pub fn proc_version(p: &Persona) -> String {
    let builder = if p.os.is_ubuntu() {
        "buildd@lcy02-amd64-051"
    } else {
        "debian-kernel@lists.debian.org"
    };
    format!(
        "Linux version {} ({builder}) ({}) {}\n",
        p.kernel_release,
        gcc_banner(p),
        p.kernel_version
    )
}

fn is_amd(p: &Persona) -> bool {
    p.cpu_model.contains("AMD")
}

/// `/proc/cpuinfo`.
pub fn cpuinfo(p: &Persona) -> String {
    let amd = is_amd(p);
    let mut s = String::new();
    let (vendor, family, model, stepping) = if amd {
        (
            "AuthenticAMD",
            23 + 2 * u32::from(p.cpu_model.contains("9454")),
            49,
            0,
        )
    } else {
        ("GenuineIntel", 6, 85, 7)
    };
    let flags = if amd {
        "fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush mmx fxsr sse sse2 syscall nx mmxext fxsr_opt pdpe1gb rdtscp lm rep_good nopl cpuid extd_apicid tsc_known_freq pni pclmulqdq ssse3 fma cx16 sse4_1 sse4_2 x2apic movbe popcnt tsc_deadline_timer aes xsave avx f16c rdrand hypervisor lahf_lm cmp_legacy cr8_legacy abm sse4a misalignsse 3dnowprefetch osvw topoext perfctr_core ssbd ibrs ibpb stibp vmmcall fsgsbase bmi1 avx2 smep bmi2 rdseed adx smap clflushopt clwb sha_ni xsaveopt xsavec xgetbv1 xsaves clzero xsaveerptr wbnoinvd arat umip rdpid"
    } else {
        "fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush mmx fxsr sse sse2 ss syscall nx pdpe1gb rdtscp lm constant_tsc rep_good nopl xtopology cpuid tsc_known_freq pni pclmulqdq ssse3 fma cx16 pcid sse4_1 sse4_2 x2apic movbe popcnt tsc_deadline_timer aes xsave avx f16c rdrand hypervisor lahf_lm abm 3dnowprefetch cpuid_fault invpcid_single ssbd ibrs ibpb stibp ibrs_enhanced fsgsbase tsc_adjust bmi1 avx2 smep bmi2 erms invpcid avx512f avx512dq rdseed adx smap clflushopt clwb avx512cd avx512bw avx512vl xsaveopt xsavec xgetbv1 xsaves arat pku ospke md_clear arch_capabilities"
    };
    let cache = if amd { "512 KB" } else { "16384 KB" };
    let bogo = f64::from(p.cpu_mhz) * 2.0;
    for i in 0..p.cpu_cores.max(1) {
        let _ = write!(
            s,
            "processor\t: {i}\nvendor_id\t: {vendor}\ncpu family\t: {family}\nmodel\t\t: {model}\nmodel name\t: {}\nstepping\t: {stepping}\nmicrocode\t: 0x1\ncpu MHz\t\t: {}.{:03}\ncache size\t: {cache}\nphysical id\t: {i}\nsiblings\t: 1\ncore id\t\t: 0\ncpu cores\t: 1\napicid\t\t: {i}\ninitial apicid\t: {i}\nfpu\t\t: yes\nfpu_exception\t: yes\ncpuid level\t: 13\nwp\t\t: yes\nflags\t\t: {flags}\nbugs\t\t: {}\nbogomips\t: {bogo:.2}\nclflush size\t: 64\ncache_alignment\t: 64\naddress sizes\t: {} bits physical, 48 bits virtual\npower management:\n\n",
            p.cpu_model,
            p.cpu_mhz,
            p.derive(40, 1000),
            if amd {
                "sysret_ss_attrs null_seg spectre_v1 spectre_v2 spec_store_bypass retbleed smt_rsb srso"
            } else {
                "spectre_v1 spectre_v2 spec_store_bypass swapgs mmio_stale_data retbleed gds bhi"
            },
            if amd { 40 } else { 46 },
        );
    }
    s
}

/// `/proc/meminfo`.
pub fn meminfo(p: &Persona) -> String {
    let m = p.memory();
    let slab = m.total / 40;
    let lines: [(&str, u64); 22] = [
        ("MemTotal", m.total),
        ("MemFree", m.free),
        ("MemAvailable", m.available),
        ("Buffers", m.buffers),
        ("Cached", m.cached),
        ("SwapCached", 0),
        ("Active", m.used / 2 + m.cached / 3),
        ("Inactive", m.cached / 2),
        ("Active(anon)", m.used / 3),
        ("Inactive(anon)", m.used / 10),
        ("Active(file)", m.cached / 3),
        ("Inactive(file)", m.cached / 2),
        ("Unevictable", 0),
        ("Mlocked", 0),
        ("SwapTotal", m.swap_total),
        ("SwapFree", m.swap_free),
        ("Dirty", 40 + p.derive(41, 400)),
        ("Writeback", 0),
        ("AnonPages", m.used / 2),
        ("Mapped", m.cached / 6),
        ("Shmem", m.shared),
        ("Slab", slab),
    ];
    let mut s = String::new();
    for (k, v) in lines {
        let _ = writeln!(s, "{:<16}{v:>8} kB", format!("{k}:"));
    }
    let _ = writeln!(s, "{:<16}{:>8} kB", "SReclaimable:", slab * 3 / 5);
    let _ = writeln!(s, "{:<16}{:>8} kB", "SUnreclaim:", slab * 2 / 5);
    let _ = writeln!(
        s,
        "{:<16}{:>8} kB",
        "KernelStack:",
        2000 + p.derive(42, 3000)
    );
    let _ = writeln!(
        s,
        "{:<16}{:>8} kB",
        "PageTables:",
        1500 + p.derive(43, 6000)
    );
    let _ = writeln!(
        s,
        "{:<16}{:>8} kB",
        "CommitLimit:",
        m.total / 2 + m.swap_total
    );
    let _ = writeln!(s, "{:<16}{:>8} kB", "Committed_AS:", m.used * 2);
    let _ = writeln!(s, "{:<16}{:>8} kB", "VmallocTotal:", 34_359_738_367u64);
    let _ = writeln!(s, "{:<16}{:>8} kB", "HugePages_Total:", 0);
    let _ = writeln!(s, "{:<16}{:>8} kB", "Hugepagesize:", 2048);
    s
}

/// `/proc/mounts`.
pub fn mounts(p: &Persona) -> String {
    format!(
        "sysfs /sys sysfs rw,nosuid,nodev,noexec,relatime 0 0\nproc /proc proc rw,nosuid,nodev,noexec,relatime 0 0\nudev /dev devtmpfs rw,nosuid,relatime,size={}k,nr_inodes={},mode=755,inode64 0 0\ndevpts /dev/pts devpts rw,nosuid,noexec,relatime,gid=5,mode=620,ptmxmode=000 0 0\ntmpfs /run tmpfs rw,nosuid,nodev,noexec,relatime,size={}k,mode=755,inode64 0 0\n{} / ext4 rw,relatime,errors=remount-ro 0 0\ntmpfs /dev/shm tmpfs rw,nosuid,nodev,inode64 0 0\ntmpfs /run/lock tmpfs rw,nosuid,nodev,noexec,relatime,size=5120k,inode64 0 0\ncgroup2 /sys/fs/cgroup cgroup2 rw,nosuid,nodev,noexec,relatime,nsdelegate,memory_recursiveprot 0 0\n",
        p.mem_total_kib / 2,
        p.mem_total_kib / 8,
        p.mem_total_kib / 10,
        p.root_device
    )
}

fn hosts(p: &Persona) -> String {
    format!(
        "127.0.0.1\tlocalhost\n127.0.1.1\t{0}\n{1}\t{0}\n\n# The following lines are desirable for IPv6 capable hosts\n::1     localhost ip6-localhost ip6-loopback\nff02::1 ip6-allnodes\nff02::2 ip6-allrouters\n",
        p.hostname, p.ip
    )
}

/// System accounts of `/etc/passwd` (name, uid, gid, gecos, home, shell).
pub const SYSTEM_ACCOUNTS: &[(&str, u32, u32, &str, &str, &str)] = &[
    ("daemon", 1, 1, "daemon", "/usr/sbin", "/usr/sbin/nologin"),
    ("bin", 2, 2, "bin", "/bin", "/usr/sbin/nologin"),
    ("sys", 3, 3, "sys", "/dev", "/usr/sbin/nologin"),
    ("sync", 4, 65534, "sync", "/bin", "/bin/sync"),
    ("games", 5, 60, "games", "/usr/games", "/usr/sbin/nologin"),
    ("man", 6, 12, "man", "/var/cache/man", "/usr/sbin/nologin"),
    ("lp", 7, 7, "lp", "/var/spool/lpd", "/usr/sbin/nologin"),
    ("mail", 8, 8, "mail", "/var/mail", "/usr/sbin/nologin"),
    ("news", 9, 9, "news", "/var/spool/news", "/usr/sbin/nologin"),
    (
        "uucp",
        10,
        10,
        "uucp",
        "/var/spool/uucp",
        "/usr/sbin/nologin",
    ),
    ("proxy", 13, 13, "proxy", "/bin", "/usr/sbin/nologin"),
    (
        "www-data",
        33,
        33,
        "www-data",
        "/var/www",
        "/usr/sbin/nologin",
    ),
    (
        "backup",
        34,
        34,
        "backup",
        "/var/backups",
        "/usr/sbin/nologin",
    ),
    (
        "list",
        38,
        38,
        "Mailing List Manager",
        "/var/list",
        "/usr/sbin/nologin",
    ),
    ("irc", 39, 39, "ircd", "/run/ircd", "/usr/sbin/nologin"),
    ("_apt", 42, 65534, "", "/nonexistent", "/usr/sbin/nologin"),
    (
        "nobody",
        65534,
        65534,
        "nobody",
        "/nonexistent",
        "/usr/sbin/nologin",
    ),
    (
        "systemd-network",
        998,
        998,
        "systemd Network Management",
        "/",
        "/usr/sbin/nologin",
    ),
    (
        "messagebus",
        100,
        107,
        "",
        "/nonexistent",
        "/usr/sbin/nologin",
    ),
    ("sshd", 101, 65534, "", "/run/sshd", "/usr/sbin/nologin"),
];

fn passwd(p: &Persona) -> String {
    let mut s = String::from("root:x:0:0:root:/root:/bin/bash\n");
    for (name, uid, gid, gecos, home, shell) in SYSTEM_ACCOUNTS {
        let _ = writeln!(s, "{name}:x:{uid}:{gid}:{gecos}:{home}:{shell}");
    }
    for u in &p.users {
        let _ = writeln!(
            s,
            "{0}:x:{1}:{1}:{2},,,:/home/{0}:/bin/bash",
            u.name, u.uid, u.full_name
        );
    }
    s
}

fn shadow(p: &Persona) -> String {
    let day = p.boot_time / 86_400 - 40;
    let mut s = format!(
        "root:$y$j9T${}${}:{day}:0:99999:7:::\n",
        salt(p, 50, 22),
        salt(p, 51, 43)
    );
    for (name, ..) in SYSTEM_ACCOUNTS {
        let _ = writeln!(s, "{name}:*:{day}:0:99999:7:::");
    }
    for (i, u) in p.users.iter().enumerate() {
        let _ = writeln!(
            s,
            "{}:$y$j9T${}${}:{day}:0:99999:7:::",
            u.name,
            salt(p, 60 + i as u64, 22),
            salt(p, 70 + i as u64, 43)
        );
    }
    s
}

fn salt(p: &Persona, seed: u64, len: usize) -> String {
    const ALPHA: &[u8] = b"./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut rng = fastrand::Rng::with_seed(p.derive(seed, u64::MAX));
    (0..len)
        .map(|_| char::from(ALPHA[rng.usize(..ALPHA.len())]))
        .collect()
}

fn group(p: &Persona) -> String {
    let sudoers: Vec<&str> = p
        .users
        .iter()
        .filter(|u| u.sudo)
        .map(|u| u.name.as_str())
        .collect();
    let first = p.users.first().map(|u| u.name.as_str()).unwrap_or("");
    let mut s = String::new();
    for (name, gid, members) in [
        ("root", 0, ""),
        ("daemon", 1, ""),
        ("bin", 2, ""),
        ("sys", 3, ""),
        ("adm", 4, first),
        ("tty", 5, ""),
        ("disk", 6, ""),
        ("lp", 7, ""),
        ("mail", 8, ""),
        ("proxy", 13, ""),
        ("dialout", 20, ""),
        ("cdrom", 24, first),
        ("sudo", 27, ""),
        ("audio", 29, ""),
        ("www-data", 33, ""),
        ("backup", 34, ""),
        ("shadow", 42, ""),
        ("utmp", 43, ""),
        ("video", 44, ""),
        ("plugdev", 46, first),
        ("staff", 50, ""),
        ("users", 100, ""),
        ("nogroup", 65534, ""),
        ("crontab", 102, ""),
    ] {
        let members = if name == "sudo" {
            sudoers.join(",")
        } else {
            members.to_string()
        };
        let _ = writeln!(s, "{name}:x:{gid}:{members}");
    }
    for u in &p.users {
        let _ = writeln!(s, "{0}:x:{1}:", u.name, u.uid);
    }
    s
}

/// Group name of a gid, for `ls -l` and `id`.
pub fn group_name(p: &Persona, gid: u32) -> String {
    match gid {
        0 => "root".into(),
        4 => "adm".into(),
        27 => "sudo".into(),
        42 => "shadow".into(),
        43 => "utmp".into(),
        102 => "crontab".into(),
        65534 => "nogroup".into(),
        _ => p
            .users
            .iter()
            .find(|u| u.uid == gid)
            .map(|u| u.name.clone())
            .or_else(|| {
                SYSTEM_ACCOUNTS
                    .iter()
                    .find(|a| a.2 == gid)
                    .map(|a| a.0.to_string())
            })
            .unwrap_or_else(|| gid.to_string()),
    }
}

/// User name of a uid, for `ls -l` and `ps`.
pub fn user_name(p: &Persona, uid: u32) -> String {
    if uid == 0 {
        return "root".into();
    }
    p.users
        .iter()
        .find(|u| u.uid == uid)
        .map(|u| u.name.clone())
        .or_else(|| {
            SYSTEM_ACCOUNTS
                .iter()
                .find(|a| a.1 == uid)
                .map(|a| a.0.to_string())
        })
        .unwrap_or_else(|| uid.to_string())
}

const CRONTAB: &str = "# /etc/crontab: system-wide crontab\n# Unlike any other crontab you don't have to run the `crontab'\n# command to install the new version when you edit this file\n# and files in /etc/cron.d. These files also have username fields,\n# that none of the other crontabs do.\n\nSHELL=/bin/sh\nPATH=/usr/local/sbin:/usr/local/bin:/sbin:/bin:/usr/sbin:/usr/bin\n\n# Example of job definition:\n# .---------------- minute (0 - 59)\n# |  .------------- hour (0 - 23)\n# |  |  .---------- day of month (1 - 31)\n# |  |  |  .------- month (1 - 12) OR jan,feb,mar,apr ...\n# |  |  |  |  .---- day of week (0 - 6) (Sunday=0 or 7) OR sun,mon,tue,wed,thu,fri,sat\n# |  |  |  |  |\n# *  *  *  *  * user-name command to be executed\n17 *\t* * *\troot\tcd / && run-parts --report /etc/cron.hourly\n25 6\t* * *\troot\ttest -x /usr/sbin/anacron || { cd / && run-parts --report /etc/cron.daily; }\n47 6\t* * 7\troot\ttest -x /usr/sbin/anacron || { cd / && run-parts --report /etc/cron.weekly; }\n52 6\t1 * *\troot\ttest -x /usr/sbin/anacron || { cd / && run-parts --report /etc/cron.monthly; }\n#\n";

const ETC_PROFILE: &str = "# /etc/profile: system-wide .profile file for the Bourne shell (sh(1))\n# and Bourne compatible shells (bash(1), ksh(1), ash(1), ...).\n\nif [ \"$(id -u)\" -eq 0 ]; then\n  PATH=\"/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\"\nelse\n  PATH=\"/usr/local/bin:/usr/bin:/bin:/usr/local/games:/usr/games\"\nfi\nexport PATH\n";

const MOTD_DEBIAN: &str = "\nThe programs included with the Debian GNU/Linux system are free software;\nthe exact distribution terms for each program are described in the\nindividual files in /usr/share/doc/*/copyright.\n\nDebian GNU/Linux comes with ABSOLUTELY NO WARRANTY, to the extent\npermitted by applicable law.\n";

const ROOT_BASHRC: &str = "# ~/.bashrc: executed by bash(1) for non-login shells.\n\n# Note: PS1 and umask are already set in /etc/profile. You should not\n# need this unless you want different defaults for root.\n# PS1='${debian_chroot:+($debian_chroot)}\\h:\\w\\$ '\n# umask 022\n\n# You may uncomment the following lines if you want `ls' to be colorized:\n# export LS_OPTIONS='--color=auto'\n# eval \"$(dircolors)\"\n# alias ls='ls $LS_OPTIONS'\n# alias ll='ls $LS_OPTIONS -l'\n# alias l='ls $LS_OPTIONS -lA'\n#\n# Some more alias to avoid making mistakes:\n# alias rm='rm -i'\n# alias cp='cp -i'\n# alias mv='mv -i'\n";

const ROOT_PROFILE: &str = "# ~/.profile: executed by Bourne-compatible login shells.\n\nif [ \"$BASH\" ]; then\n  if [ -f ~/.bashrc ]; then\n    . ~/.bashrc\n  fi\nfi\n\nmesg n 2> /dev/null || true\n";

const USER_BASHRC: &str = "# ~/.bashrc: executed by bash(1) for non-login shells.\n# see /usr/share/doc/bash/examples/startup-files (in the package bash-doc)\n# for examples\n\n# If not running interactively, don't do anything\ncase $- in\n    *i*) ;;\n      *) return;;\nesac\n\n# don't put duplicate lines or lines starting with space in the history.\nHISTCONTROL=ignoreboth\n\n# append to the history file, don't overwrite it\nshopt -s histappend\n\nHISTSIZE=1000\nHISTFILESIZE=2000\n\nshopt -s checkwinsize\n\nif [ -x /usr/bin/dircolors ]; then\n    test -r ~/.dircolors && eval \"$(dircolors -b ~/.dircolors)\" || eval \"$(dircolors -b)\"\n    alias ls='ls --color=auto'\n    alias grep='grep --color=auto'\nfi\n\nalias ll='ls -l'\nalias la='ls -A'\nalias l='ls -CF'\n";

const USER_PROFILE: &str = "# ~/.profile: executed by the command interpreter for login shells.\n# This file is not read by bash(1), if ~/.bash_profile or ~/.bash_login\n# exists.\n\n# if running bash\nif [ -n \"$BASH_VERSION\" ]; then\n    # include .bashrc if it exists\n    if [ -f \"$HOME/.bashrc\" ]; then\n\t. \"$HOME/.bashrc\"\n    fi\nfi\n\n# set PATH so it includes user's private bin if it exists\nif [ -d \"$HOME/bin\" ] ; then\n    PATH=\"$HOME/bin:$PATH\"\nfi\n";

const BASH_LOGOUT: &str = "# ~/.bash_logout: executed by bash(1) when login shell exits.\n\n# when leaving the console clear the screen to increase privacy\n\nif [ \"$SHLVL\" = 1 ]; then\n    [ -x /usr/bin/clear_console ] && /usr/bin/clear_console -q\nfi\n";
