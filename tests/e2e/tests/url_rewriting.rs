//! The `url_rewriting` policy through real Envoy (2 workers), with the cases APIcast's
//! t/apicast-policy-url-rewriting.t asserts: what the upstream received (path and query) and
//! which mapping rule's usage the backend got, with the policy before and after `apicast`;
//! `sub`, `gsub`, ordered commands with options, `break`, `methods`, the query-argument
//! operations, a replacement the rules read escaped; and rewrites that try to escape the path
//! the rules matched, or an arg a query command names hidden behind a `;`.

mod support;

use e2e::{Request, Response};
use serde_json::{json, Value};
use support::*;

const HOST: &str = "api.example.com";

/// Service 1 with this chain; `/new` counts `get_foo`, anything else `hits`.
fn start(chain: Value) -> Stack {
    let proxy = json!({"policy_chain": chain, "proxy_rules": [
        {"http_method": "GET", "pattern": "/new", "metric_system_name": "get_foo", "delta": 2},
        {"http_method": "GET", "pattern": "/new%20/foo/", "metric_system_name": "disabled", "delta": 1},
        {"http_method": "GET", "pattern": "/", "metric_system_name": "hits", "delta": 1},
        {"http_method": "POST", "pattern": "/", "metric_system_name": "hits", "delta": 1}]});
    let c = config(vec![service(1, json!(1), proxy)]);
    Stack::start_with(c, backend_state(), |b| b.concurrency(2))
}

fn apicast() -> Value {
    json!({"name": "apicast.policy.apicast"})
}

fn rewriting(config: Value) -> Value {
    json!({"name": "apicast.policy.url_rewriting", "configuration": config})
}

fn commands(commands: Value) -> Value {
    rewriting(json!({ "commands": commands }))
}

fn get(target: &str) -> Response {
    send(Request::get(target))
}

fn send(r: Request) -> Response {
    let r = r.header("Host", HOST);
    // Each stack is fresh; the port is read by the caller through `at`.
    r.send(PORT.with(|p| p.get()))
}

thread_local! {
    static PORT: std::cell::Cell<u16> = const { std::cell::Cell::new(0) };
}

/// Sends the following requests to `s`.
fn at(s: &Stack) {
    PORT.with(|p| p.set(s.port()));
}

/// The path and query the upstream received.
fn upstream_got(r: &Response) -> String {
    assert_eq!(r.status, 200, "{r}");
    r.echo().path
}

/// The usage of the last authrep, as `metric=value` pairs.
fn last_usage(s: &Stack) -> Vec<(String, String)> {
    let authreps = s.authreps();
    let last = authreps.last().expect("an authrep");
    last.query
        .iter()
        .filter_map(|(k, v)| {
            let m = k.strip_prefix("usage[")?.strip_suffix(']')?;
            Some((m.to_string(), v.clone()))
        })
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect()
}

/// Sorted, as [`last_usage`].
fn usage(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut v: Vec<_> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    v.sort();
    v
}

#[test]
fn after_apicast_the_rules_match_the_original_and_the_upstream_gets_the_rewrite() {
    // TEST 1 (sub), 2 (gsub), 3 (order, options), 4 (break) in one chain each.
    let s = start(json!([
        apicast(),
        commands(json!([
        {"op": "sub", "regex": "original", "replace": "new"}]))
    ]));
    at(&s);
    let r = get(&format!("/xxx_original_yyy?user_key={USER_KEY}"));
    assert_eq!(
        upstream_got(&r),
        format!("/xxx_new_yyy?user_key={USER_KEY}")
    );
    assert_eq!(last_usage(&s), usage(&[("hits", "1")]));
    // The rules matched `/original`, not `/new`, although the upstream got `/new...`.
    let r = get(&format!("/original?user_key={USER_KEY}"));
    assert_eq!(upstream_got(&r), format!("/new?user_key={USER_KEY}"));
    assert_eq!(last_usage(&s), usage(&[("hits", "1")]));

    let s = start(json!([
        apicast(),
        commands(json!([
        {"op": "gsub", "regex": "original", "replace": "new"}]))
    ]));
    at(&s);
    let r = get(&format!(
        "/aaa_original_bbb_original_ccc?user_key={USER_KEY}"
    ));
    assert_eq!(
        upstream_got(&r),
        format!("/aaa_new_bbb_new_ccc?user_key={USER_KEY}")
    );

    let s = start(json!([
        apicast(),
        commands(json!([
        {"op": "gsub", "regex": "AAA", "replace": "bbb", "options": "i"},
        {"op": "sub", "regex": "bbb", "replace": "ccc"},
        {"op": "sub", "regex": "ccc", "replace": "ddd"}]))
    ]));
    at(&s);
    let r = get(&format!("/aaa_aaa?user_key={USER_KEY}"));
    assert_eq!(upstream_got(&r), format!("/ddd_bbb?user_key={USER_KEY}"));

    let s = start(json!([
        apicast(),
        commands(json!([
        {"op": "sub", "regex": "does_not_match", "replace": "a", "break": true},
        {"op": "sub", "regex": "aaa", "replace": "bbb"},
        {"op": "sub", "regex": "bbb", "replace": "ccc", "break": true},
        {"op": "sub", "regex": "ccc", "replace": "ddd"}]))
    ]));
    at(&s);
    for _ in 0..4 {
        // Both workers answer the same.
        let r = get(&format!("/aaa?user_key={USER_KEY}"));
        assert_eq!(upstream_got(&r), format!("/ccc?user_key={USER_KEY}"));
    }
}

#[test]
fn before_apicast_the_rules_and_the_upstream_read_the_rewritten_path() {
    // TEST 5: rule `/new` matches `/original`.
    let s = start(json!([
        commands(json!([
        {"op": "sub", "regex": "original", "replace": "new"}])),
        apicast()
    ]));
    at(&s);
    for _ in 0..4 {
        let r = get(&format!("/original?user_key={USER_KEY}"));
        assert_eq!(upstream_got(&r), format!("/new?user_key={USER_KEY}"));
        assert_eq!(last_usage(&s), usage(&[("get_foo", "2"), ("hits", "1")]));
    }
    // Unmatched: forwarded as sent, rules as usual.
    let r = get(&format!("/other/a%20b?user_key={USER_KEY}"));
    assert_eq!(
        upstream_got(&r),
        format!("/other/a%20b?user_key={USER_KEY}")
    );
    assert_eq!(last_usage(&s), usage(&[("hits", "1")]));

    // TEST 13: a replacement with a space; the rules read it escaped (`/new%20/foo/`), the
    // upstream gets it escaped.
    let s = start(json!([
        commands(json!([
        {"op": "sub", "regex": "original", "replace": "new /foo/"}])),
        apicast()
    ]));
    at(&s);
    let r = get(&format!("/original?user_key={USER_KEY}"));
    assert_eq!(
        upstream_got(&r),
        format!("/new%20/foo/?user_key={USER_KEY}")
    );
    let used = last_usage(&s);
    assert!(
        used.contains(&("disabled".to_string(), "1".to_string())),
        "{used:?}"
    );
}

#[test]
fn methods_filter_the_commands() {
    // TEST 14/15.
    let s = start(json!([
        apicast(),
        commands(json!([
        {"op": "sub", "regex": "original", "replace": "new", "methods": ["POST", "PUT"]}]))
    ]));
    at(&s);
    let r = get(&format!("/xxx_original_yyy?user_key={USER_KEY}"));
    assert_eq!(
        upstream_got(&r),
        format!("/xxx_original_yyy?user_key={USER_KEY}")
    );
    let r = send(Request::post(&format!("/xxx_original_yyy?user_key={USER_KEY}")).body("x"));
    assert_eq!(
        upstream_got(&r),
        format!("/xxx_new_yyy?user_key={USER_KEY}")
    );
}

#[test]
fn query_argument_commands() {
    // TEST 6-9 in one policy: push, set (both values replaced), add (only to one present),
    // delete.
    let s = start(json!([
        rewriting(json!({"query_args_commands": [
        {"op": "push", "arg": "new_arg", "value": "a_value"},
        {"op": "push", "arg": "existing_arg", "value": "new_value"},
        {"op": "set", "arg": "an_arg", "value": "new value&x=1"},
        {"op": "add", "arg": "missing", "value": "never"},
        {"op": "add", "arg": "existing_arg", "value": "added"},
        {"op": "delete", "arg": "to_delete"}]})),
        apicast()
    ]));
    at(&s);
    let r = get(&format!(
        "/things?user_key={USER_KEY}&existing_arg=original_value&an_arg=1&an_arg=2&to_delete=1&to_delete=2"
    ));
    assert_eq!(
        upstream_got(&r),
        format!("/things?user_key={USER_KEY}&existing_arg=original_value&new_arg=a_value&existing_arg=new_value&an_arg=new%20value%26x%3D1&existing_arg=added")
    );
    assert_eq!(
        s.authreps().last().unwrap().param("user_key"),
        Some(USER_KEY)
    );

    // Before apicast, credential extraction reads the rewritten args; after it, the
    // request's own.
    let set_key = rewriting(json!({"query_args_commands": [
        {"op": "set", "arg": "user_key", "value": USER_KEY}]}));
    let s = start(json!([set_key.clone(), apicast()]));
    at(&s);
    let r = get("/things?user_key=wrong");
    assert_eq!(upstream_got(&r), format!("/things?user_key={USER_KEY}"));
    assert_eq!(s.authreps()[0].param("user_key"), Some(USER_KEY));
    let s = start(json!([apicast(), set_key]));
    at(&s);
    let r = get("/things?user_key=wrong");
    assert_eq!(r.status, 403, "{r}");
    assert_eq!(s.echo.request_count(), 0);
}

/// A `set` or `delete` arg behind a `;` (`x=1;tenant=evil`), or in another spelling, is 400
/// `ambiguous argument`: upstreams that split on `;` (Rack 2, Python before 3.9.2, Go before
/// 1.17) read it before the operator's value, where APIcast's upstream reads `x=1%3Btenant...`.
#[test]
fn query_commands_refuse_their_arg_behind_a_semicolon() {
    let s = start(json!([
        rewriting(json!({"query_args_commands": [
        {"op": "set", "arg": "tenant", "value": "acme"},
        {"op": "delete", "arg": "debug"}]})),
        apicast()
    ]));
    at(&s);
    for query in [
        "x=1;tenant=evil",
        "x=1;Tenant=evil",
        "x=1;tenant[]=evil",
        "[tenant]=evil",
        "debug=1&x=1;debug=1",
    ] {
        let r = get(&format!("/new?user_key={USER_KEY}&{query}"));
        assert_eq!(
            (r.status, r.body.as_str()),
            (400, "Bad Request: ambiguous argument"),
            "{query}: {r}"
        );
    }
    assert_eq!(s.authreps().len(), 0);
    // `%3B` is data to every parser; the arg itself is set, `debug` deleted.
    let r = get(&format!("/new?user_key={USER_KEY}&x=1%3Btenant=evil"));
    let sent = format!("/new?user_key={USER_KEY}&x=1%3Btenant=evil&tenant=acme");
    assert_eq!(upstream_got(&r), sent);
    let r = get(&format!("/new?user_key={USER_KEY}&tenant=evil&debug=1"));
    let set = format!("/new?user_key={USER_KEY}&tenant=acme");
    assert_eq!(upstream_got(&r), set);
    let upstream: Vec<String> = s.echo.requests().into_iter().map(|r| r.path).collect();
    assert_eq!(upstream, [sent, set]);
    assert_eq!(last_usage(&s), usage(&[("get_foo", "2"), ("hits", "1")]));
}

#[test]
fn a_rewrite_cannot_escape_the_path_the_rules_matched() {
    let s = start(json!([
        commands(json!([
        {"op": "sub", "regex": "^/public/(\\w+)", "replace": "/public/../new/$1"},
        {"op": "sub", "regex": "^/slash", "replace": "/..%2Fnew"},
        {"op": "sub", "regex": "^/semi", "replace": "/new;x=1"},
        {"op": "sub", "regex": "^/bare", "replace": "new"}])),
        apicast()
    ]));
    at(&s);
    // `..` is resolved: the rules matched `/new/x` (get_foo), the upstream reads the same.
    let r = get(&format!("/public/x?user_key={USER_KEY}"));
    assert_eq!(upstream_got(&r), format!("/new/x?user_key={USER_KEY}"));
    assert_eq!(last_usage(&s), usage(&[("get_foo", "2"), ("hits", "1")]));
    // An encoded slash the replacement wrote stays text for the upstream too.
    let r = get(&format!("/slash?user_key={USER_KEY}"));
    assert_eq!(upstream_got(&r), format!("/..%252Fnew?user_key={USER_KEY}"));
    assert_eq!(last_usage(&s), usage(&[("hits", "1")]));
    // A `;` an upstream would cut: refused, as in a request; nothing reaches anyone.
    let before = s.authreps().len();
    let r = get(&format!("/semi?user_key={USER_KEY}"));
    assert_eq!(
        (r.status, r.body.as_str()),
        (400, "Bad Request: ambiguous path")
    );
    assert_eq!(s.authreps().len(), before);
    // No leading slash: made absolute.
    let r = get(&format!("/bare/y?user_key={USER_KEY}"));
    assert_eq!(upstream_got(&r), format!("/new/y?user_key={USER_KEY}"));
    assert_eq!(s.echo.request_count(), 3);
}

/// The rewrite's refusals (a `;` an upstream would cut: 400; a rewrite past `max_path_bytes`:
/// 414) and a wrong key after a rewrite (403) answer every request shape (bodies, chunked,
/// trailers, `Expect: 100-continue`, HTTP/2) in authrep mode and with batching (miss and
/// hit): nothing reaches the upstream, and the backend never hears of the refused requests'
/// keys; the allowed rewrite reaches the upstream with the rewritten path.
#[test]
fn rewrite_refusals_hold_for_every_request_shape_in_authrep_and_batching() {
    use support::adversarial::{
        adv_config, adv_stack, assert_none, run_and_check, seen, three_scale, traps, Case, Expect,
        AMBIGUOUS, AUTH_FAILED, SHAPES,
    };
    let host = "query.example.com";
    for batching in [false, true] {
        let rules = json!([{"http_method": "ANY", "pattern": "/api", "metric_system_name": "hits", "delta": 1}]);
        let mut service = three_scale(4, 1, host, "query", rules);
        service["proxy"]["policy_chain"] = json!([
            commands(json!([
                {"op": "sub", "regex": "^/semi", "replace": "/api;x=1"},
                {"op": "gsub", "regex": "z", "replace": "zzzzzzzz"},
                {"op": "sub", "regex": "^/old", "replace": "/api"}])),
            apicast()
        ]);
        let mut cfg = adv_config(vec![service], batching);
        cfg["max_path_bytes"] = json!(100);
        let s = adv_stack(cfg);
        let mut cases = Vec::new();
        for shape in SHAPES {
            for (name, target, expect) in [
                (
                    "semi",
                    "/semi/x?user_key=uk-q-1",
                    Expect::Denied(400, AMBIGUOUS),
                ),
                (
                    "grow",
                    "/zzzzzzzzzzzz?user_key=uk-q-2",
                    Expect::Denied(414, "URI Too Long"),
                ),
                (
                    "wrong",
                    "/old/x?user_key=uk-q-wrong",
                    Expect::Denied(AUTH_FAILED.0, AUTH_FAILED.1),
                ),
                ("allowed", "/old/items?user_key=uk-q-0", Expect::Allowed),
            ] {
                let mark = format!("{name}/{shape:?}/{batching}");
                cases.push((mark, shape, Case::new(host, target), expect));
            }
        }
        let failures = run_and_check(&s, &cases, 4);
        assert_none("url_rewriting", &failures, cases.len());
        assert!(traps(&s).is_empty(), "{:?}", traps(&s));
        let upstream = s.echo.requests();
        for (mark, _, _, expect) in &cases {
            if *expect == Expect::Allowed {
                assert_eq!(
                    seen(&upstream, mark)[0].path,
                    "/api/items?user_key=uk-q-0",
                    "{mark}"
                );
            }
        }
        assert_eq!(
            upstream.len(),
            SHAPES.len(),
            "only the allowed cases, once each"
        );
        // The refused rewrites never reached the backend, in any mode.
        for call in s.backend.requests() {
            let key = call
                .query
                .iter()
                .find(|(k, _)| k == "user_key")
                .map(|(_, v)| v.as_str());
            assert!(
                matches!(key, None | Some("uk-q-0" | "uk-q-wrong")),
                "the backend heard of a refused request: {}",
                call.raw_query
            );
        }
    }
}

/// A rewrite's refusal is a response of the service: it gets the chain's response phase (CORS
/// headers, statuscode_overwrite), as every other reply of the filter does (found by an audit,
/// 2026-12-06: a plain 400 without them).
#[test]
fn a_refused_rewrite_gets_the_response_phase() {
    let s = start(json!([
        {"name": "apicast.policy.cors", "configuration": {"allow_origin": "https://app.example"}},
        {"name": "apicast.policy.statuscode_overwrite", "configuration": {"http_statuses": [{"upstream": 400, "apicast": 422}]}},
        commands(json!([{"op": "sub", "regex": "^/semi", "replace": "/new;x=1"}])),
        apicast()
    ]));
    at(&s);
    let origin =
        |target: String| send(Request::get(&target).header("Origin", "https://app.example"));
    let r = origin(format!("/semi?user_key={USER_KEY}"));
    assert_eq!(
        (r.status, r.body.as_str()),
        (422, "Bad Request: ambiguous path"),
        "{r}"
    );
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("https://app.example"),
        "{r}"
    );
    assert!(s.authreps().is_empty(), "the backend was not asked");
    assert_eq!(s.echo.request_count(), 0, "nothing reached the upstream");
    // The same chain lets an allowed request through, with the CORS headers.
    let r = origin(format!("/new?user_key={USER_KEY}"));
    assert_eq!(upstream_got(&r), format!("/new?user_key={USER_KEY}"));
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("https://app.example")
    );
    assert_eq!(last_usage(&s), usage(&[("get_foo", "2"), ("hits", "1")]));
}

/// A query command without `value` is APIcast's `nil` (`query_params.lua`): `set` removes the
/// arg, `push` and `add` change nothing. The module before sent `debug=&flag=&user_key=...`
/// (found by an audit, 2026-12-07).
#[test]
fn a_query_command_without_value_removes_or_does_nothing() {
    let s = start(json!([
        rewriting(json!({"query_args_commands": [
            {"op": "set", "arg": "debug"},
            {"op": "push", "arg": "flag"},
            {"op": "add", "arg": "user_key"}]})),
        apicast()
    ]));
    at(&s);
    let r = get(&format!("/things?user_key={USER_KEY}&debug=1&debug=2"));
    assert_eq!(upstream_got(&r), format!("/things?user_key={USER_KEY}"));
    assert_eq!(last_usage(&s), usage(&[("hits", "1")]));
    assert_eq!(s.authreps()[0].param("user_key"), Some(USER_KEY));
    // Nothing to remove: the request goes as it came.
    let r = get(&format!("/things?user_key={USER_KEY}&x=1"));
    assert_eq!(upstream_got(&r), format!("/things?user_key={USER_KEY}&x=1"));
    assert_eq!(s.authreps().len(), 2);
    assert_eq!(s.echo.request_count(), 2);
}
