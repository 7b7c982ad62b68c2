//! Directory listings as vsftpd 3.0.3 writes them (`ls -l` with numeric owners, a
//! zero-padded day and the year for anything older than 182 days or in the future) and
//! as ProFTPD 1.3.8 does (owner names, a space-padded day, the year only for anything
//! older than 180 days; `MLSD`/`MLST` facts).

use chrono::{DateTime, Utc};

use crate::shell::fs::{Kind, Node};

/// vsftpd's cut-off between `Dec 06 19:30` and `Nov 02  2021`.
const RECENT_SECONDS: i64 = 60 * 60 * 24 * 182;

/// One `LIST` line (with its CRLF) of `name`.
pub fn long_line(name: &str, node: &Node, now: i64) -> String {
    let links = if node.is_dir() { 2 } else { 1 };
    let name = match &node.kind {
        Kind::Symlink(target) => format!("{name} -> {target}"),
        _ => name.to_owned(),
    };
    format!(
        "{} {:>4} {:<8} {:<8} {:>8} {} {}\r\n",
        node.mode_string(),
        links,
        node.uid,
        node.gid,
        node.size(),
        date(node.mtime, now),
        name
    )
}

fn date(mtime: i64, now: i64) -> String {
    let Some(time) = DateTime::<Utc>::from_timestamp(mtime, 0) else {
        return "Jan 01  1970".to_owned();
    };
    let age = now - mtime;
    if (0..=RECENT_SECONDS).contains(&age) {
        time.format("%b %d %H:%M").to_string()
    } else {
        time.format("%b %d  %Y").to_string()
    }
}

/// `MDTM`'s `YYYYMMDDHHMMSS`.
pub fn mdtm(mtime: i64) -> String {
    DateTime::<Utc>::from_timestamp(mtime, 0).map_or_else(
        || "19700101000000".to_owned(),
        |t| t.format("%Y%m%d%H%M%S").to_string(),
    )
}

/// ProFTPD's cut-off: older than this shows the year; the future always shows the time.
const PROFTPD_RECENT_SECONDS: i64 = 60 * 60 * 24 * 180;

/// Who a ProFTPD listing line names as owner and group, and the link count it shows.
#[derive(Debug, Clone, Copy)]
pub struct Shown<'a> {
    /// Owner name.
    pub owner: &'a str,
    /// Group name.
    pub group: &'a str,
    /// Hard links (directories: 2 plus their subdirectories).
    pub links: usize,
}

/// One ProFTPD `LIST` line (with its CRLF) of `name`.
pub fn proftpd_line(name: &str, node: &Node, shown: Shown<'_>, now: i64) -> String {
    let name = match &node.kind {
        Kind::Symlink(target) => format!("{name} -> {target}"),
        _ => name.to_owned(),
    };
    format!(
        "{} {:>3} {:<8} {:<8} {:>8} {} {}\r\n",
        node.mode_string(),
        shown.links,
        shown.owner,
        shown.group,
        node.size(),
        proftpd_date(node.mtime, now),
        name
    )
}

fn proftpd_date(mtime: i64, now: i64) -> String {
    let Some(time) = DateTime::<Utc>::from_timestamp(mtime, 0) else {
        return "Jan  1  1970".to_owned();
    };
    if now - mtime > PROFTPD_RECENT_SECONDS {
        time.format("%b %e  %Y").to_string()
    } else {
        time.format("%b %e %H:%M").to_string()
    }
}

/// The facts `MLSD`/`MLST` can show, in ProFTPD's order.
pub const FACTS: [&str; 10] = [
    "modify",
    "perm",
    "size",
    "type",
    "unique",
    "UNIX.group",
    "UNIX.groupname",
    "UNIX.mode",
    "UNIX.owner",
    "UNIX.ownername",
];

/// What one `MLSD`/`MLST` entry says besides the node itself.
#[derive(Debug, Clone, Copy)]
pub struct FactContext<'a> {
    /// `cdir`, `pdir` or `None` for the entry's own type.
    pub special: Option<&'static str>,
    /// Whether the session may write it (`w` for files, `cdmp` for directories).
    pub writable: bool,
    /// `UNIX.owner` (ProFTPD's DirFakeUser shows the fake owner's uid).
    pub uid: u32,
    /// `UNIX.ownername` and `UNIX.groupname`: ProFTPD 1.3.8 writes the session's user
    /// and group here whoever owns the file (captured).
    pub owner_name: &'a str,
    /// See `owner_name`.
    pub group_name: &'a str,
    /// A stable per-node number for `unique=` (ProFTPD: device and inode in hex).
    pub inode: u64,
}

/// The facts of one entry (`modify=…;perm=…;…;`), each of `wanted` in ProFTPD's order.
pub fn facts(node: &Node, context: FactContext<'_>, wanted: &[bool; 10]) -> String {
    let mut out = String::new();
    for (i, fact) in FACTS.iter().enumerate() {
        if !wanted[i] {
            continue;
        }
        let value = match *fact {
            "modify" => mdtm(node.mtime),
            "perm" => match (node.is_dir(), context.writable) {
                (true, true) => "flcdmpe".to_owned(),
                (true, false) => "fle".to_owned(),
                (false, true) => "adfrw".to_owned(),
                (false, false) => "adfr".to_owned(),
            },
            "size" if node.is_dir() => continue,
            "size" => node.size().to_string(),
            "type" => context
                .special
                .unwrap_or(match node.kind {
                    Kind::Dir => "dir",
                    Kind::Symlink(_) => "OS.unix=symlink",
                    _ => "file",
                })
                .to_owned(),
            "unique" => format!("FE00U{:X}", context.inode),
            "UNIX.group" => node.gid.to_string(),
            "UNIX.groupname" => context.group_name.to_owned(),
            "UNIX.mode" => format!("0{:o}", node.mode & 0o7777),
            "UNIX.owner" => context.uid.to_string(),
            _ => context.owner_name.to_owned(),
        };
        out.push_str(fact);
        out.push('=');
        out.push_str(&value);
        out.push(';');
    }
    out
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[test]
    fn lines_match_vsftpd() {
        // Captured: `-rw-r--r--    1 0        0              49 Dec 06 19:30 README.txt`.
        let now = 1_796_585_400; // 2026-12-06 19:30 UTC
        let file = Node::file(Arc::from(&[0u8; 49][..]), 0o644, 0, 0, now);
        assert_eq!(
            long_line("README.txt", &file, now + 60),
            "-rw-r--r--    1 0        0              49 Dec 06 19:30 README.txt\r\n"
        );
        let old = Node::dir(0o755, 0, 0, 1_635_811_200); // 2021-11-02
        assert_eq!(
            long_line("incoming", &old, now),
            "drwxr-xr-x    2 0        0            4096 Nov 02  2021 incoming\r\n"
        );
        let future = Node::dir(0o755, 0, 0, now + 3600);
        assert!(long_line("x", &future, now).contains("Dec 06  2026"));
        assert_eq!(mdtm(now), "20261206193000");
    }

    #[test]
    fn lines_match_proftpd() {
        let now = 1_796_610_000; // 2026-12-07 02:20 UTC
        let file = Node::file(Arc::from(&[0u8; 49][..]), 0o644, 0, 0, now - 60 * 60);
        let ftp = Shown {
            owner: "ftp",
            group: "ftp",
            links: 1,
        };
        // Captured: `-rw-r--r--   1 ftp      ftp            49 Dec  7 01:20 README.txt`.
        assert_eq!(
            proftpd_line("README.txt", &file, ftp, now),
            "-rw-r--r--   1 ftp      ftp            49 Dec  7 01:20 README.txt\r\n"
        );
        let old = Node::dir(0o755, 0, 0, 1_635_811_200); // 2021-11-02
        assert_eq!(
            proftpd_line("incoming", &old, Shown { links: 2, ..ftp }, now),
            "drwxr-xr-x   2 ftp      ftp          4096 Nov  2  2021 incoming\r\n"
        );
        let future = Node::dir(0o755, 0, 0, now + 400 * 86_400);
        assert!(proftpd_line("x", &future, ftp, now).contains("Jan 11 02:20"));
        let facts_of = facts(
            &file,
            FactContext {
                special: None,
                writable: false,
                uid: 109,
                owner_name: "ftp",
                group_name: "ftp",
                inode: 0x10405B,
            },
            &[true; 10],
        );
        assert_eq!(
            facts_of,
            "modify=20261207012000;perm=adfr;size=49;type=file;unique=FE00U10405B;UNIX.group=0;\
             UNIX.groupname=ftp;UNIX.mode=0644;UNIX.owner=109;UNIX.ownername=ftp;"
        );
    }
}
