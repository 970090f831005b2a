//! Chats: `ORG#<org>` / `CHAT#<ulid>`, listed newest first (or oldest
//! first for exports), filtered, and by end user through `gsi1`. A deleted
//! chat is a tombstone (`deleted_at`, expiring after two days) that every
//! read skips; deleting one also deletes its messages.

use std::sync::LazyLock;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use serde::{Deserialize, Serialize};
use serde_json::json;
use time::OffsetDateTime;

use super::{
    DynamoStore, Item,
    expr::{Cond, Update, number, rfc3339, s},
    from_item, keys,
    query::{Listing, ReadBound, SortKey, page_of},
    requests::key,
    to_item,
};
use crate::{
    domain::{
        ApiKeyId, CHAT_SWEEP_DELAY, Chat, ChatId, ChatTitle, EndUserId, MAX_END_USER_ID_CHARS,
        MAX_METADATA_BYTES, MAX_TAG_CHARS, MAX_TAGS, MAX_TITLE_CHARS, Metadata, OrgId, Tag, Tags,
        ValidationError,
    },
    store::{
        ChatChanges, ChatFilter, ChatInsert, ChatQuery, ChatStore, ChatSweep, DeletedChatStore,
        Inserted, Page, PageRequest, Read, ReadUnits, StoreError, StoreResult, billing::item_size,
        chat_page_cost,
    },
};

/// How long a deleted chat stays as a tombstone: longer than the stream's
/// 24-hour retention, so the aggregator can attribute every removal.
pub const CHAT_TOMBSTONE_TTL: time::Duration = time::Duration::days(2);

#[derive(Serialize, Deserialize)]
pub(super) struct ChatItem {
    pk: String,
    sk: String,
    kind: String,
    /// Chats by end user (`gsi1`): only chats with a `user_id` have it, and
    /// a deleted chat loses it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    gsi1pk: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    gsi1sk: Option<String>,
    /// Repeated outside the key so stream consumers need not parse keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    org_id: Option<OrgId>,
    id: ChatId,
    /// Bumped by every change, so the aggregator counts each change once.
    #[serde(default)]
    revision: u64,
    /// Set by a delete: the chat is then a tombstone until `expires_at`.
    #[serde(
        with = "time::serde::rfc3339::option",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub deleted_at: Option<OffsetDateTime>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    title: Option<ChatTitle>,
    tags: Vec<String>,
    /// Compact JSON text: keeps the client's numbers exactly.
    metadata: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    user_id: Option<EndUserId>,
    /// The API key that logged it (absent on chats logged before keys were
    /// recorded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    key_id: Option<ApiKeyId>,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
}

impl ChatItem {
    fn new(org: OrgId, chat: &Chat) -> Self {
        Self {
            pk: keys::org_pk(org),
            sk: keys::chat_sk(chat.id),
            kind: "chat".into(),
            gsi1pk: chat
                .user_id
                .as_ref()
                .map(|user| keys::end_user_gsi1pk(org, user.as_str())),
            gsi1sk: chat.user_id.as_ref().map(|_| keys::chat_sk(chat.id)),
            org_id: Some(org),
            id: chat.id,
            revision: 0,
            deleted_at: None,
            title: chat.title.clone(),
            tags: chat
                .tags
                .iter()
                .map(|tag| tag.as_str().to_owned())
                .collect(),
            metadata: chat.metadata.to_json_text(),
            user_id: chat.user_id.clone(),
            key_id: chat.key_id,
            created_at: chat.created_at,
        }
    }

    /// The chat's org, id and end user, as the aggregator needs them.
    pub fn owner(&self) -> StoreResult<(OrgId, ChatId, Option<String>)> {
        let org = match self.org_id {
            Some(org) => org,
            None => org_from_pk(&self.pk)
                .ok_or_else(|| StoreError::Corrupt(format!("chat {}: no org", self.id)))?,
        };
        let user = self.user_id.as_ref().map(|user| user.as_str().to_owned());
        Ok((org, self.id, user))
    }
}

/// The org of an item keyed `ORG#<org>` (chats written before `org_id` was
/// repeated in the item).
pub(super) fn org_from_pk(pk: &str) -> Option<OrgId> {
    OrgId::parse(pk.strip_prefix("ORG#")?).ok()
}

impl TryFrom<ChatItem> for Chat {
    type Error = StoreError;

    fn try_from(item: ChatItem) -> Result<Self, StoreError> {
        let corrupt = |e: ValidationError| StoreError::Corrupt(format!("chat {}: {e}", item.id));
        let tags = item
            .tags
            .iter()
            .map(|t| Tag::parse(t))
            .collect::<Result<_, _>>()
            .map_err(corrupt)?;
        Ok(Chat {
            id: item.id,
            title: item.title.clone(),
            tags: Tags::parse(tags).map_err(corrupt)?,
            metadata: Metadata::from_json_text(&item.metadata).map_err(corrupt)?,
            user_id: item.user_id.clone(),
            key_id: item.key_id,
            created_at: item.created_at,
        })
    }
}

fn chat_from(item: Item) -> StoreResult<Chat> {
    from_item::<ChatItem>(item).and_then(Chat::try_from)
}

/// The chat, unless it is a tombstone.
fn live_chat(item: Item) -> StoreResult<Option<Chat>> {
    let chat: ChatItem = from_item(item)?;
    if chat.deleted_at.is_some() {
        return Ok(None);
    }
    Chat::try_from(chat).map(Some)
}

pub(super) fn chat_key(org: OrgId, id: ChatId) -> Item {
    key(keys::org_pk(org), keys::chat_sk(id))
}

/// A chat that exists and is not a tombstone.
pub(super) fn live() -> Cond {
    Cond::Exists.and(Cond::Lacks("deleted_at"))
}

/// Timestamps compared as stored text, at whole seconds: any stored time
/// within a second sorts after that second's `YYYY-MM-DDTHH:MM:SS` prefix.
fn second_prefix(at: OffsetDateTime) -> AttributeValue {
    let format = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]");
    let at = at.to_offset(time::UtcOffset::UTC);
    s(at.format(format).expect("a UTC time always formats"))
}

/// What a listing skips: tombstones always, and what the filter rules out.
fn chat_filter(filter: &ChatFilter) -> Cond {
    let mut condition = Cond::Lacks("deleted_at");
    if let Some(from) = filter.from {
        condition = condition.and(Cond::Ge("created_at", second_prefix(from)));
    }
    if let Some(to) = filter.to {
        condition = condition.and(Cond::Lt("created_at", second_prefix(to)));
    }
    if let Some(tag) = &filter.tag {
        condition = condition.and(Cond::Contains("tags", s(tag.as_str())));
    }
    condition
}

/// The query of a chat listing: the org's chats, or an end user's
/// (`gsi1`), newest or oldest first, tombstones and filtered chats skipped.
fn chat_listing(org: OrgId, query: &ChatQuery) -> Listing {
    let mut listing = match &query.filter.user_id {
        Some(user) => Listing::gsi1(
            keys::end_user_gsi1pk(org, user.as_str()),
            keys::CHAT_SK_PREFIX,
        ),
        None => Listing {
            read: query.read,
            sort: match query.last_id {
                Some(last) => SortKey::Between(keys::chat_sk(ChatId::MIN), keys::chat_sk(last)),
                None => SortKey::Prefix(keys::CHAT_SK_PREFIX.to_owned()),
            },
            ..Listing::partition(keys::org_pk(org), keys::CHAT_SK_PREFIX)
        },
    };
    listing.newest_first = query.newest_first;
    listing.filter = Some(chat_filter(&query.filter));
    listing
}

/// A chat's item size, as DynamoDB bills reading it (the in-memory store
/// bills its reads the same way): a tombstone's as it is after the delete.
#[cfg(any(test, feature = "memory-store"))]
pub(in crate::store) fn chat_item_size(org: OrgId, chat: &Chat, deleted: bool) -> u64 {
    let mut item = ChatItem::new(org, chat);
    if deleted {
        item.deleted_at = Some(chat.created_at);
        item.gsi1pk = None;
        item.gsi1sk = None;
    }
    to_item(&item).map_or(0, |item| item_size(&item))
}

/// The largest chat item the API can store, in bytes as DynamoDB bills it:
/// every field at its limit in 4-byte characters, on its end user's index
/// and a tombstone at once (a real one is one or the other).
pub fn largest_chat_item() -> u64 {
    static LARGEST: LazyLock<u64> = LazyLock::new(|| {
        let wide = |chars: usize| "\u{1F600}".repeat(chars);
        let tags = (0..MAX_TAGS)
            .map(|n| Tag::parse(&format!("{n:02}{}", wide(MAX_TAG_CHARS - 2))))
            .collect::<Result<Vec<_>, _>>()
            .and_then(Tags::parse)
            .expect("tags at their limit");
        let chat = Chat {
            id: ChatId::MAX,
            title: Some(ChatTitle::parse(&wide(MAX_TITLE_CHARS)).expect("a title at its limit")),
            tags,
            metadata: Metadata::parse(json!({ "k": "x".repeat(MAX_METADATA_BYTES - 8) }))
                .expect("metadata at its limit"),
            user_id: Some(
                EndUserId::parse(&wide(MAX_END_USER_ID_CHARS)).expect("a user id at its limit"),
            ),
            key_id: Some(ApiKeyId::MAX),
            created_at: time::macros::datetime!(9999-12-31 23:59:59.999_999_999 UTC),
        };
        let at = chat.created_at;
        let tombstone = ChatItem {
            revision: u64::MAX,
            deleted_at: Some(at),
            ..ChatItem::new(OrgId::MAX, &chat)
        };
        let mut item = to_item(&tombstone).expect("a chat item");
        item.insert("expires_at".into(), number(i64::MAX));
        item_size(&item)
    });
    *LARGEST
}

/// Every change to a chat bumps its revision (see `domain::analytics::change`).
fn bump_revision(update: Update) -> Update {
    update.increment("revision", 1)
}

#[async_trait]
impl ChatStore for DynamoStore {
    async fn insert_chat(&self, org: OrgId, chat: &Chat) -> StoreResult<ChatInsert> {
        match self.put_if_new(to_item(&ChatItem::new(org, chat))?).await? {
            None => Ok(ChatInsert::Inserted(Inserted::Created(chat.clone()))),
            Some(item) => match live_chat(item)? {
                Some(stored) => Ok(ChatInsert::Inserted(Inserted::Existing(stored))),
                None => Ok(ChatInsert::Deleted),
            },
        }
    }

    async fn chat(&self, org: OrgId, id: ChatId) -> StoreResult<Option<Chat>> {
        match self.get(chat_key(org, id), Read::Consistent).await? {
            Some(item) => live_chat(item),
            None => Ok(None),
        }
    }

    async fn chat_is_live(&self, org: OrgId, id: ChatId) -> StoreResult<bool> {
        for read in [Read::Eventual, Read::Consistent] {
            if let Some(item) = self.get(chat_key(org, id), read).await? {
                return Ok(!item.contains_key("deleted_at"));
            }
            // Not found by an eventually consistent read: the chat may have
            // been created a moment ago, so ask once more, consistently.
        }
        Ok(false)
    }

    async fn chats_by_id(&self, org: OrgId, ids: &[ChatId]) -> StoreResult<Vec<Chat>> {
        let item_keys = ids.iter().map(|id| chat_key(org, *id)).collect();
        let mut chats = self
            .get_many(item_keys, Read::Eventual)
            .await?
            .into_iter()
            .filter_map(|item| live_chat(item).transpose())
            .collect::<StoreResult<Vec<_>>>()?;
        chats.sort_by_key(|chat| chat.id);
        Ok(chats)
    }

    async fn list_chats(
        &self,
        org: OrgId,
        query: &ChatQuery,
        page: &PageRequest,
        max_read: u32,
    ) -> StoreResult<(Page<Chat>, u32)> {
        let listing = chat_listing(org, query);
        let (items, cursor, read) = self
            .query_page_within(&listing, page, Some(ReadBound::Items(max_read)))
            .await?;
        Ok((page_of((items, cursor), chat_from)?, read.items))
    }

    async fn list_chats_within(
        &self,
        org: OrgId,
        query: &ChatQuery,
        page: &PageRequest,
        max_read: ReadUnits,
    ) -> StoreResult<(Page<Chat>, ReadUnits)> {
        let listing = chat_listing(org, query);
        let cost = chat_page_cost(listing.read);
        let (items, cursor, read) = self
            .query_page_within(&listing, page, Some(ReadBound::Units(max_read, cost)))
            .await?;
        Ok((page_of((items, cursor), chat_from)?, read.units))
    }

    async fn update_chat(
        &self,
        org: OrgId,
        id: ChatId,
        changes: &ChatChanges,
    ) -> StoreResult<Option<Chat>> {
        let mut update = bump_revision(Update::default());
        match &changes.title {
            Some(Some(title)) => update = update.set("title", s(title.as_str())),
            Some(None) => update = update.remove("title"),
            None => {}
        }
        if let Some(tags) = &changes.tags {
            let list = tags.iter().map(|tag| s(tag.as_str())).collect();
            update = update.set("tags", AttributeValue::L(list));
        }
        if let Some(metadata) = &changes.metadata {
            update = update.set("metadata", s(metadata.to_json_text()));
        }
        match self
            .update(chat_key(org, id), update.when(live()))
            .await?
            .applied()
        {
            Some(item) => live_chat(item),
            None => Ok(None),
        }
    }

    async fn delete_chat(&self, org: OrgId, id: ChatId, at: OffsetDateTime) -> StoreResult<bool> {
        let tombstone = bump_revision(Update::default())
            .set_if_absent("deleted_at", rfc3339(at)?)
            .set_if_absent(
                "expires_at",
                number((at + CHAT_TOMBSTONE_TTL).unix_timestamp()),
            )
            .remove(keys::GSI1_PK)
            .remove(keys::GSI1_SK)
            .when(Cond::Exists);
        let marked = self.update(chat_key(org, id), tombstone).await?;
        if marked.applied().is_none() {
            return Ok(false);
        }
        // After the tombstone, so a ticket never points at a live chat (the
        // sweeper checks anyway). Deleting again keeps a pending ticket.
        let due = at + CHAT_SWEEP_DELAY;
        let ticket = ChatSweepItem::new(org, id, due, at + CHAT_TOMBSTONE_TTL);
        self.put_if_new(to_item(&ticket)?).await?;
        self.purge_messages(org, id).await?;
        Ok(true)
    }
}

/// A deleted chat's sweep ticket: `ORG#<org>` / `SWEEP#<chat>`, on `gsi1`
/// by due time, expiring with the tombstone.
#[derive(Serialize, Deserialize)]
struct ChatSweepItem {
    pk: String,
    sk: String,
    kind: String,
    gsi1pk: String,
    gsi1sk: String,
    org_id: OrgId,
    chat_id: ChatId,
    expires_at: i64,
}

impl ChatSweepItem {
    fn new(org: OrgId, chat: ChatId, due: OffsetDateTime, expires_at: OffsetDateTime) -> Self {
        Self {
            pk: keys::org_pk(org),
            sk: keys::chat_sweep_sk(chat),
            kind: "chat_sweep".into(),
            gsi1pk: keys::CHAT_SWEEPS_GSI1PK.into(),
            gsi1sk: keys::chat_sweep_gsi1sk(due.unix_timestamp(), org, chat),
            org_id: org,
            chat_id: chat,
            expires_at: expires_at.unix_timestamp(),
        }
    }
}

#[async_trait]
impl DeletedChatStore for DynamoStore {
    async fn due_chat_sweeps(
        &self,
        now: OffsetDateTime,
        limit: u16,
    ) -> StoreResult<Vec<ChatSweep>> {
        // Everything due up to and including this second.
        let due = keys::due_prefix(now.unix_timestamp() + 1);
        let listing = Listing {
            sort: SortKey::Between("0".into(), due),
            ..Listing::gsi1(keys::CHAT_SWEEPS_GSI1PK.into(), "")
        };
        let page = PageRequest {
            limit,
            cursor: None,
        };
        let (items, _) = self.query_page(&listing, &page).await?;
        items
            .into_iter()
            .map(|item| {
                let ticket: ChatSweepItem = from_item(item)?;
                Ok(ChatSweep {
                    org: ticket.org_id,
                    chat: ticket.chat_id,
                })
            })
            .collect()
    }

    async fn sweep_deleted_chat(&self, sweep: ChatSweep) -> StoreResult<usize> {
        let ChatSweep { org, chat } = sweep;
        let stored = self.get(chat_key(org, chat), Read::Consistent).await?;
        let tombstone = match stored {
            Some(item) => from_item::<ChatItem>(item)?.deleted_at.is_some(),
            None => false,
        };
        let swept = if tombstone {
            self.purge_messages(org, chat).await?
        } else {
            // Expired with its tombstone, or never deleted: nothing to sweep.
            0
        };
        self.delete(key(keys::org_pk(org), keys::chat_sweep_sk(chat)), None)
            .await?;
        Ok(swept)
    }
}

impl DynamoStore {
    /// Deletes every message of a chat: key-only query pages read strongly
    /// consistent (so a message written just before the tombstone is seen),
    /// 25 deletes per `BatchWriteItem`. How many it deleted.
    async fn purge_messages(&self, org: OrgId, chat: ChatId) -> StoreResult<usize> {
        let listing = Listing {
            project: Some(&[]),
            read: Read::Consistent,
            ..Listing::partition(keys::messages_pk(org, chat), keys::MESSAGE_SK_PREFIX)
        };
        let item_keys = self.query_all(&listing).await?;
        let count = item_keys.len();
        self.delete_all(item_keys).await?;
        Ok(count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::dynamo::expr::Placeholders;

    #[test]
    fn second_prefixes_bound_stored_timestamps() {
        let at = time::macros::datetime!(2026-11-22 10:00:05.25 UTC);
        let prefix = second_prefix(at);
        let prefix = prefix.as_s().unwrap();
        assert_eq!(prefix, "2026-11-22T10:00:05");
        // Stored times in that second sort after the prefix, earlier ones before.
        assert!("2026-11-22T10:00:05Z" > prefix.as_str());
        assert!("2026-11-22T10:00:05.000001Z" > prefix.as_str());
        assert!("2026-11-22T10:00:04.999Z" < prefix.as_str());
    }

    #[test]
    fn an_unfiltered_listing_still_skips_deleted_chats() {
        let mut p = Placeholders::default();
        assert_eq!(
            chat_filter(&ChatFilter::default()).render(&mut p),
            "attribute_not_exists(#n0)"
        );
        let (names, values) = p.into_maps();
        assert_eq!(names.unwrap()["#n0"], "deleted_at");
        assert!(values.is_none());
    }
}
