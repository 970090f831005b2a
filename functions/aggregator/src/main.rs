//! The aggregator Lambda, on the table's DynamoDB stream: the store is
//! built once per container, then each batch goes to
//! `chatlogger::analytics::handle_stream_batch`, which reports partial
//! batch failures.

use std::sync::Arc;

use aws_lambda_events::event::{dynamodb::Event, streams::DynamoDbEventResponse};
use chatlogger::{analytics::handle_stream_batch, aws, config, store::DynamoStore, telemetry};
use lambda_runtime::{Error, LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let aws = aws::Aws::load(aws::Budget::lambda(aws::lambda_timeout::AGGREGATOR)).await?;
    let store = Arc::new(DynamoStore::new(aws.dynamodb(), config::table_name()?));
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Event>| {
        let store = store.clone();
        async move {
            Ok::<DynamoDbEventResponse, Error>(
                handle_stream_batch(&*store, &event.payload.records).await,
            )
        }
    }))
    .await
}
