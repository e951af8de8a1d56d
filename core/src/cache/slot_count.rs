//! How many shared slots the cache has. A key's slots are its hashes modulo the count, and
//! shared data outlives a configuration update under the same plugin name: with another
//! count, every key would look in other slots, missing the calls its entry still owes (a plan
//! of 3 calls let 3 more through in the same period) and the entries its old calls settle
//! (found by an audit, 2026-12-06). So the first configuration of the plugin that uses the
//! cache fixes the count in shared data, and every later one (and every worker) uses it until
//! Envoy restarts.

use super::store::{SharedStore, MAX_ATTEMPTS};

/// Shared-data key of the count (the plugin's prefix goes before it, as before the slots).
pub const SLOTS_KEY: &str = "tollgate.auth.slots";

/// The slot count to use for a configuration whose `backend.cache_max_entries` is
/// `configured`: the one in shared data, else `configured`, written there (insert-only, so two
/// configurations starting at once agree on one) when `uses_cache`. A configuration that
/// caches nothing fixes nothing: the first one that does chooses. (The caller warns when the
/// count is not `configured`.)
pub fn pinned(store: &dyn SharedStore, configured: u32, uses_cache: bool) -> u32 {
    for _ in 0..MAX_ATTEMPTS {
        let (value, _) = store.get(SLOTS_KEY);
        // A value that does not read as a count was not written here: ignored.
        let read = value.as_deref().and_then(|v| std::str::from_utf8(v).ok());
        let count = read.and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        if let Ok(count @ 1..) = u32::try_from(count) {
            return count;
        }
        if !uses_cache || value.is_some() {
            return configured;
        }
        if store
            .set(SLOTS_KEY, format!("{configured}").as_bytes(), 0)
            .is_ok()
        {
            return configured;
        }
    }
    // Shared data failing every time: this worker may look in other slots than the others.
    log::warn!(
        "tollgate: the cache's slot count could not be fixed in shared data; using {configured}"
    );
    configured
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::store::Conflict;
    use crate::cache::MemoryStore;

    #[test]
    fn the_first_configuration_using_the_cache_fixes_the_count_for_every_later_one() {
        let store = MemoryStore::default();
        // Caching nothing: its count is its own, and fixes nothing.
        assert_eq!(pinned(&store, 5, false), 5);
        assert_eq!(store.get(SLOTS_KEY).0, None);
        assert_eq!(pinned(&store, 10, true), 10);
        assert_eq!(store.get(SLOTS_KEY).0, Some(b"10".to_vec()));
        for (configured, uses_cache) in [(20, true), (20, false), (10, true), (1, true)] {
            assert_eq!(pinned(&store, configured, uses_cache), 10, "{configured}");
        }
        assert_eq!(store.get(SLOTS_KEY), (Some(b"10".to_vec()), 1));
    }

    /// A store where another configuration fixes 7 just before this one's insert.
    struct Racing(MemoryStore);
    impl SharedStore for Racing {
        fn get(&self, key: &str) -> (Option<Vec<u8>>, u32) {
            self.0.get(key)
        }
        fn set(&self, key: &str, value: &[u8], version: u32) -> Result<(), Conflict> {
            if self.0.get(key).1 == 0 {
                self.0.set(key, b"7", 0)?;
            }
            self.0.set(key, value, version)
        }
    }

    #[test]
    fn a_configuration_losing_the_race_to_fix_the_count_takes_the_winners() {
        let store = Racing(MemoryStore::default());
        assert_eq!(pinned(&store, 10, true), 7);
        assert_eq!(store.get(SLOTS_KEY), (Some(b"7".to_vec()), 1));
        // Not a count: never written here, not overwritten, and the configured count serves.
        let other = MemoryStore::default();
        for junk in [&b"0"[..], b"x", b"4294967296"] {
            let version = other.get(SLOTS_KEY).1;
            other.set(SLOTS_KEY, junk, version).unwrap();
            assert_eq!(pinned(&other, 10, true), 10, "{junk:?}");
            assert_eq!(other.get(SLOTS_KEY).0.as_deref(), Some(junk));
        }
    }
}
