//! Values from the backend and from shared data are not trusted to be small: a reset near
//! `i64::MAX`, a budget or an outstanding count near `u64::MAX`, pending counts whose sum does
//! not fit. Each case once overflowed (a panic in this build, a silent wrap in the module);
//! arithmetic on them saturates now. Times are milliseconds.

use super::authorizations::slot_key;
use super::entry::{Fresh, SharedEntry};
use super::reports::{self, ReportBatch, PENDING_KEY, REPORT_KEY};
use super::*;
use crate::backend::BackendAnswer;
use crate::config::{CachingType, Config};
use crate::credentials::Credentials;
use crate::mapping::Usage;

const T0: u64 = 1_700_000_000_000;
const SLOTS: u32 = 1;
const TTL: u64 = 30_000;
const HUGE_RESET: &str = "9223372036854775807";

/// The clock of report batches (seconds).
const NOW_S: u64 = 1_796_535_000;

fn settings() -> CacheSettings {
    CacheSettings {
        caching_type: CachingType::Resilient,
        auths_ttl_ms: TTL,
        denied_ttl_ms: 5_000,
        slots: SLOTS,
        wait_ms: 2_000,
    }
}

fn key(user_key: &str) -> EntryKey {
    let mut usage = Usage::default();
    usage.add("hits", 1);
    EntryKey::new("1", &Credentials::UserKey(user_key.into()), &usage)
}

/// Asks the backend for `key` at `now_ms` and records `answer`; then looks up again.
fn ask(
    cache: &mut AuthCache,
    store: &MemoryStore,
    key: &EntryKey,
    answer: &BackendAnswer,
    now_ms: u64,
) -> Lookup {
    let Lookup::Authorize(ticket) = cache.lookup(store, key, now_ms) else {
        panic!("expected a ticket");
    };
    assert!(ticket.is_cached());
    match cache.answer(store, &ticket, answer, now_ms) {
        Some(lookup) => lookup,
        None => cache.lookup(store, key, now_ms),
    }
}

fn entry(store: &MemoryStore) -> SharedEntry {
    let value = store.get(&slot_key(0)).0.unwrap_or_default();
    SharedEntry::decode(&value).unwrap_or_else(|| panic!("no entry"))
}

/// Writes an entry as another worker (or another version of the module) might have.
fn put(store: &MemoryStore, entry: &SharedEntry) {
    let (_, version) = store.get(&slot_key(0));
    assert!(store.set(&slot_key(0), &entry.encode(), version).is_ok());
}

fn put_pending(store: &MemoryStore, text: &str) {
    let (_, version) = store.get(PENDING_KEY);
    assert!(store.set(PENDING_KEY, text.as_bytes(), version).is_ok());
}

#[test]
fn a_limits_exceeded_reset_near_i64_max_saturates() {
    let store = MemoryStore::default();
    let mut cache = AuthCache::new(settings());
    let k = key("k");
    let answer = BackendAnswer {
        status: Some(409),
        rejection_reason: Some("limits_exceeded".into()),
        limit_reset: Some(HUGE_RESET.into()),
        limit_max_value: Some("5".into()),
        limit_remaining: Some("0".into()),
        foreign: false,
    };
    // `r as u64 * 1000` wrapped to a reset of a few seconds in the module. Now the entry is
    // limited until the end of time, and Retry-After (counted to then) is as good as never.
    assert_eq!(
        ask(&mut cache, &store, &k, &answer, T0),
        Lookup::Deny(Denial::LimitsExceeded {
            retry_after: Some((u64::MAX - T0).div_ceil(1000))
        })
    );
    assert_eq!(
        entry(&store).fresh,
        Fresh::Limited {
            until: u64::MAX,
            retry_after: Some(i64::MAX as u64)
        }
    );
    // Still limited much later; another worker sees it too.
    let mut other = AuthCache::new(settings());
    assert!(matches!(
        other.lookup(&store, &k, T0 + 86_400_000),
        Lookup::Deny(Denial::LimitsExceeded { .. })
    ));
}

#[test]
fn an_authorized_reset_near_i64_max_keeps_auths_ttl() {
    let store = MemoryStore::default();
    let mut cache = AuthCache::new(settings());
    let k = key("k");
    let answer = BackendAnswer {
        status: Some(200),
        limit_reset: Some(HUGE_RESET.into()),
        limit_remaining: Some("100".into()),
        ..BackendAnswer::default()
    };
    assert_eq!(
        ask(&mut cache, &store, &k, &answer, T0),
        Lookup::Forward { leased: true }
    );
    assert!(matches!(
        entry(&store).fresh,
        Fresh::Authorized { until, budget: Some(_) } if until == T0 + TTL
    ));
    // A remaining count at or below the outstanding calls, with the huge reset: limited.
    let mut e = entry(&store);
    e.fresh = Fresh::None;
    e.outstanding = 200;
    put(&store, &e);
    let mut other = AuthCache::new(settings());
    assert!(matches!(
        ask(&mut other, &store, &k, &answer, T0 + 1),
        Lookup::Deny(Denial::LimitsExceeded {
            retry_after: Some(_)
        })
    ));
}

#[test]
fn a_lease_from_an_entry_owing_u64_max_calls_saturates() {
    let store = MemoryStore::default();
    let k = key("k");
    let mut e = SharedEntry::new(k.as_str());
    e.fresh = Fresh::Authorized {
        until: T0 + TTL,
        budget: Some(100),
    };
    e.outstanding = u64::MAX - 1;
    put(&store, &e);
    let mut cache = AuthCache::new(settings());
    assert_eq!(
        cache.lookup(&store, &k, T0),
        Lookup::Forward { leased: true }
    );
    assert_eq!(entry(&store).outstanding, u64::MAX);
}

#[test]
fn a_lease_given_back_to_a_budget_near_u64_max_saturates() {
    let store = MemoryStore::default();
    let k = key("k");
    let mut e = SharedEntry::new(k.as_str());
    e.fresh = Fresh::Authorized {
        until: T0 + TTL,
        budget: Some(1000),
    };
    put(&store, &e);
    let mut cache = AuthCache::new(settings());
    assert_eq!(
        cache.lookup(&store, &k, T0),
        Lookup::Forward { leased: true }
    );
    // Another worker rewrote the budget meanwhile; the unused lease goes back to it.
    let mut e = entry(&store);
    e.fresh = Fresh::Authorized {
        until: T0 + TTL,
        budget: Some(u64::MAX - 1),
    };
    put(&store, &e);
    cache.release_all(&store);
    assert!(matches!(
        entry(&store).fresh,
        Fresh::Authorized {
            budget: Some(u64::MAX),
            ..
        }
    ));
}

#[test]
fn a_clock_at_the_end_of_time_does_not_overflow() {
    let store = MemoryStore::default();
    let mut cache = AuthCache::new(settings());
    let k = key("k");
    let now_ms = u64::MAX - 10;
    let denied = BackendAnswer {
        status: Some(403),
        ..BackendAnswer::default()
    };
    assert_eq!(
        ask(&mut cache, &store, &k, &denied, now_ms),
        Lookup::Deny(Denial::AuthFailed)
    );
    assert!(!reports::claim_report(&store, now_ms, 10_000) || store.get(REPORT_KEY).0.is_some());
    assert!(reports::report_failed(&store, now_ms) > 0);
}

/// Two keys pending `u64::MAX` calls each (another worker's saturated counts).
fn huge_pending(store: &MemoryStore) {
    put_pending(
        store,
        &format!(
            "{max} 0 {}\n{max} {max} {}\n",
            key("a").as_str(),
            key("b").as_str(),
            max = u64::MAX
        ),
    );
}

#[test]
fn pending_calls_near_u64_max_sum_saturating() {
    let store = MemoryStore::default();
    huge_pending(&store);
    assert_eq!(reports::pending_calls(&store), u64::MAX);
}

#[test]
fn a_merge_into_a_huge_pending_list_reports_a_saturated_count() {
    let store = MemoryStore::default();
    huge_pending(&store);
    let merged = reports::merge(
        &store,
        [(
            key("c").as_str(),
            Calls {
                minute: 0,
                calls: 1,
                leased: 1,
            },
        )]
        .into_iter(),
        10,
    );
    assert_eq!(merged.map(|m| m.pending), Some(u64::MAX));
    // The existing counts themselves saturate when merged into.
    let merged = reports::merge(
        &store,
        [(
            key("a").as_str(),
            Calls {
                minute: 0,
                calls: 5,
                leased: 5,
            },
        )]
        .into_iter(),
        10,
    );
    assert_eq!(merged.map(|m| m.pending), Some(u64::MAX));
}

#[test]
fn taken_and_batched_calls_near_u64_max_sum_saturating() {
    let store = MemoryStore::default();
    huge_pending(&store);
    let pending = reports::take_pending(&store);
    assert_eq!(pending.len(), 2);
    assert_eq!(Calls::total(&pending), u64::MAX);
    let config = Config::parse(
        br#"{"backend":{"cluster":"b"},"services":[{"id":"1","backend_version":1}]}"#,
    )
    .unwrap_or_else(|e| panic!("{e}"))
    .config;
    let (batches, dropped) = reports::batches(&config, &RetiredServices::default(), pending, NOW_S);
    assert!(dropped.is_empty());
    // One call per application, each with its usage saturated, not wrapped.
    assert_eq!(
        batches.iter().map(ReportBatch::calls).collect::<Vec<_>>(),
        [u64::MAX, u64::MAX]
    );
    for b in &batches {
        assert_eq!(b.call.body.matches(&u64::MAX.to_string()).count(), 1);
    }
}
