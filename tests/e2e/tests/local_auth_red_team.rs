//! A red-team of local authentication (2026-12-07, thirtieth session): can a request that
//! should be denied reach the upstream, or reach it with a credential nobody checked?
//!
//! Found and fixed (each failed on the module before the fix, `s30a.wasm`): with
//! `jwt.from_jwt_authn`, a forged token where `jwt_authn` does not look but an upstream does
//! rode along with another credential (or with the verified token):
//! - an RFC 6750 form-body `access_token`, in the default configuration: the token checked
//!   was the first `access_token` of the query and the form read together, so the forged
//!   one checked itself;
//! - the custom arg `jwt_authn` reads (`from_params`) in another spelling (`jwt.token`,
//!   `jwt_token[]`, which PHP, `qs` and Rack read as `jwt_token`) or in a form body;
//! - the custom header `jwt_authn` reads (`from_headers`) in another spelling
//!   (`x_jwt_assertion`, which CGI-style upstreams read as `X-JWT-Assertion`).
//!
//! Held (nothing got through): the last two tests keep what other files do not send
//! (methods outside the action map, HTTP/2 duplicate credential headers, non-UTF-8 and
//! lenient-base64 Basic, signed URLs replayed as `HEAD`, with an empty-name arg, an encoded
//! second `signature` or another path case). Read in the code and held: the token cache
//! (per service, emptied on key changes, `exp` kept), `nbf`/`exp` shapes, `alg`/`kid`
//! selection, roles claim shapes, the Basic parse (scheme case, first colon, strict base64),
//! API key header spellings, grants on every matched rule; all also covered by other files.

mod support;

use e2e::jwt::{now, Signer};
use e2e::{JwtAuthn, Request};
use serde_json::{json, Value};
use support::*;
use tollgate_core::auth::digest::stored_form;
use tollgate_core::auth::signed_url;

const ISSUER: &str = "https://idp.example.com/realms/red-team";
const FORGER_SECRET: &[u8] = b"not-the-idp-secret-not-the-idp-secret-9876543";
const API_KEY: &str = "rk_red_team_5f0c8e7a1b2d4c6e9f1a3b5c7d9e0f21";
const SIGNING: &str = "red-team-signed-url-secret-0123456789";
const FAILED: &str = "Authentication failed";
const FORM: &str = "application/x-www-form-urlencoded";
const HOST: &str = "local.example.com";

fn any_rule() -> Value {
    json!([{"http_method": "ANY", "pattern": "/", "metric_system_name": "hits", "delta": 1}])
}

fn keys() -> Value {
    json!({"header": "X-API-Key", "keys": [{"id": "reader", "hash": stored_form(API_KEY)}]})
}

fn claims(azp: &str, roles: &[&str]) -> Value {
    json!({"iss": ISSUER, "sub": azp, "azp": azp, "roles": roles, "exp": now() + 600})
}

fn get(target: &str) -> Request {
    Request::get(target).header("Host", HOST)
}

fn post_form(target: &str, body: &str) -> Request {
    Request::post(target)
        .header("Host", HOST)
        .header("Content-Type", FORM)
        .body(body.to_string())
}

/// Sends each case; a line for each one not answered 403 `Authentication failed`, or that
/// reached the upstream (with what it received).
fn not_refused(s: &Stack, cases: Vec<(&str, Request)>) -> Vec<String> {
    let mut wrong = Vec::new();
    for (case, request) in cases {
        let before = s.echo.requests().len();
        let r = request.send(s.port());
        let all = s.echo.requests();
        let reached = all.len() > before;
        if (r.status, r.body.as_str()) != (403, FAILED) || reached {
            let got = match all.last().filter(|_| reached) {
                Some(q) => format!(
                    "upstream received {} {} {:?} {:?}",
                    q.method, q.path, q.headers, q.body
                ),
                None => format!("body {:?}", r.body),
            };
            wrong.push(format!("- {case}: {}; {got}", r.status));
        }
    }
    wrong
}

/// Sends a request that must be served: 200 from the upstream, which received `check`.
fn served(s: &Stack, case: &str, request: Request, check: impl Fn(&e2e::EchoRequest) -> bool) {
    let before = s.echo.requests().len();
    let r = request.send(s.port());
    assert_eq!(r.status, 200, "{case}: {r}");
    let all = s.echo.requests();
    assert_eq!(all.len(), before + 1, "{case}: one request upstream");
    let q = all.last().unwrap();
    assert!(check(q), "{case}: upstream received {q:?}");
}

fn header_is(q: &e2e::EchoRequest, name: &str, value: &str) -> bool {
    q.headers.iter().any(|(k, v)| k == name && v == value)
}

/// Default `from_jwt_authn` (jwt_authn reads `Authorization` and `?access_token`), API keys
/// beside it, and signed URLs. A forged `access_token` in a form body, where jwt_authn never
/// looks, was its own "checked" token: it went upstream beside a valid API key, a signed
/// `POST` or a Basic-less request (RFC 6750 §2.2 upstreams read it).
#[test]
fn a_forged_form_access_token_rides_along_with_the_default_jwt_authn_source() {
    let idp = Signer::es256("red-team-1");
    let forger = Signer::hs256(FORGER_SECRET, "red-team-1");
    let auth = json!({"mode": "local", "api_keys": keys(),
        "signed_urls": {"secret": SIGNING},
        "jwt": {"from_jwt_authn": {"metadata_key": "jwt_payload"}, "issuer": ISSUER}});
    let s = Stack::start_with(
        config(vec![local_service(auth, any_rule())]),
        backend_state(),
        |b| b.jwt_authn(JwtAuthn::new(&Signer::jwks(&[&idp])).issuer(ISSUER)),
    );
    let token = idp.token(&claims("bob-app", &["reader"]));
    let forged = forger.token(&claims("admin-console", &["admin"]));
    let signed = signed_url::sign(SIGNING.as_bytes(), "POST", "/upload", now() + 300).unwrap();
    // Controls: each credential alone, and the verified token given again in the form.
    served(
        &s,
        "API key, form without a token",
        post_form("/me", "a=1").header("X-API-Key", API_KEY),
        |q| q.body == "a=1",
    );
    served(
        &s,
        "verified query token and the same in the form",
        post_form(
            &format!("/me?access_token={token}"),
            &format!("access_token={token}"),
        ),
        |q| q.body == format!("access_token={token}"),
    );
    served(&s, "signed POST", post_form(&signed, "a=1"), |q| {
        q.path == signed
    });
    let wrong = not_refused(
        &s,
        vec![
            (
                "X-API-Key + form access_token=<forged>",
                post_form("/me", &format!("access_token={forged}")).header("X-API-Key", API_KEY),
            ),
            (
                "X-API-Key + form access.token=<forged>",
                post_form("/me", &format!("access.token={forged}")).header("X-API-Key", API_KEY),
            ),
            (
                "signed POST + form access_token=<forged>",
                post_form(&signed, &format!("access_token={forged}")),
            ),
            (
                "verified ?access_token + form access_token=<forged>",
                post_form(
                    &format!("/me?access_token={token}"),
                    &format!("access_token={forged}"),
                ),
            ),
            (
                "verified Bearer + form access_token=<forged>",
                post_form("/me", &format!("access_token={forged}"))
                    .header("Authorization", &format!("Bearer {token}")),
            ),
        ],
    );
    assert!(
        wrong.is_empty(),
        "a token nobody verified reached the upstream:\n{}",
        wrong.join("\n")
    );
}

/// jwt_authn reading `X-JWT-Assertion` and `?jwt_token` (Istio's `fromHeaders`/`fromParams`):
/// a token in another spelling of either is one jwt_authn never saw and the upstream may read.
#[test]
fn a_forged_token_in_another_spelling_of_jwt_authns_header_or_arg_rides_along() {
    let idp = Signer::es256("red-team-2");
    let forger = Signer::hs256(FORGER_SECRET, "red-team-2");
    let auth = json!({"mode": "local", "api_keys": keys(),
        "jwt": {"from_jwt_authn": {"metadata_key": "jwt_payload",
                                   "header": "X-JWT-Assertion", "query": "jwt_token"},
                "issuer": ISSUER}});
    let s = Stack::start_with(
        config(vec![local_service(auth, any_rule())]),
        backend_state(),
        |b| {
            b.jwt_authn(
                JwtAuthn::new(&Signer::jwks(&[&idp]))
                    .issuer(ISSUER)
                    .from_header("x-jwt-assertion")
                    .from_param("jwt_token"),
            )
        },
    );
    let token = idp.token(&claims("bob-app", &["reader"]));
    let forged = forger.token(&claims("admin-console", &["admin"]));
    // Controls: each credential alone; the verified token given again in another spelling.
    served(
        &s,
        "API key",
        get("/me").header("X-API-Key", API_KEY),
        |q| header_is(q, "x-api-key", API_KEY),
    );
    served(
        &s,
        "verified header token",
        get("/me").header("X-JWT-Assertion", &token),
        |q| header_is(q, "x-jwt-assertion", &token),
    );
    served(
        &s,
        "verified query token",
        get(&format!("/me?jwt_token={token}")),
        |q| q.path == format!("/me?jwt_token={token}"),
    );
    served(
        &s,
        "verified header token, the same in x_jwt_assertion",
        get("/me")
            .header("X-JWT-Assertion", &token)
            .header("x_jwt_assertion", &token),
        |q| header_is(q, "x_jwt_assertion", &token),
    );
    let key = |r: Request| r.header("X-API-Key", API_KEY);
    let wrong = not_refused(
        &s,
        vec![
            (
                "X-API-Key + x_jwt_assertion: <forged>",
                key(get("/me")).header("x_jwt_assertion", &forged),
            ),
            (
                "X-API-Key + X-JWT_Assertion: <forged>",
                key(get("/me")).header("X-JWT_Assertion", &forged),
            ),
            (
                "verified X-JWT-Assertion + x_jwt_assertion: <forged>",
                get("/me")
                    .header("X-JWT-Assertion", &token)
                    .header("x_jwt_assertion", &forged),
            ),
            (
                "X-API-Key + ?jwt.token=<forged>",
                key(get(&format!("/me?jwt.token={forged}"))),
            ),
            (
                "X-API-Key + ?jwt_token[]=<forged>",
                key(get(&format!("/me?jwt_token[]={forged}"))),
            ),
            (
                "verified ?jwt_token + ?jwt.token=<forged>",
                get(&format!("/me?jwt_token={token}&jwt.token={forged}")),
            ),
            (
                "X-API-Key + form jwt_token=<forged>",
                key(post_form("/me", &format!("jwt_token={forged}"))),
            ),
            (
                "verified ?jwt_token + form jwt_token=<forged>",
                post_form(
                    &format!("/me?jwt_token={token}"),
                    &format!("jwt_token={forged}"),
                ),
            ),
        ],
    );
    assert!(
        wrong.is_empty(),
        "a token nobody verified reached the upstream:\n{}",
        wrong.join("\n")
    );
}

// ---------------------------------------------------------------------------------------
// Held (kept as regression probes; these pass on the module before the fix too).
// ---------------------------------------------------------------------------------------

const ALL_GRANTS_KEY: &str = "rk_red_team_all_four_actions_0123456789ab";
const STAR_KEY: &str = "rk_red_team_star_action_0123456789abcdef";

/// Grants, the Authorization header and API key headers across shapes the other files do not
/// send: a method outside the default action map (`PROPFIND`, `PURGE`: action `other`) needs
/// a `*` grant; over HTTP/2, two `authorization` fields or a key header in two spellings that
/// disagree; a Basic credential with a byte that is not UTF-8, or in base64 a lenient decoder
/// reads (Python's `b64decode` drops `!`), beside a valid key.
#[test]
fn grants_and_credential_headers_hold_across_methods_http2_and_encodings() {
    let grants = |actions: Value| json!([{"namespace": "files", "actions": actions}]);
    let auth = json!({"mode": "local",
        "api_keys": {"header": "X-API-Key", "basic_username": true, "keys": [
            {"id": "four", "hash": stored_form(ALL_GRANTS_KEY),
             "grants": grants(json!(["read", "create", "update", "delete"]))},
            {"id": "star", "hash": stored_form(STAR_KEY), "grants": grants(json!(["*"]))}]},
        "basic_users": [{"username": "alice", "salt": "s", "hash": stored_form("salice-pw")}]});
    let rules = json!([
        {"http_method": "ANY", "pattern": "/files", "metric_system_name": "hits", "delta": 1,
         "namespace": "files"},
        {"http_method": "ANY", "pattern": "/", "metric_system_name": "hits", "delta": 1}]);
    let s = Stack::start(config(vec![local_service(auth, rules)]));
    let files = |method: &str, key: &str| {
        Request::new(method, "/files/a")
            .header("Host", HOST)
            .header("X-API-Key", key)
    };
    served(
        &s,
        "PROPFIND with a * grant",
        files("PROPFIND", STAR_KEY),
        |q| q.method == "PROPFIND" && header_is(q, "x-api-key", STAR_KEY),
    );
    served(
        &s,
        "DELETE with the delete grant",
        files("DELETE", ALL_GRANTS_KEY),
        |q| q.method == "DELETE",
    );
    let basic = |raw: &[u8]| format!("Basic {}", e2e::base64::standard(raw));
    let wrong = not_refused(
        &s,
        vec![
            (
                "PROPFIND without a * grant",
                files("PROPFIND", ALL_GRANTS_KEY),
            ),
            ("PURGE without a * grant", files("PURGE", ALL_GRANTS_KEY)),
            (
                "Basic alice with a non-UTF-8 byte in the password",
                get("/me").header("Authorization", &basic(b"alice:alice-p\xffw")),
            ),
            (
                "Basic with a non-UTF-8 username beside a valid key",
                get("/me")
                    .header("X-API-Key", ALL_GRANTS_KEY)
                    .header("Authorization", &basic(b"adm\xffin:x")),
            ),
            (
                "Basic in lenient base64 beside a valid key",
                get("/me")
                    .header("X-API-Key", ALL_GRANTS_KEY)
                    .header("Authorization", "Basic YWxp!Y2U6YWxpY2UtcHc="),
            ),
        ],
    );
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));

    let h2 = |headers: &[(&str, &str)]| {
        let before = s.echo.requests().len();
        let r =
            e2e::h2::send_with_trailers(s.port(), "GET", HOST, "/me", headers, b"", &[]).unwrap();
        (r.status, r.body, s.echo.requests().len() - before)
    };
    let alice = basic(b"alice:alice-pw");
    let (status, _, reached) = h2(&[("authorization", &alice)]);
    assert_eq!((status, reached), (200, 1), "HTTP/2 Basic alice");
    let q = s.echo.requests().pop().unwrap();
    assert!(header_is(&q, "authorization", &alice), "{q:?}");
    let forged = format!("Bearer {}", "e30.e30.sig");
    for (case, headers) in [
        (
            "two authorization fields",
            vec![
                ("authorization", alice.as_str()),
                ("authorization", forged.as_str()),
            ],
        ),
        (
            "x-api-key and x_api_key that disagree",
            vec![("x-api-key", ALL_GRANTS_KEY), ("x_api_key", STAR_KEY)],
        ),
        (
            "a key and a Basic user",
            vec![
                ("x-api-key", ALL_GRANTS_KEY),
                ("authorization", alice.as_str()),
            ],
        ),
    ] {
        assert_eq!(h2(&headers), (403, FAILED.to_string(), 0), "HTTP/2 {case}");
    }
}

/// Signed URLs altered in ways the other files do not try: replayed as `HEAD`, an arg with an
/// empty name, a second signature with an encoded name, the path in another case. All
/// refused; an empty piece (`&&`), which no reader reads as an arg, is not.
#[test]
fn signed_urls_hold_against_other_alterations() {
    let auth = json!({"mode": "local", "signed_urls": {"secret": SIGNING}});
    let s = Stack::start(config(vec![local_service(auth, any_rule())]));
    let url = signed_url::sign(
        SIGNING.as_bytes(),
        "GET",
        "/files/report.pdf?a=1",
        now() + 300,
    )
    .unwrap();
    served(&s, "signed GET", get(&url), |q| {
        q.method == "GET" && q.path == url
    });
    let padded = url.replacen("?a=1&", "?a=1&&", 1);
    served(&s, "an empty piece", get(&padded), |q| q.path == padded);
    // A HEAD answer has no body: its status, and nothing upstream.
    let before = s.echo.requests().len();
    let r = Request::head(&url).header("Host", HOST).send(s.port());
    assert_eq!(r.status, 403, "replayed as HEAD: {r}");
    assert_eq!(
        s.echo.requests().len(),
        before,
        "replayed as HEAD reached the upstream"
    );
    let wrong = not_refused(
        &s,
        vec![
            ("an empty-name arg", get(&format!("{url}&=x"))),
            ("a second %73ignature", get(&format!("{url}&%73ignature=0"))),
            (
                "the path in another case",
                get(&url.replacen("/files/", "/Files/", 1)),
            ),
        ],
    );
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
