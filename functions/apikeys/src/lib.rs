//! API-key management for org admins: secret keys (`clk_`, for servers) and
//! publishable keys (`clp_`, for browser plugins). Keys are shown in full
//! only when created; listings show metadata, never the key or its hash.
//!
//! | route | handler | needs |
//! |---|---|---|
//! | `GET /orgs/me/apikeys` | [`list_api_keys`] | `ManageKeys` (admin) |
//! | `POST /orgs/me/apikeys` | [`create_api_key`] | `ManageKeys` (admin) |
//! | `PATCH /orgs/me/apikeys/{key_id}` | [`update_api_key`] | `ManageKeys` (admin) |
//! | `DELETE /orgs/me/apikeys/{key_id}` | [`revoke_api_key`] | `ManageKeys` (admin) |
//! | `DELETE /orgs/me/apikeys/{key_id}/data` | [`delete_key_data`] | `ManageKeys` (admin) |
//!
//! Superadmins may add `?org=<org id>` to act on another org.

use std::sync::Arc;

use axum::{
    Json, Router,
    extract::{FromRef, State},
    http::StatusCode,
};
use chatlogger::{
    domain::{
        ApiKey, ApiKeyId, ApiKeyKind, ApiKeyLabel, ApiKeySettings, ApiKeySettingsPatch,
        MaxContentBytes, MaxMetadataBytes, OrgId, Origin, limits::RateLimit,
    },
    http::{
        ApiError, Dashboard, InOrg, JsonBody, OrgQuery, PageQuery, Paged, PathId, cursor_param,
        need, openapi::DashboardErrors, time_param,
    },
    key_data::{KeyDataDeleted, MAX_CHATS_PER_CALL},
    lookups::CHANGES_APPLY_WITHIN,
    store::{ApiKeyChanges, ApiKeyStore, ChatStore, MessageStore},
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, OpenApi, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

#[derive(OpenApi)]
#[openapi(tags((name = "apikeys", description = "Org API keys for chat plugins (admins)")))]
struct ApiKeysDoc;

/// What the API-key routes use, built once per container.
#[derive(Clone, FromRef)]
pub struct ApiKeysState {
    pub dashboard: Dashboard,
    pub api_keys: Arc<dyn ApiKeyStore>,
    /// What a key logged, for deleting it.
    pub chats: Arc<dyn ChatStore>,
    pub messages: Arc<dyn MessageStore>,
}

impl ApiKeysState {
    pub fn new<S: ApiKeyStore + ChatStore + MessageStore + 'static>(
        store: Arc<S>,
        dashboard: Dashboard,
    ) -> Self {
        Self {
            dashboard,
            api_keys: store.clone(),
            chats: store.clone(),
            messages: store,
        }
    }
}

fn api() -> OpenApiRouter<ApiKeysState> {
    OpenApiRouter::with_openapi(ApiKeysDoc::openapi())
        .routes(routes!(list_api_keys, create_api_key))
        .routes(routes!(update_api_key, revoke_api_key))
        .routes(routes!(delete_key_data))
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
    InOrg { org, query, .. }: InOrg<need::ManageKeys, PageQuery>,
) -> Result<Json<Paged<ApiKey>>, ApiError> {
    let page = query.page()?;
    let keys = state.api_keys.list_api_keys(org, &page).await?;
    Ok(Json(Paged::from_page(keys, |key| key)))
}

/// A new key: its label, its type, and its settings.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateApiKeyRequest {
    /// 1-100 characters, e.g. "website widget".
    pub label: ApiKeyLabel,
    /// `secret` (the default; for servers) or `publishable` (for browser
    /// plugins: needs `allowed_origins`).
    #[serde(rename = "type", default)]
    pub kind: ApiKeyKind,
    /// Publishable keys: the browser origins (1 to 20) it may be used from.
    #[serde(default)]
    pub allowed_origins: Vec<Origin>,
    /// The key's own rate (default for publishable keys: 20 per second,
    /// burst 100).
    pub rate_limit: Option<RateLimit>,
    /// Largest message content this key may log, in bytes.
    pub max_content_bytes: Option<MaxContentBytes>,
    /// Largest `metadata` this key may send, in bytes of compact JSON.
    pub max_metadata_bytes: Option<MaxMetadataBytes>,
}

impl CreateApiKeyRequest {
    fn settings(&self) -> ApiKeySettings {
        ApiKeySettings {
            allowed_origins: self.allowed_origins.clone(),
            rate_limit: self.rate_limit,
            max_content_bytes: self.max_content_bytes,
            max_metadata_bytes: self.max_metadata_bytes,
        }
    }
}

/// A new key: its metadata, and the key itself, shown this once.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CreatedApiKey {
    #[serde(flatten)]
    pub key: ApiKey,
    /// The key for the `x-organization-api-key` header. Store it now: only
    /// its SHA-256 is kept, so it cannot be shown again. (A publishable key
    /// is meant to be embedded in a web page; a secret key never is.)
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
    in_org: InOrg<need::ManageKeys>,
    JsonBody(request): JsonBody<CreateApiKeyRequest>,
) -> Result<(StatusCode, Json<CreatedApiKey>), ApiError> {
    let settings = request
        .settings()
        .for_kind(request.kind)
        .map_err(|e| ApiError::InvalidBody(e.0))?;
    let org = in_org.load_org().await?;
    let (key, secret) = chatlogger::accounts::issue_api_key(
        &*state.api_keys,
        &org,
        request.label,
        request.kind,
        settings,
    )
    .await?;
    tracing::info!(key_id = %key.id, key_type = key.kind.as_str(), "API key created");
    let created = CreatedApiKey {
        key,
        secret: secret.expose().to_owned(),
    };
    Ok((StatusCode::CREATED, Json(created)))
}

/// What `PATCH /orgs/me/apikeys/{key_id}` changes.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateApiKeyRequest {
    /// 1-100 characters.
    pub label: Option<ApiKeyLabel>,
    /// Changes the settings named (`allowed_origins`, `rate_limit`,
    /// `max_content_bytes`, `max_metadata_bytes`): each sent replaces the
    /// key's, `null` removes it, each left out is kept.
    pub settings: Option<ApiKeySettingsPatch>,
}

/// Change a key's label or settings (its type never changes). Ingest uses
/// the new settings within 5 seconds.
#[utoipa::path(
    patch,
    path = "/orgs/me/apikeys/{key_id}",
    tag = "apikeys",
    params(("key_id" = ApiKeyId, Path, description = "The key's id"), OrgQuery),
    request_body = UpdateApiKeyRequest,
    security(("session_cookie" = [])),
    responses(
        (status = 200, description = "The key's metadata", body = ApiKey),
        DashboardErrors,
    )
)]
pub async fn update_api_key(
    State(state): State<ApiKeysState>,
    InOrg { org, .. }: InOrg<need::ManageKeys>,
    PathId(key_id): PathId<ApiKeyId>,
    JsonBody(request): JsonBody<UpdateApiKeyRequest>,
) -> Result<Json<ApiKey>, ApiError> {
    if request.label.is_none() && request.settings.is_none() {
        return Err(ApiError::InvalidBody(
            "nothing to change: send label or settings".into(),
        ));
    }
    let stored = state
        .api_keys
        .api_key(org, key_id)
        .await?
        .ok_or(ApiError::NotFound("API key"))?;
    if stored.revoked_at.is_some() {
        return Err(ApiError::Conflict("the key is revoked".into()));
    }
    let settings = request
        .settings
        .map(|patch| patch.apply_to(&stored.settings).for_kind(stored.kind))
        .transpose()
        .map_err(|e| ApiError::InvalidBody(e.0))?;
    let changes = ApiKeyChanges {
        label: request.label,
        settings,
    };
    let key = state
        .api_keys
        .update_api_key(org, key_id, &changes)
        .await?
        .ok_or(ApiError::NotFound("API key"))?;
    tracing::info!(key_id = %key.id, applies_within_secs = CHANGES_APPLY_WITHIN.as_secs(), "API key updated");
    Ok(Json(key))
}

/// Revoke an API key. Ingest refuses it within 5 seconds. Revoking twice is
/// harmless and keeps the first `revoked_at`.
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
    InOrg { org, .. }: InOrg<need::ManageKeys>,
    PathId(key_id): PathId<ApiKeyId>,
) -> Result<Json<ApiKey>, ApiError> {
    let key = state
        .api_keys
        .revoke_api_key(org, key_id)
        .await?
        .ok_or(ApiError::NotFound("API key"))?;
    tracing::info!(key_id = %key.id, applies_within_secs = CHANGES_APPLY_WITHIN.as_secs(), "API key revoked");
    Ok(Json(key))
}

/// `DELETE /orgs/me/apikeys/{key_id}/data`: the time range and where to go on.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct KeyDataQuery {
    /// What the key logged at or after this RFC 3339 time (default: when
    /// the key was created).
    pub from: Option<String>,
    /// ...and before this RFC 3339 time (default: now).
    pub to: Option<String>,
    /// `next_cursor` of the previous call, to go on where it stopped.
    pub cursor: Option<String>,
    /// Superadmins only: act on this org instead of their own.
    #[param(value_type = Option<String>)]
    pub org: Option<OrgId>,
}

chatlogger::org_param!(KeyDataQuery);

/// What one call deleted.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct KeyDataDeletedResponse {
    /// Chats the key logged in the range, deleted with all their messages
    /// (any another key logged into them too).
    pub chats_deleted: u64,
    /// Messages the key logged in the range, in those chats or others.
    pub messages_deleted: u64,
    /// Chats this call checked (at most 1,000).
    pub chats_checked: u64,
    /// Present when chats remain to be checked: call again with it as
    /// `cursor` (and the same `from` and `to`).
    pub next_cursor: Option<String>,
}

impl From<KeyDataDeleted> for KeyDataDeletedResponse {
    fn from(deleted: KeyDataDeleted) -> Self {
        Self {
            chats_deleted: deleted.chats_deleted,
            messages_deleted: deleted.messages_deleted,
            chats_checked: deleted.chats_checked,
            next_cursor: deleted.next.map(|cursor| cursor.encode()),
        }
    }
}

/// Delete what a key logged in a time range: a leaked key's chats (whole)
/// and its messages in any chat. Every chat and message records the key
/// that logged it (`key_id`). Revoke the key first, so it logs nothing
/// more. A call checks up to 1,000 chats, oldest first, and answers a
/// `next_cursor` while more remain; repeating a call is harmless.
/// Analytics count the deleted data out within seconds.
#[utoipa::path(
    delete,
    path = "/orgs/me/apikeys/{key_id}/data",
    tag = "apikeys",
    params(("key_id" = ApiKeyId, Path, description = "The key's id (revoked keys too)"), KeyDataQuery),
    security(("session_cookie" = [])),
    responses(
        (status = 200, description = "What was deleted, and where to go on", body = KeyDataDeletedResponse),
        DashboardErrors,
    )
)]
pub async fn delete_key_data(
    State(state): State<ApiKeysState>,
    InOrg { org, query, .. }: InOrg<need::ManageKeys, KeyDataQuery>,
    PathId(key_id): PathId<ApiKeyId>,
) -> Result<Json<KeyDataDeletedResponse>, ApiError> {
    let key = state
        .api_keys
        .api_key(org, key_id)
        .await?
        .ok_or(ApiError::NotFound("API key"))?;
    let now = state.dashboard.clock.now();
    let from = time_param(query.from.as_deref(), "from")?.unwrap_or(key.created_at);
    let to = time_param(query.to.as_deref(), "to")?.unwrap_or(now);
    if from >= to {
        return Err(ApiError::InvalidQuery("from must be before to".into()));
    }
    let cursor = cursor_param(query.cursor.as_deref())?;
    let deleted = chatlogger::key_data::delete_key_data(
        &*state.chats,
        &*state.messages,
        org,
        key_id,
        from..to,
        cursor,
        now,
    )
    .await?;
    tracing::info!(%key_id, chats = deleted.chats_deleted, messages = deleted.messages_deleted, more = deleted.next.is_some(), max_chats = MAX_CHATS_PER_CALL, "deleted what a key logged");
    Ok(Json(deleted.into()))
}
