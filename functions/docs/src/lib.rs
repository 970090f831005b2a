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

pub mod reference;

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

/// Every HTTP function's OpenAPI paths, by the name of its binary. A new
/// function is added here (and to `chatlogger_local::function_routers`);
/// `tests/tests/drift/routes.rs` checks both lists against template.yaml and
/// the watch router.
pub fn function_documents() -> Vec<(&'static str, utoipa::openapi::OpenApi)> {
    vec![
        ("ingest", chatlogger_ingest::openapi()),
        ("auth", chatlogger_auth::openapi()),
        ("accounts", chatlogger_accounts::openapi()),
        ("apikeys", chatlogger_apikeys::openapi()),
        ("chats", chatlogger_chats::openapi()),
        ("analytics", chatlogger_analytics::openapi()),
        ("exports", chatlogger_exports::openapi()),
        ("docs", openapi()),
    ]
}

/// The whole API: shared components plus every function's paths.
pub fn full_openapi() -> utoipa::openapi::OpenApi {
    let mut doc = chatlogger::http::openapi::base();
    for (_, paths) in function_documents() {
        doc.merge(paths);
    }
    doc
}

/// The whole API's document as committed in `docs/openapi.json`: pretty-printed,
/// in a stable order (paths and schemas by name), ending in a newline. The
/// dashboard's types and `docs/api-reference.md` are generated from that file;
/// `tests/tests/drift/generated.rs` keeps it current.
pub fn document_file() -> String {
    let mut json = full_openapi()
        .to_pretty_json()
        .expect("the OpenAPI document serialises");
    json.push('\n');
    json
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

#[cfg(test)]
mod tests {
    use utoipa::openapi::{RefOr, schema::Schema};

    /// The dashboard reads what the signed-in user may do from `Me`.
    #[test]
    fn the_signed_in_users_permissions_are_documented() {
        let doc = super::full_openapi();
        let json = doc.to_json().unwrap();
        assert!(json.contains("\"manage_all_orgs\""), "Permission's names");
        let schemas = &doc.components.expect("components").schemas;
        let Some(RefOr::T(Schema::Object(me))) = schemas.get("Me") else {
            panic!("no Me schema");
        };
        for field in ["user", "org", "permissions", "grantable_roles"] {
            assert!(me.required.iter().any(|r| r == field), "Me.{field}");
        }
        assert!(schemas.contains_key("Permission"));
    }
}
