//! For the tests of bodies read as they stream (`streamed_*.rs`): bodies sent in pieces over
//! HTTP/1.1, what the upstream received of them, and the service, requests and bodies they
//! share.

use super::{config, service, Stack, USER_KEY};
use e2e::http::{read_response, send_raw};
use e2e::Response;
use serde_json::{json, Value};
use std::io::{self, BufReader, Write};
use std::net::TcpStream;
use std::thread::sleep;
use std::time::Duration;
use tollgate_core::body_scan::BodyScan;

/// The header the tests mark each request with, to find it at the upstream.
pub const MARK: &str = "x-case";

/// Sends `head` (the request line and header lines, without framing or the blank line), then
/// the body in `pieces`, each after its pause, chunked or with a `Content-Length`; reads the
/// answer. Writes may fail once the server has answered: the answer is the verdict.
pub fn send_in_pieces(
    port: u16,
    head: &str,
    pieces: &[(Duration, &[u8])],
    chunked: bool,
) -> io::Result<Response> {
    let length: usize = pieces.iter().map(|(_, p)| p.len()).sum();
    let framing = match chunked {
        true => "Transfer-Encoding: chunked\r\n\r\n".to_string(),
        false => format!("Content-Length: {length}\r\n\r\n"),
    };
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(20)))?;
    let _ = stream.write_all(format!("{head}{framing}").as_bytes());
    for (i, (pause, piece)) in pieces.iter().enumerate() {
        sleep(*pause);
        let mut wire = match chunked {
            true => [format!("{:x}\r\n", piece.len()).as_bytes(), piece, b"\r\n"].concat(),
            false => piece.to_vec(),
        };
        if chunked && i + 1 == pieces.len() {
            wire.extend_from_slice(b"0\r\n\r\n");
        }
        let _ = stream.write_all(&wire);
    }
    read_response(&mut BufReader::new(stream), false)
}

/// The bodies the upstream received for requests marked `mark`.
pub fn upstream_bodies(s: &Stack, mark: &str) -> Vec<String> {
    (s.echo.requests().into_iter())
        .filter(|r| r.header(MARK) == Some(mark))
        .map(|r| r.body)
        .collect()
}

/// The answer to a `_method` found in a body.
pub const REFUSED: (u16, &str) = (400, "Bad Request: method override");

/// The multipart boundary of [`multipart`].
pub const B: &str = "XyZ";

/// `POST /orders` counts `hits`; `DELETE /orders` counts `get_foo` (the test app's limit on
/// it is low), so an override would reach a method the rules never matched.
pub fn orders_rules() -> Value {
    json!([
        {"http_method": "POST", "pattern": "/orders", "metric_system_name": "hits", "delta": 1},
        {"http_method": "DELETE", "pattern": "/orders", "metric_system_name": "get_foo", "delta": 10}
    ])
}

/// One 3scale service with [`orders_rules`], authrep on every request.
pub fn stack() -> Stack {
    Stack::start(config(vec![service(
        1,
        json!(1),
        json!({"proxy_rules": orders_rules()}),
    )]))
}

/// Batching with a long TTL, warmed: every request is a hit, forwarded at its headers.
pub fn cached_stack() -> Stack {
    let mut c = config(vec![service(
        1,
        json!(1),
        json!({"proxy_rules": orders_rules()}),
    )]);
    c["backend"]["batching"] = json!({"auths_ttl": 60, "batch_report_seconds": 1});
    let s = Stack::start(c);
    let warm = e2e::Request::new("POST", &target())
        .header("Host", "api.example.com")
        .send(s.port());
    assert_eq!(warm.status, 200, "{warm}");
    s
}

pub fn target() -> String {
    format!("/orders/7?user_key={USER_KEY}")
}

/// A multipart body whose last part's `Content-Disposition` parameters are `params` (raw
/// bytes), its value `DELETE`.
pub fn multipart(params: &[u8]) -> Vec<u8> {
    [
        format!(
            "--{B}\r\nContent-Disposition: form-data; name=\"item\"\r\n\r\n42\r\n\
             --{B}\r\nContent-Disposition: form-data; "
        )
        .as_bytes(),
        params,
        format!("\r\n\r\nDELETE\r\n--{B}--\r\n").as_bytes(),
    ]
    .concat()
}

/// The content type of [`multipart`] bodies.
pub fn mp_type() -> String {
    format!("multipart/form-data; boundary={B}")
}

/// `POST target` over HTTP/1.1 with these header lines (raw, in order) and a Content-Length.
pub fn post_raw(s: &Stack, mark: &str, lines: &[(&str, &str)], body: &[u8]) -> (u16, String) {
    let mut head = format!(
        "POST {} HTTP/1.1\r\nHost: api.example.com\r\n{MARK}: {mark}\r\n",
        target()
    );
    for (k, v) in lines {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    let r = send_raw(s.port(), &[head.as_bytes(), body].concat()).unwrap();
    (r.status, r.body)
}

/// The core's reading of a whole body.
pub fn scan(body: &[u8]) -> bool {
    let mut s = BodyScan::new();
    s.feed(body);
    s.finish()
}

/// The core's reading of `body`, after checking that every two-piece split and a byte at a
/// time agree with the whole.
pub fn scan_every_split(body: &[u8]) -> bool {
    let whole = scan(body);
    for at in 0..=body.len() {
        let mut s = BodyScan::new();
        s.feed(&body[..at]);
        s.feed(&body[at..]);
        assert_eq!(s.finish(), whole, "split at {at}");
    }
    let mut s = BodyScan::new();
    body.iter().for_each(|b| {
        s.feed(&[*b]);
    });
    assert_eq!(s.finish(), whole, "a byte at a time");
    whole
}
