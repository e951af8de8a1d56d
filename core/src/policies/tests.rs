//! The `headers`, `statuscode_overwrite` and `cors` policies natively: their configurations
//! and the operations a request and a response get in chain order (through the worker:
//! `flow_tests.rs`; CORS origin patterns: `cors_tests.rs`).

use super::*;
use crate::config::Config;
use serde_json::{json, Value};
use EditOp::{Delete, Push, Set};

struct Headers(Vec<(&'static str, &'static str)>);
impl HeaderSource for Headers {
    fn header(&self, name: &str) -> Option<String> {
        let found = self.0.iter().find(|(k, _)| k.eq_ignore_ascii_case(name));
        found.map(|(_, v)| v.to_string())
    }
}

pub(super) const APICAST: fn() -> Value = || json!({"name": "apicast"});

pub(super) fn config(chain: Value) -> Config {
    let v = json!({
        "backend": {"cluster": "b"},
        "services": [{"id": 1, "backend_version": 1,
            "backend_authentication_type": "service_token", "backend_authentication_value": "tok",
            "proxy": {"hosts": ["api"], "secret_token": "s3cret", "policy_chain": chain,
              "proxy_rules": [{"http_method": "GET", "pattern": "/", "metric_system_name": "hits", "delta": 1}]}}]
    });
    Config::parse(v.to_string().as_bytes()).unwrap().config
}

fn policies(chain: Value, headers: &[(&'static str, &'static str)]) -> Box<RequestPolicies> {
    let c = config(chain);
    RequestPolicies::new(&c.services[0], &Headers(headers.to_vec())).unwrap()
}

pub(super) fn op(op: EditOp, name: &str, value: &str) -> HeaderOp {
    (op, name.to_string(), value.to_string())
}

pub(super) fn cors_default() -> Value {
    json!({"name": "apicast.policy.cors"})
}

pub(super) const PREFLIGHT: [(&str, &str); 3] = [
    ("Origin", "http://example.com"),
    ("Access-Control-Request-Method", "GET"),
    ("Access-Control-Request-Headers", "Content-Type"),
];

#[test]
fn the_three_policies_are_enforced_and_bad_configurations_refused() {
    let c = config(json!([cors_default(), APICAST(), {"name": "headers"},
        {"name": "statuscode_overwrite", "configuration": {"http_statuses": [{"upstream": 500, "apicast": 503}]}}]));
    let answers: Vec<_> = c.services[0]
        .policies
        .entries
        .iter()
        .map(|e| &e.answer)
        .collect();
    assert!(answers
        .iter()
        .all(|a| **a == crate::config::policies::Answer::Enforced));
    let refused = |policy: Value| {
        let v = json!({"backend": {"cluster": "b"}, "services": [{"id": 1, "backend_version": 1,
            "proxy": {"policy_chain": [policy, APICAST()]}}]});
        Config::parse(v.to_string().as_bytes())
            .unwrap_err()
            .to_string()
    };
    let at = "services[0].proxy.policy_chain[0].configuration";
    let edit = |dir: &str, header: &str, value: &str| json!({"name": "headers", "configuration": {dir: [{"op": "set", "header": header, "value": value}]}});
    for name in [
        "X-3scale-Proxy-Secret-Token",
        "x_3scale_proxy_secret_token",
        "X-3scale-Debug",
        "X_3scale_Service_Id",
        "Host",
    ] {
        assert_eq!(
            refused(edit("request", name, "v")),
            format!("{at}.request[0].header: set or removed by Tollgate itself (secret token, X-3scale-Debug, X-3scale-Service-Id, Host)"),
            "{name}"
        );
    }
    for (dir, name) in [
        ("request", "Content-Length"),
        ("request", "content_length"),
        ("response", "CONTENT-LENGTH"),
        ("request", "Transfer-Encoding"),
        ("response", "transfer_encoding"),
    ] {
        assert_eq!(
            refused(edit(dir, name, "0")),
            format!("{at}.{dir}[0].header: frames the message (Content-Length, Transfer-Encoding): Envoy sends it as set, so the body would be read as another request or response"),
            "{dir} {name}"
        );
    }
    for name in [
        "Connection",
        "keep_alive",
        "Proxy-Connection",
        "te",
        "UPGRADE",
    ] {
        assert_eq!(
            refused(edit("request", name, "user_key")),
            format!("{at}.request[0].header: hop-by-hop (Connection, Keep-Alive, Proxy-Connection, TE, Upgrade): Envoy removes the client's before the filter and sends one set here as set"),
            "{name}"
        );
    }
    for name in [":path", "", "X Bad", "X-Bad:"] {
        assert_eq!(
            refused(edit("response", name, "v")),
            format!("{at}.response[0].header: not a header name"),
            "{name:?}"
        );
    }
    assert_eq!(
        refused(edit("response", "X-Ok", "a\r\nX-Evil: 1")),
        format!("{at}.response[0].value: has CR, LF, NUL or another control character")
    );
    assert_eq!(
        refused(json!({"name": "headers", "configuration": {"request": [{"op": "set", "header": "X", "value": "{{ service.id }}", "value_type": "liquid"}]}})),
        format!("{at}.request[0].value_type: unknown value \"liquid\" (Liquid templates are not supported) (expected one of: plain)")
    );
    assert_eq!(
        refused(json!({"name": "cors", "configuration": {"allow_origin": ".*\\.example\\.com"}})),
        format!("{at}.allow_origin: a regex with *, +, {{}} or []: Tollgate matches literals, ., \\ escapes, ^, $, (a|b) and ?")
    );
    assert_eq!(
        refused(
            json!({"name": "statuscode_overwrite", "configuration": {"http_statuses": [{"upstream": 200, "apicast": 101}]}})
        ),
        format!("{at}.http_statuses[0]: expected upstream (100 to 600) and apicast (200 to 599)")
    );
    assert_eq!(
        refused(json!({"name": "statuscode_overwrite"})),
        format!("{at}.http_statuses: expected a non-empty array")
    );
}

#[test]
fn cors_headers_echo_the_request_or_say_the_configuration() {
    // TEST 2 of t/apicast-policy-cors.t: defaults echo the request.
    let p = policies(json!([cors_default(), APICAST()]), &PREFLIGHT);
    let (status, ops) = p.response(Some(200), &|_| false);
    assert_eq!(status, None);
    assert_eq!(
        ops,
        [
            op(Set, "access-control-allow-headers", "Content-Type"),
            op(Set, "access-control-allow-methods", "GET"),
            op(Set, "access-control-allow-origin", "http://example.com"),
            op(Set, "access-control-allow-credentials", "true"),
            op(Set, "access-control-max-age", "600"),
        ]
    );
    // TEST 3: the configured values.
    let custom = json!({"name": "cors", "configuration": {
        "allow_headers": ["X-Custom-Header-1", "X-Custom-Header-2"],
        "allow_methods": ["POST", "GET", "OPTIONS"], "allow_origin": "*",
        "max_age": 200, "allow_credentials": false}});
    let (_, ops) = policies(json!([custom, APICAST()]), &PREFLIGHT).response(None, &|_| false);
    assert_eq!(
        ops,
        [
            op(
                Set,
                "access-control-allow-headers",
                "X-Custom-Header-1, X-Custom-Header-2"
            ),
            op(Set, "access-control-allow-methods", "POST, GET, OPTIONS"),
            op(Set, "access-control-allow-origin", "*"),
            op(Set, "access-control-allow-credentials", "false"),
            op(Set, "access-control-max-age", "200"),
        ]
    );
    // Without Origin, nothing; unset values (no configured list, nothing asked) are removed,
    // as `ngx.header[name] = nil` does.
    let p = policies(json!([cors_default(), APICAST()]), &[("Accept", "x")]);
    assert!(p.response(Some(200), &|_| true).1.is_empty());
    let p = policies(json!([cors_default(), APICAST()]), &PREFLIGHT[..1]);
    let (_, ops) = p.response(Some(200), &|_| true);
    assert_eq!(ops[0], op(Delete, "access-control-allow-headers", ""));
    assert_eq!(ops[1], op(Delete, "access-control-allow-methods", ""));
}

/// The search recurses per group entered and per item matched: a deep or long pattern
/// overflowed V8's stack, a trap for every request with an `Origin` (found by an audit,
/// 2026-12-07). Such patterns are refused; the largest accepted ones still match.
#[test]
fn an_origin_pattern_too_deep_or_too_long_is_refused_and_the_largest_accepted_match() {
    let chain = |pattern: &str| json!([{"name": "cors", "configuration": {"allow_origin": pattern}}, APICAST()]);
    let refused = |pattern: &str| {
        let v = json!({"backend": {"cluster": "b"}, "services": [{"id": 1, "backend_version": 1,
            "proxy": {"policy_chain": chain(pattern)}}]});
        Config::parse(v.to_string().as_bytes())
            .map(|_| ())
            .unwrap_err()
            .to_string()
    };
    let at = "services[0].proxy.policy_chain[0].configuration.allow_origin";
    let nested = |depth: usize| format!("{}a{}", "(".repeat(depth), ")".repeat(depth));
    assert_eq!(
        refused(&nested(33)),
        format!("{at}: a regex with groups nested deeper than 32")
    );
    assert_eq!(
        refused(&nested(3000)),
        format!("{at}: a regex longer than 1024 bytes")
    );
    let long = format!("^{}", ".".repeat(1024));
    assert_eq!(
        refused(&long),
        format!("{at}: a regex longer than 1024 bytes")
    );
    // The largest accepted: 32 groups deep, 1024 bytes of items that all match.
    let origin_of = |len: usize| format!("http://{}", "o".repeat(len - "http://".len()));
    for (pattern, origin) in [
        (nested(32), "https://a.example".to_string()),
        (format!("^{}$", ".".repeat(1022)), origin_of(1022)),
    ] {
        let origin: &'static str = Box::leak(origin.into_boxed_str());
        let p = policies(chain(&pattern), &[("Origin", origin)]);
        let (_, ops) = p.response(Some(200), &|_| false);
        let allow = ops
            .iter()
            .find(|(_, n, _)| n == "access-control-allow-origin");
        assert_eq!(allow.map(|(_, _, v)| v.as_str()), Some(origin));
    }
}

#[test]
fn a_pattern_that_does_not_match_sets_no_allow_origin() {
    // TEST 4 of t/apicast-policy-cors.t.
    let chain = json!([{"name": "cors", "configuration": {"allow_headers": [],
        "allow_methods": ["POST", "GET", "OPTIONS"], "allow_origin": "(api|web).test.com",
        "max_age": 200, "allow_credentials": false}}, APICAST()]);
    for (origin, echoed) in [
        ("http://api.test.com", true),
        ("http://web.test.com", true),
        ("http://staging.test.com", false),
    ] {
        let p = policies(chain.clone(), &[("Origin", origin)]);
        let (_, ops) = p.response(Some(200), &|_| false);
        let allow = ops
            .iter()
            .find(|(_, n, _)| n == "access-control-allow-origin");
        assert_eq!(allow.map(|(_, _, v)| v.as_str()), echoed.then_some(origin));
        // An empty allow_headers list clears the header (an empty Lua table).
        assert_eq!(ops[0], op(Delete, "access-control-allow-headers", ""));
        assert!(ops.contains(&op(
            Set,
            "access-control-allow-methods",
            "POST, GET, OPTIONS"
        )));
    }
}

#[test]
fn request_operations_resolve_against_the_request_in_order() {
    // TESTs 1 to 4 of t/apicast-policy-headers.t, in one chain.
    let chain = json!([APICAST(), {"name": "headers", "configuration": {"request": [
        {"op": "set", "header": "New-Header", "value": "nh"},
        {"op": "set", "header": "Existing-Header", "value": "eh"},
        {"op": "set", "header": "Header-To-Delete", "value": ""},
        {"op": "push", "header": "Pushed", "value": "p"},
        {"op": "add", "header": "Missing", "value": "m"},
        {"op": "add", "header": "Present", "value": "a"},
        {"op": "delete", "header": "Gone"},
        {"op": "add", "header": "Pushed", "value": "after"},
        {"op": "delete", "header": "Present"},
        {"op": "add", "header": "present", "value": "never"}
    ]}}]);
    let p = policies(
        chain,
        &[
            ("existing-header", "x"),
            ("header-to-delete", "y"),
            ("present", "z"),
            ("gone", "g"),
        ],
    );
    assert_eq!(
        p.request,
        [
            op(Set, "New-Header", "nh"),
            op(Set, "Existing-Header", "eh"),
            op(Delete, "Header-To-Delete", ""),
            op(Push, "Pushed", "p"),
            op(Push, "Present", "a"),
            op(Delete, "Gone", ""),
            op(Push, "Pushed", "after"),
            op(Delete, "Present", ""),
        ]
    );
    // After apicast: the 3scale flow reads the request as the client sent it.
    let client = Headers(vec![("present", "z")]);
    assert_eq!(p.view(&client).header("present").as_deref(), Some("z"));
    assert_eq!(p.view(&client).header("new-header"), None);
}

#[test]
fn operations_before_apicast_are_what_the_3scale_flow_reads() {
    let chain = json!([{"name": "headers", "configuration": {"request": [
        {"op": "set", "header": "User-Key", "value": "from-policy"},
        {"op": "delete", "header": "X-Drop"},
        {"op": "push", "header": "X-Kept", "value": "second"},
        {"op": "push", "header": "X-New", "value": "first"}
    ]}}, APICAST(), {"name": "headers", "configuration": {"request": [
        {"op": "set", "header": "X-Late", "value": "late"}
    ]}}]);
    let client = Headers(vec![
        ("user-key", "client"),
        ("x-drop", "1"),
        ("x-kept", "one"),
    ]);
    let c = config(chain);
    let p = RequestPolicies::new(&c.services[0], &client).unwrap();
    let view = p.view(&client);
    let read = |n| view.header(n);
    assert_eq!(read("user-key").as_deref(), Some("from-policy"));
    assert_eq!(read("x-drop"), None);
    assert_eq!(read("x-kept").as_deref(), Some("one"), "the first value");
    assert_eq!(read("x-new").as_deref(), Some("first"));
    assert_eq!(read("x-late"), None, "after apicast");
    assert_eq!(p.request.len(), 5, "every operation goes upstream");
}

#[test]
fn response_phase_runs_in_chain_order() {
    let statuses = json!({"name": "statuscode_overwrite", "configuration": {"http_statuses": [
        {"upstream": 200, "apicast": 201}, {"upstream": 403, "apicast": 401},
        {"upstream": 200, "apicast": 202}]}});
    let drop_origin = json!({"name": "headers", "configuration": {"response": [
        {"op": "delete", "header": "Access-Control-Allow-Origin"},
        {"op": "add", "header": "Access-Control-Max-Age", "value": "1"},
        {"op": "add", "header": "X-Upstream", "value": "more"},
        {"op": "push", "header": "Set-Cookie", "value": "a=1"},
        {"op": "set", "header": "X-Cleared", "value": ""}]}});
    let present = |n: &str| n.eq_ignore_ascii_case("x-upstream");
    // The headers policy after cors sees cors' headers; before it, it does not.
    let after = policies(
        json!([cors_default(), statuses, APICAST(), drop_origin]),
        &PREFLIGHT,
    );
    let (status, ops) = after.response(Some(200), &present);
    assert_eq!(status, Some(202), "a later pair for the same status wins");
    assert_eq!(ops.len(), 10);
    assert_eq!(ops[5], op(Delete, "Access-Control-Allow-Origin", ""));
    assert_eq!(ops[6], op(Push, "Access-Control-Max-Age", "1"));
    assert_eq!(ops[7], op(Push, "X-Upstream", "more"));
    let before = policies(json!([drop_origin, cors_default(), APICAST()]), &PREFLIGHT);
    let (status, ops) = before.response(Some(403), &present);
    assert_eq!(status, None, "no statuscode_overwrite");
    assert_eq!(ops[0], op(Delete, "Access-Control-Allow-Origin", ""));
    assert_eq!(ops[1], op(Push, "X-Upstream", "more"), "max-age absent yet");
    assert_eq!(ops[3], op(Delete, "X-Cleared", ""));
    assert!(ops.contains(&op(
        Set,
        "access-control-allow-origin",
        "http://example.com"
    )));
    // Statuses not listed, or unreadable, stay.
    let p = policies(json!([statuses, APICAST()]), &[]);
    assert_eq!(p.response(Some(404), &present).0, None);
    assert_eq!(p.response(Some(403), &present).0, Some(401));
    assert_eq!(p.response(None, &present).0, None);
}

/// What the adapter does with the response phase, on a reply (Envoy runs the filter's
/// response callback on its own local replies too).
pub(super) fn respond(p: &RequestPolicies, mut reply: LocalReply) -> LocalReply {
    let headers = &reply.headers;
    let present = |n: &str| headers.iter().any(|(k, _)| k.eq_ignore_ascii_case(n));
    let (status, ops) = p.response(Some(reply.status), &present);
    reply.status = status.unwrap_or(reply.status);
    for (op, name, value) in ops {
        if op != Push {
            reply
                .headers
                .retain(|(k, _)| !k.eq_ignore_ascii_case(&name));
        }
        if op != Delete {
            reply.headers.push((name, value));
        }
    }
    reply
}

#[test]
fn a_local_reply_goes_through_the_response_phase() {
    let chain = json!([cors_default(),
        {"name": "statuscode_overwrite", "configuration": {"http_statuses": [{"upstream": 403, "apicast": 401}]}},
        {"name": "headers", "configuration": {"response": [
            {"op": "set", "header": "Content-Type", "value": "application/json"},
            {"op": "push", "header": "X-Extra", "value": "1"},
            {"op": "push", "header": "X-Extra", "value": "2"}]}}, APICAST()]);
    let p = policies(chain, &PREFLIGHT);
    let reply = LocalReply {
        status: 403,
        headers: vec![("content-type".into(), "text/plain".into())],
        body: "Authentication failed".into(),
        outcome: Outcome::AuthFailed,
    };
    let r = respond(&p, reply);
    assert_eq!((r.status, r.body.as_str()), (401, "Authentication failed"));
    let named = |n: &str| -> Vec<&str> {
        let values = r.headers.iter().filter(|(k, _)| k.eq_ignore_ascii_case(n));
        values.map(|(_, v)| v.as_str()).collect()
    };
    assert_eq!(named("content-type"), ["application/json"]);
    assert_eq!(named("x-extra"), ["1", "2"]);
    assert_eq!(named("access-control-allow-origin"), ["http://example.com"]);
}

#[test]
fn chains_without_these_policies_cost_nothing() {
    let c = config(json!([APICAST(), {"name": "logging"}]));
    assert!(RequestPolicies::new(&c.services[0], &Headers(PREFLIGHT.to_vec())).is_none());
    let c = config(Value::Null);
    assert!(RequestPolicies::new(&c.services[0], &Headers(vec![])).is_none());
}

/// A source that answers every lazy read, to check that a view forwards them all.
struct Everything;
impl HeaderSource for Everything {
    fn header(&self, _: &str) -> Option<String> {
        None
    }
    fn is_tls(&self) -> bool {
        true
    }
    #[cfg(feature = "jwt")]
    fn dynamic_metadata(&self) -> Option<Vec<u8>> {
        Some(vec![1])
    }
    fn source_address(&self) -> Option<String> {
        Some("127.0.0.1:5000".into())
    }
    fn failed(&self) -> bool {
        true
    }
}

#[test]
fn the_edited_view_forwards_every_lazy_read() {
    // Found by the bench: with `headers` or `cors` in the chain, `ip_check` saw no address.
    let view = Edited {
        inner: &Everything,
        ops: &[],
    };
    assert!(view.is_tls() && view.failed());
    assert_eq!(view.source_address().as_deref(), Some("127.0.0.1:5000"));
    #[cfg(feature = "jwt")]
    assert_eq!(view.dynamic_metadata(), Some(vec![1]));
}

#[test]
fn a_set_or_delete_covers_the_other_spellings_of_its_header() {
    let ops: Vec<HeaderOp> = vec![
        (EditOp::Set, "X-Consumer-Tier".into(), "basic".into()),
        (EditOp::Delete, "x-internal-admin".into(), String::new()),
        (EditOp::Push, "X-Trace".into(), "1".into()),
    ];
    let other = |name: &str| is_other_spelling_of_replaced(&ops, name.as_bytes());
    assert!(other("x_consumer_tier"));
    assert!(other("X_Consumer-Tier"));
    assert!(other("x_internal_admin"));
    // The operation's own spelling (any case) is the operation's business.
    assert!(!other("x-consumer-tier"));
    assert!(!other("X-INTERNAL-ADMIN"));
    // `push` keeps what the client sent; other names are not touched.
    assert!(!other("x_trace"));
    assert!(!other("x_consumer_tiers"));
}

/// `push`/`add` without `value`: APIcast's `new_header_value(current, nil)` keeps the
/// current value, so nothing changes; `set` without one deletes, as `set ""` does (an empty
/// header line was added: found by an audit, 2026-12-07). A bad name is still refused.
#[test]
fn push_or_add_without_a_value_changes_nothing() {
    let chain = json!([APICAST(), {"name": "headers", "configuration": {
        "request": [{"op": "push", "header": "X-Internal"}, {"op": "add", "header": "Present"},
                    {"op": "set", "header": "X-Cleared"}],
        "response": [{"op": "push", "header": "X-Frame"}, {"op": "add", "header": "X-Upstream"}]}}]);
    let p = policies(chain, &[("present", "z")]);
    assert_eq!(p.request, [op(Delete, "X-Cleared", "")]);
    let present = |n: &str| n.eq_ignore_ascii_case("x-upstream");
    assert_eq!(p.response(Some(200), &present).1, []);
    let bad = json!({"backend": {"cluster": "b"}, "services": [{"id": 1, "proxy": {"policy_chain": [
        APICAST(), {"name": "headers", "configuration": {"request": [{"op": "push", "header": "Bad Name"}]}}]}}]});
    let e = Config::parse(bad.to_string().as_bytes())
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "services[0].proxy.policy_chain[1].configuration.request[0].header: not a header name"
    );
}

/// A `push` beside a different value leaves two (the decision reads the first, an upstream
/// may read the other); beside the same value, or after a `set`, one (found by a red team,
/// 2026-12-07).
#[test]
fn a_push_beside_another_value_is_ambiguous() {
    let sent = Headers(vec![("user_key", "client")]);
    let ambiguous =
        |ops: &[HeaderOp], name: &str| Edited { inner: &sent, ops }.header_ambiguous(name);
    let push = |v: &str| (EditOp::Push, "User_Key".to_string(), v.to_string());
    assert!(ambiguous(&[push("operator")], "user_key"));
    assert!(!ambiguous(&[push("client")], "user_key"));
    assert!(!ambiguous(&[push("operator")], "x-other"));
    let set = (EditOp::Set, "user_key".to_string(), "operator".to_string());
    assert!(!ambiguous(std::slice::from_ref(&set), "user_key"));
    assert!(ambiguous(&[set.clone(), push("other")], "user_key"));
    assert!(!ambiguous(&[set, push("operator")], "user_key"));
    let none = Headers(Vec::new());
    let view = Edited {
        inner: &none,
        ops: &[push("a")],
    };
    assert!(!view.header_ambiguous("user_key"));
    let view = Edited {
        inner: &none,
        ops: &[push("a"), push("b")],
    };
    assert!(view.header_ambiguous("user_key"));
}
