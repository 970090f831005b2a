//! The web Lambda: serves the dashboard's pages and assets, embedded in this
//! binary. Needs no AWS clients: the pages call the API's own routes.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    chatlogger::telemetry::init();
    lambda_http::run(chatlogger::http::app(chatlogger_web::router())).await
}
