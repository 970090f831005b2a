use std::{
    collections::{BTreeMap, BTreeSet},
    sync::{Mutex, MutexGuard},
};

use async_trait::async_trait;
use time::{Date, OffsetDateTime};

use super::locked;
use crate::{
    domain::{
        ChatId, MessageId, OrgId,
        analytics::{
            ChatState, Counters, DayAggregate, OrgCommit, Orphan, Sequence, TopKind,
            aggregate::add_counters,
        },
    },
    store::{
        AggregatorStore, Committed, ParkedCommit, StoreError, StoreResult, StoredTop, TopWrite,
    },
};

/// The aggregator's store in memory, with the DynamoDB adapter's
/// semantics (all-or-nothing commits, markers, versioned top summaries):
/// for the aggregator's unit tests and its benchmark. It counts the writes
/// per item, and can be told to fail every commit of an org.
#[derive(Default)]
pub struct MemoryAggregates {
    data: Mutex<AggregateData>,
}

#[derive(Default)]
struct AggregateData {
    markers: BTreeSet<String>,
    counters: BTreeMap<(OrgId, Date), Counters>,
    tops: BTreeMap<(OrgId, Date, TopKind), StoredTop>,
    chats: BTreeMap<(OrgId, ChatId), ChatState>,
    checkpoints: BTreeMap<String, Sequence>,
    parked: BTreeMap<String, ParkedCommit>,
    deleted_messages: Vec<MessageId>,
    commits: usize,
    failing: BTreeSet<OrgId>,
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

    /// Every commit of `org` fails (a poisoned tenant) until [`Self::heal`].
    pub fn poison(&self, org: OrgId) {
        self.data().failing.insert(org);
    }

    pub fn heal(&self, org: OrgId) {
        self.data().failing.remove(&org);
    }

    /// Every stored aggregate of `org`, as the summary reads them.
    pub fn aggregates(&self, org: OrgId) -> Vec<(Date, DayAggregate)> {
        let data = self.data();
        let counters = data
            .counters
            .iter()
            .filter(|((o, _), _)| *o == org)
            .map(|((_, day), counters)| (*day, DayAggregate::Counters(counters.clone())));
        let tops = data
            .tops
            .iter()
            .filter(|((o, _, _), _)| *o == org)
            .map(|((_, day, kind), stored)| (*day, DayAggregate::Top(*kind, stored.top.clone())));
        counters.chain(tops).collect()
    }

    pub fn deleted_messages(&self) -> Vec<MessageId> {
        self.data().deleted_messages.clone()
    }

    /// Commits written (markers), for the benchmark.
    pub fn commits(&self) -> usize {
        self.data().commits
    }
}

/// A commit's identity across orgs.
fn marker(commit: &OrgCommit) -> String {
    format!("{}#{}", commit.org, commit.name())
}

#[async_trait]
impl AggregatorStore for MemoryAggregates {
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

    async fn checkpoint(&self, shard: &str) -> StoreResult<Option<Sequence>> {
        Ok(self.data().checkpoints.get(shard).cloned())
    }

    async fn save_checkpoint(&self, shard: &str, last: &Sequence) -> StoreResult<()> {
        let mut data = self.data();
        let stored = data
            .checkpoints
            .entry(shard.to_owned())
            .or_insert(last.clone());
        if *stored < *last {
            *stored = last.clone();
        }
        Ok(())
    }

    async fn tops(
        &self,
        org: OrgId,
        days: &[Date],
    ) -> StoreResult<BTreeMap<(Date, TopKind), StoredTop>> {
        let data = self.data();
        Ok(data
            .tops
            .iter()
            .filter(|((o, day, _), _)| *o == org && days.contains(day))
            .map(|((_, day, kind), stored)| ((*day, *kind), stored.clone()))
            .collect())
    }

    async fn commit(&self, commit: &OrgCommit, tops: &[TopWrite]) -> StoreResult<Committed> {
        let mut data = self.data();
        if data.failing.contains(&commit.org) {
            return Err(StoreError::failed(format!(
                "injected: org {} is poisoned",
                commit.org
            )));
        }
        if data.markers.contains(&marker(commit)) {
            return Ok(Committed::AlreadyDone);
        }
        let changed = tops.iter().any(|write| {
            let stored = data.tops.get(&(commit.org, write.day, write.kind));
            stored.map_or(0, |s| s.version) != write.expected
        });
        if changed {
            return Ok(Committed::TopChanged);
        }
        data.markers.insert(marker(commit));
        for (day, delta) in &commit.days {
            add_counters(
                data.counters.entry((commit.org, *day)).or_default(),
                &delta.counters,
            );
        }
        for write in tops {
            data.tops.insert(
                (commit.org, write.day, write.kind),
                StoredTop {
                    top: write.top.clone(),
                    version: write.expected + 1,
                },
            );
        }
        data.commits += 1;
        Ok(Committed::Done)
    }

    async fn park(&self, commit: &OrgCommit, reason: &str) -> StoreResult<()> {
        let parked = ParkedCommit {
            commit: commit.clone(),
            reason: reason.to_owned(),
            parked_at: OffsetDateTime::now_utc(),
        };
        self.data().parked.entry(marker(commit)).or_insert(parked);
        Ok(())
    }

    async fn parked(&self, limit: u16) -> StoreResult<Vec<ParkedCommit>> {
        let data = self.data();
        Ok(data
            .parked
            .values()
            .take(usize::from(limit))
            .cloned()
            .collect())
    }

    async fn unpark(&self, commit: &OrgCommit) -> StoreResult<()> {
        self.data().parked.remove(&marker(commit));
        Ok(())
    }

    async fn delete_message(&self, orphan: &Orphan) -> StoreResult<()> {
        self.data().deleted_messages.push(orphan.id);
        Ok(())
    }
}
