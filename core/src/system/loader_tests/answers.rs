//! Answers that are not the answer the loader asked for (audit 2026-12-06): a page without
//! `proxy_configs`, a per-service answer holding another service, an entry of another
//! environment, and two versions of one service in one latest fetch.

use super::*;

fn envelope(id: u64, version: u64, environment: &str) -> Value {
    json!({"proxy_config": {"id": id * 1000 + version, "version": version,
        "environment": environment, "content": content(id, json!(1))}})
}

fn list(entries: &[Value]) -> Vec<u8> {
    json!({ "proxy_configs": entries }).to_string().into_bytes()
}

/// One whole fetch of one answer per request, at `t`: what it installs (`None`: nothing new).
fn fetch(
    a: &mut Loader,
    store: &MemoryStore,
    answers: &[Vec<u8>],
    t: u64,
) -> Option<Vec<(Option<String>, u64)>> {
    assert_eq!(gets(&a.on_tick(store, t)).len(), 1, "a fetch starts at {t}");
    for (token, body) in (1..).zip(answers) {
        a.on_sent(store, Some(token), t);
        a.on_answer_body(store, &base(), Some(200), body, t);
    }
    installed(&a.on_tick(store, t + 1))
}

fn ids(list: &[(u64, u64)]) -> Option<Vec<(Option<String>, u64)>> {
    Some(
        (list.iter())
            .map(|(id, v)| (Some(id.to_string()), *v))
            .collect(),
    )
}

/// An account page answered with one `proxy_config` fails the fetch: every service stays.
#[test]
fn a_page_without_proxy_configs_fails_the_fetch() {
    let store = MemoryStore::default();
    let mut a = Loader::new(system(json!({})));
    let both = list(&[envelope(1, 1, "production"), envelope(2, 1, "production")]);
    assert_eq!(fetch(&mut a, &store, &[both], 0), ids(&[(1, 1), (2, 1)]));
    let single = envelope(2, 2, "production").to_string().into_bytes();
    assert_eq!(fetch(&mut a, &store, &[single], 10_000), None);
    assert_eq!(a.take_counts().failures, 1);
}

/// With `services`, an answer for service 2 holding service 1 installs nothing of service 1
/// and keeps service 2's live version, as a 404 does.
#[test]
fn a_service_answer_with_another_id_keeps_the_installed_version() {
    let store = MemoryStore::default();
    let mut a = Loader::new(system(json!({"services": ["2"]})));
    let two = envelope(2, 1, "production").to_string().into_bytes();
    let one = envelope(1, 1, "production").to_string().into_bytes();
    // Before anything is live, the asked service is absent and the other never installed.
    assert_eq!(
        fetch(&mut a, &store, std::slice::from_ref(&one), 0),
        Some(vec![])
    );
    assert_eq!(fetch(&mut a, &store, &[two], 10_000), ids(&[(2, 1)]));
    assert_eq!(fetch(&mut a, &store, &[one], 20_000), None, "2 stays");
    assert_eq!(a.take_counts().failures, 0);
    // One without any id is not the asked service either.
    let mut no_id = envelope(2, 2, "production");
    no_id["proxy_config"]["content"]["id"] = Value::Null;
    let no_id = no_id.to_string().into_bytes();
    assert_eq!(fetch(&mut a, &store, &[no_id], 30_000), None, "2 stays");
    // A list is no answer to a per-service request: the fetch fails.
    let page = list(&[envelope(2, 3, "production")]);
    assert_eq!(fetch(&mut a, &store, &[page], 40_000), None);
    assert_eq!(a.take_counts().failures, 1);
}

/// An entry of another environment is skipped, its service keeping its live version, and
/// never rolls back a newer version of the asked environment listed beside it; `staging` is
/// answered as `sandbox`.
#[test]
fn an_entry_of_another_environment_is_skipped() {
    let store = MemoryStore::default();
    let mut a = Loader::new(system(json!({})));
    let first = list(&[envelope(1, 1, "production"), envelope(1, 2, "sandbox")]);
    assert_eq!(fetch(&mut a, &store, &[first], 0), ids(&[(1, 1)]));
    let second = list(&[envelope(1, 3, "production"), envelope(1, 4, "sandbox")]);
    assert_eq!(fetch(&mut a, &store, &[second], 10_000), ids(&[(1, 3)]));
    let only_sandbox = list(&[envelope(1, 5, "sandbox"), envelope(2, 1, "production")]);
    assert_eq!(
        fetch(&mut a, &store, &[only_sandbox], 20_000),
        ids(&[(1, 3), (2, 1)]),
        "1 keeps its live version"
    );
    let mut staging = Loader::new(system(json!({"environment": "staging"})));
    let mixed = list(&[envelope(1, 1, "production"), envelope(1, 2, "sandbox")]);
    assert_eq!(fetch(&mut staging, &store, &[mixed], 0), ids(&[(1, 2)]));
    // A per-service answer of another environment is kept-installed too.
    let mut b = Loader::new(system(json!({"services": ["1"], "environment": "sandbox"})));
    let ok = envelope(1, 1, "sandbox").to_string().into_bytes();
    let wrong = envelope(1, 2, "production").to_string().into_bytes();
    assert_eq!(fetch(&mut b, &store, &[ok], 0), ids(&[(1, 1)]));
    assert_eq!(fetch(&mut b, &store, &[wrong], 10_000), None, "1 stays");
}

/// Of two versions of a service in one latest fetch, the highest serves, whichever comes
/// first; a pinned version still replaces the latest the page gave.
#[test]
fn the_highest_version_wins_and_a_pinned_one_replaces() {
    let store = MemoryStore::default();
    let mut a = Loader::new(system(json!({})));
    let newest_first = list(&[envelope(1, 2, "production"), envelope(1, 1, "production")]);
    assert_eq!(fetch(&mut a, &store, &[newest_first], 0), ids(&[(1, 2)]));
    let newest_last = list(&[
        envelope(1, 3, "production"),
        envelope(2, 1, "production"),
        envelope(1, 4, "production"),
    ]);
    assert_eq!(
        fetch(&mut a, &store, &[newest_last], 10_000),
        ids(&[(1, 4), (2, 1)]),
        "in the place of the first entry"
    );
    let mut pinned = Loader::new(system(json!({"versions": {"1": 1}})));
    let page = list(&[envelope(1, 2, "production")]);
    let one = envelope(1, 1, "production").to_string().into_bytes();
    assert_eq!(fetch(&mut pinned, &store, &[page, one], 0), ids(&[(1, 1)]));
}
