//! An Envoy whose listener comes from a file (LDS), so that the filter's configuration can be
//! updated while Envoy runs, as an xDS control plane (Istio, Envoy Gateway) does: the plugin
//! keeps its name, so its shared data (cache, pending reports) carries over.

use e2e::{free_port, paths, wait_until, Request};
use serde_json::Value;
use std::fs;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub struct DynEnvoy {
    child: Child,
    dir: PathBuf,
    pub port: u16,
    pub admin: u16,
    updates: u32,
}

fn q(s: &str) -> String {
    Value::String(s.to_owned()).to_string()
}

impl DynEnvoy {
    pub fn start(upstream: u16, backend: u16, filter_config: &str) -> DynEnvoy {
        DynEnvoy::start_draining(upstream, backend, filter_config, 1)
    }

    /// As [`DynEnvoy::start`], with an old listener's configuration draining `drain_s`
    /// seconds after an update (the old and the new one both run meanwhile).
    pub fn start_draining(
        upstream: u16,
        backend: u16,
        filter_config: &str,
        drain_s: u32,
    ) -> DynEnvoy {
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
                &drain_s.to_string(),
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

    pub fn write_lds(&self, filter_config: &str) {
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

    pub fn stat(&self, name: &str) -> u64 {
        Request::get("/stats")
            .timeout(Duration::from_secs(5))
            .try_send(self.admin)
            .ok()
            .and_then(|r| e2e::envoy::parse_stat(&r.body, name))
            .unwrap_or(0)
    }

    /// Replaces the filter's configuration (the plugin's name stays) and waits until Envoy
    /// has taken it and the old listener has drained.
    pub fn update(&mut self, filter_config: &str) {
        self.begin_update(filter_config);
        self.wait_drained();
    }

    /// Replaces the filter's configuration and waits until Envoy has taken it; the old one
    /// may still be draining.
    pub fn begin_update(&mut self, filter_config: &str) {
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
    }

    /// Waits until no old listener configuration is draining.
    pub fn wait_drained(&self) {
        assert!(
            wait_until(Duration::from_secs(15), || self
                .stat("listener_manager.total_listeners_draining")
                == 0),
            "old listener still draining"
        );
    }

    pub fn allocated(&self) -> i64 {
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

    pub fn log(&self) -> String {
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
