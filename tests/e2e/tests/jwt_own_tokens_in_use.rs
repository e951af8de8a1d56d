//! Tollgate's own JWT verification (`authentication.jwt` with keys; not Envoy's `jwt_authn`)
//! through real Envoy, a valid token in use: key selection, the verified-token cache
//! (expiry, services with other rules), a token given twice, and the claims used as roles
//! and as the 3scale client id. Each case checks the answer, what the upstream received and
//! what the backend received.

mod support;

use e2e::jwt::{now, Signer};
use e2e::mock_backend::{App, Service, State};
use e2e::Request;
use serde_json::{json, Value};
use support::own_jwt::{
    base_claims, call_on, hs, jwt_block, local_service, mismatches, raw, with, HOST, ISSUER,
};
use support::*;

/// Key selection: two keys under one `kid` (rotation) both verify; a token without `kid`
/// tries every key of its algorithm; a JWKS of one key without `kid` takes any `kid`; a
/// `kid` of one key type with another's `alg` is refused.
#[test]
fn held_key_selection_with_duplicate_and_missing_kids() {
    let old = Signer::es256("shared");
    let new = Signer::es256("shared");
    let other = Signer::ed25519("ed-1");
    let lone = Signer::rs256("ignored");
    let mut lone_jwk = lone.jwk();
    lone_jwk.as_object_mut().unwrap().remove("kid");
    let mut block = jwt_block(&[&old, &new, &other]);
    let mut block_lone = jwt_block(&[]);
    block_lone["jwks"] = json!({"keys": [lone_jwk]});
    block["issuer"] = json!(ISSUER);
    let svc_a = local_service(34, HOST, block);
    let svc_b = local_service(35, "lone.example.com", block_lone);
    let s = Stack::start(config(vec![svc_a, svc_b]));
    let c = base_claims();
    let no_kid = |signer: &Signer| signer.token_with_header(&json!({"alg": signer.alg()}), &c);
    let cases: Vec<(&str, String, u16)> = vec![
        ("old key of a shared kid", old.token(&c), 200),
        ("new key of a shared kid", new.token(&c), 200),
        ("no kid, ES256", no_kid(&new), 200),
        ("no kid, EdDSA", no_kid(&other), 200),
        ("no kid, a stranger's key", no_kid(&Signer::es256("x")), 403),
        (
            "EdDSA alg under the ES256 kid",
            other.token_with_header(&json!({"alg": "EdDSA", "kid": "shared"}), &c),
            403,
        ),
        (
            "ES256 alg under the EdDSA kid",
            new.token_with_header(&json!({"alg": "ES256", "kid": "ed-1"}), &c),
            403,
        ),
    ];
    let bad = mismatches(&s, "GET", &cases);
    assert!(bad.is_empty(), "{bad:#?}");
    // The JWKS of one key without kid: any kid selects it.
    for (what, token, status) in [
        ("any kid", lone.token(&c), 200),
        ("no kid", no_kid(&lone), 200),
        ("another RSA key", Signer::rs256("ignored").token(&c), 403),
    ] {
        let r = call_on(s.port(), "lone.example.com", "GET", Some(&token));
        assert_eq!(r.status, status, "{what}: {r}");
    }
}

/// The verified-token cache: a cached token's `exp` still applies (leeway 0), and a token
/// verified (and cached) by one service is checked again by another service with the same
/// keys and another issuer or audience.
#[test]
fn held_cached_tokens_expire_and_stay_per_service() {
    let k = hs();
    let mut strict = jwt_block(&[&k]);
    strict["leeway_s"] = json!(0);
    strict["audiences"] = json!(["billing-api"]);
    let mut other_iss = jwt_block(&[&k]);
    other_iss["issuer"] = json!("https://other-idp.example.com");
    let s = Stack::start(config(vec![
        local_service(36, HOST, jwt_block(&[&k])),
        local_service(37, "billing.example.com", strict),
        local_service(38, "other.example.com", other_iss),
    ]));
    let port = s.port();
    let orders = k.token(&base_claims());
    for _ in 0..3 {
        assert_eq!(call_on(port, HOST, "GET", Some(&orders)).status, 200);
    }
    assert_eq!(
        call_on(port, "billing.example.com", "GET", Some(&orders)).status,
        403,
        "cached by the orders service, another audience here"
    );
    assert_eq!(
        call_on(port, "other.example.com", "GET", Some(&orders)).status,
        403,
        "cached by the orders service, another issuer here"
    );
    // Valid for both audiences: accepted by both, and its exp (2 s away) still applies once
    // cached.
    let exp = now() + 2;
    let both = k.token(&with(&[
        ("aud", json!(["orders-api", "billing-api"])),
        ("exp", json!(exp)),
    ]));
    for host in [HOST, "billing.example.com", "billing.example.com"] {
        let r = call_on(port, host, "GET", Some(&both));
        assert_eq!(r.status, 200, "{host}: {r}");
    }
    while now() < exp + 1 {
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let before = s.echo.request_count();
    let r = call_on(port, "billing.example.com", "GET", Some(&both));
    assert_eq!(
        (r.status, r.body.as_str()),
        (403, "Authentication failed"),
        "expired while cached"
    );
    // The orders service has a leeway of 5 s: still within it.
    assert_eq!(call_on(port, HOST, "GET", Some(&both)).status, 200);
    assert_eq!(s.echo.request_count(), before + 1);
    assert!(s.backend.requests().is_empty());
}

/// The token given twice or oddly: the same token as `?access_token=` passes, another one
/// (valid) is refused, as is a second `Authorization` header even with the same token, or
/// two joined; `Bearer` with two spaces or a tab before the token is read as the token; a
/// scheme glued to the token is no credential (401). The upstream gets the header as sent.
#[test]
fn held_a_token_given_twice_or_spelled_oddly() {
    let k = hs();
    let s = Stack::start(config(vec![local_service(39, HOST, jwt_block(&[&k]))]));
    let port = s.port();
    let a = k.token(&base_claims());
    let b = k.token(&with(&[("sub", json!("user-2"))]));
    let send = |target: &str, auths: &[&str]| {
        let mut r = Request::get(target).header("Host", HOST);
        for v in auths {
            r = r.header("Authorization", v);
        }
        r.send(port)
    };
    let bearer_a = format!("Bearer {a}");
    let r = send(&format!("/orders?access_token={a}"), &[&bearer_a]);
    assert_eq!(r.status, 200, "{r}");
    let r = send(&format!("/orders?access_token={b}"), &[&bearer_a]);
    assert_eq!(r.status, 403, "another valid token in the query: {r}");
    let r = send("/orders", &[&bearer_a, &bearer_a]);
    assert_eq!(r.status, 403, "two Authorization headers: {r}");
    let r = send("/orders", &[&format!("Bearer {a}, Bearer {b}")]);
    assert_eq!(r.status, 403, "joined: {r}");
    for spelled in [
        format!("Bearer  {a}"),
        format!("Bearer\t{a}"),
        format!("bearer {a}"),
    ] {
        let before = s.echo.request_count();
        let r = send("/orders", &[&spelled]);
        assert_eq!(r.status, 200, "{spelled:?}: {r}");
        assert_eq!(s.echo.request_count(), before + 1);
        assert_eq!(r.echo().header("authorization"), Some(spelled.as_str()));
    }
    let r = send("/orders", &[&format!("Bearer{a}")]);
    assert_eq!(r.status, 401, "no space: {r}");
    assert_eq!(s.echo.request_count(), 4);
    assert!(s.backend.requests().is_empty());
}

/// The roles claim in every JSON shape (rule DELETE /orders needs `admin`): an array of
/// strings, or a string of space-separated words (OAuth `scope`); roles compared exactly; a
/// nested array, an object or numbers give no role; a duplicated claim name is its last
/// value (RFC 7519 §4).
#[test]
fn held_roles_claim_shapes() {
    let k = hs();
    let s = Stack::start(config(vec![local_service(40, HOST, jwt_block(&[&k]))]));
    let tok = |roles: Value| k.token(&with(&[("roles", roles)]));
    let dup = |first: &str, last: &str| {
        raw(
            &k,
            r#"{"alg":"HS256","kid":"hs-1"}"#,
            &format!(
                r#"{{"iss":"{ISSUER}","aud":"orders-api","sub":"u","exp":{},"roles":{first},"roles":{last}}}"#,
                now() + 300
            ),
        )
    };
    let cases: Vec<(&str, String, u16)> = vec![
        ("array", tok(json!(["reader", "admin"])), 200),
        ("string", tok(json!("admin")), 200),
        ("space-separated string", tok(json!("reader admin")), 200),
        ("other case", tok(json!(["Admin"])), 403),
        ("with a space", tok(json!(["admin "])), 403),
        ("nested array", tok(json!([["admin"]])), 403),
        ("object", tok(json!({"admin": true})), 403),
        ("numbers", tok(json!([1, 2])), 403),
        ("missing", k.token(&base_claims()), 403),
        (
            "duplicated, admin last",
            dup(r#"["reader"]"#, r#"["admin"]"#),
            200,
        ),
        (
            "duplicated, admin first",
            dup(r#"["admin"]"#, r#"["reader"]"#),
            403,
        ),
    ];
    let bad = mismatches(&s, "DELETE", &cases);
    assert!(bad.is_empty(), "{bad:#?}");
}

/// A role name holding a non-ASCII space (U+00A0, U+3000, U+2028): README, `jwt.roles_claim`:
/// "a space-separated string such as `scope` counts as a list" (RFC 6749 §3.3: scope tokens
/// are split on %x20 only). `Claims::strings_at` splits with `split_whitespace` (Unicode
/// White_Space), so a role or scope named `billing<NBSP>admin` grants `admin`.
// FINDING: a roles string is split on Unicode whitespace, so "billing\u{a0}admin" grants the role admin
#[test]
fn a_role_string_splits_on_ascii_spaces_only() {
    let k = hs();
    let s = Stack::start(config(vec![local_service(41, HOST, jwt_block(&[&k]))]));
    let tok = |roles: Value| k.token(&with(&[("roles", roles)]));
    let cases: Vec<(&str, String, u16)> = vec![
        ("control", tok(json!("reader admin")), 200),
        ("no-break space", tok(json!("billing\u{a0}admin")), 403),
        ("ideographic space", tok(json!("billing\u{3000}admin")), 403),
        ("line separator", tok(json!("billing\u{2028}admin")), 403),
    ];
    let bad = mismatches(&s, "DELETE", &cases);
    assert!(bad.is_empty(), "{bad:#?}");
}

/// OIDC with 3scale: the verified token's client id (`client-1`) is authorized and reported,
/// and an `app_id`/`app_key` of another application in the query (or an `app_id` header)
/// rides along to the upstream unchecked. README, Security: "A credential sent twice with
/// different values is refused (auth failed): the upstream cannot read another key or app id
/// than the one authorized"; "One credential per request". The same app id as the token's
/// passes.
// FINDING: on an OIDC service another app_id/app_key beside a verified token reaches the upstream
#[test]
fn oidc_another_app_id_beside_the_verified_token_is_auth_failed() {
    let k = hs();
    let state = State::new()
        .service(
            Service::new("5")
                .token(TOKEN)
                .backend_version("oauth")
                .metric("hits", None),
        )
        .app(App::new("5", "client-1").plan("OIDC"))
        .app(App::new("5", "client-2").app_keys(&["key-2"]).plan("OIDC"));
    let mut block = jwt_block(&[&k]);
    block
        .as_object_mut()
        .unwrap()
        .remove("max_failed_verifications_per_s");
    let svc = json!({
        "id": 5, "backend_version": "oauth",
        "backend_authentication_type": "service_token", "backend_authentication_value": TOKEN,
        "authentication": {"jwt": block},
        "proxy": {"hosts": [HOST], "authentication_method": "oidc",
            "proxy_rules": [{"http_method": "GET", "pattern": "/", "metric_system_name": "hits", "delta": 1}]}
    });
    let s = Stack::start_with(config(vec![svc]), state, |b| b);
    let t = k.token(&base_claims());
    let send = |target: &str, app_id_header: Option<&str>| {
        let mut r = Request::get(target)
            .header("Host", HOST)
            .header("Authorization", &format!("Bearer {t}"));
        if let Some(v) = app_id_header {
            r = r.header("app_id", v);
        }
        r.send(s.port())
    };
    // Control: the token alone, and with its own client id repeated.
    for target in ["/orders", "/orders?app_id=client-1"] {
        let r = send(target, None);
        assert_eq!(r.status, 200, "{target}: {r}");
        assert_eq!(r.echo().path, target);
    }
    let calls = s.backend.requests();
    assert_eq!(calls.len(), 2);
    assert!(calls.iter().all(|c| c.param("app_id") == Some("client-1")));
    let mut leaked = Vec::new();
    // The service reads credentials in the query (`credentials_location`): an `app_id`
    // header is no credential to it, with or without a token, as in 3scale mode.
    for (target, header) in [
        ("/orders?app_id=client-2&app_key=key-2", None),
        ("/orders?app_id=client-2", None),
        ("/orders?app_id=client-1&app_id=client-2", None),
    ] {
        let before = s.echo.request_count();
        let r = send(target, header);
        if r.status != 403 || s.echo.request_count() != before {
            let seen = s
                .echo
                .last_request()
                .map(|e| (e.header("app_id").map(str::to_string), e.path));
            let authorized = s
                .backend
                .requests()
                .last()
                .and_then(|c| c.param("app_id").map(str::to_string));
            leaked.push(format!(
                "{target} (app_id header {header:?}): {}; authorized {authorized:?}, upstream got {seen:?}",
                r.status
            ));
        }
    }
    assert!(
        leaked.is_empty(),
        "another app id reached the upstream: {leaked:#?}"
    );
    assert_eq!(
        s.backend.requests().len(),
        2,
        "no authrep for the refused requests"
    );
}

/// `local+3scale` with a JWT on a version 1 service: the token's client id is the `user_key`
/// authorized; another `user_key` in the query rides along to the upstream (same README
/// promise as above).
// FINDING: on a local+3scale JWT service another user_key beside a verified token reaches the upstream
#[test]
fn local_then_3scale_another_user_key_beside_the_verified_token_is_auth_failed() {
    let k = hs();
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
        .app(
            App::new("7", "app-premium")
                .user_key("uk-premium")
                .plan("Premium"),
        );
    let svc = json!({
        "id": 7, "backend_version": 1,
        "backend_authentication_type": "service_token", "backend_authentication_value": TOKEN,
        "authentication": {"mode": "local+3scale", "jwt": jwt_block(&[&k])},
        "proxy": {"hosts": [HOST],
            "proxy_rules": [{"http_method": "GET", "pattern": "/", "metric_system_name": "hits", "delta": 1}]}
    });
    let s = Stack::start_with(config(vec![svc]), state, |b| b);
    let t = k.token(&base_claims());
    let send = |target: &str| {
        Request::get(target)
            .header("Host", HOST)
            .header("Authorization", &format!("Bearer {t}"))
            .send(s.port())
    };
    let ok = send("/orders");
    assert_eq!(ok.status, 200, "{ok}");
    assert_eq!(s.backend.requests()[0].param("user_key"), Some("client-1"));
    let r = send("/orders?user_key=uk-premium");
    let calls = s.backend.requests();
    assert!(
        r.status == 403 && s.echo.request_count() == 1,
        "another user_key reached the upstream: {} (upstream got {:?}; authorized user_key {:?})",
        r.status,
        s.echo.last_request().map(|e| e.path),
        calls
            .last()
            .and_then(|c| c.param("user_key").map(str::to_string))
    );
    assert_eq!(calls.len(), 1, "no authrep for the refused request");
}
