//! Chat browsing for the dashboard.
//!
//! | route | handler | needs |
//! |---|---|---|
//! | `GET /chats` | [`chats::list_chats`] | `ReadChats` (everyone; a `user` their own) |
//! | `GET /chats/{chat_id}` | [`chats::get_chat`] | `ReadChats` |
//! | `PATCH /chats/{chat_id}` | [`chats::update_chat`] | `EditChats` (admins; a `user` their own) |
//! | `DELETE /chats/{chat_id}` | [`chats::delete_chat`] | `DeleteChats` (admins) |
//! | `GET /chats/{chat_id}/messages` | [`messages::list_messages`] | `ReadChats` |
//!
//! A `user` sees and edits only the chats whose `user_id` is their email
//! address; anyone else reads the whole org (see `ChatScope`). Another
//! org's chat, or a chat outside a user's scope, is the same 404 as a
//! missing one. Superadmins may add `?org=<org id>` to act on another org.

pub mod chats;
pub mod messages;

use std::sync::Arc;

use axum::{Router, extract::FromRef};
use chatlogger::{
    http::Dashboard,
    store::{ChatStore, MessageStore},
};
use utoipa::OpenApi;
use utoipa_axum::{router::OpenApiRouter, routes};

#[derive(OpenApi)]
#[openapi(tags((name = "chats", description = "Browse, edit and delete the org's chats (dashboard)")))]
struct ChatsDoc;

/// What the chat routes use, built once per container.
#[derive(Clone, FromRef)]
pub struct ChatsState {
    pub dashboard: Dashboard,
    pub chats: Arc<dyn ChatStore>,
    pub messages: Arc<dyn MessageStore>,
}

impl ChatsState {
    pub fn new<S: ChatStore + MessageStore + 'static>(store: Arc<S>, dashboard: Dashboard) -> Self {
        Self {
            dashboard,
            chats: store.clone(),
            messages: store,
        }
    }
}

fn api() -> OpenApiRouter<ChatsState> {
    OpenApiRouter::with_openapi(ChatsDoc::openapi())
        .routes(routes!(chats::list_chats))
        .routes(routes!(
            chats::get_chat,
            chats::update_chat,
            chats::delete_chat
        ))
        .routes(routes!(messages::list_messages))
}

/// Every chat route, with the CSRF check, ready for `chatlogger::http::app`.
pub fn router(state: ChatsState) -> Router {
    let dashboard = state.dashboard.clone();
    dashboard.protect(api().split_for_parts().0.with_state(state))
}

/// The OpenAPI paths of this function.
pub fn openapi() -> utoipa::openapi::OpenApi {
    api().split_for_parts().1
}
