//! `OPTIONS` on the ingest routes: the CORS preflight of browser plugins
//! (see `chatlogger::http::plugin_cors`). One handler per route, because the
//! OpenAPI document and the route table are built from the same list.

use axum::{http::HeaderMap, response::Response};
use chatlogger::http::plugin_cors::preflight;

/// CORS preflight for browser plugins: any origin may ask; the `POST`
/// itself is refused unless its publishable key allows the origin.
#[utoipa::path(
    options,
    path = "/api/v1/orgs/{slug}/chats",
    tag = "ingest",
    params(("slug" = String, Path, description = "The org's slug")),
    responses((status = 204, description = "May POST with `content-type` and `x-organization-api-key`; cache for 2 hours"))
)]
pub async fn chats(headers: HeaderMap) -> Response {
    preflight(&headers)
}

/// CORS preflight for browser plugins (see the chats route's).
#[utoipa::path(
    options,
    path = "/api/v1/orgs/{slug}/chats/{chat_id}/messages",
    tag = "ingest",
    params(
        ("slug" = String, Path, description = "The org's slug"),
        ("chat_id" = String, Path, description = "The chat's id"),
    ),
    responses((status = 204, description = "May POST with `content-type` and `x-organization-api-key`; cache for 2 hours"))
)]
pub async fn messages(headers: HeaderMap) -> Response {
    preflight(&headers)
}

/// CORS preflight for browser plugins (see the chats route's). One URL per
/// org, so a browser preflights it once per 2 hours.
#[utoipa::path(
    options,
    path = "/api/v1/orgs/{slug}/batch",
    tag = "ingest",
    params(("slug" = String, Path, description = "The org's slug")),
    responses((status = 204, description = "May POST with `content-type` and `x-organization-api-key`; cache for 2 hours"))
)]
pub async fn batch(headers: HeaderMap) -> Response {
    preflight(&headers)
}
