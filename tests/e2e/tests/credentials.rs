//! Credentials through Envoy: query, headers, HTTP Basic and form bodies, with custom names.

mod support;

use e2e::base64::basic_auth as basic;
use e2e::Request;
use serde_json::json;
use support::*;

fn get(path: &str) -> Request {
    Request::get(path).header("Host", "api.example.com")
}

#[test]
fn user_key_in_query_with_custom_name() {
    let s = Stack::start(config(vec![service(
        1,
        json!(1),
        json!({"auth_user_key": "API_Key"}),
    )]));
    let ok = get(&format!("/hello?api_key={USER_KEY}")).send(s.port());
    assert_eq!(ok.status, 200, "{ok}");
    assert_eq!(
        ok.echo().path,
        format!("/hello?api_key={USER_KEY}"),
        "credentials stay in the query"
    );
    let call = &s.authreps()[0];
    assert_eq!(call.param("user_key"), Some(USER_KEY));
    assert_eq!(call.param("service_id"), Some("1"));
    assert_eq!(call.param("service_token"), Some(TOKEN));
    assert_eq!(call.param("usage[hits]"), Some("1"));

    // The default name no longer counts.
    let missing = get(&format!("/hello?user_key={USER_KEY}")).send(s.port());
    assert_eq!(missing.status, 401, "{missing}");
    let wrong = get("/hello?api_key=nope").send(s.port());
    assert_eq!(wrong.status, 403, "{wrong}");
    assert_eq!(wrong.body, "Authentication failed");
}

#[test]
fn empty_user_key_is_present_not_missing() {
    let s = Stack::start(config(vec![service(1, json!(1), json!({}))]));
    let r = get("/?user_key=").send(s.port());
    assert_eq!(r.status, 403, "{r}");
    assert_eq!(s.authreps().len(), 1, "an empty key is sent to the backend");
}

#[test]
fn query_value_is_percent_decoded_once() {
    let s = Stack::start(config(vec![service(1, json!(1), json!({}))]));
    let r = get("/?user_key=a%26b%3Dc%25d%20e").send(s.port());
    assert_eq!(r.status, 200, "{r}");
    assert_eq!(s.authreps()[0].param("user_key"), Some("a&b=c%d e"));
}

#[test]
fn user_key_in_headers_dash_and_underscore_are_equal() {
    let s = Stack::start(config(vec![service(
        1,
        json!("1"),
        json!({"credentials_location": "headers", "auth_user_key": "X-Api_Key"}),
    )]));
    for name in ["x-api-key", "X-API-KEY", "x_api_key"] {
        let r = get("/").header(name, USER_KEY).send(s.port());
        assert_eq!(r.status, 200, "{name}: {r}");
        assert_eq!(
            r.echo().header(name),
            Some(USER_KEY),
            "the header is forwarded"
        );
    }
    let r = get(&format!("/?x-api-key={USER_KEY}")).send(s.port());
    assert_eq!(r.status, 401, "headers location ignores the query: {r}");
}

#[test]
fn app_id_and_app_key_both_required() {
    let s = Stack::start(config(vec![service(
        2,
        json!(2),
        json!({"credentials_location": "headers", "auth_app_id": "x-app-id", "auth_app_key": "x-app-key"}),
    )]));
    let ok = get("/")
        .header("x-app-id", APP_ID)
        .header("x-app-key", APP_KEY)
        .send(s.port());
    assert_eq!(ok.status, 200, "{ok}");
    let call = &s.authreps()[0];
    assert_eq!(
        (call.param("app_id"), call.param("app_key")),
        (Some(APP_ID), Some(APP_KEY))
    );

    let only_id = get("/").header("x-app-id", APP_ID).send(s.port());
    assert_eq!(
        (only_id.status, only_id.body.as_str()),
        (401, "Authentication parameters missing")
    );
    let only_key = get("/").header("x-app-key", APP_KEY).send(s.port());
    assert_eq!(only_key.status, 401);
    let bad_key = get("/")
        .header("x-app-id", APP_ID)
        .header("x-app-key", "wrong")
        .send(s.port());
    assert_eq!(bad_key.status, 403);
    assert_eq!(
        s.authreps().len(),
        2,
        "partial credentials never reach the backend"
    );
}

#[test]
fn http_basic_authorization() {
    let s = Stack::start(config(vec![
        service(
            1,
            json!(1),
            json!({"credentials_location": "authorization", "hosts": ["v1.example.com"]}),
        ),
        service(
            2,
            json!(2),
            json!({"credentials_location": "authorization", "hosts": ["v2.example.com"]}),
        ),
    ]));
    let v1 = Request::get("/")
        .header("Host", "v1.example.com")
        .header("Authorization", &basic(USER_KEY, ""))
        .send(s.port());
    assert_eq!(v1.status, 200, "{v1}");
    let v2 = Request::get("/")
        .header("Host", "v2.example.com")
        .header("Authorization", &basic(APP_ID, APP_KEY))
        .send(s.port());
    assert_eq!(v2.status, 200, "{v2}");
    let calls = s.authreps();
    assert_eq!(calls[0].param("user_key"), Some(USER_KEY));
    assert_eq!(
        (calls[1].param("app_id"), calls[1].param("app_key")),
        (Some(APP_ID), Some(APP_KEY))
    );
    let none = Request::get("/")
        .header("Host", "v1.example.com")
        .header("Authorization", "Digest x")
        .send(s.port());
    assert_eq!(none.status, 401, "{none}");
}

#[test]
fn form_body_credentials_for_query_location() {
    let s = Stack::start(config(vec![service(
        2,
        json!(2),
        json!({"proxy_rules": [{"http_method": "POST", "pattern": "/orders", "metric_system_name": "hits", "delta": 3}]}),
    )]));
    let r = Request::post("/orders")
        .header("Host", "api.example.com")
        .form(&[("app_id", APP_ID), ("app_key", APP_KEY), ("item", "42")])
        .send(s.port());
    assert_eq!(r.status, 200, "{r}");
    let seen = r.echo();
    assert!(
        seen.body.contains("item=42"),
        "the body reaches the upstream intact: {}",
        seen.body
    );
    let call = &s.authreps()[0];
    assert_eq!(
        (
            call.param("app_id"),
            call.param("app_key"),
            call.param("usage[hits]")
        ),
        (Some(APP_ID), Some(APP_KEY), Some("3"))
    );

    // app_id in the query, app_key in the body: the body fills the missing one.
    let mixed = Request::post(&format!("/orders?app_id={APP_ID}"))
        .header("Host", "api.example.com")
        .form(&[("app_key", APP_KEY)])
        .send(s.port());
    assert_eq!(mixed.status, 200, "{mixed}");

    // A JSON body is not read.
    let json_body = Request::post("/orders")
        .header("Host", "api.example.com")
        .json(&json!({"app_id": APP_ID, "app_key": APP_KEY}))
        .send(s.port());
    assert_eq!(json_body.status, 401, "{json_body}");
}

/// Custom-named credentials in a PUT/PATCH form body with `; charset=utf-8` reach the backend
/// (user_key and app_id/app_key services), and the upstream gets the body intact.
#[test]
fn form_body_credentials_with_custom_names_on_put_and_patch() {
    let rules = json!([
        {"http_method": "PUT", "pattern": "/orders", "metric_system_name": "hits", "delta": 1},
        {"http_method": "PATCH", "pattern": "/orders", "metric_system_name": "hits", "delta": 2}
    ]);
    let s = Stack::start(config(vec![
        service(
            1,
            json!(1),
            json!({"hosts": ["v1.example.com"], "auth_user_key": "api_token", "proxy_rules": rules}),
        ),
        service(
            2,
            json!(2),
            json!({"hosts": ["v2.example.com"], "auth_app_id": "client", "auth_app_key": "secret", "proxy_rules": rules}),
        ),
    ]));
    let form = |req: Request, host: &str, body: &str| {
        req.header("Host", host)
            .header(
                "Content-Type",
                "application/x-www-form-urlencoded; charset=utf-8",
            )
            .body(body)
            .send(s.port())
    };

    let body = format!("item=42&api_token={USER_KEY}&note=a%20b");
    let put = form(Request::put("/orders"), "v1.example.com", &body);
    assert_eq!(put.status, 200, "{put}");
    let seen = put.echo();
    assert_eq!((seen.method.as_str(), seen.body.as_str()), ("PUT", &*body));
    let call = &s.authreps()[0];
    assert_eq!(
        (
            call.param("service_id"),
            call.param("user_key"),
            call.param("usage[hits]")
        ),
        (Some("1"), Some(USER_KEY), Some("1"))
    );

    let body = format!("client={APP_ID}&secret={APP_KEY}&item=42");
    let patch = form(Request::patch("/orders"), "v2.example.com", &body);
    assert_eq!(patch.status, 200, "{patch}");
    let seen = patch.echo();
    assert_eq!(
        (seen.method.as_str(), seen.body.as_str()),
        ("PATCH", &*body)
    );
    let call = &s.authreps()[1];
    assert_eq!(
        (
            call.param("service_id"),
            call.param("app_id"),
            call.param("app_key"),
            call.param("usage[hits]")
        ),
        (Some("2"), Some(APP_ID), Some(APP_KEY), Some("2"))
    );

    // The default names no longer count in the body.
    let default_name = form(
        Request::put("/orders"),
        "v1.example.com",
        &format!("user_key={USER_KEY}"),
    );
    assert_eq!(default_name.status, 401, "{default_name}");
    assert_eq!(s.authreps().len(), 2);
}

const REFUSED: (u16, &str) = (403, "Authentication failed");

/// The backend of the tests below: a `victim` application beside the caller's on every
/// service, so that a key the filter let through would be served.
fn victim_state(ids: &[&str]) -> e2e::mock_backend::State {
    use e2e::mock_backend::{App, Service, State};
    (ids.iter()).fold(State::new(), |state, id| {
        state
            .service(
                Service::new(id)
                    .token(TOKEN)
                    .backend_version("1")
                    .metric("hits", None),
            )
            .app(
                App::new(id, &format!("app-{id}"))
                    .user_key(USER_KEY)
                    .plan("Basic"),
            )
            .app(
                App::new(id, &format!("anon-{id}"))
                    .user_key("anon")
                    .plan("Basic"),
            )
            .app(
                App::new(id, &format!("victim-{id}"))
                    .user_key("victim")
                    .plan("Basic"),
            )
    })
}

fn any_path(id: u64, host: &str, extra: serde_json::Value) -> serde_json::Value {
    let mut proxy = json!({"hosts": [host], "proxy_rules": [
        {"http_method": "ANY", "pattern": "/", "metric_system_name": "hits", "delta": 1}]});
    if let (Some(p), serde_json::Value::Object(extra)) = (proxy.as_object_mut(), extra) {
        p.extend(extra);
    }
    service(id, json!(1), proxy)
}

/// The user_key of every authrep, in order.
fn authorized_keys(s: &Stack) -> Vec<String> {
    (s.authreps().iter())
        .filter_map(|c| c.param("user_key").map(str::to_string))
        .collect()
}

/// A key in the form body in another spelling than the query's (`user.key`, `USER_KEY`,
/// `user_key[]`), or the reverse: PHP, Laravel and Rack read the other one, so it is auth
/// failed (found by an audit, 2026-12-06). The same key in any spelling is served.
#[test]
fn a_body_key_spelled_otherwise_than_the_querys_is_auth_failed() {
    let s = Stack::start_with(
        config(vec![any_path(1, "api.example.com", json!({}))]),
        victim_state(&["1"]),
        |b| b,
    );
    let post = |query: &str, body: &str| {
        Request::post(&format!("/one?{query}"))
            .header("Host", "api.example.com")
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body.to_string())
            .send(s.port())
    };
    let mine = format!("user_key={USER_KEY}");
    for body in [
        "user.key=victim",
        "USER_KEY=victim",
        "User_Key=victim",
        "user_key%5B%5D=victim",
    ] {
        let r = post(&mine, body);
        assert_eq!((r.status, r.body.as_str()), REFUSED, "{body}: {r}");
    }
    let r = post("user.key=victim", &mine);
    assert_eq!((r.status, r.body.as_str()), REFUSED, "the reverse: {r}");
    let ok = post(&mine, &format!("user.key={USER_KEY}&item=42"));
    assert_eq!(ok.status, 200, "{ok}");
    assert_eq!(ok.echo().body, format!("user.key={USER_KEY}&item=42"));
    assert_eq!(
        s.echo.requests().len(),
        1,
        "only the same key went upstream"
    );
    assert_eq!(authorized_keys(&s), [USER_KEY]);
}

/// A form body APIcast does not read for credentials (`DELETE`, `GET`; a `POST` without a
/// content type, which Rack reads as a form) is read to be compared: a key in it that is not
/// the query's is auth failed; the body is never where the credential is taken from (found
/// by an audit, 2026-12-06).
#[test]
fn a_body_apicast_does_not_read_must_carry_the_key_authorized() {
    let s = Stack::start_with(
        config(vec![any_path(1, "api.example.com", json!({}))]),
        victim_state(&["1"]),
        |b| b,
    );
    let send = |method: &str, form: bool, body: &str| {
        let r = Request::new(method, &format!("/x?user_key={USER_KEY}"))
            .header("Host", "api.example.com");
        let r = match form {
            true => r.header("Content-Type", "application/x-www-form-urlencoded"),
            false => r,
        };
        r.body(body.to_string()).send(s.port())
    };
    for (method, form) in [("DELETE", true), ("GET", true), ("POST", false)] {
        for body in ["user_key=victim", "a=1&user.key=victim"] {
            let r = send(method, form, body);
            assert_eq!((r.status, r.body.as_str()), REFUSED, "{method} {body}: {r}");
        }
    }
    let ok = send("DELETE", true, &format!("user_key={USER_KEY}&a=1"));
    assert_eq!(ok.status, 200, "{ok}");
    assert_eq!(ok.echo().body, format!("user_key={USER_KEY}&a=1"));
    let ok = send("POST", false, "a=1");
    assert_eq!(ok.status, 200, "{ok}");
    assert_eq!(ok.echo().body, "a=1");
    let methods: Vec<String> = (s.echo.requests().iter())
        .map(|r| r.method.clone())
        .collect();
    assert_eq!(
        methods,
        ["DELETE", "POST"],
        "only the controls went upstream"
    );
    assert_eq!(authorized_keys(&s), [USER_KEY, USER_KEY]);
}

fn with_defaults(location: &str) -> serde_json::Value {
    json!({"credentials_location": location, "policy_chain": [
        {"name": "default_credentials", "configuration": {"auth_type": "user_key", "user_key": "anon"}},
        {"name": "apicast"}]})
}

/// `default_credentials` authorize a request without a key, not one whose form body carries
/// a key APIcast does not read (a `DELETE`'s, a `POST`'s without a content type): the
/// upstream reads `victim` there while `anon` is metered (found by an audit, 2026-12-06).
#[test]
fn default_credentials_do_not_stand_for_a_key_in_a_body_apicast_does_not_read() {
    let s = Stack::start_with(
        config(vec![any_path(
            3,
            "anon.example.com",
            with_defaults("query"),
        )]),
        victim_state(&["3"]),
        |b| b,
    );
    let anon = |method: &str| Request::new(method, "/x").header("Host", "anon.example.com");
    for (what, request) in [
        (
            "DELETE form",
            anon("DELETE").form(&[("user_key", "victim")]),
        ),
        ("GET form", anon("GET").form(&[("user.key", "victim")])),
        ("POST without type", anon("POST").body("user_key=victim")),
    ] {
        let r = request.send(s.port());
        assert_eq!((r.status, r.body.as_str()), REFUSED, "{what}: {r}");
    }
    let ok = anon("DELETE").form(&[("a", "1")]).send(s.port());
    assert_eq!(ok.status, 200, "{ok}");
    assert_eq!(ok.echo().body, "a=1");
    assert_eq!(s.echo.requests().len(), 1, "only the control went upstream");
    assert_eq!(authorized_keys(&s), ["anon"]);
}

/// With `credentials_location: authorization`, an `Authorization: Basic` Tollgate cannot
/// decode (URL-safe base64, which Node reads; no colon; a space inside) or a second
/// `Authorization` header is auth failed, not the default credentials' caller (found by an
/// audit, 2026-12-06).
#[test]
fn default_credentials_do_not_stand_for_an_authorization_unreadable_here() {
    let s = Stack::start_with(
        config(vec![any_path(
            4,
            "basic.example.com",
            with_defaults("authorization"),
        )]),
        victim_state(&["4"]),
        |b| b,
    );
    let basic = |values: &[&str]| {
        (values.iter())
            .fold(
                Request::get("/x").header("Host", "basic.example.com"),
                |r, v| r.header("Authorization", v),
            )
            .send(s.port())
    };
    for values in [
        &["Basic dml-fnRpbT4_Og"][..],
        &["Basic dmljdGlt"],
        &["Basic dmljdGlt Og=="],
        &["Digest x", "Basic dmljdGltOg=="],
    ] {
        let r = basic(values);
        assert_eq!((r.status, r.body.as_str()), REFUSED, "{values:?}: {r}");
    }
    let ok = basic(&[]);
    assert_eq!(ok.status, 200, "{ok}");
    let ok = basic(&["Basic dmljdGltOg=="]);
    assert_eq!(ok.status, 200, "a readable Basic is the caller's: {ok}");
    assert_eq!(
        ok.echo().header("authorization"),
        Some("Basic dmljdGltOg==")
    );
    assert_eq!(
        s.echo.requests().len(),
        2,
        "only the controls went upstream"
    );
    assert_eq!(authorized_keys(&s), ["anon", "victim"]);
}
