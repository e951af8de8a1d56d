//! Configuration updates while Envoy runs (LDS, as Istio and Envoy Gateway push them): the
//! plugin keeps its name, so its shared authorization cache carries over, limits stay exact
//! across the update, and the calls counted before it are reported, each with the identity
//! (service token) that authorized it.

mod support;

use e2e::mock_backend::{App, MockBackend, Period, ReceivedRequest};
use e2e::{wait_until, EchoUpstream};
use serde_json::json;
use std::time::{Duration, Instant};
use support::cache::*;
use support::dyn_envoy::DynEnvoy;
use support::TOKEN;

/// Service 1: an app limited to 3 hits an hour (an hour: no period resets during the test).
const THREE: &str = "uk-three-an-hour";

/// An update changing `backend.cache_max_entries` only: keys used to move to other slots, so
/// the entry holding the calls not yet reported was not found and the backend (not told of
/// them yet) gave the application its whole budget again: a limit of 3 let 6 through (found
/// by an audit, 2026-12-06). The shared cache keeps the slot count it started with.
#[test]
fn a_new_cache_max_entries_gives_no_second_budget() {
    let echo = EchoUpstream::start().unwrap();
    let state = cache_state().app(
        App::new("1", "app-three")
            .user_key(THREE)
            .plan("Three")
            .limit("hits", Period::Hour, 3),
    );
    let backend = MockBackend::start(state).unwrap();
    // Reports wait 60 s: the backend hears of no call during the test.
    let mut cfg = cache_config(
        "strict",
        Some(json!({"auths_ttl": 60, "batch_report_seconds": 60})),
    );
    cfg["backend"]["cache_max_entries"] = json!(1000);
    let mut envoy = DynEnvoy::start(echo.port(), backend.port(), &cfg.to_string());
    let statuses: Vec<u16> = (0..4)
        .map(|_| user(THREE).send(envoy.port).status)
        .collect();
    assert_eq!(statuses, [200, 200, 200, 429]);
    cfg["backend"]["cache_max_entries"] = json!(2000);
    envoy.update(&cfg.to_string());
    let statuses: Vec<u16> = (0..3)
        .map(|_| user(THREE).send(envoy.port).status)
        .collect();
    assert_eq!(statuses, [429, 429, 429]);
    assert_eq!(
        echo.requests().len(),
        3,
        "the upstream saw the plan's 3 calls"
    );
    assert!(reports(&backend).is_empty());
    assert!(
        envoy.log().contains("cache_max_entries ignored"),
        "the update's warning:\n{}",
        envoy.log()
    );
}

/// A listener update from batching to authrep mode: the calls the batching configuration
/// counted and had not reported yet reach the backend after the update (found by an audit,
/// 2026-12-06: authrep mode had no timer and nobody reported them: free calls).
#[test]
fn an_update_to_authrep_mode_reports_the_calls_counted_before_it() {
    let echo = EchoUpstream::start().unwrap();
    let backend = MockBackend::start(cache_state()).unwrap();
    // Reports wait 60 s: the backend hears of no call before the update.
    let batching = json!({"auths_ttl": 60, "batch_report_seconds": 60});
    let cfg = cache_config("none", Some(batching));
    let mut envoy = DynEnvoy::start(echo.port(), backend.port(), &cfg.to_string());
    for _ in 0..3 {
        let r = user(FREE).send(envoy.port);
        assert_eq!(r.status, 200, "{}", describe(&r));
    }
    assert!(reports(&backend).is_empty());
    envoy.update(&cache_config("none", None).to_string());
    // Authrep mode: the backend authorizes and counts this one at once.
    let r = user(FRESH).send(envoy.port);
    assert_eq!(r.status, 200, "{}", describe(&r));
    // The new configuration's timer reports the 3 calls left in shared data (authrep
    // mode's report interval: 10 s).
    let free = || reported_in_bodies(&reports(&backend), "user_key", FREE, "hits");
    let reported = wait_until(Duration::from_secs(30), || free() >= 3);
    assert!(
        reported,
        "reports: {:?}\n{}",
        reports(&backend),
        envoy.log()
    );
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(free(), 3, "each call reported once");
    assert_report_shape(&reports(&backend));
    let authreps = authrep_calls(&backend);
    assert_eq!(authreps.len(), 1);
    assert_eq!(authreps[0].param("user_key"), Some(FRESH));
    assert_eq!(
        reported_in_bodies(&reports(&backend), "user_key", FRESH, "hits"),
        0,
        "the authrep counted it"
    );
    assert_eq!(echo.requests().len(), 4);
}

/// The token service 1's configuration is given by the update below.
const ROTATED: &str = "svc-token-2";

/// Usage of `metric` reported for `user_key` in the reports sent with `token`.
fn reported_with(backend: &MockBackend, token: &str, user_key: &str) -> u64 {
    let with: Vec<ReceivedRequest> = (reports(backend).into_iter())
        .filter(|r| r.param("service_token") == Some(token))
        .collect();
    reported_in_bodies(&with, "user_key", user_key, "hits")
}

/// An update rotating service 1's token while the old configuration drains (both report,
/// taking rounds in turn): the backend gets the new configuration's calls with the new token,
/// and the old one's with the old token (found by an audit, 2026-12-06: the old
/// configuration's worker reported the new one's calls with its token, which the backend
/// refuses once it is revoked, dropping them). The new configuration asks the backend again
/// rather than using the old token's cached answers.
#[test]
fn after_a_token_rotation_the_backend_gets_the_new_calls_with_the_new_token() {
    let echo = EchoUpstream::start().unwrap();
    let mut state = cache_state();
    // The backend takes both tokens: each report's token says which configuration sent it.
    for service in state.services.iter_mut().filter(|s| s.id == "1") {
        service.tokens.push(ROTATED.to_string());
    }
    let backend = MockBackend::start(state).unwrap();
    let old = cache_config(
        "none",
        Some(json!({"auths_ttl": 60, "batch_report_seconds": 1})),
    );
    // A long interval: once the new configuration has reported, the old one, due a second
    // after, takes the next round while it drains.
    let mut new = cache_config(
        "none",
        Some(json!({"auths_ttl": 60, "batch_report_seconds": 60})),
    );
    new["services"][0]["backend_authentication_value"] = json!(ROTATED);
    let mut envoy = DynEnvoy::start_draining(echo.port(), backend.port(), &old.to_string(), 6);
    for _ in 0..2 {
        let r = user(FREE).send(envoy.port);
        assert_eq!(r.status, 200, "{}", describe(&r));
    }
    let reported = wait_until(Duration::from_secs(10), || {
        reported_with(&backend, TOKEN, FREE) == 2
    });
    assert!(reported, "{:?}", reports(&backend));
    envoy.begin_update(&new.to_string());
    // The new configuration's calls, over a few report rounds of the drain.
    let r = user(FREE).send(envoy.port);
    assert_eq!(r.status, 200, "{}", describe(&r));
    let (started, mut sent) = (Instant::now(), 0u64);
    while started.elapsed() < Duration::from_millis(2_500) {
        let r = user(FRESH).send(envoy.port);
        assert_eq!(r.status, 200, "{}", describe(&r));
        sent += 1;
        std::thread::sleep(Duration::from_millis(150));
    }
    envoy.wait_drained();
    let fresh = || reported_in_bodies(&reports(&backend), "user_key", FRESH, "hits");
    let reported = wait_until(Duration::from_secs(20), || fresh() >= sent);
    assert!(reported, "{} of {sent}: {:?}", fresh(), reports(&backend));
    assert_eq!(
        reported_with(&backend, ROTATED, FRESH),
        sent,
        "{:?}",
        reports(&backend)
    );
    assert_eq!(reported_with(&backend, TOKEN, FRESH), 0);
    // FREE: twice before the update (old token), once after (new token).
    assert_eq!(reported_with(&backend, TOKEN, FREE), 2);
    assert_eq!(reported_with(&backend, ROTATED, FREE), 1);
    // Both applications authorized again with the new token after the update.
    for user_key in [FREE, FRESH] {
        let asked = (authorizes(&backend).iter())
            .filter(|a| a.param("user_key") == Some(user_key))
            .filter(|a| a.param("service_token") == Some(ROTATED))
            .count();
        assert_eq!(asked, 1, "{user_key}");
    }
    assert_eq!(echo.requests().len() as u64, 3 + sent);
}
