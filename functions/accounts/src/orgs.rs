//! Orgs: the superadmin's directory, and an org's own settings.

use axum::{Json, extract::State, http::StatusCode};
use chatlogger::{
    accounts,
    auth::Permission,
    domain::{Metadata, Org, OrgName, Slug, limits::OrgLimits},
    http::{
        ApiError, Dashboard, InOrg, JsonBody, OrgQuery, PageQuery, Paged, QueryParams, SignedIn,
        need, openapi::DashboardErrors,
    },
    store::OrgChanges,
};
use serde::Deserialize;
use utoipa::ToSchema;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateOrgRequest {
    /// 2-40 of a-z, 0-9 and '-'; unique; used in the ingest URLs.
    pub slug: Slug,
    /// 1-100 characters.
    pub name: OrgName,
}

/// Create an org (superadmin). Add its first admin with
/// `POST /orgs/me/users?org=<id>`.
#[utoipa::path(
    post,
    path = "/orgs",
    tag = "orgs",
    request_body = CreateOrgRequest,
    security(("session_cookie" = [])),
    responses((status = 201, description = "Created", body = Org), DashboardErrors)
)]
pub async fn create_org(
    State(dashboard): State<Dashboard>,
    _signed_in: SignedIn<need::ManageAllOrgs>,
    JsonBody(request): JsonBody<CreateOrgRequest>,
) -> Result<(StatusCode, Json<Org>), ApiError> {
    let org = accounts::create_org(&*dashboard.orgs, request.slug, request.name).await?;
    tracing::info!(created_org_id = %org.id, "org created");
    Ok((StatusCode::CREATED, Json(org)))
}

/// List every org, oldest first (superadmin).
#[utoipa::path(
    get,
    path = "/orgs",
    tag = "orgs",
    params(PageQuery),
    security(("session_cookie" = [])),
    responses((status = 200, description = "A page of orgs", body = Paged<Org>), DashboardErrors)
)]
pub async fn list_orgs(
    State(dashboard): State<Dashboard>,
    _signed_in: SignedIn<need::ManageAllOrgs>,
    QueryParams(query): QueryParams<PageQuery>,
) -> Result<Json<Paged<Org>>, ApiError> {
    if query.org.is_some() {
        return Err(ApiError::InvalidQuery(
            "org does not apply to this route".into(),
        ));
    }
    let orgs = dashboard.orgs.list_orgs(&query.page()?).await?;
    Ok(Json(Paged::from_page(orgs, |org| org)))
}

/// Your org.
#[utoipa::path(
    get,
    path = "/orgs/me",
    tag = "orgs",
    params(OrgQuery),
    security(("session_cookie" = [])),
    responses((status = 200, description = "The org", body = Org), DashboardErrors)
)]
pub async fn get_org(
    State(dashboard): State<Dashboard>,
    InOrg { org, .. }: InOrg<need::Anyone>,
) -> Result<Json<Org>, ApiError> {
    let org = dashboard
        .orgs
        .org(org)
        .await?
        .ok_or(ApiError::NotFound("org"))?;
    Ok(Json(org))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateOrgRequest {
    /// 1-100 characters.
    pub name: Option<OrgName>,
    /// Replaces the settings: a JSON object of at most 8 KiB.
    pub settings: Option<Metadata>,
    /// Superadmins only (the limits guard the shared service, so they are
    /// the operator's): replaces the org's limits (`rate_limit`,
    /// `concurrent_exports`, `exports_per_day`); each left out takes its
    /// default. Ingest applies a change within 5 seconds.
    pub limits: Option<OrgLimits>,
}

/// Rename the org or replace its settings (admin), or its limits
/// (superadmin: an admin gets 403). The slug never changes.
#[utoipa::path(
    patch,
    path = "/orgs/me",
    tag = "orgs",
    params(OrgQuery),
    request_body = UpdateOrgRequest,
    security(("session_cookie" = [])),
    responses((status = 200, description = "The updated org", body = Org), DashboardErrors)
)]
pub async fn update_org(
    State(dashboard): State<Dashboard>,
    InOrg { org, signed_in, .. }: InOrg<need::ManageOrg>,
    JsonBody(request): JsonBody<UpdateOrgRequest>,
) -> Result<Json<Org>, ApiError> {
    if request.limits.is_some() && !signed_in.may(Permission::ManageAllOrgs) {
        return Err(ApiError::Forbidden);
    }
    let changes = OrgChanges {
        name: request.name,
        settings: request.settings,
        limits: request.limits,
    };
    let org = dashboard
        .orgs
        .update_org(org, &changes)
        .await?
        .ok_or(ApiError::NotFound("org"))?;
    Ok(Json(org))
}
