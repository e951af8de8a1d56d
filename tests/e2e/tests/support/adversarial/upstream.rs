//! What the upstream must receive when a client spoofs the secret-token and debug headers
//! (every spelling, duplicated) and trailers: the checks of `spoofs_*.rs`, and the request
//! shapes they send (HTTP/1.1 with a length, chunked with trailers, `Expect: 100-continue`,
//! HTTP/2 with trailers, paused mid-body).

use super::*;
use crate::support::Stack;
use e2e::h2::{Connection, H2Response};
use e2e::http::read_response;
use e2e::EchoRequest;
use std::io::{self, BufReader, Write};
use std::net::TcpStream;
use std::time::Duration;

/// Spoofed request headers: the secret token in four spellings (two of them the same name in
/// different cases: duplicates) and the debug header in two, with a value that is not the
/// debug token (so that no debug answer is legitimate either).
pub const SPOOF_HEADERS: [(&str, &str); 6] = [
    ("X-3scale-Proxy-Secret-Token", "evil-h1"),
    ("x-3scale-proxy-secret-token", "evil-h2"),
    ("X_3SCALE_PROXY_SECRET_TOKEN", "evil-h3"),
    ("x-3scale_proxy-secret_token", "evil-h4"),
    ("X-3scale-Debug", "evil-d1"),
    ("x_3scale_debug", "evil-d2"),
];

/// Spoofed trailers (the two stripped names, two spellings each) and a harmless one.
pub const TRAILERS: [(&str, &str); 5] = [
    ("X-3scale-proxy-secret-token", "evil-t1"),
    ("x_3scale_proxy_secret_token", "evil-t2"),
    ("X_3scale_Debug", "evil-t3"),
    ("x-3SCALE-debug", "evil-t4"),
    ("x-checksum", "abc"),
];

/// The stripped names, normalised.
pub const STRIPPED: [&str; 2] = ["x-3scale-proxy-secret-token", "x-3scale-debug"];

fn normalise(name: &str) -> String {
    name.to_ascii_lowercase().replace('_', "-")
}

/// Echo upstream, backend and Envoy (2 workers) with trailers forwarded end to end.
pub fn spoof_stack(batching: bool) -> Stack {
    Stack::start_with(adv_config(header_services(), batching), adv_state(), |b| {
        b.concurrency(2).http1_trailers().upstream_trailers()
    })
}

/// What is wrong with what the upstream received for an allowed request.
pub fn upstream_problems(seen: &EchoRequest, body: &str, trailers: bool) -> Vec<String> {
    let mut out = Vec::new();
    if seen.body != body {
        out.push(format!("upstream body {:?}, sent {body:?}", seen.body));
    }
    if trailers && seen.trailer_all("x-checksum") != ["abc"] {
        out.push(format!(
            "the harmless trailer did not arrive (trailers {:?})",
            seen.trailers
        ));
    }
    let spoofed: Vec<_> = (seen.trailers.iter())
        .filter(|(k, _)| STRIPPED.contains(&normalise(k).as_str()))
        .collect();
    if !spoofed.is_empty() {
        out.push(format!("SPOOFED TRAILERS upstream: {spoofed:?}"));
    }
    let tokens: Vec<_> = (seen.headers.iter())
        .filter(|(k, _)| normalise(k) == STRIPPED[0])
        .collect();
    if tokens.len() != 1 || tokens[0].1 != SECRET {
        out.push(format!(
            "secret-token headers upstream {tokens:?}, expected exactly one {SECRET:?}"
        ));
    }
    let debug: Vec<_> = (seen.headers.iter())
        .filter(|(k, _)| normalise(k) == STRIPPED[1])
        .collect();
    if !debug.is_empty() {
        out.push(format!("DEBUG HEADERS upstream: {debug:?}"));
    }
    // Whatever the name, no spoofed value may arrive as a header or trailer.
    let evil: Vec<_> = (seen.headers.iter().chain(&seen.trailers))
        .filter(|(_, v)| v.contains("evil"))
        .collect();
    if !evil.is_empty() {
        out.push(format!("SPOOFED VALUES upstream: {evil:?}"));
    }
    out
}

/// An answer: status, body, and the response headers (empty over raw HTTP/2).
pub type Answer = Result<(u16, String, Vec<(String, String)>), String>;

pub fn h1_answer(r: io::Result<e2e::Response>) -> Answer {
    r.map(|r| (r.status, r.body, r.headers))
        .map_err(|e| e.to_string())
}

/// An allowed case: 200 with the upstream's echo of this very request, seen upstream exactly
/// once and clean, and no debug answer (the debug header was spoofed with a wrong value, or
/// only present as a form field).
pub fn check_allowed(
    s: &Stack,
    mark: &str,
    answer: &Answer,
    body: &str,
    trailers: bool,
) -> Vec<String> {
    let upstream = s.echo.requests();
    let got = seen(&upstream, mark);
    let mut out = Vec::new();
    match answer {
        Ok((200, text, headers)) => {
            let echoed = EchoRequest::from_json(text).ok();
            if echoed.as_ref().and_then(|e| e.header(MARK)) != Some(mark) {
                out.push(format!("200 but not the echo of this request: {text:.80}"));
            }
            if let Some((k, _)) = headers
                .iter()
                .find(|(k, _)| k.to_ascii_lowercase().starts_with("x-3scale-"))
            {
                out.push(format!("debug answer header {k} without the debug token"));
            }
        }
        Ok((status, text, _)) => out.push(format!("answered {status} {text:.80}")),
        Err(e) => out.push(format!("no answer: {e}")),
    }
    match got.as_slice() {
        [one] => out.extend(upstream_problems(one, body, trailers)),
        got => out.push(format!("upstream saw it {} time(s)", got.len())),
    }
    out.into_iter().map(|p| format!("{mark}: {p}")).collect()
}

/// A denied case: the filter's 403 and nothing upstream.
pub fn check_denied(s: &Stack, mark: &str, answer: &Answer) -> Vec<String> {
    let leaked = seen(&s.echo.requests(), mark).len();
    match answer {
        Ok((status, text, _)) if (*status, text.as_str()) == AUTH_FAILED && leaked == 0 => vec![],
        a => vec![format!(
            "{mark}: {:?} (expected {AUTH_FAILED:?}), upstream saw it {leaked} time(s)",
            a.as_ref().map(|(st, b, _)| (*st, b.clone()))
        )],
    }
}

// --- HTTP/1.1 senders ---------------------------------------------------------------------

pub fn h1_head(method: &str, host: &str, target: &str, headers: &[(&str, &str)]) -> String {
    let mut head = format!("{method} {target} HTTP/1.1\r\nHost: {host}\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head
}

/// A chunked POST in two chunks with `trailers`; `between` runs after the first chunk.
pub fn h1_chunked(
    port: u16,
    host: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &str,
    trailers: &[(&str, &str)],
    between: impl FnOnce(),
) -> Answer {
    let mut head = h1_head("POST", host, target, headers);
    head.push_str("Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n");
    let (a, b) = body.split_at(body.len() / 2);
    head.push_str(&format!("{:x}\r\n{a}\r\n", a.len()));
    let mut rest = format!("{:x}\r\n{b}\r\n0\r\n", b.len());
    for (k, v) in trailers {
        rest.push_str(&format!("{k}: {v}\r\n"));
    }
    rest.push_str("\r\n");
    let go = || -> io::Result<e2e::Response> {
        let mut stream = TcpStream::connect(("127.0.0.1", port))?;
        stream.set_read_timeout(Some(Duration::from_secs(20)))?;
        stream.write_all(head.as_bytes())?;
        between();
        // A denied request may have been answered (and closed) already.
        let _ = stream.write_all(rest.as_bytes());
        read_response(&mut BufReader::new(stream), false)
    };
    h1_answer(go())
}

pub fn h2_answer(r: io::Result<H2Response>) -> Answer {
    r.map(|r| (r.status, r.body, vec![]))
        .map_err(|e| e.to_string())
}

/// A whole HTTP/2 request on a connection of its own: head, body in two DATA frames with
/// `between` run after the first, then `trailers` (or END_STREAM on the last DATA).
pub fn h2_request(
    port: u16,
    host: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
    trailers: &[(&str, &str)],
    between: impl FnOnce(),
) -> Answer {
    let mut c = Connection::open(port).map_err(|e| e.to_string())?;
    c.head(1, "POST", host, path, headers, false);
    let (a, b) = body.split_at(body.len() / 2);
    c.data(1, a.as_bytes(), false);
    between();
    c.data(1, b.as_bytes(), trailers.is_empty());
    if !trailers.is_empty() {
        c.trailers(1, trailers);
    }
    h2_answer(c.answer(1))
}

/// The `authorize` calls the backend received for this `user_key`.
pub fn authorize_calls_for(s: &Stack, key: &str) -> usize {
    (s.backend.requests().iter())
        .filter(|r| r.path == "/transactions/authorize.xml")
        .filter(|r| r.query.iter().any(|(k, v)| k == "user_key" && v == key))
        .count()
}

/// Headers of a case: `extra`, the spoofs and the mark (HTTP/2: lower-case names only).
pub fn with_spoofs<'a>(
    extra: &[(&'a str, &'a str)],
    mark: &'a str,
    h2: bool,
) -> Vec<(&'a str, &'a str)> {
    let mut h: Vec<(&str, &str)> = extra.to_vec();
    for (k, v) in SPOOF_HEADERS {
        // HTTP/2 forbids upper case; the lower-cased duplicates are still distinct spellings.
        if !h2 || k.chars().all(|c| !c.is_ascii_uppercase()) {
            h.push((k, v));
        }
    }
    if h2 {
        h.extend([
            ("x-3scale-proxy-secret-token", "evil-h5"),
            ("x_3scale_debug", "evil-d3"),
        ]);
    }
    h.push((MARK, mark));
    h
}

pub const JSON: &str = "application/json";
