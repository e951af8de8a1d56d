//! Reported calls the backend accepted (202) but has not counted yet (it applies reports
//! asynchronously): owed to budgets until an answer's figures show them counted, never longer.

use super::*;
use crate::cache::reports::{self, Calls};

/// 2026-12-06 05:30:01 UTC: a second into a minute.
const NOW: u64 = 1_796_535_001_000;

/// 200 allowing `remaining` more of a 5-a-minute limit that resets in `reset_s`.
fn five_a_minute(remaining: &str, reset_s: &str) -> BackendAnswer {
    BackendAnswer {
        limit_max_value: Some("5".into()),
        ..ok(Some(remaining), Some(reset_s))
    }
}

/// A worker asks at `NOW` (5 left), forwards 3 calls, and their report, sent at `NOW + 100`,
/// is accepted; the entry's answer has expired by `NOW + TTL`.
fn three_accepted() -> (MemoryStore, AuthCache, EntryKey) {
    let (store, mut a, _) = workers(settings(CachingType::None));
    let k = key("k");
    let t = ticket(a.lookup(&store, &k, NOW));
    a.answer(&store, &t, &five_a_minute("5", "59"), NOW);
    for _ in 0..3 {
        assert_eq!(a.lookup(&store, &k, NOW), LEASED);
    }
    a.expire(&store, NOW + TTL);
    let calls = Calls {
        minute: NOW / 60_000,
        calls: 3,
        leased: 3,
    };
    reports::settle_sent(&store, SLOTS, &[(k.clone(), calls)], NOW + 100, NOW + 150);
    let e = shared(&store, &k, SLOTS);
    assert_eq!((e.outstanding, e.unapplied.calls), (0, 3));
    (store, a, k)
}

/// The calls the worker gets after the backend's `answer` at `at`.
fn forwarded_after(answer: &BackendAnswer, at: u64) -> (u64, Lookup) {
    let (store, mut a, k) = three_accepted();
    let t = ticket(a.lookup(&store, &k, at));
    a.answer(&store, &t, answer, at);
    drain(&mut a, &store, &k, at)
}

#[test]
fn a_quick_backend_counts_them_once() {
    // The backend counted the 3 calls: its 2 left are the plan's, none held twice.
    let (n, next) = forwarded_after(&five_a_minute("2", "49"), NOW + TTL);
    assert_eq!(n, 2);
    assert!(matches!(next, Lookup::Authorize(_)), "{next:?}");
}

#[test]
fn a_slow_backend_leaves_them_owed_until_counted() {
    let (store, mut a, k) = three_accepted();
    // Not counted yet: 5 left says the backend, 2 of which are this gateway's.
    let at = NOW + TTL;
    let t = ticket(a.lookup(&store, &k, at));
    a.answer(&store, &t, &five_a_minute("5", "49"), at);
    assert_eq!(drain(&mut a, &store, &k, at).0, 2);
    // The next answer shows them counted (and the 2 calls since, not reported): 0 left.
    let at = at + TTL;
    let t = ticket(a.lookup(&store, &k, at));
    a.answer(&store, &t, &five_a_minute("2", "39"), at);
    assert_eq!(shared(&store, &k, SLOTS).unapplied.calls, 0);
    assert_eq!(a.lookup(&store, &k, at), limits_exceeded(Some(39)));
}

#[test]
fn a_new_period_forgives_them() {
    // The minute has ended: its calls are the backend's to count in it, not in this one.
    let (n, _) = forwarded_after(&five_a_minute("5", "60"), NOW + 59_500);
    assert_eq!(n, 5);
}

#[test]
fn a_counter_reset_forgives_them() {
    let (store, mut a, k) = three_accepted();
    // 2 counted at the next answer, 1 still owed ...
    let at = NOW + TTL;
    let t = ticket(a.lookup(&store, &k, at));
    a.answer(&store, &t, &five_a_minute("3", "49"), at);
    assert_eq!(shared(&store, &k, SLOTS).unapplied.calls, 1);
    assert_eq!(budget(&store, &k), Some(2));
    // ... then the counter goes back to 0 (reset by hand in 3scale): all 5 are the plan's.
    a.expire(&store, at + TTL);
    let t = ticket(a.lookup(&store, &k, at + TTL));
    a.answer(&store, &t, &five_a_minute("5", "39"), at + TTL);
    assert_eq!(drain(&mut a, &store, &k, at + TTL).0, 5);
}

/// An answer that came while the report was on its way may count its calls already: they
/// are not held for it (no call refused that the backend allows).
#[test]
fn an_answer_during_the_report_does_not_hold_its_calls() {
    let (store, mut a, _) = workers(settings(CachingType::None));
    let k = key("k");
    let t = ticket(a.lookup(&store, &k, NOW));
    a.answer(&store, &t, &five_a_minute("5", "59"), NOW);
    assert_eq!(a.lookup(&store, &k, NOW), LEASED);
    a.expire(&store, NOW + TTL);
    // Sent at NOW + TTL + 1; the backend counts it and answers an authorize at once.
    let t = ticket(a.lookup(&store, &k, NOW + TTL + 2));
    a.answer(&store, &t, &five_a_minute("4", "49"), NOW + TTL + 2);
    let calls = Calls {
        minute: NOW / 60_000,
        calls: 1,
        leased: 1,
    };
    reports::settle_sent(
        &store,
        SLOTS,
        &[(k.clone(), calls)],
        NOW + TTL + 1,
        NOW + TTL + 3,
    );
    let e = shared(&store, &k, SLOTS);
    assert_eq!((e.outstanding, e.unapplied.calls), (0, 0));
    // The next answer, the same: its 4 are the plan's.
    let at = NOW + 2 * TTL + 2;
    let t = ticket(a.lookup(&store, &k, at));
    a.answer(&store, &t, &five_a_minute("4", "39"), at);
    assert_eq!(drain(&mut a, &store, &k, at).0, 4);
}
