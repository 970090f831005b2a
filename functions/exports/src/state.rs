//! The exports function's state, built once per container: the dashboard
//! (sessions, orgs, CSRF/CORS), the job store, what starts an export (on
//! the export queue), what an inline export reads and the export bucket.

use std::sync::Arc;

use axum::extract::FromRef;
use chatlogger::{
    adapters::{ExportBucket, SqsExportQueue},
    config,
    export::{ExportFiles, ExportReader, ExportStarter, queue::ExportQueue},
    http::Dashboard,
    startup::DashboardSetup,
    store::{ChatStore, ExportJobStore, MessageStore},
};

#[derive(Clone, FromRef)]
pub struct ExportsState {
    pub dashboard: Dashboard,
    pub jobs: Arc<dyn ExportJobStore>,
    pub starter: ExportStarter,
    pub reader: ExportReader,
    pub files: Arc<dyn ExportFiles>,
}

impl ExportsState {
    pub fn new<S>(
        store: Arc<S>,
        dashboard: Dashboard,
        queue: Arc<dyn ExportQueue>,
        files: impl ExportFiles + 'static,
    ) -> Self
    where
        S: ExportJobStore + ChatStore + MessageStore + 'static,
    {
        // The quotas' day on the dashboard's clock, which tests set.
        let starter = ExportStarter::with_clock(store.clone(), queue, dashboard.clock.clone());
        Self {
            dashboard,
            jobs: store.clone(),
            starter,
            reader: ExportReader::new(store),
            files: Arc::new(files),
        }
    }

    /// The queue and bucket from the environment (`EXPORT_QUEUE_URL`,
    /// `EXPORT_BUCKET`), the rest from the dashboard set-up.
    pub fn from_setup(
        setup: DashboardSetup,
    ) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        let queue = SqsExportQueue::new(setup.aws.sqs(), config::required("EXPORT_QUEUE_URL")?);
        let bucket = ExportBucket::new(setup.aws.s3(), config::required("EXPORT_BUCKET")?);
        Ok(Self::new(
            setup.store,
            setup.dashboard,
            Arc::new(queue),
            bucket,
        ))
    }
}
