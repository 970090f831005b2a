//! Chat browsing for the dashboard.
//!
//! | route | handler | minimum role |
//! |---|---|---|
//! | `GET /chats` | [`chats::list_chats`] | viewer |
//! | `GET /chats/{chat_id}` | [`chats::get_chat`] | viewer |
//! | `PATCH /chats/{chat_id}` | [`chats::update_chat`] | user |
//! | `DELETE /chats/{chat_id}` | [`chats::delete_chat`] | admin |
//! | `GET /chats/{chat_id}/messages` | [`messages::list_messages`] | viewer |
//!
//! A `user` sees and edits only the chats whose `user_id` is their email
//! address; anyone else reads the whole org (see `ChatScope`). Another
//! org's chat, or a chat outside a user's scope, is the same 404 as a
//! missing one. Superadmins may add `?org=<org id>` to act on another org.

pub mod chats;
pub mod messages;

use axum::Router;
use chatlogger::auth::DashboardState;
use utoipa::OpenApi;
use utoipa_axum::{router::OpenApiRouter, routes};

#[derive(OpenApi)]
#[openapi(tags((name = "chats", description = "Browse, edit and delete the org's chats (dashboard)")))]
struct ChatsDoc;

fn api() -> OpenApiRouter<DashboardState> {
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
pub fn router(state: DashboardState) -> Router {
    state.serve(api().split_for_parts().0)
}

/// The OpenAPI paths of this function.
pub fn openapi() -> utoipa::openapi::OpenApi {
    api().split_for_parts().1
}
