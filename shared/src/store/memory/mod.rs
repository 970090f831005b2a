//! In-memory adapters with the DynamoDB adapter's semantics, for fast unit
//! tests and benchmarks of the domain; never used in production (only
//! compiled for this crate's tests and with the `memory-store` feature).
//!
//! [`MemoryStore`] implements the ports of orgs, users, API keys, sessions,
//! the sign-in throttle, chats (and their sweeps), messages, export jobs,
//! usage counts, the ingest change feed and health; `store::contract`
//! holds it to what [`super::DynamoStore`] does, case by case.
//! [`MemoryAggregates`] is the aggregator's store, [`MemoryStream`] a
//! synthetic change stream.

use std::{
    collections::{BTreeMap, BTreeSet, HashMap},
    ops::{Range, RangeInclusive},
    sync::{Mutex, MutexGuard},
};

use async_trait::async_trait;
use time::OffsetDateTime;

mod aggregates;
mod exports;
mod sessions;
mod stream;

pub use aggregates::MemoryAggregates;
pub use stream::MemoryStream;

use super::{
    ActivityPage, ApiKeyChanges, ApiKeyStore, ChangeFeedStore, ChatChanges, ChatCheck, ChatInsert,
    ChatQuery, ChatStore, ChatSweep, Claim, Cursor, DeletedChatStore, HealthStore, Inserted,
    MessageInsert, MessageStore, OrgChanges, OrgStore, Page, PageRequest, Read, ReadUnits,
    StoreError, StoreResult, UsageAdded, UsageStore, UserChanges, UserStore, WindowUsage,
    billing::PAGE_BYTES,
    chat_page_cost,
    dynamo::{chat_item_size, message_item_size},
};
use crate::{
    clock::{self, SharedClock},
    domain::{
        ApiKey, ApiKeyGrant, ApiKeyHash, ApiKeyId, CHAT_SWEEP_DELAY, Chat, ChatId, Email, ExportId,
        Message, MessageId, Org, OrgId, PasswordHash, Session, SessionId, Slug, User, UserId,
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
    emails: HashMap<(OrgId, Email), UserId>,
    api_keys: BTreeMap<(OrgId, ApiKeyId), ApiKey>,
    grants: HashMap<ApiKeyHash, ApiKeyGrant>,
    sessions: BTreeMap<(OrgId, SessionId), Session>,
    /// Sign-in attempts per throttle key and window (absent: no item).
    login_attempts: HashMap<(String, u64), u32>,
    chats: BTreeMap<(OrgId, ChatId), StoredChat>,
    /// Deleted chats' sweep tickets: when each is due.
    sweeps: BTreeMap<(OrgId, ChatId), OffsetDateTime>,
    messages: BTreeMap<(OrgId, ChatId, MessageId), Message>,
    usage: BTreeMap<(OrgId, u64), WindowUsage>,
    changes: ChangeFeed,
    exports: BTreeMap<(OrgId, ExportId), exports::StoredJob>,
    /// Inline exports per user and minute.
    inline_exports: BTreeMap<(OrgId, UserId, u64), u32>,
    /// An org's export-worker slots: the job holding each, and until when.
    export_slots: BTreeMap<(OrgId, u8), (ExportId, OffsetDateTime)>,
}

/// A chat as the table holds it.
struct StoredChat {
    chat: Chat,
    /// Deleted chats stay as tombstones, as in the table.
    deleted: bool,
    /// Bumped by every update and the delete, as the item's `revision`.
    revision: u64,
}

impl StoredChat {
    /// Whether the stored item is the one `chat` makes (an insert's
    /// retry, as DynamoDB's conditional put finds it).
    fn is_item_of(&self, chat: &Chat) -> bool {
        !self.deleted && self.revision == 0 && self.chat == *chat
    }
}

/// What a chat page may read besides its `limit` (as the DynamoDB
/// adapter bounds its `Query` calls).
#[derive(Clone, Copy)]
enum ReadBound {
    /// At most these read units, a chat not yet read counted at the
    /// largest chat item.
    Units(ReadUnits),
    /// At most this many chat items read, skipped ones included.
    Items(u32),
}

/// What a chat page read: chat items (`ScannedCount`) and their bill.
struct PageRead {
    items: u32,
    units: ReadUnits,
}

impl Data {
    /// A chat listing as DynamoDB reads it: the chats of the key range in
    /// order (an end user's live chats, through the index; else all of the
    /// org's, tombstones included), each read billed at its item size and
    /// counted, those the filters rule out read and skipped. It stops
    /// before a chat that could take it past `bound` (after the first).
    /// The cursor is the last chat read.
    fn chat_page(
        &self,
        org: OrgId,
        query: &ChatQuery,
        page: &PageRequest,
        bound: ReadBound,
    ) -> StoreResult<(Page<Chat>, PageRead)> {
        let filter = &query.filter;
        let read = if filter.user_id.is_some() {
            Read::Eventual
        } else {
            query.read
        };
        let listing = match &filter.user_id {
            Some(user) => format!("chats/{org}/user/{}", user.as_str()),
            None => format!("chats/{org}"),
        };
        let after = resume_after(&listing, page)?;
        let mut in_range: Vec<&StoredChat> = self
            .chats
            .range((org, ChatId::MIN)..=(org, query.last_id.unwrap_or(ChatId::MAX)))
            .map(|(_, stored)| stored)
            .filter(|stored| {
                filter.user_id.is_none()
                    || (!stored.deleted && stored.chat.user_id == filter.user_id)
            })
            .filter(|stored| {
                after.as_ref().is_none_or(|after| {
                    let id = stored.chat.id.to_string();
                    if query.newest_first {
                        id < *after
                    } else {
                        id > *after
                    }
                })
            })
            .collect();
        if query.newest_first {
            in_range.reverse();
        }
        // DynamoDB compares the stored times' text with whole seconds.
        let (from, to) = (filter.from.map(whole_second), filter.to.map(whole_second));
        let largest = chat_page_cost(read).largest_item;
        let (mut items, mut bytes, mut last, mut stopped) = (Vec::new(), 0, None, false);
        let mut scanned = 0;
        for StoredChat { chat, deleted, .. } in in_range {
            let over_bound = last.is_some()
                && match bound {
                    ReadBound::Units(max) => ReadUnits::of_bytes(bytes + largest, read) > max,
                    ReadBound::Items(max) => scanned >= max,
                };
            if items.len() == usize::from(page.limit) || over_bound {
                stopped = true;
                break;
            }
            bytes += chat_item_size(org, chat, *deleted);
            scanned += 1;
            last = Some(chat.id);
            let kept = !deleted
                && from.is_none_or(|from| chat.created_at >= from)
                && to.is_none_or(|to| chat.created_at < to)
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
            .map(|id: ChatId| cursor_at(&listing, id.to_string()));
        let units = ReadUnits::of_bytes(bytes, read);
        Ok((
            Page { items, next_cursor },
            PageRead {
                items: scanned,
                units,
            },
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

/// The time as DynamoDB compares a chat's stored `created_at` text with a
/// filter's bound: to the whole second.
fn whole_second(at: OffsetDateTime) -> OffsetDateTime {
    at.replace_nanosecond(0).expect("0 is a valid nanosecond")
}

/// The cursor that continues `listing` after the item `id`. As the
/// table's cursors hold the partition (and index) they come from, it
/// names its listing: a cursor can only continue the listing it came
/// from (another org's, another end user's, another entity's is refused).
fn cursor_at(listing: &str, id: String) -> Cursor {
    Cursor::from_key(BTreeMap::from([
        ("listing".to_owned(), listing.to_owned()),
        ("id".to_owned(), id),
    ]))
}

/// Where a page of `listing` resumes: after the id its cursor holds.
/// That item need not exist any more (as with DynamoDB's start keys, a
/// listing goes on past an item deleted between two pages).
fn resume_after(listing: &str, page: &PageRequest) -> StoreResult<Option<String>> {
    let Some(cursor) = &page.cursor else {
        return Ok(None);
    };
    let key = cursor.key();
    if key.len() != 2 || key.get("listing").map(String::as_str) != Some(listing) {
        return Err(StoreError::InvalidCursor);
    }
    Ok(key.get("id").cloned())
}

/// Which way a listing goes through its ids.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Order {
    OldestFirst,
    NewestFirst,
}

/// A page of `listing`'s `items` (in `order`, each with its id as text,
/// which sorts as the ULID does) after `page`'s cursor.
fn page_of<T>(
    listing: &str,
    items: impl Iterator<Item = (String, T)>,
    order: Order,
    page: &PageRequest,
) -> StoreResult<Page<T>> {
    let after = resume_after(listing, page)?;
    let rest = items.skip_while(|(id, _)| {
        after.as_ref().is_some_and(|after| match order {
            Order::OldestFirst => id <= after,
            Order::NewestFirst => id >= after,
        })
    });
    let mut found: Vec<(String, T)> = rest.take(usize::from(page.limit) + 1).collect();
    let next_cursor = if found.len() > usize::from(page.limit) {
        found.truncate(usize::from(page.limit));
        found.last().map(|(id, _)| cursor_at(listing, id.clone()))
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
        if data.orgs.contains_key(&org.id) {
            return Err(StoreError::Corrupt(format!(
                "org {}: its id collided",
                org.id
            )));
        }
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
            "orgs",
            data.orgs.values().map(|o| (o.id.to_string(), o.clone())),
            Order::OldestFirst,
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
        if data.users.contains_key(&(org, user.id)) {
            return Err(StoreError::Corrupt(format!(
                "user {}: its id collided",
                user.id
            )));
        }
        let claim = (org, user.email.clone());
        if data.emails.contains_key(&claim) {
            return Ok(Claim::Taken);
        }
        data.emails.insert(claim, user.id);
        data.users.insert((org, user.id), user.clone());
        Ok(Claim::Created)
    }

    async fn user(&self, org: OrgId, id: UserId) -> StoreResult<Option<User>> {
        Ok(self.data().users.get(&(org, id)).cloned())
    }

    async fn user_by_email(&self, org: OrgId, email: &Email) -> StoreResult<Option<User>> {
        let data = self.data();
        Ok(data
            .emails
            .get(&(org, email.clone()))
            .and_then(|id| data.users.get(&(org, *id)).cloned()))
    }

    async fn list_users(&self, org: OrgId, page: &PageRequest) -> StoreResult<Page<User>> {
        let data = self.data();
        let users = data
            .users
            .range((org, UserId::MIN)..=(org, UserId::MAX))
            .map(|((_, id), user)| (id.to_string(), user.clone()));
        page_of(&format!("users/{org}"), users, Order::OldestFirst, page)
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
        // One transaction: the user, and their address only if it still
        // points at them; either condition failing writes nothing.
        let claim = (org, user.email.clone());
        let claimed = data.emails.get(&claim) == Some(&user.id);
        if !claimed || !data.users.contains_key(&(org, user.id)) {
            return Ok(false);
        }
        data.users.remove(&(org, user.id));
        data.emails.remove(&claim);
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
        // One transaction: the user at the epoch read, and the kept session
        // (which must exist, unrevoked) replaced.
        let keeps = data
            .sessions
            .get(&(org, keep.id))
            .is_some_and(|session| !session.revoked);
        match data.users.get_mut(&(org, user.id)) {
            Some(stored) if keeps && stored.session_epoch == user.session_epoch => {
                stored.password_hash = hash.clone();
                stored.session_epoch = keep.epoch;
                data.sessions.insert((org, keep.id), keep.clone());
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
        page_of(&format!("apikeys/{org}"), keys, Order::OldestFirst, page)
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
        self.chats
            .get(&(org, id))
            .filter(|stored| !stored.deleted)
            .map(|stored| &stored.chat)
    }

    /// Deletes every message of the chat; how many.
    fn purge_messages(&mut self, org: OrgId, chat: ChatId) -> usize {
        let before = self.messages.len();
        self.messages
            .retain(|(o, c, _), _| !(*o == org && *c == chat));
        before - self.messages.len()
    }
}

#[async_trait]
impl ChatStore for MemoryStore {
    async fn insert_chat(&self, org: OrgId, chat: &Chat) -> StoreResult<ChatInsert> {
        let mut data = self.data();
        match data.chats.get(&(org, chat.id)) {
            // Its own write, retried after the answer was lost.
            Some(stored) if stored.is_item_of(chat) => {
                Ok(ChatInsert::Inserted(Inserted::Created(chat.clone())))
            }
            Some(stored) if stored.deleted => Ok(ChatInsert::Deleted),
            Some(stored) => Ok(ChatInsert::Inserted(Inserted::Existing(
                stored.chat.clone(),
            ))),
            None => {
                let stored = StoredChat {
                    chat: chat.clone(),
                    deleted: false,
                    revision: 0,
                };
                data.chats.insert((org, chat.id), stored);
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
        let distinct: BTreeSet<ChatId> = ids.iter().copied().collect();
        if distinct.len() < ids.len() {
            // DynamoDB's `BatchGetItem` refuses a key named twice.
            return Err(StoreError::failed(
                "ValidationException: Provided list of item keys contains duplicates",
            ));
        }
        let ids = distinct;
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
        max_read: u32,
    ) -> StoreResult<(Page<Chat>, u32)> {
        let (page, read) = self
            .data()
            .chat_page(org, query, page, ReadBound::Items(max_read))?;
        Ok((page, read.items))
    }

    async fn list_chats_within(
        &self,
        org: OrgId,
        query: &ChatQuery,
        page: &PageRequest,
        max_read: ReadUnits,
    ) -> StoreResult<(Page<Chat>, ReadUnits)> {
        let (page, read) = self
            .data()
            .chat_page(org, query, page, ReadBound::Units(max_read))?;
        Ok((page, read.units))
    }

    async fn update_chat(
        &self,
        org: OrgId,
        id: ChatId,
        changes: &ChatChanges,
    ) -> StoreResult<Option<Chat>> {
        let mut data = self.data();
        let Some(stored) = data.chats.get_mut(&(org, id)).filter(|s| !s.deleted) else {
            return Ok(None);
        };
        stored.revision += 1;
        let chat = &mut stored.chat;
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

    async fn delete_chat(&self, org: OrgId, id: ChatId, at: OffsetDateTime) -> StoreResult<bool> {
        let mut data = self.data();
        let Some(stored) = data.chats.get_mut(&(org, id)) else {
            return Ok(false);
        };
        stored.deleted = true;
        stored.revision += 1;
        // Deleting again keeps a pending ticket.
        data.sweeps
            .entry((org, id))
            .or_insert(at + CHAT_SWEEP_DELAY);
        data.purge_messages(org, id);
        Ok(true)
    }
}

#[async_trait]
impl DeletedChatStore for MemoryStore {
    async fn due_chat_sweeps(
        &self,
        now: OffsetDateTime,
        limit: u16,
    ) -> StoreResult<Vec<ChatSweep>> {
        let data = self.data();
        // As the index sorts them: by due second, then org and chat.
        let mut due: Vec<(i64, OrgId, ChatId)> = data
            .sweeps
            .iter()
            .map(|((org, chat), due)| (due.unix_timestamp().max(0), *org, *chat))
            .filter(|(due, _, _)| *due <= now.unix_timestamp())
            .collect();
        due.sort();
        Ok(due
            .into_iter()
            .take(usize::from(limit))
            .map(|(_, org, chat)| ChatSweep { org, chat })
            .collect())
    }

    async fn sweep_deleted_chat(&self, sweep: ChatSweep) -> StoreResult<usize> {
        let ChatSweep { org, chat } = sweep;
        let mut data = self.data();
        let tombstone = data.chats.get(&(org, chat)).is_some_and(|s| s.deleted);
        let swept = if tombstone {
            data.purge_messages(org, chat)
        } else {
            0
        };
        data.sweeps.remove(&(org, chat));
        Ok(swept)
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
        // An equal stored message is this write's own, retried after its
        // answer was lost: created, as DynamoDB's conditional put finds it.
        if let Some(existing) = data.messages.get(&key).filter(|m| *m != message) {
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
        page_of(
            &format!("messages/{org}/{chat}"),
            messages,
            Order::OldestFirst,
            page,
        )
    }

    async fn delete_key_messages(
        &self,
        org: OrgId,
        chat: ChatId,
        key: ApiKeyId,
        logged: Range<OffsetDateTime>,
    ) -> StoreResult<usize> {
        let ids = crate::domain::message_ids_logged_within(&logged);
        let mut data = self.data();
        let doomed: Vec<_> = data
            .messages
            .range((org, chat, *ids.start())..=(org, chat, *ids.end()))
            .filter(|(_, m)| m.key_id == Some(key) && logged.contains(&m.created_at))
            .map(|(id, _)| *id)
            .collect();
        for id in &doomed {
            data.messages.remove(id);
        }
        Ok(doomed.len())
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

/// Adds a report to the counts; the org's count and those of `keys` after it.
fn add_usage_to(
    data: &mut Data,
    org: OrgId,
    window: u64,
    org_units: u64,
    keys: &[(ApiKeyId, u64)],
) -> WindowUsage {
    let usage = data.usage.entry((org, window)).or_default();
    usage.org += org_units;
    for (key, units) in keys {
        *usage.keys.entry(*key).or_default() += units;
    }
    WindowUsage {
        org: usage.org,
        keys: keys
            .iter()
            .map(|(key, _)| (*key, usage.keys[key]))
            .collect(),
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
        Ok(add_usage_to(&mut data, org, window, org_units, keys))
    }

    async fn add_usage_within(
        &self,
        org: OrgId,
        window: u64,
        org_units: u64,
        keys: &[(ApiKeyId, u64)],
        capped: ApiKeyId,
        max: u64,
    ) -> StoreResult<UsageAdded> {
        let adding = super::units_for(keys, capped);
        // One lock, as DynamoDB's condition and update are one request.
        let mut data = self.data();
        let now = data.usage.get(&(org, window)).cloned().unwrap_or_default();
        if now.keys.get(&capped).copied().unwrap_or_default() + adding > max {
            return Ok(UsageAdded::OverCap(now));
        }
        Ok(UsageAdded::Added(add_usage_to(
            &mut data, org, window, org_units, keys,
        )))
    }

    async fn window_usage(&self, org: OrgId, window: u64) -> StoreResult<WindowUsage> {
        Ok(self
            .data()
            .usage
            .get(&(org, window))
            .cloned()
            .unwrap_or_default())
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
