//! The exports Lambda: the state once per container, then serve.

use chatlogger::{http, telemetry};
use chatlogger_exports::{ExportsState, router};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    telemetry::init();
    let state = ExportsState::from_env().await?;
    let cors = state.dashboard.browser.cors();
    lambda_http::run(http::app(router(state)).layer(cors)).await
}
