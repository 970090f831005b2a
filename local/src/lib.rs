//! The local stack: everything `make dev` runs besides moto itself.
//!
//! - [`provision`] creates the table (with its stream), the export bucket and
//!   the queues on the local AWS endpoint, as `template.yaml` defines them;
//! - [`seed`] creates the demo org, admin login and API key on first start;
//! - [`app`] merges every function's router into one service, so all routes
//!   answer on one port through the same handlers Lambda runs;
//! - [`stream`] feeds the table's stream to the analytics aggregator, as
//!   Lambda's event source mapping does on AWS.

pub mod provision;
pub mod seed;
pub mod stream;

use std::sync::Arc;

use axum::Router;
use chatlogger::{
    auth::{BrowserPolicy, DashboardState, JwtKeys},
    store::DynamoStore,
};
use chatlogger_ingest::IngestState;

/// Every route of every function, on one router. `Router::merge` panics on a
/// duplicate route, so a route claimed by two functions fails at start-up.
pub fn app(store: Arc<DynamoStore>, keys: JwtKeys, browser: BrowserPolicy) -> Router {
    let cors = browser.cors();
    let dashboard = DashboardState::new(store.clone(), keys, browser);
    chatlogger::http::app(
        Router::new()
            .merge(chatlogger_ingest::router(IngestState::new(store)))
            .merge(chatlogger_auth::router(dashboard.clone()))
            .merge(chatlogger_accounts::router(dashboard.clone()))
            .merge(chatlogger_apikeys::router(dashboard.clone()))
            .merge(chatlogger_chats::router(dashboard.clone()))
            .merge(chatlogger_analytics::router(dashboard))
            .merge(chatlogger_docs::router()),
    )
    .layer(cors)
}
