//! Settling outstanding calls: reported leased calls leave the authorization cache's
//! outstanding count.

use super::*;
use crate::backend::BackendAnswer;
use crate::cache::authorizations::{AuthCache, CacheSettings, Lookup};
use crate::config::CachingType;

pub(super) fn settings(slots: u32) -> CacheSettings {
    CacheSettings {
        caching_type: CachingType::None,
        auths_ttl_ms: 60_000,
        denied_ttl_ms: 60_000,
        slots,
        wait_ms: 2_000,
    }
}

pub(super) fn outstanding(store: &MemoryStore, key: &EntryKey, slots: u32) -> u64 {
    key.slots(slots)
        .iter()
        .filter_map(|&slot| store.get(&slot_key(slot)).0)
        .filter_map(|v| SharedEntry::decode(&v))
        .find(|e| e.key == key.as_str())
        .unwrap()
        .outstanding
}

/// A cached entry for `key` with `n` leased calls outstanding (one worker forwarding `n`).
pub(super) fn leased(store: &MemoryStore, cache: &mut AuthCache, key: &EntryKey, n: u64) {
    let Lookup::Authorize(ticket) = cache.lookup(store, key, T0) else {
        panic!("expected Authorize");
    };
    let ok = BackendAnswer {
        status: Some(200),
        limit_remaining: Some("1000000".into()),
        ..BackendAnswer::default()
    };
    assert_eq!(cache.answer(store, &ticket, &ok, T0), None);
    for _ in 0..n {
        assert_eq!(
            cache.lookup(store, key, T0),
            Lookup::Forward { leased: true }
        );
    }
    // Give the rest of the lease back, so only the calls made are owed.
    cache.expire(store, T0 + 60_000);
}

#[test]
fn settle_lowers_outstanding_by_leased_calls_only() {
    let store = MemoryStore::default();
    let mut cache = AuthCache::new(settings(SLOTS));
    let (k1, k2, unknown) = (key("one"), key("two"), key("nobody"));
    leased(&store, &mut cache, &k1, 10);
    leased(&store, &mut cache, &k2, 3);
    assert_eq!(outstanding(&store, &k1, SLOTS), 10);
    settle(
        &store,
        SLOTS,
        &[
            (k1.clone(), calls(7, 4)),
            (k2.clone(), calls(5, 0)),
            (unknown, calls(9, 9)),
        ],
    );
    assert_eq!(outstanding(&store, &k1, SLOTS), 6);
    assert_eq!(outstanding(&store, &k2, SLOTS), 3);
    // Never below zero.
    settle(&store, SLOTS, &[(k2.clone(), calls(10, 10))]);
    assert_eq!(outstanding(&store, &k2, SLOTS), 0);
}

#[test]
fn settle_finds_a_key_in_its_second_slot() {
    // Two slots: a key whose candidates differ, and another key whose first candidate is the
    // same slot and which is being asked for there, so the first key lands in its second slot.
    let slots = 2;
    let keys: Vec<EntryKey> = (0..64).map(|i| key(&format!("k{i}"))).collect();
    let second = keys
        .iter()
        .find(|k| k.slots(slots)[0] != k.slots(slots)[1])
        .unwrap()
        .clone();
    let [first_slot, second_slot] = second.slots(slots);
    let blocker = keys
        .iter()
        .find(|k| **k != second && k.slots(slots)[0] == first_slot)
        .unwrap()
        .clone();
    let store = MemoryStore::default();
    let mut cache = AuthCache::new(settings(slots));
    let Lookup::Authorize(_) = cache.lookup(&store, &blocker, T0) else {
        panic!("expected Authorize");
    };
    leased(&store, &mut cache, &second, 4);
    let entry = SharedEntry::decode(&store.get(&slot_key(second_slot)).0.unwrap()).unwrap();
    assert_eq!(
        (entry.key.as_str(), entry.outstanding),
        (second.as_str(), 4)
    );
    settle(&store, slots, &[(second.clone(), calls(4, 4))]);
    assert_eq!(outstanding(&store, &second, slots), 0);
    // The other key's entry is untouched.
    let other = SharedEntry::decode(&store.get(&slot_key(first_slot)).0.unwrap()).unwrap();
    assert_eq!(other.key, blocker.as_str());
}

#[test]
fn settle_survives_conflicts() {
    let store = MemoryStore::default();
    let mut cache = AuthCache::new(settings(SLOTS));
    let k = key("one");
    leased(&store, &mut cache, &k, 8);
    *store.forced_conflicts.borrow_mut() = 9;
    settle(&store, SLOTS, &[(k.clone(), calls(8, 5))]);
    assert_eq!(outstanding(&store, &k, SLOTS), 3);
}

#[test]
fn a_report_cycle_settles_what_two_workers_forwarded() {
    let store = MemoryStore::default();
    let s = settings(SLOTS);
    let (mut a, mut b) = (AuthCache::new(s), AuthCache::new(s));
    let (mut usage_a, mut usage_b) = (LocalUsage::default(), LocalUsage::default());
    let k = key("one");
    let Lookup::Authorize(ticket) = a.lookup(&store, &k, T0) else {
        panic!("expected Authorize");
    };
    let answer = BackendAnswer {
        status: Some(200),
        limit_remaining: Some("40".into()),
        ..BackendAnswer::default()
    };
    a.answer(&store, &ticket, &answer, T0);
    let mut forwarded = 0;
    for i in 0..200 {
        let (cache, usage) = if i % 2 == 0 {
            (&mut a, &mut usage_a)
        } else {
            (&mut b, &mut usage_b)
        };
        if let Lookup::Forward { leased } = cache.lookup(&store, &k, T0 + 1) {
            usage.add(&k, leased, 0);
            forwarded += 1;
        }
    }
    assert_eq!(forwarded, 40);
    usage_a.flush(&store, 100).unwrap();
    usage_b.flush(&store, 100).unwrap();
    assert!(claim_report(&store, T0 + 2, INTERVAL));
    let (sent, dropped) = batches(
        &config(),
        &RetiredServices::default(),
        take_pending(&store),
        NOW_S,
    );
    assert!(dropped.is_empty());
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].calls(), 40);
    assert!(sent[0].call.body.ends_with("%5Bhits%5D=40"));
    assert_eq!(outstanding(&store, &k, SLOTS), 40);
    settle(&store, SLOTS, &sent[0].entries);
    report_succeeded(&store);
    assert_eq!(outstanding(&store, &k, SLOTS), 0);
}
