//! `GET /openapi.json`: the OpenAPI 3.1 document of the whole API, merged
//! from every function's own document (each generated from its router).
//!
//! | route | handler |
//! |---|---|
//! | `GET /openapi.json` | [`openapi_json`] |

use std::sync::LazyLock;

use axum::{Router, http::header::CONTENT_TYPE, response::IntoResponse};
use utoipa::OpenApi;
use utoipa_axum::{router::OpenApiRouter, routes};

#[derive(OpenApi)]
#[openapi(tags((name = "docs", description = "This API's description")))]
struct DocsDoc;

fn api() -> OpenApiRouter {
    OpenApiRouter::with_openapi(DocsDoc::openapi()).routes(routes!(openapi_json))
}

/// The routes of this function, ready for `chatlogger::http::app`.
pub fn router() -> Router {
    api().split_for_parts().0
}

/// The OpenAPI paths of this function alone.
pub fn openapi() -> utoipa::openapi::OpenApi {
    api().split_for_parts().1
}

/// The whole API: shared components plus every function's paths. Add each
/// new function crate here.
pub fn full_openapi() -> utoipa::openapi::OpenApi {
    let mut doc = chatlogger::http::openapi::base();
    doc.merge(chatlogger_ingest::openapi());
    doc.merge(chatlogger_auth::openapi());
    doc.merge(chatlogger_accounts::openapi());
    doc.merge(chatlogger_apikeys::openapi());
    doc.merge(chatlogger_chats::openapi());
    doc.merge(chatlogger_analytics::openapi());
    doc.merge(chatlogger_exports::openapi());
    doc.merge(openapi());
    doc
}

static DOCUMENT: LazyLock<String> = LazyLock::new(|| {
    full_openapi()
        .to_json()
        .expect("the OpenAPI document serialises")
});

/// This API's OpenAPI 3.1 document.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "docs",
    responses((status = 200, description = "The OpenAPI 3.1 document", content_type = "application/json"))
)]
pub async fn openapi_json() -> impl IntoResponse {
    ([(CONTENT_TYPE, "application/json")], DOCUMENT.as_str())
}
