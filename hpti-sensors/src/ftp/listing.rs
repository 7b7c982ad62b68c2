//! Directory listings as vsftpd 3.0.3 writes them (`ls -l` with numeric owners, a
//! zero-padded day and the year for anything older than 182 days or in the future).

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
}
