//! The `rate_limit_headers` policy through real Envoy (2 workers), with the cases APIcast's
//! t/apicast-policy-rate_limit_headers.t asserts: the backend's figures on the response in
//! authrep mode (TEST 1), a different usage with its own figures (TEST 2), the next request
//! counted down (TEST 3, 6: with batching, from the cache), a usage of two metrics counted
//! down by one call (TEST 4), no limit headers from the backend, no RateLimit headers (TEST 7);
//! and what Tollgate adds: a 429 limits exceeded says 0 left, each application has its own
//! figures, and the countdown is exact across both workers.

mod support;

use e2e::mock_backend::{App, Mode, Period, Service, State};
use e2e::Response;
use serde_json::{json, Value};
use support::cache::{
    authorizes, authrep_calls, concurrently, pin_clock, user_path, worker_connections,
};
use support::{config, service, Stack, TOKEN};

/// Service 1: `hits`, and `foo` beside it (not a child). `uk-ten` may make 10 hits and 100
/// foo a minute, `uk-other` the same, `uk-thirty` 30 hits; `uk-free` has no limits.
fn state() -> State {
    let limited = |id: &str, key: &str| {
        App::new("1", id)
            .user_key(key)
            .plan("Ten")
            .limit("hits", Period::Minute, 10)
            .limit("foo", Period::Minute, 100)
    };
    let thirty = App::new("1", "app-thirty")
        .user_key("uk-thirty")
        .plan("Thirty")
        .limit("hits", Period::Minute, 30);
    State::new()
        .service(
            Service::new("1")
                .token(TOKEN)
                .backend_version("1")
                .metric("hits", None)
                .metric("foo", None),
        )
        .app(limited("app-ten", "uk-ten"))
        .app(limited("app-other", "uk-other"))
        .app(thirty)
        .app(App::new("1", "app-free").user_key("uk-free").plan("Free"))
}

/// `GET /` is hits 1, `GET /foo` foo 1, `GET /two` hits 1 and foo 1; credentials in headers.
fn filter_config(chain: Value, batching: bool) -> Value {
    let mut c = config(vec![service(
        1,
        json!(1),
        json!({"credentials_location": "headers", "policy_chain": chain,
            "proxy_rules": [
                {"http_method": "GET", "pattern": "/$", "metric_system_name": "hits", "delta": 1},
                {"http_method": "GET", "pattern": "/foo", "metric_system_name": "foo", "delta": 1},
                {"http_method": "GET", "pattern": "/two", "metric_system_name": "hits", "delta": 1},
                {"http_method": "GET", "pattern": "/two", "metric_system_name": "foo", "delta": 1}]}),
    )]);
    if batching {
        c["backend"]["batching"] = json!({"auths_ttl": 30, "batch_report_seconds": 1});
    }
    c
}

fn chain() -> Value {
    json!([{"name": "apicast.policy.rate_limit_headers"}, {"name": "apicast.policy.apicast"}])
}

/// Envoy with 2 workers; the mock's clock pinned at the start of a minute, so its limits
/// never reset during a test and it answers `3scale-limit-reset: 60`.
fn start(batching: bool) -> Stack {
    let s = Stack::start_with(filter_config(chain(), batching), state(), |b| {
        b.concurrency(2)
    });
    pin_clock(&s.backend, 0);
    s
}

/// The three headers as the client got them: (limit, remaining, reset).
fn figures(r: &Response) -> Option<(u64, u64, u64)> {
    let value = |name: &str| -> Option<u64> {
        let all = r.header_all(name);
        assert!(all.len() <= 1, "{name} once at most: {r}");
        all.first().map(|v| v.parse().expect("a number"))
    };
    match (
        value("ratelimit-limit"),
        value("ratelimit-remaining"),
        value("ratelimit-reset"),
    ) {
        (Some(l), Some(n), Some(s)) => Some((l, n, s)),
        (None, None, None) => None,
        _ => panic!("some of the headers only: {r}"),
    }
}

fn get(s: &Stack, path: &str, key: &str) -> Response {
    user_path(path, key).send(s.port())
}

#[test]
fn authrep_mode_gives_the_backends_figures_for_each_request() {
    let s = start(false);
    // TEST 1: 10 hits a minute, this one counted.
    let r = get(&s, "/", "uk-ten");
    assert_eq!((r.status, figures(&r)), (200, Some((10, 9, 60))), "{r}");
    assert!(r.from_echo());
    // TEST 2: another usage, its own limit.
    let r = get(&s, "/foo", "uk-ten");
    assert_eq!(figures(&r), Some((100, 99, 60)), "{r}");
    // TEST 3: the next request, exact (every request has its own authrep).
    let r = get(&s, "/", "uk-ten");
    assert_eq!(figures(&r), Some((10, 8, 60)), "{r}");
    // TEST 4: hits and foo: the backend's most constrained limit (hits), one call less.
    let r = get(&s, "/two", "uk-ten");
    assert_eq!(figures(&r), Some((10, 7, 60)), "{r}");
    // Another application with the same usage: its own figures.
    let r = get(&s, "/", "uk-other");
    assert_eq!(figures(&r), Some((10, 9, 60)), "{r}");
    // TEST 7: a plan without limits: the backend sends no limit (-1/-1), no headers.
    let r = get(&s, "/", "uk-free");
    assert_eq!((r.status, figures(&r)), (200, None), "{r}");
    assert_eq!(authrep_calls(&s.backend).len(), 6);
}

#[test]
fn authrep_mode_a_limits_exceeded_429_says_0_left_and_denials_say_nothing() {
    let s = start(false);
    s.backend
        .set_counter("1", "app-ten", "hits", Period::Minute, 10);
    let r = get(&s, "/", "uk-ten");
    assert_eq!((r.status, figures(&r)), (429, Some((10, 0, 60))), "{r}");
    assert!(r.header("retry-after").is_some(), "{r}");
    // Invalid key (the backend sends no limit headers), no credentials, no rule: nothing.
    for (path, key, status) in [("/", "uk-nobody", 403), ("/nothing", "uk-ten", 404)] {
        let r = get(&s, path, key);
        assert_eq!((r.status, figures(&r)), (status, None), "{r}");
    }
    let r = e2e::Request::get("/")
        .header("Host", "api.example.com")
        .send(s.port());
    assert_eq!((r.status, figures(&r)), (401, None), "{r}");
}

#[test]
fn batching_counts_the_cached_budget_down_exactly_across_both_workers() {
    let s = start(true);
    // TEST 6: the first request is authorized by an `authorize` (30 left before it).
    let r = get(&s, "/", "uk-thirty");
    let (limit, remaining, reset) = figures(&r).expect("figures");
    assert_eq!((r.status, limit, remaining), (200, 30, 29), "{r}");
    assert!((58..=60).contains(&reset), "{r}");
    // Then from the cache, 28 at once on both workers: one call less each, every figure
    // given once (a budget under 32 is leased one call at a time from shared data), the
    // reset counting down from the deadline the answer gave.
    let before = worker_connections(&s.envoy);
    let burst = concurrently(s.port(), vec![user_path("/", "uk-thirty"); 28]);
    let mut left: Vec<u64> = (burst.iter())
        .map(|r| {
            let (limit, remaining, reset) = figures(r).expect("figures");
            assert_eq!((r.status, limit), (200, 30), "{r}");
            assert!((50..=60).contains(&reset), "{r}");
            remaining
        })
        .collect();
    left.sort_unstable();
    assert_eq!(left, (1..=28).collect::<Vec<u64>>());
    let after = worker_connections(&s.envoy);
    assert_eq!(after.len(), 2, "{after:?}");
    assert!(
        after.iter().zip(&before).all(|(a, b)| a > b),
        "both workers served the burst: {before:?} then {after:?}"
    );
    let r = get(&s, "/", "uk-thirty");
    assert_eq!(
        (r.status, figures(&r).map(|(l, n, _)| (l, n))),
        (200, Some((30, 0))),
        "{r}"
    );
    // The budget is spent: a 429 that says so.
    let r = get(&s, "/", "uk-thirty");
    let (limit, remaining, _) = figures(&r).expect("figures on the 429");
    assert_eq!((r.status, limit, remaining), (429, 30, 0), "{r}");
    let r = get(&s, "/", "uk-thirty");
    assert_eq!(r.status, 429, "{r}");
    assert_eq!(figures(&r).map(|(l, n, _)| (l, n)), Some((30, 0)), "{r}");
    assert_eq!(s.echo.requests().len(), 30);
    // TEST 4 and 2: a usage of two metrics is its own entry, counted down by one call.
    let r = get(&s, "/two", "uk-other");
    assert_eq!(figures(&r).map(|(l, n, _)| (l, n)), Some((10, 9)), "{r}");
    let r = get(&s, "/two", "uk-other");
    assert_eq!(figures(&r).map(|(l, n, _)| (l, n)), Some((10, 8)), "{r}");
    // TEST 7: no limits, no headers, from the cache too.
    for _ in 0..3 {
        let r = get(&s, "/", "uk-free");
        assert_eq!((r.status, figures(&r)), (200, None), "{r}");
    }
    assert_eq!(
        authorizes(&s.backend).len(),
        4,
        "uk-thirty twice (the budget, then the 429), uk-other and uk-free once"
    );
}

/// The failure policy decides from the last known answer, not from a budget: a request it
/// forwards while the backend fails gets no figures, not those of the worker's last lease
/// (found by an audit, 2026-12-06: `RateLimit-Remaining` of a budget long spent, on an
/// answer given with the backend down). One worker, so that the lease is its own.
#[test]
fn batching_the_failure_policys_forwards_carry_no_figures() {
    for caching_type in ["resilient", "allow"] {
        let mut c = filter_config(chain(), true);
        c["backend"]["caching_type"] = json!(caching_type);
        let s = Stack::start_with(c, state(), |b| b.concurrency(1));
        pin_clock(&s.backend, 0);
        s.backend
            .set_counter("1", "app-ten", "hits", Period::Minute, 8);
        let r = get(&s, "/", "uk-ten");
        assert_eq!(figures(&r).map(|(l, n, _)| (l, n)), Some((10, 1)), "{r}");
        assert_eq!(r.status, 200, "{r}");
        let r = get(&s, "/", "uk-ten");
        assert_eq!(figures(&r).map(|(l, n, _)| (l, n)), Some((10, 0)), "{r}");
        // The budget is spent: the next request asks the backend, which fails.
        s.backend.set_mode(Mode::Status(503));
        let r = get(&s, "/", "uk-ten");
        assert_eq!((r.status, figures(&r)), (200, None), "{caching_type}: {r}");
        assert!(r.from_echo(), "{r}");
        assert!(r.header("ratelimit-remaining").is_none(), "{r}");
        assert_eq!(s.echo.requests().len(), 3, "{caching_type}");
        assert_eq!(authorizes(&s.backend).len(), 2, "{caching_type}");
        assert!(authrep_calls(&s.backend).is_empty());
    }
}
