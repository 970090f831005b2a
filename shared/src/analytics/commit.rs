//! Committing an org's pending changes: each org-day on its own, exactly
//! once, in one write of its counters item in the usual case.
//!
//! - **One write.** A day's counters take the commit's counters (`ADD`) and
//!   its top changes (appended to the pending list) in one `UpdateItem`,
//!   conditional on the round: a day that holds this round already refuses
//!   it. No read first.
//! - **Folds.** When appending would make the counters item bill one more
//!   write unit, the pending changes are folded into the tops instead: the
//!   tops are written (conditional on their generation), then the counters
//!   (adding the commit's counters, dropping the folded entries,
//!   conditional on the generation and the pending list's length). Between
//!   the two, readers stay exact (see [`crate::domain::analytics::stored`]).
//! - **Isolation.** A day whose commit keeps failing (after
//!   [`COMMIT_ATTEMPTS`] tries) is parked with its cause and replayed later
//!   ([`replay_parked`]); every other org-day commits regardless.

use std::{num::NonZeroUsize, sync::Mutex, time::Duration};

use futures::{StreamExt, stream};
use lru::LruCache;
use time::{Date, OffsetDateTime};

use crate::{
    domain::{
        OrgId,
        analytics::{
            Counters, DayCounters, DayDelta, DayState, DayTops, OrgPending, Orphan, Round,
            TopChanges,
        },
    },
    sdk_error::error_chain,
    store::{AggregatorStore, DayWrite, EndFold, ParkedDay, StoreError},
};

/// Tries per org-day commit before it is parked: throttling and timeouts
/// are retried with backoff up to this.
pub const COMMIT_ATTEMPTS: u32 = 5;
/// Org commits sent at once.
const PARALLEL_COMMITS: usize = 16;
/// Retrying in place is for brief trouble; past this, a commit is parked.
const RETRY_WINDOW: Duration = Duration::from_secs(10);
/// Org-days whose items the reader remembers (a few KB each, in a 128 MB
/// function): one that is evicted costs a read at its next fold.
const CACHED_DAYS: usize = 10_000;

/// What committing one org-day came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Committed,
    /// The day holds this round already (a new run reading again what a
    /// crashed one committed).
    AlreadyCommitted,
    /// It kept failing: kept to be replayed.
    Parked,
}

/// What a round's commits did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CommitReport {
    pub orgs: usize,
    pub committed: usize,
    pub already_committed: usize,
    pub parked: usize,
    pub folds: usize,
    pub orphans_deleted: usize,
}

impl CommitReport {
    fn count(&mut self, outcome: Outcome) {
        match outcome {
            Outcome::Committed => self.committed += 1,
            Outcome::AlreadyCommitted => self.already_committed += 1,
            Outcome::Parked => self.parked += 1,
        }
    }

    pub fn add(&mut self, other: &CommitReport) {
        self.orgs += other.orgs;
        self.committed += other.committed;
        self.already_committed += other.already_committed;
        self.parked += other.parked;
        self.folds += other.folds;
        self.orphans_deleted += other.orphans_deleted;
    }
}

/// An org-day as the reader last wrote or read it. The counters' values
/// are not kept (a commit never needs them), only what decides a fold.
#[derive(Debug, Clone, Default)]
pub struct CachedDay {
    pub counters: DayCounters,
    /// Known once read or written.
    pub tops: Option<DayTops>,
}

/// The org-days the reader knows, so that a commit needs no read.
pub struct DayCache(Mutex<LruCache<(OrgId, Date), CachedDay>>);

impl Default for DayCache {
    fn default() -> Self {
        Self(Mutex::new(LruCache::new(
            NonZeroUsize::new(CACHED_DAYS).expect("not zero"),
        )))
    }
}

impl DayCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, LruCache<(OrgId, Date), CachedDay>> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn get(&self, org: OrgId, day: Date) -> Option<CachedDay> {
        self.lock().get(&(org, day)).cloned()
    }

    pub fn set_state(&self, org: OrgId, day: Date, state: DayState) {
        self.lock().put(
            (org, day),
            CachedDay {
                counters: without_values(state.counters),
                tops: Some(state.tops),
            },
        );
    }

    fn set_counters(&self, org: OrgId, day: Date, counters: DayCounters) {
        let counters = without_values(counters);
        let mut days = self.lock();
        let tops = days.get(&(org, day)).and_then(|d| d.tops.clone());
        days.put((org, day), CachedDay { counters, tops });
    }

    fn set_tops(&self, org: OrgId, day: Date, tops: DayTops) {
        let mut days = self.lock();
        let counters = days
            .get(&(org, day))
            .map(|d| d.counters.clone())
            .unwrap_or_default();
        days.put(
            (org, day),
            CachedDay {
                counters,
                tops: Some(tops),
            },
        );
    }

    pub fn forget(&self, org: OrgId, day: Date) {
        self.lock().pop(&(org, day));
    }
}

fn without_values(mut counters: DayCounters) -> DayCounters {
    counters.counters = Counters::new();
    counters
}

/// Commits the orgs' pending changes in `round`, in parallel, then deletes
/// their orphans. Fails only when a failing day cannot be parked either
/// (the store is down): the caller then stops, and the next run reads the
/// round's records again (what did commit is not counted twice).
pub async fn commit_orgs(
    store: &dyn AggregatorStore,
    cache: &DayCache,
    round: Round,
    orgs: Vec<(OrgId, OrgPending)>,
    now: OffsetDateTime,
) -> Result<CommitReport, StoreError> {
    let reports: Vec<Result<CommitReport, StoreError>> = stream::iter(orgs)
        .map(|(org, pending)| commit_org(store, cache, round, org, pending, now))
        .buffer_unordered(PARALLEL_COMMITS)
        .collect()
        .await;
    let mut report = CommitReport::default();
    for org in reports {
        report.add(&org?);
    }
    Ok(report)
}

async fn commit_org(
    store: &dyn AggregatorStore,
    cache: &DayCache,
    round: Round,
    org: OrgId,
    pending: OrgPending,
    now: OffsetDateTime,
) -> Result<CommitReport, StoreError> {
    let mut report = CommitReport {
        orgs: 1,
        ..CommitReport::default()
    };
    for (day, delta) in pending.days {
        let commit = DayCommit::new(org, day, round, delta);
        let (outcome, folded) = commit.run(store, cache, now).await?;
        report.count(outcome);
        report.folds += usize::from(folded);
    }
    // Only once the insert is counted, so its removal cannot come first.
    report.orphans_deleted = delete_orphans(store, &pending.orphans).await;
    Ok(report)
}

/// One org-day as stored (both items), strongly consistent.
async fn read_day(
    store: &dyn AggregatorStore,
    org: OrgId,
    day: Date,
) -> Result<DayState, StoreError> {
    Ok(store
        .days(&[(org, day)])
        .await?
        .remove(&(org, day))
        .unwrap_or_default())
}

/// Deletes messages logged into chats that are gone; a failure is logged
/// (the deleted-chat sweeper removes them too).
pub async fn delete_orphans(store: &dyn AggregatorStore, orphans: &[Orphan]) -> usize {
    let mut deleted = 0;
    for orphan in orphans {
        match store.delete_message(orphan).await {
            Ok(()) => {
                tracing::info!(message_id = %orphan.id, chat_id = %orphan.chat, "deleted a message logged after its chat was deleted");
                deleted += 1;
            }
            Err(error) => {
                tracing::error!(message_id = %orphan.id, chat_id = %orphan.chat, error = %error_chain(&error), "could not delete a message logged after its chat was deleted");
            }
        }
    }
    deleted
}

/// One org-day's commit, through its steps.
struct DayCommit {
    org: OrgId,
    day: Date,
    round: Round,
    counters: Counters,
    changes: TopChanges,
    /// Set once the tops hold `changes`: only the counters' write is left.
    tops_written: Option<EndFold>,
    /// A write of the tops was sent and its outcome is unknown: it may
    /// have taken effect with its answer lost (a timeout, or an SDK retry
    /// refused by the condition the first try had met).
    tops_unsure: bool,
    folded: bool,
}

/// What one step of a commit came to.
enum Step {
    Done(Outcome),
    /// Progress: take the next step now.
    Next,
    /// The stored day was not as known: read it again and retry.
    Stale(&'static str),
}

impl DayCommit {
    fn new(org: OrgId, day: Date, round: Round, delta: DayDelta) -> Self {
        Self {
            org,
            day,
            round,
            counters: delta.counters,
            changes: TopChanges {
                users: delta.users,
                tags: delta.tags,
            },
            tops_written: None,
            tops_unsure: false,
            folded: false,
        }
    }

    /// Tries up to [`COMMIT_ATTEMPTS`] times within [`RETRY_WINDOW`], then
    /// parks. The outcome, and whether the commit folded.
    async fn run(
        mut self,
        store: &dyn AggregatorStore,
        cache: &DayCache,
        now: OffsetDateTime,
    ) -> Result<(Outcome, bool), StoreError> {
        let started = tokio::time::Instant::now();
        let mut attempt = 0;
        let last_error = loop {
            let error = match self.step(store, cache).await {
                Ok(Step::Done(outcome)) => return Ok((outcome, self.folded)),
                Ok(Step::Next) => continue,
                Ok(Step::Stale(why)) => {
                    tracing::debug!(org_id = %self.org, day = %self.day, why, "the day changed under its commit; reading it again");
                    cache.forget(self.org, self.day);
                    StoreError::transient(format!("the day kept changing under its commit: {why}"))
                }
                Err(error @ StoreError::Transient(_)) => {
                    tracing::warn!(org_id = %self.org, day = %self.day, attempt, error = %error_chain(&error), "analytics commit failed for now; retrying");
                    cache.forget(self.org, self.day);
                    error
                }
                Err(error) => break error,
            };
            attempt += 1;
            if attempt >= COMMIT_ATTEMPTS || started.elapsed() > RETRY_WINDOW {
                break error;
            }
            tokio::time::sleep(backoff(attempt)).await;
        };
        cache.forget(self.org, self.day);
        let outcome = self.park(store, last_error, now).await?;
        Ok((outcome, self.folded))
    }

    async fn step(
        &mut self,
        store: &dyn AggregatorStore,
        cache: &DayCache,
    ) -> Result<Step, StoreError> {
        let (org, day, round) = (self.org, self.day, self.round);
        if let Some(end) = &mut self.tops_written {
            return Ok(match store.end_fold(org, day, end).await? {
                DayWrite::Done(counters) => {
                    cache.set_counters(org, day, counters);
                    Step::Done(Outcome::Committed)
                }
                // An earlier attempt took effect and its answer was lost.
                DayWrite::Refused(Some(stored))
                    if stored.generation == end.generation + 1
                        && stored.round.is_some_and(|r| r >= round) =>
                {
                    cache.set_counters(org, day, stored);
                    Step::Done(Outcome::Committed)
                }
                // A replay appended meanwhile: the folded entries are still
                // first, so only the length to expect changed.
                DayWrite::Refused(Some(stored)) if stored.generation == end.generation => {
                    end.pending_len = stored.pending.len();
                    Step::Stale("a replay appended to the pending list")
                }
                DayWrite::Refused(stored) => {
                    return Err(StoreError::Corrupt(format!(
                        "org {org} day {day}: the counters moved to generation {:?} during a fold from {}",
                        stored.map(|s| s.generation),
                        end.generation
                    )));
                }
            });
        }
        if self.tops_unsure {
            let state = read_day(store, org, day).await?;
            self.tops_unsure = false;
            cache.set_state(org, day, state.clone());
            if let Some(end) = self.own_fold(&state) {
                self.folded = true;
                self.tops_written = Some(end);
                return Ok(Step::Next);
            }
        }
        let known = cache.get(org, day);
        let as_known = known
            .as_ref()
            .map(|d| DayState {
                counters: d.counters.clone(),
                tops: d.tops.clone().unwrap_or_default(),
            })
            .unwrap_or_default();
        if !as_known.should_fold(&self.changes) {
            return Ok(
                match store
                    .add_to_day(org, day, round, &self.counters, Some(&self.changes))
                    .await?
                {
                    DayWrite::Done(counters) => {
                        cache.set_counters(org, day, counters);
                        Step::Done(Outcome::Committed)
                    }
                    DayWrite::Refused(Some(stored)) if stored.round.is_some_and(|r| r >= round) => {
                        cache.set_counters(org, day, stored);
                        Step::Done(Outcome::AlreadyCommitted)
                    }
                    DayWrite::Refused(_) => Step::Stale("the round condition"),
                },
            );
        }
        // A fold: the whole day, as cached (both items) or read now.
        let state = match known {
            Some(CachedDay {
                counters,
                tops: Some(tops),
            }) => DayState { counters, tops },
            _ => {
                let state = read_day(store, org, day).await?;
                cache.set_state(org, day, state.clone());
                state
            }
        };
        if state.counters.round.is_some_and(|r| r >= round) {
            return Ok(Step::Done(Outcome::AlreadyCommitted));
        }
        if state.fold_incomplete() {
            // An earlier fold wrote the tops only: finish it first.
            let end = EndFold {
                generation: state.counters.generation,
                pending_len: state.counters.pending.len(),
                folded: state.tops.folded,
                add: Counters::new(),
                round: None,
            };
            return Ok(match store.end_fold(org, day, &end).await? {
                DayWrite::Done(counters) => {
                    cache.set_counters(org, day, counters);
                    Step::Next
                }
                DayWrite::Refused(_) => Step::Stale("finishing an earlier fold"),
            });
        }
        let tops = state
            .folded(&self.changes, round)
            .map_err(|e| StoreError::Corrupt(format!("org {org} day {day}: {e}")))?;
        self.tops_unsure = true;
        if !store
            .write_tops(org, day, &tops, state.tops.generation)
            .await?
        {
            return Ok(Step::Stale("the tops' generation"));
        }
        self.tops_unsure = false;
        self.folded = true;
        self.tops_written = Some(EndFold {
            generation: state.counters.generation,
            pending_len: state.counters.pending.len(),
            folded: tops.folded,
            add: self.counters.clone(),
            round: Some(round),
        });
        cache.set_tops(org, day, tops);
        Ok(Step::Next)
    }

    /// When `state`'s tops are this commit's own (written by an attempt
    /// whose answer was lost), what is left to end its fold: they hold its
    /// changes, so folding them again would count them twice.
    fn own_fold(&self, state: &DayState) -> Option<EndFold> {
        (state.fold_incomplete() && state.tops.round == Some(self.round)).then(|| EndFold {
            generation: state.counters.generation,
            pending_len: state.counters.pending.len(),
            folded: state.tops.folded,
            add: self.counters.clone(),
            round: Some(self.round),
        })
    }

    /// Keeps what could not be written, unless a timed-out attempt wrote it
    /// after all. Fails only when the store cannot be read or written.
    async fn park(
        &self,
        store: &dyn AggregatorStore,
        error: StoreError,
        now: OffsetDateTime,
    ) -> Result<Outcome, StoreError> {
        let (org, day, round) = (self.org, self.day, self.round);
        let mut tops_hold_changes = self.tops_written.is_some();
        if matches!(error, StoreError::Transient(_)) || self.tops_unsure {
            let stored = read_day(store, org, day).await?;
            if stored.counters.round.is_some_and(|r| r >= round) {
                return Ok(Outcome::Committed);
            }
            tops_hold_changes |= self.own_fold(&stored).is_some();
        }
        let reason = error_chain(&error);
        let parked = ParkedDay {
            org,
            day,
            round,
            counters: self.counters.clone(),
            // Once the tops hold the changes, only the counters are missing
            // (the next commit of the day ends the fold).
            changes: if tops_hold_changes {
                TopChanges::default()
            } else {
                self.changes.clone()
            },
            reason: reason.clone(),
            parked_at: now,
        };
        store.park(&parked).await?;
        // `analytics_parked` feeds the template's metric filter and alarm.
        tracing::error!(
            org_id = %org,
            day = %day,
            round,
            analytics_parked = 1,
            error = %reason,
            "analytics commit parked after {COMMIT_ATTEMPTS} attempts; replay it with `chatlogger-admin analytics replay`"
        );
        Ok(Outcome::Parked)
    }
}

/// 50 ms doubling, with up to 50% jitter, so retries spread out.
fn backoff(attempt: u32) -> Duration {
    let base = 50u64 << attempt.min(6);
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).expect("the OS random source works");
    let jitter = u64::from_le_bytes(bytes) % (base / 2 + 1);
    Duration::from_millis(base + jitter)
}

/// What replaying parked commits did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplayReport {
    pub replayed: usize,
    /// Parked commits replayed meanwhile by someone else.
    pub already_replayed: usize,
    /// Still failing: left parked, with the cause of this attempt.
    pub still_failing: std::collections::BTreeMap<String, String>,
}

/// Replays up to `limit` parked commits, oldest first: each is added to its
/// day and removed in one transaction. Safe to run any time, and twice,
/// also while the aggregator runs.
pub async fn replay_parked(
    store: &dyn AggregatorStore,
    limit: u16,
) -> Result<ReplayReport, StoreError> {
    let mut report = ReplayReport::default();
    for parked in store.parked(limit).await? {
        let name = format!("{} {} round {}", parked.org, parked.day, parked.round);
        match store.replay(&parked).await {
            Ok(true) => {
                tracing::info!(org_id = %parked.org, day = %parked.day, round = parked.round, "parked analytics commit replayed");
                report.replayed += 1;
            }
            Ok(false) => report.already_replayed += 1,
            Err(error) => {
                report.still_failing.insert(name, error_chain(&error));
            }
        }
    }
    Ok(report)
}
