//! Authentication for chat plugins: the `x-organization-api-key` header.
//!
//! One `GetItem` on the key's SHA-256 resolves it to its org, kind and
//! settings; the answer is cached in the warm container for at most
//! [`API_KEY_CACHE_TTL`], which is therefore the longest a revoked key (or
//! an old setting) keeps working. Unknown keys are remembered as unknown for
//! as long, in a cache of their own, so a flood of random keys costs one
//! read per distinct key and cannot push live keys out. Every failure is
//! the same 401, so a caller learns nothing about which check failed.
//!
//! Browsers: a request with an `Origin` header comes from a browser. A
//! secret key is refused there (403) before it is even looked up; a
//! publishable key is accepted only from one of its allowed origins, and the
//! response then carries CORS headers for that origin (see [`super::plugin_cors`]).

use std::{sync::Arc, time::Duration};

use axum::{
    extract::{FromRef, FromRequestParts, RawPathParams},
    http::{HeaderValue, header::ORIGIN, request::Parts},
};

use super::{ApiError, plugin_cors::CorsGrant};
use crate::{
    cache::TtlCache,
    domain::{ApiKeyGrant, ApiKeyHash, ApiKeyId, ApiKeyKind, ApiKeySecret, ApiKeySettings, OrgId},
    limits::Caller,
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
/// Unknown keys remembered per container (least recently seen go first).
const UNKNOWN_CAPACITY: usize = 1024;

/// Checks API keys against the store through the per-container caches.
#[derive(Clone)]
pub struct ApiKeyVerifier {
    store: Arc<dyn ApiKeyStore>,
    known: Arc<TtlCache<ApiKeyHash, ApiKeyGrant>>,
    unknown: Arc<TtlCache<ApiKeyHash, ()>>,
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
            known: Arc::new(TtlCache::new(ttl, CACHE_CAPACITY)),
            unknown: Arc::new(TtlCache::new(ttl, UNKNOWN_CAPACITY)),
            recently_touched: Arc::new(TtlCache::new(API_KEY_LAST_USED_RESOLUTION, CACHE_CAPACITY)),
        }
    }

    /// The grant of a key hash: cached, negatively too.
    async fn grant(&self, hash: ApiKeyHash) -> Result<Option<ApiKeyGrant>, ApiError> {
        if let Some(grant) = self.known.get(&hash) {
            return Ok(Some(grant));
        }
        if self.unknown.get(&hash).is_some() {
            return Ok(None);
        }
        let fresh = self.store.api_key_grant(&hash).await?;
        match &fresh {
            Some(grant) => self.known.insert(hash, grant.clone()),
            None => self.unknown.insert(hash, ()),
        }
        Ok(fresh)
    }

    /// The key, if `raw_key` is a live key of the org named `slug` that may
    /// be used from `origin` (the request's `Origin` header, if any).
    pub async fn verify(
        &self,
        raw_key: Option<&str>,
        slug: &str,
        origin: Option<&str>,
    ) -> Result<OrgApiKey, ApiError> {
        let secret = raw_key
            .and_then(|raw| ApiKeySecret::parse(raw).ok())
            .ok_or(ApiError::Unauthorized)?;
        if secret.kind() == ApiKeyKind::Secret && origin.is_some() {
            return Err(ApiError::OriginNotAllowed(
                "secret keys (clk_) must never be used from a browser: use a publishable key (clp_) that allows this origin".into(),
            ));
        }
        let grant = match self.grant(secret.hash()).await? {
            Some(grant)
                if !grant.revoked
                    && grant.org_slug.as_str() == slug
                    && grant.kind == secret.kind() =>
            {
                grant
            }
            _ => return Err(ApiError::Unauthorized),
        };
        if grant.kind == ApiKeyKind::Publishable
            && !origin.is_some_and(|origin| grant.settings.allows_origin(origin))
        {
            return Err(ApiError::OriginNotAllowed(
                "this publishable key is only accepted from its allowed origins".into(),
            ));
        }
        let key = OrgApiKey {
            org_id: grant.org_id,
            key_id: grant.key_id,
            kind: grant.kind,
            settings: Arc::new(grant.settings),
        };
        self.record_use(key.org_id, key.key_id).await;
        Ok(key)
    }

    /// Stamps the key's `last_used_at`, once per key per container per
    /// [`API_KEY_LAST_USED_RESOLUTION`]. A failure only costs the stamp.
    async fn record_use(&self, org: OrgId, key: ApiKeyId) {
        if self.recently_touched.get(&key).is_some() {
            return;
        }
        self.recently_touched.insert(key, ());
        let now = time::OffsetDateTime::now_utc();
        if let Err(error) = self.store.touch_api_key(org, key, now).await {
            tracing::warn!(error = %crate::sdk_error::error_chain(&error), key_id = %key, "could not record the key's last use");
        }
    }
}

/// Extractor: the API key that authenticated this request. The org is the
/// one named by the `{slug}` path parameter, and the key must belong to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrgApiKey {
    pub org_id: OrgId,
    pub key_id: ApiKeyId,
    pub kind: ApiKeyKind,
    /// The key's restrictions and rate, as of the cached lookup.
    pub settings: Arc<ApiKeySettings>,
}

impl OrgApiKey {
    /// Who the rate limiter counts this request against.
    pub fn caller(&self) -> Caller {
        Caller {
            org: self.org_id,
            key: self.key_id,
            key_rate: self.settings.rate(self.kind),
        }
    }
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
        // A header that is not text is still a browser's: it is never allowed.
        let origin: Option<&HeaderValue> = parts.headers.get(ORIGIN);
        let origin_text = origin.map(|value| value.to_str().unwrap_or("\u{fffd}"));
        let verifier = ApiKeyVerifier::from_ref(state);
        let key = verifier.verify(raw_key, &slug, origin_text).await?;
        tracing::Span::current().record("org_id", tracing::field::display(key.org_id));
        if let (ApiKeyKind::Publishable, Some(origin)) = (key.kind, origin)
            && let Some(grant) = parts.extensions.get::<CorsGrant>()
        {
            grant.allow(origin.clone());
        }
        Ok(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        domain::{ApiKey, ApiKeyLabel, Org, OrgName, Slug},
        store::{MemoryStore, OrgStore},
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
            .verify(Some(acme_key.expose()), "acme", None)
            .await
            .unwrap();
        assert_eq!(ok.org_id, acme.id);

        let unknown = ApiKeySecret::generate(ApiKeyKind::Secret);
        for (key, slug) in [
            (None, "acme"),
            (Some("clk_short"), "acme"),
            (Some(unknown.expose()), "acme"),
            (Some(other_key.expose()), "acme"),
            (Some(acme_key.expose()), "other"),
            (Some(acme_key.expose()), "nope"),
        ] {
            let error = verifier.verify(key, slug, None).await.unwrap_err();
            assert!(matches!(error, ApiError::Unauthorized), "{key:?} {slug}");
        }
    }

    #[tokio::test]
    async fn revocation_takes_effect_once_the_cache_entry_expires() {
        let store = Arc::new(MemoryStore::new());
        let (acme, secret) = org_with_key(&store, "acme").await;
        let verifier = ApiKeyVerifier::with_ttl(store.clone(), Duration::from_millis(50));
        verifier
            .verify(Some(secret.expose()), "acme", None)
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
            verifier
                .verify(Some(secret.expose()), "acme", None)
                .await
                .is_ok(),
            "cached within the TTL"
        );
        tokio::time::sleep(Duration::from_millis(60)).await;
        assert!(
            verifier
                .verify(Some(secret.expose()), "acme", None)
                .await
                .is_err(),
            "revoked after the TTL"
        );
    }

    /// Counts lookups, to see what the caches save.
    struct CountingStore {
        inner: MemoryStore,
        lookups: std::sync::atomic::AtomicUsize,
    }

    #[async_trait::async_trait]
    impl ApiKeyStore for CountingStore {
        async fn create_api_key(
            &self,
            org: &Org,
            key: &ApiKey,
            hash: &ApiKeyHash,
        ) -> crate::store::StoreResult<()> {
            self.inner.create_api_key(org, key, hash).await
        }
        async fn api_key_grant(
            &self,
            hash: &ApiKeyHash,
        ) -> crate::store::StoreResult<Option<ApiKeyGrant>> {
            self.lookups
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            self.inner.api_key_grant(hash).await
        }
        async fn touch_api_key(
            &self,
            org: OrgId,
            key: ApiKeyId,
            at: time::OffsetDateTime,
        ) -> crate::store::StoreResult<()> {
            self.inner.touch_api_key(org, key, at).await
        }
        async fn list_api_keys(
            &self,
            org: OrgId,
            page: &crate::store::PageRequest,
        ) -> crate::store::StoreResult<crate::store::Page<ApiKey>> {
            self.inner.list_api_keys(org, page).await
        }
        async fn api_key(
            &self,
            org: OrgId,
            key: ApiKeyId,
        ) -> crate::store::StoreResult<Option<ApiKey>> {
            self.inner.api_key(org, key).await
        }
        async fn update_api_key(
            &self,
            org: OrgId,
            key: ApiKeyId,
            changes: &crate::store::ApiKeyChanges,
        ) -> crate::store::StoreResult<Option<ApiKey>> {
            self.inner.update_api_key(org, key, changes).await
        }
        async fn revoke_api_key(
            &self,
            org: OrgId,
            key: ApiKeyId,
        ) -> crate::store::StoreResult<Option<ApiKey>> {
            self.inner.revoke_api_key(org, key).await
        }
    }

    #[tokio::test]
    async fn unknown_keys_are_remembered_and_cannot_push_live_keys_out() {
        let store = Arc::new(CountingStore {
            inner: MemoryStore::new(),
            lookups: Default::default(),
        });
        let (_, secret) = org_with_key(&store.inner, "acme").await;
        let verifier = ApiKeyVerifier::new(store.clone());
        let lookups = || store.lookups.load(std::sync::atomic::Ordering::SeqCst);
        verifier
            .verify(Some(secret.expose()), "acme", None)
            .await
            .unwrap();
        let random = ApiKeySecret::generate(ApiKeyKind::Secret);
        for _ in 0..10 {
            assert!(
                verifier
                    .verify(Some(random.expose()), "acme", None)
                    .await
                    .is_err()
            );
        }
        assert_eq!(
            lookups(),
            2,
            "one read for the live key, one for the unknown one"
        );
        // A flood of distinct random keys fills only the unknown-key cache.
        for _ in 0..(UNKNOWN_CAPACITY + 10) {
            let random = ApiKeySecret::generate(ApiKeyKind::Secret);
            let _ = verifier.verify(Some(random.expose()), "acme", None).await;
        }
        let before = lookups();
        verifier
            .verify(Some(secret.expose()), "acme", None)
            .await
            .unwrap();
        assert_eq!(lookups(), before, "the live key is still cached");
    }

    #[tokio::test]
    async fn browsers_need_a_publishable_key_for_their_origin() {
        let store = Arc::new(MemoryStore::new());
        let (org, secret) = org_with_key(&store, "acme").await;
        let settings = ApiKeySettings {
            allowed_origins: vec![crate::domain::Origin::parse("https://shop.example").unwrap()],
            ..ApiKeySettings::default()
        };
        let (key, publishable) = ApiKey::generate_with(
            ApiKeyLabel::parse("widget").unwrap(),
            ApiKeyKind::Publishable,
            settings,
        );
        store
            .create_api_key(&org, &key, &publishable.hash())
            .await
            .unwrap();
        let verifier = ApiKeyVerifier::new(store.clone());
        let check = |key: &ApiKeySecret, origin: Option<&'static str>| {
            let (verifier, key) = (verifier.clone(), key.clone());
            async move { verifier.verify(Some(key.expose()), "acme", origin).await }
        };
        let ok = check(&publishable, Some("https://shop.example"))
            .await
            .unwrap();
        assert_eq!(ok.kind, ApiKeyKind::Publishable);
        assert_eq!(ok.caller().key_rate.map(|r| r.per_second()), Some(20));
        for origin in [Some("https://evil.example"), None] {
            let refused = check(&publishable, origin).await.unwrap_err();
            assert_eq!(refused.code(), "origin_not_allowed", "{origin:?}");
        }
        let refused = check(&secret, Some("https://shop.example"))
            .await
            .unwrap_err();
        assert_eq!(refused.code(), "origin_not_allowed");
        assert!(check(&secret, None).await.is_ok(), "servers send no Origin");
    }
}
