//! The core's shared store on proxy-wasm shared data (one map per VM id, shared by the
//! worker VMs of this plugin), and its clock.
//!
//! A failed read (logged and counted by `host`) reads as an absent key: the core then asks
//! the backend rather than trust a cached answer, and its insert-only write (below) cannot
//! overwrite a value it failed to see. A failed write is a conflict: the core retries or
//! gives up without recording.

use crate::host;
use tollgate_core::cache::store::Conflict;
use tollgate_core::cache::SharedStore;

pub struct HostStore;

/// Envoy treats CAS 0 as "overwrite unconditionally" and ignores the CAS of an absent key. A
/// key read as absent (version 0) is therefore written with a CAS no live value carries, so
/// the write inserts if the key is still absent and fails if another worker created it since.
const INSERT_ONLY: u32 = u32::MAX;

impl SharedStore for HostStore {
    fn get(&self, key: &str) -> (Option<Vec<u8>>, u32) {
        host::shared_data(key).unwrap_or((None, 0))
    }

    fn set(&self, key: &str, value: &[u8], version: u32) -> Result<(), Conflict> {
        let cas = if version == 0 { INSERT_ONLY } else { version };
        match host::set_shared_data(key, value, cas) {
            Ok(true) => Ok(()),
            Ok(false) | Err(_) => Err(Conflict),
        }
    }
}

/// Envoy's clock for the core. A failed read is logged and counted by `host`; the core then
/// fails closed whatever needed the time.
pub struct HostClock;

impl tollgate_core::pipeline::Clock for HostClock {
    fn now_ms(&self) -> Option<u64> {
        host::now_ms().ok()
    }
}
