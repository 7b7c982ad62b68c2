//! Credential policy (in progress).
