//! `JsonBody<T>`: axum's `Json`, with this API's error mapping. A body is
//! refused before any handler code runs when its content type is not JSON
//! (415), it is too large (413), it is not JSON (400), or it does not fit the
//! request type, whose fields are domain newtypes (422, naming the field).

use axum::{
    extract::{FromRequest, Request},
    http::header::CONTENT_TYPE,
};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use serde::de::DeserializeOwned;

use super::ApiError;

/// Largest request body accepted. Leaves room for 32 KiB of message content
/// even when every character arrives JSON-escaped.
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// A JSON body of at most `MAX` bytes (256 KiB unless a route says more).
pub struct JsonBody<T, const MAX: usize = MAX_BODY_BYTES>(pub T);

impl<S: Send + Sync, T: DeserializeOwned, const MAX: usize> FromRequest<S> for JsonBody<T, MAX> {
    type Rejection = ApiError;

    async fn from_request(request: Request, _state: &S) -> Result<Self, ApiError> {
        if !has_json_content_type(&request) {
            return Err(ApiError::UnsupportedMediaType);
        }
        let bytes = Limited::new(request.into_body(), MAX)
            .collect()
            .await
            .map_err(|error| {
                if error.downcast_ref::<LengthLimitError>().is_some() {
                    ApiError::PayloadTooLarge(MAX)
                } else {
                    ApiError::MalformedJson("the request body could not be read".into())
                }
            })?
            .to_bytes();
        parse(&bytes).map(Self)
    }
}

/// Parses one JSON value (an item of a batch) into `T` with the same
/// classification as a body: 422 naming the field, or 400.
pub fn parse_json<T: DeserializeOwned>(value: serde_json::Value) -> Result<T, ApiError> {
    serde_path_to_error::deserialize(value).map_err(|error| {
        let path = error.path().to_string();
        ApiError::InvalidBody(with_path(&path, without_location(error.inner())))
    })
}

fn has_json_content_type(request: &Request) -> bool {
    let Some(value) = request
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = value
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// Parses a whole JSON document into `T`, classifying failures. Every
/// request body of this API is a JSON object.
pub(crate) fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(
            match serde_json::from_slice::<serde::de::IgnoredAny>(bytes) {
                Ok(_) => ApiError::InvalidBody("the request body must be a JSON object".into()),
                Err(error) => malformed(bytes, &error),
            },
        );
    }
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value: T = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner();
        if inner.is_data() {
            ApiError::InvalidBody(with_path(&path, without_location(&inner)))
        } else {
            malformed(bytes, &inner)
        }
    })?;
    deserializer
        .end()
        .map_err(|error| malformed(bytes, &error))?;
    Ok(value)
}

fn malformed(bytes: &[u8], error: &serde_json::Error) -> ApiError {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        ApiError::MalformedJson("the request body is empty".into())
    } else {
        ApiError::MalformedJson(format!("malformed JSON: {}", without_location(error)))
    }
}

/// serde_json appends " at line L column C": useful, but we keep messages to
/// one clause and point at the field by name instead.
fn without_location(error: &serde_json::Error) -> String {
    let text = error.to_string();
    match text.rfind(" at line ") {
        Some(index) => text[..index].to_owned(),
        None => text,
    }
}

/// Prefixes the field path unless the message already starts with the field's name.
fn with_path(path: &str, message: String) -> String {
    let field = path.rsplit('.').next().unwrap_or(path);
    if path == "." || message.starts_with(field) {
        message
    } else {
        format!("{path}: {message}")
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;
    use crate::domain::ChatTitle;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        title: ChatTitle,
        count: Option<u8>,
    }

    fn code(result: Result<Body, ApiError>) -> (&'static str, String) {
        let error = result.unwrap_err();
        (error.code(), error.to_string())
    }

    #[test]
    fn classifies_syntax_type_and_validation_errors() {
        assert_eq!(code(parse(b"")).0, "malformed_json");
        assert_eq!(code(parse(b"{\"title\": ")).0, "malformed_json");
        assert_eq!(
            code(parse(b"{\"title\": \"a\"} trailing")).0,
            "malformed_json"
        );
        let (c, message) = code(parse(b"{\"title\": \"\"}"));
        assert_eq!(
            (c, message.as_str()),
            ("invalid_body", "title must not be empty")
        );
        let (c, message) = code(parse(b"{\"title\": \"a\", \"count\": -1}"));
        assert_eq!(c, "invalid_body");
        assert!(message.starts_with("count"), "{message}");
        let (c, message) = code(parse(b"{\"title\": \"a\", \"titel\": 1}"));
        assert_eq!(c, "invalid_body");
        assert!(message.contains("unknown field `titel`"), "{message}");
        assert!(parse::<Body>(b" {\"title\": \"a\"} ").is_ok());
        let (c, message) = code(parse(b"[\"a\", 1]"));
        assert_eq!(
            (c, message.as_str()),
            ("invalid_body", "the request body must be a JSON object")
        );
        assert_eq!(code(parse(b"[1, ")).0, "malformed_json");
    }
}
