//! Process privileges: the file-descriptor limit raised at start, and the drop from root
//! to `[privileges] user`/`group` once the sensors' ports are bound (OpenSSH-style
//! privilege separation, reduced to what a honeypot needs: nothing of root after bind).

use std::path::Path;

use anyhow::{Context as _, bail};
use nix::sys::resource::{Resource, getrlimit, setrlimit};
use nix::unistd::{Gid, Group, Uid, User, setgid, setgroups, setuid};

use crate::config::Config;

/// Raises the limit on open files to what the sensors' caps need (a socket per
/// connection, and a recording's file per recorded shell): the soft limit to the hard
/// one, and as root the hard one too (up to the kernel's `nr_open`). Warns when the caps
/// could still exceed it.
pub fn raise_fd_limit(config: &Config, sensors: usize) {
    // Per connection: its socket, and while a shell is recorded, the recording's file.
    // Plus files, databases and a margin.
    let per_session = if config.honeypot.recording.enabled {
        2
    } else {
        1
    };
    let needed = (config.honeypot.limits.max_sessions as u64)
        .saturating_mul(sensors as u64)
        .saturating_mul(per_session)
        .saturating_add(1024);
    let soft = raise_open_files(if sensors > 0 { needed } else { 0 });
    if sensors > 0 && soft < needed {
        tracing::warn!(
            open_file_limit = soft,
            needed,
            "honeypot.limits.max_sessions over all sensors may exceed the open-file limit: \
             lower max_sessions or raise the limit (LimitNOFILE= in the unit, ulimit -n)"
        );
    } else {
        tracing::debug!(open_file_limit = soft, "open-file limit");
    }
}

/// Raises `RLIMIT_NOFILE` towards `needed`: the soft limit to the hard one at least,
/// and as root the hard one too, up to the kernel's `nr_open`. The soft limit it ends
/// with (0 when it cannot be read).
pub fn raise_open_files(needed: u64) -> u64 {
    let (soft, hard) = match getrlimit(Resource::RLIMIT_NOFILE) {
        Ok(limits) => limits,
        Err(err) => {
            tracing::warn!(error = %err, "cannot read the open-file limit");
            return 0;
        }
    };
    let target = if hard < needed {
        let nr_open = std::fs::read_to_string("/proc/sys/fs/nr_open")
            .ok()
            .and_then(|n| n.trim().parse::<u64>().ok())
            .unwrap_or(hard);
        needed.min(nr_open).max(hard)
    } else {
        hard
    };
    if soft >= target {
        return soft;
    }
    match setrlimit(Resource::RLIMIT_NOFILE, target, target) {
        Ok(()) => target,
        Err(_) if target > hard => match setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
            Ok(()) => hard,
            Err(err) => {
                tracing::warn!(error = %err, soft, hard, "cannot raise the open-file limit");
                soft
            }
        },
        Err(err) => {
            tracing::warn!(error = %err, soft, hard, "cannot raise the open-file limit");
            soft
        }
    }
}

/// Becomes `[privileges] user` and `group` when they are set: started as root, after
/// giving them the data directory, drops every group, gid and uid (and with them every
/// capability) for good, and checks that root cannot be regained. Started as that user
/// already, does nothing; started as anyone else, refuses.
pub fn drop_privileges(config: &Config) -> anyhow::Result<()> {
    let section = &config.privileges;
    let Some(name) = section.user.as_deref() else {
        if section.group.is_some() {
            bail!("privileges.group needs privileges.user");
        }
        return Ok(());
    };
    let user = User::from_name(name)
        .with_context(|| format!("privileges.user: cannot look up {name:?}"))?
        .with_context(|| format!("privileges.user: no user {name:?} on this host"))?;
    let gid = match section.group.as_deref() {
        Some(group) => {
            Group::from_name(group)
                .with_context(|| format!("privileges.group: cannot look up {group:?}"))?
                .with_context(|| format!("privileges.group: no group {group:?} on this host"))?
                .gid
        }
        None => user.gid,
    };
    let me = Uid::effective();
    if me == user.uid && Gid::effective() == gid {
        return Ok(());
    }
    if !me.is_root() {
        bail!(
            "privileges.user = {name:?}: hpti must start as root to become another user \
             (it runs as uid {me}); or leave [privileges] unset and give it \
             CAP_NET_BIND_SERVICE (docs/deploy.md)"
        );
    }
    give_tree(&config.data.dir, user.uid, gid)
        .with_context(|| format!("cannot give {} to {name}", config.data.dir.display()))?;
    setgroups(&[gid]).context("setgroups")?;
    setgid(gid).context("setgid")?;
    setuid(user.uid).context("setuid")?;
    if setuid(Uid::from_raw(0)).is_ok() || Uid::effective().is_root() {
        bail!("privileges: root could be regained after dropping it; refusing to run");
    }
    tracing::info!(user = name, uid = %user.uid, gid = %gid, "dropped root privileges");
    Ok(())
}

/// Hands the data directory and everything under it to `uid`:`gid` (files hpti created
/// as root before, or on an earlier run). Symbolic links are changed, not followed.
fn give_tree(dir: &Path, uid: Uid, gid: Gid) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let mut pending = vec![dir.to_owned()];
    while let Some(path) = pending.pop() {
        std::os::unix::fs::lchown(&path, Some(uid.as_raw()), Some(gid.as_raw()))?;
        if std::fs::symlink_metadata(&path)?.is_dir() {
            for entry in std::fs::read_dir(&path)? {
                pending.push(entry?.path());
            }
        }
    }
    Ok(())
}
