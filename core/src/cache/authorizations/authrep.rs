//! The last known answer of authrep mode (and of batching mode's keys without a slot): what
//! `caching_type` falls back on when the backend fails.

use super::{accepted, slot_key, AuthCache, Fallback, Lookup};
use crate::backend::{BackendAnswer, Decision};
use crate::cache::entry::LastKnown;
use crate::cache::eviction::{find_slot, REFRESH_USED_MS};
use crate::cache::key::EntryKey;
use crate::cache::store::{SharedStore, MAX_ATTEMPTS};
use crate::cache::Denial;

impl AuthCache {
    /// Remembers the backend's answer as the last known one (the failure policy's input);
    /// writes when it changed, or to keep an accepted key's `used_at` recent. Accepted
    /// credentials may take an idle slot of other accepted ones (`eviction`): how a new valid
    /// key enters a full cache. `check`: the application key's digest, if any: the answer
    /// holds for that key (`SharedEntry::members`, `denied`).
    pub fn remember_authrep(
        &mut self,
        store: &dyn SharedStore,
        key: &EntryKey,
        check: Option<&str>,
        answer: &BackendAnswer,
        now_ms: u64,
    ) {
        let last = match answer.decision() {
            Decision::Authorized => LastKnown::Authorized,
            Decision::LimitsExceeded { .. } => LastKnown::Limited,
            Decision::Denied => LastKnown::Denied,
            Decision::BackendUnavailable => return,
        };
        let known = accepted(answer);
        let denied_until = now_ms.saturating_add(self.settings.denied_ttl_ms);
        for _ in 0..MAX_ATTEMPTS {
            let Some((slot, mut entry, version)) =
                find_slot(store, key, self.settings.slots, now_ms, known)
            else {
                return;
            };
            let stale = known && now_ms.saturating_sub(entry.used_at) >= REFRESH_USED_MS;
            if entry.last_for(check) == last && version != 0 && !stale {
                return;
            }
            match check {
                None => entry.last = last,
                // Another answer than the members': it holds for this key alone.
                Some(_) if known => {
                    if entry.last != last {
                        entry.members.clear();
                    }
                    entry.accept(check);
                    entry.last = last;
                }
                Some(_) => {
                    entry.refuse(check, denied_until);
                    if entry.members.is_empty() {
                        entry.last = last;
                    }
                }
            }
            if known {
                entry.used_at = now_ms;
            }
            if store.set(&slot_key(slot), &entry.encode(), version).is_ok() {
                return;
            }
        }
    }

    /// Authrep mode, backend unavailable: the failure policy's answer from the last known one
    /// for this key.
    pub fn authrep_fallback(
        &mut self,
        store: &dyn SharedStore,
        key: &EntryKey,
        check: Option<&str>,
        now_ms: u64,
    ) -> Lookup {
        for _ in 0..MAX_ATTEMPTS {
            let found = find_slot(store, key, self.settings.slots, now_ms, false);
            let last = found
                .as_ref()
                .map_or(LastKnown::None, |(_, e, _)| e.last_for(check));
            match (self.fallback(last), found) {
                (Fallback::Answer(lookup), _) => return lookup,
                (Fallback::UseOnce, Some((slot, mut entry, version))) => {
                    entry.last = LastKnown::None;
                    if store.set(&slot_key(slot), &entry.encode(), version).is_ok() {
                        return Lookup::Forward { leased: false };
                    }
                }
                (Fallback::UseOnce, None) => return Lookup::Forward { leased: false },
            }
        }
        Lookup::Deny(Denial::AuthFailed)
    }
}
