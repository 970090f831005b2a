//! The exports Lambda: see `chatlogger::startup::run_dashboard_lambda`.

use chatlogger_exports::{ExportsState, router};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    chatlogger::startup::run_dashboard_lambda(chatlogger::aws::lambda_timeout::EXPORTS, |setup| {
        Ok(router(ExportsState::from_setup(setup)?))
    })
    .await
}
