//! Logging chats and messages for chat plugins: the use case behind the
//! ingest routes. Creates are idempotent on client-chosen ids (a retry with
//! the same body is replayed, a different body is a conflict), and each
//! costs one DynamoDB write. A message proves its chat exists inside that
//! one write, unless this container created or verified the chat within
//! [`KNOWN_CHAT_TTL`].

use std::{sync::Arc, time::Duration};

use crate::{
    cache::TtlCache,
    domain::{Chat, ChatId, Message, OrgId},
    store::{ChatCheck, ChatInsert, ChatStore, Inserted, MessageInsert, MessageStore, StoreError},
};

/// How long this container trusts that a chat it created or verified still
/// exists. Within it, a message costs one conditional `PutItem`; after it,
/// the next message re-checks the chat inside its (single) write. So it is
/// also the longest a deleted chat can still take messages in a warm
/// container (the aggregator deletes them when it sees them).
pub const KNOWN_CHAT_TTL: Duration = Duration::from_secs(60);
const KNOWN_CHAT_CAPACITY: usize = 16_384;

/// What logging an item did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Logged<T> {
    Created(T),
    /// A retry with the same id and body: the stored item.
    Replayed(T),
}

/// Why an item was not logged. Nothing was written.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("the org has no such chat")]
    NoSuchChat,
    /// The chat id belongs to a chat the dashboard deleted.
    #[error("a chat with this id was deleted")]
    ChatDeleted,
    /// The id is taken by an item with different content (`"chat"`, `"message"`).
    #[error("a {0} with this id already exists with different content")]
    IdTaken(&'static str),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The ingest use case, built once per container.
#[derive(Clone)]
pub struct Ingest {
    chats: Arc<dyn ChatStore>,
    messages: Arc<dyn MessageStore>,
    known_chats: Arc<TtlCache<(OrgId, ChatId), ()>>,
}

impl Ingest {
    pub fn new<S: ChatStore + MessageStore + 'static>(store: Arc<S>) -> Self {
        Self {
            chats: store.clone(),
            messages: store,
            known_chats: Arc::new(TtlCache::new(KNOWN_CHAT_TTL, KNOWN_CHAT_CAPACITY)),
        }
    }

    pub async fn log_chat(&self, org: OrgId, chat: Chat) -> Result<Logged<Chat>, IngestError> {
        let inserted = match self.chats.insert_chat(org, &chat).await? {
            ChatInsert::Inserted(inserted) => inserted,
            ChatInsert::Deleted => return Err(IngestError::ChatDeleted),
        };
        self.known_chats.insert((org, chat.id), ());
        replay(inserted, |stored| stored.same_request_as(&chat), "chat")
    }

    pub async fn log_message(
        &self,
        org: OrgId,
        message: Message,
    ) -> Result<Logged<Message>, IngestError> {
        let chat = (org, message.chat_id);
        let check = if self.known_chats.get(&chat).is_some() {
            ChatCheck::KnownToExist
        } else {
            ChatCheck::Verify
        };
        let inserted = match self.messages.insert_message(org, &message, check).await? {
            MessageInsert::Inserted(inserted) => inserted,
            MessageInsert::NoSuchChat => return Err(IngestError::NoSuchChat),
        };
        if check == ChatCheck::Verify {
            self.known_chats.insert(chat, ());
        }
        replay(
            inserted,
            |stored| stored.same_request_as(&message),
            "message",
        )
    }
}

/// A new item, a replayed retry, or a conflicting reuse of its id.
fn replay<T>(
    inserted: Inserted<T>,
    same_request: impl Fn(&T) -> bool,
    what: &'static str,
) -> Result<Logged<T>, IngestError> {
    match inserted {
        Inserted::Created(item) => Ok(Logged::Created(item)),
        Inserted::Existing(item) if same_request(&item) => Ok(Logged::Replayed(item)),
        Inserted::Existing(_) => Err(IngestError::IdTaken(what)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        domain::{MessageContent, MessageRole, Metadata, Tags},
        store::MemoryStore,
    };

    fn chat() -> Chat {
        Chat {
            id: ChatId::new(),
            title: None,
            tags: Tags::default(),
            metadata: Metadata::default(),
            user_id: None,
            created_at: time::OffsetDateTime::now_utc(),
        }
    }

    fn message(chat: ChatId, content: &str) -> Message {
        Message {
            id: crate::domain::MessageId::new(),
            chat_id: chat,
            role: MessageRole::User,
            content: MessageContent::parse(content).unwrap(),
            metadata: Metadata::default(),
            latency_ms: None,
            token_count: None,
            created_at: time::OffsetDateTime::now_utc(),
        }
    }

    #[tokio::test]
    async fn retries_replay_and_reused_ids_conflict() {
        let store = Arc::new(MemoryStore::new());
        let ingest = Ingest::new(store.clone());
        let org = OrgId::new();
        let chat = chat();
        assert!(matches!(
            ingest.log_chat(org, chat.clone()).await,
            Ok(Logged::Created(_))
        ));
        assert!(matches!(
            ingest.log_chat(org, chat.clone()).await,
            Ok(Logged::Replayed(_))
        ));
        let first = message(chat.id, "hello");
        ingest.log_message(org, first.clone()).await.unwrap();
        assert!(matches!(
            ingest.log_message(org, first.clone()).await,
            Ok(Logged::Replayed(_))
        ));
        let reused = Message {
            content: MessageContent::parse("other").unwrap(),
            ..first
        };
        assert!(matches!(
            ingest.log_message(org, reused).await,
            Err(IngestError::IdTaken("message"))
        ));
        assert_eq!(store.messages_of(org).len(), 1);
    }

    #[tokio::test]
    async fn a_message_needs_its_orgs_chat() {
        let ingest = Ingest::new(Arc::new(MemoryStore::new()));
        let (org, other_org, chat) = (OrgId::new(), OrgId::new(), chat());
        ingest.log_chat(org, chat.clone()).await.unwrap();
        assert!(matches!(
            ingest.log_message(other_org, message(chat.id, "hi")).await,
            Err(IngestError::NoSuchChat)
        ));
    }
}
