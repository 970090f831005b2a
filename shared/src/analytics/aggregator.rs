//! Committing a window's changes: each org on its own, exactly once.
//!
//! - **Exactly once.** A commit writes a marker named after its shard, its
//!   first record and its chunk, in the same transaction as the counts. A
//!   retried invocation rebuilds the same commit from the same state and
//!   finds the marker. There is no marker per message: one per org per
//!   window.
//! - **Isolation.** Each org's commit is its own transaction. One that keeps
//!   failing (after [`COMMIT_ATTEMPTS`] tries) is parked with its cause and
//!   replayed later ([`replay_parked`]); the other orgs commit regardless.
//! - **Top summaries** are read, updated in memory and written back on the
//!   condition that their version did not change; a concurrent commit of
//!   another shard makes the transaction refuse, and it is tried again.

use std::{collections::BTreeMap, time::Duration};

use futures::{StreamExt, stream};

use crate::{
    domain::analytics::{OrgCommit, TopKind},
    sdk_error::error_chain,
    store::{AggregatorStore, Committed, StoreError, TopWrite},
};

/// Tries per org commit before it is parked: throttling, timeouts and
/// contention on a top summary are retried with backoff up to this.
pub const COMMIT_ATTEMPTS: u32 = 5;
/// Org commits sent at once.
const PARALLEL_COMMITS: usize = 8;
/// Retrying in place is for brief trouble. Past this, a commit is parked:
/// a database that is timing out (each call up to its operation timeout)
/// must not keep the function running into its own timeout.
const RETRY_WINDOW: Duration = Duration::from_secs(10);

/// What committing one org's changes came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Committed,
    /// A retry of a commit that was done.
    AlreadyCommitted,
    /// It kept failing: kept to be replayed.
    Parked,
}

/// How many commits came to each [`Outcome`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CommitReport {
    pub committed: usize,
    pub already_committed: usize,
    pub parked: usize,
}

/// Commits every org's changes, in parallel; what keeps failing is parked.
/// Fails only when a failed commit cannot be parked either (the store is
/// down): the caller then retries the whole invocation, which re-commits
/// nothing that was done.
pub async fn commit_all(
    store: &dyn AggregatorStore,
    commits: Vec<OrgCommit>,
) -> Result<CommitReport, StoreError> {
    let outcomes: Vec<Result<Outcome, StoreError>> = stream::iter(commits)
        .map(|commit| async move { commit_or_park(store, &commit).await })
        .buffer_unordered(PARALLEL_COMMITS)
        .collect()
        .await;
    let mut report = CommitReport::default();
    for outcome in outcomes {
        match outcome? {
            Outcome::Committed => report.committed += 1,
            Outcome::AlreadyCommitted => report.already_committed += 1,
            Outcome::Parked => report.parked += 1,
        }
    }
    Ok(report)
}

async fn commit_or_park(
    store: &dyn AggregatorStore,
    commit: &OrgCommit,
) -> Result<Outcome, StoreError> {
    match commit_org(store, commit).await {
        Ok(outcome) => Ok(outcome),
        Err(error) => {
            let reason = error_chain(&error);
            store.park(commit, &reason).await?;
            // `analytics_parked` feeds the template's metric filter and alarm.
            tracing::error!(
                org_id = %commit.org,
                commit = %commit.name(),
                analytics_parked = 1,
                error = %reason,
                "analytics commit parked after {COMMIT_ATTEMPTS} attempts; replay it with `chatlogger-admin analytics replay`"
            );
            Ok(Outcome::Parked)
        }
    }
}

/// One org's commit, tried up to [`COMMIT_ATTEMPTS`] times within
/// [`RETRY_WINDOW`].
pub async fn commit_org(
    store: &dyn AggregatorStore,
    commit: &OrgCommit,
) -> Result<Outcome, StoreError> {
    let mut last_error = None;
    let started = tokio::time::Instant::now();
    for attempt in 0..COMMIT_ATTEMPTS {
        if attempt > 0 {
            if started.elapsed() > RETRY_WINDOW {
                break;
            }
            tokio::time::sleep(backoff(attempt)).await;
        }
        match try_commit(store, commit).await {
            Ok(Committed::Done) => return Ok(Outcome::Committed),
            Ok(Committed::AlreadyDone) => return Ok(Outcome::AlreadyCommitted),
            Ok(Committed::TopChanged) => {
                tracing::debug!(org_id = %commit.org, attempt, "top summary changed meanwhile; reading it again");
                last_error = Some(StoreError::transient(
                    "a top summary kept changing under concurrent commits",
                ));
            }
            Err(error @ StoreError::Transient(_)) => {
                tracing::warn!(org_id = %commit.org, attempt, error = %error_chain(&error), "analytics commit failed for now; retrying");
                last_error = Some(error);
            }
            Err(error) => return Err(error),
        }
    }
    Err(last_error.expect("at least one attempt"))
}

/// Reads the commit's top summaries, applies its changes to them, and
/// writes everything in one transaction.
async fn try_commit(
    store: &dyn AggregatorStore,
    commit: &OrgCommit,
) -> Result<Committed, StoreError> {
    let days: Vec<_> = commit.days.keys().copied().collect();
    let mut stored = store.tops(commit.org, &days).await?;
    let mut writes = Vec::new();
    for (day, delta) in &commit.days {
        for (kind, changes) in [(TopKind::Users, &delta.users), (TopKind::Tags, &delta.tags)] {
            if changes.is_empty() {
                continue;
            }
            let current = stored.remove(&(*day, kind)).unwrap_or_default();
            let mut top = current.top;
            top.apply(changes);
            writes.push(TopWrite {
                day: *day,
                kind,
                top,
                expected: current.version,
            });
        }
    }
    store.commit(commit, &writes).await
}

/// 50 ms doubling, with up to 50% jitter, so commits of several shards
/// that met on one top summary do not meet again.
fn backoff(attempt: u32) -> Duration {
    let base = 50u64 << attempt.min(6);
    let jitter = rand_below(base / 2 + 1);
    Duration::from_millis(base + jitter)
}

fn rand_below(n: u64) -> u64 {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).expect("the OS random source works");
    u64::from_le_bytes(bytes) % n.max(1)
}

/// What replaying parked commits did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplayReport {
    pub replayed: usize,
    /// Parked commits whose write had happened after all.
    pub already_committed: usize,
    /// Still failing: left parked, with the cause of this attempt.
    pub still_failing: BTreeMap<String, String>,
}

/// Commits up to `limit` parked commits again, oldest first, and removes
/// those that are done. Safe to run any time, and twice.
pub async fn replay_parked(
    store: &dyn AggregatorStore,
    limit: u16,
) -> Result<ReplayReport, StoreError> {
    let mut report = ReplayReport::default();
    for parked in store.parked(limit).await? {
        match commit_org(store, &parked.commit).await {
            Ok(outcome) => {
                store.unpark(&parked.commit).await?;
                match outcome {
                    Outcome::AlreadyCommitted => report.already_committed += 1,
                    _ => report.replayed += 1,
                }
                tracing::info!(org_id = %parked.commit.org, commit = %parked.commit.name(), "parked analytics commit replayed");
            }
            Err(error) => {
                report
                    .still_failing
                    .insert(parked.commit.name(), error_chain(&error));
            }
        }
    }
    Ok(report)
}
