//! Org analytics for the dashboard, read from the per-day aggregates the
//! aggregator Lambda keeps (one `Query`, O(days) items; messages are never
//! scanned).
//!
//! | route | handler | needs |
//! |---|---|---|
//! | `GET /analytics/orgs/me/summary` | [`summary`] | `ReadAnalytics` (viewer, admin, superadmin) |
//!
//! A `user` is refused (403): the summary covers the whole org, and a user
//! may only see their own chats. Superadmins may add `?org=<org id>`.

use std::sync::Arc;

use axum::{
    Json, Router,
    extract::{FromRef, State},
};
use chatlogger::{
    domain::{
        OrgId,
        analytics::{DayRange, Summary},
    },
    http::{ApiError, Dashboard, InOrg, need, openapi::DashboardErrors},
    store::AnalyticsStore,
};
use serde::Deserialize;
use utoipa::{IntoParams, OpenApi};
use utoipa_axum::{router::OpenApiRouter, routes};

#[derive(OpenApi)]
#[openapi(tags((name = "analytics", description = "Exact org analytics from per-day aggregates (dashboard)")))]
struct AnalyticsDoc;

/// What the analytics route uses, built once per container.
#[derive(Clone, FromRef)]
pub struct AnalyticsState {
    pub dashboard: Dashboard,
    pub analytics: Arc<dyn AnalyticsStore>,
}

impl AnalyticsState {
    pub fn new<S: AnalyticsStore + 'static>(store: Arc<S>, dashboard: Dashboard) -> Self {
        Self {
            dashboard,
            analytics: store,
        }
    }
}

fn api() -> OpenApiRouter<AnalyticsState> {
    OpenApiRouter::with_openapi(AnalyticsDoc::openapi()).routes(routes!(summary))
}

/// Every analytics route, ready for `chatlogger::http::app`.
pub fn router(state: AnalyticsState) -> Router {
    let dashboard = state.dashboard.clone();
    dashboard.protect(api().split_for_parts().0.with_state(state))
}

/// The OpenAPI paths of this function.
pub fn openapi() -> utoipa::openapi::OpenApi {
    api().split_for_parts().1
}

/// The summary's range: UTC days, both ends included.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SummaryQuery {
    /// First day, `YYYY-MM-DD` (default: 29 days before `to`).
    pub from: Option<String>,
    /// Last day, `YYYY-MM-DD` (default: today, UTC). At most 366 days in all.
    pub to: Option<String>,
    /// Superadmins only: this org instead of their own.
    #[param(value_type = Option<String>)]
    pub org: Option<OrgId>,
}

chatlogger::org_param!(SummaryQuery);

/// The org's figures over a range of days: messages and chats per day
/// (zeros included), messages and tokens by role, latency average and
/// percentiles, the top 10 end users by messages and top 10 tags by chats.
/// Exact, and fresh within seconds of ingest.
#[utoipa::path(
    get,
    path = "/analytics/orgs/me/summary",
    tag = "analytics",
    params(SummaryQuery),
    security(("session_cookie" = [])),
    responses(
        (status = 200, description = "The summary", body = Summary),
        DashboardErrors,
    )
)]
pub async fn summary(
    State(state): State<AnalyticsState>,
    InOrg { org, query, .. }: InOrg<need::ReadAnalytics, SummaryQuery>,
) -> Result<Json<Summary>, ApiError> {
    // The dashboard's clock, which tests set: "today" is a day edge.
    let today = state.dashboard.clock.now().date();
    let range = DayRange::parse(query.from.as_deref(), query.to.as_deref(), today)
        .map_err(|e| ApiError::InvalidQuery(e.0))?;
    let aggregates = state.analytics.aggregates(org, range).await?;
    Ok(Json(Summary::build(org, range, aggregates)))
}
