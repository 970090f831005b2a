//! The aggregator: one reader of the whole table stream at a time.
//!
//! Lambda's event source mapping would hand each shard to its own
//! invocations, so an org whose messages hash over every shard would be
//! committed once per shard per window: a cost that grows with the table.
//! Instead one reader, holding a lease, reads every shard itself (one
//! `GetRecords` per shard per round), keeps each org's changes in memory
//! ([`Pending`]) and commits an org when it is due ([`Cadence`]): one
//! commit per org, whatever the number of shards.
//!
//! Each round it reads every shard, folds the new records in, and, when
//! orgs are due, writes a [`Journal`] (how far it has read, and from where
//! a new run must read again) and then commits them. A run ends by writing
//! a last journal and releasing the lease; the next run (or one starting
//! after a crash) reads again from that journal's `reread` positions, and
//! drops what each org-day already holds: its counters name the round that
//! wrote them, whose journal says which records that round had read.

use std::{
    collections::{BTreeMap, BTreeSet},
    num::NonZeroUsize,
    sync::Arc,
    time::Duration,
};

use lru::LruCache;
use time::{Date, OffsetDateTime};

use super::commit::{CommitReport, DayCache, commit_orgs};
use crate::{
    clock::SharedClock,
    domain::{
        ChatId, OrgId,
        analytics::{
            Cadence, ChatState, Counters, DayDelta, Deltas, Journal, Origin, Orphan, Pending,
            Round, Sequence, StreamChange, Tracked, aggregate::add_counters,
            stored::ROUNDS_PER_RUN,
        },
    },
    sdk_error::error_chain,
    store::{AggregatorStore, EndFold, Lease, ReadFrom, StoreError, StreamRecord, StreamSource},
};

/// How the reader runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReaderConfig {
    pub cadence: Cadence,
    /// How often every shard is read and due orgs are committed.
    pub round_every: Duration,
    /// How often the shard list is read again (splits add shards).
    pub shards_every: Duration,
    /// How long the lease lasts unless renewed; renewed every quarter.
    pub lease_for: Duration,
    /// Pages read from one shard in one round, at most (a shard far
    /// behind catches up over rounds).
    pub pages_per_round: usize,
    /// A journal at least this often while records come in, even when no
    /// org is due, so a new run reads little again.
    pub journal_every: Duration,
}

impl ReaderConfig {
    /// What the template's aggregator runs with (and the local stack).
    pub const DEFAULT: ReaderConfig = ReaderConfig {
        cadence: Cadence::DEFAULT,
        round_every: Duration::from_secs(3),
        shards_every: Duration::from_secs(60),
        lease_for: Duration::from_secs(60),
        pages_per_round: 10,
        journal_every: Duration::from_secs(60),
    };
}

/// Chats whose owner the reader remembers (about 100 bytes each): one
/// evicted costs an eventually consistent read when it is seen again.
const CACHED_CHATS: usize = 100_000;
/// Journals read per request while finding those a new run needs.
const JOURNAL_PAGE: usize = 50;

/// Why a run stopped before its end.
#[derive(Debug, thiserror::Error)]
pub enum ReaderError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Another reader took the lease (this one could not renew it in time):
    /// this one must not commit.
    #[error("the aggregator's lease was lost to another reader")]
    LeaseLost,
}

/// What starting a run found.
pub enum Start {
    Reading(Box<Reader>),
    /// Another reader holds the lease, until then at least.
    Held(Lease),
}

/// Where the reader stands on one shard.
#[derive(Debug, Clone)]
struct ShardCursor {
    parent: Option<String>,
    /// The last record taken in (records at or before it are dropped).
    read: Option<Sequence>,
    /// Where the next read starts.
    from: ReadFrom,
    drained: bool,
}

/// What one round did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RoundReport {
    pub records: usize,
    pub unreadable: usize,
    pub commits: CommitReport,
    /// How long each committed change waited for its commit, in seconds
    /// (from when it was written).
    pub waited: Vec<f64>,
    pub journaled: bool,
}

/// A record read again after a restart, that its org-day may hold already.
struct Uncertain {
    org: OrgId,
    day: Date,
    shard: String,
    sequence: Sequence,
    at: OffsetDateTime,
    delta: DayDelta,
}

pub struct Reader {
    store: Arc<dyn AggregatorStore>,
    source: Arc<dyn StreamSource>,
    clock: SharedClock,
    config: ReaderConfig,
    lease: Lease,
    renewed_at: OffsetDateTime,
    next_round: Round,
    shards: BTreeMap<String, ShardCursor>,
    shards_listed_at: Option<OffsetDateTime>,
    pending: Pending,
    /// Per org: when each pending change was written (for the reports).
    written: BTreeMap<OrgId, Vec<OffsetDateTime>>,
    days: DayCache,
    chats: LruCache<(OrgId, ChatId), ChatState>,
    journaled_at: Option<OffsetDateTime>,
    read_since_journal: bool,
    /// After a restart: the last journal's read positions, records up to
    /// which may be held already, and the journals that tell.
    horizon: BTreeMap<String, Sequence>,
    journals: BTreeMap<Round, Journal>,
    uncertain: Vec<Uncertain>,
    uncertain_orphans: Vec<(Orphan, String, Sequence, OffsetDateTime)>,
}

impl Reader {
    /// Takes the lease, if no other reader holds it, and positions the
    /// reader where the last run left off (reading again what may not be
    /// committed). `ends_at` is when this run means to hand over.
    pub async fn start(
        store: Arc<dyn AggregatorStore>,
        source: Arc<dyn StreamSource>,
        clock: SharedClock,
        config: ReaderConfig,
        ends_at: OffsetDateTime,
    ) -> Result<Start, ReaderError> {
        let now = clock.now();
        let current = store.lease().await?;
        if let Some(held) = current.as_ref().filter(|l| l.expires_at > now) {
            return Ok(Start::Held(held.clone()));
        }
        let lease = Lease {
            owner: ulid::Ulid::new().to_string(),
            run: current.as_ref().map_or(1, |l| l.run + 1),
            expires_at: now + config.lease_for,
            ends_at,
        };
        if !store.take_lease(current.as_ref(), &lease).await? {
            let held = store.lease().await?.unwrap_or(lease);
            return Ok(Start::Held(held));
        }
        tracing::info!(run = lease.run, "aggregator run started");
        let mut reader = Reader {
            store,
            source,
            clock,
            config,
            renewed_at: now,
            next_round: lease.run * ROUNDS_PER_RUN,
            lease,
            shards: BTreeMap::new(),
            shards_listed_at: None,
            pending: Pending::default(),
            written: BTreeMap::new(),
            days: DayCache::default(),
            chats: LruCache::new(NonZeroUsize::new(CACHED_CHATS).expect("not zero")),
            journaled_at: None,
            read_since_journal: false,
            horizon: BTreeMap::new(),
            journals: BTreeMap::new(),
            uncertain: Vec::new(),
            uncertain_orphans: Vec::new(),
        };
        if let Err(error) = reader.resume().await {
            reader.abandon().await;
            return Err(error);
        }
        Ok(Start::Reading(Box::new(reader)))
    }

    /// Starts where the last journal says; reads again, and sorts out, what
    /// may be committed already.
    async fn resume(&mut self) -> Result<(), ReaderError> {
        let Some(last) = self.store.journals(1, None).await?.into_iter().next() else {
            return Ok(());
        };
        for (shard, read) in &last.read {
            let from = match last.reread.get(shard) {
                Some(first) => ReadFrom::At(first.clone()),
                None => ReadFrom::After(read.clone()),
            };
            let cursor = ShardCursor {
                parent: None,
                read: (!last.reread.contains_key(shard)).then(|| read.clone()),
                from,
                drained: last.drained.contains(shard),
            };
            self.shards.insert(shard.clone(), cursor);
        }
        for shard in &last.drained {
            self.shards
                .entry(shard.clone())
                .or_insert_with(|| ShardCursor {
                    parent: None,
                    read: None,
                    from: ReadFrom::Start,
                    drained: true,
                });
        }
        self.horizon = last
            .read
            .iter()
            .filter(|(shard, _)| last.reread.contains_key(*shard))
            .map(|(shard, read)| (shard.clone(), read.clone()))
            .collect();
        // The journals that can tell whether a record read again is held.
        let mut before = Some(last.round);
        self.journals.insert(last.round, last.clone());
        'pages: while let Some(round) = before {
            let page = self.store.journals(JOURNAL_PAGE, Some(round)).await?;
            before = (page.len() == JOURNAL_PAGE)
                .then(|| page.last().map(|j| j.round))
                .flatten();
            for journal in page {
                let enough = journal.read_nothing_reread_by(&last);
                self.journals.insert(journal.round, journal);
                if enough {
                    break 'pages;
                }
            }
        }
        // Read again up to where the last run had read; nothing commits
        // until what is held is sorted out.
        while !self.caught_up_to_horizon() {
            let read = self.read_round().await?;
            if read == 0 && !self.caught_up_to_horizon() {
                // The stream has nothing more for a shard: it no longer
                // has those records (trimmed); stop waiting for them.
                tracing::warn!(horizon = ?self.horizon, "the stream ended before the last run's read positions; going on");
                break;
            }
        }
        self.settle_uncertain().await?;
        tracing::info!(
            run = self.lease.run,
            journals = self.journals.len(),
            pending_orgs = self.pending.len(),
            "aggregator resumed from round {}",
            last.round
        );
        self.horizon.clear();
        self.journals.clear();
        Ok(())
    }

    fn caught_up_to_horizon(&self) -> bool {
        self.horizon.iter().all(|(shard, horizon)| {
            self.shards
                .get(shard)
                .is_none_or(|c| c.drained || c.read.as_ref().is_some_and(|r| r >= horizon))
        })
    }

    /// Sorts the records read again into those their org-day holds (dropped),
    /// those only its tops hold (a fold cut short: the counters get them),
    /// and the rest (pending).
    async fn settle_uncertain(&mut self) -> Result<(), ReaderError> {
        let uncertain = std::mem::take(&mut self.uncertain);
        let days: BTreeSet<(OrgId, Date)> = uncertain.iter().map(|u| (u.org, u.day)).collect();
        let days: Vec<(OrgId, Date)> = days.into_iter().collect();
        let mut states = BTreeMap::new();
        for chunk in days.chunks(50) {
            states.extend(self.store.days(chunk).await?);
        }
        let holds = |round: Option<Round>, u: &Uncertain| {
            round
                .and_then(|round| self.journals.get(&round))
                .is_some_and(|journal| journal.holds(&u.shard, &u.sequence))
        };
        let mut tops_only: BTreeMap<(OrgId, Date), Counters> = BTreeMap::new();
        for u in &uncertain {
            let state = &states[&(u.org, u.day)];
            if holds(state.counters.round, u) {
                continue;
            }
            if state.fold_incomplete() && holds(state.tops.round, u) {
                add_counters(
                    tops_only.entry((u.org, u.day)).or_default(),
                    &u.delta.counters,
                );
                continue;
            }
            let origin = Origin {
                shard: &u.shard,
                sequence: &u.sequence,
                at: u.at,
            };
            self.pending.add_delta(u.org, u.day, &u.delta, origin);
            self.written.entry(u.org).or_default().push(u.at);
        }
        // Folds cut short by the last run's end: their counters' write.
        for ((org, day), state) in &mut states {
            if !state.fold_incomplete() {
                continue;
            }
            let end = EndFold {
                generation: state.counters.generation,
                pending_len: state.counters.pending.len(),
                folded: state.tops.folded,
                add: tops_only.remove(&(*org, *day)).unwrap_or_default(),
                round: state.tops.round,
            };
            match self.store.end_fold(*org, *day, &end).await? {
                crate::store::DayWrite::Done(counters) => state.counters = counters,
                crate::store::DayWrite::Refused(_) => {
                    return Err(StoreError::Corrupt(format!(
                        "org {org} day {day}: the counters changed while a cut-short fold was finished"
                    ))
                    .into());
                }
            }
        }
        for ((org, day), state) in states {
            self.days.set_state(org, day, state);
        }
        // Orphans read again are deleted after their org's next commit
        // (deleting one twice does no harm).
        for (orphan, shard, sequence, at) in std::mem::take(&mut self.uncertain_orphans) {
            let origin = Origin {
                shard: &shard,
                sequence: &sequence,
                at,
            };
            self.pending.add_orphan(orphan, origin);
        }
        Ok(())
    }

    /// The run's lease.
    pub fn lease(&self) -> &Lease {
        &self.lease
    }

    /// Orgs with changes not committed yet.
    pub fn pending_orgs(&self) -> usize {
        self.pending.len()
    }

    /// The oldest change not committed yet: how far behind the summaries are.
    pub fn oldest_pending(&self) -> Option<OffsetDateTime> {
        self.pending.oldest()
    }

    /// One round: reads every shard, then commits the orgs that are due.
    pub async fn round(&mut self) -> Result<RoundReport, ReaderError> {
        self.round_with(false).await
    }

    /// A round that commits every org with pending changes, due or not
    /// (tests, and a caller that wants everything in the summaries now).
    pub async fn flush(&mut self) -> Result<RoundReport, ReaderError> {
        self.round_with(true).await
    }

    async fn round_with(&mut self, everything: bool) -> Result<RoundReport, ReaderError> {
        self.keep_lease().await?;
        let mut report = RoundReport::default();
        let (records, unreadable) = self.read_records().await?;
        report.records = records;
        report.unreadable = unreadable;
        let now = self.clock.now();
        let due = if everything {
            self.pending.orgs()
        } else {
            self.pending.due(now, &self.config.cadence)
        };
        let journal_due = self.read_since_journal
            && self
                .journaled_at
                .is_none_or(|at| now - at >= self.config.journal_every);
        if due.is_empty() && !journal_due {
            return Ok(report);
        }
        let round = self.journal().await?;
        report.journaled = true;
        if due.is_empty() {
            return Ok(report);
        }
        let mut orgs = Vec::with_capacity(due.len());
        for org in due {
            if let Some(pending) = self.pending.take_to_commit(org, now, &self.config.cadence) {
                for at in self.written.remove(&org).unwrap_or_default() {
                    report.waited.push((now - at).as_seconds_f64().max(0.0));
                }
                orgs.push((org, pending));
            }
        }
        report.commits = commit_orgs(&*self.store, &self.days, round, orgs, now).await?;
        Ok(report)
    }

    /// Writes a journal of where the reader stands; its round numbers the
    /// commits that follow it.
    async fn journal(&mut self) -> Result<Round, ReaderError> {
        let round = self.next_round;
        self.next_round += 1;
        let journal = Journal {
            round,
            read: self
                .shards
                .iter()
                .filter_map(|(id, c)| c.read.clone().map(|read| (id.clone(), read)))
                .collect(),
            drained: self
                .shards
                .iter()
                .filter(|(_, c)| c.drained)
                .map(|(id, _)| id.clone())
                .collect(),
            reread: self.pending.first_positions(),
        };
        self.store.save_journal(&journal).await?;
        self.journaled_at = Some(self.clock.now());
        self.read_since_journal = false;
        Ok(round)
    }

    /// Ends the run: a last journal (where the next run starts), then the
    /// lease is let go. Pending changes are left to the next run, which
    /// reads them again.
    pub async fn finish(mut self) -> Result<(), ReaderError> {
        self.keep_lease().await?;
        self.journal().await?;
        self.store.release_lease(&self.lease).await?;
        tracing::info!(
            run = self.lease.run,
            pending_orgs = self.pending.len(),
            "aggregator run ended; the next run reads on from its journal"
        );
        Ok(())
    }

    /// Ends a run that failed: lets the lease go (if the store answers) so
    /// the next run need not wait for it to lapse. Without a last journal,
    /// the next run reads again from the last one written: what this run
    /// committed since is not counted twice.
    pub async fn abandon(self) {
        if let Err(error) = self.store.release_lease(&self.lease).await {
            tracing::warn!(run = self.lease.run, error = %error_chain(&error), "could not let the aggregator's lease go; it lapses by itself");
        }
    }

    /// Renews the lease when a quarter of it has passed; refuses to go on
    /// once it may have lapsed.
    async fn keep_lease(&mut self) -> Result<(), ReaderError> {
        let now = self.clock.now();
        let lease_for =
            time::Duration::try_from(self.config.lease_for).unwrap_or(time::Duration::MAX);
        if now - self.renewed_at >= lease_for {
            return Err(ReaderError::LeaseLost);
        }
        if now - self.renewed_at < lease_for / 4 {
            return Ok(());
        }
        self.lease.expires_at = now + lease_for;
        if !self.store.renew_lease(&self.lease).await? {
            return Err(ReaderError::LeaseLost);
        }
        self.renewed_at = now;
        Ok(())
    }

    /// Lists the shards again when it is time: new ones start from their
    /// oldest record, after their parent.
    async fn list_shards(&mut self) -> Result<(), ReaderError> {
        let now = self.clock.now();
        let shards_every =
            time::Duration::try_from(self.config.shards_every).unwrap_or(time::Duration::MAX);
        if self
            .shards_listed_at
            .is_some_and(|at| now - at < shards_every)
        {
            return Ok(());
        }
        let listed = self.source.shards().await?;
        // Shards read to their end that the stream no longer lists are done.
        let ids: BTreeSet<&str> = listed.iter().map(|s| s.id.as_str()).collect();
        self.shards
            .retain(|id, cursor| !cursor.drained || ids.contains(id.as_str()));
        for shard in listed {
            let cursor = self.shards.entry(shard.id).or_insert(ShardCursor {
                parent: None,
                read: None,
                from: ReadFrom::Start,
                drained: false,
            });
            cursor.parent = shard.parent;
        }
        self.shards_listed_at = Some(now);
        Ok(())
    }

    /// Reads what each shard has (its parent first), up to
    /// `pages_per_round` pages a shard; the records taken in.
    async fn read_round(&mut self) -> Result<usize, ReaderError> {
        Ok(self.read_records().await?.0)
    }

    async fn read_records(&mut self) -> Result<(usize, usize), ReaderError> {
        self.list_shards().await?;
        let mut taken: Vec<(String, StreamRecord)> = Vec::new();
        let ids: Vec<String> = self.shards.keys().cloned().collect();
        for id in ids {
            let readable = {
                let cursor = &self.shards[&id];
                !cursor.drained
                    && cursor
                        .parent
                        .as_ref()
                        .and_then(|parent| self.shards.get(parent))
                        .is_none_or(|parent| parent.drained)
            };
            if !readable {
                continue;
            }
            for _ in 0..self.config.pages_per_round.max(1) {
                let from = self.shards[&id].from.clone();
                let page = self.source.read(&id, &from).await?;
                let cursor = self.shards.get_mut(&id).expect("listed");
                for record in page.records {
                    if cursor.read.as_ref().is_some_and(|r| record.sequence <= *r) {
                        continue;
                    }
                    cursor.read = Some(record.sequence.clone());
                    cursor.from = ReadFrom::After(record.sequence.clone());
                    taken.push((id.clone(), record));
                }
                if page.end_of_shard {
                    cursor.drained = true;
                }
                if !page.more || cursor.drained {
                    break;
                }
            }
        }
        if !taken.is_empty() {
            self.read_since_journal = true;
        }
        let count = taken.len();
        let unreadable = self.take_in(taken).await?;
        Ok((count, unreadable))
    }

    /// Folds records into the pending changes (or, read again after a
    /// restart, into the records to sort out); the number unreadable.
    async fn take_in(
        &mut self,
        records: Vec<(String, StreamRecord)>,
    ) -> Result<usize, ReaderError> {
        let mut changes = Vec::with_capacity(records.len());
        let mut unreadable = 0;
        for (shard, record) in records {
            match record.change {
                Ok(Some(change)) => changes.push((shard, record.at, change)),
                Ok(None) => {}
                Err(error) => {
                    unreadable += 1;
                    // Counted by the template's metric filter and alarm.
                    tracing::error!(
                        shard,
                        sequence = %record.sequence,
                        analytics_unreadable = 1,
                        error,
                        "unreadable stream record skipped"
                    );
                }
            }
        }
        self.learn_chats(&changes).await?;
        for (shard, at, change) in &changes {
            let owners = self.owners_of(change);
            let mut deltas = Deltas::new();
            change.add_to(&mut deltas, &owners);
            let uncertain = self
                .horizon
                .get(shard)
                .is_some_and(|horizon| change.sequence <= *horizon);
            let origin = Origin {
                shard,
                sequence: &change.sequence,
                at: *at,
            };
            for (org, days) in deltas {
                for (day, delta) in days {
                    if uncertain {
                        self.uncertain.push(Uncertain {
                            org,
                            day,
                            shard: shard.clone(),
                            sequence: change.sequence.clone(),
                            at: *at,
                            delta,
                        });
                    } else {
                        self.pending.add_delta(org, day, &delta, origin);
                        self.written.entry(org).or_default().push(*at);
                    }
                }
            }
            if let Some(m) = change.orphan(&owners) {
                let orphan = Orphan {
                    org: m.org,
                    chat: m.chat,
                    id: m.id,
                };
                if uncertain {
                    self.uncertain_orphans.push((
                        orphan,
                        shard.clone(),
                        change.sequence.clone(),
                        *at,
                    ));
                } else {
                    self.pending.add_orphan(orphan, origin);
                }
            }
        }
        Ok(unreadable)
    }

    /// Learns chats from their own records, and reads the owners of the
    /// chats of messages it does not know.
    async fn learn_chats(
        &mut self,
        changes: &[(String, OffsetDateTime, StreamChange)],
    ) -> Result<(), ReaderError> {
        for (_, _, change) in changes {
            match (&change.old, &change.new) {
                (_, Some(Tracked::Chat(chat))) => {
                    self.chats.put(
                        (chat.org, chat.id),
                        ChatState {
                            user_id: chat.user_id.clone(),
                            deleted: chat.deleted,
                        },
                    );
                }
                // A chat's item removed (its tombstone expiring).
                (Some(Tracked::Chat(chat)), None) => {
                    self.chats.put(
                        (chat.org, chat.id),
                        ChatState {
                            user_id: chat.user_id.clone(),
                            deleted: true,
                        },
                    );
                }
                _ => {}
            }
        }
        let unknown: BTreeSet<(OrgId, ChatId)> = changes
            .iter()
            .filter_map(|(_, _, change)| change.message_chat())
            .filter(|chat| !self.chats.contains(chat))
            .collect();
        if unknown.is_empty() {
            return Ok(());
        }
        let found = self.store.chat_states(&unknown).await?;
        for (chat, state) in found {
            self.chats.put(chat, state);
        }
        Ok(())
    }

    fn owners_of(&mut self, change: &StreamChange) -> BTreeMap<(OrgId, ChatId), ChatState> {
        change
            .message_chat()
            .and_then(|chat| self.chats.get(&chat).map(|state| (chat, state.clone())))
            .into_iter()
            .collect()
    }
}

/// One line a round: the template counts them (a reader that stops
/// reading raises an alarm) and reads `lag_s`, the age of the oldest change
/// not committed at the round's start.
pub fn log_round(reader: &Reader, report: &RoundReport, started: OffsetDateTime) {
    tracing::info!(
        records = report.records,
        unreadable = report.unreadable,
        orgs = report.commits.orgs,
        days = report.commits.committed,
        folds = report.commits.folds,
        parked = report.commits.parked,
        orphans_deleted = report.commits.orphans_deleted,
        pending_orgs = reader.pending_orgs(),
        lag_s = reader
            .oldest_pending()
            .map_or(0.0, |at| (started - at).as_seconds_f64().max(0.0)),
        aggregator_round = 1,
        "aggregator round"
    );
}

/// Runs rounds until `until` (or an error), then finishes the run. Rounds
/// start every `round_every` by the clock; `sleep` waits (tokio's on
/// Lambda and locally).
pub async fn run_until<F, Fut>(
    mut reader: Reader,
    until: OffsetDateTime,
    sleep: &F,
) -> Result<(), ReaderError>
where
    F: Fn(Duration) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let every =
        time::Duration::try_from(reader.config.round_every).unwrap_or(time::Duration::SECOND);
    loop {
        let started = reader.clock.now();
        if started >= until {
            break;
        }
        match reader.round().await {
            Ok(report) => log_round(&reader, &report, started),
            Err(error) => {
                tracing::error!(error = %error_chain(&error), "aggregator round failed; the run stops and the next one reads on from the last journal");
                if !matches!(error, ReaderError::LeaseLost) {
                    reader.abandon().await;
                }
                return Err(error);
            }
        }
        let spent = reader.clock.now() - started;
        if let Ok(rest) = Duration::try_from(every - spent) {
            sleep(rest).await;
        }
    }
    reader.finish().await
}

/// What one scheduled invocation of the aggregator did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Invocation {
    /// It held the lease and ran until its end.
    Ran,
    /// Another reader holds the lease past this invocation's reach.
    Busy(Lease),
}

/// A reader handing over within this long is waited for: the successor
/// starts as the predecessor ends, so the stream is never left unread.
const HANDOVER_WAIT: Duration = Duration::from_secs(90);

/// One scheduled invocation (every minute): runs a reader until `ends_at`
/// if the lease is free or its holder hands over soon; otherwise returns
/// at once (the holder is reading).
pub async fn run_invocation<F, Fut>(
    store: Arc<dyn AggregatorStore>,
    source: Arc<dyn StreamSource>,
    clock: SharedClock,
    config: ReaderConfig,
    ends_at: OffsetDateTime,
    sleep: F,
) -> Result<Invocation, ReaderError>
where
    F: Fn(Duration) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let wait = time::Duration::try_from(HANDOVER_WAIT).unwrap_or(time::Duration::MAX);
    loop {
        let start = Reader::start(
            store.clone(),
            source.clone(),
            clock.clone(),
            config,
            ends_at,
        )
        .await?;
        match start {
            Start::Reading(reader) => {
                run_until(*reader, ends_at, &sleep).await?;
                return Ok(Invocation::Ran);
            }
            Start::Held(lease) => {
                let now = clock.now();
                // A reader that died lets its lease lapse within a minute:
                // the next scheduled invocation takes over then.
                if lease.ends_at > now + wait || now + wait >= ends_at {
                    return Ok(Invocation::Busy(lease));
                }
                sleep(Duration::from_secs(1)).await;
            }
        }
    }
}
