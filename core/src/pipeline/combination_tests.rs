//! Policies combined with public paths and with each other (found by a review): a public path
//! skips credentials only; `ip_check` reads the request as every header operation leaves it
//! (APIcast runs them all in its rewrite phase, before the access phase); a preflight is
//! never forwarded.

use super::*;
use crate::config::Config;
use serde_json::{json, Value};

struct Request {
    headers: Vec<(&'static str, &'static str)>,
    source: &'static str,
}

impl HeaderSource for Request {
    fn header(&self, name: &str) -> Option<String> {
        let found = self
            .headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name));
        found.map(|(_, v)| v.to_string())
    }
    fn source_address(&self) -> Option<String> {
        Some(self.source.to_string())
    }
}

fn config(chain: Value) -> Config {
    let v = json!({"backend": {"cluster": "b"}, "services": [{"id": 1, "backend_version": 1,
        "authentication": {"public_paths": ["/docs", "/health"]},
        "proxy": {"hosts": ["api"], "credentials_location": "headers", "policy_chain": chain,
            "proxy_rules": [{"http_method": "GET", "pattern": "/ok", "metric_system_name": "hits", "delta": 1}]}}]});
    Config::parse(v.to_string().as_bytes()).unwrap().config
}

/// The status a request gets: 200 forwarded (public) or asked of the backend.
fn status(config: &Config, method: &str, path: &str, request: &Request) -> u16 {
    let head = RequestHead {
        method,
        authority: "api",
        path,
        now_s: 0,
    };
    match begin(config, head, request).and_then(|p| p.authorize()) {
        Ok(_) => 200,
        Err(r) => r.status,
    }
}

fn apicast() -> Value {
    json!({"name": "apicast"})
}

fn blacklist() -> Value {
    json!({"name": "ip_check", "configuration": {"check_type": "blacklist", "ips": ["203.0.113.0/24"]}})
}

fn from(source: &'static str) -> Request {
    Request {
        headers: Vec::new(),
        source,
    }
}

#[test]
fn an_ip_check_after_apicast_holds_on_public_paths() {
    let c = config(json!([apicast(), blacklist()]));
    assert_eq!(status(&c, "GET", "/docs/x", &from("203.0.113.5:1")), 403);
    assert_eq!(status(&c, "GET", "/docs/x", &from("10.0.0.1:1")), 200);
}

#[test]
fn a_preflight_on_a_public_path_is_answered_never_forwarded() {
    let preflight = Request {
        headers: vec![
            ("origin", "https://x"),
            ("access-control-request-method", "GET"),
        ],
        source: "10.0.0.1:1",
    };
    let cors = json!({"name": "cors", "configuration": {}});
    for chain in [
        json!([{"name": "maintenance_mode", "configuration": {}}, apicast(), cors.clone()]),
        json!([blacklist(), apicast(), cors.clone()]),
        json!([apicast(), cors]),
    ] {
        let c = config(chain);
        assert_eq!(status(&c, "OPTIONS", "/health", &preflight), 204);
    }
}

#[test]
fn ip_check_reads_the_headers_every_header_operation_left() {
    let c = config(json!([
        apicast(),
        {"name": "headers", "configuration": {"request": [{"op": "delete", "header": "X-Forwarded-For"}]}},
        {"name": "ip_check", "configuration": {"check_type": "whitelist", "ips": ["10.0.0.0/8"],
            "client_ip_sources": ["X-Forwarded-For", "last_caller"]}}
    ]));
    let spoofed = Request {
        headers: vec![("x-forwarded-for", "10.0.0.1"), ("user_key", "k")],
        source: "203.0.113.5:1",
    };
    assert_eq!(status(&c, "GET", "/ok", &spoofed), 403);
    let inside = Request {
        headers: vec![("x-forwarded-for", "203.0.113.9"), ("user_key", "k")],
        source: "10.0.0.7:1",
    };
    assert_eq!(status(&c, "GET", "/ok", &inside), 200);
}

#[test]
#[cfg(feature = "jwt")]
fn a_claim_check_holds_on_public_paths_where_every_claim_is_empty() {
    let c = config(json!([
        {"name": "jwt_claim_check", "configuration": {"rules": [{"resource": "/docs",
            "operations": [{"jwt_claim": "role", "jwt_claim_type": "plain", "op": "==", "value": "admin"}]}]}},
        apicast()
    ]));
    assert_eq!(status(&c, "GET", "/docs/x", &from("10.0.0.1:1")), 403);
    assert_eq!(status(&c, "GET", "/health", &from("10.0.0.1:1")), 200);
}
