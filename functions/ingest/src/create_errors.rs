//! The error answers shared by the create routes, declared once for the
//! OpenAPI document.

use std::collections::BTreeMap;

use chatlogger::http::openapi::error_responses;
use utoipa::{
    IntoResponses,
    openapi::{RefOr, Response},
};

/// 400, 401, 403, 409, 413, 415, 422, 429 and 503, each with the `ErrorBody` schema.
pub struct CreateErrors;

impl IntoResponses for CreateErrors {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        error_responses(&[
            ("400", "Malformed JSON or path parameter"),
            (
                "401",
                "Missing, malformed, unknown, revoked or other-org API key",
            ),
            (
                "403",
                "`origin_not_allowed`: a secret key sent by a browser, or a publishable key from an origin it does not allow",
            ),
            ("409", "The id is taken by different content"),
            ("413", "Body over 256 KiB (a batch: over 1 MiB)"),
            ("415", "Content-Type is not JSON"),
            ("422", "A field is invalid; the message names it"),
            (
                "429",
                "`rate_limited`: over the org's or the key's rate; nothing was written. Retry after `Retry-After` seconds (see `RateLimit` and `RateLimit-Policy`)",
            ),
            (
                "503",
                "DynamoDB is throttling; retry with the same id after Retry-After seconds",
            ),
        ])
    }
}
