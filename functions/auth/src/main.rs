//! The auth Lambda: see `chatlogger::http::run_dashboard_lambda`.

use chatlogger_auth::{SignInState, router};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    chatlogger::http::run_dashboard_lambda(|setup| {
        Ok(router(SignInState::new(setup.store, setup.dashboard)))
    })
    .await
}
