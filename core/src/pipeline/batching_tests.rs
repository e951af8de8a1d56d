//! Batching across workers and configurations, through the fake Envoy of `fake_envoy`: the
//! slot count a configuration update keeps, calls of services only some workers know, late
//! answers, and calls the failure policy forwards without a slot.

use super::fake_envoy::*;
use super::worker_tests::service;
use super::Outcome;
use crate::cache::authorizations::slot_key;
use crate::cache::entry::SharedEntry;
use crate::cache::slot_count::SLOTS_KEY;
use crate::cache::{EntryKey, SharedStore};
use crate::credentials::Credentials;
use crate::mapping::Usage;
use serde_json::{json, Value};

/// A batching configuration of service 42 with `cache_max_entries` slots.
fn batching(caching_type: &str, slots: u32) -> Value {
    let mut config = service(true, caching_type);
    config["backend"]["cache_max_entries"] = json!(slots);
    config
}

/// The cache key of service 42's `GET /a?user_key=<k>`.
fn key(user_key: &str) -> EntryKey {
    let mut usage = Usage::default();
    usage.add("hits", 1);
    EntryKey::new("42", &Credentials::UserKey(user_key.into()), &usage)
}

fn reports(envoy: &Envoy) -> Vec<&String> {
    (envoy.call_bodies.iter())
        .filter(|b| b.contains("transactions"))
        .collect()
}

/// A configuration update changing only `cache_max_entries` keeps the shared slots and
/// their count: the entry still owes the calls of its period, and their report settles it
/// (found by an audit, 2026-12-06: a plan of 3 calls let 3 more through, and the settle
/// missed the entry, owed for good).
#[test]
fn a_new_cache_max_entries_keeps_the_slots_and_what_their_entries_owe() {
    // A key whose slots among 10 are none of its slots among 20.
    let user_key = (0..)
        .map(|i| format!("k{i}"))
        .find(|k| {
            let k = key(k);
            k.slots(10).iter().all(|s| !k.slots(20).contains(s))
        })
        .unwrap();
    let path = format!("/a?user_key={user_key}");
    let mut envoy = Envoy::new(batching("none", 10), 1);
    envoy.request(0, 1, "GET", &path, true);
    envoy.answer(Some(200), Some("3"));
    for id in 2..=3 {
        assert!(envoy.request(0, id, "GET", &path, true), "{id}");
    }
    envoy.request(0, 4, "GET", &path, true);
    envoy.answer(Some(200), Some("3"));
    assert_eq!(envoy.fate(4), Fate::Replied(429, Outcome::LimitsExceeded));
    // The update: a new VM with 20 slots; the 3 calls not reported yet.
    let new = envoy.add_worker(batching("none", 20));
    assert!(!envoy.request(new, 5, "GET", &path, true));
    assert_eq!(envoy.fate(5), Fate::Replied(429, Outcome::LimitsExceeded));
    assert!(envoy.calls.is_empty(), "{:?}", envoy.calls);
    assert_eq!(envoy.store.get(SLOTS_KEY).0, Some(b"10".to_vec()));
    // The old VM goes; the new one reports its calls, which settles the entry.
    envoy.workers[0].on_shutdown();
    envoy.workers.remove(0);
    envoy.tick(0);
    assert_eq!(envoy.calls.len(), 1, "{:?}", envoy.calls);
    envoy.answer(Some(202), None);
    let owed: Vec<u64> = (key(&user_key).slots(10).into_iter())
        .filter_map(|s| SharedEntry::decode(&envoy.store.get(&slot_key(s)).0?))
        .filter(|e| e.key == key(&user_key).as_str())
        .map(|e| e.outstanding)
        .collect();
    assert_eq!(owed, [0]);
}

/// Services from 3scale System are installed with the plugin's slot count too.
#[test]
fn a_system_configuration_uses_the_slot_count_fixed_before_it() {
    let system = json!({"cluster": "system", "authority": "s", "access_token": "t"});
    let config = json!({"backend": {"cluster": "backend", "cache_max_entries": 20},
        "system": system});
    // Nothing cached yet: the count is not fixed; the batching listener fixes 10.
    let mut envoy = Envoy::new(config, 1);
    assert_eq!(envoy.store.get(SLOTS_KEY).0, None);
    envoy.add_worker(batching("none", 10));
    let mut batched = service(false, "none")["services"][0].clone();
    batched["proxy"]["policy_chain"] = json!([{"name": "apicast"},
        {"name": "3scale_batcher", "configuration": {}}]);
    envoy.install_fetched(&[batched]);
    assert_eq!(envoy.workers[0].config().backend.cache_max_entries, 10);
}

/// During a drain after a static update that adds a service, the old configuration's worker
/// may win a report round: the new service's calls wait for a worker that knows it (found by
/// an audit, 2026-12-06: dropped as "no longer configured", never billed).
#[test]
fn calls_of_a_service_the_reporter_does_not_know_wait_for_a_worker_that_knows_it() {
    let mut old = service(true, "none");
    old["services"][0]["id"] = json!(41);
    old["services"][0]["proxy"]["hosts"] = json!(["old.example.com"]);
    let mut new = old.clone();
    new["services"] = json!([old["services"][0], service(true, "none")["services"][0]]);
    let mut envoy = Envoy::new(old, 1);
    let new = envoy.add_worker(new);
    envoy.tick(0);
    envoy.request(new, 1, "GET", "/a?user_key=k", true);
    envoy.answer(Some(200), Some("-1"));
    assert!(envoy.request(new, 2, "GET", "/a?user_key=k", true));
    envoy.tick(new);
    // The old configuration's worker wins the next round.
    envoy.clock.set(Some(1_000_000 + 1_000));
    envoy.tick(0);
    assert!(envoy.calls.is_empty(), "{:?}", envoy.calls);
    assert_eq!(envoy.workers[0].take_tally().reports_dropped, 0);
    envoy.tick(0);
    envoy.clock.set(Some(1_000_000 + 2_000));
    envoy.tick(new);
    assert_eq!(envoy.calls.len(), 1, "{:?}", envoy.calls);
    assert!(envoy.calls[0]
        .2
        .starts_with("/transactions.xml?service_id=42"));
    assert!(
        reports(&envoy)[0].contains("%5Bhits%5D=2"),
        "{:?}",
        reports(&envoy)
    );
}

/// An `authorize` answer whose slot another key took meanwhile (past the wait) is not
/// recorded, and wakes its requester and the waiters on every worker, who look again at once
/// (found by an audit, 2026-12-06: nobody was woken, they sat until their worker's tick).
#[test]
fn a_late_answer_whose_slot_was_taken_wakes_the_requests_waiting_on_it() {
    // One slot: every key's two candidates are slot 0.
    let mut envoy = Envoy::new(batching("none", 1), 2);
    envoy.request(0, 1, "GET", "/a?user_key=a", true);
    envoy.request(1, 2, "GET", "/a?user_key=a", true);
    assert_eq!(envoy.calls.len(), 1);
    // The ask's wait (timeout_ms + 1 s) is over: key b takes the slot and asks.
    envoy.clock.set(Some(1_000_000 + 2_001));
    envoy.request(0, 3, "GET", "/a?user_key=b", true);
    assert_eq!(envoy.calls.len(), 2);
    envoy.answer(Some(200), Some("-1"));
    // Slot 0 is b's, being asked about: a's requests get an authrep each, now.
    let authreps: Vec<&String> = (envoy.calls.iter())
        .map(|(_, _, path)| path)
        .filter(|p| p.starts_with("/transactions/authrep.xml") && p.contains("user_key=a"))
        .collect();
    assert_eq!(authreps.len(), 2, "{:?}", envoy.calls);
    for _ in 0..3 {
        envoy.answer(Some(200), Some("-1"));
    }
    for id in 1..=3 {
        assert!(matches!(envoy.fate(id), Fate::Forwarded { .. }), "{id}");
    }
}

/// With both of a key's slots held by others, its request gets an authrep; with the backend
/// down, a call `caching_type` forwards is reported once the backend is back, like the calls
/// the policy forwards from the cache (found by an audit, 2026-12-06: never reported).
#[test]
fn a_call_the_failure_policy_forwards_without_a_slot_is_reported() {
    let mut envoy = Envoy::new(batching("allow", 1), 1);
    envoy.request(0, 1, "GET", "/a?user_key=other", true);
    envoy.answer(Some(200), Some("-1"));
    envoy.request(0, 2, "GET", "/a?user_key=k", true);
    assert!(envoy.calls[0].2.starts_with("/transactions/authrep.xml"));
    envoy.answer(Some(503), None);
    assert!(matches!(envoy.fate(2), Fate::Forwarded { .. }));
    envoy.tick(0);
    let reported = reports(&envoy);
    assert_eq!(reported.len(), 2, "{reported:?}");
    assert!(
        reported.iter().any(|b| b.contains("%5Buser_key%5D=k&")),
        "{reported:?}"
    );
}

/// A report in flight when its VM goes (a configuration update) never gets its answer: its
/// calls are owed until the end of their period, then forgiven, not owed for good.
#[test]
fn a_report_in_flight_at_shutdown_is_owed_until_its_period_ends() {
    let mut envoy = Envoy::new(batching("none", 10), 1);
    envoy.request(0, 1, "GET", "/a?user_key=k", true);
    // 3 calls left this hour (an hour from now, in seconds).
    let path = envoy.answer_with_reset(Some(200), Some("3"), Some(3600));
    assert!(path.starts_with("/transactions/authorize.xml?"));
    envoy.request(0, 2, "GET", "/a?user_key=k", true);
    envoy.tick(0);
    assert_eq!(reports(&envoy).len(), 1, "{:?}", envoy.calls);
    envoy.workers[0].on_shutdown();
    let entry = |envoy: &Envoy| {
        (key("k").slots(10).into_iter())
            .filter_map(|s| SharedEntry::decode(&envoy.store.get(&slot_key(s)).0?))
            .find(|e| e.key == key("k").as_str())
    };
    let owed = entry(&envoy).map(|e| (e.outstanding, e.abandoned));
    assert!(matches!(owed, Some((o, a)) if o > 0 && a == o), "{owed:?}");
    // After the period: nothing owed.
    let now = envoy.clock.get().unwrap_or_default();
    envoy.clock.set(Some(now + 3_601_000));
    let e = entry(&envoy).map(|e| e.owed_at(now + 3_601_000));
    assert_eq!(e, Some(0));
}
