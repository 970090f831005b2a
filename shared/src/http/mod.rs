//! HTTP glue shared by every function: the JSON error type (and what every
//! use case's error answers), the JSON body extractor, API-key
//! authentication, the signed-in extractor, CSRF and CORS, the dashboard
//! functions' shared state, per-request logging, and [`app`], which turns
//! the routes of one function (on Lambda) or of all of them (locally) into
//! the service that runs.

mod api_key_auth;
mod browser;
mod client_ip;
pub mod dashboard;
mod error;
mod in_org;
mod json;
pub mod openapi;
mod path;
pub mod plugin_cors;
mod query;
pub mod rate_limit;
mod request_log;
mod signed_in;

use axum::{Router, extract::DefaultBodyLimit, http::Method, http::Uri, response::IntoResponse};
use tower_http::catch_panic::CatchPanicLayer;

// `ChatScope` lives beside the permissions, in the domain; its old path stays.
pub use crate::domain::ChatScope;
pub use api_key_auth::{
    API_KEY_CACHE_TTL, API_KEY_HEADER, API_KEY_LAST_USED_RESOLUTION, ApiKeyVerifier, OrgApiKey,
};
pub use browser::{BrowserPolicy, CSRF_HEADER, InvalidOrigin};
pub use client_ip::ClientIp;
pub use dashboard::{AccountsState, Dashboard};
pub use error::{ApiError, ErrorBody, ErrorDetail};
pub use in_org::{InOrg, OrgParam};
pub use json::{JsonBody, MAX_BODY_BYTES, parse_json};
pub use path::{PathId, PathParam};
pub use query::{OrgQuery, PageQuery, Paged, QueryParams, cursor_param, time_param};
pub use signed_in::{ChatAccess, Need, SignedIn, need};

/// The finished service, for each Lambda `main` and the local all-in-one
/// server: unknown paths and methods get JSON errors too (fallbacks cannot be
/// merged, so function routers leave them to this), and every request, routed
/// or not, gets the common layers: one log line, the body size cap, and a
/// panic guard that answers a JSON 500 instead of dropping the connection.
pub fn app(routes: Router) -> Router {
    routes
        .fallback(|method: Method, uri: Uri| async move {
            ApiError::RouteNotFound {
                method: method.to_string(),
                path: uri.path().to_owned(),
            }
        })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        // Layers wrap what exists when `layer` is called: so, after the fallbacks.
        .layer(axum::middleware::from_fn(request_log::log_request))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(CatchPanicLayer::custom(|_| {
            tracing::error!("handler panicked");
            ApiError::internal_message("handler panicked").into_response()
        }))
}
