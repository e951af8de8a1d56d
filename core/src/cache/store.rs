//! The key-value store shared by all workers: proxy-wasm shared data in Envoy, a mutex-guarded
//! map in native tests. Every write names the version it read (compare-and-swap), so two
//! workers updating one entry never lose each other's change.

use std::cell::RefCell;
use std::collections::HashMap;

/// A write lost a race: the value changed since it was read. Read again and retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Conflict;

pub trait SharedStore {
    /// The value and its version (`0` when the key was never written).
    fn get(&self, key: &str) -> (Option<Vec<u8>>, u32);
    /// Writes `value` if the key is still at `version` (`0`: only if never written).
    fn set(&self, key: &str, value: &[u8], version: u32) -> Result<(), Conflict>;
}

/// How many times a read-modify-write is retried before giving up for now.
pub const MAX_ATTEMPTS: usize = 32;

/// Reads `key`, applies `change` and writes the result back, retrying on conflicts.
/// `change` returns `None` to leave the value as it is; the result is `change`'s output.
pub fn update<T>(
    store: &dyn SharedStore,
    key: &str,
    mut change: impl FnMut(Option<&[u8]>) -> Option<(Vec<u8>, T)>,
) -> Option<T> {
    for _ in 0..MAX_ATTEMPTS {
        let (value, version) = store.get(key);
        let (new_value, out) = change(value.as_deref().filter(|v| !v.is_empty()))?;
        if store.set(key, &new_value, version).is_ok() {
            return Some(out);
        }
    }
    None
}

/// An in-memory store with the same semantics as Envoy's shared data: versions start at 1
/// and grow with every write.
#[derive(Default)]
pub struct MemoryStore {
    values: RefCell<HashMap<String, (Vec<u8>, u32)>>,
    /// Test hook: the next `n` writes fail as if another worker had written first.
    pub forced_conflicts: RefCell<u32>,
}

impl SharedStore for MemoryStore {
    fn get(&self, key: &str) -> (Option<Vec<u8>>, u32) {
        match self.values.borrow().get(key) {
            Some((v, version)) => (Some(v.clone()), *version),
            None => (None, 0),
        }
    }

    fn set(&self, key: &str, value: &[u8], version: u32) -> Result<(), Conflict> {
        {
            let mut forced = self.forced_conflicts.borrow_mut();
            if *forced > 0 {
                *forced -= 1;
                return Err(Conflict);
            }
        }
        let mut values = self.values.borrow_mut();
        let current = values.get(key).map_or(0, |(_, v)| *v);
        if version != current {
            return Err(Conflict);
        }
        values.insert(key.to_string(), (value.to_vec(), current + 1));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stale_version_is_a_conflict() {
        let store = MemoryStore::default();
        assert!(store.set("k", b"a", 0).is_ok());
        assert_eq!(store.get("k"), (Some(b"a".to_vec()), 1));
        assert_eq!(store.set("k", b"b", 0), Err(Conflict));
        assert!(store.set("k", b"b", 1).is_ok());
    }

    #[test]
    fn update_retries_after_a_conflict() {
        let store = MemoryStore::default();
        *store.forced_conflicts.borrow_mut() = 3;
        let out = update(&store, "n", |v| {
            let n: u32 = v.map_or(0, |v| String::from_utf8_lossy(v).parse().unwrap_or(0));
            Some(((n + 1).to_string().into_bytes(), n + 1))
        });
        assert_eq!(out, Some(1));
        assert_eq!(store.get("n").0, Some(b"1".to_vec()));
    }
}
