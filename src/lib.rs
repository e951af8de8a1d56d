//! Tollgate's proxy-wasm adapter: the thin layer between Envoy and `tollgate_core`.
//!
//! - [`root`]: one per worker VM; parses the configuration in `on_configure`, runs the timer
//!   and the wake-up queue.
//! - [`http`]: one per request; hands Envoy's callbacks to the core as events.
//! - [`runner`]: hands an event to the core's `pipeline::Worker` and carries out the steps it
//!   returns (reply, forward, read the body, call the backend, notify the other workers).
//! - [`wake`]: the wake-up queues between workers; [`headers`]: reading headers and backend
//!   answers.
//! - [`store`], [`host`]: shared data, clock and host calls for the core; [`abi`]: the raw
//!   ABI imports under `host`, [`logger`]: the `log` logger on them.
//! - [`metrics`]: Envoy counters. [`jwks`]: JWKS fetches on the timer. [`system`]: loading
//!   services from 3scale System on the timer.
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
mod runner;
mod store;
mod system;
mod wake;

proxy_wasm::main! {{
    logger::install();
    proxy_wasm::set_root_context(|id| -> Box<dyn proxy_wasm::traits::RootContext> {
        Box::new(root::TollgateRoot::new(id))
    });
}}
