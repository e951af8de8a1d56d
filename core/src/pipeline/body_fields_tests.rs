//! A credential in a multipart field or a top-level JSON key (`body_fields`), through the
//! fake Envoy: held for the backend, or forwarded from the cache at the headers.

use super::fake_envoy::*;
use super::*;
use serde_json::{json, Value};

fn config(batching: bool, location: &str) -> Value {
    let mut backend = json!({"cluster": "backend", "caching_type": "strict"});
    if batching {
        backend["batching"] = json!({"auths_ttl": 10, "batch_report_seconds": 1});
    }
    json!({
        "backend": backend,
        "services": [{
            "id": "42", "backend_version": "1",
            "backend_authentication_type": "service_token",
            "backend_authentication_value": "st",
            "proxy": {
                "hosts": ["api.example.com"], "credentials_location": location,
                "proxy_rules": [
                    {"http_method": "ANY", "pattern": "/", "metric_system_name": "hits", "delta": 1}
                ]
            }
        }]
    })
}

const MULTIPART: (&str, &str) = ("content-type", "multipart/form-data; boundary=b");
const JSON: (&str, &str) = ("content-type", "application/json");

fn part(name: &str, value: &str) -> String {
    format!("--b\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n--b--\r\n")
}

fn failed(envoy: &Envoy, id: RequestId) -> bool {
    envoy.fate(id) == Fate::Replied(403, Outcome::AuthFailed)
}

#[test]
fn held_for_the_backend_a_multipart_credential_must_be_the_one_checked() {
    let mut envoy = Envoy::new(config(false, "query"), 1);
    for (id, method, body, refused) in [
        (1, "PUT", part("user_key", "admin"), true),
        (2, "POST", part("user.key", "admin"), true),
        (3, "DELETE", part("USER_KEY", "mine\r\nx"), true),
        (4, "PATCH", part("user_key", "mine"), false),
        (5, "PUT", part("note", "admin"), false),
    ] {
        envoy.request_with(0, id, method, "/a?user_key=mine", &[MULTIPART], false);
        // Split inside the value: the second callback brings the whole buffer.
        envoy.body(0, id, &body[..body.len() - 9], false);
        envoy.body(0, id, &body, true);
        envoy.answer(Some(200), None);
        assert_eq!(failed(&envoy, id), refused, "{id}: {:?}", envoy.fate(id));
    }
}

#[test]
fn forwarded_from_the_cache_a_json_credential_must_be_the_one_checked() {
    let mut envoy = Envoy::new(config(true, "headers"), 1);
    let key = [("user-key", "mine"), JSON];
    envoy.request_with(0, 1, "GET", "/a", &key, true);
    envoy.answer(Some(200), Some("-1"));
    for (id, body, refused) in [
        (2, r#"{"x": 1, "user_key": "admin"}"#, true),
        (3, r#"{"User_Key" : 42}"#, true),
        (4, r#"{"user_key": null}"#, true),
        (5, r#"{"user_key": "mi\u006ee"}"#, false),
        (
            6,
            r#"{"a": {"user_key": "admin"}, "b": ["user_key"]}"#,
            false,
        ),
        (7, r#"[{"user_key": "admin"}]"#, false),
        (8, r#"{"user_key": "mine", "user_key": "minex"}"#, true),
    ] {
        assert!(envoy.request_with(0, id, "PATCH", "/a", &key, false));
        let (a, b) = body.split_at(body.len() / 2);
        envoy.body(0, id, a, false);
        envoy.body(0, id, b, true);
        assert_eq!(failed(&envoy, id), refused, "{body}: {:?}", envoy.fate(id));
        assert!(!envoy.workers[0].watches_body(id));
    }
}

#[test]
fn services_and_bodies_not_compared() {
    let mut envoy = Envoy::new(config(false, "query"), 1);
    // A compressed `PUT` cannot be read: refused as a `POST` is, when a body follows.
    let gzip = [JSON, ("content-encoding", "gzip")];
    envoy.request_with(0, 1, "PUT", "/a?user_key=mine", &gzip, false);
    assert_eq!(envoy.fate(1), Fate::Replied(400, Outcome::BadRequest));
    envoy.request_with(0, 3, "PUT", "/a?user_key=mine", &gzip, true);
    envoy.answer(Some(200), None);
    assert_ne!(envoy.fate(3), Fate::Replied(400, Outcome::BadRequest));
    // A form type is read as a form, and as JSON too when it names it.
    let both = [("content-type", "application/x-www-form-urlencoded; x=/json")];
    envoy.request_with(0, 2, "PUT", "/a?user_key=mine", &both, false);
    envoy.body(0, 2, r#"{"user_key":"admin"}"#, true);
    assert!(failed(&envoy, 2), "{:?}", envoy.fate(2));
}

/// The values each credential name may hold, for a request's head.
fn wanted(auth: Value, path: &str, headers: &[(&'static str, &'static str)]) -> Vec<String> {
    let v = json!({"backend": {"cluster": "b"}, "services": [{"id": 1, "backend_version": 1,
        "authentication": auth, "proxy": {"hosts": ["api"], "proxy_rules": [
            {"http_method": "ANY", "pattern": "/", "metric_system_name": "hits", "delta": 1}]}}]});
    let config = Config::parse(v.to_string().as_bytes()).unwrap().config;
    let head = RequestHead {
        method: "PUT",
        authority: "api",
        path,
        now_s: 0,
    };
    let pending = begin(&config, head, &Headers([headers, &[JSON]].concat())).unwrap();
    let wanted = pending.body_wanted();
    assert!(wanted.fields.is_empty() && !wanted.method);
    (wanted.keys.iter())
        .map(|e| format!("{}={}", e.name, e.values.join("|")))
        .collect()
}

#[test]
fn local_keys_and_local_then_3scale_callers() {
    use crate::auth::digest::stored_form;
    let keys = |mode: &str| {
        json!({"mode": mode, "api_keys": {"header": "x-api-key", "query": "api_key",
            "keys": [{"id": "uk-mine", "hash": stored_form("KEY")}]}})
    };
    // A local key from the query: that key; from the header: the header's.
    assert_eq!(
        wanted(keys("local"), "/a?api_key=KEY", &[]),
        ["api_key=KEY"]
    );
    let header = [("x-api-key", "KEY")];
    assert_eq!(wanted(keys("local"), "/a", &header), ["api_key=KEY"]);
    // `local+3scale`: the 3scale names hold the caller's id or its own key.
    assert_eq!(
        wanted(keys("local+3scale"), "/a", &header),
        ["user_key=uk-mine|KEY", "app_id=uk-mine|KEY", "api_key=KEY"]
    );
}

#[test]
fn a_rule_arg_in_a_multipart_or_json_body_must_hold_the_value_rules_read() {
    let mut v = config(false, "query");
    v["services"][0]["proxy"]["proxy_rules"] = json!([
        {"http_method": "ANY", "pattern": "/r?scope=mine", "metric_system_name": "hits", "delta": 1},
        {"http_method": "ANY", "pattern": "/", "metric_system_name": "hits", "delta": 1}
    ]);
    let mut envoy = Envoy::new(v, 1);
    for (id, path, header, body, refused) in [
        (
            1,
            "/r?scope=mine&user_key=k",
            MULTIPART,
            part("scope", "all"),
            true,
        ),
        (
            2,
            "/r?scope=mine&user_key=k",
            JSON,
            r#"{"scope":"all"}"#.into(),
            true,
        ),
        (
            3,
            "/r?scope=all&user_key=k",
            JSON,
            r#"{"Scope":"mine"}"#.into(),
            true,
        ),
        (4, "/r?user_key=k", MULTIPART, part("scope", "mine"), true),
        (
            5,
            "/r?scope=mine&user_key=k",
            MULTIPART,
            part("scope", "mine"),
            false,
        ),
        (
            6,
            "/r?scope=mine&user_key=k",
            JSON,
            r#"{"scope":"mine"}"#.into(),
            false,
        ),
        // No rule on this path reads `scope`.
        (7, "/x?user_key=k", JSON, r#"{"scope":"all"}"#.into(), false),
    ] {
        envoy.request_with(0, id, "PUT", path, &[header], false);
        envoy.body(0, id, &body, true);
        envoy.answer(Some(200), None);
        let ambiguous = envoy.fate(id) == Fate::Replied(400, Outcome::BadRequest);
        assert_eq!(ambiguous, refused, "{id}: {:?}", envoy.fate(id));
    }
}
