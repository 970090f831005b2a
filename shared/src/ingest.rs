//! Logging chats and messages for chat plugins: the use case behind the
//! ingest routes. Creates are idempotent on client-chosen ids (a retry with
//! the same body is replayed, a different body is a conflict), and each
//! costs one DynamoDB write. A message's chat is read first (half a read
//! unit) unless this container created or verified the chat within
//! [`KNOWN_CHAT_TTL`]; a batch reads each such chat once.

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::Arc,
    time::Duration,
};

use futures_util::{StreamExt, stream};

use crate::{
    cache::TtlCache,
    clock::{self, SharedClock},
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
/// Conditional writes (or chat reads) one batch keeps in flight at once.
pub const BATCH_PARALLELISM: usize = 25;

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
    /// On the system clock.
    pub fn new<S: ChatStore + MessageStore + 'static>(store: Arc<S>) -> Self {
        Self::with_clock(store, clock::system())
    }

    /// With `clock` timing the chat cache.
    pub fn with_clock<S: ChatStore + MessageStore + 'static>(
        store: Arc<S>,
        clock: SharedClock,
    ) -> Self {
        Self {
            chats: store.clone(),
            messages: store,
            known_chats: Arc::new(TtlCache::new(KNOWN_CHAT_TTL, KNOWN_CHAT_CAPACITY, clock)),
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

/// What one item of a batch came to.
pub type ItemResult<T> = Result<Logged<T>, IngestError>;

impl Ingest {
    /// Logs a batch: every chat first, then every message (so a batch can
    /// create a chat and its first messages), each item as
    /// [`Ingest::log_chat`] and [`Ingest::log_message`] would, with up to
    /// [`BATCH_PARALLELISM`] conditional writes in flight. One item's
    /// failure never stops another; the results are in the items' order.
    pub async fn log_batch(
        &self,
        org: OrgId,
        chats: Vec<Chat>,
        messages: Vec<Message>,
    ) -> (Vec<ItemResult<Chat>>, Vec<ItemResult<Message>>) {
        let logged_chats = stream::iter(chats)
            .map(|chat| self.log_chat(org, chat))
            .buffered(BATCH_PARALLELISM)
            .collect::<Vec<_>>()
            .await;
        // Each chat this container does not know is read once for the batch.
        let unknown: BTreeSet<ChatId> = messages
            .iter()
            .map(|message| message.chat_id)
            .filter(|chat| self.known_chats.get(&(org, *chat)).is_none())
            .collect();
        let verified: BTreeMap<ChatId, Result<bool, StoreError>> = stream::iter(unknown)
            .map(|chat| async move { (chat, self.chats.chat_is_live(org, chat).await) })
            .buffer_unordered(BATCH_PARALLELISM)
            .collect()
            .await;
        for (chat, live) in &verified {
            if matches!(live, Ok(true)) {
                self.known_chats.insert((org, *chat), ());
            }
        }
        let logged_messages = stream::iter(messages)
            .map(|message| {
                let verdict = verified.get(&message.chat_id).map(|live| match live {
                    Ok(live) => Ok(*live),
                    Err(error) => Err(error.again()),
                });
                self.log_verified(org, message, verdict)
            })
            .buffered(BATCH_PARALLELISM)
            .collect::<Vec<_>>()
            .await;
        (logged_chats, logged_messages)
    }

    /// A message of a batch whose chat was checked for the whole batch
    /// (`None`: the chat was known already).
    async fn log_verified(
        &self,
        org: OrgId,
        message: Message,
        chat_live: Option<Result<bool, StoreError>>,
    ) -> ItemResult<Message> {
        match chat_live {
            Some(Err(error)) => return Err(error.into()),
            Some(Ok(false)) => return Err(IngestError::NoSuchChat),
            Some(Ok(true)) | None => {}
        }
        let inserted = match self
            .messages
            .insert_message(org, &message, ChatCheck::KnownToExist)
            .await?
        {
            MessageInsert::Inserted(inserted) => inserted,
            MessageInsert::NoSuchChat => return Err(IngestError::NoSuchChat),
        };
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
            key_id: None,
            created_at: time::OffsetDateTime::now_utc(),
        }
    }

    /// The same request, sent again: ingest stamps it anew. (An item equal
    /// to the stored one is the store's own retry of one write, which
    /// DynamoDB answers as created.)
    fn retried<T: Clone>(item: &T, stamp: impl Fn(&mut T) -> &mut time::OffsetDateTime) -> T {
        let mut again = item.clone();
        *stamp(&mut again) += time::Duration::seconds(1);
        again
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
            key_id: None,
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
            ingest
                .log_chat(org, retried(&chat, |c| &mut c.created_at))
                .await,
            Ok(Logged::Replayed(_))
        ));
        let first = message(chat.id, "hello");
        ingest.log_message(org, first.clone()).await.unwrap();
        assert!(matches!(
            ingest
                .log_message(org, retried(&first, |m| &mut m.created_at))
                .await,
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
    async fn a_batch_creates_chats_before_their_messages_and_reports_each_item() {
        let store = Arc::new(MemoryStore::new());
        let ingest = Ingest::new(store.clone());
        let org = OrgId::new();
        let (new_chat, missing) = (chat(), ChatId::new());
        let replayed = message(new_chat.id, "again");
        ingest.log_chat(org, new_chat.clone()).await.unwrap();
        // A cold container: nothing known about the chat.
        let ingest = Ingest::new(store.clone());
        ingest.log_message(org, replayed.clone()).await.unwrap();
        let ingest = Ingest::new(store.clone());
        let second = chat();
        let (chats, messages) = ingest
            .log_batch(
                org,
                vec![second.clone()],
                vec![
                    message(second.id, "first of a new chat"),
                    message(new_chat.id, "into an existing chat"),
                    retried(&replayed, |m| &mut m.created_at),
                    message(missing, "nowhere"),
                    Message {
                        content: MessageContent::parse("changed").unwrap(),
                        ..replayed
                    },
                ],
            )
            .await;
        assert!(matches!(chats[..], [Ok(Logged::Created(_))]));
        assert!(matches!(messages[0], Ok(Logged::Created(_))));
        assert!(matches!(messages[1], Ok(Logged::Created(_))));
        assert!(matches!(messages[2], Ok(Logged::Replayed(_))));
        assert!(matches!(messages[3], Err(IngestError::NoSuchChat)));
        assert!(matches!(messages[4], Err(IngestError::IdTaken("message"))));
        assert_eq!(store.messages_of(org).len(), 3);
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
