//! Services loaded from 3scale System (the mock in `tools/mock-system`) by Envoy with two
//! workers: boot, refresh, failures that keep the current configuration, paging, pinned
//! versions, the version header and gauges, one fetch per refresh, and the token kept out of
//! the logs.

mod support;

use e2e::mock_backend::Period;
use e2e::system::{self, Failure, Faults, MockSystem, Stored, WithSystem};
use e2e::{wait_steady, wait_until, Request};
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use support::*;

/// Service 1 as System stores it (the backend knows it), with these rules.
fn service_1(rules: Value) -> Value {
    service(1, json!("1"), json!({"proxy_rules": rules}))
}

fn rule(pattern: &str) -> Value {
    json!({"http_method": "GET", "pattern": pattern, "metric_system_name": "hits", "delta": 1})
}

fn get(path: &str) -> Request {
    Request::get(path).header("Host", "api.example.com")
}

fn start(mock: &MockSystem, system_block: Value, backend: Value) -> Stack {
    let mut config = json!({
        "backend": {"cluster": "threescale_backend", "authority": "backend.example", "timeout_ms": 1000},
        "system": system_block
    });
    if let Value::Object(extra) = backend {
        if let Some(b) = config["backend"].as_object_mut() {
            b.extend(extra);
        }
    }
    Stack::start_with(config, backend_state(), |b| {
        b.with_system(mock).concurrency(2)
    })
}

fn status_of(s: &Stack, path: &str) -> u16 {
    get(path).send(s.port()).status
}

#[test]
fn boots_from_system_503_until_loaded_then_200() {
    let mock = system::start();
    mock.publish(Stored::Production, service_1(json!([rule("/")])))
        .unwrap();
    // The first fetch is slow: requests meanwhile get 503 with Retry-After.
    mock.set_faults(Faults {
        delay: Duration::from_millis(1500),
        ..Faults::default()
    });
    let s = start(&mock, system::block(60), json!({}));
    let early = get(&format!("/?user_key={USER_KEY}")).send(s.port());
    assert_eq!(early.status, 503, "{early}");
    assert_eq!(early.body, "Configuration not loaded");
    assert_eq!(early.header("retry-after"), Some("5"));
    assert_eq!(s.echo.requests().len(), 0, "nothing reached the upstream");
    assert!(wait_steady(Duration::from_secs(8), || {
        status_of(&s, &format!("/?user_key={USER_KEY}")) == 200
    }));
    assert!(
        s.envoy
            .stat("wasmcustom.tollgate.requests_denied.config_not_loaded")
            .unwrap_or(0)
            >= 1
    );
    assert_eq!(s.envoy.stat("wasmcustom.tollgate.config_services"), Some(1));
    // The access token travels as Basic, never in a URL, and never in a log line.
    let fetches = mock.requests();
    assert!(!fetches.is_empty());
    for r in &fetches {
        assert_eq!(r.credential, system::Credential::Basic, "{r:?}");
        assert!(!r.path.contains(system::TOKEN) && !r.query.contains(system::TOKEN));
    }
    assert!(
        !s.envoy.log().contains(system::TOKEN),
        "the token is in Envoy's log"
    );
}

#[test]
fn new_rules_and_services_take_effect_within_refresh_and_deleted_ones_go() {
    let mock = system::start();
    mock.publish(Stored::Production, service_1(json!([rule("/a")])))
        .unwrap();
    let s = start(&mock, system::block(2), json!({}));
    let a = format!("/a?user_key={USER_KEY}");
    let b = format!("/b?user_key={USER_KEY}");
    assert!(wait_steady(Duration::from_secs(5), || status_of(&s, &a) == 200));
    assert_eq!(status_of(&s, &b), 404, "no rule for /b yet");

    // A new rule, and a new service (2, app_id mode) on another host.
    let published = Instant::now();
    mock.publish(
        Stored::Production,
        service_1(json!([rule("/a"), rule("/b")])),
    )
    .unwrap();
    let mut two = service(2, json!("2"), json!({"hosts": ["two.example.com"]}));
    two["system_name"] = json!("two");
    mock.publish(Stored::Production, two).unwrap();
    let in_effect = wait_steady(Duration::from_secs(3), || status_of(&s, &b) == 200);
    let took = published.elapsed();
    assert!(
        in_effect,
        "the new rule is not in effect 3 s (refresh_s + 1 s) after publishing"
    );
    eprintln!("publish to new behaviour: {} ms", took.as_millis());
    let on_two = |path: &str| {
        Request::get(path)
            .header("Host", "two.example.com")
            .send(s.port())
            .status
    };
    // Service 2 was published after service 1's new version: a worker may have fetched
    // between the two, and takes service 2 at its next refresh.
    assert!(wait_steady(Duration::from_secs(3), || on_two(&format!(
        "/?app_id={APP_ID}&app_key={APP_KEY}"
    )) == 200));
    assert!(s.envoy.wait_for_log(
        "service 1 (service-1): production configuration version 1 -> 2",
        Duration::from_secs(2)
    ));
    assert!(s
        .envoy
        .wait_for_log("service 2 (two) added", Duration::from_secs(2)));

    // Deleted in 3scale: gone from Envoy.
    assert!(mock.delete_service(2));
    assert!(wait_steady(Duration::from_secs(3), || on_two("/") == 404));
    assert!(s
        .envoy
        .wait_for_log("service 2 (two) removed", Duration::from_secs(2)));
}

#[test]
fn failures_keep_the_current_configuration_and_are_counted() {
    let mock = system::start();
    mock.publish(Stored::Production, service_1(json!([rule("/")])))
        .unwrap();
    let s = start(&mock, system::block(1), json!({}));
    let ok = format!("/?user_key={USER_KEY}");
    assert!(wait_steady(Duration::from_secs(5), || status_of(&s, &ok) == 200));
    for (n, failure) in [
        Failure::Status(500),
        Failure::Garbage,
        Failure::Empty,
        Failure::Reset,
        Failure::Status(403),
    ]
    .into_iter()
    .enumerate()
    {
        let before = s
            .envoy
            .stat("wasmcustom.tollgate.config_fetch_failures")
            .unwrap_or(0);
        mock.fail(failure);
        assert!(
            wait_until(Duration::from_secs(12), || {
                s.envoy
                    .stat("wasmcustom.tollgate.config_fetch_failures")
                    .unwrap_or(0)
                    > before
            }),
            "failure {n} ({failure:?}) not counted"
        );
        assert_eq!(
            status_of(&s, &ok),
            200,
            "{failure:?}: the old configuration serves"
        );
        mock.fail(Failure::Normal);
    }
    assert!(s
        .envoy
        .wait_for_log("keeping the current configuration", Duration::from_secs(2)));

    // One invalid service: skipped with its JSON path; its previous version stays live.
    let mut bad = service_1(json!([rule("/")]));
    bad["proxy"]["proxy_rules"][0]["delta"] = json!("x");
    mock.publish(Stored::Production, bad).unwrap();
    assert!(s.envoy.wait_for_log(
        "proxy_configs[0].proxy_config.content.proxy.proxy_rules[0].delta",
        Duration::from_secs(5)
    ));
    let debug = get(&ok).header("X-3scale-Debug", TOKEN).send(s.port());
    assert_eq!(debug.status, 200, "{debug}");
    assert_eq!(debug.header("x-3scale-config-version"), Some("1"));
    assert!(!s.envoy.log().contains(system::TOKEN));
}

#[test]
fn pages_of_500_and_one_fetch_per_refresh_for_the_whole_envoy() {
    let mock = system::start();
    mock.publish(Stored::Production, service_1(json!([rule("/")])))
        .unwrap();
    for id in 1000..1500 {
        mock.publish(
            Stored::Production,
            system::fixtures::minimal(id, &format!("s{id}.example.com"), vec![]),
        )
        .unwrap();
    }
    let s = start(&mock, system::block(2), json!({}));
    assert!(wait_until(Duration::from_secs(10), || {
        s.envoy.stat("wasmcustom.tollgate.config_services") == Some(501)
    }));
    let pages = |n: u32| {
        mock.requests()
            .iter()
            .filter(|r| r.query.contains(&format!("page={n}&")))
            .count()
    };
    assert!(pages(2) >= 1, "the second page was asked for");
    // Each worker compiles the 501 services once; the gauge moved with the first one.
    assert!(wait_until(Duration::from_secs(5), || {
        (0..4).all(|_| status_of(&s, &format!("/?user_key={USER_KEY}")) == 200)
    }));
    // Every 2 s, one fetch (two pages) for the whole Envoy, not one per worker.
    mock.clear_requests();
    std::thread::sleep(Duration::from_secs(6));
    let fetches = pages(1);
    assert!(
        (2..=4).contains(&fetches),
        "{fetches} fetches in 6 s with refresh_s 2"
    );
    assert!(
        s.envoy
            .stat("wasmcustom.tollgate.config_fetches")
            .unwrap_or(0)
            >= 3
    );
}

#[test]
fn pinned_versions_and_a_service_system_does_not_know() {
    let mock = system::start();
    mock.publish(Stored::Production, service_1(json!([rule("/a")])))
        .unwrap();
    mock.publish(Stored::Production, service_1(json!([rule("/b")])))
        .unwrap();
    let mut block = system::block(60);
    block["services"] = json!(["1", "7"]);
    block["versions"] = json!({"1": 1});
    let s = start(&mock, block, json!({}));
    let a = format!("/a?user_key={USER_KEY}");
    assert!(wait_steady(Duration::from_secs(5), || status_of(&s, &a) == 200));
    assert_eq!(
        status_of(&s, &format!("/b?user_key={USER_KEY}")),
        404,
        "version 1 is pinned"
    );
    let debug = get(&a).header("X-3scale-Debug", TOKEN).send(s.port());
    assert_eq!(
        debug.header("x-3scale-config-version"),
        Some("1"),
        "{debug}"
    );
    assert!(mock
        .requests()
        .iter()
        .any(|r| r.path == "/admin/api/services/1/proxy/configs/production/1.json"));
    assert!(s
        .envoy
        .log()
        .contains("service 7 not found in 3scale System (404)"));
    assert_eq!(
        s.envoy.stat("wasmcustom.tollgate.config_version.1"),
        Some(1)
    );
    assert!(
        s.envoy
            .stat("wasmcustom.tollgate.config_loaded_at")
            .unwrap_or(0)
            > 1_700_000_000
    );
}

#[test]
fn hits_counted_across_a_refresh_are_reported_exactly_once() {
    let mock = system::start();
    mock.publish(Stored::Production, service_1(json!([rule("/")])))
        .unwrap();
    let batching = json!({"batching": {"auths_ttl": 30, "batch_report_seconds": 1}});
    let s = start(&mock, system::block(1), batching);
    let ok = format!("/?user_key={USER_KEY}");
    // Every 200 is a hit to report, those of the wait included.
    let mut sent = 0;
    assert!(wait_steady(Duration::from_secs(5), || {
        let authorized = status_of(&s, &ok) == 200;
        sent += u64::from(authorized);
        authorized
    }));
    for round in 0..3 {
        mock.publish(
            Stored::Production,
            service_1(json!([rule("/"), rule(&format!("/r{round}"))])),
        )
        .unwrap();
        for _ in 0..10 {
            assert_eq!(status_of(&s, &ok), 200);
            sent += 1;
            std::thread::sleep(Duration::from_millis(60));
        }
    }
    // Eternity: a minute's counter restarts at 0 if the test crosses a minute boundary.
    let counted = || s.backend.counter("1", "app-1", "hits", Period::Eternity);
    assert!(
        wait_until(Duration::from_secs(8), || counted() >= sent),
        "{} of {sent} hits reported",
        counted()
    );
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(counted(), sent, "every hit reported once, none twice");
}

#[test]
fn a_service_apicast_would_load_is_loaded_with_a_warning() {
    let mock = system::start();
    mock.publish(Stored::Production, service_1(json!([rule("/")])))
        .unwrap();
    // No backend_version: APIcast loads it and answers auth missing.
    let mut odd = service(3, json!(null), json!({"hosts": ["odd.example.com"]}));
    odd.as_object_mut().unwrap().remove("backend_version");
    mock.publish(Stored::Production, odd).unwrap();
    let s = start(&mock, system::block(60), json!({}));
    assert!(wait_steady(Duration::from_secs(5), || {
        status_of(&s, &format!("/?user_key={USER_KEY}")) == 200
    }));
    let r = Request::get(&format!("/?user_key={USER_KEY}"))
        .header("Host", "odd.example.com")
        .send(s.port());
    assert_eq!(
        (r.status, r.body.as_str()),
        (401, "Authentication parameters missing"),
        "{r}"
    );
    assert!(s
        .backend
        .requests()
        .iter()
        .all(|b| b.param("service_id") != Some("3")));
    assert!(s.envoy.wait_for_log(
        "content.backend_version: backend version missing",
        Duration::from_secs(2)
    ));
}

#[test]
fn before_the_first_load_no_request_shape_reaches_the_upstream() {
    use support::adversarial::{assert_none, run_and_check, traps};
    use support::adversarial::{Case, Expect, SHAPES};
    let mock = system::start();
    mock.publish(Stored::Production, service_1(json!([rule("/")])))
        .unwrap();
    // System answers 500 for now: nothing is loaded, every request waits for it.
    mock.fail(Failure::Status(500));
    let config = json!({
        "backend": {"cluster": "threescale_backend", "authority": "backend.example", "timeout_ms": 1000},
        "system": system::block(60)
    });
    let s = Stack::start_with(config, backend_state(), |b| {
        b.with_system(&mock).concurrency(2).http1_trailers()
    });
    let cases: Vec<_> = SHAPES
        .iter()
        .map(|shape| {
            let case = Case::new("api.example.com", &format!("/?user_key={USER_KEY}"));
            (
                format!("{shape:?}"),
                *shape,
                case,
                Expect::Denied(503, "Configuration not loaded"),
            )
        })
        .collect();
    let failures = run_and_check(&s, &cases, 4);
    assert_none("not loaded", &failures, cases.len());
    assert!(traps(&s).is_empty(), "{:?}", traps(&s));
    // Once System answers, the same key passes.
    mock.fail(Failure::Normal);
    assert!(
        s.envoy
            .stat("wasmcustom.tollgate.config_fetch_failures")
            .unwrap_or(0)
            >= 1
    );
}

/// `3scale_batcher` in the chain of a service loaded from System (the `backend` block has no
/// `batching`): that service is authorized from the cache and reported in batches, exactly;
/// the other service of the same configuration keeps one authrep per request.
#[test]
fn a_service_from_system_with_3scale_batcher_batches_its_calls_and_the_other_authreps() {
    let mock = system::start();
    let batcher = json!([{"name": "apicast"},
        {"name": "3scale_batcher", "configuration": {"auths_ttl": 30, "batch_report_seconds": 1}}]);
    let one = service(
        1,
        json!("1"),
        json!({"proxy_rules": [rule("/")], "policy_chain": batcher}),
    );
    let two = service(
        2,
        json!("2"),
        json!({"hosts": ["app.example.com"], "proxy_rules": [rule("/")]}),
    );
    mock.publish(Stored::Production, one).unwrap();
    mock.publish(Stored::Production, two).unwrap();
    let s = start(&mock, system::block(1), json!({}));
    let one = || get(&format!("/?user_key={USER_KEY}")).send(s.port()).status;
    let two = || {
        let target = format!("/?app_id={APP_ID}&app_key={APP_KEY}");
        Request::get(&target)
            .header("Host", "app.example.com")
            .send(s.port())
            .status
    };
    // Every 200 is a hit to report (service 1) or an authrep (service 2), the wait's included.
    let (mut sent1, mut sent2) = (0, 0);
    assert!(wait_steady(Duration::from_secs(5), || {
        let (a, b) = (one() == 200, two() == 200);
        sent1 += u64::from(a);
        sent2 += u64::from(b);
        a && b
    }));
    for _ in 0..6 {
        assert_eq!(one(), 200);
        assert_eq!(two(), 200);
        sent1 += 1;
        sent2 += 1;
    }
    let calls = |path: &str, service: &str| {
        let requests = s.backend.requests().into_iter();
        requests
            .filter(|r| r.path == path && r.param("service_id") == Some(service))
            .count() as u64
    };
    let counted = || s.backend.counter("1", "app-1", "hits", Period::Eternity);
    assert!(
        wait_until(Duration::from_secs(8), || counted() >= sent1),
        "{} of {sent1} hits reported; the backend got: {:?}",
        counted(),
        s.backend
            .requests()
            .iter()
            .map(|r| format!("{} {}", r.path, r.raw_query))
            .collect::<Vec<_>>()
    );
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(counted(), sent1, "every hit of service 1 reported once");
    assert_eq!(calls("/transactions/authrep.xml", "1"), 0);
    assert!((1..=2).contains(&calls("/transactions/authorize.xml", "1")));
    assert!(calls("/transactions.xml", "1") >= 1);
    assert_eq!(calls("/transactions/authrep.xml", "2"), sent2);
    assert_eq!(calls("/transactions/authorize.xml", "2"), 0);
    assert_eq!(calls("/transactions.xml", "2"), 0);
    assert_eq!(s.echo.request_count() as u64, sent1 + sent2);
}

#[test]
fn an_answer_over_max_answer_bytes_is_refused_and_the_current_configuration_serves() {
    let mock = system::start();
    mock.publish(Stored::Production, service_1(json!([rule("/a")])))
        .unwrap();
    let mut block = system::block(1);
    block["max_answer_bytes"] = json!(65_536);
    let s = start(&mock, block, json!({}));
    let (a, b) = (
        format!("/a?user_key={USER_KEY}"),
        format!("/b?user_key={USER_KEY}"),
    );
    assert!(wait_steady(Duration::from_secs(5), || status_of(&s, &a) == 200));
    // From now on every answer is valid JSON one byte over the limit; a new rule is published.
    let padded = |bytes| Faults {
        failure: Failure::Padded(bytes),
        ..Faults::default()
    };
    mock.set_faults(padded(65_537));
    mock.publish(
        Stored::Production,
        service_1(json!([rule("/a"), rule("/b")])),
    )
    .unwrap();
    let failures = || {
        s.envoy
            .stat("wasmcustom.tollgate.config_fetch_failures")
            .unwrap_or(0)
    };
    assert!(wait_until(Duration::from_secs(8), || failures() >= 2));
    assert!(s.envoy.wait_for_log(
        "answer of 65537 bytes, more than system.max_answer_bytes (65536); keeping the current configuration",
        Duration::from_secs(2)
    ));
    assert_eq!(status_of(&s, &b), 404, "the new rule was never loaded");
    assert_eq!(status_of(&s, &a), 200, "the current configuration serves");
    // At the limit the same answer is read and installed.
    mock.set_faults(padded(65_536));
    assert!(wait_steady(Duration::from_secs(12), || status_of(&s, &b) == 200));
    let echoed = s.echo.requests();
    assert!(
        echoed.iter().any(|r| r.path.starts_with("/b")),
        "{echoed:?}"
    );
}
