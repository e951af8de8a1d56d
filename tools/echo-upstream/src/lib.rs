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
//! * `headers` keeps the received order and duplicates, names lower-cased,
//! * `body` is the request body (lossy UTF-8).
//!
//! Special paths (matched on the path part, query ignored):
//!
//! * `/status/<code>[/...]`: answer with status `<code>` (100..=599) instead of 200;
//! * `/delay/<ms>[/...]`: wait `<ms>` milliseconds (at most 60 s) before answering.
//!
//! Every request is also recorded, before its response is written, and can be
//! read back with [`EchoUpstream::requests`].
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

use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// One request as seen by the echo upstream (and as serialised in its responses).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EchoRequest {
    /// Request method, e.g. `GET`.
    pub method: String,
    /// Request target as received, including the query string.
    pub path: String,
    /// Headers in received order, names lower-cased, duplicates kept.
    pub headers: Vec<(String, String)>,
    /// Request body (lossy UTF-8).
    pub body: String,
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

/// A running echo server. Stops accepting requests when dropped.
pub struct EchoUpstream {
    server: Arc<tiny_http::Server>,
    addr: SocketAddr,
    requests: Arc<Mutex<Vec<EchoRequest>>>,
    shutdown: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl EchoUpstream {
    /// Starts a server on `127.0.0.1:0` (a free port).
    pub fn start() -> io::Result<Self> {
        Self::start_on("127.0.0.1:0")
    }

    /// Starts a server on `addr`, e.g. `"127.0.0.1:8000"`.
    pub fn start_on(addr: impl ToSocketAddrs) -> io::Result<Self> {
        let server = tiny_http::Server::http(addr).map_err(io::Error::other)?;
        let addr = server
            .server_addr()
            .to_ip()
            .ok_or_else(|| io::Error::other("echo upstream is not bound to an IP address"))?;
        let server = Arc::new(server);
        let requests = Arc::new(Mutex::new(Vec::new()));
        let shutdown = Arc::new(AtomicBool::new(false));
        let thread = {
            let server = Arc::clone(&server);
            let requests = Arc::clone(&requests);
            let shutdown = Arc::clone(&shutdown);
            std::thread::Builder::new()
                .name(format!("echo-upstream-{}", addr.port()))
                .spawn(move || accept_loop(&server, &requests, &shutdown))?
        };
        Ok(Self {
            server,
            addr,
            requests,
            shutdown,
            thread: Some(thread),
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
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for EchoUpstream {
    fn drop(&mut self) {
        self.shutdown.store(true, Ordering::SeqCst);
        self.server.unblock();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn accept_loop(
    server: &tiny_http::Server,
    requests: &Arc<Mutex<Vec<EchoRequest>>>,
    shutdown: &AtomicBool,
) {
    loop {
        match server.recv() {
            Ok(request) => {
                let requests = Arc::clone(requests);
                // One thread per request so a delayed answer does not block others.
                let spawned = std::thread::Builder::new()
                    .name("echo-request".into())
                    .spawn(move || handle(request, &requests));
                if let Err(e) = spawned {
                    eprintln!("echo-upstream: cannot spawn handler thread: {e}");
                }
            }
            Err(_) if shutdown.load(Ordering::SeqCst) => return,
            Err(e) => {
                eprintln!("echo-upstream: accept error: {e}");
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }
}

fn handle(mut request: tiny_http::Request, requests: &Mutex<Vec<EchoRequest>>) {
    let mut body = Vec::new();
    if let Err(e) = request.as_reader().read_to_end(&mut body) {
        eprintln!("echo-upstream: error reading request body: {e}");
    }
    let echo = EchoRequest {
        method: request.method().as_str().to_owned(),
        path: request.url().to_owned(),
        headers: request
            .headers()
            .iter()
            .map(|h| {
                (
                    h.field.as_str().as_str().to_ascii_lowercase(),
                    h.value.as_str().to_owned(),
                )
            })
            .collect(),
        body: String::from_utf8_lossy(&body).into_owned(),
    };
    let (status, delay) = special_path(echo.path_only());
    let json = echo.to_json();
    lock(requests).push(echo);

    if let Some(delay) = delay {
        std::thread::sleep(delay);
    }
    let mut response = tiny_http::Response::from_string(json).with_status_code(status);
    for (name, value) in [("Content-Type", "application/json"), ("x-upstream", "echo")] {
        if let Ok(h) = tiny_http::Header::from_bytes(name.as_bytes(), value.as_bytes()) {
            response.add_header(h);
        }
    }
    if let Err(e) = request.respond(response) {
        eprintln!("echo-upstream: error writing response: {e}");
    }
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
