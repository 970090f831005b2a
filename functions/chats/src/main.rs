//! The chats Lambda: see `chatlogger::startup::run_dashboard_lambda`.

use chatlogger_chats::{ChatsState, router};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    chatlogger::startup::run_dashboard_lambda(chatlogger::aws::lambda_timeout::HTTP, |setup| {
        Ok(router(ChatsState::new(setup.store, setup.dashboard)))
    })
    .await
}
