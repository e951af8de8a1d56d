//! Envoy's `jwt_authn` verifies tokens and Tollgate trusts the payload it stored
//! (`authentication.jwt.from_jwt_authn`): valid, expired, forged and missing tokens, roles on
//! rules, OIDC authrep with the client id as `app_id`, what happens without `jwt_authn`, and
//! the shipped `envoy/envoy-jwt-authn.yaml`.

mod support;

use e2e::document_server::DocumentServer;
use e2e::envoy::RawEnvoy;
use e2e::jwt::{b64url, now, Signer};
use e2e::mock_backend::{App, MockBackend, Service, State};
use e2e::{paths, wait_until, EchoUpstream, JwtAuthn, JwtRequirement, Request};
use serde_json::{json, Value};
use std::time::Duration;
use support::*;

const ISSUER: &str = "https://idp.example.com/realms/demo";
const MISSING: &str = "Authentication parameters missing";
const FAILED: &str = "Authentication failed";

fn trusting() -> Value {
    json!({"from_jwt_authn": {"metadata_key": "jwt_payload"}, "issuer": ISSUER,
           "roles_claim": "realm_access.roles"})
}

fn claims(roles: &[&str], exp_in: i64) -> Value {
    json!({"iss": ISSUER, "sub": "user-1", "azp": "client-1", "aud": "account",
           "exp": now() as i64 + exp_in, "realm_access": {"roles": roles}})
}

/// A local service whose DELETE needs the `admin` role, behind `jwt_authn` (when given);
/// `lenient.example.com`: the same with `leeway_s: 60`.
fn local_stack(jwt_authn: Option<JwtAuthn>) -> Stack {
    let svc = json!({
        "id": 30,
        "authentication": {"mode": "local", "jwt": trusting()},
        "proxy": {"hosts": ["jwt.example.com"], "proxy_rules": [
            {"http_method": "GET", "pattern": "/orders", "metric_system_name": "hits", "delta": 1},
            {"http_method": "DELETE", "pattern": "/orders", "metric_system_name": "hits", "delta": 1, "roles": ["admin"]}
        ]}
    });
    let mut lenient = svc.clone();
    lenient["id"] = json!(31);
    lenient["authentication"]["jwt"]["leeway_s"] = json!(60);
    lenient["proxy"]["hosts"] = json!(["lenient.example.com"]);
    Stack::start_with(
        config(vec![svc, lenient]),
        backend_state(),
        |b| match jwt_authn {
            Some(j) => b.jwt_authn(j),
            None => b,
        },
    )
}

fn call(s: &Stack, method: &str, token: Option<&str>) -> e2e::Response {
    let mut r = Request::new(method, "/orders/1").header("Host", "jwt.example.com");
    if let Some(t) = token {
        r = r.header("Authorization", &format!("Bearer {t}"));
    }
    r.send(s.port())
}

fn forged(signer: &Signer, claims: &Value) -> String {
    let mut token = signer.token(claims);
    let cut = token.rfind('.').unwrap() + 1;
    token.replace_range(cut.., &b64url(&[7u8; 64]));
    token
}

#[test]
fn valid_expired_forged_and_missing_tokens_with_roles() {
    let key = Signer::es256("es-1");
    let stranger = Signer::es256("es-1");
    let jwt_authn = JwtAuthn::new(&Signer::jwks(&[&key])).issuer(ISSUER);
    let s = local_stack(Some(jwt_authn));

    let reader = key.token(&claims(&["reader"], 60));
    let ok = call(&s, "GET", Some(&reader));
    assert_eq!(ok.status, 200, "{ok}");
    let seen = ok.echo();
    assert_eq!(seen.path, "/orders/1");
    assert_eq!(
        seen.header("authorization").map(str::to_string),
        Some(format!("Bearer {reader}")),
        "jwt_authn forwards the token (forward: true)"
    );
    let denied = call(&s, "DELETE", Some(&reader));
    assert_eq!(
        (denied.status, denied.body.as_str()),
        (403, FAILED),
        "DELETE needs admin"
    );
    let admin = key.token(&claims(&["reader", "admin"], 60));
    assert_eq!(call(&s, "DELETE", Some(&admin)).status, 200);
    let upstream_before = s.echo.requests().len();
    assert_eq!(upstream_before, 2);

    // jwt_authn lets each of these through without a payload (allow_missing_or_failed):
    // Tollgate refuses them as auth failed, never looking at the token itself.
    let cases = [
        ("forged signature", forged(&key, &claims(&["admin"], 60))),
        (
            "signed by a key jwt_authn does not have",
            stranger.token(&claims(&["admin"], 60)),
        ),
        (
            "expired beyond jwt_authn's 60 s skew",
            key.token(&claims(&["admin"], -300)),
        ),
        (
            "wrong issuer",
            key.token(&json!({"iss": "https://evil", "azp": "x", "exp": now() + 60})),
        ),
        ("garbage", "not.a.jwt".to_string()),
    ];
    for (case, token) in &cases {
        let r = call(&s, "GET", Some(token));
        assert_eq!((r.status, r.body.as_str()), (403, FAILED), "{case}: {r}");
    }
    // Expired 20 s ago: jwt_authn still accepts it (clock_skew_seconds 60) and stores the
    // payload; Tollgate enforces exp with its own leeway: 0 here, 60 on the lenient service.
    let just_expired = key.token(&claims(&["admin"], -20));
    let r = call(&s, "GET", Some(&just_expired));
    assert_eq!((r.status, r.body.as_str()), (403, FAILED), "{r}");
    let lenient = Request::get("/orders/1")
        .header("Host", "lenient.example.com")
        .header("Authorization", &format!("Bearer {just_expired}"))
        .send(s.port());
    assert_eq!(lenient.status, 200, "{lenient}");
    let upstream_before = upstream_before + 1;

    let missing = call(&s, "GET", None);
    assert_eq!((missing.status, missing.body.as_str()), (401, MISSING));
    // A payload in a header is never trusted: what jwt_authn's forward_payload_header would
    // set, and what a claims header might look like.
    let spoofed = Request::get("/orders/1")
        .header("Host", "jwt.example.com")
        .header(
            "x-jwt-payload",
            &b64url(claims(&["admin"], 60).to_string().as_bytes()),
        )
        .header("jwt_payload", &claims(&["admin"], 60).to_string())
        .send(s.port());
    assert_eq!(spoofed.status, 401, "{spoofed}");
    assert_eq!(
        s.echo.requests().len(),
        upstream_before,
        "none of these went upstream"
    );
    assert!(
        s.backend.requests().is_empty(),
        "local mode: no backend call"
    );
}

#[test]
fn with_allow_missing_jwt_authn_answers_invalid_tokens_itself() {
    let key = Signer::es256("es-1");
    let jwt_authn = JwtAuthn::new(&Signer::jwks(&[&key]))
        .issuer(ISSUER)
        .requirement(JwtRequirement::AllowMissing);
    let s = local_stack(Some(jwt_authn));
    assert_eq!(
        call(&s, "GET", Some(&key.token(&claims(&[], 60)))).status,
        200
    );
    let forged = call(&s, "GET", Some(&forged(&key, &claims(&[], 60))));
    assert_eq!(forged.status, 401, "{forged}");
    assert_eq!(
        forged.body, "Jwt verification fails",
        "jwt_authn's own answer"
    );
    assert!(forged.header("www-authenticate").is_some());
    // No token: jwt_authn lets it go on, and Tollgate answers auth missing.
    let missing = call(&s, "GET", None);
    assert_eq!((missing.status, missing.body.as_str()), (401, MISSING));
    assert_eq!(s.echo.requests().len(), 1);
}

#[test]
fn without_jwt_authn_in_the_chain_no_token_is_trusted() {
    let key = Signer::es256("es-1");
    let s = local_stack(None);
    // Well signed, but nothing verified it: from_jwt_authn never checks a token itself.
    let r = call(&s, "GET", Some(&key.token(&claims(&["admin"], 60))));
    assert_eq!((r.status, r.body.as_str()), (403, FAILED), "{r}");
    assert_eq!(call(&s, "GET", None).status, 401);
    assert!(s.echo.requests().is_empty());
}

#[test]
fn oidc_authrep_sends_the_verified_client_id_as_app_id() {
    let key = Signer::rs256("rs-1");
    let state = State::new()
        .service(
            Service::new("7")
                .token(TOKEN)
                .backend_version("oauth")
                .metric("hits", None),
        )
        .app(App::new("7", "client-1").plan("OIDC"))
        .app(App::new("7", "client-2").plan("OIDC").state_suspended());
    let svc = json!({
        "id": 7, "backend_version": "oauth",
        "backend_authentication_type": "service_token", "backend_authentication_value": TOKEN,
        "authentication": {"jwt": trusting()},
        "proxy": {"hosts": ["jwt.example.com"], "authentication_method": "oidc",
            "proxy_rules": [{"http_method": "GET", "pattern": "/", "metric_system_name": "hits", "delta": 2}]}
    });
    let jwt_authn = JwtAuthn::new(&Signer::jwks(&[&key])).issuer(ISSUER);
    let s = Stack::start_with(config(vec![svc]), state, |b| b.jwt_authn(jwt_authn));

    let ok = call(&s, "GET", Some(&key.token(&claims(&[], 60))));
    assert_eq!(ok.status, 200, "{ok}");
    assert_eq!(ok.echo().path, "/orders/1");
    let calls = s.backend.requests();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].path, "/transactions/oauth_authrep.xml");
    assert_eq!(calls[0].param("service_id"), Some("7"));
    assert_eq!(calls[0].param("app_id"), Some("client-1"));
    assert_eq!(calls[0].param("usage[hits]"), Some("2"));

    let mut suspended = claims(&[], 60);
    suspended["azp"] = json!("client-2");
    let r = call(&s, "GET", Some(&key.token(&suspended)));
    assert_eq!(r.status, 403, "3scale's denial wins: {r}");
    assert_eq!(s.backend.requests()[1].param("app_id"), Some("client-2"));

    // No client id claim, a forged token, an expired one: auth failed, no backend call.
    let mut no_azp = claims(&[], 60);
    no_azp.as_object_mut().unwrap().remove("azp");
    for (case, token) in [
        ("no azp", key.token(&no_azp)),
        ("forged", forged(&key, &claims(&[], 60))),
        ("expired", key.token(&claims(&[], -300))),
    ] {
        let r = call(&s, "GET", Some(&token));
        assert_eq!((r.status, r.body.as_str()), (403, FAILED), "{case}: {r}");
    }
    assert_eq!(call(&s, "GET", None).status, 401);
    assert_eq!(
        s.backend.requests().len(),
        2,
        "only the two verified callers"
    );
    assert_eq!(s.echo.requests().len(), 1);
}

/// `envoy/envoy-jwt-authn.yaml` as shipped (its ports moved to free ones, the module path
/// filled in): jwt_authn fetches the IdP's JWKS through the `idp` cluster, and Tollgate reports
/// the verified `azp` to 3scale as app_id.
#[test]
fn shipped_envoy_jwt_authn_yaml() {
    const IDP_ISSUER: &str = "https://idp.example.com/realms/demo";
    let key = Signer::rs256("kc-1");
    let idp = DocumentServer::start(&Signer::jwks(&[&key]).to_string()).unwrap();
    let echo = EchoUpstream::start().unwrap();
    let backend = MockBackend::start(
        State::new()
            .service(
                Service::new("3")
                    .token("demo-service-token")
                    .backend_version("oauth")
                    .metric("hits", None),
            )
            .app(App::new("3", "client-1").plan("OIDC")),
    )
    .unwrap();
    let shipped = paths::workspace_root().join("envoy/envoy-jwt-authn.yaml");
    let original = std::fs::read_to_string(&shipped).expect("envoy/envoy-jwt-authn.yaml");
    let wasm = paths::wasm_path().to_string_lossy().into_owned();
    let (envoy, listener) = RawEnvoy::start(|listener, admin| {
        let mut yaml = original.clone();
        for (from, to) in [
            ("${TOLLGATE_WASM}".to_owned(), wasm.clone()),
            (
                "127.0.0.1:8180/".to_owned(),
                format!("127.0.0.1:{}/", idp.port()),
            ),
            (
                "port_value: 8180 ".to_owned(),
                format!("port_value: {} ", idp.port()),
            ),
            (
                "port_value: 10000 ".to_owned(),
                format!("port_value: {listener} "),
            ),
            (
                "port_value: 9901 ".to_owned(),
                format!("port_value: {admin} "),
            ),
            (
                "port_value: 8000 ".to_owned(),
                format!("port_value: {} ", echo.port()),
            ),
            (
                "port_value: 3000 ".to_owned(),
                format!("port_value: {} ", backend.port()),
            ),
        ] {
            assert!(
                yaml.contains(&from),
                "{} has no {from:?}",
                shipped.display()
            );
            yaml = yaml.replace(&from, &to);
        }
        yaml
    });
    assert!(
        wait_until(Duration::from_secs(5), || envoy
            .log()
            .contains("tollgate: configuration loaded: 1 service(s)")),
        "{}",
        envoy.log()
    );
    assert!(idp.hits() >= 1, "jwt_authn fetched the JWKS at startup");
    let send = |method: &str, path: &str, token: Option<&str>| {
        let mut r = Request::new(method, path);
        if let Some(t) = token {
            r = r.header("Authorization", &format!("Bearer {t}"));
        }
        r.send(listener)
    };
    let claims = |roles: &[&str]| {
        // An access token as Keycloak mints it: OIDC requires `sub` and `aud`.
        json!({"iss": IDP_ISSUER, "azp": "client-1", "sub": "user-1", "aud": "account",
               "exp": now() + 60, "realm_access": {"roles": roles}})
    };
    let ok = send("GET", "/orders", Some(&key.token(&claims(&["reader"]))));
    assert_eq!(ok.status, 200, "{ok}\n{}", envoy.log());
    assert_eq!(
        ok.echo().header("x-3scale-proxy-secret-token"),
        Some("demo-secret-token")
    );
    let calls = backend.requests();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].path, "/transactions/oauth_authrep.xml");
    assert_eq!(calls[0].param("app_id"), Some("client-1"));
    let reader = send("DELETE", "/orders", Some(&key.token(&claims(&["reader"]))));
    assert_eq!(reader.status, 403, "DELETE needs admin: {reader}");
    let admin = send("DELETE", "/orders", Some(&key.token(&claims(&["admin"]))));
    assert_eq!(admin.status, 200, "{admin}");
    let forged = send("GET", "/orders", Some(&forged(&key, &claims(&["admin"]))));
    assert_eq!((forged.status, forged.body.as_str()), (403, FAILED));
    let missing = send("GET", "/orders", None);
    assert_eq!((missing.status, missing.body.as_str()), (401, MISSING));
    assert_eq!(echo.requests().len(), 2);
    assert_eq!(backend.requests().len(), 2);
}

/// Envoy's `jwt_authn` stores every JSON number as a double: `"tier": 0` reaches Tollgate as
/// 0.0. A `jwt_claim_check` rule compares it as APIcast renders the Lua number, "0" (it read
/// "0.0", so a `!= "0"` rule let the free tier through and `== "5"` refused level 5: found by
/// an audit, 2026-12-06). An OIDC client id that is a number is the app_id as APIcast sends it.
#[test]
fn whole_number_claims_from_jwt_authn_read_as_apicast_writes_them() {
    let key = Signer::es256("es-1");
    let check = json!({"name": "jwt_claim_check", "configuration": {
        "rules": [
            {"resource": "/orders", "operations": [
                {"jwt_claim": "tier", "jwt_claim_type": "plain", "op": "!=", "value": "0"}]},
            {"resource": "/vip", "operations": [
                {"jwt_claim": "level", "jwt_claim_type": "plain", "op": "==", "value": "5"}]}]}});
    let local = json!({
        "id": 30,
        "authentication": {"mode": "local", "jwt": trusting()},
        "proxy": {"hosts": ["jwt.example.com"], "policy_chain": [check, {"name": "apicast"}],
            "proxy_rules": [{"http_method": "GET", "pattern": "/", "metric_system_name": "hits", "delta": 1}]}
    });
    let oidc = json!({
        "id": 7, "backend_version": "oauth",
        "backend_authentication_type": "service_token", "backend_authentication_value": TOKEN,
        "authentication": {"jwt": trusting()},
        "proxy": {"hosts": ["oidc.example.com"], "authentication_method": "oidc",
            "proxy_rules": [{"http_method": "GET", "pattern": "/", "metric_system_name": "hits", "delta": 1}]}
    });
    let state = State::new()
        .service(
            Service::new("7")
                .token(TOKEN)
                .backend_version("oauth")
                .metric("hits", None),
        )
        .app(App::new("7", "5").plan("OIDC"));
    let jwt_authn = JwtAuthn::new(&Signer::jwks(&[&key])).issuer(ISSUER);
    let s = Stack::start_with(config(vec![local, oidc]), state, |b| b.jwt_authn(jwt_authn));
    let get = |host: &str, path: &str, extra: Value| {
        let mut c = claims(&[], 60);
        for (k, v) in extra.as_object().unwrap() {
            c[k] = v.clone();
        }
        Request::new("GET", path)
            .header("Host", host)
            .header("Authorization", &format!("Bearer {}", key.token(&c)))
            .send(s.port())
    };

    let free = get("jwt.example.com", "/orders/1", json!({"tier": 0}));
    assert_eq!(free.status, 403, "tier 0 is refused: {free}");
    assert!(s.echo.requests().is_empty(), "the upstream got nothing");
    let paid = get("jwt.example.com", "/orders/1", json!({"tier": 2}));
    assert_eq!(paid.status, 200, "{paid}");
    let vip = get("jwt.example.com", "/vip/1", json!({"level": 5}));
    assert_eq!(vip.status, 200, "level 5 passes: {vip}");
    let low = get("jwt.example.com", "/vip/1", json!({"level": 4}));
    assert_eq!(low.status, 403, "{low}");
    let seen: Vec<String> = s.echo.requests().iter().map(|r| r.path.clone()).collect();
    assert_eq!(seen, ["/orders/1", "/vip/1"]);
    assert!(
        s.backend.requests().is_empty(),
        "local services call no backend"
    );

    let numeric = get("oidc.example.com", "/x", json!({"azp": 5}));
    assert_eq!(numeric.status, 200, "{numeric}");
    let calls = s.backend.requests();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].path, "/transactions/oauth_authrep.xml");
    assert_eq!(calls[0].param("app_id"), Some("5"));
    assert_eq!(s.echo.requests().len(), 3);
}
