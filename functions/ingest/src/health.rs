use std::time::Duration;

use axum::{Json, extract::State};
use serde::Serialize;
use utoipa::ToSchema;

use crate::IngestState;

/// How long the table gets to answer before health reports it down.
const TABLE_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// `ok`, or `degraded` when the table does not answer.
    pub status: &'static str,
    /// The deployed build's version.
    pub version: &'static str,
    /// Whether DynamoDB answered for the table.
    pub table: bool,
}

/// Liveness and table reachability. No authentication.
#[utoipa::path(get, path = "/health", tag = "ingest", responses((status = 200, body = Health)))]
pub async fn health(State(state): State<IngestState>) -> Json<Health> {
    let table = matches!(
        tokio::time::timeout(TABLE_TIMEOUT, state.health.ping()).await,
        Ok(Ok(()))
    );
    Json(Health {
        status: if table { "ok" } else { "degraded" },
        version: env!("CARGO_PKG_VERSION"),
        table,
    })
}
