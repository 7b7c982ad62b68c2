//! Error classification shared by the component traits.

/// How the runtime should treat a failure (after OpenDAL's `ErrorStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorClass {
    /// May succeed if tried again later (connection refused, timeout, lock contention).
    Temporary,
    /// Will fail again with the same input (constraint violation, bad request): dead-letter now.
    Permanent,
}

/// A boxed error usable as a `source`.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;
