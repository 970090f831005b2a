use std::{sync::Arc, time::Duration};

use axum::{Json, extract::State};
use chatlogger::{clock::SharedClock, store::HealthStore};
use serde::Serialize;
use time::OffsetDateTime;
use tokio::sync::Mutex;
use utoipa::ToSchema;

use crate::IngestState;

/// How long the table gets to answer before health reports it down.
const TABLE_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a container reuses its last table check. `/health` has no
/// authentication, so a loop calling it must not cost a DynamoDB call per
/// request: at most one per container every this often.
pub const HEALTH_CHECK_TTL: Duration = Duration::from_secs(5);

#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// `ok`, or `degraded` when the table does not answer.
    pub status: &'static str,
    /// The deployed build's version.
    pub version: &'static str,
    /// Whether DynamoDB answered for the table (checked at most every 5 s).
    pub table: bool,
}

/// The table check, cached for [`HEALTH_CHECK_TTL`]. Requests arriving while
/// a check runs wait for it instead of starting their own.
#[derive(Clone)]
pub struct HealthCheck {
    store: Arc<dyn HealthStore>,
    clock: SharedClock,
    last: Arc<Mutex<Option<(OffsetDateTime, bool)>>>,
}

impl HealthCheck {
    pub fn new(store: Arc<dyn HealthStore>, clock: SharedClock) -> Self {
        Self {
            store,
            clock,
            last: Arc::new(Mutex::new(None)),
        }
    }

    /// Whether the table answers, as last checked at most [`HEALTH_CHECK_TTL`] ago.
    pub async fn table_answers(&self) -> bool {
        let mut last = self.last.lock().await;
        let now = self.clock.now();
        if let Some((at, answered)) = *last
            && at <= now
            && now - at < HEALTH_CHECK_TTL
        {
            return answered;
        }
        // A guard against a hung call, not a reading of the time.
        let answered = matches!(
            tokio::time::timeout(TABLE_TIMEOUT, self.store.ping()).await,
            Ok(Ok(()))
        );
        *last = Some((now, answered));
        answered
    }
}

/// Liveness and table reachability. No authentication.
#[utoipa::path(get, path = "/health", tag = "ingest", responses((status = 200, body = Health)))]
pub async fn health(State(state): State<IngestState>) -> Json<Health> {
    let table = state.health.table_answers().await;
    Json(Health {
        status: if table { "ok" } else { "degraded" },
        version: env!("CARGO_PKG_VERSION"),
        table,
    })
}
