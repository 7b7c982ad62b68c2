//! The SFTP subsystem (what `sftp` and modern `scp` use), enough of it to take uploads:
//! files opened for writing are collected in memory (bounded) and captured on close;
//! directories look empty and writable. Nothing touches the real filesystem.
//!
//! Memory is bounded by what was really sent: a file grows only by appending or
//! overwriting (a write starting past the file's end, a hole, is refused with
//! `SSH_FX_FAILURE` rather than zero-filled or stored sparse: real clients write
//! sequentially, and a hole is only a way to make the server allocate); each
//! connection may upload at most `limits.max_upload_bytes` over all its files and
//! channels, and the sensor's connections together hold at most
//! `limits.max_upload_memory` (see [`crate::uploads`]).

use std::collections::HashMap;
use std::sync::Arc;

use russh_sftp::protocol::{
    Attrs, File, FileAttributes, Handle, Name, OpenFlags, Status, StatusCode, Version,
};

use crate::session::SessionCore;
use crate::uploads::Held;

/// Largest upload captured; writes past it fail as on a full disk.
const MAX_FILE: u64 = 32 * 1024 * 1024;

/// Open handles at once.
const MAX_HANDLES: usize = 64;

/// One connection's SFTP server.
pub struct SftpCapture {
    core: Arc<SessionCore>,
    home: String,
    handles: HashMap<String, Open>,
    next_handle: u64,
}

enum Open {
    Write {
        path: String,
        content: Vec<u8>,
        /// The memory `content` holds of the sensor's upload pool.
        held: Held,
    },
    Dir {
        listed: bool,
    },
}

impl SftpCapture {
    /// A server for `user` of the session.
    pub fn new(core: Arc<SessionCore>, user: String) -> Self {
        let home = if user == "root" {
            "/root".to_owned()
        } else {
            format!("/home/{user}")
        };
        Self {
            core,
            home,
            handles: HashMap::new(),
            next_handle: 0,
        }
    }

    fn absolute(&self, path: &str) -> String {
        let joined = if path.starts_with('/') {
            path.to_owned()
        } else if path.is_empty() || path == "." {
            self.home.clone()
        } else {
            format!("{}/{path}", self.home)
        };
        let mut parts: Vec<&str> = Vec::new();
        for part in joined.split('/') {
            match part {
                "" | "." => {}
                ".." => {
                    parts.pop();
                }
                other => parts.push(other),
            }
        }
        format!("/{}", parts.join("/"))
    }

    fn handle(&mut self, open: Open) -> Result<String, StatusCode> {
        if self.handles.len() >= MAX_HANDLES {
            return Err(StatusCode::Failure);
        }
        self.next_handle += 1;
        let name = self.next_handle.to_string();
        self.handles.insert(name.clone(), open);
        Ok(name)
    }

    fn ok(id: u32) -> Status {
        Status {
            id,
            status_code: StatusCode::Ok,
            error_message: "Success".to_owned(),
            language_tag: "en-US".to_owned(),
        }
    }

    fn dir_attrs() -> FileAttributes {
        let mut attrs = FileAttributes::dummy();
        attrs.permissions = Some(0o40755);
        attrs.size = Some(4096);
        attrs
    }
}

impl russh_sftp::server::Handler for SftpCapture {
    type Error = StatusCode;

    fn unimplemented(&self) -> Self::Error {
        StatusCode::OpUnsupported
    }

    async fn init(
        &mut self,
        _version: u32,
        _extensions: HashMap<String, String>,
    ) -> Result<Version, Self::Error> {
        Ok(Version::new())
    }

    async fn realpath(&mut self, id: u32, path: String) -> Result<Name, Self::Error> {
        Ok(Name {
            id,
            files: vec![File::dummy(self.absolute(&path))],
        })
    }

    async fn stat(&mut self, id: u32, path: String) -> Result<Attrs, Self::Error> {
        let path = self.absolute(&path);
        // Uploads land in directories: anything asked about that was not written here
        // is a directory (so `put x /tmp` and `cd /tmp` work), files written are files.
        let written = self
            .handles
            .values()
            .any(|o| matches!(o, Open::Write { path: p, .. } if *p == path));
        let attrs = if written {
            FileAttributes::empty()
        } else {
            Self::dir_attrs()
        };
        Ok(Attrs { id, attrs })
    }

    async fn lstat(&mut self, id: u32, path: String) -> Result<Attrs, Self::Error> {
        self.stat(id, path).await
    }

    async fn fstat(&mut self, id: u32, handle: String) -> Result<Attrs, Self::Error> {
        match self.handles.get(&handle) {
            Some(Open::Write { content, .. }) => {
                let mut attrs = FileAttributes::empty();
                attrs.size = Some(content.len() as u64);
                attrs.permissions = Some(0o100644);
                Ok(Attrs { id, attrs })
            }
            Some(Open::Dir { .. }) => Ok(Attrs {
                id,
                attrs: Self::dir_attrs(),
            }),
            None => Err(StatusCode::Failure),
        }
    }

    async fn open(
        &mut self,
        id: u32,
        filename: String,
        pflags: OpenFlags,
        _attrs: FileAttributes,
    ) -> Result<Handle, Self::Error> {
        if !pflags.intersects(OpenFlags::WRITE | OpenFlags::CREATE | OpenFlags::APPEND) {
            // Reading files of the fake host over SFTP is not offered.
            return Err(StatusCode::NoSuchFile);
        }
        let path = self.absolute(&filename);
        let handle = self.handle(Open::Write {
            path,
            content: Vec::new(),
            held: Held::none(&self.core.honeypot.upload_memory),
        })?;
        Ok(Handle { id, handle })
    }

    async fn write(
        &mut self,
        id: u32,
        handle: String,
        offset: u64,
        data: Vec<u8>,
    ) -> Result<Status, Self::Error> {
        let Some(Open::Write { content, held, .. }) = self.handles.get_mut(&handle) else {
            return Err(StatusCode::Failure);
        };
        let len = content.len() as u64;
        let end = offset.saturating_add(data.len() as u64);
        let growth = end.saturating_sub(len);
        if offset > len || end > MAX_FILE {
            self.core.honeypot.counters.upload_refused.inc();
            tracing::debug!(
                session = %self.core.id, offset, len, end,
                "sftp write refused (a hole or past the largest file)"
            );
            return Err(StatusCode::Failure);
        }
        if !self.core.take_upload(held, growth) {
            return Err(StatusCode::Failure);
        }
        // In bounds of usize: end <= MAX_FILE.
        let (offset, end) = (offset as usize, end as usize);
        let overlap = end.min(content.len());
        let (head, tail) = data.split_at(overlap.saturating_sub(offset));
        if let Some(dst) = content.get_mut(offset..overlap) {
            dst.copy_from_slice(head);
        }
        content.extend_from_slice(tail);
        Ok(Self::ok(id))
    }

    async fn close(&mut self, id: u32, handle: String) -> Result<Status, Self::Error> {
        match self.handles.remove(&handle) {
            Some(Open::Write {
                path,
                content,
                held,
            }) => {
                self.core.upload(&path, content).await;
                drop(held);
                Ok(Self::ok(id))
            }
            Some(Open::Dir { .. }) => Ok(Self::ok(id)),
            None => Err(StatusCode::Failure),
        }
    }

    async fn opendir(&mut self, id: u32, _path: String) -> Result<Handle, Self::Error> {
        let handle = self.handle(Open::Dir { listed: false })?;
        Ok(Handle { id, handle })
    }

    async fn readdir(&mut self, id: u32, handle: String) -> Result<Name, Self::Error> {
        match self.handles.get_mut(&handle) {
            Some(Open::Dir { listed }) if !*listed => {
                *listed = true;
                Ok(Name {
                    id,
                    files: vec![
                        File::new(".", Self::dir_attrs()),
                        File::new("..", Self::dir_attrs()),
                    ],
                })
            }
            Some(Open::Dir { .. }) => Err(StatusCode::Eof),
            _ => Err(StatusCode::Failure),
        }
    }

    async fn mkdir(
        &mut self,
        id: u32,
        _path: String,
        _attrs: FileAttributes,
    ) -> Result<Status, Self::Error> {
        Ok(Self::ok(id))
    }

    async fn setstat(
        &mut self,
        id: u32,
        _path: String,
        _attrs: FileAttributes,
    ) -> Result<Status, Self::Error> {
        Ok(Self::ok(id))
    }

    async fn fsetstat(
        &mut self,
        id: u32,
        _handle: String,
        _attrs: FileAttributes,
    ) -> Result<Status, Self::Error> {
        Ok(Self::ok(id))
    }

    async fn remove(&mut self, id: u32, _filename: String) -> Result<Status, Self::Error> {
        Ok(Self::ok(id))
    }

    async fn rename(
        &mut self,
        id: u32,
        _oldpath: String,
        _newpath: String,
    ) -> Result<Status, Self::Error> {
        Ok(Self::ok(id))
    }
}
