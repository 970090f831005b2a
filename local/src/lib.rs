//! The local stack: everything `make dev` runs besides moto itself.
//!
//! - [`provision`] creates the table (with its stream), the export bucket and
//!   the queues on the local AWS endpoint, as `template.yaml` defines them;
//! - [`seed`] creates the demo org, admin login and API key on first start;
//! - [`app`] merges every function's router into one service, so all routes
//!   answer on one port through the same handlers Lambda runs;
//! - [`aggregator`] runs the analytics aggregator's reader on the table's
//!   stream, round after round, as the scheduled function does on AWS;
//! - [`export_poller`] feeds the export queue to the export worker's handler,
//!   as Lambda's SQS trigger does;
//! - [`read_meter`] bills what DynamoDB reads would cost, and [`bulk`]
//!   writes many items at once, for the benches and tests that run against
//!   moto.

pub mod aggregator;
pub mod bulk;
pub mod export_poller;
pub mod provision;
pub mod read_meter;
pub mod seed;

use std::sync::Arc;

use axum::{Router, extract::Request};
use chatlogger::{
    auth::JwtKeyring,
    http::{AccountsState, BrowserPolicy, Dashboard},
    store::DynamoStore,
};
use chatlogger_analytics::AnalyticsState;
use chatlogger_apikeys::ApiKeysState;
use chatlogger_chats::ChatsState;
use chatlogger_exports::ExportsState;
use chatlogger_ingest::IngestState;
use tower::ServiceExt;

/// The plugin API's paths: they answer CORS themselves (for publishable
/// keys' origins), as on AWS, where they are on an HTTP API of their own.
pub const PLUGIN_PATHS: &str = "/api/";

/// Every route of every function, on one router. `Router::merge` panics on a
/// duplicate route, so a route claimed by two functions fails at start-up.
/// The dashboard's CORS wraps every path but the plugin API's.
pub fn app(
    store: Arc<DynamoStore>,
    keys: impl Into<JwtKeyring>,
    browser: BrowserPolicy,
    exports: LocalExports,
) -> Router {
    app_with_clock(store, keys, browser, exports, chatlogger::clock::system())
}

/// [`app`] with the dashboard's time counted by `clock` (tests).
pub fn app_with_clock(
    store: Arc<DynamoStore>,
    keys: impl Into<JwtKeyring>,
    browser: BrowserPolicy,
    exports: LocalExports,
    clock: chatlogger::clock::SharedClock,
) -> Router {
    let cors = browser.cors();
    let dashboard = Dashboard::new(store.clone(), keys, browser).with_clock(clock);
    let routes = function_routers(store, dashboard, exports)
        .into_iter()
        .fold(Router::new(), |all, (_, routes)| all.merge(routes));
    let plain = chatlogger::http::app(routes);
    let with_cors = plain.clone().layer(cors);
    Router::new().fallback_service(tower::service_fn(move |request: Request| {
        let router = if request.uri().path().starts_with(PLUGIN_PATHS) {
            plain.clone()
        } else {
            with_cors.clone()
        };
        router.oneshot(request)
    }))
}

/// Every HTTP function's routes, by the name of its binary, each built as
/// its Lambda builds it. A new function is added here (and to
/// `chatlogger_docs::function_documents`); `tests/tests/drift/routes.rs`
/// checks both lists against template.yaml and the watch router.
pub fn function_routers(
    store: Arc<DynamoStore>,
    dashboard: Dashboard,
    exports: LocalExports,
) -> Vec<(&'static str, Router)> {
    let (s, d) = (|| store.clone(), || dashboard.clone());
    vec![
        // The dashboard's clock: tests set one clock for the whole stack.
        (
            "ingest",
            chatlogger_ingest::router(IngestState::with_clock(s(), dashboard.clock.clone())),
        ),
        (
            "auth",
            chatlogger_auth::router(AccountsState::new(s(), d())),
        ),
        (
            "accounts",
            chatlogger_accounts::router(AccountsState::new(s(), d())),
        ),
        (
            "apikeys",
            chatlogger_apikeys::router(ApiKeysState::new(s(), d())),
        ),
        ("chats", chatlogger_chats::router(ChatsState::new(s(), d()))),
        (
            "analytics",
            chatlogger_analytics::router(AnalyticsState::new(s(), d())),
        ),
        (
            "exports",
            chatlogger_exports::router(ExportsState::new(s(), d(), exports.queue, exports.bucket)),
        ),
        ("docs", chatlogger_docs::router()),
        ("web", chatlogger_web::router()),
    ]
}

/// `GET /local/health`: the local stack's own health, beside the functions'
/// `/health`: how far the analytics aggregator is behind, and why it last failed.
pub fn local_health(aggregator: Arc<std::sync::Mutex<aggregator::AggregatorStatus>>) -> Router {
    Router::new().route(
        "/local/health",
        axum::routing::get(move || {
            let status = aggregator.lock().unwrap_or_else(|p| p.into_inner()).clone();
            async move { axum::Json(serde_json::json!({ "aggregator": status })) }
        }),
    )
}

/// The export queue and bucket of the local stack (see [`provision::exports`]).
#[derive(Clone)]
pub struct LocalExports {
    pub queue: Arc<dyn chatlogger::export::queue::ExportQueue>,
    pub bucket: chatlogger::adapters::ExportBucket,
}

/// The export queue's `maxReceiveCount` in the local stack, as in
/// template.yaml (and `provision` creates the queue with it).
pub const EXPORT_MAX_RECEIVE_COUNT: u32 = 3;
