//! The core's shared store on proxy-wasm shared data, and its clock.
//!
//! Envoy keeps one shared-data map per VM id, shared by every plugin loaded in that VM (two
//! listeners, or two `WasmPlugin`s, with the same module and `vm_id`). Each plugin's keys are
//! therefore prefixed with its name (`plugin_name`): another plugin's pending reports are
//! never read as "services no longer configured" and dropped, and cached authorizations of
//! two configurations never mix. Plugins of the same name share their keys (a configuration
//! update keeps its pending reports).
//!
//! A failed read (logged and counted by `host`) reads as an absent key: the core then asks
//! the backend rather than trust a cached answer, and its insert-only write (below) cannot
//! overwrite a value it failed to see. A failed write is a conflict: the core retries or
//! gives up without recording.

use crate::host;
use std::borrow::Cow;
use std::rc::Rc;
use tollgate_core::cache::store::Conflict;
use tollgate_core::cache::SharedStore;

/// One plugin's part of the VM's shared data.
#[derive(Clone, Default)]
pub struct HostStore {
    /// `<plugin name>/`, or empty when Envoy gives no name.
    prefix: Rc<str>,
}

impl HostStore {
    /// The store of the plugin being configured (`on_configure`).
    pub fn for_plugin() -> HostStore {
        let name = host::property(&["plugin_name"]).ok().flatten();
        let name = name.map(|n| String::from_utf8_lossy(&n).into_owned());
        HostStore::named(name.as_deref().unwrap_or(""))
    }

    fn named(plugin: &str) -> HostStore {
        let prefix = match plugin {
            "" => String::new(),
            name => format!("{name}/"),
        };
        HostStore {
            prefix: prefix.into(),
        }
    }

    /// This plugin's name for a shared-data key or a queue.
    pub fn key<'a>(&self, key: &'a str) -> Cow<'a, str> {
        match &*self.prefix {
            "" => Cow::Borrowed(key),
            prefix => Cow::Owned(format!("{prefix}{key}")),
        }
    }
}

/// Envoy treats CAS 0 as "overwrite unconditionally" and ignores the CAS of an absent key. A
/// key read as absent (version 0) is therefore written with a CAS no live value carries, so
/// the write inserts if the key is still absent and fails if another worker created it since.
const INSERT_ONLY: u32 = u32::MAX;

impl SharedStore for HostStore {
    fn get(&self, key: &str) -> (Option<Vec<u8>>, u32) {
        host::shared_data(&self.key(key)).unwrap_or((None, 0))
    }

    fn set(&self, key: &str, value: &[u8], version: u32) -> Result<(), Conflict> {
        let cas = if version == 0 { INSERT_ONLY } else { version };
        match host::set_shared_data(&self.key(key), value, cas) {
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

#[cfg(test)]
mod tests {
    use super::HostStore;

    #[test]
    fn keys_are_the_plugins_own() {
        assert_eq!(
            HostStore::named("").key("tollgate.pending"),
            "tollgate.pending"
        );
        assert_eq!(
            HostStore::named("ns.api-a").key("tollgate.pending"),
            "ns.api-a/tollgate.pending"
        );
    }
}
