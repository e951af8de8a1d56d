//! A credential read where the service reads it, and the same name elsewhere with another
//! value (found by an audit, 2026-12-07): with `credentials_location: headers` a
//! `?app_id=admin` rode along to an upstream that reads the query, while the headers'
//! application was authorized and metered; the same for a header beside the query's
//! `user_key`, and for either beside `Authorization`. Now auth failed (403), with nothing at
//! the upstream or the backend, in authrep and batching mode (a cached authorization too).
//! `default_credentials` do not stand for a credential sent in another location either.

mod support;

use e2e::mock_backend::State;
use e2e::Request;
use serde_json::json;
use support::locations::*;
use support::*;

const FAILED: &str = "Authentication failed";

/// Service 1 version 2 in the headers (authrep), 2 version 1 in the query (batching), 3
/// version 1 in `Authorization` (authrep), 4 version 2 in the query (authrep); each has its
/// caller's and an admin application.
fn stack() -> Stack {
    let services = vec![
        service(1, json!(2), located(1, "headers")),
        service(2, json!(1), batched(located(2, "query"))),
        service(3, json!(1), located(3, "authorization")),
        service(4, json!(2), located(4, "query")),
    ];
    let state = [("1", "2"), ("2", "1"), ("3", "1"), ("4", "2")]
        .iter()
        .fold(State::new(), |st, (id, version)| {
            mine_and_admin(st, id, version)
        });
    Stack::start_with(config(services), state, |b| b.concurrency(2))
}

fn on(host: &str, target: &str, headers: &[(&str, &str)]) -> Request {
    with_headers(Request::get(target).header("Host", host), headers)
}

/// Each request is auth failed, and neither the upstream nor the backend hears of any.
fn all_auth_failed(s: &Stack, refused: impl IntoIterator<Item = (&'static str, Request)>) {
    all_answered(s, refused, (403, FAILED));
}

/// Each request gets `answer`, and neither the upstream nor the backend hears of any.
fn all_answered(
    s: &Stack,
    refused: impl IntoIterator<Item = (&'static str, Request)>,
    answer: (u16, &str),
) {
    let upstream_before = s.echo.requests().len();
    let backend_before = s.backend.requests().len();
    for (what, r) in refused {
        let got = r.send(s.port());
        assert_eq!((got.status, got.body.as_str()), answer, "{what}: {got}");
    }
    assert_eq!(
        s.echo.requests().len(),
        upstream_before,
        "the upstream got a refused request: {:?}",
        &s.echo.requests()[upstream_before..]
    );
    assert_eq!(
        s.backend.requests().len(),
        backend_before,
        "the backend was asked about a refused request"
    );
}

#[test]
fn a_credential_beside_another_value_in_another_location_is_auth_failed() {
    let s = stack();
    let mine = [("App-Id", "mine"), ("App-Key", "k-mine")];
    // Basic base64("uk-mine:")
    let basic = [("Authorization", "Basic dWstbWluZTo=")];
    let allowed: Vec<Request> = vec![
        on("s1.example.com", "/a?x=1", &mine),
        on("s1.example.com", "/a?app_id=mine", &mine),
        on("s2.example.com", "/a?user_key=uk-mine", &[]),
        on(
            "s2.example.com",
            "/a?user_key=uk-mine",
            &[("User-Key", "uk-mine")],
        ),
        on("s3.example.com", "/a", &basic),
    ];
    for r in allowed {
        let got = r.send(s.port());
        assert_eq!(got.status, 200, "{got}");
    }
    let refused: Vec<(&str, Request)> = vec![
        (
            "query app_id",
            on("s1.example.com", "/a?app_id=admin", &mine),
        ),
        (
            "query APP_ID",
            on("s1.example.com", "/a?APP_ID=admin", &mine),
        ),
        (
            "query app.id (PHP)",
            on("s1.example.com", "/a?app.id=admin", &mine),
        ),
        (
            "query app_key",
            on("s1.example.com", "/a?app_key=k-admin", &mine),
        ),
        // The batching service's authorization of uk-mine is cached by now.
        (
            "header user_key",
            on(
                "s2.example.com",
                "/a?user_key=uk-mine",
                &[("User-Key", "uk-admin")],
            ),
        ),
        (
            "header user_key",
            on(
                "s2.example.com",
                "/a?user_key=uk-mine",
                &[("user_key", "uk-admin")],
            ),
        ),
        (
            "query beside Basic",
            on("s3.example.com", "/a?user_key=uk-admin", &basic),
        ),
        (
            "header beside Basic",
            on(
                "s3.example.com",
                "/a",
                &[basic[0], ("User_Key", "uk-admin")],
            ),
        ),
    ];
    all_auth_failed(&s, refused);
    // Nothing found where the service reads credentials: auth missing, as before.
    let r = on("s1.example.com", "/a?app_id=mine&app_key=k-mine", &[]).send(s.port());
    assert_eq!(r.status, 401, "{r}");
}

/// The query location's credential sent only in a form body (APIcast reads it there) beside
/// a header of the same name with another value: the header was compared when the headers
/// arrived, before the body filled the credential, so it rode along to an upstream reading
/// headers (found in the thirtieth session's audit, fixed in the thirty-first).
#[test]
fn a_form_body_credential_beside_another_value_in_a_header_is_auth_failed() {
    let s = stack();
    let post = |host: &str, form: &[(&str, &str)], headers: &[(&str, &str)]| {
        with_headers(Request::post("/a").header("Host", host).form(form), headers)
    };
    let uk = [("user_key", "uk-mine")];
    let app = [("app_id", "mine"), ("app_key", "k-mine")];
    let allowed = [
        post("s2.example.com", &uk, &[]),
        post("s2.example.com", &uk, &[("User-Key", "uk-mine")]),
        post("s4.example.com", &app, &[]),
        post("s4.example.com", &app, &[("App-Id", "mine")]),
    ];
    for r in allowed {
        let got = r.send(s.port());
        assert_eq!(got.status, 200, "{got}");
    }
    let refused = [
        // Batching: uk-mine's authorization is cached by now.
        (
            "header user_key",
            post("s2.example.com", &uk, &[("user_key", "uk-admin")]),
        ),
        (
            "header User-Key",
            post("s2.example.com", &uk, &[("User-Key", "uk-admin")]),
        ),
        (
            "header app_id",
            post("s4.example.com", &app, &[("app_id", "admin")]),
        ),
        (
            "header APP-ID",
            post("s4.example.com", &app, &[("APP-ID", "admin")]),
        ),
        (
            "header app_key",
            post("s4.example.com", &app, &[("App-Key", "k-admin")]),
        ),
    ];
    all_auth_failed(&s, refused);
}

/// Services 5 (headers), 6 (query, batching) and 7 (`Authorization`), version 1, each with
/// `default_credentials` (`uk-anon`) before `apicast`, and an admin application.
fn with_defaults() -> Stack {
    let services = [(5, "headers"), (6, "query"), (7, "authorization")].map(|(id, location)| {
        let mut proxy = located(id, location);
        proxy["policy_chain"] = anonymous_chain(id == 6);
        service(id, json!(1), proxy)
    });
    let state = ["5", "6", "7"]
        .iter()
        .fold(State::new(), |st, id| anon_and_admin(st, id));
    Stack::start_with(config(services.to_vec()), state, |b| b.concurrency(2))
}

/// `default_credentials` stand for credentials a request does not carry. One in another
/// location than the service's (`?user_key=` to a headers service, a `User-Key` header to a
/// query service, either beside `Authorization`) was not looked at: the anonymous
/// application was authorized and metered while the request, with the admin's key, reached
/// an upstream that may read it there (found by an audit, 2026-12-07). Auth missing (401)
/// now, as for a key in a spelling the service does not read.
#[test]
fn default_credentials_do_not_stand_for_a_credential_in_another_location() {
    let s = with_defaults();
    for host in ["s5.example.com", "s6.example.com", "s7.example.com"] {
        let got = on(host, "/a?x=1", &[]).send(s.port());
        assert_eq!(got.status, 200, "{host}: {got}");
    }
    let missing: Vec<(&str, Request)> = vec![
        (
            "query beside headers",
            on("s5.example.com", "/a?user_key=uk-admin", &[]),
        ),
        (
            "query spelled beside headers",
            on("s5.example.com", "/a?user.key=uk-admin", &[]),
        ),
        (
            "header beside query",
            on("s6.example.com", "/a", &[("User-Key", "uk-admin")]),
        ),
        (
            "header beside query",
            on("s6.example.com", "/a", &[("user_key", "uk-admin")]),
        ),
        (
            "query beside Authorization",
            on("s7.example.com", "/a?user_key=uk-admin", &[]),
        ),
        (
            "header beside Authorization",
            on("s7.example.com", "/a", &[("User-Key", "uk-admin")]),
        ),
    ];
    all_answered(&s, missing, (401, "Authentication parameters missing"));
}
