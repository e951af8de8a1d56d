//! Multipart and JSON `POST` bodies read for a `_method` as they stream, through the fake
//! Envoy: held for the backend (Envoy's buffer grows) or forwarded at the headers (each
//! callback brings its chunk alone), ended by `end_of_stream` or by trailers.

use super::fake_envoy::*;
use super::*;
use serde_json::{json, Value};

fn service(batching: bool) -> Value {
    let mut backend = json!({"cluster": "backend", "caching_type": "strict"});
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
                "proxy_rules": [
                    {"http_method": "POST", "pattern": "/orders", "metric_system_name": "hits", "delta": 1}
                ]
            }
        }]
    })
}

const MULTIPART: [(&str, &str); 1] = [("content-type", "multipart/form-data; boundary=b")];
const HEAD: &str = "--b\r\nContent-Disposition: form-data; na";
const TAIL: &str = "me=\"_method\"\r\n\r\nDELETE\r\n--b--\r\n";

fn bad_request(envoy: &Envoy, id: RequestId) -> bool {
    envoy.fate(id) == Fate::Replied(400, Outcome::BadRequest)
}

#[test]
fn held_for_the_backend_the_growing_buffer_is_read_from_where_it_was_left() {
    let mut envoy = Envoy::new(service(false), 1);
    assert!(!envoy.request_with(0, 1, "POST", "/orders?user_key=k", &MULTIPART, false));
    assert_eq!(envoy.calls.len(), 1, "the authrep is not held for the body");
    // The name is split between two callbacks; the second brings the whole buffer.
    assert!(!envoy.body(0, 1, HEAD, false));
    assert_eq!(envoy.fate(1), Fate::Held);
    assert!(!envoy.body(0, 1, &format!("{HEAD}{TAIL}"), true));
    assert!(bad_request(&envoy, 1));
    // The backend's answer comes later: the request stays answered.
    envoy.answer(Some(200), None);
    assert!(bad_request(&envoy, 1));
}

#[test]
fn forwarded_from_the_cache_each_chunk_is_read_as_it_passes() {
    let mut envoy = Envoy::new(service(true), 1);
    // A miss then a hit, so that the second request is forwarded by its headers callback.
    envoy.request(0, 1, "POST", "/orders?user_key=k", true);
    envoy.answer(Some(200), Some("-1"));
    assert!(envoy.request_with(0, 2, "POST", "/orders?user_key=k", &MULTIPART, false));
    assert!(matches!(
        envoy.fate(2),
        Fate::Forwarded { resumed: false, .. }
    ));
    assert!(envoy.workers[0].remembers(2), "its body is read");
    assert!(envoy.body(0, 2, HEAD, false), "a chunk without it goes on");
    assert!(!envoy.body(0, 2, TAIL, false));
    assert!(bad_request(&envoy, 2));
    // Without a `_method`: every chunk goes on, and nothing is held once the body ends.
    assert!(envoy.request_with(0, 3, "POST", "/orders?user_key=k", &MULTIPART, false));
    assert!(envoy.body(0, 3, HEAD, false));
    assert!(envoy.body(0, 3, "me=\"note\"\r\n\r\n_method\r\n--b--\r\n", true));
    assert!(matches!(envoy.fate(3), Fate::Forwarded { .. }));
    // Its call is counted with its response (the body could have refused it).
    assert!(envoy.workers[0].remembers(3));
    envoy.done(0, 3);
    assert!(!envoy.workers[0].remembers(3));
}

#[test]
fn trailers_end_a_body_whose_last_name_has_no_line_end() {
    let mut envoy = Envoy::new(service(true), 1);
    envoy.request(0, 1, "POST", "/orders?user_key=k", true);
    envoy.answer(Some(200), Some("-1"));
    let json = [("content-type", "multipart/mixed; boundary=b")];
    assert!(envoy.request_with(0, 2, "POST", "/orders?user_key=k", &json, false));
    assert!(envoy.body(
        0,
        2,
        "--b\r\nContent-Disposition: form-data; name=_method",
        false
    ));
    let steps = envoy.workers[0].on_request_trailers(2);
    assert!(!envoy.carry_out(0, 2, steps));
    assert!(bad_request(&envoy, 2));
}

#[test]
fn json_keys_and_encoded_bodies() {
    let mut envoy = Envoy::new(service(false), 1);
    let json = [("content-type", "application/json")];
    envoy.request_with(0, 1, "POST", "/orders?user_key=k", &json, false);
    envoy.body(0, 1, r#"{"items": [1], "_meth"#, false);
    envoy.body(0, 1, r#"{"items": [1], "_method": "DELETE"}"#, true);
    assert!(bad_request(&envoy, 1));
    // Compressed: it cannot be read, so it is refused before any backend call.
    let gzip = [
        ("content-type", "application/json"),
        ("content-encoding", "gzip"),
    ];
    let calls = envoy.calls.len();
    envoy.request_with(0, 2, "POST", "/orders?user_key=k", &gzip, false);
    assert!(bad_request(&envoy, 2));
    assert_eq!(envoy.calls.len(), calls);
    // Frameworks read `_method` on `POST` only, but a `PATCH`'s credential fields are
    // compared: compressed, it is refused too (served unread until the thirty-third session).
    let mut envoy = Envoy::new(service(false), 1);
    envoy.request_with(0, 3, "PATCH", "/orders?user_key=k", &gzip, false);
    assert!(!envoy.workers[0].watches_body(3));
    assert!(bad_request(&envoy, 3));
}

/// Refused for its body after the cache forwarded it: its call is not reported, and the call
/// its budget leased goes back (found in the thirty-fourth session: both were spent).
#[test]
fn a_call_refused_for_its_body_is_neither_reported_nor_charged() {
    let mut envoy = Envoy::new(service(true), 1);
    envoy.request(0, 1, "POST", "/orders?user_key=k", true);
    envoy.answer(Some(200), Some("2"));
    assert!(envoy.request_with(0, 2, "POST", "/orders?user_key=k", &MULTIPART, false));
    assert!(!envoy.body(0, 2, &format!("{HEAD}{TAIL}"), true));
    assert!(bad_request(&envoy, 2));
    envoy.done(0, 2);
    // The second call of the budget is still there, without asking the backend.
    assert!(envoy.request_with(0, 3, "POST", "/orders?user_key=k", &MULTIPART, false));
    assert!(envoy.body(0, 3, "--b--\r\n", true));
    assert!(envoy.calls.is_empty(), "{:?}", envoy.calls);
    envoy.workers[0].on_response(3, || Some(200));
    envoy.clock.set(Some(1_002_000));
    envoy.tick(0);
    let reports: Vec<&String> = (envoy.call_bodies.iter())
        .filter(|b| b.contains("transactions"))
        .collect();
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert!(reports[0].contains("%5Bhits%5D=2"), "{reports:?}");
}
