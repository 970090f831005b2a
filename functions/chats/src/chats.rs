//! `GET /chats`, and `GET|PATCH|DELETE /chats/{chat_id}`.

use axum::{Json, extract::State, http::StatusCode};
use chatlogger::{
    domain::{Chat, ChatId, ChatTitle, EndUserId, Metadata, OrgId, Tag, Tags},
    http::{
        ApiError, ChatAccess, InOrg, JsonBody, OrgQuery, Paged, PathId, need,
        openapi::DashboardErrors, time_param,
    },
    store::{ChatChanges, ChatFilter, PageRequest},
};

use crate::ChatsState;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};

/// `GET /chats` filters and paging.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ChatListQuery {
    /// Chats created at or after this RFC 3339 time (whole seconds).
    pub from: Option<String>,
    /// Chats created before this RFC 3339 time (whole seconds).
    pub to: Option<String>,
    /// Only chats with this tag.
    pub tag: Option<String>,
    /// Only chats of this end user (the plugin's `user_id`).
    pub user_id: Option<String>,
    /// Chats per page, 1 to 100 (default 50). A page may hold fewer when the
    /// filters skip many chats: go on while `next_cursor` is present.
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u16>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Superadmins only: list this org instead of their own.
    #[param(value_type = Option<String>)]
    pub org: Option<OrgId>,
}

chatlogger::org_param!(ChatListQuery);

impl ChatListQuery {
    fn filter(&self) -> Result<ChatFilter, ApiError> {
        let filter = ChatFilter {
            from: time_param(self.from.as_deref(), "from")?,
            to: time_param(self.to.as_deref(), "to")?,
            tag: self
                .tag
                .as_deref()
                .map(Tag::parse)
                .transpose()
                .map_err(|e| ApiError::InvalidQuery(e.0))?,
            user_id: self
                .user_id
                .as_deref()
                .map(EndUserId::parse)
                .transpose()
                .map_err(|e| ApiError::InvalidQuery(e.0))?,
        };
        if let (Some(from), Some(to)) = (filter.from, filter.to)
            && from >= to
        {
            return Err(ApiError::InvalidQuery("from must be before to".into()));
        }
        Ok(filter)
    }

    fn page(&self) -> Result<PageRequest, ApiError> {
        chatlogger::http::PageQuery {
            limit: self.limit,
            cursor: self.cursor.clone(),
            org: None,
        }
        .page()
    }
}

/// A chat as `GET /chats` lists it: with its message count and last activity.
#[derive(Debug, Serialize, ToSchema)]
pub struct ListedChat {
    #[serde(flatten)]
    pub chat: Chat,
    /// Messages logged to the chat, counted from its newest within the
    /// listing's read budget (1,000 read units for the page): when
    /// `message_count_exact` is false, the chat has more than this.
    pub message_count: u64,
    /// True when every message was counted; false when `message_count` is
    /// a lower bound.
    pub message_count_exact: bool,
    /// When its newest message was logged (always exact); null before the first.
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_message_at: Option<OffsetDateTime>,
}

/// List the org's chats, newest first, each with its message count and
/// last activity (read from its messages, eventually consistent). One page
/// reads at most 1,000 read units, whatever the chats hold: a long chat's
/// count is then a lower bound (`message_count_exact: false`).
#[utoipa::path(
    get,
    path = "/chats",
    tag = "chats",
    params(ChatListQuery),
    security(("session_cookie" = [])),
    responses(
        (status = 200, description = "A page of chats", body = Paged<ListedChat>),
        DashboardErrors,
    )
)]
pub async fn list_chats(
    State(state): State<ChatsState>,
    InOrg {
        org,
        query,
        signed_in,
    }: InOrg<need::ReadChats, ChatListQuery>,
) -> Result<Json<Paged<ListedChat>>, ApiError> {
    let filter = query.filter()?;
    let page = query.page()?;
    let listing = chatlogger::chats::list_visible_chats(
        state.chats.as_ref(),
        state.messages.as_ref(),
        org,
        &signed_in.chat_scope(),
        filter,
        &page,
    )
    .await?;
    Ok(Json(Paged::from_page(listing.page, |(chat, activity)| {
        ListedChat {
            chat,
            message_count: activity.message_count,
            message_count_exact: activity.message_count_exact,
            last_message_at: activity.last_message_at,
        }
    })))
}

/// Reads a chat the caller may see: the same 404 for another org's chat, a
/// chat outside a user's scope, a deleted chat and a missing one.
pub(crate) async fn visible_chat<N: ChatAccess, Q>(
    state: &ChatsState,
    InOrg { signed_in, org, .. }: &InOrg<N, Q>,
    id: ChatId,
) -> Result<(OrgId, Chat), ApiError> {
    let org = *org;
    let scope = signed_in.chat_scope();
    let chat = chatlogger::chats::visible_chat(state.chats.as_ref(), org, &scope, id)
        .await?
        .ok_or(ApiError::NotFound("chat"))?;
    Ok((org, chat))
}

/// Read a chat.
#[utoipa::path(
    get,
    path = "/chats/{chat_id}",
    tag = "chats",
    params(("chat_id" = String, Path, description = "The chat's id"), OrgQuery),
    security(("session_cookie" = [])),
    responses(
        (status = 200, description = "The chat", body = Chat),
        DashboardErrors,
    )
)]
pub async fn get_chat(
    State(state): State<ChatsState>,
    in_org: InOrg<need::ReadChats>,
    PathId(chat_id): PathId<ChatId>,
) -> Result<Json<Chat>, ApiError> {
    let (_, chat) = visible_chat(&state, &in_org, chat_id).await?;
    Ok(Json(chat))
}

/// What `PATCH /chats/{chat_id}` may change; at least one field.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateChatRequest {
    /// 1-200 characters; `null` removes the title.
    #[serde(default, deserialize_with = "chatlogger::domain::patch::present")]
    #[schema(value_type = Option<String>)]
    pub title: Option<Option<ChatTitle>>,
    /// Replaces the tags (at most 20, 1-64 characters each).
    pub tags: Option<Tags>,
    /// Replaces the metadata (a JSON object, at most 8 KiB).
    pub metadata: Option<Metadata>,
}

/// Edit a chat's title, tags or metadata. A `user` may edit only their own chats.
#[utoipa::path(
    patch,
    path = "/chats/{chat_id}",
    tag = "chats",
    params(("chat_id" = String, Path, description = "The chat's id"), OrgQuery),
    request_body = UpdateChatRequest,
    security(("session_cookie" = [])),
    responses(
        (status = 200, description = "The chat as updated", body = Chat),
        DashboardErrors,
    )
)]
pub async fn update_chat(
    State(state): State<ChatsState>,
    in_org: InOrg<need::EditChats>,
    PathId(chat_id): PathId<ChatId>,
    JsonBody(request): JsonBody<UpdateChatRequest>,
) -> Result<Json<Chat>, ApiError> {
    let changes = ChatChanges {
        title: request.title,
        tags: request.tags,
        metadata: request.metadata,
    };
    if changes.is_empty() {
        return Err(ApiError::InvalidBody(
            "send at least one of title, tags, metadata".into(),
        ));
    }
    let (org, chat) = visible_chat(&state, &in_org, chat_id).await?;
    let updated = state
        .chats
        .update_chat(org, chat.id, &changes)
        .await?
        .ok_or(ApiError::NotFound("chat"))?;
    tracing::info!(chat_id = %chat.id, "chat updated");
    Ok(Json(updated))
}

/// Delete a chat and all its messages. The chat disappears at once; its
/// messages are deleted before the response, and the analytics uncount
/// them within seconds (the aggregator sees each removal). Deleting again
/// answers 204 and finishes an interrupted delete.
#[utoipa::path(
    delete,
    path = "/chats/{chat_id}",
    tag = "chats",
    params(("chat_id" = String, Path, description = "The chat's id"), OrgQuery),
    security(("session_cookie" = [])),
    responses(
        (status = 204, description = "Deleted, with its messages"),
        DashboardErrors,
    )
)]
pub async fn delete_chat(
    State(state): State<ChatsState>,
    in_org: InOrg<need::DeleteChats>,
    PathId(chat_id): PathId<ChatId>,
) -> Result<StatusCode, ApiError> {
    let (org, id) = (in_org.org, chat_id);
    // The dashboard's clock (tests set it): the tombstone's expiry and the
    // sweep's due time follow from it.
    let now = state.dashboard.clock.now();
    if !state.chats.delete_chat(org, id, now).await? {
        return Err(ApiError::NotFound("chat"));
    }
    tracing::info!(chat_id = %id, "chat deleted");
    Ok(StatusCode::NO_CONTENT)
}
