//! An arg a mapping rule reads must mean one thing to the rules and to the upstream. APIcast's
//! rules compare the *last* value of a repeated arg (`ngx.req.get_uri_args`), and a form body's
//! value over the query's, while many upstreams read the first (Go's `Query().Get`, Flask's
//! `request.args.get` and `request.values`) and some read names case-insensitively (ASP.NET).
//! Until 2026-12-05 `/reports?scope=all&scope=mine` matched the rule for `scope=mine`, so a
//! rule on `scope=all` that needs the `admin` grant (or counts an expensive metric) was dodged
//! and the upstream served `scope=all`. Now, when a rule whose method and path match reads an
//! arg that comes twice with different values or in another case, the request is refused:
//! 400 `Bad Request: ambiguous argument`, nothing upstream, no backend call. The same value
//! twice is fine, and args no rule reads are the upstream's business.

mod support;

use e2e::Request;
use serde_json::{json, Value};
use support::*;
use tollgate_core::auth::digest::stored_form;

const READER_KEY: &str = "reader-key-0123456789";
const AMBIGUOUS: (u16, &str) = (400, "Bad Request: ambiguous argument");

fn local(method: &str, target: &str) -> Request {
    Request::new(method, target)
        .header("Host", "local.example.com")
        .header("APIKey", READER_KEY)
}

fn paths(s: &Stack) -> Vec<String> {
    s.echo.requests().iter().map(|q| q.path.clone()).collect()
}

/// Local keys with grants: the reader may read and create its own reports, not everybody's.
#[test]
fn a_namespace_rule_on_a_query_or_form_arg_cannot_be_dodged_by_repeating_the_arg() {
    let auth = json!({"mode": "local", "api_keys": {
        "header": "APIKey",
        "keys": [{"id": "reader", "hash": stored_form(READER_KEY),
                  "grants": [{"namespace": "reports", "actions": ["read", "create"]}]}]
    }});
    let rule = |method: &str, pattern: &str, namespace: &str| {
        json!({"http_method": method, "pattern": pattern, "metric_system_name": "hits",
               "delta": 1, "namespace": namespace})
    };
    let rules = Value::Array(vec![
        rule("GET", "/reports?scope=all", "admin"),
        rule("GET", "/reports", "reports"),
        rule("POST", "/reports?scope=all", "admin"),
        rule("POST", "/reports", "reports"),
    ]);
    let s = Stack::start(config(vec![local_service(auth, rules)]));

    // Controls: the reader's own reports, the same value twice, and not everybody's.
    for target in [
        "/reports?scope=mine",
        "/reports?scope=mine&scope=mine&x=1&x=2",
    ] {
        let r = local("GET", target).send(s.port());
        assert_eq!(r.status, 200, "{target}: {r}");
        assert_eq!(r.echo().path, target);
    }
    for target in ["/reports?scope=all", "/reports?scope=all&scope=all"] {
        let r = local("GET", target).send(s.port());
        assert_eq!(
            (r.status, r.body.as_str()),
            (403, "Authentication failed"),
            "{target}"
        );
    }
    let allowed = paths(&s);
    assert_eq!(allowed.len(), 2);

    for target in [
        "/reports?scope=all&scope=mine",
        "/reports?scope=mine&scope=all",
        "/reports?scope=all&scope",
        "/reports?Scope=all",
        "/reports?SCOPE=all&scope=mine",
        "/reports?sc%6Fpe=all&scope=mine",
    ] {
        let r = local("GET", target).send(s.port());
        assert_eq!((r.status, r.body.as_str()), AMBIGUOUS, "{target}: {r}");
    }
    let r = e2e::h2::send_with_trailers(
        s.port(),
        "GET",
        "local.example.com",
        "/reports?scope=all&scope=mine",
        &[("apikey", READER_KEY)],
        b"",
        &[],
    )
    .unwrap();
    assert_eq!((r.status, r.body.as_str()), AMBIGUOUS, "HTTP/2");
    assert_eq!(paths(&s), allowed, "nothing more went upstream");

    // A form's value wins over the query's for the rules (APIcast), the query's for Flask's
    // `request.values`: both orders are refused, over HTTP/1.1 and HTTP/2.
    let form = |target: &str, body: &str| {
        local("POST", target)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body)
            .send(s.port())
    };
    let r = form("/reports", "scope=mine");
    assert_eq!(r.status, 200, "{r}");
    for (target, body) in [
        ("/reports?scope=all", "scope=mine"),
        ("/reports?scope=mine", "scope=all"),
        ("/reports", "scope=mine&scope=all"),
    ] {
        let r = form(target, body);
        assert_eq!(
            (r.status, r.body.as_str()),
            AMBIGUOUS,
            "{target} {body}: {r}"
        );
    }
    let r = e2e::h2::send_with_trailers(
        s.port(),
        "POST",
        "local.example.com",
        "/reports?scope=all",
        &[
            ("apikey", READER_KEY),
            ("content-type", "application/x-www-form-urlencoded"),
        ],
        b"scope=mine",
        &[],
    )
    .unwrap();
    assert_eq!((r.status, r.body.as_str()), AMBIGUOUS, "HTTP/2 form");
    let bodies: Vec<String> = s.echo.requests().iter().map(|q| q.body.clone()).collect();
    assert_eq!(
        bodies.len(),
        3,
        "only the allowed calls went upstream: {bodies:?}"
    );
    assert_eq!(bodies[2], "scope=mine");
}

/// With 3scale, a rule on `scope=all` that counts an expensive metric: repeating the arg must
/// not turn the call into a cheap one, in authrep and in batching mode (miss and hit).
#[test]
fn a_metric_rule_on_an_arg_cannot_be_dodged_by_repeating_the_arg_in_any_mode() {
    let rules = json!({"proxy_rules": [
        {"http_method": "GET", "pattern": "/reports?scope=all", "metric_system_name": "get_foo", "delta": 5},
        {"http_method": "GET", "pattern": "/reports", "metric_system_name": "hits", "delta": 1}
    ]});
    for batching in [false, true] {
        let mut c = config(vec![service(1, json!(1), rules.clone())]);
        if batching {
            c["backend"]["batching"] = json!({"auths_ttl": 60, "batch_report_seconds": 1});
        }
        let s = Stack::start(c);
        let get = |target: &str| {
            Request::get(target)
                .header("Host", "api.example.com")
                .send(s.port())
        };
        // Control (and, batching, the cache filled): the expensive call is counted as such.
        let all = format!("/reports?scope=all&user_key={USER_KEY}");
        let r = get(&all);
        assert_eq!(r.status, 200, "batching {batching}: {r}");
        assert_eq!(r.echo().path, all);
        let calls_before = s.backend.requests().len();
        if !batching {
            let authreps = s.authreps();
            assert_eq!(authreps[0].param("usage[get_foo]"), Some("5"));
        }

        for target in [
            format!("/reports?scope=all&scope=mine&user_key={USER_KEY}"),
            format!("/reports?user_key={USER_KEY}&Scope=all"),
        ] {
            let r = get(&target);
            assert_eq!(
                (r.status, r.body.as_str()),
                AMBIGUOUS,
                "batching {batching}: {target}: {r}"
            );
        }
        assert_eq!(s.echo.requests().len(), 1, "batching {batching}: upstream");
        if !batching {
            assert_eq!(
                s.backend.requests().len(),
                calls_before,
                "no backend call for a refused request"
            );
        } else {
            // Only the first call is reported: 5 on get_foo (and hits, its parent).
            support::batching::assert_reported_exactly(&s, &[("1", "app-1", "get_foo", 5)]);
        }
    }
}

/// A credential sent twice with different values: the decision reads one (the first, as
/// APIcast's `$arg_` and `$http_` do), an upstream may read the other (PHP's `$_GET` reads the
/// last, Node joins repeated headers). Refused with the service's auth-failed error before
/// any backend call: the query (any case), a header sent twice, two spellings of a header,
/// in authrep and batching (hit) mode, and locally. The same value twice is fine.
#[test]
fn a_credential_sent_twice_with_different_values_is_refused() {
    for (batching, location) in [
        (false, "query"),
        (true, "query"),
        (false, "headers"),
        (true, "headers"),
    ] {
        let what = format!("batching {batching}, credentials in the {location}");
        let mut c = config(vec![service(
            1,
            json!(1),
            json!({"credentials_location": location}),
        )]);
        if batching {
            c["backend"]["batching"] = json!({"auths_ttl": 60, "batch_report_seconds": 1});
        }
        let s = Stack::start(c);
        let get = |target: &str| Request::get(target).header("Host", "api.example.com");
        let (control, refused) = match location {
            "query" => (
                get(&format!("/a?user_key={USER_KEY}&user_key={USER_KEY}")),
                vec![
                    get(&format!("/c?user_key={USER_KEY}&user_key=other")),
                    get(&format!("/c?user_key={USER_KEY}&USER_KEY=")),
                ],
            ),
            _ => (
                get("/a")
                    .header("user_key", USER_KEY)
                    .header("user-key", USER_KEY),
                vec![
                    get("/c")
                        .header("user_key", USER_KEY)
                        .header("user_key", "other"),
                    get("/c")
                        .header("user-key", USER_KEY)
                        .header("user_key", "other"),
                ],
            ),
        };
        // The control also fills the cache with the valid key in batching mode.
        let ok = control.send(s.port());
        assert_eq!(ok.status, 200, "{what}: {ok}");
        let calls = s.backend.requests().len();
        for request in refused {
            let r = request.send(s.port());
            assert_eq!(
                (r.status, r.body.as_str()),
                (403, "Authentication failed"),
                "{what}: {r}"
            );
        }
        let upstream = paths(&s);
        assert_eq!(upstream.len(), 1, "{what}: upstream got {upstream:?}");
        assert!(upstream[0].starts_with("/a"), "{what}: {upstream:?}");
        if !batching {
            assert_eq!(s.backend.requests().len(), calls, "{what}: no backend call");
        }
    }

    // Local keys: the header twice, the query arg twice.
    let auth = json!({"mode": "local", "api_keys": {
        "header": "APIKey", "query": "api_key",
        "keys": [{"id": "reader", "hash": stored_form(READER_KEY),
                  "grants": [{"namespace": "reports", "actions": ["read"]}]}]
    }});
    let rules = json!([{"http_method": "GET", "pattern": "/reports", "metric_system_name": "hits",
                        "delta": 1, "namespace": "reports"}]);
    let s = Stack::start(config(vec![local_service(auth, rules)]));
    let r = local("GET", "/reports")
        .header("APIKey", READER_KEY)
        .send(s.port());
    assert_eq!(r.status, 200, "the same key twice: {r}");
    let target = format!("/reports?api_key={READER_KEY}&api_key={READER_KEY}");
    let r = Request::get(&target)
        .header("Host", "local.example.com")
        .send(s.port());
    assert_eq!(r.status, 200, "the same key twice: {r}");
    for request in [
        local("GET", "/reports").header("APIKey", "someone-else"),
        Request::get("/reports")
            .header("Host", "local.example.com")
            .header("APIKey", "someone-else")
            .header("APIKey", READER_KEY),
        Request::get(&format!(
            "/reports?api_key={READER_KEY}&api_key=someone-else"
        ))
        .header("Host", "local.example.com"),
    ] {
        let r = request.send(s.port());
        assert_eq!(
            (r.status, r.body.as_str()),
            (403, "Authentication failed"),
            "{r}"
        );
    }
    assert_eq!(
        paths(&s).len(),
        2,
        "only the two allowed calls went upstream"
    );
}

/// A key in the query and another in a form body: the body is read for that (found by an
/// audit, 2026-12-05: it was read only when the query lacked the key or rules read args, so
/// the query's key was authorized and the upstream got the other, which PHP's `$_REQUEST`
/// reads). 3scale in authrep and batching (hit) mode over HTTP/1.1 and HTTP/2, and a local
/// key from the query: auth failed, nothing upstream. The same key twice goes on.
#[test]
fn a_form_body_key_that_disagrees_with_the_query_key_is_refused() {
    let post_rule = json!({"proxy_rules": [
        {"http_method": "POST", "pattern": "/", "metric_system_name": "hits", "delta": 1}]});
    let failed = (403, "Authentication failed");
    for batching in [false, true] {
        let mut c = config(vec![service(1, json!(1), post_rule.clone())]);
        if batching {
            c["backend"]["batching"] = json!({"auths_ttl": 60, "batch_report_seconds": 1});
        }
        let s = Stack::start(c);
        let target = format!("/a?user_key={USER_KEY}");
        let form = |body: &str| {
            Request::post(&target)
                .header("Host", "api.example.com")
                .header("Content-Type", "application/x-www-form-urlencoded")
                .body(body)
                .send(s.port())
        };
        let r = form(&format!("x=1&user_key={USER_KEY}"));
        assert_eq!(r.status, 200, "batching {batching}: the same key: {r}");
        let r = form("x=1&user_key=uk-someone-else");
        assert_eq!(
            (r.status, r.body.as_str()),
            failed,
            "batching {batching}: {r}"
        );
        let r = e2e::h2::send_with_trailers(
            s.port(),
            "POST",
            "api.example.com",
            &target,
            &[("content-type", "application/x-www-form-urlencoded")],
            b"user_key=uk-someone-else",
            &[],
        )
        .unwrap();
        assert_eq!(
            (r.status, r.body.as_str()),
            failed,
            "batching {batching}: HTTP/2"
        );
        assert_eq!(
            s.echo.request_count(),
            1,
            "batching {batching}: only the control"
        );
    }

    let auth = json!({"mode": "local", "api_keys": {"query": "api_key", "keys": [
        {"id": "reader", "hash": stored_form(READER_KEY),
         "grants": [{"namespace": "any", "actions": ["create"]}]}]}});
    let rules =
        json!([{"http_method": "POST", "pattern": "/", "metric_system_name": "hits", "delta": 1}]);
    let s = Stack::start(config(vec![local_service(auth, rules)]));
    let form = |body: &str| {
        Request::post(&format!("/r?api_key={READER_KEY}"))
            .header("Host", "local.example.com")
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body)
            .send(s.port())
    };
    let r = form(&format!("api_key={READER_KEY}&x=1"));
    assert_eq!(r.status, 200, "local: the same key: {r}");
    let r = form("api_key=someone-elses-key&x=1");
    assert_eq!((r.status, r.body.as_str()), failed, "local: {r}");
    assert_eq!(
        s.echo.request_count(),
        1,
        "local: only the control went upstream"
    );
}

/// A credential header in a mixed spelling (`X_Api-Key` for `X-Api-Key`): nginx's `$http_`
/// (APIcast) and CGI-style upstreams read every mix of `-` and `_` as one header. Until
/// 2026-12-05 Tollgate tried only the configured, all-dash and all-underscore spellings (found
/// by an audit): with `default_credentials`, `X_Api-Key: <another key>` was authorized as the
/// anonymous app while the upstream read the client's key; without it, a valid key plus
/// `X_Api-Key: <another>` was authorized and both went upstream. Now any spelling is read,
/// and two that disagree are auth failed; for local keys too.
#[test]
fn a_credential_header_in_any_spelling_is_read_and_two_that_disagree_are_refused() {
    let failed = (403, "Authentication failed");
    let anonymous = json!({"name": "default_credentials", "configuration": {
        "auth_type": "user_key", "user_key": USER_KEY}});
    for chain in [
        json!([{"name": "apicast"}]),
        json!([anonymous, {"name": "apicast"}]),
    ] {
        let proxy = json!({"credentials_location": "headers", "auth_user_key": "X-Api-Key",
                           "policy_chain": chain});
        let s = Stack::start(config(vec![service(1, json!(1), proxy)]));
        let get = || Request::get("/a").header("Host", "api.example.com");
        let r = get().header("X_Api-Key", USER_KEY).send(s.port());
        assert_eq!(r.status, 200, "{chain}: {r}");
        assert_eq!(s.authreps()[0].param("user_key"), Some(USER_KEY));
        let r = get().header("x_API-key", "uk-someone-else").send(s.port());
        assert_eq!(
            (r.status, r.body.as_str()),
            failed,
            "{chain}: another key, read"
        );
        assert_eq!(s.authreps()[1].param("user_key"), Some("uk-someone-else"));
        let calls = s.authreps().len();
        let r = get()
            .header("X-Api-Key", USER_KEY)
            .header("X_Api-Key", "uk-someone-else")
            .send(s.port());
        assert_eq!((r.status, r.body.as_str()), failed, "{chain}: two keys");
        assert_eq!(
            s.authreps().len(),
            calls,
            "{chain}: no authrep for two keys"
        );
        assert_eq!(
            s.echo.request_count(),
            1,
            "{chain}: only the first went upstream"
        );
    }

    let auth = json!({"mode": "local", "api_keys": {"header": "X-API-Key", "keys": [
        {"id": "reader", "hash": stored_form(READER_KEY),
         "grants": [{"namespace": "any", "actions": ["read"]}]}]}});
    let rules =
        json!([{"http_method": "GET", "pattern": "/", "metric_system_name": "hits", "delta": 1}]);
    let s = Stack::start(config(vec![local_service(auth, rules)]));
    let get = || Request::get("/r").header("Host", "local.example.com");
    let r = get().header("X_API-Key", READER_KEY).send(s.port());
    assert_eq!(r.status, 200, "local: a mixed spelling is read: {r}");
    let r = get()
        .header("X-API-Key", READER_KEY)
        .header("x_api_key", "someone-elses-key")
        .send(s.port());
    assert_eq!((r.status, r.body.as_str()), failed, "local: two keys");
    assert_eq!(
        s.echo.request_count(),
        1,
        "local: only the first went upstream"
    );
}

/// Rule args that are not plain names (JSON:API's `filter[status]`, a dotted `report.type`):
/// until 2026-12-06 only their case was checked (found by an audit), so `[filter][status]`
/// (`qs`, Rack 2) or `filter[status]x` (`qs`, PHP), or PHP's `report_type` next to
/// `report.type`, gave the upstream the value of a rule that did not match: the call counted
/// `hits`, not `get_foo`. An arg a framework reads at the rule's key path is now ambiguous.
#[test]
fn a_rule_on_a_nested_or_dotted_arg_cannot_be_dodged_by_another_spelling() {
    let rule = |pattern: &str, name: &str, value: &str| {
        json!({"http_method": "GET", "pattern": pattern, "metric_system_name": "get_foo",
               "delta": 10, "querystring_parameters": {name: value}})
    };
    let rules = json!({"proxy_rules": [
        rule("/orders", "filter[status]", "archived"),
        rule("/r", "report.type", "full"),
        {"http_method": "GET", "pattern": "/", "metric_system_name": "hits", "delta": 1}
    ]});
    let s = Stack::start(config(vec![service(1, json!(1), rules)]));
    let get = |target: &str| {
        Request::get(target)
            .header("Host", "api.example.com")
            .send(s.port())
    };
    // Controls: the rule's own spelling, next to another key under `filter`.
    let controls = [
        format!("/orders?filter[status]=archived&filter[type]=x&user_key={USER_KEY}"),
        format!("/r?report.type=full&user_key={USER_KEY}"),
    ];
    for target in &controls {
        let r = get(target);
        assert_eq!(r.status, 200, "{target}: {r}");
    }
    let usage: Vec<_> = (s.authreps().iter())
        .map(|a| a.param("usage[get_foo]").map(str::to_string))
        .collect();
    assert_eq!(usage, [Some("10".to_string()), Some("10".to_string())]);
    let calls = s.backend.requests().len();
    for query in [
        "/orders?[filter][status]=archived",
        "/orders?filter[status]x=archived",
        "/orders?filter[status]=open&[filter][status]=archived",
        "/r?report.type=summary&report_type=full",
    ] {
        let target = format!("{query}&user_key={USER_KEY}");
        let r = get(&target);
        assert_eq!((r.status, r.body.as_str()), AMBIGUOUS, "{target}: {r}");
    }
    assert_eq!(paths(&s), controls, "only the controls went upstream");
    assert_eq!(s.backend.requests().len(), calls, "no backend call");
}
