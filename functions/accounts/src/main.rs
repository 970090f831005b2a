//! The accounts Lambda: see `chatlogger::startup::run_dashboard_lambda`.

use chatlogger::http::AccountsState;
use chatlogger_accounts::router;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    chatlogger::startup::run_dashboard_lambda(chatlogger::aws::lambda_timeout::HTTP, |setup| {
        Ok(router(AccountsState::new(setup.store, setup.dashboard)))
    })
    .await
}
