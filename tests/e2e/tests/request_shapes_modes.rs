//! An audit crossing denials with request shapes and modes (2026-12): authrep, batching (miss,
//! hit), path routing to a public service; HTTP/1.1 pipelining, HTTP/2 streams multiplexed on
//! one connection, bodies, trailers, `Expect: 100-continue`, `HEAD`.
//!
//! Findings, fixed (each test failed on the module audited, s16a):
//! - `path_routing_to_a_public_service_refuses_an_ambiguous_arg`
//! - `path_routing_refuses_a_form_arg_a_passed_over_rule_reads` (the variant, written after)
//!
//! Held (probed, not kept unless listed as a test below):
//! - HTTP/1.1 pipelining: a second, unauthorized request written with an authorized one is
//!   denied and never reaches the upstream (authrep, batching hit) (kept:
//!   `pipelined_unauthorized_request_is_denied_in_every_mode`).
//! - HTTP/2 streams multiplexed on one connection against an app limited to 1 call a minute
//!   (batching, cold cache) and an app whose plan allows 0: exactly the limit reaches the
//!   upstream (kept: `multiplexed_streams_hold_the_limit`).
//! - Batching hit: every shape (GET, HEAD, GET with a body, POST with a length, chunked,
//!   `Expect: 100-continue`, HTTP/2 DATA + trailers, pipelined) is counted and reported
//!   exactly once (kept: `every_shape_is_reported_once_in_batching_hit_mode`).
//! - HTTP/2 with `:authority` of one host and a `host` header of another, and HTTP/1.1
//!   absolute-form targets whose host disagrees with `Host`: the service and the upstream's
//!   Host are both the one Envoy puts in `:authority` (a public host's request reaches the
//!   upstream with the public Host; a protected one's is 401).
//! - `caching_type: strict`, backend down after a cached 200 expired: 6 HTTP/2 streams
//!   multiplexed on one connection get exactly one forward, in batching and authrep mode.
//! - Covered elsewhere and not repeated: spoofed secret-token/debug headers and trailers in
//!   every spelling and mode (`adversarial_headers.rs`, `adversarial_trailers.rs`,
//!   `spoofs_*.rs`), resets mid-wait (`disconnects.rs`, `spoofs_after_the_verdict.rs`),
//!   `OPTIONS *`, absolute-form and CL+TE framing (`adversarial_input.rs`).
//! - Not probed: `Upgrade: websocket`/`h2c` and `CONNECT` (the harness' listener has no
//!   `upgrade_configs` or `connect_matcher`, and its builder cannot add them).

mod support;

use e2e::h2::{send_with_trailers, Connection};
use e2e::http::{read_response, send_raw};
use e2e::Request;
use serde_json::{json, Value};
use std::io::{BufReader, Write};
use std::net::TcpStream;
use std::time::Duration;
use support::batching::assert_reported_exactly;
use support::cache::{cache_state, pin_clock, FREE, INVALID, ONE, ZERO};
use support::*;

const MARK: &str = "x-audit-mark";

/// The marks of the requests the upstream received.
fn upstream_marks(s: &Stack) -> Vec<String> {
    (s.echo.requests().iter())
        .filter_map(|r| r.header(MARK).map(str::to_string))
        .collect()
}

/// Service 1 (user_key in headers), `ANY /` counts 1 hit; `batching` absent: authrep mode.
fn any_method_config(batching: Option<Value>) -> Value {
    let mut c = config(vec![service(
        1,
        json!(1),
        json!({
            "credentials_location": "headers",
            "proxy_rules": [
                {"http_method": "ANY", "pattern": "/", "metric_system_name": "hits", "delta": 1}
            ]
        }),
    )]);
    if let Some(b) = batching {
        c["backend"]["batching"] = b;
    }
    c
}

fn batching() -> Value {
    json!({"auths_ttl": 60, "batch_report_seconds": 1})
}

// --- Findings ----------------------------------------------------------------------------

/// Path routing, two services on one host: service 7 is public (a chain without `apicast`)
/// and its rule `GET /reports?type=summary` routes the free summary to it; service 1 (3scale,
/// user_key) serves every other `/reports`. `?type=full` alone needs a key (401). With
/// `?type=full&type=summary`, path routing reads the last value (`summary`) and picks the
/// public service, which matches no rule and checks no arg: the request is forwarded without
/// credentials, and an upstream that reads the first value (Go's `Query().Get`, Flask,
/// Express's `qs` gives an array) serves `type=full`. The same request on a protected service
/// is refused with 400 `ambiguous argument` (README, Mapping rules). The spelling variant
/// (`Type=full`, read as `type` by ASP.NET) goes the same way, and so does a `POST` whose
/// query says `type=summary` and whose form body says `type=full` (PHP's `$_REQUEST`,
/// Laravel's `input()` and Rack's `params` read the body's): path routing reads URI args only,
/// and the public service reads no form for rules, while on a protected service the query's
/// and the body's values disagreeing is a 400.
///
/// Fix: `config/routes.rs` `Routes::first_match` (or `pipeline::select_service`) should
/// refuse, as `match_rules` does, a request where a routing rule whose method and path match
/// reads an ambiguous arg (`MappingRule::reads_ambiguous_arg`), before picking the service;
/// or a public service picked by an arg-reading rule should still run that check.
#[test]
fn path_routing_to_a_public_service_refuses_an_ambiguous_arg() {
    let public = json!({
        "id": 7,
        "system_name": "public-summary",
        "backend_version": 1,
        "proxy": {
            "hosts": ["api.example.com"],
            "policy_chain": [{"name": "logging"}],
            "proxy_rules": [{"http_method": "ANY", "pattern": "/reports?type=summary",
                             "metric_system_name": "hits", "delta": 1}]
        }
    });
    let protected = service(
        1,
        json!(1),
        json!({"proxy_rules": [
            {"http_method": "ANY", "pattern": "/reports", "metric_system_name": "hits", "delta": 1}
        ]}),
    );
    let mut c = config(vec![public, protected]);
    c["path_routing"] = json!(true);
    let s = Stack::start(c);
    let get = |target: &str, mark: &str| {
        Request::get(target)
            .header("Host", "api.example.com")
            .header(MARK, mark)
            .send(s.port())
    };
    // Controls: the summary is public, the full report needs a key.
    let r = get("/reports?type=summary", "summary");
    assert_eq!(r.status, 200, "control, public summary: {r}");
    let r = get("/reports?type=full", "full");
    assert_eq!(r.status, 401, "control, full report without a key: {r}");
    let r = get(
        &format!("/reports?type=full&user_key={USER_KEY}"),
        "full-key",
    );
    assert_eq!(r.status, 200, "control, full report with a key: {r}");

    let mut problems = Vec::new();
    for (target, mark, form) in [
        ("/reports?type=full&type=summary", "dup", None),
        ("/reports?Type=full&type=summary", "case", None),
        ("/reports?type=summary", "form", Some("type=full")),
    ] {
        let r = match form {
            None => get(target, mark),
            Some(body) => Request::post(target)
                .header("Host", "api.example.com")
                .header(MARK, mark)
                .header("Content-Type", "application/x-www-form-urlencoded")
                .body(body)
                .send(s.port()),
        };
        let reached: Vec<_> = (s.echo.requests().into_iter())
            .filter(|e| e.header(MARK) == Some(mark))
            .map(|e| e.path)
            .collect();
        if r.status == 200 || !reached.is_empty() {
            problems.push(format!(
                "{target} (form body {form:?}): answered {} without credentials, upstream \
                 received {reached:?} (expected 400 ambiguous argument, or 401; nothing upstream)",
                r.status
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "path routing sent an ambiguous arg to the public service:\n{}",
        problems.join("\n")
    );
}

/// The variant: the protected service first, its rule on `format=full`; a public catch-all
/// second. A `POST` with `format=full` only in its form body passes the protected rule over
/// (URI args only) and goes public, while the upstream reads the body's `format`.
#[test]
fn path_routing_refuses_a_form_arg_a_passed_over_rule_reads() {
    let protected = service(
        1,
        json!(1),
        json!({"proxy_rules": [
            {"http_method": "ANY", "pattern": "/reports?format=full", "metric_system_name": "hits", "delta": 1}
        ]}),
    );
    let public = json!({
        "id": 7, "system_name": "public-rest", "backend_version": 1,
        "proxy": {"hosts": ["api.example.com"], "policy_chain": [{"name": "logging"}],
                  "proxy_rules": [{"http_method": "ANY", "pattern": "/", "metric_system_name": "hits", "delta": 1}]}
    });
    let mut c = config(vec![protected, public]);
    c["path_routing"] = json!(true);
    let s = Stack::start(c);
    let post = |target: &str, body: &str, mark: &str| {
        Request::post(target)
            .header("Host", "api.example.com")
            .header(MARK, mark)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body)
            .send(s.port())
    };
    // Controls: the full report needs a key; anything else is public.
    assert_eq!(post("/reports?format=full", "", "c1").status, 401);
    assert_eq!(post("/reports", "other=1", "c2").status, 200);
    let r = post("/reports", "format=full", "smuggled");
    let reached = (s.echo.requests().into_iter()).any(|e| e.header(MARK) == Some("smuggled"));
    assert!(
        r.status != 200 && !reached,
        "POST /reports with format=full in the body: {} and upstream reached: {reached} \
         (expected 400 ambiguous argument, nothing upstream)",
        r.status
    );
    assert_eq!(r.body, "Bad Request: ambiguous argument", "{r}");
    // The same past the 100 pieces a form is read to (found by a review), and in the query.
    let long = format!("{}format=full", "x=1&".repeat(120));
    let r = post("/reports", &long, "long-form");
    let reached = (s.echo.requests().into_iter()).any(|e| e.header(MARK) == Some("long-form"));
    assert!(
        r.status == 400 && !reached,
        "long form: {r} (upstream: {reached})"
    );
    let r = post(&format!("/reports?{long}"), "", "long-query");
    let reached = (s.echo.requests().into_iter()).any(|e| e.header(MARK) == Some("long-query"));
    assert!(
        r.status == 400 && !reached,
        "long query: {r} (upstream: {reached})"
    );
}

// --- Held (kept) -------------------------------------------------------------------------

/// Two requests written at once on one HTTP/1.1 connection, the first authorized, the second
/// with an invalid key (or none): the second is denied and never reaches the upstream, in
/// authrep and batching-hit mode.
#[test]
fn pipelined_unauthorized_request_is_denied_in_every_mode() {
    for batched in [false, true] {
        let s = Stack::start_with(
            any_method_config(batched.then(batching)),
            cache_state(),
            |b| b,
        );
        if batched {
            let warm = Request::get("/")
                .header("Host", "api.example.com")
                .header("user_key", FREE)
                .send(s.port());
            assert_eq!(warm.status, 200, "warm: {warm}");
        }
        for (second_key, want) in [(Some(INVALID), 403), (None, 401)] {
            let mut wire = format!(
                "GET /a HTTP/1.1\r\nHost: api.example.com\r\nuser_key: {FREE}\r\n{MARK}: first\r\n\r\n"
            );
            wire.push_str(&format!(
                "POST /b HTTP/1.1\r\nHost: api.example.com\r\n{}{MARK}: second\r\n\
                 Content-Length: 4\r\nConnection: close\r\n\r\nbody",
                second_key
                    .map(|k| format!("user_key: {k}\r\n"))
                    .unwrap_or_default()
            ));
            let mut conn = TcpStream::connect(("127.0.0.1", s.port())).unwrap();
            conn.set_read_timeout(Some(Duration::from_secs(20)))
                .unwrap();
            conn.write_all(wire.as_bytes()).unwrap();
            let mut reader = BufReader::new(conn);
            let first = read_response(&mut reader, false).unwrap();
            let second = read_response(&mut reader, false).unwrap();
            let mode = if batched { "batching hit" } else { "authrep" };
            assert_eq!(first.status, 200, "{mode}: first: {first}");
            assert_eq!(second.status, want, "{mode}: pipelined second: {second}");
            let marks = upstream_marks(&s);
            assert!(
                !marks.iter().any(|m| m == "second"),
                "{mode}: the pipelined unauthorized request reached the upstream: {marks:?}"
            );
            s.echo.clear();
        }
    }
}

/// HTTP/2 streams multiplexed on one connection, all sent at once on a cold cache: an app
/// limited to 1 call a minute gets exactly 1 through (batching and authrep); an app whose
/// plan gives 0 gets none.
#[test]
fn multiplexed_streams_hold_the_limit() {
    for batched in [true, false] {
        let s = Stack::start_with(
            any_method_config(batched.then(batching)),
            cache_state(),
            |b| b,
        );
        pin_clock(&s.backend, 5);
        let mode = if batched { "batching" } else { "authrep" };
        for (key, allowed) in [(ONE, 1usize), (ZERO, 0usize)] {
            s.echo.clear();
            let mut c = Connection::open(s.port()).unwrap();
            let streams: Vec<u32> = (0..8).map(|i| 1 + 2 * i).collect();
            for &id in &streams {
                let mark = format!("{key}-{id}");
                let headers = [("user_key", key), (MARK, mark.as_str())];
                c.head(id, "GET", "api.example.com", "/", &headers, true);
            }
            let _ = c.answer(*streams.last().unwrap());
            // Every stream answered (8 per key; the ZERO round comes after ONE's 8).
            let answered = || {
                ["2xx", "4xx", "5xx"]
                    .iter()
                    .map(|c| {
                        (s.envoy)
                            .stat(&format!("http.ingress_http.downstream_rq_{c}"))
                            .unwrap_or(0)
                    })
                    .sum::<u64>()
            };
            let want = if key == ONE { 8 } else { 16 };
            e2e::wait_until(Duration::from_secs(15), || answered() >= want);
            let reached = upstream_marks(&s);
            assert_eq!(
                reached.len(),
                allowed,
                "{mode}: {key}: 8 multiplexed streams, the plan allows {allowed}; upstream got {reached:?}"
            );
        }
    }
}

/// Batching hit: each shape, forwarded from the cache, is reported exactly once.
#[test]
fn every_shape_is_reported_once_in_batching_hit_mode() {
    let s = Stack::start_with(any_method_config(Some(batching())), cache_state(), |b| {
        b.http1_trailers()
    });
    let host = |r: Request| r.header("Host", "api.example.com").header("user_key", FREE);
    let mut forwarded = 0u64;
    let mut failures = Vec::new();
    let mut check = |what: &str, status: u16| {
        if status == 200 {
            forwarded += 1;
        } else {
            failures.push(format!("{what}: {status}"));
        }
    };
    check("warm", host(Request::get("/")).send(s.port()).status);
    check("GET", host(Request::get("/g")).send(s.port()).status);
    check("HEAD", host(Request::head("/h")).send(s.port()).status);
    check(
        "GET with a body",
        host(Request::get("/gb")).body("abc").send(s.port()).status,
    );
    check(
        "POST json",
        host(Request::post("/p"))
            .json(&json!({"a": 1}))
            .send(s.port())
            .status,
    );
    let chunked = format!(
        "POST /c HTTP/1.1\r\nHost: api.example.com\r\nuser_key: {FREE}\r\n\
         Transfer-Encoding: chunked\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n\
         3\r\nabc\r\n0\r\nx-t: 1\r\n\r\n"
    );
    check(
        "chunked + trailer",
        send_raw(s.port(), chunked.as_bytes()).unwrap().status,
    );
    let expect = format!(
        "POST /e HTTP/1.1\r\nHost: api.example.com\r\nuser_key: {FREE}\r\n\
         Expect: 100-continue\r\nContent-Length: 3\r\nContent-Type: text/plain\r\n\
         Connection: close\r\n\r\nabc"
    );
    check(
        "Expect 100",
        send_raw(s.port(), expect.as_bytes()).unwrap().status,
    );
    let h2 = send_with_trailers(
        s.port(),
        "POST",
        "api.example.com",
        "/h2",
        &[("user_key", FREE), ("content-type", "text/plain")],
        b"abc",
        &[("x-t", "1")],
    )
    .unwrap();
    check("h2 + trailers", h2.status);
    let pipelined = format!(
        "GET /p1 HTTP/1.1\r\nHost: api.example.com\r\nuser_key: {FREE}\r\n\r\n\
         GET /p2 HTTP/1.1\r\nHost: api.example.com\r\nuser_key: {FREE}\r\nConnection: close\r\n\r\n"
    );
    let mut conn = TcpStream::connect(("127.0.0.1", s.port())).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    conn.write_all(pipelined.as_bytes()).unwrap();
    let mut reader = BufReader::new(conn);
    for what in ["pipelined 1", "pipelined 2"] {
        check(what, read_response(&mut reader, false).unwrap().status);
    }
    assert!(failures.is_empty(), "not forwarded: {failures:?}");
    assert_eq!(s.echo.request_count() as u64, forwarded);
    assert_reported_exactly(&s, &[("1", "app-free", "hits", forwarded)]);
}
