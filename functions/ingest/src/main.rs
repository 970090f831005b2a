//! The ingest Lambda: build the state once per container, then serve.

use std::sync::Arc;

use chatlogger::{aws, config, http, store::DynamoStore, telemetry};
use chatlogger_ingest::{IngestState, router};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    telemetry::init();
    let aws = aws::Aws::load(aws::Budget::lambda(aws::lambda_timeout::HTTP)).await?;
    let store = Arc::new(DynamoStore::new(aws.dynamodb(), config::table_name()?));
    lambda_http::run(http::app(router(IngestState::new(store)))).await
}
