//! An application's keys share its entry (`SharedEntry::members`): one budget whatever the
//! app_key, and each key's own acceptance or refusal (found by an audit, 2026-12-07: an
//! application without keys accepts any app_key, and each made-up key had the whole budget).

use super::*;
use crate::cache::entry::key_digest;

fn app() -> EntryKey {
    let mut usage = Usage::default();
    usage.add("hits", 1);
    EntryKey::new("42", &Credentials::AppId("app".into()), &usage)
}

/// A request with `app_key`: looks up; asks (and records the answer) when told to.
fn with_key(
    cache: &mut AuthCache,
    store: &MemoryStore,
    app_key: &str,
    answer: &BackendAnswer,
    now_ms: u64,
) -> Lookup {
    let (k, d) = (app(), key_digest(app_key));
    match cache.lookup_checked(store, &k, Some(&d), now_ms) {
        Lookup::Authorize(t) => match cache.answer(store, &t, answer, now_ms) {
            Some(lookup) if t.verifies() => lookup,
            _ => cache.lookup_checked(store, &k, Some(&d), now_ms),
        },
        other => other,
    }
}

#[test]
fn every_key_of_an_application_spends_one_budget() {
    let (store, mut a, mut b) = workers(settings(CachingType::None));
    let five = ok(Some("5"), Some("30"));
    let mut forwarded = 0;
    for i in 0..20 {
        let cache = if i % 2 == 0 { &mut a } else { &mut b };
        if let Lookup::Forward { .. } = with_key(cache, &store, &format!("made-up-{i}"), &five, T0)
        {
            forwarded += 1;
        }
    }
    assert_eq!(forwarded, 5);
    assert_eq!(shared(&store, &app(), SLOTS).outstanding, 5);
}

#[test]
fn another_key_is_asked_about_and_a_refused_one_stays_refused() {
    let (store, mut a, _) = workers(settings(CachingType::None));
    let (k, good, bad) = (app(), key_digest("good"), key_digest("bad"));
    assert_eq!(
        with_key(&mut a, &store, "good", &ok(None, None), T0),
        FORWARD
    );
    // A fresh answer for `good` does not hold for `bad`: it is asked about on its own.
    let t = ticket(a.lookup_checked(&store, &k, Some(&bad), T0 + 1));
    assert!(t.verifies());
    let refused = status(Some(403));
    assert_eq!(a.answer(&store, &t, &refused, T0 + 1), Some(AUTH_FAILED));
    // Cached: refused without asking, while `good` is still forwarded.
    assert_eq!(
        a.lookup_checked(&store, &k, Some(&bad), T0 + 2),
        AUTH_FAILED
    );
    assert_eq!(a.lookup_checked(&store, &k, Some(&good), T0 + 2), FORWARD);
    // Padded the way apisonator strips it: the same key.
    assert_eq!(key_digest(" good\t"), good);
    // After denied_ttl it is asked about again.
    let later = T0 + DENIED_TTL + 1;
    assert!(ticket(a.lookup_checked(&store, &k, Some(&bad), later)).verifies());
}

#[test]
fn a_key_never_accepted_does_not_inherit_the_last_200() {
    let (store, mut a, _) = workers(settings(CachingType::Resilient));
    let (k, bad) = (app(), key_digest("bad"));
    assert_eq!(
        with_key(&mut a, &store, "good", &ok(None, None), T0),
        FORWARD
    );
    let down = status(Some(503));
    let later = T0 + TTL + 1;
    assert_eq!(with_key(&mut a, &store, "good", &down, later), FORWARD);
    assert_eq!(with_key(&mut a, &store, "bad", &down, later), AUTH_FAILED);
    // Authrep mode's last known answer too.
    a.remember_authrep(
        &store,
        &k,
        Some(&key_digest("good")),
        &ok(None, None),
        later,
    );
    assert_eq!(
        a.authrep_fallback(&store, &k, Some(&bad), later),
        AUTH_FAILED
    );
    let good = key_digest("good");
    assert_eq!(a.authrep_fallback(&store, &k, Some(&good), later), FORWARD);
    a.remember_authrep(&store, &k, Some(&bad), &status(Some(409)), later);
    assert_eq!(a.authrep_fallback(&store, &k, Some(&good), later), FORWARD);
}

/// A lease held by a worker when another key of the application takes a new one there is
/// given back, not owed for good.
#[test]
fn a_lease_replaced_by_another_keys_is_given_back() {
    let (store, mut a, mut b) = workers(settings(CachingType::None));
    let hundred = ok(Some("100"), Some("30"));
    assert_eq!(with_key(&mut a, &store, "one", &hundred, T0), LEASED);
    assert_eq!(with_key(&mut b, &store, "one", &hundred, T0), LEASED);
    let leased = shared(&store, &app(), SLOTS).outstanding;
    assert!(leased > 2, "two slices: {leased}");
    // `two` is accepted on worker a (from a's slice), then used on worker b, whose copy
    // does not list it: b takes a new slice, and gives its first one back.
    assert_eq!(with_key(&mut a, &store, "two", &hundred, T0 + 1), LEASED);
    assert_eq!(with_key(&mut b, &store, "two", &hundred, T0 + 2), LEASED);
    a.release_all(&store);
    b.release_all(&store);
    assert_eq!(shared(&store, &app(), SLOTS).outstanding, 4);
}

/// Wrong keys never ask for the application's entry: the application's own key is not kept
/// waiting behind them when its answer expires.
#[test]
fn wrong_keys_do_not_hold_up_the_applications_key() {
    let (store, mut a, mut b) = workers(settings(CachingType::None));
    let (k, good) = (app(), key_digest("good"));
    assert_eq!(
        with_key(&mut a, &store, "good", &ok(None, None), T0),
        FORWARD
    );
    let later = T0 + TTL + 1;
    let wrong = ticket(b.lookup_checked(&store, &k, Some(&key_digest("wrong")), later));
    assert!(wrong.verifies());
    let own = ticket(a.lookup_checked(&store, &k, Some(&good), later));
    assert!(!own.verifies());
    // Its answer holds for it; the wrong key's refusal for the wrong key alone.
    let refused = b.answer(&store, &wrong, &status(Some(403)), later);
    assert_eq!(refused, Some(AUTH_FAILED));
    assert_eq!(a.answer(&store, &own, &ok(None, None), later), None);
    assert_eq!(a.lookup_checked(&store, &k, Some(&good), later), FORWARD);
}
