//! Spoofed trailers that arrive after the verdict (the request already on its way upstream),
//! in authrep, batching-hit and local (API key) mode, where only the trailers callback can
//! remove them; and authrep requests whose client resets them while the backend is still
//! deciding (HTTP/1.1 close, HTTP/2 `RST_STREAM` on a connection that goes on serving another
//! stream). The checks are those of `spoofs_batching_waiters.rs` (`support/adversarial/upstream.rs`).

mod support;

use e2e::h2::Connection;
use e2e::Request;
use std::io::Write;
use std::net::{Shutdown, TcpStream};
use std::time::Duration;
use support::adversarial::*;
use support::Stack;

/// Trailers that arrive AFTER THE VERDICT: the head and half the body are sent, the test waits
/// until the filter has counted the request as authorized (it is forwarded: its headers are on
/// their way upstream), then the rest of the body and spoofed trailers follow. In authrep
/// mode (the verdict came from the backend's answer, in the call-response callback), batching
/// on a cache HIT (forwarded from the headers callback; the worker does not even remember the
/// request) and LOCAL mode (API key; never covered with trailers before), over HTTP/1.1
/// chunked and HTTP/2, with spoofed headers too.
///
/// Would fail if the protection were removed (checked with a mutant module without the
/// trailer strip: every case failed): once a request is forwarded, nothing but
/// `on_http_request_trailers` can remove a trailer, and it must do so whatever the worker
/// holds for the request (nothing, here). Without that strip, or with it made conditional on
/// a pending verdict, the four spoofed trailers reach the upstream next to `x-checksum`.
#[test]
fn trailers_after_the_verdict_are_stripped_in_every_mode() {
    let mut failures = Vec::new();
    let mut total = 0;
    for batching in [false, true] {
        let mode = if batching { "batching-hit" } else { "authrep" };
        let s = spoof_stack(batching);
        let port = s.port();
        let key = "uk-ok-47";
        if batching {
            // Prime the cache: the cases below are hits.
            let r = Request::get("/api/prime")
                .header("Host", "hdr.example.com")
                .header("user_key", key)
                .try_send(port);
            if r.as_ref().map(|r| r.status).ok() != Some(200) {
                failures.push(format!("{mode}: priming failed: {:?}", r.map(|r| r.status)));
            }
        }
        let authorized = "wasmcustom.tollgate.requests_authorized";
        // With batching the counter is added on the worker's timer (every 250 ms): the
        // prime's count must be in before the cases start.
        let count = || s.envoy.stat(authorized).unwrap_or(0);
        if batching && !e2e::wait_until(Duration::from_secs(5), || count() >= 1) {
            failures.push(format!("{mode}: the prime was never counted"));
        }
        for (target, creds) in [
            ("hdr.example.com", ("user_key", key)),
            ("local.example.com", ("APIKey", WRITER_KEY)),
        ] {
            for h2 in [false, true] {
                total += 1;
                let proto = if h2 { "h2" } else { "h1" };
                let mark = format!("late-trailers/{mode}/{target}/{proto}");
                let body = format!(r#"{{"mark":"{mark}","items":[1,2,3]}}"#);
                let headers = with_spoofs(&[creds, ("content-type", JSON)], &mark, h2);
                // The verdict is the request going upstream: Envoy's router opens the upstream
                // request on the headers. (`requests_authorized` waits for the body: a JSON
                // body is read for a `_method` to the end, and only then counted.)
                let sent = || {
                    s.envoy
                        .stat("cluster.upstream.upstream_rq_total")
                        .unwrap_or(0)
                };
                let before = sent();
                let mut verdict_first = true;
                let between = || {
                    verdict_first = e2e::wait_until(Duration::from_secs(5), || sent() > before);
                };
                let answer = if h2 {
                    h2_request(port, target, "/api/x", &headers, &body, &TRAILERS, between)
                } else {
                    h1_chunked(port, target, "/api/x", &headers, &body, &TRAILERS, between)
                };
                if !verdict_first {
                    failures.push(format!("{mark}: no verdict before the trailers were sent"));
                }
                std::thread::sleep(Duration::from_millis(100));
                failures.extend(check_allowed(&s, &mark, &answer, &body, true));
            }
        }
        // The two 3scale cases (local mode does not use the cache).
        if batching && stat_hits(&s) != 2 {
            failures.push(format!(
                "{mode}: {} cache hit(s), expected 2",
                stat_hits(&s)
            ));
        }
        if !batching && s.authreps().len() != 2 {
            failures.push(format!(
                "{mode}: {} authrep call(s), expected 2",
                s.authreps().len()
            ));
        }
        failures.extend(traps(&s));
    }
    assert_none("trailers after the verdict", &failures, total);
}

fn stat_hits(s: &Stack) -> u64 {
    s.envoy.stat("wasmcustom.tollgate.cache_hits").unwrap_or(0)
}

/// Authrep, the client RESETS MID-WAIT: complete requests (body included) whose authrep is
/// with the slow backend are abandoned: one HTTP/1.1 client closes its connection, one HTTP/2
/// client cancels its stream (`RST_STREAM`) and then sends a second request (spoofs and
/// trailers included) on the same connection. The backend answers 200 to all three; the
/// abandoned requests never reach the upstream, the second stream reaches it once and clean.
///
/// Would fail if the protection were removed (checked with a mutant module that let authrep
/// requests go on from the headers callback: `reset/h1` reached the upstream): the abandoned
/// requests are complete in Envoy, so a filter that let a request go before its verdict (or
/// applied a late answer to a gone context, or to the next stream of the same connection)
/// would let the upstream see them;
/// the backend's three authrep calls prove they were waiting on it when they went.
#[test]
fn authrep_requests_reset_mid_wait_never_reach_the_upstream() {
    let s = spoof_stack(false);
    s.backend.set_latency(Duration::from_millis(1000));
    let port = s.port();
    let key = "uk-ok-44";
    let body = r#"{"mark":"abandoned"}"#;
    // HTTP/1.1: the whole request, then the client goes.
    let mut h1 = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let mut head = h1_head(
        "POST",
        "hdr.example.com",
        "/api/x",
        &with_spoofs(
            &[("user_key", key), ("content-type", JSON)],
            "reset/h1",
            false,
        ),
    );
    head.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    h1.write_all(head.as_bytes()).unwrap();
    // HTTP/2: stream 1 complete, then cancelled.
    let mut h2 = Connection::open(port).unwrap();
    let h = with_spoofs(
        &[("user_key", key), ("content-type", JSON)],
        "reset/h2",
        true,
    );
    h2.head(1, "POST", "hdr.example.com", "/api/x", &h, false);
    h2.data(1, body.as_bytes(), true);
    std::thread::sleep(Duration::from_millis(400));
    let _ = h1.shutdown(Shutdown::Both);
    drop(h1);
    h2.reset(1);
    // Stream 3 on the same connection: a valid request with spoofs and trailers.
    let mark = "reset/h2-next";
    let next_body = r#"{"mark":"next"}"#;
    let h = with_spoofs(&[("user_key", key), ("content-type", JSON)], mark, true);
    h2.head(3, "POST", "hdr.example.com", "/api/x", &h, false);
    h2.data(3, next_body.as_bytes(), false);
    h2.trailers(3, &TRAILERS);
    let answer = h2_answer(h2.answer(3));
    // Let the answers to the abandoned requests come back.
    std::thread::sleep(Duration::from_millis(1200));
    let mut failures = check_allowed(&s, mark, &answer, next_body, true);
    for gone in ["reset/h1", "reset/h2"] {
        let leaked = seen(&s.echo.requests(), gone).len();
        if leaked != 0 {
            failures.push(format!("{gone}: reached the upstream {leaked} time(s)"));
        }
    }
    let calls = s.authreps().len();
    if calls != 3 {
        failures.push(format!("{calls} authrep call(s), expected 3"));
    }
    if s.echo.request_count() != 1 {
        failures.push(format!(
            "the upstream received {} request(s), expected 1",
            s.echo.request_count()
        ));
    }
    failures.extend(traps(&s));
    drop(h2);
    assert_none("authrep resets mid-wait", &failures, 3);
}
