//! A rule arg in a multipart field or a top-level JSON key (thirty-third session): a form
//! body giving an arg a matching rule reads another value was 400 ambiguous argument,
//! multipart and JSON bodies were not read for it, so `?scope=mine` with a multipart field
//! `scope=all` matched the rule on `scope=mine` and reached an upstream that merges body
//! fields over query args (PHP's `$_REQUEST`, Rack's `params`, Laravel's `input()`, Spring)
//! as `all`. Now 400 `Bad Request: ambiguous argument` on every method, in authrep and
//! batching mode (miss and hit); the upstream never has the whole body. The value the rules
//! read, or a field no rule reads, is served as before. And a compressed multipart or JSON
//! body on another method than `POST` was served unread even where its fields are compared:
//! now 400 `Bad Request: encoded body` there, served where nothing is compared.

mod support;

use serde_json::{json, Value};
use support::body_shapes::{send, upstream_got, Shape, MARK};
use support::cache::{stat, wait_stat};
use support::locations::*;
use support::*;
use tollgate_core::auth::digest::stored_form;

const AMBIGUOUS: (u16, &str) = (400, "Bad Request: ambiguous argument");
const ENCODED: (u16, &str) = (400, "Bad Request: encoded body");
const DENIED: &str = "requests_denied.bad_request";
const MP: &str = "multipart/form-data; boundary=b";
const JSON: &str = "application/json";
const SHAPES: [Shape; 4] = [
    Shape::Plain,
    Shape::Chunked,
    Shape::H2Frames,
    Shape::H2Trailers,
];

/// Rules on `scope=mine` and on an `id={id}` placeholder, and a catch-all.
fn rules() -> Value {
    let rule = |pattern: &str| {
        json!({"http_method": "ANY", "pattern": pattern, "metric_system_name": "hits",
            "delta": 1})
    };
    json!([rule("/r?scope=mine"), rule("/p?id={id}"), rule("/")])
}

/// 1: `user_key` in the query (authrep); 2: in the headers (batching); 3: a local key in a
/// header and a rule without args: nothing in a body is compared.
fn stack() -> Stack {
    let mut one = located(1, "query");
    one["proxy_rules"] = rules();
    let mut two = batched(located(2, "headers"));
    two["proxy_rules"] = rules();
    let local = json!({
        "id": 3,
        "authentication": {"mode": "local", "api_keys": {"header": "X-Api-Key",
            "keys": [{"id": "mine", "hash": stored_form("local-key")}]}},
        "proxy": {"hosts": [host(3)], "proxy_rules": [
            {"http_method": "ANY", "pattern": "/", "metric_system_name": "hits", "delta": 1}]}
    });
    let services = vec![service(1, json!(1), one), service(2, json!(1), two), local];
    let state = [("1", "1"), ("2", "1")]
        .iter()
        .fold(e2e::mock_backend::State::new(), |st, (id, v)| {
            mine_and_admin(st, id, v)
        });
    Stack::start_with(config(services), state, |b| {
        b.concurrency(2).http1_trailers()
    })
}

fn part(name: &str, value: &str) -> String {
    format!("--b\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n--b--\r\n")
}

/// (label, method, target without credentials, content type, body).
type Case = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    String,
);

fn refused_cases() -> Vec<Case> {
    vec![
        (
            "mp scope",
            "POST",
            "/r?scope=mine",
            MP,
            part("scope", "all"),
        ),
        (
            "json scope",
            "PUT",
            "/r?scope=mine",
            JSON,
            r#"{"x":1,"scope":"all"}"#.into(),
        ),
        (
            "mp Scope[]",
            "DELETE",
            "/r?scope=mine",
            MP,
            part("Scope[]", "all"),
        ),
        (
            "json SCOPE",
            "PATCH",
            "/r?scope=mine",
            JSON,
            r#"{"SCOPE":"all"}"#.into(),
        ),
        (
            "json array",
            "POST",
            "/r?scope=mine",
            JSON,
            r#"{"scope":["mine"]}"#.into(),
        ),
        ("mp placeholder", "PUT", "/p?id=7", MP, part("id", "8")),
        // The rule on `mine` did not match the query; the upstream would read `mine`.
        (
            "json dodge",
            "POST",
            "/r?scope=all",
            JSON,
            r#"{"scope":"mine"}"#.into(),
        ),
    ]
}

fn allowed_cases() -> Vec<Case> {
    vec![
        (
            "mp same",
            "POST",
            "/r?scope=mine",
            MP,
            part("scope", "mine"),
        ),
        (
            "json same",
            "PUT",
            "/r?scope=mine",
            JSON,
            r#"{"scope":"mine","n":2}"#.into(),
        ),
        ("json id", "PATCH", "/p?id=7", JSON, r#"{"id":"7"}"#.into()),
        (
            "mp other",
            "DELETE",
            "/r?scope=mine",
            MP,
            part("note", "all"),
        ),
        (
            "json nested",
            "POST",
            "/r?scope=mine",
            JSON,
            r#"{"a":{"scope":"all"}}"#.into(),
        ),
    ]
}

fn send_case(
    s: &Stack,
    id: u64,
    shape: Shape,
    case: &Case,
    extra: &[(&str, &str)],
) -> (u16, String) {
    let (label, method, target, ct, body) = case;
    let mark = mark(id, label, shape);
    let (target, mut headers) = match id {
        1 if target.contains('?') => (format!("{target}&user_key=uk-mine"), vec![]),
        1 => (format!("{target}?user_key=uk-mine"), vec![]),
        2 => (target.to_string(), vec![("User-Key", "uk-mine")]),
        _ => (target.to_string(), vec![("X-Api-Key", "local-key")]),
    };
    headers.push(("Content-Type", ct));
    headers.extend_from_slice(extra);
    send(
        s.port(),
        shape,
        method,
        &host(id),
        &target,
        &headers,
        body.as_bytes(),
        &mark,
    )
}

fn mark(id: u64, label: &str, shape: Shape) -> String {
    format!("{id} {label} {shape:?}")
}

/// The bodies the upstream received for requests marked `mark`.
fn upstream_bodies(s: &Stack, mark: &str) -> Vec<String> {
    (s.echo.requests().into_iter())
        .filter(|r| r.header(MARK) == Some(mark))
        .map(|r| r.body)
        .collect()
}

/// Each refused case on service `id` in each shape: 400 ambiguous argument, counted as a bad
/// request; the upstream never has the whole body.
fn assert_refused(s: &Stack, id: u64, round: &str) {
    for case in refused_cases() {
        for shape in SHAPES {
            let label = format!("{round} {}", case.0);
            let denied = stat(&s.envoy, DENIED);
            let got = send_case(s, id, shape, &case, &[]);
            let mark = mark(id, case.0, shape);
            assert_eq!((got.0, got.1.as_str()), AMBIGUOUS, "{label} {mark}");
            let counted = wait_stat(
                &s.envoy,
                DENIED,
                denied + 1,
                std::time::Duration::from_secs(2),
            );
            assert_eq!(counted, denied + 1, "{label} {mark}");
            for body in upstream_bodies(s, &mark) {
                assert!(
                    body.len() < case.4.len(),
                    "{label} {mark}: upstream got {body:?}"
                );
            }
        }
    }
}

#[test]
fn a_multipart_or_json_rule_arg_other_than_the_one_matched_is_refused() {
    let s = stack();
    // Cold: service 2's first requests are batching misses; hits once it is warm.
    for id in [1, 2] {
        assert_refused(&s, id, "cold");
    }
    for id in [1, 2] {
        for case in allowed_cases() {
            for shape in [Shape::Plain, Shape::Chunked, Shape::H2Frames] {
                let mark = mark(id, case.0, shape);
                let got = send_case(&s, id, shape, &case, &[]);
                assert_eq!(got.0, 200, "{mark}: {got:?}");
                assert_eq!(upstream_bodies(&s, &mark), vec![case.4.clone()], "{mark}");
            }
        }
    }
    assert_refused(&s, 2, "warm");
    // The backend heard of the caller only.
    let backend: Vec<String> = (s.backend.requests().into_iter())
        .map(|r| r.raw_query)
        .collect();
    assert!(backend.iter().all(|q| !q.contains("all")), "{backend:?}");
}

#[test]
fn a_compressed_body_whose_fields_are_compared_is_refused_on_every_method() {
    let s = stack();
    let gzip = [("Content-Encoding", "gzip")];
    let body = part("user_key", "uk-admin");
    for (method, shape) in [
        ("PUT", Shape::Plain),
        ("DELETE", Shape::Chunked),
        ("PATCH", Shape::H2Frames),
    ] {
        let case = ("gzip", method, "/a", MP, body.clone());
        let got = send_case(&s, 1, shape, &case, &gzip);
        assert_eq!((got.0, got.1.as_str()), ENCODED, "{method} {shape:?}");
        assert_eq!(
            upstream_got(&s, &mark(1, "gzip", shape)),
            Vec::<String>::new()
        );
        // A rule arg compared, on a service reading credentials from the headers.
        let case = (
            "gzip json",
            method,
            "/r?scope=mine",
            JSON,
            r#"{"scope":"all"}"#.into(),
        );
        let got = send_case(&s, 2, shape, &case, &gzip);
        assert_eq!((got.0, got.1.as_str()), ENCODED, "{method} {shape:?}");
        assert_eq!(
            upstream_got(&s, &mark(2, "gzip json", shape)),
            Vec::<String>::new()
        );
        // Nothing compared: served unread, as before.
        let got = send_case(&s, 3, shape, &case, &gzip);
        assert_eq!(got.0, 200, "{method} {shape:?}: {got:?}");
        let mark = mark(3, "gzip json", shape);
        assert_eq!(upstream_bodies(&s, &mark), vec![case.4.clone()], "{mark}");
    }
}
