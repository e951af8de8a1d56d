//! OpenID Connect services loaded from 3scale System (Envoy with two workers): the issuer in
//! `proxy.oidc_issuer_endpoint` is discovered through the cluster `system.issuer_clusters`
//! maps its host to (with the endpoint's client credentials as Basic), its keys fetched, and
//! tokens checked against the discovered issuer; the client id is reported as `app_id`. Keys
//! rotate with the System refresh, an issuer without a cluster refuses every token, and the
//! client secret never reaches the logs.

mod support;

use e2e::jwt::{now, Signer};
use e2e::system::{self, MockSystem, Realm, Stored, WithSystem};
use e2e::{wait_steady, wait_until, Request, Response};
use serde_json::{json, Value};
use std::time::Duration;
use support::*;

const ISSUER: &str = "https://sso.example.com/auth/realms/api";
const ENDPOINT: &str = "https://zync:s3cr3t@sso.example.com/auth/realms/api";
const DISCOVERY: &str = "/auth/realms/api/.well-known/openid-configuration";
const CERTS: &str = "/auth/realms/api/protocol/openid-connect/certs";

/// An OIDC service as System stores it (no `authentication` block: the keys are discovered).
fn oidc_service(id: u64, host: &str, endpoint: &str) -> Value {
    json!({
        "id": id, "backend_version": "oauth", "system_name": format!("oidc-{id}"),
        "backend_authentication_type": "service_token", "backend_authentication_value": TOKEN,
        "proxy": {"hosts": [host], "authentication_method": "oidc",
            "oidc_issuer_endpoint": endpoint,
            "proxy_rules": [{"http_method": "GET", "pattern": "/", "metric_system_name": "hits", "delta": 1}]}
    })
}

fn realm(signer: &Signer) -> Realm {
    Realm {
        jwks: Signer::jwks(&[signer]),
        credentials: Some("zync:s3cr3t".to_string()),
    }
}

fn token(signer: &Signer, iss: &str, client: &str) -> String {
    // APIcast's OIDC requires `sub` and `aud` (Keycloak's access tokens carry both).
    let claims = json!({"iss": iss, "azp": client, "sub": "user-1", "aud": "account",
        "exp": now() + 300});
    signer.token(&claims)
}

fn call(s: &Stack, host: &str, token: Option<&str>) -> Response {
    let mut r = Request::get("/orders").header("Host", host);
    if let Some(t) = token {
        r = r.header("Authorization", &format!("Bearer {t}"));
    }
    r.send(s.port())
}

fn start(mock: &MockSystem) -> Stack {
    let state = oidc_state();
    let mut block = system::block(2);
    block["issuer_clusters"] = json!({"SSO.example.com": "sso"});
    let config = json!({
        "backend": {"cluster": "threescale_backend", "authority": "backend.example", "timeout_ms": 1000},
        "system": block
    });
    Stack::start_with(config, state, |b| {
        b.with_system(mock)
            .extra_cluster("sso", mock.port())
            .concurrency(2)
    })
}

#[test]
fn an_oidc_service_from_system_discovers_its_issuer_and_checks_tokens_with_its_keys() {
    let mock = system::start();
    let (first, second) = (Signer::rs256("kc-1"), Signer::es256("kc-2"));
    mock.set_realm("api", realm(&first));
    mock.publish(
        Stored::Production,
        oidc_service(5, "api.example.com", ENDPOINT),
    )
    .unwrap();
    mock.publish(
        Stored::Production,
        oidc_service(6, "other.example.com", "https://idp.elsewhere.com/realms/x"),
    )
    .unwrap();
    let s = start(&mock);
    let valid = token(&first, ISSUER, "client-1");
    assert!(
        wait_steady(Duration::from_secs(8), || {
            call(&s, "api.example.com", Some(&valid)).status == 200
        }),
        "a token signed with the issuer's key is accepted once its keys are discovered"
    );

    // The client id is the app_id of an OAuth authrep; the upstream got the request.
    let authreps: Vec<_> = s
        .backend
        .requests()
        .into_iter()
        .filter(|r| r.path == "/transactions/oauth_authrep.xml")
        .collect();
    assert!(!authreps.is_empty());
    assert_eq!(authreps[0].param("app_id"), Some("client-1"));
    assert_eq!(authreps[0].param("service_id"), Some("5"));
    let upstream_before = s.echo.requests().len();
    assert!(upstream_before >= 1);

    // Discovery carried the endpoint's client credentials as Basic; the keys' fetch none.
    let idp: Vec<_> = mock
        .requests()
        .into_iter()
        .filter(|r| r.path.starts_with("/auth/"))
        .collect();
    let discovery = idp.iter().find(|r| r.path == DISCOVERY).expect("discovery");
    assert_eq!(
        discovery.authorization.as_deref(),
        Some("Basic enluYzpzM2NyM3Q=")
    );
    let certs = idp.iter().find(|r| r.path == CERTS).expect("keys fetched");
    assert_eq!(certs.authorization, None);

    // The discovered issuer is required; a forged signature, another key, or no token fail.
    let backend_before = s.backend.requests().len();
    let wrong_iss = token(
        &first,
        "https://evil.example.com/auth/realms/api",
        "client-1",
    );
    let r = call(&s, "api.example.com", Some(&wrong_iss));
    assert_eq!((r.status, r.body.as_str()), (403, "Authentication failed"));
    let mut forged = valid.clone();
    forged.pop();
    forged.push(if valid.ends_with('A') { 'B' } else { 'A' });
    assert_eq!(call(&s, "api.example.com", Some(&forged)).status, 403);
    let not_yet = token(&second, ISSUER, "client-1");
    assert_eq!(call(&s, "api.example.com", Some(&not_yet)).status, 403);
    let missing = call(&s, "api.example.com", None);
    assert_eq!(
        (missing.status, missing.body.as_str()),
        (401, "Authentication parameters missing")
    );
    // The issuer of service 6 has no cluster: every token is refused, with a warning.
    assert_eq!(call(&s, "other.example.com", Some(&valid)).status, 403);
    assert_eq!(
        s.backend.requests().len(),
        backend_before,
        "no authrep for a refused token"
    );
    assert_eq!(
        s.echo.requests().len(),
        upstream_before,
        "nothing refused reached the upstream"
    );
    assert!(s.envoy.wait_for_log(
        "issuer host idp.elsewhere.com has no cluster in system.issuer_clusters",
        Duration::from_secs(2)
    ));

    // The issuer rotates its key: within a refresh (2 s) both workers take the new keys.
    mock.set_realm("api", realm(&second));
    assert!(
        wait_steady(Duration::from_secs(8), || {
            call(&s, "api.example.com", Some(&not_yet)).status == 200
        }),
        "the rotated key is fetched with the configuration refresh"
    );
    assert_eq!(call(&s, "api.example.com", Some(&valid)).status, 403);

    // The client secret is never in a log line (Envoy runs at info level).
    let log = s.envoy.log();
    assert!(!log.contains("s3cr3t") && !log.contains("enluYzpzM2NyM3Q="));
    assert!(!log.contains(system::TOKEN));
}

#[test]
fn a_discovery_failure_keeps_serving_with_the_keys_already_fetched() {
    let mock = system::start();
    let signer = Signer::rs256("kc-1");
    mock.set_realm("api", realm(&signer));
    mock.publish(
        Stored::Production,
        oidc_service(5, "api.example.com", ENDPOINT),
    )
    .unwrap();
    let s = start(&mock);
    let valid = token(&signer, ISSUER, "client-1");
    assert!(wait_steady(Duration::from_secs(8), || {
        call(&s, "api.example.com", Some(&valid)).status == 200
    }));
    // The issuer starts failing, and System publishes a new version of the service (a
    // refreshed configuration must not drop the keys it had).
    mock.set_faults(system::Faults {
        failure: system::Failure::Status(500),
        path: Some("/auth/".to_string()),
        ..system::Faults::default()
    });
    let mut changed = oidc_service(5, "api.example.com", ENDPOINT);
    changed["proxy"]["proxy_rules"]
        .as_array_mut()
        .unwrap()
        .push(json!({"http_method": "GET", "pattern": "/orders", "metric_system_name": "hits", "delta": 1}));
    mock.publish(Stored::Production, changed).unwrap();
    assert!(s.envoy.wait_for_log(
        "OpenID Connect discovery through cluster sso failed, keeping the current keys",
        Duration::from_secs(8)
    ));
    assert!(wait_until(Duration::from_secs(6), || {
        s.envoy.log().contains("version 1 -> 2")
    }));
    for _ in 0..6 {
        let r = call(&s, "api.example.com", Some(&valid));
        assert_eq!(r.status, 200, "{r}");
    }
}
