//! The aggregator Lambda, on the table's DynamoDB stream with a tumbling
//! window: the store is built once per container, then each invocation goes
//! to `chatlogger::analytics::handle_window`, which folds it into the
//! window's state and commits the window at its end.

use std::sync::Arc;

use chatlogger::aws_lambda_events::event::dynamodb::{TimeWindowEvent, TimeWindowEventResponse};
use chatlogger::{analytics::handle_window, aws, config, store::DynamoStore, telemetry};
use lambda_runtime::{Error, LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let aws = aws::Aws::load(aws::Budget::lambda(aws::lambda_timeout::AGGREGATOR)).await?;
    let store = Arc::new(DynamoStore::new(aws.dynamodb(), config::table_name()?));
    lambda_runtime::run(service_fn(move |event: LambdaEvent<TimeWindowEvent>| {
        let store = store.clone();
        async move {
            Ok::<TimeWindowEventResponse, Error>(handle_window(&*store, &event.payload).await)
        }
    }))
    .await
}
