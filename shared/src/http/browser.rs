//! What cookie-authenticated routes need in a browser: CSRF protection and
//! CORS for the dashboard's origins.
//!
//! **CSRF.** Every state-changing request (anything but GET, HEAD and
//! OPTIONS) must carry the header [`CSRF_HEADER`]` : 1`, and must not be
//! marked `Sec-Fetch-Site: cross-site` by the browser. A page on another
//! site cannot add a custom header without a CORS preflight, which only the
//! configured dashboard origins pass; and `SameSite=Strict` cookies already
//! stay home. Two independent defences, so one misconfiguration is not a
//! hole. Rejections are 403 `csrf_rejected` and change nothing.
//!
//! **CORS.** Only the origins in `DASHBOARD_ORIGINS` (comma-separated, e.g.
//! `https://app.example.com`) may call with credentials. On AWS, API Gateway
//! answers preflights from the same list (see template.yaml); locally this
//! layer does.

use axum::{
    Router,
    extract::Request,
    http::{HeaderName, HeaderValue, Method, header},
    middleware::{self, Next},
    response::{IntoResponse, Response},
};
use tower_http::cors::{AllowOrigin, CorsLayer};

use super::ApiError;

pub const CSRF_HEADER: &str = "x-csrf-protection";
/// The environment variable listing the dashboard origins.
pub const ORIGINS_VARIABLE: &str = "DASHBOARD_ORIGINS";
/// How long browsers may cache a preflight answer.
const PREFLIGHT_MAX_AGE: std::time::Duration = std::time::Duration::from_secs(600);

#[derive(Debug, thiserror::Error)]
#[error("{ORIGINS_VARIABLE}: '{0}' is not an origin like https://app.example.com")]
pub struct InvalidOrigin(String);

/// The browser-facing rules of the dashboard routes.
#[derive(Debug, Clone, Default)]
pub struct BrowserPolicy {
    origins: Vec<HeaderValue>,
}

impl BrowserPolicy {
    /// Parses a comma-separated origin list (empty: no cross-origin caller).
    pub fn new(origins: &str) -> Result<Self, InvalidOrigin> {
        let origins = origins
            .split(',')
            .map(str::trim)
            .filter(|origin| !origin.is_empty())
            .map(|origin| {
                let (scheme, host) = origin
                    .split_once("://")
                    .ok_or_else(|| InvalidOrigin(origin.into()))?;
                let valid = matches!(scheme, "https" | "http")
                    && !host.is_empty()
                    && !host.contains(['/', '*', '?', '#', ' ']);
                if !valid {
                    return Err(InvalidOrigin(origin.into()));
                }
                HeaderValue::from_str(origin).map_err(|_| InvalidOrigin(origin.into()))
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { origins })
    }

    pub fn from_env() -> Result<Self, InvalidOrigin> {
        Self::new(&std::env::var(ORIGINS_VARIABLE).unwrap_or_default())
    }

    /// Wraps a dashboard function's routes in the CSRF check.
    pub fn protect(&self, routes: Router) -> Router {
        routes.layer(middleware::from_fn(require_csrf_header))
    }

    /// CORS for the dashboard origins. It wraps the whole service (after
    /// `chatlogger::http::app`), because a preflight `OPTIONS` has no route
    /// of its own and would otherwise meet the 405 fallback.
    pub fn cors(&self) -> CorsLayer {
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(self.origins.clone()))
            .allow_credentials(true)
            .allow_methods([Method::GET, Method::POST, Method::PATCH, Method::DELETE])
            .allow_headers([
                header::CONTENT_TYPE,
                HeaderName::from_static(CSRF_HEADER),
                HeaderName::from_static("x-request-id"),
            ])
            .max_age(PREFLIGHT_MAX_AGE)
    }
}

async fn require_csrf_header(request: Request, next: Next) -> Response {
    let safe = matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    );
    if !safe {
        let headers = request.headers();
        let has_header = headers.get(CSRF_HEADER).is_some_and(|value| value == "1");
        let cross_site = headers
            .get("sec-fetch-site")
            .is_some_and(|value| value == "cross-site");
        if !has_header || cross_site {
            return ApiError::CsrfRejected.into_response();
        }
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_must_be_plain_origins() {
        let policy =
            BrowserPolicy::new(" https://app.example.com, http://localhost:5173 ,").unwrap();
        assert_eq!(policy.origins.len(), 2);
        for bad in [
            "*",
            "app.example.com",
            "https://*.example.com",
            "https://a.com/path",
            "ftp://a.com",
        ] {
            assert!(BrowserPolicy::new(bad).is_err(), "{bad}");
        }
        assert!(BrowserPolicy::new("").unwrap().origins.is_empty());
    }
}
