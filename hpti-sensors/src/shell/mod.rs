//! The emulated shell (in progress).
