//! The HTTP server: hyper (HTTP/1.1 with keep-alive) on a tokio runtime that the
//! [`MockBackend`] handle owns. Connections and requests are served concurrently, so a
//! hung or delayed answer never holds up the others.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::ext::ReasonPhrase;
use hyper::header::{HeaderName, HeaderValue};
use hyper::service::service_fn;
use hyper::StatusCode;
use hyper_util::rt::TokioIo;
use tokio::runtime::Runtime;

use crate::admin::{self, Calls, Stats};
use crate::counters::UsageValue;
use crate::handlers::report::ReportError;
use crate::handlers::{self, HttpRequest};
use crate::model::State;
use crate::periods::Period;
use crate::request::ReceivedRequest;
use crate::response::Response;

/// How transaction endpoints (authorize, authrep, oauth_*, report) answer.
/// Health endpoints (`/status`, `/check.txt`, `/available`) always answer normally, and the
/// admin route `/_mock/stats` answers before `Mode` and latency apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Behave like apisonator.
    Normal,
    /// Answer every transaction call with this status and an empty body (nothing is applied).
    Status(u16),
    /// Accept but do not answer for up to [`HANG_LIMIT`]; the request then gets an empty 500.
    /// A client that gives up first (closes the connection) ends the wait; stopping the mock
    /// closes the connection unanswered. Other requests are unaffected.
    Hang,
}

/// How long `Mode::Hang` holds a request.
pub const HANG_LIMIT: Duration = Duration::from_secs(30);

struct Control {
    mode: Mode,
    latency: Duration,
    now: Option<i64>,
    log: bool,
}

struct Shared {
    state: Mutex<State>,
    requests: Mutex<Vec<ReceivedRequest>>,
    calls: Mutex<Calls>,
    control: Mutex<Control>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Shared {
    fn stats(&self) -> Stats {
        let calls = *lock(&self.calls);
        Stats::collect(calls, &lock(&self.state).counters)
    }

    fn now(&self) -> i64 {
        match lock(&self.control).now {
            Some(t) => t,
            None => system_now(),
        }
    }
}

/// The real time (UNIX seconds), whatever the mock's clock says.
pub(crate) fn system_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// A running mock backend. Dropping it stops the server and closes its connections.
pub struct MockBackend {
    shared: Arc<Shared>,
    addr: SocketAddr,
    runtime: Option<Runtime>,
}

/// Worker threads of each mock's runtime: answers take microseconds, delays are timers.
const WORKER_THREADS: usize = 2;

/// Hyper's default is 100; this mock should not be the limit.
const MAX_HEADERS: usize = 1000;

const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);

impl MockBackend {
    /// Starts on `127.0.0.1` with an ephemeral port.
    pub fn start(state: State) -> std::io::Result<MockBackend> {
        MockBackend::start_on("127.0.0.1:0", state)
    }

    /// Starts on `addr` (e.g. `"127.0.0.1:3000"`).
    pub fn start_on(addr: &str, state: State) -> std::io::Result<MockBackend> {
        let listener = std::net::TcpListener::bind(addr)?;
        let addr = listener.local_addr()?;
        listener.set_nonblocking(true)?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(WORKER_THREADS)
            .thread_name("mock-3scale")
            .enable_all()
            .build()?;
        let listener = {
            let _entered = runtime.enter();
            tokio::net::TcpListener::from_std(listener)?
        };
        let shared = Arc::new(Shared {
            state: Mutex::new(state),
            requests: Mutex::new(Vec::new()),
            calls: Mutex::new(Calls::default()),
            control: Mutex::new(Control {
                mode: Mode::Normal,
                latency: Duration::ZERO,
                now: None,
                log: false,
            }),
        });
        runtime.spawn(accept_loop(listener, Arc::clone(&shared)));
        Ok(MockBackend {
            shared,
            addr,
            runtime: Some(runtime),
        })
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT` (the bound address).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every request received so far, in arrival order.
    pub fn requests(&self) -> Vec<ReceivedRequest> {
        lock(&self.shared.requests).clone()
    }

    pub fn clear_requests(&self) {
        lock(&self.shared.requests).clear();
    }

    pub fn set_mode(&self, mode: Mode) {
        lock(&self.shared.control).mode = mode;
    }

    /// Delay added before every answer.
    pub fn set_latency(&self, latency: Duration) {
        lock(&self.shared.control).latency = latency;
    }

    /// Freezes the clock at `unix_secs` (`None`: real time again).
    pub fn set_now(&self, unix_secs: Option<i64>) {
        lock(&self.shared.control).now = unix_secs;
        lock(&self.shared.state).frozen_clock = unix_secs.is_some();
    }

    /// The mock's current time (UNIX seconds).
    pub fn now(&self) -> i64 {
        self.shared.now()
    }

    /// Logs one line per request to stderr.
    pub fn set_logging(&self, on: bool) {
        lock(&self.shared.control).log = on;
    }

    /// Stored value of the current period instance.
    pub fn counter(&self, service_id: &str, app_id: &str, metric: &str, period: Period) -> u64 {
        let now = self.now();
        lock(&self.shared.state)
            .counters
            .get(service_id, app_id, metric, period, now)
    }

    /// Overwrites the current period instance of a counter.
    pub fn set_counter(
        &self,
        service_id: &str,
        app_id: &str,
        metric: &str,
        period: Period,
        value: u64,
    ) {
        let now = self.now();
        lock(&self.shared.state)
            .counters
            .set(service_id, app_id, metric, period, now, value);
    }

    /// Applies usage as a report would (increment every period), without propagation.
    pub fn add_usage(&self, service_id: &str, app_id: &str, metric: &str, value: u64) {
        let now = self.now();
        lock(&self.shared.state).counters.apply(
            service_id,
            app_id,
            metric,
            UsageValue::Incr(value),
            now,
        );
    }

    /// Sum of all increments ever applied to the metric (authrep and report,
    /// after propagation to ancestors); `#N` sets are not counted.
    pub fn reported_hits(&self, service_id: &str, app_id: &str, metric: &str) -> u64 {
        lock(&self.shared.state)
            .counters
            .total(service_id, app_id, metric)
    }

    /// Forgets all counters (and totals).
    pub fn reset_counters(&self) {
        lock(&self.shared.state).counters.clear();
    }

    /// What `GET /_mock/stats` answers: calls per transaction endpoint since start, usage
    /// applied per service and metric.
    pub fn stats(&self) -> Stats {
        self.shared.stats()
    }

    /// Every transaction counted (authorized authreps, applied report transactions), with
    /// its `log[code]` and `referrer`, in the order they were counted.
    pub fn logged(&self) -> Vec<crate::model::Logged> {
        lock(&self.shared.state).logged.clone()
    }

    /// Asynchronous report errors (batches that were not applied).
    pub fn report_errors(&self) -> Vec<ReportError> {
        lock(&self.shared.state).report_errors.clone()
    }

    /// Reads or changes the state while the server runs (e.g. suspend an app).
    pub fn with_state<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        f(&mut lock(&self.shared.state))
    }

    /// Stops the server (same as dropping it).
    pub fn shutdown(self) {}
}

impl Drop for MockBackend {
    fn drop(&mut self) {
        // Cancels every task (the listener, each connection, hung and delayed answers) and
        // waits for the worker threads: the port and connections are closed on return.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_timeout(SHUTDOWN_TIMEOUT);
        }
    }
}

async fn accept_loop(listener: tokio::net::TcpListener, shared: Arc<Shared>) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                let _ = stream.set_nodelay(true);
                tokio::spawn(serve_connection(stream, Arc::clone(&shared)));
            }
            Err(e) => {
                // E.g. out of file descriptors: try again shortly rather than spin.
                eprintln!("mock-3scale: accept error: {e}");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

async fn serve_connection(stream: tokio::net::TcpStream, shared: Arc<Shared>) {
    let service = service_fn(move |request| {
        let shared = Arc::clone(&shared);
        async move { Ok::<_, Infallible>(serve(&shared, request).await) }
    });
    let served = hyper::server::conn::http1::Builder::new()
        .max_headers(MAX_HEADERS)
        .serve_connection(TokioIo::new(stream), service)
        .await;
    if let Err(e) = served {
        // Clients giving up on a hung request are expected; anything else is worth a line.
        if !(e.is_incomplete_message() || e.is_canceled() || e.is_closed()) {
            eprintln!("mock-3scale: connection error: {e}");
        }
    }
}

async fn serve(shared: &Shared, request: hyper::Request<Incoming>) -> hyper::Response<Full<Bytes>> {
    let started = Instant::now();
    let (parts, body) = request.into_parts();
    let method = parts.method.as_str().to_ascii_uppercase();
    let url = raw_target(&parts.uri);
    let log = lock(&shared.control).log;
    if admin::is_stats(&method, url.split('?').next().unwrap_or_default()) {
        // Not recorded, not delayed, not subject to Mode: observing must not change the run.
        if log {
            eprintln!("{method} {url} -> 200 (admin)");
        }
        return to_hyper(admin::response(&shared.stats()));
    }
    let headers: Vec<(String, String)> = parts
        .headers
        .iter()
        .map(|(name, value)| {
            (
                name.as_str().to_string(),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            )
        })
        .collect();
    let body = read_body(body).await;
    let received = ReceivedRequest::new(&method, &url, headers, &body);
    lock(&shared.requests).push(received.clone());

    let (mode, latency) = {
        let c = lock(&shared.control);
        (c.mode, c.latency)
    };
    let endpoint = handlers::endpoint(&method, &received.path);
    if let Some(ep) = endpoint {
        lock(&shared.calls).record(ep);
    }
    let transaction = endpoint.is_some();
    let response = match mode {
        Mode::Hang if transaction => {
            // Ends early only by being cancelled: the client went away or the mock stopped.
            tokio::time::sleep(HANG_LIMIT).await;
            if log {
                eprintln!("{method} {url} -> (hung, 500 after {HANG_LIMIT:?})");
            }
            let mut hung = hyper::Response::new(Full::new(Bytes::new()));
            *hung.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
            return hung;
        }
        Mode::Status(code) if transaction => Response::xml(code, ""),
        _ => {
            let now = shared.now();
            let req = HttpRequest {
                method: &method,
                path: &received.path,
                query: &received.raw_query,
                headers: &received.headers,
                body: &body,
            };
            handlers::handle(&req, &mut lock(&shared.state), now)
        }
    };
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let status = response.status;
    if log {
        eprintln!(
            "{method} {url} -> {status} ({:.1} ms)",
            started.elapsed().as_secs_f64() * 1000.0
        );
    }
    to_hyper(response)
}

/// The request target as received: hyper keeps an origin-form target (`/a%5B0%5D?x`) byte
/// for byte; other forms (`http://host/p`) are rebuilt from their parts.
fn raw_target(uri: &hyper::Uri) -> String {
    match (uri.scheme(), uri.authority(), uri.path_and_query()) {
        (None, None, Some(target)) => target.as_str().to_string(),
        _ => uri.to_string(),
    }
}

/// The whole body (de-chunked); what arrived before an error if the client went away.
async fn read_body(mut body: Incoming) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(frame) => {
                if let Ok(data) = frame.into_data() {
                    out.extend_from_slice(&data);
                }
            }
            Err(_) => break,
        }
    }
    out
}

/// Headers in the order given (hyper adds `content-length` and `date` after them).
fn to_hyper(r: Response) -> hyper::Response<Full<Bytes>> {
    let mut out = hyper::Response::new(Full::new(Bytes::from(r.body.into_bytes())));
    let status = StatusCode::from_u16(r.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if status.canonical_reason().is_none() {
        // Rather than hyper's `<none>`.
        out.extensions_mut()
            .insert(ReasonPhrase::from_static(b"Unknown"));
    }
    *out.status_mut() = status;
    let headers = out.headers_mut();
    for (name, value) in r.headers {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(&value),
        ) {
            headers.append(name, value);
        }
    }
    out
}
