//! The lookup / answer protocol, with two `AuthCache`s over one `MemoryStore` standing for two
//! Envoy workers sharing data. Times are milliseconds. This module holds the shared fixtures;
//! the tests are split by concern into its children.

mod authrep;
mod budgets;
mod conflicts;
mod denials;
mod failures;
mod lookups;
mod members;
mod periods;
mod settings;
mod slots;
mod unapplied;

use super::*;
use crate::cache::store::MemoryStore;
use crate::credentials::Credentials;
use crate::mapping::Usage;

const TTL: u64 = 10_000;
const DENIED_TTL: u64 = 5_000;
const WAIT: u64 = 2_000;
const SLOTS: u32 = 16;
const T0: u64 = 1_000_000;

const FORWARD: Lookup = Lookup::Forward { leased: false };
const LEASED: Lookup = Lookup::Forward { leased: true };
const AUTH_FAILED: Lookup = Lookup::Deny(Denial::AuthFailed);

fn settings(caching_type: CachingType) -> CacheSettings {
    CacheSettings {
        caching_type,
        auths_ttl_ms: TTL,
        denied_ttl_ms: DENIED_TTL,
        slots: SLOTS,
        wait_ms: WAIT,
    }
}

fn with_slots(caching_type: CachingType, slots: u32) -> CacheSettings {
    CacheSettings {
        slots,
        ..settings(caching_type)
    }
}

/// Two workers sharing one store.
fn workers(s: CacheSettings) -> (MemoryStore, AuthCache, AuthCache) {
    (MemoryStore::default(), AuthCache::new(s), AuthCache::new(s))
}

fn key(user_key: &str) -> EntryKey {
    let mut usage = Usage::default();
    usage.add("hits", 1);
    EntryKey::new("42", &Credentials::UserKey(user_key.into()), &usage)
}

fn status(status: Option<u16>) -> BackendAnswer {
    BackendAnswer {
        status,
        ..BackendAnswer::default()
    }
}

/// 200 with an optional `3scale-limit-remaining` and `3scale-limit-reset`.
fn ok(remaining: Option<&str>, reset: Option<&str>) -> BackendAnswer {
    BackendAnswer {
        status: Some(200),
        limit_remaining: remaining.map(Into::into),
        limit_reset: reset.map(Into::into),
        ..BackendAnswer::default()
    }
}

/// 409 `limits_exceeded` with the given reset and max value.
fn over_limit(reset: &str, max: &str) -> BackendAnswer {
    BackendAnswer {
        status: Some(409),
        rejection_reason: Some("limits_exceeded".into()),
        limit_reset: Some(reset.into()),
        limit_max_value: Some(max.into()),
        limit_remaining: Some("0".into()),
        foreign: false,
    }
}

fn limits_exceeded(retry_after: Option<u64>) -> Lookup {
    Lookup::Deny(Denial::LimitsExceeded { retry_after })
}

fn ticket(lookup: Lookup) -> Ticket {
    match lookup {
        Lookup::Authorize(ticket) => ticket,
        other => panic!("expected Authorize, got {other:?}"),
    }
}

/// What the adapter does with a request: look up; when told to ask, record the backend's
/// answer and look up again (or take the uncached ticket's answer as is).
fn request(
    cache: &mut AuthCache,
    store: &MemoryStore,
    key: &EntryKey,
    answer: &BackendAnswer,
    now_ms: u64,
) -> Lookup {
    match cache.lookup(store, key, now_ms) {
        Lookup::Authorize(ticket) => match cache.answer(store, &ticket, answer, now_ms) {
            Some(lookup) => lookup,
            None => cache.lookup(store, key, now_ms),
        },
        other => other,
    }
}

/// The key's shared entry as every worker sees it.
fn shared(store: &MemoryStore, key: &EntryKey, slots: u32) -> SharedEntry {
    key.slots(slots)
        .iter()
        .filter_map(|&slot| store.get(&slot_key(slot)).0)
        .filter_map(|v| SharedEntry::decode(&v))
        .find(|e| e.key == key.as_str())
        .unwrap_or_else(|| panic!("no shared entry for {}", key.as_str()))
}

fn budget(store: &MemoryStore, key: &EntryKey) -> Option<u64> {
    match shared(store, key, SLOTS).fresh {
        Fresh::Authorized { budget, .. } => budget,
        other => panic!("not authorized: {other:?}"),
    }
}

/// Counts leased forwards on one worker until it gets something else.
fn drain(cache: &mut AuthCache, store: &MemoryStore, key: &EntryKey, now_ms: u64) -> (u64, Lookup) {
    let mut forwarded = 0;
    loop {
        match cache.lookup(store, key, now_ms) {
            Lookup::Forward { leased: true } => forwarded += 1,
            other => return (forwarded, other),
        }
        assert!(forwarded <= 100_000, "never stops forwarding");
    }
}
