//! `GET /chats/{chat_id}/messages`.

use axum::{
    Json,
    extract::{Path, State},
};
use chatlogger::{
    domain::{Message, MessageId},
    http::{ApiError, PageQuery, Paged, QueryParams, SignedIn, need, openapi::DashboardErrors},
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
    signed_in: SignedIn<need::ReadChats>,
    Path(chat_id): Path<String>,
    QueryParams(query): QueryParams<PageQuery>,
) -> Result<Json<Paged<Message>>, ApiError> {
    let page = query.page()?;
    let (org, chat) = visible_chat(&state, &signed_in, query.org, &chat_id).await?;
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
