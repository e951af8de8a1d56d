//! Batching while the backend fails (5xx, timeout, connection refused): `caching_type`
//! deciding once the cached answers have expired; reports kept and retried through the
//! outage, and dropped (counted and logged) beyond `max_pending`.

mod support;

use e2e::mock_backend::Mode;
use e2e::Request;
use serde_json::json;
use std::time::{Duration, Instant};
use support::batching::{assert_reported_exactly, batching, expect};
use support::cache::*;

/// How the backend fails.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Failure {
    Status(u16),
    /// Never answers: the 500 ms callout timeout.
    Hang,
    /// Nothing listens on the backend port: connections are refused.
    Down,
}

impl Failure {
    /// The backend starts failing this way.
    fn begin(self, s: &support::Stack, gate: &mut Gate) {
        match self {
            Failure::Status(code) => s.backend.set_mode(Mode::Status(code)),
            Failure::Hang => s.backend.set_mode(Mode::Hang),
            Failure::Down => gate.close(),
        }
    }

    /// The backend answers normally again.
    fn end(self, s: &support::Stack, gate: &mut Gate) {
        match self {
            Failure::Down => gate.open(),
            _ => s.backend.set_mode(Mode::Normal),
        }
    }
}

/// `caching_type` with batching: a fresh cached answer is used whatever the backend does; once
/// it has expired, a failed authorize leaves the decision to the caching type (from the last
/// answer for that entry), which then answers for 1 s without asking the backend again.
fn failure_scenario(caching_type: &str, failure: Failure) {
    let (authorized_first, authorized_again, limited, unknown) = match caching_type {
        "none" => (403, 403, 403, 403),
        "strict" => (200, 403, 403, 403),
        "resilient" => (200, 200, 429, 403),
        "allow" => (200, 200, 429, 200),
        other => panic!("{other}"),
    };
    let (s, mut gate) = start_gated(cache_config(caching_type, Some(batching(2))), cache_state());
    // At :58 of a pinned minute every limit resets in 2 s, as the authorizations expire.
    pin_clock(&s.backend, 58);
    use_up(&s.backend);
    let port = s.port();
    let authorize_calls = || stat(&s.envoy, "backend_authorize_calls");
    let mut steps: Vec<String> = Vec::new();
    let mut check = |what: &str, request: Request, status: u16| {
        let r = request.send(port);
        steps.push(format!("{what}: {}", describe(&r)));
        assert_eq!(r.status, status, "{what}; steps:\n{}", steps.join("\n"));
        r
    };
    let mut free_forwarded = 0;
    let mut fresh_forwarded = 0;

    // Backend up.
    check("up: valid", user(FREE), 200);
    check("up: invalid", user(INVALID), 403);
    let r = check("up: limits exceeded", user(ONE), 429);
    assert!(r
        .header("retry-after")
        .is_some_and(|v| v.parse::<u64>().unwrap() <= 2));
    let answered = Instant::now();
    free_forwarded += 1;
    assert_eq!(authorizes(&s.backend).len(), 3);

    // Backend failing while the answers are fresh: answered from the cache, no backend call.
    failure.begin(&s, &mut gate);
    for _ in 0..3 {
        check("failing, fresh: valid", user(FREE), 200);
        check("failing, fresh: invalid", user(INVALID), 403);
        check("failing, fresh: limits exceeded", user(ONE), 429);
        free_forwarded += 1;
    }
    assert_eq!(authorize_calls(), 3, "fresh answers need no backend call");
    assert!(
        answered.elapsed() < Duration::from_millis(1900),
        "test too slow: {:?}",
        answered.elapsed()
    );

    // Expired: one authorize each (it fails), then the caching type answers, for 1 s without
    // another call.
    std::thread::sleep(
        (answered + Duration::from_millis(2200)).saturating_duration_since(Instant::now()),
    );
    // (Counted from here: a report in flight when the backend went down may still land.)
    let received_before = s.backend.requests().len();
    let cases = [
        ("valid", user(FREE), authorized_first, authorized_again),
        ("invalid", user(INVALID), 403, 403),
        ("limits exceeded", user(ONE), limited, limited),
        ("never asked", user(FRESH), unknown, unknown),
    ];
    let mut expected_calls = 3;
    for (what, request, first, again) in cases {
        check(&format!("failing, expired: {what}"), request.clone(), first);
        expected_calls += 1;
        let failed_at = Instant::now();
        check(
            &format!("failing, expired: {what} again"),
            request.clone(),
            again,
        );
        check(
            &format!("failing, expired: {what} a third time"),
            request,
            again,
        );
        assert!(failed_at.elapsed() < Duration::from_millis(900));
        assert_eq!(
            authorize_calls(),
            expected_calls,
            "{what}: one authorize, then the policy answers for 1 s"
        );
        if what == "valid" {
            free_forwarded += u64::from(first == 200) + 2 * u64::from(again == 200);
        }
        if what == "never asked" {
            fresh_forwarded += 3 * u64::from(first == 200);
        }
    }
    // After that second, the backend is asked again (and still fails).
    std::thread::sleep(Duration::from_millis(1100));
    check("failing, 1 s later: valid", user(FREE), authorized_again);
    free_forwarded += u64::from(authorized_again == 200);
    expected_calls += 1;
    assert_eq!(authorize_calls(), expected_calls);

    // Backend back: once the 1 s is over, asked again and answered normally.
    let received_while_failing = s.backend.requests().len() - received_before;
    failure.end(&s, &mut gate);
    std::thread::sleep(Duration::from_millis(1100));
    check("restored: valid", user(FREE), 200);
    check("restored: invalid", user(INVALID), 403);
    check("restored: limits exceeded", user(ONE), 429);
    free_forwarded += 1;
    assert_eq!(authorize_calls(), expected_calls + 3);
    assert!(authrep_calls(&s.backend).is_empty());
    assert!(stat(&s.envoy, "backend_errors") >= expected_calls - 3);
    if failure == Failure::Down {
        // The failed calls never reached the backend: Envoy's connections were refused.
        assert_eq!(received_while_failing, 0);
        assert_eq!(authorizes(&s.backend).len(), 6);
        assert!(backend_connect_failures(&s.envoy) >= expected_calls - 3);
    } else {
        assert_eq!(authorizes(&s.backend).len() as u64, expected_calls + 3);
    }
    assert!(
        stat(&s.envoy, "report_failures") >= 1,
        "the hits forwarded during the outage were reported only after it"
    );

    // Every forwarded request is reported, including those the caching type let through.
    assert_reported_exactly(
        &s,
        &[
            ("1", "app-free", "hits", free_forwarded),
            ("1", "app-fresh", "hits", fresh_forwarded),
            ("1", "app-one", "hits", 0),
        ],
    );
    assert_eq!(
        stat(&s.envoy, "requests_authorized"),
        free_forwarded + fresh_forwarded
    );
    assert_eq!(
        s.echo.requests().len() as u64,
        free_forwarded + fresh_forwarded
    );
}

#[test]
fn none_with_batching_backend_5xx() {
    failure_scenario("none", Failure::Status(503));
}

#[test]
fn none_with_batching_backend_timeout() {
    failure_scenario("none", Failure::Hang);
}

/// Batching, `caching_type` none, backend down (connection refused), then back.
#[test]
fn none_with_batching_backend_down() {
    failure_scenario("none", Failure::Down);
}

#[test]
fn strict_with_batching_backend_5xx() {
    failure_scenario("strict", Failure::Status(503));
}

#[test]
fn strict_with_batching_backend_timeout() {
    failure_scenario("strict", Failure::Hang);
}

/// Batching, `caching_type` strict, backend down (connection refused), then back.
#[test]
fn strict_with_batching_backend_down() {
    failure_scenario("strict", Failure::Down);
}

#[test]
fn resilient_with_batching_backend_5xx() {
    failure_scenario("resilient", Failure::Status(503));
}

#[test]
fn resilient_with_batching_backend_timeout() {
    failure_scenario("resilient", Failure::Hang);
}

/// Batching, `caching_type` resilient, backend down (connection refused), then back.
#[test]
fn resilient_with_batching_backend_down() {
    failure_scenario("resilient", Failure::Down);
}

#[test]
fn allow_with_batching_backend_5xx() {
    failure_scenario("allow", Failure::Status(503));
}

#[test]
fn allow_with_batching_backend_timeout() {
    failure_scenario("allow", Failure::Hang);
}

/// Batching, `caching_type` allow, backend down (connection refused), then back.
#[test]
fn allow_with_batching_backend_down() {
    failure_scenario("allow", Failure::Down);
}

/// Hits forwarded while the backend cannot take reports are kept, retried, and counted
/// exactly once when it is back.
fn report_retry(failure: Failure) {
    let (s, mut gate) = start_gated(cache_config("none", Some(batching(60))), cache_state());
    let port = s.port();
    expect(&user(FREE).send(port), 200, "first user_key");
    expect(&app(APP3, APP3_KEY_A).send(port), 200, "first app_id");
    let reported = || {
        (
            s.backend.reported_hits("1", "app-free", "hits"),
            s.backend.reported_hits("2", APP3, "hits"),
        )
    };
    assert!(
        wait_until(Duration::from_secs(5), || reported() == (1, 1)),
        "{:?}",
        reported()
    );

    failure.begin(&s, &mut gate);
    let posts_before = reports(&s.backend).len();
    let burst: Vec<Request> = (0..20)
        .map(|i| {
            if i % 2 == 0 {
                user(FREE)
            } else {
                app(APP3, APP3_KEY_A)
            }
        })
        .collect();
    let responses = concurrently(port, burst);
    assert_eq!(
        count_status(&responses, 200),
        20,
        "cached: no backend needed"
    );
    assert_eq!(authorizes(&s.backend).len(), 2);
    // The report falls due, is attempted, fails, and is attempted (and fails) again.
    assert!(
        wait_until(Duration::from_secs(10), || stat(
            &s.envoy,
            "report_failures"
        ) >= 2),
        "report_failures {}",
        stat(&s.envoy, "report_failures")
    );
    if failure == Failure::Down {
        assert_eq!(
            reports(&s.backend).len(),
            posts_before,
            "nothing reached the backend"
        );
        assert!(backend_connect_failures(&s.envoy) >= 2);
    } else {
        assert!(reports(&s.backend).len() > posts_before, "report attempted");
    }
    // Every failed attempt is a backend error too (a 3xx as well: until 2026-12-06 it was
    // only a report failure; found by an audit).
    assert!(
        wait_until(Duration::from_secs(5), || stat(&s.envoy, "backend_errors")
            >= 2),
        "backend_errors {}",
        stat(&s.envoy, "backend_errors")
    );
    assert_eq!(reported(), (1, 1), "nothing counted during the outage");
    assert_eq!(stat(&s.envoy, "reports_dropped"), 0);

    failure.end(&s, &mut gate);
    assert_reported_exactly(
        &s,
        &[("1", "app-free", "hits", 11), ("2", APP3, "hits", 11)],
    );
    assert_report_shape(&reports(&s.backend));
    assert_eq!(stat(&s.envoy, "reports_dropped"), 0);
    assert_eq!(stat(&s.envoy, "requests_authorized"), 22);
}

#[test]
fn report_is_retried_after_backend_5xx() {
    report_retry(Failure::Status(503));
}

#[test]
fn report_is_retried_after_backend_timeout() {
    report_retry(Failure::Hang);
}

/// A 3xx (or 1xx) answer to a report delivered nothing: kept and retried like a 5xx, a
/// backend error each time, never followed, never dropped (found by an audit, 2026-12-06).
#[test]
fn report_is_retried_after_backend_3xx() {
    report_retry(Failure::Status(302));
}

/// Reports refused a connection are kept, retried, and counted once when the backend is back.
#[test]
fn report_is_retried_after_backend_down() {
    report_retry(Failure::Down);
}

/// With `max_pending` 1 and reports failing, a second key's hits find the pending list full:
/// they are dropped, counted in `tollgate.reports_dropped` and logged, never reported.
#[test]
fn hits_beyond_max_pending_are_dropped_counted_and_logged() {
    let mut b = batching(60);
    b["max_pending"] = json!(1);
    let s = start(cache_config("none", Some(b)), cache_state());
    let port = s.port();
    let reported = || {
        (
            s.backend.reported_hits("1", "app-free", "hits"),
            s.backend.reported_hits("1", "app-fresh", "hits"),
        )
    };
    let dropped = || stat(&s.envoy, "reports_dropped");
    let t = Duration::from_secs(10);
    // One key at a time, each reported before the next: the bound is never exceeded.
    expect(&user(FREE).send(port), 200, "first FREE");
    assert!(wait_until(t, || reported() == (1, 0)), "{:?}", reported());
    expect(&user(FRESH).send(port), 200, "first FRESH");
    assert!(wait_until(t, || reported() == (1, 1)), "{:?}", reported());
    assert_eq!(dropped(), 0);

    // Reports fail: FREE's hits wait for a retry in the list, FRESH's find it full (or FREE's,
    // put back after a failed attempt, find FRESH's there).
    s.backend.set_mode(Mode::Status(503));
    for _ in 0..3 {
        expect(&user(FREE).send(port), 200, "FREE, reports failing");
    }
    assert!(wait_until(t, || stat(&s.envoy, "report_failures") >= 1));
    for _ in 0..4 {
        expect(&user(FRESH).send(port), 200, "FRESH, reports failing");
    }
    assert!(wait_until(t, || dropped() > 0), "nothing dropped");

    // Every forwarded hit is either reported once, or dropped and counted.
    s.backend.set_mode(Mode::Normal);
    let accounted = || {
        let (free, fresh) = reported();
        free + fresh - 2 + dropped()
    };
    wait_until(Duration::from_secs(20), || accounted() == 7);
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(
        accounted(),
        7,
        "reported {:?} (1 each before), dropped {}",
        reported(),
        dropped()
    );
    assert!(dropped() > 0);
    assert_eq!(s.echo.requests().len(), 9);
    assert_eq!(authorizes(&s.backend).len(), 2, "answered from the cache");
    // Each drop is logged as an error with its count; the logged counts add up to the counter.
    let logged: u64 = s
        .envoy
        .filter_logs()
        .iter()
        .filter_map(|m| {
            let n = m
                .strip_prefix("tollgate: ")?
                .strip_suffix(" call(s) dropped: more than 1 pending reports")?;
            Some(n.parse::<u64>().unwrap())
        })
        .sum();
    assert_eq!(logged, dropped(), "{:#?}", s.envoy.filter_logs());
    assert!(s
        .envoy
        .log()
        .lines()
        .any(|l| l.contains("[error][wasm]") && l.contains("call(s) dropped: more than 1")));
}
