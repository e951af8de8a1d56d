//! Which slot a key may take when its entry is not in either of its two candidate slots: the
//! rule that keeps what the cache knows about valid credentials (the last answer
//! `caching_type` falls back on) from being erased by a flood of other keys.
//!
//! Fresh entries, entries being asked about and entries owed calls are never taken. Of the
//! rest, a key takes first a slot worth nothing (empty, unreadable, or an idle entry of
//! credentials the backend never accepted), then a slot holding only a cached denial, and
//! last, only for credentials the backend has just accepted, an idle entry of accepted
//! credentials unused for [`KEEP_KNOWN_MS`] (the least recently used of the two). A key the
//! backend has not accepted that finds neither is answered without the cache; once the
//! backend accepts it (`AuthCache::remember_authrep`) it may take such a slot.

use super::authorizations::slot_key;
use super::entry::SharedEntry;
use super::key::EntryKey;
use super::store::SharedStore;

/// An accepted key's entry used within this time stays, even against other accepted keys: a
/// client with many valid keys can displace only entries unused for a minute.
pub const KEEP_KNOWN_MS: u64 = 60_000;

/// Authrep mode writes an unchanged answer again this often, so that a key in use keeps its
/// `used_at` within [`KEEP_KNOWN_MS`] (batching mode refreshes it on every backend call and
/// lease).
pub const REFRESH_USED_MS: u64 = 10_000;

/// How readily a slot holding `current` gives way to another key (lower: sooner), or `None`
/// if it may not be taken. `known`: the backend has accepted the new key's credentials.
pub fn rank(current: Option<&SharedEntry>, known: bool, now_ms: u64) -> Option<(u8, u64)> {
    let Some(entry) = current else {
        return Some((0, 0));
    };
    if entry.is_denial_only(now_ms) {
        return Some((1, 0));
    }
    if !entry.is_idle(now_ms) {
        return None;
    }
    if !entry.is_known() {
        return Some((0, 0));
    }
    let unused = now_ms.saturating_sub(entry.used_at) >= KEEP_KNOWN_MS;
    (known && unused).then_some((2, entry.used_at))
}

/// The slot holding `key`, else the slot of its two that [`rank`] gives up soonest, with a
/// new entry for `key` to write there; `None` if neither may be taken.
pub fn find_slot(
    store: &dyn SharedStore,
    key: &EntryKey,
    slots: u32,
    now_ms: u64,
    known: bool,
) -> Option<(u32, SharedEntry, u32)> {
    let mut best: Option<((u8, u64), u32, u32)> = None;
    for slot in key.slots(slots) {
        let (value, version) = store.get(&slot_key(slot));
        let entry = value.as_deref().and_then(SharedEntry::decode);
        match entry {
            Some(entry) if entry.key == key.as_str() => return Some((slot, entry, version)),
            entry => {
                let Some(r) = rank(entry.as_ref(), known, now_ms) else {
                    continue;
                };
                if best.as_ref().is_none_or(|(b, _, _)| r < *b) {
                    best = Some((r, slot, version));
                }
            }
        }
    }
    best.map(|(_, slot, version)| (slot, SharedEntry::new(key.as_str()), version))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::entry::{Fresh, LastKnown};

    const NOW: u64 = 1_000_000;

    fn entry(fresh: Fresh, last: LastKnown, used_at: u64) -> SharedEntry {
        let mut e = SharedEntry::new("k");
        e.fresh = fresh;
        e.last = last;
        e.used_at = used_at;
        e
    }

    #[test]
    fn a_key_the_backend_does_not_know_never_takes_a_known_entry() {
        let old = NOW - KEEP_KNOWN_MS;
        for last in [LastKnown::Authorized, LastKnown::Limited] {
            let known = entry(Fresh::None, last, old);
            assert_eq!(rank(Some(&known), false, NOW), None, "{last:?}");
            assert_eq!(rank(Some(&known), true, NOW), Some((2, old)), "{last:?}");
        }
        // Nothing known, or only a denial: any key may take it, the empty kind first.
        for last in [LastKnown::None, LastKnown::Denied] {
            let e = entry(Fresh::None, last, NOW);
            assert_eq!(rank(Some(&e), false, NOW), Some((0, 0)), "{last:?}");
        }
        assert_eq!(rank(None, false, NOW), Some((0, 0)));
        let denial = entry(Fresh::Denied { until: NOW + 1 }, LastKnown::Denied, NOW);
        assert_eq!(rank(Some(&denial), false, NOW), Some((1, 0)));
        assert!(
            rank(Some(&denial), true, NOW)
                < rank(
                    Some(&entry(Fresh::None, LastKnown::Authorized, 0)),
                    true,
                    NOW
                )
        );
    }

    #[test]
    fn a_known_entry_in_use_stays_even_against_known_keys() {
        let recent = entry(Fresh::None, LastKnown::Authorized, NOW - KEEP_KNOWN_MS + 1);
        assert_eq!(rank(Some(&recent), true, NOW), None);
        let fresh = Fresh::Authorized {
            until: NOW + 1,
            budget: None,
        };
        assert_eq!(
            rank(Some(&entry(fresh, LastKnown::Authorized, 0)), true, NOW),
            None
        );
        let mut owed = entry(Fresh::None, LastKnown::None, 0);
        owed.outstanding = 1;
        assert_eq!(rank(Some(&owed), true, NOW), None);
        let mut asked = entry(Fresh::None, LastKnown::None, 0);
        asked.authorizing_until = NOW + 1;
        assert_eq!(rank(Some(&asked), true, NOW), None);
    }

    #[test]
    fn the_least_recently_used_known_entry_goes_first() {
        let older = rank(
            Some(&entry(Fresh::None, LastKnown::Authorized, 5)),
            true,
            NOW,
        );
        let newer = rank(
            Some(&entry(Fresh::None, LastKnown::Authorized, 6)),
            true,
            NOW,
        );
        assert!(older < newer);
    }
}
