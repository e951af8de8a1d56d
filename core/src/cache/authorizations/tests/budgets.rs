//! Exact limits: a budget shared by workers through leases, settled by reports, and leases
//! given back (expiry, a worker going away, a newer answer).

use super::*;
use crate::cache::reports::{self, Calls, LocalUsage};

/// Interleaves two workers (A A B A B B, repeated) until neither forwards any more; returns the
/// leased forwards and the tickets handed out (the rest must be waits).
fn interleave(
    a: &mut AuthCache,
    b: &mut AuthCache,
    store: &MemoryStore,
    key: &EntryKey,
    now_ms: u64,
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
        match worker.lookup(store, key, now_ms) {
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

// ---- Exact limits --------------------------------------------------------------------------

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
    for now_ms in [T0 + 2, T0 + 3] {
        assert_eq!(a.lookup(&store, &k, now_ms), limits_exceeded(Some(60)));
        assert_eq!(b.lookup(&store, &k, now_ms), limits_exceeded(Some(60)));
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
        usage.add(&k, true, 0);
    }
    usage_a.flush(&store, 100).unwrap();
    usage_b.flush(&store, 100).unwrap();
    let pending = reports::take_pending(&store);
    assert_eq!(
        pending,
        vec![(
            k.clone(),
            Calls {
                minute: 0,
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
                minute: 0,
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

// ---- Leases given back ------------------------------------------------------------------

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

/// A call leased for a request refused before the upstream had it (its streamed body) goes
/// back: to the worker's lease while it holds one, else to the entry's budget, where a limit
/// it had reached is lifted (the backend is asked again).
#[test]
fn a_call_not_made_goes_back_to_the_lease_or_the_budget() {
    let (store, mut a, _) = workers(settings(CachingType::None));
    let k = key("k");
    let t = ticket(a.lookup(&store, &k, T0));
    a.answer(&store, &t, &ok(Some("2"), None), T0);
    assert_eq!(a.lookup(&store, &k, T0), LEASED);
    a.unlease(&store, &k, SLOTS);
    assert_eq!(
        a.lookup(&store, &k, T0),
        LEASED,
        "the same lease's call again"
    );
    assert_eq!(a.lookup(&store, &k, T0), LEASED);
    assert_eq!(shared(&store, &k, SLOTS).outstanding, 2);
    // The lease is gone: the call goes back to the shared entry.
    a.expire(&store, T0 + TTL);
    assert!(a.local.is_empty());
    a.unlease(&store, &k, SLOTS);
    let entry = shared(&store, &k, SLOTS);
    assert_eq!(entry.outstanding, 1);
    assert_eq!(
        entry.fresh,
        Fresh::Authorized {
            until: T0 + TTL,
            budget: Some(1)
        }
    );
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
                minute: 0,
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

/// A worker that went idle holding part of its slice: the other worker uses up the budget,
/// and the backend's answer (the reports not in yet) allows no more than is owed, idle slice
/// included: limited. When the idle slice expires, its unused calls lift the limit: the
/// backend is asked again and they are allowed, exactly the limit in all (until the
/// twenty-third session the entry stayed limited until the reset: 48 of 50).
#[test]
fn an_idle_workers_unused_slice_lifts_the_limit_it_caused() {
    let (store, mut a, mut b) = workers(settings(CachingType::None));
    let k = key("k");
    let t = ticket(a.lookup(&store, &k, T0));
    a.answer(&store, &t, &ok(Some("50"), Some("60")), T0);
    // A leases 3 and uses 1; B uses the other 47.
    assert_eq!(a.lookup(&store, &k, T0), LEASED);
    let (forwarded, last) = drain(&mut b, &store, &k, T0 + 1);
    assert_eq!(forwarded, 47);
    b.answer(&store, &ticket(last), &ok(Some("50"), Some("60")), T0 + 2);
    assert_eq!(b.lookup(&store, &k, T0 + 3), limits_exceeded(Some(60)));
    assert_eq!(shared(&store, &k, SLOTS).outstanding, 50);
    // Still limited while A holds its 2 (B reads the entry again each second).
    assert_eq!(b.lookup(&store, &k, T0 + 1_500), limits_exceeded(Some(59)));
    a.expire(&store, T0 + TTL);
    assert_eq!(shared(&store, &k, SLOTS).outstanding, 48);
    let t = ticket(b.lookup(&store, &k, T0 + TTL));
    assert_eq!(
        b.answer(&store, &t, &ok(Some("50"), Some("50")), T0 + TTL),
        None
    );
    let (forwarded, last) = drain(&mut b, &store, &k, T0 + TTL);
    assert_eq!(forwarded, 2, "the idle slice's unused calls");
    b.answer(
        &store,
        &ticket(last),
        &ok(Some("50"), Some("50")),
        T0 + TTL + 1,
    );
    assert_eq!(
        b.lookup(&store, &k, T0 + TTL + 2),
        limits_exceeded(Some(50))
    );
    // With nothing left to come back, the limit is remembered until the reset.
    assert_eq!(shared(&store, &k, SLOTS).outstanding, 50);
    assert_eq!(
        a.lookup(&store, &k, T0 + TTL + 3),
        limits_exceeded(Some(50))
    );
}

/// A limit the backend counted (409): a lease given back asks once more; still over it.
#[test]
fn an_unused_slice_given_back_after_a_409_asks_once_more() {
    let (store, mut a, mut b) = workers(settings(CachingType::None));
    let k = key("k");
    let t = ticket(a.lookup(&store, &k, T0));
    a.answer(&store, &t, &ok(Some("50"), Some("60")), T0);
    assert_eq!(a.lookup(&store, &k, T0), LEASED);
    let (_, last) = drain(&mut b, &store, &k, T0 + 1);
    b.answer(&store, &ticket(last), &over_limit("60", "50"), T0 + 2);
    assert_eq!(b.lookup(&store, &k, T0 + 3), limits_exceeded(Some(60)));
    a.expire(&store, T0 + TTL);
    let t = ticket(b.lookup(&store, &k, T0 + TTL));
    b.answer(&store, &t, &over_limit("50", "50"), T0 + TTL);
    assert_eq!(b.lookup(&store, &k, T0 + TTL), limits_exceeded(Some(50)));
    assert_eq!(
        a.lookup(&store, &k, T0 + TTL + 1),
        limits_exceeded(Some(50))
    );
}
