//! hpti-sensors: the network honeypots behind [`hpti_core::sensor::Sensor`].
//!
//! - [`shell`]: the emulated Debian-like shell (pure emulation: nothing is executed,
//!   no real file is touched) shared by the SSH and Telnet sensors.
//! - [`fetch`]: outbound fetches for `wget`/`curl`/`tftp` with an SSRF guard, limits
//!   and rate limits, and the [`fetch::ArtifactStore`] where captured files are kept
//!   by sha256.
//! - [`policy`]: which login attempts succeed.
//! - [`recording`]: asciicast v2 session recordings.

pub mod fetch;
pub mod policy;
pub mod recording;
pub mod shell;
