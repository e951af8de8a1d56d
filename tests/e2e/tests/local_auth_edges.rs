//! Edge cases of local authentication, HTTPS-only, header secrets and signed URLs that the
//! other suites do not cover. Each test asserts the status, the body and what the upstream
//! (and the 3scale backend) received.

mod support;

use e2e::Request;
use serde_json::{json, Value};
use support::*;
use tollgate_core::auth::digest::stored_form;

/// `https_only` refuses any request that carries a credential (3scale or local) and did not
/// arrive over TLS, a `user_key` in a form-urlencoded POST body too (it fills what the query
/// lacks). Until 2026-12-05 the check was decided from the head alone, before the body was
/// read: the key travelled over plain HTTP, was authorized by 3scale and the request reached
/// the upstream.
///
/// The same key in the query is refused with 403 `HTTPS required` (the control case).
#[test]
fn https_only_refuses_a_user_key_in_a_form_body_over_plain_http() {
    let mut svc = service(
        1,
        json!(1),
        json!({"proxy_rules": [
            {"http_method": "POST", "pattern": "/", "metric_system_name": "hits", "delta": 1}
        ]}),
    );
    svc["authentication"] = json!({"https_only": true});
    let s = Stack::start(config(vec![svc]));
    let form = |target: &str, body: &str| {
        Request::post(target)
            .header("Host", "api.example.com")
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body)
            .send(s.port())
    };

    // Control: the key in the query is refused before any backend call.
    let r = form(&format!("/orders?user_key={USER_KEY}"), "item=1");
    assert_eq!((r.status, r.body.as_str()), (403, "HTTPS required"), "{r}");
    assert!(s.backend.requests().is_empty(), "no authrep over HTTP");
    assert!(s.echo.requests().is_empty(), "nothing reached the upstream");

    // The same key in the form body: it must be refused the same way.
    let body = format!("item=1&user_key={USER_KEY}");
    let r = form("/orders", &body);
    let upstream: Vec<(String, String)> = s
        .echo
        .requests()
        .iter()
        .map(|q| (q.path.clone(), q.body.clone()))
        .collect();
    let authreps: Vec<Option<String>> = s
        .authreps()
        .iter()
        .map(|a| a.param("user_key").map(str::to_string))
        .collect();
    assert_eq!(
        (r.status, r.body.as_str()),
        (403, "HTTPS required"),
        "{r}\nupstream received: {upstream:?}\nauthreps with user_key: {authreps:?}"
    );
    assert!(authreps.is_empty(), "no authrep over HTTP: {authreps:?}");
    assert!(upstream.is_empty(), "the upstream received {upstream:?}");

    // Over HTTP/2, the body followed by a trailer: the same.
    let r = e2e::h2::send_with_trailers(
        s.port(),
        "POST",
        "api.example.com",
        "/orders",
        &[("content-type", "application/x-www-form-urlencoded")],
        body.as_bytes(),
        &[("x-checksum", "1")],
    )
    .unwrap();
    assert_eq!((r.status, r.body.as_str()), (403, "HTTPS required"));
    assert!(s.authreps().is_empty() && s.echo.requests().is_empty());
}

const READER_KEY: &str = "rk_5f0c8e7a1b2d4c6e9f1a3b5c7d9e0f21";

fn reader_keys(namespace: &str) -> Value {
    json!({
        "header": "APIKey",
        "keys": [{"id": "reader", "hash": stored_form(READER_KEY),
                  "grants": [{"namespace": namespace, "actions": ["read"]}]}]
    })
}

fn local(method: &str, target: &str) -> Request {
    Request::new(method, target)
        .header("Host", "local.example.com")
        .header("APIKey", READER_KEY)
}

/// A header secret's `path_prefix` is compared with the normalised path, which is
/// re-escaped (a space is `%20`, `é` is `%C3%A9`), so it is normalised into that form at
/// configuration time, as `public_paths` entries are (`/my docs` is `/my%20docs`). Until
/// 2026-12-05 it was kept as written: a prefix with a space or a non-ASCII character was
/// accepted and then never matched, so the paths it was meant to guard needed no secret.
///
/// Control: the `/admin` prefix of the same configuration is enforced.
#[test]
fn header_secret_prefix_with_a_space_or_non_ascii_is_enforced() {
    let auth = json!({"mode": "local", "api_keys": reader_keys("any"),
    "header_secrets": [
        {"path_prefix": "/admin", "header": "X-Admin-Secret", "secret": "s3cr3t-admin"},
        {"path_prefix": "/my docs", "header": "X-Docs-Secret", "secret": "s3cr3t-docs"},
        {"path_prefix": "/café", "header": "X-Cafe-Secret", "secret": "s3cr3t-cafe"}
    ]});
    let rules =
        json!([{"http_method": "ANY", "pattern": "/", "metric_system_name": "hits", "delta": 1}]);
    let s = Stack::start(config(vec![local_service(auth, rules)]));

    // Control: the plain prefix is enforced.
    let r = local("GET", "/admin/users").send(s.port());
    assert_eq!(
        (r.status, r.body.as_str()),
        (403, "Authentication failed"),
        "{r}"
    );
    assert!(s.echo.requests().is_empty());

    // Neither guarded path may be served without its secret.
    let answers: Vec<(&str, u16, String)> = ["/my%20docs/secret.txt", "/caf%C3%A9/menu"]
        .into_iter()
        .map(|target| {
            let r = local("GET", target).send(s.port());
            (target, r.status, r.body)
        })
        .collect();
    let upstream: Vec<String> = s.echo.requests().iter().map(|q| q.path.clone()).collect();
    for (target, status, body) in &answers {
        assert_eq!(
            (*status, body.as_str()),
            (403, "Authentication failed"),
            "{target} without its header secret\nupstream received: {upstream:?}"
        );
    }
    assert!(upstream.is_empty(), "the upstream received {upstream:?}");

    // With its secret, a guarded path is served.
    let r = local("GET", "/my%20docs/secret.txt")
        .header("X-Docs-Secret", "s3cr3t-docs")
        .send(s.port());
    assert_eq!(r.status, 200, "{r}");
    assert_eq!(r.echo().path, "/my%20docs/secret.txt");
}

/// Mapping rules read only the first 100 `&`-separated pieces of the query (lua-nginx's
/// `max_args`, kept for APIcast compatibility), and every piece counts, empty ones too. Until
/// 2026-12-05 a rule keyed on a query arg that demands a namespace was dodged by putting 100
/// `&` before the arg: the rule no longer matched, the broader rule did, and the upstream
/// (which reads every arg) got `scope=all` from a key without the `admin` grant. Now a
/// request with a named arg beyond the first 100 pieces is refused (400) when the service's
/// rules read args.
///
/// (A related reading, documented and APIcast's: rules compare the *last* value of an arg, so
/// `/reports?scope=all&scope=mine` is let through too, and an upstream that reads the first
/// value, as Go's `Query().Get` and Flask's `request.args.get` do, serves `scope=all`.)
///
/// Control: the same arg without the padding is refused.
#[test]
fn a_namespace_rule_keyed_on_a_query_arg_cannot_be_dodged_by_padding_the_query() {
    let auth = json!({"mode": "local", "api_keys": reader_keys("reports")});
    let rules = json!([
        {"http_method": "GET", "pattern": "/reports?scope=all", "metric_system_name": "hits", "delta": 1, "namespace": "admin"},
        {"http_method": "GET", "pattern": "/reports", "metric_system_name": "hits", "delta": 1, "namespace": "reports"}
    ]);
    let s = Stack::start(config(vec![local_service(auth, rules)]));

    // Control: the reader may read its reports, not everybody's.
    let mine = local("GET", "/reports").send(s.port());
    assert_eq!(mine.status, 200, "{mine}");
    assert_eq!(mine.echo().path, "/reports");
    let all = local("GET", "/reports?scope=all").send(s.port());
    assert_eq!(
        (all.status, all.body.as_str()),
        (403, "Authentication failed"),
        "{all}"
    );
    assert_eq!(
        s.echo.requests().len(),
        1,
        "only the allowed call went upstream"
    );

    let target = format!("/reports?{}scope=all", "&".repeat(100));
    let r = local("GET", &target).send(s.port());
    let upstream: Vec<String> = s
        .echo
        .requests()
        .iter()
        .skip(1)
        .map(|q| q.path.clone())
        .collect();
    // Rules read the first 100 pieces (APIcast's `max_args`): more, when rules read args, is
    // refused rather than matched on what they see.
    assert_eq!(
        (r.status, r.body.as_str()),
        (400, "Bad Request: too many arguments"),
        "{target}: {r}\nupstream received: {upstream:?}"
    );
    assert!(upstream.is_empty(), "the upstream received {upstream:?}");
}

/// The same padding in a form body, whose args the rules read on a POST (APIcast's
/// `get_post_args`), over HTTP/1.1 and HTTP/2: refused, nothing upstream. A form with the
/// arg in its first 100 pieces is still matched on it (403 without the grant).
#[test]
fn a_namespace_rule_keyed_on_a_form_arg_cannot_be_dodged_by_padding_the_body() {
    let mut keys = reader_keys("reports");
    keys["keys"][0]["grants"][0]["actions"] = json!(["read", "create"]);
    let auth = json!({"mode": "local", "api_keys": keys});
    let rules = json!([
        {"http_method": "POST", "pattern": "/reports?scope=all", "metric_system_name": "hits", "delta": 1, "namespace": "admin"},
        {"http_method": "POST", "pattern": "/reports", "metric_system_name": "hits", "delta": 1, "namespace": "reports"}
    ]);
    let s = Stack::start(config(vec![local_service(auth, rules)]));
    let form = |body: &str| {
        local("POST", "/reports")
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body)
            .send(s.port())
    };
    let r = form("scope=mine");
    assert_eq!(r.status, 200, "{r}");
    let r = form("scope=all");
    assert_eq!((r.status, r.body.as_str()), (403, "Authentication failed"));

    let padded = format!("{}scope=all", "&".repeat(100));
    let r = form(&padded);
    assert_eq!(
        (r.status, r.body.as_str()),
        (400, "Bad Request: too many arguments"),
        "{r}"
    );
    let h2 = e2e::h2::send_with_trailers(
        s.port(),
        "POST",
        "local.example.com",
        "/reports",
        &[
            ("apikey", READER_KEY),
            ("content-type", "application/x-www-form-urlencoded"),
        ],
        padded.as_bytes(),
        &[],
    )
    .unwrap();
    assert_eq!(
        (h2.status, h2.body.as_str()),
        (400, "Bad Request: too many arguments")
    );
    let upstream: Vec<String> = s.echo.requests().iter().map(|q| q.body.clone()).collect();
    assert_eq!(
        upstream,
        vec!["scope=mine".to_string()],
        "only the allowed form went upstream"
    );
}
