//! API-key management for org admins. Keys are shown in full only when
//! created; listings show metadata, never the key or its hash.
//!
//! | route | handler | needs |
//! |---|---|---|
//! | `GET /orgs/me/apikeys` | [`list_api_keys`] | `ManageKeys` (admin) |
//! | `POST /orgs/me/apikeys` | [`create_api_key`] | `ManageKeys` (admin) |
//! | `DELETE /orgs/me/apikeys/{key_id}` | [`revoke_api_key`] | `ManageKeys` (admin) |
//!
//! Superadmins may add `?org=<org id>` to act on another org.

use std::sync::Arc;

use axum::{
    Json, Router,
    extract::{FromRef, Path, State},
    http::StatusCode,
};
use chatlogger::{
    domain::{ApiKey, ApiKeyId, ApiKeyLabel},
    http::{
        API_KEY_CACHE_TTL, ApiError, Dashboard, JsonBody, OrgQuery, PageQuery, Paged, QueryParams,
        SignedIn, need, openapi::DashboardErrors, path_id,
    },
    store::ApiKeyStore,
};
use serde::{Deserialize, Serialize};
use utoipa::{OpenApi, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

#[derive(OpenApi)]
#[openapi(tags((name = "apikeys", description = "Org API keys for chat plugins (admins)")))]
struct ApiKeysDoc;

/// What the API-key routes use, built once per container.
#[derive(Clone, FromRef)]
pub struct ApiKeysState {
    pub dashboard: Dashboard,
    pub api_keys: Arc<dyn ApiKeyStore>,
}

impl ApiKeysState {
    pub fn new<S: ApiKeyStore + 'static>(store: Arc<S>, dashboard: Dashboard) -> Self {
        Self {
            dashboard,
            api_keys: store,
        }
    }
}

fn api() -> OpenApiRouter<ApiKeysState> {
    OpenApiRouter::with_openapi(ApiKeysDoc::openapi())
        .routes(routes!(list_api_keys, create_api_key))
        .routes(routes!(revoke_api_key))
}

/// Every API-key route, with the CSRF check, ready for `chatlogger::http::app`
/// (and the CORS layer: see `chatlogger::auth::run_lambda`).
pub fn router(state: ApiKeysState) -> Router {
    let dashboard = state.dashboard.clone();
    dashboard.protect(api().split_for_parts().0.with_state(state))
}

/// The OpenAPI paths of this function.
pub fn openapi() -> utoipa::openapi::OpenApi {
    api().split_for_parts().1
}

/// List the org's API keys, oldest first, revoked ones included.
#[utoipa::path(
    get,
    path = "/orgs/me/apikeys",
    tag = "apikeys",
    params(PageQuery),
    security(("session_cookie" = [])),
    responses(
        (status = 200, description = "A page of keys", body = Paged<ApiKey>),
        DashboardErrors,
    )
)]
pub async fn list_api_keys(
    State(state): State<ApiKeysState>,
    signed_in: SignedIn<need::ManageKeys>,
    QueryParams(query): QueryParams<PageQuery>,
) -> Result<Json<Paged<ApiKey>>, ApiError> {
    let page = query.page()?;
    let org = signed_in.org_scope(query.org).await?;
    let keys = state.api_keys.list_api_keys(org, &page).await?;
    Ok(Json(Paged::from_page(keys, |key| key)))
}

/// A new key's label.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateApiKeyRequest {
    /// 1-100 characters, e.g. "website widget".
    pub label: ApiKeyLabel,
}

/// A new key: its metadata, and the key itself, shown this once.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CreatedApiKey {
    #[serde(flatten)]
    pub key: ApiKey,
    /// The key for the `x-organization-api-key` header. Store it now: only
    /// its SHA-256 is kept, so it cannot be shown again.
    pub secret: String,
}

/// Create an API key.
#[utoipa::path(
    post,
    path = "/orgs/me/apikeys",
    tag = "apikeys",
    params(OrgQuery),
    request_body = CreateApiKeyRequest,
    security(("session_cookie" = [])),
    responses(
        (status = 201, description = "Created; `secret` is shown only now", body = CreatedApiKey),
        DashboardErrors,
    )
)]
pub async fn create_api_key(
    State(state): State<ApiKeysState>,
    signed_in: SignedIn<need::ManageKeys>,
    QueryParams(query): QueryParams<OrgQuery>,
    JsonBody(request): JsonBody<CreateApiKeyRequest>,
) -> Result<(StatusCode, Json<CreatedApiKey>), ApiError> {
    let org_id = signed_in.org_scope(query.org).await?;
    let org = state.dashboard.existing_org(org_id).await?;
    let (key, secret) =
        chatlogger::accounts::create_api_key(&*state.api_keys, &org, request.label).await?;
    tracing::info!(key_id = %key.id, "API key created");
    let created = CreatedApiKey {
        key,
        secret: secret.expose().to_owned(),
    };
    Ok((StatusCode::CREATED, Json(created)))
}

/// Revoke an API key. Ingest refuses it within the API-key cache bound
/// (5 seconds). Revoking twice is harmless and keeps the first `revoked_at`.
#[utoipa::path(
    delete,
    path = "/orgs/me/apikeys/{key_id}",
    tag = "apikeys",
    params(("key_id" = ApiKeyId, Path, description = "The key's id"), OrgQuery),
    security(("session_cookie" = [])),
    responses(
        (status = 200, description = "Revoked; the key's metadata", body = ApiKey),
        DashboardErrors,
    )
)]
pub async fn revoke_api_key(
    State(state): State<ApiKeysState>,
    signed_in: SignedIn<need::ManageKeys>,
    Path(key_id): Path<String>,
    QueryParams(query): QueryParams<OrgQuery>,
) -> Result<Json<ApiKey>, ApiError> {
    let key_id = path_id(&key_id, "key_id", ApiKeyId::parse)?;
    let org = signed_in.org_scope(query.org).await?;
    let key = state
        .api_keys
        .revoke_api_key(org, key_id)
        .await?
        .ok_or(ApiError::NotFound("API key"))?;
    tracing::info!(key_id = %key.id, cache_bound_secs = API_KEY_CACHE_TTL.as_secs(), "API key revoked");
    Ok(Json(key))
}
