//! The in-memory filesystem: a read-only [`BaseImage`] shared by every session through
//! an `Arc`, and a per-session copy-on-write [`FileSystem`] overlay. Nothing here ever
//! touches a real file.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use super::persona::Persona;

/// Default cap on the bytes a session may store in its overlay.
pub const DEFAULT_OVERLAY_BYTES: u64 = 16 * 1024 * 1024;
/// Default cap on the number of overlay entries (files, directories, deletions).
pub const DEFAULT_OVERLAY_NODES: usize = 10_000;
const MAX_SYMLINK_HOPS: usize = 40;
const MAX_PATH_LEN: usize = 4096;

/// Why a filesystem operation failed; `Display` gives the libc wording.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FsError {
    /// ENOENT.
    NotFound,
    /// ENOTDIR.
    NotDir,
    /// EISDIR.
    IsDir,
    /// EEXIST.
    Exists,
    /// EACCES.
    PermissionDenied,
    /// ENOSPC: the overlay cap was reached.
    NoSpace,
    /// ENOTEMPTY.
    NotEmpty,
    /// ELOOP.
    Loop,
    /// EINVAL (e.g. moving a directory into itself).
    Invalid,
    /// ENAMETOOLONG.
    NameTooLong,
    /// EBUSY (removing `/`, mount points).
    Busy,
}

impl fmt::Display for FsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FsError::NotFound => "No such file or directory",
            FsError::NotDir => "Not a directory",
            FsError::IsDir => "Is a directory",
            FsError::Exists => "File exists",
            FsError::PermissionDenied => "Permission denied",
            FsError::NoSpace => "No space left on device",
            FsError::NotEmpty => "Directory not empty",
            FsError::Loop => "Too many levels of symbolic links",
            FsError::Invalid => "Invalid argument",
            FsError::NameTooLong => "File name too long",
            FsError::Busy => "Device or resource busy",
        })
    }
}

/// Files whose content is computed when read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dynamic {
    /// `/proc/uptime`.
    Uptime,
    /// `/proc/loadavg`.
    LoadAvg,
    /// `/dev/urandom`, `/dev/random`.
    Random,
    /// `/dev/zero`.
    Zero,
    /// `/dev/null` and other sinks.
    Null,
}

/// What a file holds.
#[derive(Debug, Clone)]
pub enum Content {
    /// Literal bytes.
    Bytes(Arc<[u8]>),
    /// A fake ELF executable of the given size (header + deterministic filler).
    Binary {
        /// Apparent size in bytes.
        size: u64,
        /// Filler seed.
        seed: u64,
    },
    /// Generated on read.
    Dynamic(Dynamic),
}

/// File type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// Regular file.
    File,
    /// Directory.
    Dir,
    /// Symbolic link to the target.
    Symlink(Arc<str>),
    /// Character device (major, minor).
    CharDev(u16, u16),
}

/// One file, directory, link or device.
#[derive(Debug, Clone)]
pub struct Node {
    /// Type.
    pub kind: Kind,
    /// Permission bits (`0o7777`).
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Modification time, unix seconds.
    pub mtime: i64,
    /// Content of regular files and devices.
    pub content: Content,
}

impl Node {
    /// A regular file.
    pub fn file(data: Arc<[u8]>, mode: u32, uid: u32, gid: u32, mtime: i64) -> Self {
        Node {
            kind: Kind::File,
            mode,
            uid,
            gid,
            mtime,
            content: Content::Bytes(data),
        }
    }

    /// A directory.
    pub fn dir(mode: u32, uid: u32, gid: u32, mtime: i64) -> Self {
        Node {
            kind: Kind::Dir,
            mode,
            uid,
            gid,
            mtime,
            content: Content::Bytes(Arc::from(&[][..])),
        }
    }

    /// Whether this is a directory.
    pub fn is_dir(&self) -> bool {
        self.kind == Kind::Dir
    }

    /// The size `ls -l` shows.
    pub fn size(&self) -> u64 {
        match (&self.kind, &self.content) {
            (Kind::Dir, _) => 4096,
            (Kind::Symlink(t), _) => t.len() as u64,
            (Kind::CharDev(..), _) => 0,
            (_, Content::Bytes(b)) => b.len() as u64,
            (_, Content::Binary { size, .. }) => *size,
            (_, Content::Dynamic(_)) => 0,
        }
    }

    fn owned_bytes(&self) -> u64 {
        match &self.content {
            Content::Bytes(b) => b.len() as u64,
            Content::Binary { size, .. } => *size,
            Content::Dynamic(_) => 0,
        }
    }

    /// `drwxr-xr-x`-style mode string.
    pub fn mode_string(&self) -> String {
        let t = match self.kind {
            Kind::File => '-',
            Kind::Dir => 'd',
            Kind::Symlink(_) => 'l',
            Kind::CharDev(..) => 'c',
        };
        let m = self.mode;
        let mut s = String::with_capacity(10);
        s.push(t);
        for (shift, special, sch) in [(6, 0o4000, 's'), (3, 0o2000, 's'), (0, 0o1000, 't')] {
            let bits = (m >> shift) & 7;
            s.push(if bits & 4 != 0 { 'r' } else { '-' });
            s.push(if bits & 2 != 0 { 'w' } else { '-' });
            let x = bits & 1 != 0;
            s.push(match (m & special != 0, x) {
                (true, true) => sch,
                (true, false) => sch.to_ascii_uppercase(),
                (false, true) => 'x',
                (false, false) => '-',
            });
        }
        s
    }
}

/// Access wanted from [`FileSystem::check_access`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Read.
    Read,
    /// Write.
    Write,
    /// Execute / search.
    Exec,
}

/// Whether `uid`/`gid` may access `node` as `want` (root may do anything but execute
/// files without any x bit).
pub fn may(node: &Node, uid: u32, gid: u32, want: Access) -> bool {
    let bit = match want {
        Access::Read => 4,
        Access::Write => 2,
        Access::Exec => 1,
    };
    if uid == 0 {
        return want != Access::Exec || node.is_dir() || node.mode & 0o111 != 0;
    }
    let bits = if node.uid == uid {
        node.mode >> 6
    } else if node.gid == gid {
        node.mode >> 3
    } else {
        node.mode
    };
    bits & bit != 0
}

/// The read-only tree every session starts from, built once from a [`Persona`].
#[derive(Debug)]
pub struct BaseImage {
    nodes: BTreeMap<String, Node>,
    persona: Persona,
}

impl BaseImage {
    /// Builds the Debian-like tree of `persona`.
    pub fn new(persona: &Persona) -> Arc<BaseImage> {
        let nodes = super::image::build(persona);
        Arc::new(BaseImage {
            nodes,
            persona: persona.clone(),
        })
    }

    /// The persona the image was built from.
    pub fn persona(&self) -> &Persona {
        &self.persona
    }

    /// Number of nodes in the image.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether the image is empty (never, in practice).
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }
}

#[derive(Debug, Clone)]
enum Entry {
    /// A file the session created or changed; `opaque` directories hide the base
    /// image's children (the directory was deleted and made again).
    Node { node: Node, opaque: bool },
    /// A base image path the session deleted.
    Whiteout,
}

#[derive(Debug, Clone, Default)]
struct Overlay {
    entries: BTreeMap<String, Entry>,
    bytes: u64,
}

/// A session's view of the filesystem: the shared base image plus this session's
/// changes. Cloning is O(1); the overlay is copied on the first write after a clone.
#[derive(Debug, Clone)]
pub struct FileSystem {
    base: Arc<BaseImage>,
    overlay: Arc<Overlay>,
    max_bytes: u64,
    max_nodes: usize,
}

/// Joins `path` to `cwd` and normalises `.`/`..`/`//` lexically.
pub fn normalize(cwd: &str, path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    let full_iter = if path.starts_with('/') {
        either_iter(path, "")
    } else {
        either_iter(cwd, path)
    };
    for comp in full_iter {
        match comp {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    let mut out = String::with_capacity(path.len() + cwd.len() + 1);
    for p in parts {
        out.push('/');
        out.push_str(p);
    }
    if out.is_empty() {
        out.push('/');
    }
    out
}

fn either_iter<'a>(a: &'a str, b: &'a str) -> impl Iterator<Item = &'a str> {
    a.split('/').chain(b.split('/'))
}

/// The parent directory of a normalised absolute path.
pub fn parent(path: &str) -> &str {
    match path.rfind('/') {
        Some(0) | None => "/",
        Some(i) => &path[..i],
    }
}

/// The last component of a normalised absolute path.
pub fn base_name(path: &str) -> &str {
    match path.rfind('/') {
        Some(i) => &path[i + 1..],
        None => path,
    }
}

fn child_prefix(dir: &str) -> String {
    if dir == "/" {
        "/".to_string()
    } else {
        format!("{dir}/")
    }
}

impl FileSystem {
    /// A fresh session view of `base` with the default overlay caps.
    pub fn new(base: Arc<BaseImage>) -> Self {
        FileSystem {
            base,
            overlay: Arc::new(Overlay::default()),
            max_bytes: DEFAULT_OVERLAY_BYTES,
            max_nodes: DEFAULT_OVERLAY_NODES,
        }
    }

    /// Sets the overlay caps (bytes of file content, number of entries).
    pub fn set_limits(&mut self, max_bytes: u64, max_nodes: usize) {
        self.max_bytes = max_bytes;
        self.max_nodes = max_nodes;
    }

    /// Bytes of file content this session stores in its overlay.
    pub fn overlay_bytes(&self) -> u64 {
        self.overlay.bytes
    }

    /// Number of overlay entries (created/changed files and deletions).
    pub fn overlay_nodes(&self) -> usize {
        self.overlay.entries.len()
    }

    /// The shared base image.
    pub fn base(&self) -> &Arc<BaseImage> {
        &self.base
    }

    /// The persona of the base image.
    pub fn persona(&self) -> &Persona {
        &self.base.persona
    }

    /// Looks up one normalised path without following a final symlink or checking
    /// intermediate components (callers go through [`Self::resolve`]).
    fn raw_get(&self, path: &str) -> Option<&Node> {
        if let Some(e) = self.overlay.entries.get(path) {
            return match e {
                Entry::Node { node, .. } => Some(node),
                Entry::Whiteout => None,
            };
        }
        if !self.base_visible_below(path) {
            return None;
        }
        self.base.nodes.get(path)
    }

    /// Whether base image entries below `path`'s ancestors show through: no ancestor
    /// was deleted, replaced by a file, or re-created empty in the overlay.
    fn base_visible_below(&self, path: &str) -> bool {
        let mut p = path;
        while p != "/" {
            p = parent(p);
            match self.overlay.entries.get(p) {
                Some(Entry::Whiteout) | Some(Entry::Node { opaque: true, .. }) => return false,
                Some(Entry::Node { node, .. }) if !node.is_dir() => return false,
                _ => {}
            }
        }
        true
    }

    /// Resolves symlinks in `path` (relative to `cwd`), returning the canonical path.
    /// With `follow_last` false a final symlink is not followed. The final component
    /// need not exist (`Ok` with `None`), but its parent must be a directory.
    pub fn resolve(
        &self,
        cwd: &str,
        path: &str,
        follow_last: bool,
    ) -> Result<(String, Option<Node>), FsError> {
        if path.len() > MAX_PATH_LEN {
            return Err(FsError::NameTooLong);
        }
        let mut pending = normalize(cwd, path);
        let mut hops = 0;
        'restart: loop {
            let comps: Vec<&str> = pending.split('/').filter(|c| !c.is_empty()).collect();
            let mut cur = String::from("/");
            for (i, comp) in comps.iter().enumerate() {
                let last = i + 1 == comps.len();
                let next = if cur == "/" {
                    format!("/{comp}")
                } else {
                    format!("{cur}/{comp}")
                };
                match self.raw_get(&next) {
                    None => {
                        if last {
                            return Ok((next, None));
                        }
                        return Err(FsError::NotFound);
                    }
                    Some(node) => {
                        if let Kind::Symlink(target) = &node.kind {
                            if last && !follow_last {
                                return Ok((next, Some(node.clone())));
                            }
                            hops += 1;
                            if hops > MAX_SYMLINK_HOPS {
                                return Err(FsError::Loop);
                            }
                            let rest = comps.get(i + 1..).unwrap_or(&[]).join("/");
                            let joined = normalize(&cur, target);
                            pending = normalize(&joined, &rest);
                            continue 'restart;
                        }
                        if last {
                            return Ok((next, Some(node.clone())));
                        }
                        if !node.is_dir() {
                            return Err(FsError::NotDir);
                        }
                        cur = next;
                    }
                }
            }
            // Only "/" has no components.
            return Ok(("/".to_string(), self.raw_get("/").cloned()));
        }
    }

    /// The node at `path`, following symlinks.
    pub fn stat(&self, cwd: &str, path: &str) -> Result<(String, Node), FsError> {
        match self.resolve(cwd, path, true)? {
            (p, Some(n)) => Ok((p, n)),
            (_, None) => Err(FsError::NotFound),
        }
    }

    /// The node at `path`, not following a final symlink.
    pub fn lstat(&self, cwd: &str, path: &str) -> Result<(String, Node), FsError> {
        match self.resolve(cwd, path, false)? {
            (p, Some(n)) => Ok((p, n)),
            (_, None) => Err(FsError::NotFound),
        }
    }

    /// Whether `path` exists (following symlinks).
    pub fn exists(&self, cwd: &str, path: &str) -> bool {
        self.stat(cwd, path).is_ok()
    }

    /// Content of a regular file, generated for dynamic and fake binary files.
    /// `limit` bounds generated content (e.g. `/dev/urandom`).
    pub fn content_of(&self, node: &Node, now: i64, limit: usize) -> Result<Vec<u8>, FsError> {
        match node.kind {
            Kind::Dir => return Err(FsError::IsDir),
            Kind::Symlink(_) => return Err(FsError::NotFound),
            _ => {}
        }
        Ok(match &node.content {
            Content::Bytes(b) => b.to_vec(),
            Content::Binary { size, seed } => fake_elf(*size, *seed, limit),
            Content::Dynamic(d) => super::image::dynamic(&self.base.persona, *d, now, limit),
        })
    }

    /// Reads a file as user `uid`/`gid`.
    pub fn read(
        &self,
        cwd: &str,
        path: &str,
        uid: u32,
        gid: u32,
        now: i64,
        limit: usize,
    ) -> Result<Vec<u8>, FsError> {
        let (_, node) = self.stat(cwd, path)?;
        if node.is_dir() {
            return Err(FsError::IsDir);
        }
        if !may(&node, uid, gid, Access::Read) {
            return Err(FsError::PermissionDenied);
        }
        self.content_of(&node, now, limit)
    }

    /// Children of a directory (name, node), sorted by name, without `.`/`..`.
    pub fn list(&self, canonical_dir: &str) -> Vec<(String, Node)> {
        let prefix = child_prefix(canonical_dir);
        let mut out: BTreeMap<String, Node> = BTreeMap::new();
        let hidden = match self.overlay.entries.get(canonical_dir) {
            Some(Entry::Node { opaque, node }) => *opaque || !node.is_dir(),
            Some(Entry::Whiteout) => true,
            None => false,
        } || !self.base_visible_below(canonical_dir);
        if !hidden {
            for (path, node) in self.base.nodes.range(prefix.clone()..) {
                let Some(rest) = path.strip_prefix(&prefix) else {
                    break;
                };
                if rest.is_empty() || rest.contains('/') {
                    continue;
                }
                out.insert(rest.to_string(), node.clone());
            }
        }
        for (path, entry) in self.overlay.entries.range(prefix.clone()..) {
            let Some(rest) = path.strip_prefix(&prefix) else {
                break;
            };
            if rest.is_empty() || rest.contains('/') {
                continue;
            }
            match entry {
                Entry::Node { node, .. } => {
                    out.insert(rest.to_string(), node.clone());
                }
                Entry::Whiteout => {
                    out.remove(rest);
                }
            }
        }
        out.into_iter().collect()
    }

    fn overlay_mut(&mut self) -> &mut Overlay {
        Arc::make_mut(&mut self.overlay)
    }

    fn base_has(&self, path: &str) -> bool {
        self.base.nodes.contains_key(path)
    }

    /// Stores `node` at the canonical `path`, enforcing the caps.
    pub fn put(&mut self, path: &str, node: Node) -> Result<(), FsError> {
        let old_bytes = match self.overlay.entries.get(path) {
            Some(Entry::Node { node, .. }) => node.owned_bytes(),
            _ => 0,
        };
        let new_bytes = node.owned_bytes();
        let is_new_entry = !self.overlay.entries.contains_key(path);
        if is_new_entry && self.overlay.entries.len() >= self.max_nodes {
            return Err(FsError::NoSpace);
        }
        let total = self.overlay.bytes - old_bytes.min(self.overlay.bytes) + new_bytes;
        if new_bytes > old_bytes && total > self.max_bytes {
            return Err(FsError::NoSpace);
        }
        // A directory re-created over a deleted base directory must not show the old
        // children again.
        let opaque =
            node.is_dir() && matches!(self.overlay.entries.get(path), Some(Entry::Whiteout));
        let keep_opaque = matches!(
            self.overlay.entries.get(path),
            Some(Entry::Node { opaque: true, .. })
        );
        let ov = self.overlay_mut();
        ov.bytes = total;
        ov.entries.insert(
            path.to_string(),
            Entry::Node {
                node,
                opaque: opaque || keep_opaque,
            },
        );
        Ok(())
    }

    /// Removes the canonical `path` and, for directories, everything below it.
    pub fn remove_tree(&mut self, path: &str) -> Result<(), FsError> {
        if path == "/" {
            return Err(FsError::Busy);
        }
        let prefix = child_prefix(path);
        let doomed: Vec<String> = self
            .overlay
            .entries
            .range(prefix.clone()..)
            .take_while(|(p, _)| p.starts_with(&prefix))
            .map(|(p, _)| p.clone())
            .collect();
        let needs_whiteout = self.base_has(path);
        if needs_whiteout
            && !self.overlay.entries.contains_key(path)
            && self.overlay.entries.len() - doomed.len() >= self.max_nodes
        {
            return Err(FsError::NoSpace);
        }
        let ov = self.overlay_mut();
        for p in doomed {
            if let Some(Entry::Node { node, .. }) = ov.entries.remove(&p) {
                ov.bytes = ov.bytes.saturating_sub(node.owned_bytes());
            }
        }
        let old = if needs_whiteout {
            ov.entries.insert(path.to_string(), Entry::Whiteout)
        } else {
            ov.entries.remove(path)
        };
        if let Some(Entry::Node { node, .. }) = old {
            ov.bytes = ov.bytes.saturating_sub(node.owned_bytes());
        }
        Ok(())
    }

    /// Visible descendants of a directory (canonical paths, parents before children),
    /// at most `limit` of them.
    pub fn walk(&self, dir: &str, limit: usize) -> Vec<(String, Node)> {
        let mut out = Vec::new();
        let mut stack = vec![dir.to_string()];
        while let Some(d) = stack.pop() {
            for (name, node) in self.list(&d) {
                if out.len() >= limit {
                    return out;
                }
                let p = if d == "/" {
                    format!("/{name}")
                } else {
                    format!("{d}/{name}")
                };
                if node.is_dir() {
                    stack.push(p.clone());
                }
                out.push((p, node));
            }
        }
        out
    }

    /// Reads a regular file's content for the overlay snapshot of tests and hosts
    /// (no permission check, no symlink restrictions).
    pub fn read_file(&self, path: &str) -> Option<Vec<u8>> {
        let (_, node) = self.stat("/", path).ok()?;
        if node.kind != Kind::File {
            return None;
        }
        self.content_of(&node, 0, usize::MAX).ok()
    }
}

/// A plausible x86-64 ELF header followed by deterministic filler, `size` bytes long
/// (at most `limit`). Loaders that read `/bin/echo`'s header to pick a payload
/// architecture see a genuine x86-64 shared object.
pub fn fake_elf(size: u64, seed: u64, limit: usize) -> Vec<u8> {
    let n = usize::try_from(size).unwrap_or(usize::MAX).min(limit);
    let mut header: Vec<u8> = vec![
        0x7f, b'E', b'L', b'F', 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, // e_ident
        3, 0, // ET_DYN
        0x3e, 0, // EM_X86_64
        1, 0, 0, 0, // EV_CURRENT
    ];
    let entry = 0x4000u64 + (seed % 0x3000) * 16;
    header.extend_from_slice(&entry.to_le_bytes());
    header.extend_from_slice(&64u64.to_le_bytes()); // e_phoff
    header.extend_from_slice(&size.saturating_sub(2048).to_le_bytes()); // e_shoff
    header.extend_from_slice(&0u32.to_le_bytes()); // e_flags
    for v in [64u16, 56, 13, 64, 31, 30] {
        header.extend_from_slice(&v.to_le_bytes());
    }
    let mut out = Vec::with_capacity(n);
    out.extend_from_slice(&header[..header.len().min(n)]);
    let mut rng = fastrand::Rng::with_seed(seed);
    while out.len() < n {
        // Mostly zero padding with bursts of "code", like real binaries.
        let b = if rng.u8(..4) == 0 { 0 } else { rng.u8(..) };
        out.push(b);
    }
    out
}
