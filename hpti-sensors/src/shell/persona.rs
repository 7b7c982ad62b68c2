//! The identity of the emulated host: every value the shell prints about "the machine"
//! comes from here, so that no two installs share a fingerprint (the way every Cowrie
//! install answers `svr04`, `phil` and the same `free` output).

use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

/// Which distribution the emulated host claims to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OsFlavor {
    /// Debian GNU/Linux 12 (bookworm).
    Debian12,
    /// Ubuntu 22.04 LTS (Jammy Jellyfish).
    Ubuntu2204,
    /// Ubuntu 24.04 LTS (Noble Numbat).
    Ubuntu2404,
}

impl OsFlavor {
    /// `PRETTY_NAME` of `/etc/os-release`.
    pub fn pretty_name(self) -> &'static str {
        match self {
            OsFlavor::Debian12 => "Debian GNU/Linux 12 (bookworm)",
            OsFlavor::Ubuntu2204 => "Ubuntu 22.04.4 LTS",
            OsFlavor::Ubuntu2404 => "Ubuntu 24.04.1 LTS",
        }
    }

    /// Whether this is an Ubuntu release (different motd, default user, paths).
    pub fn is_ubuntu(self) -> bool {
        !matches!(self, OsFlavor::Debian12)
    }

    /// The release codename.
    pub fn codename(self) -> &'static str {
        match self {
            OsFlavor::Debian12 => "bookworm",
            OsFlavor::Ubuntu2204 => "jammy",
            OsFlavor::Ubuntu2404 => "noble",
        }
    }
}

/// A login account of the emulated host (besides root).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersonaUser {
    /// Login name.
    pub name: String,
    /// Numeric user id (also the id of the user's private group).
    pub uid: u32,
    /// GECOS full name.
    pub full_name: String,
    /// Whether the user is in the `sudo` group.
    pub sudo: bool,
}

/// Everything that identifies the emulated host. Saved as TOML by the sensor so an
/// install keeps its identity across restarts, and editable by hand.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Persona {
    /// Host name (`hostname`, prompt, `/etc/hostname`).
    pub hostname: String,
    /// Distribution.
    pub os: OsFlavor,
    /// `uname -r`, e.g. `6.1.0-18-amd64`.
    pub kernel_release: String,
    /// `uname -v`, e.g. `#1 SMP PREEMPT_DYNAMIC Debian 6.1.76-1 (2024-02-01)`.
    pub kernel_version: String,
    /// CPU model name as in `/proc/cpuinfo`.
    pub cpu_model: String,
    /// CPU clock in MHz.
    pub cpu_mhz: u32,
    /// Number of logical CPUs.
    pub cpu_cores: u32,
    /// Total memory in KiB (`MemTotal`).
    pub mem_total_kib: u64,
    /// Size of the root filesystem in KiB.
    pub disk_total_kib: u64,
    /// Used part of the root filesystem in KiB.
    pub disk_used_kib: u64,
    /// Block device of the root filesystem, e.g. `/dev/vda1`.
    pub root_device: String,
    /// Boot time, unix seconds.
    pub boot_time: i64,
    /// Login accounts besides root.
    pub users: Vec<PersonaUser>,
    /// Name of the network interface, e.g. `eth0` or `ens3`.
    pub iface: String,
    /// Private IPv4 address of the interface.
    pub ip: Ipv4Addr,
    /// Prefix length of the interface's network.
    pub prefix_len: u8,
    /// Default gateway.
    pub gateway: Ipv4Addr,
    /// MAC address, lower-case hex with colons.
    pub mac: String,
    /// Resolver in `/etc/resolv.conf`.
    pub nameserver: Ipv4Addr,
    /// Address the previous login came from (`Last login: ... from ...`, `last`).
    pub last_login_from: Ipv4Addr,
    /// Per-install seed for small derived values (PIDs, load, memory split).
    pub seed: u64,
}

const CPU_MODELS: &[(&str, u32)] = &[
    ("Intel(R) Xeon(R) CPU E5-2680 v4 @ 2.40GHz", 2400),
    ("Intel(R) Xeon(R) CPU E5-2650 v4 @ 2.20GHz", 2200),
    ("Intel(R) Xeon(R) CPU E5-2630 v3 @ 2.40GHz", 2400),
    ("Intel(R) Xeon(R) Gold 6140 CPU @ 2.30GHz", 2300),
    ("Intel(R) Xeon(R) Gold 6248R CPU @ 3.00GHz", 3000),
    ("Intel(R) Xeon(R) Silver 4214 CPU @ 2.20GHz", 2200),
    ("Intel(R) Xeon(R) Platinum 8259CL CPU @ 2.50GHz", 2500),
    ("Intel Xeon Processor (Skylake, IBRS)", 2394),
    ("Intel Xeon Processor (Cascadelake)", 2893),
    ("AMD EPYC 7542 32-Core Processor", 2894),
    ("AMD EPYC 7B13", 2450),
    ("AMD EPYC 7763 64-Core Processor", 2445),
    ("AMD EPYC-Rome Processor", 2994),
    ("AMD EPYC 9454P 48-Core Processor", 2750),
];

const DEBIAN_KERNELS: &[(u32, &str, &str)] = &[
    (13, "6.1.55-1", "2023-09-29"),
    (17, "6.1.69-1", "2023-12-30"),
    (18, "6.1.76-1", "2024-02-01"),
    (20, "6.1.85-1", "2024-04-11"),
    (21, "6.1.90-1", "2024-05-03"),
    (23, "6.1.99-1", "2024-07-15"),
    (25, "6.1.106-3", "2024-08-26"),
    (26, "6.1.112-1", "2024-09-30"),
    (28, "6.1.119-1", "2024-11-22"),
    (31, "6.1.128-1", "2025-02-07"),
];

const UBUNTU2204_KERNELS: &[(u32, u32, &str)] = &[
    (91, 101, "Tue Nov 14 13:30:08 UTC 2023"),
    (101, 111, "Tue Mar 5 20:16:58 UTC 2024"),
    (105, 115, "Mon Apr 15 09:52:04 UTC 2024"),
    (113, 123, "Sat Jun 8 01:52:24 UTC 2024"),
    (119, 129, "Fri Aug 2 19:25:20 UTC 2024"),
    (125, 135, "Fri Sep 27 13:53:58 UTC 2024"),
];

const UBUNTU2404_KERNELS: &[(u32, u32, &str)] = &[
    (31, 31, "Sat Apr 20 00:40:06 UTC 2024"),
    (41, 41, "Fri Aug 2 20:41:06 UTC 2024"),
    (45, 45, "Fri Aug 30 12:02:04 UTC 2024"),
    (49, 49, "Sat Nov 9 16:52:51 UTC 2024"),
    (51, 52, "Thu Dec 5 13:09:44 UTC 2024"),
];

const ROLES: &[&str] = &[
    "web", "db", "app", "api", "mail", "vpn", "git", "ci", "proxy", "cache", "node", "backup",
    "monitor", "dev", "staging", "worker",
];
const ENVS: &[&str] = &["prod", "stg", "dev", "int", "live"];
const REGIONS: &[&str] = &[
    "fra1", "ams3", "lon1", "nyc3", "sfo3", "sgp1", "tor1", "blr1", "syd1",
];
const FIRST_NAMES: &[(&str, &str)] = &[
    ("michael", "Michael"),
    ("sarah", "Sarah"),
    ("thomas", "Thomas"),
    ("julia", "Julia"),
    ("daniel", "Daniel"),
    ("anna", "Anna"),
    ("markus", "Markus"),
    ("laura", "Laura"),
    ("kevin", "Kevin"),
    ("nina", "Nina"),
    ("pedro", "Pedro"),
    ("olga", "Olga"),
    ("jan", "Jan"),
    ("emma", "Emma"),
];
const LAST_NAMES: &[(&str, &str)] = &[
    ("mueller", "Mueller"),
    ("schmidt", "Schmidt"),
    ("novak", "Novak"),
    ("jensen", "Jensen"),
    ("rossi", "Rossi"),
    ("garcia", "Garcia"),
    ("kowalski", "Kowalski"),
    ("brown", "Brown"),
    ("wilson", "Wilson"),
    ("dubois", "Dubois"),
    ("lindqvist", "Lindqvist"),
    ("petrov", "Petrov"),
];
const SERVICE_USERS: &[(&str, &str)] = &[
    ("deploy", "Deploy User"),
    ("admin", "Administrator"),
    ("devops", "DevOps"),
    ("app", "Application"),
    ("git", "Git"),
    ("backup", ""),
    ("jenkins", "Jenkins"),
];

fn pick<'a, T>(rng: &mut fastrand::Rng, items: &'a [T]) -> &'a T {
    // The tables above are non-empty constants; index 0 is always there.
    &items[rng.usize(..items.len())]
}

impl Persona {
    /// A fresh, plausible identity, different on every call.
    pub fn generate() -> Self {
        Self::generate_with(&mut fastrand::Rng::new())
    }

    /// A fresh identity from the given generator (seed it for reproducible tests).
    pub fn generate_with(rng: &mut fastrand::Rng) -> Self {
        let os = match rng.u8(..10) {
            0..=4 => OsFlavor::Debian12,
            5..=7 => OsFlavor::Ubuntu2204,
            _ => OsFlavor::Ubuntu2404,
        };
        let (kernel_release, kernel_version) = match os {
            OsFlavor::Debian12 => {
                let (abi, pkg, date) = pick(rng, DEBIAN_KERNELS);
                (
                    format!("6.1.0-{abi}-amd64"),
                    format!("#1 SMP PREEMPT_DYNAMIC Debian {pkg} ({date})"),
                )
            }
            OsFlavor::Ubuntu2204 => {
                let (abi, build, date) = pick(rng, UBUNTU2204_KERNELS);
                (
                    format!("5.15.0-{abi}-generic"),
                    format!("#{build}-Ubuntu SMP {date}"),
                )
            }
            OsFlavor::Ubuntu2404 => {
                let (abi, build, date) = pick(rng, UBUNTU2404_KERNELS);
                (
                    format!("6.8.0-{abi}-generic"),
                    format!("#{build}-Ubuntu SMP PREEMPT_DYNAMIC {date}"),
                )
            }
        };
        let (cpu_model, cpu_mhz) = pick(rng, CPU_MODELS);
        let cpu_cores = *pick(rng, &[1u32, 1, 2, 2, 2, 4, 4, 6, 8]);
        let mem_gib = *pick(rng, &[1u64, 2, 2, 4, 4, 8, 8, 12, 16]);
        // Usable memory is a little below the nominal size (kernel reservations).
        let mem_total_kib = mem_gib * 1024 * 1024 - 1024 * rng.u64(20..80);
        let disk_gib = *pick(rng, &[20u64, 25, 40, 50, 60, 80, 100, 160]);
        let disk_total_kib = disk_gib * 1024 * 1024 - rng.u64(200_000..900_000);
        let disk_used_kib = disk_total_kib * rng.u64(8..55) / 100 + rng.u64(0..100_000);
        let hostname = Self::random_hostname(rng, os, cpu_cores, mem_gib);
        let users = Self::random_users(rng, os);
        let (iface, root_device) = match rng.u8(..4) {
            0 => ("eth0", "/dev/vda1"),
            1 => ("ens3", "/dev/vda1"),
            2 => ("ens18", "/dev/sda1"),
            _ => ("enp1s0", "/dev/vda1"),
        };
        let (ip, prefix_len, gateway) = match rng.u8(..3) {
            0 => {
                let net = rng.u8(0..=20);
                (
                    Ipv4Addr::new(10, net, rng.u8(0..=3), rng.u8(2..=250)),
                    16,
                    Ipv4Addr::new(10, net, 0, 1),
                )
            }
            1 => {
                let net = rng.u8(0..=255);
                (
                    Ipv4Addr::new(192, 168, net, rng.u8(10..=250)),
                    24,
                    Ipv4Addr::new(192, 168, net, 1),
                )
            }
            _ => {
                let net = rng.u8(16..=31);
                let sub = rng.u8(0..=255);
                (
                    Ipv4Addr::new(172, net, sub, rng.u8(2..=250)),
                    20,
                    Ipv4Addr::new(172, net, sub & 0xf0, 1),
                )
            }
        };
        // Locally administered unicast, or a KVM/VMware/Hyper-V vendor prefix.
        let oui: [u8; 3] = *pick(
            rng,
            &[
                [0x52, 0x54, 0x00],
                [0x00, 0x16, 0x3e],
                [0x00, 0x50, 0x56],
                [0x96, 0x00, 0x01],
                [0xfa, 0x16, 0x3e],
            ],
        );
        let mac = format!(
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            oui[0],
            oui[1],
            oui[2],
            rng.u8(..),
            rng.u8(..),
            rng.u8(..)
        );
        let nameserver = if os.is_ubuntu() {
            Ipv4Addr::new(127, 0, 0, 53)
        } else {
            *pick(
                rng,
                &[
                    gateway,
                    Ipv4Addr::new(1, 1, 1, 1),
                    Ipv4Addr::new(8, 8, 8, 8),
                    Ipv4Addr::new(9, 9, 9, 9),
                ],
            )
        };
        let now = chrono::Utc::now().timestamp();
        let boot_time = now - rng.i64(3 * 86_400..120 * 86_400);
        let last_login_from = Ipv4Addr::new(
            *pick(rng, &[31u8, 46, 77, 85, 91, 109, 176, 185, 212, 217]),
            rng.u8(..),
            rng.u8(..),
            rng.u8(1..=254),
        );
        Persona {
            hostname,
            os,
            kernel_release,
            kernel_version,
            cpu_model: (*cpu_model).to_string(),
            cpu_mhz: *cpu_mhz,
            cpu_cores,
            mem_total_kib,
            disk_total_kib,
            disk_used_kib,
            root_device: root_device.to_string(),
            boot_time,
            users,
            iface: iface.to_string(),
            ip,
            prefix_len,
            gateway,
            mac,
            nameserver,
            last_login_from,
            seed: rng.u64(..=i64::MAX as u64),
        }
    }

    fn random_hostname(rng: &mut fastrand::Rng, os: OsFlavor, cores: u32, mem_gib: u64) -> String {
        match rng.u8(..6) {
            0 => format!(
                "{}-{}-{:02}",
                pick(rng, ROLES),
                pick(rng, ENVS),
                rng.u8(1..20)
            ),
            1 => format!("srv-{}{}", pick(rng, ROLES), rng.u8(1..10)),
            2 => format!(
                "{}-s-{}vcpu-{}gb-{}-{:02}",
                if os.is_ubuntu() { "ubuntu" } else { "debian" },
                cores,
                mem_gib,
                pick(rng, REGIONS),
                rng.u8(1..10)
            ),
            3 => format!("{}{:02}", pick(rng, ROLES), rng.u8(1..40)),
            4 => format!("vps{}", rng.u32(10_000..999_999)),
            _ => format!(
                "{}-{}",
                pick(rng, ROLES),
                pick(rng, &["alpha", "blue", "main", "primary", "old", "new"])
            ),
        }
    }

    fn random_users(rng: &mut fastrand::Rng, os: OsFlavor) -> Vec<PersonaUser> {
        let mut users = Vec::new();
        let first = match rng.u8(..3) {
            0 => {
                let name = if os.is_ubuntu() { "ubuntu" } else { "debian" };
                (
                    name.to_string(),
                    if os.is_ubuntu() { "Ubuntu" } else { "Debian" }.to_string(),
                )
            }
            1 => {
                let (login, full) = pick(rng, SERVICE_USERS);
                ((*login).to_string(), (*full).to_string())
            }
            _ => {
                let (f, fd) = pick(rng, FIRST_NAMES);
                let (l, ld) = pick(rng, LAST_NAMES);
                let login = match rng.u8(..3) {
                    0 => (*f).to_string(),
                    1 => format!("{}{}", &f[..1], l),
                    _ => format!("{f}.{l}"),
                };
                (login, format!("{fd} {ld}"))
            }
        };
        users.push(PersonaUser {
            name: first.0,
            uid: 1000,
            full_name: first.1,
            sudo: true,
        });
        if rng.bool() {
            let (f, fd) = pick(rng, FIRST_NAMES);
            let (l, ld) = pick(rng, LAST_NAMES);
            let name = format!("{}{}", &f[..1], l);
            if users.iter().all(|u| u.name != name) {
                users.push(PersonaUser {
                    name,
                    uid: 1001,
                    full_name: format!("{fd} {ld}"),
                    sudo: rng.bool(),
                });
            }
        }
        users
    }

    /// Network address of the interface's subnet.
    pub fn network(&self) -> Ipv4Addr {
        let mask = self.netmask_u32();
        Ipv4Addr::from(u32::from(self.ip) & mask)
    }

    /// Netmask of the interface.
    pub fn netmask(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.netmask_u32())
    }

    /// Broadcast address of the interface's subnet.
    pub fn broadcast(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.ip) | !self.netmask_u32())
    }

    fn netmask_u32(&self) -> u32 {
        let p = u32::from(self.prefix_len.min(32));
        if p == 0 { 0 } else { u32::MAX << (32 - p) }
    }

    /// Derived per-install pseudo-random number in `0..n` for label `salt` (stable).
    pub(crate) fn derive(&self, salt: u64, n: u64) -> u64 {
        if n == 0 {
            return 0;
        }
        let mut x = self.seed ^ salt.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        // splitmix64 finaliser: cheap, stable, well mixed.
        x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        x ^= x >> 31;
        x % n
    }

    /// The memory split shown consistently by `free` and `/proc/meminfo` (KiB).
    pub fn memory(&self) -> MemorySplit {
        let total = self.mem_total_kib.max(65_536);
        let used = total * (12 + self.derive(1, 25)) / 100;
        let buffers = total * (1 + self.derive(2, 3)) / 100;
        let cached = total * (15 + self.derive(3, 30)) / 100;
        let shared = 1024 + self.derive(4, 8 * 1024);
        let free = total.saturating_sub(used + buffers + cached);
        let available = free + cached * 9 / 10 + buffers;
        let swap_total = if self.derive(5, 2) == 0 { 0 } else { 1_048_572 };
        MemorySplit {
            total,
            used,
            free,
            shared,
            buffers,
            cached,
            available: available.min(total),
            swap_total,
            swap_free: swap_total,
        }
    }

    /// Home directory of a login name.
    pub fn home_of(&self, user: &str) -> String {
        if user == "root" {
            "/root".to_string()
        } else {
            format!("/home/{user}")
        }
    }

    /// uid of a login name (root, persona users, or a plausible new uid for others).
    pub fn uid_of(&self, user: &str) -> u32 {
        if user == "root" {
            return 0;
        }
        self.users
            .iter()
            .find(|u| u.name == user)
            .map(|u| u.uid)
            .unwrap_or(1000 + self.users.len() as u32)
    }
}

/// How the persona's memory is split (all KiB), shared by `free` and `/proc/meminfo`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemorySplit {
    /// MemTotal.
    pub total: u64,
    /// Used by processes.
    pub used: u64,
    /// MemFree.
    pub free: u64,
    /// Shmem.
    pub shared: u64,
    /// Buffers.
    pub buffers: u64,
    /// Cached.
    pub cached: u64,
    /// MemAvailable.
    pub available: u64,
    /// SwapTotal.
    pub swap_total: u64,
    /// SwapFree.
    pub swap_free: u64,
}
