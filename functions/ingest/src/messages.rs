use axum::{Json, extract::State, http::StatusCode};
use chatlogger::{
    domain::{
        ChatId, LatencyMs, Message, MessageContent, MessageId, MessageRole, Metadata, Slug,
        TokenCount, check_client_id_time,
    },
    http::{ApiError, ErrorBody, JsonBody, OrgApiKey, PathId, rate_limit::RateHeaders},
};
use serde::Deserialize;
use time::OffsetDateTime;
use utoipa::ToSchema;

use crate::{IngestState, create_errors::CreateErrors, replay};

/// A message to log in a chat.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateMessageRequest {
    /// Client-chosen ULID, for safe retries. The server assigns one if absent.
    /// Its time must be within an hour of the server's clock (else 422).
    pub id: Option<MessageId>,
    pub role: MessageRole,
    /// Not blank; at most 32 KiB of UTF-8. Stored exactly as sent.
    pub content: MessageContent,
    /// A JSON object of at most 8 KiB.
    #[serde(default)]
    pub metadata: Metadata,
    /// 0 to 86,400,000 (one day).
    pub latency_ms: Option<LatencyMs>,
    /// 0 to 10,000,000.
    pub token_count: Option<TokenCount>,
}

impl CreateMessageRequest {
    /// The message, logged `now`, if the key's restrictions allow it.
    pub fn into_message(
        self,
        chat_id: ChatId,
        key: &OrgApiKey,
        now: OffsetDateTime,
    ) -> Result<Message, ApiError> {
        if let Some(id) = self.id {
            check_client_id_time("id", id.time(), now).map_err(|e| ApiError::InvalidBody(e.0))?;
        }
        let message = Message {
            id: self.id.unwrap_or_default(),
            chat_id,
            role: self.role,
            content: self.content,
            metadata: self.metadata,
            latency_ms: self.latency_ms,
            token_count: self.token_count,
            key_id: Some(key.key_id),
            created_at: now,
        };
        key.settings
            .check_message(&message)
            .map_err(|e| ApiError::InvalidBody(e.0))?;
        Ok(message)
    }
}

/// Log a message in a chat.
///
/// Costs one DynamoDB write: a conditional `PutItem`. A container that has
/// not seen the chat within the last minute reads it first (an eventually
/// consistent `GetItem`, half a read unit) to check it is the org's.
#[utoipa::path(
    post,
    path = "/api/v1/orgs/{slug}/chats/{chat_id}/messages",
    tag = "ingest",
    params(
        ("slug" = Slug, Path, description = "The org's slug; the API key must belong to it"),
        ("chat_id" = ChatId, Path, description = "The chat's id"),
    ),
    request_body = CreateMessageRequest,
    security(("org_api_key" = [])),
    responses(
        (status = 201, description = "Message logged", body = Message),
        (status = 200, description = "A retry with the same id and body: the stored message", body = Message),
        CreateErrors,
        (status = 404, description = "The org has no such chat", body = ErrorBody),
    )
)]
pub async fn create_message(
    State(state): State<IngestState>,
    key: OrgApiKey,
    PathId(chat_id): PathId<ChatId>,
    JsonBody(request): JsonBody<CreateMessageRequest>,
) -> Result<(StatusCode, RateHeaders, Json<Message>), ApiError> {
    let message = request.into_message(chat_id, &key, state.clock.now())?;
    let rate = state.limiter.admit(&key.caller(), 1).await?;
    let logged = state.ingest.log_message(key.org_id, message).await?;
    let (status, body) = replay::respond(logged);
    Ok((status, RateHeaders(rate), body))
}
