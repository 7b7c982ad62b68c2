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
//! - [`ssh`]: the SSH honeypot.
//! - [`telnet`]: the Telnet honeypot.

pub mod fetch;
pub mod honeypot;
pub mod policy;
pub mod recording;
pub mod session;
pub mod shell;
pub mod ssh;
pub mod telnet;
