//! The local stack: everything `make dev` runs besides moto itself.
//!
//! - [`provision`] creates the table (with its stream), the export bucket and
//!   the queues on the local AWS endpoint, as `template.yaml` defines them;
//! - [`seed`] creates the demo org, admin login and API key on first start;
//! - [`app`] merges every function's router into one service, so all routes
//!   answer on one port through the same handlers Lambda runs;
//! - [`stream`] feeds the table's stream to the analytics aggregator, as
//!   Lambda's event source mapping does on AWS;
//! - [`export_poller`] feeds the export queue to the export worker's handler,
//!   as Lambda's SQS trigger does.

pub mod export_poller;
pub mod provision;
pub mod seed;
pub mod stream;

use std::sync::Arc;

use axum::Router;
use chatlogger::{
    auth::{BrowserPolicy, DashboardState, JwtKeys},
    store::DynamoStore,
};
use chatlogger_exports::ExportsState;
use chatlogger_ingest::IngestState;

/// Every route of every function, on one router. `Router::merge` panics on a
/// duplicate route, so a route claimed by two functions fails at start-up.
pub fn app(
    store: Arc<DynamoStore>,
    keys: JwtKeys,
    browser: BrowserPolicy,
    exports: LocalExports,
) -> Router {
    let cors = browser.cors();
    let dashboard = DashboardState::new(store.clone(), keys, browser);
    let exports_state = ExportsState::new(
        dashboard.clone(),
        store.clone(),
        exports.queue,
        exports.bucket,
    );
    chatlogger::http::app(
        Router::new()
            .merge(chatlogger_ingest::router(IngestState::new(store)))
            .merge(chatlogger_auth::router(dashboard.clone()))
            .merge(chatlogger_accounts::router(dashboard.clone()))
            .merge(chatlogger_apikeys::router(dashboard.clone()))
            .merge(chatlogger_chats::router(dashboard.clone()))
            .merge(chatlogger_analytics::router(dashboard))
            .merge(chatlogger_docs::router())
            .merge(chatlogger_web::router())
            .merge(chatlogger_exports::router(exports_state)),
    )
    .layer(cors)
}

/// The export queue and bucket of the local stack (see [`provision::exports`]).
#[derive(Clone)]
pub struct LocalExports {
    pub queue: Arc<dyn chatlogger::export::queue::ExportQueue>,
    pub bucket: chatlogger::export::s3::ExportBucket,
}

/// The export queue's `maxReceiveCount` in the local stack, as in
/// template.yaml (and `provision` creates the queue with it).
pub const EXPORT_MAX_RECEIVE_COUNT: u32 = 3;
