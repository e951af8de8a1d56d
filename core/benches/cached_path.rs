//! The cached-and-batched 3scale request through the core's worker, natively: time and heap
//! allocations per request (`make bench-core`, line `cached_path`). Allocations are counted,
//! not timed, so the figure is the same on a noisy machine; in the filter each costs a call
//! into the module's allocator. The host calls of that path are listed in bench/RESULTS.md.

use serde_json::json;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;
use tollgate_core::backend::BackendAnswer;
use tollgate_core::cache::store::Conflict;
use tollgate_core::cache::{MemoryStore, SharedStore};
use tollgate_core::config::Config;
use tollgate_core::pipeline::{Clock, RequestLine, Step, Worker};
use tollgate_core::request::HeaderSource;

struct Counting;
static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

struct Store(MemoryStore);
impl SharedStore for Store {
    fn get(&self, key: &str) -> (Option<Vec<u8>>, u32) {
        self.0.get(key)
    }
    fn set(&self, key: &str, value: &[u8], version: u32) -> Result<(), Conflict> {
        self.0.set(key, value, version)
    }
}

struct FixedClock;
impl Clock for FixedClock {
    fn now_ms(&self) -> Option<u64> {
        Some(1_000_000)
    }
}

/// The headers wrk sends to the bench's `3scale-batched` listener, as Envoy hands them over.
struct Headers;
impl HeaderSource for Headers {
    fn header(&self, name: &str) -> Option<String> {
        [
            ("host", "127.0.0.1"),
            ("user_key", "key-0"),
            ("x-request-id", "7"),
        ]
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.to_string())
    }
}

const LINE: RequestLine = RequestLine {
    method: "GET",
    authority: "127.0.0.1",
    path: "/",
};

fn main() {
    if std::env::args()
        .nth(1)
        .is_some_and(|f| !f.starts_with('-') && !"cached_path".contains(&f))
    {
        return;
    }
    // The bench's `3scale-batched` service (bench/run.py).
    let config = json!({
        "backend": {"cluster": "threescale_backend", "authority": "mock-3scale", "timeout_ms": 1000,
            "caching_type": "resilient", "batching": {"auths_ttl": 30, "batch_report_seconds": 1}},
        "services": [{"id": "batched", "backend_version": 1,
            "backend_authentication_type": "service_token", "backend_authentication_value": "tok",
            "proxy": {"hosts": ["127.0.0.1", "localhost"], "credentials_location": "headers",
                "auth_user_key": "user_key", "secret_token": "secret",
                "proxy_rules": [{"http_method": "GET", "pattern": "/", "metric_system_name": "hits", "delta": 1}]}}]
    });
    let Ok(parsed) = Config::parse(config.to_string().as_bytes()) else {
        eprintln!("cached_path: the configuration is refused");
        return;
    };
    let store = Box::new(Store(MemoryStore::default()));
    let mut worker = Worker::new(Rc::new(parsed.config), store, Box::new(FixedClock));
    // The first request asks the backend; its 200 fills the cache.
    let steps = worker.on_request_headers(1, LINE, &Headers, true);
    for step in steps.list {
        if let Step::Call { purpose, .. } = step {
            worker.on_call_sent(7, purpose, 1);
            let ok = BackendAnswer {
                status: Some(200),
                ..Default::default()
            };
            let _ = worker.on_backend_answer(7, Some(ok));
        }
    }
    worker.on_request_done(1);
    let forwarded = Cell::new(0u32);
    let mut request = |id: u32| {
        let steps = worker.on_request_headers(id, LINE, &Headers, true);
        let n = steps
            .list
            .iter()
            .filter(|s| matches!(s, Step::Forward { .. }))
            .count();
        forwarded.set(forwarded.get() + n as u32);
        drop(steps);
        worker.on_response(id, || Some(200));
        worker.on_request_done(id);
    };
    const N: u32 = 200_000;
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    let started = Instant::now();
    for id in 2..N + 2 {
        request(id);
    }
    let elapsed = started.elapsed();
    let allocations = ALLOCATIONS.load(Ordering::Relaxed) - before;
    if forwarded.get() != N {
        eprintln!("cached_path: {} of {N} requests forwarded", forwarded.get());
        return;
    }
    println!(
        "{:<44} {:>9.2} µs   {:.1} allocations per request",
        "cached_path (cached + batched 3scale request)",
        elapsed.as_secs_f64() * 1e6 / f64::from(N),
        allocations as f64 / f64::from(N)
    );
}
