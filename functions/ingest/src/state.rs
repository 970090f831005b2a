use std::sync::Arc;

use axum::extract::FromRef;
use chatlogger::{
    http::ApiKeyVerifier,
    ingest::Ingest,
    limits::RateLimiter,
    store::{ApiKeyStore, ChatStore, HealthStore, MessageStore, OrgStore, UsageStore},
};

use crate::health::HealthCheck;

/// Everything the ingest handlers use, built once per container.
#[derive(Clone, FromRef)]
pub struct IngestState {
    pub ingest: Ingest,
    pub health: HealthCheck,
    pub api_keys: ApiKeyVerifier,
    pub limiter: RateLimiter,
}

impl IngestState {
    pub fn new<S>(store: Arc<S>) -> Self
    where
        S: ChatStore + MessageStore + ApiKeyStore + HealthStore + OrgStore + UsageStore + 'static,
    {
        Self {
            ingest: Ingest::new(store.clone()),
            health: HealthCheck::new(store.clone()),
            api_keys: ApiKeyVerifier::new(store.clone()),
            limiter: RateLimiter::new(store),
        }
    }
}
