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

/// The cache key of service 42's `GET /a?user_key=<k>` (its reporting fingerprint is that
/// of every configuration here but the rotated ones).
fn key(user_key: &str) -> EntryKey {
    let mut usage = Usage::default();
    usage.add("hits", 1);
    let config = batching("none", 10).to_string();
    let config = crate::config::Config::parse(config.as_bytes())
        .unwrap()
        .config;
    let fingerprint = &config.services[0].reporting_fingerprint;
    EntryKey::identified(
        "42",
        fingerprint,
        &Credentials::UserKey(user_key.into()),
        &usage,
    )
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

/// A listener update from batching to authrep mode (same plugin name): the old VM's counted
/// calls go to the shared pending list when it shuts down, and a worker of the new
/// configuration reports them on its timer (found by an audit, 2026-12-06: authrep mode had
/// no timer, and nobody ever reported them: free calls).
#[test]
fn an_update_to_authrep_mode_reports_the_calls_the_batching_configuration_left() {
    let mut envoy = Envoy::new(batching("none", 10), 1);
    envoy.request(0, 1, "GET", "/a?user_key=k", true);
    envoy.answer(Some(200), Some("-1"));
    for id in 2..=5 {
        assert!(envoy.request(0, id, "GET", "/a?user_key=k", true));
    }
    // The update: the new configuration is the same service in authrep mode.
    let new = envoy.add_worker(service(false, "none"));
    envoy.workers[0].on_shutdown();
    envoy.workers.remove(0);
    let new = new - 1;
    assert_eq!(crate::cache::reports::pending_calls(&*envoy.store), 5);
    assert_eq!(envoy.workers[new].tick_period_ms(), Some(1_000));
    assert!(!envoy.workers[new].batching());
    for s in 1..=30u64 {
        envoy.clock.set(Some(1_000_000 + s * 1_000));
        envoy.tick(new);
    }
    assert_eq!(reports(&envoy).len(), 1, "{:?}", envoy.call_bodies);
    assert!(
        reports(&envoy)[0].contains("%5Bhits%5D=5"),
        "{:?}",
        reports(&envoy)
    );
    assert!(
        envoy.calls[0].2.contains("service_token=st"),
        "{:?}",
        envoy.calls
    );
    envoy.answer(Some(202), None);
    assert_eq!(crate::cache::reports::pending_calls(&*envoy.store), 0);
    // Nothing pending: the authrep worker's ticks claim no round.
    let before = envoy.store.get(crate::cache::reports::REPORT_KEY);
    envoy.clock.set(Some(1_000_000 + 100_000));
    envoy.tick(new);
    assert_eq!(envoy.store.get(crate::cache::reports::REPORT_KEY), before);
}

/// The old and the new configuration of a token rotation ("st" -> "st2", same plugin name)
/// during the drain: each reports the calls it authorized with its own token, whichever
/// wins a round (found by an audit, 2026-12-06: the old configuration's worker sent the new
/// one's calls with the revoked token, and the backend's 403 dropped them).
#[test]
fn during_a_drain_each_configuration_reports_the_calls_it_authorized() {
    let mut envoy = Envoy::new(batching("none", 10), 1);
    let mut rotated = batching("none", 10);
    rotated["services"][0]["backend_authentication_value"] = json!("st2");
    let new = envoy.add_worker(rotated);
    envoy.tick(0);
    // One call of the old configuration, four of the new one.
    envoy.request(0, 1, "GET", "/a?user_key=old", true);
    assert!(envoy
        .answer(Some(200), Some("-1"))
        .contains("service_token=st&"));
    envoy.request(new, 2, "GET", "/a?user_key=k", true);
    let asked = envoy.answer(Some(200), Some("-1"));
    assert!(asked.contains("service_token=st2"), "{asked}");
    for id in 3..=5 {
        assert!(envoy.request(new, id, "GET", "/a?user_key=k", true));
    }
    envoy.tick(new);
    // The old configuration's worker wins the next round: it reports its own call only.
    envoy.clock.set(Some(1_000_000 + 1_000));
    envoy.tick(0);
    assert_eq!(envoy.calls.len(), 1, "{:?}", envoy.calls);
    let path = envoy.calls[0].2.clone();
    assert!(path.ends_with("service_token=st") || path.contains("service_token=st&"));
    assert!(envoy
        .call_bodies
        .last()
        .unwrap()
        .contains("user_key%5D=old"));
    envoy.answer(Some(202), None);
    assert_eq!(crate::cache::reports::pending_calls(&*envoy.store), 0);
    // The new one's calls go back to the shared list, and its worker reports them.
    envoy.clock.set(Some(1_000_000 + 1_500));
    envoy.tick(0);
    assert_eq!(crate::cache::reports::pending_calls(&*envoy.store), 4);
    envoy.clock.set(Some(1_000_000 + 2_000));
    envoy.tick(new);
    assert_eq!(envoy.calls.len(), 1, "{:?}", envoy.calls);
    assert!(
        envoy.calls[0].2.contains("service_token=st2"),
        "{:?}",
        envoy.calls
    );
    assert!(envoy.call_bodies.last().unwrap().contains("%5Bhits%5D=4"));
    envoy.answer(Some(202), None);
    assert_eq!(envoy.workers[new].take_tally().reports_dropped, 0);
    assert_eq!(crate::cache::reports::pending_calls(&*envoy.store), 0);
}

/// Calls of another identity wait out the grace of calls of unknown services, then the
/// configuration that authorized them is gone (drained): the worker left reports them with
/// its own identity of the same service rather than losing them.
#[test]
fn calls_of_a_drained_identity_are_reported_with_the_remaining_one_after_the_grace() {
    let mut envoy = Envoy::new(batching("none", 10), 1);
    let mut rotated = batching("none", 10);
    rotated["services"][0]["backend_authentication_value"] = json!("st2");
    let old = envoy.add_worker(rotated);
    envoy.request(old, 1, "GET", "/a?user_key=k", true);
    envoy.answer(Some(200), Some("-1"));
    assert!(envoy.request(old, 2, "GET", "/a?user_key=k", true));
    envoy.workers[old].on_shutdown();
    envoy.workers.remove(old);
    for minutes in [1u64, 5, 10] {
        envoy.clock.set(Some(1_000_000 + minutes * 60_000));
        envoy.tick(0);
        envoy.clock.set(Some(1_000_000 + minutes * 60_000 + 250));
        envoy.tick(0);
        assert!(envoy.calls.is_empty(), "{minutes}: {:?}", envoy.calls);
        assert_eq!(crate::cache::reports::pending_calls(&*envoy.store), 2);
    }
    envoy.clock.set(Some(1_000_000 + 12 * 60_000));
    envoy.tick(0);
    assert_eq!(envoy.calls.len(), 1, "{:?}", envoy.calls);
    assert!(envoy.calls[0].2.contains("service_token=st&") || envoy.calls[0].2.ends_with("=st"));
    assert!(envoy.call_bodies.last().unwrap().contains("%5Bhits%5D=2"));
}

/// A token rotation (or a backend moved to another account) by a listener update: the new
/// configuration asks the backend again instead of using the 200 the old one cached.
#[test]
fn a_rotated_token_is_not_authorized_by_the_old_tokens_cached_answer() {
    let mut envoy = Envoy::new(batching("none", 10), 1);
    envoy.request(0, 1, "GET", "/a?user_key=k", true);
    envoy.answer(Some(200), Some("-1"));
    assert!(envoy.request(0, 2, "GET", "/a?user_key=k", true));
    let mut rotated = batching("none", 10);
    rotated["services"][0]["backend_authentication_value"] = json!("st2");
    let new = envoy.add_worker(rotated);
    assert!(!envoy.request(new, 3, "GET", "/a?user_key=k", true));
    assert!(envoy
        .answer(Some(200), Some("-1"))
        .contains("service_token=st2"));
    // The same configuration again (same token, same backend) shares the cache.
    let same = envoy.add_worker(batching("none", 10));
    assert!(envoy.request(same, 4, "GET", "/a?user_key=k", true));
}
