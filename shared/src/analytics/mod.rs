//! The stream aggregator: a shard's changes to chats and messages, folded
//! into per-org per-day aggregates in tumbling windows and committed once
//! per org per window. What a change counts, the aggregates and the summary
//! are pure domain logic, in [`crate::domain::analytics`].
//!
//! - [`window`]: the entry point, one window invocation;
//! - [`aggregator`]: committing each org's share exactly once, parking what
//!   keeps failing, and replaying it.

pub mod aggregator;
pub mod window;

pub use aggregator::{CommitReport, ReplayReport, replay_parked};
pub use window::{WindowReport, handle_window, window_event};
