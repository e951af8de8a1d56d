//! Requests and their bodies when the host cannot deliver a body before the decision, or
//! the decision came before the backend's answer.

use super::fake_envoy::*;
use super::request_events::UNDELIVERED_BODY_MS;
use super::worker_tests::service;
use super::*;
use serde_json::json;

/// `read_request_bodies: false` (Envoy without `allow_on_headers_stop_iteration`: no body
/// reaches a filter holding the headers): a request whose decision needs its body is 400 at
/// once instead of held for good; one that needs none, or has no body, goes on as before.
#[test]
fn without_body_callbacks_a_request_needing_its_body_is_refused_at_once() {
    let mut config = service(false, "none");
    config["read_request_bodies"] = json!(false);
    let mut envoy = Envoy::new(config, 1);
    let form = [("content-type", "application/x-www-form-urlencoded")];
    assert!(!envoy.request_with(0, 1, "POST", "/a?user_key=k", &form, false));
    assert!(matches!(
        envoy.fate(1),
        Fate::Replied(400, Outcome::BadRequest)
    ));
    assert!(!envoy.request_with(0, 2, "POST", "/a?user_key=k", &[], false));
    assert!(matches!(
        envoy.fate(2),
        Fate::Replied(400, Outcome::BadRequest)
    ));
    assert!(envoy.calls.is_empty());
    // No body, or one nothing is read from: authorized as before.
    let json_type = [("content-type", "application/json")];
    assert!(!envoy.request_with(0, 3, "POST", "/a?user_key=k", &form, true));
    assert!(!envoy.request_with(0, 4, "POST", "/a?user_key=k", &json_type, false));
    assert_eq!(envoy.calls.len(), 2);
    // The default: held for the body.
    let mut envoy = Envoy::new(service(false, "none"), 1);
    assert!(!envoy.request_with(0, 5, "POST", "/a?user_key=k", &form, false));
    assert!(matches!(envoy.fate(5), Fate::Held));
    assert!(envoy.calls.is_empty());
}

/// An authrep answer for a request answered meanwhile (a JSON body's `_method`, 400) leaves
/// its state: later body callbacks still hold it.
#[test]
fn a_late_authrep_answer_keeps_the_state_of_a_request_answered_meanwhile() {
    let mut envoy = Envoy::new(service(false, "none"), 1);
    let json_type = [("content-type", "application/json")];
    assert!(!envoy.request_with(0, 5, "POST", "/a?user_key=k", &json_type, false));
    assert_eq!(envoy.calls.len(), 1);
    envoy.body(0, 5, r#"{"_method":"DELETE""#, false);
    assert!(matches!(
        envoy.fate(5),
        Fate::Replied(400, Outcome::BadRequest)
    ));
    envoy.answer(Some(200), None);
    assert!(!envoy.workers[0].on_request_body(5, 30, false).proceed);
    assert!(matches!(
        envoy.fate(5),
        Fate::Replied(400, Outcome::BadRequest)
    ));
}

/// `read_request_bodies: true` (the default) under an Envoy that delivers no body to a filter
/// holding the headers: a request held for its body gets 400 from the timer once it has
/// waited `UNDELIVERED_BODY_MS` without a byte, instead of waiting for good.
#[test]
fn a_body_never_delivered_is_refused_by_the_timer() {
    let mut envoy = Envoy::new(service(false, "none"), 1);
    let form = [("content-type", "application/x-www-form-urlencoded")];
    let start = envoy.clock.get().unwrap_or_default();
    assert!(!envoy.request_with(0, 1, "POST", "/a?user_key=k", &form, false));
    envoy.clock.set(Some(start + 4_000));
    assert!(!envoy.request_with(0, 2, "POST", "/a?user_key=k", &form, false));
    envoy.clock.set(Some(start + UNDELIVERED_BODY_MS - 1));
    envoy.tick(0);
    assert!(matches!(envoy.fate(1), Fate::Held));
    envoy.clock.set(Some(start + UNDELIVERED_BODY_MS));
    envoy.tick(0);
    assert!(matches!(
        envoy.fate(1),
        Fate::Replied(400, Outcome::BadRequest)
    ));
    // The second has waited 1 s so far.
    assert!(matches!(envoy.fate(2), Fate::Held));
    envoy.clock.set(Some(start + 4_000 + UNDELIVERED_BODY_MS));
    envoy.tick(0);
    assert!(matches!(
        envoy.fate(2),
        Fate::Replied(400, Outcome::BadRequest)
    ));
    assert!(envoy.calls.is_empty());
}

/// Once a body has come while headers were held, this Envoy delivers bodies: a slow client's
/// body is waited for as long as Envoy lets it take.
#[test]
fn once_a_held_request_got_its_body_slow_bodies_are_waited_for() {
    let mut envoy = Envoy::new(service(false, "none"), 1);
    let form = [("content-type", "application/x-www-form-urlencoded")];
    assert!(!envoy.request_with(0, 1, "POST", "/a?user_key=k", &form, false));
    envoy.body(0, 1, "a=1", true);
    assert_eq!(envoy.calls.len(), 1);
    let start = envoy.clock.get().unwrap_or_default();
    assert!(!envoy.request_with(0, 2, "POST", "/a?user_key=k", &form, false));
    envoy.clock.set(Some(start + 10 * UNDELIVERED_BODY_MS));
    envoy.tick(0);
    assert!(matches!(envoy.fate(2), Fate::Held));
    envoy.body(0, 2, "a=2", true);
    assert_eq!(envoy.calls.len(), 2);
}

/// A body that has begun is not cut short: the timer refuses only requests with no byte yet.
#[test]
fn a_body_that_has_begun_is_not_refused_by_the_timer() {
    let mut envoy = Envoy::new(service(false, "none"), 1);
    let form = [("content-type", "application/x-www-form-urlencoded")];
    let start = envoy.clock.get().unwrap_or_default();
    assert!(!envoy.request_with(0, 1, "POST", "/a?user_key=k", &form, false));
    envoy.body(0, 1, "a=", false);
    envoy.clock.set(Some(start + 10 * UNDELIVERED_BODY_MS));
    envoy.tick(0);
    assert!(matches!(envoy.fate(1), Fate::Held));
    envoy.body(0, 1, "a=1", true);
    assert_eq!(envoy.calls.len(), 1);
}
