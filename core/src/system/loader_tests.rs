//! The System loader on two workers sharing one store: who fetches, what is published, what a
//! failure keeps.

use super::loader::{Loader, LoaderStep};
use crate::cache::{MemoryStore, SharedStore};
use crate::config::{Config, SystemConfig};
use serde_json::{json, Value};

pub(super) fn system(extra: Value) -> SystemConfig {
    let mut block = json!({"cluster": "sys", "access_token": "secret-token", "refresh_s": 10});
    if let (Some(b), Value::Object(extra)) = (block.as_object_mut(), extra) {
        b.extend(extra);
    }
    let config = json!({"backend": {"cluster": "b"}, "system": block});
    Config::parse(config.to_string().as_bytes())
        .unwrap()
        .config
        .system
        .unwrap()
}

pub(super) fn base() -> Config {
    Config::parse(br#"{"backend": {"cluster": "b"}, "services": []}"#)
        .unwrap()
        .config
}

pub(super) fn content(id: u64, delta: Value) -> Value {
    json!({"id": id, "backend_version": "1", "proxy": {"hosts": [format!("h{id}")],
        "proxy_rules": [{"http_method": "GET", "pattern": "/", "metric_system_name": "hits", "delta": delta}]}})
}

pub(super) fn page(entries: &[(u64, u64, Value)]) -> Vec<u8> {
    let list: Vec<Value> = entries
        .iter()
        .map(|(id, version, delta)| {
            json!({"proxy_config": {"id": 1, "version": version, "environment": "production",
                "content": content(*id, delta.clone())}})
        })
        .collect();
    json!({"proxy_configs": list}).to_string().into_bytes()
}

/// [`Loader::on_answer`] with the body at hand, as the adapter reads it.
pub(super) trait AnswerBody {
    fn on_answer_body(
        &mut self,
        store: &dyn SharedStore,
        base: &Config,
        status: Option<u16>,
        body: &[u8],
        now_ms: u64,
    ) -> Vec<LoaderStep>;
}

impl AnswerBody for Loader {
    fn on_answer_body(
        &mut self,
        store: &dyn SharedStore,
        base: &Config,
        status: Option<u16>,
        body: &[u8],
        now_ms: u64,
    ) -> Vec<LoaderStep> {
        let read = || Some(body.to_vec());
        self.on_answer(store, base, status, body.len(), read, now_ms)
    }
}

pub(super) fn gets(steps: &[LoaderStep]) -> Vec<String> {
    steps
        .iter()
        .filter_map(|s| match s {
            LoaderStep::Get(path) => Some(path.clone()),
            _ => None,
        })
        .collect()
}

/// The services an `Install` step among `steps` publishes.
fn published(steps: &[LoaderStep]) -> Vec<crate::config::FetchedService> {
    (steps.iter())
        .find_map(|s| match s {
            LoaderStep::Install(i) => Some(i.services.clone()),
            _ => None,
        })
        .unwrap()
}

pub(super) fn installed(steps: &[LoaderStep]) -> Option<Vec<(Option<String>, u64)>> {
    steps.iter().find_map(|s| match s {
        LoaderStep::Install(i) => Some(
            i.services
                .iter()
                .map(|f| (f.id.clone(), f.version))
                .collect(),
        ),
        _ => None,
    })
}

#[test]
fn one_worker_fetches_and_both_install_the_result_once() {
    let store = MemoryStore::default();
    let (mut a, mut b) = (
        Loader::new(system(json!({}))),
        Loader::new(system(json!({}))),
    );
    let first = a.on_tick(&store, 1_000);
    assert_eq!(
        gets(&first),
        vec!["/admin/api/account/proxy_configs/production.json?version=latest&page=1&per_page=500"]
    );
    assert!(
        gets(&b.on_tick(&store, 1_000)).is_empty(),
        "one fetch per Envoy"
    );
    a.on_sent(&store, Some(7), 1_000);
    assert!(a.owns(7));
    let body = page(&[(1, 3, json!(1)), (2, 5, json!(1))]);
    a.on_answer_body(&store, &base(), Some(200), &body, 1_100);
    let want = Some(vec![(Some("1".into()), 3), (Some("2".into()), 5)]);
    assert_eq!(installed(&a.on_tick(&store, 1_200)), want);
    assert_eq!(installed(&b.on_tick(&store, 1_200)), want);
    assert_eq!(installed(&b.on_tick(&store, 1_300)), None, "installed once");
    assert_eq!(a.take_counts().fetches, 1);
    // The same answer at the next refresh publishes nothing new.
    let again = b.on_tick(&store, 11_100);
    assert_eq!(gets(&again).len(), 1);
    b.on_sent(&store, Some(8), 11_100);
    b.on_answer_body(&store, &base(), Some(200), &body, 11_200);
    assert_eq!(installed(&a.on_tick(&store, 11_300)), None);
}

#[test]
fn a_failed_fetch_keeps_the_configuration_and_backs_off() {
    let store = MemoryStore::default();
    let mut a = Loader::new(system(json!({})));
    a.on_tick(&store, 0);
    a.on_sent(&store, Some(1), 0);
    a.on_answer_body(&store, &base(), Some(200), &page(&[(1, 1, json!(1))]), 0);
    assert!(installed(&a.on_tick(&store, 10)).is_some());
    let mut t = 1_000_000;
    for (status, body) in [
        (Some(500), &b"{}"[..]),
        (Some(200), b"garbage"),
        (Some(200), b"{}"),
        (None, b""),
    ] {
        let steps = a.on_tick(&store, t);
        assert_eq!(gets(&steps).len(), 1, "{status:?}");
        a.on_sent(&store, Some(2), t);
        a.on_answer_body(&store, &base(), status, body, t);
        assert_eq!(a.take_counts().failures, 1, "{status:?}");
        assert_eq!(
            installed(&a.on_tick(&store, t + 1)),
            None,
            "nothing replaced"
        );
        // Retried after the backoff (5 s first), not at once.
        assert!(gets(&a.on_tick(&store, t + 4_999)).is_empty());
        assert_eq!(gets(&a.on_tick(&store, t + 5_000)).len(), 1);
        // A success resets the backoff.
        a.on_sent(&store, Some(3), t + 5_000);
        a.on_answer_body(
            &store,
            &base(),
            Some(200),
            &page(&[(1, 1, json!(1))]),
            t + 5_000,
        );
        t += 1_000_000;
    }
}

#[test]
fn a_service_that_does_not_compile_keeps_its_live_version() {
    let store = MemoryStore::default();
    let mut a = Loader::new(system(json!({})));
    a.on_tick(&store, 0);
    a.on_sent(&store, Some(1), 0);
    a.on_answer_body(
        &store,
        &base(),
        Some(200),
        &page(&[(1, 1, json!(1)), (2, 1, json!(1))]),
        0,
    );
    a.on_tick(&store, 1);
    a.on_tick(&store, 10_000);
    a.on_sent(&store, Some(2), 10_000);
    let bad = page(&[(1, 2, json!("x")), (2, 2, json!(1)), (3, 1, json!("x"))]);
    a.on_answer_body(&store, &base(), Some(200), &bad, 10_000);
    assert_eq!(
        installed(&a.on_tick(&store, 10_001)),
        Some(vec![
            (Some("1".into()), 1),
            (Some("1".into()), 2),
            (Some("2".into()), 2),
            (Some("3".into()), 1)
        ]),
        "1 stays at version 1 (with version 2 after it, naming its hosts), 3 (never live) is skipped: published to hold its hosts"
    );
}

#[test]
fn per_service_requests_pinned_versions_and_404() {
    let store = MemoryStore::default();
    let mut a = Loader::new(system(
        json!({"services": ["1", "7"], "versions": {"1": 4}}),
    ));
    let steps = a.on_tick(&store, 0);
    assert_eq!(
        gets(&steps),
        vec!["/admin/api/services/1/proxy/configs/production/4.json"]
    );
    a.on_sent(&store, Some(1), 0);
    let one = json!({"proxy_config": {"id": 9, "version": 4, "environment": "production",
        "content": content(1, json!(1))}});
    let steps = a.on_answer_body(&store, &base(), Some(200), one.to_string().as_bytes(), 0);
    assert_eq!(
        gets(&steps),
        vec!["/admin/api/services/7/proxy/configs/production/latest.json"]
    );
    a.on_sent(&store, Some(2), 0);
    a.on_answer_body(&store, &base(), Some(404), b"", 0);
    assert_eq!(
        installed(&a.on_tick(&store, 1)),
        Some(vec![(Some("1".into()), 4)])
    );
}

#[test]
fn a_portal_that_ignores_page_fails_the_fetch() {
    let store = MemoryStore::default();
    let mut a = Loader::new(system(json!({})));
    let full: Vec<(u64, u64, Value)> = (0..500).map(|i| (i + 1, 1, json!(1))).collect();
    let body = page(&full);
    a.on_tick(&store, 0);
    a.on_sent(&store, Some(1), 0);
    let steps = a.on_answer_body(&store, &base(), Some(200), &body, 0);
    assert!(gets(&steps)[0].contains("page=2&"));
    a.on_sent(&store, Some(2), 0);
    a.on_answer_body(&store, &base(), Some(200), &body, 0);
    assert_eq!(a.take_counts().failures, 1, "the same page twice");
}

#[test]
fn different_system_blocks_never_share_a_fetch() {
    let store = MemoryStore::default();
    let mut a = Loader::new(system(json!({})));
    let mut b = Loader::new(system(json!({"environment": "staging"})));
    assert_eq!(gets(&a.on_tick(&store, 0)).len(), 1);
    assert_eq!(gets(&b.on_tick(&store, 0)).len(), 1);
    // A VM going away mid-fetch leaves the fetch to the others at once.
    let mut c = Loader::new(system(json!({})));
    assert!(gets(&c.on_tick(&store, 1)).is_empty());
    a.on_shutdown(&store, 2);
    assert_eq!(gets(&c.on_tick(&store, 2)).len(), 1);
}

#[test]
fn an_answer_over_max_answer_bytes_is_refused_unread_and_the_services_stay() {
    let store = MemoryStore::default();
    let mut a = Loader::new(system(json!({"max_answer_bytes": 2048})));
    a.on_tick(&store, 0);
    a.on_sent(&store, Some(1), 0);
    a.on_answer_body(&store, &base(), Some(200), &page(&[(1, 1, json!(1))]), 0);
    assert!(installed(&a.on_tick(&store, 1)).is_some());
    // A larger page: its body is never read, the fetch fails, version 1 stays.
    let big: Vec<(u64, u64, Value)> = (0..40).map(|i| (i + 1, 2, json!(1))).collect();
    let big = page(&big);
    assert!(big.len() > 2048);
    a.on_tick(&store, 10_000);
    a.on_sent(&store, Some(2), 10_000);
    let read = || -> Option<Vec<u8>> { panic!("the body must not be read") };
    let steps = a.on_answer(&store, &base(), Some(200), big.len(), read, 10_000);
    assert!(steps.is_empty());
    assert_eq!(a.take_counts().failures, 1);
    assert_eq!(
        installed(&a.on_tick(&store, 10_001)),
        None,
        "nothing replaced"
    );
    assert_eq!(
        gets(&a.on_tick(&store, 15_000)).len(),
        1,
        "retried after 5 s"
    );
    // At the limit it is read; a body the host could not hand over fails the fetch too.
    a.on_sent(&store, Some(3), 15_000);
    let steps = a.on_answer(&store, &base(), Some(200), 2048, || None, 15_000);
    assert!(steps.is_empty());
    assert_eq!(a.take_counts().failures, 1);
}

#[test]
fn max_answer_bytes_defaults_to_64_mib_and_is_bounded() {
    assert_eq!(system(json!({})).max_answer_bytes, 64 << 20);
    for bad in [json!(0), json!(268_435_457u64), json!("1M"), json!(-1)] {
        let config = json!({"backend": {"cluster": "b"},
            "system": {"cluster": "sys", "access_token": "t", "max_answer_bytes": bad}});
        let Err(e) = Config::parse(config.to_string().as_bytes()) else {
            panic!("{bad} accepted");
        };
        assert!(
            e.to_string().starts_with("system.max_answer_bytes: "),
            "{e}"
        );
    }
}

/// A policy Tollgate refuses (it could block traffic Tollgate cannot block, or change what is
/// reported) skips that service only: a static configuration would be refused whole.
#[test]
fn a_service_with_a_refused_policy_is_skipped_and_the_others_load() {
    let with_chain = |id: u64, version: u64, policy: &str| {
        let mut c = content(id, json!(1));
        c["proxy"]["policy_chain"] = json!([
            {"name": policy, "version": "builtin", "configuration": {}},
            {"name": "apicast", "version": "builtin", "configuration": {}}
        ]);
        json!({"proxy_config": {"id": 1, "version": version, "environment": "production",
            "content": c}})
    };
    let answer = |entries: Vec<Value>| json!({ "proxy_configs": entries }).to_string();
    let store = MemoryStore::default();
    let mut a = Loader::new(system(json!({})));
    a.on_tick(&store, 0);
    a.on_sent(&store, Some(1), 0);
    let first = answer(vec![with_chain(1, 1, "headers")]);
    a.on_answer_body(&store, &base(), Some(200), first.as_bytes(), 0);
    assert_eq!(
        installed(&a.on_tick(&store, 1)),
        Some(vec![(Some("1".into()), 1)])
    );
    a.on_tick(&store, 10_000);
    a.on_sent(&store, Some(2), 10_000);
    let second = answer(vec![
        with_chain(1, 2, "rate_limit"),
        with_chain(2, 1, "headers"),
        with_chain(3, 1, "conditional"),
    ]);
    a.on_answer_body(&store, &base(), Some(200), second.as_bytes(), 10_000);
    assert_eq!(
        installed(&a.on_tick(&store, 10_001)),
        Some(vec![
            (Some("1".into()), 1),
            (Some("1".into()), 2),
            (Some("2".into()), 1),
            (Some("3".into()), 1)
        ]),
        "1 keeps version 1 (version 2 has rate_limit), 3 (conditional) is skipped (published to hold its hosts), 2 loads"
    );
}

/// A skipped service without a live version is published in its place, so that every
/// worker keeps its hosts from the services after it (APIcast gives a host to the first
/// service listing it); a later version that fails again replaces it, never "stays live".
#[test]
fn a_skipped_service_is_published_in_its_place_and_keeps_its_hosts() {
    let entry = |id: u64, version: u64, delta: Value, hosts: Value| {
        let mut c = content(id, delta);
        c["proxy"]["hosts"] = hosts;
        json!({"proxy_config": {"id": 1, "version": version, "environment": "production",
            "content": c}})
    };
    let answer = |entries: Vec<Value>| json!({ "proxy_configs": entries }).to_string();
    let services = |steps: &[LoaderStep]| {
        steps.iter().find_map(|s| match s {
            LoaderStep::Install(i) => Some(i.services.clone()),
            _ => None,
        })
    };
    let store = MemoryStore::default();
    let mut a = Loader::new(system(json!({})));
    a.on_tick(&store, 0);
    a.on_sent(&store, Some(1), 0);
    let first = answer(vec![
        entry(1, 1, json!("x"), json!(["shared"])),
        entry(2, 1, json!(1), json!(["shared", "h2"])),
    ]);
    a.on_answer_body(&store, &base(), Some(200), first.as_bytes(), 0);
    let published = services(&a.on_tick(&store, 1)).unwrap();
    let (config, _) = base().with_fetched(&published);
    assert!(
        config.services_for_host("shared").next().is_none(),
        "service 2 must not serve service 1's host"
    );
    assert_eq!(config.services_for_host("h2").next().unwrap().id, "2");
    // Version 2 fails too: it takes the place of version 1, which never was live.
    a.on_tick(&store, 10_000);
    a.on_sent(&store, Some(2), 10_000);
    let second = answer(vec![
        entry(1, 2, json!("y"), json!(["shared"])),
        entry(2, 1, json!(1), json!(["shared", "h2"])),
    ]);
    a.on_answer_body(&store, &base(), Some(200), second.as_bytes(), 10_000);
    assert_eq!(
        installed(&a.on_tick(&store, 10_001)),
        Some(vec![(Some("1".into()), 2), (Some("2".into()), 1)])
    );
}

/// Service 1 at version 1 on h1; version 2 (refused) moves to h9: version 1 stays live but no
/// longer serves h1, and version 2 holds h9.
#[test]
fn a_kept_version_is_published_with_its_refused_version() {
    let store = MemoryStore::default();
    let mut a = Loader::new(system(json!({})));
    a.on_tick(&store, 0);
    a.on_sent(&store, Some(1), 0);
    a.on_answer_body(&store, &base(), Some(200), &page(&[(1, 1, json!(1))]), 0);
    a.on_tick(&store, 1);
    a.on_tick(&store, 10_000);
    a.on_sent(&store, Some(2), 10_000);
    let mut moved = content(1, json!("x"));
    moved["proxy"]["hosts"] = json!(["h9"]);
    let body = json!({"proxy_configs": [{"proxy_config": {"id": 2, "version": 2,
        "environment": "production", "content": moved}}]});
    a.on_answer_body(
        &store,
        &base(),
        Some(200),
        body.to_string().as_bytes(),
        10_000,
    );
    let steps = a.on_tick(&store, 10_001);
    let published = published(&steps);
    let versions: Vec<u64> = published.iter().map(|s| s.version).collect();
    assert_eq!(versions, [1, 2]);
    let (config, _) = base().with_fetched(&published);
    assert_eq!(config.services.len(), 1, "version 1 stays live");
    assert!(config.services_for_host("h1").next().is_none());
    assert!(config.services_for_host("h9").next().is_none());
    // The next refresh keeps the pair as it is: nothing new is published.
    a.on_tick(&store, 20_000);
    a.on_sent(&store, Some(3), 20_000);
    a.on_answer_body(
        &store,
        &base(),
        Some(200),
        body.to_string().as_bytes(),
        20_000,
    );
    assert_eq!(installed(&a.on_tick(&store, 20_001)), None);
}

/// An account entry that cannot be read keeps its service's live version when its id can be
/// read; without one, the whole configuration stays (the fetch fails).
#[test]
fn an_unreadable_account_entry_keeps_the_live_version() {
    let store = MemoryStore::default();
    let mut a = Loader::new(system(json!({})));
    a.on_tick(&store, 0);
    a.on_sent(&store, Some(1), 0);
    let two = page(&[(1, 1, json!(1)), (2, 1, json!(1))]);
    a.on_answer_body(&store, &base(), Some(200), &two, 0);
    a.on_tick(&store, 1);
    a.on_tick(&store, 10_000);
    a.on_sent(&store, Some(2), 10_000);
    let twice = String::from_utf8(page(&[(1, 2, json!(1)), (2, 2, json!(1))]))
        .unwrap()
        .replacen("\"delta\":1", "\"delta\":1,\"delta\":1", 1);
    a.on_answer_body(&store, &base(), Some(200), twice.as_bytes(), 10_000);
    assert_eq!(
        installed(&a.on_tick(&store, 10_001)),
        Some(vec![(Some("1".into()), 1), (Some("2".into()), 2)])
    );
    a.on_tick(&store, 20_000);
    a.on_sent(&store, Some(3), 20_000);
    let no_id = json!({"proxy_configs": [{"proxy_config": {"version": 3}}]});
    a.on_answer_body(
        &store,
        &base(),
        Some(200),
        no_id.to_string().as_bytes(),
        20_000,
    );
    assert_eq!(a.take_counts().failures, 1);
    assert_eq!(installed(&a.on_tick(&store, 20_001)), None);
}

/// A pinned version System does not have (404) is not replaced by the latest the page gave:
/// the service is held (its hosts refused), and a live pinned version stays.
#[test]
fn a_pinned_version_not_found_is_not_replaced_by_the_latest() {
    let store = MemoryStore::default();
    let mut a = Loader::new(system(json!({"versions": {"1": 1}})));
    let mut b = base();
    b.system = Some(system(json!({"versions": {"1": 1}})));
    a.on_tick(&store, 0);
    a.on_sent(&store, Some(1), 0);
    a.on_answer_body(&store, &b, Some(200), &page(&[(1, 2, json!(1))]), 0);
    a.on_sent(&store, Some(2), 0);
    a.on_answer_body(&store, &b, Some(404), b"", 0);
    let steps = a.on_tick(&store, 1);
    let published = published(&steps);
    let (config, _) = b.with_fetched(&published);
    assert!(config.services.is_empty(), "version 2 is not served");
    assert!(config.services_for_host("h1").next().is_none());
    // Once version 1 is live, a 404 keeps it.
    a.on_tick(&store, 10_000);
    a.on_sent(&store, Some(3), 10_000);
    a.on_answer_body(&store, &b, Some(200), &page(&[(1, 2, json!(1))]), 10_000);
    a.on_sent(&store, Some(4), 10_000);
    let one = json!({"proxy_config": {"id": 9, "version": 1, "environment": "production",
        "content": content(1, json!(1))}});
    a.on_answer_body(&store, &b, Some(200), one.to_string().as_bytes(), 10_000);
    assert_eq!(
        installed(&a.on_tick(&store, 10_001)),
        Some(vec![(Some("1".into()), 1)])
    );
    a.on_tick(&store, 20_000);
    a.on_sent(&store, Some(5), 20_000);
    a.on_answer_body(&store, &b, Some(200), &page(&[(1, 2, json!(1))]), 20_000);
    a.on_sent(&store, Some(6), 20_000);
    a.on_answer_body(&store, &b, Some(404), b"", 20_000);
    assert_eq!(
        installed(&a.on_tick(&store, 20_001)),
        None,
        "version 1 stays"
    );
}

/// An unreadable entry's kept version stands where the entry stood in the answer: a service
/// listed before it keeps the host they share (hosts go to the first service listing them).
#[test]
fn an_unreadable_entry_keeps_its_place_in_the_answer() {
    let entry = |id: u64, version: u64| {
        let mut c = content(id, json!(1));
        c["proxy"]["hosts"] = json!(["shared"]);
        json!({"proxy_config": {"version": version, "environment": "production", "content": c}})
    };
    let store = MemoryStore::default();
    let b = base();
    let mut a = Loader::new(system(json!({})));
    a.on_tick(&store, 0);
    a.on_sent(&store, Some(1), 0);
    let first = json!({"proxy_configs": [entry(2, 1)]}).to_string();
    a.on_answer_body(&store, &b, Some(200), first.as_bytes(), 0);
    assert_eq!(
        installed(&a.on_tick(&store, 1)),
        Some(vec![(Some("2".into()), 1)])
    );
    a.on_tick(&store, 10_000);
    a.on_sent(&store, Some(2), 10_000);
    let second = json!({"proxy_configs": [entry(1, 1), entry(2, 2)]})
        .to_string()
        .replacen("\"version\":2", "\"version\":2,\"version\":2", 1);
    a.on_answer_body(&store, &b, Some(200), second.as_bytes(), 10_000);
    let steps = a.on_tick(&store, 10_001);
    assert_eq!(
        installed(&steps),
        Some(vec![(Some("1".into()), 1), (Some("2".into()), 1)])
    );
    let published = published(&steps);
    let (config, _) = b.with_fetched(&published);
    let first_for_host = config.services_for_host("shared").next().unwrap();
    assert_eq!(first_for_host.id, "1");
}

/// Answers that are not the answer asked for (audit 2026-12-06).
mod answers;

/// Hosts held, versions replaced, services deleted (audit 2026-12-06).
mod held_and_replaced;
