//! Misses, coalescing and take-over of a silent asker; unlimited authorizations and how
//! long they last.

use super::*;

#[test]
fn a_miss_asks_once_and_other_lookups_wait() {
    let (store, mut a, mut b) = workers(settings(CachingType::None));
    let k = key("k");
    let t = ticket(a.lookup(&store, &k, T0));
    assert_eq!(t.key, k);
    assert!(t.slot.is_some());
    assert_eq!(a.lookup(&store, &k, T0), Lookup::Wait);
    assert_eq!(b.lookup(&store, &k, T0 + 1), Lookup::Wait);
    assert_eq!(b.lookup(&store, &k, T0 + WAIT - 1), Lookup::Wait);
    // Another key is not held up.
    assert!(matches!(
        b.lookup(&store, &key("other"), T0),
        Lookup::Authorize(_)
    ));
    // The answer wakes everyone: they read it instead of asking.
    assert_eq!(a.answer(&store, &t, &ok(None, None), T0 + 10), None);
    assert_eq!(a.lookup(&store, &k, T0 + 10), FORWARD);
    assert_eq!(b.lookup(&store, &k, T0 + 10), FORWARD);
}

#[test]
fn a_silent_asker_is_taken_over_after_wait_ms() {
    let (store, mut a, mut b) = workers(settings(CachingType::None));
    let k = key("k");
    let first = ticket(a.lookup(&store, &k, T0));
    assert_eq!(b.lookup(&store, &k, T0 + WAIT - 1), Lookup::Wait);
    let second = ticket(b.lookup(&store, &k, T0 + WAIT));
    // The take-over is coalesced too.
    assert_eq!(a.lookup(&store, &k, T0 + WAIT), Lookup::Wait);
    assert_eq!(a.lookup(&store, &k, T0 + 2 * WAIT - 1), Lookup::Wait);
    // Whichever answer comes first serves everyone; the other one is harmless.
    assert_eq!(
        b.answer(&store, &second, &ok(None, None), T0 + WAIT + 5),
        None
    );
    assert_eq!(a.lookup(&store, &k, T0 + WAIT + 5), FORWARD);
    assert_eq!(
        a.answer(&store, &first, &ok(None, None), T0 + WAIT + 6),
        None
    );
    assert_eq!(b.lookup(&store, &k, T0 + WAIT + 6), FORWARD);
}

// ---- Unlimited authorizations ----------------------------------------------------------------

#[test]
fn an_unlimited_authorization_forwards_everywhere_until_auths_ttl() {
    for remaining in [None, Some("-1")] {
        let (store, mut a, mut b) = workers(settings(CachingType::None));
        let k = key("k");
        assert_eq!(
            request(&mut a, &store, &k, &ok(remaining, None), T0),
            FORWARD
        );
        assert_eq!(b.lookup(&store, &k, T0), FORWARD);
        // From then on both workers answer from their own memory: shared data is not touched.
        let version =
            store.get(&slot_key(k.slots(SLOTS)[0])).1 + store.get(&slot_key(k.slots(SLOTS)[1])).1;
        for now_ms in [T0 + 1, T0 + TTL / 2, T0 + TTL - 1] {
            for _ in 0..100 {
                assert_eq!(a.lookup(&store, &k, now_ms), FORWARD);
                assert_eq!(b.lookup(&store, &k, now_ms), FORWARD);
            }
        }
        let after =
            store.get(&slot_key(k.slots(SLOTS)[0])).1 + store.get(&slot_key(k.slots(SLOTS)[1])).1;
        assert_eq!(
            after, version,
            "{remaining:?}: the hot path wrote shared data"
        );
        assert_eq!(shared(&store, &k, SLOTS).outstanding, 0);
        // Expired: asked again, once.
        assert!(matches!(
            b.lookup(&store, &k, T0 + TTL),
            Lookup::Authorize(_)
        ));
        assert_eq!(a.lookup(&store, &k, T0 + TTL), Lookup::Wait);
    }
}

#[test]
fn an_authorization_ends_with_its_limit_period() {
    let (store, mut a, _) = workers(settings(CachingType::None));
    let k = key("k");
    // The period resets in 3 s, before auths_ttl: the budget is only good until then.
    assert_eq!(
        request(&mut a, &store, &k, &ok(Some("1000"), Some("3")), T0),
        LEASED
    );
    assert_eq!(a.lookup(&store, &k, T0 + 2_999), LEASED);
    assert!(matches!(
        a.lookup(&store, &k, T0 + 3_000),
        Lookup::Authorize(_)
    ));
}
