//! The self-sandbox: once `hpti run` has opened its databases and bound its ports, it
//! restricts its own filesystem access with Landlock (Linux 5.13+): read-write in the
//! data directory only; read-only on its config, the enrichment databases and lists,
//! the log files it follows and the system files a network process needs (libraries,
//! DNS and TLS configuration); execute nowhere. Even a compromised process cannot then
//! write outside the data directory or run a program. Kernels without Landlock get a
//! warning, and the process runs without it.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use landlock::{
    ABI, Access, AccessFs, PathBeneath, PathFd, Ruleset, RulesetAttr, RulesetCreatedAttr,
    RulesetStatus,
};

/// The newest Landlock ABI hpti knows; older kernels enforce what they can.
const ABI_VERSION: ABI = ABI::V5;

/// System paths read by any network process (shared libraries loaded late by NSS,
/// resolv.conf, hosts, CA certificates, /proc/self, /dev/urandom).
const SYSTEM_READ: &[&str] = &[
    "/etc", "/usr", "/lib", "/lib64", "/proc", "/sys", "/dev", "/run",
];

/// How the sandbox ended up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sandboxed {
    /// Every restriction applies.
    Fully,
    /// The kernel's Landlock is older: some restrictions apply.
    Partly,
    /// The kernel has no Landlock: nothing applies.
    No,
}

/// Restricts this process: `write` (and below) read-write, `read` read-only, plus the
/// system paths. Paths that do not exist are skipped.
pub fn restrict(write: &[PathBuf], read: &[PathBuf]) -> anyhow::Result<Sandboxed> {
    let all = AccessFs::from_all(ABI_VERSION);
    // Reading, never executing.
    let read_only = AccessFs::ReadFile | AccessFs::ReadDir;
    let read_write = all & !AccessFs::Execute;
    let mut ruleset = Ruleset::default()
        .handle_access(all)
        .context("landlock: access rights")?
        .create()
        .context("landlock: creating the ruleset")?;
    let system: Vec<PathBuf> = SYSTEM_READ.iter().map(PathBuf::from).collect();
    for (paths, access) in [
        (&system[..], read_only),
        (read, read_only),
        (write, read_write),
    ] {
        for path in paths {
            let Ok(fd) = PathFd::new(path) else {
                tracing::debug!(path = %path.display(), "sandbox: skipping a missing path");
                continue;
            };
            // A file gets the file rights only (directory rights on a file are invalid).
            let access = if path.is_dir() {
                access
            } else {
                access & AccessFs::from_file(ABI_VERSION)
            };
            ruleset = ruleset
                .add_rule(PathBeneath::new(fd, access))
                .with_context(|| format!("landlock: a rule for {}", path.display()))?;
        }
    }
    let status = ruleset
        .restrict_self()
        .context("landlock: restricting the process")?;
    Ok(match status.ruleset {
        RulesetStatus::FullyEnforced => Sandboxed::Fully,
        RulesetStatus::PartiallyEnforced => Sandboxed::Partly,
        RulesetStatus::NotEnforced => Sandboxed::No,
    })
}

/// The directory holding `file` (itself if it is a directory).
pub fn parent_dir(file: &Path) -> PathBuf {
    if file.is_dir() {
        return file.to_owned();
    }
    match file.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_owned(),
        _ => PathBuf::from("."),
    }
}

/// Applies the sandbox `hpti run` asks for, before its runtime starts threads (Landlock
/// binds the calling thread and those it creates later): read-write in the data
/// directory (and the dead-letter and checkpoint files' directories), read-only on the
/// config file and every path the components read. Then checks it from inside: a file
/// created outside the data directory must be refused.
pub fn apply(config: &crate::config::Config, config_file: Option<&Path>) -> anyhow::Result<()> {
    if !config.sandbox.landlock {
        tracing::info!("self-sandbox off ([sandbox] landlock = false)");
        return Ok(());
    }
    let components = config.components()?;
    let metrics = hpti_core::metrics::PipelineMetrics::default();
    std::fs::create_dir_all(&config.data.dir)
        .with_context(|| format!("cannot create {}", config.data.dir.display()))?;
    let mut write = vec![
        config.data.dir.clone(),
        parent_dir(&config.dead_letter_path()),
        parent_dir(&config.checkpoint_path()),
    ];
    for (id, sink) in &components.sinks {
        for dir in sink
            .config()
            .write_paths(&config.build_context(id, &metrics))
        {
            // Created now: a path that does not exist yet cannot be allowed.
            if let Err(err) = std::fs::create_dir_all(&dir) {
                tracing::warn!(sink = %id, dir = %dir.display(), error = %err, "cannot create a sink's directory");
            }
            write.push(dir);
        }
    }
    let mut read: Vec<PathBuf> = config_file.map(Path::to_owned).into_iter().collect();
    for (id, enricher) in &components.enrichers {
        read.extend(enricher.read_paths(&config.build_context(id, &metrics)));
    }
    for (id, source) in components.sources.iter().chain(&components.sensors) {
        read.extend(source.read_paths(&config.build_context(id, &metrics)));
    }
    // The YARA rules and the API's certificate too.
    read.extend(config.yara_rules_dir()?);
    if let Some(tls) = crate::api::tls_files(config) {
        read.extend([tls.cert, tls.key]);
    }
    // The rule files are read (their directories listed) when the pipeline is built.
    if let Ok(rules) = config.alert_rules() {
        for spec in rules {
            if let Some(dir) = spec.file.parent() {
                read.push(dir.to_owned());
            }
        }
    }
    match restrict(&write, &read) {
        Ok(Sandboxed::Fully) => {
            tracing::info!(data = %config.data.dir.display(), "self-sandbox on (Landlock): writes only in the data directory, no program runs");
        }
        Ok(Sandboxed::Partly) => {
            tracing::warn!("self-sandbox partly on: this kernel's Landlock is older than hpti's");
        }
        Ok(Sandboxed::No) => {
            tracing::warn!(
                "self-sandbox off: this kernel has no Landlock (Linux 5.13+, with landlock in its LSM list)"
            );
            return Ok(());
        }
        Err(err) => {
            tracing::warn!(error = %format!("{err:#}"), "self-sandbox off: Landlock refused");
            return Ok(());
        }
    }
    probe_outside(&config.data.dir);
    Ok(())
}

/// Tries to create a file outside the data directory (in the system's temporary
/// directory): refused is the sandbox working; created (and removed) is a loud warning.
fn probe_outside(data_dir: &Path) {
    let probe = std::env::temp_dir().join(format!(".hpti-sandbox-probe-{}", std::process::id()));
    if probe.starts_with(data_dir) {
        return;
    }
    match std::fs::File::create(&probe) {
        Err(err) => tracing::info!(
            path = %probe.display(), error = %err,
            "self-sandbox checked: a write outside the data directory was refused"
        ),
        Ok(_) => {
            let _ = std::fs::remove_file(&probe);
            tracing::warn!(path = %probe.display(), "self-sandbox NOT effective: a write outside the data directory succeeded");
        }
    }
}
