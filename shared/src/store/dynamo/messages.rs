//! Messages: one partition per chat, `ORG#<org>#CHAT#<chat>` / `MSG#<ulid>`,
//! sorted by (time-ordered) id. Logging one is one conditional write (after
//! a read of its chat, when the caller does not know the chat exists).

use std::ops::RangeInclusive;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::{
    DynamoStore, Item, from_item, keys,
    query::{Listing, SortKey, page_of},
    to_item,
};
use crate::{
    domain::{
        ChatId, LatencyMs, Message, MessageContent, MessageId, MessageRole, Metadata, OrgId,
        TokenCount,
    },
    store::{
        ChatActivity, ChatCheck, ChatStore, Inserted, MessageInsert, MessageStore, Page,
        PageRequest, Read, StoreError, StoreResult,
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

    async fn chat_activity(&self, org: OrgId, chat: ChatId) -> StoreResult<ChatActivity> {
        let messages = || Listing {
            read: Read::Eventual,
            ..Listing::partition(keys::messages_pk(org, chat), keys::MESSAGE_SK_PREFIX)
        };
        let all = messages();
        let newest = Listing {
            newest_first: true,
            ..messages()
        };
        let ((message_count, message_count_exact), last) = tokio::try_join!(
            self.count(&all, ChatActivity::COUNT_LIMIT_BYTES),
            self.first(&newest),
        )?;
        Ok(ChatActivity {
            message_count,
            message_count_exact,
            last_message_at: last.map(message_from).transpose()?.map(|m| m.created_at),
        })
    }
}
