//! The interpreter: expands words, wires redirections and pipes through in-memory
//! buffers, enforces the per-line budgets, and dispatches to the commands.

use std::collections::{BTreeMap, VecDeque};
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;

use super::fs::{self, Access, Content, FileSystem, FsError, Kind, Node};
use super::parser::{
    self, AndOr, Command, Compound, Connector, List, ParamOp, Pipeline, RedirOp, Redirect,
    SimpleCommand, Word, WordPart,
};
use super::persona::Persona;
use super::text;
use super::{Clock, Outcome, ShellHost, ShellLimits, ShellOptions};

pub(crate) type Fut<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The terminal buffer.
pub(crate) const TERM: usize = 0;
/// Discard output (`/dev/null`).
pub(crate) const NULL: usize = usize::MAX;
/// No stdin (reads see end of file at once).
pub(crate) const NO_INPUT: usize = usize::MAX;

/// Cap on files reported to the host per line.
const MAX_WRITTEN_PER_LINE: usize = 256;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Var {
    pub value: String,
    pub exported: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct Identity {
    pub user: String,
    pub uid: u32,
    pub gid: u32,
    pub cwd: String,
    pub vars: BTreeMap<String, Var>,
}

impl Identity {
    pub fn user_name(&self) -> &str {
        &self.user
    }
}

/// Per-session state that survives between lines.
#[derive(Debug)]
pub(crate) struct State {
    pub persona: Arc<Persona>,
    pub fs: FileSystem,
    pub limits: ShellLimits,
    pub clock: Clock,
    pub client_ip: Option<IpAddr>,
    pub user: String,
    pub uid: u32,
    pub gid: u32,
    pub cwd: String,
    pub vars: BTreeMap<String, Var>,
    pub positional: Vec<String>,
    pub arg0: String,
    pub last_status: i32,
    pub functions: BTreeMap<String, Arc<Command>>,
    pub aliases: BTreeMap<String, String>,
    pub history: VecDeque<String>,
    pub pid: u32,
    pub next_pid: u32,
    pub last_bg: Option<u32>,
    pub user_stack: Vec<Identity>,
    pub login_time: i64,
}

impl State {
    pub fn new(o: ShellOptions) -> Self {
        let now = o.clock.now();
        let mut fs = o.fs;
        fs.set_limits(o.limits.max_overlay_bytes, o.limits.max_overlay_nodes);
        // PIDs grow with uptime like a real host's; derived, so a pinned clock gives
        // stable output.
        let up = (now - o.persona.boot_time).max(0) as u64;
        let pid = 1000 + (o.persona.derive(90, 30_000) + (up / 37) % 20_000) as u32;
        let mut st = State {
            persona: o.persona,
            fs,
            limits: o.limits,
            clock: o.clock,
            client_ip: o.client_ip,
            user: String::new(),
            uid: 0,
            gid: 0,
            cwd: "/".into(),
            vars: BTreeMap::new(),
            positional: Vec::new(),
            arg0: "-bash".into(),
            last_status: 0,
            functions: BTreeMap::new(),
            aliases: BTreeMap::new(),
            history: VecDeque::new(),
            pid,
            next_pid: pid + 3,
            last_bg: None,
            user_stack: Vec::new(),
            login_time: now,
        };
        let user = if o.user.is_empty() || o.user.contains(['/', ':', '\n']) {
            "root".to_string()
        } else {
            o.user
        };
        st.become_user(&user);
        for (k, v) in o.env {
            if is_name(&k) {
                st.set_var(&k, v, true);
            }
        }
        st
    }

    /// Switches identity and resets the login environment (as `su -` would).
    pub fn become_user(&mut self, user: &str) {
        let persona = self.persona.clone();
        self.uid = persona.uid_of(user);
        self.gid = self.uid;
        self.user = user.to_string();
        let home = persona.home_of(user);
        // Accounts the image does not know get a home on first login, like
        // `pam_mkhomedir` would make.
        if !self.fs.exists("/", &home) {
            let _ = self.fs.put(
                &home,
                Node::dir(0o750, self.uid, self.gid, self.clock.now()),
            );
        }
        self.cwd = home.clone();
        let path = if self.uid == 0 {
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
        } else {
            "/usr/local/bin:/usr/bin:/bin:/usr/local/games:/usr/games"
        };
        let mut vars = BTreeMap::new();
        let mut set = |k: &str, v: String, exported: bool| {
            vars.insert(k.to_string(), Var { value: v, exported });
        };
        set("HOME", home.clone(), true);
        set("USER", user.to_string(), true);
        set("LOGNAME", user.to_string(), true);
        set("SHELL", "/bin/bash".into(), true);
        set("PATH", path.into(), true);
        set("PWD", home.clone(), true);
        set("LANG", "C.UTF-8".into(), true);
        set("TERM", "xterm-256color".into(), true);
        set("SHLVL", "1".into(), true);
        set("MAIL", format!("/var/mail/{user}"), true);
        set("XDG_SESSION_TYPE", "tty".into(), true);
        set(
            "XDG_SESSION_ID",
            (persona.derive(91, 900) + 3).to_string(),
            true,
        );
        set("XDG_RUNTIME_DIR", format!("/run/user/{}", self.uid), true);
        set("MOTD_SHOWN", "pam".into(), true);
        set("SSH_TTY", "/dev/pts/0".into(), true);
        if let Some(ip) = self.client_ip {
            let port = 32_768 + (self.clock.now().unsigned_abs() % 28_000) as u16;
            set("SSH_CLIENT", format!("{ip} {port} 22"), true);
            set(
                "SSH_CONNECTION",
                format!("{ip} {port} {} 22", persona.ip),
                true,
            );
        }
        set("HOSTNAME", persona.hostname.clone(), false);
        set("HISTSIZE", "1000".into(), false);
        set("HISTFILESIZE", "2000".into(), false);
        set("OPTIND", "1".into(), false);
        set(
            "PS1",
            "${debian_chroot:+($debian_chroot)}\\u@\\h:\\w\\$ ".into(),
            false,
        );
        self.vars = vars;
    }

    pub fn var(&self, name: &str) -> Option<&str> {
        self.vars.get(name).map(|v| v.value.as_str())
    }

    pub fn set_var(&mut self, name: &str, value: String, export: bool) {
        if name == "PWD" {
            // bash keeps its own notion of the directory; writing PWD does not cd.
        }
        let exported = export || self.vars.get(name).is_some_and(|v| v.exported);
        self.vars.insert(name.to_string(), Var { value, exported });
    }

    pub fn home(&self) -> String {
        self.persona.home_of(&self.user)
    }

    pub fn now(&self) -> i64 {
        self.clock.now()
    }

    pub fn display_cwd(&self) -> String {
        let home = self.home();
        if self.cwd == home {
            "~".into()
        } else if let Some(rest) = self.cwd.strip_prefix(&format!("{home}/")) {
            format!("~/{rest}")
        } else {
            self.cwd.clone()
        }
    }

    pub fn prompt(&self) -> String {
        format!(
            "{}@{}:{}{} ",
            self.user,
            self.persona.hostname,
            self.display_cwd(),
            if self.uid == 0 { '#' } else { '$' }
        )
    }

    pub fn alloc_pid(&mut self) -> u32 {
        self.next_pid += 1 + self.next_pid % 3;
        self.next_pid
    }
}

fn is_name(s: &str) -> bool {
    let mut it = s.chars();
    matches!(it.next(), Some(c) if c == '_' || c.is_ascii_alphabetic())
        && it.all(|c| c == '_' || c.is_ascii_alphanumeric())
}

/// Where a command's streams go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Io {
    pub stdin: usize,
    pub out: usize,
    pub err: usize,
}

#[derive(Debug, Default)]
pub(crate) struct Buf {
    data: Vec<u8>,
}

#[derive(Debug, Default)]
pub(crate) struct Input {
    data: Vec<u8>,
    pos: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flow {
    Normal,
    Break(u32),
    Continue(u32),
    Return,
    Exit,
}

/// How error messages are prefixed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// `-bash: foo: command not found`.
    Interactive,
    /// `bash: line 1: foo: command not found` (ssh exec, `bash -c`).
    BashC,
    /// `sh: 1: foo: not found` (dash: `sh -c`, `sh script`).
    Dash,
}

pub(crate) struct Interp<'a> {
    pub st: &'a mut State,
    pub host: &'a mut dyn ShellHost,
    bufs: Vec<Buf>,
    free_bufs: Vec<usize>,
    inputs: Vec<Input>,
    pub commands_left: u64,
    pub work_left: u64,
    pub depth: u32,
    pub aborted: bool,
    pub flow: Flow,
    written: BTreeMap<String, Option<Arc<[u8]>>>,
    pub fetches: usize,
    pub mode: Mode,
    pub script_name: String,
    pub now: i64,
    pub busybox: bool,
    in_subshell: u32,
}

/// Runs one line for the session (entry point of [`super::Shell::run`]).
pub(crate) async fn run_line(
    st: &mut State,
    line: &str,
    host: &mut dyn ShellHost,
    exec: bool,
) -> Outcome {
    let trimmed = line.trim_end_matches(['\n', '\r']);
    if !trimmed.trim().is_empty() {
        st.history.push_back(trimmed.to_string());
        while st.history.len() > st.limits.max_history.max(1) {
            st.history.pop_front();
        }
    }
    let mut it = Interp::new(st, host, if exec { Mode::BashC } else { Mode::Interactive });
    let status = match parser::parse(trimmed) {
        Ok(list) => {
            let s = it.exec_list(&list, it.term_io()).await;
            if it.aborted { 130 } else { s }
        }
        Err(e) => {
            let msg = if exec {
                format!("bash: -c: line 1: {e}\n")
            } else {
                format!("-bash: {e}\n")
            };
            it.write(TERM, msg.as_bytes());
            2
        }
    };
    let mut exit = false;
    if it.flow == Flow::Exit {
        match it.st.user_stack.pop() {
            Some(id) => {
                it.st.user = id.user;
                it.st.uid = id.uid;
                it.st.gid = id.gid;
                it.st.cwd = id.cwd;
                it.st.vars = id.vars;
            }
            None => {
                exit = true;
                it.write(TERM, b"logout\n");
            }
        }
    }
    it.st.last_status = status;
    it.report_written();
    let output = std::mem::take(&mut it.bufs[TERM].data);
    Outcome {
        output: if exec && exit {
            // `logout` is only printed by interactive shells.
            output
                .strip_suffix(b"logout\n")
                .map(<[u8]>::to_vec)
                .unwrap_or(output)
        } else {
            output
        },
        exit_status: status,
        exit,
    }
}

impl<'a> Interp<'a> {
    pub fn new(st: &'a mut State, host: &'a mut dyn ShellHost, mode: Mode) -> Self {
        let now = st.now();
        let commands_left = st.limits.max_commands;
        let work_left = st.limits.max_work_bytes;
        Interp {
            st,
            host,
            bufs: vec![Buf::default()],
            free_bufs: Vec::new(),
            inputs: Vec::new(),
            commands_left,
            work_left,
            depth: 0,
            aborted: false,
            flow: Flow::Normal,
            written: BTreeMap::new(),
            fetches: 0,
            mode,
            script_name: String::new(),
            now,
            busybox: false,
            in_subshell: 0,
        }
    }

    pub fn term_io(&self) -> Io {
        Io {
            stdin: NO_INPUT,
            out: TERM,
            err: TERM,
        }
    }

    pub fn stopped(&self) -> bool {
        self.aborted || self.flow != Flow::Normal
    }

    // ---- buffers ----

    pub fn write(&mut self, buf: usize, data: &[u8]) {
        if buf == NULL || data.is_empty() {
            return;
        }
        let cap = self.st.limits.max_output_bytes;
        let n = data.len() as u64;
        if n > self.work_left {
            self.work_left = 0;
            self.aborted = true;
            return;
        }
        self.work_left -= n;
        if let Some(b) = self.bufs.get_mut(buf) {
            let room = cap.saturating_sub(b.data.len());
            b.data
                .extend_from_slice(data.get(..room.min(data.len())).unwrap_or(&[]));
        }
    }

    pub fn out(&mut self, io: Io, data: impl AsRef<[u8]>) {
        self.write(io.out, data.as_ref());
    }

    pub fn err(&mut self, io: Io, data: impl AsRef<[u8]>) {
        self.write(io.err, data.as_ref());
    }

    /// `-bash: <msg>` style error line.
    pub fn errln(&mut self, io: Io, msg: &str) {
        let line = format!("{}: {msg}\n", self.prefix());
        self.write(io.err, line.as_bytes());
    }

    pub fn prefix(&self) -> String {
        match self.mode {
            Mode::Interactive => "-bash".into(),
            Mode::BashC => {
                if self.script_name.is_empty() {
                    "bash: line 1".into()
                } else {
                    format!("{}: line 1", self.script_name)
                }
            }
            Mode::Dash => {
                if self.script_name.is_empty() {
                    "sh: 1".into()
                } else {
                    format!("{}: 1", self.script_name)
                }
            }
        }
    }

    pub fn buf_full(&self, buf: usize) -> bool {
        buf != NULL
            && self
                .bufs
                .get(buf)
                .is_some_and(|b| b.data.len() >= self.st.limits.max_output_bytes)
    }

    pub fn new_buf(&mut self) -> usize {
        if let Some(i) = self.free_bufs.pop() {
            return i;
        }
        self.bufs.push(Buf::default());
        self.bufs.len() - 1
    }

    pub fn take_buf(&mut self, id: usize) -> Vec<u8> {
        if id == NULL || id == TERM {
            return Vec::new();
        }
        let data = self
            .bufs
            .get_mut(id)
            .map(|b| std::mem::take(&mut b.data))
            .unwrap_or_default();
        self.free_bufs.push(id);
        data
    }

    pub fn new_input(&mut self, data: Vec<u8>) -> usize {
        self.inputs.push(Input { data, pos: 0 });
        self.inputs.len() - 1
    }

    /// Everything left on stdin.
    pub fn read_all(&mut self, io: Io) -> Vec<u8> {
        match self.inputs.get_mut(io.stdin) {
            Some(inp) => {
                let rest = inp.data.get(inp.pos..).unwrap_or(&[]).to_vec();
                inp.pos = inp.data.len();
                rest
            }
            None => Vec::new(),
        }
    }

    /// One line from stdin without its newline; `None` at end of input.
    pub fn read_line(&mut self, io: Io) -> Option<String> {
        let inp = self.inputs.get_mut(io.stdin)?;
        let rest = inp.data.get(inp.pos..)?;
        if rest.is_empty() {
            return None;
        }
        let (line, used) = match rest.iter().position(|&b| b == b'\n') {
            Some(i) => (rest.get(..i).unwrap_or(&[]), i + 1),
            None => (rest, rest.len()),
        };
        let s = String::from_utf8_lossy(line).into_owned();
        inp.pos += used;
        Some(s)
    }

    pub fn has_stdin(&self, io: Io) -> bool {
        io.stdin != NO_INPUT
    }

    // ---- filesystem helpers ----

    pub fn fs_read(&mut self, path: &str) -> Result<Vec<u8>, FsError> {
        let limit = self.st.limits.max_output_bytes;
        let data = self.st.fs.read(
            &self.st.cwd,
            path,
            self.st.uid,
            self.st.gid,
            self.now,
            limit,
        )?;
        let n = data.len() as u64;
        self.work_left = self.work_left.saturating_sub(n);
        if self.work_left == 0 {
            self.aborted = true;
        }
        Ok(data)
    }

    /// Writes (or appends to) a file as the current user. `notify` reports it to
    /// the host at the end of the line. Returns the canonical path.
    pub fn fs_write(
        &mut self,
        path: &str,
        data: &[u8],
        append: bool,
        notify: bool,
    ) -> Result<String, FsError> {
        let (canon, existing) = self.st.fs.resolve(&self.st.cwd, path, true)?;
        let (uid, gid) = (self.st.uid, self.st.gid);
        let node = match existing {
            Some(n) => {
                match n.kind {
                    Kind::Dir => return Err(FsError::IsDir),
                    Kind::CharDev(..) => return Ok(canon),
                    _ => {}
                }
                if matches!(n.content, Content::Dynamic(_)) {
                    return Err(FsError::PermissionDenied);
                }
                if !fs::may(&n, uid, gid, Access::Write) {
                    return Err(FsError::PermissionDenied);
                }
                let mut new = n.clone();
                let mut bytes = if append {
                    self.st.fs.content_of(&n, self.now, usize::MAX)?
                } else {
                    Vec::new()
                };
                bytes.extend_from_slice(data);
                new.content = Content::Bytes(Arc::from(bytes));
                new.mtime = self.now;
                new
            }
            None => {
                let parent = fs::parent(&canon).to_string();
                let (_, pnode) = self.st.fs.stat("/", &parent)?;
                if !pnode.is_dir() {
                    return Err(FsError::NotDir);
                }
                if !fs::may(&pnode, uid, gid, Access::Write) {
                    return Err(FsError::PermissionDenied);
                }
                if fs::base_name(&canon).len() > 255 {
                    return Err(FsError::NameTooLong);
                }
                Node::file(Arc::from(data), 0o644, uid, gid, self.now)
            }
        };
        self.st.fs.put(&canon, node)?;
        if notify {
            self.mark_written(&canon);
        }
        Ok(canon)
    }

    pub fn mark_written(&mut self, canon: &str) {
        if self.written.len() < MAX_WRITTEN_PER_LINE || self.written.contains_key(canon) {
            self.written.insert(canon.to_string(), None);
        }
    }

    /// Called before a file is removed or renamed so the host still gets what the
    /// attacker wrote earlier in the line.
    pub fn before_remove(&mut self, canon: &str) {
        if let Some(slot) = self.written.get(canon)
            && slot.is_none()
            && let Some(data) = self.st.fs.read_file(canon)
        {
            self.written
                .insert(canon.to_string(), Some(Arc::from(data)));
        }
    }

    /// Moves the "written" mark of a renamed file to its new name.
    pub fn after_rename(&mut self, from: &str, to: &str) {
        if self.written.remove(from).is_some() {
            self.written.insert(to.to_string(), None);
        }
    }

    fn report_written(&mut self) {
        let written = std::mem::take(&mut self.written);
        for (path, snapshot) in written {
            let content = match self.st.fs.read_file(&path) {
                Some(c) => Some(c),
                None => snapshot.map(|s| s.to_vec()),
            };
            if let Some(c) = content
                && !c.is_empty()
            {
                self.host.file_written(&path, &c);
            }
        }
    }

    // ---- execution ----

    pub fn exec_list<'s>(&'s mut self, list: &'s List, io: Io) -> Fut<'s, i32> {
        Box::pin(async move {
            let mut status = self.st.last_status;
            for item in list {
                if self.stopped() {
                    break;
                }
                status = self.exec_and_or(&item.and_or, io).await;
                if item.background && !self.stopped() {
                    let pid = self.st.alloc_pid();
                    self.st.last_bg = Some(pid);
                    if self.mode == Mode::Interactive && self.depth == 0 {
                        self.out(io, format!("[1] {pid}\n"));
                    }
                    status = 0;
                }
                self.st.last_status = status;
            }
            status
        })
    }

    fn exec_and_or<'s>(&'s mut self, ao: &'s AndOr, io: Io) -> Fut<'s, i32> {
        Box::pin(async move {
            let mut status = self.exec_pipeline(&ao.first, io).await;
            for (conn, p) in &ao.rest {
                if self.stopped() {
                    break;
                }
                self.st.last_status = status;
                let run = match conn {
                    Connector::And => status == 0,
                    Connector::Or => status != 0,
                };
                if run {
                    status = self.exec_pipeline(p, io).await;
                }
            }
            status
        })
    }

    fn exec_pipeline<'s>(&'s mut self, p: &'s Pipeline, io: Io) -> Fut<'s, i32> {
        Box::pin(async move {
            let n = p.commands.len();
            let mut status = 0;
            if n == 1 {
                if let Some(c) = p.commands.first() {
                    status = self.exec_command(c, io).await;
                }
            } else {
                let mut stdin = io.stdin;
                for (i, c) in p.commands.iter().enumerate() {
                    if self.stopped() {
                        break;
                    }
                    let last = i + 1 == n;
                    let out = if last { io.out } else { self.new_buf() };
                    let stage_io = Io {
                        stdin,
                        out,
                        err: io.err,
                    };
                    // Each stage of a multi-command pipeline is a subshell.
                    let saved = self.save_env();
                    status = self.exec_command(c, stage_io).await;
                    self.restore_env(saved);
                    if self.flow == Flow::Exit {
                        self.flow = Flow::Normal;
                    }
                    if !last {
                        let data = self.take_buf(out);
                        stdin = self.new_input(data);
                    }
                }
            }
            if p.negated {
                status = i32::from(status == 0);
            }
            status
        })
    }

    pub fn exec_command<'s>(&'s mut self, c: &'s Command, io: Io) -> Fut<'s, i32> {
        Box::pin(async move {
            match c {
                Command::Simple(s) => self.exec_simple(s, io).await,
                Command::Compound(comp, redirs) => {
                    if !self.charge() {
                        return 1;
                    }
                    let Some((rio, pending)) = self.setup_redirects(redirs, io).await else {
                        return 1;
                    };
                    let status = self.exec_compound(comp, rio).await;
                    self.finish_redirects(pending, rio);
                    status
                }
                Command::FunctionDef(name, body) => {
                    self.st.functions.insert(name.clone(), body.clone());
                    0
                }
            }
        })
    }

    /// Takes one unit of the command budget; false (and the line is abandoned) when
    /// it is spent.
    pub fn charge(&mut self) -> bool {
        if self.commands_left == 0 {
            self.aborted = true;
            return false;
        }
        self.commands_left -= 1;
        true
    }

    fn exec_compound<'s>(&'s mut self, c: &'s Compound, io: Io) -> Fut<'s, i32> {
        Box::pin(async move {
            match c {
                Compound::Brace(list) => self.exec_list(list, io).await,
                Compound::Subshell(list) => {
                    if !self.enter() {
                        return self.too_deep(io);
                    }
                    let saved = self.save_env();
                    self.in_subshell += 1;
                    let s = self.exec_list(list, io).await;
                    self.in_subshell -= 1;
                    self.restore_env(saved);
                    if self.flow == Flow::Exit {
                        self.flow = Flow::Normal;
                    }
                    self.depth -= 1;
                    s
                }
                Compound::If {
                    branches,
                    else_body,
                } => {
                    for (cond, body) in branches {
                        let s = self.exec_list(cond, io).await;
                        if self.stopped() {
                            return s;
                        }
                        if s == 0 {
                            return self.exec_list(body, io).await;
                        }
                    }
                    match else_body {
                        Some(b) => self.exec_list(b, io).await,
                        None => 0,
                    }
                }
                Compound::While { cond, body, until } => {
                    let mut status = 0;
                    loop {
                        if self.stopped() || !self.charge() {
                            break;
                        }
                        let c = self.exec_list(cond, io).await;
                        if self.stopped() {
                            break;
                        }
                        if (c == 0) == *until {
                            break;
                        }
                        status = self.exec_list(body, io).await;
                        if self.loop_control() {
                            break;
                        }
                    }
                    status
                }
                Compound::For { var, items, body } => {
                    let values = match items {
                        Some(words) => self.expand_words(words).await,
                        None => self.st.positional.clone(),
                    };
                    let mut status = 0;
                    for v in values {
                        if self.stopped() || !self.charge() {
                            break;
                        }
                        self.st.set_var(var, v, false);
                        status = self.exec_list(body, io).await;
                        if self.loop_control() {
                            break;
                        }
                    }
                    status
                }
                Compound::Case { word, arms } => {
                    let subject = self.expand_single(word).await;
                    for (pats, body) in arms {
                        for p in pats {
                            let pat = self.expand_pattern(p).await;
                            if text::glob_match(&pat, &subject) {
                                return self.exec_list(body, io).await;
                            }
                        }
                    }
                    0
                }
            }
        })
    }

    /// Handles break/continue after a loop body; true when the loop must stop.
    fn loop_control(&mut self) -> bool {
        match self.flow {
            Flow::Break(n) => {
                self.flow = if n > 1 {
                    Flow::Break(n - 1)
                } else {
                    Flow::Normal
                };
                true
            }
            Flow::Continue(n) => {
                if n > 1 {
                    self.flow = Flow::Continue(n - 1);
                    true
                } else {
                    self.flow = Flow::Normal;
                    false
                }
            }
            Flow::Normal => self.aborted,
            _ => true,
        }
    }

    pub fn enter(&mut self) -> bool {
        if self.depth >= self.st.limits.max_depth {
            return false;
        }
        self.depth += 1;
        true
    }

    pub fn too_deep(&mut self, io: Io) -> i32 {
        self.errln(io, "fork: retry: Resource temporarily unavailable");
        1
    }

    pub fn save_env(&self) -> SavedEnv {
        SavedEnv {
            vars: self.st.vars.clone(),
            cwd: self.st.cwd.clone(),
            positional: self.st.positional.clone(),
            functions: self.st.functions.clone(),
            user: (self.st.user.clone(), self.st.uid, self.st.gid),
        }
    }

    pub fn restore_env(&mut self, s: SavedEnv) {
        self.st.vars = s.vars;
        self.st.cwd = s.cwd;
        self.st.positional = s.positional;
        self.st.functions = s.functions;
        (self.st.user, self.st.uid, self.st.gid) = s.user;
    }

    fn exec_simple<'s>(&'s mut self, cmd: &'s SimpleCommand, io: Io) -> Fut<'s, i32> {
        Box::pin(async move {
            if !self.charge() {
                return 1;
            }
            let argv = self.expand_words(&cmd.words).await;
            if self.stopped() {
                return 1;
            }
            let mut assigns = Vec::with_capacity(cmd.assigns.len());
            for (name, w) in &cmd.assigns {
                let v = self.expand_single(w).await;
                assigns.push((name.clone(), v));
            }
            let Some((rio, pending)) = self.setup_redirects(&cmd.redirects, io).await else {
                return 1;
            };
            let status = if argv.is_empty() {
                for (name, v) in assigns {
                    self.assign(&name, v);
                }
                // A bare assignment's status is that of its last command
                // substitution, or 0.
                0
            } else {
                // `VAR=x cmd`: the variables are visible to cmd only.
                let saved: Vec<(String, Option<Var>)> = assigns
                    .iter()
                    .map(|(n, _)| {
                        let n = n.trim_end_matches('+').to_string();
                        let old = self.st.vars.get(&n).cloned();
                        (n, old)
                    })
                    .collect();
                for (name, v) in assigns {
                    self.assign(&name, v);
                    if let Some(var) = self.st.vars.get_mut(name.trim_end_matches('+')) {
                        var.exported = true;
                    }
                }
                let s = self.run_argv(argv, rio).await;
                for (n, old) in saved {
                    match old {
                        Some(v) => {
                            self.st.vars.insert(n, v);
                        }
                        None => {
                            self.st.vars.remove(&n);
                        }
                    }
                }
                s
            };
            self.finish_redirects(pending, rio);
            status
        })
    }

    pub fn assign(&mut self, name: &str, value: String) {
        let max = self.st.limits.max_output_bytes;
        let (name, append) = match name.strip_suffix('+') {
            Some(n) => (n, true),
            None => (name, false),
        };
        let mut value = if append {
            let mut old = self.st.var(name).unwrap_or("").to_string();
            old.push_str(&value);
            old
        } else {
            value
        };
        if value.len() > max {
            let mut cut = max;
            while !value.is_char_boundary(cut) {
                cut -= 1;
            }
            value.truncate(cut);
        }
        self.work_left = self.work_left.saturating_sub(value.len() as u64);
        if self.work_left == 0 {
            self.aborted = true;
        }
        if name == "PWD" || name == "HOME" || name == "PATH" || is_name(name) {
            self.st.set_var(name, value, false);
        }
    }

    /// Runs an expanded command line: function, builtin, or file found on PATH.
    pub fn run_argv(&mut self, argv: Vec<String>, io: Io) -> Fut<'_, i32> {
        Box::pin(async move {
            let Some(name) = argv.first().cloned() else {
                return 0;
            };
            if let Some(body) = self.st.functions.get(&name).cloned() {
                if !self.enter() {
                    return self.too_deep(io);
                }
                let saved_pos = std::mem::replace(
                    &mut self.st.positional,
                    argv.get(1..).unwrap_or(&[]).to_vec(),
                );
                let s = self.exec_command(&body, io).await;
                self.st.positional = saved_pos;
                if self.flow == Flow::Return {
                    self.flow = Flow::Normal;
                }
                self.depth -= 1;
                return s;
            }
            if super::commands::is_builtin(&name) {
                return self.builtin(&name, argv, io).await;
            }
            if name.contains('/') {
                return self.exec_path(&name, argv, io).await;
            }
            match self.lookup_path(&name) {
                Some((canon, node)) => self.exec_node(&canon, node, argv, io).await,
                None => {
                    if name.is_empty() {
                        self.errln(io, ": command not found");
                    } else if self.mode == Mode::Dash {
                        let msg = format!("{}: {name}: not found\n", self.prefix());
                        self.err(io, msg);
                    } else {
                        self.errln(io, &format!("{name}: command not found"));
                    }
                    127
                }
            }
        })
    }

    /// Finds an executable on `$PATH`.
    pub fn lookup_path(&self, name: &str) -> Option<(String, Node)> {
        let path = self.st.var("PATH").unwrap_or("").to_string();
        for dir in path.split(':') {
            let dir = if dir.is_empty() { "." } else { dir };
            let candidate = format!("{dir}/{name}");
            if let Ok((canon, node)) = self.st.fs.stat(&self.st.cwd, &candidate)
                && node.kind == Kind::File
                && fs::may(&node, self.st.uid, self.st.gid, Access::Exec)
            {
                return Some((canon, node));
            }
        }
        None
    }

    fn exec_path<'s>(&'s mut self, path: &'s str, argv: Vec<String>, io: Io) -> Fut<'s, i32> {
        Box::pin(async move {
            match self.st.fs.stat(&self.st.cwd, path) {
                Err(e) => {
                    self.errln(io, &format!("{path}: {e}"));
                    if e == FsError::NotFound { 127 } else { 126 }
                }
                Ok((_, node)) if node.is_dir() => {
                    self.errln(io, &format!("{path}: Is a directory"));
                    126
                }
                Ok((_, node)) if !fs::may(&node, self.st.uid, self.st.gid, Access::Exec) => {
                    self.errln(io, &format!("{path}: Permission denied"));
                    126
                }
                Ok((canon, node)) => self.exec_node(&canon, node, argv, io).await,
            }
        })
    }

    /// Runs an executable file: an image binary runs the emulated command of that
    /// name, a script is interpreted, a foreign ELF gets the kernel's answer.
    fn exec_node<'s>(
        &'s mut self,
        canon: &'s str,
        node: Node,
        argv: Vec<String>,
        io: Io,
    ) -> Fut<'s, i32> {
        Box::pin(async move {
            if let Content::Binary { seed, .. } = node.content {
                let name = super::commands::binary_name(seed)
                    .map(str::to_string)
                    .unwrap_or_else(|| fs::base_name(canon).to_string());
                return self.external(&name, argv, io).await;
            }
            let data = match self.st.fs.content_of(&node, self.now, usize::MAX) {
                Ok(d) => d,
                Err(e) => {
                    self.errln(io, &format!("{}: {e}", argv.first().map_or("", |s| s)));
                    return 126;
                }
            };
            let shown = argv.first().cloned().unwrap_or_default();
            if data.starts_with(b"\x7fELF") {
                return self.exec_elf(&shown, &data, io);
            }
            if let Some(rest) = data.strip_prefix(b"#!") {
                let first_line = rest.split(|&b| b == b'\n').next().unwrap_or(&[]);
                let interp = String::from_utf8_lossy(first_line).trim().to_string();
                let prog = interp.split_whitespace().next().unwrap_or("").to_string();
                let base = fs::base_name(&prog).to_string();
                let shell_like =
                    matches!(base.as_str(), "sh" | "bash" | "dash" | "ash" | "busybox")
                        || (base == "env" && interp.contains("sh"));
                if !shell_like {
                    self.errln(
                        io,
                        &format!("{shown}: {prog}: bad interpreter: No such file or directory"),
                    );
                    return 126;
                }
            }
            if data.contains(&0) {
                self.errln(
                    io,
                    &format!("{shown}: cannot execute binary file: Exec format error"),
                );
                return 126;
            }
            let script = String::from_utf8_lossy(&data).into_owned();
            let args = argv.get(1..).unwrap_or(&[]).to_vec();
            self.run_script(&script, &shown, args, io, true, Mode::BashC)
                .await
        })
    }

    /// An ELF the attacker supplied: x86/x86-64 "runs" silently (a daemonising bot
    /// prints nothing), any other machine is refused like the kernel would.
    fn exec_elf(&mut self, shown: &str, data: &[u8], io: Io) -> i32 {
        let machine = data
            .get(18..20)
            .map(|b| u16::from_le_bytes([b[0], b[1]]))
            .unwrap_or(0);
        let class_ok = data.len() >= 52;
        if class_ok && (machine == 0x3e || machine == 0x03) {
            let pid = self.st.alloc_pid();
            self.st.last_bg = Some(pid);
            0
        } else {
            self.errln(
                io,
                &format!("{shown}: cannot execute binary file: Exec format error"),
            );
            126
        }
    }

    /// Interprets script text. `subshell` keeps the caller's variables and
    /// directory (a child process); `source`/`eval` pass false.
    pub fn run_script<'s>(
        &'s mut self,
        script: &'s str,
        name: &'s str,
        args: Vec<String>,
        io: Io,
        subshell: bool,
        mode: Mode,
    ) -> Fut<'s, i32> {
        Box::pin(async move {
            if !self.enter() {
                return self.too_deep(io);
            }
            let list = match parser::parse(script) {
                Ok(l) => l,
                Err(e) => {
                    let msg = match mode {
                        Mode::Dash => format!("{name}: 1: {e}\n"),
                        _ => format!("{name}: line 1: {e}\n"),
                    };
                    self.err(io, msg);
                    self.depth -= 1;
                    return 2;
                }
            };
            let saved = subshell.then(|| self.save_env());
            let old_mode = self.mode;
            let old_name = std::mem::replace(&mut self.script_name, name.to_string());
            if subshell {
                self.mode = mode;
                self.in_subshell += 1;
                self.st.positional = args;
            }
            let status = self.exec_list(&list, io).await;
            if subshell {
                self.in_subshell -= 1;
                if let Some(s) = saved {
                    self.restore_env(s);
                }
                if self.flow == Flow::Exit || self.flow == Flow::Return {
                    self.flow = Flow::Normal;
                }
            } else if self.flow == Flow::Return {
                self.flow = Flow::Normal;
            }
            self.mode = old_mode;
            self.script_name = old_name;
            self.depth -= 1;
            if self.flow == Flow::Exit && subshell {
                self.flow = Flow::Normal;
            }
            status
        })
    }

    // ---- redirections ----

    async fn setup_redirects(&mut self, redirs: &[Redirect], io: Io) -> Option<(Io, Vec<Pending>)> {
        let mut io = io;
        let mut pending: Vec<Pending> = Vec::new();
        for r in redirs {
            let target = self.expand_single(&r.target).await;
            match r.op {
                RedirOp::HereDoc | RedirOp::HereString => {
                    let mut data = target.into_bytes();
                    if r.op == RedirOp::HereString {
                        data.push(b'\n');
                    }
                    if r.fd == 0 {
                        io.stdin = self.new_input(data);
                    }
                }
                RedirOp::In | RedirOp::ReadWrite => {
                    if target.is_empty() {
                        self.errln(io, ": No such file or directory");
                        return None;
                    }
                    match self.fs_read(&target) {
                        Ok(data) => {
                            if r.fd == 0 {
                                io.stdin = self.new_input(data);
                            }
                        }
                        Err(e) => {
                            self.errln(io, &format!("{target}: {e}"));
                            return None;
                        }
                    }
                }
                RedirOp::DupOut | RedirOp::DupIn => {
                    let dst = match target.as_str() {
                        "1" => Some(io.out),
                        "2" => Some(io.err),
                        "-" => Some(NULL),
                        "0" => None,
                        _ => {
                            if target.chars().all(|c| c.is_ascii_digit()) {
                                self.errln(io, &format!("{target}: Bad file descriptor"));
                                return None;
                            }
                            None
                        }
                    };
                    if let Some(d) = dst {
                        match r.fd {
                            1 => io.out = d,
                            2 => io.err = d,
                            _ => {}
                        }
                    }
                }
                RedirOp::Out | RedirOp::Append | RedirOp::OutErr | RedirOp::AppendOutErr => {
                    let append = matches!(r.op, RedirOp::Append | RedirOp::AppendOutErr);
                    let dest = match self.open_for_write(&target, append, io) {
                        Some(d) => d,
                        None => return None,
                    };
                    let buf = match dest {
                        WriteDest::Buf(b) => b,
                        WriteDest::File(path) => {
                            let b = self.new_buf();
                            pending.push(Pending { buf: b, path });
                            b
                        }
                    };
                    match r.op {
                        RedirOp::OutErr | RedirOp::AppendOutErr => {
                            io.out = buf;
                            io.err = buf;
                        }
                        _ => match r.fd {
                            1 => io.out = buf,
                            2 => io.err = buf,
                            _ => {}
                        },
                    }
                }
            }
        }
        Some((io, pending))
    }

    fn open_for_write(&mut self, target: &str, append: bool, io: Io) -> Option<WriteDest> {
        match target {
            "/dev/null" | "/dev/zero" => return Some(WriteDest::Buf(NULL)),
            "/dev/stdout" => return Some(WriteDest::Buf(io.out)),
            "/dev/stderr" => return Some(WriteDest::Buf(io.err)),
            "/dev/tty" => return Some(WriteDest::Buf(TERM)),
            "" => {
                self.errln(io, ": No such file or directory");
                return None;
            }
            _ => {}
        }
        if let Ok((_, n)) = self.st.fs.stat(&self.st.cwd, target)
            && matches!(n.kind, Kind::CharDev(..))
        {
            return Some(WriteDest::Buf(NULL));
        }
        // Like bash, `>` truncates (and creates) the file before the command runs.
        let res = if append {
            self.fs_write(target, b"", true, false)
        } else {
            self.fs_write(target, b"", false, true)
        };
        match res {
            Ok(canon) => Some(WriteDest::File(canon)),
            Err(e) => {
                self.errln(io, &format!("{target}: {e}"));
                None
            }
        }
    }

    fn finish_redirects(&mut self, pending: Vec<Pending>, io: Io) {
        for p in pending {
            let data = self.take_buf(p.buf);
            if data.is_empty() {
                continue;
            }
            if let Err(e) = self.fs_write(&p.path, &data, true, true) {
                let msg = format!("{}: write error: {e}\n", self.prefix());
                // The command's own stderr may itself be the file.
                let err = if io.err == p.buf { TERM } else { io.err };
                self.write(err, msg.as_bytes());
            }
        }
    }

    // ---- expansion ----

    /// Expands words into fields (splitting and pathname expansion applied).
    pub fn expand_words<'s>(&'s mut self, words: &'s [Word]) -> Fut<'s, Vec<String>> {
        Box::pin(async move {
            let mut out = Vec::new();
            for w in words {
                if self.stopped() {
                    break;
                }
                let segs = self.expand_segs(w, false).await;
                let tilde = matches!(w.0.first(), Some(WordPart::Lit(s)) if s.starts_with('~'));
                let mut segs = segs;
                if tilde {
                    self.tilde(&mut segs);
                }
                for f in split_fields(segs) {
                    if f.glob {
                        let matches = self.glob(&f.pat);
                        if matches.is_empty() {
                            out.push(f.text);
                        } else {
                            out.extend(matches);
                        }
                    } else {
                        out.push(f.text);
                    }
                    if out.len() > 100_000 {
                        self.aborted = true;
                        return out;
                    }
                }
            }
            out
        })
    }

    /// Expands a word to one string (no splitting or globbing).
    pub fn expand_single<'s>(&'s mut self, w: &'s Word) -> Fut<'s, String> {
        Box::pin(async move {
            let mut segs = self.expand_segs(w, false).await;
            if matches!(w.0.first(), Some(WordPart::Lit(s)) if s.starts_with('~')) {
                self.tilde(&mut segs);
            }
            segs.into_iter().map(|s| s.text).collect()
        })
    }

    /// Expands a word into a glob pattern (quoted parts escaped).
    async fn expand_pattern(&mut self, w: &Word) -> String {
        let segs = self.expand_segs(w, false).await;
        let mut pat = String::new();
        for s in segs {
            if s.quoted {
                for c in s.text.chars() {
                    if matches!(c, '*' | '?' | '[' | ']' | '\\') {
                        pat.push('\\');
                    }
                    pat.push(c);
                }
            } else {
                pat.push_str(&s.text);
            }
        }
        pat
    }

    fn tilde(&self, segs: &mut [Seg]) {
        if let Some(first) = segs.first_mut()
            && !first.quoted
            && let Some(rest) = first.text.strip_prefix('~')
        {
            let (user, tail) = match rest.find('/') {
                Some(i) => (&rest[..i], &rest[i..]),
                None => (rest, ""),
            };
            let home = if user.is_empty() {
                Some(self.st.var("HOME").unwrap_or("/").to_string())
            } else if user == "root" || self.st.persona.users.iter().any(|u| u.name == user) {
                Some(self.st.persona.home_of(user))
            } else {
                None
            };
            if let Some(h) = home {
                first.text = format!("{h}{tail}");
                first.quoted = true;
            }
        }
    }

    fn expand_segs<'s>(&'s mut self, w: &'s Word, in_double: bool) -> Fut<'s, Vec<Seg>> {
        Box::pin(async move {
            let mut segs = Vec::new();
            for part in &w.0 {
                if self.stopped() {
                    break;
                }
                match part {
                    WordPart::Lit(s) => segs.push(Seg {
                        text: s.clone(),
                        quoted: in_double,
                        split: false,
                    }),
                    WordPart::Quoted(s) => segs.push(Seg {
                        text: s.clone(),
                        quoted: true,
                        split: false,
                    }),
                    WordPart::Double(inner) => {
                        let inner_word = Word(inner.clone());
                        let inner_segs = self.expand_segs(&inner_word, true).await;
                        let text: String = inner_segs.into_iter().map(|s| s.text).collect();
                        segs.push(Seg {
                            text,
                            quoted: true,
                            split: false,
                        });
                    }
                    WordPart::Param(p) => {
                        let v = self.expand_param(p).await;
                        if let Some(v) = v {
                            segs.push(Seg {
                                text: v,
                                quoted: in_double,
                                split: !in_double,
                            });
                        } else {
                            return segs;
                        }
                    }
                    WordPart::CmdSub(list) => {
                        let v = self.command_substitution(list).await;
                        segs.push(Seg {
                            text: v,
                            quoted: in_double,
                            split: !in_double,
                        });
                    }
                    WordPart::Arith(expr) => {
                        let e = self.expand_single(expr).await;
                        let v = match self.arith(&e) {
                            Ok(v) => v.to_string(),
                            Err(msg) => {
                                self.errln(self.term_io(), &format!("{}: {msg}", e.trim()));
                                self.st.last_status = 1;
                                String::new()
                            }
                        };
                        segs.push(Seg {
                            text: v,
                            quoted: in_double,
                            split: !in_double,
                        });
                    }
                }
            }
            segs
        })
    }

    /// `None` stops the word (`${x:?msg}` failed).
    async fn expand_param(&mut self, p: &parser::Param) -> Option<String> {
        let val = self.param_value(&p.name);
        let is_set = val.is_some();
        let v = val.unwrap_or_default();
        Some(match &p.op {
            ParamOp::Plain => v,
            ParamOp::Length => v.chars().count().to_string(),
            ParamOp::Default(colon, w) => {
                if !is_set || (*colon && v.is_empty()) {
                    self.expand_single(w).await
                } else {
                    v
                }
            }
            ParamOp::Assign(colon, w) => {
                if !is_set || (*colon && v.is_empty()) {
                    let nv = self.expand_single(w).await;
                    if is_name(&p.name) {
                        self.st.set_var(&p.name, nv.clone(), false);
                    }
                    nv
                } else {
                    v
                }
            }
            ParamOp::Alt(colon, w) => {
                if !is_set || (*colon && v.is_empty()) {
                    String::new()
                } else {
                    self.expand_single(w).await
                }
            }
            ParamOp::Error(colon, w) => {
                if !is_set || (*colon && v.is_empty()) {
                    let msg = self.expand_single(w).await;
                    let msg = if msg.is_empty() {
                        "parameter null or not set".to_string()
                    } else {
                        msg
                    };
                    self.errln(self.term_io(), &format!("{}: {msg}", p.name));
                    self.flow = Flow::Exit;
                    return None;
                }
                v
            }
            ParamOp::TrimPrefix(long, w) => {
                let pat = self.expand_pattern(w).await;
                trim_match(&v, &pat, true, *long)
            }
            ParamOp::TrimSuffix(long, w) => {
                let pat = self.expand_pattern(w).await;
                trim_match(&v, &pat, false, *long)
            }
            ParamOp::Replace(all, pat, rep) => {
                let pat = self.expand_pattern(pat).await;
                let rep = self.expand_single(rep).await;
                replace_match(&v, &pat, &rep, *all)
            }
            ParamOp::Substring(off, len) => {
                let off_s = self.expand_single(off).await;
                let chars: Vec<char> = v.chars().collect();
                let n = chars.len() as i64;
                let o = self.arith(&off_s).unwrap_or(0);
                let start = if o < 0 { (n + o).max(0) } else { o.min(n) };
                let end = match len {
                    Some(l) => {
                        let ls = self.expand_single(l).await;
                        let l = self.arith(&ls).unwrap_or(0);
                        if l < 0 {
                            (n + l).max(start)
                        } else {
                            (start + l).min(n)
                        }
                    }
                    None => n,
                };
                chars
                    .get(start as usize..end.max(start) as usize)
                    .map(|c| c.iter().collect())
                    .unwrap_or_default()
            }
        })
    }

    pub fn param_value(&self, name: &str) -> Option<String> {
        match name {
            "?" => Some(self.st.last_status.to_string()),
            "$" => Some(self.st.pid.to_string()),
            "#" => Some(self.st.positional.len().to_string()),
            "@" | "*" => Some(self.st.positional.join(" ")),
            "!" => self.st.last_bg.map(|p| p.to_string()),
            "-" => Some(if self.mode == Mode::Interactive {
                "himBHs".into()
            } else {
                "hB".into()
            }),
            "0" => Some(if self.script_name.is_empty() {
                match self.mode {
                    Mode::Interactive => self.st.arg0.clone(),
                    Mode::BashC => "bash".into(),
                    Mode::Dash => "sh".into(),
                }
            } else {
                self.script_name.clone()
            }),
            "RANDOM" => Some(fastrand::u16(0..32768).to_string()),
            "SECONDS" => Some((self.now - self.st.login_time).max(0).to_string()),
            "LINENO" => Some("1".into()),
            "PPID" => Some((self.st.pid.saturating_sub(7)).to_string()),
            "UID" | "EUID" => Some(self.st.uid.to_string()),
            "BASH" => Some("/usr/bin/bash".into()),
            "BASH_VERSION" => Some(bash_version(&self.st.persona).into()),
            "BASHPID" => Some(self.st.pid.to_string()),
            "HOSTTYPE" | "MACHTYPE" => Some("x86_64".into()),
            "OSTYPE" => Some("linux-gnu".into()),
            "IFS" => Some(
                self.st
                    .var("IFS")
                    .map(str::to_string)
                    .unwrap_or_else(|| " \t\n".into()),
            ),
            n if n.chars().all(|c| c.is_ascii_digit()) => {
                let i: usize = n.parse().ok()?;
                self.st.positional.get(i.checked_sub(1)?).cloned()
            }
            n => self.st.var(n).map(str::to_string),
        }
    }

    /// `$(...)`: runs the list in a subshell and returns its output without
    /// trailing newlines.
    pub fn command_substitution<'s>(&'s mut self, list: &'s List) -> Fut<'s, String> {
        Box::pin(async move {
            if !self.enter() {
                self.too_deep(self.term_io());
                return String::new();
            }
            let buf = self.new_buf();
            let io = Io {
                stdin: NO_INPUT,
                out: buf,
                err: TERM,
            };
            let saved = self.save_env();
            self.in_subshell += 1;
            let status = self.exec_list(list, io).await;
            self.in_subshell -= 1;
            self.restore_env(saved);
            if matches!(self.flow, Flow::Exit | Flow::Return) {
                self.flow = Flow::Normal;
            }
            self.st.last_status = status;
            self.depth -= 1;
            let data = self.take_buf(buf);
            let mut s = String::from_utf8_lossy(&data).into_owned();
            while s.ends_with('\n') {
                s.pop();
            }
            s
        })
    }

    /// Pathname expansion against the fake filesystem.
    pub fn glob(&self, pattern: &str) -> Vec<String> {
        let absolute = pattern.starts_with('/');
        let comps: Vec<&str> = pattern.split('/').filter(|c| !c.is_empty()).collect();
        let mut current: Vec<String> = vec![if absolute { "/".into() } else { String::new() }];
        for (i, comp) in comps.iter().enumerate() {
            let last = i + 1 == comps.len();
            let mut next = Vec::new();
            for base in &current {
                let dir = if base.is_empty() { "." } else { base.as_str() };
                if text::has_glob(comp) {
                    let Ok((canon, node)) = self.st.fs.stat(&self.st.cwd, dir) else {
                        continue;
                    };
                    if !node.is_dir() {
                        continue;
                    }
                    for (name, child) in self.st.fs.list(&canon) {
                        if name.starts_with('.') && !comp.starts_with('.') {
                            continue;
                        }
                        if !last && !child.is_dir() && !matches!(child.kind, Kind::Symlink(_)) {
                            continue;
                        }
                        if text::glob_match(comp, &name) {
                            next.push(join_rel(base, &name));
                        }
                    }
                } else {
                    let unescaped = unescape_glob(comp);
                    let p = join_rel(base, &unescaped);
                    if last || self.st.fs.exists(&self.st.cwd, &p) {
                        next.push(p);
                    }
                }
                if next.len() > 10_000 {
                    break;
                }
            }
            next.sort();
            current = next;
            if current.is_empty() {
                break;
            }
        }
        current
            .into_iter()
            .filter(|p| !p.is_empty() && self.st.fs.lstat(&self.st.cwd, p).is_ok())
            .collect()
    }

    // ---- arithmetic ----

    pub fn arith(&mut self, expr: &str) -> Result<i64, String> {
        let toks = arith_tokens(expr)?;
        let mut p = Arith {
            toks,
            pos: 0,
            depth: 0,
        };
        if p.toks.is_empty() {
            return Ok(0);
        }
        let v = p.assign(self)?;
        if p.pos < p.toks.len() {
            return Err(format!(
                "syntax error in expression (error token is \"{}\")",
                p.rest()
            ));
        }
        Ok(v)
    }

    fn arith_var(&self, name: &str) -> i64 {
        let v = self.param_value(name).unwrap_or_default();
        parse_int(v.trim()).unwrap_or(0)
    }
}

pub(crate) fn bash_version(p: &Persona) -> &'static str {
    match p.os {
        super::OsFlavor::Debian12 => "5.2.15(1)-release",
        super::OsFlavor::Ubuntu2204 => "5.1.16(1)-release",
        super::OsFlavor::Ubuntu2404 => "5.2.21(1)-release",
    }
}

pub(crate) struct SavedEnv {
    vars: BTreeMap<String, Var>,
    cwd: String,
    positional: Vec<String>,
    functions: BTreeMap<String, Arc<Command>>,
    user: (String, u32, u32),
}

struct Pending {
    buf: usize,
    path: String,
}

enum WriteDest {
    Buf(usize),
    File(String),
}

#[derive(Debug)]
struct Seg {
    text: String,
    quoted: bool,
    split: bool,
}

struct Field {
    text: String,
    pat: String,
    glob: bool,
}

fn split_fields(segs: Vec<Seg>) -> Vec<Field> {
    let mut out = Vec::new();
    let mut cur = Field {
        text: String::new(),
        pat: String::new(),
        glob: false,
    };
    let mut started = false;
    for s in segs {
        if s.split {
            for c in s.text.chars() {
                if matches!(c, ' ' | '\t' | '\n') {
                    if started {
                        out.push(std::mem::replace(
                            &mut cur,
                            Field {
                                text: String::new(),
                                pat: String::new(),
                                glob: false,
                            },
                        ));
                        started = false;
                    }
                } else {
                    started = true;
                    push_char(&mut cur, c, false);
                }
            }
        } else {
            if !s.text.is_empty() || s.quoted {
                started = true;
            }
            for c in s.text.chars() {
                push_char(&mut cur, c, s.quoted);
            }
        }
    }
    if started {
        out.push(cur);
    }
    out
}

fn push_char(f: &mut Field, c: char, quoted: bool) {
    f.text.push(c);
    if quoted {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            f.pat.push('\\');
        }
    } else if matches!(c, '*' | '?' | '[') {
        f.glob = true;
    }
    f.pat.push(c);
}

fn join_rel(base: &str, name: &str) -> String {
    if base.is_empty() {
        name.to_string()
    } else if base.ends_with('/') {
        format!("{base}{name}")
    } else {
        format!("{base}/{name}")
    }
}

fn unescape_glob(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut esc = false;
    for c in s.chars() {
        if esc {
            out.push(c);
            esc = false;
        } else if c == '\\' {
            esc = true;
        } else {
            out.push(c);
        }
    }
    out
}

fn trim_match(v: &str, pat: &str, prefix: bool, long: bool) -> String {
    let idx: Vec<usize> = v
        .char_indices()
        .map(|(i, _)| i)
        .chain(std::iter::once(v.len()))
        .collect();
    let candidates: Box<dyn Iterator<Item = &usize>> = match (prefix, long) {
        (true, false) => Box::new(idx.iter()),
        (true, true) => Box::new(idx.iter().rev()),
        (false, false) => Box::new(idx.iter().rev()),
        (false, true) => Box::new(idx.iter()),
    };
    for &i in candidates {
        if prefix {
            if text::glob_match(pat, &v[..i]) {
                return v[i..].to_string();
            }
        } else if text::glob_match(pat, &v[i..]) {
            return v[..i].to_string();
        }
    }
    v.to_string()
}

fn replace_match(v: &str, pat: &str, rep: &str, all: bool) -> String {
    if pat.is_empty() {
        return v.to_string();
    }
    let idx: Vec<usize> = v
        .char_indices()
        .map(|(i, _)| i)
        .chain(std::iter::once(v.len()))
        .collect();
    let mut out = String::new();
    let mut i = 0usize;
    let mut replaced = false;
    while i < idx.len() {
        let start = idx[i];
        if start >= v.len() {
            break;
        }
        if !replaced || all {
            // Longest match starting here.
            let mut found = None;
            for j in (i + 1..idx.len()).rev() {
                if text::glob_match(pat, &v[start..idx[j]]) {
                    found = Some(j);
                    break;
                }
            }
            if let Some(j) = found {
                out.push_str(rep);
                replaced = true;
                i = j;
                continue;
            }
        }
        out.push_str(&v[start..idx.get(i + 1).copied().unwrap_or(v.len())]);
        i += 1;
    }
    out
}

pub(crate) fn parse_int(s: &str) -> Option<i64> {
    let (neg, body) = match s.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let v = if let Some(h) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
        i64::from_str_radix(h, 16).ok()?
    } else if body.len() > 1 && body.starts_with('0') {
        i64::from_str_radix(body, 8).ok()?
    } else {
        body.parse::<i64>().ok()?
    };
    Some(if neg { v.wrapping_neg() } else { v })
}

#[derive(Debug, Clone, PartialEq)]
enum ATok {
    Num(i64),
    Ident(String),
    Op(&'static str),
}

fn arith_tokens(s: &str) -> Result<Vec<ATok>, String> {
    const OPS: [&str; 33] = [
        "<<=", ">>=", "**", "++", "--", "<<", ">>", "<=", ">=", "==", "!=", "&&", "||", "+=", "-=",
        "*=", "/=", "%=", "+", "-", "*", "/", "%", "<", ">", "!", "~", "&", "|", "^", "(", ")",
        "=",
    ];
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    let mut out = Vec::new();
    'outer: while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        if c.is_ascii_digit() {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '#') {
                i += 1;
            }
            let t: String = chars[start..i].iter().collect();
            let v = parse_int(&t)
                .ok_or_else(|| format!("value too great for base (error token is \"{t}\")"))?;
            out.push(ATok::Num(v));
            continue;
        }
        if c == '_' || c.is_ascii_alphabetic() || c == '$' {
            let start = if c == '$' { i + 1 } else { i };
            i = start;
            while i < chars.len() && (chars[i] == '_' || chars[i].is_ascii_alphanumeric()) {
                i += 1;
            }
            out.push(ATok::Ident(chars[start..i].iter().collect()));
            continue;
        }
        for op in OPS {
            let n = op.len();
            if chars
                .get(i..i + n)
                .is_some_and(|w| w.iter().copied().eq(op.chars()))
            {
                out.push(ATok::Op(op));
                i += n;
                continue 'outer;
            }
        }
        if c == '?' || c == ':' {
            out.push(ATok::Op(if c == '?' { "?" } else { ":" }));
            i += 1;
            continue;
        }
        let rest: String = chars[i..].iter().collect();
        return Err(format!(
            "syntax error: operand expected (error token is \"{rest}\")"
        ));
    }
    if out.len() > 10_000 {
        return Err("expression too long".into());
    }
    Ok(out)
}

struct Arith {
    toks: Vec<ATok>,
    pos: usize,
    depth: u32,
}

impl Arith {
    fn rest(&self) -> String {
        self.toks
            .get(self.pos..)
            .unwrap_or(&[])
            .iter()
            .map(|t| match t {
                ATok::Num(n) => n.to_string(),
                ATok::Ident(s) => s.clone(),
                ATok::Op(o) => (*o).to_string(),
            })
            .collect::<Vec<_>>()
            .join(" ")
    }

    fn peek_op(&self) -> Option<&'static str> {
        match self.toks.get(self.pos) {
            Some(ATok::Op(o)) => Some(o),
            _ => None,
        }
    }

    fn assign(&mut self, it: &mut Interp<'_>) -> Result<i64, String> {
        self.depth += 1;
        if self.depth > 200 {
            return Err("expression recursion level exceeded".into());
        }
        if let (Some(ATok::Ident(name)), Some(ATok::Op(op))) = (
            self.toks.get(self.pos).cloned(),
            self.toks.get(self.pos + 1).cloned(),
        ) && matches!(op, "=" | "+=" | "-=" | "*=" | "/=" | "%=")
        {
            self.pos += 2;
            let rhs = self.assign(it)?;
            let cur = it.arith_var(&name);
            let v = match op {
                "=" => rhs,
                "+=" => cur.wrapping_add(rhs),
                "-=" => cur.wrapping_sub(rhs),
                "*=" => cur.wrapping_mul(rhs),
                "/=" => cur.checked_div(rhs).ok_or("division by 0")?,
                _ => cur.checked_rem(rhs).ok_or("division by 0")?,
            };
            it.st.set_var(&name, v.to_string(), false);
            self.depth -= 1;
            return Ok(v);
        }
        let v = self.ternary(it)?;
        self.depth -= 1;
        Ok(v)
    }

    fn ternary(&mut self, it: &mut Interp<'_>) -> Result<i64, String> {
        let c = self.binary(it, 0)?;
        if self.peek_op() == Some("?") {
            self.pos += 1;
            let a = self.assign(it)?;
            if self.peek_op() != Some(":") {
                return Err("`:' expected for conditional expression".into());
            }
            self.pos += 1;
            let b = self.assign(it)?;
            return Ok(if c != 0 { a } else { b });
        }
        Ok(c)
    }

    fn binary(&mut self, it: &mut Interp<'_>, min_prec: u8) -> Result<i64, String> {
        let mut lhs = self.unary(it)?;
        while let Some(op) = self.peek_op() {
            let prec = match op {
                "||" => 1,
                "&&" => 2,
                "|" => 3,
                "^" => 4,
                "&" => 5,
                "==" | "!=" => 6,
                "<" | ">" | "<=" | ">=" => 7,
                "<<" | ">>" => 8,
                "+" | "-" => 9,
                "*" | "/" | "%" => 10,
                "**" => 11,
                _ => break,
            };
            if prec < min_prec {
                break;
            }
            self.pos += 1;
            let next_min = if op == "**" { prec } else { prec + 1 };
            let rhs = self.binary(it, next_min)?;
            lhs = match op {
                "||" => i64::from(lhs != 0 || rhs != 0),
                "&&" => i64::from(lhs != 0 && rhs != 0),
                "|" => lhs | rhs,
                "^" => lhs ^ rhs,
                "&" => lhs & rhs,
                "==" => i64::from(lhs == rhs),
                "!=" => i64::from(lhs != rhs),
                "<" => i64::from(lhs < rhs),
                ">" => i64::from(lhs > rhs),
                "<=" => i64::from(lhs <= rhs),
                ">=" => i64::from(lhs >= rhs),
                "<<" => lhs.wrapping_shl((rhs & 63) as u32),
                ">>" => lhs.wrapping_shr((rhs & 63) as u32),
                "+" => lhs.wrapping_add(rhs),
                "-" => lhs.wrapping_sub(rhs),
                "*" => lhs.wrapping_mul(rhs),
                "/" => lhs.checked_div(rhs).ok_or("division by 0")?,
                "%" => lhs.checked_rem(rhs).ok_or("division by 0")?,
                _ => {
                    if rhs < 0 {
                        return Err("exponent less than 0".into());
                    }
                    lhs.wrapping_pow(rhs.min(u32::MAX as i64) as u32)
                }
            };
        }
        Ok(lhs)
    }

    fn unary(&mut self, it: &mut Interp<'_>) -> Result<i64, String> {
        self.depth += 1;
        if self.depth > 200 {
            return Err("expression recursion level exceeded".into());
        }
        let r = self.unary_inner(it);
        self.depth -= 1;
        r
    }

    fn unary_inner(&mut self, it: &mut Interp<'_>) -> Result<i64, String> {
        match self.toks.get(self.pos).cloned() {
            Some(ATok::Op("-")) => {
                self.pos += 1;
                Ok(self.unary(it)?.wrapping_neg())
            }
            Some(ATok::Op("+")) => {
                self.pos += 1;
                self.unary(it)
            }
            Some(ATok::Op("!")) => {
                self.pos += 1;
                Ok(i64::from(self.unary(it)? == 0))
            }
            Some(ATok::Op("~")) => {
                self.pos += 1;
                Ok(!self.unary(it)?)
            }
            Some(ATok::Op(op @ ("++" | "--"))) => {
                self.pos += 1;
                let Some(ATok::Ident(name)) = self.toks.get(self.pos).cloned() else {
                    return Err("syntax error: operand expected".into());
                };
                self.pos += 1;
                let v = it.arith_var(&name) + if op == "++" { 1 } else { -1 };
                it.st.set_var(&name, v.to_string(), false);
                Ok(v)
            }
            Some(ATok::Op("(")) => {
                self.pos += 1;
                let v = self.assign(it)?;
                if self.peek_op() != Some(")") {
                    return Err("missing `)'".into());
                }
                self.pos += 1;
                Ok(v)
            }
            Some(ATok::Num(n)) => {
                self.pos += 1;
                Ok(n)
            }
            Some(ATok::Ident(name)) => {
                self.pos += 1;
                let v = it.arith_var(&name);
                if let Some(op @ ("++" | "--")) = self.peek_op() {
                    self.pos += 1;
                    let nv = v + if op == "++" { 1 } else { -1 };
                    it.st.set_var(&name, nv.to_string(), false);
                }
                Ok(v)
            }
            _ => Err(format!(
                "syntax error: operand expected (error token is \"{}\")",
                self.rest()
            )),
        }
    }
}
