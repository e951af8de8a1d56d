//! Mapping rules through Envoy: usage per rule, no-match, and paths that try to dodge a rule.

mod support;

use e2e::http::send_raw;
use e2e::system::{self, Stored, WithSystem};
use e2e::{wait_until, Request};
use serde_json::json;
use std::time::Duration;
use support::*;

fn stack() -> Stack {
    stack_with(|b| b)
}

fn stack_with(envoy: impl FnOnce(e2e::EnvoyBuilder) -> e2e::EnvoyBuilder) -> Stack {
    Stack::start_with(
        config(vec![service(
            1,
            json!(1),
            json!({"proxy_rules": [
                {"http_method": "GET", "pattern": "/public", "metric_system_name": "hits", "delta": 1},
                {"http_method": "GET", "pattern": "/admin", "metric_system_name": "get_foo", "delta": 10, "last": true},
                {"http_method": "GET", "pattern": "/items/{id}.json$", "metric_system_name": "hits", "delta": 2},
                {"http_method": "GET", "pattern": "/search?q={query}", "metric_system_name": "hits", "delta": 5},
                {"http_method": "GET", "pattern": "/v", "metric_system_name": "hits", "delta": 1,
                 "querystring_parameters": {"mode": "fast"}},
                // Never counted for /admin: the /admin rule is `last`.
                {"http_method": "GET", "pattern": "/adm", "metric_system_name": "hits", "delta": 100}
            ]}),
        )]),
        backend_state(),
        envoy,
    )
}

fn usage(s: &Stack, path: &str) -> (u16, Option<String>) {
    let r = Request::get(path)
        .header("Host", "api.example.com")
        .send(s.port());
    let calls = s.authreps();
    let seen = calls.last().filter(|_| r.status != 404).map(|c| {
        let mut u: Vec<String> = c
            .query
            .iter()
            .filter(|(k, _)| k.starts_with("usage["))
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        u.sort();
        u.join("&")
    });
    s.backend.clear_requests();
    (r.status, seen)
}

#[test]
fn rules_give_the_usage() {
    let s = stack();
    let k = format!("user_key={USER_KEY}");
    assert_eq!(
        usage(&s, &format!("/public/x?{k}")),
        (200, Some("usage[hits]=1".into()))
    );
    assert_eq!(
        usage(&s, &format!("/items/9.json?{k}")),
        (200, Some("usage[hits]=2".into()))
    );
    assert_eq!(
        usage(&s, &format!("/items/9.json/more?{k}")).0,
        404,
        "$ anchors the end"
    );
    assert_eq!(
        usage(&s, &format!("/search?q=&{k}")),
        (200, Some("usage[hits]=5".into()))
    );
    assert_eq!(
        usage(&s, &format!("/search?{k}")).0,
        404,
        "the pattern's query is required"
    );
    assert_eq!(
        usage(&s, &format!("/v?mode=fast&{k}")),
        (200, Some("usage[hits]=1".into()))
    );
    // APIcast matches on the last value; the upstream may read the first: refused.
    for query in ["mode=slow&mode=fast", "mode=fast&mode=slow", "Mode=fast"] {
        assert_eq!(
            usage(&s, &format!("/v?{query}&{k}")),
            (400, None),
            "{query}: an ambiguous arg a rule reads, no authrep"
        );
    }
    assert_eq!(usage(&s, &format!("/nothing?{k}")).0, 404);
}

/// porta stores the pattern `/search?debug` with `"querystring_parameters": {"debug": null}`
/// (Ruby's `split('=', 2)`). That null was refused, so the fetched service was skipped whole:
/// every request to its hosts got 404 (found by an audit, 2026-12-07). It now requires the
/// arg, as the pattern reads.
#[test]
fn a_rule_porta_stores_with_a_bare_query_name_loads_from_system() {
    let mock = system::start();
    let rule = json!({"http_method": "GET", "pattern": "/search?debug",
        "metric_system_name": "get_foo", "delta": 2, "querystring_parameters": {"debug": null}});
    let stored = service(1, json!("1"), json!({"proxy_rules": [rule]}));
    mock.publish(Stored::Production, stored).unwrap();
    let config = json!({"backend": {"cluster": "threescale_backend", "timeout_ms": 1000},
        "system": system::block(60)});
    let s = Stack::start_with(config, backend_state(), |b| b.with_system(&mock));
    let k = format!("user_key={USER_KEY}");
    assert!(wait_until(Duration::from_secs(8), || {
        usage(&s, &format!("/search?{k}")).0 != 503
    }));
    assert_eq!(s.envoy.stat("wasmcustom.tollgate.config_services"), Some(1));
    for query in ["debug", "debug=", "debug=1"] {
        assert_eq!(
            usage(&s, &format!("/search?{query}&{k}")),
            (200, Some("usage[get_foo]=2".into())),
            "{query}"
        );
    }
    assert_eq!(usage(&s, &format!("/search?{k}")), (404, None));
    let upstream: Vec<String> = s.echo.requests().iter().map(|r| r.path.clone()).collect();
    assert_eq!(upstream.len(), 3, "{upstream:?}");
    assert!(
        upstream.iter().all(|p| p.starts_with("/search?debug")),
        "{upstream:?}"
    );
}

#[test]
fn normalised_paths_cannot_dodge_a_rule() {
    // Envoy resolves raw and encoded dot segments itself; the encoded slash reaches the filter.
    dodges_are_metered_as_admin_or_refused(
        &stack(),
        &[
            "/admin",
            "/public/../admin",
            "//admin",
            "/%61dmin",
            "/./admin/",
            "/public/%2E%2E/admin",
            "/public/%2e%2e/admin",
            "/public/x/../../admin",
            "/public/..//admin",
        ],
        &["/public%2F..%2Fadmin"],
    );
}

/// Envoy's own `normalize_path` and `merge_slashes` are off by default: the filter alone
/// must catch every dodge, and refuses the paths an upstream could read another way.
#[test]
fn normalised_paths_cannot_dodge_a_rule_without_envoy_normalising() {
    dodges_are_metered_as_admin_or_refused(
        &stack_with(|b| b.raw_paths()),
        &["/admin", "//admin", "/%61dmin", "//admin//"],
        &[
            "/public/../admin",
            "/./admin/",
            "/public/%2E%2E/admin",
            "/public/%2e%2e/admin",
            "/public/x/../../admin",
            "/public%2F..%2Fadmin",
            "/public/..//admin",
        ],
    );
}

/// `metered`: forwarded and charged as `/admin`; `refused`: 400, nothing charged or forwarded.
fn dodges_are_metered_as_admin_or_refused(s: &Stack, metered: &[&str], refused: &[&str]) {
    let k = format!("user_key={USER_KEY}");
    let send = |path: &str| {
        // The raw request line, untouched by any client-side normalisation.
        let raw = format!(
            "GET {path}?{k} HTTP/1.1\r\nHost: api.example.com\r\nConnection: close\r\n\r\n"
        );
        send_raw(s.port(), raw.as_bytes()).unwrap()
    };
    for path in metered {
        let r = send(path);
        assert_eq!(r.status, 200, "{path}: {r}");
        let call = s.authreps().pop().unwrap();
        let usage: Vec<_> = call
            .query
            .iter()
            .filter(|(n, _)| n.starts_with("usage["))
            .collect();
        assert_eq!(
            usage,
            [&("usage[get_foo]".to_string(), "10".to_string())],
            "{path}"
        );
    }
    s.backend.clear_requests();
    let upstream_before = s.echo.request_count();
    for path in refused {
        let r = send(path);
        assert_eq!(r.status, 400, "{path}: {r}");
        assert_eq!(r.body, "Bad Request: ambiguous path", "{path}");
    }
    assert!(s.authreps().is_empty(), "{:?}", s.authreps());
    assert_eq!(s.echo.request_count(), upstream_before);
}
