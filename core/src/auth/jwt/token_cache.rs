//! The tokens a worker has verified, until they expire: a signature check costs 0.1-1 ms in
//! V8 for RS256/ES256/EdDSA, a lookup microseconds, and during a forged-token flood the
//! failure budget refuses new checks, so a cached token is what keeps a caller served.
//!
//! Bounded by `cache_size`. When it is full, one entry makes room: an expired one if any,
//! else the one used least recently. Clearing the whole map instead let a caller with
//! `cache_size` valid tokens of its own (one per client_credentials grant) flush everyone's
//! (found by an audit, 2026-12-06). The eviction scans the map (1,024 entries by default,
//! microseconds), only when a new token was just verified, which costs far more.

use super::Claims;
use crate::hashing::SeededMap;

#[derive(Debug)]
struct Entry {
    claims: Claims,
    /// The first second the token is no longer accepted (`exp` plus the leeway).
    valid_until: u64,
    /// When it was last verified or found: a recency order, not a time.
    last_used: u64,
}

#[derive(Debug, Default)]
pub struct TokenCache {
    entries: SeededMap<String, Entry>,
    /// Bumped at every use.
    clock: u64,
}

impl TokenCache {
    /// The claims of `token` if it was verified and is still valid at `now_s`.
    pub fn get(&mut self, token: &str, now_s: u64) -> Option<Claims> {
        self.clock = self.clock.wrapping_add(1);
        let clock = self.clock;
        match self.entries.get_mut(token) {
            Some(entry) if now_s < entry.valid_until => {
                entry.last_used = clock;
                Some(entry.claims.clone())
            }
            Some(_) => {
                self.entries.remove(token);
                None
            }
            None => None,
        }
    }

    /// Remembers a verified token, making room for it when `capacity` entries are held.
    pub fn insert(
        &mut self,
        token: &str,
        claims: Claims,
        valid_until: u64,
        now_s: u64,
        capacity: usize,
    ) {
        if capacity == 0 {
            return;
        }
        // One in, one out: `capacity` is fixed, so the map never holds more.
        if self.entries.len() >= capacity {
            let oldest = self
                .entries
                .iter()
                .min_by_key(|(_, e)| (e.valid_until > now_s, e.last_used))
                .map(|(token, _)| token.clone());
            if let Some(token) = oldest {
                self.entries.remove(&token);
            }
        }
        self.clock = self.clock.wrapping_add(1);
        let entry = Entry {
            claims,
            valid_until,
            last_used: self.clock,
        };
        self.entries.insert(token.to_string(), entry);
    }

    pub fn clear(&mut self) {
        self.entries.clear();
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Map;

    fn claims() -> Claims {
        Claims::new(Map::new())
    }

    #[test]
    fn a_full_cache_evicts_an_expired_token_first_then_the_least_recently_used() {
        let mut cache = TokenCache::default();
        cache.insert("a", claims(), 200, 100, 3);
        cache.insert("short", claims(), 150, 100, 3);
        cache.insert("b", claims(), 200, 100, 3);
        // At 160 "short" has expired: it makes room, though "a" was used longer ago.
        cache.insert("c", claims(), 200, 160, 3);
        assert_eq!(cache.len(), 3);
        assert!(cache.get("a", 160).is_some());
        // Now "b" is the least recently used.
        cache.insert("d", claims(), 200, 160, 3);
        assert!(cache.get("b", 160).is_none());
        for kept in ["a", "c", "d"] {
            assert!(cache.get(kept, 160).is_some(), "{kept}");
        }
        assert!(cache.get("a", 200).is_none(), "expired");
        cache.insert("e", claims(), 200, 100, 0);
        assert!(cache.get("e", 100).is_none(), "capacity 0: nothing kept");
    }
}
