//! Tollgate's proxy-wasm adapter: the thin layer between Envoy and `tollgate_core`.
//!
//! - [`root`]: one per worker VM; parses the configuration in `on_configure`.
//! - [`http`]: one per request; runs the core pipeline and moves data to and from Envoy.
//! - [`worker`]: per-worker state: the authorization cache, waiting requests, reports.
//! - [`store`], [`host`]: shared data and host calls for the core.
//! - [`metrics`]: Envoy counters.
//!
//! Nothing here decides anything: decisions live in `tollgate_core`.

mod headers;
mod host;
mod http;
#[cfg(feature = "jwt")]
mod jwks;
mod metrics;
mod root;
mod store;
mod worker;

use proxy_wasm::types::LogLevel;

proxy_wasm::main! {{
    proxy_wasm::set_log_level(LogLevel::Info);
    proxy_wasm::set_root_context(|id| -> Box<dyn proxy_wasm::traits::RootContext> {
        Box::new(root::TollgateRoot::new(id))
    });
}}
