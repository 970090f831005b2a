//! The chat-plugin ingest API, authenticated by an org API key (secret, from
//! servers; or publishable, from the browser origins it allows):
//!
//! | route | handler |
//! |---|---|
//! | `POST /api/v1/orgs/{slug}/chats` | [`chats::create_chat`] |
//! | `POST /api/v1/orgs/{slug}/chats/{chat_id}/messages` | [`messages::create_message`] |
//! | `POST /api/v1/orgs/{slug}/batch` | [`batch::log_batch`] |
//! | `OPTIONS` on each of those | [`preflight`] (CORS for browser plugins) |
//! | `GET /health` | [`health::health`] |
//!
//! Routes are registered through `OpenApiRouter`, so the router and the
//! OpenAPI document come from the same list and cannot disagree.

pub mod batch;
pub mod chats;
mod create_errors;
pub mod health;
pub mod messages;
pub mod preflight;
mod replay;
mod state;

use axum::{Router, middleware};
use utoipa::OpenApi;
use utoipa_axum::{router::OpenApiRouter, routes};

pub use state::{IngestState, IngestStore};

#[derive(OpenApi)]
#[openapi(tags((name = "ingest", description = "For chat plugins: log chats and messages with an org API key")))]
struct IngestDoc;

fn api() -> OpenApiRouter<IngestState> {
    OpenApiRouter::with_openapi(IngestDoc::openapi())
        .routes(routes!(chats::create_chat, preflight::chats))
        .routes(routes!(messages::create_message, preflight::messages))
        .routes(routes!(batch::log_batch, preflight::batch))
        .routes(routes!(health::health))
}

/// Every ingest route, with CORS for publishable keys, ready for
/// `chatlogger::http::app`.
pub fn router(state: IngestState) -> Router {
    api()
        .split_for_parts()
        .0
        .with_state(state)
        .layer(middleware::from_fn(
            chatlogger::http::plugin_cors::plugin_cors,
        ))
}

/// The OpenAPI paths of this function.
pub fn openapi() -> utoipa::openapi::OpenApi {
    api().split_for_parts().1
}
