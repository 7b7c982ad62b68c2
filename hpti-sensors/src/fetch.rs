//! Outbound fetches and the artifact store (in progress).
