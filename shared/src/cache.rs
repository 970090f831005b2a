//! A small bounded TTL cache for per-container lookups (API keys, chats known
//! to exist). Entries live at most `ttl`; that bound is what makes revocation
//! and deletion take effect in time, so it is never extended on read.

use std::{
    collections::HashMap,
    hash::Hash,
    sync::Mutex,
    time::{Duration, Instant},
};

pub struct TtlCache<K, V> {
    ttl: Duration,
    capacity: usize,
    entries: Mutex<HashMap<K, (Instant, V)>>,
}

impl<K: Eq + Hash, V: Clone> TtlCache<K, V> {
    pub fn new(ttl: Duration, capacity: usize) -> Self {
        Self {
            ttl,
            capacity,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The value stored for `key`, unless it is older than the TTL.
    pub fn get(&self, key: &K) -> Option<V> {
        let entries = self
            .entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        entries
            .get(key)
            .filter(|(stored_at, _)| stored_at.elapsed() < self.ttl)
            .map(|(_, value)| value.clone())
    }

    pub fn insert(&self, key: K, value: V) {
        let mut entries = self
            .entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if entries.len() >= self.capacity && !entries.contains_key(&key) {
            entries.retain(|_, (stored_at, _)| stored_at.elapsed() < self.ttl);
            if entries.len() >= self.capacity {
                // Still full of live entries: start over rather than track
                // recency. Correct (only costs lookups) and rare at our sizes.
                entries.clear();
            }
        }
        entries.insert(key, (Instant::now(), value));
    }

    pub fn remove(&self, key: &K) {
        self.entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .remove(key);
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
    }

    #[test]
    fn size_stays_bounded() {
        let cache = TtlCache::new(Duration::from_secs(60), 3);
        for i in 0..10 {
            cache.insert(i, i);
            assert!(cache.entries.lock().unwrap().len() <= 3);
        }
        assert_eq!(cache.get(&9), Some(9));
    }

    #[test]
    fn remove_forgets_a_key() {
        let cache = TtlCache::new(Duration::from_secs(60), 3);
        cache.insert("k", 1);
        cache.remove(&"k");
        assert_eq!(cache.get(&"k"), None);
    }
}
