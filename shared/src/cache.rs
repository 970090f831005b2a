//! A small bounded TTL cache for per-container lookups (API keys, chats known
//! to exist, org limits). Entries live at most `ttl`, by the cache's
//! [`Clock`]; that bound is never extended on read. When full, the least
//! recently used entry makes room (so a burst of new keys cannot flush the
//! ones in steady use).

use std::{hash::Hash, num::NonZeroUsize, sync::Mutex, time::Duration};

use lru::LruCache;
use time::OffsetDateTime;

use crate::clock::SharedClock;

pub struct TtlCache<K: Hash + Eq, V> {
    ttl: Duration,
    clock: SharedClock,
    entries: Mutex<LruCache<K, (OffsetDateTime, V)>>,
}

impl<K: Eq + Hash, V: Clone> TtlCache<K, V> {
    /// A cache of at most `capacity` entries (at least one), each kept at
    /// most `ttl` as `clock` counts it.
    pub fn new(ttl: Duration, capacity: usize, clock: SharedClock) -> Self {
        let capacity = NonZeroUsize::new(capacity).unwrap_or(NonZeroUsize::MIN);
        Self {
            ttl,
            clock,
            entries: Mutex::new(LruCache::new(capacity)),
        }
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, LruCache<K, (OffsetDateTime, V)>> {
        self.entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn live(&self, stored_at: OffsetDateTime, now: OffsetDateTime) -> bool {
        now - stored_at < self.ttl
    }

    /// The value stored for `key`, unless it is older than the TTL (an
    /// expired entry is dropped). A hit makes the entry the most recently used.
    pub fn get(&self, key: &K) -> Option<V> {
        let now = self.clock.now();
        let mut entries = self.entries();
        match entries.get(key) {
            Some((stored_at, value)) if self.live(*stored_at, now) => Some(value.clone()),
            Some(_) => {
                entries.pop(key);
                None
            }
            None => None,
        }
    }

    /// Stores `value`, evicting the least recently used entry when full.
    pub fn insert(&self, key: K, value: V) {
        let now = self.clock.now();
        self.entries().put(key, (now, value));
    }

    pub fn remove(&self, key: &K) {
        self.entries().pop(key);
    }

    /// Forgets every entry.
    pub fn clear(&self) {
        self.entries().clear();
    }

    pub fn len(&self) -> usize {
        self.entries().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use time::macros::datetime;

    use super::*;
    use crate::clock::ManualClock;

    fn clock() -> Arc<ManualClock> {
        ManualClock::shared(datetime!(2026-11-22 12:00:00 UTC))
    }

    #[test]
    fn entries_expire_after_ttl() {
        let clock = clock();
        let cache = TtlCache::new(Duration::from_secs(30), 10, clock.clone());
        cache.insert("k", 1);
        clock.advance(time::Duration::seconds(29));
        assert_eq!(cache.get(&"k"), Some(1), "a read does not extend the TTL");
        clock.advance(time::Duration::seconds(1));
        assert_eq!(cache.get(&"k"), None);
        assert!(cache.is_empty(), "the expired entry is dropped");
    }

    #[test]
    fn when_full_the_least_recently_used_entry_goes() {
        let cache = TtlCache::new(Duration::from_secs(60), 3, clock());
        for i in 0..3 {
            cache.insert(i, i);
        }
        // 0 is in steady use; 1 is the least recently used.
        assert_eq!(cache.get(&0), Some(0));
        for i in 10..13 {
            cache.insert(i, i);
            assert!(cache.len() <= 3);
            assert_eq!(cache.get(&0), Some(0), "a hot entry survives a flood");
        }
        assert_eq!(cache.get(&1), None);
        assert_eq!(cache.get(&12), Some(12));
    }

    #[test]
    fn remove_and_clear_forget() {
        let cache = TtlCache::new(Duration::from_secs(60), 3, clock());
        cache.insert("k", 1);
        cache.insert("j", 2);
        cache.remove(&"k");
        assert_eq!(cache.get(&"k"), None);
        assert_eq!(cache.get(&"j"), Some(2));
        cache.clear();
        assert!(cache.is_empty());
    }
}
