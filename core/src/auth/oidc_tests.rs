//! OpenID Connect services whose issuer is discovered (`proxy.oidc_issuer_endpoint` with a
//! `system` block): the service's compiled source, the discovery-then-keys fetches, the
//! discovered issuer required of tokens, and keys kept across a configuration refresh.

use super::jwks_refresh::tests::{padded, take_warnings};
use super::jwks_refresh::{Fetch, JwksRefresh, Refreshed, MAX_FETCHED_BODY_BYTES};
use super::jwt::JwtError;
use crate::base64::encode_url as b64;
use crate::config::Config;
use serde_json::{json, Value};

const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";
const ISSUER: &str = "https://sso.example.com/auth/realms/api";
const DISCOVERY: &[u8] = br#"{"issuer":"https://sso.example.com/auth/realms/api",
  "jwks_uri":"https://SSO.example.com:8443/auth/realms/api/protocol/openid-connect/certs",
  "id_token_signing_alg_values_supported":["HS256","RS256"]}"#;

fn service(endpoint: &str) -> Value {
    json!({"id": 7, "backend_version": "oauth",
        "proxy": {"hosts": ["api"], "authentication_method": "oidc",
            "oidc_issuer_endpoint": endpoint, "proxy_rules": []}})
}

fn config(services: Value) -> (Config, Vec<String>) {
    let v = json!({
        "backend": {"cluster": "b"},
        "system": {"cluster": "s", "access_token": "t", "refresh_s": 60, "timeout_ms": 900,
            "issuer_clusters": {"sso.example.com": "sso"}},
        "services": services
    });
    let parsed = Config::parse(v.to_string().as_bytes()).unwrap();
    (parsed.config, parsed.warnings)
}

fn jwks() -> Vec<u8> {
    json!({"keys": [{"kty": "oct", "kid": "k", "k": b64(SECRET), "alg": "HS256"}]})
        .to_string()
        .into_bytes()
}

fn token(iss: &str) -> String {
    let claims = json!({"exp": 2000, "azp": "app", "iss": iss, "sub": "u", "aud": "app"});
    super::jwt::tests::hs256_token(SECRET, "k", &claims)
}

fn verify(config: &Config, token: &str) -> Result<(), JwtError> {
    let jwt = config.services[0].auth.jwt.as_ref().unwrap();
    jwt.verify(token, 1000).map(|_| ())
}

/// Discovery, then the keys: the fetches the adapter sends, answered 200.
fn discover_and_fetch(refresh: &mut JwksRefresh, config: &Config, now_s: u64) -> Fetch {
    let (_, discovery) = refresh.due(now_s).pop().unwrap();
    refresh.on_sent(0, Some(1));
    let r = refresh.on_answer_body(1, Some(200), Some(DISCOVERY), config, now_s);
    assert_eq!(r, Some(Refreshed::Discovered));
    let (_, keys) = refresh.due(now_s).pop().expect("the keys are due at once");
    refresh.on_sent(0, Some(2));
    let r = refresh.on_answer_body(2, Some(200), Some(&jwks()), config, now_s);
    assert_eq!(r, Some(Refreshed::Installed));
    assert_eq!(keys.authorization, None, "no credentials for the keys");
    assert_eq!(
        (keys.cluster.as_str(), keys.authority.as_str()),
        ("sso", "SSO.example.com:8443")
    );
    assert_eq!(keys.path, "/auth/realms/api/protocol/openid-connect/certs");
    discovery
}

#[test]
fn the_issuer_is_discovered_then_its_keys_fetched_and_tokens_must_carry_its_iss() {
    let (config, warnings) = config(json!([service(
        "https://zync:s3cr3t@sso.example.com/auth/realms/api/"
    )]));
    assert!(warnings.is_empty(), "{warnings:?}");
    let mut refresh = JwksRefresh::new(&config);
    assert_eq!(verify(&config, &token(ISSUER)), Err(JwtError::UnknownKid));

    let discovery = discover_and_fetch(&mut refresh, &config, 100);
    assert_eq!(
        discovery,
        Fetch {
            cluster: "sso".into(),
            path: "/auth/realms/api/.well-known/openid-configuration".into(),
            authority: "sso.example.com".into(),
            authorization: Some("Basic enluYzpzM2NyM3Q=".into()),
            timeout_ms: 900,
        }
    );
    assert_eq!(verify(&config, &token(ISSUER)), Ok(()));
    assert_eq!(
        verify(&config, &token("https://evil.example.com/auth/realms/api")),
        Err(JwtError::WrongIssuer)
    );
    // Each System refresh rediscovers, then refetches the keys.
    assert!(refresh.due(159).is_empty());
    assert_eq!(discover_and_fetch(&mut refresh, &config, 160), discovery);
}

#[test]
fn a_failed_discovery_or_an_unmapped_jwks_host_keeps_the_keys_and_retries_in_5_s() {
    let (config, _) = config(json!([service("https://sso.example.com/auth/realms/api")]));
    let mut refresh = JwksRefresh::new(&config);
    discover_and_fetch(&mut refresh, &config, 100);
    for answer in [
        &br#"{"issuer":"i","jwks_uri":"https://other.example.com/certs"}"#[..],
        b"<html>",
    ] {
        let now_s = refresh_due_at(&mut refresh, 160);
        refresh.on_sent(0, Some(3));
        let r = refresh.on_answer_body(3, Some(200), Some(answer), &config, now_s);
        assert_eq!(r, Some(Refreshed::Refused));
        assert_eq!(verify(&config, &token(ISSUER)), Ok(()), "keys kept");
        assert!(refresh.due(now_s + 4).is_empty());
        assert_eq!(refresh.due(now_s + 5).len(), 1);
        refresh.on_sent(0, Some(4));
        refresh.on_answer_body(4, Some(503), None, &config, now_s + 5);
    }
}

#[test]
fn a_discovery_document_over_the_size_limit_is_refused_unread_and_the_keys_stay() {
    let (config, _) = config(json!([service("https://sso.example.com/auth/realms/api")]));
    let mut refresh = JwksRefresh::new(&config);
    discover_and_fetch(&mut refresh, &config, 100);
    take_warnings();
    // Exactly at the limit: read (the keys' fetch follows).
    let now_s = refresh_due_at(&mut refresh, 160);
    refresh.on_sent(0, Some(3));
    let body = padded(DISCOVERY, MAX_FETCHED_BODY_BYTES);
    let r = refresh.on_answer_body(3, Some(200), Some(&body), &config, now_s);
    assert_eq!(r, Some(Refreshed::Discovered));
    assert_eq!(refresh.due(now_s).len(), 1, "the keys are due at once");
    refresh.on_sent(0, Some(4));
    let r = refresh.on_answer_body(4, Some(200), Some(&jwks()), &config, now_s);
    assert_eq!(r, Some(Refreshed::Installed));

    // One byte more: refused unread, the keys stay, retried in 5 s.
    let now_s = refresh_due_at(&mut refresh, now_s + 1);
    refresh.on_sent(0, Some(5));
    let size = MAX_FETCHED_BODY_BYTES + 1;
    let r = refresh.on_answer(5, Some(200), size, || unreachable!("read"), &config, now_s);
    assert_eq!(r, Some(Refreshed::Refused));
    assert_eq!(
        take_warnings(),
        [format!(
            "tollgate: OpenID Connect discovery through cluster sso failed, keeping the current \
             keys: answer of {size} bytes, at most {MAX_FETCHED_BODY_BYTES} are read"
        )]
    );
    assert_eq!(verify(&config, &token(ISSUER)), Ok(()), "keys kept");
    assert!(refresh.due(now_s + 4).is_empty());
    assert_eq!(refresh.due(now_s + 5).len(), 1);
}

fn refresh_due_at(refresh: &mut JwksRefresh, from_s: u64) -> u64 {
    (from_s..from_s + 100)
        .find(|&now| !refresh.due(now).is_empty())
        .unwrap()
}

#[test]
fn an_issuer_without_a_cluster_or_with_a_bad_url_is_a_warning_and_every_token_fails() {
    let (config, warnings) = config(json!([
        service("https://user:hunter2@idp.elsewhere.com/realms/x"),
        {"id": 8, "backend_version": "oauth",
         "proxy": {"hosts": ["b"], "authentication_method": "oidc",
           "oidc_issuer_endpoint": "sso.example.com/realms/x", "proxy_rules": []}}
    ]));
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    assert!(warnings[0].contains(
        "services[0].proxy.oidc_issuer_endpoint: issuer host idp.elsewhere.com has no cluster in system.issuer_clusters: every token of this service is auth failed (403)"
    ), "{warnings:?}");
    assert!(
        warnings[1].contains("services[1].proxy.oidc_issuer_endpoint: is not an http or https URL")
    );
    assert!(
        !warnings.concat().contains("hunter2"),
        "no credentials in logs"
    );
    assert!(JwksRefresh::new(&config).is_empty());
    assert_eq!(verify(&config, &token(ISSUER)), Err(JwtError::UnknownKid));
}

#[test]
fn without_a_system_block_a_static_oidc_service_still_needs_its_keys() {
    let v = json!({"backend": {"cluster": "b"},
        "services": [service("https://sso.example.com/auth/realms/api")]});
    let e = Config::parse(v.to_string().as_bytes()).unwrap_err();
    assert_eq!(e.path, "services[0].authentication.jwt", "{e}");
}

#[test]
fn a_refreshed_configuration_keeps_the_keys_of_a_service_whose_source_did_not_change() {
    let endpoint = "https://sso.example.com/auth/realms/api";
    let (old, _) = config(json!([service(endpoint)]));
    let mut refresh = JwksRefresh::new(&old);
    discover_and_fetch(&mut refresh, &old, 100);
    // Version 2 of the service (a new rule), and a new OIDC service.
    let mut changed = service(endpoint);
    changed["proxy"]["proxy_rules"] =
        json!([{"http_method": "GET", "pattern": "/", "metric_system_name": "hits", "delta": 1}]);
    let mut other = service("https://sso.example.com/auth/realms/other");
    other["id"] = json!(9);
    other["proxy"]["hosts"] = json!(["other"]);
    let (new, _) = config(json!([changed, other]));
    refresh.follow(&old, &new);
    assert_eq!(verify(&new, &token(ISSUER)), Ok(()), "keys adopted");
    let due: Vec<String> = refresh.due(101).into_iter().map(|(_, f)| f.path).collect();
    assert_eq!(due, ["/auth/realms/other/.well-known/openid-configuration"]);
    let other_jwt = new.services[1].auth.jwt.as_ref().unwrap();
    assert_eq!(
        other_jwt.verify(&token(ISSUER), 1000),
        Err(JwtError::UnknownKid)
    );
}

#[test]
fn a_liquid_client_id_is_one_claim_or_refused() {
    let with = |claim: &str, kind: &str| {
        let mut s = service("https://sso.example.com/auth/realms/api");
        s["proxy"]["jwt_claim_with_client_id"] = json!(claim);
        s["proxy"]["jwt_claim_with_client_id_type"] = json!(kind);
        let v = json!({"backend": {"cluster": "b"},
            "system": {"cluster": "s", "access_token": "t", "issuer_clusters": {"sso.example.com": "sso"}},
            "services": [s]});
        Config::parse(v.to_string().as_bytes()).map(|p| {
            let jwt = p.config.services[0].auth.jwt.clone().unwrap();
            jwt.client_id_claim
        })
    };
    assert_eq!(with("{{ client_id }}", "liquid").unwrap(), "client_id");
    assert_eq!(with("{{azp}}", "liquid").unwrap(), "azp");
    assert_eq!(with("azp", "plain").unwrap(), "azp");
    for (claim, kind) in [
        ("azp", "liquid"),
        ("{{ a }}{{ b }}", "liquid"),
        ("{{ azp | upcase }}", "liquid"),
        ("azp", "Plain"),
    ] {
        let e = with(claim, kind).unwrap_err().to_string();
        assert!(
            e.contains("services[0].proxy.jwt_claim_with_client_id_type"),
            "{claim} {kind}: {e}"
        );
    }
}

#[test]
fn tokens_need_an_algorithm_discovery_lists_and_apicasts_access_token_claims() {
    let (config, _) = config(json!([service("https://sso.example.com/auth/realms/api")]));
    let mut refresh = JwksRefresh::new(&config);
    let answer = |refresh: &mut JwksRefresh, token: u32, body: &[u8], now_s: u64| {
        refresh.due(now_s);
        refresh.on_sent(0, Some(token));
        refresh.on_answer_body(token, Some(200), Some(body), &config, now_s)
    };
    // No `id_token_signing_alg_values_supported` (or an empty one): APIcast's "missing OIDC
    // configuration". A failed discovery: no keys, every token refused.
    let discovery = |algs: &str| {
        format!(r#"{{"issuer":"{ISSUER}","jwks_uri":"https://sso.example.com/certs"{algs}}}"#)
    };
    for (i, algs) in ["", r#","id_token_signing_alg_values_supported":[]"#]
        .into_iter()
        .enumerate()
    {
        let now_s = 100 + 5 * i as u64;
        let r = answer(&mut refresh, 1, discovery(algs).as_bytes(), now_s);
        assert_eq!(r, Some(Refreshed::Refused), "{algs}");
        assert_eq!(verify(&config, &token(ISSUER)), Err(JwtError::UnknownKid));
    }
    // Listed: RS256 only. The HS256 key is installed, its tokens refused.
    let rs256 = discovery(r#","id_token_signing_alg_values_supported":["RS256"]"#);
    assert_eq!(
        answer(&mut refresh, 2, rs256.as_bytes(), 110),
        Some(Refreshed::Discovered)
    );
    assert_eq!(
        answer(&mut refresh, 3, &jwks(), 110),
        Some(Refreshed::Installed)
    );
    assert_eq!(
        verify(&config, &token(ISSUER)),
        Err(JwtError::UnsupportedAlgorithm)
    );
    // Only algorithms Tollgate does not verify: every token refused.
    let ps256 = discovery(r#","id_token_signing_alg_values_supported":["PS256","none"]"#);
    assert_eq!(
        answer(&mut refresh, 4, ps256.as_bytes(), 115),
        Some(Refreshed::Discovered)
    );
    assert_eq!(
        answer(&mut refresh, 5, &jwks(), 115),
        Some(Refreshed::Installed)
    );
    assert_eq!(
        verify(&config, &token(ISSUER)),
        Err(JwtError::UnsupportedAlgorithm)
    );
    // HS256 listed: accepted, with APIcast's access-token claims.
    discover_and_fetch(&mut refresh, &config, 175);
    assert_eq!(verify(&config, &token(ISSUER)), Ok(()));
    let signed = |claims: Value| super::jwt::tests::hs256_token(SECRET, "k", &claims);
    let full = json!({"exp": 2000, "azp": "app", "iss": ISSUER, "sub": "u", "aud": "app",
        "iat": 900, "typ": "Bearer"});
    assert_eq!(verify(&config, &signed(full.clone())), Ok(()));
    for (claim, value) in [
        ("typ", json!("ID")),
        ("typ", json!("Refresh")),
        ("iat", json!(0)),
        ("sub", Value::Null),
        ("aud", Value::Null),
    ] {
        let mut claims = full.clone();
        match value {
            Value::Null => claims.as_object_mut().unwrap().remove(claim),
            value => claims.as_object_mut().unwrap().insert(claim.into(), value),
        };
        assert_eq!(
            verify(&config, &signed(claims)),
            Err(JwtError::NotAccessToken),
            "{claim}"
        );
    }
    // A later document without the list fails as any discovery: the keys (and list) stay.
    assert_eq!(
        answer(&mut refresh, 6, discovery("").as_bytes(), 235),
        Some(Refreshed::Refused)
    );
    assert_eq!(verify(&config, &token(ISSUER)), Ok(()), "keys kept");
}

#[test]
fn an_oidc_service_with_its_own_keys_gets_apicasts_claims_and_a_local_one_does_not() {
    let secret = b64(SECRET);
    let keys = json!({"keys": [{"kty": "oct", "kid": "k", "k": secret, "alg": "HS256"}]});
    let parse = |service: Value| {
        let v = json!({"backend": {"cluster": "b"}, "services": [service]});
        Config::parse(v.to_string().as_bytes()).unwrap().config
    };
    let oidc = parse(json!({"id": 1, "backend_version": "oauth",
        "proxy": {"authentication_method": "oidc", "proxy_rules": []},
        "authentication": {"jwt": {"jwks": keys, "issuer": ISSUER}}}));
    let local = parse(
        json!({"id": 1, "backend_version": 2, "proxy": {"proxy_rules": []},
        "authentication": {"mode": "local+3scale", "jwt": {"jwks": keys, "issuer": ISSUER}}}),
    );
    let id_token = super::jwt::tests::hs256_token(
        SECRET,
        "k",
        &json!({"exp": 2000, "azp": "app", "iss": ISSUER, "typ": "ID"}),
    );
    assert_eq!(verify(&oidc, &id_token), Err(JwtError::NotAccessToken));
    assert_eq!(verify(&local, &id_token), Ok(()));
    // No discovery: every algorithm the keys fit.
    assert_eq!(verify(&oidc, &token(ISSUER)), Ok(()));
}

/// An OIDC service with its own keys needs `issuer`: APIcast always checks `iss`, and a
/// shared key set signs other tenants' tokens (found by an audit, 2026-12-06). A discovered
/// issuer is pinned by its document (above).
#[test]
fn an_oidc_service_with_its_own_keys_needs_an_issuer() {
    let keys = json!({"keys": [{"kty": "oct", "kid": "k", "k": b64(SECRET), "alg": "HS256"}]});
    let v = json!({"backend": {"cluster": "b"}, "services": [{"id": 1,
        "backend_version": "oauth", "proxy": {"authentication_method": "oidc", "proxy_rules": []},
        "authentication": {"jwt": {"jwks": keys}}}]});
    let e = Config::parse(v.to_string().as_bytes()).unwrap_err();
    assert_eq!(
        e.to_string(),
        "services[0].authentication.jwt.issuer: required for an OIDC service"
    );
}

/// `authentication.mode` none on an OIDC service was read as local+3scale: documented as
/// reading no credentials, it asked every request for a token (found by an audit,
/// 2026-12-07). Refused as local is; 3scale (the default) stays OIDC's own reading.
#[test]
fn an_oidc_service_in_mode_none_or_local_is_refused_at_its_mode() {
    let keys = json!({"keys": [{"kty": "oct", "kid": "k", "k": b64(SECRET), "alg": "HS256"}]});
    let at = "services[0].authentication.mode: an OpenID Connect service";
    let cases = [
        (
            json!({"mode": "none"}),
            format!(
                "{at} reads a token and reports to 3scale: use local+3scale or leave mode unset"
            ),
        ),
        (
            json!({"mode": "local", "jwt": {"jwks": keys, "issuer": ISSUER}}),
            format!("{at} reports to 3scale: use local+3scale or leave mode unset"),
        ),
    ];
    for (auth, refusal) in cases {
        let mut svc = service("https://sso.example.com/auth/realms/api");
        svc["authentication"] = auth.clone();
        let v = json!({"backend": {"cluster": "b"},
            "system": {"cluster": "s", "access_token": "t",
                "issuer_clusters": {"sso.example.com": "sso"}},
            "services": [svc]});
        let e = Config::parse(v.to_string().as_bytes()).unwrap_err();
        assert_eq!(e.to_string(), refusal, "{auth}");
    }
    let mut svc = service("https://sso.example.com/auth/realms/api");
    svc["authentication"] = json!({"mode": "3scale"});
    let (config, _) = config(json!([svc]));
    assert_eq!(
        config.services[0].auth.mode,
        super::Mode::LocalThenThreeScale
    );
}
