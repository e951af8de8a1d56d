//! Memory bounds (audit of s19a): can a client, or a slow backend, make a worker's Wasm memory
//! or Envoy's shared data grow without bound?

mod support;

use e2e::mock_backend::MockBackend;
use e2e::{EchoUpstream, Envoy};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::time::Duration;
use support::cache::*;
use support::dyn_envoy::DynEnvoy;

/// Bytes Envoy has allocated (`/memory`): shared data and shared queues live there.
fn allocated(envoy: &Envoy) -> i64 {
    let r = envoy.admin("/memory").expect("admin /memory");
    let v: Value = serde_json::from_str(&r.body).expect("memory JSON");
    v["allocated"]
        .as_str()
        .and_then(|a| a.parse().ok())
        .expect("allocated")
}

/// The `i`th unknown user key of a flood: about 1000 bytes, under the 1 KiB credential bound.
fn junk_key(tag: &str, i: usize) -> String {
    format!("{tag}-{i:08}-{}", "j".repeat(980))
}

/// `n` distinct unknown user keys on service 1, from 8 threads: every one must be refused.
fn flood(port: u16, tag: &str, n: usize) {
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let tag = tag.to_string();
            std::thread::spawn(move || {
                for i in (t..n).step_by(8) {
                    let r = user(&junk_key(&tag, i)).send(port);
                    assert_eq!(
                        (r.status, r.body.as_str()),
                        (403, "Authentication failed"),
                        "junk key {i}: {}",
                        describe(&r)
                    );
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

/// Distinct keys of a flood the backend was asked about (authorize, or authrep when both of
/// a key's slots were busy).
fn keys_asked(backend: &MockBackend, tag: &str) -> usize {
    let prefix = format!("{tag}-");
    let keys: BTreeSet<String> = backend
        .requests()
        .into_iter()
        .filter(|r| r.path.starts_with("/transactions/"))
        .filter_map(|r| r.param("user_key").map(str::to_string))
        .filter(|k| k.starts_with(&prefix))
        .collect();
    keys.len()
}

/// Requests the upstream received with a flood's keys (none may get through).
fn upstream_saw(echo: &EchoUpstream, tag: &str) -> usize {
    let prefix = format!("{tag}-");
    echo.requests()
        .iter()
        .filter(|r| {
            r.headers
                .iter()
                .any(|(n, v)| n.eq_ignore_ascii_case("user_key") && v.starts_with(&prefix))
        })
        .count()
}

/// Batching, `cache_max_entries: 16`: a flood of distinct keys far beyond the slots.
fn small_cache_config() -> Value {
    let mut cfg = cache_config("none", Some(json!({"auths_ttl": 60})));
    cfg["backend"]["cache_max_entries"] = json!(16);
    cfg
}

// ---------------------------------------------------------------------------------------
// Held: the slots, each worker's local copies and the wake-up notices stay bounded.
// ---------------------------------------------------------------------------------------

/// 2,000 distinct unknown keys (1 KB each, so 2 MB of credentials) through a 16-slot cache:
/// every one is asked about once and refused, the upstream sees none, Envoy's memory (shared
/// data, wake-up queues) does not grow with them, and the known key still passes.
#[test]
fn distinct_unknown_keys_beyond_the_slots_leave_envoy_memory_flat() {
    let s = start(small_cache_config(), cache_state());
    assert_eq!(user(FREE).send(s.port()).status, 200);
    flood(s.port(), "warm", 300);
    std::thread::sleep(Duration::from_millis(800));
    let before = allocated(&s.envoy);
    flood(s.port(), "flood", 2000);
    std::thread::sleep(Duration::from_millis(800));
    let grown = allocated(&s.envoy) - before;
    assert!(
        grown < 500_000,
        "2000 distinct 1 KB keys through 16 slots left {grown} bytes in Envoy"
    );
    assert_eq!(keys_asked(&s.backend, "flood"), 2000);
    assert_eq!(upstream_saw(&s.echo, "flood"), 0);
    let r = user(FREE).send(s.port());
    assert_eq!(r.status, 200, "{}", describe(&r));
    assert_eq!(r.echo().path, "/");
    assert!(!s.envoy.log().contains("panicked"), "{}", s.envoy.log());
}

// ---------------------------------------------------------------------------------------
// Configuration updates leave no wake-up queue that nobody reads.
// ---------------------------------------------------------------------------------------

// Found by an audit (2026-12-06): each new root context, and each VM Envoy's main thread
// loads a configuration in, registered a wake-up queue that stayed listed and kept receiving
// every notice, unread, in Envoy's memory (src/wake.rs, src/root.rs).
#[test]
fn configuration_updates_leave_no_wake_up_queue_growing_with_traffic() {
    let echo = EchoUpstream::start().unwrap();
    let backend = MockBackend::start(cache_state()).unwrap();
    let mut cfg = small_cache_config();
    let mut envoy = DynEnvoy::start(echo.port(), backend.port(), &cfg.to_string());
    assert_eq!(user(FREE).send(envoy.port).status, 200);
    // Three updates of the filter's configuration (the plugin's name stays), as a control
    // plane pushes them; the service keeps serving through each.
    for n in 0..3 {
        cfg["backend"]["timeout_ms"] = json!(600 + n);
        envoy.update(&cfg.to_string());
        let r = user(FREE).send(envoy.port);
        assert_eq!(r.status, 200, "after update {n}: {}", describe(&r));
    }
    flood(envoy.port, "warm", 300);
    std::thread::sleep(Duration::from_millis(800));
    let before = envoy.allocated();
    flood(envoy.port, "flood", 2000);
    std::thread::sleep(Duration::from_millis(800));
    let grown = envoy.allocated() - before;
    assert_eq!(keys_asked(&backend, "flood"), 2000);
    assert_eq!(upstream_saw(&echo, "flood"), 0);
    let r = user(FREE).send(envoy.port);
    assert_eq!(r.status, 200, "{}", describe(&r));
    // Without updates the same flood grows Envoy by a few KB (test above). Each queue of a
    // root context that is gone keeps a copy of every key notified (~1 KB each), forever.
    assert!(
        grown < 500_000,
        "after 3 configuration updates, 2000 distinct 1 KB keys left {grown} bytes in Envoy \
         (about {} KB per key): the wake-up notices pile up in queues nobody reads",
        grown / 2000 / 1000
    );
}
