//! Red team (audit of s19c, 2026-12-06): combinations of features earlier audits took one at a
//! time. Each test asserts what the client got, what the upstream (echo) received and what
//! the backend (mock) was asked.
//!
//! Finding, fixed (4 tests, failing on s19c; one root cause, `core/src/pipeline/access.rs`
//! `names_another_caller`): under `local+3scale` the rule "a user_key or app_id the request
//! carries where the service reads credentials must be the caller's id" is skipped for every
//! signed URL ("its args are its signer's", true of the signed query only) and for every
//! caller on a `credentials_location: authorization` service ("the header is the local
//! credential", true only when the local credential came from it). So a signed `POST` with
//! `user_key=victim` in its form body, a signed URL with a `user_key: victim` header, a
//! signed URL or a header API key with `Authorization: Basic victim:` reach the upstream,
//! metered as `signed-url` / the key id.
//!
//! Held (passing guards): the batching cache across path-routed services on one host;
//! path routing sends `HEAD`, `//x`, `/x/`, `/%61...` of a guarded local path to the guarding
//! service, never to a public `mode: none` one; a CORS `OPTIONS` that is not a preflight
//! needs credentials; OIDC with `credentials_location: headers` refuses another `app_id`.

mod support;

use e2e::jwt::now;
use e2e::mock_backend::{App, Service as MockService, State};
use e2e::Request;
use serde_json::{json, Value};
use support::batching::{assert_reported_exactly, batching};
use support::*;
use tollgate_core::auth::digest::stored_form;
use tollgate_core::auth::signed_url;

const READER_KEY: &str = "rk_redteam_5f0c8e7a1b2d4c6e9f1a3b5c7d9e0f21";
const SHARED: &str = "shared.example.com";

/// Service 1 (user_key, `GET /one`) and service 3 (user_key, `GET /three`, no application
/// for [`USER_KEY`]) on one host, path routing on.
fn two_user_key_services() -> Value {
    let one = service(
        1,
        json!(1),
        json!({"hosts": [SHARED], "proxy_rules": [
            {"http_method": "GET", "pattern": "/one", "metric_system_name": "hits", "delta": 1}]}),
    );
    let three = service(
        3,
        json!(1),
        json!({"hosts": [SHARED], "proxy_rules": [
            {"http_method": "GET", "pattern": "/three", "metric_system_name": "hits", "delta": 1}]}),
    );
    let mut c = config(vec![one, three]);
    c["path_routing"] = json!(true);
    c
}

fn state_with_service_3() -> e2e::mock_backend::State {
    backend_state().service(
        MockService::new("3")
            .token(TOKEN)
            .backend_version("1")
            .metric("hits", None),
    )
}

/// A key authorized (and cached) for one service reaches nothing of another service on the
/// same host chosen by path routing: the cache holds (service, credentials, usage).
#[test]
fn batching_cache_does_not_carry_a_key_across_path_routed_services() {
    let mut c = two_user_key_services();
    c["backend"]["batching"] = batching(60);
    let s = Stack::start_with(c, state_with_service_3(), |b| b);
    let get = |p: &str| {
        Request::get(&format!("{p}?user_key={USER_KEY}"))
            .header("Host", SHARED)
            .send(s.port())
    };
    for _ in 0..2 {
        let r = get("/one");
        assert_eq!(r.status, 200, "{r}");
    }
    for _ in 0..2 {
        let r = get("/three");
        assert_eq!(r.status, 403, "service 3 has no such app: {r}");
    }
    let paths: Vec<String> = s.echo.requests().iter().map(|r| r.path.clone()).collect();
    assert_eq!(paths, vec![format!("/one?user_key={USER_KEY}"); 2]);
    let asked: Vec<Option<String>> = (s.backend.requests().iter())
        .filter(|r| r.path == "/transactions/authorize.xml")
        .map(|r| r.param("service_id").map(str::to_string))
        .collect();
    assert_eq!(asked.len(), 2, "one miss per service: {asked:?}");
    assert!(asked.contains(&Some("3".into())), "{asked:?}");
    assert_reported_exactly(&s, &[("1", "app-1", "hits", 2), ("3", "app-1", "hits", 0)]);
}

/// A local service (API keys with grants) and a public `mode: none` service share a host with
/// path routing. The local service's `GET /admin` rule needs an `admin` grant; the public
/// service has `GET /` last. `HEAD` (which a `GET` rule covers), `//admin`, `/admin/` and
/// `/%61dmin` must reach the local service, never the public one.
#[test]
fn path_routing_sends_every_reading_of_a_guarded_path_to_the_guarding_service() {
    let local = json!({
        "id": 10, "authentication": {"mode": "local", "api_keys": {"header": "X-API-Key", "keys": [
            {"id": "reader", "hash": stored_form(READER_KEY),
             "grants": [{"namespace": "docs", "actions": ["read"]}]}]}},
        "proxy": {"hosts": [SHARED], "secret_token": "local-secret", "proxy_rules": [
            {"http_method": "GET", "pattern": "/admin", "metric_system_name": "hits", "delta": 1,
             "namespace": "admin"}]}
    });
    let open = json!({
        "id": 11, "authentication": {"mode": "none"},
        "proxy": {"hosts": [SHARED], "secret_token": "open-secret", "proxy_rules": [
            {"http_method": "ANY", "pattern": "/", "metric_system_name": "hits", "delta": 1}]}
    });
    let mut c = config(vec![local, open]);
    c["path_routing"] = json!(true);
    let s = Stack::start(c);
    for (method, path) in [
        ("GET", "/admin"),
        ("HEAD", "/admin"),
        ("GET", "//admin"),
        ("GET", "/admin/"),
        ("GET", "/%61dmin"),
        ("HEAD", "/%61dmin/x"),
        ("GET", "/admin?x=1"),
    ] {
        let r = Request::new(method, path)
            .header("Host", SHARED)
            .send(s.port());
        assert_eq!(r.status, 401, "{method} {path} without a key: {r}");
        let r = Request::new(method, path)
            .header("Host", SHARED)
            .header("X-API-Key", READER_KEY)
            .send(s.port());
        assert_eq!(
            r.status, 403,
            "{method} {path} without the admin grant: {r}"
        );
    }
    assert_eq!(s.echo.request_count(), 0, "{:?}", s.echo.requests());
    // The public service still serves what the local one does not guard.
    let r = Request::get("/docs").header("Host", SHARED).send(s.port());
    assert_eq!(r.status, 200, "{r}");
    let seen = s.echo.last_request().unwrap();
    assert!(
        seen.headers.iter().any(
            |(k, v)| k.eq_ignore_ascii_case("x-3scale-proxy-secret-token") && v == "open-secret"
        ),
        "{seen:?}"
    );
    assert!(s.backend.requests().is_empty());
}

/// `cors` before `apicast` on a 3scale service: an `OPTIONS` with an `Origin` but no
/// `Access-Control-Request-Method` is not a preflight and needs a key like any request; a real
/// preflight is answered by the filter, never forwarded, never reported.
#[test]
fn an_options_that_is_not_a_preflight_is_authorized_like_any_request() {
    let chain =
        json!([{"name": "cors", "configuration": {"allow_origin": "*"}}, {"name": "apicast"}]);
    let proxy = json!({"policy_chain": chain, "proxy_rules": [
        {"http_method": "ANY", "pattern": "/", "metric_system_name": "hits", "delta": 1}]});
    let s = Stack::start(config(vec![service(1, json!(1), proxy)]));
    let opt = || {
        Request::options("/admin")
            .header("Host", "api.example.com")
            .header("Origin", "https://evil.example")
    };
    let r = opt().send(s.port());
    assert_eq!(r.status, 401, "not a preflight: {r}");
    let r = opt()
        .header("Access-Control-Request-Headers", "x")
        .send(s.port());
    assert_eq!(r.status, 401, "still not a preflight: {r}");
    let r = opt()
        .header("Access-Control-Request-Method", "DELETE")
        .send(s.port());
    assert!(r.status < 300, "a preflight is answered: {r}");
    assert!(!r.from_echo(), "{r}");
    assert_eq!(s.echo.request_count(), 0, "{:?}", s.echo.requests());
    assert!(s.authreps().is_empty());
    let r = opt()
        .header("Access-Control-Request-Method", "DELETE")
        .method("POST")
        .send(s.port());
    assert_eq!(r.status, 401, "a POST is no preflight: {r}");
    let r = Request::options(&format!("/admin?user_key={USER_KEY}"))
        .header("Host", "api.example.com")
        .send(s.port());
    assert_eq!(r.status, 200, "{r}");
    assert_eq!(s.echo.request_count(), 1);
    assert_eq!(s.authreps().len(), 1);
}

const URL_SECRET: &str = "url-signing-secret-redteam-0123456789";
const SIGNED_HOST: &str = "files.example.com";

/// A `local+3scale` service (id 8, version 1) that accepts only signed URLs: they are metered
/// as the application whose `user_key` is the literal `signed-url` (README, Local
/// authentication). `app-victim` is another application of the service.
fn signed_stack(location: &str) -> Stack {
    let state = State::new()
        .service(
            MockService::new("8")
                .token(TOKEN)
                .backend_version("1")
                .metric("hits", None),
        )
        .app(
            App::new("8", "app-signed")
                .user_key("signed-url")
                .plan("Basic"),
        )
        .app(App::new("8", "app-victim").user_key("victim").plan("Basic"));
    let svc = json!({
        "id": 8, "backend_version": 1,
        "backend_authentication_type": "service_token", "backend_authentication_value": TOKEN,
        "authentication": {"mode": "local+3scale", "signed_urls": {"secret": URL_SECRET}},
        "proxy": {"hosts": [SIGNED_HOST], "credentials_location": location,
            "proxy_rules": [{"http_method": "ANY", "pattern": "/", "metric_system_name": "hits", "delta": 1}]}
    });
    Stack::start_with(config(vec![svc]), state, |b| b)
}

fn sign(method: &str, target: &str) -> String {
    signed_url::sign(URL_SECRET.as_bytes(), method, target, now() + 300).unwrap()
}

/// With `local+3scale`, "a user_key or app_id the request carries where the service reads
/// credentials ... must be that id" (README, Local authentication): for a signed URL the id
/// is `signed-url`. A signed `POST`'s body is the client's own payload, not signed: a
/// `user_key=victim` there must be auth failed (PHP's `$_REQUEST`, Laravel's `input()`
/// read it as the caller), as it is beside an API key, a Basic user or a token.
// Found by an audit (2026-12-06), fixed: local+3scale signed URL: a user_key in a POST form body is not checked against the caller id `signed-url`
#[test]
fn a_signed_post_whose_form_names_another_user_key_is_auth_failed_under_local_then_3scale() {
    let s = signed_stack("query");
    let url = sign("POST", "/uploads/a");
    let post = |form: &[(&str, &str)]| {
        Request::post(&url)
            .header("Host", SIGNED_HOST)
            .form(form)
            .send(s.port())
    };
    let ok = post(&[("note", "hi")]);
    assert_eq!(ok.status, 200, "{ok}");
    assert_eq!(s.authreps().len(), 1);
    assert_eq!(s.authreps()[0].param("user_key"), Some("signed-url"));
    for form in [
        &[("user_key", "victim")][..],
        &[("note", "hi"), ("user.key", "victim")][..],
    ] {
        let r = post(form);
        assert_eq!(
            (r.status, r.body.as_str()),
            (403, "Authentication failed"),
            "{form:?}: {r}"
        );
    }
    assert_eq!(s.echo.request_count(), 1, "{:?}", s.echo.requests());
    assert_eq!(s.authreps().len(), 1, "no authrep for the refused ones");
}

/// The same with `credentials_location: headers`: headers are not part of a signed URL, so a
/// `user_key` header beside it names another caller than `signed-url` and is auth failed.
// Found by an audit (2026-12-06), fixed: local+3scale signed URL with credentials_location headers: a user_key header naming another app is forwarded
#[test]
fn a_signed_url_with_a_user_key_header_of_another_app_is_auth_failed_under_local_then_3scale() {
    let s = signed_stack("headers");
    let url = sign("GET", "/files/r.pdf");
    let get = || Request::get(&url).header("Host", SIGNED_HOST);
    let ok = get().send(s.port());
    assert_eq!(ok.status, 200, "{ok}");
    assert_eq!(s.authreps()[0].param("user_key"), Some("signed-url"));
    for name in ["user_key", "User-Key"] {
        let r = get().header(name, "victim").send(s.port());
        assert_eq!(
            (r.status, r.body.as_str()),
            (403, "Authentication failed"),
            "{name}: {r}"
        );
    }
    let r = get().header("user_key", "signed-url").send(s.port());
    assert_eq!(r.status, 200, "its own id is no other caller: {r}");
    assert_eq!(s.echo.request_count(), 2, "{:?}", s.echo.requests());
    assert_eq!(s.authreps().len(), 2, "no authrep for the refused ones");
}

/// With `credentials_location: authorization` the header is "the local credential itself"
/// (README) for keys, users and tokens; a signed URL is none of them, so an `Authorization:
/// Basic victim:` (or `Bearer victim`) beside it names another application for an upstream
/// that reads 3scale credentials from it, and must be auth failed.
// Found by an audit (2026-12-06), fixed: local+3scale signed URL with credentials_location authorization: a Basic credential naming another app is forwarded
#[test]
fn a_signed_url_with_an_authorization_of_another_app_is_auth_failed_under_local_then_3scale() {
    let s = signed_stack("authorization");
    let url = sign("GET", "/files/r.pdf");
    let get = || Request::get(&url).header("Host", SIGNED_HOST);
    let ok = get().send(s.port());
    assert_eq!(ok.status, 200, "{ok}");
    assert_eq!(s.authreps()[0].param("user_key"), Some("signed-url"));
    for value in [
        e2e::base64::basic_auth("victim", ""),
        "Bearer victim".to_string(),
    ] {
        let r = get().header("Authorization", &value).send(s.port());
        assert_eq!(
            (r.status, r.body.as_str()),
            (403, "Authentication failed"),
            "{value}: {r}"
        );
    }
    assert_eq!(s.echo.request_count(), 1, "{:?}", s.echo.requests());
    assert_eq!(s.authreps().len(), 1, "no authrep for the refused ones");
}

/// `local+3scale` with `credentials_location: authorization` and API keys read from a header
/// only (no `basic_username`): the caller is the key's id, and an `Authorization` header
/// naming another application (`Basic victim:`, `Bearer victim`) is not the local
/// credential ("the header read is the local credential itself" holds only when the local
/// credential came from it). The upstream would read `victim` where the service reads 3scale
/// credentials: auth failed, no backend call.
// Found by an audit (2026-12-06), fixed: local+3scale with credentials_location authorization: an API key from its header plus an Authorization naming another app is forwarded
#[test]
fn an_api_key_with_an_authorization_of_another_app_is_auth_failed_under_local_then_3scale() {
    let state = State::new()
        .service(
            MockService::new("8")
                .token(TOKEN)
                .backend_version("1")
                .metric("hits", None),
        )
        .app(App::new("8", "app-reader").user_key("reader").plan("Basic"))
        .app(App::new("8", "app-victim").user_key("victim").plan("Basic"));
    let svc = json!({
        "id": 8, "backend_version": 1,
        "backend_authentication_type": "service_token", "backend_authentication_value": TOKEN,
        "authentication": {"mode": "local+3scale", "api_keys": {"header": "X-API-Key", "keys": [
            {"id": "reader", "hash": stored_form(READER_KEY)}]}},
        "proxy": {"hosts": [SIGNED_HOST], "credentials_location": "authorization",
            "proxy_rules": [{"http_method": "ANY", "pattern": "/", "metric_system_name": "hits", "delta": 1}]}
    });
    let s = Stack::start_with(config(vec![svc]), state, |b| b);
    let get = || {
        Request::get("/files/r.pdf")
            .header("Host", SIGNED_HOST)
            .header("X-API-Key", READER_KEY)
    };
    let ok = get().send(s.port());
    assert_eq!(ok.status, 200, "{ok}");
    assert_eq!(s.authreps()[0].param("user_key"), Some("reader"));
    for value in [
        e2e::base64::basic_auth("victim", ""),
        "Bearer victim".to_string(),
    ] {
        let r = get().header("Authorization", &value).send(s.port());
        assert_eq!(
            (r.status, r.body.as_str()),
            (403, "Authentication failed"),
            "{value}: {r}"
        );
    }
    assert_eq!(s.echo.request_count(), 1, "{:?}", s.echo.requests());
    assert_eq!(s.authreps().len(), 1, "no authrep for the refused ones");
}

/// OIDC (`backend_version: oauth`) with `credentials_location: headers`: an `app_id` header
/// naming another application beside the verified token is auth failed, as in the query.
#[test]
fn oidc_with_an_app_id_header_of_another_app_is_auth_failed() {
    let signer = e2e::jwt::Signer::hs256(b"0123456789abcdef0123456789abcdef-rt", "hs-rt");
    let issuer = "https://idp.example.com/realms/demo";
    let svc = json!({
        "id": 5, "backend_version": "oauth",
        "backend_authentication_type": "service_token", "backend_authentication_value": TOKEN,
        "authentication": {"jwt": {"jwks": e2e::jwt::Signer::jwks(&[&signer]), "issuer": issuer}},
        "proxy": {"hosts": ["oidc.example.com"], "authentication_method": "oidc",
            "credentials_location": "headers",
            "proxy_rules": [{"http_method": "GET", "pattern": "/", "metric_system_name": "hits", "delta": 1}]}
    });
    let s = Stack::start_with(config(vec![svc]), oidc_state(), |b| b);
    let token = signer.token(&json!({"iss": issuer, "aud": "account", "sub": "user-1",
        "azp": "client-1", "exp": now() + 300}));
    let get = || {
        Request::get("/r")
            .header("Host", "oidc.example.com")
            .header("Authorization", &format!("Bearer {token}"))
    };
    let ok = get().send(s.port());
    assert_eq!(ok.status, 200, "{ok}");
    for (name, value) in [("app_id", "victim"), ("App-Id", "victim")] {
        let r = get().header(name, value).send(s.port());
        assert_eq!(
            (r.status, r.body.as_str()),
            (403, "Authentication failed"),
            "{name}: {r}"
        );
    }
    let r = get().header("app_id", "client-1").send(s.port());
    assert_eq!(r.status, 200, "its own client id: {r}");
    assert_eq!(s.echo.request_count(), 2, "{:?}", s.echo.requests());
    let asked = (s.backend.requests().iter())
        .filter(|r| r.path == "/transactions/oauth_authrep.xml")
        .count();
    assert_eq!(asked, 2, "no backend call for the refused ones");
}

/// The same rule holds for the other kind of credential: on a version 1 service a header
/// `app_id: victim` names another caller for an upstream that reads 3scale credentials as
/// version 2 names them, as the query's `app_id=victim` already did (the query is checked for
/// both names; the headers were checked for the service's own kind only).
// Found in review (2026-12-06, twentieth session), fixed: local+3scale with credentials_location headers: an app_id header on a version 1 service was forwarded
#[test]
fn a_signed_url_with_an_app_id_header_of_another_app_is_auth_failed_under_local_then_3scale() {
    let s = signed_stack("headers");
    let url = sign("GET", "/files/r.pdf");
    let get = || Request::get(&url).header("Host", SIGNED_HOST);
    for name in ["app_id", "App-Id"] {
        let r = get().header(name, "victim").send(s.port());
        assert_eq!(
            (r.status, r.body.as_str()),
            (403, "Authentication failed"),
            "{name}: {r}"
        );
    }
    let r = get().header("app_id", "signed-url").send(s.port());
    assert_eq!(r.status, 200, "its own id is no other caller: {r}");
    assert_eq!(s.echo.request_count(), 1, "{:?}", s.echo.requests());
    assert_eq!(s.authreps().len(), 1, "no authrep for the refused ones");
    assert_eq!(s.authreps()[0].param("user_key"), Some("signed-url"));
}
