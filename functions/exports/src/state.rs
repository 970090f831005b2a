//! The exports function's state, built once per container: the dashboard
//! state (sessions, orgs, CSRF/CORS), the job store, the store the inline
//! export reads, the export queue and the export bucket.

use std::sync::Arc;

use axum::extract::FromRef;
use chatlogger::{
    auth::{AuthState, DashboardState},
    aws, config,
    export::{
        queue::{ExportQueue, SqsExportQueue},
        s3::ExportBucket,
    },
    store::{DashboardStore, DynamoStore, ExportJobStore, ExportReadStore},
};

#[derive(Clone)]
pub struct ExportsState {
    pub dashboard: DashboardState,
    pub jobs: Arc<dyn ExportJobStore>,
    pub reader: Arc<dyn ExportReadStore>,
    pub queue: Arc<dyn ExportQueue>,
    pub bucket: ExportBucket,
}

impl ExportsState {
    pub fn new<S>(
        dashboard: DashboardState,
        store: Arc<S>,
        queue: Arc<dyn ExportQueue>,
        bucket: ExportBucket,
    ) -> Self
    where
        S: DashboardStore + ExportJobStore + ExportReadStore + 'static,
    {
        Self {
            dashboard,
            jobs: store.clone(),
            reader: store,
            queue,
            bucket,
        }
    }

    /// Everything from the environment: `TABLE_NAME`, `JWT_SECRET`,
    /// `DASHBOARD_ORIGINS`, `EXPORT_BUCKET` and `EXPORT_QUEUE_URL`.
    pub async fn from_env() -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        let sdk = aws::load_sdk_config().await;
        let store = Arc::new(DynamoStore::new(aws::dynamodb(&sdk), config::table_name()?));
        let dashboard = DashboardState::from_env(store.clone())?;
        let queue = SqsExportQueue::new(aws::sqs(&sdk), config::required("EXPORT_QUEUE_URL")?);
        let bucket = ExportBucket::new(aws::s3(&sdk), config::required("EXPORT_BUCKET")?);
        Ok(Self::new(dashboard, store, Arc::new(queue), bucket))
    }
}

impl FromRef<ExportsState> for AuthState {
    fn from_ref(state: &ExportsState) -> Self {
        state.dashboard.auth.clone()
    }
}
