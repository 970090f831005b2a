//! Storage ports: one small trait per use, so a handler asks only for what it
//! needs, and two adapters: [`DynamoStore`] (production and the local stack)
//! and [`MemoryStore`] (fast unit tests and benchmarks).
//!
//! Tenancy: every method that touches tenant data takes the [`OrgId`] first,
//! and the DynamoDB adapter builds every such key from it, so a call can only
//! reach that org's items. The global lookups (slug, email, key hash) return
//! pointers only.

mod dynamo;
mod memory;

use async_trait::async_trait;

pub use dynamo::{DynamoStore, keys};
pub use memory::MemoryStore;

use crate::domain::{
    ApiKey, ApiKeyGrant, ApiKeyHash, Chat, Email, Message, Org, OrgId, Slug, User,
};

/// What a store failed at. Messages are for logs, never for clients.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the slug is already taken")]
    SlugTaken,
    #[error("the email address is already registered")]
    EmailTaken,
    #[error("the chat does not exist in this org")]
    ChatNotFound,
    /// DynamoDB kept refusing the request for capacity (after the SDK's own
    /// retries), or a concurrent transaction held the item: retry later.
    #[error("the database is throttling requests")]
    Throttled,
    #[error("a stored item could not be read: {0}")]
    Corrupt(String),
    #[error("the database call failed")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl StoreError {
    pub fn unavailable(error: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::Unavailable(Box::new(error))
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// The outcome of an idempotent insert keyed by a client-chosen id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inserted<T> {
    /// Nothing had that id: the item was written.
    Created(T),
    /// An item with that id was already stored; here it is, unchanged.
    Existing(T),
}

/// Whether an insert into a chat must prove the chat exists, or the caller
/// already knows it does (it created or verified it moments ago).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChatCheck {
    Verify,
    KnownToExist,
}

#[async_trait]
pub trait OrgStore: Send + Sync {
    /// Creates the org and claims its slug, atomically.
    async fn create_org(&self, org: &Org) -> StoreResult<()>;
    async fn org_by_slug(&self, slug: &Slug) -> StoreResult<Option<Org>>;
}

#[async_trait]
pub trait UserStore: Send + Sync {
    /// Creates the user and claims the email address system-wide, atomically.
    async fn create_user(&self, org: OrgId, user: &User) -> StoreResult<()>;
    /// Resolves a (normalised) email address to its org and user.
    async fn user_by_email(&self, email: &Email) -> StoreResult<Option<(OrgId, User)>>;
}

#[async_trait]
pub trait ApiKeyStore: Send + Sync {
    /// Stores the key's metadata and its hash lookup, atomically.
    async fn create_api_key(&self, org: &Org, key: &ApiKey, hash: &ApiKeyHash) -> StoreResult<()>;
    /// The global lookup behind every ingest request: one strongly consistent read.
    async fn api_key_grant(&self, hash: &ApiKeyHash) -> StoreResult<Option<ApiKeyGrant>>;
}

#[async_trait]
pub trait ChatStore: Send + Sync {
    /// One conditional write; an existing chat with the same id is returned, not replaced.
    async fn insert_chat(&self, org: OrgId, chat: &Chat) -> StoreResult<Inserted<Chat>>;
}

#[async_trait]
pub trait MessageStore: Send + Sync {
    /// One conditional write; an existing message with the same id is
    /// returned, not replaced. Fails with [`StoreError::ChatNotFound`] when
    /// `check` is [`ChatCheck::Verify`] and the org has no such chat.
    async fn insert_message(
        &self,
        org: OrgId,
        message: &Message,
        check: ChatCheck,
    ) -> StoreResult<Inserted<Message>>;
}

#[async_trait]
pub trait HealthStore: Send + Sync {
    /// Does the table answer?
    async fn ping(&self) -> StoreResult<()>;
}

/// Every port, for the code that wires a whole function together.
pub trait Store:
    OrgStore + UserStore + ApiKeyStore + ChatStore + MessageStore + HealthStore
{
}

impl<T> Store for T where
    T: OrgStore + UserStore + ApiKeyStore + ChatStore + MessageStore + HealthStore
{
}
