//! How each domain type is laid out as a DynamoDB item. `kind` names the
//! entity so stream consumers can tell items apart without parsing keys.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::keys;
use crate::analytics::{ChatFacts, Marker, MessageFacts, Tracked};
use crate::domain::{
    ApiKey, ApiKeyGrant, ApiKeyHash, ApiKeyId, ApiKeyLabel, Chat, ChatId, ChatTitle, DisplayName,
    Email, EndUserId, LatencyMs, Message, MessageContent, MessageId, MessageRole, Metadata, Org,
    OrgId, OrgName, PasswordHash, RefreshTokenHash, Session, SessionId, Slug, TokenCount, User,
    UserId, UserRole,
};
use crate::store::StoreError;

#[derive(Serialize, Deserialize)]
pub(super) struct OrgItem {
    pk: String,
    sk: String,
    kind: String,
    /// The sparse org-directory index (`GSI1`): only org items have it.
    gsi1pk: String,
    gsi1sk: String,
    id: OrgId,
    slug: Slug,
    name: OrgName,
    /// Compact JSON text, like chat metadata.
    #[serde(default = "empty_object")]
    settings: String,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
}

fn empty_object() -> String {
    "{}".into()
}

impl From<&Org> for OrgItem {
    fn from(org: &Org) -> Self {
        Self {
            pk: keys::org_pk(org.id),
            sk: keys::ORG_SK.into(),
            kind: "org".into(),
            gsi1pk: keys::ORG_DIRECTORY_PK.into(),
            gsi1sk: keys::org_pk(org.id),
            id: org.id,
            slug: org.slug.clone(),
            name: org.name.clone(),
            settings: org.settings.to_json_text(),
            created_at: org.created_at,
        }
    }
}

impl TryFrom<OrgItem> for Org {
    type Error = StoreError;

    fn try_from(item: OrgItem) -> Result<Self, StoreError> {
        let settings = Metadata::from_json_text(&item.settings)
            .map_err(|e| StoreError::Corrupt(format!("org {}: {e}", item.id)))?;
        Ok(Org {
            id: item.id,
            slug: item.slug,
            name: item.name,
            settings,
            created_at: item.created_at,
        })
    }
}

/// `SLUG#<slug>` → org id.
#[derive(Serialize, Deserialize)]
pub(super) struct SlugItem {
    pk: String,
    sk: String,
    kind: String,
    pub org_id: OrgId,
}

impl SlugItem {
    pub fn new(org: &Org) -> Self {
        Self {
            pk: keys::slug_pk(&org.slug),
            sk: keys::SLUG_SK.into(),
            kind: "slug".into(),
            org_id: org.id,
        }
    }
}

#[derive(Serialize, Deserialize)]
pub(super) struct UserItem {
    pk: String,
    sk: String,
    kind: String,
    id: UserId,
    email: Email,
    role: UserRole,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    display_name: Option<DisplayName>,
    password_hash: String,
    disabled: bool,
    #[serde(default)]
    session_epoch: u32,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
}

impl UserItem {
    pub fn new(org: OrgId, user: &User) -> Self {
        Self {
            pk: keys::org_pk(org),
            sk: keys::user_sk(user.id),
            kind: "user".into(),
            id: user.id,
            email: user.email.clone(),
            role: user.role,
            display_name: user.display_name.clone(),
            password_hash: user.password_hash.as_str().to_owned(),
            disabled: user.disabled,
            session_epoch: user.session_epoch,
            created_at: user.created_at,
        }
    }
}

impl From<UserItem> for User {
    fn from(item: UserItem) -> Self {
        User {
            id: item.id,
            email: item.email,
            role: item.role,
            display_name: item.display_name,
            password_hash: PasswordHash::from_stored(item.password_hash),
            disabled: item.disabled,
            session_epoch: item.session_epoch,
            created_at: item.created_at,
        }
    }
}

/// `EMAIL#<email>` → (org, user): makes addresses unique system-wide.
#[derive(Serialize, Deserialize)]
pub(super) struct EmailItem {
    pk: String,
    sk: String,
    kind: String,
    pub org_id: OrgId,
    pub user_id: UserId,
}

impl EmailItem {
    pub fn new(org: OrgId, user: &User) -> Self {
        Self {
            pk: keys::email_pk(&user.email),
            sk: keys::EMAIL_SK.into(),
            kind: "email".into(),
            org_id: org,
            user_id: user.id,
        }
    }
}

#[derive(Serialize, Deserialize)]
pub(super) struct ApiKeyItem {
    pk: String,
    sk: String,
    kind: String,
    id: ApiKeyId,
    label: ApiKeyLabel,
    prefix: String,
    /// Where the hash lookup lives, so revocation can reach it. The hash of a
    /// 256-bit random key reveals nothing; it is never sent to clients.
    pub key_hash: String,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
    #[serde(
        with = "time::serde::rfc3339::option",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    last_used_at: Option<OffsetDateTime>,
    #[serde(
        with = "time::serde::rfc3339::option",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    revoked_at: Option<OffsetDateTime>,
}

impl ApiKeyItem {
    pub fn new(org: OrgId, key: &ApiKey, hash: &ApiKeyHash) -> Self {
        Self {
            pk: keys::org_pk(org),
            sk: keys::api_key_sk(key.id),
            kind: "apikey".into(),
            id: key.id,
            label: key.label.clone(),
            prefix: key.prefix.clone(),
            key_hash: hash.to_hex(),
            created_at: key.created_at,
            last_used_at: key.last_used_at,
            revoked_at: key.revoked_at,
        }
    }
}

impl From<ApiKeyItem> for ApiKey {
    fn from(item: ApiKeyItem) -> Self {
        ApiKey {
            id: item.id,
            label: item.label,
            prefix: item.prefix,
            created_at: item.created_at,
            last_used_at: item.last_used_at,
            revoked_at: item.revoked_at,
        }
    }
}

/// `KEYHASH#<sha256>` → the grant. Holds the org slug so an ingest request's
/// path can be checked against the key with this one read.
#[derive(Serialize, Deserialize)]
pub(super) struct KeyHashItem {
    pk: String,
    sk: String,
    kind: String,
    org_id: OrgId,
    org_slug: Slug,
    key_id: ApiKeyId,
    #[serde(default)]
    revoked: bool,
}

impl KeyHashItem {
    pub fn new(org: &Org, key: &ApiKey, hash: &ApiKeyHash) -> Self {
        Self {
            pk: keys::key_hash_pk(hash),
            sk: keys::KEY_HASH_SK.into(),
            kind: "keyhash".into(),
            org_id: org.id,
            org_slug: org.slug.clone(),
            key_id: key.id,
            revoked: key.revoked_at.is_some(),
        }
    }
}

impl From<KeyHashItem> for ApiKeyGrant {
    fn from(item: KeyHashItem) -> Self {
        ApiKeyGrant {
            org_id: item.org_id,
            org_slug: item.org_slug,
            key_id: item.key_id,
            revoked: item.revoked,
        }
    }
}

#[derive(Serialize, Deserialize)]
pub(super) struct ChatItem {
    pk: String,
    sk: String,
    kind: String,
    /// Chats by end user (`GSI1`): only chats with a `user_id` have it, and
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
    pub revision: u64,
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
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
}

impl ChatItem {
    pub fn new(org: OrgId, chat: &Chat) -> Self {
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
            created_at: chat.created_at,
        }
    }
}

impl ChatItem {
    /// The chat's org, id and end user, as the aggregator needs them.
    pub fn owner(&self) -> Result<(OrgId, ChatId, Option<String>), StoreError> {
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
fn org_from_pk(pk: &str) -> Option<OrgId> {
    OrgId::parse(pk.strip_prefix("ORG#")?).ok()
}

impl TryFrom<ChatItem> for Chat {
    type Error = StoreError;

    fn try_from(item: ChatItem) -> Result<Self, StoreError> {
        let corrupt = |e: crate::domain::ValidationError| {
            StoreError::Corrupt(format!("chat {}: {e}", item.id))
        };
        let tags = item
            .tags
            .iter()
            .map(|t| crate::domain::Tag::parse(t))
            .collect::<Result<_, _>>()
            .map_err(corrupt)?;
        Ok(Chat {
            id: item.id,
            title: item.title.clone(),
            tags: crate::domain::Tags::parse(tags).map_err(corrupt)?,
            metadata: Metadata::from_json_text(&item.metadata).map_err(corrupt)?,
            user_id: item.user_id.clone(),
            created_at: item.created_at,
        })
    }
}

#[derive(Serialize, Deserialize)]
pub(super) struct MessageItem {
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
    pub fn new(org: OrgId, message: &Message) -> Self {
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

/// A dashboard session. `expires_at` is epoch seconds: the table's TTL
/// attribute, so DynamoDB deletes ended sessions on its own.
#[derive(Serialize, Deserialize)]
pub(super) struct SessionItem {
    pk: String,
    sk: String,
    kind: String,
    id: SessionId,
    user_id: UserId,
    epoch: u32,
    refresh_hash: String,
    #[serde(default)]
    previous_refresh_hashes: Vec<String>,
    revoked: bool,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
    expires_at: i64,
}

impl SessionItem {
    pub fn new(org: OrgId, session: &Session) -> Self {
        Self {
            pk: keys::org_pk(org),
            sk: keys::session_sk(session.id),
            kind: "session".into(),
            id: session.id,
            user_id: session.user_id,
            epoch: session.epoch,
            refresh_hash: session.refresh_hash.as_str().to_owned(),
            previous_refresh_hashes: session
                .previous_refresh_hashes
                .iter()
                .map(|hash| hash.as_str().to_owned())
                .collect(),
            revoked: session.revoked,
            created_at: session.created_at,
            expires_at: session.expires_at.unix_timestamp(),
        }
    }
}

impl TryFrom<SessionItem> for Session {
    type Error = StoreError;

    fn try_from(item: SessionItem) -> Result<Self, StoreError> {
        let expires_at = OffsetDateTime::from_unix_timestamp(item.expires_at)
            .map_err(|e| StoreError::Corrupt(format!("session {}: {e}", item.id)))?;
        Ok(Session {
            id: item.id,
            user_id: item.user_id,
            epoch: item.epoch,
            refresh_hash: RefreshTokenHash::from_stored(item.refresh_hash),
            previous_refresh_hashes: item
                .previous_refresh_hashes
                .into_iter()
                .map(RefreshTokenHash::from_stored)
                .collect(),
            revoked: item.revoked,
            created_at: item.created_at,
            expires_at,
        })
    }
}

/// A failed-sign-in counter for one key and window (see `LoginThrottleStore`).
#[derive(Serialize, Deserialize)]
pub(super) struct LoginFailuresItem {
    #[serde(default)]
    pub failures: u32,
}

/// What the aggregator reads of a chat or message image on the stream.
#[derive(Deserialize)]
pub(super) struct TrackedImage {
    kind: String,
    #[serde(default)]
    org_id: Option<OrgId>,
    #[serde(default)]
    pk: String,
    id: String,
    #[serde(default)]
    chat_id: Option<ChatId>,
    #[serde(default)]
    role: Option<MessageRole>,
    #[serde(default)]
    latency_ms: Option<u64>,
    #[serde(default)]
    token_count: Option<u64>,
    #[serde(default)]
    tags: Vec<String>,
    #[serde(default)]
    user_id: Option<String>,
    #[serde(default)]
    revision: u64,
    #[serde(default)]
    deleted_at: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
}

/// The kinds of item analytics follow.
pub(super) const TRACKED_KINDS: [&str; 2] = ["chat", "message"];

impl TryFrom<TrackedImage> for Tracked {
    type Error = StoreError;

    fn try_from(image: TrackedImage) -> Result<Self, StoreError> {
        let corrupt =
            |what: &str| StoreError::Corrupt(format!("{} {}: {what}", image.kind, image.id));
        // Chats written before `org_id` was repeated carry it in their key.
        let org = match image.org_id {
            Some(org) => org,
            None => org_from_pk(&image.pk).ok_or_else(|| corrupt("no org"))?,
        };
        let day = image.created_at.to_offset(time::UtcOffset::UTC).date();
        match image.kind.as_str() {
            "message" => Ok(Tracked::Message(MessageFacts {
                org,
                chat: image.chat_id.ok_or_else(|| corrupt("no chat_id"))?,
                id: MessageId::parse(&image.id).map_err(|_| corrupt("bad id"))?,
                role: image.role.ok_or_else(|| corrupt("no role"))?,
                tokens: image.token_count,
                latency_ms: image.latency_ms,
                day,
            })),
            "chat" => Ok(Tracked::Chat(ChatFacts {
                org,
                id: ChatId::parse(&image.id).map_err(|_| corrupt("bad id"))?,
                day,
                tags: image.tags,
                user_id: image.user_id,
                revision: image.revision,
                deleted: image.deleted_at.is_some(),
            })),
            _ => Err(corrupt("not a tracked kind")),
        }
    }
}

/// Proof that the aggregator counted one change (see `analytics::aggregator`).
#[derive(Serialize, Deserialize)]
pub(super) struct MarkerItem {
    pk: String,
    sk: String,
    kind: String,
    /// Epoch seconds: DynamoDB's TTL deletes the marker after this.
    expires_at: i64,
}

impl MarkerItem {
    pub fn new(marker: &Marker, expires_at: OffsetDateTime) -> Self {
        Self {
            pk: keys::marker_pk(marker),
            sk: marker.name.clone(),
            kind: "seen".into(),
            expires_at: expires_at.unix_timestamp(),
        }
    }
}

/// An export job. Filters are JSON text (like metadata). `lease_expires_at`
/// and `expires_at` are epoch seconds: the first so a condition can compare
/// it with a number, the second because it is the table's TTL attribute.
#[derive(Serialize, Deserialize)]
pub(super) struct ExportJobItem {
    pk: String,
    sk: String,
    kind: String,
    id: crate::domain::ExportId,
    format: crate::export::ExportFormat,
    filters: String,
    status: crate::export::ExportStatus,
    rows_written: u64,
    bytes_written: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    attempts: u32,
    requested_by: UserId,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
    #[serde(
        with = "time::serde::rfc3339::option",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    started_at: Option<OffsetDateTime>,
    #[serde(
        with = "time::serde::rfc3339::option",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    finished_at: Option<OffsetDateTime>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    lease_expires_at: Option<i64>,
    expires_at: i64,
}

impl ExportJobItem {
    pub fn new(
        org: OrgId,
        job: &crate::export::ExportJob,
        expires_at: OffsetDateTime,
    ) -> Result<Self, StoreError> {
        Ok(Self {
            pk: keys::org_pk(org),
            sk: keys::export_sk(job.id),
            kind: "export".into(),
            id: job.id,
            format: job.format,
            filters: serde_json::to_string(&job.filters)
                .map_err(|e| StoreError::Corrupt(e.to_string()))?,
            status: job.status,
            rows_written: job.rows_written,
            bytes_written: job.bytes_written,
            error: job.error.clone(),
            attempts: job.attempts,
            requested_by: job.requested_by,
            created_at: job.created_at,
            started_at: job.started_at,
            finished_at: job.finished_at,
            lease_expires_at: None,
            expires_at: expires_at.unix_timestamp(),
        })
    }
}

impl TryFrom<ExportJobItem> for crate::export::ExportJob {
    type Error = StoreError;

    fn try_from(item: ExportJobItem) -> Result<Self, StoreError> {
        let filters = serde_json::from_str(&item.filters)
            .map_err(|e| StoreError::Corrupt(format!("export {}: {e}", item.id)))?;
        Ok(Self {
            id: item.id,
            format: item.format,
            filters,
            status: item.status,
            rows_written: item.rows_written,
            bytes_written: item.bytes_written,
            error: item.error,
            attempts: item.attempts,
            requested_by: item.requested_by,
            created_at: item.created_at,
            started_at: item.started_at,
            finished_at: item.finished_at,
        })
    }
}
