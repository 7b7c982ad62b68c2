//! hpti-sensors: the network honeypots behind [`hpti_core::source::Source`].
//!
//! - [`shell`]: the emulated Debian-like shell (pure emulation: nothing is executed,
//!   no real file is touched) shared by the SSH and Telnet sensors.
//! - [`fetch`]: outbound fetches for `wget`/`curl`/`tftp` with an SSRF guard, limits
//!   and rate limits, and the [`fetch::ArtifactStore`] where captured files are kept
//!   by sha256.
//! - [`policy`]: which login attempts succeed.
//! - [`recording`]: asciicast v2 session recordings.
//! - [`honeypot`] and [`session`]: what the interactive sensors share.
//! - `ssh` (feature `ssh`): the SSH honeypot.
//! - `telnet` (feature `telnet`): the Telnet honeypot.
//! - `ftp` (feature `ftp`): the FTP honeypot (vsftpd 3.0.3).
//! - `http` (feature `http`): the HTTP honeypot (web application personas).
//! - `tls` (with `http` or `ftp`): certificates, and the client hello's JA4.
//! - [`component`]: both as components of the pipeline (`[sensors.<id>] type = ...`).

pub mod component;
pub mod fetch;
#[cfg(feature = "ftp")]
pub mod ftp;
pub mod honeypot;
#[cfg(feature = "http")]
pub mod http;
pub mod policy;
pub mod recording;
pub mod session;
pub mod shell;
#[cfg(feature = "ssh")]
pub mod ssh;
#[cfg(feature = "telnet")]
pub mod telnet;
#[cfg(feature = "tls")]
pub mod tls;
mod uploads;
