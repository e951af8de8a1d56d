//! `x-3scale-service-id` on a host several services share (found by an audit, 2026-12-06):
//! path routing chooses by method, path and args, Envoy's prefix routes by path alone, so
//! every forwarded request names the chosen service for Envoy's routes to match; a client's
//! copy is stripped; a host with one service gets no header (no extra host call).

use super::fake_envoy::{Envoy, Fate};
use super::*;
use serde_json::{json, Value};

fn rule(method: &str, pattern: &str) -> Value {
    json!({"http_method": method, "pattern": pattern, "metric_system_name": "hits", "delta": 1})
}

/// On `api.example.com`, in order: a public service (20, `mode: none`, `ANY /public`),
/// service 2 (`GET /two`, batching), local service 3 (`GET /local`) and service 1 (`ANY /`,
/// user_key, `/health` public); without `shared`, service 1 alone.
fn shared_host(path_routing: bool, shared: bool) -> Value {
    let token = json!({"backend_authentication_type": "service_token",
                       "backend_authentication_value": "st", "backend_version": 1});
    let service = |id: u64, extra: Value, rules: Value| {
        let mut s =
            json!({"id": id, "proxy": {"hosts": ["api.example.com"], "proxy_rules": rules}});
        if let (Value::Object(s), Value::Object(more)) = (&mut s, token.clone()) {
            s.extend(more);
        }
        if let (Value::Object(s), Value::Object(more)) = (&mut s, extra) {
            s.extend(more);
        }
        s
    };
    let key = json!({"id": "bob", "hash": "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"});
    let one = service(
        1,
        json!({"authentication": {"public_paths": ["/health"]}}),
        json!([rule("ANY", "/")]),
    );
    let others = vec![
        service(
            20,
            json!({"authentication": {"mode": "none"}}),
            json!([rule("ANY", "/public")]),
        ),
        service(
            2,
            json!({"proxy": {"hosts": ["api.example.com"], "proxy_rules": [rule("GET", "/two")],
                             "policy_chain": [{"name": "apicast"}, {"name": "3scale_batcher"}]}}),
            json!([]),
        ),
        service(
            3,
            json!({"authentication": {"mode": "local", "api_keys": {"header": "x-api-key", "keys": [key]}}}),
            json!([rule("GET", "/local")]),
        ),
    ];
    let services = match shared {
        true => others.into_iter().chain([one]).collect(),
        false => vec![one],
    };
    json!({"backend": {"cluster": "backend"}, "path_routing": path_routing, "services": services})
}

/// The `x-3scale-service-id` values a forwarded request was given.
fn service_ids(envoy: &Envoy, id: RequestId) -> Vec<String> {
    match envoy.fate(id) {
        Fate::Forwarded { headers, .. } => (headers.into_iter())
            .filter(|(name, _)| name == "x-3scale-service-id")
            .map(|(_, value)| value)
            .collect(),
        other => panic!("request {id} not forwarded: {other:?}"),
    }
}

#[test]
fn every_forward_on_a_shared_host_names_the_chosen_service() {
    let mut envoy = Envoy::new(shared_host(true, true), 1);
    // Authorized by the backend: `DELETE /two` is service 1's (`ANY /`), not service 2's.
    envoy.request(0, 1, "DELETE", "/two?user_key=k", true);
    assert!(envoy.answer(Some(200), None).contains("service_id=1"));
    assert_eq!(service_ids(&envoy, 1), ["1"]);
    // Public: `mode: none`, and a public path of a 3scale service.
    envoy.request(0, 2, "GET", "/public/x", true);
    assert_eq!(service_ids(&envoy, 2), ["20"]);
    envoy.request(0, 3, "GET", "/health", true);
    assert_eq!(service_ids(&envoy, 3), ["1"]);
    // Local authentication.
    envoy.request_with(0, 4, "GET", "/local", &[("x-api-key", "abc")], true);
    assert_eq!(service_ids(&envoy, 4), ["3"]);
    // Batching: the authorize call, then a cache hit.
    for id in [5, 6] {
        envoy.request(0, id, "GET", "/two?user_key=k", true);
        if id == 5 {
            assert!(envoy.answer(Some(200), None).contains("service_id=2"));
        }
        assert_eq!(service_ids(&envoy, id), ["2"]);
    }
    // A client's copy names no service: the filter's value is set (and the client's
    // stripped in any spelling, `reply.rs`).
    for spelling in ["x-3scale-service-id", "X_3scale_Service_Id"] {
        assert!(is_stripped_request_header(spelling.as_bytes()));
    }
    envoy.request_with(
        0,
        7,
        "GET",
        "/public/x",
        &[("x-3scale-service-id", "2")],
        true,
    );
    assert_eq!(service_ids(&envoy, 7), ["20"]);
}

#[test]
fn the_fallback_to_the_hosts_first_service_is_named_too() {
    // The host's first service public with no rules, service 1 on `/orders` only: no rule
    // matches `DELETE /two/7`, and the public service takes it, named as such.
    let mut config = shared_host(true, true);
    config["services"][0]["proxy"]["proxy_rules"] = json!([]);
    config["services"][3]["proxy"]["proxy_rules"] = json!([rule("ANY", "/orders")]);
    let mut envoy = Envoy::new(config, 1);
    envoy.request(0, 1, "DELETE", "/two/7", true);
    assert_eq!(service_ids(&envoy, 1), ["20"]);
    assert!(envoy.calls.is_empty());
}

#[test]
fn a_host_with_one_service_gets_no_service_header() {
    // One service on the host, with path routing and without: no header, no extra host call.
    for path_routing in [true, false] {
        let mut envoy = Envoy::new(shared_host(path_routing, false), 1);
        envoy.request(0, 1, "GET", "/x?user_key=k", true);
        envoy.answer(Some(200), None);
        envoy.request(0, 2, "GET", "/health", true);
        assert_eq!(service_ids(&envoy, 1), Vec::<String>::new());
        assert_eq!(service_ids(&envoy, 2), Vec::<String>::new());
    }
}
