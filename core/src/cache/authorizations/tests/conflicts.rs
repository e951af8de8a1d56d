//! Write conflicts on the shared store: leases stay exact, contention waits and takes nothing,
//! answers and give-backs are retried.

use super::*;

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
