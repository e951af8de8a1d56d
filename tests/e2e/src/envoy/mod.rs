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
//! * listener `ingress` on `127.0.0.1:<free port>` (and `[::1]` with `listener_ipv6()`),
//!   HttpConnectionManager with `stat_prefix: ingress_http`, `use_remote_address: false` (true
//!   with `use_remote_address()`), `normalize_path: true`, `merge_slashes: true` (both false
//!   with `raw_paths()`),
//!   one route `prefix: "/"` → cluster `upstream` (timeout 15 s); options: `upgrade_configs`
//!   (`upgrade(t)`), a `connect_matcher` route terminating `CONNECT` (`connect_tunnel()`),
//!   virtual hosts before the `*` one (`virtual_host(domains, cluster)`) and
//!   `ignore_port_in_host_matching()`;
//! * HTTP filters: Envoy's `envoy.filters.http.jwt_authn` first with
//!   [`EnvoyBuilder::jwt_authn`] (one provider `idp`, inline JWKS, `payload_in_metadata`),
//!   then `envoy.filters.http.wasm` (plugin name/root_id `tollgate`,
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
//!
//! Here: [`EnvoyBuilder`] and its settings (`builder.rs`), the `jwt_authn` filter
//! (`jwt_authn.rs`), Envoy on a given YAML such as a shipped example (`raw.rs`), the YAML (`render.rs`), the process
//! (`process.rs`), its log, admin interface and stats (`admin.rs`).

mod admin;
mod builder;
mod jwt_authn;
mod process;
mod raw;
mod render;

use std::time::Duration;

pub use admin::{parse_stat, read_from, tail, wait_steady, wait_until};
pub use builder::EnvoyBuilder;
pub use jwt_authn::{JwtAuthn, JwtRequirement};
pub use process::Envoy;
pub use raw::RawEnvoy;

/// How long [`EnvoyBuilder::start`] waits for Envoy to become ready.
pub const START_TIMEOUT: Duration = Duration::from_secs(30);
