//! The analytics domain, free of I/O: what a stream change adds to the
//! per-org per-day aggregates, the counters those hold, the latency
//! histogram behind the percentiles, and the summary folded from a range of
//! aggregates. The aggregator that applies it lives in [`crate::analytics`].
//!
//! - [`change`]: what one stream record means for the counts;
//! - [`aggregate`]: the counters each per-org per-day item holds;
//! - [`histogram`]: the fixed latency buckets behind the percentiles;
//! - [`topk`]: the bounded top end users and tags of a day;
//! - [`window`]: what a shard's tumbling window folds in between commits;
//! - [`summary`]: folds a range of day items into the dashboard's summary.

pub mod aggregate;
pub mod change;
pub mod histogram;
pub mod summary;
pub mod topk;
pub mod window;

pub use aggregate::{Counters, DayAggregate, DayDelta, OrgDelta, TopKind};
pub use change::{ChatFacts, ChatState, Deltas, MessageFacts, Sequence, StreamChange, Tracked};
pub use summary::{DayRange, Summary};
pub use topk::TopK;
pub use window::{OrgCommit, Orphan, WindowState};
