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
mod page;

use async_trait::async_trait;

pub use dynamo::{CHAT_TOMBSTONE_TTL, DynamoStore, keys, stream_change};
pub use memory::{MemoryAggregates, MemoryStore};
pub use page::{Cursor, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, Page, PageRequest};

use time::OffsetDateTime;

use crate::{
    analytics::{AggregateKey, Counters, DayRange},
    domain::{
        ApiKey, ApiKeyGrant, ApiKeyHash, ApiKeyId, Chat, ChatId, ChatTitle, DisplayName, Email,
        EndUserId, Message, Metadata, Org, OrgId, OrgName, PasswordHash, RefreshTokenHash, Session,
        SessionId, Slug, Tag, Tags, User, UserId, UserRole,
    },
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
    /// The id belongs to a chat that was deleted: it cannot be logged again.
    #[error("the chat was deleted")]
    ChatDeleted,
    /// DynamoDB kept refusing the request for capacity (after the SDK's own
    /// retries), or a concurrent transaction held the item: retry later.
    #[error("the database is throttling requests")]
    Throttled,
    /// A pagination cursor that this listing did not produce.
    #[error("the cursor does not belong to this listing")]
    InvalidCursor,
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
    /// Records that ingest accepted the key at `at` (an unconditional,
    /// throttled write; a key that no longer exists is left alone).
    async fn touch_api_key(&self, org: OrgId, key: ApiKeyId, at: OffsetDateTime)
    -> StoreResult<()>;
}

/// The dashboard's view of orgs (superadmin listing, admin settings).
#[async_trait]
pub trait OrgAdminStore: Send + Sync {
    async fn org(&self, id: OrgId) -> StoreResult<Option<Org>>;
    /// Every org, oldest first.
    async fn list_orgs(&self, page: &PageRequest) -> StoreResult<Page<Org>>;
    /// Applies `changes`; `None` when the org does not exist.
    async fn update_org(&self, id: OrgId, changes: &OrgChanges) -> StoreResult<Option<Org>>;
}

/// What `PATCH /orgs/me` may change.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrgChanges {
    pub name: Option<OrgName>,
    pub settings: Option<Metadata>,
}

/// The dashboard's view of an org's users.
#[async_trait]
pub trait UserAdminStore: Send + Sync {
    async fn user(&self, org: OrgId, id: UserId) -> StoreResult<Option<User>>;
    /// The org's users, oldest first.
    async fn list_users(&self, org: OrgId, page: &PageRequest) -> StoreResult<Page<User>>;
    /// Applies `changes`; `None` when the org has no such user.
    async fn update_user(
        &self,
        org: OrgId,
        id: UserId,
        changes: &UserChanges,
    ) -> StoreResult<Option<User>>;
    /// Deletes the user and frees their email address, atomically. False
    /// when the org has no such user.
    async fn delete_user(&self, org: OrgId, user: &User) -> StoreResult<bool>;
    /// Stores a new password hash and bumps the user's session epoch (ending
    /// every session), while `keep` moves to the new epoch with a fresh
    /// refresh token: one transaction. False if the user changed meanwhile.
    async fn change_password(
        &self,
        org: OrgId,
        user: &User,
        hash: &PasswordHash,
        keep: &Session,
    ) -> StoreResult<bool>;
}

/// What an admin (or the user, for their display name) may change.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserChanges {
    pub display_name: Option<DisplayName>,
    pub role: Option<UserRole>,
    pub disabled: Option<bool>,
}

/// The dashboard's view of an org's API keys.
#[async_trait]
pub trait ApiKeyAdminStore: Send + Sync {
    /// The org's keys, oldest first (revoked ones included).
    async fn list_api_keys(&self, org: OrgId, page: &PageRequest) -> StoreResult<Page<ApiKey>>;
    /// Marks the key revoked in its metadata and its hash lookup, atomically;
    /// revoking twice keeps the first `revoked_at`. `None` when the org has
    /// no such key.
    async fn revoke_api_key(&self, org: OrgId, key: ApiKeyId) -> StoreResult<Option<ApiKey>>;
}

/// Dashboard sessions (see [`Session`]).
#[async_trait]
pub trait SessionStore: Send + Sync {
    async fn create_session(&self, org: OrgId, session: &Session) -> StoreResult<()>;
    async fn session(&self, org: OrgId, id: SessionId) -> StoreResult<Option<Session>>;
    /// The session and its user in one strongly consistent read: what every
    /// signed-in request costs.
    async fn session_and_user(
        &self,
        org: OrgId,
        session: SessionId,
        user: UserId,
    ) -> StoreResult<(Option<Session>, Option<User>)>;
    /// Replaces `session`'s refresh hash with `next` if it is still the one
    /// `session` holds (compare-and-set); false when another refresh won.
    async fn rotate_refresh(
        &self,
        org: OrgId,
        session: &Session,
        next: &RefreshTokenHash,
    ) -> StoreResult<bool>;
    async fn revoke_session(&self, org: OrgId, session: SessionId) -> StoreResult<()>;
}

/// Counters of failed sign-ins, per key (an email or a source address) per
/// fixed time window.
#[async_trait]
pub trait LoginThrottleStore: Send + Sync {
    /// The failure count of each key in `window`, in order.
    async fn login_failures(&self, keys: &[String], window: u64) -> StoreResult<Vec<u32>>;
    /// Adds one failure to each key in `window`; the counters expire at `expires_at`.
    async fn record_login_failure(
        &self,
        keys: &[String],
        window: u64,
        expires_at: OffsetDateTime,
    ) -> StoreResult<()>;
}

/// Every port the dashboard functions use.
pub trait DashboardStore:
    OrgStore
    + UserStore
    + ApiKeyStore
    + OrgAdminStore
    + UserAdminStore
    + ApiKeyAdminStore
    + SessionStore
    + LoginThrottleStore
    + ChatAdminStore
    + AnalyticsStore
{
}

impl<T> DashboardStore for T where
    T: OrgStore
        + UserStore
        + ApiKeyStore
        + OrgAdminStore
        + UserAdminStore
        + ApiKeyAdminStore
        + SessionStore
        + LoginThrottleStore
        + ChatAdminStore
        + AnalyticsStore
{
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

/// The dashboard's view of chats and their messages. Deleted chats are
/// invisible here: `chat`, `list_chats` and `update_chat` skip them.
#[async_trait]
pub trait ChatAdminStore: Send + Sync {
    async fn chat(&self, org: OrgId, id: ChatId) -> StoreResult<Option<Chat>>;
    /// The org's chats matching `filter`, newest first (by id). A page may
    /// hold fewer than `limit` chats when the filter skips many; the
    /// listing goes on while there is a cursor.
    async fn list_chats(
        &self,
        org: OrgId,
        filter: &ChatFilter,
        page: &PageRequest,
    ) -> StoreResult<Page<Chat>>;
    /// Applies `changes`; `None` when the org has no such live chat.
    async fn update_chat(
        &self,
        org: OrgId,
        id: ChatId,
        changes: &ChatChanges,
    ) -> StoreResult<Option<Chat>>;
    /// Marks the chat deleted (hidden at once, kept as a tombstone for two
    /// days so the aggregator can still attribute its messages), then
    /// deletes every message of it. Deleting again finishes an interrupted
    /// delete. False when the org never had the chat.
    async fn delete_chat(&self, org: OrgId, id: ChatId, at: OffsetDateTime) -> StoreResult<bool>;
    /// A chat's messages, oldest first.
    async fn list_messages(
        &self,
        org: OrgId,
        chat: ChatId,
        page: &PageRequest,
    ) -> StoreResult<Page<Message>>;
}

/// Which chats `GET /chats` returns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChatFilter {
    /// Created at or after (whole seconds).
    pub from: Option<OffsetDateTime>,
    /// Created before (whole seconds).
    pub to: Option<OffsetDateTime>,
    pub tag: Option<Tag>,
    /// Only chats of this end user (served from the `gsi1` index).
    pub user_id: Option<EndUserId>,
}

/// What `PATCH /chats/{id}` may change. `title: Some(None)` clears it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChatChanges {
    pub title: Option<Option<ChatTitle>>,
    pub tags: Option<Tags>,
    pub metadata: Option<Metadata>,
}

impl ChatChanges {
    pub fn is_empty(&self) -> bool {
        self.title.is_none() && self.tags.is_none() && self.metadata.is_none()
    }
}

/// The analytics summary's one read: the org's aggregate items for a range.
#[async_trait]
pub trait AnalyticsStore: Send + Sync {
    async fn aggregates(
        &self,
        org: OrgId,
        range: DayRange,
    ) -> StoreResult<Vec<(AggregateKey, Counters)>>;
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

// ---------------------------------------------------------------- exports

/// What an export reads: an org's live chats and their messages, a page at
/// a time, oldest first. Deleted chats are left out.
#[async_trait]
pub trait ExportReadStore: Send + Sync {
    async fn export_chats(&self, org: OrgId, page: &PageRequest) -> StoreResult<Page<Chat>>;
    /// The named chats of the org that exist and are live, in id order.
    async fn export_chats_by_id(
        &self,
        org: OrgId,
        ids: &[crate::domain::ChatId],
    ) -> StoreResult<Vec<Chat>>;
    async fn export_messages(
        &self,
        org: OrgId,
        chat: crate::domain::ChatId,
        page: &PageRequest,
    ) -> StoreResult<Page<Message>>;
}

/// What claiming a job for a worker attempt found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExportClaim {
    /// The job is this attempt's to run (its `attempts` is the attempt number).
    Claimed(Box<crate::export::ExportJob>),
    /// Already `completed` or `failed`: a duplicate delivery, nothing to do.
    Finished(crate::export::ExportStatus),
    /// Another attempt is running it and its lease has not expired.
    Busy,
    /// The org has no such job.
    Missing,
}

/// Export jobs. Every change after creation is a conditional update on the
/// job's status (and attempt number), so duplicate deliveries and retries
/// cannot complete a job twice or resurrect a finished one.
#[async_trait]
pub trait ExportJobStore: Send + Sync {
    async fn create_export_job(
        &self,
        org: OrgId,
        job: &crate::export::ExportJob,
    ) -> StoreResult<()>;
    /// Removes a job that never reached the queue (nothing else may delete jobs).
    async fn delete_queued_export_job(
        &self,
        org: OrgId,
        id: crate::domain::ExportId,
    ) -> StoreResult<()>;
    async fn export_job(
        &self,
        org: OrgId,
        id: crate::domain::ExportId,
    ) -> StoreResult<Option<crate::export::ExportJob>>;
    /// The org's jobs, newest first.
    async fn list_export_jobs(
        &self,
        org: OrgId,
        page: &PageRequest,
    ) -> StoreResult<Page<crate::export::ExportJob>>;
    /// `queued` (or `running` with an expired lease) → `running` for a new
    /// attempt, leased until `lease_until`, with progress reset.
    async fn claim_export_job(
        &self,
        org: OrgId,
        id: crate::domain::ExportId,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
    ) -> StoreResult<ExportClaim>;
    /// Progress of attempt `attempt`; false when the attempt lost the job.
    async fn record_export_progress(
        &self,
        org: OrgId,
        id: crate::domain::ExportId,
        attempt: u32,
        totals: crate::export::Totals,
    ) -> StoreResult<bool>;
    /// `running` (this attempt) → `completed`; false when the attempt lost the job.
    async fn complete_export_job(
        &self,
        org: OrgId,
        id: crate::domain::ExportId,
        attempt: u32,
        totals: crate::export::Totals,
        at: OffsetDateTime,
    ) -> StoreResult<bool>;
    /// `running` (this attempt) → `queued` for the next delivery, noting why.
    async fn release_export_job(
        &self,
        org: OrgId,
        id: crate::domain::ExportId,
        attempt: u32,
        error: &str,
    ) -> StoreResult<bool>;
    /// `queued` or `running` → `failed` with `reason`; false when it had
    /// already finished (or does not exist).
    async fn fail_export_job(
        &self,
        org: OrgId,
        id: crate::domain::ExportId,
        reason: &str,
        at: OffsetDateTime,
    ) -> StoreResult<bool>;
}
