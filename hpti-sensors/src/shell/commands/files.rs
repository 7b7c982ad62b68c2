//! File commands: `ls`, `cat`, `cp`, `mv`, `rm`, `mkdir`, `chmod`, `find`, `dd`, ...

use std::fmt::Write as _;
use std::sync::Arc;

use super::super::fs::{self, Access, Content, FsError, Kind, Node};
use super::super::image::{group_name, user_name};
use super::super::interp::{Interp, Io, TERM};
use super::super::text;
use super::{Opts, fmt_time};

const SIX_MONTHS: i64 = 182 * 86_400;

impl Interp<'_> {
    pub(crate) fn cmd_ls(&mut self, args: &[String], io: Io) -> i32 {
        let o = Opts::parse(args);
        let long = o.has('l') || o.has('n') || o.has('g') || o.has('o');
        let all = o.has('a');
        let almost = o.has('A');
        let human = o.has('h');
        let dir_only = o.has('d');
        let one = o.has('1') || io.out != TERM || long;
        let mut status = 0;
        let operands = if o.args.is_empty() {
            vec![".".to_string()]
        } else {
            o.args.clone()
        };
        let mut files: Vec<(String, Node)> = Vec::new();
        let mut dirs: Vec<(String, String)> = Vec::new();
        for op in &operands {
            let res = if long && !op.ends_with('/') {
                self.st.fs.lstat(&self.st.cwd, op)
            } else {
                self.st.fs.stat(&self.st.cwd, op)
            };
            match res {
                Ok((canon, node)) => {
                    if node.is_dir() && !dir_only {
                        dirs.push((op.clone(), canon));
                    } else {
                        files.push((op.clone(), node));
                    }
                }
                Err(e) => {
                    self.err(io, format!("ls: cannot access '{op}': {e}\n"));
                    status = 2;
                }
            }
        }
        let mut out = String::new();
        if !files.is_empty() {
            out.push_str(&self.ls_format(&files, long, human, one, o.has('i')));
        }
        let headers = operands.len() > 1;
        for (i, (shown, canon)) in dirs.iter().enumerate() {
            let (_, dnode) = match self.st.fs.stat("/", canon) {
                Ok(x) => x,
                Err(_) => continue,
            };
            if !fs::may(&dnode, self.st.uid, self.st.gid, Access::Read) {
                self.err(
                    io,
                    format!("ls: cannot open directory '{shown}': Permission denied\n"),
                );
                status = 2;
                continue;
            }
            if headers {
                if i > 0 || !files.is_empty() {
                    out.push('\n');
                }
                let _ = writeln!(out, "{shown}:");
            }
            let mut entries: Vec<(String, Node)> = Vec::new();
            if all {
                entries.push((".".into(), dnode.clone()));
                let parent = self
                    .st
                    .fs
                    .stat("/", fs::parent(canon))
                    .map(|(_, n)| n)
                    .unwrap_or_else(|_| dnode.clone());
                entries.push(("..".into(), parent));
            }
            for (name, node) in self.st.fs.list(canon) {
                if name.starts_with('.') && !all && !almost {
                    continue;
                }
                entries.push((name, node));
            }
            if long {
                let blocks: u64 = entries.iter().map(|(_, n)| blocks_of(n)).sum();
                let _ = writeln!(
                    out,
                    "total {}",
                    if human {
                        text::human(blocks * 1024, false)
                    } else {
                        blocks.to_string()
                    }
                );
            }
            out.push_str(&self.ls_format(&entries, long, human, one, o.has('i')));
        }
        self.out(io, out);
        status
    }

    fn ls_format(
        &self,
        entries: &[(String, Node)],
        long: bool,
        human: bool,
        one: bool,
        inode: bool,
    ) -> String {
        let mut out = String::new();
        if entries.is_empty() {
            return out;
        }
        if long {
            let rows: Vec<[String; 6]> = entries
                .iter()
                .map(|(name, n)| {
                    let size = if human {
                        text::human(n.size(), false)
                    } else if let Kind::CharDev(ma, mi) = n.kind {
                        format!("{ma}, {mi}")
                    } else {
                        n.size().to_string()
                    };
                    let links = if n.is_dir() { 2 } else { 1 };
                    let date = if (self.now - n.mtime).abs() < SIX_MONTHS {
                        fmt_time(n.mtime, "%b %e %H:%M")
                    } else {
                        fmt_time(n.mtime, "%b %e  %Y")
                    };
                    let mut shown = name.clone();
                    if let Kind::Symlink(t) = &n.kind {
                        shown = format!("{name} -> {t}");
                    }
                    [
                        n.mode_string(),
                        links.to_string(),
                        user_name(&self.st.persona, n.uid),
                        group_name(&self.st.persona, n.gid),
                        size,
                        format!("{date} {shown}"),
                    ]
                })
                .collect();
            let w: Vec<usize> = (0..5)
                .map(|i| rows.iter().map(|r| r[i].len()).max().unwrap_or(0))
                .collect();
            for r in rows {
                let _ = writeln!(
                    out,
                    "{} {:>w1$} {:<w2$} {:<w3$} {:>w4$} {}",
                    r[0],
                    r[1],
                    r[2],
                    r[3],
                    r[4],
                    r[5],
                    w1 = w[1],
                    w2 = w[2],
                    w3 = w[3],
                    w4 = w[4]
                );
            }
            return out;
        }
        let names: Vec<String> = entries
            .iter()
            .map(|(n, node)| {
                if inode {
                    format!("{} {n}", 100_000 + (node.mtime.unsigned_abs() % 900_000))
                } else {
                    n.clone()
                }
            })
            .collect();
        if one {
            for n in names {
                out.push_str(&n);
                out.push('\n');
            }
            return out;
        }
        columns(&names, 80)
    }

    pub(crate) fn cmd_cat(&mut self, name: &str, args: &[String], io: Io) -> i32 {
        let o = Opts::parse(args);
        let number = o.has('n');
        let mut status = 0;
        let files = if o.args.is_empty() {
            vec!["-".to_string()]
        } else {
            o.args.clone()
        };
        let mut line_no = 0usize;
        for f in files {
            if self.stopped() || self.buf_full(io.out) {
                break;
            }
            let data = if f == "-" {
                self.read_all(io)
            } else {
                match self.fs_read(&f) {
                    Ok(d) => d,
                    Err(e) => {
                        self.err(io, format!("{name}: {f}: {e}\n"));
                        status = 1;
                        continue;
                    }
                }
            };
            if number {
                let mut s = Vec::new();
                for line in data.split_inclusive(|&b| b == b'\n') {
                    line_no += 1;
                    s.extend_from_slice(format!("{line_no:>6}\t").as_bytes());
                    s.extend_from_slice(line);
                }
                self.out(io, s);
            } else {
                self.out(io, data);
            }
        }
        status
    }

    pub(crate) fn cmd_mkdir(&mut self, args: &[String], io: Io) -> i32 {
        let o = Opts::parse(args);
        let parents = o.has('p');
        let mut status = 0;
        if o.args.is_empty() {
            self.err(
                io,
                "mkdir: missing operand\nTry 'mkdir --help' for more information.\n",
            );
            return 1;
        }
        for d in &o.args {
            let target = fs::normalize(&self.st.cwd, d);
            let chain: Vec<String> = if parents {
                let mut v = Vec::new();
                let mut p = target.clone();
                while p != "/" {
                    v.push(p.clone());
                    p = fs::parent(&p).to_string();
                }
                v.reverse();
                v
            } else {
                vec![target.clone()]
            };
            for p in chain {
                match self.st.fs.resolve("/", &p, true) {
                    Ok((_, Some(n))) => {
                        if !parents {
                            self.err(
                                io,
                                format!("mkdir: cannot create directory ‘{d}’: File exists\n"),
                            );
                            status = 1;
                        } else if !n.is_dir() {
                            self.err(
                                io,
                                format!("mkdir: cannot create directory ‘{d}’: Not a directory\n"),
                            );
                            status = 1;
                            break;
                        }
                    }
                    Ok((canon, None)) => {
                        if let Err(e) = self.make_dir(&canon) {
                            self.err(io, format!("mkdir: cannot create directory ‘{d}’: {e}\n"));
                            status = 1;
                            break;
                        }
                    }
                    Err(e) => {
                        self.err(io, format!("mkdir: cannot create directory ‘{d}’: {e}\n"));
                        status = 1;
                        break;
                    }
                }
            }
        }
        status
    }

    fn check_parent_writable(&self, canon: &str) -> Result<(), FsError> {
        let (_, parent) = self.st.fs.stat("/", fs::parent(canon))?;
        if !parent.is_dir() {
            return Err(FsError::NotDir);
        }
        if !fs::may(&parent, self.st.uid, self.st.gid, Access::Write) {
            return Err(FsError::PermissionDenied);
        }
        Ok(())
    }

    pub(crate) fn make_dir(&mut self, canon: &str) -> Result<(), FsError> {
        self.check_parent_writable(canon)?;
        let node = Node::dir(0o755, self.st.uid, self.st.gid, self.now);
        self.st.fs.put(canon, node)
    }

    pub(crate) fn cmd_rmdir(&mut self, args: &[String], io: Io) -> i32 {
        let o = Opts::parse(args);
        let mut status = 0;
        for d in &o.args {
            let res = self.st.fs.lstat(&self.st.cwd, d).and_then(|(canon, n)| {
                if !n.is_dir() {
                    return Err(FsError::NotDir);
                }
                if !self.st.fs.list(&canon).is_empty() {
                    return Err(FsError::NotEmpty);
                }
                self.check_parent_writable(&canon)?;
                self.st.fs.remove_tree(&canon)
            });
            if let Err(e) = res {
                self.err(io, format!("rmdir: failed to remove '{d}': {e}\n"));
                status = 1;
            }
        }
        status
    }

    pub(crate) fn cmd_rm(&mut self, args: &[String], io: Io) -> i32 {
        let o = Opts::parse(args);
        let recursive = o.has('r') || o.has('R') || o.has_long("recursive");
        let force = o.has('f') || o.has_long("force");
        let mut status = 0;
        if o.args.is_empty() && !force {
            self.err(
                io,
                "rm: missing operand\nTry 'rm --help' for more information.\n",
            );
            return 1;
        }
        for f in &o.args {
            let canon = fs::normalize(&self.st.cwd, f);
            if canon == "/" && recursive && !o.has_long("no-preserve-root") {
                self.err(io, "rm: it is dangerous to operate recursively on '/'\nrm: use --no-preserve-root to override this failsafe\n");
                status = 1;
                continue;
            }
            if f.ends_with("/.") || f.ends_with("/..") || f == "." || f == ".." {
                self.err(
                    io,
                    format!("rm: refusing to remove '.' or '..' directory: skipping '{f}'\n"),
                );
                status = 1;
                continue;
            }
            match self.st.fs.lstat(&self.st.cwd, f) {
                Err(e) => {
                    if !force {
                        self.err(io, format!("rm: cannot remove '{f}': {e}\n"));
                        status = 1;
                    }
                }
                Ok((canon, node)) => {
                    if node.is_dir() && !recursive {
                        self.err(io, format!("rm: cannot remove '{f}': Is a directory\n"));
                        status = 1;
                        continue;
                    }
                    if let Err(e) = self.check_parent_writable(&canon) {
                        self.err(io, format!("rm: cannot remove '{f}': {e}\n"));
                        status = 1;
                        continue;
                    }
                    if self.st.uid != 0
                        && node.is_dir()
                        && self
                            .st
                            .fs
                            .walk(&canon, 1000)
                            .iter()
                            .any(|(_, n)| n.uid != self.st.uid)
                    {
                        self.err(io, format!("rm: cannot remove '{f}': Permission denied\n"));
                        status = 1;
                        continue;
                    }
                    self.before_remove(&canon);
                    if node.is_dir() {
                        let inner: Vec<String> = self
                            .st
                            .fs
                            .walk(&canon, 10_000)
                            .into_iter()
                            .map(|(p, _)| p)
                            .collect();
                        for p in inner {
                            self.before_remove(&p);
                        }
                    }
                    if let Err(e) = self.st.fs.remove_tree(&canon) {
                        self.err(io, format!("rm: cannot remove '{f}': {e}\n"));
                        status = 1;
                    }
                }
            }
        }
        status
    }

    pub(crate) fn cmd_touch(&mut self, args: &[String], io: Io) -> i32 {
        let o = Opts::parse(args);
        let mut status = 0;
        if o.args.is_empty() {
            self.err(
                io,
                "touch: missing file operand\nTry 'touch --help' for more information.\n",
            );
            return 1;
        }
        for f in &o.args {
            let res = match self.st.fs.stat(&self.st.cwd, f) {
                Ok((canon, mut node)) => {
                    if self.st.uid != 0 && node.uid != self.st.uid {
                        Err(FsError::PermissionDenied)
                    } else {
                        node.mtime = self.now;
                        self.st.fs.put(&canon, node)
                    }
                }
                Err(FsError::NotFound) => self.fs_write(f, b"", true, false).map(|_| ()),
                Err(e) => Err(e),
            };
            if let Err(e) = res {
                self.err(io, format!("touch: cannot touch '{f}': {e}\n"));
                status = 1;
            }
        }
        status
    }

    /// Copies one file or tree to a canonical destination path.
    fn copy_node(
        &mut self,
        src_canon: &str,
        node: &Node,
        dst: &str,
        notify: bool,
    ) -> Result<(), FsError> {
        self.check_parent_writable(dst)?;
        if let Ok((_, existing)) = self.st.fs.stat("/", dst) {
            if existing.is_dir() && !node.is_dir() {
                return Err(FsError::IsDir);
            }
            if !existing.is_dir() && !fs::may(&existing, self.st.uid, self.st.gid, Access::Write) {
                return Err(FsError::PermissionDenied);
            }
        }
        let mut new = node.clone();
        new.uid = self.st.uid;
        new.gid = self.st.gid;
        new.mtime = self.now;
        if let Content::Dynamic(_) = new.content {
            let data = self
                .st
                .fs
                .content_of(node, self.now, self.st.limits.max_output_bytes)?;
            new.content = Content::Bytes(Arc::from(data));
            new.kind = Kind::File;
        }
        self.st.fs.put(dst, new)?;
        if notify && matches!(node.content, Content::Bytes(_)) && node.kind == Kind::File {
            self.mark_written(dst);
        }
        if node.is_dir() {
            for (name, child) in self.st.fs.list(src_canon) {
                let s = format!("{}/{name}", src_canon.trim_end_matches('/'));
                let d = format!("{}/{name}", dst.trim_end_matches('/'));
                self.copy_node(&s, &child, &d, notify)?;
            }
        }
        Ok(())
    }

    pub(crate) fn cmd_cp(&mut self, name: &str, args: &[String], io: Io) -> i32 {
        let o = Opts::parse(args);
        let recursive = o.has('r') || o.has('R') || o.has('a') || o.has_long("recursive");
        let is_mv = name == "mv";
        if o.args.len() < 2 {
            let msg = if o.args.is_empty() {
                format!("{name}: missing file operand\n")
            } else {
                format!(
                    "{name}: missing destination file operand after '{}'\n",
                    o.args[0]
                )
            };
            self.err(
                io,
                format!("{msg}Try '{name} --help' for more information.\n"),
            );
            return 1;
        }
        let (srcs, dst) = o.args.split_at(o.args.len() - 1);
        let dst = dst.first().cloned().unwrap_or_default();
        let dst_is_dir = self
            .st
            .fs
            .stat(&self.st.cwd, &dst)
            .is_ok_and(|(_, n)| n.is_dir());
        if srcs.len() > 1 && !dst_is_dir {
            self.err(io, format!("{name}: target '{dst}' is not a directory\n"));
            return 1;
        }
        let mut status = 0;
        for s in srcs {
            let res = if is_mv {
                self.st.fs.lstat(&self.st.cwd, s)
            } else {
                self.st.fs.stat(&self.st.cwd, s)
            };
            let (src_canon, node) = match res {
                Ok(x) => x,
                Err(e) => {
                    self.err(io, format!("{name}: cannot stat '{s}': {e}\n"));
                    status = 1;
                    continue;
                }
            };
            if node.is_dir() && !recursive && !is_mv {
                self.err(
                    io,
                    format!("{name}: -r not specified; omitting directory '{s}'\n"),
                );
                status = 1;
                continue;
            }
            if !is_mv && !fs::may(&node, self.st.uid, self.st.gid, Access::Read) {
                self.err(
                    io,
                    format!("{name}: cannot open '{s}' for reading: Permission denied\n"),
                );
                status = 1;
                continue;
            }
            let target = if dst_is_dir {
                match self.st.fs.stat(&self.st.cwd, &dst) {
                    Ok((d, _)) => {
                        format!("{}/{}", d.trim_end_matches('/'), fs::base_name(&src_canon))
                    }
                    Err(_) => continue,
                }
            } else {
                match self.st.fs.resolve(&self.st.cwd, &dst, true) {
                    Ok((c, _)) => c,
                    Err(e) => {
                        self.err(
                            io,
                            format!("{name}: cannot create regular file '{dst}': {e}\n"),
                        );
                        status = 1;
                        continue;
                    }
                }
            };
            if target == src_canon {
                self.err(io, format!("{name}: '{s}' and '{dst}' are the same file\n"));
                status = 1;
                continue;
            }
            if node.is_dir() && target.starts_with(&format!("{src_canon}/")) {
                self.err(
                    io,
                    format!("{name}: cannot copy a directory, '{s}', into itself, '{dst}'\n"),
                );
                status = 1;
                continue;
            }
            if is_mv {
                if let Err(e) = self.check_parent_writable(&src_canon) {
                    self.err(io, format!("mv: cannot move '{s}' to '{dst}': {e}\n"));
                    status = 1;
                    continue;
                }
                let mut moved = node.clone();
                moved.mtime = node.mtime;
                let res = self.move_tree(&src_canon, &node, &target);
                match res {
                    Ok(()) => self.after_rename(&src_canon, &target),
                    Err(e) => {
                        self.err(io, format!("mv: cannot move '{s}' to '{dst}': {e}\n"));
                        status = 1;
                    }
                }
                continue;
            }
            if let Err(e) = self.copy_node(&src_canon, &node, &target, true) {
                self.err(io, format!("cp: cannot create regular file '{dst}': {e}\n"));
                status = 1;
            }
        }
        status
    }

    fn move_tree(&mut self, src: &str, node: &Node, dst: &str) -> Result<(), FsError> {
        self.check_parent_writable(dst)?;
        if let Ok((_, existing)) = self.st.fs.lstat("/", dst)
            && existing.is_dir()
            && !node.is_dir()
        {
            return Err(FsError::IsDir);
        }
        let children = if node.is_dir() {
            self.st.fs.walk(src, 10_000)
        } else {
            Vec::new()
        };
        self.st.fs.remove_tree(dst).ok();
        self.st.fs.put(dst, node.clone())?;
        for (p, n) in children {
            let rel = p.strip_prefix(src).unwrap_or(&p);
            self.st.fs.put(&format!("{dst}{rel}"), n)?;
        }
        self.st.fs.remove_tree(src)
    }

    pub(crate) fn cmd_ln(&mut self, args: &[String], io: Io) -> i32 {
        let o = Opts::parse(args);
        let symbolic = o.has('s');
        let force = o.has('f');
        let (Some(target), link) = (o.args.first().cloned(), o.args.get(1).cloned()) else {
            self.err(
                io,
                "ln: missing file operand\nTry 'ln --help' for more information.\n",
            );
            return 1;
        };
        let link = link.unwrap_or_else(|| fs::base_name(&target).to_string());
        let link_path = match self.st.fs.stat(&self.st.cwd, &link) {
            Ok((c, n)) if n.is_dir() => {
                format!("{}/{}", c.trim_end_matches('/'), fs::base_name(&target))
            }
            _ => fs::normalize(&self.st.cwd, &link),
        };
        if self.st.fs.lstat("/", &link_path).is_ok() {
            if !force {
                self.err(
                    io,
                    format!(
                        "ln: failed to create {}link '{link}': File exists\n",
                        if symbolic { "symbolic " } else { "hard " }
                    ),
                );
                return 1;
            }
            self.st.fs.remove_tree(&link_path).ok();
        }
        if let Err(e) = self.check_parent_writable(&link_path) {
            self.err(
                io,
                format!("ln: failed to create symbolic link '{link}': {e}\n"),
            );
            return 1;
        }
        let res = if symbolic {
            let mut n = Node::dir(0o777, self.st.uid, self.st.gid, self.now);
            n.kind = Kind::Symlink(Arc::from(target.as_str()));
            self.st.fs.put(&link_path, n)
        } else {
            match self.st.fs.stat(&self.st.cwd, &target) {
                Ok((_, n)) if n.is_dir() => {
                    self.err(
                        io,
                        format!("ln: {target}: hard link not allowed for directory\n"),
                    );
                    return 1;
                }
                Ok((_, n)) => self.st.fs.put(&link_path, n),
                Err(e) => {
                    self.err(io, format!("ln: failed to access '{target}': {e}\n"));
                    return 1;
                }
            }
        };
        if let Err(e) = res {
            self.err(io, format!("ln: failed to create link '{link}': {e}\n"));
            return 1;
        }
        0
    }

    pub(crate) fn cmd_chmod(&mut self, args: &[String], io: Io) -> i32 {
        let mut recursive = false;
        let mut rest: Vec<&String> = Vec::new();
        for a in args {
            if a == "-R" || a == "-r" || a == "--recursive" {
                recursive = true;
            } else if a.starts_with("--") || a == "-v" || a == "-f" || a == "-c" {
            } else {
                rest.push(a);
            }
        }
        let Some((mode, files)) = rest.split_first() else {
            self.err(
                io,
                "chmod: missing operand\nTry 'chmod --help' for more information.\n",
            );
            return 1;
        };
        if files.is_empty() {
            self.err(io, format!("chmod: missing operand after ‘{mode}’\nTry 'chmod --help' for more information.\n"));
            return 1;
        }
        let mut status = 0;
        for f in files {
            let (canon, node) = match self.st.fs.stat(&self.st.cwd, f) {
                Ok(x) => x,
                Err(e) => {
                    self.err(io, format!("chmod: cannot access '{f}': {e}\n"));
                    status = 1;
                    continue;
                }
            };
            let mut targets = vec![(canon.clone(), node)];
            if recursive && targets.first().is_some_and(|(_, n)| n.is_dir()) {
                targets.extend(self.st.fs.walk(&canon, 10_000));
            }
            for (path, mut n) in targets {
                if matches!(n.kind, Kind::Symlink(_)) {
                    continue;
                }
                if self.st.uid != 0 && n.uid != self.st.uid {
                    self.err(
                        io,
                        format!("chmod: changing permissions of '{f}': Operation not permitted\n"),
                    );
                    status = 1;
                    continue;
                }
                match apply_mode(n.mode, mode, n.is_dir()) {
                    Some(m) => n.mode = m,
                    None => {
                        self.err(io, format!("chmod: invalid mode: ‘{mode}’\nTry 'chmod --help' for more information.\n"));
                        return 1;
                    }
                }
                if let Err(e) = self.st.fs.put(&path, n) {
                    self.err(io, format!("chmod: changing permissions of '{f}': {e}\n"));
                    status = 1;
                }
            }
        }
        status
    }

    pub(crate) fn cmd_chown(&mut self, name: &str, args: &[String], io: Io) -> i32 {
        let o = Opts::parse(args);
        let Some((spec, files)) = o.args.split_first() else {
            self.err(
                io,
                format!("{name}: missing operand\nTry '{name} --help' for more information.\n"),
            );
            return 1;
        };
        let (u, g) = if name == "chgrp" {
            (None, Some(spec.as_str()))
        } else {
            match spec.split_once([':', '.']) {
                Some((u, g)) => (
                    Some(u).filter(|s| !s.is_empty()),
                    Some(g).filter(|s| !s.is_empty()),
                ),
                None => (Some(spec.as_str()), None),
            }
        };
        let lookup_user = |s: &str| -> Option<u32> {
            if let Ok(n) = s.parse::<u32>() {
                return Some(n);
            }
            if s == "root" {
                return Some(0);
            }
            let p = &self.st.persona;
            p.users
                .iter()
                .find(|x| x.name == s)
                .map(|x| x.uid)
                .or_else(|| {
                    super::super::image::SYSTEM_ACCOUNTS
                        .iter()
                        .find(|a| a.0 == s)
                        .map(|a| a.1)
                })
        };
        let uid = match u.map(|s| (s, lookup_user(s))) {
            Some((s, None)) => {
                self.err(io, format!("{name}: invalid user: ‘{spec}’\n"));
                let _ = s;
                return 1;
            }
            Some((_, Some(id))) => Some(id),
            None => None,
        };
        let gid = match g.map(|s| {
            (
                s,
                lookup_user(s).or(match s {
                    "adm" => Some(4),
                    "sudo" => Some(27),
                    "users" => Some(100),
                    "nogroup" => Some(65534),
                    _ => None,
                }),
            )
        }) {
            Some((s, None)) => {
                self.err(io, format!("{name}: invalid group: ‘{s}’\n"));
                return 1;
            }
            Some((_, Some(id))) => Some(id),
            None => None,
        };
        let mut status = 0;
        for f in files {
            match self.st.fs.stat(&self.st.cwd, f) {
                Ok((canon, mut n)) => {
                    if self.st.uid != 0 {
                        self.err(
                            io,
                            format!(
                                "{name}: changing ownership of '{f}': Operation not permitted\n"
                            ),
                        );
                        status = 1;
                        continue;
                    }
                    if let Some(u) = uid {
                        n.uid = u;
                    }
                    if let Some(g) = gid {
                        n.gid = g;
                    }
                    let _ = self.st.fs.put(&canon, n);
                }
                Err(e) => {
                    self.err(io, format!("{name}: cannot access '{f}': {e}\n"));
                    status = 1;
                }
            }
        }
        status
    }

    pub(crate) fn cmd_stat(&mut self, args: &[String], io: Io) -> i32 {
        let o = Opts::parse(args);
        let mut status = 0;
        for f in &o.args {
            match self.st.fs.lstat(&self.st.cwd, f) {
                Ok((_, n)) => {
                    let kind = match n.kind {
                        Kind::File if n.size() == 0 => "regular empty file",
                        Kind::File => "regular file",
                        Kind::Dir => "directory",
                        Kind::Symlink(_) => "symbolic link",
                        Kind::CharDev(..) => "character special file",
                    };
                    let t = fmt_time(n.mtime, "%Y-%m-%d %H:%M:%S.000000000 +0000");
                    let ino = 131_072 + (n.mtime.unsigned_abs() % 2_000_000);
                    let s = format!(
                        "  File: {f}\n  Size: {:<15} Blocks: {:<10} IO Block: 4096   {kind}\nDevice: 254,1\tInode: {ino:<11} Links: {}\nAccess: ({:04o}/{})  Uid: ({:>5}/{:>8})   Gid: ({:>5}/{:>8})\nAccess: {t}\nModify: {t}\nChange: {t}\n Birth: {t}\n",
                        n.size(),
                        blocks_of(&n) * 2,
                        if n.is_dir() { 2 } else { 1 },
                        n.mode & 0o7777,
                        n.mode_string(),
                        n.uid,
                        user_name(&self.st.persona, n.uid),
                        n.gid,
                        group_name(&self.st.persona, n.gid),
                    );
                    self.out(io, s);
                }
                Err(e) => {
                    self.err(io, format!("stat: cannot statx '{f}': {e}\n"));
                    status = 1;
                }
            }
        }
        status
    }

    pub(crate) fn cmd_find(&mut self, args: &[String], io: Io) -> i32 {
        let mut roots = Vec::new();
        let mut i = 0;
        while let Some(a) = args.get(i) {
            if a.starts_with('-') || a == "(" || a == "!" {
                break;
            }
            roots.push(a.clone());
            i += 1;
        }
        if roots.is_empty() {
            roots.push(".".into());
        }
        let mut name_pat: Option<(String, bool)> = None;
        let mut ftype: Option<char> = None;
        let mut maxdepth = usize::MAX;
        let mut writable = false;
        let mut delete = false;
        while let Some(a) = args.get(i) {
            let v = args.get(i + 1).cloned().unwrap_or_default();
            match a.as_str() {
                "-name" | "-iname" => {
                    name_pat = Some((v, a == "-iname"));
                    i += 2;
                }
                "-type" => {
                    ftype = v.chars().next();
                    i += 2;
                }
                "-maxdepth" => {
                    maxdepth = v.parse().unwrap_or(usize::MAX);
                    i += 2;
                }
                "-writable" => {
                    writable = true;
                    i += 1;
                }
                "-delete" => {
                    delete = true;
                    i += 1;
                }
                "-exec" | "-execdir" | "-ok" => {
                    while let Some(x) = args.get(i) {
                        i += 1;
                        if x == ";" || x == "+" {
                            break;
                        }
                    }
                }
                "-perm" | "-user" | "-group" | "-size" | "-mtime" | "-newer" | "-mindepth"
                | "-path" => i += 2,
                _ => i += 1,
            }
        }
        let mut out = String::new();
        let mut status = 0;
        let mut doomed = Vec::new();
        for root in &roots {
            let (canon, node) = match self.st.fs.stat(&self.st.cwd, root) {
                Ok(x) => x,
                Err(e) => {
                    self.err(io, format!("find: ‘{root}’: {e}\n"));
                    status = 1;
                    continue;
                }
            };
            let mut entries = vec![(canon.clone(), node.clone())];
            if node.is_dir() {
                let mut walked = self.st.fs.walk(&canon, 20_000);
                walked.sort_by(|a, b| a.0.cmp(&b.0));
                entries.extend(walked);
            }
            for (path, n) in entries {
                let rel = path.strip_prefix(&canon).unwrap_or(&path);
                let depth = rel.matches('/').count();
                if depth > maxdepth {
                    continue;
                }
                let shown = if rel.is_empty() {
                    root.clone()
                } else {
                    format!("{}{rel}", root.trim_end_matches('/'))
                };
                if self.st.uid != 0
                    && n.is_dir()
                    && !fs::may(&n, self.st.uid, self.st.gid, Access::Read)
                    && !rel.is_empty()
                {
                    self.err(io, format!("find: ‘{shown}’: Permission denied\n"));
                    status = 1;
                }
                if let Some((pat, icase)) = &name_pat {
                    let base = fs::base_name(&path);
                    let ok = if *icase {
                        text::glob_match(&pat.to_lowercase(), &base.to_lowercase())
                    } else {
                        text::glob_match(pat, base)
                    };
                    if !ok {
                        continue;
                    }
                }
                if let Some(t) = ftype {
                    let ok = match t {
                        'f' => n.kind == Kind::File,
                        'd' => n.is_dir(),
                        'l' => matches!(n.kind, Kind::Symlink(_)),
                        'c' => matches!(n.kind, Kind::CharDev(..)),
                        _ => false,
                    };
                    if !ok {
                        continue;
                    }
                }
                if writable && !fs::may(&n, self.st.uid, self.st.gid, Access::Write) {
                    continue;
                }
                if delete {
                    doomed.push(path.clone());
                } else {
                    out.push_str(&shown);
                    out.push('\n');
                }
                if out.len() > self.st.limits.max_output_bytes {
                    break;
                }
            }
        }
        for p in doomed.into_iter().rev() {
            self.before_remove(&p);
            let _ = self.st.fs.remove_tree(&p);
        }
        self.out(io, out);
        status
    }

    pub(crate) fn cmd_du(&mut self, args: &[String], io: Io) -> i32 {
        let o = Opts::parse(args);
        let human = o.has('h');
        let summary = o.has('s');
        let targets = if o.args.is_empty() {
            vec![".".to_string()]
        } else {
            o.args.clone()
        };
        let mut out = String::new();
        let mut status = 0;
        for t in targets {
            match self.st.fs.stat(&self.st.cwd, &t) {
                Ok((canon, n)) => {
                    let mut total = blocks_of(&n);
                    let walked = if n.is_dir() {
                        self.st.fs.walk(&canon, 20_000)
                    } else {
                        Vec::new()
                    };
                    let mut lines = Vec::new();
                    for (p, c) in &walked {
                        total += blocks_of(c);
                        if !summary && c.is_dir() {
                            let sub: u64 = walked
                                .iter()
                                .filter(|(q, _)| q.starts_with(&format!("{p}/")))
                                .map(|(_, x)| blocks_of(x))
                                .sum::<u64>()
                                + 4;
                            let rel = p.strip_prefix(&canon).unwrap_or(p);
                            lines.push((sub, format!("{}{rel}", t.trim_end_matches('/'))));
                        }
                    }
                    lines.reverse();
                    lines.push((total, t.clone()));
                    for (k, name) in lines {
                        let size = if human {
                            text::human(k * 1024, false)
                        } else {
                            k.to_string()
                        };
                        let _ = writeln!(out, "{size}\t{name}");
                    }
                }
                Err(e) => {
                    self.err(io, format!("du: cannot access '{t}': {e}\n"));
                    status = 1;
                }
            }
        }
        self.out(io, out);
        status
    }

    pub(crate) fn cmd_readlink(&mut self, args: &[String], io: Io) -> i32 {
        let o = Opts::parse(args);
        let canonical = o.has('f') || o.has('e') || o.has('m');
        let mut status = 0;
        for a in &o.args {
            if canonical {
                match self.st.fs.resolve(&self.st.cwd, a, true) {
                    Ok((c, _)) => self.out(io, format!("{c}\n")),
                    Err(_) => status = 1,
                }
            } else {
                match self.st.fs.lstat(&self.st.cwd, a) {
                    Ok((
                        _,
                        Node {
                            kind: Kind::Symlink(t),
                            ..
                        },
                    )) => self.out(io, format!("{t}\n")),
                    _ => status = 1,
                }
            }
        }
        status
    }

    pub(crate) fn cmd_mktemp(&mut self, args: &[String], io: Io) -> i32 {
        let o = Opts::parse(args);
        let dir = o.has('d');
        let template = o
            .args
            .first()
            .cloned()
            .unwrap_or_else(|| "/tmp/tmp.XXXXXXXXXX".into());
        let template = if template.contains('/') {
            template
        } else {
            format!("/tmp/{template}")
        };
        let alphabet: Vec<char> = ('a'..='z').chain('A'..='Z').chain('0'..='9').collect();
        let mut path = String::new();
        let x_count = template.chars().rev().take_while(|&c| c == 'X').count();
        let stem: String = template
            .chars()
            .take(template.chars().count() - x_count)
            .collect();
        path.push_str(&stem);
        for _ in 0..x_count.max(3) {
            path.push(alphabet[fastrand::usize(..alphabet.len())]);
        }
        let res = if dir {
            let canon = fs::normalize(&self.st.cwd, &path);
            self.make_dir(&canon)
        } else {
            self.fs_write(&path, b"", false, false).map(|_| ())
        };
        match res {
            Ok(()) => {
                self.out(io, format!("{path}\n"));
                0
            }
            Err(e) => {
                self.err(
                    io,
                    format!("mktemp: failed to create file via template ‘{template}’: {e}\n"),
                );
                1
            }
        }
    }

    pub(crate) fn cmd_tar(&mut self, args: &[String], io: Io) -> i32 {
        let mut file = None;
        let mut create = false;
        let mut it = args.iter();
        while let Some(a) = it.next() {
            let flags = a.trim_start_matches('-');
            if a.starts_with("--") {
                continue;
            }
            if flags.contains('c') && !a.contains('/') {
                create = true;
            }
            if flags.contains('f') && !a.contains('/') && file.is_none() {
                file = it.next().cloned();
            }
        }
        let Some(file) = file else {
            self.err(io, "tar: Refusing to read archive contents from terminal (missing -f option?)\ntar: Error is not recoverable: exiting now\n");
            return 2;
        };
        if create {
            let header = vec![0u8; 1024];
            return match self.fs_write(&file, &header, false, false) {
                Ok(_) => 0,
                Err(e) => {
                    self.err(io, format!("tar: {file}: Cannot open: {e}\ntar: Error is not recoverable: exiting now\n"));
                    2
                }
            };
        }
        match self.fs_read(&file) {
            Ok(_) => {
                self.err(io, "tar: This does not look like a tar archive\ntar: Exiting with failure status due to previous errors\n");
                2
            }
            Err(e) => {
                self.err(io, format!("tar: {file}: Cannot open: {e}\ntar: Error is not recoverable: exiting now\n"));
                2
            }
        }
    }

    pub(crate) fn cmd_gzip(&mut self, args: &[String], io: Io) -> i32 {
        let o = Opts::parse(args);
        let decompress = o.has('d');
        let mut status = 0;
        for f in &o.args {
            match self.fs_read(f) {
                Ok(data) => {
                    if decompress {
                        self.err(io, format!("gzip: {f}: not in gzip format\n"));
                        status = 1;
                        continue;
                    }
                    let mut gz = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3];
                    gz.extend_from_slice(&data);
                    if self.fs_write(&format!("{f}.gz"), &gz, false, false).is_ok() {
                        if let Ok((c, _)) = self.st.fs.lstat(&self.st.cwd, f) {
                            let _ = self.st.fs.remove_tree(&c);
                        }
                    }
                }
                Err(e) => {
                    self.err(io, format!("gzip: {f}: {e}\n"));
                    status = 1;
                }
            }
        }
        status
    }

    pub(crate) fn cmd_dd(&mut self, args: &[String], io: Io) -> i32 {
        let mut input = None;
        let mut output = None;
        let mut bs: usize = 512;
        let mut count: Option<usize> = None;
        let mut skip = 0usize;
        for a in args {
            let Some((k, v)) = a.split_once('=') else {
                self.err(
                    io,
                    format!(
                        "dd: unrecognized operand ‘{a}’\nTry 'dd --help' for more information.\n"
                    ),
                );
                return 1;
            };
            match k {
                "if" => input = Some(v.to_string()),
                "of" => output = Some(v.to_string()),
                "bs" | "ibs" | "obs" => bs = parse_size(v).unwrap_or(512).clamp(1, 1 << 20),
                "count" => count = parse_size(v),
                "skip" => skip = parse_size(v).unwrap_or(0),
                _ => {}
            }
        }
        let data = match &input {
            Some(f) => match self.fs_read(f) {
                Ok(d) => d,
                Err(e) => {
                    self.err(io, format!("dd: failed to open '{f}': {e}\n"));
                    return 1;
                }
            },
            None => self.read_all(io),
        };
        let start = skip.saturating_mul(bs).min(data.len());
        let max = count.map_or(usize::MAX, |c| c.saturating_mul(bs));
        let slice = data
            .get(start..start.saturating_add(max).min(data.len()))
            .unwrap_or(&[]);
        let n = slice.len();
        let slice = slice.to_vec();
        match &output {
            Some(f) => {
                if let Err(e) = self.fs_write(f, &slice, false, true) {
                    self.err(io, format!("dd: failed to open '{f}': {e}\n"));
                    return 1;
                }
            }
            None => self.out(io, &slice),
        }
        let full = n / bs;
        let part = usize::from(n % bs != 0);
        self.err(
            io,
            format!(
                "{full}+{part} records in\n{full}+{part} records out\n{n} bytes{} copied, 0.000{:03} s, {} MB/s\n",
                if n >= 1000 { format!(" ({} kB, {} KiB)", n / 1000, n / 1024) } else { String::new() },
                100 + fastrand::u32(0..800),
                (n / 1000).max(1)
            ),
        );
        0
    }

    pub(crate) fn cmd_tee(&mut self, args: &[String], io: Io) -> i32 {
        let o = Opts::parse(args);
        let append = o.has('a');
        let data = self.read_all(io);
        let mut status = 0;
        for f in &o.args {
            if let Err(e) = self.fs_write(f, &data, append, true) {
                self.err(io, format!("tee: {f}: {e}\n"));
                status = 1;
            }
        }
        self.out(io, data);
        status
    }
}

fn parse_size(v: &str) -> Option<usize> {
    let (num, mult) = match v.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => {
            let m = match &v[i..] {
                "c" => 1,
                "w" => 2,
                "b" => 512,
                "k" | "K" | "KiB" => 1024,
                "kB" => 1000,
                "M" | "MiB" => 1 << 20,
                "MB" => 1_000_000,
                "G" | "GiB" => 1 << 30,
                _ => return None,
            };
            (&v[..i], m)
        }
        None => (v, 1),
    };
    num.parse::<usize>().ok().map(|n| n.saturating_mul(mult))
}

fn blocks_of(n: &Node) -> u64 {
    match n.kind {
        Kind::Dir => 4,
        Kind::File => n.size().div_ceil(4096) * 4,
        _ => 0,
    }
}

/// `ls`-style column layout (column-major) for a terminal `width` wide.
pub(crate) fn columns(names: &[String], width: usize) -> String {
    let n = names.len();
    if n == 0 {
        return String::new();
    }
    let lens: Vec<usize> = names.iter().map(|s| s.chars().count()).collect();
    let mut best_rows = n;
    for cols in (1..=n.min(width / 3 + 1)).rev() {
        let rows = n.div_ceil(cols);
        let mut total = 0;
        for c in 0..cols {
            let w = (0..rows)
                .filter_map(|r| lens.get(c * rows + r))
                .max()
                .copied()
                .unwrap_or(0);
            if w == 0 {
                continue;
            }
            total += w + 2;
        }
        if total <= width + 2 {
            best_rows = rows;
            break;
        }
    }
    let rows = best_rows.max(1);
    let cols = n.div_ceil(rows);
    let widths: Vec<usize> = (0..cols)
        .map(|c| {
            (0..rows)
                .filter_map(|r| lens.get(c * rows + r))
                .max()
                .copied()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for r in 0..rows {
        let mut line = String::new();
        for c in 0..cols {
            let Some(name) = names.get(c * rows + r) else {
                continue;
            };
            let last = c + 1 == cols || names.get((c + 1) * rows + r).is_none();
            line.push_str(name);
            if !last {
                let pad = widths.get(c).copied().unwrap_or(0) + 2 - name.chars().count();
                line.push_str(&" ".repeat(pad));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// Applies an octal or symbolic (`u+x,go-w`, `+x`, `a=r`) mode.
fn apply_mode(old: u32, spec: &str, is_dir: bool) -> Option<u32> {
    if !spec.is_empty() && spec.chars().all(|c| ('0'..='7').contains(&c)) {
        return u32::from_str_radix(spec, 8).ok().filter(|&m| m <= 0o7777);
    }
    let mut mode = old;
    for clause in spec.split(',') {
        let who_end = clause.find(['+', '-', '=']).unwrap_or(clause.len());
        let who = &clause[..who_end];
        if !who.chars().all(|c| "ugoa".contains(c)) {
            return None;
        }
        let mut mask = 0u32;
        if who.is_empty() || who.contains('a') {
            mask = 0o7777;
        }
        if who.contains('u') {
            mask |= 0o4700;
        }
        if who.contains('g') {
            mask |= 0o2070;
        }
        if who.contains('o') {
            mask |= 0o1007;
        }
        let mut rest = &clause[who_end..];
        if rest.is_empty() {
            return None;
        }
        while let Some(op) = rest.chars().next() {
            if !matches!(op, '+' | '-' | '=') {
                return None;
            }
            rest = &rest[1..];
            let perm_end = rest.find(['+', '-', '=']).unwrap_or(rest.len());
            let perms = &rest[..perm_end];
            rest = &rest[perm_end..];
            let mut bits = 0u32;
            for p in perms.chars() {
                bits |= match p {
                    'r' => 0o444,
                    'w' => 0o222,
                    'x' => 0o111,
                    'X' if is_dir || old & 0o111 != 0 => 0o111,
                    'X' => 0,
                    's' => 0o6000,
                    't' => 0o1000,
                    _ => return None,
                };
            }
            let bits = bits & mask;
            match op {
                '+' => mode |= bits,
                '-' => mode &= !bits,
                _ => mode = (mode & !(mask & 0o7777)) | bits,
            }
        }
    }
    Some(mode & 0o7777)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symbolic_modes() {
        assert_eq!(apply_mode(0o644, "+x", false), Some(0o755));
        assert_eq!(apply_mode(0o644, "777", false), Some(0o777));
        assert_eq!(apply_mode(0o755, "go-rx", false), Some(0o700));
        assert_eq!(apply_mode(0o644, "u=rwx,g=rx,o=", false), Some(0o750));
        assert_eq!(apply_mode(0o644, "q+x", false), None);
        assert_eq!(apply_mode(0o644, "99", false), None);
    }

    #[test]
    fn column_layout() {
        let names: Vec<String> = ["a", "bb", "ccc"].iter().map(|s| s.to_string()).collect();
        assert_eq!(columns(&names, 80), "a  bb  ccc\n");
    }
}
