//! An attacker's view of request trailers: a client cannot set the upstream's secret-token or
//! debug fields as TRAILERS either, in any case or with `_` for `-`, when the upstream reads
//! trailers (Envoy forwards them: HTTP/1.1 `enable_trailers` on the listener and on the
//! upstream cluster; HTTP/2 clients). A harmless trailer still arrives, which proves trailers
//! reach the upstream at all (else the check could not fail), and a denied request carrying
//! the same trailers never reaches it.

mod support;

use e2e::http::send_raw;
use e2e::{EchoRequest, Response};
use support::adversarial::*;
use support::Stack;

/// The trailers every request carries: four spoofs (two spellings each of the secret token
/// and of the debug field) and a harmless checksum. HTTP/2 sends the names lower-cased (as
/// RFC 9113 requires; `e2e::h2` lower-cases them), underscores kept.
const TRAILERS: [(&str, &str); 5] = [
    ("X-3scale-proxy-secret-token", "spoof"),
    ("x_3scale_proxy_secret_token", "spoof2"),
    ("X_3scale_Debug", "x"),
    ("x-3SCALE-debug", "y"),
    ("x-checksum", "abc"),
];

/// The names the filter must remove, once normalised.
const STRIPPED: [&str; 2] = ["x-3scale-proxy-secret-token", "x-3scale-debug"];

fn normalise(name: &str) -> String {
    name.to_ascii_lowercase().replace('_', "-")
}

/// Echo upstream, backend and Envoy with trailers forwarded end to end: HTTP/1.1 trailers
/// accepted on the listener and sent to the upstream cluster. `batching`: the authorization
/// cache instead of authrep.
fn stack(batching: bool) -> Stack {
    Stack::start_with(
        adv_config(three_scale_services(), batching),
        adv_state(),
        |b| b.concurrency(2).http1_trailers().upstream_trailers(),
    )
}

/// How the credentials travel: a `user_key` header (`hdr.example.com`, the verdict comes
/// from the headers callback) or a form body (`query.example.com`, the verdict comes when
/// the trailers end the body).
#[derive(Debug, Clone, Copy)]
enum Creds {
    Header,
    Form,
}

/// One request over HTTP/1.1 (chunked, exact bytes) or HTTP/2 (raw frames), with
/// [`TRAILERS`], tagged with `mark`. Returns the answer and the body sent.
fn send(
    port: u16,
    h2: bool,
    creds: Creds,
    key: &str,
    mark: &str,
) -> (Result<Response, String>, String) {
    let (host, body, mut headers): (&str, String, Vec<(&str, &str)>) = match creds {
        Creds::Header => (
            "hdr.example.com",
            format!(r#"{{"mark":"{mark}"}}"#),
            vec![("user_key", key), ("content-type", "application/json")],
        ),
        Creds::Form => (
            "query.example.com",
            format!("a=1&user_key={key}&b=2"),
            vec![("content-type", "application/x-www-form-urlencoded")],
        ),
    };
    headers.push((MARK, mark));
    let response = if h2 {
        e2e::h2::send_with_trailers(
            port,
            "POST",
            host,
            "/api/trailers",
            &headers,
            body.as_bytes(),
            &TRAILERS,
        )
        .map(|r| Response {
            status: r.status,
            reason: String::new(),
            headers: Vec::new(),
            body: r.body,
        })
        .map_err(|e| e.to_string())
    } else {
        let mut wire = format!("POST /api/trailers HTTP/1.1\r\nHost: {host}\r\n");
        for (k, v) in &headers {
            wire.push_str(&format!("{k}: {v}\r\n"));
        }
        let (a, b) = body.split_at(body.len() / 2);
        wire.push_str("Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n");
        wire.push_str(&format!(
            "{:x}\r\n{a}\r\n{:x}\r\n{b}\r\n0\r\n",
            a.len(),
            b.len()
        ));
        for (k, v) in TRAILERS {
            wire.push_str(&format!("{k}: {v}\r\n"));
        }
        wire.push_str("\r\n");
        send_raw(port, wire.as_bytes()).map_err(|e| e.to_string())
    };
    (response, body)
}

/// What is wrong with what the upstream received for an authorized request: its trailers
/// must hold `x-checksum: abc` and nothing that normalises to a stripped name; its headers
/// exactly one secret token, the configured one, and no debug header.
fn problems(seen: &EchoRequest, body: &str) -> Vec<String> {
    let mut out = Vec::new();
    if seen.body != body {
        out.push(format!("body {:?}, sent {body:?}", seen.body));
    }
    if seen.trailer_all("x-checksum") != ["abc"] {
        out.push(format!(
            "the harmless trailer did not arrive (trailers {:?}): trailers are not forwarded",
            seen.trailers
        ));
    }
    let spoofed: Vec<&(String, String)> = seen
        .trailers
        .iter()
        .filter(|(k, _)| STRIPPED.contains(&normalise(k).as_str()))
        .collect();
    if !spoofed.is_empty() {
        out.push(format!(
            "SPOOFED TRAILERS reached the upstream: {spoofed:?}"
        ));
    }
    let tokens: Vec<&(String, String)> = seen
        .headers
        .iter()
        .filter(|(k, _)| normalise(k) == STRIPPED[0])
        .collect();
    if tokens.len() != 1 || tokens[0].1 != SECRET {
        out.push(format!(
            "secret-token headers {tokens:?}, expected exactly one {SECRET:?}"
        ));
    }
    let debug: Vec<&(String, String)> = seen
        .headers
        .iter()
        .filter(|(k, _)| normalise(k) == STRIPPED[1])
        .collect();
    if !debug.is_empty() {
        out.push(format!("debug headers {debug:?}"));
    }
    out
}

/// Authrep (the verdict waits for the backend, or for the body) and batching (a first
/// request waits for the backend, a second one is answered from the cache at once), each
/// with credentials in a header and in a form body, over HTTP/1.1 and HTTP/2.
#[test]
fn the_client_cannot_set_the_secret_token_or_debug_fields_as_trailers() {
    let mut failures = Vec::new();
    let mut total = 0;
    for batching in [false, true] {
        let mode = if batching { "batching" } else { "authrep" };
        let s = stack(batching);
        let mut allowed = 0;
        // Batching: round 0 is a cache miss, round 1 a hit (same key).
        for round in 0..(1 + usize::from(batching)) {
            for (i, (creds, h2)) in [
                (Creds::Header, false),
                (Creds::Header, true),
                (Creds::Form, false),
                (Creds::Form, true),
            ]
            .into_iter()
            .enumerate()
            {
                let proto = if h2 { "h2" } else { "h1" };
                // Allowed: a valid key (an app of its own per case).
                total += 1;
                allowed += 1;
                let mark = format!("{mode}/{round}/allowed/{creds:?}/{proto}");
                let key = match creds {
                    Creds::Header => format!("uk-ok-{i}"),
                    Creds::Form => format!("uk-q-{i}"),
                };
                let (resp, body) = send(s.port(), h2, creds, &key, &mark);
                let upstream = s.echo.requests();
                match (&resp, seen(&upstream, &mark).as_slice()) {
                    (Ok(r), [one]) if r.status == 200 => {
                        let p = problems(one, &body);
                        if !p.is_empty() {
                            failures.push(format!("{mark}: {}", p.join("; ")));
                        }
                    }
                    (r, got) => failures.push(format!(
                        "{mark}: {:?}, upstream saw it {} time(s)",
                        r.as_ref().map(|r| (r.status, r.body.clone())),
                        got.len()
                    )),
                }

                // Denied: an unknown key with the same trailers.
                total += 1;
                let mark = format!("{mode}/{round}/denied/{creds:?}/{proto}");
                let (resp, _) = send(s.port(), h2, creds, "uk-unknown", &mark);
                std::thread::sleep(std::time::Duration::from_millis(200));
                let leaked = seen(&s.echo.requests(), &mark).len();
                match &resp {
                    Ok(r) if (r.status, r.body.as_str()) == AUTH_FAILED && leaked == 0 => {}
                    r => failures.push(format!(
                        "{mark}: {:?} (expected {AUTH_FAILED:?}), upstream saw it {leaked} time(s)",
                        r.as_ref().map(|r| (r.status, r.body.clone()))
                    )),
                }
            }
        }
        let count = s.echo.request_count();
        if count != allowed {
            failures.push(format!(
                "{mode}: the upstream received {count} request(s), expected {allowed}: {:?}",
                s.echo
                    .requests()
                    .iter()
                    .map(|r| r.header(MARK).unwrap_or("?").to_string())
                    .collect::<Vec<_>>()
            ));
        }
        failures.extend(traps(&s));
    }
    assert_none("request trailers", &failures, total);
}
