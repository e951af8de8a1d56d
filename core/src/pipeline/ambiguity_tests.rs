//! A credential or a rule's arg that could be read two ways is refused before any backend
//! call: the decision reads one value, and an upstream might read the other.

use super::fake_envoy::Headers;
use super::*;
use serde_json::{json, Value};

/// Key `abc` (the hash below) as the local `x-api-key` header or `key` query arg.
fn config(authentication: Value, rules: Value) -> Config {
    let v = json!({"backend": {"cluster": "backend"}, "services": [{
        "id": "42", "backend_version": 1, "authentication": authentication,
        "backend_authentication_type": "service_token", "backend_authentication_value": "st",
        "proxy": {"hosts": ["api"], "proxy_rules": rules}
    }]});
    Config::parse(v.to_string().as_bytes()).unwrap().config
}

fn local() -> Value {
    json!({"mode": "local", "api_keys": {"header": "x-api-key", "query": "key", "keys": [
        {"id": "bob", "hash": "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"}
    ]}})
}

fn rules() -> Value {
    json!([{"http_method": "GET", "pattern": "/r?scope=all", "metric_system_name": "all", "delta": 1},
           {"http_method": "GET", "pattern": "/r", "metric_system_name": "hits", "delta": 1}])
}

/// The reply's status and outcome, or 0 and the decision when it went on.
fn decide(config: &Config, path: &str, headers: &[(&'static str, &'static str)]) -> (u16, String) {
    let head = RequestHead {
        method: "GET",
        authority: "api",
        path,
        now_s: 0,
    };
    let next = begin(config, head, &Headers(headers.to_vec())).and_then(|p| p.authorize());
    match next {
        Err(reply) => (reply.status, reply.body),
        Ok(Next::Forward(_)) => (0, "forward".into()),
        Ok(Next::Backend(m)) => (0, m.authrep_call().path),
    }
}

#[test]
fn a_credential_sent_twice_with_different_values_is_auth_failed() {
    let threescale = config(json!({}), rules());
    let failed = (403, "Authentication failed".to_string());
    assert_eq!(decide(&threescale, "/r?user_key=a&user_key=b", &[]), failed);
    assert_eq!(decide(&threescale, "/r?user_key=a&USER_KEY=b", &[]), failed);
    let (status, call) = decide(&threescale, "/r?user_key=a&user_key=a", &[]);
    assert_eq!(status, 0);
    assert!(call.contains("user_key=a"), "{call}");

    let local = config(local(), rules());
    assert_eq!(
        decide(&local, "/r", &[("x-api-key", "abc")]),
        (0, "forward".into())
    );
    for (path, headers) in [
        ("/r", &[("x-api-key", "abc"), ("x-api-key", "other")][..]),
        ("/r", &[("x-api-key", "other"), ("X-Api-Key", "abc")][..]),
        ("/r?key=abc&key=other", &[][..]),
        ("/r?key=abc&KEY=other", &[("x-api-key", "abc")][..]),
    ] {
        assert_eq!(decide(&local, path, headers), failed, "{path} {headers:?}");
    }
    let twice = [("x-api-key", "abc"), ("x-api-key", "abc")];
    assert_eq!(
        decide(&local, "/r?key=abc&key=abc", &twice),
        (0, "forward".into())
    );
}

#[test]
fn an_arg_a_matching_rule_reads_twice_is_a_bad_request() {
    let threescale = config(json!({}), rules());
    let ambiguous = (400, "Bad Request: ambiguous argument".to_string());
    for query in ["scope=all&scope=mine", "scope=mine&scope=all", "Scope=all"] {
        let path = format!("/r?{query}&user_key=a");
        assert_eq!(decide(&threescale, &path, &[]), ambiguous, "{path}");
    }
    let (status, call) = decide(&threescale, "/r?scope=all&scope=all&user_key=a", &[]);
    assert_eq!(status, 0);
    assert!(call.contains("usage%5Ball%5D=1"), "{call}");
}

#[test]
fn a_method_with_a_lower_case_letter_is_a_bad_request() {
    let c = config(json!({}), rules());
    for method in ["get", "Get", "gET", "patch"] {
        let head = RequestHead {
            method,
            authority: "api",
            path: "/r?user_key=a",
            now_s: 0,
        };
        let reply = begin(&c, head, &Headers(vec![]))
            .err()
            .map(|r| (r.status, r.body));
        assert_eq!(
            reply,
            Some((400, "Bad Request: invalid method".into())),
            "{method}"
        );
    }
    assert_eq!(decide(&c, "/r?user_key=a", &[]).0, 0, "GET goes on");
}

/// Rule args that are not plain names: an arg a framework reads at the same key path is a
/// second value of it (found by an audit, 2026-12-06).
#[test]
fn a_nested_or_dotted_rule_arg_in_another_spelling_is_a_bad_request() {
    let rules = json!([
        {"http_method": "GET", "pattern": "/orders", "metric_system_name": "all", "delta": 10,
         "querystring_parameters": {"filter[status]": "archived"}},
        {"http_method": "GET", "pattern": "/r", "metric_system_name": "all", "delta": 10,
         "querystring_parameters": {"report.type": "full"}},
        {"http_method": "GET", "pattern": "/", "metric_system_name": "hits", "delta": 1}
    ]);
    let c = config(json!({}), rules);
    let ambiguous = (400, "Bad Request: ambiguous argument".to_string());
    for path in [
        "/orders?[filter][status]=archived",
        "/orders?filter[status]x=archived",
        "/orders?filter[status]=open&[filter][status]=archived",
        "/orders?filter[status]=archived&filter[status][]=open",
        "/r?report.type=summary&report_type=full",
        "/r?report_type=full",
    ] {
        let path = format!("{path}&user_key=a");
        assert_eq!(decide(&c, &path, &[]), ambiguous, "{path}");
    }
    // The rule's own name still matches; another key under `filter` is another arg.
    for path in [
        "/orders?filter[status]=archived",
        "/orders?filter[status]=archived&filter[type]=x",
        "/r?report.type=full&report-type=x",
    ] {
        let (status, call) = decide(&c, &format!("{path}&user_key=a"), &[]);
        assert_eq!(status, 0, "{path}");
        assert!(call.contains("usage%5Ball%5D=10"), "{path}: {call}");
    }
}
