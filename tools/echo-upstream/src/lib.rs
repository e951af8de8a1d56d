//! A tiny HTTP/1.1 "echo" upstream for Tollgate's end-to-end tests and demo.
//!
//! Every request is answered with `Content-Type: application/json`,
//! `x-upstream: echo` and a JSON body describing what the server received:
//!
//! ```json
//! {"method":"GET","path":"/a/b?x=1","headers":[["host","localhost"],["x-a","1"]],"body":""}
//! ```
//!
//! * `path` is the request target exactly as received (query string included),
//! * `headers` keeps duplicates, their values as sent, names lower-cased, in received order,
//!   except that every value of a repeated name follows that name's first appearance
//!   (`a: 1`, `b: 2`, `a: 3` is recorded as `a: 1`, `a: 3`, `b: 2`),
//! * `body` is the request body (lossy UTF-8),
//! * `trailers` are the request trailers (chunked HTTP/1.1), names lower-cased, values as sent,
//!   duplicates kept, grouped like `headers`; absent from the JSON when there were none.
//!
//! Special paths (matched on the path part, query ignored):
//!
//! * `/status/<code>[/...]`: answer with status `<code>` (100..=599) instead of 200;
//! * `/delay/<ms>[/...]`: wait `<ms>` milliseconds (at most 60 s) before answering.
//!
//! Every request is also recorded, before its response is written, and can be
//! read back with [`EchoUpstream::requests`].
//!
//! The server is hyper (HTTP/1.1, keep-alive, any number of concurrent connections). It
//! refuses with 400 a request target that is not a valid URI reference: control characters,
//! spaces, `<`, `>`, `` ` ``, `"` in the query, bytes that are not UTF-8; it drops a
//! `#fragment` (Envoy refuses both before they get here).
//!
//! ```no_run
//! let echo = echo_upstream::EchoUpstream::start()?;
//! println!("listening on 127.0.0.1:{}", echo.port());
//! // ... send traffic ...
//! for r in echo.requests() {
//!     println!("{} {} key={:?}", r.method, r.path, r.header("x-api-key"));
//! }
//! # Ok::<(), std::io::Error>(())
//! ```

use std::convert::Infallible;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::ext::ReasonPhrase;
use hyper::header::{HeaderMap, HeaderValue, CONTENT_TYPE};
use hyper::service::service_fn;
use hyper::StatusCode;
use hyper_util::rt::TokioIo;
use serde::{Deserialize, Serialize};
use tokio::runtime::Runtime;

/// One request as seen by the echo upstream (and as serialised in its responses).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EchoRequest {
    /// Request method, e.g. `GET`.
    pub method: String,
    /// Request target as received, including the query string.
    pub path: String,
    /// Headers in received order (repeats of a name grouped after its first appearance),
    /// names lower-cased, duplicates kept.
    pub headers: Vec<(String, String)>,
    /// Request body (lossy UTF-8).
    pub body: String,
    /// Request trailers (the trailer section of a chunked body), grouped like `headers`,
    /// names lower-cased, duplicates kept. Empty when there were none; older JSON without
    /// the field parses as empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub trailers: Vec<(String, String)>,
}

impl EchoRequest {
    /// First value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// All values of header `name` (case-insensitive), in received order.
    pub fn header_all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// Whether header `name` is present at all (case-insensitive).
    pub fn has_header(&self, name: &str) -> bool {
        self.header(name).is_some()
    }

    /// All values of trailer `name` (case-insensitive), in received order.
    pub fn trailer_all(&self, name: &str) -> Vec<&str> {
        self.trailers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The path part of the request target (everything before `?`).
    pub fn path_only(&self) -> &str {
        self.path.split('?').next().unwrap_or("")
    }

    /// The query string (after `?`), if any.
    pub fn query(&self) -> Option<&str> {
        self.path.split_once('?').map(|(_, q)| q)
    }

    /// Parses an echo response body back into an [`EchoRequest`].
    pub fn from_json(body: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(body)
    }

    /// Serialises this request the way the upstream puts it in its responses.
    pub fn to_json(&self) -> String {
        // Serialising plain strings and tuples cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// A running echo server. Stops accepting requests, and closes its connections, when dropped.
///
/// HTTP/1.1 with keep-alive (hyper), served by a tokio runtime of its own that this handle
/// owns: any number of connections, each with any number of requests, concurrently.
pub struct EchoUpstream {
    addr: SocketAddr,
    requests: Arc<Mutex<Vec<EchoRequest>>>,
    runtime: Option<Runtime>,
    accept: Option<tokio::task::JoinHandle<()>>,
}

impl EchoUpstream {
    /// Starts a server on `127.0.0.1:0` (a free port).
    pub fn start() -> io::Result<Self> {
        Self::start_on("127.0.0.1:0")
    }

    /// Starts a server on `addr`, e.g. `"127.0.0.1:8000"`.
    pub fn start_on(addr: impl ToSocketAddrs) -> io::Result<Self> {
        let listener = std::net::TcpListener::bind(addr)?;
        let addr = listener.local_addr()?;
        listener.set_nonblocking(true)?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(WORKER_THREADS)
            .thread_name(format!("echo-upstream-{}", addr.port()))
            .enable_all()
            .build()?;
        let listener = {
            let _entered = runtime.enter();
            tokio::net::TcpListener::from_std(listener)?
        };
        let requests = Arc::new(Mutex::new(Vec::new()));
        let accept = runtime.spawn(accept_loop(listener, Arc::clone(&requests)));
        Ok(Self {
            addr,
            requests,
            runtime: Some(runtime),
            accept: Some(accept),
        })
    }

    /// The TCP port the server listens on.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Every request received so far, oldest first.
    pub fn requests(&self) -> Vec<EchoRequest> {
        lock(&self.requests).clone()
    }

    /// The most recent request, if any.
    pub fn last_request(&self) -> Option<EchoRequest> {
        lock(&self.requests).last().cloned()
    }

    /// Number of requests received so far.
    pub fn request_count(&self) -> usize {
        lock(&self.requests).len()
    }

    /// Forgets the requests recorded so far.
    pub fn clear(&self) {
        lock(&self.requests).clear();
    }

    /// Blocks the calling thread until the server is stopped (used by the binary).
    pub fn join(mut self) {
        if let (Some(runtime), Some(accept)) = (&self.runtime, self.accept.take()) {
            let _ = runtime.block_on(accept);
        }
    }
}

impl Drop for EchoUpstream {
    fn drop(&mut self) {
        // Cancels every task (the listener and each connection, delayed answers included) and
        // waits for the worker threads, so the port and connections are closed on return.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_timeout(SHUTDOWN_TIMEOUT);
        }
    }
}

/// Worker threads of each server's runtime: answers are cheap, delays are timers.
const WORKER_THREADS: usize = 2;

/// Hyper's default (100) is Envoy's own limit, before Envoy adds headers of its own.
const MAX_HEADERS: usize = 1000;

const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

async fn accept_loop(listener: tokio::net::TcpListener, requests: Arc<Mutex<Vec<EchoRequest>>>) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                let _ = stream.set_nodelay(true);
                tokio::spawn(serve_connection(stream, Arc::clone(&requests)));
            }
            Err(e) => {
                // E.g. out of file descriptors: try again shortly rather than spin.
                eprintln!("echo-upstream: accept error: {e}");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

async fn serve_connection(stream: tokio::net::TcpStream, requests: Arc<Mutex<Vec<EchoRequest>>>) {
    let service = service_fn(move |request| {
        let requests = Arc::clone(&requests);
        async move { Ok::<_, Infallible>(handle(request, &requests).await) }
    });
    let served = hyper::server::conn::http1::Builder::new()
        .max_headers(MAX_HEADERS)
        .serve_connection(TokioIo::new(stream), service)
        .await;
    if let Err(e) = served {
        // A client going away mid-request is normal in the tests; anything else is worth a line.
        if !(e.is_incomplete_message() || e.is_canceled() || e.is_closed()) {
            eprintln!("echo-upstream: connection error: {e}");
        }
    }
}

async fn handle(
    request: hyper::Request<Incoming>,
    requests: &Mutex<Vec<EchoRequest>>,
) -> hyper::Response<Full<Bytes>> {
    let (parts, body) = request.into_parts();
    let (body, trailers) = read_body(body).await;
    let echo = EchoRequest {
        method: parts.method.as_str().to_owned(),
        path: raw_target(&parts.uri),
        headers: pairs(&parts.headers),
        body: String::from_utf8_lossy(&body).into_owned(),
        trailers: pairs(&trailers),
    };
    let (status, delay) = special_path(echo.path_only());
    let json = echo.to_json();
    lock(requests).push(echo);

    if let Some(delay) = delay {
        tokio::time::sleep(delay).await;
    }
    let mut response = hyper::Response::new(Full::new(Bytes::from(json)));
    set_status(&mut response, status);
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert("x-upstream", HeaderValue::from_static("echo"));
    response
}

/// Sets the status; a code without a standard reason phrase gets `Unknown` (not `<none>`).
fn set_status<B>(response: &mut hyper::Response<B>, status: u16) {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if status.canonical_reason().is_none() {
        response
            .extensions_mut()
            .insert(ReasonPhrase::from_static(b"Unknown"));
    }
    *response.status_mut() = status;
}

/// The request target exactly as received: hyper keeps an origin-form target (`/a%2Fb?x`)
/// byte for byte; other forms (`http://host/p`, `host:443`) are rebuilt from their parts.
fn raw_target(uri: &hyper::Uri) -> String {
    match (uri.scheme(), uri.authority(), uri.path_and_query()) {
        (None, None, Some(target)) => target.as_str().to_owned(),
        _ => uri.to_string(),
    }
}

/// `(name, value)` pairs of a header map (names lower-cased, values lossy UTF-8), in the
/// map's order: received order, repeats of a name grouped after its first appearance.
fn pairs(map: &HeaderMap) -> Vec<(String, String)> {
    map.iter()
        .map(|(name, value)| {
            (
                name.as_str().to_owned(),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            )
        })
        .collect()
}

/// The whole body (de-chunked) and its trailers (hyper's http1 server parses the trailer
/// section of a chunked body into a trailers frame); what arrived before an error if the
/// client went away.
async fn read_body(mut body: Incoming) -> (Vec<u8>, HeaderMap) {
    let mut out = Vec::new();
    let mut trailers = HeaderMap::new();
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(frame) => match frame.into_data() {
                Ok(data) => out.extend_from_slice(&data),
                Err(frame) => {
                    if let Ok(t) = frame.into_trailers() {
                        // Only one trailers frame ends a body; extend in case of several.
                        for (name, value) in &t {
                            trailers.append(name.clone(), value.clone());
                        }
                    }
                }
            },
            Err(e) => {
                eprintln!("echo-upstream: error reading request body: {e}");
                break;
            }
        }
    }
    (out, trailers)
}

/// Status code and delay requested by a special path.
fn special_path(path: &str) -> (u16, Option<Duration>) {
    let mut segments = path.trim_start_matches('/').split('/');
    let first = segments.next().unwrap_or("");
    let arg = segments.next().unwrap_or("");
    match first {
        "status" => match arg.parse::<u16>() {
            Ok(code) if (100..=599).contains(&code) => (code, None),
            _ => (200, None),
        },
        "delay" => match arg.parse::<u64>() {
            Ok(ms) => (200, Some(Duration::from_millis(ms.min(60_000)))),
            Err(_) => (200, None),
        },
        _ => (200, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::TcpStream;

    fn raw(port: u16, request: &str) -> String {
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.write_all(request.as_bytes()).unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    }

    #[test]
    fn echoes_method_path_headers_and_body() {
        let echo = EchoUpstream::start().unwrap();
        let resp = raw(
            echo.port(),
            "POST /a/../b%2Fc?x=1&y=2 HTTP/1.1\r\nHost: h\r\nX-Dup: 1\r\nX-DUP: 2\r\n\
             Content-Length: 5\r\nConnection: close\r\n\r\nhello",
        );
        assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
        assert!(
            resp.to_ascii_lowercase().contains("x-upstream: echo"),
            "{resp}"
        );
        assert!(resp.contains("application/json"), "{resp}");
        let body = &resp[resp.find("\r\n\r\n").unwrap() + 4..];
        let parsed = EchoRequest::from_json(body).unwrap();
        assert_eq!(parsed.method, "POST");
        assert_eq!(parsed.path, "/a/../b%2Fc?x=1&y=2");
        assert_eq!(parsed.header_all("x-dup"), vec!["1", "2"]);
        assert_eq!(parsed.header("HOST"), Some("h"));
        assert_eq!(parsed.body, "hello");
        assert_eq!(parsed.query(), Some("x=1&y=2"));
        let names: Vec<_> = parsed.headers.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(names[..3], ["host", "x-dup", "x-dup"]);
        assert_eq!(echo.requests(), vec![parsed]);
    }

    #[test]
    fn status_path() {
        let echo = EchoUpstream::start().unwrap();
        let resp = raw(
            echo.port(),
            "GET /status/503?q HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
        );
        assert!(resp.starts_with("HTTP/1.1 503"), "{resp}");
        let resp = raw(
            echo.port(),
            "GET /status/xyz HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
        );
        assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
        assert_eq!(echo.request_count(), 2);
    }

    #[test]
    fn special_paths() {
        assert_eq!(special_path("/status/404/x"), (404, None));
        assert_eq!(special_path("/status/99"), (200, None));
        assert_eq!(
            special_path("/delay/5"),
            (200, Some(Duration::from_millis(5)))
        );
        assert_eq!(special_path("/other"), (200, None));
    }
}
