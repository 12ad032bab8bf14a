//! Expiring counters and locks for throttling. [`MemoryCounters`] serves one instance;
//! a shared implementation (Redis) makes limits hold across instances.

use std::{collections::HashMap, sync::Mutex};

use async_trait::async_trait;

use crate::StoreResult;

/// Counters that expire, and locks with a time to live. Keys are opaque strings.
#[async_trait]
pub trait CounterStore: Send + Sync + std::fmt::Debug {
    /// Adds one to `key` and returns the new count. The count expires `ttl` seconds after
    /// the first increment (`sliding = false`, a fixed window) or after the latest one
    /// (`sliding = true`).
    async fn incr(&self, key: &str, ttl: i64, sliding: bool, now: i64) -> StoreResult<u64>;
    /// Sets a lock on `key` for `secs` seconds (replacing a shorter one).
    async fn lock(&self, key: &str, secs: i64, now: i64) -> StoreResult<()>;
    /// Seconds left on `key`'s lock, if locked.
    async fn locked_for(&self, key: &str, now: i64) -> StoreResult<Option<i64>>;
    /// Seconds left before a counter expires (0 if absent).
    async fn ttl(&self, key: &str, now: i64) -> StoreResult<i64>;
    /// Removes a counter or lock.
    async fn reset(&self, key: &str) -> StoreResult<()>;
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    count: u64,
    expires_at: i64,
}

/// In-process counters, bounded: expired entries are dropped as new ones arrive, and the
/// map never holds more than `max_entries` (oldest-expiring evicted first).
#[derive(Debug)]
pub struct MemoryCounters {
    map: Mutex<HashMap<String, Entry>>,
    max_entries: usize,
}

impl Default for MemoryCounters {
    fn default() -> Self {
        Self::new(100_000)
    }
}

impl MemoryCounters {
    /// At most `max_entries` live keys.
    pub fn new(max_entries: usize) -> Self {
        Self { map: Mutex::new(HashMap::new()), max_entries: max_entries.max(16) }
    }

    fn with<T>(&self, f: impl FnOnce(&mut HashMap<String, Entry>) -> T) -> T {
        let mut g = self.map.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&mut g)
    }

    fn make_room(map: &mut HashMap<String, Entry>, now: i64, max: usize) {
        if map.len() < max {
            return;
        }
        map.retain(|_, e| e.expires_at > now);
        while map.len() >= max {
            let Some(k) = map.iter().min_by_key(|(_, e)| e.expires_at).map(|(k, _)| k.clone()) else { break };
            map.remove(&k);
        }
    }
}

#[async_trait]
impl CounterStore for MemoryCounters {
    async fn incr(&self, key: &str, ttl: i64, sliding: bool, now: i64) -> StoreResult<u64> {
        Ok(self.with(|m| {
            let live = m.get(key).filter(|e| e.expires_at > now).copied();
            let e = match live {
                Some(mut e) => {
                    e.count += 1;
                    if sliding {
                        e.expires_at = now + ttl;
                    }
                    e
                }
                None => {
                    Self::make_room(m, now, self.max_entries);
                    Entry { count: 1, expires_at: now + ttl }
                }
            };
            m.insert(key.to_owned(), e);
            e.count
        }))
    }

    async fn lock(&self, key: &str, secs: i64, now: i64) -> StoreResult<()> {
        self.with(|m| {
            let until = now + secs;
            match m.get_mut(key) {
                Some(e) if e.expires_at > now => e.expires_at = e.expires_at.max(until),
                _ => {
                    Self::make_room(m, now, self.max_entries);
                    m.insert(key.to_owned(), Entry { count: 1, expires_at: until });
                }
            }
        });
        Ok(())
    }

    async fn locked_for(&self, key: &str, now: i64) -> StoreResult<Option<i64>> {
        Ok(self.with(|m| m.get(key).filter(|e| e.expires_at > now).map(|e| e.expires_at - now)))
    }

    async fn ttl(&self, key: &str, now: i64) -> StoreResult<i64> {
        Ok(self.with(|m| m.get(key).filter(|e| e.expires_at > now).map_or(0, |e| e.expires_at - now)))
    }

    async fn reset(&self, key: &str) -> StoreResult<()> {
        self.with(|m| m.remove(key));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The behaviour every CounterStore must have.
    pub(crate) async fn conformance(c: &dyn CounterStore) {
        assert_eq!(c.incr("a", 10, false, 0).await.unwrap(), 1);
        assert_eq!(c.incr("a", 10, false, 5).await.unwrap(), 2);
        assert_eq!(c.incr("a", 10, false, 10).await.unwrap(), 1, "fixed window expired");
        assert_eq!(c.incr("s", 10, true, 0).await.unwrap(), 1);
        assert_eq!(c.incr("s", 10, true, 9).await.unwrap(), 2);
        assert_eq!(c.incr("s", 10, true, 18).await.unwrap(), 3, "sliding window kept alive");
        c.lock("l", 30, 0).await.unwrap();
        assert_eq!(c.locked_for("l", 10).await.unwrap(), Some(20));
        c.lock("l", 5, 10).await.unwrap();
        assert_eq!(c.locked_for("l", 10).await.unwrap(), Some(20), "a shorter lock does not shorten");
        assert_eq!(c.locked_for("l", 30).await.unwrap(), None);
        assert_eq!(c.locked_for("never", 0).await.unwrap(), None);
        assert_eq!(c.ttl("a", 12).await.unwrap(), 8);
        c.reset("s").await.unwrap();
        assert_eq!(c.ttl("s", 18).await.unwrap(), 0);
    }

    #[tokio::test]
    async fn memory_conformance() {
        conformance(&MemoryCounters::default()).await;
    }

    #[tokio::test]
    async fn redis_conformance() {
        let Ok(url) = std::env::var("GATEHOUSE_TEST_REDIS_URL") else {
            eprintln!("SKIPPED redis_conformance: set GATEHOUSE_TEST_REDIS_URL to run it");
            return;
        };
        let prefix = format!("gh-test-{}:", uuid::Uuid::new_v4().simple());
        let c = crate::RedisCounters::new(crate::redis_client(&url).unwrap(), prefix);
        conformance(&c).await;
    }

    #[tokio::test]
    async fn memory_counters_stay_bounded() {
        let c = MemoryCounters::new(16);
        for i in 0..100 {
            c.incr(&format!("k{i}"), 1000, false, 20).await.unwrap();
        }
        assert!(c.map.lock().unwrap().len() <= 16, "bounded");
    }
}
