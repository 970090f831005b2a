//! Authentication for chat plugins: the `x-organization-api-key` header.
//!
//! One `GetItem` on the key's SHA-256 resolves it to its org; the answer
//! (found, missing or revoked) is cached in the warm container for at most
//! [`API_KEY_CACHE_TTL`], which is therefore the longest a revoked key keeps
//! working. Every failure is the same 401, so a caller learns nothing about
//! which check failed.

use std::{sync::Arc, time::Duration};

use axum::{
    extract::{FromRef, FromRequestParts, RawPathParams},
    http::request::Parts,
};

use super::ApiError;
use crate::{
    cache::TtlCache,
    domain::{ApiKeyGrant, ApiKeyHash, ApiKeyId, ApiKeySecret, OrgId},
    store::ApiKeyStore,
};

pub const API_KEY_HEADER: &str = "x-organization-api-key";
/// Upper bound on how long a key lookup is reused, and so on revocation delay.
pub const API_KEY_CACHE_TTL: Duration = Duration::from_secs(5);
/// How often a container records a key's `last_used_at`: at most one
/// `UpdateItem` per key per container per this interval, so ingest stays at
/// one write per message in all but one request every few minutes.
pub const API_KEY_LAST_USED_RESOLUTION: Duration = Duration::from_secs(5 * 60);
const CACHE_CAPACITY: usize = 4096;

/// Checks API keys against the store through the per-container cache.
#[derive(Clone)]
pub struct ApiKeyVerifier {
    store: Arc<dyn ApiKeyStore>,
    cache: Arc<TtlCache<ApiKeyHash, Option<ApiKeyGrant>>>,
    /// Keys whose `last_used_at` this container recorded recently.
    recently_touched: Arc<TtlCache<ApiKeyId, ()>>,
}

impl ApiKeyVerifier {
    pub fn new(store: Arc<dyn ApiKeyStore>) -> Self {
        Self::with_ttl(store, API_KEY_CACHE_TTL)
    }

    pub fn with_ttl(store: Arc<dyn ApiKeyStore>, ttl: Duration) -> Self {
        Self {
            store,
            cache: Arc::new(TtlCache::new(ttl, CACHE_CAPACITY)),
            recently_touched: Arc::new(TtlCache::new(API_KEY_LAST_USED_RESOLUTION, CACHE_CAPACITY)),
        }
    }

    /// The key's org, if `raw_key` is a live key of the org named `slug`.
    pub async fn verify(&self, raw_key: Option<&str>, slug: &str) -> Result<OrgApiKey, ApiError> {
        let secret = raw_key
            .and_then(|raw| ApiKeySecret::parse(raw).ok())
            .ok_or(ApiError::Unauthorized)?;
        let hash = secret.hash();
        let grant = match self.cache.get(&hash) {
            Some(cached) => cached,
            None => {
                let fresh = self.store.api_key_grant(&hash).await?;
                self.cache.insert(hash, fresh.clone());
                fresh
            }
        };
        let key = match grant {
            Some(grant) if !grant.revoked && grant.org_slug.as_str() == slug => OrgApiKey {
                org_id: grant.org_id,
                key_id: grant.key_id,
            },
            _ => return Err(ApiError::Unauthorized),
        };
        self.record_use(key).await;
        Ok(key)
    }

    /// Stamps the key's `last_used_at`, once per key per container per
    /// [`API_KEY_LAST_USED_RESOLUTION`]. A failure only costs the stamp.
    async fn record_use(&self, key: OrgApiKey) {
        if self.recently_touched.get(&key.key_id).is_some() {
            return;
        }
        self.recently_touched.insert(key.key_id, ());
        let now = time::OffsetDateTime::now_utc();
        if let Err(error) = self.store.touch_api_key(key.org_id, key.key_id, now).await {
            tracing::warn!(error = %crate::sdk_error::error_chain(&error), key_id = %key.key_id, "could not record the key's last use");
        }
    }
}

/// Extractor: the org whose API key authenticated this request. The org is
/// the one named by the `{slug}` path parameter, and the key must belong to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrgApiKey {
    pub org_id: OrgId,
    pub key_id: ApiKeyId,
}

impl<S> FromRequestParts<S> for OrgApiKey
where
    S: Send + Sync,
    ApiKeyVerifier: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let params = RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|_| {
                ApiError::internal_message("OrgApiKey used on a route without path parameters")
            })?;
        let slug = params
            .iter()
            .find(|(name, _)| *name == "slug")
            .map(|(_, value)| value.to_owned())
            .ok_or_else(|| {
                ApiError::internal_message("OrgApiKey used on a route without {slug}")
            })?;
        let raw_key = parts
            .headers
            .get(API_KEY_HEADER)
            .and_then(|value| value.to_str().ok());
        let verifier = ApiKeyVerifier::from_ref(state);
        let key = verifier.verify(raw_key, &slug).await?;
        tracing::Span::current().record("org_id", tracing::field::display(key.org_id));
        Ok(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        domain::{ApiKey, ApiKeyLabel, Org, OrgName, Slug},
        store::{ApiKeyStore, MemoryStore, OrgStore},
    };

    async fn org_with_key(store: &MemoryStore, slug: &str) -> (Org, ApiKeySecret) {
        let org = Org::new(Slug::parse(slug).unwrap(), OrgName::parse(slug).unwrap());
        store.create_org(&org).await.unwrap();
        let (key, secret) = ApiKey::generate(ApiKeyLabel::parse("test").unwrap());
        store
            .create_api_key(&org, &key, &secret.hash())
            .await
            .unwrap();
        (org, secret)
    }

    #[tokio::test]
    async fn accepts_only_a_live_key_of_the_named_org() {
        let store = Arc::new(MemoryStore::new());
        let (acme, acme_key) = org_with_key(&store, "acme").await;
        let (_, other_key) = org_with_key(&store, "other").await;
        let verifier = ApiKeyVerifier::new(store.clone());

        let ok = verifier
            .verify(Some(acme_key.expose()), "acme")
            .await
            .unwrap();
        assert_eq!(ok.org_id, acme.id);

        let unknown = ApiKeySecret::generate();
        for (key, slug) in [
            (None, "acme"),
            (Some("clk_short"), "acme"),
            (Some(unknown.expose()), "acme"),
            (Some(other_key.expose()), "acme"),
            (Some(acme_key.expose()), "other"),
            (Some(acme_key.expose()), "nope"),
        ] {
            let error = verifier.verify(key, slug).await.unwrap_err();
            assert!(matches!(error, ApiError::Unauthorized), "{key:?} {slug}");
        }
    }

    #[tokio::test]
    async fn revocation_takes_effect_once_the_cache_entry_expires() {
        let store = Arc::new(MemoryStore::new());
        let (acme, secret) = org_with_key(&store, "acme").await;
        let verifier = ApiKeyVerifier::with_ttl(store.clone(), Duration::from_millis(50));
        verifier
            .verify(Some(secret.expose()), "acme")
            .await
            .unwrap();

        // Revoke by re-storing the key's grant as revoked.
        let (mut key, _) = ApiKey::generate(ApiKeyLabel::parse("test").unwrap());
        key.revoked_at = Some(time::OffsetDateTime::now_utc());
        store
            .create_api_key(&acme, &key, &secret.hash())
            .await
            .unwrap();

        assert!(
            verifier.verify(Some(secret.expose()), "acme").await.is_ok(),
            "cached within the TTL"
        );
        tokio::time::sleep(Duration::from_millis(60)).await;
        assert!(
            verifier
                .verify(Some(secret.expose()), "acme")
                .await
                .is_err(),
            "revoked after the TTL"
        );
    }
}
