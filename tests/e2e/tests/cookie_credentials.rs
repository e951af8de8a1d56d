//! A credential in a cookie (found in the thirty-fourth session): PHP's `$_REQUEST` takes
//! `$_COOKIE` over the query and the form under its built-in `variables_order` (`EGPCS`: PHP
//! without a php.ini, as the official Docker images run it), and classic ASP.NET's
//! `Request["user_key"]` reads cookies where the query and the form lack the name. So
//! `GET /a?user_key=uk-mine` with `Cookie: user_key=uk-admin` was authorized and metered as
//! `uk-mine` and read as `uk-admin`; with `default_credentials`, a request with only that
//! cookie was the anonymous application's. Now a cookie naming the credential (any spelling
//! an upstream reads as it) with another value is auth failed, and beside the defaults
//! leaves the request's credentials missing (401), in every location and mode; nothing
//! reaches the upstream or the backend.

mod support;

use e2e::h2::Connection;
use support::body_shapes::{send, upstream_got, Shape, MARK};
use support::locations::*;
use support::*;

// base64("mine:k-mine")
const BASIC: (&str, &str) = ("authorization", "Basic bWluZTprLW1pbmU=");

/// (label, service, target, headers, expected status).
type Case = (
    &'static str,
    u64,
    &'static str,
    Vec<(&'static str, &'static str)>,
    u16,
);

fn refused_cases() -> Vec<Case> {
    let app = vec![("app-id", "mine"), ("app-key", "k-mine")];
    let with = |mut h: Vec<(&'static str, &'static str)>, cookie| {
        h.push(("cookie", cookie));
        h
    };
    vec![
        (
            "query",
            1,
            "/a?user_key=uk-mine",
            with(vec![], "user_key=uk-admin"),
            403,
        ),
        (
            "query, batching",
            2,
            "/a?user_key=uk-mine",
            with(vec![], "sid=1; user.key=uk-admin"),
            403,
        ),
        ("headers", 3, "/a", with(app, "app_id=admin"), 403),
        (
            "Basic, batching",
            4,
            "/a",
            with(vec![BASIC], "APP_KEY=k-admin"),
            403,
        ),
        ("defaults", 5, "/a", with(vec![], "user_key=uk-admin"), 401),
    ]
}

/// `GET` over HTTP/2, marked `mark`: (status, body).
fn h2_get(
    s: &Stack,
    host: &str,
    target: &str,
    headers: &[(&str, &str)],
    mark: &str,
) -> (u16, String) {
    let mut c = Connection::open(s.port()).unwrap();
    let mut hs = headers.to_vec();
    hs.push((MARK, mark));
    c.head(1, "GET", host, target, &hs, true);
    match c.answer(1) {
        Ok(r) => (r.status, r.body),
        Err(e) => (0, format!("no answer: {e}")),
    }
}

fn assert_refused(s: &Stack, round: &str) {
    let backend_before = s.backend.requests().len();
    for (label, id, target, headers, status) in refused_cases() {
        let h1 = format!("{round} {label} h1");
        let got = send(
            s.port(),
            Shape::Plain,
            "GET",
            &host(id),
            target,
            &headers,
            b"",
            &h1,
        );
        assert_eq!(got.0, status, "{h1}: {got:?}");
        let h2 = format!("{round} {label} h2");
        let got = h2_get(s, &host(id), target, &headers, &h2);
        assert_eq!(got.0, status, "{h2}: {got:?}");
        for mark in [h1, h2] {
            assert_eq!(
                upstream_got(s, &mark),
                Vec::<String>::new(),
                "{mark}: upstream"
            );
        }
    }
    let asked = s.backend.requests().len() - backend_before;
    assert_eq!(
        asked, 0,
        "{round}: the backend was asked about a refused request"
    );
}

#[test]
fn a_cookie_naming_another_credential_is_refused() {
    let s = every_location_stack();
    // Cold (authrep, batching misses), then each caller authorized (batching hits).
    assert_refused(&s, "cold");
    let served: Vec<Case> = vec![
        (
            "same user_key",
            1,
            "/a?user_key=uk-mine",
            vec![("cookie", "user_key=uk-mine; sid=1")],
            200,
        ),
        (
            "other cookies",
            2,
            "/a?user_key=uk-mine",
            vec![("cookie", "sid=1")],
            200,
        ),
        (
            "headers, no credential cookie",
            3,
            "/a",
            vec![
                ("app-id", "mine"),
                ("app-key", "k-mine"),
                ("cookie", "sid=1"),
            ],
            200,
        ),
        ("Basic", 4, "/a", vec![BASIC], 200),
        ("the defaults", 5, "/a", vec![("cookie", "sid=1")], 200),
    ];
    for (label, id, target, headers, _) in &served {
        let got = send(
            s.port(),
            Shape::Plain,
            "GET",
            &host(*id),
            target,
            headers,
            b"",
            label,
        );
        assert_eq!(got.0, 200, "{label}: {got:?}");
        let expected = format!("GET {target} body=\"\"");
        assert_eq!(upstream_got(&s, label), vec![expected], "{label}");
    }
    // The backend authorized the callers the requests named, never `admin`.
    let asked: Vec<String> = (s.backend.requests().into_iter())
        .map(|r| r.raw_query)
        .collect();
    assert!(asked.iter().all(|q| !q.contains("admin")), "{asked:#?}");
    assert!(
        asked.iter().any(|q| q.contains("user_key=uk-anon")),
        "{asked:#?}"
    );
    assert_refused(&s, "warm");
}
