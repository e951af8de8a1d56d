//! The authrep callout: what the backend receives, and failures (down, timeout, 5xx) failing closed.

mod support;

use e2e::mock_backend::Mode;
use e2e::{EchoUpstream, Envoy, Request};
use serde_json::json;
use std::time::{Duration, Instant};
use support::*;

fn get(path: &str) -> Request {
    Request::get(path).header("Host", "api.example.com")
}

#[test]
fn authrep_request_is_what_apicast_sends() {
    let s = Stack::start(config(vec![service(
        1,
        json!(1),
        json!({"proxy_rules": [
            {"http_method": "GET", "pattern": "/foo", "metric_system_name": "hits", "delta": 1},
            {"http_method": "GET", "pattern": "/foo/bar", "metric_system_name": "get_foo", "delta": 2},
            {"http_method": "ANY", "pattern": "/foo", "metric_system_name": "hits", "delta": 3}
        ]}),
    )]));
    let r = get(&format!("/foo/bar?user_key={USER_KEY}")).send(s.port());
    assert_eq!(r.status, 200, "{r}");
    let call = &s.authreps()[0];
    assert_eq!(call.method, "GET");
    assert_eq!(
        call.header("3scale-options"),
        Some("rejection_reason_header=1&limit_headers=1&no_body=1")
    );
    assert_eq!(
        call.header("host"),
        Some("backend.example"),
        "the configured authority"
    );
    assert_eq!(
        call.param("usage[hits]"),
        Some("4"),
        "deltas summed per metric"
    );
    assert_eq!(call.param("usage[get_foo]"), Some("2"));
    assert_eq!(
        call.raw_query,
        format!("service_id=1&service_token={TOKEN}&user_key={USER_KEY}&usage%5Bget_foo%5D=2&usage%5Bhits%5D=4")
    );
    // The backend applied the usage: hits 4 + get_foo 2 propagated to its parent.
    assert_eq!(
        s.backend
            .counter("1", "app-1", "hits", e2e::mock_backend::Period::Eternity),
        6
    );
}

#[test]
fn key_with_reserved_characters_reaches_the_backend_intact() {
    let s = Stack::start(config(vec![service(
        1,
        json!(1),
        json!({"credentials_location": "headers"}),
    )]));
    let r = get("/").header("user_key", "a&b=c%d e").send(s.port());
    assert_eq!(r.status, 200, "{r}");
    let call = &s.authreps()[0];
    assert_eq!(call.param("user_key"), Some("a&b=c%d e"));
    assert!(
        call.raw_query.contains("user_key=a%26b%3Dc%25d%20e"),
        "{}",
        call.raw_query
    );
    // Injection attempt: a header value cannot add a parameter.
    let r = get("/")
        .header("user_key", "x&service_id=2&user_key=uk-valid")
        .send(s.port());
    assert_eq!(r.status, 403, "{r}");
    let call = s.authreps().pop().unwrap();
    assert_eq!(
        call.query.iter().filter(|(k, _)| k == "service_id").count(),
        1
    );
}

#[test]
fn backend_5xx_fails_closed() {
    let s = Stack::start(config(vec![service(1, json!(1), json!({}))]));
    s.backend.set_mode(Mode::Status(503));
    let r = get(&format!("/?user_key={USER_KEY}")).send(s.port());
    assert_eq!(
        (r.status, r.body.as_str()),
        (403, "Authentication failed"),
        "{r}"
    );
    assert_eq!(s.echo.requests().len(), 0);
    assert_eq!(s.envoy.stat("wasmcustom.tollgate.backend_errors"), Some(1));
    s.backend.set_mode(Mode::Normal);
    assert_eq!(
        get(&format!("/?user_key={USER_KEY}")).send(s.port()).status,
        200
    );
}

#[test]
fn backend_timeout_fails_closed_after_timeout_ms() {
    let mut c = config(vec![service(1, json!(1), json!({}))]);
    c["backend"]["timeout_ms"] = json!(300);
    let s = Stack::start(c);
    s.backend.set_mode(Mode::Hang);
    let started = Instant::now();
    let r = get(&format!("/?user_key={USER_KEY}")).send(s.port());
    let took = started.elapsed();
    assert_eq!(r.status, 403, "{r}");
    assert!(
        took >= Duration::from_millis(250),
        "answered before the timeout: {took:?}"
    );
    assert!(
        took < Duration::from_secs(10),
        "timeout not applied: {took:?}"
    );
    assert_eq!(s.echo.requests().len(), 0);
    assert_eq!(s.envoy.stat("wasmcustom.tollgate.backend_errors"), Some(1));
}

#[test]
fn backend_down_fails_closed() {
    let echo = EchoUpstream::start().unwrap();
    let envoy = Envoy::builder()
        .upstream_port(echo.port())
        .backend_port(e2e::ports::free_port())
        .filter_config(&config(vec![service(1, json!(1), json!({}))]).to_string())
        .start()
        .unwrap();
    let r = get(&format!("/?user_key={USER_KEY}")).send(envoy.port());
    assert_eq!(
        (r.status, r.body.as_str()),
        (403, "Authentication failed"),
        "{r}"
    );
    assert_eq!(echo.requests().len(), 0);
    assert_eq!(envoy.stat("wasmcustom.tollgate.backend_errors"), Some(1));
}

#[test]
fn unknown_backend_cluster_fails_closed() {
    let mut c = config(vec![service(1, json!(1), json!({}))]);
    c["backend"]["cluster"] = json!("no_such_cluster");
    let s = Stack::start(c);
    let r = get(&format!("/?user_key={USER_KEY}")).send(s.port());
    assert_eq!(r.status, 403, "{r}");
    assert_eq!(s.envoy.stat("wasmcustom.tollgate.backend_errors"), Some(1));
}
