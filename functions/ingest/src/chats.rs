use axum::{Json, extract::State, http::StatusCode};
use chatlogger::{
    domain::{
        ApiKeyKind, Chat, ChatId, ChatTitle, Email, EndUserId, Metadata, Slug, Tags,
        check_client_id_time,
    },
    http::{ApiError, JsonBody, OrgApiKey, rate_limit::RateHeaders},
};
use serde::Deserialize;
use time::OffsetDateTime;
use utoipa::ToSchema;

use crate::{IngestState, create_errors::CreateErrors, replay};

/// A chat to log. Every field is optional.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateChatRequest {
    /// Client-chosen ULID, for safe retries. The server assigns one if absent.
    /// Its time must be within an hour of the server's clock (else 422).
    pub id: Option<ChatId>,
    /// At most 200 characters.
    pub title: Option<ChatTitle>,
    /// At most 20 tags of at most 64 characters; duplicates are dropped.
    #[serde(default)]
    pub tags: Tags,
    /// A JSON object of at most 8 KiB.
    #[serde(default)]
    pub metadata: Metadata,
    /// The plugin's id for the person chatting (1-128 characters, no spaces).
    /// A `user` of the dashboard sees the chats whose `user_id` is their
    /// email, so a publishable key (public, in a web page) may not send an
    /// email address here (422): hash it, or log from a server.
    pub user_id: Option<EndUserId>,
}

impl CreateChatRequest {
    /// The chat, created `now`, if the key's restrictions allow it.
    pub fn into_chat(self, key: &OrgApiKey, now: OffsetDateTime) -> Result<Chat, ApiError> {
        key.settings
            .check_metadata(&self.metadata)
            .map_err(|e| ApiError::InvalidBody(e.0))?;
        if let Some(id) = self.id {
            check_client_id_time("id", id.time(), now).map_err(|e| ApiError::InvalidBody(e.0))?;
        }
        // Anyone can copy a publishable key from a page: with an email as
        // user_id they could plant chats in a member's "own chats".
        if key.kind == ApiKeyKind::Publishable
            && self
                .user_id
                .as_ref()
                .is_some_and(|id| Email::parse(id.as_str()).is_ok())
        {
            return Err(ApiError::InvalidBody(
                "user_id must not be an email address with a publishable key (dashboard users \
                 see the chats whose user_id is their email): send a hash of it, or log from a \
                 server with a secret key"
                    .into(),
            ));
        }
        Ok(Chat {
            id: self.id.unwrap_or_default(),
            title: self.title,
            tags: self.tags,
            metadata: self.metadata,
            user_id: self.user_id,
            key_id: Some(key.key_id),
            created_at: now,
        })
    }
}

/// Log a new chat.
#[utoipa::path(
    post,
    path = "/api/v1/orgs/{slug}/chats",
    tag = "ingest",
    params(("slug" = Slug, Path, description = "The org's slug; the API key must belong to it")),
    request_body = CreateChatRequest,
    security(("org_api_key" = [])),
    responses(
        (status = 201, description = "Chat created", body = Chat),
        (status = 200, description = "A retry with the same id and body: the stored chat", body = Chat),
        CreateErrors,
    )
)]
pub async fn create_chat(
    State(state): State<IngestState>,
    key: OrgApiKey,
    JsonBody(request): JsonBody<CreateChatRequest>,
) -> Result<(StatusCode, RateHeaders, Json<Chat>), ApiError> {
    let chat = request.into_chat(&key, state.clock.now())?;
    let rate = state.limiter.admit(&key.caller(), 1).await?;
    let logged = state.ingest.log_chat(key.org_id, chat).await?;
    let (status, body) = replay::respond(logged);
    Ok((status, RateHeaders(rate), body))
}
