use std::sync::Arc;

use axum::extract::FromRef;
use chatlogger::{
    clock::{self, SharedClock},
    http::ApiKeyVerifier,
    ingest::Ingest,
    limits::RateLimiter,
    lookups::FeedWatch,
    store::{
        ApiKeyStore, ChangeFeedStore, ChatStore, HealthStore, MessageStore, OrgStore, UsageStore,
    },
};

use crate::health::HealthCheck;

/// The ports ingest uses: a store that has them all.
pub trait IngestStore:
    ChatStore
    + MessageStore
    + ApiKeyStore
    + HealthStore
    + OrgStore
    + UsageStore
    + ChangeFeedStore
    + 'static
{
}

impl<S> IngestStore for S where
    S: ChatStore
        + MessageStore
        + ApiKeyStore
        + HealthStore
        + OrgStore
        + UsageStore
        + ChangeFeedStore
        + 'static
{
}

/// Everything the ingest handlers use, built once per container.
#[derive(Clone, FromRef)]
pub struct IngestState {
    pub ingest: Ingest,
    pub health: HealthCheck,
    pub api_keys: ApiKeyVerifier,
    pub limiter: RateLimiter,
    /// The only time ingest reads: cache lifetimes, the change feed's
    /// cadence, rate windows, `last_used_at` and `created_at` stamps.
    pub clock: SharedClock,
}

impl IngestState {
    /// A container on the system clock.
    pub fn new<S: IngestStore>(store: Arc<S>) -> Self {
        Self::with_clock(store, clock::system())
    }

    /// A container that reads the time only from `clock`: several of them
    /// on one manual clock are a simulation of warm containers (each with
    /// its own caches) in simulated time.
    pub fn with_clock<S: IngestStore>(store: Arc<S>, clock: SharedClock) -> Self {
        // One read of the change feed every few seconds serves both the
        // key cache and the org-limits cache.
        let watch = Arc::new(FeedWatch::new(store.clone(), clock.clone()));
        Self {
            ingest: Ingest::with_clock(store.clone(), clock.clone()),
            health: HealthCheck::new(store.clone(), clock.clone()),
            api_keys: ApiKeyVerifier::following(store.clone(), watch.clone()),
            limiter: RateLimiter::following(store, watch),
            clock,
        }
    }
}
