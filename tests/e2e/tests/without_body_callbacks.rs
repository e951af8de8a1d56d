//! Envoy without `allow_on_headers_stop_iteration` (Envoy's default, and what Istio's
//! `WasmPlugin` and Envoy Gateway configure): a filter holding the headers gets no body until
//! it lets the request go, so a request whose decision needs its body (a form `POST`, read
//! for credentials, rule args and `_method`; a `POST` body without a `Content-Type`) would
//! wait for good (found by an audit, 2026-12-06: such requests hung until Envoy's stream
//! timeout). With `read_request_bodies: false` the filter refuses them at once; every other
//! shape is decided as before. Crossed with every request shape in authrep, batching and
//! local mode: the upstream and the backend see nothing of a refused request.

mod support;

use e2e::Request;
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use support::adversarial::{assert_none, run_and_check, traps, Case, Expect, Shape, SHAPES};
use support::*;
use tollgate_core::auth::digest::stored_form;

const UNREAD: &str = "Bad Request: request body not readable here";

fn host(id: u64) -> String {
    format!("s{id}.example.com")
}

/// Service 1 authrep, 2 batching (`3scale_batcher`), 3 local (an API key in `user_key`),
/// `read_request_bodies: false`.
fn stack() -> Stack {
    stack_reading_bodies(false)
}

fn stack_reading_bodies(read_request_bodies: bool) -> Stack {
    let rules = json!({"proxy_rules": [
        {"http_method": "ANY", "pattern": "/", "metric_system_name": "hits", "delta": 1}]});
    let apicast = json!({"name": "apicast", "version": "builtin"});
    let batcher = json!({"name": "3scale_batcher",
        "configuration": {"auths_ttl": 30, "batch_report_seconds": 30}});
    let services: Vec<Value> = (1..=3)
        .map(|id| {
            let mut proxy = rules.clone();
            proxy["hosts"] = json!([host(id)]);
            if id == 2 {
                proxy["policy_chain"] = json!([apicast, batcher]);
            }
            let mut svc = service(id, json!(1), proxy);
            if id == 3 {
                svc["authentication"] = json!({"mode": "local", "api_keys": {"query": "user_key",
                    "keys": [{"id": "k1", "hash": stored_form(USER_KEY)}]}});
            }
            svc
        })
        .collect();
    let mut cfg = config(services);
    cfg["read_request_bodies"] = json!(read_request_bodies);
    let mut state = e2e::mock_backend::State::new();
    for id in ["1", "2"] {
        let svc = e2e::mock_backend::Service::new(id)
            .token(TOKEN)
            .backend_version("1")
            .metric("hits", None);
        state = state.service(svc).app(
            e2e::mock_backend::App::new(id, &format!("app-{id}"))
                .user_key(USER_KEY)
                .plan("Basic"),
        );
    }
    Stack::start_with(cfg, state, |b| {
        b.stop_all_iteration().http1_trailers().concurrency(2)
    })
}

/// Each request shape on each service: a form body (needed for the decision) refused with
/// 400, the others allowed.
fn every_shape_of_every_service() -> Vec<(String, Shape, Case, Expect)> {
    let mut cases = Vec::new();
    for id in 1..=3 {
        for shape in SHAPES {
            let case = Case::new(&host(id), &format!("/things?user_key={USER_KEY}"));
            let expect = match shape {
                Shape::Form | Shape::H2Form => Expect::Denied(400, UNREAD),
                _ => Expect::Allowed,
            };
            cases.push((format!("service {id}/{shape:?}"), shape, case, expect));
        }
    }
    cases
}

#[test]
fn a_request_needing_its_body_is_refused_at_once_in_every_shape_and_mode() {
    let s = stack();
    let cases = every_shape_of_every_service();
    let failures = run_and_check(&s, &cases, 4);
    assert_none("without body callbacks", &failures, cases.len());
    assert!(traps(&s).is_empty(), "{:?}", traps(&s));
    // The local service never asks the backend; the others asked about their own only.
    let asked: Vec<String> = (s.backend.requests().iter())
        .filter_map(|r| r.param("service_id").map(str::to_string))
        .collect();
    assert!(asked.iter().all(|id| id == "1" || id == "2"), "{asked:?}");
    assert_eq!(
        asked.iter().filter(|id| *id == "1").count(),
        SHAPES.len() - 2,
        "one authrep per allowed call of service 1: {asked:?}"
    );
}

/// Left at `read_request_bodies: true` (the default) under such an Envoy, a request held for
/// its body got none and waited until the client gave up (Istio sets no stream timeout). The
/// filter's timer now answers it with the same 400 once it has waited 5 s without a byte,
/// and logs what to set; every other shape is decided at once, as before.
#[test]
fn left_reading_bodies_a_request_whose_body_never_comes_is_refused_after_five_seconds() {
    let s = stack_reading_bodies(true);
    let cases = every_shape_of_every_service();
    let started = Instant::now();
    let failures = run_and_check(&s, &cases, cases.len());
    let took = started.elapsed();
    assert_none("bodies never delivered", &failures, cases.len());
    assert!(
        (Duration::from_millis(4_900)..Duration::from_secs(15)).contains(&took),
        "the held requests are answered after 5 s, not at once nor never: {took:?}"
    );
    assert!(traps(&s).is_empty(), "{:?}", traps(&s));
    let asked: Vec<String> = (s.backend.requests().iter())
        .filter_map(|r| r.param("service_id").map(str::to_string))
        .collect();
    assert_eq!(
        asked.iter().filter(|id| *id == "1").count(),
        SHAPES.len() - 2,
        "one authrep per allowed call of service 1, none for a refused one: {asked:?}"
    );
    let log = s.envoy.log();
    assert!(
        log.contains("a request held for its body got none in 5 s")
            && log.contains("set read_request_bodies: false"),
        "the log says what to set"
    );
}

#[test]
fn a_post_body_without_a_content_type_or_a_delete_form_is_refused_and_a_form_post_without_a_body_is_not(
) {
    let s = stack();
    let send = |req: Request| {
        req.header("Host", &host(1))
            .timeout(Duration::from_secs(10))
            .try_send(s.port())
            .expect("an answer, not a request waiting for good")
    };
    let target = format!("/things?user_key={USER_KEY}");
    let r = send(Request::post(&target).body("user_key=other"));
    assert_eq!((r.status, r.body.as_str()), (400, UNREAD));
    let r = send(Request::post(&target).form(&[("_method", "DELETE")]));
    assert_eq!((r.status, r.body.as_str()), (400, UNREAD));
    // A form body on `DELETE`, compared with the query's key on a service reading it there.
    let r = send(Request::delete(&target).form(&[("user_key", "other")]));
    assert_eq!((r.status, r.body.as_str()), (400, UNREAD));
    assert!(s.echo.requests().is_empty(), "{:?}", s.echo.requests());
    assert!(s.backend.requests().is_empty());
    // No body: nothing to wait for.
    let r =
        send(Request::post(&target).header("Content-Type", "application/x-www-form-urlencoded"));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.echo().method, "POST");
    assert_eq!(s.echo.requests().len(), 1);
    assert_eq!(s.authreps().len(), 1);
}
