//! The aggregator's store in memory, with the DynamoDB adapter's semantics
//! (conditional writes on rounds, generations and pending lengths; the
//! lease; journals; parked commits replayed all-or-nothing): for the
//! aggregator's unit tests and its in-memory benchmark. It counts writes,
//! and can be told to fail every write of an org (a poisoned tenant).

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::{Mutex, MutexGuard},
};

use async_trait::async_trait;
use time::Date;

use super::locked;
use crate::{
    domain::{
        ChatId, MessageId, OrgId,
        analytics::{
            ChatState, Counters, DayAggregate, DayCounters, DayRange, DayState, DayTops, Journal,
            Orphan, Round, TopChanges, TopKind, aggregate::add_counters,
        },
    },
    store::{
        AggregatorStore, AnalyticsStore, DayWrite, EndFold, Lease, ParkedDay, StoreError,
        StoreResult,
    },
};

#[derive(Default)]
pub struct MemoryAggregates {
    data: Mutex<AggregateData>,
}

#[derive(Default)]
struct AggregateData {
    lease: Option<Lease>,
    journals: BTreeMap<Round, Journal>,
    days: BTreeMap<(OrgId, Date), DayState>,
    chats: BTreeMap<(OrgId, ChatId), ChatState>,
    parked: BTreeMap<(OrgId, Date, Round), ParkedDay>,
    deleted_messages: Vec<MessageId>,
    writes: usize,
    failing: BTreeSet<OrgId>,
    /// Writes of the tops that take effect but answer with a timeout.
    lost_tops_answers: usize,
}

impl MemoryAggregates {
    pub fn new() -> Self {
        Self::default()
    }

    fn data(&self) -> MutexGuard<'_, AggregateData> {
        locked(&self.data)
    }

    /// Records a chat's owner, as the table would hold it.
    pub fn set_chat(&self, org: OrgId, chat: ChatId, state: ChatState) {
        self.data().chats.insert((org, chat), state);
    }

    /// Every write of `org`'s aggregates fails (a poisoned tenant) until
    /// [`Self::heal`].
    pub fn poison(&self, org: OrgId) {
        self.data().failing.insert(org);
    }

    pub fn heal(&self, org: OrgId) {
        self.data().failing.remove(&org);
    }

    /// The next `writes` writes of the tops take effect, but their answer
    /// is lost (a timeout after DynamoDB applied the write).
    pub fn lose_tops_answers(&self, writes: usize) {
        self.data().lost_tops_answers = writes;
    }

    /// Writes of aggregate items so far.
    pub fn writes(&self) -> usize {
        self.data().writes
    }

    /// Messages deleted as orphans.
    pub fn deleted_messages(&self) -> Vec<MessageId> {
        self.data().deleted_messages.clone()
    }

    /// An org's day items, as the summary reads them.
    pub fn aggregates(&self, org: OrgId) -> Vec<(Date, DayAggregate)> {
        let data = self.data();
        let mut aggregates = Vec::new();
        for ((_, day), state) in data.days.range((org, Date::MIN)..=(org, Date::MAX)) {
            let (users, tags) = state.current_tops().expect("consistent in memory");
            aggregates.push((
                *day,
                DayAggregate::Counters(state.counters.counters.clone()),
            ));
            aggregates.push((*day, DayAggregate::Top(TopKind::Users, users)));
            aggregates.push((*day, DayAggregate::Top(TopKind::Tags, tags)));
        }
        aggregates
    }
}

impl AggregateData {
    fn writable(&mut self, org: OrgId) -> StoreResult<()> {
        if self.failing.contains(&org) {
            return Err(StoreError::failed(format!(
                "org {org}'s aggregates are poisoned (test)"
            )));
        }
        self.writes += 1;
        Ok(())
    }
}

/// About the bytes DynamoDB would bill for the counters item.
fn sized(mut counters: DayCounters) -> DayCounters {
    counters.pending_bytes = if counters.pending.is_empty() {
        0
    } else {
        4 + counters
            .pending
            .iter()
            .map(|p| p.encode().len() + 1)
            .sum::<usize>()
    };
    let names: usize = counters.counters.keys().map(|n| n.len().min(4) + 4).sum();
    counters.stored_bytes = 70 + names + counters.pending_bytes;
    counters
}

fn before(round: Round, stored: &DayCounters) -> bool {
    stored.round.is_none_or(|r| r < round)
}

#[async_trait]
impl AggregatorStore for MemoryAggregates {
    async fn lease(&self) -> StoreResult<Option<Lease>> {
        Ok(self.data().lease.clone())
    }

    async fn take_lease(&self, previous: Option<&Lease>, lease: &Lease) -> StoreResult<bool> {
        let mut data = self.data();
        if data.lease.as_ref() != previous {
            return Ok(false);
        }
        data.lease = Some(lease.clone());
        Ok(true)
    }

    async fn renew_lease(&self, lease: &Lease) -> StoreResult<bool> {
        let mut data = self.data();
        match data.lease.as_mut() {
            Some(stored) if stored.owner == lease.owner => {
                stored.expires_at = lease.expires_at;
                stored.ends_at = lease.ends_at;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn release_lease(&self, lease: &Lease) -> StoreResult<()> {
        let mut data = self.data();
        if let Some(stored) = data.lease.as_mut()
            && stored.owner == lease.owner
        {
            stored.expires_at = time::OffsetDateTime::UNIX_EPOCH;
        }
        Ok(())
    }

    async fn save_journal(&self, journal: &Journal) -> StoreResult<()> {
        self.data()
            .journals
            .entry(journal.round)
            .or_insert_with(|| journal.clone());
        Ok(())
    }

    async fn journals(&self, limit: usize, before: Option<Round>) -> StoreResult<Vec<Journal>> {
        let data = self.data();
        Ok(data
            .journals
            .range(..before.unwrap_or(Round::MAX))
            .rev()
            .take(limit)
            .map(|(_, journal)| journal.clone())
            .collect())
    }

    async fn chat_states(
        &self,
        chats: &BTreeSet<(OrgId, ChatId)>,
    ) -> StoreResult<BTreeMap<(OrgId, ChatId), ChatState>> {
        let data = self.data();
        Ok(chats
            .iter()
            .filter_map(|chat| data.chats.get(chat).map(|state| (*chat, state.clone())))
            .collect())
    }

    async fn days(&self, days: &[(OrgId, Date)]) -> StoreResult<BTreeMap<(OrgId, Date), DayState>> {
        let data = self.data();
        Ok(days
            .iter()
            .map(|day| (*day, data.days.get(day).cloned().unwrap_or_default()))
            .collect())
    }

    async fn add_to_day(
        &self,
        org: OrgId,
        day: Date,
        round: Round,
        counters: &Counters,
        changes: Option<&TopChanges>,
    ) -> StoreResult<DayWrite> {
        let mut data = self.data();
        data.writable(org)?;
        let state = data.days.entry((org, day)).or_default();
        if !before(round, &state.counters) {
            return Ok(DayWrite::Refused(Some(state.counters.clone())));
        }
        add_counters(&mut state.counters.counters, counters);
        if let Some(changes) = changes.filter(|c| !c.is_empty()) {
            state.counters.pending.push(changes.clone());
        }
        state.counters.round = Some(round);
        state.counters = sized(std::mem::take(&mut state.counters));
        Ok(DayWrite::Done(state.counters.clone()))
    }

    async fn write_tops(
        &self,
        org: OrgId,
        day: Date,
        tops: &DayTops,
        expected_generation: u64,
    ) -> StoreResult<bool> {
        let mut data = self.data();
        data.writable(org)?;
        let state = data.days.entry((org, day)).or_default();
        if state.tops.generation != expected_generation {
            return Ok(false);
        }
        state.tops = tops.clone();
        if data.lost_tops_answers > 0 {
            data.lost_tops_answers -= 1;
            return Err(StoreError::transient(
                "the write of the tops timed out after it took effect (test)",
            ));
        }
        Ok(true)
    }

    async fn end_fold(&self, org: OrgId, day: Date, end: &EndFold) -> StoreResult<DayWrite> {
        let mut data = self.data();
        data.writable(org)?;
        let state = data.days.entry((org, day)).or_default();
        let stored = &state.counters;
        let holds = stored.generation == end.generation
            && stored.pending.len() == end.pending_len
            && end.round.is_none_or(|round| before(round, stored));
        if !holds {
            return Ok(DayWrite::Refused(Some(stored.clone())));
        }
        let counters = &mut state.counters;
        add_counters(&mut counters.counters, &end.add);
        counters.pending.drain(..end.folded.min(end.pending_len));
        counters.generation += 1;
        if let Some(round) = end.round {
            counters.round = Some(round);
        }
        state.counters = sized(std::mem::take(&mut state.counters));
        Ok(DayWrite::Done(state.counters.clone()))
    }

    async fn park(&self, parked: &ParkedDay) -> StoreResult<()> {
        self.data()
            .parked
            .entry((parked.org, parked.day, parked.round))
            .or_insert_with(|| parked.clone());
        Ok(())
    }

    async fn parked(&self, limit: u16) -> StoreResult<Vec<ParkedDay>> {
        let data = self.data();
        let mut parked: Vec<ParkedDay> = data.parked.values().cloned().collect();
        // As the index sorts them: by the second parked, then org, day, round.
        parked.sort_by_key(|p| (p.parked_at.unix_timestamp(), p.org, p.day, p.round));
        parked.truncate(limit as usize);
        Ok(parked)
    }

    async fn replay(&self, parked: &ParkedDay) -> StoreResult<bool> {
        let mut data = self.data();
        data.writable(parked.org)?;
        if data
            .parked
            .remove(&(parked.org, parked.day, parked.round))
            .is_none()
        {
            return Ok(false);
        }
        let state = data.days.entry((parked.org, parked.day)).or_default();
        add_counters(&mut state.counters.counters, &parked.counters);
        if !parked.changes.is_empty() {
            state.counters.pending.push(parked.changes.clone());
        }
        state.counters = sized(std::mem::take(&mut state.counters));
        Ok(true)
    }

    async fn delete_message(&self, orphan: &Orphan) -> StoreResult<()> {
        self.data().deleted_messages.push(orphan.id);
        Ok(())
    }
}

#[async_trait]
impl AnalyticsStore for MemoryAggregates {
    async fn aggregates(
        &self,
        org: OrgId,
        range: DayRange,
    ) -> StoreResult<Vec<(Date, DayAggregate)>> {
        Ok(MemoryAggregates::aggregates(self, org)
            .into_iter()
            .filter(|(day, _)| range.from <= *day && *day <= range.to)
            .collect())
    }
}
