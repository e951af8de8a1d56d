//! A small raw HTTP/1.1 client over `TcpStream`.
//!
//! The request target is written byte for byte, so tests can send `/a/../b`,
//! `%2F`, odd query strings or duplicate headers exactly as a client would.
//! One request per connection (`Connection: close` by default).
//!
//! ```no_run
//! use e2e::http::Request;
//! # let port = 10000;
//! let resp = Request::get("/a/../b?user_key=k")
//!     .header("x-dup", "1")
//!     .header("x-dup", "2")
//!     .send(port);
//! assert_eq!(resp.status, 200);
//! assert_eq!(resp.header("content-type"), Some("application/json"));
//! ```

use std::io::{self, BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use echo_upstream::EchoRequest;

/// Default connect/read/write timeout.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(20);

/// An HTTP/1.1 request under construction. See the [module docs](self).
#[derive(Debug, Clone)]
pub struct Request {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
    body: Option<Vec<u8>>,
    timeout: Duration,
    default_headers: bool,
}

impl Request {
    /// A request with any method and request target.
    pub fn new(method: &str, target: &str) -> Self {
        Self {
            method: method.to_owned(),
            target: target.to_owned(),
            headers: Vec::new(),
            body: None,
            timeout: DEFAULT_TIMEOUT,
            default_headers: true,
        }
    }

    /// `GET target`.
    pub fn get(target: &str) -> Self {
        Self::new("GET", target)
    }

    /// `POST target`.
    pub fn post(target: &str) -> Self {
        Self::new("POST", target)
    }

    /// `PUT target`.
    pub fn put(target: &str) -> Self {
        Self::new("PUT", target)
    }

    /// `PATCH target`.
    pub fn patch(target: &str) -> Self {
        Self::new("PATCH", target)
    }

    /// `DELETE target`.
    pub fn delete(target: &str) -> Self {
        Self::new("DELETE", target)
    }

    /// `HEAD target` (the response body is not read).
    pub fn head(target: &str) -> Self {
        Self::new("HEAD", target)
    }

    /// `OPTIONS target`.
    pub fn options(target: &str) -> Self {
        Self::new("OPTIONS", target)
    }

    /// Replaces the method.
    pub fn method(mut self, method: &str) -> Self {
        self.method = method.to_owned();
        self
    }

    /// Appends a header (repeat the call to send duplicates; order is kept).
    ///
    /// A `Host`, `Connection` or `Content-Length` given here replaces the default one.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Sets the body; `Content-Length` is added unless given explicitly
    /// (or `Transfer-Encoding` is given).
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = Some(body.into());
        self
    }

    /// Sets a JSON body and `Content-Type: application/json`.
    pub fn json(self, value: &serde_json::Value) -> Self {
        self.header("Content-Type", "application/json")
            .body(value.to_string())
    }

    /// Sets an `application/x-www-form-urlencoded` body (pairs are written as given,
    /// not encoded).
    pub fn form(self, pairs: &[(&str, &str)]) -> Self {
        let body = pairs
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("&");
        self.header("Content-Type", "application/x-www-form-urlencoded")
            .body(body)
    }

    /// Connect/read/write timeout (default 20 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Do not add the default `Host: localhost` and `Connection: close` headers.
    /// (`Content-Length` is still added for a body.) Note that the server may then
    /// keep the connection open, so only use it with responses that have a length.
    pub fn no_default_headers(mut self) -> Self {
        self.default_headers = false;
        self
    }

    fn has_header(&self, name: &str) -> bool {
        self.headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case(name))
    }

    /// The exact bytes that [`send`](Self::send) writes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = format!("{} {} HTTP/1.1\r\n", self.method, self.target);
        if self.default_headers && !self.has_header("host") {
            out.push_str("Host: localhost\r\n");
        }
        for (k, v) in &self.headers {
            out.push_str(&format!("{k}: {v}\r\n"));
        }
        if let Some(body) = &self.body {
            if !self.has_header("content-length") && !self.has_header("transfer-encoding") {
                out.push_str(&format!("Content-Length: {}\r\n", body.len()));
            }
        }
        if self.default_headers && !self.has_header("connection") {
            out.push_str("Connection: close\r\n");
        }
        out.push_str("\r\n");
        let mut bytes = out.into_bytes();
        if let Some(body) = &self.body {
            bytes.extend_from_slice(body);
        }
        bytes
    }

    /// Sends the request to `127.0.0.1:port` and reads the response.
    pub fn try_send(&self, port: u16) -> io::Result<Response> {
        let head_only = self.method.eq_ignore_ascii_case("HEAD");
        exchange(port, &self.to_bytes(), head_only, self.timeout)
    }

    /// Like [`try_send`](Self::try_send) but panics (failing the test) on I/O errors.
    pub fn send(&self, port: u16) -> Response {
        match self.try_send(port) {
            Ok(resp) => resp,
            Err(e) => panic!(
                "HTTP request `{} {}` to 127.0.0.1:{port} failed: {e}",
                self.method, self.target
            ),
        }
    }
}

/// Sends arbitrary bytes (e.g. a malformed request) to `127.0.0.1:port` and parses
/// the response. The caller is responsible for `Connection: close` or framing.
pub fn send_raw(port: u16, bytes: &[u8]) -> io::Result<Response> {
    exchange(port, bytes, false, DEFAULT_TIMEOUT)
}

/// A parsed HTTP/1.1 response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// Status code, e.g. 200.
    pub status: u16,
    /// Reason phrase, e.g. `OK`.
    pub reason: String,
    /// Headers in received order, names as sent by the server.
    pub headers: Vec<(String, String)>,
    /// Body (de-chunked, lossy UTF-8).
    pub body: String,
}

impl Response {
    /// First value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// All values of header `name` (case-insensitive).
    pub fn header_all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The body parsed as JSON (panics with the body if it is not JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("response body is not JSON ({e}): {self}"))
    }

    /// True when the response came from the echo upstream (`x-upstream: echo`).
    pub fn from_echo(&self) -> bool {
        self.header("x-upstream") == Some("echo")
    }

    /// The request as the echo upstream saw it, parsed from the body, or `None`
    /// if this is not an echo response.
    pub fn try_echo(&self) -> Option<EchoRequest> {
        EchoRequest::from_json(&self.body).ok()
    }

    /// Like [`try_echo`](Self::try_echo) but panics (showing the response) if the
    /// body is not an echo.
    pub fn echo(&self) -> EchoRequest {
        self.try_echo()
            .unwrap_or_else(|| panic!("expected an echo-upstream response, got: {self}"))
    }
}

impl std::fmt::Display for Response {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "HTTP/1.1 {} {}", self.status, self.reason)?;
        for (k, v) in &self.headers {
            writeln!(f, "{k}: {v}")?;
        }
        writeln!(f)?;
        write!(f, "{}", self.body)
    }
}

fn exchange(port: u16, request: &[u8], head_only: bool, timeout: Duration) -> io::Result<Response> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut stream = TcpStream::connect_timeout(&addr, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    stream.write_all(request)?;
    stream.flush()?;
    let mut reader = BufReader::new(stream);
    read_response(&mut reader, head_only)
}

/// Reads one response from `reader` (skipping interim 1xx responses).
pub fn read_response(reader: &mut impl BufRead, head_only: bool) -> io::Result<Response> {
    loop {
        let status_line = read_line(reader)?;
        if status_line.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "connection closed before a response was received",
            ));
        }
        let mut parts = status_line.splitn(3, ' ');
        let version = parts.next().unwrap_or("");
        if !version.starts_with("HTTP/") {
            return Err(invalid(format!("bad status line {status_line:?}")));
        }
        let status: u16 = parts
            .next()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| invalid(format!("bad status line {status_line:?}")))?;
        let reason = parts.next().unwrap_or("").to_owned();

        let mut headers = Vec::new();
        loop {
            let line = read_line(reader)?;
            if line.is_empty() {
                break;
            }
            let (k, v) = line
                .split_once(':')
                .ok_or_else(|| invalid(format!("bad header line {line:?}")))?;
            headers.push((k.trim().to_owned(), v.trim().to_owned()));
        }
        if (100..200).contains(&status) && status != 101 {
            continue; // interim response, e.g. 100 Continue
        }
        let mut resp = Response {
            status,
            reason,
            headers,
            body: String::new(),
        };
        if head_only || status == 204 || status == 304 || status == 101 {
            return Ok(resp);
        }
        let chunked = resp
            .header_all("transfer-encoding")
            .iter()
            .any(|v| v.to_ascii_lowercase().contains("chunked"));
        let body = if chunked {
            read_chunked(reader)?
        } else if let Some(len) = resp.header("content-length") {
            let len: usize = len
                .parse()
                .map_err(|_| invalid(format!("bad content-length {len:?}")))?;
            let mut buf = vec![0; len];
            reader.read_exact(&mut buf)?;
            buf
        } else {
            let mut buf = Vec::new();
            reader.read_to_end(&mut buf)?;
            buf
        };
        resp.body = String::from_utf8_lossy(&body).into_owned();
        return Ok(resp);
    }
}

fn read_chunked(reader: &mut impl BufRead) -> io::Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let line = read_line(reader)?;
        let size = line.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size, 16)
            .map_err(|_| invalid(format!("bad chunk size line {line:?}")))?;
        if size == 0 {
            // Trailers, up to the empty line.
            while !read_line(reader)?.is_empty() {}
            return Ok(body);
        }
        let start = body.len();
        body.resize(start + size, 0);
        reader.read_exact(&mut body[start..])?;
        let crlf = read_line(reader)?;
        if !crlf.is_empty() {
            return Err(invalid("missing CRLF after chunk".into()));
        }
    }
}

/// Reads a line without its CRLF; returns "" at EOF (callers treat it as an end).
fn read_line(reader: &mut impl BufRead) -> io::Result<String> {
    let mut buf = Vec::new();
    reader.read_until(b'\n', &mut buf)?;
    while matches!(buf.last(), Some(b'\n' | b'\r')) {
        buf.pop();
    }
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_format_defaults() {
        let bytes = Request::post("/a/../b%2F?x=1")
            .header("X-A", "1")
            .header("x-a", "2")
            .body("hi")
            .to_bytes();
        assert_eq!(
            String::from_utf8(bytes).unwrap(),
            "POST /a/../b%2F?x=1 HTTP/1.1\r\nHost: localhost\r\nX-A: 1\r\nx-a: 2\r\n\
             Content-Length: 2\r\nConnection: close\r\n\r\nhi"
        );
        let bytes = Request::get("/")
            .header("host", "api.example.com")
            .to_bytes();
        assert_eq!(
            String::from_utf8(bytes).unwrap(),
            "GET / HTTP/1.1\r\nhost: api.example.com\r\nConnection: close\r\n\r\n"
        );
    }

    #[test]
    fn parses_chunked_and_interim() {
        let raw = "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\
                   X-A: b\r\n\r\n3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\nT: 1\r\n\r\n";
        let resp = read_response(&mut raw.as_bytes(), false).unwrap();
        assert_eq!(resp.status, 200);
        assert_eq!(resp.body, "abcde");
        assert_eq!(resp.header("x-a"), Some("b"));
    }

    #[test]
    fn parses_content_length_and_eof() {
        let raw = "HTTP/1.1 403 Forbidden\r\ncontent-length: 4\r\n\r\nnopeEXTRA";
        let resp = read_response(&mut raw.as_bytes(), false).unwrap();
        assert_eq!(
            (resp.status, resp.reason.as_str(), resp.body.as_str()),
            (403, "Forbidden", "nope")
        );
        let raw = "HTTP/1.0 200 OK\r\n\r\nuntil eof";
        let resp = read_response(&mut raw.as_bytes(), false).unwrap();
        assert_eq!(resp.body, "until eof");
    }
}
