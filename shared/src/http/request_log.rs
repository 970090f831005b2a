//! One log line per request: request id, method and route, org id and the
//! user or API key (recorded by the auth extractors, so a leaked key's
//! requests can be found), status and duration in milliseconds. Never
//! headers or bodies, so no keys, passwords, tokens or message content reach
//! the logs. On Lambda the line is about 200 bytes (see `crate::telemetry`):
//! it is most of what logging costs.

use std::time::Instant;

use axum::{
    extract::{MatchedPath, Request},
    http::HeaderValue,
    middleware::Next,
    response::Response,
};
use lambda_http::{RequestExt, request::RequestContext};
use tracing::{Instrument, field::Empty};

const REQUEST_ID_HEADER: &str = "x-request-id";

pub async fn log_request(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let path = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("(no route)", |p| p.as_str());
    let route = format!("{} {path}", request.method());
    let request_id = request_id(&request);
    let span = tracing::info_span!(
        "request",
        request_id = %request_id,
        route = %route,
        org_id = Empty,
        user_id = Empty,
        key_id = Empty,
    );
    let mut response = next.run(request).instrument(span.clone()).await;
    // Tenths of a millisecond are enough, and keep the line short.
    let millis = (started.elapsed().as_secs_f64() * 10_000.0).round() / 10.0;
    span.in_scope(|| tracing::info!(status = response.status().as_u16(), ms = millis));
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    response
}

/// On Lambda, API Gateway's request id (which it also returns to the
/// client as `apigw-requestid`; shorter than Lambda's own, which is the
/// fallback); otherwise the caller's `x-request-id` if it is short and
/// printable; otherwise a new ULID.
fn request_id(request: &Request) -> String {
    if let Some(RequestContext::ApiGatewayV2(context)) = request.request_context_ref()
        && let Some(id) = &context.request_id
    {
        return id.clone();
    }
    if let Some(context) = request.lambda_context_ref() {
        return context.request_id.clone();
    }
    request
        .headers()
        .get(REQUEST_ID_HEADER)
        .and_then(|value| value.to_str().ok())
        .filter(|value| {
            !value.is_empty() && value.len() <= 128 && value.bytes().all(|b| b.is_ascii_graphic())
        })
        .map(str::to_owned)
        .unwrap_or_else(|| ulid::Ulid::new().to_string())
}
