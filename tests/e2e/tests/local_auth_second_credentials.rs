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
