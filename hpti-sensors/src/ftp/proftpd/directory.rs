//! Listings as ProFTPD writes them: LIST/NLST (with -a, -R, -t and globs), STAT,
//! MLSD/MLST facts, SIZE and MDTM (§6).

use std::fmt::Write as _;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::time::timeout;

use super::*;
use crate::ftp::listing::{self, FactContext, Shown};
use crate::ftp::{End, MAX_LISTING, canonical};
use crate::shell::fs::{self, Access, Kind, Node};

impl Proftpd<'_> {
    /// Owner and group names for listings: anonymous sessions show `ftp ftp` for every
    /// entry (DirFakeUser/DirFakeGroup), others the fake host's names.
    pub(super) fn shown(&self, node: &Node) -> (String, String) {
        if self.anonymous() {
            return ("ftp".to_owned(), "ftp".to_owned());
        }
        (
            self.name_of(node.uid, "/etc/passwd"),
            self.name_of(node.gid, "/etc/group"),
        )
    }

    pub(super) fn links(&self, real: &str, node: &Node) -> usize {
        if !node.is_dir() {
            return 1;
        }
        2 + self
            .c
            .fs
            .list(real)
            .iter()
            .take(MAX_LISTING)
            .filter(|(_, child)| child.is_dir())
            .count()
    }

    pub(super) fn long_line(&self, name: &str, real: &str, node: &Node, now: i64) -> String {
        let (owner, group) = self.shown(node);
        let shown = Shown {
            owner: &owner,
            group: &group,
            links: self.links(real, node),
        };
        listing::proftpd_line(name, node, shown, now)
    }

    /// `LIST`/`STAT` lines of `arg` (options such as `-la` first, then a path), or
    /// `None` when the path does not exist.
    pub(super) fn listing(
        &self,
        arg: &str,
        long: bool,
        all_by_default: bool,
    ) -> Option<Vec<String>> {
        let mut all = all_by_default;
        let mut recursive = false;
        let mut by_time = false;
        let mut path = "";
        for word in arg.split(' ').filter(|w| !w.is_empty()) {
            if let Some(flags) = word.strip_prefix('-') {
                all |= flags.contains('a');
                recursive |= flags.contains('R');
                by_time |= flags.contains('t');
            } else if path.is_empty() {
                path = word;
            }
        }
        let now = chrono::Utc::now().timestamp();
        if let Some(lines) = self.glob(path, long, now) {
            return (!lines.is_empty()).then_some(lines);
        }
        let (real, _) = self.c.locate(if path.is_empty() { "." } else { path });
        let (_, node) = self.c.fs.lstat("/", &real).ok()?;
        if !node.is_dir() {
            return Some(vec![if long {
                self.long_line(path, &real, &node, now)
            } else {
                format!("{path}\r\n")
            }]);
        }
        let mut entries = self.c.fs.list(&real);
        if long {
            entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        }
        if by_time {
            // Newest first; the sort is stable, so equal times stay by name.
            entries.sort_by_key(|entry| std::cmp::Reverse(entry.1.mtime));
        }
        let mut lines = Vec::new();
        if all {
            if long {
                lines.push(self.long_line(".", &real, &node, now));
                let parent = self.parent_of(&real);
                if let Ok((_, up)) = self.c.fs.stat("/", &parent) {
                    lines.push(self.long_line("..", &parent, &up, now));
                }
            } else {
                lines.push(".\r\n".to_owned());
                lines.push("..\r\n".to_owned());
            }
        }
        for (name, child) in entries.into_iter().take(MAX_LISTING) {
            if name.starts_with('.') && !all {
                continue;
            }
            let child_real = format!("{}/{name}", real.trim_end_matches('/'));
            lines.push(if long {
                self.long_line(&name, &child_real, &child, now)
            } else if path.is_empty() {
                format!("{name}\r\n")
            } else {
                format!("{}/{name}\r\n", path.trim_end_matches('/'))
            });
        }
        if recursive && long {
            let mut budget = MAX_LISTING.saturating_sub(lines.len());
            self.recurse(&real, "", all, now, 0, &mut budget, &mut lines);
        }
        Some(lines)
    }

    /// `LIST -R`'s sections: each subdirectory, sorted, as an empty line, `path:` and
    /// its lines, depth first, within `budget` lines.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn recurse(
        &self,
        real: &str,
        prefix: &str,
        all: bool,
        now: i64,
        depth: usize,
        budget: &mut usize,
        lines: &mut Vec<String>,
    ) {
        const MAX_DEPTH: usize = 8;
        if depth >= MAX_DEPTH {
            return;
        }
        let mut subdirs: Vec<String> = self
            .c
            .fs
            .list(real)
            .into_iter()
            .filter(|(name, node)| node.is_dir() && (all || !name.starts_with('.')))
            .map(|(name, _)| name)
            .collect();
        subdirs.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
        for name in subdirs {
            if *budget < 2 {
                return;
            }
            let shown = format!("{prefix}{name}");
            let child_real = format!("{}/{name}", real.trim_end_matches('/'));
            lines.push("\r\n".to_owned());
            lines.push(format!("{shown}:\r\n"));
            *budget -= 2;
            let mut entries = self.c.fs.list(&child_real);
            entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            for (entry, node) in entries {
                if entry.starts_with('.') && !all {
                    continue;
                }
                if *budget == 0 {
                    return;
                }
                let entry_real = format!("{child_real}/{entry}");
                lines.push(self.long_line(&entry, &entry_real, &node, now));
                *budget -= 1;
            }
            self.recurse(
                &child_real,
                &format!("{shown}/"),
                all,
                now,
                depth + 1,
                budget,
                lines,
            );
        }
    }

    /// The lines of a `*`/`?` pattern in its last component (`LIST *.txt`), sorted;
    /// `None` when `path` is no pattern.
    pub(super) fn glob(&self, path: &str, long: bool, now: i64) -> Option<Vec<String>> {
        let (dir, pattern) = match path.rsplit_once('/') {
            Some((dir, pattern)) => (Some(dir), pattern),
            None => (None, path),
        };
        if !pattern.contains(['*', '?']) {
            return None;
        }
        let (real, _) = self.c.locate(match dir {
            Some("") => "/",
            Some(dir) => dir,
            None => ".",
        });
        let mut entries: Vec<(String, Node)> = self
            .c
            .fs
            .list(&real)
            .into_iter()
            .filter(|(name, _)| {
                !name.starts_with('.') && glob_matches(pattern.as_bytes(), name.as_bytes())
            })
            .take(MAX_LISTING)
            .collect();
        entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        let lines = entries
            .into_iter()
            .map(|(name, node)| {
                let shown = match dir {
                    Some(dir) => format!("{dir}/{name}"),
                    None => name.clone(),
                };
                if long {
                    let child = format!("{}/{name}", real.trim_end_matches('/'));
                    self.long_line(&shown, &child, &node, now)
                } else {
                    format!("{shown}\r\n")
                }
            })
            .collect();
        Some(lines)
    }

    /// The parent of `real`, not above the session's root.
    pub(super) fn parent_of(&self, real: &str) -> String {
        let root = self.c.login.as_ref().map_or("/", |l| l.root.as_str());
        if real == root {
            real.to_owned()
        } else {
            fs::parent(real).to_owned()
        }
    }

    pub(super) async fn list(&mut self, long: bool, raw: &[u8], arg: &str) -> Result<(), End> {
        let path: Vec<u8> = raw
            .split(|b| *b == b' ')
            .find(|w| !w.is_empty() && !w.starts_with(b"-"))
            .unwrap_or_default()
            .to_vec();
        let lines = self.listing(arg, long, false);
        let opening = format!(
            "150 Opening {} mode data connection for file list",
            self.mode_word()
        );
        let Some(lines) = lines else {
            if !long {
                return self
                    .refuse_with(450, &path, "No such file or directory")
                    .await;
            }
            // LIST opens the data connection first, then finds nothing (§6).
            let Some(mut data) = self.open_data().await? else {
                return Ok(());
            };
            self.say(&opening).await?;
            let _ = timeout(Duration::from_secs(5), data.shutdown()).await;
            return self
                .refuse_with(450, &path, "No such file or directory")
                .await;
        };
        let body = lines.concat();
        self.send_data(&opening, body.as_bytes(), body.len() as u64)
            .await
    }

    /// A node's `MLSD`/`MLST` facts.
    pub(super) fn facts_of(
        &self,
        real: &str,
        node: &Node,
        special: Option<&'static str>,
    ) -> String {
        let (owner_name, group_name) = match &self.c.login {
            Some(login) if !login.anonymous => {
                (login.name.clone(), self.name_of(login.gid, "/etc/group"))
            }
            _ => ("ftp".to_owned(), "ftp".to_owned()),
        };
        let uid = if self.anonymous() { FTP_UID } else { node.uid };
        let writable = if self.anonymous() {
            // The anonymous root belongs to `ftp` itself (perm shows it; Limit WRITE
            // still refuses).
            let (uid, gid) = (FTP_UID, NOGROUP);
            fs::may(node, uid, gid, Access::Write)
        } else {
            self.may_write(node)
        };
        let context = FactContext {
            special,
            writable,
            uid,
            owner_name: &owner_name,
            group_name: &group_name,
            inode: inode(real),
        };
        listing::facts(node, context, &self.facts)
    }

    pub(super) async fn mlsd(&mut self, raw: &[u8], arg: &str) -> Result<(), End> {
        let target = if arg.trim().is_empty() { "." } else { arg };
        let (real, _) = self.c.locate(target);
        let node = match self.c.fs.stat("/", &real) {
            Ok((_, node)) if node.is_dir() => node,
            Ok(_) => {
                return self
                    .send(&line(&[b"550 '", raw, b"' is not a directory"]))
                    .await;
            }
            Err(_) => return self.refuse(raw, "No such file or directory").await,
        };
        let mut body = String::new();
        let _ = write!(body, "{} .\r\n", self.facts_of(&real, &node, Some("cdir")));
        let parent = self.parent_of(&real);
        if let Ok((_, up)) = self.c.fs.stat("/", &parent) {
            let _ = write!(body, "{} ..\r\n", self.facts_of(&parent, &up, Some("pdir")));
        }
        for (name, child) in self.c.fs.list(&real).into_iter().take(MAX_LISTING) {
            let child_real = format!("{}/{name}", real.trim_end_matches('/'));
            let _ = write!(
                body,
                "{} {name}\r\n",
                self.facts_of(&child_real, &child, None)
            );
        }
        let opening = format!(
            "150 Opening {} mode data connection for MLSD",
            self.mode_word()
        );
        self.send_data(&opening, body.as_bytes(), body.len() as u64)
            .await
    }

    pub(super) async fn mlst(&mut self, raw: &[u8], arg: &str) -> Result<(), End> {
        let target = if arg.is_empty() { "." } else { arg };
        let (real, visible) = self.c.locate(target);
        let Ok((_, node)) = self.c.fs.stat("/", &real) else {
            return self
                .send(&line(&[b"550 '", raw, b"' cannot be listed"]))
                .await;
        };
        let shown_arg: Vec<u8> = if arg.is_empty() {
            self.c.cwd.as_bytes().to_vec()
        } else {
            raw.to_vec()
        };
        let entry = format!(" {} {visible}\r\n", self.facts_of(&real, &node, None));
        let mut reply = line(&[b"250-Start of list for ", &shown_arg, b"\r\n"]);
        reply.extend_from_slice(entry.as_bytes());
        reply.extend_from_slice(b"250 End of list");
        self.send(&reply).await
    }

    pub(super) async fn status(
        &mut self,
        raw: &[u8],
        arg: &str,
        words: &[&str],
    ) -> Result<(), End> {
        if words.is_empty() {
            let name = self
                .c
                .login
                .as_ref()
                .map_or("ftp", |l| l.name.as_str())
                .to_owned();
            let ip = canonical(self.c.peer.ip());
            let mut reply = format!(
                "211-Status of '{SERVER_NAME}'\r\n Connected from {} ({ip})\r\n Logged in as \
                 {name}\r\n TYPE: {}, STRUcture: File, Mode: Stream\r\n",
                client_name(ip),
                self.mode_word()
            );
            if self.transferred > 0 {
                let _ = write!(
                    reply,
                    " Total bytes transferred for session: {}\r\n",
                    self.transferred
                );
            }
            reply.push_str(" No data connection\r\n211 End of status");
            return self.say(&reply).await;
        }
        let Some(lines) = self.listing(arg, true, true) else {
            return self
                .refuse_with(450, raw, "No such file or directory")
                .await;
        };
        let path = words.iter().find(|w| !w.starts_with('-')).copied();
        let (real, _) = self.c.locate(path.unwrap_or("."));
        let is_dir = self.c.fs.stat("/", &real).is_ok_and(|(_, n)| n.is_dir());
        let code = if is_dir { "212" } else { "213" };
        let mut reply = format!("{code}-Status of {}:\r\n", path.unwrap_or("."));
        for listing_line in lines {
            reply.push(' ');
            reply.push_str(&listing_line);
        }
        let _ = write!(reply, "{code} End of status");
        self.say(&reply).await
    }

    pub(super) async fn size(&mut self, raw: &[u8], arg: &str, words: &[&str]) -> Result<(), End> {
        if words.is_empty() {
            return self.say("501 Invalid number of parameters").await;
        }
        if self.ascii {
            return self.say("550 SIZE not allowed in ASCII mode").await;
        }
        let (real, _) = self.c.locate(arg);
        match self.c.fs.stat("/", &real) {
            Ok((_, node)) if node.kind == Kind::File => {
                self.say(&format!("213 {}", node.size())).await
            }
            Ok(_) => self.refuse(raw, "not a regular file").await,
            Err(_) => self.refuse(raw, "No such file or directory").await,
        }
    }

    pub(super) async fn mdtm(&mut self, raw: &[u8], arg: &str, words: &[&str]) -> Result<(), End> {
        if words.is_empty() {
            return self.say("501 Invalid number of parameters").await;
        }
        let (real, _) = self.c.locate(arg);
        match self.c.fs.stat("/", &real) {
            Ok((_, node)) if node.kind == Kind::File => {
                self.say(&format!("213 {}", listing::mdtm(node.mtime)))
                    .await
            }
            Ok(_) => self.refuse(raw, "not a plain file").await,
            Err(_) => self.refuse(raw, "No such file or directory").await,
        }
    }
}

/// Whether `name` matches a shell pattern of `*` and `?` (iteratively: a hostile
/// pattern of many stars costs linear time per star, not exponential).
pub(super) fn glob_matches(pattern: &[u8], name: &[u8]) -> bool {
    let (mut p, mut n) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while n < name.len() {
        match pattern.get(p) {
            Some(b'*') => {
                star = Some((p, n));
                p += 1;
            }
            Some(&c) if c == b'?' || c == name[n] => {
                p += 1;
                n += 1;
            }
            _ => match star {
                Some((star_p, star_n)) => {
                    p = star_p + 1;
                    n = star_n + 1;
                    star = Some((star_p, star_n + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p.min(pattern.len())..].iter().all(|&c| c == b'*')
}

/// A stable per-path number for `unique=` (FNV-1a, folded to 24 bits like the inode
/// numbers of a small filesystem).
pub(super) fn inode(path: &str) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in path.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    0x10_0000 | (hash & 0x0f_ffff)
}
