//! Tollgate's proxy-wasm adapter: the thin layer between Envoy and `tollgate_core`.
//!
//! - [`root`]: one per worker VM; parses the configuration in `on_configure`.
//! - [`http`]: one per request; runs the core pipeline and moves data to and from Envoy.
//! - [`metrics`]: Envoy counters.
//!
//! Nothing here decides anything: decisions live in `tollgate_core`.

mod headers;
mod http;
#[cfg(feature = "jwt")]
mod jwks;
mod metrics;
mod root;

use proxy_wasm::types::LogLevel;

proxy_wasm::main! {{
    proxy_wasm::set_log_level(LogLevel::Info);
    proxy_wasm::set_root_context(|_| -> Box<dyn proxy_wasm::traits::RootContext> {
        Box::new(root::TollgateRoot::default())
    });
}}
