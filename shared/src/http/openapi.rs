//! The parts of the OpenAPI document every function shares: API info, the
//! security schemes and the error schema. Each function adds its own paths
//! (through `utoipa_axum::OpenApiRouter`, so a route and its documentation
//! are registered by the same line).

use std::collections::BTreeMap;

use utoipa::{
    IntoResponses, Modify, OpenApi,
    openapi::{
        ContentBuilder, Ref, RefOr, Response, ResponseBuilder,
        security::{ApiKey, ApiKeyValue, SecurityScheme},
    },
};

use super::{API_KEY_HEADER, ErrorBody, ErrorDetail};
use crate::auth::cookies::SESSION_COOKIE;

/// Security scheme name for the org API key header.
pub const ORG_API_KEY: &str = "org_api_key";
/// Security scheme name for the dashboard session cookie.
pub const SESSION: &str = "session_cookie";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "chatlogger API",
        description = "Multi-tenant chat logging. Chat plugins authenticate with an org API key in `x-organization-api-key`. Dashboards sign in at `POST /auth/login` and send the session cookie; their POST, PATCH and DELETE requests also need the header `x-csrf-protection: 1`. Every error is `{\"error\": {\"code\", \"message\"}}`."
    ),
    components(schemas(ErrorBody, ErrorDetail)),
    modifiers(&SecuritySchemes)
)]
pub struct BaseDoc;

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            ORG_API_KEY,
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new(API_KEY_HEADER))),
        );
        components.add_security_scheme(
            SESSION,
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new(SESSION_COOKIE))),
        );
    }
}

/// Error responses for a route's documentation, each with the `ErrorBody` schema.
pub fn error_responses(list: &[(&str, &str)]) -> BTreeMap<String, RefOr<Response>> {
    list.iter()
        .map(|(status, description)| {
            let content = ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("ErrorBody")))
                .build();
            let response = ResponseBuilder::new()
                .description(*description)
                .content("application/json", content)
                .build();
            ((*status).to_owned(), response.into())
        })
        .collect()
}

/// The errors any dashboard route may answer.
pub struct DashboardErrors;

impl IntoResponses for DashboardErrors {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        error_responses(&[
            ("400", "Malformed JSON, path or query parameter"),
            ("401", "No live session: sign in (or refresh) first"),
            (
                "403",
                "The caller's role lacks the route's permission, or the CSRF header is missing",
            ),
            (
                "404",
                "No such object in the org (the same for objects of other orgs)",
            ),
            ("409", "The change conflicts with the stored state"),
            ("413", "Body over 256 KiB"),
            ("415", "Content-Type is not JSON"),
            ("422", "A field is invalid; the message names it"),
            (
                "503",
                "DynamoDB is throttling; retry after Retry-After seconds",
            ),
        ])
    }
}

/// The base document, to merge function documents into.
pub fn base() -> utoipa::openapi::OpenApi {
    BaseDoc::openapi()
}
