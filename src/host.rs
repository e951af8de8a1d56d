//! Envoy calls made on behalf of whichever context is current.
//!
//! The SDK's trait methods are thin wrappers over host calls that act on Envoy's *effective*
//! context. `Host` gives access to them outside a context object, so a worker can resume a
//! request it switched to with `set_effective_context`, and a callout is registered with the
//! SDK (its answer goes to the context whose callback is running).

use proxy_wasm::traits::{Context, HttpContext};

pub struct Host;

impl Context for Host {}
impl HttpContext for Host {}

/// Milliseconds since the Unix epoch, by Envoy's clock.
pub fn now_ms() -> u64 {
    Host.get_current_time()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
