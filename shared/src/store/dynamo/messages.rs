//! Messages: one partition per chat, `ORG#<org>#CHAT#<chat>` / `MSG#<ulid>`,
//! sorted by (time-ordered) id. Logging one is one conditional write.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::{
    DynamoStore, Item,
    chats::{chat_key, live},
    expr::Cond,
    from_item, keys,
    query::{Listing, page_of},
    to_item,
    transaction::Step,
};
use crate::{
    domain::{
        ChatId, LatencyMs, Message, MessageContent, MessageId, MessageRole, Metadata, OrgId,
        TokenCount,
    },
    store::{
        ChatCheck, Inserted, MessageInsert, MessageStore, Page, PageRequest, Read, StoreError,
        StoreResult,
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
        let stored = match check {
            // The common case: one conditional PutItem.
            ChatCheck::KnownToExist => self.put_if_new(item).await?,
            // The first message this container sees for the chat: still one
            // request, a transaction of a check that the org's chat is live
            // (a tombstone takes no more messages) and the conditional put.
            ChatCheck::Verify => {
                let outcome = self
                    .transact(vec![
                        Step::Check {
                            key: chat_key(org, message.chat_id),
                            condition: live(),
                        },
                        Step::Put {
                            item,
                            condition: Some(Cond::IsNew),
                        },
                    ])
                    .await?;
                if outcome.refused_at(0).is_some() {
                    return Ok(MessageInsert::NoSuchChat);
                }
                match outcome.refused_at(1) {
                    None => None,
                    Some(Some(stored)) => Some(stored.clone()),
                    Some(None) => {
                        return Err(StoreError::failed(
                            "the message's put was refused without returning the stored item",
                        ));
                    }
                }
            }
        };
        Ok(MessageInsert::Inserted(match stored {
            None => Inserted::Created(message.clone()),
            Some(item) => Inserted::Existing(message_from(item)?),
        }))
    }

    async fn list_messages(
        &self,
        org: OrgId,
        chat: ChatId,
        page: &PageRequest,
        read: Read,
    ) -> StoreResult<Page<Message>> {
        let listing = Listing {
            read,
            ..Listing::partition(keys::messages_pk(org, chat), keys::MESSAGE_SK_PREFIX)
        };
        page_of(self.query_page(&listing, page).await?, message_from)
    }
}
