//! Requests and their bodies when the host cannot deliver a body before the decision, or
//! the decision came before the backend's answer.

use super::fake_envoy::*;
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
