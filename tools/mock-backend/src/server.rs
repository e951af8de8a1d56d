//! The HTTP server (tiny_http): one thread accepts, each request is answered
//! on its own thread so that `Mode::Hang` never blocks other requests.

use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

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
    /// Accept but do not answer for up to [`HANG_LIMIT`]; the request then gets tiny_http's
    /// empty 500. Other requests are unaffected.
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
    shutdown: AtomicBool,
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

fn system_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// A running mock backend. Dropping it stops the server.
pub struct MockBackend {
    shared: Arc<Shared>,
    server: Arc<tiny_http::Server>,
    addr: SocketAddr,
    accept_thread: Option<JoinHandle<()>>,
}

impl MockBackend {
    /// Starts on `127.0.0.1` with an ephemeral port.
    pub fn start(state: State) -> std::io::Result<MockBackend> {
        MockBackend::start_on("127.0.0.1:0", state)
    }

    /// Starts on `addr` (e.g. `"127.0.0.1:3000"`).
    pub fn start_on(addr: &str, state: State) -> std::io::Result<MockBackend> {
        let listener = TcpListener::bind(addr)?;
        let addr = listener.local_addr()?;
        let server = tiny_http::Server::from_listener(listener, None)
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        let server = Arc::new(server);
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
            shutdown: AtomicBool::new(false),
        });
        let accept_thread = {
            let server = Arc::clone(&server);
            let shared = Arc::clone(&shared);
            std::thread::Builder::new()
                .name("mock-3scale-accept".into())
                .spawn(move || accept_loop(&server, &shared))?
        };
        Ok(MockBackend {
            shared,
            server,
            addr,
            accept_thread: Some(accept_thread),
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
        self.shared.shutdown.store(true, Ordering::SeqCst);
        self.server.unblock();
        if let Some(t) = self.accept_thread.take() {
            let _ = t.join();
        }
    }
}

fn accept_loop(server: &tiny_http::Server, shared: &Arc<Shared>) {
    for request in server.incoming_requests() {
        if shared.shutdown.load(Ordering::SeqCst) {
            break;
        }
        let shared = Arc::clone(shared);
        let spawned = std::thread::Builder::new()
            .name("mock-3scale-req".into())
            .spawn(move || serve(&shared, request));
        if let Err(e) = spawned {
            eprintln!("mock-3scale: cannot spawn a request thread: {e}");
        }
    }
}

fn serve(shared: &Shared, mut request: tiny_http::Request) {
    let started = Instant::now();
    let method = request.method().as_str().to_ascii_uppercase();
    let url = request.url().to_string();
    let log = lock(&shared.control).log;
    if admin::is_stats(&method, url.split('?').next().unwrap_or_default()) {
        // Not recorded, not delayed, not subject to Mode: observing must not change the run.
        let _ = request.respond(to_tiny(admin::response(&shared.stats())));
        if log {
            eprintln!("{method} {url} -> 200 (admin)");
        }
        return;
    }
    let headers: Vec<(String, String)> = request
        .headers()
        .iter()
        .map(|h| {
            (
                h.field.as_str().as_str().to_ascii_lowercase(),
                h.value.as_str().to_string(),
            )
        })
        .collect();
    let mut body = Vec::new();
    let _ = request.as_reader().read_to_end(&mut body);
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
            hang(shared);
            if log {
                eprintln!("{method} {url} -> (hung, dropped)");
            }
            return; // dropping the request makes tiny_http answer an empty 500
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
        std::thread::sleep(latency);
    }
    let status = response.status;
    let _ = request.respond(to_tiny(response));
    if log {
        eprintln!(
            "{method} {url} -> {status} ({:.1} ms)",
            started.elapsed().as_secs_f64() * 1000.0
        );
    }
}

fn hang(shared: &Shared) {
    let until = Instant::now() + HANG_LIMIT;
    while Instant::now() < until && !shared.shutdown.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn to_tiny(r: Response) -> tiny_http::Response<std::io::Cursor<Vec<u8>>> {
    let mut out = tiny_http::Response::from_data(r.body.into_bytes()).with_status_code(r.status);
    for (name, value) in r.headers {
        if let Ok(h) = tiny_http::Header::from_bytes(name.as_bytes(), value.as_bytes()) {
            out.add_header(h);
        }
    }
    out
}
