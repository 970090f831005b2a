//! Exact per-org analytics from stream-fed aggregates.
//!
//! - [`change`]: what one stream record means for the counts;
//! - [`aggregator`]: counts a batch of records exactly once, in batched
//!   transactions (the aggregator Lambda and the local server run it);
//! - [`aggregate`]: the counters each per-org per-day item holds;
//! - [`histogram`]: the fixed latency buckets behind the percentiles;
//! - [`stream`]: the entry point for a DynamoDB stream event;
//! - [`summary`]: folds a range of day items into the dashboard's summary.

pub mod aggregate;
pub mod aggregator;
pub mod change;
pub mod histogram;
pub mod stream;
pub mod summary;

pub use aggregate::{AggregateKey, AggregatePart, Counters};
pub use aggregator::{AggregatorStore, Applied, BatchReport, FailedFrom, aggregate};
pub use change::{ChatFacts, ChatState, Marker, MessageFacts, StreamChange, Tracked};
pub use stream::handle_stream_batch;
pub use summary::{DayRange, Summary};
