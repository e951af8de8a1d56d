//! Batching mode (`backend.batching`): one `authorize` per (service, credentials, usage) and
//! `auths_ttl`, shared by both workers; forwarded hits reported in batches with
//! `POST /transactions.xml`; the settings' ranges. The backend failing (and the bound on
//! pending reports) is in `batching_outages.rs`.

mod support;

use e2e::{Envoy, Request};
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use support::batching::{assert_reported_exactly, batching, expect};
use support::cache::*;
use support::{config, service, TOKEN, USER_KEY};

#[test]
fn one_authorize_per_key_and_usage_and_exact_reports() {
    let s = start(cache_config("none", Some(batching(30))), cache_state());
    // app-1 has 1000 hits a minute: with the clock at :01 its budget lasts 59 s.
    pin_clock(&s.backend, 1);
    let port = s.port();
    let keys: [(&str, Request, u64); 5] = [
        ("user_key /", user(USER_KEY), 10),
        ("user_key /foo", user_path("/foo", USER_KEY), 5),
        ("unlimited user_key", user(FREE), 10),
        ("app_id + key A", app(APP3, APP3_KEY_A), 8),
        ("app_id + key B", app(APP3, APP3_KEY_B), 7),
    ];
    // Sequentially, interleaved: the first request of each key is the only miss.
    for round in 0..10 {
        for (what, request, n) in &keys {
            if round < *n {
                expect(&request.send(port), 200, what);
            }
        }
    }
    // Then 8 of each at once: all answered from the cache.
    let burst: Vec<Request> = keys
        .iter()
        .flat_map(|(_, r, _)| std::iter::repeat_n(r.clone(), 8))
        .collect();
    let responses = concurrently(port, burst);
    assert_eq!(
        count_status(&responses, 200),
        40,
        "{:?}",
        responses.iter().map(describe).collect::<Vec<_>>()
    );
    let forwarded: Vec<u64> = keys.iter().map(|k| k.2 + 8).collect();
    assert_eq!(
        s.echo.requests().len() as u64,
        forwarded.iter().sum::<u64>()
    );

    // Exactly one authorize per (credentials, usage), carrying the authrep parameters.
    let calls = authorizes(&s.backend);
    let mut seen: Vec<String> = calls.iter().map(|r| r.raw_query.clone()).collect();
    seen.sort();
    assert_eq!(
        seen,
        vec![
            format!("service_id=1&service_token={TOKEN}&user_key={FREE}&usage%5Bhits%5D=1"),
            format!("service_id=1&service_token={TOKEN}&user_key={USER_KEY}&usage%5Bget_foo%5D=2&usage%5Bhits%5D=1"),
            format!("service_id=1&service_token={TOKEN}&user_key={USER_KEY}&usage%5Bhits%5D=1"),
            format!("service_id=2&service_token={TOKEN}&app_id={APP3}&app_key={APP3_KEY_A}&usage%5Bhits%5D=1"),
            format!("service_id=2&service_token={TOKEN}&app_id={APP3}&app_key={APP3_KEY_B}&usage%5Bhits%5D=1"),
        ]
    );
    for call in &calls {
        assert_eq!(
            call.header("3scale-options"),
            Some("rejection_reason_header=1&limit_headers=1&no_body=1")
        );
        assert_eq!(call.header("host"), Some("backend.example"));
    }
    assert!(authrep_calls(&s.backend).is_empty());

    // Every forwarded hit reported once; /foo's get_foo 2 also counts 2 hits at the backend.
    let [slash, foo, free, app_a, app_b] = forwarded[..] else {
        unreachable!()
    };
    assert_reported_exactly(
        &s,
        &[
            ("1", "app-1", "hits", slash + foo * 3),
            ("1", "app-1", "get_foo", foo * 2),
            ("1", "app-free", "hits", free),
            ("2", APP3, "hits", app_a + app_b),
        ],
    );
    let posts = reports(&s.backend);
    assert_report_shape(&posts);
    assert_eq!(
        reported_in_bodies(&posts, "user_key", USER_KEY, "hits"),
        slash + foo
    );
    assert_eq!(
        reported_in_bodies(&posts, "user_key", USER_KEY, "get_foo"),
        foo * 2
    );
    assert_eq!(reported_in_bodies(&posts, "user_key", FREE, "hits"), free);
    assert_eq!(
        reported_in_bodies(&posts, "app_id", APP3, "hits"),
        app_a + app_b,
        "both app keys reported under the app"
    );

    // The filter's counters agree with the backend.
    let total: u64 = forwarded.iter().sum();
    let t = Duration::from_secs(5);
    assert_eq!(wait_stat(&s.envoy, "cache_misses", 5, t), 5);
    assert_eq!(wait_stat(&s.envoy, "cache_hits", total - 5, t), total - 5);
    assert_eq!(wait_stat(&s.envoy, "requests_authorized", total, t), total);
    assert_eq!(stat(&s.envoy, "backend_authorize_calls"), 5);
    assert_eq!(stat(&s.envoy, "backend_authrep_calls"), 0);
    assert_eq!(
        stat(&s.envoy, "backend_report_calls"),
        posts.len() as u64,
        "report calls counted by the filter and received by the backend"
    );
    assert_eq!(
        stat(&s.envoy, "backend_calls"),
        5 + posts.len() as u64,
        "authorize + report"
    );
    assert_eq!(stat(&s.envoy, "report_failures"), 0);
    assert_eq!(stat(&s.envoy, "reports_dropped"), 0);
    assert_eq!(wait_stat(&s.envoy, "usage_pending", 0, t), 0);
    // The cache's hash keys came from Envoy's random bytes (WASI `random_get`), not the clock.
    assert!(!s.envoy.log().contains("no random bytes from the host"));
}

#[test]
fn authorization_is_asked_again_after_auths_ttl() {
    // denied_ttl defaults to auths_ttl.
    let s = start(cache_config("none", Some(batching(2))), cache_state());
    let port = s.port();
    let all = || {
        [
            (user(FREE), 200),
            (app(APP3, APP3_KEY_A), 200),
            (user(INVALID), 403),
        ]
    };
    let mut forwarded = 0;
    let started = Instant::now();
    for (request, status) in all() {
        expect(&request.send(port), status, "first");
    }
    let answered = Instant::now();
    assert_eq!(authorizes(&s.backend).len(), 3);
    // Within the TTL (requests sent less than 2 s after the answers were asked for).
    while started.elapsed() < Duration::from_millis(1700) {
        for (request, status) in all() {
            expect(&request.send(port), status, "within auths_ttl");
        }
        forwarded += 1;
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        authorizes(&s.backend).len(),
        3,
        "no authorize within auths_ttl"
    );
    // After it: asked again, once per key.
    std::thread::sleep(
        (answered + Duration::from_millis(2200)).saturating_duration_since(Instant::now()),
    );
    for _ in 0..3 {
        for (request, status) in all() {
            expect(&request.send(port), status, "after auths_ttl");
        }
    }
    forwarded += 1 + 3;
    assert_eq!(authorizes_for(&s.backend, "user_key", FREE), 2);
    assert_eq!(authorizes_for(&s.backend, "app_id", APP3), 2);
    assert_eq!(authorizes_for(&s.backend, "user_key", INVALID), 2);
    assert_eq!(stat(&s.envoy, "backend_authorize_calls"), 6);
    assert_reported_exactly(
        &s,
        &[
            ("1", "app-free", "hits", forwarded),
            ("2", APP3, "hits", forwarded),
        ],
    );
    assert_eq!(
        reported_in_bodies(&reports(&s.backend), "user_key", INVALID, "hits"),
        0,
        "denied requests are not reported"
    );
}

fn refused(c: &Value) -> String {
    Envoy::builder()
        .concurrency(2)
        .filter_config(&c.to_string())
        .start_expect_failure()
        .expect("Envoy must refuse the configuration")
}

#[test]
fn batching_values_out_of_range_are_refused() {
    let base = config(vec![service(1, json!(1), json!({}))]);
    let cases: [(&str, Value, &str); 9] = [
        (
            "batching",
            json!({"auths_ttl": 0}),
            "backend.batching.auths_ttl: must be between 1 and 86400",
        ),
        (
            "batching",
            json!({"auths_ttl": 86401}),
            "backend.batching.auths_ttl: must be between 1 and 86400",
        ),
        (
            "batching",
            json!({"batch_report_seconds": 0}),
            "backend.batching.batch_report_seconds: must be between 1 and 86400",
        ),
        (
            "batching",
            json!({"denied_ttl": 0}),
            "backend.batching.denied_ttl: must be between 1 and 86400",
        ),
        (
            "batching",
            json!({"max_pending": 0}),
            "backend.batching.max_pending: must be between 1 and 1000000",
        ),
        (
            "batching",
            json!({"max_pending": 1_000_001}),
            "backend.batching.max_pending: must be between 1 and 1000000",
        ),
        (
            "batching",
            json!({"auth_ttl": 5}),
            "backend.batching.auth_ttl: unknown field",
        ),
        ("batching", json!(true), "backend.batching:"),
        (
            "cache_max_entries",
            json!(0),
            "backend.cache_max_entries: must be between 1 and 1000000",
        ),
    ];
    for (field, value, message) in cases {
        let mut c = base.clone();
        c["backend"][field] = value.clone();
        let log = refused(&c);
        assert!(
            log.contains("Unable to create Wasm plugin tollgate"),
            "{log}"
        );
        assert!(
            log.contains(&format!("invalid configuration: {message}")),
            "{field}: {value} should be refused with {message:?}\n{log}"
        );
    }
    // The bounds themselves, and every field at once, are accepted.
    let mut c = base;
    c["backend"]["caching_type"] = json!("resilient");
    c["backend"]["cache_max_entries"] = json!(1_000_000);
    c["backend"]["batching"] = json!({
        "auths_ttl": 86400, "batch_report_seconds": 1, "denied_ttl": 1, "max_pending": 1_000_000
    });
    let envoy = Envoy::builder()
        .concurrency(2)
        .filter_config(&c.to_string())
        .start();
    assert!(envoy.is_ok(), "{:?}", envoy.err());
    c["backend"]["batching"] = json!({});
    let envoy = Envoy::builder()
        .concurrency(2)
        .filter_config(&c.to_string())
        .start();
    assert!(
        envoy.is_ok(),
        "batching with its defaults: {:?}",
        envoy.err()
    );
}

/// Two plugins in one VM (two listeners with the same module and `vm_id`, as two
/// `WasmPlugin`s of one image): Envoy gives them one shared-data map. Each reports its own
/// services' calls, exactly; neither takes the other's pending reports for calls of
/// "services no longer configured" and drops them.
#[test]
fn two_plugins_in_one_vm_each_report_their_own_calls() {
    let both = cache_config("none", Some(batching(30)));
    let (mut first, mut second) = (both.clone(), both);
    first["services"] = json!([both_services(&first)[0]]);
    second["services"] = json!([both_services(&second)[1]]);
    let s = support::Stack::start_with(first, cache_state(), |b| {
        b.concurrency(2)
            .second_plugin("tollgate-second", &second.to_string())
    });
    let (port, port2) = (s.port(), s.envoy.second_port());
    // Each listener serves its own service only.
    expect(
        &app(APP3, APP3_KEY_A).send(port),
        404,
        "service 2 on the first",
    );
    expect(&user(FREE).send(port2), 404, "service 1 on the second");
    let (n1, n2) = (24, 17);
    // Interleaved, over several report intervals.
    for i in 0..n1.max(n2) {
        if i < n1 {
            expect(&user(FREE).send(port), 200, "service 1");
        }
        if i < n2 {
            expect(&app(APP3, APP3_KEY_B).send(port2), 200, "service 2");
        }
        std::thread::sleep(Duration::from_millis(60));
    }
    assert_eq!(s.echo.requests().len() as u64, n1 + n2);
    assert_reported_exactly(
        &s,
        &[("1", "app-free", "hits", n1), ("2", APP3, "hits", n2)],
    );
    let log = s.envoy.log();
    assert!(!log.contains("not reported"), "calls dropped:\n{log}");
    assert_eq!(stat(&s.envoy, "reports_dropped"), 0);
}

fn both_services(config: &Value) -> Vec<Value> {
    config["services"].as_array().cloned().unwrap_or_default()
}
