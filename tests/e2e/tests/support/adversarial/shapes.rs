//! Request shapes (bodies, chunked, trailers, `Expect: 100-continue`, HTTP/2) and a runner
//! that sends many tagged cases at once.

use super::*;

/// What one request is, before its shape (method, body, framing) is chosen.
#[derive(Debug, Clone)]
pub struct Case {
    pub host: String,
    /// Path and query.
    pub target: String,
    pub headers: Vec<(String, String)>,
}

impl Case {
    pub fn new(host: &str, target: &str) -> Case {
        Case {
            host: host.into(),
            target: target.into(),
            headers: Vec::new(),
        }
    }

    pub fn header(mut self, name: &str, value: &str) -> Case {
        self.headers.push((name.into(), value.into()));
        self
    }
}

/// What must happen to a case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// 200 from the upstream, which saw it exactly once with the exact method and body.
    Allowed,
    /// This status and body from the filter; the upstream saw nothing.
    Denied(u16, &'static str),
}

/// The request shapes every denial is crossed with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    NoBody,
    Json,
    /// A form body that carries no credential (they are in the query or headers).
    Form,
    GetBody,
    DeleteBody,
    Put,
    Patch,
    Chunked,
    /// Chunked HTTP/1.1 with a request trailer.
    Trailers,
    Expect100,
    H2,
    H2Form,
    /// HTTP/2 with a request trailer (raw frames: curl cannot send trailers).
    H2Trailers,
}

pub const SHAPES: [Shape; 13] = [
    Shape::NoBody,
    Shape::Json,
    Shape::Form,
    Shape::GetBody,
    Shape::DeleteBody,
    Shape::Put,
    Shape::Patch,
    Shape::Chunked,
    Shape::Trailers,
    Shape::Expect100,
    Shape::H2,
    Shape::H2Form,
    Shape::H2Trailers,
];

/// One request sent: what came back.
#[derive(Debug, Clone)]
pub struct Sent {
    pub method: &'static str,
    /// The body as the upstream should receive it (de-chunked).
    pub body: String,
    pub response: Result<Response, String>,
}

impl Shape {
    pub fn method(self) -> &'static str {
        match self {
            Shape::NoBody | Shape::GetBody => "GET",
            Shape::DeleteBody => "DELETE",
            Shape::Put => "PUT",
            Shape::Patch => "PATCH",
            _ => "POST",
        }
    }

    fn body(self, mark: &str) -> String {
        match self {
            Shape::NoBody => String::new(),
            Shape::Form | Shape::H2Form => format!("item=42&mark={mark}&note=a%20b%26c"),
            _ => format!(r#"{{"mark":"{mark}","items":[1,2,3],"note":"a&b=c user_key=x"}}"#),
        }
    }

    fn content_type(self) -> &'static str {
        match self {
            Shape::Form | Shape::H2Form => "application/x-www-form-urlencoded",
            _ => "application/json",
        }
    }

    /// Sends `case` in this shape, tagged with `mark`.
    pub fn send(self, port: u16, case: &Case, mark: &str) -> Sent {
        let method = self.method();
        let body = self.body(mark);
        let mut headers = case.headers.clone();
        headers.push((MARK.into(), mark.into()));
        let response = match self {
            Shape::H2 | Shape::H2Form => {
                let mut c = Curl::new(method, &case.target)
                    .http2()
                    .header("Host", &case.host);
                for (k, v) in &headers {
                    c = c.header(k, v);
                }
                let c = c
                    .header("Content-Type", self.content_type())
                    .body(body.clone());
                // curl 7.88 sometimes drops an early answer followed by Envoy's RST_STREAM
                // (exit 92, nothing printed): ask again, then with the raw HTTP/2 client,
                // which reads the answer before the reset. The upstream check covers all tries.
                let mut r = c.try_send(port).map_err(|e| e.to_string());
                for _ in 0..2 {
                    match &r {
                        Err(e) if e.contains("(92)") => {
                            r = c.try_send(port).map_err(|e| e.to_string())
                        }
                        _ => break,
                    }
                }
                if r.as_ref().is_err_and(|e| e.contains("(92)")) {
                    headers.push(("content-type".into(), self.content_type().into()));
                    r = raw_h2(port, method, case, &headers, &body, &[]);
                }
                r
            }
            Shape::H2Trailers => {
                headers.push(("content-type".into(), self.content_type().into()));
                raw_h2(
                    port,
                    method,
                    case,
                    &headers,
                    &body,
                    &[("x-adv-trailer", "t1")],
                )
            }
            Shape::Expect100 => {
                headers.push(("Content-Type".into(), self.content_type().into()));
                expect_100(port, method, case, &headers, body.as_bytes()).map_err(|e| e.to_string())
            }
            _ => {
                let mut r = Request::new(method, &case.target).header("Host", &case.host);
                for (k, v) in &headers {
                    r = r.header(k, v);
                }
                match self {
                    Shape::NoBody => {}
                    Shape::Chunked | Shape::Trailers => {
                        let (a, b) = body.split_at(body.len() / 2);
                        let mut wire =
                            format!("{:x}\r\n{a}\r\n{:x}\r\n{b}\r\n0\r\n", a.len(), b.len());
                        if self == Shape::Trailers {
                            wire.push_str("x-adv-trailer: t1\r\n");
                        }
                        wire.push_str("\r\n");
                        r = r
                            .header("Content-Type", self.content_type())
                            .header("Transfer-Encoding", "chunked")
                            .body(wire);
                    }
                    _ => {
                        r = r
                            .header("Content-Type", self.content_type())
                            .body(body.clone())
                    }
                }
                r.try_send(port).map_err(|e| e.to_string())
            }
        };
        Sent {
            method,
            body,
            response,
        }
    }
}

/// `case` over HTTP/2 with the raw client ([`e2e::h2`]), with these trailers.
fn raw_h2(
    port: u16,
    method: &str,
    case: &Case,
    headers: &[(String, String)],
    body: &str,
    trailers: &[(&str, &str)],
) -> Result<Response, String> {
    let h: Vec<(&str, &str)> = headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    e2e::h2::send_with_trailers(
        port,
        method,
        &case.host,
        &case.target,
        &h,
        body.as_bytes(),
        trailers,
    )
    .map(|r| Response {
        status: r.status,
        reason: String::new(),
        headers: Vec::new(),
        body: r.body,
    })
    .map_err(|e| e.to_string())
}

/// `Expect: 100-continue`: the head, then the body once a `100 Continue` came (or after 1 s
/// without an answer, as curl does); a final answer instead of the 100 is returned as is.
pub fn expect_100(
    port: u16,
    method: &str,
    case: &Case,
    headers: &[(String, String)],
    body: &[u8],
) -> io::Result<Response> {
    let mut head = format!(
        "{method} {} HTTP/1.1\r\nHost: {}\r\n",
        case.target, case.host
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str(&format!(
        "Content-Length: {}\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n",
        body.len()
    ));
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.write_all(head.as_bytes())?;
    stream.set_read_timeout(Some(Duration::from_secs(1)))?;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let send_body = loop {
        if let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") {
            if got.starts_with(b"HTTP/1.1 100") {
                got.drain(..end + 4);
                break true;
            }
            break false; // a final answer without 100 Continue
        }
        match stream.read(&mut buf) {
            Ok(0) => break false,
            Ok(k) => got.extend_from_slice(&buf[..k]),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                break true
            }
            Err(e) => return Err(e),
        }
    };
    if send_body {
        // The server may have answered already: a failed write is not the test's verdict.
        let _ = stream.write_all(body);
    }
    stream.set_read_timeout(Some(Duration::from_secs(20)))?;
    let mut reader = BufReader::new(Cursor::new(got).chain(stream));
    read_response(&mut reader, false)
}

/// Sends `head` (the request head, with `Content-Length: body_len`) and a body of `body_len`
/// bytes from another thread, and reads the answer meanwhile (the server may answer before
/// the body is read, e.g. 413).
pub fn send_streaming(port: u16, head: &str, body: Vec<u8>) -> io::Result<Response> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(20)))?;
    let mut writer = stream.try_clone()?;
    let head = head.as_bytes().to_vec();
    let t = std::thread::spawn(move || {
        let _ = writer.write_all(&head);
        for chunk in body.chunks(64 * 1024) {
            if writer.write_all(chunk).is_err() {
                return;
            }
        }
    });
    let mut reader = BufReader::new(&mut stream);
    let r = read_response(&mut reader, false);
    drop(reader);
    let _ = stream.shutdown(std::net::Shutdown::Both);
    let _ = t.join();
    r
}

/// Sends every `(mark, shape, case)` with `parallel` threads; results in input order.
pub fn run_all(port: u16, cases: &[(String, Shape, Case)], parallel: usize) -> Vec<Sent> {
    let next = AtomicUsize::new(0);
    let out: Mutex<Vec<Option<Sent>>> = Mutex::new(vec![None; cases.len()]);
    std::thread::scope(|s| {
        for _ in 0..parallel {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some((mark, shape, case)) = cases.get(i) else {
                    return;
                };
                let sent = shape.send(port, case, mark);
                out.lock().unwrap()[i] = Some(sent);
            });
        }
    });
    out.into_inner()
        .unwrap()
        .into_iter()
        .map(|s| s.unwrap())
        .collect()
}
