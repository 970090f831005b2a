//! The export worker: triggered by the export queue (SQS) with
//! `ReportBatchItemFailures`, it runs each message through
//! [`chatlogger::export::worker::ExportWorker::handle`] (the same handler
//! the local server calls with the messages it polls).

use std::sync::Arc;

use chatlogger::{
    adapters::{ExportBucket, SqsExportQueue},
    aws, config,
    export::{ExportReader, worker::ExportWorker},
    store::DynamoStore,
};

/// The queue's `maxReceiveCount` unless `EXPORT_MAX_RECEIVE_COUNT` says
/// otherwise (template.yaml sets both from one place).
pub const DEFAULT_MAX_RECEIVE_COUNT: u32 = 3;

/// The worker from the environment: `TABLE_NAME`, `EXPORT_BUCKET`,
/// `EXPORT_QUEUE_URL` (where a job of an org running its share of exports
/// waits) and `EXPORT_MAX_RECEIVE_COUNT`. Clients are built here, once per container.
pub async fn worker_from_env() -> Result<ExportWorker, Box<dyn std::error::Error + Send + Sync>> {
    let aws = aws::Aws::load(aws::Budget::lambda(aws::lambda_timeout::EXPORT_WORKER)).await?;
    let store = Arc::new(DynamoStore::new(aws.dynamodb(), config::table_name()?));
    let bucket = ExportBucket::new(aws.s3(), config::required("EXPORT_BUCKET")?);
    let queue = SqsExportQueue::new(aws.sqs(), config::required("EXPORT_QUEUE_URL")?);
    let max_receives = match std::env::var("EXPORT_MAX_RECEIVE_COUNT") {
        Ok(raw) => raw.parse().map_err(|_| {
            format!("EXPORT_MAX_RECEIVE_COUNT must be a positive integer, got {raw}")
        })?,
        Err(_) => DEFAULT_MAX_RECEIVE_COUNT,
    };
    Ok(ExportWorker::new(
        store.clone(),
        ExportReader::new(store),
        bucket,
        Arc::new(queue),
        max_receives,
    ))
}
