//! CORS for the ingest routes, for browser plugins with a publishable key.
//!
//! A preflight carries no key, so it cannot know which origins the key that
//! follows allows: [`preflight`] answers every origin, for `POST` with the
//! headers ingest reads, without credentials (ingest uses no cookies). The
//! request itself is where the origin is checked: only when a publishable
//! key allows the request's `Origin` does [`plugin_cors`] add
//! `Access-Control-Allow-Origin` for it; any other origin (or a secret key
//! in a browser) is refused with 403 before anything is written, and gets
//! no CORS header, so the page cannot read even that.
//!
//! The dashboard routes never answer these origins: their CORS
//! ([`super::BrowserPolicy`]) allows the dashboard's origins only.

use std::{
    sync::{Arc, OnceLock},
    time::Duration,
};

use axum::{
    extract::Request,
    http::{
        HeaderMap, HeaderValue, Method, StatusCode,
        header::{
            ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS,
            ACCESS_CONTROL_ALLOW_ORIGIN, ACCESS_CONTROL_EXPOSE_HEADERS, ACCESS_CONTROL_MAX_AGE,
            ACCESS_CONTROL_REQUEST_METHOD, ORIGIN, VARY,
        },
    },
    middleware::Next,
    response::{IntoResponse, Response},
};

/// How long a browser may reuse a preflight answer (Chrome caps it at 2 h).
pub const PREFLIGHT_MAX_AGE: Duration = Duration::from_secs(7200);
/// What a plugin's request may carry.
const ALLOWED_HEADERS: &str = "content-type, x-organization-api-key, x-request-id";
/// What a plugin's script may read of a response besides the basics.
const EXPOSED_HEADERS: &str = "retry-after, ratelimit, ratelimit-policy, x-request-id";

/// Set by the API-key extractor when a publishable key allows the request's
/// origin: the origin the response may be shared with.
#[derive(Clone, Default)]
pub(crate) struct CorsGrant(Arc<OnceLock<HeaderValue>>);

impl CorsGrant {
    pub(crate) fn allow(&self, origin: HeaderValue) {
        let _ = self.0.set(origin);
    }
}

/// Middleware of the ingest routes: shares the response with the origin the
/// request's publishable key allowed, if any.
pub async fn plugin_cors(mut request: Request, next: Next) -> Response {
    let grant = CorsGrant::default();
    request.extensions_mut().insert(grant.clone());
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.append(VARY, HeaderValue::from_static("origin"));
    if let Some(origin) = grant.0.get() {
        headers.insert(ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
        headers.insert(
            ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static(EXPOSED_HEADERS),
        );
    }
    response
}

/// The answer to a preflight of an ingest route (`OPTIONS`): any origin may
/// `POST` with the plugin headers; the request itself checks the origin.
/// Anything that is not a preflight gets 204 and no CORS headers.
pub fn preflight(headers: &HeaderMap) -> Response {
    let origin = headers.get(ORIGIN).cloned();
    let asks_post = headers
        .get(ACCESS_CONTROL_REQUEST_METHOD)
        .is_some_and(|method| method == Method::POST.as_str());
    let mut response = StatusCode::NO_CONTENT.into_response();
    let out = response.headers_mut();
    out.insert(
        VARY,
        HeaderValue::from_static("origin, access-control-request-method"),
    );
    if let (Some(origin), true) = (origin, asks_post) {
        out.insert(ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        out.insert(
            ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static("POST"),
        );
        out.insert(
            ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static(ALLOWED_HEADERS),
        );
        out.insert(
            ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from(PREFLIGHT_MAX_AGE.as_secs()),
        );
    }
    response
}
