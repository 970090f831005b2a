//! Messages: one partition per chat, `ORG#<org>#CHAT#<chat>` / `MSG#<ulid>`,
//! sorted by (time-ordered) id. Logging one is one conditional write (after
//! a read of its chat, when the caller does not know the chat exists).

use std::{
    ops::{Range, RangeInclusive},
    sync::LazyLock,
};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::json;
use time::OffsetDateTime;

use super::{
    DynamoStore, Item,
    expr::{Cond, s},
    from_item, keys,
    query::{Listing, SortKey, page_of},
    requests::key,
    to_item,
};
use crate::{
    domain::{
        ApiKeyId, ChatId, LatencyMs, MAX_CONTENT_BYTES, MAX_LATENCY_MS, MAX_METADATA_BYTES,
        MAX_TOKEN_COUNT, Message, MessageContent, MessageId, MessageRole, Metadata, OrgId,
        TokenCount, message_ids_logged_within,
    },
    store::{
        ActivityPage, ChatCheck, ChatStore, Inserted, MessageInsert, MessageStore, Page,
        PageRequest, Read, StoreError, StoreResult, billing::item_size,
    },
};

#[derive(Serialize, Deserialize)]
struct MessageItem {
    pk: String,
    sk: String,
    kind: String,
    /// Repeated outside the key so stream consumers need not parse keys.
    org_id: OrgId,
    id: MessageId,
    chat_id: ChatId,
    role: MessageRole,
    content: MessageContent,
    metadata: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    latency_ms: Option<LatencyMs>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    token_count: Option<TokenCount>,
    /// The API key that logged it (absent on messages logged before keys
    /// were recorded): 32 bytes of the item.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    key_id: Option<ApiKeyId>,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
}

impl MessageItem {
    fn new(org: OrgId, message: &Message) -> Self {
        Self {
            pk: keys::messages_pk(org, message.chat_id),
            sk: keys::message_sk(message.id),
            kind: "message".into(),
            org_id: org,
            id: message.id,
            chat_id: message.chat_id,
            role: message.role,
            content: message.content.clone(),
            metadata: message.metadata.to_json_text(),
            latency_ms: message.latency_ms,
            token_count: message.token_count,
            key_id: message.key_id,
            created_at: message.created_at,
        }
    }
}

impl TryFrom<MessageItem> for Message {
    type Error = StoreError;

    fn try_from(item: MessageItem) -> Result<Self, StoreError> {
        let metadata = Metadata::from_json_text(&item.metadata)
            .map_err(|e| StoreError::Corrupt(format!("message {}: {e}", item.id)))?;
        Ok(Message {
            id: item.id,
            chat_id: item.chat_id,
            role: item.role,
            content: item.content,
            metadata,
            latency_ms: item.latency_ms,
            token_count: item.token_count,
            key_id: item.key_id,
            created_at: item.created_at,
        })
    }
}

fn message_from(item: Item) -> StoreResult<Message> {
    from_item::<MessageItem>(item).and_then(Message::try_from)
}

#[async_trait]
impl MessageStore for DynamoStore {
    async fn insert_message(
        &self,
        org: OrgId,
        message: &Message,
        check: ChatCheck,
    ) -> StoreResult<MessageInsert> {
        let item = to_item(&MessageItem::new(org, message))?;
        // The first message this container sees for the chat proves the
        // chat first: a read (half a unit, eventually consistent) instead of
        // a transaction (a condition check and a put, four units).
        if check == ChatCheck::Verify && !self.chat_is_live(org, message.chat_id).await? {
            return Ok(MessageInsert::NoSuchChat);
        }
        let stored = self.put_if_new(item).await?;
        Ok(MessageInsert::Inserted(match stored {
            None => Inserted::Created(message.clone()),
            Some(item) => Inserted::Existing(message_from(item)?),
        }))
    }

    async fn list_messages(
        &self,
        org: OrgId,
        chat: ChatId,
        ids: RangeInclusive<MessageId>,
        page: &PageRequest,
        read: Read,
    ) -> StoreResult<Page<Message>> {
        let sort = if ids == (MessageId::MIN..=MessageId::MAX) {
            SortKey::Prefix(keys::MESSAGE_SK_PREFIX.to_owned())
        } else {
            SortKey::Between(keys::message_sk(*ids.start()), keys::message_sk(*ids.end()))
        };
        let listing = Listing {
            read,
            sort,
            ..Listing::partition(keys::messages_pk(org, chat), keys::MESSAGE_SK_PREFIX)
        };
        page_of(self.query_page(&listing, page).await?, message_from)
    }

    async fn delete_key_messages(
        &self,
        org: OrgId,
        chat: ChatId,
        key: ApiKeyId,
        logged: Range<OffsetDateTime>,
    ) -> StoreResult<usize> {
        let ids = message_ids_logged_within(&logged);
        let listing = Listing {
            sort: SortKey::Between(keys::message_sk(*ids.start()), keys::message_sk(*ids.end())),
            filter: Some(Cond::Eq("key_id", s(key.to_string()))),
            project: Some(&["created_at"]),
            read: Read::Consistent,
            ..Listing::partition(keys::messages_pk(org, chat), keys::MESSAGE_SK_PREFIX)
        };
        let mut doomed = Vec::new();
        for mut item in self.query_all(&listing).await? {
            let LoggedAt { created_at } = from_item(item.clone())?;
            if logged.contains(&created_at) {
                item.retain(|name, _| name == keys::PK || name == keys::SK);
                doomed.push(item);
            }
        }
        let deleted = doomed.len();
        self.delete_all(doomed).await?;
        Ok(deleted)
    }

    async fn activity_page(
        &self,
        org: OrgId,
        chat: ChatId,
        after: Option<MessageId>,
        limit: u32,
    ) -> StoreResult<ActivityPage> {
        let listing = Listing {
            read: Read::Eventual,
            newest_first: true,
            project: Some(&["id", "created_at"]),
            ..Listing::partition(keys::messages_pk(org, chat), keys::MESSAGE_SK_PREFIX)
        };
        let start = after.map(|id| key(keys::messages_pk(org, chat), keys::message_sk(id)));
        let found = self
            .query(&listing, start, Some(limit.max(1)), true)
            .await?;
        let times = found
            .items
            .into_iter()
            .map(from_item::<MessageTime>)
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(ActivityPage {
            newest_at: times.first().map(|m| m.created_at),
            count: times.len() as u64,
            more_after: found.next.and(times.last().map(|m| m.id)),
            read: found.read,
        })
    }
}

/// When a message was logged.
#[derive(Deserialize)]
struct LoggedAt {
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
}

/// What an activity page reads back of a message.
#[derive(Deserialize)]
struct MessageTime {
    id: MessageId,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
}

/// A message's item size, as DynamoDB bills reading it (the in-memory
/// store bills its reads the same way).
#[cfg(any(test, feature = "memory-store"))]
pub(in crate::store) fn message_item_size(org: OrgId, message: &Message) -> u64 {
    to_item(&MessageItem::new(org, message)).map_or(0, |item| item_size(&item))
}

/// The largest message item ingest can store, in bytes as DynamoDB bills
/// it: the item of a message at every limit ingest validates (content,
/// metadata, latency, token count), with the longest role and timestamp.
pub fn largest_message_item() -> u64 {
    static LARGEST: LazyLock<u64> = LazyLock::new(|| {
        let metadata_text = |len: usize| json!({ "k": "x".repeat(len) });
        // `{"k":""}` is 8 bytes of compact JSON.
        let metadata =
            Metadata::parse(metadata_text(MAX_METADATA_BYTES - 8)).expect("metadata at its limit");
        let longest_role = MessageRole::ALL
            .into_iter()
            .max_by_key(|role| role.as_str().len())
            .expect("roles");
        let message = Message {
            id: MessageId::MAX,
            chat_id: ChatId::MAX,
            role: longest_role,
            content: MessageContent::parse(&"x".repeat(MAX_CONTENT_BYTES))
                .expect("content at its limit"),
            metadata,
            latency_ms: Some(
                LatencyMs::parse(MAX_LATENCY_MS.into()).expect("latency at its limit"),
            ),
            token_count: Some(
                TokenCount::parse(MAX_TOKEN_COUNT.into()).expect("tokens at their limit"),
            ),
            key_id: Some(ApiKeyId::MAX),
            // Nanoseconds: the longest RFC 3339 form.
            created_at: time::macros::datetime!(9999-12-31 23:59:59.999_999_999 UTC),
        };
        let item = to_item(&MessageItem::new(OrgId::MAX, &message)).expect("a message item");
        item_size(&item)
    });
    *LARGEST
}
