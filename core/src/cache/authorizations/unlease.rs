//! A leased call its request did not make after all: refused before the upstream had it.

use super::{return_unused, AuthCache, Local, LocalKind};
use crate::cache::key::EntryKey;
use crate::cache::store::SharedStore;

impl AuthCache {
    /// One call leased for `key` was not made after all (its request refused before the
    /// upstream had it): back to this worker's lease, or, gone, to the entry's budget.
    pub fn unlease(&mut self, store: &dyn SharedStore, key: &EntryKey, slots: u32) {
        if let Some(Local {
            kind: LocalKind::Held(n),
            ..
        }) = self.local.get_mut(key.as_str())
        {
            *n = n.saturating_add(1);
            return;
        }
        for slot in key.slots(slots) {
            if return_unused(store, slot, key.as_str(), 1).is_some() {
                return;
            }
        }
    }
}
