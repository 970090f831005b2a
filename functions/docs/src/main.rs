//! The docs Lambda: serves the OpenAPI document. Needs no AWS clients.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    chatlogger::telemetry::init();
    lambda_http::run(chatlogger::http::app(chatlogger_docs::router())).await
}
