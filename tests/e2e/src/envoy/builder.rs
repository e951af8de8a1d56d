//! [`EnvoyBuilder`]: what Envoy will run (filter, module, ports, clusters, HTTP options,
//! logging), with its defaults. Rendering is in `render.rs`, starting in `process.rs`.

use std::path::PathBuf;
use std::time::Duration;

use super::jwt_authn::JwtAuthn;
use super::START_TIMEOUT;
use crate::paths;

/// Builder for an [`Envoy`]; get one with [`Envoy::builder`].
#[derive(Debug, Clone)]
pub struct EnvoyBuilder {
    pub(super) filter: bool,
    pub(super) filter_config: String,
    pub(super) wasm: Option<PathBuf>,
    pub(super) upstream_port: Option<u16>,
    pub(super) backend_port: Option<u16>,
    pub(super) extra_clusters: Vec<(String, u16)>,
    pub(super) concurrency: u32,
    pub(super) log_level: String,
    pub(super) wasm_log_level: String,
    pub(super) start_timeout: Duration,
    /// Certificate chain and private key files: the listener speaks TLS.
    pub(super) tls: Option<(PathBuf, PathBuf)>,
    /// Envoy's `normalize_path` and `merge_slashes` (true unless `raw_paths()`).
    pub(super) normalize_paths: bool,
    /// HTTP/1.1 trailers on the listener (`enable_trailers`).
    pub(super) http1_trailers: bool,
    /// `vm_config.code.remote`: (uri, cluster, sha256) instead of the local file.
    pub(super) wasm_remote: Option<(String, String, String)>,
    /// The plugin's `failure_policy` (default `FAIL_RELOAD`, as in the shipped configs).
    pub(super) failure_policy: String,
    /// `allow_on_headers_stop_iteration: false`, as Istio's `WasmPlugin` configures the filter.
    pub(super) stop_all_iteration: bool,
    /// HTTP/1.1 trailers towards the cluster `upstream` (`enable_trailers`).
    pub(super) upstream_trailers: bool,
    /// Envoy's `jwt_authn` filter before the wasm filter.
    pub(super) jwt_authn: Option<JwtAuthn>,
    /// The listener also accepts connections on `[::1]` (same port).
    pub(super) ipv6: bool,
    /// The HTTP connection manager's `use_remote_address` (Envoy's default: false).
    pub(super) use_remote_address: bool,
    /// A second listener whose wasm filter is another plugin in the same VM: its `name` and
    /// configuration.
    pub(super) second_plugin: Option<(String, String)>,
    /// The connection manager's `upgrade_configs` (`websocket`, `h2c`, `CONNECT`...).
    pub(super) upgrades: Vec<String>,
    /// A `connect_matcher` route to `upstream` that terminates `CONNECT` (TCP tunnel).
    pub(super) connect_route: bool,
    /// Virtual hosts before the catch-all `*` one: (domains, cluster).
    pub(super) virtual_hosts: Vec<(Vec<String>, String)>,
    /// The route configuration's `ignore_port_in_host_matching`.
    pub(super) ignore_port_in_host_matching: bool,
    /// The HTTP connection manager's `strip_any_host_port`.
    pub(super) strip_any_host_port: bool,
}

impl Default for EnvoyBuilder {
    fn default() -> Self {
        Self {
            filter: true,
            filter_config: "{}".into(),
            wasm: None,
            upstream_port: None,
            backend_port: None,
            extra_clusters: Vec::new(),
            concurrency: 1,
            log_level: "info".into(),
            wasm_log_level: "debug".into(),
            start_timeout: START_TIMEOUT,
            tls: None,
            normalize_paths: true,
            http1_trailers: false,
            wasm_remote: None,
            failure_policy: "FAIL_RELOAD".into(),
            stop_all_iteration: false,
            upstream_trailers: false,
            jwt_authn: None,
            ipv6: false,
            use_remote_address: false,
            second_plugin: None,
            upgrades: Vec::new(),
            connect_route: false,
            virtual_hosts: Vec::new(),
            ignore_port_in_host_matching: false,
            strip_any_host_port: false,
        }
    }
}

impl EnvoyBuilder {
    /// The filter's JSON configuration (delivered verbatim to `on_configure`).
    /// Default: `{}`.
    pub fn filter_config(mut self, json: &str) -> Self {
        self.filter_config = json.to_owned();
        self
    }

    /// Serves the listener over TLS with this certificate chain and key (PEM files).
    pub fn tls(mut self, cert: impl Into<PathBuf>, key: impl Into<PathBuf>) -> Self {
        self.tls = Some((cert.into(), key.into()));
        self
    }

    /// Port of the protected API (cluster `upstream`), usually `echo.port()`.
    pub fn upstream_port(mut self, port: u16) -> Self {
        self.upstream_port = Some(port);
        self
    }

    /// Port of the 3scale backend (cluster `threescale_backend`), usually the mock backend's.
    pub fn backend_port(mut self, port: u16) -> Self {
        self.backend_port = Some(port);
        self
    }

    /// Number of worker threads (`--concurrency`, default 1). Each worker has its own VM.
    pub fn concurrency(mut self, n: u32) -> Self {
        self.concurrency = n;
        self
    }

    /// Adds a STATIC cluster `name` → `127.0.0.1:port` (connect_timeout 0.25 s).
    pub fn extra_cluster(mut self, name: &str, port: u16) -> Self {
        self.extra_clusters.push((name.to_owned(), port));
        self
    }

    /// `normalize_path: false`, `merge_slashes: false`: the filter sees the path exactly as
    /// the client sent it (Envoy's defaults), so its own normalisation is what is tested.
    pub fn raw_paths(mut self) -> Self {
        self.normalize_paths = false;
        self
    }

    /// `enable_trailers: true` in the listener's HTTP/1.1 options: request trailers of chunked
    /// HTTP/1.1 requests reach the filter (Envoy drops them by default). The upstream cluster
    /// still drops them unless [`upstream_trailers`](Self::upstream_trailers).
    pub fn http1_trailers(mut self) -> Self {
        self.http1_trailers = true;
        self
    }

    /// `enable_trailers: true` in the HTTP/1.1 options of the cluster `upstream`
    /// (`typed_extension_protocol_options` → `explicit_http_config.http_protocol_options`):
    /// request trailers (from HTTP/2 clients, or HTTP/1.1 ones with
    /// [`http1_trailers`](Self::http1_trailers)) are forwarded in a chunked body, and the
    /// echo upstream records them (`EchoRequest::trailers`). Other clusters are unchanged.
    pub fn upstream_trailers(mut self) -> Self {
        self.upstream_trailers = true;
        self
    }

    /// `allow_on_headers_stop_iteration: false` (Envoy's default, and what Istio's
    /// `WasmPlugin` sets): a filter pausing in its headers callback gets no body callbacks
    /// until it resumes the request.
    pub fn stop_all_iteration(mut self) -> Self {
        self.stop_all_iteration = true;
        self
    }

    /// Envoy's `jwt_authn` filter runs first (before the wasm filter), with these settings.
    pub fn jwt_authn(mut self, jwt_authn: JwtAuthn) -> Self {
        self.jwt_authn = Some(jwt_authn);
        self
    }

    /// The listener also accepts connections on `[::1]`, on the same port
    /// (`additional_addresses`): clients with an IPv6 address.
    pub fn listener_ipv6(mut self) -> Self {
        self.ipv6 = true;
        self
    }

    /// `use_remote_address: true`: Envoy's downstream address (`source.address`) is the TCP
    /// peer. By default Envoy takes it from the last `X-Forwarded-For` address when there is one.
    pub fn use_remote_address(mut self) -> Self {
        self.use_remote_address = true;
        self
    }

    /// A second listener (its port: [`Envoy::second_port`](super::Envoy::second_port)), alike
    /// but for its wasm filter: another plugin, named `name`, with configuration `json`, in
    /// the same VM as the first (`vm_id: tollgate`), so Envoy gives both one shared-data map.
    pub fn second_plugin(mut self, name: &str, json: &str) -> Self {
        self.second_plugin = Some((name.to_owned(), json.to_owned()));
        self
    }

    /// Adds `upgrade_type` to the connection manager's `upgrade_configs` (as a user enabling
    /// websockets would: `websocket`; also `h2c` or `CONNECT`), and allows extended CONNECT
    /// on HTTP/2 (`http2_protocol_options.allow_connect`).
    pub fn upgrade(mut self, upgrade_type: &str) -> Self {
        self.upgrades.push(upgrade_type.to_owned());
        self
    }

    /// `CONNECT` is accepted (`upgrade_configs` `CONNECT`) and a `connect_matcher` route
    /// terminates it: Envoy opens a TCP connection to `upstream` and tunnels the bytes.
    pub fn connect_tunnel(mut self) -> Self {
        self.upgrades.push("CONNECT".to_owned());
        self.connect_route = true;
        self
    }

    /// A virtual host matching `domains` that routes `/` to `cluster`, before the catch-all
    /// `*` one (which routes to `upstream`).
    pub fn virtual_host(mut self, domains: &[&str], cluster: &str) -> Self {
        let domains = domains.iter().map(|d| d.to_string()).collect();
        self.virtual_hosts.push((domains, cluster.to_owned()));
        self
    }

    /// The route configuration's `ignore_port_in_host_matching: true` (as Envoy Gateway
    /// sets it): virtual hosts are matched on the host without its port.
    pub fn ignore_port_in_host_matching(mut self) -> Self {
        self.ignore_port_in_host_matching = true;
        self
    }

    /// The HTTP connection manager's `strip_any_host_port: true` (README, Request handling):
    /// Envoy drops a port it parses from the Host before filters and routes see it.
    pub fn strip_any_host_port(mut self) -> Self {
        self.strip_any_host_port = true;
        self
    }

    /// No wasm filter: the listener only routes to `upstream`.
    pub fn without_filter(mut self) -> Self {
        self.filter = false;
        self
    }

    /// Load another module instead of [`paths::wasm_path`].
    pub fn wasm(mut self, path: impl Into<PathBuf>) -> Self {
        self.wasm = Some(path.into());
        self
    }

    /// Envoy fetches the module over HTTP (`vm_config.code.remote`): `uri` through `cluster`
    /// (add it with [`extra_cluster`](Self::extra_cluster)), verified against `sha256` (hex).
    pub fn wasm_remote(mut self, uri: &str, cluster: &str, sha256: &str) -> Self {
        self.wasm_remote = Some((uri.to_owned(), cluster.to_owned(), sha256.to_owned()));
        self
    }

    /// The plugin's `failure_policy`: `FAIL_RELOAD` (default), `FAIL_CLOSED` or `FAIL_OPEN`.
    pub fn failure_policy(mut self, policy: &str) -> Self {
        self.failure_policy = policy.to_owned();
        self
    }

    /// Envoy's global `--log-level` (default `info`).
    pub fn log_level(mut self, level: &str) -> Self {
        self.log_level = level.to_owned();
        self
    }

    /// Log level of Envoy's `wasm` component, which carries the filter's own log
    /// lines (default `debug`).
    pub fn wasm_log_level(mut self, level: &str) -> Self {
        self.wasm_log_level = level.to_owned();
        self
    }

    /// How long [`start`](Self::start) waits for readiness (default 30 s).
    pub fn start_timeout(mut self, timeout: Duration) -> Self {
        self.start_timeout = timeout;
        self
    }

    /// The module this builder will load.
    pub fn wasm_path(&self) -> PathBuf {
        self.wasm.clone().unwrap_or_else(paths::wasm_path)
    }
}
