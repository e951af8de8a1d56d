//! Fixtures of the attacker's suites (`adversarial_*.rs`): a backend with numbered apps of
//! every kind (one fresh cache key per case), 3scale and local services on their own hosts,
//! request shapes (bodies, chunked, trailers, `Expect: 100-continue`, HTTP/2), a runner that
//! sends many tagged cases at once, and the check "a denial never reaches the upstream, an
//! authorized request reaches it exactly once with its body intact".

use super::cache::pin_clock;
use super::{Stack, TOKEN};
use e2e::curl::Curl;
use e2e::http::read_response;
use e2e::jwt::{self, Signer};
use e2e::mock_backend::{App, MockBackend, Period, ReceivedRequest, Service, State};
use e2e::{EchoRequest, Request, Response};
use serde_json::{json, Value};
use std::io::{self, BufReader, Cursor, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;
use tollgate_core::auth::digest::stored_form;

/// The marker header every case carries, so the upstream's log tells cases apart.
pub const MARK: &str = "x-adv-case";
/// The `secret_token` of every service.
pub const SECRET: &str = "upstream-s3cret-value";
/// Numbered apps of each kind the backend knows: `uk-ok-<n>`, `uk-dis-<n>`, ...
pub const APPS: usize = 48;
/// API keys of the local services.
pub const WRITER_KEY: &str = "wk_adv_0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d";
pub const OTHER_KEY: &str = "ok_adv_5f0c8e7a1b2d4c6e9f1a3b5c7d9e0f21";
pub const ADMIN_SECRET: &str = "adm1n-header-s3cret";
pub const HS_SECRET: &[u8] = b"0123456789abcdef0123456789abcdef-adversarial";
/// Body of the path check's refusal.
pub const AMBIGUOUS: &str = "Bad Request: ambiguous path";

pub const AUTH_MISSING: (u16, &str) = (401, "Authentication parameters missing");
pub const AUTH_FAILED: (u16, &str) = (403, "Authentication failed");
pub const NO_MATCH: (u16, &str) = (404, "No Mapping Rule matched");
pub const LIMITS: (u16, &str) = (429, "Limits exceeded");
pub const HTTPS_REQUIRED: (u16, &str) = (403, "HTTPS required");

/// Backend services 1 (user_key, headers), 2 (app_id/app_key, headers), 3 (app_id/app_key,
/// Basic), 4 (user_key, query), 5 (user_key, Bearer) and `APPS` apps of each kind.
pub fn adv_state() -> State {
    let mut s = State::new()
        .service(
            Service::new("1")
                .token(TOKEN)
                .backend_version("1")
                .metric("hits", None)
                .metric("disabled", None)
                .metric("admin", None)
                .metric("public", None),
        )
        .service(
            Service::new("2")
                .token(TOKEN)
                .backend_version("2")
                .metric("hits", None),
        )
        .service(
            Service::new("3")
                .token(TOKEN)
                .backend_version("2")
                .metric("hits", None),
        )
        .service(
            Service::new("4")
                .token(TOKEN)
                .backend_version("1")
                .metric("hits", None),
        )
        .service(
            Service::new("5")
                .token(TOKEN)
                .backend_version("1")
                .metric("hits", None),
        )
        // A user_key sent as a Bearer token (service 5, `authorization`).
        .app(
            App::new("5", "bearer-app")
                .user_key("uk-bearer")
                .plan("Free"),
        )
        // HTTP Basic with a colon in the password (RFC 7617: split at the first colon).
        .app(App::new("3", "user").app_keys(&["pa:ss"]).plan("Free"));
    for n in 0..APPS {
        s = s
            .app(
                App::new("1", &format!("ok-{n}"))
                    .user_key(&format!("uk-ok-{n}"))
                    .plan("Free"),
            )
            .app(
                App::new("1", &format!("dis-{n}"))
                    .user_key(&format!("uk-dis-{n}"))
                    .plan("NoDisabled")
                    .disable_metric("disabled"),
            )
            .app(
                App::new("1", &format!("lim-{n}"))
                    .user_key(&format!("uk-lim-{n}"))
                    .plan("One")
                    .limit("hits", Period::Minute, 1),
            )
            .app(
                App::new("2", &format!("app-ok-{n}"))
                    .app_keys(&["key-ok"])
                    .plan("Free"),
            )
            .app(
                App::new("3", &format!("bapp-{n}"))
                    .app_keys(&["bkey"])
                    .plan("Free"),
            )
            .app(
                App::new("4", &format!("q-{n}"))
                    .user_key(&format!("uk-q-{n}"))
                    .plan("Free"),
            );
    }
    s
}

/// Freezes the backend clock and spends the only hit of every `uk-lim-<n>` (409 → 429).
pub fn use_up_limits(backend: &MockBackend) {
    pin_clock(backend, 5);
    for n in 0..APPS {
        backend.set_counter("1", &format!("lim-{n}"), "hits", Period::Minute, 1);
    }
}

fn rule(pattern: &str, metric: &str) -> Value {
    json!({"http_method": "ANY", "pattern": pattern, "metric_system_name": metric, "delta": 1})
}

/// A 3scale service on its own host with `secret_token` [`SECRET`].
pub fn three_scale(id: u64, version: u64, host: &str, location: &str, rules: Value) -> Value {
    json!({
        "id": id, "system_name": format!("adv-{id}"), "backend_version": version,
        "backend_authentication_type": "service_token", "backend_authentication_value": TOKEN,
        "proxy": {"hosts": [host], "credentials_location": location, "secret_token": SECRET,
                  "proxy_rules": rules}
    })
}

/// The 3scale services: `hdr.example.com` (1: user_key header; `/api` hits, `/disabled`
/// disabled), `app.example.com` (2: app_id/app_key headers), `basic.example.com` (3: app
/// id/key in HTTP Basic), `query.example.com` (4: user_key in the query or a form body).
pub fn three_scale_services() -> Vec<Value> {
    vec![
        three_scale(
            1,
            1,
            "hdr.example.com",
            "headers",
            json!([rule("/api", "hits"), rule("/disabled", "disabled")]),
        ),
        three_scale(
            2,
            2,
            "app.example.com",
            "headers",
            json!([rule("/api", "hits")]),
        ),
        three_scale(
            3,
            2,
            "basic.example.com",
            "authorization",
            json!([rule("/api", "hits")]),
        ),
        three_scale(
            4,
            1,
            "query.example.com",
            "query",
            json!([rule("/api", "hits")]),
        ),
    ]
}

/// The JWT signer of `jwt.example.com`.
pub fn signer() -> Signer {
    Signer::hs256(HS_SECRET, "adv-hs")
}

/// A token of `jwt.example.com` with these roles, valid for 10 minutes.
pub fn token(roles: &[&str]) -> String {
    signer()
        .token(&json!({"sub": "u1", "azp": "client-1", "exp": jwt::now() + 600, "roles": roles}))
}

fn api_keys() -> Value {
    json!({"header": "APIKey", "query": "api_key", "keys": [
        {"id": "writer", "hash": stored_form(WRITER_KEY), "grants": [{"namespace": "models", "actions": ["*"]}]},
        {"id": "other", "hash": stored_form(OTHER_KEY), "grants": [{"namespace": "datasets", "actions": ["*"]}]}
    ]})
}

/// Local services: `local.example.com` (10: API keys with grants on namespace `models`,
/// header secret on `/admin`), `jwt.example.com` (11: `/api` needs role `admin`),
/// `strict.example.com` (12: HTTPS only).
pub fn local_services() -> Vec<Value> {
    let ns = |p: &str| json!({"http_method": "ANY", "pattern": p, "metric_system_name": "hits", "delta": 1, "namespace": "models"});
    vec![
        json!({"id": 10, "authentication": {"mode": "local", "api_keys": api_keys(),
                "header_secrets": [{"path_prefix": "/admin", "header": "X-Admin-Secret", "secret": ADMIN_SECRET}]},
               "proxy": {"hosts": ["local.example.com"], "secret_token": SECRET,
                         "proxy_rules": [ns("/api"), ns("/admin")]}}),
        json!({"id": 11, "authentication": {"mode": "local", "jwt": {"jwks": Signer::jwks(&[&signer()])}},
               "proxy": {"hosts": ["jwt.example.com"], "secret_token": SECRET, "proxy_rules": [
                   {"http_method": "ANY", "pattern": "/api", "metric_system_name": "hits", "delta": 1, "roles": ["admin"]}]}}),
        json!({"id": 12, "authentication": {"mode": "local", "api_keys": api_keys(), "https_only": true},
               "proxy": {"hosts": ["strict.example.com"], "secret_token": SECRET, "proxy_rules": [ns("/api")]}}),
    ]
}

/// The filter configuration; `batching`: the authorization cache (60 s) instead of authrep.
pub fn adv_config(services: Vec<Value>, batching: bool) -> Value {
    let mut c = json!({
        // A generous timeout: this machine is shared, and a slow answer must not pass for a
        // denial (backend faults are tested with their own 500 ms).
        "backend": {"cluster": "threescale_backend", "authority": "backend.example", "timeout_ms": 3000},
        "services": services
    });
    if batching {
        c["backend"]["batching"] =
            json!({"auths_ttl": 60, "batch_report_seconds": 60, "denied_ttl": 60});
    }
    c
}

/// Echo upstream, [`adv_state`] backend and Envoy with 2 workers and HTTP/1.1 trailers on.
pub fn adv_stack(cfg: Value) -> Stack {
    Stack::start_with(cfg, adv_state(), |b| b.concurrency(2).http1_trailers())
}

/// Same, with Envoy's path normalisation off (`raw_paths`) when `raw`.
pub fn adv_stack_paths(cfg: Value, raw: bool) -> Stack {
    Stack::start_with(cfg, adv_state(), |b| {
        let b = b.concurrency(2);
        if raw {
            b.raw_paths()
        } else {
            b
        }
    })
}

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

/// The upstream's requests tagged with `mark` (header, or the path for curl-less shapes).
pub fn seen<'a>(upstream: &'a [EchoRequest], mark: &str) -> Vec<&'a EchoRequest> {
    upstream
        .iter()
        .filter(|r| r.header(MARK) == Some(mark))
        .collect()
}

/// Checks one case; `None` when it held, else a line saying what went wrong.
pub fn verdict(
    upstream: &[EchoRequest],
    mark: &str,
    sent: &Sent,
    expect: Expect,
) -> Option<String> {
    let got = seen(upstream, mark);
    let resp = match &sent.response {
        Ok(r) => r,
        Err(e) => {
            return Some(format!(
                "{mark}: no response ({e}); upstream saw it {} time(s)",
                got.len()
            ))
        }
    };
    let short = |s: &str| s.chars().take(60).collect::<String>();
    match expect {
        Expect::Denied(status, body) => {
            let mut problems = Vec::new();
            if !got.is_empty() {
                problems.push(format!("LEAKED upstream {} time(s)", got.len()));
            }
            if resp.status != status || resp.body != body {
                problems.push(format!(
                    "answered {} {:?}, expected {status} {body:?}",
                    resp.status,
                    short(&resp.body)
                ));
            }
            (!problems.is_empty()).then(|| format!("{mark}: {}", problems.join("; ")))
        }
        Expect::Allowed => {
            let mut problems = Vec::new();
            if resp.status != 200 {
                problems.push(format!("answered {} {:?}", resp.status, short(&resp.body)));
            }
            if got.len() != 1 {
                problems.push(format!("upstream saw it {} time(s)", got.len()));
            }
            if let Some(r) = got.first() {
                if r.method != sent.method || r.body != sent.body {
                    problems.push(format!(
                        "upstream got {} {:?}, sent {} {:?}",
                        r.method,
                        short(&r.body),
                        sent.method,
                        short(&sent.body)
                    ));
                }
            }
            (!problems.is_empty()).then(|| format!("{mark}: {}", problems.join("; ")))
        }
    }
}

/// Runs the cases, waits for stragglers to reach the upstream, checks each one and returns
/// the list of failures.
pub fn run_and_check(
    stack: &Stack,
    cases: &[(String, Shape, Case, Expect)],
    parallel: usize,
) -> Vec<String> {
    let plain: Vec<(String, Shape, Case)> = cases
        .iter()
        .map(|(m, s, c, _)| (m.clone(), *s, c.clone()))
        .collect();
    let sent = run_all(stack.port(), &plain, parallel);
    std::thread::sleep(Duration::from_millis(400));
    let upstream = stack.echo.requests();
    cases
        .iter()
        .zip(&sent)
        .filter_map(|((mark, _, _, expect), s)| verdict(&upstream, mark, s, *expect))
        .collect()
}

/// Panics with the list when it is not empty.
pub fn assert_none(what: &str, failures: &[String], total: usize) {
    assert!(
        failures.is_empty(),
        "{what}: {} failure(s) in {total} case(s):\n  {}",
        failures.len(),
        failures.join("\n  ")
    );
}

/// The `usage[...]` metrics of a backend call, with their values.
pub fn usage(call: &ReceivedRequest) -> Vec<(String, String)> {
    call.query
        .iter()
        .filter_map(|(k, v)| {
            k.strip_prefix("usage[")
                .and_then(|m| m.strip_suffix(']'))
                .map(|m| (m.to_string(), v.clone()))
        })
        .collect()
}

/// Sends `n` valid requests to `hdr.example.com` (on fresh connections, so both workers get
/// some) and says which did not answer 200: a trapped VM answers 503 on its worker.
pub fn still_serving(port: u16, n: usize, key: &str) -> Vec<String> {
    (0..n)
        .filter_map(|i| {
            let r = Request::get("/api/alive")
                .header("Host", "hdr.example.com")
                .header("user_key", key)
                .try_send(port);
            match r {
                Ok(r) if r.status == 200 => None,
                Ok(r) => Some(format!("follow-up #{i}: {} {:?}", r.status, r.body)),
                Err(e) => Some(format!("follow-up #{i}: {e}")),
            }
        })
        .collect()
}

/// The log lines saying a VM trapped.
pub fn traps(stack: &Stack) -> Vec<String> {
    stack
        .envoy
        .log()
        .lines()
        .filter(|l| l.contains("panicked at") || l.contains("RuntimeError"))
        .map(str::to_string)
        .collect()
}
