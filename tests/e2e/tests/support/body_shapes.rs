//! For the tests of denials across request shapes (`signed_url_form_body_shapes.rs`,
//! `form_body_shapes_in_3scale_modes.rs`): one request sent as HTTP/1.1 (Content-Length,
//! chunked, `Expect: 100-continue`, slow, trailers) or HTTP/2 (small DATA frames, trailers),
//! marked so the upstream's copy can be found.

use super::Stack;
use e2e::h2::Connection;
use e2e::http::read_response;
use std::io::{BufReader, Write};
use std::net::TcpStream;
use std::thread::sleep;
use std::time::Duration;

pub const MARK: &str = "x-case";
pub const FORM: &str = "application/x-www-form-urlencoded";

#[derive(Clone, Copy, Debug)]
pub enum Shape {
    /// HTTP/1.1, Content-Length, one write.
    Plain,
    /// HTTP/1.1 chunked, 2-byte chunks.
    Chunked,
    /// HTTP/1.1 `Expect: 100-continue`, body sent after a pause.
    Expect,
    /// HTTP/1.1 Content-Length, the body in 2-byte writes 150 ms apart.
    Slow,
    /// HTTP/1.1 chunked with trailers.
    Trailers,
    /// HTTP/2, 2-byte DATA frames.
    H2Frames,
    /// HTTP/2, body then trailers.
    H2Trailers,
}

pub const SHAPES: [Shape; 7] = [
    Shape::Plain,
    Shape::Chunked,
    Shape::Expect,
    Shape::Slow,
    Shape::Trailers,
    Shape::H2Frames,
    Shape::H2Trailers,
];

/// Sends `method host target` with `headers` (besides framing) and `body` in `shape`, marked
/// `mark`; returns (status, body).
#[allow(clippy::too_many_arguments)]
pub fn send(
    port: u16,
    shape: Shape,
    method: &str,
    host: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    mark: &str,
) -> (u16, String) {
    match shape {
        Shape::H2Frames | Shape::H2Trailers => {
            let mut c = Connection::open(port).unwrap();
            let mut hs: Vec<(&str, &str)> = headers.to_vec();
            hs.push((MARK, mark));
            c.head(1, method, host, target, &hs, false);
            let pieces: Vec<&[u8]> = match shape {
                Shape::H2Frames => body.chunks(2).collect(),
                _ => body.chunks(16 * 1024).collect(),
            };
            for (i, p) in pieces.iter().enumerate() {
                let end = matches!(shape, Shape::H2Frames) && i + 1 == pieces.len();
                c.data(1, p, end);
            }
            if matches!(shape, Shape::H2Trailers) {
                c.trailers(1, &[("x-trailer", "t")]);
            }
            match c.answer(1) {
                Ok(r) => (r.status, r.body),
                Err(e) => (0, format!("no answer: {e}")),
            }
        }
        _ => {
            let mut head =
                format!("{method} {target} HTTP/1.1\r\nHost: {host}\r\n{MARK}: {mark}\r\n");
            for (k, v) in headers {
                head.push_str(&format!("{k}: {v}\r\n"));
            }
            let chunked = matches!(shape, Shape::Chunked | Shape::Trailers);
            if chunked {
                head.push_str("Transfer-Encoding: chunked\r\n");
            } else {
                head.push_str(&format!("Content-Length: {}\r\n", body.len()));
            }
            if matches!(shape, Shape::Expect) {
                head.push_str("Expect: 100-continue\r\n");
            }
            head.push_str("\r\n");
            let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
            stream
                .set_read_timeout(Some(Duration::from_secs(20)))
                .unwrap();
            let _ = stream.write_all(head.as_bytes());
            match shape {
                Shape::Plain => {
                    let _ = stream.write_all(body);
                }
                Shape::Expect => {
                    sleep(Duration::from_millis(300));
                    let _ = stream.write_all(body);
                }
                Shape::Slow => {
                    for p in body.chunks(2) {
                        sleep(Duration::from_millis(150));
                        let _ = stream.write_all(p);
                    }
                }
                _ => {
                    for p in body.chunks(2) {
                        let _ = stream.write_all(
                            &[format!("{:x}\r\n", p.len()).as_bytes(), p, b"\r\n"].concat(),
                        );
                    }
                    let end: &[u8] = match shape {
                        Shape::Trailers => b"0\r\nx-trailer: t\r\n\r\n",
                        _ => b"0\r\n\r\n",
                    };
                    let _ = stream.write_all(end);
                }
            }
            let r = read_response(&mut BufReader::new(stream), method == "HEAD").unwrap();
            (r.status, r.body)
        }
    }
}

/// The requests marked `mark` the upstream received, as `METHOD path body=...`.
pub fn upstream_got(s: &Stack, mark: &str) -> Vec<String> {
    (s.echo.requests().into_iter())
        .filter(|r| r.header(MARK) == Some(mark))
        .map(|r| format!("{} {} body={:?}", r.method, r.path, r.body))
        .collect()
}

/// A `POST` of `body` to `host` `path` with `headers` and `trailers`, over HTTP/1.1 (one chunk,
/// `Connection: close`) or HTTP/2: the answer (an HTTP/2 answer's headers are not kept).
pub fn post_with_trailers(
    port: u16,
    h2: bool,
    (host, path): (&str, &str),
    headers: &[(&str, &str)],
    body: &str,
    trailers: &[(&str, &str)],
) -> Result<e2e::Response, String> {
    if h2 {
        let sent = e2e::h2::send_with_trailers(
            port,
            "POST",
            host,
            path,
            headers,
            body.as_bytes(),
            trailers,
        );
        return sent
            .map(|r| e2e::Response {
                status: r.status,
                reason: String::new(),
                headers: Vec::new(),
                body: r.body,
            })
            .map_err(|e| e.to_string());
    }
    let mut wire = format!("POST {path} HTTP/1.1\r\nHost: {host}\r\n");
    for (k, v) in headers {
        wire.push_str(&format!("{k}: {v}\r\n"));
    }
    wire.push_str("Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n");
    wire.push_str(&format!("{:x}\r\n{body}\r\n0\r\n", body.len()));
    for (k, v) in trailers {
        wire.push_str(&format!("{k}: {v}\r\n"));
    }
    wire.push_str("\r\n");
    e2e::http::send_raw(port, wire.as_bytes()).map_err(|e| e.to_string())
}
