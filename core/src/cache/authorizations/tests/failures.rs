//! Backend unavailable in authorize (batching) mode: each `caching_type` after each last
//! known answer.

use super::*;

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
    let mut now_ms = T0;
    let previous = match last {
        Last::Authorized => Some((ok(None, None), TTL)),
        Last::Denied => Some((status(Some(403)), DENIED_TTL)),
        Last::Limited => Some((over_limit("2", "5"), 2_000)),
        Last::Nothing => None,
    };
    if let Some((answer, lasts)) = previous {
        request(&mut a, &store, &k, &answer, now_ms);
        now_ms += lasts;
    }
    let t = ticket(a.lookup(&store, &k, now_ms));
    assert_eq!(b.lookup(&store, &k, now_ms), Lookup::Wait);
    assert_eq!(a.answer(&store, &t, failure, now_ms), None);
    let mut out = Vec::new();
    for at in [now_ms, now_ms, now_ms + 500, now_ms + 999] {
        out.push(a.lookup(&store, &k, at));
        out.push(b.lookup(&store, &k, at));
    }
    // The backend is not asked again for a second, then it is (once).
    assert!(matches!(
        b.lookup(&store, &k, now_ms + 1_000),
        Lookup::Authorize(_)
    ));
    assert_eq!(a.lookup(&store, &k, now_ms + 1_000), Lookup::Wait);
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
    let now_ms = T0 + TTL;
    assert_eq!(
        request(&mut a, &store, &k, &status(Some(502)), now_ms),
        FORWARD
    );
    assert_eq!(a.lookup(&store, &k, now_ms), AUTH_FAILED);
    // A second later, the backend fails again: nothing is remembered any more.
    assert_eq!(
        request(&mut a, &store, &k, &status(Some(502)), now_ms + 1_000),
        AUTH_FAILED
    );
    // It recovers: 200 is remembered again.
    assert_eq!(
        request(&mut a, &store, &k, &ok(None, None), now_ms + 2_000),
        FORWARD
    );
    assert_eq!(
        request(&mut a, &store, &k, &status(None), now_ms + 2_000 + TTL),
        FORWARD
    );
    assert_eq!(a.lookup(&store, &k, now_ms + 2_000 + TTL), AUTH_FAILED);
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
