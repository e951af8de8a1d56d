//! Memory bounds (audit of s19a): can a client, or a slow backend, make a worker's Wasm memory
//! or Envoy's shared data grow without bound?

mod support;

use e2e::mock_backend::MockBackend;
use e2e::{free_port, paths, wait_until, EchoUpstream, Envoy, Request};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::fs;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use support::cache::*;

/// Bytes Envoy has allocated (`/memory`): shared data and shared queues live there.
fn allocated(envoy: &Envoy) -> i64 {
    let r = envoy.admin("/memory").expect("admin /memory");
    let v: Value = serde_json::from_str(&r.body).expect("memory JSON");
    v["allocated"]
        .as_str()
        .and_then(|a| a.parse().ok())
        .expect("allocated")
}

// ---------------------------------------------------------------------------------------
// An Envoy whose listener comes from a file (LDS), so that the filter's configuration can be
// updated while Envoy runs, as an xDS control plane (Istio, Envoy Gateway) does.
// ---------------------------------------------------------------------------------------

struct DynEnvoy {
    child: Child,
    dir: PathBuf,
    port: u16,
    admin: u16,
    updates: u32,
}

fn q(s: &str) -> String {
    Value::String(s.to_owned()).to_string()
}

impl DynEnvoy {
    fn start(upstream: u16, backend: u16, filter_config: &str) -> DynEnvoy {
        let (port, admin) = (free_port(), free_port());
        let dir = paths::target_dir()
            .join("e2e")
            .join(format!("memory-bounds-{}-{admin}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let cluster = |name: &str, port: u16| {
            format!(
                "  - name: {name}\n    type: STATIC\n    connect_timeout: 0.25s\n    load_assignment:\n      cluster_name: {name}\n      endpoints:\n      - lb_endpoints:\n        - endpoint: {{ address: {{ socket_address: {{ address: 127.0.0.1, port_value: {port} }} }} }}\n"
            )
        };
        let bootstrap = format!(
            "node: {{ id: memory-bounds, cluster: memory-bounds }}\ndynamic_resources:\n  lds_config:\n    resource_api_version: V3\n    path_config_source:\n      path: {lds}\n      watched_directory: {{ path: {dir} }}\nstatic_resources:\n  clusters:\n{up}{be}admin:\n  address:\n    socket_address: {{ address: 127.0.0.1, port_value: {admin} }}\n",
            lds = q(&dir.join("lds.yaml").to_string_lossy()),
            dir = q(&dir.to_string_lossy()),
            up = cluster("upstream", upstream),
            be = cluster("threescale_backend", backend),
        );
        fs::write(dir.join("envoy.yaml"), bootstrap).unwrap();
        let mut envoy = DynEnvoy {
            child: Command::new("true").spawn().unwrap(),
            dir: dir.clone(),
            port,
            admin,
            updates: 0,
        };
        envoy.write_lds(filter_config);
        let log = fs::File::create(dir.join("envoy.log")).unwrap();
        envoy.child = Command::new(paths::envoy_bin())
            .arg("-c")
            .arg(dir.join("envoy.yaml"))
            .args([
                "--concurrency",
                "2",
                "--disable-hot-restart",
                "--drain-time-s",
                "1",
            ])
            .args(["--base-id", &(u32::from(admin) * 10 + 3).to_string()])
            .args(["--component-log-level", "wasm:info"])
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("envoy");
        let ready = wait_until(Duration::from_secs(30), || {
            Request::get("/ready")
                .timeout(Duration::from_secs(1))
                .try_send(admin)
                .is_ok_and(|r| r.body.trim() == "LIVE")
                && std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        assert!(ready, "envoy not ready:\n{}", envoy.log());
        envoy
    }

    fn write_lds(&self, filter_config: &str) {
        let listener = format!(
            r#"resources:
- "@type": type.googleapis.com/envoy.config.listener.v3.Listener
  name: ingress
  address:
    socket_address: {{ address: 127.0.0.1, port_value: {port} }}
  filter_chains:
  - filters:
    - name: envoy.filters.network.http_connection_manager
      typed_config:
        "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
        stat_prefix: ingress_http
        codec_type: AUTO
        route_config:
          name: local_route
          virtual_hosts:
          - name: all
            domains: ["*"]
            routes:
            - match: {{ prefix: "/" }}
              route: {{ cluster: upstream, timeout: 15s }}
        http_filters:
        - name: envoy.filters.http.wasm
          typed_config:
            "@type": type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm
            config:
              name: tollgate
              root_id: tollgate
              vm_config:
                vm_id: tollgate
                runtime: envoy.wasm.runtime.v8
                code:
                  local:
                    filename: {wasm}
              configuration:
                "@type": type.googleapis.com/google.protobuf.StringValue
                value: {config}
              allow_on_headers_stop_iteration: true
              failure_policy: FAIL_RELOAD
        - name: envoy.filters.http.router
          typed_config:
            "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
"#,
            port = self.port,
            wasm = q(&paths::wasm_path().to_string_lossy()),
            config = q(filter_config),
        );
        // Written aside, then moved in: the watched directory sees one complete file.
        let tmp = self.dir.join(format!("lds.yaml.{}", self.updates));
        fs::write(&tmp, listener).unwrap();
        fs::rename(&tmp, self.dir.join("lds.yaml")).unwrap();
    }

    fn stat(&self, name: &str) -> u64 {
        Request::get("/stats")
            .timeout(Duration::from_secs(5))
            .try_send(self.admin)
            .ok()
            .and_then(|r| e2e::envoy::parse_stat(&r.body, name))
            .unwrap_or(0)
    }

    /// Replaces the filter's configuration (the plugin's name stays) and waits until Envoy
    /// has taken it and the old listener has drained.
    fn update(&mut self, filter_config: &str) {
        self.updates += 1;
        self.write_lds(filter_config);
        let want = u64::from(self.updates) + 1;
        assert!(
            wait_until(Duration::from_secs(15), || self
                .stat("listener_manager.lds.update_success")
                >= want),
            "LDS update {} not taken:\n{}",
            self.updates,
            self.log()
        );
        assert!(
            wait_until(Duration::from_secs(15), || self
                .stat("listener_manager.total_listeners_draining")
                == 0),
            "old listener still draining"
        );
    }

    fn allocated(&self) -> i64 {
        let r = Request::get("/memory")
            .timeout(Duration::from_secs(5))
            .try_send(self.admin)
            .expect("admin /memory");
        let v: Value = serde_json::from_str(&r.body).expect("memory JSON");
        v["allocated"]
            .as_str()
            .and_then(|a| a.parse().ok())
            .expect("allocated")
    }

    fn log(&self) -> String {
        fs::read_to_string(self.dir.join("envoy.log")).unwrap_or_default()
    }
}

impl Drop for DynEnvoy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if !std::thread::panicking() {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
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
