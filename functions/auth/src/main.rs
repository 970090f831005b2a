//! The auth Lambda: build the state once per container, then serve. Refuses
//! to start without a valid JWT_SECRET.

use std::sync::Arc;

use chatlogger::{auth::DashboardState, aws, config, http, store::DynamoStore, telemetry};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    telemetry::init();
    let sdk = aws::load_sdk_config().await;
    let store = Arc::new(DynamoStore::new(aws::dynamodb(&sdk), config::table_name()?));
    let state = DashboardState::from_env(store)?;
    let cors = state.browser.cors();
    lambda_http::run(http::app(chatlogger_auth::router(state)).layer(cors)).await
}
