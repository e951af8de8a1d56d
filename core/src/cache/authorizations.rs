//! The authorization cache: each worker's view of the shared entries, with its leases.
//!
//! A request looks here first. A worker that holds a lease (a slice of an entry's limit budget)
//! or an unlimited authorization answers from its own memory: the hot path does not touch
//! shared data. When the lease runs out it takes another slice with one compare-and-swap; when
//! the budget runs out, one worker asks the backend and the others wait for its answer.

mod apply;
mod authrep;
mod unlease;
mod verify;

use super::entry::{lists, Fresh, LastKnown, SharedEntry};
use super::eviction::{self, find_slot};
use super::key::EntryKey;
use super::store::{SharedStore, MAX_ATTEMPTS};
use crate::backend::{BackendAnswer, Decision};
use crate::config::CachingType;
use crate::hashing::SeededMap;
use crate::policies::rate_limit_headers::Figures;
use apply::apply_answer;

/// After a failed backend call, the failure policy answers for this long before asking again.
const UNAVAILABLE_RETRY_MS: u64 = 1000;
/// Largest slice of a budget one worker leases at once.
const MAX_LEASE: u64 = 64;
/// How long a worker denies a limited entry from its own memory while calls are still owed
/// on it (they may come back unused and lift the limit) before reading it again.
const LIMITED_RECHECK_MS: u64 = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheSettings {
    pub caching_type: CachingType,
    pub auths_ttl_ms: u64,
    pub denied_ttl_ms: u64,
    pub slots: u32,
    /// How long others wait for a worker that is asking the backend before asking themselves.
    pub wait_ms: u64,
}

// `CacheSettings::new`, `for_service` and `of` (per service): config/policies/per_service.rs.

/// What to do with a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// Forward it; it counts as one call of the entry's usage, to be reported. `leased`: the
    /// call came out of a limit budget (its report settles the entry's outstanding calls).
    Forward {
        leased: bool,
    },
    Deny(Denial),
    /// Ask the backend (`authorize`), then hand the answer to [`AuthCache::answer`].
    Authorize(Ticket),
    /// Another request is asking the backend for the same entry: look up again when it answers.
    Wait,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denial {
    AuthFailed,
    LimitsExceeded { retry_after: Option<u64> },
}

/// The right, and duty, to ask the backend for one entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ticket {
    pub key: EntryKey,
    /// `None` when both of the key's slots hold other live entries: an answer would hold for
    /// this request alone, so the pipeline sends an authrep instead (the backend counts it).
    slot: Option<u32>,
    /// The asking service's settings: its answer is recorded with them.
    settings: CacheSettings,
    /// Until when others wait for this ticket's answer (the entry's `authorizing_until`).
    asked_until: u64,
    /// The request's application key digest (`SharedEntry::members`), if any.
    check: Option<String>,
    /// Only this key is asked about: the entry holds a fresh answer for other keys of the
    /// application, which stays; nobody waits for this call (see [`AuthCache::answer`]).
    verify: bool,
}

impl Ticket {
    /// Whether the answer goes to the shared cache (and to every request waiting on the key).
    pub fn is_cached(&self) -> bool {
        self.slot.is_some()
    }

    /// Whether the answer decides the requester alone (a key checked against its
    /// application's entry): [`AuthCache::answer`] returns its lookup.
    pub fn verifies(&self) -> bool {
        self.verify
    }
}

/// This worker's copy of a shared entry.
struct Local {
    slot: u32,
    until: u64,
    kind: LocalKind,
    /// For `rate_limit_headers`: the entry's limit and reset deadline, and the budget left in
    /// shared data once this worker's lease was taken (its calls left come on top).
    max_value: u64,
    reset_at: u64,
    shared_left: u64,
    /// The application keys the answer holds for (`SharedEntry::members`).
    members: String,
}

enum LocalKind {
    Unlimited,
    /// Calls left in this worker's lease.
    Held(u64),
    Denied,
    /// `retry_at`: the shared entry's deadline when its reset is known (`Retry-After`).
    Limited {
        retry_at: Option<u64>,
    },
}

pub struct AuthCache {
    settings: CacheSettings,
    /// The last answer found calls of an ended period still unreported (see
    /// [`AuthCache::take_report_soon`]).
    report_soon: bool,
    /// Keyed by the credentials a client sent: see `hashing`.
    local: SeededMap<String, Local>,
}

pub fn slot_key(slot: u32) -> String {
    format!("tollgate.auth.{slot}")
}

impl AuthCache {
    pub fn new(settings: CacheSettings) -> AuthCache {
        AuthCache {
            settings,
            report_soon: false,
            local: SeededMap::default(),
        }
    }

    pub fn settings(&self) -> &CacheSettings {
        &self.settings
    }

    /// Whether the answer just recorded wants the pending report sent now
    /// ([`reports::report_soon`](super::reports::report_soon)): calls of an ended period
    /// hold the entry's budget until the backend has them.
    pub fn take_report_soon(&mut self) -> bool {
        std::mem::take(&mut self.report_soon)
    }

    /// Uses a service's settings (caching type, TTLs) from this call on: each service may
    /// have its own (`caching`, `3scale_batcher`); the slots are shared.
    pub fn with_settings(&mut self, settings: CacheSettings) -> &mut AuthCache {
        self.settings = settings;
        self
    }

    /// [`AuthCache::lookup_checked`] for credentials that are the application itself.
    pub fn lookup(&mut self, store: &dyn SharedStore, key: &EntryKey, now_ms: u64) -> Lookup {
        self.lookup_checked(store, key, None, now_ms)
    }

    /// Decides a request from this worker's lease, or from the shared entry. `check`: the
    /// request's application key digest (`SharedEntry::members`), if it has one.
    #[inline(never)]
    pub fn lookup_checked(
        &mut self,
        store: &dyn SharedStore,
        key: &EntryKey,
        check: Option<&str>,
        now_ms: u64,
    ) -> Lookup {
        if let Some(local) = self.local.get_mut(key.as_str()) {
            let admitted = check.is_none_or(|d| lists(&local.members, d));
            if local.until > now_ms && !admitted {
                // Another key of the application: the shared entry knows whether it is one.
            } else if local.until > now_ms {
                match &mut local.kind {
                    LocalKind::Unlimited => return Lookup::Forward { leased: false },
                    LocalKind::Held(n) if *n > 0 => {
                        *n -= 1;
                        return Lookup::Forward { leased: true };
                    }
                    LocalKind::Held(_) => {}
                    LocalKind::Denied => return Lookup::Deny(Denial::AuthFailed),
                    LocalKind::Limited { retry_at } => {
                        return Lookup::Deny(limits_exceeded(*retry_at, now_ms))
                    }
                }
            } else if let Some(expired) = self.local.remove(key.as_str()) {
                give_back(store, key.as_str(), &expired);
            }
        }
        self.lookup_shared(store, key, check, now_ms)
    }

    fn ticket(&self, key: &EntryKey, slot: Option<u32>, check: Option<&str>) -> Ticket {
        Ticket {
            key: key.clone(),
            slot,
            settings: self.settings,
            asked_until: 0,
            check: check.map(str::to_string),
            verify: false,
        }
    }

    #[inline(never)]
    fn lookup_shared(
        &mut self,
        store: &dyn SharedStore,
        key: &EntryKey,
        check: Option<&str>,
        now_ms: u64,
    ) -> Lookup {
        for _ in 0..MAX_ATTEMPTS {
            // Not accepted yet: the key may not take a known key's slot (`eviction`).
            let Some((slot, mut entry, version)) =
                find_slot(store, key, self.settings.slots, now_ms, false)
            else {
                return Lookup::Authorize(self.ticket(key, None, check));
            };
            if entry.refuses(check, now_ms) {
                return Lookup::Deny(Denial::AuthFailed);
            }
            let name = slot_key(slot);
            // Another key than those the backend accepted for the application is asked about
            // on its own, and the budget stays the application's (found by an audit,
            // 2026-12-07: any key is valid for an application without keys, and each made-up
            // key was an entry with the whole budget). It never asks for the entry: a flood
            // of wrong keys does not hold up the application's own.
            let admitted = entry.admits(check);
            if !admitted && !entry.members.is_empty() {
                if entry.unavailable_until > now_ms {
                    return match self.fallback(entry.last_for(check)) {
                        Fallback::Answer(lookup) => lookup,
                        Fallback::UseOnce => Lookup::Deny(Denial::AuthFailed),
                    };
                }
                let mut ticket = self.ticket(key, Some(slot), check);
                ticket.verify = true;
                return Lookup::Authorize(ticket);
            }
            // Held for no key yet: this one asks for the entry.
            let fresh = match admitted {
                true => entry.fresh_at(now_ms),
                false => Fresh::None,
            };
            match fresh {
                Fresh::Authorized {
                    until,
                    budget: None,
                } => {
                    self.remember(store, key, (slot, &entry), until, LocalKind::Unlimited);
                    return Lookup::Forward { leased: false };
                }
                Fresh::Authorized {
                    until,
                    budget: Some(budget),
                } if budget > 0 => {
                    // A lease this worker could not remember would be owed forever: one call.
                    let lease = if self.can_remember(key) {
                        lease_size(budget)
                    } else {
                        1
                    };
                    entry.fresh = Fresh::Authorized {
                        until,
                        budget: Some(budget.saturating_sub(lease)),
                    };
                    // Decoded from shared data: not trusted to be small.
                    entry.outstanding = entry.outstanding.saturating_add(lease);
                    entry.used_at = now_ms;
                    if store.set(&name, &entry.encode(), version).is_err() {
                        continue;
                    }
                    self.remember(
                        store,
                        key,
                        (slot, &entry),
                        until,
                        LocalKind::Held(lease - 1),
                    );
                    return Lookup::Forward { leased: true };
                }
                // A key's refusal is `SharedEntry::denied`: another key may be valid.
                Fresh::Denied { until } if check.is_none() => {
                    self.remember(store, key, (slot, &entry), until, LocalKind::Denied);
                    return Lookup::Deny(Denial::AuthFailed);
                }
                Fresh::Limited { until, retry_after } => {
                    let retry_at = retry_after.map(|_| until);
                    // Calls still owed may come back unused (another worker's lease expiring),
                    // which lifts the limit (`give_back`): looked at again each second.
                    let recheck = match entry.outstanding {
                        0 => until,
                        _ => until.min(now_ms.saturating_add(LIMITED_RECHECK_MS)),
                    };
                    self.remember(
                        store,
                        key,
                        (slot, &entry),
                        recheck,
                        LocalKind::Limited { retry_at },
                    );
                    return Lookup::Deny(limits_exceeded(retry_at, now_ms));
                }
                // Expired, never asked, or budget used up: the backend must be asked.
                Fresh::Authorized { .. } | Fresh::Denied { .. } | Fresh::None => {}
            }
            if entry.unavailable_until > now_ms {
                // The failure policy decides from the last known answer, not a budget: this
                // worker's copy (a spent lease) goes, so `rate_limit_headers` shows no figures
                // (found by an audit, 2026-12-06: the last lease's figures on its answers).
                if let Some(spent) = self.local.remove(key.as_str()) {
                    give_back(store, key.as_str(), &spent);
                }
                match self.fallback(entry.last_for(check)) {
                    Fallback::Answer(lookup) => return lookup,
                    Fallback::UseOnce => {
                        entry.last = LastKnown::None;
                        if store.set(&name, &entry.encode(), version).is_err() {
                            continue;
                        }
                        return Lookup::Forward { leased: false };
                    }
                }
            }
            if entry.authorizing_until > now_ms {
                return Lookup::Wait;
            }
            entry.authorizing_until = now_ms.saturating_add(self.settings.wait_ms);
            if store.set(&name, &entry.encode(), version).is_err() {
                continue;
            }
            let mut ticket = self.ticket(key, Some(slot), check);
            ticket.asked_until = entry.authorizing_until;
            return Lookup::Authorize(ticket);
        }
        // Persistent contention: wait, and look again when woken or on the next tick.
        Lookup::Wait
    }

    /// Records the backend's answer to an `authorize`. The caller then looks up again, for
    /// this request and every request waiting on the key. An answer that could not be
    /// recorded (an uncached ticket, or a slot taken meanwhile) is returned as a lookup that
    /// would hold for the requester alone; the pipeline does not use it (the requester looks
    /// again with the others, and gets an authrep if no slot is free).
    #[inline(never)]
    pub fn answer(
        &mut self,
        store: &dyn SharedStore,
        ticket: &Ticket,
        answer: &BackendAnswer,
        now_ms: u64,
    ) -> Option<Lookup> {
        self.settings = ticket.settings;
        let Some(slot) = ticket.slot else {
            return Some(self.uncached(answer));
        };
        if ticket.verify {
            return Some(self.verified(store, ticket, slot, answer, now_ms));
        }
        let key = ticket.key.as_str();
        let settings = self.settings;
        let known = accepted(answer);
        let check = ticket.check.as_deref();
        let mut taken = false;
        super::store::update(store, &slot_key(slot), |value| {
            // The slot may have gone to another key while this answer was slow to come (past
            // `wait_ms`): that entry stays, and the answer is not recorded.
            let mut entry = match value.and_then(SharedEntry::decode) {
                Some(e) if e.key == key => e,
                other if eviction::rank(other.as_ref(), known, now_ms).is_none() => {
                    taken = true;
                    return None;
                }
                _ => SharedEntry::new(key),
            };
            taken = false;
            self.report_soon = apply_answer(&mut entry, answer, &settings, now_ms);
            // A new answer holds for the key asked with; other keys ask again (each key's
            // answer is at most `auths_ttl` old, as with an entry per key).
            match answer.decision() {
                _ if check.is_none() => {}
                Decision::Authorized | Decision::LimitsExceeded { .. } => {
                    entry.members.clear();
                    entry.accept(check);
                }
                Decision::Denied => {
                    entry.members.clear();
                    let until = now_ms.saturating_add(settings.denied_ttl_ms);
                    entry.refuse(check, until);
                }
                Decision::BackendUnavailable => {}
            }
            Some((entry.encode(), ()))
        });
        taken.then(|| self.uncached(answer))
    }

    /// The ticket's call will never be answered (Envoy cancelled it with the context that sent
    /// it, e.g. a client's reset): the entry stops waiting for it, so that the requests waiting
    /// on the key ask again now rather than when the wait runs out (`timeout_ms` + 1 s).
    /// Nothing changes if another worker asks for the entry already.
    pub fn abandon(&mut self, store: &dyn SharedStore, ticket: &Ticket) {
        let (Some(slot), false) = (ticket.slot, ticket.verify) else {
            return;
        };
        super::store::update(store, &slot_key(slot), |value| {
            let mut entry = value.and_then(SharedEntry::decode)?;
            if entry.key != ticket.key.as_str() || entry.authorizing_until != ticket.asked_until {
                return None;
            }
            entry.authorizing_until = 0;
            Some((entry.encode(), ()))
        });
    }

    pub(super) fn uncached(&self, answer: &BackendAnswer) -> Lookup {
        match answer.decision() {
            Decision::Authorized => Lookup::Forward { leased: false },
            Decision::LimitsExceeded { retry_after } => {
                Lookup::Deny(Denial::LimitsExceeded { retry_after })
            }
            Decision::Denied => Lookup::Deny(Denial::AuthFailed),
            Decision::BackendUnavailable => match self.fallback(LastKnown::None) {
                Fallback::Answer(lookup) => lookup,
                Fallback::UseOnce => Lookup::Forward { leased: false },
            },
        }
    }

    /// What `caching_type` makes of the last known answer while the backend fails (§7.3).
    pub(super) fn fallback(&self, last: LastKnown) -> Fallback {
        let deny = Fallback::Answer(Lookup::Deny(Denial::AuthFailed));
        let limited = Fallback::Answer(Lookup::Deny(Denial::LimitsExceeded { retry_after: None }));
        let forward = Fallback::Answer(Lookup::Forward { leased: false });
        match (self.settings.caching_type, last) {
            (CachingType::None, _) => deny,
            (CachingType::Strict, LastKnown::Authorized) => Fallback::UseOnce,
            (CachingType::Strict, _) => deny,
            (_, LastKnown::Denied) => deny,
            (_, LastKnown::Limited) => limited,
            (CachingType::Resilient, LastKnown::Authorized) => forward,
            (CachingType::Resilient, LastKnown::None) => deny,
            (CachingType::Allow, _) => forward,
        }
    }

    /// Bounded like the shared slots; past the bound, lookups simply go to shared data.
    fn can_remember(&self, key: &EntryKey) -> bool {
        self.local.len() < self.settings.slots as usize || self.local.contains_key(key.as_str())
    }

    #[inline(never)]
    fn remember(
        &mut self,
        store: &dyn SharedStore,
        key: &EntryKey,
        at: (u32, &SharedEntry),
        until: u64,
        kind: LocalKind,
    ) {
        let (slot, entry) = at;
        // A lease still held (another key of the application came through the shared
        // entry) is given back: replaced, it would stay owed for good.
        if let Some(old) = self.local.remove(key.as_str()) {
            give_back(store, key.as_str(), &old);
        }
        let shared_left = match entry.fresh {
            Fresh::Authorized {
                budget: Some(b), ..
            } => b,
            _ => 0,
        };
        if self.can_remember(key) {
            let local = Local {
                slot,
                until,
                kind,
                max_value: entry.max_value,
                reset_at: entry.reset_at,
                shared_left,
                members: entry.members.clone(),
            };
            self.local.insert(key.as_str().to_string(), local);
        }
    }

    /// `rate_limit_headers`: the figures of the request `lookup` just decided for `key`. The
    /// calls left are those in shared data plus this worker's lease: exact while leases are
    /// one call (budgets under 32); above, a figure leaves out the unused calls of the slices
    /// other workers held when this worker took its own (too low), and does not count down
    /// the calls they made since (too high). A denial has 0 left; an unlimited authorization
    /// or an auth failure has no figures.
    pub fn figures(&self, key: &EntryKey, now_ms: u64) -> Option<Figures> {
        let local = self.local.get(key.as_str())?;
        let remaining = match local.kind {
            LocalKind::Held(n) => local.shared_left.saturating_add(n),
            LocalKind::Limited { .. } => 0,
            LocalKind::Unlimited | LocalKind::Denied => return None,
        };
        let reset_s = local.reset_at.saturating_sub(now_ms).div_ceil(1000);
        (reset_s > 0).then_some(Figures {
            limit: local.max_value,
            remaining,
            reset_s,
        })
    }

    /// Returns every unused lease (the VM is going away: what it holds would stay owed).
    pub fn release_all(&mut self, store: &dyn SharedStore) {
        self.expire(store, u64::MAX);
    }

    /// Drops expired local entries, returning unused leases (called on the worker's timer).
    pub fn expire(&mut self, store: &dyn SharedStore, now_ms: u64) {
        let expired: Vec<String> = self
            .local
            .iter()
            .filter(|(_, l)| l.until <= now_ms)
            .map(|(k, _)| k.clone())
            .collect();
        for key in expired {
            if let Some(local) = self.local.remove(&key) {
                give_back(store, &key, &local);
            }
        }
    }
}

pub(super) enum Fallback {
    Answer(Lookup),
    /// Strict: the remembered 200 covers this one request, then is forgotten.
    UseOnce,
}

/// `retry_at`: when the limit resets, if the backend said.
fn limits_exceeded(retry_at: Option<u64>, now_ms: u64) -> Denial {
    Denial::LimitsExceeded {
        retry_after: retry_at.map(|until| until.saturating_sub(now_ms).div_ceil(1000)),
    }
}

/// A slice small enough that leases left idle in other workers cost little at the tail of a
/// budget (one call at a time below 32), large enough that a busy key rarely writes.
fn lease_size(budget: u64) -> u64 {
    (budget / 16).clamp(1, MAX_LEASE).min(budget)
}

/// Whether the backend accepted the credentials (authorized them, or counted them over a
/// limit): the answer may then take a slot of other accepted credentials (`eviction`).
fn accepted(answer: &BackendAnswer) -> bool {
    matches!(
        answer.decision(),
        Decision::Authorized | Decision::LimitsExceeded { .. }
    )
}

/// Returns the unused part of an expired lease: it no longer counts as owed, and goes back to
/// the current budget (which was computed with it counted as owed), whichever answer that is.
/// An entry limited meanwhile (its budget used up, maybe only because these calls were owed)
/// is asked about again: the backend's remainder less what is still owed may allow them now.
/// (Until the twenty-third session it stayed limited until the reset: a worker that went idle
/// holding part of a slice cost the application up to 64 calls of its period; found by an
/// audit.)
fn give_back(store: &dyn SharedStore, key: &str, local: &Local) {
    let LocalKind::Held(unused) = local.kind else {
        return;
    };
    if unused > 0 {
        return_unused(store, local.slot, key, unused);
    }
}

/// [`give_back`] of `unused` calls to `key`'s entry in `slot`; `None` if it is not there.
fn return_unused(store: &dyn SharedStore, slot: u32, key: &str, unused: u64) -> Option<()> {
    super::store::update(store, &slot_key(slot), |value| {
        let mut entry = value
            .and_then(SharedEntry::decode)
            .filter(|e| e.key == key)?;
        entry.outstanding = entry.outstanding.saturating_sub(unused);
        match entry.fresh {
            Fresh::Authorized {
                until,
                budget: Some(b),
            } => {
                entry.fresh = Fresh::Authorized {
                    until,
                    budget: Some(b.saturating_add(unused)),
                }
            }
            Fresh::Limited { .. } => entry.fresh = Fresh::None,
            _ => {}
        }
        Some((entry.encode(), ()))
    })
}

#[cfg(test)]
mod tests;
