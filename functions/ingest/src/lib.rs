//! The chat-plugin ingest API, authenticated by an org API key:
//!
//! | route | handler |
//! |---|---|
//! | `POST /api/v1/orgs/{slug}/chats` | [`chats::create_chat`] |
//! | `POST /api/v1/orgs/{slug}/chats/{chat_id}/messages` | [`messages::create_message`] |
//! | `GET /health` | [`health::health`] |
//!
//! Routes are registered through `OpenApiRouter`, so the router and the
//! OpenAPI document come from the same list and cannot disagree.

pub mod chats;
mod create_errors;
pub mod health;
pub mod messages;
mod replay;
mod state;

use axum::Router;
use utoipa::OpenApi;
use utoipa_axum::{router::OpenApiRouter, routes};

pub use state::IngestState;

#[derive(OpenApi)]
#[openapi(tags((name = "ingest", description = "For chat plugins: log chats and messages with an org API key")))]
struct IngestDoc;

fn api() -> OpenApiRouter<IngestState> {
    OpenApiRouter::with_openapi(IngestDoc::openapi())
        .routes(routes!(chats::create_chat))
        .routes(routes!(messages::create_message))
        .routes(routes!(health::health))
}

/// Every ingest route, ready for `chatlogger::http::app`.
pub fn router(state: IngestState) -> Router {
    api().split_for_parts().0.with_state(state)
}

/// The OpenAPI paths of this function.
pub fn openapi() -> utoipa::openapi::OpenApi {
    api().split_for_parts().1
}
