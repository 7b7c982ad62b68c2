//! The commands that change files: MKD/RMD/DELE/RNFR/RNTO and SITE (mod_site,
//! mod_site_misc, mod_copy), MFMT/MFF; `SITE HELP` and `SITE RATIO` (§3).

use std::fmt::Write as _;
use std::sync::Arc;

use super::*;
use crate::ftp::{End, MAX_RETR_BYTES};
use crate::shell::fs::{self, Kind, Node};

impl Proftpd<'_> {
    pub(super) async fn site_before_login(&mut self, words: &[&str]) -> Result<(), End> {
        let Some(sub) = words.first().map(|w| w.to_ascii_uppercase()) else {
            return self.say("500 'SITE' requires parameters").await;
        };
        match sub.as_str() {
            "HELP" => self.site_help_reply(words).await,
            "RATIO" => self.ratio().await,
            "CPTO" => {
                self.say("503-Bad sequence of commands\r\n503 Bad sequence of commands")
                    .await
            }
            "CHMOD" | "CHGRP" if words.len() >= 3 => {
                self.say("530 Please login with USER and PASS").await?;
                self.say("530 Please login with USER and PASS").await
            }
            "CHMOD" | "CHGRP" | "CPFR" | "COPY" | "MKDIR" | "RMDIR" | "SYMLINK" | "UTIME"
            | "QUOTA" => self.say("530 Please login with USER and PASS").await,
            _ => self.say(&format!("500 'SITE {sub}' not understood")).await,
        }
    }

    pub(super) async fn site_help_reply(&mut self, words: &[&str]) -> Result<(), End> {
        let admin = self.admin();
        let tail = match words.get(1).map(|w| w.to_ascii_uppercase()).as_deref() {
            None => None,
            Some("CHMOD") => Some("Syntax: SITE CHMOD <sp> mode <sp> pathname"),
            Some("CHGRP") => Some("Syntax: SITE CHGRP <sp> group <sp> pathname"),
            Some("HELP") => Some("Syntax: SITE HELP [<sp> site-command]"),
            Some(other) => {
                return self
                    .say(&format!("502 Unknown command 'SITE HELP {other}'"))
                    .await;
            }
        };
        self.say(&site_help(&admin, tail)).await
    }

    pub(super) async fn ratio(&mut self) -> Result<(), End> {
        let reply = format!(
            "214 Current Ratio: ( -{}/0 +{}/0 (0 0 0 0) = 0/0 )",
            self.files_out, self.files_in
        );
        self.say(&reply).await
    }

    pub(super) async fn site(&mut self, raw: &[u8], words: &[&str]) -> Result<(), End> {
        let Some(sub) = words.first().map(|w| w.to_ascii_uppercase()) else {
            return self.say("500 'SITE' requires parameters").await;
        };
        // What follows the sub-command, as typed.
        let rest: &[u8] = {
            let trimmed = raw.trim_ascii_start();
            trimmed
                .iter()
                .position(u8::is_ascii_whitespace)
                .map_or(&trimmed[trimmed.len()..], |at| &trimmed[at + 1..])
        };
        let args = &words[1..];
        let anonymous = self.anonymous();
        match sub.as_str() {
            "HELP" => self.site_help_reply(words).await,
            "RATIO" => self.ratio().await,
            "QUOTA" => self.say("202 No quotas in effect").await,
            "CHMOD" => {
                let (Some(mode), Some(path)) = (args.first(), args.get(1)) else {
                    return self
                        .send(&line(&[
                            b"500-'SITE ",
                            &raw[..raw.len().min(4096)],
                            b"' not understood\r\n500 SITE not understood",
                        ]))
                        .await;
                };
                if anonymous {
                    return self
                        .send(&line(&[b"550 CHMOD ", rest, b": Permission denied"]))
                        .await;
                }
                let Ok(bits) = u32::from_str_radix(mode, 8) else {
                    return self.say(&format!("550 '{mode}': invalid mode")).await;
                };
                if bits > 0o7777 {
                    return self.say(&format!("550 '{mode}': invalid mode")).await;
                }
                let (real, _) = self.c.locate(path);
                match self.c.fs.lstat("/", &real) {
                    Ok((_, mut node)) if self.may_write(&node) || self.ids().0 == node.uid => {
                        node.mode = bits;
                        let _ = self.c.fs.put(&real, node);
                        self.say("200 SITE CHMOD command successful").await
                    }
                    Ok(_) => {
                        self.say(&format!("550 {path}: Operation not permitted"))
                            .await
                    }
                    Err(_) => {
                        self.say(&format!("550 {path}: No such file or directory"))
                            .await
                    }
                }
            }
            "CHGRP" => {
                let (Some(group), Some(path)) = (args.first(), args.get(1)) else {
                    return self
                        .send(&line(&[
                            b"500-'SITE ",
                            &raw[..raw.len().min(4096)],
                            b"' not understood\r\n500 SITE not understood",
                        ]))
                        .await;
                };
                if anonymous {
                    return self.say(&format!("550 {path}: Invalid argument")).await;
                }
                let (_, own_gid) = self.ids();
                let own = self.name_of(own_gid, "/etc/group");
                let (real, _) = self.c.locate(path);
                match self.c.fs.lstat("/", &real) {
                    Ok((_, mut node)) if *group == own || self.ids().0 == 0 => {
                        node.gid = if *group == own { own_gid } else { node.gid };
                        let _ = self.c.fs.put(&real, node);
                        self.say("200 SITE CHGRP command successful").await
                    }
                    Ok(_) => {
                        self.say(&format!("550 {path}: Operation not permitted"))
                            .await
                    }
                    Err(_) => {
                        self.say(&format!("550 {path}: No such file or directory"))
                            .await
                    }
                }
            }
            "MKDIR" | "RMDIR" | "UTIME" | "SYMLINK" | "COPY" if args.is_empty() => {
                self.say(&format!("500 'SITE {sub}' not understood")).await
            }
            "MKDIR" | "RMDIR" | "UTIME" if anonymous => {
                let reply = line(&[
                    b"550 ",
                    sub.as_bytes(),
                    b" ",
                    rest,
                    b": Operation not permitted",
                ]);
                self.send(&reply).await
            }
            "SYMLINK" | "COPY" if anonymous => {
                let target = args.get(1).copied().unwrap_or_default();
                self.say(&format!("550 {target}: Operation not permitted"))
                    .await
            }
            // mod_site_misc: MKDIR makes the missing parents too, RMDIR removes a tree.
            "MKDIR" => {
                let path = args.join(" ");
                let (real, _) = self.c.locate(&path);
                if self.make_parents(&real) {
                    self.say("200 SITE MKDIR command successful").await
                } else {
                    self.say(&format!("550 {path}: Permission denied")).await
                }
            }
            "RMDIR" => {
                let path = args.join(" ");
                let (real, _) = self.c.locate(&path);
                let dir = self.c.fs.lstat("/", &real).is_ok_and(|(_, n)| n.is_dir());
                if dir && self.may_write_parent(&real) && self.c.fs.remove_tree(&real).is_ok() {
                    self.say("200 SITE RMDIR command successful").await
                } else {
                    self.say(&format!("550 {path}: Permission denied")).await
                }
            }
            "UTIME" => {
                // `YYYYMMDDhhmm[ss] path` or `path atime mtime ctime UTC`.
                let (time, path) = if args.len() >= 5 {
                    (args[2], args[0])
                } else {
                    (args[0], args.get(1).copied().unwrap_or_default())
                };
                let (real, _) = self.c.locate(path);
                match (parse_time(time), self.c.fs.lstat("/", &real)) {
                    (Some(mtime), Ok((_, mut node))) => {
                        node.mtime = mtime;
                        let _ = self.c.fs.put(&real, node);
                        self.say("200 SITE UTIME command successful").await
                    }
                    (None, _) => self.say(&format!("550 {time}: Invalid argument")).await,
                    (_, Err(_)) => {
                        self.say(&format!("550 {path}: No such file or directory"))
                            .await
                    }
                }
            }
            "SYMLINK" => {
                let (Some(source), Some(target)) = (args.first(), args.get(1)) else {
                    return self.say("500 'SITE SYMLINK' not understood").await;
                };
                let (real, _) = self.c.locate(target);
                let (uid, gid) = self.ids();
                let now = chrono::Utc::now().timestamp();
                let mut link = Node::file(Arc::from(&b""[..]), 0o777, uid, gid, now);
                link.kind = Kind::Symlink(Arc::from(*source));
                if self.may_write_parent(&real)
                    && !self.c.fs.exists("/", &real)
                    && self.c.fs.put(&real, link).is_ok()
                {
                    self.say("200 SITE SYMLINK command successful").await
                } else {
                    self.say(&format!("550 {target}: Permission denied")).await
                }
            }
            "CPFR" => {
                let path = String::from_utf8_lossy(rest).into_owned();
                let (real, _) = self.c.locate(&path);
                if self.c.fs.stat("/", &real).is_ok() {
                    self.copy_from = Some(real);
                    self.say("350 File or directory exists, ready for destination name")
                        .await
                } else {
                    self.send(&line(&[b"550 ", rest, b": No such file or directory"]))
                        .await
                }
            }
            "CPTO" => {
                let Some(from) = self.copy_from.take() else {
                    return self
                        .say("503-Bad sequence of commands\r\n503 Bad sequence of commands")
                        .await;
                };
                let path = String::from_utf8_lossy(rest).into_owned();
                self.copy(&from, &path, rest, "250 Copy successful").await
            }
            "COPY" => {
                let (Some(source), Some(target)) = (args.first(), args.get(1)) else {
                    return self.say("500 'SITE COPY' not understood").await;
                };
                let (from, _) = self.c.locate(source);
                self.copy(
                    &from,
                    target,
                    target.as_bytes(),
                    "200 SITE COPY command successful",
                )
                .await
            }
            _ => self.say(&format!("500 'SITE {sub}' not understood")).await,
        }
    }

    /// Makes `real` and the directories above it that are missing, each where the
    /// session may write.
    pub(super) fn make_parents(&mut self, real: &str) -> bool {
        const MAX_PARTS: usize = 32;
        let mut missing = Vec::new();
        let mut at = real.to_owned();
        while !self.c.fs.exists("/", &at) {
            if missing.len() >= MAX_PARTS || at == "/" {
                return false;
            }
            missing.push(at.clone());
            at = fs::parent(&at).to_owned();
        }
        let (uid, gid) = self.ids();
        let now = chrono::Utc::now().timestamp();
        for dir in missing.iter().rev() {
            if !self.may_write_parent(dir)
                || self.c.fs.put(dir, Node::dir(0o755, uid, gid, now)).is_err()
            {
                return false;
            }
        }
        !missing.is_empty()
    }

    /// mod_copy: copies a file of the fake host (any readable one, as the real module
    /// does: CVE-2015-3306's probes use it) within the session's view.
    pub(super) async fn copy(
        &mut self,
        from: &str,
        to: &str,
        shown: &[u8],
        done: &str,
    ) -> Result<(), End> {
        if self.anonymous() {
            return self.refuse(shown, "Operation not permitted").await;
        }
        let (real, _) = self.c.locate(to);
        let now = chrono::Utc::now().timestamp();
        let source = self.c.fs.stat("/", from).ok().map(|(_, n)| n);
        let Some(source) = source.filter(|n| n.kind == Kind::File) else {
            return self.refuse(shown, "No such file or directory").await;
        };
        if !self.may_write_parent(&real) {
            return self.refuse(shown, "Permission denied").await;
        }
        let content = self
            .c
            .fs
            .content_of(&source, now, MAX_RETR_BYTES)
            .unwrap_or_default();
        let (uid, gid) = self.ids();
        let copied = Node::file(
            Arc::from(content.as_slice()),
            source.mode & 0o777,
            uid,
            gid,
            now,
        );
        if self.c.fs.put(&real, copied).is_err() {
            return self.refuse(shown, "No space left on device").await;
        }
        self.say(done).await
    }

    pub(super) async fn modify_facts(&mut self, verb: &str, words: &[&str]) -> Result<(), End> {
        if self.anonymous() {
            return self.say("550 Unable to handle command").await;
        }
        let (Some(first), Some(_)) = (words.first(), words.get(1)) else {
            return self.say("501 Invalid number of parameters").await;
        };
        let path = words[1..].join(" ");
        let (real, _) = self.c.locate(&path);
        let Ok((_, mut node)) = self.c.fs.lstat("/", &real) else {
            return self
                .say(&format!("550 {path}: No such file or directory"))
                .await;
        };
        if verb == "MFMT" {
            let Some(mtime) = parse_time(first) else {
                return self.say(&format!("501 {first}: Invalid argument")).await;
            };
            node.mtime = mtime;
            let _ = self.c.fs.put(&real, node);
            return self.say(&format!("213 Modify={first}; {path}")).await;
        }
        for fact in first.split(';').filter(|f| !f.is_empty()) {
            let Some((name, value)) = fact.split_once('=') else {
                continue;
            };
            match name.to_ascii_lowercase().as_str() {
                "modify" => {
                    if let Some(mtime) = parse_time(value) {
                        node.mtime = mtime;
                    }
                }
                "unix.mode" => {
                    if let Ok(mode) = u32::from_str_radix(value, 8) {
                        node.mode = mode & 0o7777;
                    }
                }
                _ => {}
            }
        }
        let _ = self.c.fs.put(&real, node);
        self.say(&format!("213 {first} {path}")).await
    }

    pub(super) async fn make_dir(
        &mut self,
        raw: &[u8],
        arg: &str,
        words: &[&str],
    ) -> Result<(), End> {
        if words.is_empty() {
            return self.say("501 Invalid number of parameters").await;
        }
        if self.anonymous() {
            return self.refuse(raw, "Permission denied").await;
        }
        let (real, visible) = self.c.locate(arg);
        if self.c.fs.exists("/", &real) {
            return self.refuse(raw, "File exists").await;
        }
        if !self
            .c
            .fs
            .stat("/", fs::parent(&real))
            .is_ok_and(|(_, n)| n.is_dir())
        {
            return self.refuse(raw, "No such file or directory").await;
        }
        let (uid, gid) = self.ids();
        let now = chrono::Utc::now().timestamp();
        if !self.may_write_parent(&real)
            || self
                .c
                .fs
                .put(&real, Node::dir(0o755, uid, gid, now))
                .is_err()
        {
            return self.refuse(raw, "Permission denied").await;
        }
        let reply = format!(
            "257 \"{}\" - Directory successfully created",
            visible.replace('"', "\"\"")
        );
        self.say(&reply).await
    }

    pub(super) async fn remove_dir(
        &mut self,
        verb: &str,
        raw: &[u8],
        arg: &str,
        words: &[&str],
    ) -> Result<(), End> {
        if words.is_empty() {
            return self.say("501 Invalid number of parameters").await;
        }
        if self.anonymous() {
            return self.refuse(raw, "Permission denied").await;
        }
        let (real, _) = self.c.locate(arg);
        match self.c.fs.lstat("/", &real) {
            Ok((_, node)) if !node.is_dir() => self.refuse(raw, "Not a directory").await,
            Ok(_) if !self.c.fs.list(&real).is_empty() => {
                self.refuse(raw, "Directory not empty").await
            }
            Ok(_) if !self.may_write_parent(&real) => self.refuse(raw, "Permission denied").await,
            Ok(_) => {
                let _ = self.c.fs.remove_tree(&real);
                self.say(&format!("250 {verb} command successful")).await
            }
            Err(_) => self.refuse(raw, "No such file or directory").await,
        }
    }

    pub(super) async fn delete(
        &mut self,
        raw: &[u8],
        arg: &str,
        words: &[&str],
    ) -> Result<(), End> {
        if words.is_empty() {
            return self.say("501 Invalid number of parameters").await;
        }
        if self.anonymous() {
            return self.refuse(raw, "Operation not permitted").await;
        }
        let (real, _) = self.c.locate(arg);
        match self.c.fs.lstat("/", &real) {
            Ok((_, node)) if node.is_dir() => self.refuse(raw, "Is a directory").await,
            Ok(_) if !self.may_write_parent(&real) => self.refuse(raw, "Permission denied").await,
            Ok(_) => {
                let _ = self.c.fs.remove_tree(&real);
                self.say("250 DELE command successful").await
            }
            Err(_) => self.refuse(raw, "No such file or directory").await,
        }
    }

    pub(super) async fn rename_from(
        &mut self,
        raw: &[u8],
        arg: &str,
        words: &[&str],
    ) -> Result<(), End> {
        if words.is_empty() {
            return self.say("501 Invalid number of parameters").await;
        }
        if self.anonymous() {
            return self.refuse(raw, "Operation not permitted").await;
        }
        let (real, _) = self.c.locate(arg);
        if self.c.fs.lstat("/", &real).is_err() {
            return self.refuse(raw, "No such file or directory").await;
        }
        self.c.rename_from = Some(real);
        self.say("350 File or directory exists, ready for destination name")
            .await
    }

    pub(super) async fn rename_to(
        &mut self,
        raw: &[u8],
        arg: &str,
        words: &[&str],
    ) -> Result<(), End> {
        let Some(from) = self.c.rename_from.take() else {
            return self.say("503 Bad sequence of commands").await;
        };
        if words.is_empty() {
            return self.say("501 Invalid number of parameters").await;
        }
        let (to, _) = self.c.locate(arg);
        if !self.may_write_parent(&to) {
            return self.refuse(raw, "Permission denied").await;
        }
        let moved = match self.c.fs.lstat("/", &from) {
            // Files, links and empty directories: a rename of a tree would copy it.
            Ok((_, node)) if !node.is_dir() || self.c.fs.list(&from).is_empty() => {
                self.c.fs.put(&to, node).is_ok() && self.c.fs.remove_tree(&from).is_ok()
            }
            _ => false,
        };
        if moved {
            self.say("250 Rename successful").await
        } else {
            self.refuse(raw, "Permission denied").await
        }
    }
}

/// `YYYYMMDDhhmm[ss]` (UTC) as unix seconds.
pub(super) fn parse_time(text: &str) -> Option<i64> {
    let format = match text.len() {
        12 => "%Y%m%d%H%M",
        14 => "%Y%m%d%H%M%S",
        _ => return None,
    };
    chrono::NaiveDateTime::parse_from_str(text, format)
        .ok()
        .map(|t| t.and_utc().timestamp())
}

/// The SITE help block; `tail` replaces its last three body lines for `SITE HELP X`.
pub(super) fn site_help(admin: &str, tail: Option<&str>) -> String {
    let mut out = String::from(
        "214-The following SITE commands are recognized (* =>'s unimplemented)\r\n CPFR <sp> \
         pathname\r\n CPTO <sp> pathname\r\n UTIME <sp> YYYYMMDDhhmm[ss] <sp> path\r\n \
         SYMLINK <sp> source <sp> destination\r\n RMDIR <sp> path\r\n MKDIR <sp> path\r\n The \
         following SITE extensions are recognized:\r\n RATIO -- show all ratios in effect\r\n \
         QUOTA\r\n",
    );
    match tail {
        Some(tail) => {
            let _ = write!(out, " {tail}\r\n");
        }
        None => out.push_str(" HELP\r\n CHGRP\r\n CHMOD\r\n"),
    }
    let _ = write!(out, "214 Direct comments to {admin}");
    out
}
