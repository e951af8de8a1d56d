//! Synchronous errors (§4.2, §5) and their precedence (§3).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers outside #[test] fns

mod common;

use common::*;
use mock_backend::{App, MockBackend, Period, Service, State};

const PROLOG: &str = r#"<?xml version="1.0" encoding="UTF-8"?>"#;

fn err(code: &str, msg: &str) -> String {
    format!(r#"{PROLOG}<error code="{code}">{msg}</error>"#)
}

fn backend() -> MockBackend {
    let state = State::new()
        .service(
            Service::new("42")
                .token("svc-token")
                .provider_key("prov-key")
                .backend_version("1")
                .metric("hits", None)
                .metric("get_foo", Some("hits")),
        )
        .app(App::new("42", "app1").user_key("uk-1").plan("Basic").limit(
            "hits",
            Period::Minute,
            50,
        ))
        .service(
            Service::new("1001")
                .token("tok")
                .provider_key("prov-key")
                .metric("hits", None),
        )
        .app(
            App::new("1001", "app2")
                .app_keys(&["k1"])
                .plan("P")
                .limit("hits", Period::Hour, 5),
        )
        .app(App::new("1001", "susp").state_suspended());
    MockBackend::start(state).unwrap()
}

fn check(b: &MockBackend, target: &str, status: u16, body: &str) {
    let r = get(b.port(), target);
    assert_eq!((r.status, r.body.as_str()), (status, body), "{target}");
}

#[test]
fn application_identification() {
    let b = backend();
    let v1 = "/transactions/authrep.xml?service_token=svc-token&service_id=42";
    let v2 = "/transactions/authrep.xml?service_token=tok&service_id=1001";
    check(
        &b,
        &format!("{v1}&user_key=bad"),
        403,
        &err("user_key_invalid", r#"user key "bad" is invalid"#),
    );
    check(
        &b,
        &format!("{v1}&app_id=app1"),
        403,
        &err("user_key_invalid", "user key is missing"),
    );
    check(
        &b,
        &format!("{v1}&app_id=app1&user_key=uk-1"),
        403,
        &err(
            "authentication_error",
            "either app_id or user_key is allowed, not both",
        ),
    );
    check(
        &b,
        &format!("{v2}&app_id=nope"),
        404,
        &err(
            "application_not_found",
            r#"application with id="nope" was not found"#,
        ),
    );
    check(
        &b,
        &format!("{v2}&user_key=uk-1"),
        404,
        &err("application_not_found", "application id is missing"),
    );
    check(
        &b,
        &format!("{v2}&app_id=%20app2%20"),
        404,
        &err(
            "application_not_found",
            r#"application with id=" app2 " was not found"#,
        ),
    );
    // app_key is stripped
    assert_eq!(
        get(b.port(), &format!("{v2}&app_id=app2&app_key=%20k1%20")).status,
        200
    );
    assert_eq!(get(b.port(), &format!("{v1}&user_key=uk-1")).status, 200);
}

#[test]
fn credentials() {
    let b = backend();
    let p = "/transactions/authorize.xml";
    check(
        &b,
        &format!("{p}?service_token=wrong&service_id=1001&app_id=app2"),
        403,
        &err(
            "service_token_invalid",
            r#"service token "wrong" or service id "1001" is invalid"#,
        ),
    );
    check(
        &b,
        &format!("{p}?service_token=tok&app_id=app2"),
        422,
        &err("service_id_missing", "Service ID is missing"),
    );
    check(
        &b,
        &format!("{p}?app_id=app2"),
        403,
        &err(
            "provider_key_or_service_token_required",
            "Provider key or service token are required",
        ),
    );
    check(
        &b,
        &format!("{p}?provider_key=wrong&service_id=1001&app_id=app2"),
        403,
        &err("provider_key_invalid", r#"provider key "wrong" is invalid"#),
    );
    check(
        &b,
        &format!("{p}?provider_key=prov-key&service_id=9999&app_id=app2"),
        403,
        &err("service_id_invalid", r#"service id "9999" is invalid"#),
    );
    check(
        &b,
        &format!("{p}?provider_key=wrong&app_id=app2"),
        403,
        &err(
            "provider_key_invalid_or_service_missing",
            r#"provider key "wrong" invalid and/or service ID missing"#,
        ),
    );
    // provider_key wins over a bad service_token; default service is "42" (first declared).
    assert_eq!(
        get(
            b.port(),
            &format!("{p}?provider_key=prov-key&service_token=x&user_key=uk-1")
        )
        .status,
        200
    );
    assert_eq!(
        get(
            b.port(),
            &format!("{p}?provider_key=prov-key&service_id=foo-1001&app_id=app2&app_key=k1")
        )
        .status,
        200
    );
}

#[test]
fn request_level_errors() {
    let b = backend();
    let base = "/transactions/authrep.xml?service_token=tok&service_id=1001&app_id=app2&app_key=k1";
    check(
        &b,
        &format!("{base}&user_id=u"),
        400,
        &err(
            "end_users_no_longer_supported",
            "End-users are no longer supported, do not specify the user_id parameter",
        ),
    );
    check(&b, &format!("{base}&usage=1"), 403, "");
    check(&b, &format!("{base}&usage[]=1"), 403, "");
    let r = get(b.port(), &format!("{base}&usage="));
    assert_eq!((r.status, r.body.as_str()), (403, ""));
    assert_eq!(
        r.header("content-security-policy"),
        Some("default-src 'self'"),
        "halt 403 is a route response"
    );
    check(
        &b,
        &format!("{base}&x=%FF"),
        422,
        &err("not_valid_data", "all data must be valid UTF8"),
    );
    check(
        &b,
        &format!("{base}&x=%zz"),
        400,
        &err(
            "bad_request",
            "Invalid query parameters: invalid %-encoding",
        ),
    );
    check(
        &b,
        &format!("{base}&usage[]=1&usage[hits]=1"),
        400,
        &err(
            "bad_request",
            "request contains syntax errors, should not be repeated without modification",
        ),
    );
    check(
        &b,
        &format!("{base}&usage[nope]=1"),
        404,
        &err("metric_invalid", r#"metric "nope" is invalid"#),
    );
    check(
        &b,
        &format!("{base}&usage[hits]=abc"),
        403,
        &err(
            "usage_value_invalid",
            r#"usage value "abc" for metric "hits" is invalid"#,
        ),
    );
    check(
        &b,
        &format!("{base}&usage[hits]="),
        403,
        &err(
            "usage_value_invalid",
            r#"usage value for metric "hits" can not be empty"#,
        ),
    );
    // user_id is checked before the service (credentials are valid here, service lookup would fail)
    check(
        &b,
        "/transactions/authrep.xml?provider_key=prov-key&service_id=9999&user_id=u",
        400,
        &err(
            "end_users_no_longer_supported",
            "End-users are no longer supported, do not specify the user_id parameter",
        ),
    );
    // deprecated no_body URL parameter works for errors too
    check(
        &b,
        "/transactions/authrep.xml?service_token=tok&service_id=1001&app_id=nope&no_body=true",
        404,
        "",
    );
    // error responses never carry 3scale-* headers
    let r = get_with(
        b.port(),
        &format!("{base}&usage[nope]=1"),
        "rejection_reason_header=1&limit_headers=1",
    );
    assert_eq!(r.header("3scale-rejection-reason"), None);
    assert_eq!(r.header("3scale-limit-remaining"), None);
    assert_eq!(r.header("content-security-policy"), None);
}

#[test]
fn denial_vs_metric_error_precedence_depends_on_no_body() {
    let b = backend();
    let url = "/transactions/authrep.xml?service_token=tok&service_id=1001&app_id=app2&app_key=wrong&usage[nope]=1";
    let r = get(b.port(), url);
    assert_eq!(r.status, 409);
    assert!(r
        .body
        .contains(r#"<reason>application key "wrong" is invalid</reason>"#));
    let r = get_with(b.port(), url, "no_body=1");
    assert_eq!((r.status, r.body.as_str()), (404, ""));
    // A suspended app is a denial; a bad usage value after it is never parsed.
    let r = get(
        b.port(),
        "/transactions/authrep.xml?service_token=tok&service_id=1001&app_id=susp&usage[hits]=x",
    );
    assert_eq!(r.status, 409);
    assert!(r
        .body
        .contains("<reason>application is not active</reason>"));
}

#[test]
fn routes() {
    let b = backend();
    let r = get(b.port(), "/status");
    assert_eq!(
        (r.status, r.body.as_str()),
        (200, r#"{"status":"ok","version":{"backend":"3.4.3"}}"#)
    );
    assert_eq!(r.header("content-type"), Some("application/json"));
    let r = get(b.port(), "/check.txt");
    assert_eq!((r.status, r.body.as_str()), (200, "ok"));
    assert_eq!(r.header("content-type"), Some("text/plain;charset=utf-8"));
    let r = send(b.port(), "HEAD", "/available", &[], "");
    assert_eq!((r.status, r.body.as_str()), (200, ""));
    for (m, p) in [
        ("GET", "/transactions.xml"),
        ("POST", "/transactions/authrep.xml"),
        ("GET", "/transactions/authrep.json"),
        ("GET", "/available"),
        ("GET", "/"),
    ] {
        let r = send(b.port(), m, p, &[], "");
        assert_eq!((r.status, r.body.as_str()), (404, ""), "{m} {p}");
        assert_eq!(
            r.header("content-type"),
            Some("application/vnd.3scale-v2.0+xml")
        );
    }
    let r = send(b.port(), "OPTIONS", "/transactions/authrep.xml", &[], "");
    assert_eq!(r.status, 204);
    assert_eq!(r.header("access-control-max-age"), Some("86400"));
    assert_eq!(
        r.header("access-control-allow-methods"),
        Some("GET, POST, PATCH, PUT, DELETE")
    );
    // HEAD on an authrep runs it (and reports) but has no body.
    let r = send(b.port(), "HEAD", "/transactions/authrep.xml?service_token=tok&service_id=1001&app_id=app2&app_key=k1&usage[hits]=1", &[], "");
    assert_eq!((r.status, r.body.as_str()), (200, ""));
    assert_eq!(b.counter("1001", "app2", "hits", Period::Hour), 1);
}

#[test]
fn limits_and_headers_over_calls() {
    let b = backend();
    let url = "/transactions/authrep.xml?service_token=tok&service_id=1001&app_id=app2&app_key=k1&usage[hits]=2";
    let opts = "rejection_reason_header=1&limit_headers=1&no_body=1";
    let r = get_with(b.port(), url, opts);
    assert_eq!(
        (r.status, r.header("3scale-limit-remaining")),
        (200, Some("1"))
    );
    assert_eq!(r.header("3scale-limit-max-value"), Some("5"));
    let reset: i64 = r.header("3scale-limit-reset").unwrap().parse().unwrap();
    assert!((1..=3600).contains(&reset));
    let r = get_with(b.port(), url, opts);
    assert_eq!(
        (r.status, r.header("3scale-limit-remaining")),
        (200, Some("0"))
    );
    let r = get_with(b.port(), url, opts);
    assert_eq!(r.status, 409);
    assert_eq!(r.header("3scale-rejection-reason"), Some("limits_exceeded"));
    assert_eq!(r.header("3scale-limit-remaining"), Some("0"));
    assert_eq!(
        b.counter("1001", "app2", "hits", Period::Hour),
        4,
        "denied authrep is not reported"
    );
    // usage[hits]=1 still fits (4 + 1 <= 5); exactly at max without usage is authorized.
    let r = get(b.port(), "/transactions/authrep.xml?service_token=tok&service_id=1001&app_id=app2&app_key=k1&usage[hits]=1");
    assert_eq!(r.status, 200);
    assert!(r
        .body
        .contains("<max_value>5</max_value><current_value>5</current_value>"));
    let r = get(
        b.port(),
        "/transactions/authorize.xml?service_token=tok&service_id=1001&app_id=app2&app_key=k1",
    );
    assert_eq!(r.status, 200);
    // #N sets
    let r = get(b.port(), "/transactions/authrep.xml?service_token=tok&service_id=1001&app_id=app2&app_key=k1&usage[hits]=%232");
    assert_eq!(r.status, 200);
    assert_eq!(b.counter("1001", "app2", "hits", Period::Hour), 2);
    assert_eq!(b.counter("1001", "app2", "hits", Period::Eternity), 2);
}
