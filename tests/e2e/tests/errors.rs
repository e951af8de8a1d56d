//! Each error through Envoy, with APIcast's defaults and with custom status, body and Content-Type.

mod support;

use e2e::mock_backend::{App, Period};
use e2e::Request;
use serde_json::json;
use support::*;

const PLAIN: &str = "text/plain; charset=utf-8";

fn custom() -> serde_json::Value {
    json!({
        "hosts": ["custom.example.com"],
        "error_auth_missing": "{\"error\":\"missing\"}", "error_status_auth_missing": 400,
        "error_headers_auth_missing": "application/json",
        "error_auth_failed": "nope", "error_status_auth_failed": 401,
        "error_headers_auth_failed": "text/plain; charset=us-ascii",
        "error_no_match": "<no/>", "error_status_no_match": 418, "error_headers_no_match": "application/xml",
        "error_limits_exceeded": "slow down", "error_status_limits_exceeded": 503,
        "error_headers_limits_exceeded": "text/x-limits"
    })
}

fn stack() -> Stack {
    let state = backend_state().app(
        App::new("1", "app-limited")
            .user_key("uk-one-per-minute")
            .plan("Tiny")
            .limit("hits", Period::Minute, 1),
    );
    Stack::start_with(
        config(vec![
            service(1, json!(1), json!({})),
            service(3, json!(1), custom()),
        ]),
        state,
        |b| b,
    )
}

fn send(s: &Stack, host: &str, path: &str) -> e2e::Response {
    Request::get(path).header("Host", host).send(s.port())
}

fn assert_reply(r: &e2e::Response, status: u16, body: &str, content_type: &str) {
    assert_eq!(r.status, status, "{r}");
    assert_eq!(r.body, body, "{r}");
    assert_eq!(r.header("content-type"), Some(content_type), "{r}");
    assert!(
        r.header("x-upstream").is_none(),
        "the upstream must not answer: {r}"
    );
}

#[test]
fn errors_with_apicast_defaults() {
    let s = stack();
    let h = "api.example.com";
    assert_reply(
        &send(&s, h, "/"),
        401,
        "Authentication parameters missing",
        PLAIN,
    );
    assert_reply(
        &send(&s, h, "/?user_key=wrong"),
        403,
        "Authentication failed",
        PLAIN,
    );
    let no_match = Request::post("/?user_key=uk-valid")
        .header("Host", h)
        .send(s.port());
    assert_reply(&no_match, 404, "No Mapping Rule matched", PLAIN);

    assert_eq!(send(&s, h, "/?user_key=uk-one-per-minute").status, 200);
    let limited = send(&s, h, "/?user_key=uk-one-per-minute");
    assert_reply(&limited, 429, "Limits exceeded", PLAIN);
    let retry: u64 = limited
        .header("retry-after")
        .expect("Retry-After")
        .parse()
        .unwrap();
    assert!(
        (1..=60).contains(&retry),
        "Retry-After is the seconds left in the minute: {retry}"
    );

    // A metric disabled in the plan (limit 0) is auth failed, not limits exceeded.
    let disabled = Stack::start(config(vec![service(
        1,
        json!(1),
        json!({"proxy_rules": [{"http_method": "GET", "pattern": "/", "metric_system_name": "disabled", "delta": 1}]}),
    )]));
    let r = send(&disabled, h, "/?user_key=uk-disabled");
    assert_reply(&r, 403, "Authentication failed", PLAIN);
    assert!(r.header("retry-after").is_none());

    // Unknown host: 404 with an empty body.
    let unknown = send(&s, "other.example.com", "/?user_key=uk-valid");
    assert_eq!(
        (unknown.status, unknown.body.as_str()),
        (404, ""),
        "{unknown}"
    );
    assert!(unknown.header("x-upstream").is_none());

    let stats = |name: &str| s.envoy.stat(name).unwrap_or(0);
    assert_eq!(stats("wasmcustom.tollgate.requests_denied.auth_missing"), 1);
    assert_eq!(stats("wasmcustom.tollgate.requests_denied.auth_failed"), 1);
    assert_eq!(stats("wasmcustom.tollgate.requests_denied.no_match"), 1);
    assert_eq!(
        stats("wasmcustom.tollgate.requests_denied.limits_exceeded"),
        1
    );
    assert_eq!(
        stats("wasmcustom.tollgate.requests_denied.service_not_found"),
        1
    );
    assert_eq!(stats("wasmcustom.tollgate.requests_authorized"), 1);
}

#[test]
fn errors_with_custom_status_body_and_content_type() {
    let s = stack();
    let h = "custom.example.com";
    // Service 3 is not known to the backend: a valid key of service 1 is still refused there,
    // so the custom auth-failed reply is what the backend's 403 gives.
    assert_reply(
        &send(&s, h, "/"),
        400,
        "{\"error\":\"missing\"}",
        "application/json",
    );
    assert_reply(
        &send(&s, h, "/?user_key=uk-valid"),
        401,
        "nope",
        "text/plain; charset=us-ascii",
    );
    let no_match = Request::delete("/?user_key=uk-valid")
        .header("Host", h)
        .send(s.port());
    assert_reply(&no_match, 418, "<no/>", "application/xml");
}

#[test]
fn custom_limits_exceeded_reply() {
    let state = backend_state().app(
        App::new("1", "app-limited")
            .user_key("uk-one-per-minute")
            .plan("Tiny")
            .limit("hits", Period::Minute, 1),
    );
    let mut proxy = custom();
    proxy["hosts"] = json!(["api.example.com"]);
    let s = Stack::start_with(config(vec![service(1, json!(1), proxy)]), state, |b| b);
    assert_eq!(
        send(&s, "api.example.com", "/?user_key=uk-one-per-minute").status,
        200
    );
    let r = send(&s, "api.example.com", "/?user_key=uk-one-per-minute");
    assert_reply(&r, 503, "slow down", "text/x-limits");
    assert!(r.header("retry-after").is_some(), "{r}");
}

/// Retry-After is the 3scale-limit-reset the backend sent: the seconds left in the limit's minute.
#[test]
fn retry_after_is_the_backends_limit_reset() {
    let s = stack();
    let h = "api.example.com";
    // The mock's clock, frozen 17 s into a minute: 43 s are left in the period.
    s.backend.set_now(Some(1_800_000_017));
    assert_eq!(send(&s, h, "/?user_key=uk-one-per-minute").status, 200);
    let limited = send(&s, h, "/?user_key=uk-one-per-minute");
    assert_reply(&limited, 429, "Limits exceeded", PLAIN);
    assert_eq!(limited.header("retry-after"), Some("43"), "{limited}");

    // Replaying the denied authrep (a denial applies nothing) shows what the backend sent.
    let call = s.authreps().pop().expect("an authrep");
    let options = call.header("3scale-options").expect("3scale-options");
    let sent = Request::get(&call.url())
        .header("3scale-options", options)
        .send(s.backend.port());
    assert_eq!(sent.status, 409, "{sent}");
    assert_eq!(sent.header("3scale-limit-reset"), Some("43"), "{sent}");

    // 30 s later in the same minute, the reset (and Retry-After) is 13.
    s.backend.set_now(Some(1_800_000_047));
    let later = send(&s, h, "/?user_key=uk-one-per-minute");
    assert_eq!(later.header("retry-after"), Some("13"), "{later}");
}

/// Value of a Prometheus sample (`name{...} value`) in Envoy's /stats/prometheus text.
fn prometheus_value(text: &str, name: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        let (metric, value) = line.rsplit_once(' ')?;
        let metric = metric.split('{').next()?;
        (metric == name).then(|| value.parse().ok())?
    })
}

/// /stats/prometheus shows the README's `tollgate_*` counters with the right values.
#[test]
fn prometheus_names_and_values() {
    let s = stack();
    s.backend.set_now(Some(1_800_000_017)); // both limited calls in one minute
    let h = "api.example.com";
    for path in [
        "/?user_key=uk-valid",
        "/?user_key=uk-valid",
        "/",
        "/?user_key=wrong",
        "/?user_key=also-wrong",
        "/?user_key=uk-one-per-minute",
        "/?user_key=uk-one-per-minute",
    ] {
        send(&s, h, path);
    }
    Request::post("/?user_key=uk-valid")
        .header("Host", h)
        .send(s.port());
    send(&s, "other.example.com", "/?user_key=uk-valid");

    let text = s.envoy.admin("/stats/prometheus").expect("admin").body;
    let expected = [
        ("tollgate_requests_authorized", 3),
        ("tollgate_requests_denied_auth_missing", 1),
        ("tollgate_requests_denied_auth_failed", 2),
        ("tollgate_requests_denied_no_match", 1),
        ("tollgate_requests_denied_limits_exceeded", 1),
        ("tollgate_requests_denied_service_not_found", 1),
        ("tollgate_backend_calls", 6),
        ("tollgate_backend_authrep_calls", 6),
        ("tollgate_backend_errors", 0),
    ];
    for (name, value) in expected {
        assert_eq!(prometheus_value(&text, name), Some(value), "{name}\n{text}");
    }
    assert!(
        text.contains("# TYPE tollgate_requests_authorized counter"),
        "{text}"
    );
}

/// A path (query included) over `max_path_bytes` (8 KB by default, APIcast's request-line
/// limit) is 414 before anything else: no backend call, nothing upstream, even with a valid key.
#[test]
fn a_path_over_max_path_bytes_is_414() {
    let pad = "p".repeat(8300);
    let long = format!("/?user_key={USER_KEY}&pad={pad}");
    let s = stack();
    let r = send(&s, "api.example.com", &long);
    assert_reply(&r, 414, "URI Too Long", PLAIN);
    assert!(s.authreps().is_empty(), "{:?}", s.authreps());
    assert_eq!(s.echo.request_count(), 0);
    let counted = support::cache::wait_stat(
        &s.envoy,
        "requests_denied.bad_request",
        1,
        std::time::Duration::from_secs(5),
    );
    assert_eq!(counted, 1);

    let mut raised = config(vec![service(1, json!(1), json!({}))]);
    raised["max_path_bytes"] = json!(16384);
    let s = Stack::start(raised);
    let r = send(&s, "api.example.com", &long);
    assert_eq!(r.status, 200, "{r}");
    assert_eq!(s.echo.last_request().unwrap().path, long);
}
