//! A credential in a multipart field or a top-level JSON key (found in the thirty-second
//! session): form bodies were compared with the credential checked, multipart and JSON
//! bodies were not, so `?user_key=uk-mine` with a multipart field `user_key=uk-admin` (or a
//! JSON body `{"user_key":"uk-admin"}`) was authorized and metered as `uk-mine` and reached
//! an upstream that reads the body's (PHP's `$_REQUEST`, Rack's `params`, Spring; Laravel's
//! `input()` and Rails merge a JSON body's keys). Now auth failed (403) on every method, in
//! authrep and batching mode (miss and hit), whatever the body's shape; the upstream never
//! has the body, and the backend never hears of `uk-admin`. The same value, a nested key, or
//! a body without credential names is served as before.

mod support;

use e2e::mock_backend::State;
use serde_json::{json, Value};
use support::body_shapes::{send, Shape, MARK};
use support::locations::*;
use support::*;
use tollgate_core::auth::digest::stored_form;

const FAILED: (u16, &str) = (403, "Authentication failed");
const KEY: &str = "local-key-mine";
const MP: &str = "multipart/form-data; boundary=b";
const JSON: &str = "application/json";
/// Every shape but the slow one (two bytes each 150 ms: these bodies are longer than forms).
const SHAPES: [Shape; 6] = [
    Shape::Plain,
    Shape::Chunked,
    Shape::Expect,
    Shape::Trailers,
    Shape::H2Frames,
    Shape::H2Trailers,
];

/// 1: version 1 in the query (authrep); 2: version 1 in the headers (batching); 3: version 2
/// in the query (authrep); 4: local API keys in the query.
fn stack() -> Stack {
    let local = json!({
        "id": 4,
        "authentication": {"mode": "local", "api_keys": {"query": "api_key",
            "keys": [{"id": "mine", "hash": stored_form(KEY)}]}},
        "proxy": {"hosts": [host(4)], "proxy_rules": [
            {"http_method": "ANY", "pattern": "/", "metric_system_name": "hits", "delta": 1}]}
    });
    let services: Vec<Value> = vec![
        service(1, json!(1), located(1, "query")),
        service(2, json!(1), batched(located(2, "headers"))),
        service(3, json!(2), located(3, "query")),
        local,
    ];
    let state = [("1", "1"), ("2", "1"), ("3", "2")]
        .iter()
        .fold(State::new(), |st, (id, v)| mine_and_admin(st, id, v));
    Stack::start_with(config(services), state, |b| {
        b.concurrency(2).http1_trailers()
    })
}

fn part(name: &str, value: &str) -> String {
    format!("--b\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n--b--\r\n")
}

/// (label, method, service, content type, body): the caller's credentials where the
/// service reads them.
type Case = (&'static str, &'static str, u64, &'static str, String);

fn refused_cases() -> Vec<Case> {
    vec![
        ("mp user_key", "POST", 1, MP, part("user_key", "uk-admin")),
        (
            "json user_key",
            "PUT",
            1,
            JSON,
            r#"{"x":1,"user_key":"uk-admin"}"#.into(),
        ),
        ("mp user.key", "DELETE", 2, MP, part("user.key", "uk-admin")),
        ("json number", "PATCH", 2, JSON, r#"{"user_key":7}"#.into()),
        (
            "json app_id",
            "POST",
            3,
            JSON,
            r#"{"app_id":"admin"}"#.into(),
        ),
        ("mp app_key", "PUT", 3, MP, part("app_key", "k-admin")),
        (
            "json api_key",
            "POST",
            4,
            JSON,
            r#"{"api_key":"other"}"#.into(),
        ),
    ]
}

fn allowed_cases() -> Vec<Case> {
    vec![
        ("same user_key", "POST", 1, MP, part("user_key", "uk-mine")),
        (
            "nested user_key",
            "PUT",
            2,
            JSON,
            r#"{"a":{"user_key":"uk-admin"},"user_key":"uk-mine"}"#.into(),
        ),
        ("no credential", "PATCH", 3, MP, part("note", "admin")),
        (
            "same api_key",
            "POST",
            4,
            JSON,
            format!(r#"{{"api_key":"{KEY}"}}"#),
        ),
    ]
}

/// The target and headers of service `id`'s caller.
fn caller(id: u64) -> (&'static str, Vec<(&'static str, &'static str)>) {
    match id {
        1 => ("/a?user_key=uk-mine", vec![]),
        2 => ("/a", vec![("User-Key", "uk-mine")]),
        3 => ("/a?app_id=mine&app_key=k-mine", vec![]),
        _ => ("/a?api_key=local-key-mine", vec![]),
    }
}

fn send_case(s: &Stack, shape: Shape, case: &Case, mark: &str) -> (u16, String) {
    let (_, method, id, ct, body) = case;
    let (target, mut headers) = caller(*id);
    headers.push(("Content-Type", ct));
    let host = host(*id);
    send(
        s.port(),
        shape,
        method,
        &host,
        target,
        &headers,
        body.as_bytes(),
        mark,
    )
}

/// The bodies the upstream received for requests marked `mark`.
fn upstream_bodies(s: &Stack, mark: &str) -> Vec<String> {
    (s.echo.requests().into_iter())
        .filter(|r| r.header(MARK) == Some(mark))
        .map(|r| r.body)
        .collect()
}

/// The backend requests since `from`, as their query and body.
fn backend_since(s: &Stack, from: usize) -> Vec<String> {
    (s.backend.requests().into_iter().skip(from))
        .map(|r| format!("{} {}", r.raw_query, r.body))
        .collect()
}

/// Each refused case in `shapes`: auth failed; the upstream never has the whole body; the
/// backend asked about the caller's credentials only (authrep: authorized and metered
/// before the body came, as a `_method`'s refusal is).
fn assert_refused(s: &Stack, shapes: &[Shape], round: &str) {
    for case in refused_cases() {
        for shape in shapes {
            let mark = format!("{round} {} {shape:?}", case.0);
            let from = s.backend.requests().len();
            let got = send_case(s, *shape, &case, &mark);
            assert_eq!((got.0, got.1.as_str()), FAILED, "{mark}");
            std::thread::sleep(std::time::Duration::from_millis(50));
            for body in upstream_bodies(s, &mark) {
                assert!(body.len() < case.4.len(), "{mark}: upstream got {body:?}");
            }
            let backend = backend_since(s, from);
            assert!(
                backend.iter().all(|r| !r.contains("admin")),
                "{mark}: backend {backend:?}"
            );
            if matches!(case.2, 1 | 3) {
                let mine = ["user_key=uk-mine", "app_id=mine"];
                assert!(
                    backend.iter().any(|r| mine.iter().any(|m| r.contains(m))),
                    "{mark}: backend {backend:?}"
                );
            }
        }
    }
}

#[test]
fn a_multipart_or_json_credential_other_than_the_one_checked_is_auth_failed() {
    let s = stack();
    // Cold: service 2's first requests are batching misses; then hits once it is warm.
    assert_refused(&s, &SHAPES, "cold");
    for case in allowed_cases() {
        for shape in [Shape::Plain, Shape::H2Frames] {
            let mark = format!("{} {shape:?}", case.0);
            let got = send_case(&s, shape, &case, &mark);
            assert_eq!(got.0, 200, "{mark}: {got:?}");
            assert_eq!(upstream_bodies(&s, &mark), vec![case.4.clone()], "{mark}");
        }
    }
    assert_refused(
        &s,
        &[Shape::Plain, Shape::Chunked, Shape::H2Trailers],
        "warm",
    );
}
