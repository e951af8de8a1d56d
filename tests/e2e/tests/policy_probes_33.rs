//! The thirty-third session's red team of the policy chain (2026-12-07).
//!
//! Found: a `headers` operation on `Content-Length` or `Transfer-Encoding` was carried out as
//! written. Envoy's HTTP/1 codecs frame a message by those headers as set, so a request
//! `set Content-Length: 0` sent the authorized request's body upstream as a SECOND request
//! (smuggled: no credentials, no mapping rule, no backend call), and a response
//! `set Content-Length: 0` left the upstream's body on the client's connection as the start of
//! the next response (a front proxy sharing that connection would hand it to another client).
//! nginx (APIcast) sets both headers itself. Such an operation is now refused at its path;
//! from 3scale System only that service is skipped. Both tests failed on s33a.
//!
//! Found: a request `push` beside a different value of the header read as the first value
//! alone, so a client's own `user_key` beside the operator's pushed one was authorized as the
//! client's, and the upstream got both (failed on s33a).
//!
//! Held (kept for its shape): a body that is itself an HTTP request goes upstream as a body.

mod support;

use e2e::http::send_raw;
use e2e::{wait_until, Request};
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::time::Duration;
use support::refusals::*;
use support::*;

const HOST: &str = "api.example.com";
const SMUGGLED: &str = "GET /smuggled HTTP/1.1\r\nHost: api.example.com\r\n\r\n";

/// Service 1 (`user_key` in a header, `POST /things` mapped) with a `headers` policy of
/// `direction` operations `ops`, before or after `apicast`.
fn proxy(direction: &str, ops: Value, before: bool) -> Value {
    let headers = json!({"name": "headers", "configuration": {direction: ops}});
    let chain = if before {
        json!([headers, {"name": "apicast"}])
    } else {
        json!([{"name": "apicast"}, headers])
    };
    json!({"credentials_location": "headers", "policy_chain": chain,
        "proxy_rules": [
            {"http_method": "POST", "pattern": "/things", "metric_system_name": "hits", "delta": 1},
            {"http_method": "GET", "pattern": "/things", "metric_system_name": "hits", "delta": 1}]})
}

/// An authorized `POST /things` whose body is a whole HTTP request.
fn smuggle(port: u16) -> e2e::Response {
    let wire = format!(
        "POST /things HTTP/1.1\r\nHost: {HOST}\r\nuser_key: {USER_KEY}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{SMUGGLED}",
        SMUGGLED.len()
    );
    send_raw(port, wire.as_bytes()).expect("an answer")
}

/// Every byte the client reads on one connection after an authorized `GET /things`.
fn raw_get(port: u16) -> String {
    let Ok(mut c) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return "no connection".into();
    };
    let _ = c.set_read_timeout(Some(Duration::from_secs(2)));
    let req = format!("GET /things HTTP/1.1\r\nHost: {HOST}\r\nuser_key: {USER_KEY}\r\n\r\n");
    let _ = c.write_all(req.as_bytes());
    let mut got = Vec::new();
    let _ = c.read_to_end(&mut got);
    String::from_utf8_lossy(&got).into_owned()
}

/// What the upstream got, one line a request.
fn upstream(s: &Stack) -> Vec<String> {
    (s.echo.requests().iter())
        .map(|r| format!("{} {} body {:?}", r.method, r.path, r.body))
        .collect()
}

#[test]
fn a_header_operation_on_content_length_or_transfer_encoding_is_refused() {
    let at = |i: usize, dir: &str| {
        format!("services[0].proxy.policy_chain[{i}].configuration.{dir}[0].header")
    };
    let set = |name: &str| json!([{"op": "set", "header": name, "value": "0"}]);
    for before in [true, false] {
        let i = if before { 0 } else { 1 };
        for name in ["Content-Length", "content_length", "Transfer-Encoding"] {
            let cfg = config(vec![service(
                1,
                json!(1),
                proxy("request", set(name), before),
            )]);
            refused_at_or(cfg, backend_state(), &[&at(i, "request")], |s| {
                let r = smuggle(s.port());
                let seen = upstream(s);
                let reps = s.authreps().len();
                panic!("request {name} before {before} accepted: {} {:?}; upstream {seen:?}; {reps} authrep(s)", r.status, r.body);
            });
        }
        let cfg = config(vec![service(
            1,
            json!(1),
            proxy("response", set("Content-Length"), before),
        )]);
        refused_at_or(cfg, backend_state(), &[&at(i, "response")], |s| {
            panic!(
                "response Content-Length accepted: the client read {:?}",
                raw_get(s.port())
            );
        });
    }
}

/// From 3scale System the service is skipped: the smuggling request is 404, nothing reaches
/// the upstream and the backend hears nothing of service 1; service 2 is served.
#[test]
fn a_system_service_setting_content_length_is_skipped_and_nothing_is_smuggled() {
    let set = json!([{"op": "set", "header": "Content-Length", "value": "0"}]);
    let (s, _mock) = served_beside(proxy("request", set, true));
    assert!(
        s.envoy
            .wait_for_log("frames the message", Duration::from_secs(2)),
        "service 1 was not skipped for its Content-Length operation"
    );
    let r = smuggle(s.port());
    assert_eq!(r.status, 404, "service 1 served: {}", describe(&r));
    std::thread::sleep(Duration::from_millis(300));
    let seen = upstream(&s);
    assert!(
        !seen
            .iter()
            .any(|r| r.contains("/things") || r.contains("/smuggled")),
        "the upstream got {seen:?}"
    );
    only_service_two_served(&s);
}

/// Without the operation the same request reaches the upstream once, with its body whole,
/// authorized and reported once; a response keeps its own length (a shape no other test
/// sends: a body that is itself a request).
#[test]
fn a_body_holding_a_request_reaches_the_upstream_as_that_body() {
    let keep = json!([{"op": "set", "header": "X-Tier", "value": "gold"}]);
    let s = Stack::start(config(vec![service(
        1,
        json!(1),
        proxy("request", keep, true),
    )]));
    let r = smuggle(s.port());
    assert_eq!(r.status, 200, "{}", describe(&r));
    assert!(
        wait_until(Duration::from_secs(2), || s.authreps().len() == 1),
        "authreps: {}",
        s.authreps().len()
    );
    std::thread::sleep(Duration::from_millis(300));
    let seen = s.echo.requests();
    assert_eq!(seen.len(), 1, "the upstream got {:?}", upstream(&s));
    assert_eq!(seen[0].path, "/things");
    assert_eq!(seen[0].body, SMUGGLED);
    assert_eq!(seen[0].header("x-tier"), Some("gold"));
    assert_eq!(s.authreps()[0].param("user_key"), Some(USER_KEY));
    let get = Request::get("/things")
        .header("Host", HOST)
        .header("user_key", USER_KEY)
        .send(s.port());
    assert_eq!(get.status, 200, "{}", describe(&get));
}

/// A `headers` `push` of `user_key` before `apicast` (the operator's key for callers without
/// one) beside a client's different `user_key`: the filter read the client's, so it was
/// authorized and metered as the client's while the upstream got both keys (frameworks that
/// read the last line served the operator's application). Now auth failed, as a key sent twice
/// with different values is. Without a key, or with the same one, the pushed key is used.
#[test]
fn a_pushed_credential_beside_the_clients_own_is_auth_failed() {
    let push = json!([{"op": "push", "header": "user_key", "value": USER_KEY}]);
    let s = Stack::start(config(vec![service(
        1,
        json!(1),
        proxy("request", push, true),
    )]));
    let get = |key: Option<&str>| {
        let mut r = Request::get("/things").header("Host", HOST);
        if let Some(k) = key {
            r = r.header("user_key", k);
        }
        r.send(s.port())
    };
    let r = get(Some("uk-disabled"));
    assert_eq!(r.status, 403, "{}", describe(&r));
    assert_eq!(r.body, "Authentication failed");
    assert_eq!(upstream(&s), Vec::<String>::new());
    assert_eq!(s.authreps().len(), 0, "the backend was asked");
    for key in [None, Some(USER_KEY)] {
        let r = get(key);
        assert_eq!(r.status, 200, "{key:?}: {}", describe(&r));
        let seen = r.echo();
        let keys: Vec<&str> = (seen.headers.iter())
            .filter(|(k, _)| k == "user_key")
            .map(|(_, v)| v.as_str())
            .collect();
        assert!(keys.iter().all(|k| *k == USER_KEY), "{key:?}: {keys:?}");
    }
    let asked: Vec<Option<String>> = (s.authreps().iter())
        .map(|a| a.param("user_key").map(str::to_string))
        .collect();
    assert_eq!(
        asked,
        [Some(USER_KEY.to_string()), Some(USER_KEY.to_string())]
    );
}
