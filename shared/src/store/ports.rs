//! The storage ports, one per entity. A function's state holds only the
//! ports it uses (`Arc<dyn ChatStore>`, ...), so what a handler can touch is
//! visible in its state's type.

use std::{
    collections::{BTreeMap, BTreeSet},
    ops::{Range, RangeInclusive},
};

use async_trait::async_trait;
use time::{Date, OffsetDateTime};

use super::{
    ChatCheck, ChatInsert, Claim, MessageInsert, Page, PageRequest, Read, StoreResult,
    billing::ReadUnits,
};
use crate::domain::{
    ApiKey, ApiKeyGrant, ApiKeyHash, ApiKeyId, ApiKeyLabel, ApiKeySettings, Chat, ChatId,
    ChatTitle, DisplayName, Email, EndUserId, ExportId, Message, MessageId, Metadata, Org, OrgId,
    OrgName, PasswordHash, RefreshTokenHash, Session, SessionId, Slug, Tag, Tags, User, UserId,
    UserRole,
    analytics::{
        ChatState, Counters, DayAggregate, DayCounters, DayRange, DayState, DayTops, Journal,
        Orphan, Round, Sequence, ShardInfo, StreamChange, TopChanges,
    },
    export::{ExportJob, ExportStatus, Totals},
    ingest_changes::ChangeFeed,
    limits::OrgLimits,
};

#[async_trait]
pub trait OrgStore: Send + Sync {
    /// Creates the org and claims its slug, atomically.
    async fn create_org(&self, org: &Org) -> StoreResult<Claim>;
    async fn org(&self, id: OrgId) -> StoreResult<Option<Org>>;
    async fn org_by_slug(&self, slug: &Slug) -> StoreResult<Option<Org>>;
    /// Every org, oldest first (the superadmin's directory).
    async fn list_orgs(&self, page: &PageRequest) -> StoreResult<Page<Org>>;
    /// Applies `changes`; `None` when the org does not exist. A change of
    /// limits is noted in the ingest change feed in the same write
    /// ([`ChangeFeedStore`]).
    async fn update_org(&self, id: OrgId, changes: &OrgChanges) -> StoreResult<Option<Org>>;
}

/// What `PATCH /orgs/me` may change.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrgChanges {
    pub name: Option<OrgName>,
    pub settings: Option<Metadata>,
    /// Replaces the org's limits as a whole.
    pub limits: Option<OrgLimits>,
}

#[async_trait]
pub trait UserStore: Send + Sync {
    /// Creates the user and claims the email address in `org`, atomically.
    /// Other orgs may have users with the same address: they are other
    /// accounts, with their own passwords.
    async fn create_user(&self, org: OrgId, user: &User) -> StoreResult<Claim>;
    async fn user(&self, org: OrgId, id: UserId) -> StoreResult<Option<User>>;
    /// The org's user with this (normalised) email address.
    async fn user_by_email(&self, org: OrgId, email: &Email) -> StoreResult<Option<User>>;
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
    /// Ends every session of the user for good, in the same write, by
    /// bumping their session epoch (see `auth::sessions::change_user` for when).
    pub end_sessions: bool,
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
    /// The org's keys, oldest first (revoked ones included).
    async fn list_api_keys(&self, org: OrgId, page: &PageRequest) -> StoreResult<Page<ApiKey>>;
    async fn api_key(&self, org: OrgId, key: ApiKeyId) -> StoreResult<Option<ApiKey>>;
    /// Applies `changes` to the key's metadata and its hash lookup,
    /// atomically, with (when the settings change) an entry in the ingest
    /// change feed ([`ChangeFeedStore`]); `None` when the org has no such key.
    async fn update_api_key(
        &self,
        org: OrgId,
        key: ApiKeyId,
        changes: &ApiKeyChanges,
    ) -> StoreResult<Option<ApiKey>>;
    /// Marks the key revoked in its metadata and its hash lookup, with an
    /// entry in the ingest change feed ([`ChangeFeedStore`]), atomically;
    /// revoking twice keeps the first `revoked_at`. `None` when the org has
    /// no such key.
    async fn revoke_api_key(&self, org: OrgId, key: ApiKeyId) -> StoreResult<Option<ApiKey>>;
}

/// What `PATCH /orgs/me/apikeys/{key_id}` may change (not the kind: a
/// key's prefix says it).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApiKeyChanges {
    pub label: Option<ApiKeyLabel>,
    /// Replaces the settings as a whole (already checked for the key's kind).
    pub settings: Option<ApiKeySettings>,
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

/// Counters of sign-in attempts, per key (an email, a source address, or
/// both) per fixed time window.
#[async_trait]
pub trait LoginThrottleStore: Send + Sync {
    /// Adds one attempt to `key`'s counter in `window` if it is below
    /// `limit` (one atomic conditional write, so concurrent attempts cannot
    /// overshoot): the count now, or `None` when it was at the limit. The
    /// counter expires at `expires_at`.
    async fn reserve_login_attempt(
        &self,
        key: &str,
        window: u64,
        limit: u32,
        expires_at: OffsetDateTime,
    ) -> StoreResult<Option<u32>>;
    /// Takes one attempt back (a password that was right).
    async fn release_login_attempt(&self, key: &str, window: u64) -> StoreResult<()>;
}

/// An org's chats. Deleted chats are tombstones that every read skips.
#[async_trait]
pub trait ChatStore: Send + Sync {
    /// One conditional write; an existing chat with the same id is returned,
    /// not replaced.
    async fn insert_chat(&self, org: OrgId, chat: &Chat) -> StoreResult<ChatInsert>;
    async fn chat(&self, org: OrgId, id: ChatId) -> StoreResult<Option<Chat>>;
    /// Whether the org has the chat, live: an eventually consistent read
    /// (half the cost), then, only if that found nothing, a consistent one
    /// (the chat may have been created a moment ago). A chat deleted within
    /// the last second may still read as live; the aggregator removes
    /// messages logged into it.
    async fn chat_is_live(&self, org: OrgId, id: ChatId) -> StoreResult<bool>;
    /// The named chats of the org that exist and are live, in id order.
    /// The ids must be distinct (DynamoDB's batch read refuses a key
    /// named twice: an error).
    async fn chats_by_id(&self, org: OrgId, ids: &[ChatId]) -> StoreResult<Vec<Chat>>;
    /// The org's chats matching `query`, reading at most `max_read` chat
    /// items (at least one). DynamoDB reads, and bills, the tombstones and
    /// the chats the filter skips as it reads those it returns, so they
    /// count (its `ScannedCount`). A page stops at `limit` chats or once
    /// it has read `max_read`, with a cursor while the listing may go on:
    /// a filtered page may hold fewer than `limit` chats, or none. Answers
    /// the page and the chat items it read.
    async fn list_chats(
        &self,
        org: OrgId,
        query: &ChatQuery,
        page: &PageRequest,
        max_read: u32,
    ) -> StoreResult<(Page<Chat>, u32)>;
    /// The same listing, reading at most `max_read` (chat items counted at
    /// their largest, [`largest_chat_item`](super::largest_chat_item)
    /// bytes, until read): it stops early, with a cursor, rather than send
    /// a query that could bill more. Its first query reads at least one
    /// chat, so a listing always moves on. Answers what it billed.
    async fn list_chats_within(
        &self,
        org: OrgId,
        query: &ChatQuery,
        page: &PageRequest,
        max_read: ReadUnits,
    ) -> StoreResult<(Page<Chat>, ReadUnits)>;
    /// Applies `changes`; `None` when the org has no such live chat.
    async fn update_chat(
        &self,
        org: OrgId,
        id: ChatId,
        changes: &ChatChanges,
    ) -> StoreResult<Option<Chat>>;
    /// Marks the chat deleted (hidden at once, kept as a tombstone for two
    /// days so the aggregator can still attribute its messages), leaves a
    /// sweep ticket due [`CHAT_SWEEP_DELAY`] later (see
    /// [`DeletedChatStore`]), then
    /// deletes every message of it (a strongly consistent read). Deleting
    /// again finishes an interrupted delete. False when the org never had
    /// the chat.
    async fn delete_chat(&self, org: OrgId, id: ChatId, at: OffsetDateTime) -> StoreResult<bool>;
}

/// A deleted chat whose messages are due to be swept once more.
///
/// [`CHAT_SWEEP_DELAY`]: crate::domain::CHAT_SWEEP_DELAY
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChatSweep {
    pub org: OrgId,
    pub chat: ChatId,
}

/// The second pass over deleted chats. A plugin container that verified a
/// chat shortly before its delete may still write a message into it for
/// the length of its chat cache, after the delete's own purge ran. So a
/// delete also leaves a sweep ticket, due once that bound has passed, and
/// the sweeper deletes whatever it finds under the chat then.
#[async_trait]
pub trait DeletedChatStore: Send + Sync {
    /// Up to `limit` tickets due at `now`, oldest first.
    async fn due_chat_sweeps(&self, now: OffsetDateTime, limit: u16)
    -> StoreResult<Vec<ChatSweep>>;
    /// If the chat is a tombstone, deletes every message still under it (a
    /// strongly consistent read); then drops the ticket. The number of
    /// messages deleted.
    async fn sweep_deleted_chat(&self, sweep: ChatSweep) -> StoreResult<usize>;
}

/// Which chats a listing returns, in which order, how fresh.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChatQuery {
    pub filter: ChatFilter,
    /// Only chats with ids up to this one (a sort-key bound: later chats
    /// are not read at all). Not with `filter.user_id`.
    pub last_id: Option<ChatId>,
    /// Newest first (the dashboard) or oldest first (exports).
    pub newest_first: bool,
    pub read: Read,
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

/// The messages of an org's chats.
#[async_trait]
pub trait MessageStore: Send + Sync {
    /// One conditional write; an existing message with the same id is
    /// returned, not replaced. With [`ChatCheck::Verify`] the chat is read
    /// first ([`ChatStore::chat_is_live`]) and nothing is written unless the
    /// org has it, live.
    async fn insert_message(
        &self,
        org: OrgId,
        message: &Message,
        check: ChatCheck,
    ) -> StoreResult<MessageInsert>;
    /// A chat's messages with ids in `ids` (both ends included), oldest
    /// first. Ids are time-ordered, so a time range reads only its messages.
    async fn list_messages(
        &self,
        org: OrgId,
        chat: ChatId,
        ids: RangeInclusive<MessageId>,
        page: &PageRequest,
        read: Read,
    ) -> StoreResult<Page<Message>>;
    /// Deletes the messages of `chat` that `key` logged at a time in
    /// `logged` (from included, to excluded): one strongly consistent query
    /// of the ids such messages can have
    /// ([`message_ids_logged_within`](crate::domain::message_ids_logged_within):
    /// billed for every message in that range), filtered on the key, and
    /// batched deletes. Answers how many it deleted.
    async fn delete_key_messages(
        &self,
        org: OrgId,
        chat: ChatId,
        key: ApiKeyId,
        logged: Range<OffsetDateTime>,
    ) -> StoreResult<usize>;
    /// One page of a chat's message ids, newest first, for counting them
    /// (`crate::chats::chat_activity`): at most `limit` messages older than
    /// `after` (the previous page's last id; `None` starts at the newest),
    /// read eventually consistent, without their content. The read is
    /// billed as DynamoDB bills it: every message read counts at its full
    /// size (at most [`largest_message_item`](super::largest_message_item)
    /// bytes), and a page stops after 1 MB, so it never bills more than
    /// [`message_page_cost`](super::message_page_cost)`.at_most(limit)`.
    async fn activity_page(
        &self,
        org: OrgId,
        chat: ChatId,
        after: Option<MessageId>,
        limit: u32,
    ) -> StoreResult<ActivityPage>;
}

/// One read of a chat's messages toward its activity (see
/// [`MessageStore::activity_page`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ActivityPage {
    /// When the page's first (newest) message was logged.
    pub newest_at: Option<OffsetDateTime>,
    /// Messages on the page.
    pub count: u64,
    /// The page's last (oldest) id, when the chat may hold older messages
    /// (the page stopped at its limit or at 1 MB); `None` when the page
    /// reached the chat's first message.
    pub more_after: Option<MessageId>,
    /// What the read billed, when the store says (DynamoDB's
    /// `ConsumedCapacity`); without it, a caller counts the most it could
    /// have billed.
    pub read: Option<ReadUnits>,
}

/// What claiming a job for a worker attempt found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExportClaim {
    /// The job is this attempt's to run (its `attempts` is the attempt number).
    Claimed(Box<ExportJob>),
    /// Already `completed` or `failed`: a duplicate delivery, nothing to do.
    Finished(ExportStatus),
    /// Another attempt is running it and its lease has not expired.
    Busy,
    /// The org has no such job.
    Missing,
}

/// An org's export jobs, as its quotas count them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExportUsage {
    pub active: u64,
    pub today: u64,
}

/// Export jobs. Every change after creation is a conditional update on the
/// job's status (and attempt number), so duplicate deliveries and retries
/// cannot complete a job twice or resurrect a finished one.
#[async_trait]
pub trait ExportJobStore: Send + Sync {
    /// Counts an inline export of `user` in `minute` (Unix minutes) unless
    /// they already made `limit` in it: the count now, or `None` at the
    /// limit. One conditional write; the counter expires minutes later.
    async fn count_inline_export(
        &self,
        org: OrgId,
        user: UserId,
        minute: u64,
        limit: u32,
    ) -> StoreResult<Option<u32>>;
    async fn create_export_job(&self, org: OrgId, job: &ExportJob) -> StoreResult<()>;
    /// Takes one of the org's `slots` export-worker slots for `job` until
    /// `until`. A slot is free when nobody holds it, when its holder's
    /// lease ended before `now` (a worker that died), or when `job` holds
    /// it already (a redelivery). One conditional write per slot tried, so
    /// racing workers never share one. The slot taken, or `None` when the
    /// org's jobs hold every slot.
    async fn take_export_slot(
        &self,
        org: OrgId,
        job: ExportId,
        slots: u8,
        now: OffsetDateTime,
        until: OffsetDateTime,
    ) -> StoreResult<Option<u8>>;
    /// Frees `slot` if `job` holds it.
    async fn release_export_slot(&self, org: OrgId, slot: u8, job: ExportId) -> StoreResult<()>;
    /// What counts against the org's export quotas at `now`: jobs queued or
    /// running (with a live lease), and jobs created since the start of
    /// `now`'s UTC day. Reads the org's jobs of the last 7 days (one `Query`).
    async fn export_usage(&self, org: OrgId, now: OffsetDateTime) -> StoreResult<ExportUsage>;
    /// Removes a job that never reached the queue (nothing else may delete jobs).
    async fn delete_queued_export_job(&self, org: OrgId, id: ExportId) -> StoreResult<()>;
    async fn export_job(&self, org: OrgId, id: ExportId) -> StoreResult<Option<ExportJob>>;
    /// The org's jobs, newest first.
    async fn list_export_jobs(
        &self,
        org: OrgId,
        page: &PageRequest,
    ) -> StoreResult<Page<ExportJob>>;
    /// `queued` (or `running` with an expired lease) → `running` for a new
    /// attempt, leased until `lease_until`, with progress reset. `now`
    /// identifies the claim: a call retried after its answer was lost finds
    /// its own claim and gets it, not [`ExportClaim::Busy`].
    async fn claim_export_job(
        &self,
        org: OrgId,
        id: ExportId,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
    ) -> StoreResult<ExportClaim>;
    /// Progress of attempt `attempt`; false when the attempt lost the job.
    async fn record_export_progress(
        &self,
        org: OrgId,
        id: ExportId,
        attempt: u32,
        totals: Totals,
    ) -> StoreResult<bool>;
    /// `running` (this attempt) → `completed`; false when the attempt lost the job.
    async fn complete_export_job(
        &self,
        org: OrgId,
        id: ExportId,
        attempt: u32,
        totals: Totals,
        at: OffsetDateTime,
    ) -> StoreResult<bool>;
    /// `running` (this attempt) → `queued` for the next delivery, noting why.
    async fn release_export_job(
        &self,
        org: OrgId,
        id: ExportId,
        attempt: u32,
        error: &str,
    ) -> StoreResult<bool>;
    /// `queued` or `running` → `failed` with `reason`; false when it had
    /// already finished (or does not exist).
    async fn fail_export_job(
        &self,
        org: OrgId,
        id: ExportId,
        reason: &str,
        at: OffsetDateTime,
    ) -> StoreResult<bool>;
}

/// The analytics summary's one read: the org's aggregate items for a range.
#[async_trait]
pub trait AnalyticsStore: Send + Sync {
    async fn aggregates(
        &self,
        org: OrgId,
        range: DayRange,
    ) -> StoreResult<Vec<(Date, DayAggregate)>>;
}

/// The table's change stream, read shard by shard: DynamoDB Streams on AWS
/// and locally; a synthetic stream in tests and the benchmark.
#[async_trait]
pub trait StreamSource: Send + Sync {
    /// The stream's shards, closed parents included while the stream keeps
    /// them.
    async fn shards(&self) -> StoreResult<Vec<ShardInfo>>;
    /// One page of `shard`'s records, from `from`.
    async fn read(&self, shard: &str, from: &ReadFrom) -> StoreResult<StreamPage>;
}

/// Where a read of a shard starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadFrom {
    /// The oldest record the stream still has.
    Start,
    /// This record and those after it.
    At(Sequence),
    /// The records after this one.
    After(Sequence),
}

/// One page of a shard's records, in order.
#[derive(Debug, Clone, Default)]
pub struct StreamPage {
    pub records: Vec<StreamRecord>,
    /// The shard is closed and this page holds its last records.
    pub end_of_shard: bool,
    /// The page was full: more records may be there already.
    pub more: bool,
}

/// A record of the stream: where it is, when it was written, and what it
/// changed (`Ok(None)` for items analytics do not follow; `Err` with why,
/// for a chat or message image that cannot be read).
#[derive(Debug, Clone)]
pub struct StreamRecord {
    pub sequence: Sequence,
    pub at: OffsetDateTime,
    pub change: Result<Option<StreamChange>, String>,
}

/// The aggregator's lease: one reader at a time commits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// Who holds it (a fresh id per run).
    pub owner: String,
    /// Runs so far, this one included: it numbers the run's rounds.
    pub run: u64,
    /// When it lapses unless renewed.
    pub expires_at: OffsetDateTime,
    /// When its holder means to hand over (a successor waits for it).
    pub ends_at: OffsetDateTime,
}

/// A day's commit that kept failing, kept to be replayed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParkedDay {
    pub org: OrgId,
    pub day: Date,
    /// The round that tried it.
    pub round: Round,
    pub counters: Counters,
    /// Top changes not in the day's tops yet (empty when the failing write
    /// came after the tops took them).
    pub changes: TopChanges,
    pub reason: String,
    pub parked_at: OffsetDateTime,
}

/// What a conditional write of a day's counters found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DayWrite {
    /// Written; the counters item as it is now.
    Done(DayCounters),
    /// Its condition did not hold; the counters item as stored (none: no item).
    Refused(Option<DayCounters>),
}

/// How the second write of a fold finds the counters item, and what it makes of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndFold {
    /// The counters' generation and pending entries when the tops were folded.
    pub generation: u64,
    pub pending_len: usize,
    /// The entries the tops hold, dropped from the front of the list.
    pub folded: usize,
    /// Counters of the same commit, added in the same write.
    pub add: Counters,
    /// The round this write commits (none: it only completes an earlier fold).
    pub round: Option<Round>,
}

/// What the stream aggregator reads and writes.
#[async_trait]
pub trait AggregatorStore: Send + Sync {
    /// The lease as stored.
    async fn lease(&self) -> StoreResult<Option<Lease>>;
    /// Takes the lease if it is still as `previous` was read: false when
    /// another reader changed it meanwhile.
    async fn take_lease(&self, previous: Option<&Lease>, lease: &Lease) -> StoreResult<bool>;
    /// Moves the lease's expiry on, if `lease.owner` still holds it.
    async fn renew_lease(&self, lease: &Lease) -> StoreResult<bool>;
    /// Lets the lease lapse now, if `lease.owner` still holds it.
    async fn release_lease(&self, lease: &Lease) -> StoreResult<()>;
    async fn save_journal(&self, journal: &Journal) -> StoreResult<()>;
    /// Journals, newest first, at most `limit`, older than `before` if given.
    async fn journals(&self, limit: usize, before: Option<Round>) -> StoreResult<Vec<Journal>>;
    /// The owner and deletion state of each chat; chats that do not exist
    /// are left out. Eventually consistent, then strongly for what that
    /// did not find (a chat created a moment ago).
    async fn chat_states(
        &self,
        chats: &BTreeSet<(OrgId, ChatId)>,
    ) -> StoreResult<BTreeMap<(OrgId, ChatId), ChatState>>;
    /// The org-days as stored, strongly consistent (a day with nothing
    /// stored has the default state).
    async fn days(&self, days: &[(OrgId, Date)]) -> StoreResult<BTreeMap<(OrgId, Date), DayState>>;
    /// One write of a day's counters: adds `counters`, appends `changes` to
    /// the pending list, records `round`; refused if the day holds `round`
    /// or a later one already.
    async fn add_to_day(
        &self,
        org: OrgId,
        day: Date,
        round: Round,
        counters: &Counters,
        changes: Option<&TopChanges>,
    ) -> StoreResult<DayWrite>;
    /// Writes a day's tops, if their stored generation is still
    /// `expected_generation` (0: none stored): false otherwise.
    async fn write_tops(
        &self,
        org: OrgId,
        day: Date,
        tops: &DayTops,
        expected_generation: u64,
    ) -> StoreResult<bool>;
    /// The second write of a fold (see [`EndFold`]), refused if the
    /// counters moved since (or hold its round already).
    async fn end_fold(&self, org: OrgId, day: Date, end: &EndFold) -> StoreResult<DayWrite>;
    /// Keeps a day's commit that could not be written, with why.
    async fn park(&self, parked: &ParkedDay) -> StoreResult<()>;
    /// Parked commits, oldest first, at most `limit`.
    async fn parked(&self, limit: u16) -> StoreResult<Vec<ParkedDay>>;
    /// In one transaction: removes the parked commit and adds it to its
    /// day. False when it was gone (replayed already).
    async fn replay(&self, parked: &ParkedDay) -> StoreResult<bool>;
    /// Deletes a message (its removal then flows through the stream).
    async fn delete_message(&self, orphan: &Orphan) -> StoreResult<()>;
}

/// The rate limiter's shared counts: per org, per window of
/// [`crate::domain::limits::WINDOW_SECS`], the units every container
/// admitted (and per key, within the org).
#[async_trait]
pub trait UsageStore: Send + Sync {
    /// Adds `org_units` to the org's count for `window`, and each key's
    /// units to that key's, in one write; the counts after it.
    async fn add_usage(
        &self,
        org: OrgId,
        window: u64,
        org_units: u64,
        keys: &[(ApiKeyId, u64)],
    ) -> StoreResult<WindowUsage>;

    /// [`Self::add_usage`], unless it would take the count of `capped` (one
    /// of `keys`) past `max`: then nothing is written and the counts as they
    /// stand are answered. What holds a key to its quota across containers.
    async fn add_usage_within(
        &self,
        org: OrgId,
        window: u64,
        org_units: u64,
        keys: &[(ApiKeyId, u64)],
        capped: ApiKeyId,
        max: u64,
    ) -> StoreResult<UsageAdded>;

    /// The org's counts for `window` as stored (zeros before any report):
    /// what a container reads before its first admission in a window.
    async fn window_usage(&self, org: OrgId, window: u64) -> StoreResult<WindowUsage>;
}

/// The units a report adds for `key` (0 when it names none).
pub fn units_for(keys: &[(ApiKeyId, u64)], key: ApiKeyId) -> u64 {
    keys.iter()
        .find(|(id, _)| *id == key)
        .map_or(0, |(_, units)| *units)
}

/// What [`UsageStore::add_usage_within`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UsageAdded {
    /// Added; the counts after it.
    Added(WindowUsage),
    /// Nothing added: the cap would have been passed. The counts as they are.
    OverCap(WindowUsage),
}

/// The shared counts of one window after a report.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WindowUsage {
    pub org: u64,
    pub keys: BTreeMap<ApiKeyId, u64>,
}

/// The ingest change feed (see [`crate::domain::ingest_changes`]): what
/// ingest containers read to know which of their cached key grants and org
/// limits changed. Its writers are [`ApiKeyStore::revoke_api_key`],
/// [`ApiKeyStore::update_api_key`] (settings) and [`OrgStore::update_org`]
/// (limits): each appends its entry in the same transaction as its change,
/// so a change is never stored without its entry.
#[async_trait]
pub trait ChangeFeedStore: Send + Sync {
    /// The feed, strongly consistent (empty when nothing was ever noted).
    async fn change_feed(&self) -> StoreResult<ChangeFeed>;
}

#[async_trait]
pub trait HealthStore: Send + Sync {
    /// Does the table answer?
    async fn ping(&self) -> StoreResult<()>;
}
