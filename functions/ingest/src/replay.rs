//! Idempotent creates: the client may send its own id and retry freely.

use axum::{Json, http::StatusCode};
use chatlogger::{http::ApiError, store::Inserted};
use serde::Serialize;

/// 201 for a new item; 200 with the stored item when a retry carries the
/// same id and body; 409 when the id is taken by different content.
pub fn respond<T: Serialize>(
    inserted: Inserted<T>,
    same_request: impl Fn(&T) -> bool,
    what: &str,
) -> Result<(StatusCode, Json<T>), ApiError> {
    match inserted {
        Inserted::Created(item) => Ok((StatusCode::CREATED, Json(item))),
        Inserted::Existing(item) if same_request(&item) => Ok((StatusCode::OK, Json(item))),
        Inserted::Existing(_) => Err(ApiError::Conflict(format!(
            "a {what} with this id already exists with different content"
        ))),
    }
}
