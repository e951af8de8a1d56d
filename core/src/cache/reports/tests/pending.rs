//! Counting calls and the shared pending list: sums per key from two workers, the bound on
//! keys, and no loss or double count through write conflicts.

use super::*;
use crate::cache::store::MAX_ATTEMPTS;

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
            dropped: vec![],
            pending: 6,
        })
    );
    assert!(a.is_empty());
    assert_eq!(
        b.flush(&store, 100),
        Some(Merged {
            dropped: vec![],
            pending: 12,
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
            dropped: vec![],
            pending: 7,
        })
    );
    // The list holds two keys: the known ones still add up, a third is dropped and counted.
    add(&mut b, &k1, 1, true);
    add(&mut b, &k3, 4, true);
    assert_eq!(
        b.flush(&store, 2),
        Some(Merged {
            dropped: vec![(k3.clone(), calls(4, 4))],
            pending: 8,
        })
    );
    assert!(b.is_empty());
    assert_eq!(
        as_map(take_pending(&store)),
        expected(&[(&k1, calls(6, 6)), (&k2, calls(2, 0))])
    );
    // Once taken there is room again.
    add(&mut b, &k3, 1, false);
    assert_eq!(b.flush(&store, 2).unwrap().dropped_calls(), 0);
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
    assert_eq!(merged.dropped_calls() + merged.pending, 55);
}

#[test]
fn the_list_holds_at_most_its_key_bytes_whatever_max_pending_allows() {
    let store = MemoryStore::default();
    let mut a = LocalUsage::default();
    // Keys of about 2 KB (a made-up 1 KiB user_key, percent-encoded): 4 MiB holds ~2,000.
    let long = |i: usize| key(&format!("{i:05}{}", "\u{e9}".repeat(250)));
    let one = long(0).as_str().len();
    assert!(one > 1500, "{one}");
    let fits = MAX_PENDING_KEY_BYTES / one;
    for i in 0..fits + 10 {
        add(&mut a, &long(i), 1, false);
    }
    let merged = a.flush(&store, 1_000_000).unwrap();
    assert_eq!((merged.pending, merged.dropped_calls()), (fits as u64, 10));
    // At the bound, a key already listed still adds up; a new one is dropped.
    add(&mut a, &long(0), 2, false);
    add(&mut a, &long(fits + 20), 1, false);
    let merged = a.flush(&store, 1_000_000).unwrap();
    assert_eq!(
        (merged.pending, merged.dropped_calls()),
        (fits as u64 + 2, 1)
    );
    let pending = take_pending(&store);
    assert_eq!(pending.len(), fits);
    assert_eq!(total(&pending), fits as u64 + 2);
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
        workers[w].add(&keys[k], is_leased, 0);
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

/// Calls keep the minute they were forwarded in, through the worker's counts, the shared
/// list and a failed report's return, so each is reported in its limit period; a list
/// written before minutes were kept reads as minute 0 (reported without a timestamp).
#[test]
fn calls_of_two_minutes_stay_apart_from_the_worker_to_the_report() {
    let store = MemoryStore::default();
    let mut usage = LocalUsage::default();
    let (k, other) = (key("a"), key("b"));
    usage.add(&k, true, 100);
    usage.add(&k, true, 100);
    usage.add(&other, false, 100);
    // The next minute: the earlier counts are kept apart, not merged into it.
    usage.add(&k, false, 101);
    // A failed report's calls of minute 100 come back.
    usage.add_calls(
        &k,
        Calls {
            minute: 100,
            calls: 1,
            leased: 1,
        },
    );
    assert_eq!(usage.flush(&store, 100).map(|m| m.pending), Some(5));
    let with_minutes = |list: Vec<(EntryKey, Calls)>| -> Vec<(String, u64, u64, u64)> {
        let mut out: Vec<_> = (list.into_iter())
            .map(|(k, c)| (k.as_str().to_string(), c.minute, c.calls, c.leased))
            .collect();
        out.sort();
        out
    };
    let (ka, kb) = (k.as_str().to_string(), other.as_str().to_string());
    assert_eq!(
        with_minutes(take_pending(&store)),
        vec![
            (ka.clone(), 100, 3, 3),
            (ka.clone(), 101, 1, 0),
            (kb.clone(), 100, 1, 0)
        ]
    );
    // A module before minutes fills its own list, taken with ours: minute 0.
    let old = format!("2 1 {ka}\n");
    let (_, version) = store.get(LEGACY_PENDING_KEY);
    store
        .set(LEGACY_PENDING_KEY, old.as_bytes(), version)
        .unwrap();
    usage.add(&k, true, 102);
    usage.flush(&store, 100).unwrap();
    assert_eq!(pending_calls(&store), 3);
    assert_eq!(
        with_minutes(take_pending(&store)),
        vec![(ka.clone(), 0, 2, 1), (ka.clone(), 102, 1, 1)]
    );
    assert_eq!(store.get(LEGACY_PENDING_KEY).0, Some(Vec::new()));

    // The bound counts keys, not minutes (found by an audit, 2026-12-06: a listed key's
    // every new minute took a slot, so a list of two keys dropped a third after a minute).
    for (key, minute) in [(&k, 200), (&other, 200), (&k, 201), (&k, 202)] {
        usage.add(key, false, minute);
    }
    usage.add(&key("c"), false, 202);
    usage.add_calls(
        &other,
        Calls {
            minute: 150,
            calls: 2,
            leased: 2,
        },
    );
    let merged = usage.flush(&store, 2).unwrap();
    assert_eq!((merged.dropped_calls(), merged.pending), (1, 6));
    assert_eq!(
        with_minutes(take_pending(&store)),
        vec![
            (ka.clone(), 200, 1, 0),
            (ka.clone(), 201, 1, 0),
            (ka.clone(), 202, 1, 0),
            (kb.clone(), 150, 2, 2),
            (kb.clone(), 200, 1, 0)
        ]
    );
    // Past its minutes, a key's new minute joins its latest entry, which takes the later
    // minute (reported later, never earlier, never lost); an earlier minute (a failed
    // report's calls) joins it at its minute.
    let first = 300;
    for minute in first..first + MAX_MINUTES_PER_KEY as u64 {
        usage.add(&k, false, minute);
        usage.flush(&store, 2).unwrap();
    }
    usage.add(&k, true, 400);
    usage.add_calls(
        &k,
        Calls {
            minute: 299,
            calls: 2,
            leased: 2,
        },
    );
    assert_eq!(usage.flush(&store, 2).unwrap().dropped_calls(), 0);
    let listed = with_minutes(take_pending(&store));
    assert_eq!(listed.len(), MAX_MINUTES_PER_KEY);
    assert_eq!(listed.first(), Some(&(ka.clone(), first, 1, 0)));
    assert_eq!(listed.last(), Some(&(ka, 400, 4, 3)));
}
