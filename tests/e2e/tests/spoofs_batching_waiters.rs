//! Batching requests that wait for another request's `authorize` answer and are resumed from
//! the root context by a wake-up notice, or from the worker's timer when the asker's client
//! reset its stream: what the upstream receives when they carry spoofed secret-token and debug
//! headers (every spelling, duplicated), spoofed trailers, chunked bodies, `Expect:
//! 100-continue`, HTTP/2, and form bodies with fields named like the stripped headers.
//!
//! Every allowed case checks the status, that the client got the upstream's echo of its own
//! request, and that the upstream saw it exactly once with its body intact, exactly one
//! `X-3scale-proxy-secret-token` (the configured one), no debug header, no spoofed trailer
//! and no spoofed value anywhere; a harmless trailer must arrive, which proves trailers reach
//! the upstream at all (else the trailer checks could not fail). See `support/adversarial/upstream.rs`.

mod support;

use e2e::h2::Connection;
use e2e::Request;
use std::time::{Duration, Instant};
use support::adversarial::*;
use support::TOKEN;

const FORM: &str = "application/x-www-form-urlencoded";

/// Sends one batching "waiter" in `shape` for `key` (form shapes put `user_key` in the body,
/// on `query.example.com`, with fields named like the stripped headers); returns the answer
/// and the body the upstream must get.
fn waiter(port: u16, shape: &str, key: &str, mark: &str) -> (Answer, String, bool) {
    let json = format!(r#"{{"mark":"{mark}","note":"X-3scale-proxy-secret-token: evil-json"}}"#);
    let form = format!(
        "a=1&user_key={key}&X-3scale-proxy-secret-token=evil-form&X-3scale-Debug={TOKEN}&x_3scale_debug={TOKEN}&b=2"
    );
    let nothing = || {};
    match shape {
        "h1-length" => {
            let h = with_spoofs(&[("user_key", key), ("content-type", JSON)], mark, false);
            let mut r = Request::post("/api/x").header("Host", "hdr.example.com");
            for (k, v) in &h {
                r = r.header(k, v);
            }
            (h1_answer(r.body(json.clone()).try_send(port)), json, false)
        }
        "h1-chunked-trailers" => {
            let h = with_spoofs(&[("user_key", key), ("content-type", JSON)], mark, false);
            let a = h1_chunked(
                port,
                "hdr.example.com",
                "/api/x",
                &h,
                &json,
                &TRAILERS,
                nothing,
            );
            (a, json, true)
        }
        "h1-expect-100" => {
            let h = with_spoofs(&[("user_key", key), ("Content-Type", JSON)], mark, false);
            let h: Vec<(String, String)> = h
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            let case = Case::new("hdr.example.com", "/api/x");
            let a = h1_answer(expect_100(port, "POST", &case, &h, json.as_bytes()));
            (a, json, false)
        }
        "h2-trailers" => {
            let h = with_spoofs(&[("user_key", key), ("content-type", JSON)], mark, true);
            let a = h2_request(
                port,
                "hdr.example.com",
                "/api/x",
                &h,
                &json,
                &TRAILERS,
                nothing,
            );
            (a, json, true)
        }
        "h1-form-chunked-trailers" => {
            let h = with_spoofs(&[("content-type", FORM)], mark, false);
            let a = h1_chunked(
                port,
                "query.example.com",
                "/api/x",
                &h,
                &form,
                &TRAILERS,
                nothing,
            );
            (a, form, true)
        }
        "h2-form-trailers" => {
            let h = with_spoofs(&[("content-type", FORM)], mark, true);
            let a = h2_request(
                port,
                "query.example.com",
                "/api/x",
                &h,
                &form,
                &TRAILERS,
                nothing,
            );
            (a, form, true)
        }
        other => panic!("unknown shape {other}"),
    }
}

const HEADER_SHAPES: [&str; 4] = [
    "h1-length",
    "h1-chunked-trailers",
    "h1-expect-100",
    "h2-trailers",
];
const FORM_SHAPES: [&str; 2] = ["h1-form-chunked-trailers", "h2-form-trailers"];

/// Sends each `(shape, key, mark)` from a thread of its own; answers in input order, with how
/// long each took.
fn waiters(
    port: u16,
    cases: &[(&'static str, String, String)],
) -> Vec<((Answer, String, bool), Duration)> {
    std::thread::scope(|sc| {
        let handles: Vec<_> = (cases.iter())
            .map(|(shape, key, mark)| {
                sc.spawn(move || {
                    let t = Instant::now();
                    let r = waiter(port, shape, key, mark);
                    (r, t.elapsed())
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

/// Batching miss, WAITERS: while one request's `authorize` is with the (slow) backend, requests
/// for the same key in every shape wait, and are resumed from the root context by the wake-up
/// notice (another callback than their own, with `set_effective_context`). The forward then
/// reads and strips the header names itself (the headers callback's read is not reused), and
/// the trailers were stripped by the waiter's own trailers callback while it waited. Allowed
/// waiters reach the upstream once and clean; denied ones never; the backend got exactly one
/// `authorize` per key (so every other request waited and was woken).
///
/// Would fail if the protection were removed (checked with a mutant module, see the next
/// test: 25 failures): the spoofed headers (four secret-token spellings, two of them
/// duplicates differing by case, and two debug spellings) would reach the upstream if
/// `forward` only stripped names read by the request's own headers callback,
/// or did not strip at all on a resume from another context (`upstream_problems` counts the
/// secret tokens and looks for any `evil` value); the spoofed trailers would arrive next to
/// `x-checksum`, which proves trailers are forwarded; a denied waiter released by the wake-up
/// would show up upstream. Form fields named like the stripped headers must stay inert: no
/// debug answer, and the body reaches the upstream byte for byte.
#[test]
fn batching_waiters_resumed_by_a_wake_up_reach_the_upstream_clean() {
    let s = spoof_stack(true);
    s.backend.set_latency(Duration::from_millis(1200));
    let port = s.port();
    let mut failures = Vec::new();
    let mut total = 0;
    for (kind, hdr_key, q_key) in [
        ("allowed", "uk-ok-45", "uk-q-45"),
        ("denied", "uk-wrong-45", "uk-wrong-q-45"),
    ] {
        // The askers: one per key, without a body, spoofs included.
        let askers = std::thread::scope(|sc| {
            let a = sc.spawn(|| {
                let mark = format!("waiters/{kind}/asker-hdr");
                let mut r = Request::get("/api/x").header("Host", "hdr.example.com");
                for (k, v) in with_spoofs(&[("user_key", hdr_key)], &mark, false) {
                    r = r.header(k, v);
                }
                (mark, h1_answer(r.try_send(port)))
            });
            let b = sc.spawn(|| {
                let mark = format!("waiters/{kind}/asker-query");
                let r = Request::get(&format!("/api/x?user_key={q_key}"))
                    .header("Host", "query.example.com")
                    .header(MARK, &mark);
                (mark, h1_answer(r.try_send(port)))
            });
            // The waiters start while the askers' calls are with the backend.
            std::thread::sleep(Duration::from_millis(300));
            let mut cases: Vec<(&str, String, String)> = Vec::new();
            for shape in HEADER_SHAPES {
                cases.push((
                    shape,
                    hdr_key.to_string(),
                    format!("waiters/{kind}/{shape}"),
                ));
            }
            for shape in FORM_SHAPES {
                cases.push((shape, q_key.to_string(), format!("waiters/{kind}/{shape}")));
            }
            let answers = waiters(port, &cases);
            (vec![a.join().unwrap(), b.join().unwrap()], cases, answers)
        });
        let (asked, cases, answers) = askers;
        std::thread::sleep(Duration::from_millis(300));
        for (mark, answer) in &asked {
            total += 1;
            failures.extend(match kind {
                "allowed" => check_allowed(&s, mark, answer, "", false),
                _ => check_denied(&s, mark, answer),
            });
        }
        for ((_, _, mark), ((answer, body, trailers), took)) in cases.iter().zip(&answers) {
            total += 1;
            failures.extend(match kind {
                "allowed" => check_allowed(&s, mark, answer, body, *trailers),
                _ => check_denied(&s, mark, answer),
            });
            // Answered from the cache at once, it would not have waited for the asker.
            if *took < Duration::from_millis(500) {
                failures.push(format!("{mark}: answered in {took:?}: it did not wait"));
            }
        }
        for key in [hdr_key, q_key] {
            let n = authorize_calls_for(&s, key);
            if n != 1 {
                failures.push(format!(
                    "{kind}: {n} authorize call(s) for {key}, expected 1"
                ));
            }
        }
    }
    failures.extend(traps(&s));
    assert_none("batching waiters", &failures, total);
}

/// Batching miss, the ASKER RESETS: the request that made the `authorize` call is cancelled by
/// its client (HTTP/2 `RST_STREAM`, the connection stays open) while waiters of every shape,
/// with spoofed headers and trailers, wait on its key. The answer to the asker's call finds
/// its context gone (Envoy 1.40 still delivers it after an `RST_STREAM`; the SDK drops it), so
/// it is never recorded; once the ticket's wait is over (`timeout_ms` + 1 s), a waiter asks
/// again from the worker's TIMER (the call is sent from the root context, and its answer
/// forwards the waiter from there). The waiters reach the upstream once and clean, the reset
/// asker never; the backend got two `authorize` calls (the dropped one and the timer's),
/// which proves that path ran.
///
/// Would fail if the protection were removed (checked with a mutant module that skipped the
/// strip for requests forwarded from another context, and one that skipped the trailer strip):
/// a forward carried out from the root context's call answer that did not read and strip the
/// waiter's own header names would let the spoofs through; if the reset asker's request had
/// been let through before its verdict (or
/// its answer applied to it after the reset), the upstream would have its mark.
#[test]
fn waiters_of_an_asker_that_reset_are_forwarded_clean_from_the_timer() {
    let s = spoof_stack(true);
    s.backend.set_latency(Duration::from_millis(1000));
    let port = s.port();
    let key = "uk-ok-46";
    let asker_mark = "reset-asker/asker";
    let mut asker = Connection::open(port).unwrap();
    let asker_headers = with_spoofs(
        &[("user_key", key), ("content-type", JSON)],
        asker_mark,
        true,
    );
    asker.head(
        1,
        "POST",
        "hdr.example.com",
        "/api/x",
        &asker_headers,
        false,
    );
    asker.data(1, br#"{"mark":"asker"}"#, true);
    // The asker's call is with the backend before any waiter arrives.
    std::thread::sleep(Duration::from_millis(200));
    let cases: Vec<(&str, String, String)> = HEADER_SHAPES
        .iter()
        .map(|shape| (*shape, key.to_string(), format!("reset-asker/{shape}")))
        .collect();
    let started = Instant::now();
    let answers = std::thread::scope(|sc| {
        let h = sc.spawn(|| waiters(port, &cases));
        std::thread::sleep(Duration::from_millis(400));
        asker.reset(1);
        h.join().unwrap()
    });
    let took = started.elapsed();
    std::thread::sleep(Duration::from_millis(300));
    let mut failures = Vec::new();
    for ((_, _, mark), ((answer, body, trailers), _)) in cases.iter().zip(&answers) {
        failures.extend(check_allowed(&s, mark, answer, body, *trailers));
    }
    let leaked = seen(&s.echo.requests(), asker_mark).len();
    if leaked != 0 {
        failures.push(format!(
            "the reset asker reached the upstream {leaked} time(s)"
        ));
    }
    let n = authorize_calls_for(&s, key);
    if n != 2 {
        failures.push(format!(
            "{n} authorize call(s) for {key}, expected 2 (the reset asker's and the timer's)"
        ));
    }
    if took > Duration::from_secs(12) {
        failures.push(format!("the waiters took {took:?}"));
    }
    failures.extend(traps(&s));
    drop(asker);
    assert_none("waiters of a reset asker", &failures, cases.len() + 2);
}
