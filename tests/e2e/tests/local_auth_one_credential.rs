//! One credential per request (an audit of local JWT authentication, signed URLs and
//! `from_jwt_authn`, 2026-12-05, sixteenth session): can a request get through with a
//! credential nobody verified, or a token the filter should refuse?
//!
//! Findings, fixed (each test asserts what a safe filter does, 403 and nothing at the
//! upstream, and failed on the module before the fix). One root cause: once one credential
//! authenticated, the others the request carried were never looked at, and went to the
//! upstream as sent.
//! 1. `a_signed_url_carries_a_forged_bearer_token_upstream`: a valid signed URL returns
//!    before `Authorization`/`APIKey`/a form `api_key` are read.
//! 2. `a_signed_url_carries_a_token_jwt_authn_rejected`: the same under `from_jwt_authn`,
//!    against the README's "whatever other credential the request carries".
//! 3. `a_verified_bearer_token_carries_another_api_key_upstream`: a valid JWT, and an unknown
//!    API key in the header, the query or the form body.
//! 4. `claims_jwt_authn_verified_carry_another_api_key_upstream`: the same with claims
//!    jwt_authn verified.
//!
//! Held (probed; the passing test at the end keeps the most useful as regressions):
//! `alg` none/None/NONE/missing/`hs256`; HS256 signed with the RSA JWK text, the RSA modulus
//! or the EC JWK text (with or without `kid`): each key fits one alg; `kid` of another type;
//! `crit` (with `b64: false`); `exp` as a string, `true`, null, negative; `iss` with a trailing
//! slash; padded or standard-alphabet base64; a non-canonical last base64 character; a
//! trailing dot; a signature one byte short; an ES256 signature in DER; a cached token after
//! `exp` (refused) and on a path whose rule needs a role it lacks (refused). Read in the code
//! and held: duplicate JSON keys (serde_json keeps the last, as the common upstream readers
//! do; only the IdP can sign such a token anyway), `nbf`/`exp` floats and huge values
//! (floored, saturated), `aud` string or array, the token cache cleared on every key
//! refresh, the ES256/RS256 arithmetic (differential unit tests against p256/rsa exist).
//! Signed URLs: another method, path, arg, expiry, a second `signature`, a form body
//! redefining a signed arg are refused (existing tests); reordering args and upper-case hex
//! are accepted by design (sorted canonical form); `expires` is inclusive (valid at
//! `now == expires`); the Host is not signed (the secret is per service).

mod support;

use e2e::jwt::{b64url, now, Signer};
use e2e::{JwtAuthn, Request};
use serde_json::{json, Value};
use support::*;
use tollgate_core::auth::digest::stored_form;
use tollgate_core::auth::signed_url;

const IDP_SECRET: &[u8] = b"audit-jwt-signed-idp-secret-0123456789abcdef";
const FORGER_SECRET: &[u8] = b"not-the-idp-secret-not-the-idp-secret-9876543";
const SIGNING: &str = "audit-signed-url-secret-0123456789";
const ISSUER: &str = "https://idp.example.com/realms/audit";
/// A valid key with the `reports` grant only.
const READER_KEY: &str = "rk_audit_5f0c8e7a1b2d4c6e9f1a3b5c7d9e0f21";
/// Another caller's key, unknown here (revoked, or held by the admin on the upstream side).
const OTHER_KEY: &str = "ak_audit_0000000000000000000000000admin";
const FAILED: &str = "Authentication failed";

fn reader_keys() -> Value {
    json!({"header": "APIKey", "query": "api_key",
        "keys": [{"id": "reader", "hash": stored_form(READER_KEY),
                  "grants": [{"namespace": "reports", "actions": ["read"]}]}]})
}

fn any_rule() -> Value {
    json!([{"http_method": "ANY", "pattern": "/", "metric_system_name": "hits", "delta": 1}])
}

fn local(method: &str, target: &str) -> Request {
    Request::new(method, target).header("Host", "local.example.com")
}

fn admin_claims() -> Value {
    json!({"iss": ISSUER, "sub": "mallory", "azp": "admin-console", "roles": ["admin"],
           "exp": now() + 600})
}

fn reader_claims() -> Value {
    json!({"iss": ISSUER, "sub": "bob", "azp": "bob-app", "roles": ["reader"],
           "exp": now() + 600})
}

/// What the upstream received, its credential-bearing parts only.
fn seen(q: &e2e::EchoRequest) -> String {
    let creds: Vec<_> = (q.headers.iter())
        .filter(|(k, _)| {
            matches!(
                k.to_ascii_lowercase().as_str(),
                "authorization" | "apikey" | "x-api-key"
            )
        })
        .collect();
    format!("{} {} {:?}", q.method, q.path, creds)
}

/// Sends each case; returns a line for each one that was not refused 403 or that reached the
/// upstream.
fn not_refused(s: &Stack, cases: Vec<(&str, Request)>) -> Vec<String> {
    let mut wrong = Vec::new();
    for (case, request) in cases {
        let before = s.echo.requests().len();
        let r = request.send(s.port());
        let all = s.echo.requests();
        let reached = all.len() > before;
        if (r.status, r.body.as_str()) != (403, FAILED) || reached {
            let got = match all.last().filter(|_| reached) {
                Some(q) => format!("upstream received {}", seen(q)),
                None => format!("body {:?}", r.body),
            };
            wrong.push(format!("- {case}: {}; {got}", r.status));
        }
    }
    wrong
}

// ---------------------------------------------------------------------------------------
// Finding 1: a signed URL carries a forged Bearer token (local JWT service).
// ---------------------------------------------------------------------------------------

/// A service that takes JWTs and signed URLs (download links). A valid signed URL is checked
/// first and returns at once: the `Authorization` header is never read, so a forged
/// `Bearer` token (roles admin) goes to the upstream, which trusts the gateway to have
/// verified the token it forwards. README ("Security"): "The upstream reads the args and
/// credentials the rules and the checks read ... an `access_token` ... on a JWT service that
/// is not the verified Bearer token ... [is] auth failed"; "Credentials in two places must
/// agree". The same forged token as a form-body `access_token` next to the signed URL is
/// refused (form_body.rs); in the header it is not.
#[test]
fn a_signed_url_carries_a_forged_bearer_token_upstream() {
    let idp = Signer::hs256(IDP_SECRET, "idp-1");
    let forger = Signer::hs256(FORGER_SECRET, "idp-1");
    let auth = json!({"mode": "local", "signed_urls": {"secret": SIGNING},
        "api_keys": reader_keys(),
        "jwt": {"jwks": Signer::jwks(&[&idp]), "issuer": ISSUER}});
    let s = Stack::start(config(vec![local_service(auth, any_rule())]));
    let forged = forger.token(&admin_claims());
    let url =
        signed_url::sign(SIGNING.as_bytes(), "GET", "/files/report.pdf", now() + 300).unwrap();
    let upload =
        signed_url::sign(SIGNING.as_bytes(), "POST", "/files/upload", now() + 300).unwrap();

    // Controls: the signed URL alone passes; the forged token alone is refused.
    let r = local("GET", &url).send(s.port());
    assert_eq!(r.status, 200, "{r}");
    let r = local("GET", "/files/report.pdf")
        .header("Authorization", &format!("Bearer {forged}"))
        .send(s.port());
    assert_eq!((r.status, r.body.as_str()), (403, FAILED), "{r}");
    let reached = s.echo.requests().len();
    assert_eq!(reached, 1);

    let wrong = not_refused(
        &s,
        vec![
            (
                "signed URL + `Authorization: Bearer <forged admin token>`",
                local("GET", &url).header("Authorization", &format!("Bearer {forged}")),
            ),
            (
                "signed URL + `Authorization: Bearer garbage`",
                local("GET", &url).header("Authorization", "Bearer not.a.token"),
            ),
            (
                "signed URL + `APIKey: <unknown key>`",
                local("GET", &url).header("APIKey", OTHER_KEY),
            ),
            (
                "signed POST URL + form body `api_key=<unknown key>`",
                local("POST", &upload).form(&[("name", "a.txt"), ("api_key", OTHER_KEY)]),
            ),
        ],
    );
    assert!(
        wrong.is_empty(),
        "a credential nobody verified rode along with a signed URL to the upstream \
         (README: credentials in two places must agree; an unverified token must not reach \
         the upstream of a JWT service):\n{}",
        wrong.join("\n")
    );
}

// ---------------------------------------------------------------------------------------
// Finding 2: a signed URL carries a token jwt_authn rejected (from_jwt_authn).
// ---------------------------------------------------------------------------------------

/// `from_jwt_authn` service behind `jwt_authn` (`allow_missing_or_failed`), with signed URLs
/// too. README, "Trusting Envoy's jwt_authn": a forged token "stores nothing, goes on" →
/// "auth failed (403): a token was sent where `jwt_authn` reads them, and no payload came
/// with it, whatever other credential the request carries". With a valid signed URL the
/// request is let through (200) and the forged admin token reaches the upstream.
#[test]
fn a_signed_url_carries_a_token_jwt_authn_rejected() {
    let key = Signer::es256("audit-authn-1");
    let svc = json!({
        "id": 51,
        "authentication": {"mode": "local",
            "jwt": {"from_jwt_authn": {"metadata_key": "jwt_payload"}, "issuer": ISSUER},
            "signed_urls": {"secret": SIGNING}},
        "proxy": {"hosts": ["authn.example.com"], "proxy_rules": any_rule()}
    });
    let s = Stack::start_with(config(vec![svc]), backend_state(), |b| {
        b.jwt_authn(JwtAuthn::new(&Signer::jwks(&[&key])).issuer(ISSUER))
    });
    let mut forged = key.token(&admin_claims());
    let cut = forged.rfind('.').unwrap() + 1;
    forged.replace_range(cut.., &b64url(&[7u8; 64]));
    let url =
        signed_url::sign(SIGNING.as_bytes(), "GET", "/files/report.pdf", now() + 300).unwrap();
    let host = |r: Request| r.header("Host", "authn.example.com");

    // Controls: the signed URL alone passes; the forged token alone is 403.
    let r = host(Request::get(&url)).send(s.port());
    assert_eq!(r.status, 200, "{r}");
    let r = host(Request::get("/files/report.pdf"))
        .header("Authorization", &format!("Bearer {forged}"))
        .send(s.port());
    assert_eq!((r.status, r.body.as_str()), (403, FAILED), "{r}");

    let wrong = not_refused(
        &s,
        vec![(
            "signed URL + `Authorization: Bearer <token jwt_authn rejected>`",
            host(Request::get(&url)).header("Authorization", &format!("Bearer {forged}")),
        )],
    );
    assert!(
        wrong.is_empty(),
        "README: a token jwt_authn rejected is auth failed whatever other credential the \
         request carries; with a signed URL it went upstream:\n{}",
        wrong.join("\n")
    );
}

// ---------------------------------------------------------------------------------------
// Finding 3: a verified JWT carries another API key (header or query) upstream.
// ---------------------------------------------------------------------------------------

/// A service with JWTs and API keys (`APIKey` header, `api_key` query). A valid low-privilege
/// token authenticates, and the API key beside it is never looked at: an unknown key (another
/// caller's, or the admin's on the upstream side) goes upstream unchecked. The mirror case
/// (a valid API key with a forged `access_token`) is refused since the 2026-12-05 audit;
/// README: "A credential sent twice with different values is refused (auth failed): the
/// upstream cannot read another key or app id than the one authorized", "Credentials in two
/// places must agree". A Basic key-as-username next to a header key is refused; a Bearer
/// token next to one is not.
#[test]
fn a_verified_bearer_token_carries_another_api_key_upstream() {
    let idp = Signer::hs256(IDP_SECRET, "idp-1");
    let auth = json!({"mode": "local",
        "api_keys": reader_keys(),
        "jwt": {"jwks": Signer::jwks(&[&idp]), "issuer": ISSUER}});
    let s = Stack::start(config(vec![local_service(auth, any_rule())]));
    let token = idp.token(&reader_claims());
    let bearer = format!("Bearer {token}");

    // Controls: the token alone passes; the unknown key alone is refused; the valid key in
    // the header and another in the query is refused.
    let r = local("GET", "/me")
        .header("Authorization", &bearer)
        .send(s.port());
    assert_eq!(r.status, 200, "{r}");
    let r = local("GET", "/me")
        .header("APIKey", OTHER_KEY)
        .send(s.port());
    assert_eq!((r.status, r.body.as_str()), (403, FAILED), "{r}");
    let r = local("GET", &format!("/me?api_key={OTHER_KEY}"))
        .header("APIKey", READER_KEY)
        .send(s.port());
    assert_eq!((r.status, r.body.as_str()), (403, FAILED), "{r}");

    let wrong = not_refused(
        &s,
        vec![
            (
                "valid Bearer + `APIKey: <unknown key>`",
                local("GET", "/me")
                    .header("Authorization", &bearer)
                    .header("APIKey", OTHER_KEY),
            ),
            (
                "valid Bearer + `?api_key=<unknown key>`",
                local("GET", &format!("/me?api_key={OTHER_KEY}")).header("Authorization", &bearer),
            ),
            (
                "valid Bearer + form body `api_key=<unknown key>`",
                local("POST", "/me")
                    .header("Authorization", &bearer)
                    .form(&[("api_key", OTHER_KEY)]),
            ),
        ],
    );
    assert!(
        wrong.is_empty(),
        "an API key nobody checked rode along with a verified token to the upstream:\n{}",
        wrong.join("\n")
    );
}

// ---------------------------------------------------------------------------------------
// Finding 4: claims jwt_authn verified carry another API key upstream (from_jwt_authn).
// ---------------------------------------------------------------------------------------

/// The setup README recommends for `from_jwt_authn` ("lets a service accept other credentials
/// as well"): jwt_authn with `allow_missing_or_failed`, and API keys in `X-API-Key`. A
/// token jwt_authn verified (a reader) is used and the `X-API-Key` beside it is never read:
/// an unknown key goes to the upstream. The reverse (a valid key with a token jwt_authn
/// rejected) is refused since the 2026-12-05 audit (jwt_authn_tokens.rs). README: "A
/// credential sent twice with different values is refused (auth failed): the upstream cannot
/// read another key or app id than the one authorized".
#[test]
fn claims_jwt_authn_verified_carry_another_api_key_upstream() {
    let key = Signer::es256("audit-authn-2");
    let svc = json!({
        "id": 52,
        "authentication": {"mode": "local",
            "jwt": {"from_jwt_authn": {"metadata_key": "jwt_payload"}, "issuer": ISSUER},
            "api_keys": {"header": "X-API-Key", "query": "api_key",
                "keys": [{"id": "reader", "hash": stored_form(READER_KEY)}]}},
        "proxy": {"hosts": ["authn.example.com"], "proxy_rules": any_rule()}
    });
    let s = Stack::start_with(config(vec![svc]), backend_state(), |b| {
        b.jwt_authn(JwtAuthn::new(&Signer::jwks(&[&key])).issuer(ISSUER))
    });
    let token = key.token(&reader_claims());
    let host = |r: Request| r.header("Host", "authn.example.com");

    // Controls: the token alone passes; the unknown key alone is refused.
    let r = host(Request::get("/me"))
        .header("Authorization", &format!("Bearer {token}"))
        .send(s.port());
    assert_eq!(r.status, 200, "{r}");
    let r = host(Request::get("/me"))
        .header("X-API-Key", OTHER_KEY)
        .send(s.port());
    assert_eq!((r.status, r.body.as_str()), (403, FAILED), "{r}");

    let wrong = not_refused(
        &s,
        vec![
            (
                "verified Bearer + `X-API-Key: <unknown key>`",
                host(Request::get("/me"))
                    .header("Authorization", &format!("Bearer {token}"))
                    .header("X-API-Key", OTHER_KEY),
            ),
            (
                "verified `?access_token=` + `?api_key=<unknown key>`",
                host(Request::get(&format!(
                    "/me?access_token={token}&api_key={OTHER_KEY}"
                ))),
            ),
        ],
    );
    assert!(
        wrong.is_empty(),
        "an API key nobody checked rode along with claims jwt_authn verified:\n{}",
        wrong.join("\n")
    );
}

/// jwt_authn reading its token from `x-jwt` (`from_headers`): a verified token there and a
/// second one in `Authorization`, which nobody verified (found by a review of the fix above:
/// only a Basic credential beside the claims was refused).
#[test]
fn claims_jwt_authn_verified_carry_an_unverified_bearer_upstream() {
    let key = Signer::es256("audit-authn-3");
    let forger = Signer::hs256(FORGER_SECRET, "forged");
    let svc = json!({
        "id": 53,
        "authentication": {"mode": "local",
            "jwt": {"from_jwt_authn": {"metadata_key": "jwt_payload", "header": "x-jwt"},
                    "issuer": ISSUER}},
        "proxy": {"hosts": ["authn.example.com"], "proxy_rules": any_rule()}
    });
    let s = Stack::start_with(config(vec![svc]), backend_state(), |b| {
        b.jwt_authn(
            JwtAuthn::new(&Signer::jwks(&[&key]))
                .issuer(ISSUER)
                .from_header("x-jwt"),
        )
    });
    let token = key.token(&reader_claims());
    let forged = forger.token(&admin_claims());
    let get = || Request::get("/me").header("Host", "authn.example.com");
    // Control: the verified token alone passes.
    let r = get().header("x-jwt", &token).send(s.port());
    assert_eq!(r.status, 200, "{r}");
    let wrong = not_refused(
        &s,
        vec![(
            "verified `x-jwt` + `Authorization: Bearer <forged>`",
            get()
                .header("x-jwt", &token)
                .header("Authorization", &format!("Bearer {forged}")),
        )],
    );
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

// ---------------------------------------------------------------------------------------
// Held (kept as regression probes; these pass on the audited module).
// ---------------------------------------------------------------------------------------

/// Token shapes an attacker crafts without the IdP's key, and a cached token after `exp` or on
/// a path whose rule needs a role it lacks: all refused.
#[test]
fn crafted_tokens_and_cached_tokens_past_exp_are_refused() {
    let rs = Signer::rs256("rs-1");
    let es = Signer::es256("es-1");
    let auth = json!({"mode": "local",
        "jwt": {"jwks": Signer::jwks(&[&rs, &es]), "issuer": ISSUER}});
    let rules = json!([
        {"http_method": "GET", "pattern": "/admin", "metric_system_name": "hits", "delta": 1, "roles": ["admin"]},
        {"http_method": "ANY", "pattern": "/", "metric_system_name": "hits", "delta": 1}
    ]);
    let s = Stack::start(config(vec![local_service(auth, rules)]));
    let good = reader_claims();
    let h = |alg: &str, kid: &str| json!({"alg": alg, "typ": "JWT", "kid": kid});
    let part = |v: &Value| b64url(v.to_string().as_bytes());
    let es_jwk_text = es.jwk().to_string();
    let rs_jwk_text = rs.jwk().to_string();
    let n = b64url_decode(rs.jwk()["n"].as_str().unwrap());
    let valid = rs.token(&good);
    let (head, rest) = valid.split_once('.').unwrap();
    let (payload, sig) = rest.split_once('.').unwrap();
    let std_alphabet = |t: &str| t.replace('-', "+").replace('_', "/");
    let es_valid = es.token(&good);
    let es_sig = b64url_decode(es_valid.rsplit('.').next().unwrap());
    let mut der = vec![0x30u8, 0x44, 0x02, 0x20];
    der.extend_from_slice(&es_sig[..32]);
    der.extend_from_slice(&[0x02, 0x20]);
    der.extend_from_slice(&es_sig[32..]);
    let es_prefix = es_valid.rsplit_once('.').unwrap().0;
    let mut cases: Vec<(String, String)> = vec![
        (
            "alg None".into(),
            format!("{}.{}.", part(&h("None", "rs-1")), part(&good)),
        ),
        (
            "alg NONE".into(),
            format!("{}.{}.", part(&h("NONE", "rs-1")), part(&good)),
        ),
        (
            "alg missing".into(),
            format!("{}.{}.{sig}", part(&json!({"kid": "rs-1"})), payload),
        ),
        (
            "alg hs256 lower-case".into(),
            Signer::hs256(rs_jwk_text.as_bytes(), "rs-1")
                .token_with_header(&h("hs256", "rs-1"), &good),
        ),
        (
            "HS256 keyed with the RSA JWK text".into(),
            Signer::hs256(rs_jwk_text.as_bytes(), "rs-1")
                .token_with_header(&h("HS256", "rs-1"), &good),
        ),
        (
            "HS256 keyed with the RSA modulus".into(),
            Signer::hs256(&n, "rs-1").token_with_header(&h("HS256", "rs-1"), &good),
        ),
        (
            "HS256 keyed with the EC JWK text, no kid".into(),
            Signer::hs256(es_jwk_text.as_bytes(), "x")
                .token_with_header(&json!({"alg": "HS256"}), &good),
        ),
        (
            "kid as a number".into(),
            rs.token_with_header(&json!({"alg": "RS256", "kid": 1}), &good),
        ),
        (
            "crit header".into(),
            rs.token_with_header(
                &json!({"alg": "RS256", "kid": "rs-1", "crit": ["b64"], "b64": false}),
                &good,
            ),
        ),
        (
            "exp as a string".into(),
            rs.token(&json!({"iss": ISSUER, "sub": "bob", "exp": (now() + 600).to_string()})),
        ),
        (
            "exp as true".into(),
            rs.token(&json!({"iss": ISSUER, "sub": "bob", "exp": true})),
        ),
        (
            "exp null".into(),
            rs.token(&json!({"iss": ISSUER, "sub": "bob", "exp": null})),
        ),
        (
            "exp negative".into(),
            rs.token(&json!({"iss": ISSUER, "sub": "bob", "exp": -1})),
        ),
        (
            "iss with a trailing slash".into(),
            rs.token(&json!({"iss": format!("{ISSUER}/"), "sub": "bob", "exp": now() + 600})),
        ),
        ("padded payload".into(), format!("{head}.{payload}==.{sig}")),
        (
            "standard alphabet signature".into(),
            format!("{head}.{payload}.{}", std_alphabet(sig)),
        ),
        ("trailing dot".into(), format!("{valid}.")),
        (
            "signature one byte short".into(),
            format!("{head}.{payload}.{}", b64url(&b64url_decode(sig)[1..])),
        ),
        (
            "ES256 signature in DER".into(),
            format!("{es_prefix}.{}", b64url(&der)),
        ),
    ];
    // A signature whose last character differs only in unused bits: non-canonical base64url.
    let (flip_from, flip_to) = match es_valid.chars().last().unwrap() {
        c if "AQgw".contains(c) => (c, (c as u8 + 1) as char),
        c => (c, c),
    };
    if flip_from != flip_to {
        let mut t = es_valid.clone();
        t.pop();
        t.push(flip_to);
        cases.push(("non-canonical last base64 character".into(), t));
    }
    // (`std_alphabet` leaves a signature without `-`/`_` unchanged: then it is the valid
    // token, skip it.)
    cases.retain(|(_, t)| t != &valid);
    let mut wrong = Vec::new();
    for (case, token) in &cases {
        let r = local("GET", "/me")
            .header("Authorization", &format!("Bearer {token}"))
            .send(s.port());
        if (r.status, r.body.as_str()) != (403, FAILED) {
            wrong.push(format!("- {case}: {}", r.status));
        }
    }
    assert!(
        wrong.is_empty(),
        "crafted tokens accepted:\n{}",
        wrong.join("\n")
    );
    assert!(s.echo.requests().is_empty());

    // A token cached by a first use stops at `exp`, and its roles still decide per path.
    let short =
        rs.token(&json!({"iss": ISSUER, "sub": "bob", "roles": ["reader"], "exp": now() + 2}));
    let call = |path: &str| {
        local("GET", path)
            .header("Authorization", &format!("Bearer {short}"))
            .send(s.port())
    };
    assert_eq!(call("/me").status, 200);
    assert_eq!(
        call("/admin").status,
        403,
        "cached token on a rule needing admin"
    );
    std::thread::sleep(std::time::Duration::from_millis(3100));
    let r = call("/me");
    assert_eq!(
        (r.status, r.body.as_str()),
        (403, FAILED),
        "cached token used after exp"
    );
}

fn b64url_decode(text: &str) -> Vec<u8> {
    let mut bits = 0u32;
    let mut n = 0;
    let mut out = Vec::new();
    for c in text.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'-' => 62,
            b'_' => 63,
            _ => panic!("not base64url: {text}"),
        };
        bits = (bits << 6) | u32::from(v);
        n += 6;
        if n >= 8 {
            n -= 8;
            out.push((bits >> n) as u8);
        }
    }
    out
}
