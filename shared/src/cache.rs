//! A small bounded TTL cache for per-container lookups (API keys, chats known
//! to exist, org limits). Entries live at most `ttl`; that bound is what
//! makes revocation and deletion take effect in time, so it is never
//! extended on read. When full, the least recently used entry makes room
//! (so a burst of new keys cannot flush the ones in steady use).

use std::{
    hash::Hash,
    num::NonZeroUsize,
    sync::Mutex,
    time::{Duration, Instant},
};

use lru::LruCache;

pub struct TtlCache<K: Hash + Eq, V> {
    ttl: Duration,
    entries: Mutex<LruCache<K, (Instant, V)>>,
}

impl<K: Eq + Hash, V: Clone> TtlCache<K, V> {
    /// A cache of at most `capacity` entries (at least one).
    pub fn new(ttl: Duration, capacity: usize) -> Self {
        let capacity = NonZeroUsize::new(capacity).unwrap_or(NonZeroUsize::MIN);
        Self {
            ttl,
            entries: Mutex::new(LruCache::new(capacity)),
        }
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, LruCache<K, (Instant, V)>> {
        self.entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The value stored for `key`, unless it is older than the TTL (an
    /// expired entry is dropped). A hit makes the entry the most recently used.
    pub fn get(&self, key: &K) -> Option<V> {
        let mut entries = self.entries();
        match entries.get(key) {
            Some((stored_at, value)) if stored_at.elapsed() < self.ttl => Some(value.clone()),
            Some(_) => {
                entries.pop(key);
                None
            }
            None => None,
        }
    }

    /// Stores `value`, evicting the least recently used entry when full.
    pub fn insert(&self, key: K, value: V) {
        self.entries().put(key, (Instant::now(), value));
    }

    pub fn remove(&self, key: &K) {
        self.entries().pop(key);
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
    use super::*;

    #[test]
    fn entries_expire_after_ttl() {
        let cache = TtlCache::new(Duration::from_millis(30), 10);
        cache.insert("k", 1);
        assert_eq!(cache.get(&"k"), Some(1));
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(cache.get(&"k"), None);
        assert!(cache.is_empty(), "the expired entry is dropped");
    }

    #[test]
    fn when_full_the_least_recently_used_entry_goes() {
        let cache = TtlCache::new(Duration::from_secs(60), 3);
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
    fn remove_forgets_a_key() {
        let cache = TtlCache::new(Duration::from_secs(60), 3);
        cache.insert("k", 1);
        cache.remove(&"k");
        assert_eq!(cache.get(&"k"), None);
    }
}
