//! Service selection: by host, and by path with path routing on (APICAST_PATH_ROUTING[_ONLY]).

mod support;

use e2e::Request;
use serde_json::{json, Value};
use support::*;

fn services() -> Vec<Value> {
    vec![
        service(
            1,
            json!(1),
            json!({"hosts": ["shared.example.com"], "error_status_no_match": 411,
            "proxy_rules": [{"http_method": "GET", "pattern": "/one", "metric_system_name": "hits", "delta": 1}]}),
        ),
        service(
            2,
            json!(2),
            json!({"hosts": ["shared.example.com"], "error_status_no_match": 412,
            "proxy_rules": [{"http_method": "GET", "pattern": "/two", "metric_system_name": "hits", "delta": 1}]}),
        ),
    ]
}

fn with_routing(path_routing: bool, only: bool) -> Stack {
    let mut c = config(services());
    c["path_routing"] = json!(path_routing);
    c["path_routing_only"] = json!(only);
    Stack::start(c)
}

fn send(s: &Stack, path: &str) -> e2e::Response {
    Request::get(path)
        .header("Host", "Shared.Example.com:8443")
        .send(s.port())
}

#[test]
fn host_routing_uses_the_first_service_for_the_host() {
    let s = with_routing(false, false);
    assert_eq!(send(&s, &format!("/one?user_key={USER_KEY}")).status, 200);
    let r = send(&s, &format!("/two?app_id={APP_ID}&app_key={APP_KEY}"));
    assert_eq!(r.status, 401, "service 1 wants a user_key: {r}");
    let r = send(&s, &format!("/two?user_key={USER_KEY}"));
    assert_eq!(r.status, 411, "service 1's no-match status: {r}");
}

#[test]
fn path_routing_picks_the_service_by_rule_and_falls_back() {
    let s = with_routing(true, false);
    let r = send(&s, &format!("/two?app_id={APP_ID}&app_key={APP_KEY}"));
    assert_eq!(r.status, 200, "{r}");
    assert_eq!(s.authreps()[0].param("service_id"), Some("2"));
    assert_eq!(send(&s, &format!("/one?user_key={USER_KEY}")).status, 200);
    let r = send(&s, &format!("/three?user_key={USER_KEY}"));
    assert_eq!(
        r.status, 411,
        "no rule matches: the host's first service answers: {r}"
    );
}

#[test]
fn path_routing_only_never_falls_back() {
    let s = with_routing(false, true);
    let r = send(&s, &format!("/three?user_key={USER_KEY}"));
    assert_eq!((r.status, r.body.as_str()), (404, ""), "{r}");
    assert_eq!(
        send(&s, &format!("/two?app_id={APP_ID}&app_key={APP_KEY}")).status,
        200
    );
}

/// Path routing matches the URI args only: a form-body arg does not pick the service
/// (reference §6), and one that gives an arg the rules read another value than the query did
/// (or one it lacked) is refused, since the upstream may read the body's (found by an audit).
#[test]
fn path_routing_ignores_form_body_args() {
    let rule = |kind: &str| {
        json!([{"http_method": "POST", "pattern": "/orders", "querystring_parameters": {"kind": kind},
                "metric_system_name": "hits", "delta": 1}])
    };
    let mut c = config(vec![
        service(
            1,
            json!(1),
            json!({"hosts": ["shared.example.com"], "error_status_no_match": 411, "proxy_rules": rule("a")}),
        ),
        service(
            2,
            json!(2),
            json!({"hosts": ["shared.example.com"], "error_status_no_match": 412, "proxy_rules": rule("b")}),
        ),
    ]);
    c["path_routing"] = json!(true);
    let s = Stack::start(c);
    let post = |path: &str| {
        Request::post(path)
            .header("Host", "shared.example.com")
            .form(&[
                ("kind", "b"),
                ("user_key", USER_KEY),
                ("app_id", APP_ID),
                ("app_key", APP_KEY),
            ])
            .send(s.port())
    };

    // kind=b only in the body: no service matches by URI (the host's first would answer),
    // and the upstream would read the body's kind, which service 2's rule guards.
    let r = post("/orders");
    assert_eq!(
        (r.status, r.body.as_str()),
        (400, "Bad Request: ambiguous argument"),
        "{r}"
    );
    assert!(s.authreps().is_empty(), "no backend call");
    assert_eq!(s.echo.request_count(), 0, "nothing upstream");

    // kind=b in the query selects service 2.
    let r = post("/orders?kind=b");
    assert_eq!(r.status, 200, "{r}");
    assert_eq!(s.authreps()[0].param("service_id"), Some("2"));
    assert_eq!(
        r.echo().body,
        format!("kind=b&user_key={USER_KEY}&app_id={APP_ID}&app_key={APP_KEY}")
    );
}
