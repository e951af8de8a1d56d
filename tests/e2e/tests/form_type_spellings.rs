//! A form body named by `Content_Type` (found in the thirty-fourth session): Puma and Unicorn
//! give Rack that header as the content type, on any method, so Rails parses the body as a
//! form and its `params` take the body's `user_key` over the query's. Tollgate read form
//! bodies on a `PUT`, `PATCH`, `DELETE` or `GET` only when `Content-Type` named the form, so
//! `PUT /a?user_key=uk-mine` with `Content_Type: application/x-www-form-urlencoded` and a
//! body `user_key=uk-admin` was authorized and metered as `uk-mine` and reached the upstream
//! whole (the `POST` case was held already: a `POST` without a content type is read). Now
//! such a body is read to be compared, as a form `Content-Type` names is, in every location
//! and mode: auth failed (beside `default_credentials`, auth missing), nothing at the
//! upstream or the backend. It is never a source
//! (APIcast reads `Content-Type` alone).

mod support;

use support::body_shapes::{send, upstream_got, Shape, FORM};
use support::locations::*;
use support::*;

const FAILED: &str = "Authentication failed";
const MISSING: &str = "Authentication parameters missing";
// base64("mine:k-mine")
const BASIC: (&str, &str) = ("Authorization", "Basic bWluZTprLW1pbmU=");
const SPELLED: (&str, &str) = ("content_type", FORM);
const PLAIN: (&str, &str) = ("content-type", "text/plain");

/// (label, method, service, target, headers, body).
type Case = (
    &'static str,
    &'static str,
    u64,
    &'static str,
    Vec<(&'static str, &'static str)>,
    &'static str,
);

fn refused_cases() -> Vec<Case> {
    let app = vec![("App-Id", "mine"), ("App-Key", "k-mine"), SPELLED];
    vec![
        (
            "PUT user_key",
            "PUT",
            1,
            "/a?user_key=uk-mine",
            vec![SPELLED],
            "user_key=uk-admin",
        ),
        (
            "DELETE user.key",
            "DELETE",
            1,
            "/a?user_key=uk-mine",
            vec![SPELLED],
            "user.key=uk-admin",
        ),
        (
            "PATCH, then text/plain",
            "PATCH",
            2,
            "/a?user_key=uk-mine",
            vec![SPELLED, PLAIN],
            "x=1&user_key=uk-admin",
        ),
        (
            "GET user_key",
            "GET",
            2,
            "/a?user_key=uk-mine",
            vec![SPELLED],
            "user_key=uk-admin",
        ),
        (
            "PUT app_id beside headers",
            "PUT",
            3,
            "/a",
            app,
            "app_id=admin",
        ),
        (
            "DELETE app_key beside Basic",
            "DELETE",
            4,
            "/a",
            vec![BASIC, SPELLED],
            "app_key=k-admin",
        ),
        (
            "PUT beside the defaults",
            "PUT",
            5,
            "/a",
            vec![SPELLED],
            "user_key=uk-admin",
        ),
    ]
}

fn shaped(headers: &[(&'static str, &'static str)], shape: Shape) -> Vec<(String, String)> {
    // HTTP/2 field names are lower-case.
    let h2 = matches!(shape, Shape::H2Frames | Shape::H2Trailers);
    (headers.iter())
        .map(|(k, v)| match h2 {
            true => (k.to_ascii_lowercase(), v.to_string()),
            false => (k.to_string(), v.to_string()),
        })
        .collect()
}

fn one(s: &Stack, shape: Shape, case: &Case, mark: &str) -> (u16, String) {
    let (_, method, id, target, headers, body) = case;
    let headers = shaped(headers, shape);
    let refs: Vec<(&str, &str)> = (headers.iter()).map(|(k, v)| (&**k, &**v)).collect();
    send(
        s.port(),
        shape,
        method,
        &host(*id),
        target,
        &refs,
        body.as_bytes(),
        mark,
    )
}

/// Each refused case in each shape: auth failed (missing beside the defaults), nothing at the
/// upstream or the backend.
fn assert_refused(s: &Stack, shapes: &[Shape], round: &str) {
    let backend_before = s.backend.requests().len();
    for case in refused_cases() {
        for shape in shapes {
            let mark = format!("{round} {} {shape:?}", case.0);
            let got = one(s, *shape, &case, &mark);
            // Beside the defaults, a credential elsewhere leaves the request's own missing.
            let expected = match case.2 {
                5 => (401, MISSING),
                _ => (403, FAILED),
            };
            assert_eq!((got.0, got.1.as_str()), expected, "{mark}");
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
fn a_form_named_by_content_type_with_an_underscore_is_compared() {
    let s = every_location_stack();
    // Cold (authrep, batching misses), then each caller authorized (batching hits).
    assert_refused(&s, &[Shape::Plain, Shape::Chunked, Shape::H2Frames], "cold");
    let served: Vec<Case> = vec![
        (
            "same user_key",
            "PUT",
            1,
            "/a?user_key=uk-mine",
            vec![SPELLED],
            "user_key=uk-mine&x=1",
        ),
        (
            "no credential",
            "PATCH",
            2,
            "/a?user_key=uk-mine",
            vec![SPELLED, PLAIN],
            "x=1",
        ),
        (
            "headers, no credential",
            "PUT",
            3,
            "/a",
            vec![("App-Id", "mine"), ("App-Key", "k-mine"), SPELLED],
            "x=1",
        ),
        (
            "Basic, no credential",
            "DELETE",
            4,
            "/a",
            vec![BASIC, SPELLED],
            "x=1",
        ),
        ("the defaults", "PUT", 5, "/a", vec![SPELLED], "x=1"),
    ];
    for case in &served {
        let got = one(&s, Shape::Plain, case, case.0);
        assert_eq!(got.0, 200, "{}: {got:?}", case.0);
        let expected = format!("{} /a{} body={:?}", case.1, &case.3[2..], case.5);
        assert_eq!(upstream_got(&s, case.0), vec![expected], "{}", case.0);
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
    assert_refused(&s, &[Shape::Plain, Shape::H2Trailers], "warm");
}
