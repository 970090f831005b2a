//! The sweeper Lambda, on a schedule (template.yaml: every 5 minutes): the
//! store is built once per container, then each invocation runs
//! `chatlogger::sweep::sweep_deleted_chats`. A run with failed sweeps
//! returns an error, so the function's error alarm fires; their tickets
//! stay for the next run.

use std::sync::Arc;

use chatlogger::{
    aws, config,
    store::DynamoStore,
    sweep::{SweepReport, sweep_deleted_chats},
    telemetry,
};
use lambda_runtime::{Error, LambdaEvent, service_fn};
use time::OffsetDateTime;

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let aws = aws::Aws::load(aws::Budget::lambda(aws::lambda_timeout::SWEEPER)).await?;
    let store = Arc::new(DynamoStore::new(aws.dynamodb(), config::table_name()?));
    // The scheduled event carries nothing the sweep needs.
    lambda_runtime::run(service_fn(move |_: LambdaEvent<serde_json::Value>| {
        let store = store.clone();
        async move {
            let report: SweepReport =
                sweep_deleted_chats(&*store, OffsetDateTime::now_utc()).await?;
            Ok::<SweepReport, Error>(report)
        }
    }))
    .await
}
