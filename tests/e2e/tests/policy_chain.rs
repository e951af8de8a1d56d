//! `proxy.policy_chain` through real Envoy (2 workers): a service whose chain holds a policy
//! that can block traffic and that Tollgate does not enforce is refused in on_configure, so
//! Envoy does not start; `ignore_policies` accepts it explicitly; a chain of `apicast` and
//! policies that are Envoy's job serves as a service without a chain does.

mod support;

use e2e::{Envoy, Request};
use serde_json::{json, Value};
use support::*;

fn with_chain(chain: Value) -> Value {
    config(vec![service(1, json!(1), json!({"policy_chain": chain}))])
}

fn refused_log(config: &Value) -> String {
    Envoy::builder()
        .concurrency(2)
        .filter_config(&config.to_string())
        .start_expect_failure()
        .expect("Envoy must refuse the configuration")
}

/// The first line of Envoy's log containing `text`.
fn log_line<'a>(log: &'a str, text: &str) -> &'a str {
    log.lines()
        .find(|l| l.contains(text))
        .unwrap_or_else(|| panic!("no log line with {text:?} in:\n{log}"))
}

fn get(path: &str) -> Request {
    Request::get(path).header("Host", "api.example.com")
}

fn start(config: Value) -> Stack {
    Stack::start_with(config, backend_state(), |b| b.concurrency(2))
}

/// What a user and the backend see for a service that authorizes with 3scale: a valid key is
/// forwarded and reported, no key is 401, an unknown key is 403; neither reaches the upstream.
fn serves_like_apicast(s: &Stack) {
    let r = get(&format!("/things/7?user_key={USER_KEY}")).send(s.port());
    assert_eq!(r.status, 200, "{r}");
    let seen = r.echo();
    assert_eq!(seen.method, "GET");
    assert_eq!(seen.path, format!("/things/7?user_key={USER_KEY}"));
    let calls = s.authreps();
    assert_eq!(calls.len(), 1, "one authrep per request");
    assert_eq!(calls[0].param("service_id"), Some("1"));
    assert_eq!(calls[0].param("user_key"), Some(USER_KEY));
    assert_eq!(calls[0].param("usage[hits]"), Some("1"));

    let r = get("/things/7").send(s.port());
    assert_eq!(r.status, 401, "{r}");
    assert_eq!(r.body, "Authentication parameters missing");
    let r = get("/things/7?user_key=unknown-key").send(s.port());
    assert_eq!(r.status, 403, "{r}");
    assert_eq!(r.body, "Authentication failed");
    assert_eq!(
        s.echo.request_count(),
        1,
        "denied requests never reach the upstream"
    );
    assert_eq!(s.authreps().len(), 2, "no authrep without credentials");
}

#[test]
fn a_policy_that_can_block_traffic_and_is_not_enforced_keeps_envoy_from_starting() {
    let cases = [
        (
            json!([{"name": "apicast.policy.ip_check", "configuration": {"check_type": "whitelist",
                      "ips": ["10.0.0.0/8"], "client_ip_sources": ["proxy_protocol_addr"]}},
                   {"name": "apicast", "version": "builtin"}]),
            "services[0].proxy.policy_chain[0].configuration.client_ip_sources[0]: \
             proxy_protocol_addr is not supported",
        ),
        (
            json!([{"name": "apicast", "version": "builtin"},
                   {"name": "rate_limit", "configuration": {"fixed_window_limiters": [{"key": {"name": "k"}, "count": 1, "window": 10}]}}]),
            "services[0].proxy.policy_chain[1]: policy rate_limit (builtin) can block or change \
             traffic and Tollgate does not enforce it: remove it, or accept it in ignore_policies",
        ),
        (
            json!([{"name": "apicast"}, {"name": "my_deny_policy", "version": "1.0.0"}]),
            "services[0].proxy.policy_chain[1]: policy my_deny_policy (1.0.0) can block or change \
             traffic and Tollgate does not enforce it: remove it, or accept it in ignore_policies",
        ),
        (
            json!([]),
            "services[0].proxy.policy_chain: an empty chain: APIcast would neither authorize nor proxy",
        ),
        // APIcast would match the rules again on the rewritten `/admin` (found by an audit,
        // 2026-12-05: Tollgate authorized `/public` and forwarded `/admin`).
        (
            json!([{"name": "apicast"},
                   {"name": "url_rewriting", "configuration": {"commands": [
                       {"op": "sub", "regex": "^/public", "replace": "/admin"}]}},
                   {"name": "apicast"}]),
            "services[0].proxy.policy_chain[2]: a second apicast: Tollgate authorizes once, with the first",
        ),
    ];
    for (chain, expected) in cases {
        let log = refused_log(&with_chain(chain));
        let tail = e2e::envoy::tail(&log, 30);
        assert!(
            log.contains(&format!("tollgate: invalid configuration: {expected}")),
            "{tail}"
        );
        assert!(
            log.contains("Unable to create Wasm plugin tollgate"),
            "{tail}"
        );
    }
}

#[test]
fn ignore_policies_accepts_the_policy_and_the_service_serves_normally() {
    let chain = json!([
        {"name": "apicast", "version": "builtin"},
        {"name": "rate_limit", "configuration": {"fixed_window_limiters": [{"key": {"name": "k"}, "count": 1, "window": 10}]}}
    ]);
    let mut c = with_chain(chain);
    c["ignore_policies"] = json!(["rate_limit"]);
    let s = start(c);
    serves_like_apicast(&s);
    // Edge Limiting would have answered 429 to the second request within 10 s; Tollgate does
    // not enforce it, as the operator accepted.
    let r = get(&format!("/things/8?user_key={USER_KEY}")).send(s.port());
    assert_eq!(r.status, 200, "{r}");
    let log = s.envoy.log();
    let line = log_line(
        &log,
        "tollgate: services[0].proxy.policy_chain[1]: policy rate_limit: NOT enforced: accepted \
         through ignore_policies",
    );
    assert!(line.contains("[warning][wasm]"), "a warning: {line}");
}

#[test]
fn apicast_with_policies_that_are_envoys_job_serves_normally() {
    let s = start(with_chain(json!([
        {"name": "apicast.policy.logging", "configuration": {"enable_access_logs": false}},
        {"name": "upstream_connection", "configuration": {"connect_timeout": 5}},
        {"name": "apicast", "version": "builtin", "configuration": {}},
        {"name": "retry", "configuration": {"retries": 3}}
    ])));
    serves_like_apicast(&s);
    let log = s.envoy.log();
    let line = log_line(
        &log,
        "tollgate: services[0].proxy.policy_chain[1]: policy upstream_connection: Envoy's job \
         (configure it in Envoy); it cannot block traffic",
    );
    assert!(line.contains("[info][wasm]"), "an info line: {line}");
    assert!(log_line(&log, "policy_chain[0]: policy logging: Envoy's job").contains("[info]"));
    // Only warnings about the chain count: a warning about something else (a host call the
    // machine refused once, say) is not what this test is about.
    let warnings: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("[warning][wasm]") && l.contains("policy"))
        .collect();
    assert!(
        warnings.is_empty(),
        "no warning for Envoy's job: {warnings:#?}"
    );
}

#[test]
fn maintenance_mode_answers_every_request_shape_and_nothing_reaches_the_upstream_or_the_backend() {
    use support::adversarial::{assert_none, run_and_check, traps, Case, Expect, SHAPES};
    let maintenance = |configuration: Value| {
        with_chain(json!([
            {"name": "apicast", "version": "builtin", "configuration": {}},
            {"name": "apicast.policy.maintenance_mode", "configuration": configuration}
        ]))
    };
    // APIcast's defaults: 503, its message and a newline, text/plain.
    let s = Stack::start_with(maintenance(json!({})), backend_state(), |b| {
        b.concurrency(2).http1_trailers()
    });
    let body = "Service Unavailable - Maintenance\n";
    let r = get(&format!("/things/7?user_key={USER_KEY}")).send(s.port());
    assert_eq!((r.status, r.body.as_str()), (503, body), "{r}");
    assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
    let cases: Vec<_> = SHAPES
        .iter()
        .flat_map(|shape| {
            [
                (
                    format!("valid key/{shape:?}"),
                    format!("/?user_key={USER_KEY}"),
                ),
                (format!("no key/{shape:?}"), "/".to_string()),
            ]
            .into_iter()
            .map(move |(name, target)| {
                let case = Case::new("api.example.com", &target);
                (
                    name,
                    *shape,
                    case,
                    Expect::Denied(503, "Service Unavailable - Maintenance\n"),
                )
            })
        })
        .collect();
    let failures = run_and_check(&s, &cases, 4);
    assert_none("maintenance", &failures, cases.len());
    assert!(traps(&s).is_empty(), "{:?}", traps(&s));
    assert!(s.authreps().is_empty(), "the backend is never asked");
    assert!(
        s.envoy
            .stat("wasmcustom.tollgate.requests_denied.maintenance")
            .unwrap_or(0)
            >= 27
    );

    // A configured status, message and content type.
    let s = start(maintenance(
        json!({"status": 418, "message": "{\"down\": true}",
        "message_content_type": "application/json"}),
    ));
    let r = get(&format!("/things/7?user_key={USER_KEY}")).send(s.port());
    assert_eq!(
        (r.status, r.body.as_str()),
        (418, "{\"down\": true}\n"),
        "{r}"
    );
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(s.echo.request_count(), 0);

    // A condition in Liquid: refused, naming its path.
    let log = refused_log(&maintenance(json!({"condition": {"combine_op": "and",
        "operations": [{"left": "{{ host }}", "left_type": "liquid", "op": "==", "right": "a"}]}})));
    assert!(log_line(&log, "configuration.condition.operations[0].left_type").contains("Liquid"));
}
