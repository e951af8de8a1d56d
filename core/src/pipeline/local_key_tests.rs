//! A local key an upstream reads but the decision did not compare: the query arg in another
//! spelling only (`api.key`, `api_key[]`), or in a form body APIcast does not read (a
//! `DELETE` or `GET` form, a `POST` without a content type). Each is auth failed beside a
//! key that differs or another credential (found by an audit, 2026-12-07).

use super::fake_envoy::decide_with_form;
use super::*;
use crate::auth::basic::password_digest;
use crate::auth::digest::{stored_form, to_hex};
use crate::auth::signed_url::sign;
use serde_json::{json, Value};

const FORM: (&str, &str) = ("content-type", "application/x-www-form-urlencoded");
const LOW: (&str, &str) = ("x-api-key", "LOWKEY");
/// `alice:pw`
const BASIC: (&str, &str) = ("authorization", "Basic YWxpY2U6cHc=");
const SECRET: &str = "0123456789abcdef0123";

fn config() -> Config {
    let auth = json!({"mode": "local",
        "api_keys": {"header": "X-API-Key", "query": "api_key", "keys": [
            {"id": "low", "hash": stored_form("LOWKEY")},
            {"id": "admin", "hash": stored_form("ADMINKEY")}]},
        "basic_users": [{"username": "alice", "salt": "s",
            "hash": to_hex(&password_digest("s", "pw"))}],
        "signed_urls": {"secret": SECRET}});
    let v: Value = json!({"backend": {"cluster": "b"}, "services": [{"id": 1,
        "backend_version": 1, "authentication": auth, "proxy": {"hosts": ["api"],
        "proxy_rules": [{"http_method": "ANY", "pattern": "/", "metric_system_name": "hits",
            "delta": 1}]}}]});
    Config::parse(v.to_string().as_bytes()).unwrap().config
}

/// The reply's status (0: forwarded). `body`: read when the request waits for it, which it
/// must when `body` is not empty.
fn decide(method: &str, path: &str, headers: &[(&'static str, &'static str)], body: &str) -> u16 {
    match decide_with_form(&config(), method, path, headers, body) {
        Err(reply) => reply.status,
        Ok(Next::Forward(_)) => 0,
        Ok(Next::Backend(_)) => panic!("no backend for a local service"),
    }
}

fn signed(method: &str) -> &'static str {
    let url = sign(SECRET.as_bytes(), method, "/x", 100).unwrap();
    Box::leak(url.into_boxed_str())
}

#[test]
fn the_query_key_in_another_spelling_only_is_auth_failed() {
    for query in [
        "api.key=ADMINKEY",
        "api_key[]=ADMINKEY",
        "[api_key]=ADMINKEY",
        "API.KEY=ADMINKEY",
        "%20api_key=ADMINKEY",
        "a=1;[api_key]=ADMINKEY",
    ] {
        let path = format!("/x?{query}");
        assert_eq!(
            decide("GET", &path, &[LOW], ""),
            403,
            "{query} beside a key"
        );
        assert_eq!(
            decide("GET", &path, &[BASIC], ""),
            403,
            "{query} beside Basic"
        );
        assert_eq!(decide("GET", &path, &[], ""), 403, "{query} alone");
    }
    // The key checked, in another spelling too, is the same credential.
    assert_eq!(decide("GET", "/x?api.key=LOWKEY", &[LOW], ""), 0);
    assert_eq!(
        decide("GET", "/x?api_key=LOWKEY&api_key[]=LOWKEY", &[], ""),
        0
    );
    assert_eq!(decide("GET", "/x", &[LOW], ""), 0);
    assert_eq!(decide("GET", "/x", &[BASIC], ""), 0);
}

#[test]
fn a_spelled_key_in_a_form_body_is_compared() {
    assert_eq!(decide("POST", "/x", &[LOW, FORM], "api.key=ADMINKEY"), 403);
    assert_eq!(
        decide("POST", "/x", &[LOW, FORM], "api_key[]=ADMINKEY"),
        403
    );
    assert_eq!(
        decide("POST", signed("POST"), &[FORM], "api.key=ADMINKEY"),
        403
    );
    assert_eq!(decide("POST", "/x", &[LOW, FORM], "api.key=LOWKEY"), 0);
}

#[test]
fn a_key_in_a_form_body_apicast_does_not_read_is_compared() {
    for (method, headers) in [
        ("DELETE", &[LOW, FORM][..]),
        ("GET", &[LOW, FORM][..]),
        ("POST", &[LOW][..]),
        ("DELETE", &[BASIC, FORM][..]),
        ("POST", &[BASIC][..]),
    ] {
        for body in ["api_key=ADMINKEY", "a=1&api.key=ADMINKEY"] {
            let got = decide(method, "/x", headers, body);
            assert_eq!(got, 403, "{method} {headers:?} {body}");
        }
    }
    assert_eq!(
        decide("DELETE", "/x?api_key=LOWKEY", &[FORM], "api_key=ADMINKEY"),
        403
    );
    assert_eq!(decide("POST", signed("POST"), &[], "api_key=ADMINKEY"), 403);
    // The key checked, or no key, is fine; a key in such a body never authenticates.
    assert_eq!(decide("DELETE", "/x", &[LOW, FORM], "api_key=LOWKEY"), 0);
    assert_eq!(decide("DELETE", "/x?api_key=LOWKEY", &[FORM], "a=1"), 0);
    assert_eq!(decide("POST", "/x", &[BASIC], "a=1"), 0);
    assert_eq!(decide("DELETE", "/x", &[FORM], "api_key=ADMINKEY"), 401);
}
