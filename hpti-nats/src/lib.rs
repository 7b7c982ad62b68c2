//! Distributed mode on NATS JetStream: edge sensors publish their events to a stream,
//! one or more center processes consume it into the normal pipeline.
//!
//! ```text
//!  edge (hpti run --config edge.toml)             center (hpti run --config center.toml)
//!  sensors ─▶ disk buffer (outbox) ─▶ [sinks.up] ─▶ JetStream ─▶ [sources.edge] ─▶ validate ─▶ enrich ─▶ sinks ─▶ rules
//!                                type = "nats"   stream HPTI    type = "nats"
//!                  heartbeat ─▶ hpti.fleet.<host> ───────────────▶ fleet.json (hpti fleet)
//! ```
//!
//! - [`sink`]: publishes each event with its id as `Nats-Msg-Id`; delivered means
//!   acknowledged by JetStream.
//! - [`source`]: a durable pull consumer; a message is acknowledged only when every
//!   durable sink of the center stored its event.
//! - [`setup`]: the stream (a work queue) and the consumer (`hpti nats setup`).
//! - [`fleet`]: heartbeats and the center's record of its edges (`hpti fleet`).
//! - [`connect`]: URL, credentials and TLS, shared by all of them.
//!
//! Exactly-once storage comes from the sinks, not the broker: JetStream drops a repeated
//! `Nats-Msg-Id` only within its duplicate window (2 minutes by default), and an event
//! delivered again after that (an edge replaying its outbox after a long outage, a
//! center that crashed before acknowledging) is stored once because the center's sinks
//! are idempotent on the event id.

pub mod connect;
pub mod fleet;
pub mod setup;
pub mod sink;
pub mod source;

pub use async_nats;
pub use connect::{NatsAuth, NatsConnect, NatsTls};
pub use sink::NatsSinkConfig;
pub use source::NatsSourceConfig;
