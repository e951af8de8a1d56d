//! Porta pages the account list by offset over the current versions, ordered by row id: a
//! deploy or a deletion between two of Tollgate's page requests moves an entry onto the page
//! already read, and no page holds it (found by an audit, 2026-12-07: the service was
//! removed, its hosts answered 404 until the next refresh). The mock System makes the change
//! right after answering page 1.

mod support;

use e2e::mock_backend::{App, Service};
use e2e::system::{self, fixtures, BetweenPages, Failure, Faults, MockSystem, Stored, WithSystem};
use e2e::{wait_steady, wait_until, Request};
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use support::*;

const THREE_KEY: &str = "uk-three";
const THOUSAND_KEY: &str = "uk-1000";

/// Envoy (2 workers) loading from `mock` every `refresh_s`; the backend also knows service 3.
fn start(mock: &MockSystem, refresh_s: u64) -> Stack {
    let config = json!({
        "backend": {"cluster": "threescale_backend", "authority": "backend.example", "timeout_ms": 1000},
        "system": system::block(refresh_s)
    });
    let state = backend_state()
        .service(
            Service::new("3")
                .token(TOKEN)
                .backend_version("1")
                .metric("hits", None),
        )
        .app(App::new("3", "app-3").user_key(THREE_KEY).plan("Basic"))
        .service(
            Service::new("1000")
                .token("service-token-1000")
                .backend_version("1")
                .metric("hits", None),
        )
        .app(
            App::new("1000", "app-1000")
                .user_key(THOUSAND_KEY)
                .plan("Basic"),
        );
    Stack::start_with(config, state, |b| b.with_system(mock).concurrency(2))
}

fn minimal(id: u64, pattern: &str) -> Value {
    let host = format!("s{id}.example.com");
    fixtures::minimal(id, &host, vec![fixtures::rule("GET", pattern, "hits", 1)])
}

fn send(s: &Stack, host: &str, target: &str) -> u16 {
    Request::get(target)
        .header("Host", host)
        .send(s.port())
        .status
}

/// Sends `target` to `host` until the mock has made its change, then for 3 s more (past the
/// next refresh): every status answered.
fn statuses_through_the_change(s: &Stack, mock: &MockSystem, host: &str, target: &str) -> Vec<u16> {
    let mut statuses = Vec::new();
    let made = wait_until(Duration::from_secs(8), || {
        statuses.push(send(s, host, target));
        !mock.between_pages_pending()
    });
    assert!(
        made,
        "the mock's change was never made (no page 1 asked for)"
    );
    let after = Instant::now();
    while after.elapsed() < Duration::from_secs(3) {
        statuses.push(send(s, host, target));
        std::thread::sleep(Duration::from_millis(40));
    }
    statuses
}

/// Asserts every status is 200 and each request (to `path`) reached the upstream and the
/// backend (cleared before) once.
fn each_served(s: &Stack, statuses: &[u16], path: &str, service_id: &str) {
    let failed: Vec<&u16> = statuses.iter().filter(|&&st| st != 200).collect();
    assert!(
        failed.is_empty(),
        "{} of {} requests not served: {failed:?}",
        failed.len(),
        statuses.len()
    );
    let upstream = s
        .echo
        .requests()
        .iter()
        .filter(|r| r.path.starts_with(path))
        .count();
    assert_eq!(
        upstream,
        statuses.len(),
        "the upstream got each request once"
    );
    let authreps = (s.authreps().iter())
        .filter(|r| r.param("service_id") == Some(service_id))
        .count();
    assert_eq!(authreps, statuses.len(), "the backend authorized each once");
}

/// Whether the filter asked System for this service's latest configuration, answered `status`.
fn confirmed(mock: &MockSystem, id: u64, status: u16) -> bool {
    let path = format!("/admin/api/services/{id}/proxy/configs/production/latest.json");
    (mock.requests().iter()).any(|r| r.path == path && r.status == Some(status))
}

#[test]
fn a_service_moved_onto_a_page_already_read_keeps_answering_and_a_deleted_one_goes() {
    let mock = system::start();
    // By row id: 3, 1000..=1498, 1, 2. Page 1 holds 3 and 1000..=1498; page 2 holds 1 and 2.
    let mut three = service(3, json!("1"), json!({"hosts": ["three.example.com"]}));
    three["system_name"] = json!("three");
    mock.publish(Stored::Production, three).unwrap();
    for id in 1000..=1498 {
        mock.publish(Stored::Production, minimal(id, "/")).unwrap();
    }
    mock.publish(Stored::Production, service(1, json!("1"), json!({})))
        .unwrap();
    let two = service(2, json!("2"), json!({"hosts": ["two.example.com"]}));
    mock.publish(Stored::Production, two).unwrap();
    let s = start(&mock, 2);
    let one = |target: &str| send(&s, "api.example.com", target);
    let app = format!("app_id={APP_ID}&app_key={APP_KEY}");
    assert!(wait_steady(Duration::from_secs(15), || {
        one(&format!("/?user_key={USER_KEY}")) == 200
            && send(&s, "two.example.com", &format!("/?{app}")) == 200
            && send(&s, "three.example.com", &format!("/?user_key={THREE_KEY}")) == 200
    }));
    assert_eq!(
        s.envoy.stat("wasmcustom.tollgate.config_services"),
        Some(502)
    );

    // Service 1000 redeployed once page 1 is answered: its new row is last, so service 1
    // moves onto page 1 and page 2 holds 2 and 1000 (v2) only.
    mock.between_pages(BetweenPages {
        after_page: 1,
        publish: vec![minimal(1000, "/v2")],
        ..BetweenPages::default()
    });
    s.backend.clear_requests();
    let target = format!("/deployed?user_key={USER_KEY}");
    let statuses = statuses_through_the_change(&s, &mock, "api.example.com", &target);
    each_served(&s, &statuses, "/deployed", "1");
    assert!(
        confirmed(&mock, 1, 200),
        "service 1 was asked for by itself"
    );
    assert!(s.envoy.wait_for_log(
        "service 1000 (): production configuration version 1 -> 2",
        Duration::from_secs(3)
    ));
    assert!(
        !s.envoy.log().contains("service 1 (service-1) removed"),
        "{}",
        s.envoy.log()
    );

    // Service 3 deleted once page 1 (3, 1001..=1498, 1) is answered: service 2 moves onto
    // page 1. Service 3 was read before its deletion: the next fetch misses it, and removes it.
    mock.between_pages(BetweenPages {
        after_page: 1,
        delete: vec![3],
        ..BetweenPages::default()
    });
    s.backend.clear_requests();
    let target = format!("/deleted?{app}");
    let statuses = statuses_through_the_change(&s, &mock, "two.example.com", &target);
    each_served(&s, &statuses, "/deleted", "2");
    assert!(
        confirmed(&mock, 2, 200),
        "service 2 was asked for by itself"
    );
    assert!(s
        .envoy
        .wait_for_log("service 3 (three) removed", Duration::from_secs(5)));
    assert!(confirmed(&mock, 3, 404), "its removal confirmed by a 404");
    let upstream_before = s.echo.requests().len();
    let gone = send(
        &s,
        "three.example.com",
        &format!("/gone?user_key={THREE_KEY}"),
    );
    assert_eq!(gone, 404, "a removed service's host is unknown");
    assert_eq!(
        s.echo.requests().len(),
        upstream_before,
        "nothing forwarded"
    );
    assert!(!s.envoy.log().contains("service 2 (service-2) removed"));
    assert_eq!(
        s.envoy.stat("wasmcustom.tollgate.config_services"),
        Some(501)
    );

    // By row id now: 1001..=1498, 1, 2 (page 1), 1000 at v2 (page 2). Service 1498 deleted
    // once page 1 is answered: page 2 is empty, 1000 is missed, and System's per-service
    // endpoint fails (503): 1000 keeps its installed version (found by a review, 2026-12-07:
    // the first fix failed the fetch; s28a removed the service).
    mock.set_faults(Faults {
        failure: Failure::Status(503),
        path: Some("/admin/api/services/".into()),
        ..Faults::default()
    });
    mock.between_pages(BetweenPages {
        after_page: 1,
        delete: vec![1498],
        ..BetweenPages::default()
    });
    s.backend.clear_requests();
    let target = format!("/v2?user_key={THOUSAND_KEY}");
    let statuses = statuses_through_the_change(&s, &mock, "s1000.example.com", &target);
    each_served(&s, &statuses, "/v2", "1000");
    assert!(confirmed(&mock, 1000, 503), "service 1000 was asked for");
    // 1498, read before its deletion, is missed by the next fetches: removed once System
    // answers its 404.
    mock.set_faults(Faults::default());
    assert!(s
        .envoy
        .wait_for_log("service 1498 () removed", Duration::from_secs(5)));
    assert!(!s.envoy.log().contains("service 1000 () removed"));
}

/// Account-list page requests so far.
fn page_requests(mock: &MockSystem) -> usize {
    mock.count("/admin/api/account/proxy_configs/")
}

#[test]
fn a_service_the_first_fetch_missed_is_served_after_an_early_re_fetch() {
    let mock = system::start();
    // By row id: 3, 1000..=1498 (page 1), 1 (page 2). Service 3 deleted once page 1 is
    // answered: service 1 moves onto page 1 and page 2 is empty. Nothing is installed yet, so
    // there is nothing to ask System for again (s32a served 1's hosts 404 for refresh_s).
    mock.publish(Stored::Production, minimal(3, "/")).unwrap();
    for id in 1000..=1498 {
        mock.publish(Stored::Production, minimal(id, "/")).unwrap();
    }
    mock.publish(Stored::Production, service(1, json!("1"), json!({})))
        .unwrap();
    mock.between_pages(BetweenPages {
        after_page: 1,
        delete: vec![3],
        ..BetweenPages::default()
    });
    let s = start(&mock, 300);
    let loaded = wait_until(Duration::from_secs(15), || {
        s.envoy.stat("wasmcustom.tollgate.config_services") == Some(500)
    });
    assert!(loaded, "the first fetch never loaded");
    let first_fetch = Instant::now();
    assert!(!mock.between_pages_pending(), "the mock made its change");
    assert_eq!(page_requests(&mock), 2, "one fetch of two pages so far");

    let target = format!("/missed?user_key={USER_KEY}");
    let mut statuses = Vec::new();
    let served = wait_until(Duration::from_secs(10), || {
        statuses.push(send(&s, "api.example.com", &target));
        statuses.last() == Some(&200)
    });
    assert!(
        served,
        "service 1 not served 10 s after the first fetch (refresh_s is 300): {} requests, last {:?}",
        statuses.len(),
        statuses.last()
    );
    assert_ne!(
        statuses.first(),
        Some(&200),
        "the race hid service 1 at first"
    );
    assert!(first_fetch.elapsed() < Duration::from_secs(10));
    let upstream = (s.echo.requests().iter())
        .filter(|r| r.path.starts_with("/missed"))
        .count();
    assert_eq!(upstream, 1, "only the served request reached the upstream");
    let authreps = (s.authreps().iter())
        .filter(|r| r.param("service_id") == Some("1"))
        .count();
    assert_eq!(authreps, 1, "the backend authorized service 1 once");
    assert!(s
        .envoy
        .wait_for_log("service 3 () removed", Duration::from_secs(3)));

    // The re-fetch read two pages and changed the set too: the next fetch is refresh_s
    // later, not another early one.
    assert_eq!(page_requests(&mock), 4, "one re-fetch of two pages");
    std::thread::sleep(Duration::from_secs(7));
    assert_eq!(page_requests(&mock), 4, "no fetch loop against System");
    assert_eq!(send(&s, "api.example.com", &target), 200);
}
