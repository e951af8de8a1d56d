//! Slots: keys without a slot, slots given to other keys, reuse of idle slots (valid keys'
//! answers kept from floods of other keys), and late answers.

use super::*;
use crate::cache::eviction::{KEEP_KNOWN_MS, REFRESH_USED_MS};
use crate::cache::reports::{self, Calls};

#[test]
fn a_key_without_a_slot_gets_an_uncached_answer() {
    let (store, mut a, mut b) = workers(with_slots(CachingType::None, 1));
    let (k1, k2) = (key("one"), key("two"));
    assert_eq!(request(&mut a, &store, &k1, &ok(None, None), T0), FORWARD);

    let t = ticket(b.lookup(&store, &k2, T0 + 1));
    assert_eq!(t.key, k2);
    assert!(t.slot.is_none());
    assert_eq!(
        b.answer(&store, &t, &ok(Some("5"), None), T0 + 1),
        Some(FORWARD)
    );
    // Nothing was cached for it: the next request asks again (no coalescing either).
    let t = ticket(a.lookup(&store, &k2, T0 + 2));
    assert!(t.slot.is_none());
    assert!(matches!(
        b.lookup(&store, &k2, T0 + 2),
        Lookup::Authorize(_)
    ));
    assert_eq!(
        a.answer(&store, &t, &status(Some(403)), T0 + 2),
        Some(AUTH_FAILED)
    );
    assert_eq!(
        a.answer(&store, &t, &over_limit("30", "5"), T0 + 2),
        Some(limits_exceeded(Some(30)))
    );
    assert_eq!(
        a.answer(&store, &t, &status(Some(503)), T0 + 2),
        Some(AUTH_FAILED)
    );
    // The first key is untouched.
    assert_eq!(b.lookup(&store, &k1, T0 + 3), FORWARD);
    assert_eq!(
        shared(&store, &k1, 1).fresh,
        Fresh::Authorized {
            until: T0 + TTL,
            budget: None
        }
    );

    // Allow: a failure with nothing known authorizes; others deny.
    let (store, mut a, _) = workers(with_slots(CachingType::Allow, 1));
    request(&mut a, &store, &k1, &ok(None, None), T0);
    let t = ticket(a.lookup(&store, &k2, T0));
    assert_eq!(a.answer(&store, &t, &status(None), T0), Some(FORWARD));
}

#[test]
fn a_cached_denial_gives_its_slot_to_another_key() {
    let (store, mut a, mut b) = workers(with_slots(CachingType::None, 1));
    let (bad, good, over) = (key("bad"), key("good"), key("over"));
    assert_eq!(
        request(&mut a, &store, &bad, &status(Some(403)), T0),
        AUTH_FAILED
    );
    // The denial is cached, and nobody asks about it: the good key takes the slot.
    let t = ticket(b.lookup(&store, &good, T0 + 1));
    assert_eq!(t.slot, Some(0));
    assert_eq!(b.answer(&store, &t, &ok(None, None), T0 + 1), None);
    assert_eq!(a.lookup(&store, &good, T0 + 1), FORWARD);
    // The bad key is asked about again, without a slot now.
    assert!(ticket(b.lookup(&store, &bad, T0 + 2)).slot.is_none());

    // A cached 409 is kept: it holds the reset the backend gave.
    let (store, mut a, mut b) = workers(with_slots(CachingType::None, 1));
    assert_eq!(
        request(&mut a, &store, &over, &over_limit("30", "5"), T0),
        limits_exceeded(Some(30))
    );
    assert!(ticket(b.lookup(&store, &good, T0 + 1)).slot.is_none());
}

#[test]
fn an_idle_slot_is_reused() {
    let (store, mut a, mut b) = workers(with_slots(CachingType::None, 1));
    let (k1, k2, bad) = (key("one"), key("two"), key("bad"));
    assert_eq!(request(&mut a, &store, &k1, &ok(None, None), T0), FORWARD);
    assert!(ticket(b.lookup(&store, &k2, T0 + TTL - 1)).slot.is_none());
    // Expired, nobody asks, nothing owed: still the last known 200 of a valid key, which a
    // key the backend has not accepted may not take (a flood of bad keys would erase it).
    let later = T0 + KEEP_KNOWN_MS;
    assert!(ticket(b.lookup(&store, &k2, later)).slot.is_none());
    b.remember_authrep(&store, &bad, None, &status(Some(403)), later);
    assert_eq!(shared(&store, &k1, 1).last, LastKnown::Authorized);
    // Once the backend accepts the new key (its uncached authrep), it takes the slot.
    b.remember_authrep(&store, &k2, None, &ok(None, None), later);
    assert_eq!(shared(&store, &k2, 1).last, LastKnown::Authorized);
    let t = ticket(b.lookup(&store, &k2, later));
    assert_eq!(t.slot, Some(0));
    assert_eq!(a.lookup(&store, &k2, later), Lookup::Wait);
    assert_eq!(b.answer(&store, &t, &ok(None, None), later), None);
    assert_eq!(a.lookup(&store, &k2, later), FORWARD);
    assert_eq!(b.lookup(&store, &k2, later), FORWARD);
    // Now the first key is the one without a slot.
    assert!(ticket(b.lookup(&store, &k1, later)).slot.is_none());
}

#[test]
fn a_slot_is_not_reused_while_its_key_is_asked_for_or_owed_calls() {
    let (store, mut a, mut b) = workers(with_slots(CachingType::None, 1));
    let (k1, k2) = (key("one"), key("two"));
    // Being asked for.
    let _asking = ticket(a.lookup(&store, &k1, T0));
    assert!(ticket(b.lookup(&store, &k2, T0 + WAIT - 1)).slot.is_none());
    assert_eq!(ticket(b.lookup(&store, &k2, T0 + WAIT)).slot, Some(0));

    // Owed calls: leased calls not yet reported keep the slot after its answer expires.
    let (store, mut a, mut b) = workers(with_slots(CachingType::None, 1));
    assert_eq!(
        request(&mut a, &store, &k1, &ok(Some("10"), None), T0),
        LEASED
    );
    assert_eq!(a.lookup(&store, &k1, T0), LEASED);
    let later = T0 + KEEP_KNOWN_MS;
    b.remember_authrep(&store, &k2, None, &ok(None, None), later);
    assert!(ticket(b.lookup(&store, &k2, later)).slot.is_none());
    reports::settle(
        &store,
        1,
        &[(
            k1.clone(),
            Calls {
                minute: 0,
                calls: 2,
                leased: 2,
            },
        )],
    );
    b.remember_authrep(&store, &k2, None, &ok(None, None), later);
    assert_eq!(ticket(b.lookup(&store, &k2, later)).slot, Some(0));
}

#[test]
fn a_flood_of_bad_keys_keeps_a_valid_keys_last_known_answer() {
    for slots in [1, 8] {
        let (store, mut a, mut b) = workers(with_slots(CachingType::Resilient, slots));
        let good = key("good");
        assert_eq!(request(&mut a, &store, &good, &ok(None, None), T0), FORWARD);
        a.expire(&store, T0 + TTL);
        let mut now = T0 + TTL;
        for i in 0..200 {
            let bad = key(&format!("bad-{i}"));
            // Batching mode: each bad key asks (cached or not) and is denied.
            assert_eq!(
                request(&mut b, &store, &bad, &status(Some(403)), now),
                AUTH_FAILED
            );
            // Authrep mode and uncached keys: the denial is remembered where it may be.
            b.remember_authrep(&store, &bad, None, &status(Some(403)), now);
            now += KEEP_KNOWN_MS;
        }
        assert_eq!(shared(&store, &good, slots).last, LastKnown::Authorized);
        // The backend fails: the valid key's last 200 still answers.
        assert_eq!(
            request(&mut a, &store, &good, &status(Some(503)), now),
            FORWARD,
            "{slots} slots"
        );
        assert_eq!(b.authrep_fallback(&store, &good, None, now), FORWARD);
    }
}

#[test]
fn valid_keys_displace_only_valid_keys_unused_for_a_while() {
    let (store, mut a, _) = workers(with_slots(CachingType::Resilient, 1));
    let (old, new) = (key("old"), key("new"));
    a.remember_authrep(&store, &old, None, &ok(None, None), T0);
    // In use within KEEP_KNOWN_MS (authrep refreshes it every REFRESH_USED_MS): it stays.
    a.remember_authrep(&store, &old, None, &ok(None, None), T0 + REFRESH_USED_MS);
    let now = T0 + KEEP_KNOWN_MS + REFRESH_USED_MS - 1;
    a.remember_authrep(&store, &new, None, &ok(None, None), now);
    assert_eq!(shared(&store, &old, 1).last, LastKnown::Authorized);
    // Unused for KEEP_KNOWN_MS: the other valid key takes its place.
    a.remember_authrep(&store, &new, None, &ok(None, None), now + 1);
    assert_eq!(shared(&store, &new, 1).last, LastKnown::Authorized);
    // An unchanged answer within REFRESH_USED_MS writes nothing.
    let (before, _) = store.get(&slot_key(0));
    a.remember_authrep(&store, &new, None, &ok(None, None), now + REFRESH_USED_MS);
    assert_eq!(store.get(&slot_key(0)).0, before);
    a.remember_authrep(
        &store,
        &new,
        None,
        &ok(None, None),
        now + 1 + REFRESH_USED_MS,
    );
    assert_eq!(shared(&store, &new, 1).used_at, now + 1 + REFRESH_USED_MS);
}

#[test]
fn of_two_valid_keys_the_least_recently_used_gives_way() {
    let s = with_slots(CachingType::Resilient, 64);
    let (store, mut a, _) = workers(s);
    // Two keys filling both slots of a third, each in its own first slot.
    let third = (0..).map(|i| key(&format!("t{i}"))).find(|k| {
        let [x, y] = k.slots(64);
        x != y
    });
    let third = third.unwrap_or_else(|| panic!("no key"));
    let [s1, s2] = third.slots(64);
    let holder = |slot: u32, other: u32| {
        (0..100_000)
            .map(|i| key(&format!("h{i}")))
            .find(|k| k.slots(64)[0] == slot && !k.slots(64).contains(&other))
            .unwrap_or_else(|| panic!("no key for slot {slot}"))
    };
    let (k1, k2) = (holder(s1, s2), holder(s2, s1));
    a.remember_authrep(&store, &k1, None, &ok(None, None), T0 + 1);
    a.remember_authrep(&store, &k2, None, &ok(None, None), T0);
    let now = T0 + 1 + KEEP_KNOWN_MS;
    a.remember_authrep(&store, &third, None, &ok(None, None), now);
    assert_eq!(shared(&store, &k1, 64).last, LastKnown::Authorized);
    assert_eq!(shared(&store, &third, 64).last, LastKnown::Authorized);
    let holds = |k: &EntryKey, slot: u32| {
        store
            .get(&slot_key(slot))
            .0
            .and_then(|v| SharedEntry::decode(&v))
            .is_some_and(|e| e.key == k.as_str())
    };
    assert!(holds(&third, s2) && !holds(&k2, s2));
}

#[test]
fn a_full_local_map_does_not_swallow_leases() {
    // One slot: this worker still remembers the first key (expired, not yet swept by
    // `expire`) when the second takes the shared slot over.
    let (store, mut a, mut b) = workers(with_slots(CachingType::None, 1));
    let (k1, k2) = (key("one"), key("two"));
    assert_eq!(request(&mut a, &store, &k1, &ok(None, None), T0), FORWARD);
    let now_ms = T0 + KEEP_KNOWN_MS;
    b.remember_authrep(&store, &k2, None, &ok(None, None), now_ms);
    let t = ticket(b.lookup(&store, &k2, now_ms));
    b.answer(&store, &t, &ok(Some("100"), None), now_ms);
    let (forwarded, last) = drain(&mut a, &store, &k2, now_ms);
    assert_eq!(forwarded, 100);
    assert!(matches!(last, Lookup::Authorize(_)));
    assert_eq!(shared(&store, &k2, 1).outstanding, 100);
}

#[test]
fn a_late_answer_does_not_overwrite_another_keys_entry() {
    let (store, mut a, mut b) = workers(with_slots(CachingType::None, 1));
    let (k1, k2) = (key("one"), key("two"));
    let late = ticket(a.lookup(&store, &k1, T0));
    // The asker is silent past wait_ms; the slot goes to another key, which gets a budget.
    let now_ms = T0 + WAIT;
    assert_eq!(
        request(&mut b, &store, &k2, &ok(Some("100"), None), now_ms),
        LEASED
    );
    let before = shared(&store, &k2, 1);
    assert_eq!(before.outstanding, 6);
    // The first key's answer arrives at last: it serves its request, and the other key's
    // entry (with its owed calls) stays.
    assert_eq!(
        a.answer(&store, &late, &ok(None, None), now_ms + 1),
        Some(FORWARD)
    );
    assert_eq!(shared(&store, &k2, 1), before);
}
