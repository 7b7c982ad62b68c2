//! Process privileges: the file-descriptor limit raised at start, and the drop from root
//! to `[privileges] user`/`group` once the sensors' ports are bound (OpenSSH-style
//! privilege separation, reduced to what a honeypot needs: nothing of root after bind).

use std::path::Path;

use anyhow::{Context as _, bail};
use nix::sys::resource::{Resource, getrlimit, setrlimit};
use nix::unistd::{Gid, Group, Uid, User, setgid, setgroups, setuid};

use crate::config::Config;

/// Raises the soft limit on open files to the hard limit (what a server that holds one
/// descriptor per connection needs), and warns when the sensors' caps could exceed it.
pub fn raise_fd_limit(config: &Config, sensors: usize) {
    let (soft, hard) = match getrlimit(Resource::RLIMIT_NOFILE) {
        Ok(limits) => limits,
        Err(err) => {
            tracing::warn!(error = %err, "cannot read the open-file limit");
            return;
        }
    };
    let soft = if soft < hard {
        match setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
            Ok(()) => hard,
            Err(err) => {
                tracing::warn!(error = %err, soft, hard, "cannot raise the open-file limit");
                soft
            }
        }
    } else {
        soft
    };
    // One descriptor per connection, plus files, databases and a margin.
    let needed = (config.honeypot.limits.max_sessions as u64)
        .saturating_mul(sensors as u64)
        .saturating_add(1024);
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
