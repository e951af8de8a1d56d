//! The chain's header, status and CORS policies through the worker: a preflight before and
//! after `apicast`, the chain's order between maintenance and a preflight, denials and
//! forwards with their response phase, as the adapter applies it.

use super::tests::{config, cors_default, op, respond, APICAST, PREFLIGHT};
use super::*;
use crate::backend::BackendAnswer;
use crate::cache::MemoryStore;
use crate::pipeline::{CallPurpose, Clock, RequestLine, Step, Steps, Worker};
use serde_json::{json, Value};
use std::rc::Rc;
use EditOp::{Delete, Set};

struct Headers(Vec<(&'static str, &'static str)>);
impl HeaderSource for Headers {
    fn header(&self, name: &str) -> Option<String> {
        let found = self.0.iter().find(|(k, _)| k.eq_ignore_ascii_case(name));
        found.map(|(_, v)| v.to_string())
    }
}

struct Now;
impl Clock for Now {
    fn now_ms(&self) -> Option<u64> {
        Some(1_000_000)
    }
}

fn worker(chain: Value) -> Worker {
    let c = Rc::new(config(chain));
    Worker::new(c, Box::new(MemoryStore::default()), Box::new(Now))
}

fn request(
    w: &mut Worker,
    id: u32,
    method: &str,
    path: &str,
    h: &[(&'static str, &'static str)],
) -> Steps {
    let line = RequestLine {
        method,
        authority: "api",
        path,
    };
    w.on_request_headers(id, line, &Headers(h.to_vec()), true)
}

/// The reply of request `id` as the client gets it: the response phase the worker keeps
/// for the request applied, as the adapter does.
fn reply_of(w: &Worker, id: u32, steps: &Steps) -> LocalReply {
    let reply = match steps.list.as_slice() {
        [Step::Reply { request, reply }] if *request == id => reply.clone(),
        other => panic!("expected one reply: {other:?}"),
    };
    match w.response_policies(id) {
        Some(p) => respond(p, reply),
        None => reply,
    }
}

fn header<'a>(r: &'a LocalReply, name: &str) -> Option<&'a str> {
    let found = r.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name));
    found.map(|(_, v)| v.as_str())
}

/// Sends the authrep call the steps ask for, and the backend's `status`.
fn backend(w: &mut Worker, request: u32, steps: Steps, status: u16) -> Steps {
    let Some(Step::Call { purpose, .. }) = steps.list.into_iter().next() else {
        panic!("expected a backend call");
    };
    assert!(matches!(purpose, CallPurpose::Authrep { .. }));
    w.on_call_sent(7, purpose, request);
    let answer = BackendAnswer {
        status: Some(status),
        ..Default::default()
    };
    w.on_backend_answer(7, Some(answer))
}

#[test]
fn a_preflight_before_apicast_is_answered_without_credentials_or_backend() {
    let mut w = worker(json!([cors_default(), APICAST()]));
    let steps = request(&mut w, 1, "OPTIONS", "/things", &PREFLIGHT);
    let r = reply_of(&w, 1, &steps);
    assert_eq!(
        (r.status, r.outcome, r.body.as_str()),
        (204, Outcome::Preflight, "")
    );
    assert_eq!(header(&r, "access-control-allow-methods"), Some("GET"));
    assert_eq!(
        header(&r, "access-control-allow-origin"),
        Some("http://example.com")
    );
    assert_eq!(header(&r, "access-control-max-age"), Some("600"));
    // Not a preflight: OPTIONS without Access-Control-Request-Method, or another method.
    for (method, h) in [("OPTIONS", &PREFLIGHT[..1]), ("GET", &PREFLIGHT[..])] {
        let steps = request(&mut w, 2, method, "/things", h);
        let r = reply_of(&w, 2, &steps);
        assert_eq!(r.status, 401, "{method}");
        assert_eq!(
            header(&r, "access-control-allow-origin"),
            Some("http://example.com")
        );
    }
}

#[test]
fn a_preflight_with_cors_after_apicast_needs_credentials_first() {
    let mut w = worker(json!([APICAST(), cors_default()]));
    let r = request(&mut w, 1, "OPTIONS", "/things", &PREFLIGHT);
    let r = reply_of(&w, 1, &r);
    assert_eq!(r.status, 401, "apicast's rewrite runs first");
    assert_eq!(
        header(&r, "access-control-allow-origin"),
        Some("http://example.com")
    );
    // With credentials: answered, no backend call, although no rule matches OPTIONS.
    let steps = request(&mut w, 2, "OPTIONS", "/things?user_key=k", &PREFLIGHT);
    let r = reply_of(&w, 2, &steps);
    assert_eq!((r.status, r.outcome), (204, Outcome::Preflight));
    assert_eq!(header(&r, "access-control-allow-credentials"), Some("true"));
}

#[test]
fn a_preflight_is_answered_before_maintenance_mode_whatever_the_order() {
    // APIcast answers it in its rewrite phase; maintenance_mode acts in its access phase.
    let maintenance = json!({"name": "maintenance_mode"});
    for chain in [
        json!([cors_default(), maintenance, APICAST()]),
        json!([maintenance, cors_default(), APICAST()]),
    ] {
        let mut w = worker(chain);
        let steps = request(&mut w, 1, "OPTIONS", "/", &PREFLIGHT);
        let r = reply_of(&w, 1, &steps);
        assert_eq!((r.status, r.outcome), (204, Outcome::Preflight));
        // Any other request gets the maintenance answer, with the CORS headers.
        let steps = request(&mut w, 2, "GET", "/?user_key=k", &PREFLIGHT);
        let r = reply_of(&w, 2, &steps);
        assert_eq!((r.status, r.outcome), (503, Outcome::Maintenance));
        assert_eq!(
            header(&r, "access-control-allow-origin"),
            Some("http://example.com")
        );
    }
    // With cors after apicast: credentials first, then the preflight, never maintenance.
    let mut w = worker(json!([APICAST(), cors_default(), maintenance]));
    let steps = request(&mut w, 1, "OPTIONS", "/", &PREFLIGHT);
    assert_eq!(reply_of(&w, 1, &steps).status, 401);
    let steps = request(&mut w, 2, "OPTIONS", "/?user_key=k", &PREFLIGHT);
    assert_eq!(reply_of(&w, 2, &steps).status, 204);
    let steps = request(&mut w, 3, "GET", "/?user_key=k", &PREFLIGHT);
    assert_eq!(reply_of(&w, 3, &steps).status, 503);
}

#[test]
fn denials_and_forwards_go_through_the_response_phase() {
    let chain = json!([cors_default(), APICAST(),
        {"name": "statuscode_overwrite", "configuration": {"http_statuses": [{"upstream": 403, "apicast": 401}]}},
        {"name": "headers", "configuration": {"request": [
            {"op": "set", "header": "X-Tenant", "value": "t1"},
            {"op": "delete", "header": "X-Internal"}]}}]);
    let mut w = worker(chain);
    // A denial by the backend: overwritten, with CORS headers.
    let steps = request(&mut w, 1, "GET", "/?user_key=bad", &PREFLIGHT);
    let steps = backend(&mut w, 1, steps, 403);
    let r = reply_of(&w, 1, &steps);
    assert_eq!((r.status, r.outcome), (401, Outcome::AuthFailed));
    assert_eq!(
        header(&r, "access-control-allow-origin"),
        Some("http://example.com")
    );
    assert!(r
        .headers
        .contains(&("content-type".into(), "text/plain; charset=utf-8".into())));
    // Authorized: the operations go upstream before Tollgate's own headers; the response
    // phase stays until Envoy is done with the request.
    let steps = request(&mut w, 2, "GET", "/?user_key=good", &[("x-internal", "1")]);
    let steps = backend(&mut w, 2, steps, 200);
    let [Step::Forward {
        edit_request_headers,
        secret_token,
        ..
    }] = steps.list.as_slice()
    else {
        panic!("expected a forward: {steps:?}");
    };
    assert_eq!(
        edit_request_headers,
        &[op(Set, "X-Tenant", "t1"), op(Delete, "X-Internal", "")]
    );
    assert_eq!(secret_token.as_deref(), Some("s3cret"));
    assert!(w.remembers(2), "the chain's response phase must run");
    let (status, _) = w
        .response_policies(2)
        .unwrap()
        .response(Some(403), &|_| false);
    assert_eq!(status, Some(401));
    w.on_request_done(2);
    assert!(w.response_policies(2).is_none());
}

#[test]
fn ip_check_denials_get_the_response_phase_and_a_preflight_is_answered_before_them() {
    let ip_check = json!({"name": "ip_check", "configuration": {"check_type": "blacklist",
        "ips": ["10.0.0.0/8"], "client_ip_sources": ["X-Forwarded-For"]}});
    let mut w = worker(json!([ip_check, cors_default(), APICAST()]));
    let mut denied = PREFLIGHT.to_vec();
    denied.push(("X-Forwarded-For", "10.1.2.3"));
    let steps = request(&mut w, 1, "GET", "/?user_key=k", &denied);
    let r = reply_of(&w, 1, &steps);
    assert_eq!((r.status, r.outcome), (403, Outcome::IpDenied));
    assert_eq!(
        header(&r, "access-control-allow-origin"),
        Some("http://example.com")
    );
    // APIcast answers the preflight in its rewrite phase, before ip_check's access phase.
    let steps = request(&mut w, 2, "OPTIONS", "/", &denied);
    assert_eq!(reply_of(&w, 2, &steps).status, 204);
}

/// `[cors, statuscode_overwrite 400 → 422, ...rest, apicast]`.
fn overwriting_400(rest: &[Value]) -> crate::config::Config {
    let mut chain = vec![
        cors_default(),
        json!({"name": "statuscode_overwrite", "configuration": {"http_statuses": [{"upstream": 400, "apicast": 422}]}}),
    ];
    chain.extend_from_slice(rest);
    chain.push(APICAST());
    config(Value::Array(chain))
}

/// The reply of `steps` gets the CORS headers and the status overwrite.
fn assert_overwritten(w: &Worker, id: u32, steps: &Steps, outcome: Outcome) {
    let r = reply_of(w, id, steps);
    assert_eq!((r.status, r.outcome), (422, outcome), "{r:?}");
    assert_eq!(
        header(&r, "access-control-allow-origin"),
        Some("http://example.com")
    );
}

const FORM_WITH_ORIGIN: [(&str, &str); 2] = [
    ("Origin", "http://example.com"),
    ("Content-Type", "application/x-www-form-urlencoded"),
];

/// Found by an audit, 2026-12-06: refusals decided with the request's head went without the
/// response phase of their (known) service.
#[test]
fn a_body_that_cannot_be_read_is_refused_through_the_response_phase() {
    let mut c = overwriting_400(&[]);
    c.read_request_bodies = false;
    let mut w = Worker::new(Rc::new(c), Box::new(MemoryStore::default()), Box::new(Now));
    let line = RequestLine {
        method: "POST",
        authority: "api",
        path: "/?user_key=k",
    };
    let steps = w.on_request_headers(1, line, &Headers(FORM_WITH_ORIGIN.to_vec()), false);
    assert_overwritten(&w, 1, &steps, Outcome::BadRequest);
    assert_eq!(reply_of(&w, 1, &steps).body, LocalReply::unread_body().body);
}

/// A request held for its body that then fails (a host call, or Envoy's 413 over its buffer
/// limit) is answered through the response phase too.
#[test]
fn a_request_waiting_for_its_body_keeps_the_response_phase() {
    let mut w = Worker::new(
        Rc::new(overwriting_400(&[])),
        Box::new(MemoryStore::default()),
        Box::new(Now),
    );
    let line = RequestLine {
        method: "POST",
        authority: "api",
        path: "/?user_key=k",
    };
    let steps = w.on_request_headers(1, line, &Headers(FORM_WITH_ORIGIN.to_vec()), false);
    assert!(steps.list.is_empty() && !steps.proceed, "held: {steps:?}");
    assert!(
        w.response_policies(1).is_some(),
        "Envoy's 413 gets CORS headers"
    );
    let steps = w.on_host_error(1);
    let r = reply_of(&w, 1, &steps);
    assert_eq!((r.status, r.outcome), (500, Outcome::InternalError));
    assert_eq!(
        header(&r, "access-control-allow-origin"),
        Some("http://example.com")
    );
}

#[test]
#[cfg(feature = "rewrite")]
fn a_refused_rewrite_is_answered_through_the_response_phase() {
    let semicolon = json!({"name": "url_rewriting", "configuration": {"commands": [
        {"op": "sub", "regex": "^/x", "replace": "/a;b"}]}});
    let c = overwriting_400(&[semicolon]);
    let mut w = Worker::new(Rc::new(c), Box::new(MemoryStore::default()), Box::new(Now));
    let steps = request(&mut w, 1, "GET", "/x?user_key=k", &FORM_WITH_ORIGIN[..1]);
    assert_overwritten(&w, 1, &steps, Outcome::BadRequest);
    assert_eq!(
        reply_of(&w, 1, &steps).body,
        LocalReply::ambiguous_path().body
    );
    // Refusals before a service is chosen have no response phase to run.
    let steps = request(&mut w, 2, "GET", "/a;b?user_key=k", &FORM_WITH_ORIGIN[..1]);
    assert_eq!(reply_of(&w, 2, &steps).status, 400);
    assert!(w.response_policies(2).is_none());
}

/// A trailer a request `set` or `delete` names, in any spelling, is one the adapter removes;
/// a `push` (a value beside the client's) and other names are left (found by an audit,
/// 2026-12-07: trailers reached upstreams that merge them into the headers).
#[test]
fn trailers_named_by_a_set_or_delete_are_replaced() {
    let headers = json!({"name": "headers", "configuration": {"request": [
        {"op": "set", "header": "X-Consumer-Tier", "value": "gold"},
        {"op": "delete", "header": "X-User-Id"},
        {"op": "set", "header": "X-Empty", "value": ""},
        {"op": "push", "header": "X-Pushed", "value": "1"}]}});
    let mut w = worker(json!([APICAST(), headers]));
    request(&mut w, 1, "GET", "/?user_key=k", &[]);
    let p = w.response_policies(1).expect("kept for the response phase");
    for name in [
        "x-consumer-tier",
        "X_Consumer_Tier",
        "x-user-id",
        "x_user-id",
        "x-empty",
    ] {
        assert!(p.replaces_request_header(name.as_bytes()), "{name}");
    }
    for name in ["x-pushed", "x-checksum", "x-consumer-tiers"] {
        assert!(!p.replaces_request_header(name.as_bytes()), "{name}");
    }
}
