//! A red team of the limits in the 3scale modes (thirtieth session): ways a caller could get
//! more calls than its plan allows, or a request the backend refused to the upstream.
//!
//! * An application without keys (`backend_version` 2): apisonator accepts any `app_key` for
//!   it, so each made-up key was a cache entry of its own, each with the app's whole budget.
//! * Around that fix: a wrong key of an application with keys stays refused while a good
//!   key's authorization is cached, and while the backend is down (`resilient`; with
//!   `allow`, a key refused before keeps its refusal: 2026-12-07).
//!
//! Each asserts the client's answers, what the upstream received and what the backend counted.

mod support;

use e2e::mock_backend::{App, Period, State};
use e2e::Response;
use serde_json::{json, Value};
use std::time::Duration;
use support::cache::*;

/// Service 2: an application without keys, limited to 5 hits a minute.
const OPEN: &str = "app-open";
/// Service 2: an application with one key, limited to 5 hits a minute.
const KEYED: &str = "app-keyed";
const KEYED_KEY: &str = "k-keyed";

fn state() -> State {
    cache_state()
        .app(
            App::new("2", OPEN)
                .plan("Open")
                .limit("hits", Period::Minute, 5),
        )
        .app(
            App::new("2", KEYED)
                .app_keys(&[KEYED_KEY])
                .plan("Keyed")
                .limit("hits", Period::Minute, 5),
        )
}

fn batching() -> Value {
    json!({"auths_ttl": 30, "denied_ttl": 30, "batch_report_seconds": 1})
}

fn statuses(responses: &[Response]) -> Vec<u16> {
    responses.iter().map(|r| r.status).collect()
}

fn forwarded_for(s: &support::Stack, app_id: &str) -> usize {
    let echo = s.echo.requests();
    echo.iter()
        .filter(|r| r.header("app_id") == Some(app_id))
        .count()
}

/// Waits for the reports of `forwarded` calls of `app_id` (or 10 s), then a little more.
fn counted_after_reports(s: &support::Stack, app_id: &str, forwarded: usize) -> u64 {
    let counted = || s.backend.reported_hits("2", app_id, "hits");
    wait_until(Duration::from_secs(10), || counted() as usize >= forwarded);
    std::thread::sleep(Duration::from_millis(1500));
    counted()
}

/// apisonator accepts any `app_key` of an application without keys (protocol §2.3). Each
/// key a client makes up was a cache entry of its own, with a budget computed from the
/// backend's `3scale-limit-remaining` as if no other key had been served: 5 calls a minute
/// became 5 per made-up key.
#[test]
fn made_up_app_keys_of_an_app_without_keys_do_not_multiply_its_limit() {
    let s = start(cache_config("none", Some(batching())), state());
    pin_clock(&s.backend, 1);
    let port = s.port();
    let mut responses = Vec::new();
    for key in ["made-up-1", "made-up-2", "made-up-3"] {
        for _ in 0..4 {
            responses.push(app(OPEN, key).send(port));
        }
    }
    // Concurrently too, across both workers.
    let keys: Vec<String> = (0..12).map(|i| format!("burst-{i}")).collect();
    let burst = concurrently(port, keys.iter().map(|k| app(OPEN, k)).collect());
    responses.extend(burst);
    let forwarded = forwarded_for(&s, OPEN);
    let counted = counted_after_reports(&s, OPEN, forwarded);
    assert_eq!(
        (count_status(&responses, 200), forwarded, counted),
        (5, 5, 5),
        "a plan of 5 calls a minute: {:?}",
        statuses(&responses)
    );
    assert_eq!(
        count_status(&responses, 429),
        responses.len() - 5,
        "{:?}",
        statuses(&responses)
    );
    // Each key was asked about with its own app_key; reports carry the app_id alone.
    let asked: Vec<String> = authorizes(&s.backend)
        .iter()
        .filter_map(|r| r.param("app_key").map(str::to_string))
        .collect();
    assert!(asked.iter().any(|k| k == "made-up-2"), "{asked:?}");
    for report in reports(&s.backend) {
        assert!(!report.body.contains("app_key"), "{}", report.body);
    }
}

/// The other side: an application with keys. A wrong key is refused (403) while the good
/// key's authorization and budget are cached, and never reaches the upstream; the good key's
/// calls are still held to the limit and counted once.
#[test]
fn a_wrong_app_key_is_refused_while_the_good_keys_authorization_is_cached() {
    let s = start(cache_config("none", Some(batching())), state());
    pin_clock(&s.backend, 1);
    let port = s.port();
    assert_eq!(app(KEYED, KEYED_KEY).send(port).status, 200);
    for wrong in ["k-wrong", "k-keyed2", "K-KEYED", "k-wrong"] {
        let r = app(KEYED, wrong).send(port);
        assert_eq!(
            (r.status, r.body.as_str()),
            (403, "Authentication failed"),
            "{wrong:?}: {}",
            describe(&r)
        );
    }
    let rest = concurrently(port, vec![app(KEYED, KEYED_KEY); 8]);
    assert_eq!(
        (count_status(&rest, 200), count_status(&rest, 429)),
        (4, 4),
        "{:?}",
        statuses(&rest)
    );
    let echo = s.echo.requests();
    assert!(
        echo.iter().all(|r| r.header("app_key") == Some(KEYED_KEY)),
        "only the good key reached the upstream"
    );
    assert_eq!(forwarded_for(&s, KEYED), 5);
    assert_eq!(counted_after_reports(&s, KEYED, 5), 5);
}

/// `caching_type: resilient` with the backend down: the good key's last 200 forwards its
/// calls; a wrong key of the same application, never accepted, is refused (403).
#[test]
fn while_the_backend_is_down_a_wrong_app_key_does_not_inherit_the_good_keys_200() {
    for batching in [Some(batching()), None] {
        let mode = if batching.is_some() {
            "batching"
        } else {
            "authrep"
        };
        let (s, mut gate) = start_gated(cache_config("resilient", batching), state());
        pin_clock(&s.backend, 1);
        let port = s.port();
        assert_eq!(app(KEYED, KEYED_KEY).send(port).status, 200, "{mode}");
        // The wrong key is refused by the backend before the outage too.
        assert_eq!(app(KEYED, "k-wrong").send(port).status, 403, "{mode}");
        gate.close();
        // Past auths_ttl is not needed: a key never accepted asks the backend.
        let r = app(KEYED, "k-other-wrong").send(port);
        assert_eq!(r.status, 403, "{mode}: {}", describe(&r));
        let r = app(KEYED, "k-wrong").send(port);
        assert_eq!(r.status, 403, "{mode}: {}", describe(&r));
        let r = app(KEYED, KEYED_KEY).send(port);
        assert_eq!(r.status, 200, "{mode}: {}", describe(&r));
        let echo = s.echo.requests();
        assert!(
            echo.iter().all(|r| r.header("app_key") == Some(KEYED_KEY)),
            "{mode}: only the good key reached the upstream"
        );
        gate.open();
    }
}

/// `caching_type: allow` with the backend down: a key the backend refused keeps its refusal
/// (README: the last answer a denial, the denial) once `denied_ttl` has passed, in both
/// modes. In batching mode a key not among the application's accepted ones is asked about
/// on its own, and that call failing fell back on "nothing known": forwarded (found by an
/// audit, 2026-12-07). A key never asked about is forwarded, as `allow` says.
#[test]
fn while_the_backend_is_down_a_refused_app_key_stays_refused_with_allow() {
    let short = json!({"auths_ttl": 30, "denied_ttl": 1, "batch_report_seconds": 1});
    for batching in [Some(short), None] {
        let mode = if batching.is_some() {
            "batching"
        } else {
            "authrep"
        };
        let (s, mut gate) = start_gated(cache_config("allow", batching), state());
        pin_clock(&s.backend, 1);
        let port = s.port();
        assert_eq!(app(KEYED, KEYED_KEY).send(port).status, 200, "{mode}");
        assert_eq!(app(KEYED, "k-wrong").send(port).status, 403, "{mode}");
        // The refusal's denied_ttl runs out: the key is asked about again.
        std::thread::sleep(Duration::from_millis(1500));
        gate.close();
        for _ in 0..2 {
            let r = app(KEYED, "k-wrong").send(port);
            assert_eq!(
                (r.status, r.body.as_str()),
                (403, "Authentication failed"),
                "{mode}: {}",
                describe(&r)
            );
        }
        let r = app(KEYED, KEYED_KEY).send(port);
        assert_eq!(r.status, 200, "{mode}: {}", describe(&r));
        let r = app(KEYED, "k-never-asked").send(port);
        assert_eq!(
            r.status,
            200,
            "{mode}: allow forwards the unknown: {}",
            describe(&r)
        );
        let echo = s.echo.requests();
        assert!(
            !echo.iter().any(|r| r.header("app_key") == Some("k-wrong")),
            "{mode}: the refused key reached the upstream"
        );
        gate.open();
        let calls = s.backend.requests();
        let asked = calls
            .iter()
            .filter(|c| c.param("app_key") == Some("k-wrong"));
        assert_eq!(
            asked.count(),
            1,
            "{mode}: the backend was asked once, before the outage"
        );
    }
}
