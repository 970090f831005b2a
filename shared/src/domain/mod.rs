//! Domain types. Each newtype has one way in (`parse`, or serde through it),
//! so a value you hold is valid. Limits are constants here so the docs, the
//! OpenAPI document and the tests all quote the same numbers.

pub mod analytics;
mod api_key;
mod chat;
pub mod export;
mod ids;
pub mod ingest_changes;
pub mod limits;
mod message;
mod org;
mod password;
pub mod patch;
pub mod permissions;
mod session;
pub(crate) mod text;
mod user;

pub use api_key::{
    API_KEY_PREFIX, ApiKey, ApiKeyGrant, ApiKeyHash, ApiKeyKind, ApiKeyLabel, ApiKeySecret,
    ApiKeySettings, ApiKeySettingsPatch, MAX_ALLOWED_ORIGINS, MaxContentBytes, MaxMetadataBytes,
    Origin, PUBLISHABLE_KEY_PREFIX,
};
pub use chat::{
    CHAT_SWEEP_DELAY, Chat, ChatTitle, EndUserId, MAX_END_USER_ID_CHARS, MAX_METADATA_BYTES,
    MAX_TAG_CHARS, MAX_TAGS, MAX_TITLE_CHARS, Metadata, Tag, Tags,
};
pub use ids::{
    ApiKeyId, CLIENT_ID_SKEW, ChatId, ExportId, InvalidId, MessageId, OrgId, SessionId, UserId,
    check_client_id_time, message_ids_logged_within,
};
pub use message::{
    LatencyMs, MAX_CONTENT_BYTES, MAX_LATENCY_MS, MAX_TOKEN_COUNT, Message, MessageContent,
    MessageRole, TokenCount,
};
pub use org::{Org, OrgName, Slug};
pub use password::{Password, PasswordHash};
pub use permissions::{ChatScope, Permission, Permissions};
pub use session::{
    ACCESS_TOKEN_TTL, RefreshCheck, RefreshToken, RefreshTokenHash, SESSION_TTL, Session,
};
pub use user::{DisplayName, Email, User, UserProfile, UserRole};

/// Why a value was refused. The message is written for the API client and
/// names the field, so it can go into the response as it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ValidationError(pub String);

impl ValidationError {
    pub fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}
