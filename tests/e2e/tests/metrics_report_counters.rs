//! Metrics honesty, the report counters (README "Metrics"): reports refused or answered 5xx,
//! and the calls pending on two workers, match what the backend received.

mod support;

use e2e::mock_backend::Mode;
use e2e::Request;
use serde_json::json;
use std::thread::sleep;
use std::time::Duration;
use support::cache::{cache_config, cache_state, reports, stat, wait_stat, wait_until, FREE};
use support::*;

/// Reports the backend refuses (403) are report failures, and every call in them is in
/// `reports_dropped`; the report calls counted are the ones the backend received.
#[test]
fn refused_reports_count_every_dropped_call_and_every_report_sent() {
    let b = json!({"auths_ttl": 60, "batch_report_seconds": 2});
    let s = Stack::start_with(cache_config("none", Some(b)), cache_state(), |b| b);
    let p = s.port();
    let get = || {
        Request::get("/")
            .header("Host", "api.example.com")
            .header("user_key", FREE)
    };
    for _ in 0..5 {
        assert_eq!(get().send(p).status, 200);
    }
    s.backend.set_mode(Mode::Status(403));
    let t = Duration::from_secs(6);
    assert!(
        wait_until(t, || !reports(&s.backend).is_empty()),
        "no report sent"
    );
    sleep(Duration::from_millis(600));
    assert_eq!(wait_stat(&s.envoy, "reports_dropped", 5, t), 5);
    assert_eq!(stat(&s.envoy, "report_failures"), 1);
    assert_eq!(
        stat(&s.envoy, "backend_report_calls"),
        reports(&s.backend).len() as u64
    );
    assert_eq!(wait_stat(&s.envoy, "usage_pending", 0, t), 0);
    assert_eq!(stat(&s.envoy, "requests_authorized"), 5);
    assert_eq!(s.backend.reported_hits("1", "app-free", "hits"), 0);
}

/// A report answered 5xx is a backend callout answered 5xx: README "Metrics" counts those in
/// `tollgate.backend_errors` ("callouts with no answer, a timeout, a 5xx, or refused by
/// Envoy"; `backend_calls` are "callouts of every kind", reports included). Now only
/// authorizations are counted there: a report outage leaves `backend_errors` at 0.
// FINDING: backend_errors ignores report callouts answered 5xx, contrary to the README's table
#[test]
fn a_report_answered_5xx_is_counted_in_backend_errors() {
    let b = json!({"auths_ttl": 60, "batch_report_seconds": 1});
    let s = Stack::start_with(cache_config("none", Some(b)), cache_state(), |b| b);
    let p = s.port();
    let get = || {
        Request::get("/")
            .header("Host", "api.example.com")
            .header("user_key", FREE)
    };
    for _ in 0..3 {
        assert_eq!(get().send(p).status, 200);
    }
    s.backend.set_mode(Mode::Status(503));
    let t = Duration::from_secs(6);
    assert!(
        wait_until(t, || stat(&s.envoy, "report_failures") >= 1),
        "no report failed"
    );
    sleep(Duration::from_millis(400));
    let answered_5xx = reports(&s.backend).len() as u64;
    let failures = stat(&s.envoy, "report_failures");
    let errors = stat(&s.envoy, "backend_errors");
    // Nothing is lost: the calls wait for a retry.
    assert_eq!(stat(&s.envoy, "reports_dropped"), 0);
    assert_eq!(s.echo.requests().len(), 3);
    assert!(
        errors >= failures && failures >= 1,
        "{answered_5xx} report(s) answered 503 ({failures} report failure(s)), tollgate.backend_errors = {errors}"
    );
}

/// Two workers: `usage_pending` shows every call waiting in shared data (both workers'), then
/// 0 once reported; the backend receives exactly those calls, in the report calls counted.
#[test]
fn usage_pending_on_two_workers_matches_what_the_backend_receives() {
    let b = json!({"auths_ttl": 60, "batch_report_seconds": 10});
    let s = Stack::start_with(cache_config("none", Some(b)), cache_state(), |b| {
        b.concurrency(2)
    });
    let p = s.port();
    let get = || {
        Request::get("/")
            .header("Host", "api.example.com")
            .header("user_key", FREE)
    };
    let reported = || s.backend.reported_hits("1", "app-free", "hits");
    // A first call, reported: the next report is a whole interval (10 s) away, time to see
    // all 10 calls pending on a loaded machine (a report at start-up's schedule once came
    // while they were sent, twice in CI).
    assert_eq!(get().send(p).status, 200);
    assert!(
        wait_until(Duration::from_secs(20), || reported() == 1),
        "the first call never reported: {}",
        reported()
    );
    for _ in 0..10 {
        assert_eq!(get().send(p).status, 200);
    }
    let t = Duration::from_secs(3);
    let seen = wait_stat(&s.envoy, "usage_pending", 10, t);
    assert_eq!(seen, 10, "reported so far: {}", reported());
    assert!(
        wait_until(Duration::from_secs(20), || reported() == 11),
        "reported {}",
        reported()
    );
    assert_eq!(wait_stat(&s.envoy, "usage_pending", 0, t), 0);
    assert_eq!(
        stat(&s.envoy, "backend_report_calls"),
        reports(&s.backend).len() as u64
    );
    assert_eq!(stat(&s.envoy, "requests_authorized"), 11);
    assert_eq!(
        stat(&s.envoy, "cache_hits") + stat(&s.envoy, "cache_misses"),
        11
    );
    assert_eq!(stat(&s.envoy, "reports_dropped"), 0);
}
