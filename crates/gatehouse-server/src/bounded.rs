//! The eviction rule the in-memory caches share.

use std::{
    collections::HashMap,
    hash::{BuildHasher, Hash},
};

/// Makes room in `map` for one more entry under `max` entries: when full, drops the entries
/// `keep` rejects (expired, stale); if that is not enough, starts over with an empty map.
/// A bound, not an LRU: the caches it serves refill cheaply.
pub fn make_room<K: Eq + Hash, V, H: BuildHasher>(
    map: &mut HashMap<K, V, H>,
    max: usize,
    keep: impl FnMut(&K, &mut V) -> bool,
) {
    if map.len() >= max {
        map.retain(keep);
        if map.len() >= max {
            map.clear();
        }
    }
}
