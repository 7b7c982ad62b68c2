//! The alerting engine: rules that watch the stored events ([`rules`]), and (with the
//! notifiers) the alert manager that groups, deduplicates and delivers what they raise.

pub mod manager;
#[cfg(any(
    feature = "webhook",
    feature = "slack",
    feature = "discord",
    feature = "pagerduty"
))]
pub mod notifiers;
pub mod rules;
