//! `GET /chats/{chat_id}/messages`.

use axum::{Json, extract::State};
use chatlogger::{
    domain::{ChatId, Message, MessageId},
    http::{ApiError, InOrg, PageQuery, Paged, PathId, need, openapi::DashboardErrors},
    store::Read,
};

use crate::{ChatsState, chats::visible_chat};

/// A chat's messages, oldest first.
#[utoipa::path(
    get,
    path = "/chats/{chat_id}/messages",
    tag = "chats",
    params(("chat_id" = String, Path, description = "The chat's id"), PageQuery),
    security(("session_cookie" = [])),
    responses(
        (status = 200, description = "A page of messages", body = Paged<Message>),
        DashboardErrors,
    )
)]
pub async fn list_messages(
    State(state): State<ChatsState>,
    in_org: InOrg<need::ReadChats, PageQuery>,
    PathId(chat_id): PathId<ChatId>,
) -> Result<Json<Paged<Message>>, ApiError> {
    let page = in_org.query.page()?;
    let (org, chat) = visible_chat(&state, &in_org, chat_id).await?;
    let messages = state
        .messages
        .list_messages(
            org,
            chat.id,
            MessageId::MIN..=MessageId::MAX,
            &page,
            Read::Consistent,
        )
        .await?;
    Ok(Json(Paged::from_page(messages, |message| message)))
}
