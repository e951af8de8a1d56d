//! Hash maps whose keys clients choose (authorization cache keys carry their credentials,
//! report keys, verified tokens) must use SipHash keys an attacker does not know: with
//! known keys, colliding keys can be computed offline, and a lookup among thousands of them
//! walks them all. On `wasm32-unknown-unknown` std's `RandomState` has no randomness source
//! and is the same in every VM, so the adapter seeds [`Seeded`] once per VM from the host's
//! random bytes ([`seed`], before any map is built); native builds use `RandomState`.

#![allow(deprecated)] // `SipHasher` (SipHash-2-4) is the only keyed SipHash in std.

#[cfg(not(target_arch = "wasm32"))]
use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::hash::{BuildHasher, SipHasher};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

static K0: AtomicU64 = AtomicU64::new(0);
static K1: AtomicU64 = AtomicU64::new(0);
static SEEDED: AtomicBool = AtomicBool::new(false);

/// Sets the SipHash keys of every [`Seeded`] map built from now on.
pub fn seed(k0: u64, k1: u64) {
    K0.store(k0, Ordering::Relaxed);
    K1.store(k1, Ordering::Relaxed);
    SEEDED.store(true, Ordering::Relaxed);
}

/// Whether [`seed`] was called.
pub fn is_seeded() -> bool {
    SEEDED.load(Ordering::Relaxed)
}

/// A `BuildHasher` with this VM's keys (or std's `RandomState` keys, if never seeded).
#[derive(Clone, Copy, Debug)]
pub struct Seeded {
    k0: u64,
    k1: u64,
}

impl Default for Seeded {
    fn default() -> Seeded {
        if is_seeded() {
            return Seeded {
                k0: K0.load(Ordering::Relaxed),
                k1: K1.load(Ordering::Relaxed),
            };
        }
        unseeded()
    }
}

impl BuildHasher for Seeded {
    type Hasher = SipHasher;

    fn build_hasher(&self) -> SipHasher {
        SipHasher::new_with_keys(self.k0, self.k1)
    }
}

/// Natively, keys from std's `RandomState`.
#[cfg(not(target_arch = "wasm32"))]
fn unseeded() -> Seeded {
    let std = RandomState::new();
    Seeded {
        k0: std.hash_one(0u8),
        k1: std.hash_one(1u8),
    }
}

/// In Wasm the adapter seeds every VM at its start, so this is not reached; std's keys would
/// be constants here too, and linking its SipHash-1-3 only for them costs 2 KB of module.
#[cfg(target_arch = "wasm32")]
fn unseeded() -> Seeded {
    Seeded { k0: 0, k1: 0 }
}

/// A `HashMap` with this VM's keys: every map of the filter (one SipHash in the module), and
/// those keyed by what clients send must be one.
pub type SeededMap<K, V> = HashMap<K, V, Seeded>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_keys_decide_the_hashes() {
        let a = Seeded { k0: 1, k1: 2 };
        let b = Seeded { k0: 1, k1: 3 };
        assert_eq!(a.hash_one("user_key=k"), a.hash_one("user_key=k"));
        assert_ne!(a.hash_one("user_key=k"), b.hash_one("user_key=k"));
        seed(7, 9);
        let seeded = Seeded::default();
        assert_eq!((seeded.k0, seeded.k1), (7, 9));
        let mut map: SeededMap<String, u8> = SeededMap::default();
        map.insert("k".into(), 1);
        assert_eq!(map.get("k"), Some(&1));
    }
}
