//! Local authentication audit (2026-12-05): credentials presented in two places where Tollgate
//! authenticated one and an upstream reads the other (a key as the Basic username, with or
//! without a password, and another in the header, the query or a form body; a second
//! `Authorization` joined by Envoy), and a signed URL whose args a form body redefines. Each
//! test asserts what a safe filter does (refused, nothing at the upstream) and failed on the
//! module before its fix.

mod support;

use e2e::base64::basic_auth;
use e2e::jwt::now;
use e2e::Request;
use serde_json::{json, Value};
use support::*;
use tollgate_core::auth::digest::stored_form;
use tollgate_core::auth::signed_url;

/// A valid key, holding only the `reports` grant.
const READER_KEY: &str = "rk_5f0c8e7a1b2d4c6e9f1a3b5c7d9e0f21";
/// Another caller's key (e.g. revoked here, still known to the upstream).
const OTHER_KEY: &str = "ak_0000000000000000000000000000admin";

fn keys(header: bool, query: bool) -> Value {
    let mut k = json!({
        "basic_username": true,
        "keys": [{"id": "reader", "hash": stored_form(READER_KEY),
                  "grants": [{"namespace": "reports", "actions": ["*"]}]}]
    });
    if header {
        k["header"] = json!("APIKey");
    }
    if query {
        k["query"] = json!("api_key");
    }
    k
}

fn any_rule() -> Value {
    json!([{"http_method": "ANY", "pattern": "/", "metric_system_name": "hits", "delta": 1}])
}

fn req(method: &str, target: &str) -> Request {
    Request::new(method, target).header("Host", "local.example.com")
}

fn upstream(s: &Stack) -> Vec<String> {
    s.echo
        .requests()
        .iter()
        .map(|q| format!("{} {} {:?}", q.method, q.path, q.headers))
        .collect()
}

fn refused(s: &Stack, r: &e2e::Response, what: &str) {
    assert_eq!(
        (r.status, r.body.as_str()),
        (403, "Authentication failed"),
        "{what}\nupstream received: {:?}",
        upstream(s)
    );
    assert!(s.echo.requests().is_empty(), "{what}: {:?}", upstream(s));
}

/// Keys from the `APIKey` header and as a Basic username. README: "A key in the header and
/// another in the query or a form body, or one sent twice with different values, is auth
/// failed". A key as Basic username and another in the header is authenticated on the Basic
/// one (the header is never read once `Authorization` authenticates) and both go upstream: an
/// upstream reading `APIKey` (as the configuration says keys come) takes the caller for the
/// other key's owner.
#[test]
fn a_second_key_in_the_header_rides_along_with_a_basic_key() {
    let auth = json!({"mode": "local", "api_keys": keys(true, false)});
    let s = Stack::start(config(vec![local_service(auth, any_rule())]));
    // Controls: either place alone passes; an unknown key in the header alone is refused.
    let r = req("GET", "/me")
        .header("Authorization", &basic_auth(READER_KEY, ""))
        .send(s.port());
    assert_eq!(r.status, 200, "{r}");
    let r = req("GET", "/me")
        .header("APIKey", READER_KEY)
        .send(s.port());
    assert_eq!(r.status, 200, "{r}");
    let r = req("GET", "/me").header("APIKey", OTHER_KEY).send(s.port());
    assert_eq!(r.status, 403, "{r}");
    s.echo.clear();

    let r = req("GET", "/me")
        .header("Authorization", &basic_auth(READER_KEY, ""))
        .header("APIKey", OTHER_KEY)
        .send(s.port());
    refused(&s, &r, "a Basic key and another key in the APIKey header");
}

/// The same with the `api_key` query arg: the Basic key authenticates, an upstream reading
/// `req.query.api_key` (Express) or `$_GET['api_key']` (PHP) reads another one.
#[test]
fn a_second_key_in_the_query_rides_along_with_a_basic_key() {
    let auth = json!({"mode": "local", "api_keys": keys(false, true)});
    let s = Stack::start(config(vec![local_service(auth, any_rule())]));
    let r = req("GET", &format!("/me?api_key={OTHER_KEY}")).send(s.port());
    assert_eq!(
        r.status, 403,
        "control: the other key alone is refused: {r}"
    );
    let r = req("GET", "/me")
        .header("Authorization", &basic_auth(READER_KEY, ""))
        .send(s.port());
    assert_eq!(r.status, 200, "{r}");
    s.echo.clear();

    let r = req("GET", &format!("/me?api_key={OTHER_KEY}"))
        .header("Authorization", &basic_auth(READER_KEY, ""))
        .send(s.port());
    refused(&s, &r, "a Basic key and another key in the query");
}

/// The same with the key in a form body (read for query keys on `POST`): `$_POST['api_key']`,
/// Rack's `params`, Express's `req.body.api_key` read the other key.
#[test]
fn a_second_key_in_the_form_body_rides_along_with_a_basic_key() {
    let auth = json!({"mode": "local", "api_keys": keys(false, true)});
    let s = Stack::start(config(vec![local_service(auth, any_rule())]));
    let r = req("POST", "/me")
        .header("Authorization", &basic_auth(READER_KEY, ""))
        .form(&[("note", "x")])
        .send(s.port());
    assert_eq!(r.status, 200, "control: {r}");
    s.echo.clear();

    let r = req("POST", "/me")
        .header("Authorization", &basic_auth(READER_KEY, ""))
        .form(&[("api_key", OTHER_KEY)])
        .send(s.port());
    refused(&s, &r, "a Basic key and another key in the form body");
}

/// A key-as-username service (no Basic users) that also reads the `APIKey` header. A Basic
/// credential with a password is not read at all (keys come with an empty password), so the
/// header's key authenticates while `Authorization: Basic <other key>:x` goes upstream: an
/// upstream reading the key as the Basic username and ignoring the password (the usual
/// key-as-username convention: Stripe, `curl -u KEY:`) reads the other key. An unreadable
/// Basic header is refused on such a service for the same reason (local_upstream_readings).
#[test]
fn a_basic_key_with_a_password_rides_along_with_the_header_key() {
    let auth = json!({"mode": "local", "api_keys": keys(true, false)});
    let s = Stack::start(config(vec![local_service(auth, any_rule())]));
    let r = req("GET", "/me")
        .header("Authorization", &basic_auth(OTHER_KEY, ""))
        .send(s.port());
    assert_eq!(
        r.status, 403,
        "control: the other key as Basic is refused: {r}"
    );
    s.echo.clear();

    let r = req("GET", "/me")
        .header("Authorization", &basic_auth(OTHER_KEY, "x"))
        .header("APIKey", READER_KEY)
        .send(s.port());
    refused(
        &s,
        &r,
        "another key as Basic username (with a password) beside the header key",
    );
}

/// A signed `POST /orders?scope=mine`: the signature covers the query only, and a form body
/// `scope=all` is forwarded with it. PHP's `$_REQUEST` (request_order "GP"), Rack's
/// `Request#params` (`GET.merge(POST)`) and Laravel's `input()` read the body's value over
/// the query's: the upstream serves `scope=all` on a URL signed for `scope=mine`. README: a
/// signed URL "was authorized by its signer for that exact request", and changing "any arg"
/// invalidates it; Tollgate refuses the same query/body disagreement for credentials and for
/// args a rule reads.
#[test]
fn a_form_body_redefines_a_signed_arg() {
    let secret = "url-signing-secret";
    let auth = json!({"mode": "local", "signed_urls": {"secret": secret}});
    let s = Stack::start(config(vec![local_service(auth, json!([]))]));
    let url =
        signed_url::sign(secret.as_bytes(), "POST", "/orders?scope=mine", now() + 300).unwrap();

    // Controls: as signed (with the same value in the body) passes; an added query arg fails.
    let r = req("POST", &url).form(&[("scope", "mine")]).send(s.port());
    assert_eq!(r.status, 200, "{r}");
    let r = req("POST", &format!("{url}&scope=all")).send(s.port());
    assert_eq!(r.status, 403, "{r}");
    s.echo.clear();

    let r = req("POST", &url).form(&[("scope", "all")]).send(s.port());
    let bodies: Vec<String> = s.echo.requests().iter().map(|q| q.body.clone()).collect();
    assert_eq!(
        (r.status, r.body.as_str()),
        (403, "Authentication failed"),
        "a form body redefined a signed arg: upstream bodies {bodies:?}"
    );
    assert!(s.echo.requests().is_empty(), "{:?}", upstream(&s));
}

/// A signed `PUT /files/7?owner=me`: Tollgate does not read a `PUT` form body at all here, and
/// Symfony/Laravel parse `application/x-www-form-urlencoded` bodies of `PUT`, `PATCH` and
/// `DELETE` into `$request->request`, which `input()` prefers to the query: `owner=all`
/// replaces the signed `owner=me`.
#[test]
fn a_put_form_body_redefines_a_signed_arg() {
    let secret = "url-signing-secret";
    let auth = json!({"mode": "local", "signed_urls": {"secret": secret}});
    let s = Stack::start(config(vec![local_service(auth, json!([]))]));
    let url = signed_url::sign(secret.as_bytes(), "PUT", "/files/7?owner=me", now() + 300).unwrap();
    let r = req("PUT", &url).form(&[("owner", "me")]).send(s.port());
    assert_eq!(r.status, 200, "control: {r}");
    s.echo.clear();

    let r = req("PUT", &url).form(&[("owner", "all")]).send(s.port());
    refused(&s, &r, "a PUT form body redefined a signed arg");
}

/// `Authorization` sent twice: first a scheme the service does not read (`Token`), then a
/// Basic credential carrying another key as username. Tollgate reads the first value only,
/// finds nothing in it, never asks whether the header is repeated, and authenticates the
/// `APIKey` header. README (Request handling, step 2): a credential that comes twice with
/// different values, "a header sent twice" included, is auth failed, and "a local
/// `Authorization`" is "refused the same way". (Documented behaviour only: the upstreams
/// checked, Node, Go, Rack on Puma, Werkzeug on gunicorn, take the first or join the values.)
#[test]
fn a_second_authorization_header_behind_an_unread_scheme() {
    let auth = json!({"mode": "local", "api_keys": keys(true, false)});
    let s = Stack::start(config(vec![local_service(auth, any_rule())]));
    let r = req("GET", "/me")
        .header("Authorization", &basic_auth(READER_KEY, ""))
        .header("Authorization", &basic_auth(OTHER_KEY, ""))
        .header("APIKey", READER_KEY)
        .send(s.port());
    assert_eq!(r.status, 403, "control: two Basic values are refused: {r}");
    s.echo.clear();

    let r = req("GET", "/me")
        .header("Authorization", "Token abc")
        .header("Authorization", &basic_auth(OTHER_KEY, ""))
        .header("APIKey", READER_KEY)
        .send(s.port());
    refused(&s, &r, "a second Authorization header with another key");
}

/// Local authentication audit (2026-12-07): keys from the `APIKey` header and the `api_key`
/// query arg (both keys known here), a Basic user `alice` and signed URLs.
fn keys_users_and_signed_urls() -> Value {
    json!({"mode": "local",
        "api_keys": {"header": "APIKey", "query": "api_key", "keys": [
            {"id": "reader", "hash": stored_form(READER_KEY)},
            {"id": "admin", "hash": stored_form(OTHER_KEY)}]},
        "basic_users": [{"username": "alice", "salt": "s", "hash": stored_form("spw")}],
        "signed_urls": {"secret": SIGNING_SECRET}})
}

const SIGNING_SECRET: &str = "url-signing-secret";

/// Refused as auth failed, with nothing at the upstream nor at the backend.
fn refused_locally(s: &Stack, r: &e2e::Response, what: &str) {
    refused(s, r, what);
    assert!(s.backend.requests().is_empty(), "{what}: backend called");
}

/// `?api.key=<other key>` beside the header's key: the decision reads `api_key` only and
/// never compared the other spelling, which PHP (`$_GET['api_key']`), `qs` and Rack
/// (`api_key[]`, `[api_key]`) read as `api_key`. README: "a local key in the header and
/// another in the query" is auth failed; one credential per request.
#[test]
fn a_key_in_another_spelling_of_the_query_arg_rides_along() {
    let s = Stack::start(config(vec![local_service(
        keys_users_and_signed_urls(),
        any_rule(),
    )]));
    let alice = basic_auth("alice", "pw");
    // Controls: the header key alone, with the same key spelled otherwise, and Alice alone.
    let r = req("GET", "/me")
        .header("APIKey", READER_KEY)
        .send(s.port());
    assert_eq!(r.status, 200, "{r}");
    let r = req("GET", &format!("/me?api.key={READER_KEY}"))
        .header("APIKey", READER_KEY)
        .send(s.port());
    assert_eq!(r.status, 200, "{r}");
    let r = req("GET", "/me")
        .header("Authorization", &alice)
        .send(s.port());
    assert_eq!(r.status, 200, "{r}");
    s.echo.clear();

    for name in [
        "api.key",
        "api_key[]",
        "%5Bapi_key%5D",
        "API.KEY",
        "%20api_key",
    ] {
        let target = format!("/me?{name}={OTHER_KEY}");
        let r = req("GET", &target)
            .header("APIKey", READER_KEY)
            .send(s.port());
        refused_locally(&s, &r, &format!("{target} beside the header key"));
        let r = req("GET", &target)
            .header("Authorization", &alice)
            .send(s.port());
        refused_locally(&s, &r, &format!("{target} beside a Basic user"));
    }
    let form = [("api.key", OTHER_KEY)];
    let r = (req("POST", "/me").header("APIKey", READER_KEY))
        .form(&form)
        .send(s.port());
    refused_locally(&s, &r, "a form body's api.key beside the header key");
    let url = signed_url::sign(SIGNING_SECRET.as_bytes(), "POST", "/me", now() + 300).unwrap();
    let r = req("POST", &url).form(&form).send(s.port());
    refused_locally(&s, &r, "a form body's api.key beside a signed URL");
}

/// A form body APIcast does not read for credentials (a `DELETE` or `GET` form, a `POST`
/// without a content type, which Rack reads as a form) was never read for local keys, yet
/// Laravel's `input()` prefers the body's `api_key` on a `DELETE`: the upstream read the other
/// key beside the checked one, a Basic user or a signed URL.
#[test]
fn a_key_in_a_form_body_apicast_does_not_read_rides_along() {
    let s = Stack::start(config(vec![local_service(
        keys_users_and_signed_urls(),
        any_rule(),
    )]));
    let alice = basic_auth("alice", "pw");
    let with_key = |method: &str, target: &str, body: &str| {
        (req(method, target).header("APIKey", READER_KEY))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body.to_string())
            .send(s.port())
    };
    // Controls: such bodies without a key, or with the checked one.
    let r = with_key("DELETE", "/me", "note=x");
    assert_eq!(r.status, 200, "{r}");
    let r = with_key("DELETE", "/me", &format!("api_key={READER_KEY}"));
    assert_eq!(r.status, 200, "{r}");
    s.echo.clear();

    let other = format!("api_key={OTHER_KEY}");
    for method in ["DELETE", "GET"] {
        let r = with_key(method, "/me", &other);
        refused_locally(&s, &r, &format!("{method} form body beside the header key"));
    }
    let r = (req("DELETE", &format!("/me?api_key={READER_KEY}")))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(other.clone())
        .send(s.port());
    refused_locally(&s, &r, "DELETE form body beside the query key");
    let r = (req("POST", "/me").header("APIKey", READER_KEY))
        .body(other.clone())
        .send(s.port());
    refused_locally(
        &s,
        &r,
        "POST body without a content type beside the header key",
    );
    let r = (req("DELETE", "/me").header("Authorization", &alice))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(other.clone())
        .send(s.port());
    refused_locally(&s, &r, "DELETE form body beside a Basic user");
    let url = signed_url::sign(SIGNING_SECRET.as_bytes(), "POST", "/me", now() + 300).unwrap();
    let r = req("POST", &url).body(other.clone()).send(s.port());
    refused_locally(
        &s,
        &r,
        "POST body without a content type beside a signed URL",
    );
}
