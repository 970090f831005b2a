//! The analytics domain, free of I/O: what a stream change adds to the
//! per-org per-day aggregates, the counters those hold, the latency
//! histogram behind the percentiles, and the summary folded from a range of
//! aggregates. The aggregator that applies it lives in [`crate::analytics`].
//!
//! - [`change`]: what one stream record means for the counts;
//! - [`aggregate`]: the counters each per-org per-day item holds;
//! - [`histogram`]: the fixed latency buckets behind the percentiles;
//! - [`topk`]: the bounded top end users and tags of a day;
//! - [`pending`]: what the aggregator has read and not committed, per org,
//!   and when an org is due;
//! - [`stored`]: an org-day as stored (counters with pending top changes,
//!   and the tops), and how pending changes fold into the tops;
//! - [`journal`]: where the aggregator stands on the stream, so that every
//!   record counts once across runs and crashes;
//! - [`summary`]: folds a range of day items into the dashboard's summary.

pub mod aggregate;
pub mod change;
pub mod histogram;
pub mod journal;
pub mod pending;
pub mod stored;
pub mod summary;
pub mod topk;

pub use aggregate::{Counters, DayAggregate, DayDelta, OrgDelta, TopKind};
pub use change::{ChatFacts, ChatState, Deltas, MessageFacts, Sequence, StreamChange, Tracked};
pub use journal::{Journal, ShardInfo};
pub use pending::{Cadence, OrgPending, Origin, Orphan, Pending};
pub use stored::{DayCounters, DayState, DayTops, Round, TopChanges};
pub use summary::{DayRange, Summary};
pub use topk::TopK;
