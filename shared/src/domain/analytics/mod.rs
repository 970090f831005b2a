//! The analytics domain, free of I/O: what a stream change adds to the
//! per-org per-day aggregates, the counters those hold, the latency
//! histogram behind the percentiles, and the summary folded from a range of
//! aggregates. The aggregator that applies it lives in [`crate::analytics`].
//!
//! - [`change`]: what one stream record means for the counts;
//! - [`aggregate`]: the counters each per-org per-day item holds;
//! - [`histogram`]: the fixed latency buckets behind the percentiles;
//! - [`summary`]: folds a range of day items into the dashboard's summary.

pub mod aggregate;
pub mod change;
pub mod histogram;
pub mod summary;

pub use aggregate::{AggregateKey, AggregatePart, Counters};
pub use change::{ChatFacts, ChatState, Marker, MessageFacts, StreamChange, Tracked};
pub use summary::{DayRange, Summary};
