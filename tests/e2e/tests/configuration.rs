//! Invalid configurations are refused by on_configure, with the JSON path in Envoy's log.

mod support;

use e2e::Envoy;
use serde_json::json;
use support::*;

fn refused_log(config: &str) -> String {
    Envoy::builder()
        .filter_config(config)
        .start_expect_failure()
        .expect("Envoy must refuse the configuration")
}

#[test]
fn wrong_type_is_refused_with_its_path() {
    let mut services = vec![
        service(1, json!(1), json!({})),
        service(2, json!(1), json!({})),
    ];
    services[1]["proxy"]["proxy_rules"] = json!([
        {"http_method": "GET", "pattern": "/", "metric_system_name": "hits", "delta": 1},
        {"http_method": "GET", "pattern": "/", "metric_system_name": "hits", "delta": 1},
        {"http_method": "GET", "pattern": "/", "metric_system_name": "hits", "delta": 1},
        {"http_method": "GET", "pattern": "/", "metric_system_name": "hits", "delta": "one"}
    ]);
    let log = refused_log(&config(services).to_string());
    assert!(
        log.contains(
            "invalid configuration: services[1].proxy.proxy_rules[3].delta: expected an integer"
        ),
        "{log}"
    );
}

#[test]
fn typo_in_backend_block_is_refused() {
    let mut c = config(vec![service(1, json!(1), json!({}))]);
    c["backend"]["timeout"] = json!(100);
    let log = refused_log(&c.to_string());
    assert!(log.contains("backend.timeout: unknown field"), "{log}");
}

#[test]
fn missing_metric_and_bad_json_are_refused() {
    let mut c = config(vec![service(1, json!(1), json!({}))]);
    c["services"][0]["proxy"]["proxy_rules"] = json!([{"http_method": "GET", "pattern": "/"}]);
    let log = refused_log(&c.to_string());
    assert!(
        log.contains("services[0].proxy.proxy_rules[0].metric_system_name: missing required field"),
        "{log}"
    );
    let log = refused_log("{\"backend\": ");
    assert!(log.contains("invalid configuration: invalid JSON"), "{log}");
    let log = refused_log(
        &json!({"backend": {"cluster": "b", "timeout_ms": 0}, "services": []}).to_string(),
    );
    assert!(
        log.contains("backend.timeout_ms: must be greater than 0"),
        "{log}"
    );
}

/// An unknown top-level field is refused, and Envoy's log names it.
#[test]
fn unknown_top_level_field_is_refused_with_its_path() {
    let mut c = config(vec![service(1, json!(1), json!({}))]);
    c["path_routeing"] = json!(true);
    let log = refused_log(&c.to_string());
    assert!(
        log.contains("invalid configuration: path_routeing: unknown field"),
        "{log}"
    );
    assert!(
        log.contains("Unable to create Wasm plugin tollgate"),
        "{log}"
    );
}

/// An empty backend.cluster is refused, and Envoy's log names it.
#[test]
fn empty_backend_cluster_is_refused_with_its_path() {
    let mut c = config(vec![service(1, json!(1), json!({}))]);
    c["backend"]["cluster"] = json!("");
    let log = refused_log(&c.to_string());
    assert!(
        log.contains("invalid configuration: backend.cluster: must not be empty"),
        "{log}"
    );
    assert!(
        log.contains("Unable to create Wasm plugin tollgate"),
        "{log}"
    );
}

/// A JWKS of more than 32 keys is refused before any key is parsed, and Envoy's log names it.
#[test]
fn jwks_over_the_key_limit_is_refused_with_its_path() {
    use e2e::jwt::Signer;
    let signers: Vec<Signer> = (0..33)
        .map(|i| Signer::hs256(b"0123456789abcdef0123456789abcdef", &format!("k{i}")))
        .collect();
    let mut svc = service(1, json!(1), json!({}));
    svc["authentication"] = json!({"mode": "local", "jwt": {
        "jwks": Signer::jwks(&signers.iter().collect::<Vec<_>>())
    }});
    let log = refused_log(&config(vec![svc]).to_string());
    assert!(
        log.contains(
            "invalid configuration: services[0].authentication.jwt.jwks.keys: 33 keys, at most 32 are supported"
        ),
        "{log}"
    );
    assert!(
        log.contains("Unable to create Wasm plugin tollgate"),
        "{log}"
    );
}

/// A secret token or an error Content-Type that would start another header is refused with
/// its path (found by an audit, 2026-12-06).
#[test]
fn header_values_with_crlf_are_refused_with_their_path() {
    for (key, at) in [
        ("secret_token", "services[0].proxy.secret_token"),
        (
            "error_headers_auth_failed",
            "services[0].proxy.error_headers_auth_failed",
        ),
    ] {
        let svc = service(1, json!(1), json!({ key: "x\r\nX-Injected: 1" }));
        let log = refused_log(&config(vec![svc]).to_string());
        assert!(
            log.contains(&format!(
                "invalid configuration: {at}: has CR, LF, NUL or another control character"
            )),
            "{log}"
        );
    }
}
