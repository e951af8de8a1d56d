//! Pending usage, the reporter election and report batches, with two `LocalUsage`s over one
//! `MemoryStore` standing for two Envoy workers. Times are milliseconds.

use super::*;
use crate::backend::BackendAnswer;
use crate::cache::authorizations::{AuthCache, CacheSettings, Lookup};
use crate::cache::store::{MemoryStore, MAX_ATTEMPTS};
use crate::config::CachingType;
use crate::credentials::Credentials;
use crate::mapping::Usage;
use std::collections::BTreeMap;

const SLOTS: u32 = 16;
const INTERVAL: u64 = 10_000;
const T0: u64 = 1_000_000;

fn key_for(service: &str, user_key: &str, usage: &[(&str, u64)]) -> EntryKey {
    let mut u = Usage::default();
    for (metric, delta) in usage {
        u.add(metric, *delta);
    }
    EntryKey::new(service, &Credentials::UserKey(user_key.into()), &u)
}

fn key(user_key: &str) -> EntryKey {
    key_for("1", user_key, &[("hits", 1)])
}

fn calls(calls: u64, leased: u64) -> Calls {
    Calls { calls, leased }
}

fn add(usage: &mut LocalUsage, key: &EntryKey, n: u64, leased: bool) {
    for _ in 0..n {
        usage.add(key, leased);
    }
}

/// The pending list as a map, for order-independent comparisons.
fn as_map(pending: Vec<(EntryKey, Calls)>) -> BTreeMap<String, Calls> {
    let mut map = BTreeMap::new();
    for (k, c) in pending {
        assert!(
            map.insert(k.as_str().to_string(), c).is_none(),
            "{} taken twice",
            k.as_str()
        );
    }
    map
}

fn expected(entries: &[(&EntryKey, Calls)]) -> BTreeMap<String, Calls> {
    entries
        .iter()
        .map(|(k, c)| (k.as_str().to_string(), *c))
        .collect()
}

fn config() -> Config {
    Config::parse(
        br#"{"backend":{"cluster":"b"},"services":[
            {"id":"1","backend_version":1,
             "backend_authentication_type":"service_token","backend_authentication_value":"tok1"},
            {"id":"2","backend_version":2}]}"#,
    )
    .unwrap()
    .config
}

fn total(pending: &[(EntryKey, Calls)]) -> u64 {
    pending.iter().map(|(_, c)| c.calls).sum()
}

// ---- Counting and the shared list -------------------------------------------------------------

#[test]
fn calls_from_two_workers_are_summed_per_key_and_taken_once() {
    let store = MemoryStore::default();
    let (mut a, mut b) = (LocalUsage::default(), LocalUsage::default());
    let (k1, k2, k3) = (key("one"), key("two"), key_for("2", "one", &[("hits", 2)]));
    add(&mut a, &k1, 3, true);
    add(&mut a, &k1, 2, false);
    add(&mut a, &k2, 1, false);
    add(&mut b, &k1, 4, true);
    add(&mut b, &k3, 2, true);
    assert!(!a.is_empty());

    assert_eq!(
        a.flush(&store, 100),
        Some(Merged {
            dropped: 0,
            pending: 6,
            dropped_leased: vec![],
        })
    );
    assert!(a.is_empty());
    assert_eq!(
        b.flush(&store, 100),
        Some(Merged {
            dropped: 0,
            pending: 12,
            dropped_leased: vec![],
        })
    );
    // Flushing again adds nothing, and still tells what is pending (the usage gauge).
    let nothing_new = Some(Merged {
        pending: 12,
        ..Merged::default()
    });
    assert_eq!(a.flush(&store, 100), nothing_new);
    assert_eq!(b.flush(&store, 100), nothing_new);
    assert_eq!(pending_calls(&store), 12);

    let pending = take_pending(&store);
    assert_eq!(pending_calls(&store), 0);
    assert_eq!(a.flush(&store, 100), Some(Merged::default()));
    assert_eq!(
        as_map(pending),
        expected(&[(&k1, calls(9, 7)), (&k2, calls(1, 0)), (&k3, calls(2, 2))])
    );
    assert!(take_pending(&store).is_empty());
    // Counting goes on after a take.
    add(&mut b, &k2, 1, true);
    b.flush(&store, 100).unwrap();
    assert_eq!(
        as_map(take_pending(&store)),
        expected(&[(&k2, calls(1, 1))])
    );
    assert!(take_pending(&store).is_empty());
}

#[test]
fn an_empty_store_has_nothing_pending() {
    let store = MemoryStore::default();
    assert!(take_pending(&store).is_empty());
    assert_eq!(
        LocalUsage::default().flush(&store, 10),
        Some(Merged::default())
    );
    assert_eq!(
        store.get(PENDING_KEY),
        (None, 0),
        "an empty flush writes nothing"
    );
}

#[test]
fn a_full_list_drops_new_keys_and_counts_their_calls() {
    let store = MemoryStore::default();
    let (mut a, mut b) = (LocalUsage::default(), LocalUsage::default());
    let (k1, k2, k3) = (key("one"), key("two"), key("three"));
    add(&mut a, &k1, 5, true);
    add(&mut a, &k2, 2, false);
    assert_eq!(
        a.flush(&store, 2),
        Some(Merged {
            dropped: 0,
            pending: 7,
            dropped_leased: vec![],
        })
    );
    // The list holds two keys: the known ones still add up, a third is dropped and counted.
    add(&mut b, &k1, 1, true);
    add(&mut b, &k3, 4, true);
    assert_eq!(
        b.flush(&store, 2),
        Some(Merged {
            dropped: 4,
            pending: 8,
            dropped_leased: vec![(k3.clone(), calls(4, 4))],
        })
    );
    assert!(b.is_empty());
    assert_eq!(
        as_map(take_pending(&store)),
        expected(&[(&k1, calls(6, 6)), (&k2, calls(2, 0))])
    );
    // Once taken there is room again.
    add(&mut b, &k3, 1, false);
    assert_eq!(b.flush(&store, 2).unwrap().dropped, 0);
    assert_eq!(
        as_map(take_pending(&store)),
        expected(&[(&k3, calls(1, 0))])
    );
}

#[test]
fn a_bound_of_one_key_per_flush() {
    let store = MemoryStore::default();
    let mut a = LocalUsage::default();
    for i in 0..10 {
        add(&mut a, &key(&format!("k{i}")), i + 1, false);
    }
    let merged = a.flush(&store, 1).unwrap();
    let pending = take_pending(&store);
    assert_eq!(pending.len(), 1);
    assert_eq!(merged.pending, total(&pending));
    assert_eq!(merged.dropped + merged.pending, 55);
}

// ---- Conflicts --------------------------------------------------------------------------------

#[test]
fn flushes_and_takes_survive_conflicts_without_loss_or_double_counting() {
    let store = MemoryStore::default();
    let (mut a, mut b) = (LocalUsage::default(), LocalUsage::default());
    let (k1, k2) = (key("one"), key("two"));
    add(&mut a, &k1, 3, true);
    add(&mut b, &k1, 2, false);
    add(&mut b, &k2, 1, true);
    *store.forced_conflicts.borrow_mut() = 5;
    assert_eq!(a.flush(&store, 100).unwrap().pending, 3);
    *store.forced_conflicts.borrow_mut() = 1;
    assert_eq!(b.flush(&store, 100).unwrap().pending, 6);
    *store.forced_conflicts.borrow_mut() = 7;
    assert_eq!(
        as_map(take_pending(&store)),
        expected(&[(&k1, calls(5, 3)), (&k2, calls(1, 1))])
    );
    assert_eq!(*store.forced_conflicts.borrow(), 0);
    assert!(take_pending(&store).is_empty());
}

#[test]
fn persistent_contention_keeps_calls_for_the_next_flush() {
    let store = MemoryStore::default();
    let mut a = LocalUsage::default();
    let k = key("one");
    add(&mut a, &k, 3, true);
    *store.forced_conflicts.borrow_mut() = MAX_ATTEMPTS as u32;
    assert_eq!(a.flush(&store, 100), None);
    assert!(!a.is_empty(), "the calls stay with the worker");
    add(&mut a, &k, 2, false);
    assert_eq!(a.flush(&store, 100).unwrap().pending, 5);
    assert!(a.is_empty());

    // A take under contention takes nothing, and leaves everything for the next one.
    *store.forced_conflicts.borrow_mut() = MAX_ATTEMPTS as u32;
    assert!(take_pending(&store).is_empty());
    assert_eq!(as_map(take_pending(&store)), expected(&[(&k, calls(5, 3))]));
    assert!(take_pending(&store).is_empty());
}

#[test]
fn interleaved_flushes_and_takes_count_every_call_once() {
    let store = MemoryStore::default();
    let mut workers = [LocalUsage::default(), LocalUsage::default()];
    let keys: Vec<EntryKey> = (0..5).map(|i| key(&format!("k{i}"))).collect();
    let mut counted = [0u64; 5];
    let mut leased = [0u64; 5];
    let mut taken: BTreeMap<String, Calls> = BTreeMap::new();
    for i in 0..3_000usize {
        let w = i % 2;
        let k = (i * 7 + i / 3) % 5;
        let is_leased = i % 3 != 0;
        workers[w].add(&keys[k], is_leased);
        counted[k] += 1;
        leased[k] += u64::from(is_leased);
        if i % 17 == 0 {
            *store.forced_conflicts.borrow_mut() = (i % 40) as u32;
            let _ = workers[w].flush(&store, 100);
        }
        if i % 101 == 0 {
            *store.forced_conflicts.borrow_mut() = (i % 35) as u32;
            for (k, c) in take_pending(&store) {
                taken.entry(k.as_str().to_string()).or_default().add(c);
            }
        }
    }
    *store.forced_conflicts.borrow_mut() = 0;
    for w in &mut workers {
        w.flush(&store, 100).unwrap();
    }
    for (k, c) in take_pending(&store) {
        taken.entry(k.as_str().to_string()).or_default().add(c);
    }
    for (i, k) in keys.iter().enumerate() {
        assert_eq!(taken[k.as_str()], calls(counted[i], leased[i]));
    }
}

// ---- The reporter election and back-off -------------------------------------------------------

#[test]
fn one_worker_reports_per_interval() {
    let store = MemoryStore::default();
    // Worker A and B both try at every tick; exactly one wins per interval.
    let mut wins = [0; 2];
    for tick in 0..100u64 {
        let now = T0 + tick * 1_000;
        let a = claim_report(&store, now, INTERVAL);
        let b = claim_report(&store, now + 1, INTERVAL);
        assert!(!(a && b));
        wins[0] += u32::from(a);
        wins[1] += u32::from(b);
    }
    assert_eq!(wins[0] + wins[1], 10);
    assert_eq!(wins, [10, 0], "the first to try at each interval wins");
    assert!(!claim_report(&store, T0 + 100_000 - 1, INTERVAL));
    assert!(claim_report(&store, T0 + 100_000, INTERVAL));
}

#[test]
fn failed_reports_back_off_up_to_a_minute() {
    let store = MemoryStore::default();
    let mut now = T0;
    assert!(claim_report(&store, now, INTERVAL));
    let mut backoffs = Vec::new();
    for _ in 0..10 {
        let backoff = report_failed(&store, now);
        backoffs.push(backoff);
        assert!(!claim_report(&store, now + backoff - 1, INTERVAL));
        now += backoff;
        assert!(claim_report(&store, now, INTERVAL));
    }
    assert_eq!(
        backoffs,
        [1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 60_000, 60_000, 60_000, 60_000]
    );
    // Many more failures never overflow.
    for _ in 0..100 {
        assert_eq!(report_failed(&store, now), 60_000);
    }

    // A success resets the back-off and keeps the regular schedule.
    now += 60_000;
    assert!(claim_report(&store, now, INTERVAL));
    report_succeeded(&store);
    assert!(!claim_report(&store, now + INTERVAL - 1, INTERVAL));
    assert!(claim_report(&store, now + INTERVAL, INTERVAL));
    assert_eq!(report_failed(&store, now + INTERVAL), 1_000);
    assert_eq!(report_failed(&store, now + INTERVAL), 2_000);
    report_succeeded(&store);
    assert_eq!(report_failed(&store, now + INTERVAL), 1_000);
}

#[test]
fn report_succeeded_without_failures_writes_nothing() {
    let store = MemoryStore::default();
    assert!(claim_report(&store, T0, INTERVAL));
    let version = store.get(REPORT_KEY).1;
    report_succeeded(&store);
    assert_eq!(store.get(REPORT_KEY).1, version);
}

// ---- Batches ----------------------------------------------------------------------------------

#[test]
fn batches_group_per_service_and_drop_unknown_services() {
    let config = config();
    let pending = vec![
        (key_for("1", "a", &[("hits", 1)]), calls(7, 7)),
        (key_for("1", "b", &[("hits", 2), ("m", 1)]), calls(3, 0)),
        (key_for("1", "a", &[("hits", 3)]), calls(2, 1)),
        (key_for("2", "a", &[("hits", 1)]), calls(4, 4)),
        (key_for("9", "a", &[("hits", 1)]), calls(5, 5)),
        (key_for("9", "b", &[("hits", 1)]), calls(6, 0)),
    ];
    let (batches, dropped) = batches(&config, pending.clone());
    let dropped = Calls::total(&dropped);
    assert_eq!(dropped, 11);
    assert_eq!(batches.len(), 2);

    let one = &batches[0];
    assert_eq!(one.service_id, "1");
    assert_eq!(one.calls(), 12);
    assert_eq!(one.entries, pending[..3].to_vec());
    assert_eq!(one.call.method, "POST");
    assert_eq!(
        one.call.path,
        "/transactions.xml?service_id=1&service_token=tok1"
    );
    // Usage totals are calls × delta, per application.
    assert_eq!(
        one.call.body,
        "transactions%5B0%5D%5Buser_key%5D=a&transactions%5B0%5D%5Busage%5D%5Bhits%5D=13\
         &transactions%5B1%5D%5Buser_key%5D=b&transactions%5B1%5D%5Busage%5D%5Bhits%5D=6\
         &transactions%5B1%5D%5Busage%5D%5Bm%5D=3"
    );

    let two = &batches[1];
    assert_eq!(two.service_id, "2");
    assert_eq!(two.entries, pending[3..4].to_vec());
    assert_eq!(two.call.path, "/transactions.xml?service_id=2");
    assert_eq!(
        two.call.body,
        "transactions%5B0%5D%5Buser_key%5D=a&transactions%5B0%5D%5Busage%5D%5Bhits%5D=4"
    );

    // Every pending call is either in a batch or dropped.
    let carried: u64 = batches.iter().map(ReportBatch::calls).sum();
    assert_eq!(carried + dropped, total(&pending));
    assert_eq!(super::batches(&config, Vec::new()).0.len(), 0);
}

#[test]
fn app_id_keys_report_the_app_id_only() {
    let config = config();
    let mut usage = Usage::default();
    usage.add("hits", 1);
    let creds = Credentials::AppIdAndKey {
        app_id: "id".into(),
        app_key: "secret".into(),
    };
    let (batches, _) = batches(
        &config,
        vec![(EntryKey::new("2", &creds, &usage), calls(2, 0))],
    );
    assert_eq!(
        batches[0].call.body,
        "transactions%5B0%5D%5Bapp_id%5D=id&transactions%5B0%5D%5Busage%5D%5Bhits%5D=2"
    );
    assert!(!batches[0].call.body.contains("secret"));
}

#[test]
fn large_reports_are_split_without_losing_entries() {
    let config = config();
    let pending: Vec<(EntryKey, Calls)> = (0..1_001)
        .map(|i| (key(&format!("app{i:04}")), calls(i + 1, 0)))
        .collect();
    let (batches, dropped) = batches(&config, pending.clone());
    assert!(dropped.is_empty());
    assert_eq!(
        batches.iter().map(|b| b.entries.len()).collect::<Vec<_>>(),
        [500, 500, 1]
    );
    let carried: Vec<(EntryKey, Calls)> = batches.iter().flat_map(|b| b.entries.clone()).collect();
    assert_eq!(carried, pending);
    for b in &batches {
        assert_eq!(
            b.call.body.matches("%5Buser_key%5D=").count(),
            b.entries.len()
        );
    }
}

#[test]
fn failed_batches_are_merged_back_and_reported_later() {
    let config = config();
    let store = MemoryStore::default();
    let (mut a, mut b) = (LocalUsage::default(), LocalUsage::default());
    let (k1, k2) = (key("one"), key_for("2", "x", &[("hits", 1)]));
    add(&mut a, &k1, 3, true);
    add(&mut b, &k2, 2, false);
    a.flush(&store, 100).unwrap();
    b.flush(&store, 100).unwrap();

    // The reporter takes everything; the call for service 1 fails, the one for 2 succeeds.
    assert!(claim_report(&store, T0, INTERVAL));
    let (sent, dropped) = batches(&config, take_pending(&store));
    assert_eq!((sent.len(), dropped.len()), (2, 0));
    let failed = &sent[0];
    assert_eq!(failed.service_id, "1");
    let back = merge(
        &store,
        failed.entries.iter().map(|(k, c)| (k.as_str(), *c)),
        100,
    )
    .unwrap();
    assert_eq!(
        back,
        Merged {
            dropped: 0,
            pending: 3,
            dropped_leased: vec![],
        }
    );
    let backoff = report_failed(&store, T0 + 10);

    // Meanwhile the workers go on counting.
    add(&mut a, &k1, 1, true);
    add(&mut b, &k1, 1, false);
    a.flush(&store, 100).unwrap();
    b.flush(&store, 100).unwrap();

    // The next report carries the failed calls and the new ones, once.
    assert!(!claim_report(&store, T0 + 10 + backoff - 1, INTERVAL));
    assert!(claim_report(&store, T0 + 10 + backoff, INTERVAL));
    let pending = take_pending(&store);
    assert_eq!(as_map(pending.clone()), expected(&[(&k1, calls(5, 4))]));
    let (sent, _) = batches(&config, pending);
    assert_eq!(sent.len(), 1);
    assert!(sent[0].call.body.ends_with("%5Bhits%5D=5"));
    report_succeeded(&store);
    assert!(take_pending(&store).is_empty());
}

// ---- Settling outstanding calls ---------------------------------------------------------------

fn settings(slots: u32) -> CacheSettings {
    CacheSettings {
        caching_type: CachingType::None,
        auths_ttl_ms: 60_000,
        denied_ttl_ms: 60_000,
        slots,
        wait_ms: 2_000,
    }
}

fn outstanding(store: &MemoryStore, key: &EntryKey, slots: u32) -> u64 {
    key.slots(slots)
        .iter()
        .filter_map(|&slot| store.get(&slot_key(slot)).0)
        .filter_map(|v| SharedEntry::decode(&v))
        .find(|e| e.key == key.as_str())
        .unwrap()
        .outstanding
}

/// A cached entry for `key` with `n` leased calls outstanding (one worker forwarding `n`).
fn leased(store: &MemoryStore, cache: &mut AuthCache, key: &EntryKey, n: u64) {
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
            usage.add(&k, leased);
            forwarded += 1;
        }
    }
    assert_eq!(forwarded, 40);
    usage_a.flush(&store, 100).unwrap();
    usage_b.flush(&store, 100).unwrap();
    assert!(claim_report(&store, T0 + 2, INTERVAL));
    let (sent, dropped) = batches(&config(), take_pending(&store));
    assert!(dropped.is_empty());
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].calls(), 40);
    assert!(sent[0].call.body.ends_with("%5Bhits%5D=40"));
    assert_eq!(outstanding(&store, &k, SLOTS), 40);
    settle(&store, SLOTS, &sent[0].entries);
    report_succeeded(&store);
    assert_eq!(outstanding(&store, &k, SLOTS), 0);
}
