//! The error answers shared by the create routes, declared once for the
//! OpenAPI document.

use std::collections::BTreeMap;

use utoipa::{
    IntoResponses,
    openapi::{ContentBuilder, Ref, RefOr, Response, ResponseBuilder},
};

/// 400, 401, 409, 413, 415, 422 and 503, each with the `ErrorBody` schema.
pub struct CreateErrors;

impl IntoResponses for CreateErrors {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        [
            ("400", "Malformed JSON or path parameter"),
            (
                "401",
                "Missing, malformed, unknown, revoked or other-org API key",
            ),
            ("409", "The id is taken by different content"),
            ("413", "Body over 256 KiB"),
            ("415", "Content-Type is not JSON"),
            ("422", "A field is invalid; the message names it"),
            (
                "503",
                "DynamoDB is throttling; retry with the same id after Retry-After seconds",
            ),
        ]
        .into_iter()
        .map(|(status, description)| (status.to_owned(), error_response(description)))
        .collect()
    }
}

fn error_response(description: &str) -> RefOr<Response> {
    let content = ContentBuilder::new()
        .schema(Some(Ref::from_schema_name("ErrorBody")))
        .build();
    ResponseBuilder::new()
        .description(description)
        .content("application/json", content)
        .build()
        .into()
}
