//! Batching: a request forwarded from the cache at its headers whose multipart or JSON body
//! then turns out to hold a `_method` (400) or another credential (403) is refused as the
//! body streams, its upstream reset before it has the whole body. Until the thirty-fourth
//! session its call had been counted at the verdict: reported to 3scale (with response
//! codes, as a call without a code) and taken from the application's limit budget, so a
//! client's refused uploads spent its plan's limit and were billed. Now such a call is
//! neither reported nor charged to the budget, on a cache miss (the body after the verdict)
//! and a hit, with and without response codes; the calls the upstream served are reported
//! exactly.

mod support;

use e2e::mock_backend::{App, Period};
use e2e::Request;
use serde_json::json;
use std::time::Duration;
use support::batching::assert_reported_exactly;
use support::body_shapes::{send, Shape, MARK};
use support::cache::{authrep_calls, pin_clock, wait_until};
use support::pieces::{orders_rules, upstream_bodies};
use support::*;

const KEY: &str = "uk-six";
const LIMIT: u64 = 6;
const MP: &str = "multipart/form-data; boundary=b";
const JSON: &str = "application/json";

fn part(name: &str, value: &str) -> String {
    format!("--b\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n--b--\r\n")
}

fn stack(codes: bool) -> Stack {
    let mut c = config(vec![service(
        1,
        json!(1),
        json!({"proxy_rules": orders_rules()}),
    )]);
    c["backend"]["batching"] = json!({"auths_ttl": 60, "batch_report_seconds": 1});
    c["backend"]["report_response_codes"] = json!(codes);
    let app =
        App::new("1", "app-six")
            .user_key(KEY)
            .plan("Six")
            .limit("hits", Period::Minute, LIMIT);
    Stack::start_with(c, backend_state().app(app), |b| b.concurrency(2))
}

fn post(s: &Stack, shape: Shape, content_type: &str, body: &str, mark: &str) -> (u16, String) {
    let target = format!("/orders/7?user_key={KEY}");
    let headers = [("Content-Type", content_type)];
    let line = (s.port(), shape, "POST", "api.example.com");
    send(
        line.0,
        line.1,
        line.2,
        line.3,
        &target,
        &headers,
        body.as_bytes(),
        mark,
    )
}

fn refused_then_served(codes: bool) {
    let s = stack(codes);
    pin_clock(&s.backend, 1);
    // A miss: the backend answers before the body comes (`Expect` sends it 300 ms later).
    s.backend.set_latency(Duration::from_millis(100));
    let refusals = [
        (Shape::Expect, MP, part("_method", "DELETE"), 400),
        (Shape::Plain, MP, part("_method", "DELETE"), 400),
        (
            Shape::Chunked,
            JSON,
            r#"{"item":1,"_method":"DELETE"}"#.into(),
            400,
        ),
        (Shape::H2Trailers, MP, part("user_key", "uk-other"), 403),
    ];
    for (i, (shape, ct, body, status)) in refusals.iter().enumerate() {
        let mark = format!("refused-{i}");
        let (got, text) = post(&s, *shape, ct, body, &mark);
        assert_eq!(got, *status, "{codes} {mark} {shape:?}: {text}");
        for seen in upstream_bodies(&s, &mark) {
            assert_ne!(
                &seen, body,
                "{codes} {mark}: the upstream had the whole body"
            );
        }
        s.backend.set_latency(Duration::ZERO);
    }
    // The plan's whole limit is left for the calls the upstream serves.
    for i in 0..LIMIT {
        let mark = format!("served-{i}");
        let body = match i % 2 {
            0 => part("item", "42"),
            _ => r#"{"item":42}"#.to_string(),
        };
        let ct = if i % 2 == 0 { MP } else { JSON };
        let (got, text) = post(&s, Shape::Plain, ct, &body, &mark);
        assert_eq!(got, 200, "{codes} {mark}: {text}");
        assert_eq!(upstream_bodies(&s, &mark), vec![body], "{codes} {mark}");
    }
    let over = Request::new("POST", &format!("/orders/7?user_key={KEY}"))
        .header("Host", "api.example.com")
        .header(MARK, "over")
        .send(s.port());
    assert_eq!(over.status, 429, "{codes}: {over}");
    assert!(upstream_bodies(&s, "over").is_empty());
    // The backend: the served calls, each once; no authrep, nothing else counted.
    assert_reported_exactly(&s, &[("1", "app-six", "hits", LIMIT)]);
    assert!(authrep_calls(&s.backend).is_empty());
    if codes {
        wait_until(Duration::from_secs(5), || {
            s.backend.logged().len() == LIMIT as usize
        });
        let logged = s.backend.logged();
        let codes: Vec<Option<String>> = logged.iter().map(|l| l.code.clone()).collect();
        assert_eq!(codes, vec![Some("200".to_string()); LIMIT as usize]);
    }
}

#[test]
fn a_body_refused_after_the_verdict_is_neither_reported_nor_charged() {
    refused_then_served(false);
}

#[test]
fn a_body_refused_after_the_verdict_is_not_reported_with_response_codes() {
    refused_then_served(true);
}
