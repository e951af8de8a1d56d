//! A method override on a method other than `POST`: Slim 4 and CakePHP 4 apply the header
//! whatever the method, CakePHP a `_method` in a `PUT`, `PATCH` or `DELETE` form body too.
//! One naming another method is a bad request, as on `POST` (found by an audit, 2026-12-07).

use super::fake_envoy::decide_with_form;
use super::*;
use crate::auth::digest::stored_form;
use crate::auth::signed_url::sign;
use serde_json::json;

const FORM: (&str, &str) = ("content-type", "application/x-www-form-urlencoded");
/// May read and update `models`, not delete them.
const EDITOR: (&str, &str) = ("x-api-key", "EDITKEY");
const SECRET: &str = "0123456789abcdef0123";

fn config() -> Config {
    let auth = json!({"mode": "local", "api_keys": {"header": "X-API-Key", "keys": [
            {"id": "editor", "hash": stored_form("EDITKEY"),
             "grants": [{"namespace": "models", "actions": ["read", "update"]}]}]},
        "signed_urls": {"secret": SECRET}});
    let v = json!({"backend": {"cluster": "b"}, "services": [{"id": 1, "backend_version": 1,
        "authentication": auth, "proxy": {"hosts": ["api"], "proxy_rules": [
            {"http_method": "ANY", "pattern": "/models", "metric_system_name": "hits",
             "delta": 1, "namespace": "models"},
            {"http_method": "GET", "pattern": "/files", "metric_system_name": "hits",
             "delta": 1}]}}]});
    Config::parse(v.to_string().as_bytes()).unwrap().config
}

/// The reply (status, body), or 0 when forwarded. `body`: read when the request waits for
/// it, which it must when `body` is not empty.
fn decide(
    method: &str,
    path: &str,
    headers: &[(&'static str, &'static str)],
    body: &str,
) -> (u16, String) {
    match decide_with_form(&config(), method, path, headers, body) {
        Err(reply) => (reply.status, reply.body),
        Ok(_) => (0, String::new()),
    }
}

fn bad_request() -> (u16, String) {
    (400, "Bad Request: method override".into())
}

#[test]
fn an_override_header_naming_another_method_is_refused_on_every_method() {
    assert_eq!(decide("DELETE", "/models/7", &[EDITOR], "").0, 403);
    for method in ["GET", "PUT", "PATCH", "DELETE", "HEAD"] {
        for (name, value) in [
            ("x-http-method-override", "DELETE"),
            ("x-http-method", "PATCH"),
            ("x_method_override", "PUT"),
        ] {
            if value == method {
                continue;
            }
            let got = decide(method, "/models/7", &[EDITOR, (name, value)], "");
            assert_eq!(got, bad_request(), "{method} {name}: {value}");
        }
    }
    let own = ("x-http-method-override", "get");
    assert_eq!(decide("GET", "/models/7", &[EDITOR, own], "").0, 0);
    let url = sign(SECRET.as_bytes(), "GET", "/files/7", 100).unwrap();
    assert_eq!(decide("GET", &url, &[], "").0, 0);
    let delete = ("x-http-method-override", "DELETE");
    assert_eq!(decide("GET", &url, &[delete], ""), bad_request());
}

#[test]
fn a_form_method_field_naming_another_method_is_refused_on_put_patch_and_delete() {
    for method in ["PUT", "PATCH", "DELETE"] {
        for body in ["_method=POST", "a=1&_method=GET", "a=1&.method=POST"] {
            let got = decide(method, "/models/7", &[EDITOR, FORM], body);
            assert_eq!(got, bad_request(), "{method} {body}");
        }
    }
    assert_eq!(
        decide("PUT", "/models/7", &[EDITOR, FORM], "_method=DELETE"),
        bad_request()
    );
    assert_eq!(
        decide("PUT", "/models/7", &[EDITOR, FORM], "_method=put").0,
        0
    );
    assert_eq!(decide("PUT", "/models/7", &[EDITOR, FORM], "name=x").0, 0);
    // A `_method` in a query other than a `POST`'s is not an override.
    assert_eq!(
        decide("PUT", "/models/7?_method=DELETE", &[EDITOR], "").0,
        0
    );
}
