//! Exports of an org's chats for dashboard users. An export of any size is
//! a job: created here, queued on SQS, written to S3 by the export worker,
//! and downloaded through a short-lived presigned link. Small exports can
//! also be answered inline.
//!
//! Every route needs `Export` (viewer, admin, superadmin):
//!
//! | route | handler |
//! |---|---|
//! | `POST /exports/orgs/me` | [`create_export`] |
//! | `GET /exports/orgs/me` | [`list_exports`] |
//! | `GET /exports/orgs/me/{export_id}` | [`get_export`] |
//! | `GET /exports/orgs/me/{export_id}/download` | [`download_export`] |
//! | `POST /exports/orgs/me/sync` | [`sync_export`] |
//!
//! Not the `user` role: a user sees only their own chats, and an export
//! holds the whole org's. Superadmins may add `?org=<org id>` to export
//! another org.

mod state;

use axum::{
    Json, Router,
    extract::State,
    http::{
        HeaderValue, StatusCode,
        header::{CACHE_CONTROL, CONTENT_DISPOSITION, CONTENT_TYPE, LOCATION},
    },
    response::{IntoResponse, Response},
};
use chatlogger::{
    domain::{
        ExportId, OrgId,
        export::{ExportFilters, ExportFormat, ExportJob, ExportRequest, ExportStatus},
    },
    export::{
        DOWNLOAD_LINK_TTL,
        inline::{InlineBounds, admit_inline_export, export_inline},
    },
    http::{
        ApiError, InOrg, JsonBody, OrgQuery, PageQuery, Paged, PathId, need,
        openapi::DashboardErrors,
    },
};
use utoipa::OpenApi;
use utoipa_axum::{router::OpenApiRouter, routes};

pub use chatlogger::export::inline::{
    INLINE_EXPORT_MAX_BYTES as SYNC_EXPORT_MAX_BYTES,
    INLINE_EXPORT_MAX_READS as SYNC_EXPORT_MAX_READS,
};
pub use state::ExportsState;

/// Who may call the export routes, and the org they act on.
type Exporter<Q = OrgQuery> = InOrg<need::Export, Q>;

#[derive(OpenApi)]
#[openapi(tags((name = "exports", description = "Exports of an org's chats as CSV, JSON or NDJSON (viewers, admins)")))]
struct ExportsDoc;

fn api() -> OpenApiRouter<ExportsState> {
    OpenApiRouter::with_openapi(ExportsDoc::openapi())
        .routes(routes!(create_export, list_exports))
        .routes(routes!(sync_export))
        .routes(routes!(get_export))
        .routes(routes!(download_export))
}

/// Every export route, with the CSRF check, ready for `chatlogger::http::app`
/// (and the CORS layer).
pub fn router(state: ExportsState) -> Router {
    let dashboard = state.dashboard.clone();
    dashboard.protect(api().split_for_parts().0.with_state(state))
}

/// The OpenAPI paths of this function.
pub fn openapi() -> utoipa::openapi::OpenApi {
    api().split_for_parts().1
}

/// The format and filters of an export request, once they agree.
fn accept(request: ExportRequest) -> Result<(ExportFormat, ExportFilters), ApiError> {
    request.filters().map_err(|e| ApiError::InvalidBody(e.0))
}

/// Start an export of the org's chats. The job is queued; poll
/// `GET /exports/orgs/me/{export_id}` until it is `completed`, then download it.
/// 429 (`quota_exceeded`) when the org has its limit of exports queued or
/// running (default 2) or has started its daily limit (default 20).
#[utoipa::path(
    post,
    path = "/exports/orgs/me",
    tag = "exports",
    params(OrgQuery),
    request_body = ExportRequest,
    security(("session_cookie" = [])),
    responses(
        (status = 202, description = "Queued", body = ExportJob),
        (status = 429, description = "`quota_exceeded`: the org has its limit of exports queued or running, or started its daily limit; retry after Retry-After seconds", body = chatlogger::http::ErrorBody),
        DashboardErrors,
    )
)]
pub async fn create_export(
    State(state): State<ExportsState>,
    exporter: Exporter,
    JsonBody(request): JsonBody<ExportRequest>,
) -> Result<(StatusCode, Json<ExportJob>), ApiError> {
    let (format, filters) = accept(request)?;
    let limits = exporter.load_org().await?.limits;
    let now = state.dashboard.clock.now();
    let job = ExportJob::new(format, filters, exporter.signed_in.user.id, now);
    state.starter.start(exporter.org, &limits, &job).await?;
    Ok((StatusCode::ACCEPTED, Json(job)))
}

/// The org's exports, newest first.
#[utoipa::path(
    get,
    path = "/exports/orgs/me",
    tag = "exports",
    params(PageQuery),
    security(("session_cookie" = [])),
    responses(
        (status = 200, description = "A page of export jobs", body = Paged<ExportJob>),
        DashboardErrors,
    )
)]
pub async fn list_exports(
    State(state): State<ExportsState>,
    InOrg { org, query, .. }: Exporter<PageQuery>,
) -> Result<Json<Paged<ExportJob>>, ApiError> {
    let page = query.page()?;
    let jobs = state.jobs.list_export_jobs(org, &page).await?;
    Ok(Json(Paged::from_page(jobs, |job| job)))
}

async fn find_job(state: &ExportsState, org: OrgId, id: ExportId) -> Result<ExportJob, ApiError> {
    state
        .jobs
        .export_job(org, id)
        .await?
        .ok_or(ApiError::NotFound("export"))
}

/// An export's status and progress.
#[utoipa::path(
    get,
    path = "/exports/orgs/me/{export_id}",
    tag = "exports",
    params(("export_id" = ExportId, Path, description = "The export's id"), OrgQuery),
    security(("session_cookie" = [])),
    responses(
        (status = 200, description = "The export job", body = ExportJob),
        DashboardErrors,
    )
)]
pub async fn get_export(
    State(state): State<ExportsState>,
    InOrg { org, .. }: Exporter,
    PathId(export_id): PathId<ExportId>,
) -> Result<Json<ExportJob>, ApiError> {
    Ok(Json(find_job(&state, org, export_id).await?))
}

/// Download a completed export: a redirect to a presigned S3 link that
/// expires after 10 minutes. 409 while the export is not completed.
#[utoipa::path(
    get,
    path = "/exports/orgs/me/{export_id}/download",
    tag = "exports",
    params(("export_id" = ExportId, Path, description = "The export's id"), OrgQuery),
    security(("session_cookie" = [])),
    responses(
        (status = 302, description = "Redirect (`Location`) to the file; the link expires after 10 minutes"),
        DashboardErrors,
    )
)]
pub async fn download_export(
    State(state): State<ExportsState>,
    exporter: Exporter,
    PathId(export_id): PathId<ExportId>,
) -> Result<Response, ApiError> {
    let job = find_job(&state, exporter.org, export_id).await?;
    if job.status != ExportStatus::Completed {
        return Err(ApiError::Conflict(format!(
            "the export is {}; it can be downloaded once it is completed",
            job.status.as_str()
        )));
    }
    let org = exporter.load_org().await?;
    let link = state
        .files
        .download_link(
            &job.object_key(org.id),
            &job.file_name(org.slug.as_str()),
            job.format.content_type(),
        )
        .await
        .map_err(ApiError::internal)?;
    tracing::info!(export_id = %job.id, ttl_secs = DOWNLOAD_LINK_TTL.as_secs(), "download link issued");
    let location = HeaderValue::try_from(link).map_err(ApiError::internal)?;
    Ok((
        StatusCode::FOUND,
        [
            (LOCATION, location),
            (CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
    )
        .into_response())
}

/// Export inline: the file in the response, for exports up to 4 MiB that
/// read at most 20,000 chats and messages. Larger ones answer 413
/// (`export_too_large`), never a truncated file: narrow them (`from`/`to`
/// read only their time range) or use `POST /exports/orgs/me`. Each user
/// may make 10 a minute; past that, 429 (`quota_exceeded`) with Retry-After.
#[utoipa::path(
    post,
    path = "/exports/orgs/me/sync",
    tag = "exports",
    params(OrgQuery),
    request_body = ExportRequest,
    security(("session_cookie" = [])),
    responses(
        (status = 200, description = "The file", content(
            (String = "text/csv"),
            (Vec<chatlogger::export::format::JsonRow> = "application/json"),
            (String = "application/x-ndjson"),
        )),
        (status = 429, description = "`quota_exceeded`: 10 inline exports this minute; retry after Retry-After seconds", body = chatlogger::http::ErrorBody),
        DashboardErrors,
    )
)]
pub async fn sync_export(
    State(state): State<ExportsState>,
    exporter: Exporter,
    JsonBody(request): JsonBody<ExportRequest>,
) -> Result<Response, ApiError> {
    let (format, filters) = accept(request)?;
    let user = exporter.signed_in.user.id;
    let now = state.dashboard.clock.now();
    admit_inline_export(&*state.jobs, exporter.org, user, now).await?;
    let org = exporter.load_org().await?;
    // Named like an async export's file, though nothing is stored.
    let file_name = ExportJob::new(format, filters.clone(), user, now).file_name(org.slug.as_str());
    let file = export_inline(
        state.reader.clone(),
        org.id,
        format,
        filters,
        InlineBounds::SYNC,
    )
    .await?;
    let disposition = HeaderValue::try_from(format!("attachment; filename=\"{file_name}\""))
        .map_err(ApiError::internal)?;
    Ok((
        StatusCode::OK,
        [
            (
                CONTENT_TYPE,
                HeaderValue::from_static(format.content_type()),
            ),
            (CONTENT_DISPOSITION, disposition),
            (CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        file,
    )
        .into_response())
}
