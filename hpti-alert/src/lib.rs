//! hpti-alert: alert rules behind [`hpti_core::alert::AlertRule`] and the notifiers that
//! deliver their alerts. The full engine arrives with its own issue; this crate is the
//! place it lives.
