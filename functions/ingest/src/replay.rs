//! Idempotent creates: the client may send its own id and retry freely.

use axum::{Json, http::StatusCode};
use chatlogger::ingest::Logged;

/// 201 for a new item; 200 with the stored item when a retry carries the
/// same id and body (a conflicting reuse of the id is an error before this).
pub fn respond<T>(logged: Logged<T>) -> (StatusCode, Json<T>) {
    match logged {
        Logged::Created(item) => (StatusCode::CREATED, Json(item)),
        Logged::Replayed(item) => (StatusCode::OK, Json(item)),
    }
}
