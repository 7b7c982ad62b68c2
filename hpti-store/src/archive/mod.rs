//! The archive (`type = "archive"`): events as zstd-compressed hpti JSON lines, one
//! object per hour and sensor of each batch, in a local directory or an S3-compatible
//! bucket, through the [`object_store`] crate.
//!
//! Objects are named `[prefix/]YYYY/MM/DD/HH/<sensor>-<first event time>-<digest>.jsonl.zst`
//! by the events' own (UTC) time. An object is written whole or not at all (a local file
//! is written aside and renamed; an S3 `PUT` is atomic), and a batch is acknowledged only
//! once every one of its objects exists, so a crash loses nothing that was acknowledged.
//! The digest is of the ids the object holds: a batch written again after a failure
//! replaces its own objects instead of adding copies. A longer `batch_linger` gives fewer,
//! larger objects (several per hour and sensor when batches fill sooner).
//!
//! `hpti ingest --format hpti FILES` reads these objects back (zstd is detected), and
//! `hpti ingest --from-archive <sink id>` fetches them from wherever the sink writes.

mod config;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures::TryStreamExt as _;
use hpti_core::error::ErrorClass;
use hpti_core::event::{Event, Timestamp};
use hpti_core::secret::Secret;
use hpti_core::sink::{Sink, SinkCapabilities, SinkError, WriteReport};
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, PutPayload};
use sha2::{Digest as _, Sha256};
use tokio::io::AsyncWriteExt as _;

pub use config::ArchiveSinkConfig;

use crate::error::StoreError;

/// Where an archive is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArchiveLocation {
    /// A local directory.
    Directory(PathBuf),
    /// An S3-compatible bucket.
    S3(S3Settings),
}

/// An S3-compatible bucket and how to reach it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Settings {
    /// The bucket.
    pub bucket: String,
    /// The key prefix inside it, without slashes at either end (may be empty).
    pub prefix: String,
    /// The endpoint of a server other than AWS.
    pub endpoint: Option<String>,
    /// The region.
    pub region: String,
    /// The access key id (else the usual `AWS_*` environment variables).
    pub access_key_id: Option<Secret>,
    /// The secret access key (else the usual `AWS_*` environment variables).
    pub secret_access_key: Option<Secret>,
    /// Whether a plain `http://` endpoint is allowed.
    pub allow_http: bool,
}

/// An archive sink's checked settings.
#[derive(Debug, Clone)]
pub struct ArchiveOptions {
    /// Where.
    pub location: ArchiveLocation,
    /// zstd level.
    pub compression_level: i32,
    /// Time limit of one upload.
    pub timeout: Duration,
}

/// The store behind an archive and the prefix of its objects.
#[derive(Debug, Clone)]
struct Bucket {
    store: Arc<dyn ObjectStore>,
    prefix: Option<ObjectPath>,
    /// `file:///dir` or `s3://bucket/prefix`, for messages.
    target: String,
}

impl Bucket {
    fn open(location: &ArchiveLocation, timeout: Duration) -> Result<Self, StoreError> {
        let open_error = |target: &str, e: object_store::Error| StoreError::Connect {
            target: target.to_owned(),
            class: ErrorClass::Permanent,
            source: Box::new(e),
        };
        match location {
            ArchiveLocation::Directory(dir) => {
                let target = format!("file://{}", dir.display());
                std::fs::create_dir_all(dir).map_err(|e| StoreError::Open {
                    path: dir.clone(),
                    source: Box::new(e),
                })?;
                let store = object_store::local::LocalFileSystem::new_with_prefix(dir)
                    .map_err(|e| open_error(&target, e))?;
                Ok(Self {
                    store: Arc::new(store),
                    prefix: None,
                    target,
                })
            }
            ArchiveLocation::S3(s3) => {
                let target = if s3.prefix.is_empty() {
                    format!("s3://{}", s3.bucket)
                } else {
                    format!("s3://{}/{}", s3.bucket, s3.prefix)
                };
                let client = object_store::ClientOptions::new()
                    .with_timeout(timeout)
                    .with_allow_http(s3.allow_http);
                let mut builder = object_store::aws::AmazonS3Builder::from_env()
                    .with_bucket_name(&s3.bucket)
                    .with_region(&s3.region)
                    .with_client_options(client)
                    .with_allow_http(s3.allow_http);
                if let Some(endpoint) = &s3.endpoint {
                    builder = builder.with_endpoint(endpoint);
                }
                if let Some(key) = &s3.access_key_id {
                    builder = builder.with_access_key_id(key.expose());
                }
                if let Some(secret) = &s3.secret_access_key {
                    builder = builder.with_secret_access_key(secret.expose());
                }
                let store = builder.build().map_err(|e| open_error(&target, e))?;
                let prefix = (!s3.prefix.is_empty()).then(|| ObjectPath::from(s3.prefix.as_str()));
                Ok(Self {
                    store: Arc::new(store),
                    prefix,
                    target,
                })
            }
        }
    }

    /// `relative` under the archive's prefix.
    fn path(&self, relative: &str) -> ObjectPath {
        match &self.prefix {
            Some(prefix) => ObjectPath::from(format!("{prefix}/{relative}")),
            None => ObjectPath::from(relative),
        }
    }
}

/// Whether retrying an object-store failure may help: refused credentials and bad
/// names will not get better by themselves.
fn class_of(err: &object_store::Error) -> ErrorClass {
    match err {
        object_store::Error::PermissionDenied { .. }
        | object_store::Error::Unauthenticated { .. }
        | object_store::Error::InvalidPath { .. }
        | object_store::Error::NotSupported { .. }
        | object_store::Error::NotImplemented
        | object_store::Error::UnknownConfigurationKey { .. } => ErrorClass::Permanent,
        _ => ErrorClass::Temporary,
    }
}

/// A sensor name as it may appear in an object name: letters, digits, `.`, `_` and `-`,
/// at most 64 of them (the sensor is attacker-influenced for foreign logs).
fn object_safe(sensor: &str) -> String {
    let safe: String = sensor
        .chars()
        .take(64)
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if safe.is_empty() || safe.starts_with('.') {
        format!("s{safe}")
    } else {
        safe
    }
}

/// The name of the object holding `events` (all of one hour and sensor), relative to the
/// archive's prefix.
pub fn object_name(events: &[&Event]) -> String {
    let first = events.first().map_or(Timestamp::from_micros(0), |e| e.time);
    let sensor = events.first().map_or("none", |e| e.sensor.as_str());
    let mut digest = Sha256::new();
    for event in events {
        digest.update(event.id.to_string().as_bytes());
    }
    let digest = digest.finalize();
    let short: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    let (dir, stamp) = first.to_datetime().map_or_else(
        || ("0000/00/00/00".to_owned(), "00000000T000000Z".to_owned()),
        |t| {
            (
                t.format("%Y/%m/%d/%H").to_string(),
                t.format("%Y%m%dT%H%M%SZ").to_string(),
            )
        },
    );
    format!("{dir}/{}-{stamp}-{short}.jsonl.zst", object_safe(sensor))
}

/// The archive sink.
#[derive(Debug)]
pub struct ArchiveSink {
    bucket: Bucket,
    options: ArchiveOptions,
}

impl ArchiveSink {
    /// Opens the archive (creating a local directory).
    pub fn open(options: ArchiveOptions) -> Result<Self, StoreError> {
        Ok(Self {
            bucket: Bucket::open(&options.location, options.timeout)?,
            options,
        })
    }

    /// `file:///dir` or `s3://bucket/prefix`.
    pub fn target(&self) -> &str {
        &self.bucket.target
    }

    async fn put(&self, name: &str, lines: Vec<u8>) -> Result<(), SinkError> {
        let level = self.options.compression_level;
        let compressed = tokio::task::spawn_blocking(move || zstd::bulk::compress(&lines, level))
            .await
            .map_err(|e| SinkError::temporary("compressing an archive object", e))?
            .map_err(|e| SinkError::temporary("compressing an archive object", e))?;
        let path = self.bucket.path(name);
        let target = &self.bucket.target;
        match tokio::time::timeout(
            self.options.timeout,
            self.bucket.store.put(&path, PutPayload::from(compressed)),
        )
        .await
        {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(err)) => Err(SinkError::new(
                class_of(&err),
                format!("cannot write {path} to {target}"),
                err,
            )),
            Err(_) => Err(SinkError::msg(
                ErrorClass::Temporary,
                format!(
                    "writing {path} to {target} took longer than {:?}",
                    self.options.timeout
                ),
            )),
        }
    }
}

#[async_trait]
impl Sink for ArchiveSink {
    fn name(&self) -> &str {
        "archive"
    }

    fn capabilities(&self) -> SinkCapabilities {
        SinkCapabilities::DURABLE
    }

    async fn write(&self, events: &[&Event]) -> Result<WriteReport, SinkError> {
        // Group by hour and sensor, keeping the batch's order inside each group.
        let mut order: Vec<(i64, &str)> = Vec::new();
        let mut groups: HashMap<(i64, &str), Vec<&Event>> = HashMap::new();
        for event in events {
            let key = (
                event.time.as_micros().div_euclid(3_600_000_000),
                event.sensor.as_str(),
            );
            let group = groups.entry(key).or_default();
            if group.is_empty() {
                order.push(key);
            }
            group.push(event);
        }
        for key in order {
            let Some(group) = groups.get(&key) else {
                continue;
            };
            let mut lines = Vec::with_capacity(group.len() * 512);
            for event in group {
                serde_json::to_writer(&mut lines, event)
                    .map_err(|e| SinkError::permanent("encoding an event", e))?;
                lines.push(b'\n');
            }
            self.put(&object_name(group), lines).await?;
        }
        Ok(WriteReport::delivered())
    }
}

/// One object of an archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchivedObject {
    /// Its name relative to the archive's prefix (`2026/12/05/21/ssh-....jsonl.zst`).
    pub name: String,
    /// Compressed size in bytes.
    pub size: u64,
}

/// Reads an archive back: lists its objects and fetches them.
#[derive(Debug)]
pub struct ArchiveReader {
    bucket: Bucket,
}

impl ArchiveReader {
    /// Opens the archive of a sink with `options`.
    pub fn open(options: &ArchiveOptions) -> Result<Self, StoreError> {
        Ok(Self {
            bucket: Bucket::open(&options.location, options.timeout)?,
        })
    }

    /// `file:///dir` or `s3://bucket/prefix`.
    pub fn target(&self) -> &str {
        &self.bucket.target
    }

    /// Every object of the archive, by name (which is by time).
    pub async fn list(&self) -> Result<Vec<ArchivedObject>, StoreError> {
        let listed: Vec<object_store::ObjectMeta> = self
            .bucket
            .store
            .list(self.bucket.prefix.as_ref())
            .try_collect()
            .await
            .map_err(|e| StoreError::Database {
                class: class_of(&e),
                source: Box::new(e),
            })?;
        let strip = self
            .bucket
            .prefix
            .as_ref()
            .map(|p| format!("{p}/"))
            .unwrap_or_default();
        let mut objects: Vec<ArchivedObject> = listed
            .into_iter()
            .filter(|meta| meta.location.as_ref().ends_with(".jsonl.zst"))
            .map(|meta| ArchivedObject {
                name: meta
                    .location
                    .as_ref()
                    .strip_prefix(&strip)
                    .unwrap_or(meta.location.as_ref())
                    .to_owned(),
                size: meta.size,
            })
            .collect();
        objects.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(objects)
    }

    /// Copies object `name` (still compressed) to the file `to`, chunk by chunk.
    pub async fn fetch(&self, name: &str, to: &Path) -> Result<u64, StoreError> {
        let database = |e: object_store::Error| StoreError::Database {
            class: class_of(&e),
            source: Box::new(e),
        };
        let io = |e: std::io::Error| StoreError::Open {
            path: to.to_owned(),
            source: Box::new(e),
        };
        let mut stream = self
            .bucket
            .store
            .get(&self.bucket.path(name))
            .await
            .map_err(database)?
            .into_stream();
        if let Some(parent) = to.parent() {
            tokio::fs::create_dir_all(parent).await.map_err(io)?;
        }
        let mut file = tokio::fs::File::create(to).await.map_err(io)?;
        let mut bytes = 0u64;
        while let Some(chunk) = stream.try_next().await.map_err(database)? {
            bytes += chunk.len() as u64;
            file.write_all(&chunk).await.map_err(io)?;
        }
        file.sync_all().await.map_err(io)?;
        Ok(bytes)
    }
}

/// Decompresses an archive object's bytes into its JSON lines, refusing to grow past
/// `max` bytes (a decompression bomb).
pub fn decompress(compressed: &[u8], max: usize) -> Result<Vec<u8>, StoreError> {
    let mut decoder = zstd::stream::read::Decoder::new(compressed)
        .map_err(|e| StoreError::Decode(format!("not zstd: {e}")))?;
    let mut out = Vec::new();
    let mut limited = std::io::Read::take(&mut decoder, max as u64 + 1);
    std::io::Read::read_to_end(&mut limited, &mut out)
        .map_err(|e| StoreError::Decode(format!("damaged zstd: {e}")))?;
    if out.len() > max {
        return Err(StoreError::Decode(format!(
            "an archive object decompresses to more than {max} bytes"
        )));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hpti_core::event::{EventKind, Protocol};

    #[test]
    fn object_names_carry_hour_sensor_and_a_digest_of_the_ids() {
        let time = Timestamp::parse_rfc3339("2026-12-05T21:52:44Z").unwrap();
        let a = Event::new(
            "ssh/../../etc",
            Protocol::Ssh,
            "192.0.2.1".parse().unwrap(),
            EventKind::SessionStarted,
        )
        .with_time(time);
        let b = a.clone().with_time(time);
        let name = object_name(&[&a]);
        assert!(
            name.starts_with("2026/12/05/21/ssh_.._.._etc-20261205T215244Z-"),
            "{name}"
        );
        assert!(name.ends_with(".jsonl.zst"));
        assert_eq!(name, object_name(&[&b]), "same ids, same name");
        let c = Event::new(
            "ssh",
            Protocol::Ssh,
            "192.0.2.1".parse().unwrap(),
            EventKind::SessionStarted,
        )
        .with_time(time);
        assert_ne!(object_name(&[&a, &c]), object_name(&[&a]));
        assert_eq!(object_safe(".."), "s..");
    }

    #[test]
    fn decompression_is_bounded() {
        let big = vec![b'a'; 1 << 20];
        let packed = zstd::bulk::compress(&big, 3).unwrap();
        assert_eq!(decompress(&packed, 1 << 20).unwrap().len(), 1 << 20);
        assert!(decompress(&packed, 1000).is_err());
        assert!(decompress(b"not zstd at all", 1000).is_err());
    }
}
