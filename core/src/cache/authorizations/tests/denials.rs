//! Denials: limits exceeded until the reset, disabled metrics, and cached denials on every
//! worker.

use super::*;

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
        for now_ms in [T0, T0 + 1, T0 + DENIED_TTL - 1] {
            assert_eq!(a.lookup(&store, &k, now_ms), AUTH_FAILED);
            assert_eq!(b.lookup(&store, &k, now_ms), AUTH_FAILED);
        }
        assert!(matches!(
            b.lookup(&store, &k, T0 + DENIED_TTL),
            Lookup::Authorize(_)
        ));
        assert_eq!(a.lookup(&store, &k, T0 + DENIED_TTL), Lookup::Wait);
    }
}
