//! Shared fixtures for the shell tests: a fixed persona and a recording host.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::sync::Arc;

use hpti_sensors::shell::{
    BaseImage, Clock, FetchOutcome, FetchRequest, FileSystem, OsFlavor, Outcome, Persona,
    PersonaUser, Shell, ShellHost, ShellLimits, ShellOptions,
};

/// 2025-03-04 12:34:56 UTC.
pub const NOW: i64 = 1_741_091_696;

pub fn persona() -> Persona {
    Persona {
        hostname: "web-prod-03".into(),
        os: OsFlavor::Debian12,
        kernel_release: "6.1.0-18-amd64".into(),
        kernel_version: "#1 SMP PREEMPT_DYNAMIC Debian 6.1.76-1 (2024-02-01)".into(),
        cpu_model: "Intel(R) Xeon(R) CPU E5-2680 v4 @ 2.40GHz".into(),
        cpu_mhz: 2400,
        cpu_cores: 2,
        mem_total_kib: 4_028_416,
        disk_total_kib: 41_152_736,
        disk_used_kib: 9_437_184,
        root_device: "/dev/vda1".into(),
        boot_time: NOW - 12 * 86_400 - 3 * 3600 - 240,
        users: vec![PersonaUser {
            name: "deploy".into(),
            uid: 1000,
            full_name: "Deploy User".into(),
            sudo: true,
        }],
        iface: "eth0".into(),
        ip: Ipv4Addr::new(10, 0, 3, 17),
        prefix_len: 16,
        gateway: Ipv4Addr::new(10, 0, 0, 1),
        mac: "52:54:00:3a:9c:41".into(),
        nameserver: Ipv4Addr::new(10, 0, 0, 1),
        last_login_from: Ipv4Addr::new(85, 214, 12, 99),
        seed: 42,
    }
}

#[derive(Default)]
pub struct MockHost {
    pub fetched: Vec<FetchRequest>,
    pub written: Vec<(String, Vec<u8>)>,
    pub files: BTreeMap<String, Vec<u8>>,
}

impl MockHost {
    pub fn serve(mut self, url: &str, body: &[u8]) -> Self {
        self.files.insert(url.to_string(), body.to_vec());
        self
    }

    pub fn urls(&self) -> Vec<&str> {
        self.fetched.iter().map(|r| r.url.as_str()).collect()
    }
}

#[async_trait::async_trait]
impl ShellHost for MockHost {
    async fn fetch(&mut self, request: FetchRequest) -> FetchOutcome {
        let out = match self.files.get(&request.url) {
            Some(b) => FetchOutcome::Fetched { content: b.clone() },
            None if request.url.contains("404") => FetchOutcome::Failed {
                reason: "404 Not Found".into(),
            },
            None => FetchOutcome::Failed {
                reason: "connection refused".into(),
            },
        };
        self.fetched.push(request);
        out
    }

    fn file_written(&mut self, path: &str, content: &[u8]) {
        self.written.push((path.to_string(), content.to_vec()));
    }
}

pub fn options(user: &str) -> ShellOptions {
    let persona = Arc::new(persona());
    let base = BaseImage::new(&persona);
    let mut o = ShellOptions::new(user, persona, FileSystem::new(base));
    o.clock = Clock::Fixed(NOW);
    o.client_ip = Some("203.0.113.50".parse().unwrap());
    o
}

pub fn shell(user: &str) -> Shell {
    Shell::new(options(user))
}

pub fn shell_with_limits(user: &str, limits: ShellLimits) -> Shell {
    let mut o = options(user);
    o.limits = limits;
    Shell::new(o)
}

pub async fn run(sh: &mut Shell, host: &mut MockHost, line: &str) -> Outcome {
    sh.run(line, host).await
}

/// Output of one line as text.
pub async fn out(sh: &mut Shell, line: &str) -> String {
    let mut host = MockHost::default();
    let o = sh.run(line, &mut host).await;
    String::from_utf8_lossy(&o.output).into_owned()
}
