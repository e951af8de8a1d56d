//! A key of an application asked about on its own (`Ticket::verify`): the application's
//! entry keeps its answer and budget, and lists the key as accepted or refused.

use super::{slot_key, AuthCache, Fallback, Lookup, Ticket, UNAVAILABLE_RETRY_MS};
use crate::backend::{BackendAnswer, Decision};
use crate::cache::entry::{LastKnown, SharedEntry};
use crate::cache::store::SharedStore;
use crate::cache::Denial;

impl AuthCache {
    /// A key asked about on its own (`Ticket::verify`): its acceptance or refusal is
    /// recorded in the application's entry, whose answer and budget stay; the requester's
    /// lookup is returned. Accepted, it takes its call from the application's budget.
    #[inline(never)]
    pub(super) fn verified(
        &mut self,
        store: &dyn SharedStore,
        ticket: &Ticket,
        slot: u32,
        answer: &BackendAnswer,
        now_ms: u64,
    ) -> Lookup {
        let check = ticket.check.as_deref();
        let key = ticket.key.as_str();
        let decision = answer.decision();
        let denied_until = now_ms.saturating_add(self.settings.denied_ttl_ms);
        // The key's own last answer, for the failure policy: a key refused before stays refused
        // (found by an audit, 2026-12-07: `allow` forwarded it once its denial had expired).
        let last = crate::cache::store::update(store, &slot_key(slot), |value| {
            let mut entry = value
                .and_then(SharedEntry::decode)
                .filter(|e| e.key == key)?;
            let last = entry.last_for(check);
            match decision {
                Decision::Authorized | Decision::LimitsExceeded { .. } => entry.accept(check),
                Decision::Denied => entry.refuse(check, denied_until),
                Decision::BackendUnavailable => {
                    entry.unavailable_until = now_ms.saturating_add(UNAVAILABLE_RETRY_MS);
                }
            }
            Some((entry.encode(), last))
        });
        match decision {
            // Accepted by this very answer: the application's answer and budget decide.
            Decision::Authorized => self.lookup_checked(store, &ticket.key, check, now_ms),
            Decision::LimitsExceeded { retry_after } => {
                Lookup::Deny(Denial::LimitsExceeded { retry_after })
            }
            Decision::Denied => Lookup::Deny(Denial::AuthFailed),
            Decision::BackendUnavailable => match self.fallback(last.unwrap_or(LastKnown::None)) {
                Fallback::Answer(lookup) => lookup,
                Fallback::UseOnce => Lookup::Deny(Denial::AuthFailed),
            },
        }
    }
}
