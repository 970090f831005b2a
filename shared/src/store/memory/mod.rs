//! In-memory adapters with the DynamoDB adapter's semantics, for fast unit
//! tests and benchmarks of the domain; never used in production.
//!
//! [`MemoryStore`] implements the ports of orgs, users, API keys, chats,
//! messages, export jobs, usage counts, the ingest change feed and health:
//! what ingest, the rate limiter, the account use cases, starting an export
//! and the API-key check use. Sessions, the sign-in throttle and analytics
//! are only tested against DynamoDB (moto). [`MemoryAggregates`] is the
//! aggregator's store, [`MemoryStream`] a synthetic change stream.

use std::{
    collections::{BTreeMap, BTreeSet, HashMap},
    ops::RangeInclusive,
    sync::{Mutex, MutexGuard},
};

use async_trait::async_trait;
use time::OffsetDateTime;

mod aggregates;
mod exports;
mod stream;

pub use aggregates::MemoryAggregates;
pub use stream::MemoryStream;

use super::{
    ActivityPage, ApiKeyChanges, ApiKeyStore, ChangeFeedStore, ChatChanges, ChatCheck, ChatInsert,
    ChatQuery, ChatStore, Claim, Cursor, HealthStore, Inserted, MessageInsert, MessageStore,
    OrgChanges, OrgStore, Page, PageRequest, Read, ReadUnits, StoreError, StoreResult, UsageStore,
    UserChanges, UserStore, WindowUsage,
    billing::PAGE_BYTES,
    chat_page_cost,
    dynamo::{chat_item_size, message_item_size},
};
use crate::{
    clock::{self, SharedClock},
    domain::{
        ApiKey, ApiKeyGrant, ApiKeyHash, ApiKeyId, Chat, ChatId, Email, ExportId, Message,
        MessageId, Org, OrgId, PasswordHash, Session, Slug, User, UserId,
        ingest_changes::{ChangeFeed, IngestChange},
    },
};

fn locked<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

pub struct MemoryStore {
    data: Mutex<Data>,
    /// The time of the changes the store stamps itself (a revocation, a
    /// feed entry), as [`super::DynamoStore`] does.
    clock: SharedClock,
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::with_clock(clock::system())
    }
}

#[derive(Default)]
struct Data {
    orgs: BTreeMap<OrgId, Org>,
    slugs: HashMap<Slug, OrgId>,
    users: BTreeMap<(OrgId, UserId), User>,
    emails: HashMap<Email, (OrgId, UserId)>,
    api_keys: BTreeMap<(OrgId, ApiKeyId), ApiKey>,
    grants: HashMap<ApiKeyHash, ApiKeyGrant>,
    /// Deleted chats stay as tombstones (`true`), as in the table.
    chats: BTreeMap<(OrgId, ChatId), (Chat, bool)>,
    messages: BTreeMap<(OrgId, ChatId, MessageId), Message>,
    usage: BTreeMap<(OrgId, u64), WindowUsage>,
    changes: ChangeFeed,
    exports: BTreeMap<(OrgId, ExportId), exports::StoredJob>,
}

impl Data {
    /// A chat listing as DynamoDB reads it: the chats of the key range in
    /// order (an end user's live chats, through the index; else all of the
    /// org's, tombstones included), each read billed at its item size,
    /// those the filters rule out read and skipped; with `max_read`, it
    /// stops before a chat that could take the bill past it (after the
    /// first). The cursor is the last chat read.
    fn chat_page(
        &self,
        org: OrgId,
        query: &ChatQuery,
        page: &PageRequest,
        max_read: Option<ReadUnits>,
    ) -> StoreResult<(Page<Chat>, ReadUnits)> {
        let filter = &query.filter;
        let read = if filter.user_id.is_some() {
            Read::Eventual
        } else {
            query.read
        };
        let mut in_range: Vec<&(Chat, bool)> = self
            .chats
            .range((org, ChatId::MIN)..=(org, query.last_id.unwrap_or(ChatId::MAX)))
            .map(|(_, chat)| chat)
            .filter(|(chat, deleted)| {
                filter.user_id.is_none() || (!deleted && chat.user_id == filter.user_id)
            })
            .collect();
        if query.newest_first {
            in_range.reverse();
        }
        let start = match &page.cursor {
            None => 0,
            Some(cursor) => {
                let after = cursor.key().get("id").ok_or(StoreError::InvalidCursor)?;
                1 + in_range
                    .iter()
                    .position(|(chat, _)| chat.id.to_string() == *after)
                    .ok_or(StoreError::InvalidCursor)?
            }
        };
        let largest = chat_page_cost(read).largest_item;
        let (mut items, mut bytes, mut last, mut stopped) = (Vec::new(), 0, None, false);
        for (chat, deleted) in &in_range[start..] {
            let over_budget = max_read.is_some_and(|max| {
                last.is_some() && ReadUnits::of_bytes(bytes + largest, read) > max
            });
            if items.len() == usize::from(page.limit) || over_budget {
                stopped = true;
                break;
            }
            bytes += chat_item_size(org, chat, *deleted);
            last = Some(chat.id);
            let kept = !deleted
                && filter.from.is_none_or(|from| chat.created_at >= from)
                && filter.to.is_none_or(|to| chat.created_at < to)
                && filter
                    .tag
                    .as_ref()
                    .is_none_or(|tag| chat.tags.iter().any(|t| t == tag));
            if kept {
                items.push(chat.clone());
            }
        }
        let next_cursor = last
            .filter(|_| stopped)
            .map(|id| Cursor::from_key(BTreeMap::from([("id".to_owned(), id.to_string())])));
        Ok((
            Page { items, next_cursor },
            ReadUnits::of_bytes(bytes, read),
        ))
    }
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// A store that stamps changes with `clock`'s time.
    pub fn with_clock(clock: SharedClock) -> Self {
        Self {
            data: Mutex::default(),
            clock,
        }
    }

    fn data(&self) -> MutexGuard<'_, Data> {
        locked(&self.data)
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
}

/// A page of `items` (in listing order) after `page`'s cursor, whose
/// position is the item's id as text.
fn page_of<T: Clone>(
    items: impl Iterator<Item = (String, T)>,
    page: &PageRequest,
) -> StoreResult<Page<T>> {
    let after = match &page.cursor {
        Some(cursor) => Some(
            cursor
                .key()
                .get("id")
                .cloned()
                .ok_or(StoreError::InvalidCursor)?,
        ),
        None => None,
    };
    let mut rest = items.skip_while(|(id, _)| after.as_ref().is_some_and(|after| after != id));
    if after.is_some() && rest.next().is_none() {
        return Err(StoreError::InvalidCursor);
    }
    let mut found: Vec<(String, T)> = rest.take(usize::from(page.limit) + 1).collect();
    let next_cursor = if found.len() > usize::from(page.limit) {
        found.truncate(usize::from(page.limit));
        found
            .last()
            .map(|(id, _)| Cursor::from_key(BTreeMap::from([("id".to_owned(), id.clone())])))
    } else {
        None
    };
    Ok(Page {
        items: found.into_iter().map(|(_, item)| item).collect(),
        next_cursor,
    })
}

#[async_trait]
impl OrgStore for MemoryStore {
    async fn create_org(&self, org: &Org) -> StoreResult<Claim> {
        let mut data = self.data();
        if data.slugs.contains_key(&org.slug) {
            return Ok(Claim::Taken);
        }
        data.slugs.insert(org.slug.clone(), org.id);
        data.orgs.insert(org.id, org.clone());
        Ok(Claim::Created)
    }

    async fn org(&self, id: OrgId) -> StoreResult<Option<Org>> {
        Ok(self.data().orgs.get(&id).cloned())
    }

    async fn org_by_slug(&self, slug: &Slug) -> StoreResult<Option<Org>> {
        let data = self.data();
        Ok(data
            .slugs
            .get(slug)
            .and_then(|id| data.orgs.get(id))
            .cloned())
    }

    async fn list_orgs(&self, page: &PageRequest) -> StoreResult<Page<Org>> {
        let data = self.data();
        page_of(
            data.orgs.values().map(|o| (o.id.to_string(), o.clone())),
            page,
        )
    }

    async fn update_org(&self, id: OrgId, changes: &OrgChanges) -> StoreResult<Option<Org>> {
        let mut data = self.data();
        let data = &mut *data;
        let Some(org) = data.orgs.get_mut(&id) else {
            return Ok(None);
        };
        if let Some(name) = &changes.name {
            org.name = name.clone();
        }
        if let Some(settings) = &changes.settings {
            org.settings = settings.clone();
        }
        if let Some(limits) = changes.limits {
            org.limits = limits;
            // Ingest caches the limits: noted with the change, as in the table.
            data.changes.record(IngestChange::Org(id), self.clock.now());
        }
        Ok(Some(org.clone()))
    }
}

#[async_trait]
impl UserStore for MemoryStore {
    async fn create_user(&self, org: OrgId, user: &User) -> StoreResult<Claim> {
        let mut data = self.data();
        if data.emails.contains_key(&user.email) {
            return Ok(Claim::Taken);
        }
        data.emails.insert(user.email.clone(), (org, user.id));
        data.users.insert((org, user.id), user.clone());
        Ok(Claim::Created)
    }

    async fn user(&self, org: OrgId, id: UserId) -> StoreResult<Option<User>> {
        Ok(self.data().users.get(&(org, id)).cloned())
    }

    async fn user_by_email(&self, email: &Email) -> StoreResult<Option<(OrgId, User)>> {
        let data = self.data();
        Ok(data
            .emails
            .get(email)
            .and_then(|key| data.users.get(key).map(|user| (key.0, user.clone()))))
    }

    async fn list_users(&self, org: OrgId, page: &PageRequest) -> StoreResult<Page<User>> {
        let data = self.data();
        let users = data
            .users
            .range((org, UserId::MIN)..=(org, UserId::MAX))
            .map(|((_, id), user)| (id.to_string(), user.clone()));
        page_of(users, page)
    }

    async fn update_user(
        &self,
        org: OrgId,
        id: UserId,
        changes: &UserChanges,
    ) -> StoreResult<Option<User>> {
        let mut data = self.data();
        let Some(user) = data.users.get_mut(&(org, id)) else {
            return Ok(None);
        };
        if let Some(name) = &changes.display_name {
            user.display_name = Some(name.clone());
        }
        if let Some(role) = changes.role {
            user.role = role;
        }
        if let Some(disabled) = changes.disabled {
            user.disabled = disabled;
        }
        if changes.end_sessions {
            user.session_epoch += 1;
        }
        Ok(Some(user.clone()))
    }

    async fn delete_user(&self, org: OrgId, user: &User) -> StoreResult<bool> {
        let mut data = self.data();
        if data.users.remove(&(org, user.id)).is_none() {
            return Ok(false);
        }
        if data.emails.get(&user.email) == Some(&(org, user.id)) {
            data.emails.remove(&user.email);
        }
        Ok(true)
    }

    async fn change_password(
        &self,
        org: OrgId,
        user: &User,
        hash: &PasswordHash,
        keep: &Session,
    ) -> StoreResult<bool> {
        let mut data = self.data();
        match data.users.get_mut(&(org, user.id)) {
            Some(stored) if stored.session_epoch == user.session_epoch => {
                stored.password_hash = hash.clone();
                stored.session_epoch = keep.epoch;
                Ok(true)
            }
            _ => Ok(false),
        }
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
            kind: key.kind,
            settings: key.settings.clone(),
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
        at: OffsetDateTime,
    ) -> StoreResult<()> {
        if let Some(stored) = self.data().api_keys.get_mut(&(org, key)) {
            stored.last_used_at = Some(at);
        }
        Ok(())
    }

    async fn list_api_keys(&self, org: OrgId, page: &PageRequest) -> StoreResult<Page<ApiKey>> {
        let data = self.data();
        let keys = data
            .api_keys
            .range((org, ApiKeyId::MIN)..=(org, ApiKeyId::MAX))
            .map(|((_, id), key)| (id.to_string(), key.clone()));
        page_of(keys, page)
    }

    async fn api_key(&self, org: OrgId, key: ApiKeyId) -> StoreResult<Option<ApiKey>> {
        Ok(self.data().api_keys.get(&(org, key)).cloned())
    }

    async fn update_api_key(
        &self,
        org: OrgId,
        key: ApiKeyId,
        changes: &ApiKeyChanges,
    ) -> StoreResult<Option<ApiKey>> {
        let mut data = self.data();
        let Some(stored) = data.api_keys.get_mut(&(org, key)) else {
            return Ok(None);
        };
        if let Some(label) = &changes.label {
            stored.label = label.clone();
        }
        if let Some(settings) = &changes.settings {
            stored.settings = settings.clone();
        }
        let updated = stored.clone();
        if changes.settings.is_some() {
            let now = self.clock.now();
            let data = &mut *data;
            for (hash, grant) in data.grants.iter_mut().filter(|(_, g)| g.key_id == key) {
                grant.settings = updated.settings.clone();
                data.changes.record(IngestChange::ApiKey(*hash), now);
            }
        }
        Ok(Some(updated))
    }

    async fn revoke_api_key(&self, org: OrgId, key: ApiKeyId) -> StoreResult<Option<ApiKey>> {
        let mut data = self.data();
        let Some(stored) = data.api_keys.get_mut(&(org, key)) else {
            return Ok(None);
        };
        let now = self.clock.now();
        stored.revoked_at.get_or_insert(now);
        let revoked = stored.clone();
        let data = &mut *data;
        for (hash, grant) in data.grants.iter_mut().filter(|(_, g)| g.key_id == key) {
            grant.revoked = true;
            data.changes.record(IngestChange::ApiKey(*hash), now);
        }
        Ok(Some(revoked))
    }
}

impl Data {
    fn live_chat(&self, org: OrgId, id: ChatId) -> Option<&Chat> {
        match self.chats.get(&(org, id)) {
            Some((chat, false)) => Some(chat),
            _ => None,
        }
    }
}

#[async_trait]
impl ChatStore for MemoryStore {
    async fn insert_chat(&self, org: OrgId, chat: &Chat) -> StoreResult<ChatInsert> {
        let mut data = self.data();
        match data.chats.get(&(org, chat.id)) {
            Some((_, true)) => Ok(ChatInsert::Deleted),
            Some((existing, false)) => {
                Ok(ChatInsert::Inserted(Inserted::Existing(existing.clone())))
            }
            None => {
                data.chats.insert((org, chat.id), (chat.clone(), false));
                Ok(ChatInsert::Inserted(Inserted::Created(chat.clone())))
            }
        }
    }

    async fn chat(&self, org: OrgId, id: ChatId) -> StoreResult<Option<Chat>> {
        Ok(self.data().live_chat(org, id).cloned())
    }

    async fn chat_is_live(&self, org: OrgId, id: ChatId) -> StoreResult<bool> {
        Ok(self.data().live_chat(org, id).is_some())
    }

    async fn chats_by_id(&self, org: OrgId, ids: &[ChatId]) -> StoreResult<Vec<Chat>> {
        let data = self.data();
        let ids: BTreeSet<ChatId> = ids.iter().copied().collect();
        Ok(ids
            .into_iter()
            .filter_map(|id| data.live_chat(org, id).cloned())
            .collect())
    }

    async fn list_chats(
        &self,
        org: OrgId,
        query: &ChatQuery,
        page: &PageRequest,
    ) -> StoreResult<Page<Chat>> {
        Ok(self.data().chat_page(org, query, page, None)?.0)
    }

    async fn list_chats_within(
        &self,
        org: OrgId,
        query: &ChatQuery,
        page: &PageRequest,
        max_read: ReadUnits,
    ) -> StoreResult<(Page<Chat>, ReadUnits)> {
        self.data().chat_page(org, query, page, Some(max_read))
    }

    async fn update_chat(
        &self,
        org: OrgId,
        id: ChatId,
        changes: &ChatChanges,
    ) -> StoreResult<Option<Chat>> {
        let mut data = self.data();
        let Some((chat, false)) = data.chats.get_mut(&(org, id)) else {
            return Ok(None);
        };
        if let Some(title) = &changes.title {
            chat.title = title.clone();
        }
        if let Some(tags) = &changes.tags {
            chat.tags = tags.clone();
        }
        if let Some(metadata) = &changes.metadata {
            chat.metadata = metadata.clone();
        }
        Ok(Some(chat.clone()))
    }

    async fn delete_chat(&self, org: OrgId, id: ChatId, _at: OffsetDateTime) -> StoreResult<bool> {
        let mut data = self.data();
        let Some((_, deleted)) = data.chats.get_mut(&(org, id)) else {
            return Ok(false);
        };
        *deleted = true;
        data.messages
            .retain(|(o, chat, _), _| !(*o == org && *chat == id));
        Ok(true)
    }
}

#[async_trait]
impl MessageStore for MemoryStore {
    async fn insert_message(
        &self,
        org: OrgId,
        message: &Message,
        check: ChatCheck,
    ) -> StoreResult<MessageInsert> {
        let mut data = self.data();
        if check == ChatCheck::Verify && data.live_chat(org, message.chat_id).is_none() {
            return Ok(MessageInsert::NoSuchChat);
        }
        let key = (org, message.chat_id, message.id);
        if let Some(existing) = data.messages.get(&key) {
            return Ok(MessageInsert::Inserted(Inserted::Existing(
                existing.clone(),
            )));
        }
        data.messages.insert(key, message.clone());
        Ok(MessageInsert::Inserted(Inserted::Created(message.clone())))
    }

    async fn list_messages(
        &self,
        org: OrgId,
        chat: ChatId,
        ids: RangeInclusive<MessageId>,
        page: &PageRequest,
        _read: Read,
    ) -> StoreResult<Page<Message>> {
        let data = self.data();
        let messages = data
            .messages
            .range((org, chat, *ids.start())..=(org, chat, *ids.end()))
            .map(|((_, _, id), message)| (id.to_string(), message.clone()));
        page_of(messages, page)
    }

    async fn activity_page(
        &self,
        org: OrgId,
        chat: ChatId,
        after: Option<MessageId>,
        limit: u32,
    ) -> StoreResult<ActivityPage> {
        let data = self.data();
        let older = match after {
            Some(after) => data
                .messages
                .range((org, chat, MessageId::MIN)..(org, chat, after)),
            None => data
                .messages
                .range((org, chat, MessageId::MIN)..=(org, chat, MessageId::MAX)),
        };
        // As a DynamoDB page: newest first, up to `limit`, or until 1 MB is read.
        let (mut page, mut bytes, mut last, mut stopped) =
            (ActivityPage::default(), 0, None, false);
        for (_, message) in older.rev() {
            if page.count == u64::from(limit.max(1)) || bytes >= PAGE_BYTES {
                stopped = true;
                break;
            }
            bytes += message_item_size(org, message);
            page.count += 1;
            page.newest_at.get_or_insert(message.created_at);
            last = Some(message.id);
        }
        page.more_after = if stopped { last } else { None };
        page.read = Some(ReadUnits::of_bytes(bytes, Read::Eventual));
        Ok(page)
    }
}

#[async_trait]
impl UsageStore for MemoryStore {
    async fn add_usage(
        &self,
        org: OrgId,
        window: u64,
        org_units: u64,
        keys: &[(ApiKeyId, u64)],
    ) -> StoreResult<WindowUsage> {
        let mut data = self.data();
        let usage = data.usage.entry((org, window)).or_default();
        usage.org += org_units;
        for (key, units) in keys {
            *usage.keys.entry(*key).or_default() += units;
        }
        let mut answer = WindowUsage {
            org: usage.org,
            ..WindowUsage::default()
        };
        for (key, _) in keys {
            answer.keys.insert(*key, usage.keys[key]);
        }
        Ok(answer)
    }
}

#[async_trait]
impl ChangeFeedStore for MemoryStore {
    async fn change_feed(&self) -> StoreResult<ChangeFeed> {
        Ok(self.data().changes.clone())
    }
}

#[async_trait]
impl HealthStore for MemoryStore {
    async fn ping(&self) -> StoreResult<()> {
        Ok(())
    }
}
