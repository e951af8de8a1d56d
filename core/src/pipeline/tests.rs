//! Pipeline tests: the whole decision path with an in-memory request.

use super::*;
use crate::backend::BackendAnswer;
use crate::config::Config;
use serde_json::json;
use std::collections::HashMap;

struct Headers(HashMap<String, String>);
impl HeaderSource for Headers {
    fn header(&self, name: &str) -> Option<String> {
        self.0.get(&name.to_ascii_lowercase()).cloned()
    }
}
fn headers(pairs: &[(&str, &str)]) -> Headers {
    Headers(
        pairs
            .iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v.to_string()))
            .collect(),
    )
}

fn config(path_routing: bool, only: bool) -> Config {
    let v = json!({
        "backend": {"cluster": "b"},
        "path_routing": path_routing,
        "path_routing_only": only,
        "services": [
            {"id": 1, "system_name": "one", "backend_version": 1,
             "backend_authentication_type": "service_token", "backend_authentication_value": "tok1",
             "proxy": {"hosts": ["api"], "secret_token": "s3cret", "error_status_no_match": 411,
               "proxy_rules": [
                 {"http_method": "GET", "pattern": "/one", "metric_system_name": "hits", "delta": 1},
                 {"http_method": "GET", "pattern": "/one/{id}", "metric_system_name": "item", "delta": 2},
                 {"http_method": "POST", "pattern": "/one$", "metric_system_name": "posts", "delta": 1}
               ]}},
            {"id": 2, "backend_version": 1,
             "proxy": {"hosts": ["api"], "error_status_no_match": 412,
               "proxy_rules": [{"http_method": "GET", "pattern": "/two", "metric_system_name": "hits", "delta": 1}]}}
        ]
    });
    Config::parse(v.to_string().as_bytes()).unwrap().config
}

fn run(
    config: &Config,
    method: &str,
    path: &str,
    hdrs: &[(&str, &str)],
) -> Result<MatchedRequest, LocalReply> {
    let head = RequestHead {
        method,
        authority: "API:8080",
        path,
        now_s: 0,
    };
    match begin(config, head, &headers(hdrs)) {
        Err(r) => Err(r),
        Ok(r) => r.authorize().map(backend),
    }
}

fn backend(next: Next) -> MatchedRequest {
    match next {
        Next::Backend(a) => a,
        Next::Forward(_) => panic!("expected a backend call"),
    }
}

fn status(answer: u16) -> BackendAnswer {
    BackendAnswer {
        status: Some(answer),
        ..Default::default()
    }
}

#[test]
fn unknown_host_is_404_with_empty_body() {
    let c = config(false, false);
    let head = RequestHead {
        method: "GET",
        authority: "other",
        path: "/one",
        now_s: 0,
    };
    match begin(&c, head, &headers(&[])) {
        Err(r) => {
            assert_eq!((r.status, r.body.as_str(), r.headers.len()), (404, "", 0));
        }
        Ok(_) => panic!("expected a reply"),
    }
}

#[test]
fn credentials_are_checked_before_rules() {
    let c = config(false, false);
    let r = run(&c, "GET", "/nowhere", &[]).err().unwrap();
    assert_eq!(
        (r.status, r.body.as_str(), r.outcome),
        (
            401,
            "Authentication parameters missing",
            Outcome::AuthMissing
        )
    );
    let r = run(&c, "GET", "/nowhere?user_key=k", &[]).err().unwrap();
    assert_eq!((r.status, r.outcome), (411, Outcome::NoMatch));
}

#[test]
fn usage_is_summed_and_backend_call_encoded() {
    let c = config(false, false);
    let a = run(&c, "GET", "/one/7?user_key=k%26x", &[]).ok().unwrap();
    assert_eq!(a.usage.encoded(), "usage%5Bhits%5D=1&usage%5Bitem%5D=2");
    let call = a.authrep_call();
    assert_eq!(
        call.path,
        "/transactions/authrep.xml?service_id=1&service_token=tok1&user_key=k%26x&usage%5Bhits%5D=1&usage%5Bitem%5D=2"
    );
    assert_eq!(
        call.headers,
        vec![(
            "3scale-options",
            "rejection_reason_header=1&limit_headers=1&no_body=1".to_string()
        )]
    );
}

#[test]
fn authorized_request_gets_secret_token() {
    let c = config(false, false);
    let a = run(&c, "GET", "/one?user_key=k", &[]).ok().unwrap();
    match a.decide(&status(200)) {
        Ok(f) => {
            assert!(f.set_request_headers.is_empty());
            assert_eq!(f.secret_token.as_deref(), Some("s3cret"));
            assert!(f.response_headers.is_empty());
        }
        Err(_) => panic!("expected forward"),
    }
}

#[test]
fn denials_use_the_configured_errors() {
    let c = config(false, false);
    let a = run(&c, "GET", "/one?user_key=k", &[]).ok().unwrap();
    let limited = BackendAnswer {
        status: Some(409),
        rejection_reason: Some("limits_exceeded".into()),
        limit_reset: Some("60".into()),
        limit_max_value: Some("10".into()),
        ..Default::default()
    };
    let Err(r) = a.decide(&limited) else { panic!() };
    assert_eq!((r.status, r.body.as_str()), (429, "Limits exceeded"));
    assert!(r
        .headers
        .contains(&("retry-after".to_string(), "60".to_string())));
    let Err(r) = a.decide(&status(403)) else {
        panic!()
    };
    assert_eq!((r.status, r.outcome), (403, Outcome::AuthFailed));
    let Err(r) = a.decide(&BackendAnswer::default()) else {
        panic!()
    };
    assert_eq!(r.status, 403);
    let Err(r) = a.decide(&status(503)) else {
        panic!()
    };
    assert_eq!(r.status, 403);
}

#[test]
fn debug_headers_only_with_the_right_token() {
    let c = config(false, false);
    let a = run(
        &c,
        "GET",
        "/one/7?user_key=k",
        &[("X-3scale-Debug", "tok1")],
    )
    .ok()
    .unwrap();
    let Ok(f) = a.decide(&status(200)) else {
        panic!()
    };
    let get = |n: &str| {
        f.response_headers
            .iter()
            .find(|(k, _)| k == n)
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(get("x-3scale-matched-rules"), Some("/one, /one/{id}"));
    assert_eq!(
        get("x-3scale-usage"),
        Some("usage%5Bhits%5D=1&usage%5Bitem%5D=2")
    );
    assert_eq!(get("x-3scale-credentials"), Some("user_key=k"));
    assert_eq!(get("x-3scale-service-id"), Some("1"));
    assert_eq!(get("x-3scale-service-name"), Some("one"));
    let a = run(&c, "GET", "/one?user_key=k", &[("X-3scale-Debug", "tok2")])
        .ok()
        .unwrap();
    let Ok(f) = a.decide(&status(200)) else {
        panic!()
    };
    assert!(f.response_headers.is_empty());
}

#[test]
fn path_routing_picks_by_rule_then_falls_back() {
    let host_only = config(false, false);
    let r = run(&host_only, "GET", "/two?user_key=k", &[])
        .err()
        .unwrap();
    assert_eq!(r.status, 411, "host routing uses the first service");

    let routed = config(true, false);
    let a = run(&routed, "GET", "/two?user_key=k", &[]).ok().unwrap();
    assert_eq!(a.service().id, "2");
    let r = run(&routed, "GET", "/three?user_key=k", &[]).err().unwrap();
    assert_eq!(
        r.status, 411,
        "no rule matches: falls back to the host's first service"
    );

    let only = config(true, true);
    let r = run(&only, "GET", "/three?user_key=k", &[]).err().unwrap();
    assert_eq!((r.status, r.outcome), (404, Outcome::ServiceNotFound));
}

#[test]
fn normalised_path_cannot_dodge_a_rule() {
    let c = config(false, false);
    for path in ["//one?user_key=k", "/%6Fne?user_key=k", "/one//?user_key=k"] {
        let a = run(&c, "GET", path, &[])
            .ok()
            .unwrap_or_else(|| panic!("{path} did not match"));
        assert_eq!(a.usage.encoded(), "usage%5Bhits%5D=1", "{path}");
    }
    // Paths an upstream could read another way are refused before any service or rule.
    for path in [
        "/x/../one?user_key=k",
        "/./one?user_key=k",
        "/x%2F..%2Fone?user_key=k",
        "/one;x?user_key=k",
    ] {
        let head = RequestHead {
            method: "GET",
            authority: "unknown-host",
            path,
            now_s: 0,
        };
        let Err(r) = begin(&c, head, &headers(&[])) else {
            panic!("{path}")
        };
        assert_eq!((r.status, r.outcome), (400, Outcome::BadRequest), "{path}");
        assert_eq!(r.body, "Bad Request: ambiguous path");
    }
}

#[test]
fn form_body_credentials() {
    let c = config(false, false);
    let head = RequestHead {
        method: "POST",
        authority: "api",
        path: "/one",
        now_s: 0,
    };
    let hdrs = headers(&[(
        "content-type",
        "Application/X-WWW-Form-Urlencoded; charset=utf-8",
    )]);
    let Ok(mut r) = begin(&c, head, &hdrs) else {
        panic!()
    };
    assert!(r.wants_body());
    r.add_form_body(b"a=1&user_key=from+body");
    let a = backend(r.authorize().ok().unwrap());
    assert!(a.authrep_call().path.contains("user_key=from%20body"));

    let json = headers(&[("content-type", "application/json")]);
    let Ok(r) = begin(&c, head, &json) else {
        panic!()
    };
    assert!(!r.wants_body());
}

#[test]
fn a_path_over_max_path_bytes_is_414_before_anything_else() {
    let c = config(false, false);
    let long = format!("/one?user_key=k&pad={}", "x".repeat(c.max_path_bytes));
    let head = RequestHead {
        method: "GET",
        authority: "unknown-host",
        path: &long,
        now_s: 0,
    };
    let Err(r) = begin(&c, head, &headers(&[])) else {
        panic!("accepted")
    };
    assert_eq!((r.status, r.outcome), (414, Outcome::BadRequest));
    assert_eq!(r.body, "URI Too Long");
    let fits = format!("/one?user_key=k&pad={}", "x".repeat(c.max_path_bytes - 100));
    assert!(run(&c, "GET", &fits, &[]).is_ok());
}
