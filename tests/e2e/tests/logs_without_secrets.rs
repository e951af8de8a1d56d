//! No secret in Envoy's log above debug level (README "Security": secrets are "logged only at
//! debug level"): local credentials right and wrong, configurations refused for a field near
//! a secret, and a service token in the wrong field, static or from System.

mod support;

use e2e::{Envoy, Request};
use serde_json::{json, Value};
use std::thread::sleep;
use std::time::Duration;
use support::*;
use tollgate_core::auth::digest::stored_form;

/// Lines of Envoy's log above debug level (info, warning, error, critical).
/// An entry's continuation lines (Envoy's header dumps) take its level.
fn above_debug(log: &str) -> Vec<&str> {
    let mut quiet = false;
    log.lines()
        .filter(|l| {
            if l.starts_with("[20") {
                quiet = l.contains("][debug][") || l.contains("][trace][");
            }
            !quiet
        })
        .collect()
}

/// Local credentials (API keys, Basic passwords, JWTs, signed-URL signatures, header secrets),
/// right and wrong, and a JWKS source that fails: with Envoy at debug, none of them is in a
/// line above debug.
#[test]
fn local_credentials_stay_out_of_the_log_above_debug() {
    use e2e::jwt::{now, Signer};
    use tollgate_core::auth::signed_url;
    let (key, bad_key) = ("lk-right-1a1a1a1a1a", "lk-wrong-2b2b2b2b2b");
    let (pw, bad_pw) = ("pw-right-3c3c3c3c", "pw-wrong-4d4d4d4d");
    let (hs, bad_hs) = ("hdr-secret-5e5e5e5e", "hdr-wrong-6f6f6f6f");
    let signing = "url-signing-secret-7a7a7a7a";
    let signer = Signer::rs256("k1");
    let other = Signer::rs256("k1");
    let basic_hash = stored_form(&format!("s4lt{pw}"));
    let auth = json!({
        "mode": "local",
        "api_keys": {"header": "APIKey", "query": "api_key",
                     "keys": [{"id": "kid-1", "hash": stored_form(key)}]},
        "basic_users": [{"username": "alice", "salt": "s4lt", "hash": basic_hash}],
        "jwt": {"jwks": Signer::jwks(&[&signer]), "issuer": "https://idp.example.com"},
        "signed_urls": {"secret": signing},
        "header_secrets": [{"path_prefix": "/admin", "header": "X-Admin-Secret", "secret": hs}]
    });
    let svc = local_service(auth, json!([]));
    let s = Stack::start_with(config(vec![svc]), backend_state(), |b| {
        b.log_level("debug").wasm_log_level("debug")
    });
    let p = s.port();
    let get = |t: &str| Request::get(t).header("Host", "local.example.com");
    let claims = json!({"iss": "https://idp.example.com", "sub": "bob", "exp": now() + 300});
    let good_jwt = signer.token(&claims);
    let forged_jwt = other.token(&claims);
    let expired_jwt =
        signer.token(&json!({"iss": "https://idp.example.com", "sub": "bob", "exp": now() - 900}));
    let url = signed_url::sign(signing.as_bytes(), "GET", "/files/a.pdf", now() + 300).unwrap();
    let bad_url = url.replace("a.pdf", "b.pdf");
    let sig = url.rsplit_once("signature=").unwrap().1.to_string();
    let basic = e2e::base64::basic_auth;
    let cases: Vec<(u16, Request)> = vec![
        (200, get("/").header("APIKey", key)),
        (403, get("/").header("APIKey", bad_key)),
        (403, get(&format!("/?api_key={bad_key}"))),
        (200, get("/").header("Authorization", &basic("alice", pw))),
        (
            403,
            get("/").header("Authorization", &basic("alice", bad_pw)),
        ),
        (
            200,
            get("/").header("Authorization", &format!("Bearer {good_jwt}")),
        ),
        (
            403,
            get("/").header("Authorization", &format!("Bearer {forged_jwt}")),
        ),
        (
            403,
            get("/").header("Authorization", &format!("Bearer {expired_jwt}")),
        ),
        (200, get(&url)),
        (403, get(&bad_url)),
        (
            200,
            get("/admin/x")
                .header("X-Admin-Secret", hs)
                .header("APIKey", key),
        ),
        (
            403,
            get("/admin/x")
                .header("X-Admin-Secret", bad_hs)
                .header("APIKey", key),
        ),
    ];
    for (i, (status, r)) in cases.into_iter().enumerate() {
        let got = r.send(p);
        assert_eq!(got.status, status, "case {i}: {got}");
    }
    sleep(Duration::from_millis(500));
    let log = s.envoy.log();
    assert!(log.contains("][debug]["), "Envoy logs at debug");
    let lines = above_debug(&log);
    let secrets = [
        key,
        bad_key,
        pw,
        bad_pw,
        hs,
        bad_hs,
        signing,
        &sig,
        &good_jwt,
        &forged_jwt,
        &expired_jwt,
        "local-secret",
    ];
    let mut leaks = Vec::new();
    for secret in secrets {
        let hit: Vec<&&str> = lines.iter().filter(|l| l.contains(secret)).collect();
        if !hit.is_empty() {
            leaks.push(format!("{secret}: {hit:?}"));
        }
    }
    assert!(leaks.is_empty(), "{}", leaks.join("\n"));
}

/// A configuration refused for a field near (or holding) a secret names the JSON path, never
/// the secret value.
#[test]
fn config_refusals_name_the_path_not_the_secret() {
    let secret = "refused-secret-8b8b8b8b8b8b";
    let with = |f: &dyn Fn(&mut Value)| {
        let mut c = config(vec![service(1, json!(1), json!({"secret_token": secret}))]);
        c["services"][0]["backend_authentication_value"] = json!(secret);
        f(&mut c);
        c.to_string()
    };
    let cases: Vec<(&str, String)> = vec![
        (
            "short signed-URL secret",
            with(&|c| {
                c["services"][0]["authentication"] =
                    json!({"mode": "local", "signed_urls": {"secret": "short-8b8b"}})
            }),
        ),
        (
            "Liquid in a header value",
            with(&|c| {
                c["services"][0]["proxy"]["policy_chain"] = json!([
                    {"name": "apicast.policy.headers", "configuration": {"request": [
                        {"op": "set", "header": "Authorization",
                         "value": format!("Bearer {secret}{{{{x}}}}")}]}},
                    {"name": "apicast.policy.apicast"}
                ])
            }),
        ),
        (
            "a key pasted as its hash",
            with(&|c| {
                c["services"][0]["authentication"] = json!({"mode": "local",
                    "api_keys": {"header": "K", "keys": [{"id": "a", "hash": secret}]}})
            }),
        ),
        (
            "a secret written twice",
            with(&|_| {}).replacen(
                "\"secret_token\":",
                &format!("\"secret_token\":\"{secret}-2\",\"secret_token\":"),
                1,
            ),
        ),
    ];
    let mut leaks = Vec::new();
    for (what, text) in cases {
        // Refused (Envoy exits), or the service skipped with a warning (Envoy runs).
        let log = match Envoy::builder().filter_config(&text).start_expect_failure() {
            Ok(log) => log,
            Err(e) => e.to_string(),
        };
        let lines: Vec<&str> = above_debug(&log)
            .into_iter()
            .filter(|l| l.contains("8b8b8b8b"))
            .collect();
        if !lines.is_empty() {
            leaks.push(format!("{what}: {lines:?}"));
        }
    }
    assert!(leaks.is_empty(), "{}", leaks.join("\n"));
}

/// A service whose `backend_authentication_type` and `backend_authentication_value` are swapped
/// (the token in `_type`, `service_token` in `_value`) is refused, or skipped when it comes
/// from System, and the error is logged (error / warning level). The line names the JSON path;
/// it must not carry the service token (README "Security": secrets "logged only at debug
/// level"). Now it quotes the whole value: `unknown type "<the token>"`.
// FINDING: a swapped backend_authentication_type logs the service token at error level
#[test]
fn a_refused_backend_authentication_type_does_not_log_the_token_it_holds() {
    let token = "svc-token-9c9c9c9c9c9c9c9c";
    let mut c = config(vec![service(1, json!(1), json!({}))]);
    c["services"][0]["backend_authentication_type"] = json!(token);
    c["services"][0]["backend_authentication_value"] = json!("service_token");
    let log = Envoy::builder()
        .filter_config(&c.to_string())
        .start_expect_failure()
        .unwrap();
    assert!(
        log.contains("invalid configuration: services[0].backend_authentication_type"),
        "refused, naming the path\n{log}"
    );
    let lines: Vec<&str> = above_debug(&log)
        .into_iter()
        .filter(|l| l.contains(token))
        .collect();
    assert!(lines.is_empty(), "the token in the log: {lines:?}");
}

/// The same swap in a service loaded from 3scale System: the service is skipped with a warning
/// on every fetch (`tollgate.config_fetches` moves); the warning must not carry the token.
// FINDING: a System service with a swapped backend_authentication_type logs the token at warning level
#[test]
fn a_system_service_skipped_for_its_authentication_type_does_not_log_the_token() {
    use e2e::system::{self, fixtures, Stored, WithSystem};
    let token = "svc-token-sys-9d9d9d9d9d9d";
    let mock = system::start();
    let mut content = fixtures::minimal(42, "api.example.com", vec![]);
    content["backend_authentication_type"] = json!(token);
    content["backend_authentication_value"] = json!("service_token");
    mock.publish(Stored::Production, content).unwrap();
    let echo = e2e::EchoUpstream::start().unwrap();
    let envoy = Envoy::builder()
        .upstream_port(echo.port())
        .with_system(&mock)
        .filter_config(&system::filter_config(system::block(1)))
        .start()
        .unwrap();
    assert!(
        envoy.wait_for_log("skipped", Duration::from_secs(5)),
        "the service was skipped"
    );
    let r = Request::get("/?user_key=k")
        .header("Host", "api.example.com")
        .send(envoy.port());
    assert_ne!(r.status, 200, "{r}");
    assert!(echo.requests().is_empty());
    sleep(Duration::from_millis(300));
    let log = envoy.log();
    let lines: Vec<&str> = above_debug(&log)
        .into_iter()
        .filter(|l| l.contains(token))
        .collect();
    assert!(lines.is_empty(), "the token in the log: {lines:?}");
}
