//! Pending usage, the reporter election and report batches, with two `LocalUsage`s over one
//! `MemoryStore` standing for two Envoy workers. Times are milliseconds. This module holds the
//! shared fixtures; the tests are split by concern into its children.

mod batches;
mod codes;
mod election;
mod pending;
mod settle;

use super::*;
use crate::cache::store::MemoryStore;
use crate::credentials::Credentials;
use crate::mapping::Usage;
use std::collections::BTreeMap;

const SLOTS: u32 = 16;
const INTERVAL: u64 = 10_000;
const T0: u64 = 1_000_000;
/// The clock of report batches (seconds): 2026-12-06 05:30:00 UTC.
const NOW_S: u64 = 1_796_535_000;

fn key_for(service: &str, user_key: &str, usage: &[(&str, u64)]) -> EntryKey {
    let mut u = Usage::default();
    for (metric, delta) in usage {
        u.add(metric, *delta);
    }
    EntryKey::new(service, &Credentials::UserKey(user_key.into()), &u)
}

fn key(user_key: &str) -> EntryKey {
    key_for("1", user_key, &[("hits", 1)])
}

fn calls(calls: u64, leased: u64) -> Calls {
    Calls {
        minute: 0,
        calls,
        leased,
    }
}

fn add(usage: &mut LocalUsage, key: &EntryKey, n: u64, leased: bool) {
    for _ in 0..n {
        usage.add(key, leased, 0);
    }
}

/// The pending list as a map, for order-independent comparisons.
fn as_map(pending: Vec<(EntryKey, Calls)>) -> BTreeMap<String, Calls> {
    let mut map = BTreeMap::new();
    for (k, c) in pending {
        assert!(
            map.insert(k.as_str().to_string(), c).is_none(),
            "{} taken twice",
            k.as_str()
        );
    }
    map
}

fn expected(entries: &[(&EntryKey, Calls)]) -> BTreeMap<String, Calls> {
    entries
        .iter()
        .map(|(k, c)| (k.as_str().to_string(), *c))
        .collect()
}

fn config() -> Config {
    Config::parse(
        br#"{"backend":{"cluster":"b"},"services":[
            {"id":"1","backend_version":1,
             "backend_authentication_type":"service_token","backend_authentication_value":"tok1"},
            {"id":"2","backend_version":2}]}"#,
    )
    .unwrap()
    .config
}

fn total(pending: &[(EntryKey, Calls)]) -> u64 {
    pending.iter().map(|(_, c)| c.calls).sum()
}
