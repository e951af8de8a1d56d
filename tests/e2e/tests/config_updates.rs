//! Configuration updates while Envoy runs (LDS, as Istio and Envoy Gateway push them): the
//! plugin keeps its name, so its shared authorization cache carries over, and limits stay
//! exact across the update.

mod support;

use e2e::mock_backend::{App, MockBackend, Period};
use e2e::EchoUpstream;
use serde_json::json;
use support::cache::*;
use support::dyn_envoy::DynEnvoy;

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
