//! Lifecycle and concurrency with batching (audit, 2026-12): Envoy shutting down, the backend
//! refusing reports for a while, configuration updates from 3scale System while calls wait to
//! be reported, and limits across an update, all with two workers. Each test asserts what a
//! safe filter does: every call forwarded upstream is reported once (hits reported = hits
//! forwarded), and a limit of N lets N through.
//!
//! Findings (these tests fail on the audited module):
//! * Calls waiting for the next report are never sent when Envoy stops (`/quitquitquit`,
//!   SIGTERM): `on_done` only moves them to shared data, which dies with the process (APIcast's
//!   batcher reports on worker exit). Up to `batch_report_seconds` of traffic per restart is
//!   never billed. Envoy 1.40 cannot do better from inside: `shutdown()` exits the main loop at
//!   once (the Wasm `ShutdownExit` hook is not waited for: "shutting down server instance" and
//!   "main dispatch loop exited" share a millisecond), and each worker runs the root contexts'
//!   `on_done` from `tls_.shutdownThread()`, after its dispatcher stopped (`WorkerImpl::
//!   threadRoutine`). A report dispatched there gets a token but never leaves, and a root
//!   `on_done` returning false (proxy-wasm-cpp-host `pending_done_`) is never answered: tried,
//!   the process exited 4 ms later with no call to the backend. What holds, and is tested
//!   (`pending_reports_are_sent_when_envoy_quits_after_a_drain` / `..._on_sigterm_...`), is
//!   the operator procedure of README "What can still be lost": stop the listeners
//!   (`/drain_listeners`), wait for `tollgate.usage_pending` to read 0, then stop Envoy.
//! * `reports_refused_with_429_are_retried` / `..._408_...`: a report answered 429 or 408 (a
//!   throttling or timing-out proxy in front of the backend) is "refused" and its calls dropped
//!   (`reporting.rs` `on_answer`, `400..=498`); both are transient and must be retried.
//! * `pending_reports_of_a_service_removed_from_system_are_sent`: calls of a service that a
//!   System refresh removed are dropped by the reporter (`reports::batches`, "no longer
//!   configured"), although they were forwarded under a valid authorization.
//! * `pending_reports_are_sent_after_the_last_batcher_is_removed`: once no service batches
//!   (a `3scale_batcher` policy removed in System), `Reporting::tick` returns before claiming a
//!   report (`!config.any_batching()`): the pending calls stay in shared data, never sent.
//! * `a_shorter_batch_report_seconds_from_system_takes_effect`: lowering
//!   `batch_report_seconds` keeps the next report at the old interval (`claim_report` keeps the
//!   `next_at` written with it): 60 s instead of 1 s.
//!
//! Held (passing regressions below): calls pending across a new version of their service are
//! reported exactly once; an exact limit across a System refresh with two workers racing.
//! Also checked and held, not kept as tests (covered elsewhere or by design): two workers
//! racing on the last hits (`limits.rs`), one reporter per interval for both workers
//! (`batching.rs`), reports retried through 5xx/timeouts/refused connections
//! (`batching_outages.rs`), concurrent misses sharing one authorize, waiters woken after an
//! abandoned ask (`spoofs_batching_waiters.rs`), the cache and pending list surviving a
//! refresh, a refused System update keeping the old service (`system_loading.rs`). A VM crash
//! loses at most the worker's unflushed tick (README "What can still be lost"); Tollgate
//! cannot be made to trap here, and a file-based xDS update is not in the harness.

mod support;

use e2e::mock_backend::{MockBackend, Mode};
use e2e::system::{self, MockSystem, Stored, WithSystem};
use e2e::{wait_steady, EchoUpstream, Envoy, Request};
use serde_json::{json, Value};
use std::time::Duration;
use support::batching::{assert_reported_exactly, batching, expect};
use support::cache::*;
use support::{service, Stack};

const APP_FREE: &str = "app-free";

fn reported_free(s: &Stack) -> u64 {
    s.backend.reported_hits("1", APP_FREE, "hits")
}

/// Requests the upstream received with this header value (`user_key` or `app_id`).
fn forwarded_with(s: &Stack, header: &str, value: &str) -> u64 {
    (s.echo.requests().iter())
        .filter(|r| r.header(header) == Some(value))
        .count() as u64
}

// --- Envoy stopping --------------------------------------------------------------------------

/// Two workers, batching with a long report interval: calls forwarded after the first report
/// (claimed at start-up) wait in shared data. Returns the calls forwarded.
fn calls_waiting_for_the_report(s: &Stack) -> u64 {
    let port = s.port();
    expect(&user(FREE).send(port), 200, "first call");
    // The first report is claimed on the first tick (250 ms): it took this call or nothing.
    wait_until(Duration::from_secs(2), || reported_free(s) == 1);
    let burst = concurrently(port, vec![user(FREE); 20]);
    assert_eq!(count_status(&burst, 200), 20, "cached: all forwarded");
    let forwarded = forwarded_with(s, "user_key", FREE);
    assert_eq!(forwarded, 21);
    // Every call is in shared data (both workers' ticks) or reported; some still wait.
    let accounted = || stat(&s.envoy, "usage_pending") + reported_free(s);
    assert!(
        wait_until(Duration::from_secs(5), || accounted() == forwarded),
        "pending {} + reported {} != forwarded {forwarded}",
        stat(&s.envoy, "usage_pending"),
        reported_free(s)
    );
    assert!(stat(&s.envoy, "usage_pending") > 0, "nothing waits");
    forwarded
}

/// Envoy cannot send a report once it stops (see the header). The operator procedure: stop
/// the listeners, wait until `tollgate.usage_pending` has read 0 for longer than
/// `backend.timeout_ms` (the next report went through), then stop Envoy: nothing is lost.
fn stopping_after_a_drain(stop: impl FnOnce(&Envoy)) {
    let mut cfg = cache_config("none", None);
    // Long enough for calls to wait (the first report is at start-up), short for the test.
    cfg["backend"]["batching"] = json!({"auths_ttl": 60, "batch_report_seconds": 20});
    let mut s = start(cfg, cache_state());
    let forwarded = calls_waiting_for_the_report(&s);
    let r = Request::post("/drain_listeners").send(s.envoy.admin_port());
    assert_eq!(r.status, 200, "{r}");
    let drained = || {
        stat(&s.envoy, "usage_pending") == 0 && {
            std::thread::sleep(Duration::from_millis(1500));
            stat(&s.envoy, "usage_pending") == 0
        }
    };
    assert!(
        wait_until(Duration::from_secs(40), drained),
        "still pending after the next report: {}",
        stat(&s.envoy, "usage_pending")
    );
    stop(&s.envoy);
    assert!(
        wait_until(Duration::from_secs(20), || !s.envoy.is_running()),
        "Envoy did not stop"
    );
    assert_eq!(
        reported_free(&s),
        forwarded,
        "calls forwarded before Envoy stopped and never reported"
    );
}

#[test]
fn pending_reports_are_sent_when_envoy_quits_after_a_drain() {
    stopping_after_a_drain(|envoy| {
        let r = Request::post("/quitquitquit").send(envoy.admin_port());
        assert_eq!(r.status, 200, "{r}");
    });
}

#[test]
fn pending_reports_are_sent_on_sigterm_after_a_drain() {
    stopping_after_a_drain(|envoy| {
        let status = std::process::Command::new("kill")
            .args(["-TERM", &envoy.pid().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
    });
}

// --- The backend refusing reports for a while ----------------------------------------------

/// Calls reported while the backend answers `status` (a proxy in front of it throttling, or
/// timing out), then answers normally: kept and retried, as after a 5xx.
fn transient_refusal(status: u16) {
    let s = start(cache_config("none", Some(batching(60))), cache_state());
    let port = s.port();
    expect(&user(FREE).send(port), 200, "authorized");
    assert!(wait_until(Duration::from_secs(5), || reported_free(&s) == 1));
    s.backend.set_mode(Mode::Status(status));
    for _ in 0..10 {
        expect(&user(FREE).send(port), 200, "cached");
    }
    assert!(
        wait_until(Duration::from_secs(10), || stat(
            &s.envoy,
            "report_failures"
        ) >= 1),
        "no report attempted"
    );
    s.backend.set_mode(Mode::Normal);
    assert_eq!(forwarded_with(&s, "user_key", FREE), 11);
    assert_reported_exactly(&s, &[("1", APP_FREE, "hits", 11)]);
    assert_eq!(stat(&s.envoy, "reports_dropped"), 0);
}

#[test]
fn reports_refused_with_429_are_retried() {
    transient_refusal(429);
}

#[test]
fn reports_refused_with_408_are_retried() {
    transient_refusal(408);
}

// --- Configuration updates from 3scale System ----------------------------------------------

fn rule(pattern: &str) -> Value {
    json!({"http_method": "GET", "pattern": pattern, "metric_system_name": "hits", "delta": 1})
}

/// Service 1 (user_key in headers, `api.example.com`) with these rules and chain.
fn service_1(rules: &[&str], chain: Option<Value>) -> Value {
    let rules: Vec<Value> = rules.iter().map(|p| rule(p)).collect();
    let mut proxy = json!({"credentials_location": "headers", "proxy_rules": rules});
    if let Some(chain) = chain {
        proxy["policy_chain"] = chain;
    }
    service(1, json!("1"), proxy)
}

/// Service 2 (app_id + app_key in headers, `app.example.com`), rule `/a`.
fn service_2() -> Value {
    let proxy = json!({"credentials_location": "headers", "hosts": ["app.example.com"],
        "proxy_rules": [rule("/a")]});
    service(2, json!("2"), proxy)
}

fn batcher(seconds: u64) -> Value {
    json!([{"name": "apicast"}, {"name": "3scale_batcher",
        "configuration": {"auths_ttl": 60, "batch_report_seconds": seconds}}])
}

fn one(path: &str) -> Request {
    user_path(path, FREE)
}

fn two(path: &str) -> Request {
    Request::get(path)
        .header("Host", "app.example.com")
        .header("app_id", APP3)
        .header("app_key", APP3_KEY_A)
}

fn status(s: &Stack, r: Request) -> u16 {
    r.send(s.port()).status
}

/// Services from the mock System (`refresh_s` 1), `backend` fields merged in, two workers;
/// Envoy reaches the backend through a [`Gate`].
fn start_with_system(mock: &MockSystem, backend: Value) -> (Stack, Gate) {
    let mut cfg = json!({
        "backend": {"cluster": "threescale_backend", "authority": "backend.example", "timeout_ms": 500},
        "system": system::block(1)
    });
    if let (Some(b), Value::Object(extra)) = (cfg["backend"].as_object_mut(), backend) {
        b.extend(extra);
    }
    let echo = EchoUpstream::start().expect("echo upstream");
    let backend = MockBackend::start(cache_state()).expect("mock backend");
    let gate = Gate::open_to(backend.port());
    let envoy = Envoy::builder()
        .concurrency(2)
        .upstream_port(echo.port())
        .backend_port(gate.port())
        .with_system(mock)
        .filter_config(&cfg.to_string())
        .start()
        .expect("envoy");
    let s = Stack {
        echo,
        backend,
        envoy,
    };
    (s, gate)
}

/// Calls forwarded from the cache while the backend is unreachable (their reports fail and
/// wait for a retry), then `change` published in System and installed on both workers
/// (`installed` holds steadily; its forwarded calls count too), then the backend is back:
/// every forwarded call of service 1 (and of service 2 if `with_two`) is reported, once.
fn pending_across_an_update(
    backend: Value,
    v1: Vec<Value>,
    change: impl FnOnce(&MockSystem),
    installed: impl Fn(&Stack) -> bool,
) {
    let mock = system::start();
    let with_two = v1.len() > 1;
    for s in v1 {
        mock.publish(Stored::Production, s).unwrap();
    }
    let (s, mut gate) = start_with_system(&mock, backend);
    assert!(wait_steady(Duration::from_secs(10), || {
        status(&s, one("/a")) == 200 && (!with_two || status(&s, two("/a")) == 200)
    }));
    gate.close();
    for _ in 0..10 {
        expect(&one("/a").send(s.port()), 200, "service 1, cached");
        if with_two {
            expect(&two("/a").send(s.port()), 200, "service 2, cached");
        }
    }
    assert!(
        wait_until(Duration::from_secs(10), || stat(
            &s.envoy,
            "report_failures"
        ) >= 1),
        "no report attempted while the backend was down"
    );
    change(&mock);
    assert!(
        wait_steady(Duration::from_secs(15), || installed(&s)),
        "the update was not installed"
    );
    gate.open();
    let (f1, f2) = (
        forwarded_with(&s, "user_key", FREE),
        forwarded_with(&s, "app_id", APP3),
    );
    let counted = || {
        (
            reported_free(&s),
            s.backend.reported_hits("2", APP3, "hits"),
        )
    };
    wait_until(Duration::from_secs(30), || counted() == (f1, f2));
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(
        counted(),
        (f1, f2),
        "(service 1, service 2) reported vs forwarded; reports_dropped {}",
        stat(&s.envoy, "reports_dropped")
    );
}

fn static_batching() -> Value {
    json!({"batching": {"auths_ttl": 60, "batch_report_seconds": 1}})
}

/// Control: a new version of both services (a rule `/b` added) keeps the calls waiting.
#[test]
fn pending_reports_survive_a_new_version_from_system() {
    pending_across_an_update(
        static_batching(),
        vec![service_1(&["/a"], None), service_2()],
        |mock| {
            mock.publish(Stored::Production, service_1(&["/a", "/b"], None))
                .unwrap();
        },
        |s| status(s, one("/b")) == 200,
    );
}

/// Service 2 is deleted in 3scale while its calls wait to be reported (the backend still
/// takes its reports): they were forwarded under its authorization and must be billed.
#[test]
fn pending_reports_of_a_service_removed_from_system_are_sent() {
    pending_across_an_update(
        static_batching(),
        vec![service_1(&["/a"], None), service_2()],
        |mock| assert!(mock.delete_service(2)),
        |s| status(s, two("/a")) == 404,
    );
}

/// The only batching service loses its `3scale_batcher` policy (authrep from now on) while
/// its calls wait to be reported: they must still be reported.
#[test]
fn pending_reports_are_sent_after_the_last_batcher_is_removed() {
    pending_across_an_update(
        json!({}),
        vec![service_1(&["/a", "/gone"], Some(batcher(1)))],
        |mock| {
            mock.publish(Stored::Production, service_1(&["/a"], None))
                .unwrap();
        },
        // `/gone` has no rule any more: 404 without a backend call.
        |s| status(s, one("/gone")) == 404,
    );
}

/// `batch_report_seconds` lowered in System from 60 to 1: calls are reported within a few
/// seconds, not when the old 60 s interval ends.
#[test]
fn a_shorter_batch_report_seconds_from_system_takes_effect() {
    let mock = system::start();
    mock.publish(Stored::Production, service_1(&["/a"], Some(batcher(60))))
        .unwrap();
    let (s, _gate) = start_with_system(&mock, json!({}));
    assert!(wait_steady(Duration::from_secs(10), || status(
        &s,
        one("/a")
    ) == 200));
    mock.publish(
        Stored::Production,
        service_1(&["/a", "/b"], Some(batcher(1))),
    )
    .unwrap();
    assert!(wait_steady(Duration::from_secs(10), || status(
        &s,
        one("/b")
    ) == 200));
    let installed = std::time::Instant::now();
    let forwarded = forwarded_with(&s, "user_key", FREE);
    // 1 s interval, a 250 ms tick: 10 s is generous; the old interval ends ~50 s later.
    wait_until(Duration::from_secs(10), || reported_free(&s) == forwarded);
    assert_eq!(
        reported_free(&s),
        forwarded,
        "{:?} after batch_report_seconds became 1",
        installed.elapsed()
    );
}

/// Regression: a limit of 50 a minute, 30 calls, a new version of the service installed by
/// each worker on its own tick, then 40 more calls: exactly 50 forwarded and reported (the
/// budget's entry carries over the update).
#[test]
fn an_exact_limit_holds_across_a_system_refresh() {
    let mock = system::start();
    mock.publish(Stored::Production, service_1(&["/a"], None))
        .unwrap();
    let (s, _gate) = start_with_system(&mock, static_batching());
    pin_clock(&s.backend, 1);
    let port = s.port();
    assert!(wait_steady(Duration::from_secs(10), || status(
        &s,
        one("/a")
    ) == 200));
    let fifty = || user_path("/a", FIFTY);
    let first = concurrently(port, vec![fifty(); 30]);
    assert_eq!(count_status(&first, 200), 30);
    mock.publish(Stored::Production, service_1(&["/a", "/b"], None))
        .unwrap();
    // While the workers take the update at different times, the second burst races it.
    let mut second = Vec::new();
    assert!(wait_steady(Duration::from_secs(10), || {
        second.extend(concurrently(port, vec![fifty(); 2]));
        status(&s, one("/b")) == 200
    }));
    second.extend(concurrently(port, vec![fifty(); 20]));
    let ok = count_status(&second, 200);
    assert_eq!(ok, 20, "{} of {} in the second burst", ok, second.len());
    assert_eq!(forwarded_with(&s, "user_key", FIFTY), 50);
    assert_reported_exactly(&s, &[("1", "app-50", "hits", 50)]);
}
