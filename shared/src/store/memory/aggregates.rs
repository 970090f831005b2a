use std::{
    collections::{BTreeMap, BTreeSet},
    sync::{Mutex, MutexGuard},
};

use async_trait::async_trait;

use super::locked;
use crate::{
    domain::{
        ChatId, MessageId, OrgId,
        analytics::{AggregateKey, ChatState, Counters, Marker, MessageFacts},
    },
    store::{AggregatorStore, Applied, StoreResult},
};

/// The aggregator's store in memory: markers, aggregate items and chat
/// owners, with the same all-or-nothing semantics as the DynamoDB
/// transaction. For the aggregator's unit tests and its benchmark.
#[derive(Default)]
pub struct MemoryAggregates {
    data: Mutex<AggregateData>,
}

#[derive(Default)]
struct AggregateData {
    markers: BTreeSet<Marker>,
    aggregates: BTreeMap<AggregateKey, Counters>,
    chats: BTreeMap<(OrgId, ChatId), ChatState>,
    deleted_messages: Vec<MessageId>,
    transactions: usize,
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

    pub fn aggregates(&self) -> BTreeMap<AggregateKey, Counters> {
        self.data().aggregates.clone()
    }

    pub fn deleted_messages(&self) -> Vec<MessageId> {
        self.data().deleted_messages.clone()
    }

    pub fn transactions(&self) -> usize {
        self.data().transactions
    }
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

    async fn apply_once(
        &self,
        markers: &[Marker],
        deltas: &BTreeMap<AggregateKey, Counters>,
    ) -> StoreResult<Applied> {
        let mut data = self.data();
        let seen: Vec<usize> = markers
            .iter()
            .enumerate()
            .filter(|(_, marker)| data.markers.contains(*marker))
            .map(|(index, _)| index)
            .collect();
        if !seen.is_empty() {
            return Ok(Applied::AlreadyCounted(seen));
        }
        data.markers.extend(markers.iter().cloned());
        for (key, delta) in deltas {
            let total = data.aggregates.entry(*key).or_default();
            for (name, change) in delta {
                *total.entry(name.clone()).or_default() += change;
            }
        }
        data.transactions += 1;
        Ok(Applied::Done)
    }

    async fn delete_message(&self, message: &MessageFacts) -> StoreResult<()> {
        self.data().deleted_messages.push(message.id);
        Ok(())
    }
}
