//! An attacker's view of request bodies: while the filter waits for the 3scale backend, no
//! byte of a denied request may reach the upstream, whatever the body looks like (JSON,
//! form, GET/DELETE with a body, PUT/PATCH, chunked, trailers, `Expect: 100-continue`,
//! HTTP/2), and an authorized request reaches it exactly once with its body intact.
//!
//! Every denial (missing credentials, wrong key, wrong app_key, wrong Basic password,
//! disabled metric, limits exceeded, no mapping rule; locally: bad key, missing grant, header
//! secret, JWT role, HTTPS only) is crossed with every shape, with the backend answering
//! after 300 ms, in authrep mode, in batching mode (cache miss and cache hit) and in local
//! mode. One Envoy per mode; the failures are listed per combination.

mod support;

use e2e::base64::basic_auth as basic;
use std::time::Duration;
use support::adversarial::*;
use support::Stack;

const LATENCY: Duration = Duration::from_millis(300);
const PARALLEL: usize = 8;

/// The 3scale cases for app number `n` (each number is a fresh cache key).
fn three_scale_kinds(n: usize) -> Vec<(&'static str, Case, Expect)> {
    let hdr = |p: &str| Case::new("hdr.example.com", p);
    let query = |k: &str| Case::new("query.example.com", &format!("/api/x?user_key={k}"));
    let app = |key: &str| {
        Case::new("app.example.com", "/api/x")
            .header("app_id", &format!("app-ok-{n}"))
            .header("app_key", key)
    };
    let basic_case = |pw: &str| {
        Case::new("basic.example.com", "/api/x")
            .header("Authorization", &basic(&format!("bapp-{n}"), pw))
    };
    let failed = Expect::Denied(AUTH_FAILED.0, AUTH_FAILED.1);
    vec![
        (
            "allowed",
            hdr("/api/x").header("user_key", &format!("uk-ok-{n}")),
            Expect::Allowed,
        ),
        (
            "allowed_query",
            query(&format!("uk-q-{n}")),
            Expect::Allowed,
        ),
        ("allowed_app", app("key-ok"), Expect::Allowed),
        ("allowed_basic", basic_case("bkey"), Expect::Allowed),
        (
            "missing",
            hdr("/api/x"),
            Expect::Denied(AUTH_MISSING.0, AUTH_MISSING.1),
        ),
        (
            "wrong_key",
            hdr("/api/x").header("user_key", &format!("uk-wrong-{n}")),
            failed,
        ),
        ("wrong_query_key", query(&format!("uk-wrong-q-{n}")), failed),
        ("wrong_app_key", app(&format!("wrong-{n}")), failed),
        (
            "wrong_basic_password",
            basic_case(&format!("wrong-{n}")),
            failed,
        ),
        (
            "disabled_metric",
            hdr("/disabled/x").header("user_key", &format!("uk-dis-{n}")),
            failed,
        ),
        (
            "limits_exceeded",
            hdr("/api/x").header("user_key", &format!("uk-lim-{n}")),
            Expect::Denied(LIMITS.0, LIMITS.1),
        ),
        (
            "no_match",
            hdr("/nowhere").header("user_key", &format!("uk-ok-{n}")),
            Expect::Denied(NO_MATCH.0, NO_MATCH.1),
        ),
    ]
}

/// Every 3scale kind crossed with every shape; app numbers from `first` on, one per shape.
fn three_scale_matrix(mode: &str, first: usize) -> Vec<(String, Shape, Case, Expect)> {
    let mut out = Vec::new();
    for (i, shape) in SHAPES.iter().enumerate() {
        for (kind, case, expect) in three_scale_kinds(first + i) {
            out.push((format!("{mode}/{kind}/{shape:?}"), *shape, case, expect));
        }
    }
    out
}

fn three_scale_stack(batching: bool) -> Stack {
    let s = adv_stack(adv_config(three_scale_services(), batching));
    s.backend.set_latency(LATENCY);
    use_up_limits(&s.backend);
    s
}

#[test]
fn authrep_denials_never_reach_the_upstream_whatever_the_body() {
    let s = three_scale_stack(false);
    let cases = three_scale_matrix("authrep", 0);
    let failures = run_and_check(&s, &cases, PARALLEL);
    assert_none("authrep mode", &failures, cases.len());
    assert!(traps(&s).is_empty(), "{:?}", traps(&s));
}

#[test]
fn batching_denials_never_reach_the_upstream_on_a_miss_or_a_hit() {
    let s = three_scale_stack(true);
    // Miss: apps 0.. are unknown to the cache; hit: apps 20.., asked first without a body.
    let (miss, hit) = (three_scale_matrix("miss", 0), three_scale_matrix("hit", 20));
    let (failures, total, hits) = run_miss_then_hit(&s, &miss, &hit, PARALLEL);
    assert_none("batching mode", &failures, total);
    assert!(
        hits > 0,
        "the second round was answered from the cache ({hits} hits)"
    );
    assert!(traps(&s).is_empty(), "{:?}", traps(&s));
}

#[test]
fn local_denials_never_reach_the_upstream_whatever_the_body() {
    let s = adv_stack(adv_config(local_services(), false));
    let local = |p: &str| Case::new("local.example.com", p);
    let jwt = |roles: &[&str]| {
        Case::new("jwt.example.com", "/api/x")
            .header("Authorization", &format!("Bearer {}", token(roles)))
    };
    let failed = Expect::Denied(AUTH_FAILED.0, AUTH_FAILED.1);
    let kinds: Vec<(&str, Case, Expect)> = vec![
        (
            "allowed",
            local("/api/x").header("APIKey", WRITER_KEY),
            Expect::Allowed,
        ),
        (
            "allowed_admin",
            local("/admin/x")
                .header("APIKey", WRITER_KEY)
                .header("X-Admin-Secret", ADMIN_SECRET),
            Expect::Allowed,
        ),
        ("allowed_jwt", jwt(&["admin"]), Expect::Allowed),
        (
            "missing",
            local("/api/x"),
            Expect::Denied(AUTH_MISSING.0, AUTH_MISSING.1),
        ),
        (
            "bad_key",
            local("/api/x").header("APIKey", "wk_not_a_key"),
            failed,
        ),
        (
            "no_grant",
            local("/api/x").header("APIKey", OTHER_KEY),
            failed,
        ),
        (
            "header_secret",
            local("/admin/x").header("APIKey", WRITER_KEY),
            failed,
        ),
        ("jwt_role", jwt(&["reader"]), failed),
        (
            "https_only",
            Case::new("strict.example.com", "/api/x").header("APIKey", WRITER_KEY),
            Expect::Denied(HTTPS_REQUIRED.0, HTTPS_REQUIRED.1),
        ),
        (
            "no_match",
            local("/nowhere").header("APIKey", WRITER_KEY),
            Expect::Denied(NO_MATCH.0, NO_MATCH.1),
        ),
    ];
    let mut cases = Vec::new();
    for shape in SHAPES {
        for (kind, case, expect) in &kinds {
            cases.push((
                format!("local/{kind}/{shape:?}"),
                shape,
                case.clone(),
                *expect,
            ));
        }
    }
    let failures = run_and_check(&s, &cases, PARALLEL);
    assert_none("local mode", &failures, cases.len());
    assert!(
        s.backend.requests().is_empty(),
        "local mode never calls the backend"
    );
}

/// A body larger than Envoy's buffer limit (1 MiB) arriving while the filter waits for a slow
/// backend: Envoy answers 413 and the upstream sees nothing, for a valid key as for an
/// invalid one. A body under the limit reaches the upstream byte for byte.
#[test]
fn a_body_over_the_buffer_limit_while_waiting_is_413_and_never_forwarded() {
    let mut failures = Vec::new();
    for batching in [false, true] {
        let mode = if batching { "batching" } else { "authrep" };
        let s = adv_stack(adv_config(three_scale_services(), batching));
        s.backend.set_latency(Duration::from_millis(500));
        let big = |host: &str,
                   target: &str,
                   key: Option<&str>,
                   ctype: &str,
                   mark: &str,
                   len: usize| {
            let mut head = format!(
                "POST {target} HTTP/1.1\r\nHost: {host}\r\nContent-Type: {ctype}\r\n{MARK}: {mark}\r\nContent-Length: {len}\r\nConnection: close\r\n"
            );
            if let Some(k) = key {
                head.push_str(&format!("user_key: {k}\r\n"));
            }
            head.push_str("\r\n");
            let body: Vec<u8> = (0..len).map(|i| b'a' + (i % 26) as u8).collect();
            (send_streaming(s.port(), &head, body.clone()), body)
        };
        let json = "application/json";
        let form = "application/x-www-form-urlencoded";
        let two_mib = 2 << 20;
        let cases = [
            (
                "valid",
                "hdr.example.com",
                "/api/big",
                Some("uk-ok-40"),
                json,
            ),
            (
                "invalid",
                "hdr.example.com",
                "/api/big",
                Some("uk-wrong-40"),
                json,
            ),
            (
                "valid_form",
                "query.example.com",
                "/api/big?user_key=uk-q-40",
                None,
                form,
            ),
            (
                "invalid_form",
                "query.example.com",
                "/api/big?user_key=nope",
                None,
                form,
            ),
        ];
        for (kind, host, target, key, ctype) in cases {
            let mark = format!("{mode}/big/{kind}");
            let (r, _) = big(host, target, key, ctype, &mark, two_mib);
            std::thread::sleep(Duration::from_millis(700));
            let seen = seen(&s.echo.requests(), &mark).len();
            match r {
                Ok(r) if r.status == 413 && seen == 0 => {}
                Ok(r) => failures.push(format!(
                    "{mark}: answered {} {:?}, upstream saw it {seen} time(s) (expected 413, 0)",
                    r.status,
                    r.body.chars().take(60).collect::<String>()
                )),
                Err(e) => failures.push(format!(
                    "{mark}: no answer ({e}), upstream saw it {seen} time(s)"
                )),
            }
        }
        // Over HTTP/2 Envoy's per-stream limit is the stream window (256 MiB), and flow
        // control holds a 2 MiB body: an invalid key gets its 403 (nothing upstream), a valid
        // one is forwarded once with its body intact, or refused with 413.
        for (kind, key) in [("valid", "uk-ok-43"), ("invalid", "uk-wrong-43")] {
            let mark = format!("{mode}/big/h2_{kind}");
            let body: Vec<u8> = (0..two_mib).map(|i| b'a' + (i % 26) as u8).collect();
            let r = e2e::curl::Curl::new("POST", "/api/big")
                .http2()
                .header("Host", "hdr.example.com")
                .header("user_key", key)
                .header("Content-Type", json)
                .header(MARK, &mark)
                .body(body.clone())
                .try_send(s.port());
            std::thread::sleep(Duration::from_millis(700));
            let upstream = s.echo.requests();
            let got = seen(&upstream, &mark);
            let intact = got.len() == 1 && got[0].body.as_bytes() == body.as_slice();
            match (r, kind) {
                (Ok(r), _) if r.status == 413 && got.is_empty() => {}
                (Ok(r), "valid") if r.status == 200 && intact => {}
                (Ok(r), "invalid")
                    if (r.status, r.body.as_str()) == AUTH_FAILED && got.is_empty() => {}
                (Ok(r), _) => failures.push(format!(
                    "{mark}: answered {}, upstream saw it {} time(s), body intact: {intact}",
                    r.status,
                    got.len()
                )),
                (Err(e), _) => failures.push(format!(
                    "{mark}: no answer ({e}), upstream saw it {} time(s)",
                    got.len()
                )),
            }
        }
        // Under the limit: forwarded once, byte-identical; also a form body whose
        // credentials come last (the filter reads it all before deciding), over HTTP/1.1,
        // HTTP/2 and HTTP/2 with trailers.
        let mark = format!("{mode}/under_limit");
        let (r, body) = big(
            "hdr.example.com",
            "/api/big",
            Some("uk-ok-41"),
            json,
            &mark,
            900 << 10,
        );
        let r = r.map(|r| r.status).map_err(|e| e.to_string());
        failures.extend(check_once(&s, &mark, r, &body));
        for (proto, size) in [
            ("h1", 900 << 10),
            ("h2", 900 << 10),
            ("h2-trailers", 60 << 10),
        ] {
            let mark = format!("{mode}/form_creds_last/{proto}");
            let mut body = b"pad=".to_vec();
            body.extend((0..size).map(|i| b'a' + (i % 26) as u8));
            body.extend_from_slice(b"&user_key=uk-q-41");
            let status = match proto {
                "h1" => {
                    let head = format!(
                        "POST /api/x HTTP/1.1\r\nHost: query.example.com\r\nContent-Type: {form}\r\n{MARK}: {mark}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                        body.len()
                    );
                    send_streaming(s.port(), &head, body.clone())
                        .map(|r| r.status)
                        .map_err(|e| e.to_string())
                }
                "h2" => e2e::curl::Curl::new("POST", "/api/x")
                    .http2()
                    .header("Host", "query.example.com")
                    .header("Content-Type", form)
                    .header(MARK, &mark)
                    .body(body.clone())
                    .try_send(s.port())
                    .map(|r| r.status)
                    .map_err(|e| e.to_string()),
                _ => e2e::h2::send_with_trailers(
                    s.port(),
                    "POST",
                    "query.example.com",
                    "/api/x",
                    &[("content-type", form), (MARK, &mark)],
                    &body,
                    &[("x-t", "1")],
                )
                .map(|r| r.status)
                .map_err(|e| e.to_string()),
            };
            failures.extend(check_once(&s, &mark, status, &body));
        }
        failures.extend(still_serving(s.port(), 4, "uk-ok-42"));
    }
    assert_none("bodies over the buffer limit", &failures, 17);
}

/// `None` when the answer was 200 and the upstream got `mark` once with exactly `body`.
fn check_once(s: &Stack, mark: &str, status: Result<u16, String>, body: &[u8]) -> Option<String> {
    std::thread::sleep(Duration::from_millis(200));
    let upstream = s.echo.requests();
    let got = seen(&upstream, mark);
    let intact = got.len() == 1 && got[0].body.as_bytes() == body;
    (status != Ok(200) || !intact).then(|| {
        format!(
            "{mark}: answered {status:?}, upstream saw it {} time(s), body intact: {intact}",
            got.len()
        )
    })
}

/// Sends the head and `first` bytes of the body, waits `pause`, then the rest; the answer.
fn slow_body(
    port: u16,
    head: &str,
    first: &[u8],
    rest: &[u8],
    pause: Duration,
) -> Result<e2e::Response, String> {
    use std::io::{BufReader, Write};
    let mut stream =
        std::net::TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .map_err(|e| e.to_string())?;
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(first);
    std::thread::sleep(pause);
    // A denied request may have been answered (and the connection closed) by now.
    let _ = stream.write_all(rest);
    e2e::http::read_response(&mut BufReader::new(stream), false).map_err(|e| e.to_string())
}

/// A body that trickles in after the verdict, and requests that wait for another request's
/// authorize answer on the same key (batching), are held and released exactly like the rest.
#[test]
fn bodies_after_the_verdict_and_waiters_on_one_key_are_held_too() {
    let mut failures = Vec::new();
    let mut total = 0;
    for batching in [false, true] {
        let mode = if batching { "batching" } else { "authrep" };
        let s = three_scale_stack(batching);
        let json = r#"{"mark":"slow","items":[1,2,3],"note":"half and half"}"#.as_bytes();
        let slow_cases: Vec<(&str, String, Vec<u8>, Expect)> = vec![
            (
                "valid",
                "hdr.example.com\r\nuser_key: uk-ok-30".into(),
                json.to_vec(),
                Expect::Allowed,
            ),
            (
                "wrong",
                "hdr.example.com\r\nuser_key: uk-wrong-30".into(),
                json.to_vec(),
                Expect::Denied(AUTH_FAILED.0, AUTH_FAILED.1),
            ),
            (
                "form_creds",
                "query.example.com\r\nContent-Type: application/x-www-form-urlencoded".into(),
                b"a=1&user_key=uk-q-30&b=2".to_vec(),
                Expect::Allowed,
            ),
            (
                "form_wrong",
                "query.example.com\r\nContent-Type: application/x-www-form-urlencoded".into(),
                b"a=1&user_key=uk-wrong-q-30&b=2".to_vec(),
                Expect::Denied(AUTH_FAILED.0, AUTH_FAILED.1),
            ),
        ];
        for (kind, host_and_headers, body, expect) in slow_cases {
            for split in [0, body.len() / 2] {
                total += 1;
                let mark = format!("{mode}/slow/{kind}/{split}");
                let head = format!(
                    "POST /api/x HTTP/1.1\r\nHost: {host_and_headers}\r\n{MARK}: {mark}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let (first, rest) = body.split_at(split);
                let response = slow_body(s.port(), &head, first, rest, Duration::from_millis(600));
                std::thread::sleep(Duration::from_millis(200));
                let sent = Sent {
                    method: "POST",
                    body: String::from_utf8_lossy(&body).into_owned(),
                    response,
                };
                failures.extend(verdict(&s.echo.requests(), &mark, &sent, expect));
            }
        }
        // Batching: a dozen requests with bodies for one new key at once: one asks the
        // backend, the rest wait for its answer.
        if !batching {
            continue;
        }
        let mut crowd = Vec::new();
        for (kind, key, expect) in [
            ("valid", "uk-ok-36", Expect::Allowed),
            (
                "wrong",
                "uk-wrong-crowd",
                Expect::Denied(AUTH_FAILED.0, AUTH_FAILED.1),
            ),
            ("limited", "uk-lim-36", Expect::Denied(LIMITS.0, LIMITS.1)),
        ] {
            for i in 0..12 {
                let shape = [Shape::Json, Shape::Chunked, Shape::H2, Shape::Put][i % 4];
                let case = Case::new("hdr.example.com", "/api/x").header("user_key", key);
                crowd.push((
                    format!("{mode}/crowd/{kind}/{i}/{shape:?}"),
                    shape,
                    case,
                    expect,
                ));
            }
        }
        total += crowd.len();
        failures.extend(run_and_check(&s, &crowd, 36));
    }
    assert_none("late bodies and waiters", &failures, total);
}

/// Batching: the client whose request asked the backend goes away before the answer; the
/// requests waiting on the same key (with bodies) are still answered, each forwarded once
/// with its body, and the one that left never reaches the upstream.
#[test]
fn waiters_are_answered_when_the_asking_client_goes_away() {
    use std::io::Write;
    let s = three_scale_stack(true);
    s.backend.set_latency(Duration::from_millis(1500));
    let body = r#"{"mark":"asker"}"#;
    let mut asker = std::net::TcpStream::connect(("127.0.0.1", s.port())).unwrap();
    let head = format!(
        "POST /api/x HTTP/1.1\r\nHost: hdr.example.com\r\nuser_key: uk-ok-44\r\n{MARK}: asker\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    asker.write_all(head.as_bytes()).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let waiters: Vec<(String, Shape, Case, Expect)> = (0..4)
        .map(|i| {
            let shape = [Shape::Json, Shape::H2, Shape::Chunked, Shape::NoBody][i];
            let case = Case::new("hdr.example.com", "/api/x").header("user_key", "uk-ok-44");
            (
                format!("waiter/{i}/{shape:?}"),
                shape,
                case,
                Expect::Allowed,
            )
        })
        .collect();
    let started = std::time::Instant::now();
    let handle = {
        let port = s.port();
        let plain: Vec<(String, Shape, Case)> = waiters
            .iter()
            .map(|(m, sh, c, _)| (m.clone(), *sh, c.clone()))
            .collect();
        std::thread::spawn(move || run_all(port, &plain, 4))
    };
    std::thread::sleep(Duration::from_millis(200));
    asker.shutdown(std::net::Shutdown::Both).unwrap();
    drop(asker);
    let sent = handle.join().unwrap();
    let took = started.elapsed();
    std::thread::sleep(Duration::from_millis(400));
    let upstream = s.echo.requests();
    let mut failures: Vec<String> = waiters
        .iter()
        .zip(&sent)
        .filter_map(|((mark, _, _, expect), s)| verdict(&upstream, mark, s, *expect))
        .collect();
    if !seen(&upstream, "asker").is_empty() {
        failures.push("the request whose client left reached the upstream".into());
    }
    if took > Duration::from_secs(12) {
        failures.push(format!("the waiters took {took:?}"));
    }
    assert_none(
        "waiters of a client that left",
        &failures,
        waiters.len() + 2,
    );
}
