//! An in-memory store with the same semantics as the DynamoDB adapter, for
//! fast unit tests and benchmarks of the domain. Never used in production.

use std::{
    collections::{BTreeMap, HashMap},
    sync::Mutex,
};

use async_trait::async_trait;

use super::{
    ApiKeyStore, ChatCheck, ChatStore, HealthStore, Inserted, MessageStore, OrgStore, StoreError,
    StoreResult, UserStore,
};
use crate::analytics::{
    AggregateKey, AggregatorStore, Applied, ChatState, Counters, Marker, MessageFacts,
};
use crate::domain::{
    ApiKey, ApiKeyGrant, ApiKeyHash, ApiKeyId, Chat, ChatId, Email, Message, MessageId, Org, OrgId,
    Slug, User, UserId,
};

#[derive(Default)]
pub struct MemoryStore {
    data: Mutex<Data>,
}

#[derive(Default)]
struct Data {
    orgs: HashMap<OrgId, Org>,
    slugs: HashMap<Slug, OrgId>,
    users: HashMap<(OrgId, UserId), User>,
    emails: HashMap<Email, (OrgId, UserId)>,
    api_keys: HashMap<(OrgId, ApiKeyId), ApiKey>,
    grants: HashMap<ApiKeyHash, ApiKeyGrant>,
    chats: HashMap<(OrgId, ChatId), Chat>,
    messages: HashMap<(OrgId, ChatId, MessageId), Message>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn data(&self) -> std::sync::MutexGuard<'_, Data> {
        self.data
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Every message stored for the org, for assertions in tests.
    pub fn messages_of(&self, org: OrgId) -> Vec<Message> {
        let data = self.data();
        data.messages
            .iter()
            .filter(|((o, _, _), _)| *o == org)
            .map(|(_, m)| m.clone())
            .collect()
    }

    /// Every chat stored for the org, for assertions in tests.
    pub fn chats_of(&self, org: OrgId) -> Vec<Chat> {
        let data = self.data();
        data.chats
            .iter()
            .filter(|((o, _), _)| *o == org)
            .map(|(_, c)| c.clone())
            .collect()
    }
}

#[async_trait]
impl OrgStore for MemoryStore {
    async fn create_org(&self, org: &Org) -> StoreResult<()> {
        let mut data = self.data();
        if data.slugs.contains_key(&org.slug) {
            return Err(StoreError::SlugTaken);
        }
        data.slugs.insert(org.slug.clone(), org.id);
        data.orgs.insert(org.id, org.clone());
        Ok(())
    }

    async fn org_by_slug(&self, slug: &Slug) -> StoreResult<Option<Org>> {
        let data = self.data();
        Ok(data
            .slugs
            .get(slug)
            .and_then(|id| data.orgs.get(id))
            .cloned())
    }
}

#[async_trait]
impl UserStore for MemoryStore {
    async fn create_user(&self, org: OrgId, user: &User) -> StoreResult<()> {
        let mut data = self.data();
        if data.emails.contains_key(&user.email) {
            return Err(StoreError::EmailTaken);
        }
        data.emails.insert(user.email.clone(), (org, user.id));
        data.users.insert((org, user.id), user.clone());
        Ok(())
    }

    async fn user_by_email(&self, email: &Email) -> StoreResult<Option<(OrgId, User)>> {
        let data = self.data();
        Ok(data
            .emails
            .get(email)
            .and_then(|key| data.users.get(key).map(|user| (key.0, user.clone()))))
    }
}

#[async_trait]
impl ApiKeyStore for MemoryStore {
    async fn create_api_key(&self, org: &Org, key: &ApiKey, hash: &ApiKeyHash) -> StoreResult<()> {
        let mut data = self.data();
        data.api_keys.insert((org.id, key.id), key.clone());
        let grant = ApiKeyGrant {
            org_id: org.id,
            org_slug: org.slug.clone(),
            key_id: key.id,
            revoked: key.revoked_at.is_some(),
        };
        data.grants.insert(*hash, grant);
        Ok(())
    }

    async fn api_key_grant(&self, hash: &ApiKeyHash) -> StoreResult<Option<ApiKeyGrant>> {
        Ok(self.data().grants.get(hash).cloned())
    }

    async fn touch_api_key(
        &self,
        org: OrgId,
        key: ApiKeyId,
        at: time::OffsetDateTime,
    ) -> StoreResult<()> {
        if let Some(stored) = self.data().api_keys.get_mut(&(org, key)) {
            stored.last_used_at = Some(at);
        }
        Ok(())
    }
}

#[async_trait]
impl ChatStore for MemoryStore {
    async fn insert_chat(&self, org: OrgId, chat: &Chat) -> StoreResult<Inserted<Chat>> {
        let mut data = self.data();
        if let Some(existing) = data.chats.get(&(org, chat.id)) {
            return Ok(Inserted::Existing(existing.clone()));
        }
        data.chats.insert((org, chat.id), chat.clone());
        Ok(Inserted::Created(chat.clone()))
    }
}

#[async_trait]
impl MessageStore for MemoryStore {
    async fn insert_message(
        &self,
        org: OrgId,
        message: &Message,
        check: ChatCheck,
    ) -> StoreResult<Inserted<Message>> {
        let mut data = self.data();
        if check == ChatCheck::Verify && !data.chats.contains_key(&(org, message.chat_id)) {
            return Err(StoreError::ChatNotFound);
        }
        let key = (org, message.chat_id, message.id);
        if let Some(existing) = data.messages.get(&key) {
            return Ok(Inserted::Existing(existing.clone()));
        }
        data.messages.insert(key, message.clone());
        Ok(Inserted::Created(message.clone()))
    }
}

#[async_trait]
impl HealthStore for MemoryStore {
    async fn ping(&self) -> StoreResult<()> {
        Ok(())
    }
}

/// The aggregator's store in memory: markers, aggregate items and chat
/// owners, with the same all-or-nothing semantics as the DynamoDB
/// transaction. For the aggregator's unit tests and its benchmark.
#[derive(Default)]
pub struct MemoryAggregates {
    data: Mutex<AggregateData>,
}

#[derive(Default)]
struct AggregateData {
    markers: std::collections::BTreeSet<Marker>,
    aggregates: BTreeMap<AggregateKey, Counters>,
    chats: BTreeMap<(OrgId, ChatId), ChatState>,
    deleted_messages: Vec<MessageId>,
    transactions: usize,
}

impl MemoryAggregates {
    pub fn new() -> Self {
        Self::default()
    }

    fn data(&self) -> std::sync::MutexGuard<'_, AggregateData> {
        self.data
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
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
        chats: &std::collections::BTreeSet<(OrgId, ChatId)>,
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
