//! The request state machine, natively, through the fake Envoy of `fake_envoy`: what each
//! request got, what the upstream received, and what the backend was asked.

use super::fake_envoy::*;
use super::*;
use serde_json::{json, Value};

pub(super) fn service(batching: bool, caching_type: &str) -> Value {
    let mut backend = json!({"cluster": "backend", "caching_type": caching_type});
    if batching {
        backend["batching"] = json!({"auths_ttl": 10, "batch_report_seconds": 1});
    }
    json!({
        "backend": backend,
        "services": [{
            "id": "42", "backend_version": "1",
            "backend_authentication_type": "service_token",
            "backend_authentication_value": "st",
            "proxy": {
                "hosts": ["api.example.com"],
                "secret_token": "s3cret",
                "proxy_rules": [
                    {"http_method": "GET", "pattern": "/", "metric_system_name": "hits", "delta": 1},
                    {"http_method": "POST", "pattern": "/", "metric_system_name": "hits", "delta": 1}
                ]
            }
        }]
    })
}

fn secret_token() -> Vec<(String, String)> {
    vec![(
        "x-3scale-proxy-secret-token".to_string(),
        "s3cret".to_string(),
    )]
}

#[test]
fn authrep_pauses_for_the_backend_and_resumes_on_200() {
    let mut envoy = Envoy::new(service(false, "none"), 1);
    assert!(!envoy.request(0, 7, "GET", "/a?user_key=k", true));
    assert_eq!(envoy.fate(7), Fate::Held);
    assert!(envoy.workers[0].remembers(7), "its call is in flight");
    let path = envoy.answer(Some(200), None);
    assert!(path.starts_with("/transactions/authrep.xml?service_id=42&service_token=st&user_key=k"));
    assert_eq!(
        envoy.fate(7),
        Fate::Forwarded {
            headers: secret_token(),
            resumed: true
        }
    );
    assert_eq!(envoy.workers[0].requests_remembered(), 0);
    assert!(!envoy.workers[0].remembers(7));
}

#[test]
fn authrep_denial_answers_with_the_services_error_and_forgets_nothing_held() {
    let mut envoy = Envoy::new(service(false, "none"), 1);
    envoy.request(0, 1, "GET", "/a?user_key=bad", true);
    envoy.answer(Some(403), None);
    assert_eq!(envoy.fate(1), Fate::Replied(403, Outcome::AuthFailed));
    // Answered locally: body and trailers stay held until Envoy is done with it.
    assert!(envoy.workers[0].remembers(1));
    assert!(!envoy.workers[0].on_request_body(1, 10, true).proceed);
    envoy.workers[0].on_request_done(1);
    assert!(!envoy.workers[0].remembers(1));
    assert_eq!(envoy.workers[0].requests_remembered(), 0);
}

#[test]
fn authrep_backend_errors_fail_closed_and_are_counted_once() {
    for answer in [None, Some(500), Some(503), Some(0)] {
        let mut envoy = Envoy::new(service(false, "none"), 1);
        envoy.request(0, 1, "GET", "/a?user_key=k", true);
        let before = envoy.workers[0].take_tally();
        envoy.answer(answer, None);
        let tally = envoy.workers[0].take_tally();
        match answer {
            // An answer that could not be read fails closed with a 500.
            None => assert_eq!(envoy.fate(1), Fate::Replied(500, Outcome::InternalError)),
            Some(_) => {
                assert_eq!(envoy.fate(1), Fate::Replied(403, Outcome::AuthFailed));
                assert_eq!(tally.backend_errors, 1, "{answer:?}");
            }
        }
        assert_eq!(before.backend_errors, 0);
    }
}

#[test]
fn authrep_refused_dispatch_is_a_backend_error_and_the_failure_policy_decides() {
    // caching_type allow: the last known answer (none yet: allow) lets it through.
    let mut envoy = Envoy::new(service(false, "allow"), 1);
    envoy.refuse_calls = true;
    // Refused in the headers callback: that callback forwards (no resume).
    assert!(envoy.request(0, 1, "GET", "/a?user_key=k", true));
    assert_eq!(
        envoy.fate(1),
        Fate::Forwarded {
            headers: secret_token(),
            resumed: false
        }
    );
    assert_eq!(envoy.workers[0].take_tally().backend_errors, 1);
    // caching_type none: fail closed.
    let mut envoy = Envoy::new(service(false, "none"), 1);
    envoy.refuse_calls = true;
    assert!(!envoy.request(0, 1, "GET", "/a?user_key=k", true));
    assert_eq!(envoy.fate(1), Fate::Replied(403, Outcome::AuthFailed));
}

#[test]
fn authrep_strict_caching_remembers_a_denial_for_outages() {
    let mut envoy = Envoy::new(service(false, "strict"), 1);
    envoy.request(0, 1, "GET", "/a?user_key=k", true);
    envoy.answer(Some(200), None);
    envoy.request(0, 2, "GET", "/a?user_key=k", true);
    envoy.answer(Some(500), None);
    assert!(matches!(
        envoy.fate(2),
        Fate::Forwarded { resumed: true, .. }
    ));
    envoy.request(0, 3, "GET", "/a?user_key=k", true);
    envoy.answer(Some(403), None);
    envoy.request(0, 4, "GET", "/a?user_key=k", true);
    envoy.answer(None.or(Some(502)), None);
    assert_eq!(envoy.fate(4), Fate::Replied(403, Outcome::AuthFailed));
}

#[test]
fn a_request_gone_before_its_answer_leaves_nothing_behind() {
    let mut envoy = Envoy::new(service(false, "none"), 1);
    envoy.request(0, 1, "GET", "/a?user_key=k", true);
    envoy.workers[0].on_request_done(1);
    // Envoy cancels the calls of a context that goes: none is left waiting.
    assert_eq!(envoy.workers[0].calls_in_flight(), 0);
    envoy.answer(Some(200), None);
    // Nothing was carried out for it, and nothing is remembered.
    assert_eq!(envoy.fate(1), Fate::Held);
    assert_eq!(envoy.workers[0].requests_remembered(), 0);
}

#[test]
fn local_denials_need_no_backend() {
    let mut envoy = Envoy::new(service(false, "none"), 1);
    envoy.request(0, 1, "GET", "/a", true);
    assert_eq!(envoy.fate(1), Fate::Replied(401, Outcome::AuthMissing));
    envoy.request(0, 2, "DELETE", "/a?user_key=k", true);
    assert_eq!(envoy.fate(2), Fate::Replied(404, Outcome::NoMatch));
    envoy.request(0, 3, "GET", "/a/%2e%2e/b?user_key=k", true);
    assert_eq!(envoy.fate(3), Fate::Replied(400, Outcome::BadRequest));
    assert!(envoy.calls.is_empty());
}

#[test]
fn a_failed_clock_or_header_read_fails_closed() {
    let mut envoy = Envoy::new(service(false, "none"), 1);
    envoy.clock.set(None);
    assert!(!envoy.request(0, 1, "GET", "/a?user_key=k", true));
    assert_eq!(envoy.fate(1), Fate::Replied(500, Outcome::InternalError));

    struct Failing;
    impl HeaderSource for Failing {
        fn header(&self, _: &str) -> Option<String> {
            None
        }
        fn failed(&self) -> bool {
            true
        }
    }
    let mut envoy = Envoy::new(service(false, "none"), 1);
    let line = RequestLine {
        method: "GET",
        authority: "api.example.com",
        path: "/a?user_key=k",
    };
    let steps = envoy.workers[0].on_request_headers(1, line, &Failing, true);
    assert!(matches!(
        steps.list.as_slice(),
        [Step::Reply { reply, .. }] if reply.status == 500
    ));
}

#[test]
fn a_host_error_after_the_verdict_fails_an_undecided_or_forwarded_request_only() {
    let mut envoy = Envoy::new(service(false, "none"), 1);
    envoy.request(0, 1, "GET", "/a?user_key=k", true);
    let steps = envoy.workers[0].on_host_error(1);
    envoy.carry_out(0, 1, steps);
    assert_eq!(envoy.fate(1), Fate::Replied(500, Outcome::InternalError));
    // Already answered: nothing more is sent.
    let steps = envoy.workers[0].on_host_error(1);
    assert!(steps.list.is_empty() && !steps.proceed);
}

#[test]
fn a_form_body_brings_the_credentials() {
    let mut envoy = Envoy::new(service(false, "none"), 1);
    let form = [("content-type", "application/x-www-form-urlencoded")];
    assert!(!envoy.request_with(0, 1, "POST", "/a", &form, false));
    // Buffering: held until the end of the body.
    assert!(!envoy.body(0, 1, "user_", false));
    assert!(envoy.calls.is_empty());
    assert!(!envoy.body(0, 1, "user_key=k&x=1", true));
    let path = envoy.answer(Some(200), None);
    assert!(path.contains("user_key=k"), "{path}");
    assert!(matches!(
        envoy.fate(1),
        Fate::Forwarded { resumed: true, .. }
    ));
    // The same body with trailers ending it (no end_of_stream on the body).
    let mut envoy = Envoy::new(service(false, "none"), 1);
    envoy.request_with(0, 2, "POST", "/a", &form, false);
    envoy.body(0, 2, "user_key=k", false);
    let steps = envoy.workers[0].on_request_trailers(2);
    envoy.carry_out(0, 2, steps);
    assert_eq!(envoy.calls.len(), 1);
}

#[test]
fn batching_miss_asks_once_then_hits_are_counted_and_reported() {
    let mut envoy = Envoy::new(service(true, "strict"), 2);
    assert!(!envoy.request(0, 1, "GET", "/a?user_key=k", true));
    // A second request for the same entry, on the other worker, waits for that answer.
    assert!(!envoy.request(1, 2, "GET", "/a?user_key=k", true));
    assert_eq!(envoy.calls.len(), 1, "one authorize for the entry");
    let path = envoy.answer(Some(200), Some("-1"));
    assert!(path.starts_with("/transactions/authorize.xml?"), "{path}");
    assert!(matches!(
        envoy.fate(1),
        Fate::Forwarded { resumed: true, .. }
    ));
    assert!(matches!(
        envoy.fate(2),
        Fate::Forwarded { resumed: true, .. }
    ));
    // A hit: forwarded by the headers callback itself.
    assert!(envoy.request(0, 3, "GET", "/a?user_key=k", true));
    envoy.tick(0);
    let tally = envoy.workers[0].take_tally();
    assert_eq!((tally.cache_hits, tally.cache_misses), (1, 1));
    // Worker 0 is elected first and reports its two calls; worker 1's call goes to shared
    // data on its tick, and into the next report.
    let reported = |envoy: &Envoy| -> Vec<String> {
        envoy
            .call_bodies
            .iter()
            .filter(|b| b.contains("transactions"))
            .cloned()
            .collect()
    };
    assert_eq!(reported(&envoy).len(), 1);
    assert!(
        reported(&envoy)[0].contains("%5Busage%5D%5Bhits%5D=2"),
        "{:?}",
        reported(&envoy)
    );
    envoy.tick(1);
    envoy.clock.set(Some(1_000_000 + 2_000));
    envoy.tick(0);
    envoy.tick(1);
    assert_eq!(reported(&envoy).len(), 2);
    assert!(
        reported(&envoy)[1].contains("%5Busage%5D%5Bhits%5D=1"),
        "{:?}",
        reported(&envoy)
    );
}

#[test]
fn batching_waiters_ask_again_at_once_when_the_asker_goes_away() {
    let mut envoy = Envoy::new(service(true, "strict"), 2);
    envoy.request(0, 1, "GET", "/a?user_key=k", true);
    envoy.request(1, 2, "GET", "/a?user_key=k", true);
    envoy.request(0, 3, "GET", "/a?user_key=k", true);
    assert_eq!(envoy.calls.len(), 1, "one authorize for the entry");
    // The asker's client resets: Envoy cancels its call. A waiter asks again right away (no
    // tick, the clock unchanged), and only one does.
    envoy.done(0, 1);
    assert_eq!(envoy.calls.len(), 1, "one new authorize: {:?}", envoy.calls);
    envoy.answer(Some(200), Some("-1"));
    for id in [2, 3] {
        assert!(matches!(envoy.fate(id), Fate::Forwarded { .. }), "{id}");
    }
    assert_eq!(
        envoy.fate(1),
        Fate::Held,
        "the gone request was never decided"
    );
}

#[test]
fn batching_cached_denial_and_uncached_answers() {
    let mut envoy = Envoy::new(service(true, "strict"), 1);
    envoy.request(0, 1, "GET", "/a?user_key=bad", true);
    envoy.answer(Some(403), None);
    assert_eq!(envoy.fate(1), Fate::Replied(403, Outcome::AuthFailed));
    // Denied from the cache, with no call.
    envoy.request(0, 2, "GET", "/a?user_key=bad", true);
    assert_eq!(envoy.fate(2), Fate::Replied(403, Outcome::AuthFailed));
    assert!(envoy.calls.is_empty());
}

#[test]
fn batching_unreadable_answer_is_not_recorded_and_waiters_ask_again() {
    let mut envoy = Envoy::new(service(true, "strict"), 1);
    envoy.request(0, 1, "GET", "/a?user_key=k", true);
    envoy.request(0, 2, "GET", "/a?user_key=k", true);
    envoy.answer(None, None);
    // Both still wait (the ticket's wait is not over); nothing was let through.
    assert_eq!((envoy.fate(1), envoy.fate(2)), (Fate::Held, Fate::Held));
    // Once the ticket's wait is over, the next look asks again.
    envoy.clock.set(Some(1_000_000 + 60_000));
    envoy.tick(0);
    assert_eq!(envoy.calls.len(), 1);
    envoy.answer(Some(200), Some("-1"));
    assert!(matches!(envoy.fate(1), Fate::Forwarded { .. }));
    assert!(matches!(envoy.fate(2), Fate::Forwarded { .. }));
}

#[test]
fn batching_refused_dispatch_fails_closed_in_the_callback() {
    let mut envoy = Envoy::new(service(true, "strict"), 1);
    envoy.refuse_calls = true;
    assert!(!envoy.request(0, 1, "GET", "/a?user_key=k", true));
    assert_eq!(envoy.fate(1), Fate::Replied(403, Outcome::AuthFailed));
    assert_eq!(envoy.workers[0].take_tally().backend_errors, 1);
}

/// What each answer to a report does with its calls: settled, dropped (the backend's own
/// refusal), or kept for a retry; and whether it counts as a backend error. A 1xx or 3xx
/// (a redirect, never followed) is no delivery: kept, and a backend error like a 5xx (found
/// by an audit, 2026-12-06: counted in `report_failures` only).
#[test]
fn report_status_policy() {
    for (status, kept, backend_error) in [
        (Some(200), false, false),
        (Some(403), false, false),
        // A proxy in front of the backend timing out or throttling: a retry goes through.
        (Some(408), true, false),
        (Some(429), true, false),
        (Some(500), true, true),
        (None, true, true),
        (Some(100), true, true),
        (Some(302), true, true),
        (Some(304), true, true),
    ] {
        let mut envoy = Envoy::new(service(true, "strict"), 1);
        envoy.request(0, 1, "GET", "/a?user_key=k", true);
        envoy.answer(Some(200), Some("-1"));
        envoy.tick(0);
        assert_eq!(envoy.calls.len(), 1, "the first tick reports");
        envoy.answer(status, None);
        let tally = envoy.workers[0].take_tally();
        let failed = u64::from(status != Some(200));
        assert_eq!(tally.report_failures, failed, "{status:?}");
        assert_eq!(tally.backend_errors, u64::from(backend_error), "{status:?}");
        assert_eq!(
            tally.reports_dropped,
            u64::from(status == Some(403)),
            "{status:?}"
        );
        // Kept calls are reported again after the backoff.
        envoy.clock.set(Some(1_000_000 + 120_000));
        envoy.tick(0);
        assert_eq!(envoy.calls.len(), usize::from(kept), "{status:?}");
    }
}

#[test]
fn local_authentication_forwards_in_the_headers_callback_with_no_backend() {
    let mut config = service(false, "none");
    config["services"][0]["authentication"] = json!({"mode": "local", "api_keys": {
        "header": "APIKey",
        "keys": [{"id": "reader", "hash": crate::auth::digest::stored_form("k-reader")}]
    }});
    let mut envoy = Envoy::new(config, 1);
    assert!(envoy.request_with(0, 1, "GET", "/a", &[("apikey", "k-reader")], true));
    assert_eq!(
        envoy.fate(1),
        Fate::Forwarded {
            headers: secret_token(),
            resumed: false
        }
    );
    assert!(!envoy.request_with(0, 2, "GET", "/a", &[("apikey", "wrong")], true));
    assert_eq!(envoy.fate(2), Fate::Replied(403, Outcome::AuthFailed));
    assert!(!envoy.request(0, 3, "GET", "/a", true));
    assert_eq!(envoy.fate(3), Fate::Replied(401, Outcome::AuthMissing));
    assert!(envoy.calls.is_empty());
    // Forwarded with nothing to add to the response: not remembered; the denials are, until
    // Envoy is done with them.
    assert_eq!(envoy.workers[0].requests_remembered(), 2);
    assert!(envoy.workers[0].on_request_body(1, 5, true).proceed);
}

#[test]
fn debug_headers_go_on_the_response_and_are_forgotten_with_the_request() {
    let mut envoy = Envoy::new(service(false, "none"), 1);
    envoy.request_with(
        0,
        1,
        "GET",
        "/a?user_key=k",
        &[("x-3scale-debug", "st")],
        true,
    );
    envoy.answer(Some(200), None);
    let names: Vec<&str> = envoy.workers[0]
        .response_headers(1)
        .iter()
        .map(|(k, _)| k.as_str())
        .collect();
    assert!(names.contains(&"x-3scale-usage"), "{names:?}");
    assert!(
        envoy.workers[0].remembers(1),
        "the response phase adds them"
    );
    envoy.workers[0].on_request_done(1);
    assert!(envoy.workers[0].response_headers(1).is_empty());
}

#[test]
fn a_service_without_a_usable_backend_version_answers_auth_missing() {
    let mut config = service(false, "none");
    config["services"][0]
        .as_object_mut()
        .unwrap()
        .remove("backend_version");
    let mut envoy = Envoy::new(config, 1);
    assert!(!envoy.request(0, 1, "GET", "/a?user_key=k", true));
    assert_eq!(envoy.fate(1), Fate::Replied(401, Outcome::AuthMissing));
    assert!(envoy.calls.is_empty());
}

#[test]
fn a_service_from_system_with_3scale_batcher_is_reported_on_its_own_schedule() {
    // No `batching` in the backend block: the service's own 3scale_batcher batches it, and
    // reports every second from the first.
    let system = json!({"cluster": "system", "authority": "s", "access_token": "t"});
    let config = json!({"backend": {"cluster": "backend"}, "system": system});
    let mut envoy = Envoy::new(config, 1);
    // Ticks before the services arrive (a 10 s schedule claimed then delayed the first report).
    envoy.tick(0);
    let mut service = service(false, "none")["services"][0].clone();
    service["proxy"]["policy_chain"] = json!([{"name": "apicast"},
        {"name": "3scale_batcher", "configuration": {"auths_ttl": 30, "batch_report_seconds": 1}}]);
    envoy.install_fetched(&[service]);
    assert!(!envoy.request(0, 1, "GET", "/a?user_key=k", true));
    let path = envoy.answer(Some(200), Some("-1"));
    assert!(path.starts_with("/transactions/authorize.xml?"), "{path}");
    assert!(envoy.request(0, 2, "GET", "/a?user_key=k", true));
    envoy.clock.set(Some(1_000_000 + 1_500));
    envoy.tick(0);
    envoy.clock.set(Some(1_000_000 + 3_000));
    envoy.tick(0);
    let reports: Vec<&String> = envoy
        .call_bodies
        .iter()
        .filter(|b| b.contains("transactions"))
        .collect();
    assert_eq!(
        reports.len(),
        1,
        "{:?} {:?}",
        envoy.call_bodies,
        envoy.calls
    );
    assert!(
        reports[0].contains("%5Busage%5D%5Bhits%5D=2"),
        "{reports:?}"
    );
}

/// A System refresh takes away the only batcher (authrep from then on), or the service itself,
/// while calls forwarded from the cache wait for the next report: they are still reported,
/// under the service's own id and token.
#[test]
fn pending_calls_outlive_their_batcher_and_their_service() {
    for service_removed in [false, true] {
        let system = json!({"cluster": "system", "authority": "s", "access_token": "t"});
        let config = json!({"backend": {"cluster": "backend"}, "system": system});
        let mut envoy = Envoy::new(config, 1);
        let plain = service(false, "none")["services"][0].clone();
        let mut batched = plain.clone();
        batched["proxy"]["policy_chain"] = json!([{"name": "apicast"},
            {"name": "3scale_batcher", "configuration": {"batch_report_seconds": 60}}]);
        envoy.install_fetched(&[batched]);
        envoy.tick(0);
        assert!(!envoy.request(0, 1, "GET", "/a?user_key=k", true));
        envoy.answer(Some(200), Some("-1"));
        assert!(envoy.request(0, 2, "GET", "/a?user_key=k", true));
        envoy.tick(0);
        assert!(envoy.calls.is_empty(), "the next report is a minute away");
        let mut other = plain.clone();
        other["id"] = json!(43);
        other["proxy"]["hosts"] = json!(["other.example.com"]);
        envoy.install_fetched(&[if service_removed { other } else { plain }]);
        // Nothing batches any more: the pending calls go on the default 10 s schedule.
        envoy.clock.set(Some(1_000_000 + 10_000));
        envoy.tick(0);
        assert_eq!(envoy.calls.len(), 1, "removed service: {service_removed}");
        let path = envoy.answer(Some(202), None);
        assert!(
            path.starts_with("/transactions.xml?service_id=42&service_token=st"),
            "{path}"
        );
        let reports: Vec<&String> = (envoy.call_bodies.iter())
            .filter(|b| b.contains("transactions"))
            .collect();
        assert_eq!(reports.len(), 1, "{reports:?}");
        assert!(reports[0].contains("%5Bhits%5D=2"), "{reports:?}");
        let tally = envoy.workers[0].take_tally();
        assert_eq!(tally.reports_dropped, 0);
    }
}

/// A new VM (a restart, a plugin update) whose services from 3scale System have not arrived
/// yet leaves the calls the old VM left in shared data for later: they are its services'
/// (found by a review: it reported them as services no longer configured, and dropped them).
#[test]
fn a_worker_waiting_for_its_system_services_leaves_the_pending_calls() {
    let system = json!({"cluster": "system", "authority": "s", "access_token": "t"});
    let mut envoy = Envoy::new(
        json!({"backend": {"cluster": "backend"}, "system": system}),
        2,
    );
    let mut batched = service(false, "none")["services"][0].clone();
    batched["proxy"]["policy_chain"] = json!([{"name": "apicast"},
        {"name": "3scale_batcher", "configuration": {"batch_report_seconds": 60}}]);
    let fetched = [crate::config::FetchedService {
        id: Some("42".into()),
        version: 1,
        environment: "production".into(),
        content: batched,
        path: "proxy_configs[0].proxy_config.content".into(),
    }];
    let (config, _) = envoy.workers[0].config().with_fetched(&fetched);
    let config = std::rc::Rc::new(config);
    // Worker 0 is the old VM, with its services; worker 1 the new one, without them yet.
    envoy.workers[0].install_config(config.clone());
    envoy.tick(0);
    assert!(!envoy.request(0, 1, "GET", "/a?user_key=k", true));
    envoy.answer(Some(200), Some("-1"));
    assert!(envoy.request(0, 2, "GET", "/a?user_key=k", true));
    envoy.workers[0].on_shutdown();
    envoy.workers.remove(0);
    envoy.clock.set(Some(1_000_000 + 61_000));
    envoy.tick(0);
    assert!(envoy.calls.is_empty(), "{:?}", envoy.calls);
    assert_eq!(envoy.workers[0].take_tally().reports_dropped, 0);
    envoy.workers[0].install_config(config);
    envoy.tick(0);
    let reports: Vec<&String> = (envoy.calls.iter())
        .map(|(_, _, path)| path)
        .filter(|p| p.starts_with("/transactions.xml"))
        .collect();
    assert_eq!(reports.len(), 1, "{:?}", envoy.calls);
    assert_eq!(
        envoy.call_bodies.last().map(String::as_str),
        Some(
            "transactions%5B0%5D%5Buser_key%5D=k&transactions%5B0%5D%5Btimestamp%5D=960\
             &transactions%5B0%5D%5Busage%5D%5Bhits%5D=2"
        )
    );
}
