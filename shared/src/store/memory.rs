//! An in-memory store with the same semantics as the DynamoDB adapter, for
//! fast unit tests and benchmarks of the domain. Never used in production.

use std::{collections::HashMap, sync::Mutex};

use async_trait::async_trait;

use super::{
    ApiKeyStore, ChatCheck, ChatStore, HealthStore, Inserted, MessageStore, OrgStore, StoreError,
    StoreResult, UserStore,
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
