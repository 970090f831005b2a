//! Authentication for chat plugins: the `x-organization-api-key` header.
//!
//! One `GetItem` on the key's SHA-256 resolves it to its org, kind and
//! settings; the answer is cached in the warm container for up to
//! [`API_KEY_CACHE_TTL`] (5 minutes), and followed by the ingest change
//! feed ([`crate::lookups`]): a revoked key (or a changed setting) is
//! refused (applied) within [`CHANGES_APPLY_WITHIN`](crate::lookups::CHANGES_APPLY_WITHIN)
//! (5 s) all the same.
//! Unknown keys are remembered as unknown for as long, in a cache of their
//! own (a hash nobody has cannot become a key: keys are random), so a flood
//! of random keys costs one read per distinct key and cannot push live keys
//! out. Every failure is the same 401, so a caller learns nothing about
//! which check failed.
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
    clock,
    domain::{
        ApiKeyGrant, ApiKeyHash, ApiKeyId, ApiKeyKind, ApiKeySecret, ApiKeySettings, OrgId,
        ingest_changes::IngestChange,
    },
    limits::Caller,
    lookups::{FeedWatch, FollowedCache},
    store::{ApiKeyStore, ChangeFeedStore},
};

pub const API_KEY_HEADER: &str = "x-organization-api-key";
/// How long a container reuses a key lookup. Not the revocation delay: the
/// change feed evicts a revoked or changed key within
/// [`crate::lookups::CHANGES_APPLY_WITHIN`]; this bounds what a container keeps, and is
/// the longest anything the feed could not say would last.
pub const API_KEY_CACHE_TTL: Duration = Duration::from_secs(5 * 60);
/// How often a container records a key's `last_used_at`: at most one
/// `UpdateItem` per key per container per hour, so a key's stamps cost
/// nothing next to its messages even for an org that logs one a minute.
pub const API_KEY_LAST_USED_RESOLUTION: Duration = Duration::from_secs(60 * 60);
const CACHE_CAPACITY: usize = 4096;
/// Unknown keys remembered per container (least recently seen go first).
const UNKNOWN_CAPACITY: usize = 1024;

/// Checks API keys against the store through the per-container caches.
#[derive(Clone)]
pub struct ApiKeyVerifier {
    store: Arc<dyn ApiKeyStore>,
    clock: clock::SharedClock,
    known: Arc<FollowedCache<ApiKeyHash, ApiKeyGrant>>,
    unknown: Arc<TtlCache<ApiKeyHash, ()>>,
    /// Keys whose `last_used_at` this container recorded within the hour.
    recently_touched: Arc<TtlCache<ApiKeyId, ()>>,
}

/// The key a feed entry names, if it names one.
fn key_named(change: &IngestChange) -> Option<ApiKeyHash> {
    match change {
        IngestChange::ApiKey(hash) => Some(*hash),
        IngestChange::Org(_) => None,
    }
}

impl ApiKeyVerifier {
    /// A verifier on the system clock, following the feed on its own.
    pub fn new<S: ApiKeyStore + ChangeFeedStore + 'static>(store: Arc<S>) -> Self {
        let watch = Arc::new(FeedWatch::new(store.clone(), clock::system()));
        Self::following(store, watch)
    }

    /// A verifier that follows the change feed through `watch` (shared with
    /// the container's other caches) and reads the time from its clock.
    pub fn following(store: Arc<dyn ApiKeyStore>, watch: Arc<FeedWatch>) -> Self {
        let clock = watch.clock().clone();
        Self {
            store,
            known: Arc::new(FollowedCache::new(
                watch,
                API_KEY_CACHE_TTL,
                CACHE_CAPACITY,
                key_named,
            )),
            unknown: Arc::new(TtlCache::new(
                API_KEY_CACHE_TTL,
                UNKNOWN_CAPACITY,
                clock.clone(),
            )),
            recently_touched: Arc::new(TtlCache::new(
                API_KEY_LAST_USED_RESOLUTION,
                CACHE_CAPACITY,
                clock.clone(),
            )),
            clock,
        }
    }

    /// The grant of a key hash: cached, negatively too.
    async fn grant(&self, hash: ApiKeyHash) -> Result<Option<ApiKeyGrant>, ApiError> {
        if let Some(grant) = self.known.get(&hash).await {
            return Ok(Some(grant));
        }
        if self.unknown.get(&hash).is_some() {
            return Ok(None);
        }
        let started = self.known.lookup_starts().await;
        let fresh = self.store.api_key_grant(&hash).await?;
        match (&fresh, started) {
            (Some(grant), Some(started)) => self.known.insert(hash, grant.clone(), &started),
            (Some(_), None) => {}
            (None, _) => self.unknown.insert(hash, ()),
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
        let now = self.clock.now();
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
        let span = tracing::Span::current();
        span.record("org_id", tracing::field::display(key.org_id));
        span.record("key_id", tracing::field::display(key.key_id));
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
    use std::sync::atomic::{AtomicUsize, Ordering};

    use time::{OffsetDateTime, macros::datetime};

    use super::*;
    use crate::{
        clock::{Clock, ManualClock},
        domain::{
            ApiKey, ApiKeyLabel, Org, OrgName, Slug, ingest_changes::FEED_CAPACITY,
            limits::RateLimit,
        },
        store::{ApiKeyChanges, MemoryStore, OrgStore},
    };

    const NOON: OffsetDateTime = datetime!(2026-11-22 12:00:00 UTC);

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

    /// A publishable key of `org`, for a shop's pages.
    async fn publishable_key(store: &MemoryStore, org: &Org) -> (ApiKey, ApiKeySecret) {
        let shop = crate::domain::Origin::parse("https://shop.example").unwrap();
        let settings = ApiKeySettings {
            allowed_origins: vec![shop],
            ..ApiKeySettings::default()
        };
        let (key, publishable) = ApiKey::generate_with(
            ApiKeyLabel::parse("widget").unwrap(),
            ApiKeyKind::Publishable,
            settings,
        );
        store
            .create_api_key(org, &key, &publishable.hash())
            .await
            .unwrap();
        (key, publishable)
    }

    /// A container's verifier on `clock`.
    fn container<S: ApiKeyStore + ChangeFeedStore + 'static>(
        store: &Arc<S>,
        clock: &Arc<ManualClock>,
    ) -> ApiKeyVerifier {
        let watch = Arc::new(FeedWatch::new(store.clone(), clock.clone()));
        ApiKeyVerifier::following(store.clone(), watch)
    }

    fn seconds(n: i64) -> time::Duration {
        time::Duration::seconds(n)
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
    async fn a_revoked_key_is_refused_within_5_s_by_a_container_that_cached_it() {
        let clock = ManualClock::shared(NOON);
        let store = Arc::new(MemoryStore::with_clock(clock.clone()));
        let (acme, secret) = org_with_key(&store, "acme").await;
        let (_, other) = org_with_key(&store, "other").await;
        let verifier = container(&store, &clock);
        let verify = |secret: &ApiKeySecret, slug: &'static str| {
            let (verifier, secret) = (verifier.clone(), secret.clone());
            async move { verifier.verify(Some(secret.expose()), slug, None).await }
        };
        // Cached minutes ago, and in use since.
        for _ in 0..10 {
            verify(&secret, "acme").await.unwrap();
            verify(&other, "other").await.unwrap();
            clock.advance(seconds(20));
        }
        let key_id = verify(&secret, "acme").await.unwrap().key_id;
        store.revoke_api_key(acme.id, key_id).await.unwrap();
        // Within 5 s, and from then on, it is refused; the other org's key
        // is not.
        clock.advance(seconds(5));
        let refused = verify(&secret, "acme").await.unwrap_err();
        assert!(matches!(refused, ApiError::Unauthorized));
        verify(&other, "other").await.unwrap();
        clock.advance(seconds(600));
        assert!(verify(&secret, "acme").await.is_err());
    }

    #[tokio::test]
    async fn a_changed_origin_or_rate_applies_within_5_s() {
        let clock = ManualClock::shared(NOON);
        let store = Arc::new(MemoryStore::with_clock(clock.clone()));
        let (org, _) = org_with_key(&store, "acme").await;
        let (key, publishable) = publishable_key(&store, &org).await;
        let verifier = container(&store, &clock);
        let from = |origin: &'static str| {
            let (verifier, key) = (verifier.clone(), publishable.clone());
            async move {
                verifier
                    .verify(Some(key.expose()), "acme", Some(origin))
                    .await
            }
        };
        let before = from("https://shop.example").await.unwrap();
        assert_eq!(before.caller().key_rate.map(|r| r.per_second()), Some(20));
        assert!(from("https://new.example").await.is_err());

        let moved = ApiKeySettings {
            allowed_origins: vec![crate::domain::Origin::parse("https://new.example").unwrap()],
            rate_limit: Some(RateLimit::new(3, Some(10))),
            ..ApiKeySettings::default()
        };
        let changes = ApiKeyChanges {
            settings: Some(moved),
            ..ApiKeyChanges::default()
        };
        store
            .update_api_key(org.id, key.id, &changes)
            .await
            .unwrap();
        clock.advance(seconds(5));
        let after = from("https://new.example").await.unwrap();
        assert_eq!(after.caller().key_rate.map(|r| r.per_second()), Some(3));
        let refused = from("https://shop.example").await.unwrap_err();
        assert_eq!(refused.code(), "origin_not_allowed");
    }

    /// Counts the reads and writes a verifier sends, to see what the caches save.
    struct CountingStore {
        inner: MemoryStore,
        lookups: AtomicUsize,
        feed_reads: AtomicUsize,
        touches: AtomicUsize,
    }

    impl CountingStore {
        fn new(clock: &Arc<ManualClock>) -> Self {
            Self {
                inner: MemoryStore::with_clock(clock.clone()),
                lookups: AtomicUsize::new(0),
                feed_reads: AtomicUsize::new(0),
                touches: AtomicUsize::new(0),
            }
        }

        /// (key lookups, feed reads, last-used stamps) so far.
        fn counts(&self) -> (usize, usize, usize) {
            (
                self.lookups.load(Ordering::SeqCst),
                self.feed_reads.load(Ordering::SeqCst),
                self.touches.load(Ordering::SeqCst),
            )
        }
    }

    #[async_trait::async_trait]
    impl ChangeFeedStore for CountingStore {
        async fn change_feed(
            &self,
        ) -> crate::store::StoreResult<crate::domain::ingest_changes::ChangeFeed> {
            self.feed_reads.fetch_add(1, Ordering::SeqCst);
            self.inner.change_feed().await
        }
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
            self.lookups.fetch_add(1, Ordering::SeqCst);
            self.inner.api_key_grant(hash).await
        }
        async fn touch_api_key(
            &self,
            org: OrgId,
            key: ApiKeyId,
            at: OffsetDateTime,
        ) -> crate::store::StoreResult<()> {
            self.touches.fetch_add(1, Ordering::SeqCst);
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
            changes: &ApiKeyChanges,
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
    async fn a_cached_key_is_served_for_minutes_on_feed_reads_alone() {
        let clock = ManualClock::shared(NOON);
        let store = Arc::new(CountingStore::new(&clock));
        let (_, secret) = org_with_key(&store.inner, "acme").await;
        let verifier = container(&store, &clock);
        verifier
            .verify(Some(secret.expose()), "acme", None)
            .await
            .unwrap();
        assert_eq!(store.counts(), (1, 1, 1), "a lookup, the feed, a stamp");
        // A quiet org: a message every 50 s for four minutes.
        for _ in 0..5 {
            clock.advance(seconds(50));
            verifier
                .verify(Some(secret.expose()), "acme", None)
                .await
                .unwrap();
        }
        assert_eq!(
            store.counts(),
            (1, 6, 1),
            "no new lookup: one feed read per request (none was within 4 s)"
        );
        // Requests within 4 s of a feed read read nothing at all.
        for _ in 0..10 {
            clock.advance(time::Duration::milliseconds(300));
            verifier
                .verify(Some(secret.expose()), "acme", None)
                .await
                .unwrap();
        }
        assert_eq!(store.counts(), (1, 6, 1));
        // Past the cache's 5 minutes the key is read again (and nothing
        // cached is served, so the feed is not).
        clock.advance(seconds(60));
        verifier
            .verify(Some(secret.expose()), "acme", None)
            .await
            .unwrap();
        assert_eq!(store.counts(), (2, 6, 1));
    }

    #[tokio::test]
    async fn a_feed_that_overflowed_since_the_last_read_flushes_the_cache() {
        let clock = ManualClock::shared(NOON);
        let store = Arc::new(CountingStore::new(&clock));
        let (org, secret) = org_with_key(&store.inner, "acme").await;
        let verifier = container(&store, &clock);
        let verify = || async {
            verifier
                .verify(Some(secret.expose()), "acme", None)
                .await
                .unwrap()
        };
        verify().await;
        // More changes than the feed keeps, none about this key.
        for _ in 0..=FEED_CAPACITY {
            let (key, other) = ApiKey::generate(ApiKeyLabel::parse("churn").unwrap());
            store
                .inner
                .create_api_key(&org, &key, &other.hash())
                .await
                .unwrap();
            store.inner.revoke_api_key(org.id, key.id).await.unwrap();
        }
        clock.advance(seconds(5));
        verify().await;
        assert_eq!(store.counts().0, 2, "the key was looked up again");
        clock.advance(seconds(5));
        verify().await;
        assert_eq!(store.counts().0, 2, "and cached again");
    }

    #[tokio::test]
    async fn last_used_is_stamped_once_an_hour_per_container() {
        let clock = ManualClock::shared(NOON);
        let store = Arc::new(CountingStore::new(&clock));
        let (org, secret) = org_with_key(&store.inner, "acme").await;
        let (a, b) = (container(&store, &clock), container(&store, &clock));
        let key_id = a
            .verify(Some(secret.expose()), "acme", None)
            .await
            .unwrap()
            .key_id;
        b.verify(Some(secret.expose()), "acme", None).await.unwrap();
        assert_eq!(store.counts().2, 2, "each container stamps once");
        for _ in 0..59 {
            clock.advance(seconds(60));
            for verifier in [&a, &b] {
                verifier
                    .verify(Some(secret.expose()), "acme", None)
                    .await
                    .unwrap();
            }
        }
        assert_eq!(store.counts().2, 2, "not again within the hour");
        clock.advance(seconds(60));
        a.verify(Some(secret.expose()), "acme", None).await.unwrap();
        assert_eq!(store.counts().2, 3, "an hour on, once more");
        let stamped = store.inner.api_key(org.id, key_id).await.unwrap().unwrap();
        assert_eq!(
            stamped.last_used_at,
            Some(clock.now()),
            "at the clock's time"
        );
    }

    #[tokio::test]
    async fn unknown_keys_are_remembered_and_cannot_push_live_keys_out() {
        let clock = ManualClock::shared(NOON);
        let store = Arc::new(CountingStore::new(&clock));
        let (_, secret) = org_with_key(&store.inner, "acme").await;
        let verifier = container(&store, &clock);
        let lookups = || store.counts().0;
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
        let (_, publishable) = publishable_key(&store, &org).await;
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
