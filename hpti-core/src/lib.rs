//! hpti-core: the event model, the component traits and the pipeline runtime of hpti.
//!
//! Events flow one way: [`Source`](source::Source)s and [`Parser`](parser::Parser)s produce
//! [`Event`](event::Event)s; the [`Validator`](validate::Validator) sends bad ones to the
//! dead-letter file; [`Enricher`](enricher::Enricher)s add intelligence; the
//! [`Pipeline`](pipeline::Pipeline) fans batches out to [`Sink`](sink::Sink)s and
//! [`AlertRule`](alert::AlertRule)s.
//!
//! Without the default `runtime` feature the crate is only the data model, the traits'
//! data types, the validator and the parsers (no tokio), which keeps fuzz builds small.

pub mod alert;
pub mod alert_store;
#[cfg(feature = "runtime")]
pub mod component;
pub mod dead_letter;
pub mod enricher;
pub mod error;
pub mod event;
pub mod file;
pub mod notify;
pub mod parser;
pub mod parsers;
pub mod secret;
pub mod sink;
pub mod validate;

#[cfg(feature = "runtime")]
pub mod ack;
#[cfg(feature = "runtime")]
pub mod buffer;
#[cfg(feature = "runtime")]
pub mod collect;
#[cfg(feature = "runtime")]
pub mod health;
#[cfg(feature = "runtime")]
pub mod metrics;
#[cfg(feature = "runtime")]
pub mod pipeline;
#[cfg(feature = "runtime")]
pub mod source;
#[cfg(feature = "testing")]
pub mod testing;

pub use event::{Event, EventId, EventKind, Protocol, Timestamp};
