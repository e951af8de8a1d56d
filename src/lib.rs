//! Tollgate's proxy-wasm adapter: the thin layer between Envoy and `tollgate_core`.
//!
//! - [`root`]: one per worker VM; parses the configuration in `on_configure`.
//! - [`http`]: one per request; runs the core pipeline and moves data to and from Envoy.
//! - [`worker`]: per-worker state: the authorization cache, waiting requests, reports.
//! - [`store`], [`host`]: shared data and host calls for the core; [`abi`]: the raw ABI
//!   imports under `host`, [`logger`]: the `log` logger on them.
//! - [`metrics`]: Envoy counters.
//!
//! Nothing here decides anything: decisions live in `tollgate_core`.

mod abi;
mod headers;
mod host;
mod http;
#[cfg(feature = "jwt")]
mod jwks;
mod logger;
mod metrics;
mod root;
mod store;
mod worker;

proxy_wasm::main! {{
    logger::install();
    proxy_wasm::set_root_context(|id| -> Box<dyn proxy_wasm::traits::RootContext> {
        Box::new(root::TollgateRoot::new(id))
    });
}}
