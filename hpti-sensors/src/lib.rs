//! hpti-sensors: the network honeypots (SSH, Telnet, HTTP, FTP) behind
//! [`hpti_core::sensor::Sensor`]. They arrive with their own issues; this crate is the
//! place they live.
