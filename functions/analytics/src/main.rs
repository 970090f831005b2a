//! The analytics Lambda: see `chatlogger::startup::run_dashboard_lambda`.

use chatlogger_analytics::{AnalyticsState, router};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    chatlogger::startup::run_dashboard_lambda(chatlogger::aws::lambda_timeout::HTTP, |setup| {
        Ok(router(AnalyticsState::new(setup.store, setup.dashboard)))
    })
    .await
}
