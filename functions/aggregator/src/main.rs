//! The aggregator Lambda, invoked every minute by a schedule: the invocation
//! that holds the lease reads the table's whole stream until shortly before
//! its own timeout, committing each org's aggregates on its cadence
//! (`chatlogger::analytics::reader`); the others return at once, or wait
//! to take over from a reader about to hand over. Clients are built once
//! per container.

use std::{sync::Arc, time::Duration};

use chatlogger::{
    analytics::{Invocation, ReaderConfig, run_invocation},
    aws, clock, config,
    store::{DynamoStore, DynamoStream},
    telemetry,
};
use lambda_runtime::{Error, LambdaEvent, service_fn};
use time::OffsetDateTime;

/// Time left for the last round and the hand-over before Lambda's timeout.
const MARGIN: time::Duration = time::Duration::seconds(60);

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let aws = aws::Aws::load(aws::Budget::lambda(aws::lambda_timeout::AGGREGATOR)).await?;
    let store = Arc::new(DynamoStore::new(aws.dynamodb(), config::table_name()?));
    let stream = Arc::new(DynamoStream::new(
        aws.dynamodb_streams(),
        config::stream_arn()?,
    ));
    lambda_runtime::run(service_fn(move |event: LambdaEvent<serde_json::Value>| {
        let (store, stream) = (store.clone(), stream.clone());
        async move {
            let deadline = OffsetDateTime::from_unix_timestamp_nanos(
                i128::from(event.context.deadline) * 1_000_000,
            )?;
            let outcome = run_invocation(
                store,
                stream,
                clock::system(),
                ReaderConfig::DEFAULT,
                deadline - MARGIN,
                |wait: Duration| tokio::time::sleep(wait),
            )
            .await?;
            Ok::<_, Error>(match outcome {
                Invocation::Ran => "ran".to_owned(),
                Invocation::Busy(lease) => format!("run {} is reading", lease.run),
            })
        }
    }))
    .await
}
