//! The lookup / answer protocol, with two `AuthCache`s over one `MemoryStore` standing for two
//! Envoy workers sharing data. Times are milliseconds.

use super::*;
use crate::cache::reports::{self, Calls, LocalUsage};
use crate::cache::store::MemoryStore;
use crate::credentials::Credentials;
use crate::mapping::Usage;

const TTL: u64 = 10_000;
const DENIED_TTL: u64 = 5_000;
const WAIT: u64 = 2_000;
const SLOTS: u32 = 16;
const T0: u64 = 1_000_000;

const FORWARD: Lookup = Lookup::Forward { leased: false };
const LEASED: Lookup = Lookup::Forward { leased: true };
const AUTH_FAILED: Lookup = Lookup::Deny(Denial::AuthFailed);

fn settings(caching_type: CachingType) -> CacheSettings {
    CacheSettings {
        caching_type,
        auths_ttl_ms: TTL,
        denied_ttl_ms: DENIED_TTL,
        slots: SLOTS,
        wait_ms: WAIT,
    }
}

fn with_slots(caching_type: CachingType, slots: u32) -> CacheSettings {
    CacheSettings {
        slots,
        ..settings(caching_type)
    }
}

/// Two workers sharing one store.
fn workers(s: CacheSettings) -> (MemoryStore, AuthCache, AuthCache) {
    (MemoryStore::default(), AuthCache::new(s), AuthCache::new(s))
}

fn key(user_key: &str) -> EntryKey {
    let mut usage = Usage::default();
    usage.add("hits", 1);
    EntryKey::new("42", &Credentials::UserKey(user_key.into()), &usage)
}

fn status(status: Option<u16>) -> BackendAnswer {
    BackendAnswer {
        status,
        ..BackendAnswer::default()
    }
}

/// 200 with an optional `3scale-limit-remaining` and `3scale-limit-reset`.
fn ok(remaining: Option<&str>, reset: Option<&str>) -> BackendAnswer {
    BackendAnswer {
        status: Some(200),
        limit_remaining: remaining.map(Into::into),
        limit_reset: reset.map(Into::into),
        ..BackendAnswer::default()
    }
}

/// 409 `limits_exceeded` with the given reset and max value.
fn over_limit(reset: &str, max: &str) -> BackendAnswer {
    BackendAnswer {
        status: Some(409),
        rejection_reason: Some("limits_exceeded".into()),
        limit_reset: Some(reset.into()),
        limit_max_value: Some(max.into()),
        limit_remaining: Some("0".into()),
    }
}

fn limits_exceeded(retry_after: Option<u64>) -> Lookup {
    Lookup::Deny(Denial::LimitsExceeded { retry_after })
}

fn ticket(lookup: Lookup) -> Ticket {
    match lookup {
        Lookup::Authorize(ticket) => ticket,
        other => panic!("expected Authorize, got {other:?}"),
    }
}

/// What the adapter does with a request: look up; when told to ask, record the backend's
/// answer and look up again (or take the uncached ticket's answer as is).
fn request(
    cache: &mut AuthCache,
    store: &MemoryStore,
    key: &EntryKey,
    answer: &BackendAnswer,
    now: u64,
) -> Lookup {
    match cache.lookup(store, key, now) {
        Lookup::Authorize(ticket) => match cache.answer(store, &ticket, answer, now) {
            Some(lookup) => lookup,
            None => cache.lookup(store, key, now),
        },
        other => other,
    }
}

/// The key's shared entry as every worker sees it.
fn shared(store: &MemoryStore, key: &EntryKey, slots: u32) -> SharedEntry {
    key.slots(slots)
        .iter()
        .filter_map(|&slot| store.get(&slot_key(slot)).0)
        .filter_map(|v| SharedEntry::decode(&v))
        .find(|e| e.key == key.as_str())
        .unwrap_or_else(|| panic!("no shared entry for {}", key.as_str()))
}

fn budget(store: &MemoryStore, key: &EntryKey) -> Option<u64> {
    match shared(store, key, SLOTS).fresh {
        Fresh::Authorized { budget, .. } => budget,
        other => panic!("not authorized: {other:?}"),
    }
}

/// Counts leased forwards on one worker until it gets something else.
fn drain(cache: &mut AuthCache, store: &MemoryStore, key: &EntryKey, now: u64) -> (u64, Lookup) {
    let mut forwarded = 0;
    loop {
        match cache.lookup(store, key, now) {
            Lookup::Forward { leased: true } => forwarded += 1,
            other => return (forwarded, other),
        }
        assert!(forwarded <= 100_000, "never stops forwarding");
    }
}

/// Interleaves two workers (A A B A B B, repeated) until neither forwards any more; returns the
/// leased forwards and the tickets handed out (the rest must be waits).
fn interleave(
    a: &mut AuthCache,
    b: &mut AuthCache,
    store: &MemoryStore,
    key: &EntryKey,
    now: u64,
) -> (u64, Vec<Ticket>) {
    let pattern = [true, true, false, true, false, false];
    let (mut forwarded, mut tickets) = (0, Vec::new());
    let (mut a_done, mut b_done) = (false, false);
    let mut i = 0;
    while !(a_done && b_done) {
        let on_a = pattern[i % pattern.len()];
        i += 1;
        if (on_a && a_done) || (!on_a && b_done) {
            continue;
        }
        let worker = if on_a { &mut *a } else { &mut *b };
        match worker.lookup(store, key, now) {
            Lookup::Forward { leased: true } => forwarded += 1,
            Lookup::Authorize(t) => {
                tickets.push(t);
                if on_a {
                    a_done = true
                } else {
                    b_done = true
                }
            }
            Lookup::Wait => {
                if on_a {
                    a_done = true
                } else {
                    b_done = true
                }
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(i < 1_000_000, "never stops forwarding");
    }
    (forwarded, tickets)
}

// ---- 1. Misses, coalescing and take-over ----------------------------------------------------

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

// ---- 2. Unlimited authorizations -------------------------------------------------------------

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
        for now in [T0 + 1, T0 + TTL / 2, T0 + TTL - 1] {
            for _ in 0..100 {
                assert_eq!(a.lookup(&store, &k, now), FORWARD);
                assert_eq!(b.lookup(&store, &k, now), FORWARD);
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

// ---- 3. Exact limits --------------------------------------------------------------------------

#[test]
fn a_limit_allows_exactly_its_budget_across_workers() {
    let (store, mut a, mut b) = workers(settings(CachingType::None));
    let k = key("k");
    let t = ticket(a.lookup(&store, &k, T0));
    assert_eq!(a.answer(&store, &t, &ok(Some("50"), Some("60")), T0), None);
    let (forwarded, mut tickets) = interleave(&mut a, &mut b, &store, &k, T0 + 1);
    assert_eq!(forwarded, 50);
    assert_eq!(
        tickets.len(),
        1,
        "exactly one worker asks again, the other waits"
    );
    let entry = shared(&store, &k, SLOTS);
    assert_eq!(entry.outstanding, 50);
    assert_eq!(budget(&store, &k), Some(0));

    // The backend has not seen the reports: it still says 50, all of which this gateway has
    // already let through. Limits exceeded, until the period resets.
    let t = tickets.remove(0);
    assert_eq!(
        a.answer(&store, &t, &ok(Some("50"), Some("60")), T0 + 2),
        None
    );
    for now in [T0 + 2, T0 + 3] {
        assert_eq!(a.lookup(&store, &k, now), limits_exceeded(Some(60)));
        assert_eq!(b.lookup(&store, &k, now), limits_exceeded(Some(60)));
    }
    // The denial stays (Retry-After counting down) until the reset, on both workers.
    assert_eq!(
        a.lookup(&store, &k, T0 + 2 + 30_000),
        limits_exceeded(Some(30))
    );
    assert_eq!(
        b.lookup(&store, &k, T0 + 2 + 59_999),
        limits_exceeded(Some(1))
    );
    assert_eq!(
        a.lookup(&store, &k, T0 + 2 + 59_999),
        limits_exceeded(Some(1))
    );
    assert!(matches!(
        b.lookup(&store, &k, T0 + 2 + 60_000),
        Lookup::Authorize(_)
    ));
    assert_eq!(a.lookup(&store, &k, T0 + 2 + 60_000), Lookup::Wait);
}

#[test]
fn a_smaller_remaining_than_outstanding_is_limits_exceeded() {
    // The backend counted some calls but fewer than were let through since: still none left.
    let (store, mut a, mut b) = workers(settings(CachingType::None));
    let k = key("k");
    let t = ticket(a.lookup(&store, &k, T0));
    a.answer(&store, &t, &ok(Some("10"), None), T0);
    let (forwarded, mut tickets) = interleave(&mut a, &mut b, &store, &k, T0);
    assert_eq!(forwarded, 10);
    a.answer(&store, &tickets.remove(0), &ok(Some("4"), None), T0 + 1);
    // No reset known: no Retry-After, and the denial lasts denied_ttl.
    assert_eq!(b.lookup(&store, &k, T0 + 1), limits_exceeded(None));
    assert_eq!(a.lookup(&store, &k, T0 + DENIED_TTL), limits_exceeded(None));
    assert!(matches!(
        a.lookup(&store, &k, T0 + 1 + DENIED_TTL),
        Lookup::Authorize(_)
    ));
}

#[test]
fn settled_reports_make_room_for_the_backends_new_budget() {
    let (store, mut a, mut b) = workers(settings(CachingType::None));
    let k = key("k");
    let t = ticket(a.lookup(&store, &k, T0));
    a.answer(&store, &t, &ok(Some("50"), Some("60")), T0);
    let (forwarded, mut tickets) = interleave(&mut a, &mut b, &store, &k, T0);
    assert_eq!(forwarded, 50);

    // Each worker counted its calls; one reporter took them all, and the backend counted them.
    let (mut usage_a, mut usage_b) = (LocalUsage::default(), LocalUsage::default());
    for i in 0..50 {
        let usage = if i % 3 == 0 {
            &mut usage_a
        } else {
            &mut usage_b
        };
        usage.add(&k, true);
    }
    usage_a.flush(&store, 100).unwrap();
    usage_b.flush(&store, 100).unwrap();
    let pending = reports::take_pending(&store);
    assert_eq!(
        pending,
        vec![(
            k.clone(),
            Calls {
                calls: 50,
                leased: 50
            }
        )]
    );
    reports::settle(&store, SLOTS, &pending);
    assert_eq!(shared(&store, &k, SLOTS).outstanding, 0);

    // Re-authorized with 20 left: exactly 20 more, whoever takes them.
    a.answer(
        &store,
        &tickets.remove(0),
        &ok(Some("20"), Some("55")),
        T0 + 5,
    );
    let (forwarded, tickets) = interleave(&mut a, &mut b, &store, &k, T0 + 5);
    assert_eq!(forwarded, 20);
    assert_eq!(tickets.len(), 1);
    assert_eq!(shared(&store, &k, SLOTS).outstanding, 20);
}

#[test]
fn a_partial_settle_leaves_the_uncounted_calls_off_the_budget() {
    let (store, mut a, mut b) = workers(settings(CachingType::None));
    let k = key("k");
    let t = ticket(a.lookup(&store, &k, T0));
    a.answer(&store, &t, &ok(Some("50"), None), T0);
    let (forwarded, mut tickets) = interleave(&mut a, &mut b, &store, &k, T0);
    assert_eq!(forwarded, 50);
    // 30 of the 50 calls were reported; the backend (limit 70) now says 40 remain, and 20
    // calls it has not seen are still on their way: 20 more.
    reports::settle(
        &store,
        SLOTS,
        &[(
            k.clone(),
            Calls {
                calls: 30,
                leased: 30,
            },
        )],
    );
    assert_eq!(shared(&store, &k, SLOTS).outstanding, 20);
    a.answer(&store, &tickets.remove(0), &ok(Some("40"), None), T0 + 1);
    assert_eq!(budget(&store, &k), Some(20));
    let (forwarded, _) = interleave(&mut a, &mut b, &store, &k, T0 + 1);
    assert_eq!(forwarded, 20);
}

#[test]
fn leases_come_in_slices_that_shrink_with_the_budget() {
    assert_eq!(lease_size(1), 1);
    assert_eq!(lease_size(31), 1);
    assert_eq!(lease_size(32), 2);
    assert_eq!(lease_size(50), 3);
    assert_eq!(lease_size(1_000), 62);
    assert_eq!(lease_size(1_000_000), MAX_LEASE);
}

#[test]
fn one_worker_can_use_a_whole_budget_alone() {
    let (store, mut a, mut b) = workers(settings(CachingType::None));
    let k = key("k");
    let t = ticket(a.lookup(&store, &k, T0));
    a.answer(&store, &t, &ok(Some("5000"), None), T0);
    let (forwarded, last) = drain(&mut a, &store, &k, T0);
    assert_eq!(forwarded, 5000);
    assert!(matches!(last, Lookup::Authorize(_)));
    assert_eq!(b.lookup(&store, &k, T0), Lookup::Wait);
}

// ---- 4. Leases given back ------------------------------------------------------------------

#[test]
fn an_expired_lease_gives_its_unused_calls_back() {
    let (store, mut a, _) = workers(settings(CachingType::None));
    let k = key("k");
    let t = ticket(a.lookup(&store, &k, T0));
    a.answer(&store, &t, &ok(Some("1000"), None), T0);
    assert_eq!(a.lookup(&store, &k, T0), LEASED);
    // A lease of 62, one used.
    assert_eq!(shared(&store, &k, SLOTS).outstanding, 62);
    assert_eq!(budget(&store, &k), Some(938));
    a.expire(&store, T0 + TTL - 1);
    assert_eq!(shared(&store, &k, SLOTS).outstanding, 62, "not expired yet");
    a.expire(&store, T0 + TTL);
    // Same epoch: the 61 unused calls are no longer owed, and are back in the budget.
    let entry = shared(&store, &k, SLOTS);
    assert_eq!(entry.outstanding, 1);
    assert_eq!(
        entry.fresh,
        Fresh::Authorized {
            until: T0 + TTL,
            budget: Some(999)
        }
    );
    // Only once.
    a.expire(&store, T0 + TTL + 1);
    assert_eq!(shared(&store, &k, SLOTS).outstanding, 1);
    assert!(a.local.is_empty());
}

#[test]
fn a_worker_going_away_gives_its_leases_back() {
    let (store, mut a, _) = workers(settings(CachingType::None));
    let k = key("k");
    let t = ticket(a.lookup(&store, &k, T0));
    a.answer(&store, &t, &ok(Some("1000"), None), T0);
    assert_eq!(a.lookup(&store, &k, T0), LEASED);
    assert_eq!(shared(&store, &k, SLOTS).outstanding, 62);
    a.release_all(&store);
    // The one call used is still owed (it will be reported); the 61 others are back.
    assert_eq!(shared(&store, &k, SLOTS).outstanding, 1);
    assert_eq!(budget(&store, &k), Some(999));
    assert!(a.local.is_empty());
}

#[test]
fn a_lookup_past_its_lease_gives_the_rest_back() {
    let (store, mut a, _) = workers(settings(CachingType::None));
    let k = key("k");
    let t = ticket(a.lookup(&store, &k, T0));
    a.answer(&store, &t, &ok(Some("1000"), None), T0);
    for _ in 0..10 {
        assert_eq!(a.lookup(&store, &k, T0), LEASED);
    }
    assert!(matches!(
        a.lookup(&store, &k, T0 + TTL),
        Lookup::Authorize(_)
    ));
    assert_eq!(shared(&store, &k, SLOTS).outstanding, 10);
}

#[test]
fn a_lease_from_an_older_answer_goes_back_to_the_new_budget() {
    let (store, mut a, mut b) = workers(settings(CachingType::None));
    let k = key("k");
    let t = ticket(a.lookup(&store, &k, T0));
    a.answer(&store, &t, &ok(Some("100"), None), T0);
    // A leases 6 and uses 1; B uses up the other 94.
    assert_eq!(a.lookup(&store, &k, T0), LEASED);
    let (forwarded, last) = drain(&mut b, &store, &k, T0 + 1);
    assert_eq!(forwarded, 94);
    // B's calls are reported and counted; the backend says 10 left; A's 6 are still owed.
    reports::settle(
        &store,
        SLOTS,
        &[(
            k.clone(),
            Calls {
                calls: 94,
                leased: 94,
            },
        )],
    );
    b.answer(&store, &ticket(last), &ok(Some("10"), None), T0 + 100);
    assert_eq!(shared(&store, &k, SLOTS).outstanding, 6);
    assert_eq!(budget(&store, &k), Some(4));
    // A's lease (of the first answer) expires: its 5 unused calls are no longer owed, and the
    // new budget, computed with them owed, gets them back: 10 left minus A's 1 used call.
    a.expire(&store, T0 + TTL);
    let entry = shared(&store, &k, SLOTS);
    assert_eq!(entry.outstanding, 1);
    assert_eq!(budget(&store, &k), Some(9));
    let (forwarded, _) = drain(&mut b, &store, &k, T0 + TTL);
    assert_eq!(forwarded, 9);
}

// ---- 5. Denials --------------------------------------------------------------------------------

#[test]
fn limits_exceeded_is_cached_until_the_reset() {
    let (store, mut a, mut b) = workers(settings(CachingType::None));
    let k = key("k");
    assert_eq!(
        request(&mut a, &store, &k, &over_limit("30", "5"), T0),
        limits_exceeded(Some(30))
    );
    assert_eq!(b.lookup(&store, &k, T0), limits_exceeded(Some(30)));
    assert_eq!(a.lookup(&store, &k, T0 + 10_000), limits_exceeded(Some(20)));
    assert_eq!(b.lookup(&store, &k, T0 + 29_001), limits_exceeded(Some(1)));
    assert_eq!(a.lookup(&store, &k, T0 + 29_999), limits_exceeded(Some(1)));
    assert!(matches!(
        b.lookup(&store, &k, T0 + 30_000),
        Lookup::Authorize(_)
    ));
}

#[test]
fn limits_exceeded_without_a_reset_is_cached_for_denied_ttl() {
    let (store, mut a, mut b) = workers(settings(CachingType::None));
    let k = key("k");
    // An eternity limit: reset -1, no Retry-After.
    assert_eq!(
        request(&mut a, &store, &k, &over_limit("-1", "3"), T0),
        limits_exceeded(None)
    );
    assert_eq!(
        b.lookup(&store, &k, T0 + DENIED_TTL - 1),
        limits_exceeded(None)
    );
    assert!(matches!(
        b.lookup(&store, &k, T0 + DENIED_TTL),
        Lookup::Authorize(_)
    ));
}

#[test]
fn a_disabled_metric_is_auth_failed() {
    let (store, mut a, mut b) = workers(settings(CachingType::None));
    let k = key("k");
    assert_eq!(
        request(&mut a, &store, &k, &over_limit("-1", "0"), T0),
        AUTH_FAILED
    );
    assert_eq!(b.lookup(&store, &k, T0 + DENIED_TTL - 1), AUTH_FAILED);
    assert!(matches!(
        b.lookup(&store, &k, T0 + DENIED_TTL),
        Lookup::Authorize(_)
    ));
}

#[test]
fn denials_are_cached_for_denied_ttl_on_every_worker() {
    let denials = [
        status(Some(403)),
        status(Some(404)),
        BackendAnswer {
            status: Some(409),
            rejection_reason: Some("application_key_invalid".into()),
            ..BackendAnswer::default()
        },
    ];
    for denial in denials {
        let (store, mut a, mut b) = workers(settings(CachingType::None));
        let k = key("k");
        assert_eq!(
            request(&mut a, &store, &k, &denial, T0),
            AUTH_FAILED,
            "{denial:?}"
        );
        for now in [T0, T0 + 1, T0 + DENIED_TTL - 1] {
            assert_eq!(a.lookup(&store, &k, now), AUTH_FAILED);
            assert_eq!(b.lookup(&store, &k, now), AUTH_FAILED);
        }
        assert!(matches!(
            b.lookup(&store, &k, T0 + DENIED_TTL),
            Lookup::Authorize(_)
        ));
        assert_eq!(a.lookup(&store, &k, T0 + DENIED_TTL), Lookup::Wait);
    }
}

// ---- 6. Backend unavailable, authorize mode ---------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq)]
enum Last {
    Authorized,
    Denied,
    Limited,
    Nothing,
}

/// Lookups after the backend fails, with `last` the answer before (since expired): the asking
/// worker's, the other worker's, again on each, then half a second later on each.
fn after_failure(caching_type: CachingType, last: Last, failure: &BackendAnswer) -> Vec<Lookup> {
    let (store, mut a, mut b) = workers(settings(caching_type));
    let k = key("k");
    let mut now = T0;
    let previous = match last {
        Last::Authorized => Some((ok(None, None), TTL)),
        Last::Denied => Some((status(Some(403)), DENIED_TTL)),
        Last::Limited => Some((over_limit("2", "5"), 2_000)),
        Last::Nothing => None,
    };
    if let Some((answer, lasts)) = previous {
        request(&mut a, &store, &k, &answer, now);
        now += lasts;
    }
    let t = ticket(a.lookup(&store, &k, now));
    assert_eq!(b.lookup(&store, &k, now), Lookup::Wait);
    assert_eq!(a.answer(&store, &t, failure, now), None);
    let mut out = Vec::new();
    for at in [now, now, now + 500, now + 999] {
        out.push(a.lookup(&store, &k, at));
        out.push(b.lookup(&store, &k, at));
    }
    // The backend is not asked again for a second, then it is (once).
    assert!(matches!(
        b.lookup(&store, &k, now + 1_000),
        Lookup::Authorize(_)
    ));
    assert_eq!(a.lookup(&store, &k, now + 1_000), Lookup::Wait);
    out
}

#[test]
fn backend_failures_follow_caching_type() {
    use CachingType::{Allow, None as Off, Resilient, Strict};
    let all = |l: Lookup| vec![l; 8];
    let once = {
        let mut v = all(AUTH_FAILED);
        v[0] = FORWARD;
        v
    };
    let limited = limits_exceeded(None);
    let table = [
        (Off, Last::Authorized, all(AUTH_FAILED)),
        (Off, Last::Denied, all(AUTH_FAILED)),
        (Off, Last::Limited, all(AUTH_FAILED)),
        (Off, Last::Nothing, all(AUTH_FAILED)),
        (Strict, Last::Authorized, once),
        (Strict, Last::Denied, all(AUTH_FAILED)),
        (Strict, Last::Limited, all(AUTH_FAILED)),
        (Strict, Last::Nothing, all(AUTH_FAILED)),
        (Resilient, Last::Authorized, all(FORWARD)),
        (Resilient, Last::Denied, all(AUTH_FAILED)),
        (Resilient, Last::Limited, all(limited.clone())),
        (Resilient, Last::Nothing, all(AUTH_FAILED)),
        (Allow, Last::Authorized, all(FORWARD)),
        (Allow, Last::Denied, all(AUTH_FAILED)),
        (Allow, Last::Limited, all(limited)),
        (Allow, Last::Nothing, all(FORWARD)),
    ];
    for failure in [
        status(Some(503)),
        status(Some(500)),
        status(None),
        status(Some(0)),
    ] {
        for (caching_type, last, expected) in &table {
            assert_eq!(
                after_failure(*caching_type, *last, &failure),
                *expected,
                "{caching_type:?}, last {last:?}, backend {:?}",
                failure.status
            );
        }
    }
}

#[test]
fn strict_forgets_its_200_after_one_failure_even_once_the_backend_is_asked_again() {
    let (store, mut a, _) = workers(settings(CachingType::Strict));
    let k = key("k");
    assert_eq!(request(&mut a, &store, &k, &ok(None, None), T0), FORWARD);
    let now = T0 + TTL;
    assert_eq!(
        request(&mut a, &store, &k, &status(Some(502)), now),
        FORWARD
    );
    assert_eq!(a.lookup(&store, &k, now), AUTH_FAILED);
    // A second later, the backend fails again: nothing is remembered any more.
    assert_eq!(
        request(&mut a, &store, &k, &status(Some(502)), now + 1_000),
        AUTH_FAILED
    );
    // It recovers: 200 is remembered again.
    assert_eq!(
        request(&mut a, &store, &k, &ok(None, None), now + 2_000),
        FORWARD
    );
    assert_eq!(
        request(&mut a, &store, &k, &status(None), now + 2_000 + TTL),
        FORWARD
    );
    assert_eq!(a.lookup(&store, &k, now + 2_000 + TTL), AUTH_FAILED);
}

#[test]
fn an_exhausted_budget_and_a_failing_backend_follow_caching_type() {
    // The budget ran out before auths_ttl and the backend fails when asked for more.
    for (caching_type, expected) in [
        (CachingType::None, AUTH_FAILED),
        (CachingType::Resilient, FORWARD),
        (CachingType::Allow, FORWARD),
    ] {
        let (store, mut a, _) = workers(settings(caching_type));
        let k = key("k");
        assert_eq!(
            request(&mut a, &store, &k, &ok(Some("1"), None), T0),
            LEASED
        );
        assert_eq!(
            request(&mut a, &store, &k, &status(Some(503)), T0 + 1),
            expected
        );
    }
}

// ---- 7. Backend unavailable, authrep mode -----------------------------------------------------

/// What the adapter does per request without batching: authrep each time; remember the
/// answer, or on failure ask the failure policy.
fn authrep(
    cache: &mut AuthCache,
    store: &MemoryStore,
    key: &EntryKey,
    answer: &BackendAnswer,
    now: u64,
) -> Lookup {
    match answer.decision() {
        Decision::BackendUnavailable => cache.authrep_fallback(store, key, now),
        decision => {
            cache.remember_authrep(store, key, answer, now);
            match decision {
                Decision::Authorized => FORWARD,
                Decision::LimitsExceeded { retry_after } => limits_exceeded(retry_after),
                _ => AUTH_FAILED,
            }
        }
    }
}

fn authrep_sequence(caching_type: CachingType, answers: &[BackendAnswer]) -> Vec<Lookup> {
    let (store, mut a, mut b) = workers(settings(caching_type));
    let k = key("k");
    answers
        .iter()
        .enumerate()
        .map(|(i, answer)| {
            // Requests alternate between the workers: what one remembers, the other uses.
            let worker = if i % 2 == 0 { &mut a } else { &mut b };
            authrep(worker, &store, &k, answer, T0 + i as u64 * 100_000)
        })
        .collect()
}

#[test]
fn authrep_strict_200_502_502_is_forward_forward_deny() {
    let (s200, s502) = (ok(None, None), status(Some(502)));
    assert_eq!(
        authrep_sequence(
            CachingType::Strict,
            &[s200.clone(), s502.clone(), s502.clone()]
        ),
        vec![FORWARD, FORWARD, AUTH_FAILED]
    );
    assert_eq!(
        authrep_sequence(
            CachingType::Strict,
            &[
                s200.clone(),
                s502.clone(),
                s502.clone(),
                s200,
                s502.clone(),
                s502
            ]
        ),
        vec![FORWARD, FORWARD, AUTH_FAILED, FORWARD, FORWARD, AUTH_FAILED]
    );
}

#[test]
fn authrep_none_200_502_200_502_is_forward_deny_forward_deny() {
    let (s200, s502) = (ok(None, None), status(Some(502)));
    assert_eq!(
        authrep_sequence(CachingType::None, &[s200.clone(), s502.clone(), s200, s502]),
        vec![FORWARD, AUTH_FAILED, FORWARD, AUTH_FAILED]
    );
}

#[test]
fn authrep_failures_follow_caching_type() {
    use CachingType::{Allow, None as Off, Resilient, Strict};
    let (s200, s403, s409, s503) = (
        ok(None, None),
        status(Some(403)),
        over_limit("60", "5"),
        status(None),
    );
    let limited = limits_exceeded(None);
    let table = [
        (Off, Some(&s200), [AUTH_FAILED, AUTH_FAILED]),
        (Off, Some(&s403), [AUTH_FAILED, AUTH_FAILED]),
        (Off, None, [AUTH_FAILED, AUTH_FAILED]),
        (Strict, Some(&s200), [FORWARD, AUTH_FAILED]),
        (Strict, Some(&s403), [AUTH_FAILED, AUTH_FAILED]),
        (Strict, Some(&s409), [AUTH_FAILED, AUTH_FAILED]),
        (Strict, None, [AUTH_FAILED, AUTH_FAILED]),
        (Resilient, Some(&s200), [FORWARD, FORWARD]),
        (Resilient, Some(&s403), [AUTH_FAILED, AUTH_FAILED]),
        (Resilient, Some(&s409), [limited.clone(), limited.clone()]),
        (Resilient, None, [AUTH_FAILED, AUTH_FAILED]),
        (Allow, Some(&s200), [FORWARD, FORWARD]),
        (Allow, Some(&s403), [AUTH_FAILED, AUTH_FAILED]),
        (Allow, Some(&s409), [limited.clone(), limited]),
        (Allow, None, [FORWARD, FORWARD]),
    ];
    for (caching_type, last, expected) in table {
        let mut answers: Vec<BackendAnswer> = last.into_iter().cloned().collect();
        answers.extend([s503.clone(), s503.clone()]);
        let got = authrep_sequence(caching_type, &answers);
        assert_eq!(
            got[got.len() - 2..],
            expected,
            "{caching_type:?} after {last:?}"
        );
    }
}

#[test]
fn authrep_remembers_only_changes() {
    let (store, mut a, mut b) = workers(settings(CachingType::Resilient));
    let k = key("k");
    a.remember_authrep(&store, &k, &ok(None, None), T0);
    let slot = slot_key(k.slots(SLOTS)[0]);
    let version = store.get(&slot).1;
    assert!(version > 0);
    b.remember_authrep(&store, &k, &ok(Some("7"), None), T0 + 1);
    a.remember_authrep(&store, &k, &status(Some(503)), T0 + 2);
    assert_eq!(
        store.get(&slot).1,
        version,
        "unchanged answers are not written"
    );
    b.remember_authrep(&store, &k, &status(Some(403)), T0 + 3);
    assert_eq!(shared(&store, &k, SLOTS).last, LastKnown::Denied);
    assert_eq!(a.authrep_fallback(&store, &k, T0 + 4), AUTH_FAILED);
}

// ---- 8. Slots ----------------------------------------------------------------------------------

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
    let (k1, k2) = (key("one"), key("two"));
    assert_eq!(request(&mut a, &store, &k1, &ok(None, None), T0), FORWARD);
    assert!(ticket(b.lookup(&store, &k2, T0 + TTL - 1)).slot.is_none());
    // The first entry has expired, nobody asks for it, nothing is owed: the slot is free.
    let t = ticket(b.lookup(&store, &k2, T0 + TTL));
    assert_eq!(t.slot, Some(0));
    assert_eq!(a.lookup(&store, &k2, T0 + TTL), Lookup::Wait);
    assert_eq!(b.answer(&store, &t, &ok(None, None), T0 + TTL), None);
    assert_eq!(a.lookup(&store, &k2, T0 + TTL), FORWARD);
    assert_eq!(b.lookup(&store, &k2, T0 + TTL), FORWARD);
    // Now the first key is the one without a slot.
    assert!(ticket(b.lookup(&store, &k1, T0 + TTL)).slot.is_none());
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
    let later = T0 + TTL;
    assert!(ticket(b.lookup(&store, &k2, later)).slot.is_none());
    reports::settle(
        &store,
        1,
        &[(
            k1.clone(),
            Calls {
                calls: 2,
                leased: 2,
            },
        )],
    );
    assert_eq!(ticket(b.lookup(&store, &k2, later)).slot, Some(0));
}

#[test]
fn a_full_local_map_does_not_swallow_leases() {
    // One slot: this worker still remembers the first key (expired, not yet swept by
    // `expire`) when the second takes the shared slot over.
    let (store, mut a, mut b) = workers(with_slots(CachingType::None, 1));
    let (k1, k2) = (key("one"), key("two"));
    assert_eq!(request(&mut a, &store, &k1, &ok(None, None), T0), FORWARD);
    let now = T0 + TTL;
    let t = ticket(b.lookup(&store, &k2, now));
    b.answer(&store, &t, &ok(Some("100"), None), now);
    let (forwarded, last) = drain(&mut a, &store, &k2, now);
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
    let now = T0 + WAIT;
    assert_eq!(
        request(&mut b, &store, &k2, &ok(Some("100"), None), now),
        LEASED
    );
    let before = shared(&store, &k2, 1);
    assert_eq!(before.outstanding, 6);
    // The first key's answer arrives at last: it serves its request, and the other key's
    // entry (with its owed calls) stays.
    assert_eq!(
        a.answer(&store, &late, &ok(None, None), now + 1),
        Some(FORWARD)
    );
    assert_eq!(shared(&store, &k2, 1), before);
}

// ---- Conflicts ---------------------------------------------------------------------------------

#[test]
fn leases_stay_exact_through_write_conflicts() {
    let (store, mut a, mut b) = workers(settings(CachingType::None));
    let k = key("k");
    let t = ticket(a.lookup(&store, &k, T0));
    a.answer(&store, &t, &ok(Some("300"), None), T0);
    let mut forwarded = 0;
    let mut waits = 0;
    for i in 0..2_000u32 {
        // Every few lookups, other writers get in first a few times.
        *store.forced_conflicts.borrow_mut() = i % 4;
        let worker = if i % 3 == 0 { &mut a } else { &mut b };
        match worker.lookup(&store, &k, T0 + 1) {
            Lookup::Forward { leased: true } => forwarded += 1,
            Lookup::Authorize(_) | Lookup::Wait => waits += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    *store.forced_conflicts.borrow_mut() = 0;
    assert_eq!(forwarded, 300);
    assert!(waits > 0);
    assert_eq!(shared(&store, &k, SLOTS).outstanding, 300);
}

#[test]
fn persistent_contention_waits_and_takes_nothing() {
    let (store, mut a, _) = workers(settings(CachingType::None));
    let k = key("k");
    let t = ticket(a.lookup(&store, &k, T0));
    a.answer(&store, &t, &ok(Some("50"), None), T0);
    *store.forced_conflicts.borrow_mut() = MAX_ATTEMPTS as u32;
    assert_eq!(a.lookup(&store, &k, T0), Lookup::Wait);
    assert_eq!(*store.forced_conflicts.borrow(), 0);
    assert_eq!(shared(&store, &k, SLOTS).outstanding, 0);
    assert_eq!(budget(&store, &k), Some(50));
    let (forwarded, _) = drain(&mut a, &store, &k, T0);
    assert_eq!(forwarded, 50);

    // A miss under contention does not claim the key either: the next lookup asks.
    let k2 = key("k2");
    *store.forced_conflicts.borrow_mut() = MAX_ATTEMPTS as u32;
    assert_eq!(a.lookup(&store, &k2, T0), Lookup::Wait);
    assert!(matches!(a.lookup(&store, &k2, T0), Lookup::Authorize(_)));
}

#[test]
fn answers_and_give_backs_survive_conflicts() {
    let (store, mut a, _) = workers(settings(CachingType::None));
    let k = key("k");
    let t = ticket(a.lookup(&store, &k, T0));
    *store.forced_conflicts.borrow_mut() = 5;
    assert_eq!(a.answer(&store, &t, &ok(Some("1000"), None), T0), None);
    assert_eq!(budget(&store, &k), Some(1000));
    assert_eq!(a.lookup(&store, &k, T0), LEASED);
    *store.forced_conflicts.borrow_mut() = 5;
    a.expire(&store, T0 + TTL);
    assert_eq!(shared(&store, &k, SLOTS).outstanding, 1);
}

#[test]
fn settings_from_the_backend_block() {
    let parse = |backend: &str| {
        let text = format!(r#"{{"backend":{backend},"services":[]}}"#);
        crate::config::Config::parse(text.as_bytes())
            .unwrap()
            .config
            .backend
    };
    assert_eq!(CacheSettings::new(&parse(r#"{"cluster":"b"}"#)), None);
    let s = CacheSettings::new(&parse(
        r#"{"cluster":"b","timeout_ms":500,"cache_max_entries":7,"batching":{"auths_ttl":3,"denied_ttl":2}}"#,
    ))
    .unwrap();
    assert_eq!(
        s,
        CacheSettings {
            caching_type: CachingType::None,
            auths_ttl_ms: 3_000,
            denied_ttl_ms: 2_000,
            slots: 7,
            wait_ms: 1_500,
        }
    );
    let s = CacheSettings::new(&parse(r#"{"cluster":"b","caching_type":"strict"}"#)).unwrap();
    assert_eq!((s.caching_type, s.auths_ttl_ms), (CachingType::Strict, 0));
}
