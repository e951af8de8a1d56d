//! The session's review of its own denials (2026-12-06): `local+3scale` with the caller's
//! credential in `Authorization` (the header read is the credential itself, not a second
//! one), a `user_key` in a spelling an upstream reads as one beside a verified token, and a
//! signed URL whose request only declares a JSON content type; a header the query location
//! does not read naming another caller (2026-12-07). Each asserts the answer and
//! what the upstream and the backend received.

mod support;

use e2e::jwt::{now, Signer};
use e2e::mock_backend::{App, Service, State};
use e2e::Request;
use serde_json::{json, Value};
use support::*;
use tollgate_core::auth::signed_url;

const ISSUER: &str = "https://idp.example.com/realms/demo";
const HOST: &str = "jwt.example.com";

fn signer() -> Signer {
    Signer::hs256(b"0123456789abcdef0123456789abcdef-cc", "hs-1")
}

fn token() -> String {
    signer().token(&json!({"iss": ISSUER, "aud": "orders-api", "sub": "user-1",
        "azp": "client-1", "exp": now() + 300}))
}

/// A `local+3scale` JWT service, version 1: the token's `azp` is the `user_key` metered.
fn stack(location: &str) -> Stack {
    let state = State::new()
        .service(
            Service::new("7")
                .token(TOKEN)
                .backend_version("1")
                .metric("hits", None),
        )
        .app(
            App::new("7", "app-client")
                .user_key("client-1")
                .plan("Basic"),
        )
        .app(App::new("7", "app-victim").user_key("victim").plan("Basic"));
    let jwt = json!({"jwks": Signer::jwks(&[&signer()]), "issuer": ISSUER,
        "audiences": ["orders-api"]});
    let svc = json!({
        "id": 7, "backend_version": 1,
        "backend_authentication_type": "service_token", "backend_authentication_value": TOKEN,
        "authentication": {"mode": "local+3scale", "jwt": jwt},
        "proxy": {"hosts": [HOST], "credentials_location": location,
            "proxy_rules": [{"http_method": "GET", "pattern": "/", "metric_system_name": "hits", "delta": 1}]}
    });
    Stack::start_with(config(vec![svc]), state, |b| b)
}

fn get(s: &Stack, target: &str) -> e2e::Response {
    Request::get(target)
        .header("Host", HOST)
        .header("Authorization", &format!("Bearer {}", token()))
        .send(s.port())
}

/// With `credentials_location: authorization` the Bearer token is where the service reads
/// its credential: it is the caller's, never "another application's".
#[test]
fn a_token_in_authorization_is_the_caller_when_the_service_reads_credentials_there() {
    let s = stack("authorization");
    let r = get(&s, "/orders");
    assert_eq!(r.status, 200, "{r}");
    assert_eq!(r.echo().path, "/orders");
    let calls = s.authreps();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].param("user_key"), Some("client-1"));
}

/// A `user_key` beside the token in a spelling PHP (`user.key`) or `qs` (`user_key[]`)
/// reads as `user_key`: the upstream would read another application than the one metered.
#[test]
fn a_spelled_user_key_beside_a_verified_token_is_auth_failed() {
    let s = stack("query");
    let ok = get(&s, "/orders?user_key=client-1");
    assert_eq!(ok.status, 200, "{ok}");
    for target in [
        "/orders?user.key=victim",
        "/orders?user_key[]=victim",
        "/orders?User_Key=victim",
    ] {
        let r = get(&s, target);
        assert_eq!(
            (r.status, r.body.as_str()),
            (403, "Authentication failed"),
            "{target}: {r}"
        );
    }
    let form = Request::post("/orders")
        .header("Host", HOST)
        .header("Authorization", &format!("Bearer {}", token()))
        .form(&[("user.key", "victim")])
        .send(s.port());
    assert_eq!(form.status, 403, "{form}");
    assert_eq!(
        s.echo.requests().len(),
        1,
        "only the first reached the upstream"
    );
    assert_eq!(s.authreps().len(), 1, "no authrep for the refused ones");
}

/// With the query location, a header the service does not read naming another caller
/// (`User-Key`, `user_key`, or the other kind, `App-Id`) beside the verified token: the
/// upstream could read it while `client-1` was metered (found by an audit, 2026-12-07; the
/// headers location refused them already). The caller's own id in a header is served.
#[test]
fn a_header_naming_another_caller_beside_a_verified_token_is_auth_failed() {
    let s = stack("query");
    let with = |name: &str, value: &str| {
        Request::get("/orders")
            .header("Host", HOST)
            .header("Authorization", &format!("Bearer {}", token()))
            .header(name, value)
            .send(s.port())
    };
    let ok = with("User-Key", "client-1");
    assert_eq!(ok.status, 200, "{ok}");
    for (name, value) in [
        ("User-Key", "victim"),
        ("user_key", "victim"),
        ("App-Id", "victim"),
    ] {
        let r = with(name, value);
        assert_eq!(
            (r.status, r.body.as_str()),
            (403, "Authentication failed"),
            "{name}: {r}"
        );
    }
    assert_eq!(
        s.echo.requests().len(),
        1,
        "only the first reached the upstream"
    );
    let calls = s.authreps();
    assert_eq!(calls.len(), 1, "no authrep for the refused ones");
    assert_eq!(calls[0].param("user_key"), Some("client-1"));
}

const SECRET: &str = "url-signing-secret-0123456789";

fn signed() -> Value {
    local_service(
        json!({"mode": "local", "signed_urls": {"secret": SECRET}}),
        json!([{"http_method": "ANY", "pattern": "/", "metric_system_name": "hits", "delta": 1}]),
    )
}

/// Clients that send `Content-Type: application/json` on every request (SDKs, fetch
/// wrappers) still download a signed `GET`: only a body that follows is refused.
#[test]
fn a_signed_get_declaring_json_without_a_body_is_served_and_with_one_refused() {
    let s = Stack::start(config(vec![signed()]));
    let url = signed_url::sign(SECRET.as_bytes(), "GET", "/files/r.pdf", now() + 300).unwrap();
    let bare = Request::get(&url)
        .header("Host", "local.example.com")
        .header("Content-Type", "application/json")
        .send(s.port());
    assert_eq!(bare.status, 200, "{bare}");
    assert_eq!(bare.echo().path, url);
    let with_body = Request::get(&url)
        .header("Host", "local.example.com")
        .header("Content-Type", "application/json")
        .body(r#"{"owner": "all"}"#)
        .send(s.port());
    assert_eq!(
        (with_body.status, with_body.body.as_str()),
        (403, "Authentication failed")
    );
    assert_eq!(s.echo.requests().len(), 1);
}
