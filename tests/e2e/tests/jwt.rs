//! JWT bearer tokens through Envoy: every algorithm, roles on rules, each rejected-token case,
//! and OIDC (backend_version "oauth") reporting the client id. Keys and tokens are minted here.

mod support;

use e2e::jwt::{b64url, now, Signer};
use e2e::mock_backend::{App, Service, State};
use e2e::Request;
use serde_json::{json, Value};
use support::*;

const ISSUER: &str = "https://idp.example.com/realms/demo";

struct Keys {
    hs: Signer,
    rs: Signer,
    es: Signer,
    ed: Signer,
}

fn keys() -> Keys {
    Keys {
        hs: Signer::hs256(b"0123456789abcdef0123456789abcdef-hmac", "hs-1"),
        rs: Signer::rs256("rs-1"),
        es: Signer::es256("es-1"),
        ed: Signer::ed25519("ed-1"),
    }
}

fn jwt_block(k: &Keys) -> Value {
    json!({
        "jwks": Signer::jwks(&[&k.hs, &k.rs, &k.es, &k.ed]),
        "issuer": ISSUER, "audiences": ["orders-api"], "leeway_s": 5,
        "roles_claim": "realm_access.roles"
    })
}

fn claims(roles: &[&str], exp_in: i64) -> Value {
    json!({
        "iss": ISSUER, "aud": ["orders-api", "other"], "sub": "user-1", "azp": "client-1",
        "exp": (now() as i64 + exp_in), "realm_access": {"roles": roles}
    })
}

fn local_stack(k: &Keys) -> Stack {
    let svc = json!({
        "id": 20,
        "authentication": {"mode": "local", "jwt": jwt_block(k)},
        "proxy": {"hosts": ["jwt.example.com"], "proxy_rules": [
            {"http_method": "GET", "pattern": "/orders", "metric_system_name": "hits", "delta": 1},
            {"http_method": "DELETE", "pattern": "/orders", "metric_system_name": "hits", "delta": 1, "roles": ["admin"]}
        ]}
    });
    Stack::start(config(vec![svc]))
}

fn call(s: &Stack, method: &str, token: Option<&str>) -> e2e::Response {
    let mut r = Request::new(method, "/orders/1").header("Host", "jwt.example.com");
    if let Some(t) = token {
        r = r.header("Authorization", &format!("Bearer {t}"));
    }
    r.send(s.port())
}

#[test]
fn every_algorithm_is_accepted_and_roles_gate_rules() {
    let k = keys();
    let s = local_stack(&k);
    for signer in [&k.hs, &k.rs, &k.es, &k.ed] {
        let token = signer.token(&claims(&["reader"], 60));
        let r = call(&s, "GET", Some(&token));
        assert_eq!(r.status, 200, "{}: {r}", signer.alg());
        assert!(
            r.echo().header("authorization").is_some(),
            "the token is forwarded"
        );
        assert_eq!(
            call(&s, "DELETE", Some(&token)).status,
            403,
            "{}: DELETE needs admin",
            signer.alg()
        );
    }
    let admin = k.es.token(&claims(&["reader", "admin"], 60));
    assert_eq!(call(&s, "DELETE", Some(&admin)).status, 200);
    assert!(s.backend.requests().is_empty());
}

#[test]
fn rejected_tokens() {
    let k = keys();
    let s = local_stack(&k);
    let good = claims(&["reader"], 60);
    let header = |alg: &str, kid: &str| json!({"alg": alg, "typ": "JWT", "kid": kid});
    let unsigned = format!(
        "{}.{}.",
        b64url(header("none", "rs-1").to_string().as_bytes()),
        b64url(good.to_string().as_bytes())
    );
    // RS256 -> HS256 confusion: an HMAC made with the RSA public key as the secret.
    let pem = k.rs.public_key_pem().unwrap();
    let confused =
        Signer::hs256(pem.as_bytes(), "rs-1").token_with_header(&header("HS256", "rs-1"), &good);
    let mut bad_signature = k.rs.token(&good);
    bad_signature.replace_range(bad_signature.len() - 4.., "AAAA");
    let cases: Vec<(&str, String)> = vec![
        ("alg none", unsigned),
        ("unknown kid", Signer::rs256("rs-unknown").token(&good)),
        ("key of another type (RS256 key, HS256 token)", confused),
        ("ES256 token under the RSA kid", k.es.token_with_header(&header("ES256", "rs-1"), &good)),
        ("bad signature", bad_signature),
        ("expired", k.rs.token(&claims(&["reader"], -60))),
        ("wrong issuer", k.hs.token(&json!({"iss": "https://evil", "aud": "orders-api", "exp": now() + 60}))),
        ("wrong audience", k.hs.token(&json!({"iss": ISSUER, "aud": "billing", "exp": now() + 60}))),
        ("not yet valid", k.hs.token(&json!({"iss": ISSUER, "aud": "orders-api", "exp": now() + 600, "nbf": now() + 300}))),
        ("garbage", "not.a.jwt".to_string()),
    ];
    for (case, token) in &cases {
        let r = call(&s, "GET", Some(token));
        assert_eq!(
            (r.status, r.body.as_str()),
            (403, "Authentication failed"),
            "{case}: {r}"
        );
    }
    // Expired 3 s ago, within the 5 s leeway: accepted.
    assert_eq!(
        call(&s, "GET", Some(&k.hs.token(&claims(&[], -3)))).status,
        200
    );
    let missing = call(&s, "GET", None);
    assert_eq!(missing.status, 401);
    assert_eq!(s.echo.requests().len(), 1);
}

#[test]
fn oidc_authrep_reports_the_client_id() {
    let k = keys();
    let state = oidc_state().app(App::new("5", "client-2").plan("OIDC").state_suspended());
    let svc = json!({
        "id": 5, "backend_version": "oauth",
        "backend_authentication_type": "service_token", "backend_authentication_value": TOKEN,
        "authentication": {"jwt": jwt_block(&k)},
        "proxy": {"hosts": ["jwt.example.com"], "authentication_method": "oidc",
            "proxy_rules": [{"http_method": "GET", "pattern": "/", "metric_system_name": "hits", "delta": 2}]}
    });
    let s = Stack::start_with(config(vec![svc]), state, |b| b);
    let ok = call(&s, "GET", Some(&k.rs.token(&claims(&[], 60))));
    assert_eq!(ok.status, 200, "{ok}");
    let calls = s.backend.requests();
    assert_eq!(calls[0].path, "/transactions/oauth_authrep.xml");
    assert_eq!(calls[0].param("app_id"), Some("client-1"));
    assert_eq!(calls[0].param("usage[hits]"), Some("2"));
    assert_eq!(calls[0].param("app_key"), None);

    let mut suspended = claims(&[], 60);
    suspended["azp"] = json!("client-2");
    assert_eq!(
        call(&s, "GET", Some(&k.rs.token(&suspended))).status,
        403,
        "3scale's denial wins"
    );
    assert_eq!(
        call(&s, "GET", Some(&k.rs.token(&claims(&[], -60)))).status,
        403,
        "invalid JWT"
    );
    assert_eq!(
        s.backend.requests().len(),
        2,
        "an invalid JWT never reaches the backend"
    );
    assert_eq!(call(&s, "GET", None).status, 401);
}

/// RS512 and HS512 keys (APIcast verifies RS384/512 and HS384/512 too; found by an audit,
/// 2026-12-07: Tollgate refused their tokens, 403): a token of the key's `alg` is reported on
/// oauth_authrep; one its own key signed under another `alg` (RS256, HS256) is refused
/// before the backend, as the key's `alg` pins the token's.
#[test]
fn oidc_with_rs512_and_hs512_keys() {
    let rs = Signer::rs512("rs512-1");
    let hs = Signer::hs512(&[7u8; 64], "hs512-1");
    // With an ES256 key beside them, a module that skips RS512 and HS512 keys loads the set.
    let es = Signer::es256("es-1");
    let mut jwt = jwt_block(&keys());
    jwt["jwks"] = Signer::jwks(&[&rs, &hs, &es]);
    let svc = json!({
        "id": 5, "backend_version": "oauth",
        "backend_authentication_type": "service_token", "backend_authentication_value": TOKEN,
        "authentication": {"jwt": jwt},
        "proxy": {"hosts": ["jwt.example.com"], "authentication_method": "oidc",
            "proxy_rules": [{"http_method": "GET", "pattern": "/", "metric_system_name": "hits", "delta": 2}]}
    });
    let s = Stack::start_with(config(vec![svc]), oidc_state(), |b| b);
    for signer in [&rs, &hs] {
        let r = call(&s, "GET", Some(&signer.token(&claims(&[], 60))));
        assert_eq!(r.status, 200, "{}: {r}", signer.alg());
        assert_eq!(r.echo().path, "/orders/1", "{}", signer.alg());
        let calls = s.backend.requests();
        let last = calls.last().unwrap();
        assert_eq!(last.path, "/transactions/oauth_authrep.xml");
        assert_eq!(last.param("app_id"), Some("client-1"));
        assert_eq!(last.param("usage[hits]"), Some("2"));
    }
    assert_eq!(s.echo.requests().len(), 2);
    for (other, signer) in [("RS256", &rs), ("RS384", &rs), ("HS256", &hs)] {
        let relabelled = signer.same_key_as(other).token(&claims(&[], 60));
        let r = call(&s, "GET", Some(&relabelled));
        assert_eq!(
            (r.status, r.body.as_str()),
            (403, "Authentication failed"),
            "{other} with the {} key: {r}",
            signer.alg()
        );
    }
    assert_eq!(
        s.backend.requests().len(),
        2,
        "no authrep for a refused token"
    );
    assert_eq!(s.echo.requests().len(), 2, "nothing forwarded");
}

/// `proxy.jwt_claim_with_client_id` names the claim; a valid token without it is auth failed
/// (APIcast: 403), never identified by `sub` or an empty app_id.
#[test]
fn oidc_client_id_from_a_named_claim_and_never_from_sub() {
    let k = keys();
    let state = State::new()
        .service(
            Service::new("6")
                .token(TOKEN)
                .backend_version("oauth")
                .metric("hits", None),
        )
        .app(App::new("6", "partner-app").plan("OIDC"))
        .app(App::new("6", "user-1").plan("OIDC"));
    let svc = json!({
        "id": 6, "backend_version": "oauth",
        "backend_authentication_type": "service_token", "backend_authentication_value": TOKEN,
        "authentication": {"jwt": jwt_block(&k)},
        "proxy": {"hosts": ["jwt.example.com"], "authentication_method": "oidc",
            "jwt_claim_with_client_id": "client_id",
            "proxy_rules": [{"http_method": "GET", "pattern": "/", "metric_system_name": "hits", "delta": 1}]}
    });
    let s = Stack::start_with(config(vec![svc]), state, |b| b);
    let mut named = claims(&[], 60);
    named["client_id"] = json!(["partner-app", "ignored"]);
    let ok = call(&s, "GET", Some(&k.es.token(&named)));
    assert_eq!(ok.status, 200, "{ok}");
    let calls = s.backend.requests();
    assert_eq!(calls.len(), 1);
    assert_eq!(
        calls[0].param("app_id"),
        Some("partner-app"),
        "first element of a list"
    );

    // `azp` is there but is not the configured claim; `sub` names an active app: still refused.
    let without = call(&s, "GET", Some(&k.es.token(&claims(&[], 60))));
    assert_eq!(without.status, 403, "{without}");
    assert_eq!(without.body, "Authentication failed");
    let mut empty = claims(&[], 60);
    empty["client_id"] = json!("");
    assert_eq!(call(&s, "GET", Some(&k.es.token(&empty))).status, 403);
    assert_eq!(
        s.backend.requests().len(),
        1,
        "no authrep without a client id"
    );
}

/// `local+3scale` with a JWT (not OIDC): the token's client id claim (`azp`) is the 3scale
/// credential (`user_key` on this version 1 service). A valid token without it is auth failed
/// with no backend call: its `sub` is the user's id at the identity provider, not an app's,
/// and could name another app's key (before the fix it was sent as the `user_key`).
#[test]
fn local_then_3scale_jwt_needs_the_client_id_and_never_uses_sub() {
    let k = keys();
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
                .user_key("user-1")
                .plan("Premium"),
        );
    let svc = json!({
        "id": 7, "backend_version": 1,
        "backend_authentication_type": "service_token", "backend_authentication_value": TOKEN,
        "authentication": {"mode": "local+3scale", "jwt": jwt_block(&k)},
        "proxy": {"hosts": ["jwt.example.com"],
            "proxy_rules": [{"http_method": "GET", "pattern": "/", "metric_system_name": "hits", "delta": 1}]}
    });
    let s = Stack::start_with(config(vec![svc]), state, |b| b);
    let ok = call(&s, "GET", Some(&k.rs.token(&claims(&[], 60))));
    assert_eq!(ok.status, 200, "{ok}");
    let calls = s.backend.requests();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].param("user_key"), Some("client-1"));

    // A valid token whose `sub` is another app's key, without `azp`.
    let mut no_client = claims(&[], 60);
    no_client.as_object_mut().unwrap().remove("azp");
    let r = call(&s, "GET", Some(&k.rs.token(&no_client)));
    assert_eq!(r.status, 403, "{r}");
    assert_eq!(r.body, "Authentication failed");
    assert_eq!(
        s.backend.requests().len(),
        1,
        "no authrep without a client id"
    );
    assert_eq!(
        s.echo.requests().len(),
        1,
        "only the first request was forwarded"
    );
}

/// Service 21 on `jwt.example.com`, its keys fetched every second from `/realms/demo/certs`
/// on cluster `idp` (the document server on `idp_port`).
fn fetching_stack(idp_port: u16) -> Stack {
    let svc = json!({
        "id": 21,
        "authentication": {"mode": "local", "jwt": {
            "issuer": ISSUER,
            "jwks_source": {"cluster": "idp", "path": "/realms/demo/certs", "authority": "idp.example.com", "refresh_s": 1}
        }},
        "proxy": {"hosts": ["jwt.example.com"], "proxy_rules": [{"http_method": "GET", "pattern": "/", "metric_system_name": "hits", "delta": 1}]}
    });
    Stack::start_with(config(vec![svc]), backend_state(), |b| {
        b.extra_cluster("idp", idp_port)
    })
}

#[test]
fn jwks_fetched_through_a_cluster_and_refreshed() {
    use e2e::document_server::DocumentServer;
    use std::time::{Duration, Instant};
    let (old, new) = (Signer::es256("2025-key"), Signer::rs256("2026-key"));
    let idp = DocumentServer::start(&Signer::jwks(&[&old]).to_string()).unwrap();
    let s = fetching_stack(idp.port());
    let token = |signer: &Signer| signer.token(&json!({"iss": ISSUER, "exp": now() + 60}));
    let wait_for = |signer: &Signer, status: u16| {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let got = call(&s, "GET", Some(&token(signer))).status;
            if got == status || Instant::now() > deadline {
                return got;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    };
    assert_eq!(
        wait_for(&old, 200),
        200,
        "the first fetch installs the IdP's key"
    );
    assert_eq!(
        call(&s, "GET", Some(&token(&new))).status,
        403,
        "unknown kid before rotation"
    );

    // A broken answer keeps the current keys.
    idp.set(500, "oops");
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(call(&s, "GET", Some(&token(&old))).status, 200);

    // Rotation at the IdP: the new key arrives with the next refresh, the old one goes.
    idp.set(200, &Signer::jwks(&[&new]).to_string());
    assert_eq!(wait_for(&new, 200), 200);
    assert_eq!(call(&s, "GET", Some(&token(&old))).status, 403);
    let fetches = s
        .envoy
        .stat("wasmcustom.tollgate.jwks_refreshes")
        .unwrap_or(0);
    assert!(fetches >= 2, "{fetches}");
    assert!(
        s.envoy
            .stat("wasmcustom.tollgate.jwks_refresh_errors")
            .unwrap_or(0)
            >= 1
    );
    assert!(idp.hits() >= 3);
}

#[test]
fn an_oversized_jwks_answer_is_refused_unread_and_the_keys_stay() {
    use e2e::document_server::DocumentServer;
    use std::time::{Duration, Instant};
    let key = Signer::es256("2025-key");
    let jwks = Signer::jwks(&[&key]).to_string();
    let idp = DocumentServer::start(&jwks).unwrap();
    let s = fetching_stack(idp.port());
    let token = || key.token(&json!({"iss": ISSUER, "exp": now() + 60}));
    let deadline = Instant::now() + Duration::from_secs(10);
    while call(&s, "GET", Some(&token())).status != 200 {
        assert!(
            Instant::now() < deadline,
            "the first fetch installs the key"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let errors = |s: &Stack| {
        s.envoy
            .stat("wasmcustom.tollgate.jwks_refresh_errors")
            .unwrap_or(0)
    };
    assert_eq!(errors(&s), 0);

    // The same JWKS padded with whitespace to 600,000 bytes (over the 512 KiB limit).
    let size = 600_000;
    idp.set(200, &(jwks.clone() + &" ".repeat(size - jwks.len())));
    let refused = format!("JWKS from cluster idp refused, keeping the current keys: answer of {size} bytes, at most 524288 are read");
    assert!(
        s.envoy.wait_for_log(&refused, Duration::from_secs(10)),
        "{:?}",
        s.envoy.filter_logs()
    );
    assert!(errors(&s) >= 1);
    s.echo.clear();
    let ok = call(&s, "GET", Some(&token()));
    assert_eq!(ok.status, 200, "the loaded key still verifies: {ok}");
    assert_eq!(
        s.echo.requests().len(),
        1,
        "the request reached the upstream"
    );
}

/// The IdP rotates to a set holding a key Tollgate cannot use (a 1024-bit RSA key) beside the
/// new one: the unusable key is skipped, the new key installed, and the old key (gone from the
/// set) stops verifying. The whole document was refused, so the removed key stayed trusted
/// (found by an audit, 2026-12-06).
#[test]
fn a_fetched_set_with_an_unusable_key_still_rotates_the_keys() {
    use e2e::document_server::DocumentServer;
    use std::time::{Duration, Instant};
    let (old, new) = (Signer::es256("2025-key"), Signer::es256("2026-key"));
    let idp = DocumentServer::start(&Signer::jwks(&[&old]).to_string()).unwrap();
    let s = fetching_stack(idp.port());
    let token = |signer: &Signer| signer.token(&json!({"iss": ISSUER, "exp": now() + 60}));
    let wait_for = |signer: &Signer, status: u16| {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let got = call(&s, "GET", Some(&token(signer))).status;
            if got == status || Instant::now() > deadline {
                return got;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    };
    assert_eq!(wait_for(&old, 200), 200, "the first fetch installs the key");

    let legacy = json!({"kty": "RSA", "kid": "legacy", "n": b64url(&[0xc5; 128]), "e": "AQAB"});
    let mut rotated = Signer::jwks(&[&new]);
    rotated["keys"].as_array_mut().unwrap().insert(0, legacy);
    idp.set(200, &rotated.to_string());
    assert_eq!(wait_for(&new, 200), 200, "the new key is installed");
    let r = call(&s, "GET", Some(&token(&old)));
    assert_eq!(
        (r.status, r.body.as_str()),
        (403, "Authentication failed"),
        "the removed key: {r}"
    );
    let skipped = "key skipped: jwks.keys[0].n: RSA modulus of 1024 bits";
    assert!(
        s.envoy.wait_for_log(skipped, Duration::from_secs(5)),
        "{:?}",
        s.envoy.filter_logs()
    );
    s.echo.clear();
    assert_eq!(call(&s, "GET", Some(&token(&new))).status, 200);
    assert_eq!(
        s.echo.requests().len(),
        1,
        "only the new key's token went upstream"
    );
    assert!(s.backend.requests().is_empty());
}
