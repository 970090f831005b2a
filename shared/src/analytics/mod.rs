//! The stream aggregator: one reader of the table's whole stream folds
//! changes to chats and messages into per-org per-day aggregates, and
//! commits each org once per cadence, whatever the number of shards. What
//! a change counts, the aggregates and the summary are pure domain logic,
//! in [`crate::domain::analytics`].
//!
//! - [`reader`]: the run (lease, rounds, journals, reading again after a
//!   restart);
//! - [`commit`]: committing an org-day exactly once in one small write,
//!   folding top changes, parking what keeps failing, and replaying it.

pub mod commit;
pub mod reader;

#[cfg(test)]
mod tests;

pub use commit::{CommitReport, ReplayReport, replay_parked};
pub use reader::{
    Invocation, Reader, ReaderConfig, ReaderError, RoundReport, Start, log_round, run_invocation,
    run_until,
};
