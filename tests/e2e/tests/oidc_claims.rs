//! OpenID Connect services from 3scale System, as APIcast's `oauth/oidc.lua` (`_M.new`) checks
//! their tokens: only a signing algorithm the discovery document lists in
//! `id_token_signing_alg_values_supported` (the mock lists `RS256` and `ES256`), and the
//! access-token claims: `sub` and `aud` required, a `typ` other than `Bearer` (Keycloak's ID
//! and refresh tokens say `ID` and `Refresh`) or an `iat` not above 0 refused (found by an
//! audit, 2026-12-05). Each `*_refused` test fails on the module before (s16a: every token
//! 200); the client id's encoding held.

mod support;

use e2e::jwt::{now, Signer};
use e2e::system::{self, MockSystem, Realm, Stored, WithSystem};
use e2e::{wait_steady, Request, Response};
use serde_json::{json, Value};
use std::time::Duration;
use support::refusals::describe;
use support::*;

const API: &str = "api.example.com";
const ISSUER: &str = "https://sso.example.com/auth/realms/api";
const ENDPOINT: &str = "https://zync:s3cr3t@sso.example.com/auth/realms/api";

fn oidc_service() -> Value {
    json!({
        "id": 5, "backend_version": "oauth", "system_name": "oidc-5",
        "backend_authentication_type": "service_token", "backend_authentication_value": TOKEN,
        "proxy": {"hosts": [API], "authentication_method": "oidc",
            "oidc_issuer_endpoint": ENDPOINT,
            "proxy_rules": [{"http_method": "GET", "pattern": "/", "metric_system_name": "hits", "delta": 1}]}
    })
}

/// Envoy (2 workers) loading the OIDC service from `mock`, whose realm holds these keys.
fn oidc_stack(mock: &MockSystem, keys: &[&Signer]) -> Stack {
    mock.set_realm(
        "api",
        Realm {
            jwks: Signer::jwks(keys),
            credentials: Some("zync:s3cr3t".to_string()),
        },
    );
    mock.publish(Stored::Production, oidc_service()).unwrap();
    let mut block = system::block(60);
    block["issuer_clusters"] = json!({"sso.example.com": "sso"});
    let config = json!({
        "backend": {"cluster": "threescale_backend", "authority": "backend.example", "timeout_ms": 1000},
        "system": block
    });
    Stack::start_with(config, oidc_state(), |b| {
        b.with_system(mock)
            .extra_cluster("sso", mock.port())
            .concurrency(2)
    })
}

fn bearer(port: u16, token: &str) -> Response {
    Request::get("/orders")
        .header("Host", API)
        .header("Authorization", &format!("Bearer {token}"))
        .send(port)
}

fn oauth_authreps(s: &Stack) -> usize {
    (s.backend.requests().iter())
        .filter(|r| r.path == "/transactions/oauth_authrep.xml")
        .count()
}

/// An access token as Keycloak mints it.
fn access_claims() -> Value {
    json!({"iss": ISSUER, "azp": "client-1", "aud": "account", "sub": "user-1",
        "typ": "Bearer", "iat": now() - 5, "exp": now() + 300})
}

/// Waits for `ok` to be accepted (the keys discovered), then sends each of `refused` and
/// returns those not answered 403 with nothing sent to the backend or the upstream.
fn served(s: &Stack, ok: &str, refused: &[(&str, String)]) -> Vec<String> {
    let port = s.port();
    assert!(
        wait_steady(Duration::from_secs(10), || bearer(port, ok).status == 200),
        "the access token was never accepted (keys not discovered?)"
    );
    let mut served = Vec::new();
    for (what, token) in refused {
        let (upstream, backend) = (s.echo.request_count(), oauth_authreps(s));
        let r = bearer(port, token);
        if r.status != 403 || s.echo.request_count() != upstream || oauth_authreps(s) != backend {
            served.push(format!(
                "{what}: {} (upstream {} -> {}, oauth_authreps {backend} -> {})",
                r.status,
                upstream,
                s.echo.request_count(),
                oauth_authreps(s)
            ));
        }
    }
    served
}

/// The realm's JWKS holds an EdDSA and an HS256 key beside its RS256 key, but its discovery
/// document lists RS256 and ES256 only: APIcast refuses tokens of another `alg` (403).
#[test]
fn a_token_of_an_algorithm_discovery_does_not_list_is_refused() {
    let mock = system::start();
    let rs = Signer::rs256("kc-rs");
    let ed = Signer::ed25519("kc-ed");
    let hs = Signer::hs256(b"0123456789abcdef0123456789abcdef-realm", "kc-hs");
    let s = oidc_stack(&mock, &[&rs, &ed, &hs]);
    let claims = access_claims();
    let served = served(
        &s,
        &rs.token(&claims),
        &[("EdDSA", ed.token(&claims)), ("HS256", hs.token(&claims))],
    );
    assert!(
        served.is_empty(),
        "tokens of an algorithm the discovery document does not list were served: {served:?}"
    );
}

/// A Keycloak refresh token (`typ: Refresh`), a `typ` in another case, and an `iat` of 0 or
/// below are not access tokens for APIcast (403, no authrep).
#[test]
fn a_refresh_token_or_an_iat_not_above_zero_is_refused() {
    let mock = system::start();
    let rs = Signer::rs256("kc-rs");
    let s = oidc_stack(&mock, &[&rs]);
    let with = |claim: &str, value: Value| {
        let mut claims = access_claims();
        claims[claim] = value;
        rs.token(&claims)
    };
    let served = served(
        &s,
        &rs.token(&access_claims()),
        &[
            ("typ Refresh", with("typ", json!("Refresh"))),
            ("typ bearer", with("typ", json!("bearer"))),
            ("iat 0", with("iat", json!(0))),
            ("iat -1", with("iat", json!(-1))),
        ],
    );
    assert!(
        served.is_empty(),
        "tokens that are not access tokens were served: {served:?}"
    );
}

/// A Keycloak ID token (`typ: ID`, signed with the realm key that signs access tokens, `azp`
/// and `aud` the client id) and tokens without `sub` or `aud`: APIcast requires `sub` and `aud`
/// (`jwt_validators.required()`) and a `typ` of `Bearer` when present (403, no authrep).
#[test]
fn an_id_token_or_a_token_without_sub_or_aud_is_refused() {
    let mock = system::start();
    let rs = Signer::rs256("kc-rs");
    let s = oidc_stack(&mock, &[&rs]);
    let without = |claim: &str| {
        let mut claims = access_claims();
        if let Some(c) = claims.as_object_mut() {
            c.remove(claim);
        }
        rs.token(&claims)
    };
    let mut id = access_claims();
    id["typ"] = json!("ID");
    id["aud"] = json!("client-1");
    let served = served(
        &s,
        &rs.token(&access_claims()),
        &[
            ("an ID token", rs.token(&id)),
            ("without sub", without("sub")),
            ("without aud", without("aud")),
        ],
    );
    assert!(
        served.is_empty(),
        "tokens APIcast refuses were served: {served:?}"
    );
}

/// The app_id of the OAuth authrep is exactly the token's client id, percent-encoded as one
/// parameter (a client id holding `&app_id=` adds none); a list gives its first element.
#[test]
fn held_oidc_client_id_is_one_percent_encoded_app_id() {
    let mock = system::start();
    let signer = Signer::rs256("kc-1");
    let s = oidc_stack(&mock, &[&signer]);
    let port = s.port();
    let token = |azp: Value| {
        signer.token(
            &json!({"iss": ISSUER, "azp": azp, "aud": "account", "sub": "u",
            "typ": "Bearer", "exp": now() + 300}),
        )
    };
    let listed = token(json!(["client-1", "other"]));
    assert!(wait_steady(Duration::from_secs(10), || bearer(
        port, &listed
    )
    .status
        == 200));
    let odd = "c 1&app_id=client-1%2B+";
    let before = s.echo.request_count();
    let r = bearer(port, &token(json!(odd)));
    assert_eq!(r.status, 403, "no such application: {}", describe(&r));
    assert_eq!(s.echo.request_count(), before);
    let last = s.backend.requests().into_iter().last().unwrap();
    assert_eq!(last.path, "/transactions/oauth_authrep.xml");
    let app_ids: Vec<_> = last.query.iter().filter(|(k, _)| k == "app_id").collect();
    assert_eq!(app_ids.len(), 1, "{}", last.raw_query);
    assert_eq!(app_ids[0].1, odd, "{}", last.raw_query);
}
