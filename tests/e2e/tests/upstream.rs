//! What the upstream receives, and the debug headers the client may ask for.

mod support;

use e2e::Request;
use serde_json::json;
use support::*;

fn stack() -> Stack {
    Stack::start(config(vec![service(
        1,
        json!(1),
        json!({"secret_token": "the-secret", "proxy_rules": [
            {"http_method": "GET", "pattern": "/foo", "metric_system_name": "hits", "delta": 1},
            {"http_method": "GET", "pattern": "/foo/{id}", "metric_system_name": "get_foo", "delta": 2}
        ]}),
    )]))
}

#[test]
fn secret_token_is_set_and_spoofed_headers_removed() {
    let s = stack();
    let r = Request::get(&format!("/foo?user_key={USER_KEY}"))
        .header("Host", "api.example.com")
        .header("X-3scale-proxy-secret-token", "spoofed")
        .header("X-3scale-Debug", "guess")
        // The same key in a header rides along (another value is auth failed since
        // 2026-12-07: credential_locations.rs).
        .header("user_key", USER_KEY)
        .send(s.port());
    assert_eq!(r.status, 200, "{r}");
    let seen = r.echo();
    assert_eq!(
        seen.header_all("x-3scale-proxy-secret-token"),
        vec!["the-secret"]
    );
    assert!(
        seen.header("x-3scale-debug").is_none(),
        "debug header must not reach upstream"
    );
    assert_eq!(
        seen.path,
        format!("/foo?user_key={USER_KEY}"),
        "credentials are left in place"
    );
    assert_eq!(seen.header("user_key"), Some(USER_KEY));
    assert!(
        r.header("x-3scale-matched-rules").is_none(),
        "no debug headers without the token"
    );
}

#[test]
fn no_secret_token_configured_still_strips_client_value() {
    let s = Stack::start(config(vec![service(1, json!(1), json!({}))]));
    let r = Request::get(&format!("/?user_key={USER_KEY}"))
        .header("Host", "api.example.com")
        .header("X-3scale-proxy-secret-token", "spoofed")
        .send(s.port());
    assert_eq!(r.status, 200, "{r}");
    assert!(r.echo().header("x-3scale-proxy-secret-token").is_none());
}

#[test]
fn debug_headers_only_with_the_right_token() {
    let s = stack();
    let r = Request::get(&format!("/foo/7?user_key={USER_KEY}"))
        .header("Host", "api.example.com")
        .header("X-3scale-Debug", TOKEN)
        .send(s.port());
    assert_eq!(r.status, 200, "{r}");
    assert_eq!(r.header("x-3scale-matched-rules"), Some("/foo, /foo/{id}"));
    assert_eq!(
        r.header("x-3scale-credentials"),
        Some(&*format!("user_key={USER_KEY}"))
    );
    assert_eq!(
        r.header("x-3scale-usage"),
        Some("usage%5Bget_foo%5D=2&usage%5Bhits%5D=1")
    );
    assert_eq!(r.header("x-3scale-service-id"), Some("1"));
    assert_eq!(r.header("x-3scale-service-name"), Some("service-1"));
    assert!(r.echo().header("x-3scale-debug").is_none());

    // Also on a denial; never with a wrong token; never on 401.
    let denied = Request::get("/foo?user_key=wrong")
        .header("Host", "api.example.com")
        .header("X-3scale-Debug", TOKEN)
        .send(s.port());
    assert_eq!(denied.status, 403);
    assert_eq!(denied.header("x-3scale-usage"), Some("usage%5Bhits%5D=1"));
    let wrong = Request::get(&format!("/foo?user_key={USER_KEY}"))
        .header("Host", "api.example.com")
        .header("X-3scale-Debug", "not-the-token")
        .send(s.port());
    assert_eq!(wrong.status, 200);
    assert!(wrong.header("x-3scale-usage").is_none());
    let missing = Request::get("/foo")
        .header("Host", "api.example.com")
        .header("X-3scale-Debug", TOKEN)
        .send(s.port());
    assert_eq!(missing.status, 401);
    assert!(missing.header("x-3scale-usage").is_none());
}

/// api_backend gives the upstream its path prefix and Host; hostname_rewrite overrides that Host.
#[test]
fn api_backend_and_hostname_rewrite_shape_the_upstream_request() {
    let s = Stack::start(config(vec![
        service(
            1,
            json!(1),
            json!({"api_backend": "http://internal.example:8081/v1"}),
        ),
        service(
            2,
            json!(2),
            json!({"hosts": ["rewrite.example.com"], "api_backend": "https://internal.example", "hostname_rewrite": "vhost.example"}),
        ),
    ]));
    let r = Request::get(&format!("/items?user_key={USER_KEY}"))
        .header("Host", "api.example.com")
        .send(s.port());
    assert_eq!(r.status, 200, "{r}");
    let seen = r.echo();
    assert_eq!(seen.path, format!("/v1/items?user_key={USER_KEY}"));
    assert_eq!(seen.header("host"), Some("internal.example:8081"));

    // hostname_rewrite wins over api_backend's host.
    let r = Request::get(&format!("/?app_id={APP_ID}&app_key={APP_KEY}"))
        .header("Host", "rewrite.example.com")
        .send(s.port());
    assert_eq!(r.status, 200, "{r}");
    let seen = r.echo();
    assert_eq!(seen.header_all("host"), vec!["vhost.example"]);
    assert_eq!(seen.path, format!("/?app_id={APP_ID}&app_key={APP_KEY}"));
    assert_eq!(s.authreps()[1].param("service_id"), Some("2"));
}
