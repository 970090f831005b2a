//! The chats Lambda: see `chatlogger::auth::run_lambda`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    chatlogger::auth::run_lambda(chatlogger_chats::router).await
}
