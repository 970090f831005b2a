use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

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

/// The table check, cached for [`HEALTH_CHECK_TTL`]. After the first,
/// `/health` answers at once from the last check and refreshes a stale one
/// behind the answer (one refresh at a time), so an unauthenticated loop
/// never waits on DynamoDB, nor holds a lock while it answers. The first
/// check of a container is shared by the requests that arrive during it.
#[derive(Clone)]
pub struct HealthCheck {
    store: Arc<dyn HealthStore>,
    clock: SharedClock,
    last: Arc<std::sync::Mutex<Option<(OffsetDateTime, bool)>>>,
    refreshing: Arc<AtomicBool>,
    first: Arc<Mutex<()>>,
}

impl HealthCheck {
    pub fn new(store: Arc<dyn HealthStore>, clock: SharedClock) -> Self {
        Self {
            store,
            clock,
            last: Arc::new(std::sync::Mutex::new(None)),
            refreshing: Arc::new(AtomicBool::new(false)),
            first: Arc::new(Mutex::new(())),
        }
    }

    fn known(&self) -> Option<(OffsetDateTime, bool)> {
        *self.last.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Pings the table, at most [`TABLE_TIMEOUT`], and keeps the answer.
    async fn check(&self, at: OffsetDateTime) -> bool {
        // A guard against a hung call, not a reading of the time.
        let answered = matches!(
            tokio::time::timeout(TABLE_TIMEOUT, self.store.ping()).await,
            Ok(Ok(()))
        );
        *self.last.lock().unwrap_or_else(|p| p.into_inner()) = Some((at, answered));
        answered
    }

    /// Whether the table answered at the last check.
    pub async fn table_answers(&self) -> bool {
        let now = self.clock.now();
        if let Some((at, answered)) = self.known() {
            let fresh = at <= now && now - at < HEALTH_CHECK_TTL;
            if !fresh && !self.refreshing.swap(true, Ordering::SeqCst) {
                let this = self.clone();
                tokio::spawn(async move {
                    this.check(now).await;
                    this.refreshing.store(false, Ordering::SeqCst);
                });
            }
            return answered;
        }
        // The container's first check: nothing to answer from yet.
        let _first = self.first.lock().await;
        match self.known() {
            Some((_, answered)) => answered,
            None => self.check(now).await,
        }
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

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use async_trait::async_trait;
    use chatlogger::{clock::ManualClock, store::StoreResult};
    use time::macros::datetime;

    use super::*;

    /// A table that answers its first ping and hangs on every later one.
    #[derive(Default)]
    struct HangsAfterOne {
        pings: AtomicUsize,
    }

    #[async_trait]
    impl HealthStore for HangsAfterOne {
        async fn ping(&self) -> StoreResult<()> {
            if self.pings.fetch_add(1, Ordering::SeqCst) > 0 {
                std::future::pending::<()>().await;
            }
            Ok(())
        }
    }

    #[tokio::test]
    async fn a_stale_check_answers_at_once_and_refreshes_behind() {
        let store = Arc::new(HangsAfterOne::default());
        let clock = ManualClock::shared(datetime!(2026-11-22 12:00:00 UTC));
        let check = HealthCheck::new(store.clone(), clock.clone());
        assert!(check.table_answers().await, "the first check pings");
        clock.advance(time::Duration::try_from(HEALTH_CHECK_TTL).unwrap());
        // The table now hangs: the answer must not wait for it (a second
        // is half of TABLE_TIMEOUT, which the old check waited).
        for _ in 0..5 {
            let answered =
                tokio::time::timeout(Duration::from_secs(1), check.table_answers()).await;
            assert_eq!(answered, Ok(true), "answered from the last check");
        }
        tokio::task::yield_now().await;
        assert_eq!(
            store.pings.load(Ordering::SeqCst),
            2,
            "one refresh at a time"
        );
    }
}
