//! Ingest's cached lookups (key grants, org limits), kept right by the
//! ingest change feed ([`crate::domain::ingest_changes`]).
//!
//! A container caches what it looked up for minutes, and before it serves
//! anything from such a cache it makes sure it has read the feed within the
//! last [`FEED_REFRESH`] (one strongly consistent `GetItem`, shared by every
//! cache of the container), evicting whatever a newer entry names. A change
//! is committed with its feed entry, so a request that begins
//! [`FEED_REFRESH`] after the commit is served by a container that has read
//! the entry: it gets the new value. That is the
//! [`CHANGES_APPLY_WITHIN`] promise (5 s, with a second to spare for the
//! request in flight).
//!
//! Feed entries are numbered, and each cache remembers the last number it
//! applied, so no clocks are compared across machines. When the feed no
//! longer holds every entry since (the container missed more than its
//! capacity, was idle past its retention, or the feed was deleted and begun
//! again), the cache forgets everything.
//! A lookup that was in flight while a newer entry naming it was applied
//! is used for its request but not cached.

use std::{hash::Hash, sync::Arc, time::Duration};

use time::OffsetDateTime;

use crate::{
    cache::TtlCache,
    clock::SharedClock,
    domain::ingest_changes::{ChangeFeed, IngestChange},
    store::{ChangeFeedStore, StoreResult},
};

/// How long a container serves from its caches on one read of the feed.
pub const FEED_REFRESH: Duration = Duration::from_secs(4);
/// What docs/ingest-api.md promises ("The change feed"): a revoked key is
/// refused, and a changed key setting or org limit applies, for every
/// request that begins this long after the change was saved.
pub const CHANGES_APPLY_WITHIN: Duration = Duration::from_secs(5);

/// One read of the feed, numbered in the order this container read them.
#[derive(Debug)]
pub struct FeedSnapshot {
    generation: u64,
    feed: ChangeFeed,
}

struct LastRead {
    at: OffsetDateTime,
    snapshot: Arc<FeedSnapshot>,
}

/// The change feed as one container follows it: read at most once per
/// [`FEED_REFRESH`] while the container serves from its caches.
pub struct FeedWatch {
    store: Arc<dyn ChangeFeedStore>,
    clock: SharedClock,
    /// Held while reading, so concurrent requests share one read.
    last: tokio::sync::Mutex<Option<LastRead>>,
}

impl FeedWatch {
    pub fn new(store: Arc<dyn ChangeFeedStore>, clock: SharedClock) -> Self {
        Self {
            store,
            clock,
            last: tokio::sync::Mutex::new(None),
        }
    }

    pub fn clock(&self) -> &SharedClock {
        &self.clock
    }

    /// The feed as read at most [`FEED_REFRESH`] ago (read now if older):
    /// what a cached value must be checked against before it is served.
    pub async fn fresh(&self) -> StoreResult<Arc<FeedSnapshot>> {
        let mut last = self.last.lock().await;
        let now = self.clock.now();
        if let Some(read) = &*last
            && read.at <= now
            && now - read.at < FEED_REFRESH
        {
            return Ok(read.snapshot.clone());
        }
        self.read(&mut last, now).await
    }

    /// The last read of the feed (read now if there was none): what a
    /// lookup is tagged with, so that the entries after it can be checked
    /// when its answer is cached.
    pub async fn baseline(&self) -> StoreResult<Arc<FeedSnapshot>> {
        let mut last = self.last.lock().await;
        if let Some(read) = &*last {
            return Ok(read.snapshot.clone());
        }
        let now = self.clock.now();
        self.read(&mut last, now).await
    }

    async fn read(
        &self,
        last: &mut Option<LastRead>,
        now: OffsetDateTime,
    ) -> StoreResult<Arc<FeedSnapshot>> {
        let feed = self.store.change_feed().await?;
        let generation = last.as_ref().map_or(1, |read| read.snapshot.generation + 1);
        let snapshot = Arc::new(FeedSnapshot { generation, feed });
        // Stamped with the time the read was sent: the entries it saw were
        // committed before then.
        *last = Some(LastRead {
            at: now,
            snapshot: snapshot.clone(),
        });
        Ok(snapshot)
    }
}

/// A TTL cache whose entries a feed entry can evict: see the module
/// documentation.
pub struct FollowedCache<K: Hash + Eq, V> {
    watch: Arc<FeedWatch>,
    entries: TtlCache<K, V>,
    /// Which key of this cache a change names, if any.
    names: fn(&IngestChange) -> Option<K>,
    /// The last feed read applied to the entries.
    applied: std::sync::Mutex<Option<Arc<FeedSnapshot>>>,
}

impl<K: Hash + Eq + Clone, V: Clone> FollowedCache<K, V> {
    pub fn new(
        watch: Arc<FeedWatch>,
        ttl: Duration,
        capacity: usize,
        names: fn(&IngestChange) -> Option<K>,
    ) -> Self {
        let entries = TtlCache::new(ttl, capacity, watch.clock().clone());
        Self {
            watch,
            entries,
            names,
            applied: std::sync::Mutex::new(None),
        }
    }

    fn applied(&self) -> std::sync::MutexGuard<'_, Option<Arc<FeedSnapshot>>> {
        self.applied
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The cached value of `key`, checked against a fresh read of the feed.
    /// Reads nothing when nothing is cached; `None` (look it up) when the
    /// feed cannot be read.
    pub async fn get(&self, key: &K) -> Option<V> {
        self.entries.get(key)?;
        match self.watch.fresh().await {
            Ok(snapshot) => {
                self.catch_up(&mut self.applied(), &snapshot);
                self.entries.get(key)
            }
            Err(error) => {
                tracing::warn!(error = %crate::sdk_error::error_chain(&error), "could not read the ingest change feed; looking up instead of using the cache");
                None
            }
        }
    }

    /// Call before a lookup whose answer is to be cached: the feed it is
    /// read against. `None` (do not cache) when the feed cannot be read.
    pub async fn lookup_starts(&self) -> Option<Arc<FeedSnapshot>> {
        match self.watch.baseline().await {
            Ok(snapshot) => Some(snapshot),
            Err(error) => {
                tracing::warn!(error = %crate::sdk_error::error_chain(&error), "could not read the ingest change feed; not caching");
                None
            }
        }
    }

    /// Caches what a lookup started at `started` found, unless an entry
    /// applied since may be newer than the lookup's answer.
    pub fn insert(&self, key: K, value: V, started: &Arc<FeedSnapshot>) {
        let mut applied = self.applied();
        let newer = match applied.as_ref() {
            Some(applied) if applied.generation > started.generation => applied.clone(),
            _ => {
                self.catch_up(&mut applied, started);
                self.entries.insert(key, value);
                return;
            }
        };
        let since = newer.feed.changes_after(started.feed.position());
        let named = since.is_none_or(|entries| {
            entries
                .iter()
                .any(|entry| (self.names)(&entry.change).as_ref() == Some(&key))
        });
        if !named {
            self.entries.insert(key, value);
        }
    }

    /// Applies the entries of `snapshot` after the last one applied: each
    /// named key goes, or every key when some entries are missing.
    fn catch_up(&self, applied: &mut Option<Arc<FeedSnapshot>>, snapshot: &Arc<FeedSnapshot>) {
        let Some(last) = applied.as_ref() else {
            // Nothing was cached before a first feed read.
            *applied = Some(snapshot.clone());
            return;
        };
        if last.generation >= snapshot.generation {
            return;
        }
        match snapshot.feed.changes_after(last.feed.position()) {
            Some(entries) => {
                for key in entries
                    .iter()
                    .filter_map(|entry| (self.names)(&entry.change))
                {
                    self.entries.remove(&key);
                }
            }
            None => {
                tracing::info!(
                    seen = last.feed.seq,
                    now = snapshot.feed.seq,
                    "the ingest change feed dropped entries this container had not seen: forgetting every cached lookup"
                );
                self.entries.clear();
            }
        }
        *applied = Some(snapshot.clone());
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{
        Mutex,
        atomic::{AtomicUsize, Ordering},
    };

    use time::macros::datetime;

    use super::*;
    use crate::{
        clock::ManualClock,
        domain::{OrgId, ingest_changes::FEED_CAPACITY},
    };

    #[derive(Default)]
    struct Feed {
        feed: Mutex<ChangeFeed>,
        reads: AtomicUsize,
    }

    impl Feed {
        fn note(&self, org: OrgId) {
            let at = datetime!(2026-11-22 12:00:00 UTC);
            self.feed.lock().unwrap().record(IngestChange::Org(org), at);
        }
        fn reads(&self) -> usize {
            self.reads.load(Ordering::SeqCst)
        }
    }

    #[async_trait::async_trait]
    impl ChangeFeedStore for Feed {
        async fn change_feed(&self) -> StoreResult<ChangeFeed> {
            self.reads.fetch_add(1, Ordering::SeqCst);
            Ok(self.feed.lock().unwrap().clone())
        }
    }

    fn org_of(change: &IngestChange) -> Option<OrgId> {
        match change {
            IngestChange::Org(org) => Some(*org),
            IngestChange::ApiKey(_) => None,
        }
    }

    fn setup() -> (Arc<Feed>, Arc<ManualClock>, FollowedCache<OrgId, u32>) {
        let feed = Arc::new(Feed::default());
        let clock = ManualClock::shared(datetime!(2026-11-22 12:00:00 UTC));
        let watch = Arc::new(FeedWatch::new(feed.clone(), clock.clone()));
        let cache = FollowedCache::new(watch, Duration::from_secs(300), 100, org_of);
        (feed, clock, cache)
    }

    async fn cache(cache: &FollowedCache<OrgId, u32>, org: OrgId, value: u32) {
        let started = cache.lookup_starts().await.unwrap();
        cache.insert(org, value, &started);
    }

    #[tokio::test]
    async fn entries_are_served_on_one_feed_read_every_few_seconds_and_evicted_when_named() {
        let (feed, clock, followed) = setup();
        let (a, b) = (OrgId::new(), OrgId::new());
        assert_eq!(followed.get(&a).await, None);
        assert_eq!(feed.reads(), 0, "nothing cached: no feed read");
        cache(&followed, a, 1).await;
        cache(&followed, b, 2).await;
        assert_eq!(feed.reads(), 1, "the first lookup reads the feed once");
        for _ in 0..10 {
            assert_eq!(followed.get(&a).await, Some(1));
            clock.advance(time::Duration::milliseconds(300));
        }
        assert_eq!(feed.reads(), 1, "3 s on one read");
        feed.note(a);
        clock.advance(time::Duration::seconds(1));
        assert_eq!(followed.get(&a).await, None, "a's change is read 4 s on");
        assert_eq!(followed.get(&b).await, Some(2), "b was not named");
        assert_eq!(feed.reads(), 2);
        // Minutes on, with the feed read every 4 s, b is still cached.
        for _ in 0..60 {
            clock.advance(time::Duration::seconds(4));
            assert_eq!(followed.get(&b).await, Some(2));
        }
        clock.advance(time::Duration::seconds(60));
        assert_eq!(followed.get(&b).await, None, "past the TTL");
    }

    #[tokio::test]
    async fn a_hole_in_the_feed_forgets_everything() {
        let (feed, clock, followed) = setup();
        let (a, b) = (OrgId::new(), OrgId::new());
        cache(&followed, a, 1).await;
        cache(&followed, b, 2).await;
        // More changes than the feed keeps, none about a or b.
        for _ in 0..=FEED_CAPACITY {
            feed.note(OrgId::new());
        }
        clock.advance(time::Duration::seconds(5));
        assert_eq!(followed.get(&a).await, None);
        assert_eq!(followed.get(&b).await, None);
    }

    #[tokio::test]
    async fn a_feed_deleted_and_begun_again_forgets_everything() {
        let (feed, clock, followed) = setup();
        let a = OrgId::new();
        feed.note(OrgId::new());
        cache(&followed, a, 1).await;
        // The item is deleted, and as many changes as before are noted.
        *feed.feed.lock().unwrap() = ChangeFeed::default();
        feed.note(OrgId::new());
        clock.advance(time::Duration::seconds(5));
        assert_eq!(followed.get(&a).await, None);
    }

    #[tokio::test]
    async fn a_lookup_in_flight_across_a_change_it_may_predate_is_not_cached() {
        let (feed, clock, followed) = setup();
        let (a, b, c) = (OrgId::new(), OrgId::new(), OrgId::new());
        cache(&followed, c, 3).await;
        // The lookups of a and b start...
        let started = followed.lookup_starts().await.unwrap();
        // ...a changes, and another request applies the feed meanwhile...
        feed.note(a);
        clock.advance(time::Duration::seconds(5));
        assert_eq!(followed.get(&c).await, Some(3));
        // ...then their answers arrive.
        followed.insert(a, 1, &started);
        followed.insert(b, 2, &started);
        assert_eq!(followed.get(&a).await, None, "may be the old value");
        assert_eq!(followed.get(&b).await, Some(2));
    }
}
