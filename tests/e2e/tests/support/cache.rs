//! Helpers for the authorization cache and batched reporting tests (`caching.rs`,
//! `batching.rs`, `limits.rs`): a backend with apps for every kind of answer, the filter
//! configuration with `caching_type` / `batching`, requests, and what the backend received.

use super::{backend_state, config, service, Stack, TOKEN};
use e2e::mock_backend::{App, MockBackend, Period, ReceivedRequest, State};
use e2e::{EchoUpstream, Envoy, Request, Response};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Service 1 (user_key): an app without limits (`app-free`).
pub const FREE: &str = "uk-free";
/// Service 1: another app without limits, only used once the backend fails (`app-fresh`).
pub const FRESH: &str = "uk-fresh";
/// Service 1: an app limited to 1 hit a minute (`app-one`); [`use_up`] spends it.
pub const ONE: &str = "uk-one";
/// Service 1: an app limited to 50 hits a minute (`app-50`).
pub const FIFTY: &str = "uk-50";
/// Service 1: no such key (the backend answers 403 `user_key_invalid`).
pub const INVALID: &str = "uk-invalid";
/// Service 1: the plan gives 0 hits a minute (a disabled metric: auth failed, not 429).
pub const ZERO: &str = "uk-limited";
/// Service 2 (app_id + app_key): an app without limits with two keys.
pub const APP3: &str = "app-3";
pub const APP3_KEY_A: &str = "k3-alpha";
pub const APP3_KEY_B: &str = "k3-bravo";

/// [`backend_state`] plus the apps above.
pub fn cache_state() -> State {
    backend_state()
        .app(App::new("1", "app-free").user_key(FREE).plan("Free"))
        .app(App::new("1", "app-fresh").user_key(FRESH).plan("Free"))
        .app(
            App::new("1", "app-one")
                .user_key(ONE)
                .plan("One")
                .limit("hits", Period::Minute, 1),
        )
        .app(App::new("1", "app-50").user_key(FIFTY).plan("Fifty").limit(
            "hits",
            Period::Minute,
            50,
        ))
        .app(
            App::new("2", APP3)
                .app_keys(&[APP3_KEY_A, APP3_KEY_B])
                .plan("Free"),
        )
}

/// Service 1 on `api.example.com` (user_key in headers; `GET /` is hits 1, `GET /foo` adds
/// get_foo 2) and service 2 on `app.example.com` (app_id + app_key in headers; hits 1), with
/// `caching_type`, `batching` (absent: authrep mode) and a 500 ms backend timeout.
pub fn cache_config(caching_type: &str, batching: Option<Value>) -> Value {
    let mut c = config(vec![
        service(
            1,
            json!(1),
            json!({
                "credentials_location": "headers",
                "proxy_rules": [
                    {"http_method": "GET", "pattern": "/", "metric_system_name": "hits", "delta": 1},
                    {"http_method": "GET", "pattern": "/foo", "metric_system_name": "get_foo", "delta": 2}
                ]
            }),
        ),
        service(
            2,
            json!(2),
            json!({"credentials_location": "headers", "hosts": ["app.example.com"]}),
        ),
    ]);
    c["backend"]["caching_type"] = json!(caching_type);
    c["backend"]["timeout_ms"] = json!(500);
    if let Some(b) = batching {
        c["backend"]["batching"] = b;
    }
    c
}

/// Echo upstream, mock backend with `state`, and Envoy with 2 workers.
pub fn start(cfg: Value, state: State) -> Stack {
    Stack::start_with(cfg, state, |b| b.concurrency(2))
}

/// [`start`], with Envoy calling the backend through a [`Gate`] that can take it down.
pub fn start_gated(cfg: Value, state: State) -> (Stack, Gate) {
    let echo = EchoUpstream::start().expect("echo upstream");
    let backend = MockBackend::start(state).expect("mock backend");
    let gate = Gate::open_to(backend.port());
    let envoy = Envoy::builder()
        .concurrency(2)
        .upstream_port(echo.port())
        .backend_port(gate.port())
        .filter_config(&cfg.to_string())
        .start()
        .expect("envoy");
    let stack = Stack {
        echo,
        backend,
        envoy,
    };
    (stack, gate)
}

/// A TCP relay in front of the mock backend, to take the backend down without losing what it
/// stored: [`Gate::close`] stops listening and cuts open connections (Envoy's callouts then
/// get "connection refused"), [`Gate::open`] listens on the same port again.
pub struct Gate {
    port: u16,
    backend: u16,
    running: Option<Relay>,
}

struct Relay {
    stop: Arc<AtomicBool>,
    accept: JoinHandle<()>,
    connections: Arc<Mutex<Vec<Weak<TcpStream>>>>,
}

impl Gate {
    pub fn open_to(backend: u16) -> Gate {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the gate");
        let port = listener.local_addr().unwrap().port();
        let mut gate = Gate {
            port,
            backend,
            running: None,
        };
        gate.serve(listener);
        gate
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The backend is reachable again.
    pub fn open(&mut self) {
        assert!(self.running.is_none(), "the gate is already open");
        let listener = TcpListener::bind(("127.0.0.1", self.port)).expect("reopen the gate");
        self.serve(listener);
    }

    /// The backend is down: nothing listens on the port, open connections are cut.
    pub fn close(&mut self) {
        let Some(relay) = self.running.take() else {
            return;
        };
        relay.stop.store(true, Ordering::SeqCst);
        relay.accept.join().unwrap();
        for c in relay.connections.lock().unwrap().iter() {
            if let Some(c) = c.upgrade() {
                let _ = c.shutdown(Shutdown::Both);
            }
        }
    }

    fn serve(&mut self, listener: TcpListener) {
        listener.set_nonblocking(true).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let connections = Arc::new(Mutex::new(Vec::new()));
        let (stopped, open, backend) = (stop.clone(), connections.clone(), self.backend);
        let accept = std::thread::spawn(move || {
            // The listener is closed when this loop ends.
            while !stopped.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((client, _)) => relay(client, backend, &open),
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        self.running = Some(Relay {
            stop,
            accept,
            connections,
        });
    }
}

impl Drop for Gate {
    fn drop(&mut self) {
        self.close();
    }
}

/// Copies bytes both ways between `client` and a new connection to the backend.
fn relay(client: TcpStream, backend: u16, open: &Mutex<Vec<Weak<TcpStream>>>) {
    let _ = client.set_nonblocking(false);
    let Ok(server) = TcpStream::connect(("127.0.0.1", backend)) else {
        return;
    };
    let (client, server) = (Arc::new(client), Arc::new(server));
    let mut open = open.lock().unwrap();
    open.retain(|c| c.strong_count() > 0);
    open.extend([Arc::downgrade(&client), Arc::downgrade(&server)]);
    for (from, to) in [(client.clone(), server.clone()), (server, client)] {
        std::thread::spawn(move || {
            let _ = std::io::copy(&mut &*from, &mut &*to);
            let _ = to.shutdown(Shutdown::Write);
        });
    }
}

/// Connections each Envoy worker accepted on the listener (`worker_<i>.downstream_cx_total`).
pub fn worker_connections(envoy: &Envoy) -> Vec<u64> {
    let prefix = format!("listener.127.0.0.1_{}.worker_", envoy.port());
    let stats = envoy.stats();
    (0..)
        .map_while(|i| e2e::envoy::parse_stat(&stats, &format!("{prefix}{i}.downstream_cx_total")))
        .collect()
}

/// Envoy's counter of failed connections to the backend (connection refused).
pub fn backend_connect_failures(envoy: &Envoy) -> u64 {
    envoy
        .stat("cluster.threescale_backend.upstream_cx_connect_fail")
        .unwrap_or(0)
}

/// `GET /` on service 1 with this user_key.
pub fn user(key: &str) -> Request {
    user_path("/", key)
}

pub fn user_path(path: &str, key: &str) -> Request {
    Request::get(path)
        .header("Host", "api.example.com")
        .header("user_key", key)
}

/// `GET /` on service 2 with this app_id and app_key.
pub fn app(id: &str, key: &str) -> Request {
    Request::get("/")
        .header("Host", "app.example.com")
        .header("app_id", id)
        .header("app_key", key)
}

/// Sends every request at once, each from its own thread; responses in request order.
pub fn concurrently(port: u16, requests: Vec<Request>) -> Vec<Response> {
    let handles: Vec<_> = requests
        .into_iter()
        .map(|r| std::thread::spawn(move || r.send(port)))
        .collect();
    handles.into_iter().map(|h| h.join().unwrap()).collect()
}

pub fn count_status(responses: &[Response], status: u16) -> usize {
    responses.iter().filter(|r| r.status == status).count()
}

/// Freezes the mock's clock at `second` (0..60) of the current UTC minute, so that limit
/// periods never roll over during a test and `3scale-limit-reset` is `60 - second`.
///
/// The frozen clock is `now % 60 - second` seconds off Envoy's. When its resets would land
/// within the first 2 s of one of Envoy's minutes, the filter takes that minute for the
/// period's end (apisonator rounds resets up) and stops leasing there, so this first waits
/// (up to 6 s) until they land elsewhere: a test's counts of backend calls stay exact.
pub fn pin_clock(backend: &MockBackend, second: i64) -> i64 {
    let now = || {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64
    };
    while (0..=5).contains(&(now() - second + 2).rem_euclid(60)) {
        std::thread::sleep(Duration::from_millis(250));
    }
    let now = now();
    let pinned = now - now % 60 + second;
    backend.set_now(Some(pinned));
    pinned
}

/// Spends `app-one`'s only hit of the (pinned) minute: its authorize/authrep is a 409.
pub fn use_up(backend: &MockBackend) {
    backend.set_counter("1", "app-one", "hits", Period::Minute, 1);
}

/// A filter counter (`wasmcustom.tollgate.<name>` in `/stats`), 0 when absent.
pub fn stat(envoy: &Envoy, name: &str) -> u64 {
    envoy
        .stat(&format!("wasmcustom.tollgate.{name}"))
        .unwrap_or(0)
}

pub use e2e::wait_until;

/// Waits until the filter counter `name` equals `value`; returns the last value seen.
pub fn wait_stat(envoy: &Envoy, name: &str, value: u64, timeout: Duration) -> u64 {
    let mut last = 0;
    wait_until(timeout, || {
        last = stat(envoy, name);
        last == value
    });
    last
}

fn on(backend: &MockBackend, method: &str, path: &str) -> Vec<ReceivedRequest> {
    backend
        .requests()
        .into_iter()
        .filter(|r| r.method == method && r.path == path)
        .collect()
}

/// The `GET /transactions/authorize.xml` calls the backend received.
pub fn authorizes(backend: &MockBackend) -> Vec<ReceivedRequest> {
    on(backend, "GET", "/transactions/authorize.xml")
}

pub fn authrep_calls(backend: &MockBackend) -> Vec<ReceivedRequest> {
    on(backend, "GET", "/transactions/authrep.xml")
}

/// The `POST /transactions.xml` report calls the backend received (answered or not).
pub fn reports(backend: &MockBackend) -> Vec<ReceivedRequest> {
    on(backend, "POST", "/transactions.xml")
}

/// Authorize calls for this credential value (`user_key` or `app_id`).
pub fn authorizes_for(backend: &MockBackend, param: &str, value: &str) -> usize {
    authorizes(backend)
        .iter()
        .filter(|r| r.param(param) == Some(value))
        .count()
}

/// One `transactions[i]` of a report body: every field but the usage, and the usage.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Transaction {
    pub fields: BTreeMap<String, String>,
    pub usage: BTreeMap<String, u64>,
}

/// The transactions of a report body (`transactions[i][field]`, `transactions[i][usage][m]`).
/// Panics on any other parameter.
pub fn transactions(report: &ReceivedRequest) -> Vec<Transaction> {
    let mut by_index: BTreeMap<usize, Transaction> = BTreeMap::new();
    for (name, value) in &report.body_params {
        let rest = name
            .strip_prefix("transactions[")
            .unwrap_or_else(|| panic!("unexpected report parameter {name:?}: {}", report.body));
        let (index, rest) = rest.split_once(']').unwrap();
        let t = by_index.entry(index.parse().unwrap()).or_default();
        if let Some(metric) = rest.strip_prefix("[usage][") {
            let metric = metric.strip_suffix(']').unwrap();
            let n: u64 = value.parse().unwrap();
            assert!(
                t.usage.insert(metric.to_string(), n).is_none(),
                "metric {metric} twice in one transaction: {}",
                report.body
            );
        } else {
            let field = rest
                .strip_prefix('[')
                .and_then(|f| f.strip_suffix(']'))
                .unwrap();
            t.fields.insert(field.to_string(), value.clone());
        }
    }
    by_index.into_values().collect()
}

/// Usage of `metric` reported for the application `param` = `value` (`user_key` or `app_id`)
/// over the given report calls, as written in their bodies (not propagated to parents).
pub fn reported_in_bodies(
    reports: &[ReceivedRequest],
    param: &str,
    value: &str,
    metric: &str,
) -> u64 {
    reports
        .iter()
        .flat_map(transactions)
        .filter(|t| t.fields.get(param).map(String::as_str) == Some(value))
        .map(|t| t.usage.get(metric).copied().unwrap_or(0))
        .sum()
}

/// Checks what every report call carries: the service and its token in the query, a form
/// body naming applications by user_key or app_id only (never an app_key).
pub fn assert_report_shape(reports: &[ReceivedRequest]) {
    for r in reports {
        let service = r.param("service_id").unwrap_or_default();
        assert!(service == "1" || service == "2", "{}", r.url());
        assert_eq!(r.param("service_token"), Some(TOKEN), "{}", r.url());
        assert_eq!(
            r.header("content-type"),
            Some("application/x-www-form-urlencoded")
        );
        assert!(!r.body.contains("app_key"), "app_key reported: {}", r.body);
        for key in [APP3_KEY_A, APP3_KEY_B, super::APP_KEY] {
            assert!(!r.body.contains(key), "app key {key} reported: {}", r.body);
        }
        for t in transactions(r) {
            let names: Vec<&str> = t.fields.keys().map(String::as_str).collect();
            let expected = if service == "1" {
                vec!["timestamp", "user_key"]
            } else {
                vec!["app_id", "timestamp"]
            };
            assert_eq!(names, expected, "{}", r.body);
            assert_recent_minute(&t);
            assert!(!t.usage.is_empty(), "{}", r.body);
        }
    }
}

/// A transaction's `timestamp`: the start of a minute of the last hour (UNIX seconds), when
/// its calls were forwarded (or of the next minute, for calls of a minute's last 2 s).
pub fn assert_recent_minute(t: &Transaction) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let at: u64 = t.fields["timestamp"].parse().unwrap();
    assert!(
        at % 60 == 0 && at <= now + 60 && at + 3600 > now,
        "timestamp {at} at {now}: {t:?}"
    );
}

/// A compact `status [retry-after]` description for assertion messages.
pub fn describe(r: &Response) -> String {
    match r.header("retry-after") {
        Some(ra) => format!("{} (Retry-After {ra}) {:?}", r.status, r.body),
        None => format!("{} {:?}", r.status, r.body),
    }
}
