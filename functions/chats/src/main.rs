//! The chats Lambda: see `chatlogger::http::run_dashboard_lambda`.

use chatlogger_chats::{ChatsState, router};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    chatlogger::http::run_dashboard_lambda(|setup| {
        Ok(router(ChatsState::new(setup.store, setup.dashboard)))
    })
    .await
}
