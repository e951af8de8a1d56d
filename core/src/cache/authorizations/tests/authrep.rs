//! Backend unavailable in authrep mode (no batching): what is remembered per answer and what
//! each `caching_type` answers when the backend fails.

use super::*;

/// What the adapter does per request without batching: authrep each time; remember the
/// answer, or on failure ask the failure policy.
fn authrep(
    cache: &mut AuthCache,
    store: &MemoryStore,
    key: &EntryKey,
    answer: &BackendAnswer,
    now_ms: u64,
) -> Lookup {
    match answer.decision() {
        Decision::BackendUnavailable => cache.authrep_fallback(store, key, None, now_ms),
        decision => {
            cache.remember_authrep(store, key, None, answer, now_ms);
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
    a.remember_authrep(&store, &k, None, &ok(None, None), T0);
    let slot = slot_key(k.slots(SLOTS)[0]);
    let version = store.get(&slot).1;
    assert!(version > 0);
    b.remember_authrep(&store, &k, None, &ok(Some("7"), None), T0 + 1);
    a.remember_authrep(&store, &k, None, &status(Some(503)), T0 + 2);
    assert_eq!(
        store.get(&slot).1,
        version,
        "unchanged answers are not written"
    );
    b.remember_authrep(&store, &k, None, &status(Some(403)), T0 + 3);
    assert_eq!(shared(&store, &k, SLOTS).last, LastKnown::Denied);
    assert_eq!(a.authrep_fallback(&store, &k, None, T0 + 4), AUTH_FAILED);
}
