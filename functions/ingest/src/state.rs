use std::{sync::Arc, time::Duration};

use axum::extract::FromRef;
use chatlogger::{
    cache::TtlCache,
    domain::{ChatId, OrgId},
    http::ApiKeyVerifier,
    store::{ChatStore, HealthStore, MessageStore, Store},
};

/// How long this container trusts that a chat it created or verified still
/// exists. Within it, a message costs one conditional `PutItem`; after it,
/// the next message re-checks the chat inside its (single) write.
pub const KNOWN_CHAT_TTL: Duration = Duration::from_secs(60);
const KNOWN_CHAT_CAPACITY: usize = 16_384;

/// Everything the ingest handlers use, built once per container.
#[derive(Clone)]
pub struct IngestState {
    pub chats: Arc<dyn ChatStore>,
    pub messages: Arc<dyn MessageStore>,
    pub health: Arc<dyn HealthStore>,
    pub api_keys: ApiKeyVerifier,
    pub known_chats: Arc<TtlCache<(OrgId, ChatId), ()>>,
}

impl IngestState {
    pub fn new<S: Store + 'static>(store: Arc<S>) -> Self {
        Self {
            chats: store.clone(),
            messages: store.clone(),
            health: store.clone(),
            api_keys: ApiKeyVerifier::new(store),
            known_chats: Arc::new(TtlCache::new(KNOWN_CHAT_TTL, KNOWN_CHAT_CAPACITY)),
        }
    }
}

impl FromRef<IngestState> for ApiKeyVerifier {
    fn from_ref(state: &IngestState) -> Self {
        state.api_keys.clone()
    }
}
