//! Starting a dashboard Lambda, once per container: tracing, the AWS
//! clients, the DynamoDB store, the dashboard's keys and browser policy,
//! then the function's routes served by `lambda_http`. Kept out of
//! [`crate::http`], which is the HTTP glue the routes run on, wherever they
//! run (Lambda, `cargo lambda watch`, the local all-in-one server).

use std::sync::Arc;

use axum::Router;

use crate::{
    aws::{Aws, Budget},
    config,
    http::Dashboard,
    store::DynamoStore,
    telemetry,
};

/// What a dashboard function's state is built from.
pub struct DashboardSetup {
    pub aws: Aws,
    pub store: Arc<DynamoStore>,
    pub dashboard: Dashboard,
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The `main` of every dashboard Lambda: tracing, then the state once per
/// container (refusing to start without valid JWT keys), then serve
/// the function's routes with the common layers and CORS. `lambda_timeout`
/// is the function's timeout in template.yaml (one of
/// [`crate::aws::lambda_timeout`]): its AWS calls are sized to it.
pub async fn run_dashboard_lambda(
    lambda_timeout: std::time::Duration,
    routes: impl FnOnce(DashboardSetup) -> Result<Router, BoxError>,
) -> Result<(), lambda_http::Error> {
    telemetry::init();
    let aws = Aws::load(Budget::lambda(lambda_timeout)).await?;
    let store = Arc::new(DynamoStore::new(aws.dynamodb(), config::table_name()?));
    let dashboard = Dashboard::load(store.clone(), aws.sdk()).await?;
    let cors = dashboard.browser.cors();
    let routes = routes(DashboardSetup {
        aws,
        store,
        dashboard,
    })?;
    lambda_http::run(crate::http::app(routes).layer(cors)).await
}
