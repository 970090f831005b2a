//! The parts of the OpenAPI document every function shares: API info, the
//! security schemes and the error schema. Each function adds its own paths
//! (through `utoipa_axum::OpenApiRouter`, so a route and its documentation
//! are registered by the same line).

use utoipa::{
    Modify, OpenApi,
    openapi::security::{ApiKey, ApiKeyValue, SecurityScheme},
};

use super::{API_KEY_HEADER, ErrorBody, ErrorDetail};

/// Security scheme name for the org API key header.
pub const ORG_API_KEY: &str = "org_api_key";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "chatlogger API",
        description = "Multi-tenant chat logging. Chat plugins authenticate with an org API key in `x-organization-api-key`. Every error is `{\"error\": {\"code\", \"message\"}}`."
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
    }
}

/// The base document, to merge function documents into.
pub fn base() -> utoipa::openapi::OpenApi {
    BaseDoc::openapi()
}
