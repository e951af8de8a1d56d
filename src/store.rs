//! The core's shared store on proxy-wasm shared data (one map per VM id, shared by the
//! worker VMs of this plugin).

use proxy_wasm::hostcalls::{get_shared_data, set_shared_data};
use tollgate_core::cache::store::Conflict;
use tollgate_core::cache::SharedStore;

pub struct HostStore;

/// Envoy treats CAS 0 as "overwrite unconditionally" and ignores the CAS of an absent key. A
/// key read as absent (version 0) is therefore written with a CAS no live value carries, so
/// the write inserts if the key is still absent and fails if another worker created it since.
const INSERT_ONLY: u32 = u32::MAX;

impl SharedStore for HostStore {
    fn get(&self, key: &str) -> (Option<Vec<u8>>, u32) {
        match get_shared_data(key) {
            Ok((value, cas)) => (value, cas.unwrap_or(0)),
            Err(_) => (None, 0),
        }
    }

    fn set(&self, key: &str, value: &[u8], version: u32) -> Result<(), Conflict> {
        let cas = if version == 0 { INSERT_ONLY } else { version };
        set_shared_data(key, Some(value), Some(cas)).map_err(|_| Conflict)
    }
}
