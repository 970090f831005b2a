//! Exact per-org analytics from stream-fed per-day aggregates: the
//! aggregator that applies stream changes to the aggregates exactly once.
//! The pure parts (what a change counts, the aggregates, the summary) are
//! in [`crate::domain::analytics`].

pub mod aggregator;
pub mod stream;

pub use aggregator::{BatchReport, FailedFrom, aggregate};
pub use stream::handle_stream_batch;
