//! Envoy's `jwt_authn` in front, Tollgate trusting the payload it verified
//! (`authentication.jwt.from_jwt_authn`), seen by an attacker: every denial (no token, a
//! forged one, an expired one, another issuer's, a role missing, no mapping rule, a payload
//! sent as a header, two `Authorization` headers; with OIDC and 3scale: an application
//! 3scale refuses, no client id) is crossed with every request shape (bodies, chunked,
//! trailers, `Expect: 100-continue`, HTTP/2), locally and with 3scale in authrep and batching
//! mode (cache miss and hit), the backend answering after 300 ms. No byte of a denied request
//! reaches the upstream; an allowed one reaches it once with its body intact.

mod support;

use e2e::jwt::{b64url, now, Signer};
use e2e::mock_backend::{App, Service, State};
use e2e::{JwtAuthn, JwtRequirement};
use serde_json::{json, Value};
use std::sync::OnceLock;
use std::time::Duration;
use support::adversarial::*;
use support::{Stack, TOKEN};

const LATENCY: Duration = Duration::from_millis(300);
const PARALLEL: usize = 8;
const ISSUER: &str = "https://idp.example.com/realms/adv";
/// Client ids 3scale knows per case number: `oidc-ok-<n>` (active), `oidc-susp-<n>` (suspended).
const CLIENTS: usize = 40;

/// The identity provider's key: one for the whole test binary (`es256` makes a new one).
fn key() -> &'static Signer {
    static KEY: OnceLock<Signer> = OnceLock::new();
    KEY.get_or_init(|| Signer::es256("adv-es"))
}

fn claims(azp: Option<&str>, roles: &[&str], exp_in: i64) -> Value {
    let mut c = json!({"iss": ISSUER, "sub": "u1", "aud": "account",
        "exp": now() as i64 + exp_in, "roles": roles});
    if let Some(azp) = azp {
        c["azp"] = json!(azp);
    }
    c
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// The same claims, with a signature of other bytes.
fn forged(claims: &Value) -> String {
    let mut token = key().token(claims);
    let cut = token.rfind('.').map_or(token.len(), |i| i + 1);
    token.replace_range(cut.., &b64url(&[7u8; 64]));
    token
}

/// `trust.example.com` (40, local: `/admin` needs role `admin`) and `oidc.example.com` (41,
/// 3scale OIDC: the verified `azp` is the app_id), both trusting `jwt_authn`.
fn services() -> Vec<Value> {
    let trusting = json!({"from_jwt_authn": {"metadata_key": "jwt_payload"}, "issuer": ISSUER,
                          "roles_claim": "roles"});
    let rule = |p: &str| json!({"http_method": "ANY", "pattern": p, "metric_system_name": "hits", "delta": 1});
    let mut admin = rule("/admin");
    admin["roles"] = json!(["admin"]);
    vec![
        json!({"id": 40, "authentication": {"mode": "local", "jwt": trusting},
               "proxy": {"hosts": ["trust.example.com"], "secret_token": SECRET,
                         "proxy_rules": [rule("/api"), admin]}}),
        json!({"id": 41, "backend_version": "oauth",
               "backend_authentication_type": "service_token", "backend_authentication_value": TOKEN,
               "authentication": {"jwt": trusting},
               "proxy": {"hosts": ["oidc.example.com"], "authentication_method": "oidc",
                         "secret_token": SECRET, "proxy_rules": [rule("/api")]}}),
    ]
}

fn state() -> State {
    let mut s = State::new().service(
        Service::new("41")
            .token(TOKEN)
            .backend_version("oauth")
            .metric("hits", None),
    );
    for n in 0..CLIENTS {
        s = s
            .app(App::new("41", &format!("oidc-ok-{n}")).plan("OIDC"))
            .app(
                App::new("41", &format!("oidc-susp-{n}"))
                    .plan("OIDC")
                    .state_suspended(),
            );
    }
    s
}

/// `jwt_authn` (`allow_missing_or_failed`: Tollgate answers every denial) before Tollgate.
fn stack(batching: bool) -> Stack {
    let jwt_authn = JwtAuthn::new(&Signer::jwks(&[key()]))
        .issuer(ISSUER)
        .requirement(JwtRequirement::AllowMissingOrFailed);
    let s = Stack::start_with(adv_config(services(), batching), state(), |b| {
        b.concurrency(2).http1_trailers().jwt_authn(jwt_authn)
    });
    s.backend.set_latency(LATENCY);
    s
}

fn local_kinds() -> Vec<(&'static str, Case, Expect)> {
    let trust = |p: &str, token: Option<String>| {
        let case = Case::new("trust.example.com", p);
        match token {
            Some(t) => case.header("Authorization", &bearer(&t)),
            None => case,
        }
    };
    let valid = |roles: &[&str]| Some(key().token(&claims(None, roles, 600)));
    let failed = Expect::Denied(AUTH_FAILED.0, AUTH_FAILED.1);
    let foreign = {
        let mut c = claims(None, &["admin"], 600);
        c["iss"] = json!("https://elsewhere.example.com");
        key().token(&c)
    };
    vec![
        ("allowed", trust("/api/x", valid(&[])), Expect::Allowed),
        (
            "allowed_admin",
            trust("/admin/x", valid(&["admin"])),
            Expect::Allowed,
        ),
        (
            "missing",
            trust("/api/x", None),
            Expect::Denied(AUTH_MISSING.0, AUTH_MISSING.1),
        ),
        (
            "forged",
            trust("/admin/x", Some(forged(&claims(None, &["admin"], 600)))),
            failed,
        ),
        (
            "expired",
            trust("/api/x", Some(key().token(&claims(None, &[], -300)))),
            failed,
        ),
        ("other_issuer", trust("/admin/x", Some(foreign)), failed),
        ("no_role", trust("/admin/x", valid(&["reader"])), failed),
        (
            // A reader's valid token, then a forged admin one: neither spelling gets in.
            "duplicate_authorization",
            trust("/admin/x", valid(&["reader"])).header(
                "authorization",
                &bearer(&forged(&claims(None, &["admin"], 600))),
            ),
            failed,
        ),
        (
            "no_match",
            trust("/nowhere", valid(&["admin"])),
            Expect::Denied(NO_MATCH.0, NO_MATCH.1),
        ),
        (
            // What jwt_authn would have stored, sent by the client: never trusted.
            "payload_as_header",
            trust("/admin/x", None)
                .header("jwt_payload", &claims(None, &["admin"], 600).to_string()),
            Expect::Denied(AUTH_MISSING.0, AUTH_MISSING.1),
        ),
    ]
}

/// The OIDC cases for case number `n` (each number is a fresh cache key).
fn oidc_kinds(n: usize) -> Vec<(&'static str, Case, Expect)> {
    let oidc = |token: Option<String>| {
        let case = Case::new("oidc.example.com", "/api/x");
        match token {
            Some(t) => case.header("Authorization", &bearer(&t)),
            None => case,
        }
    };
    let client = |azp: &str| Some(key().token(&claims(Some(azp), &[], 600)));
    let failed = Expect::Denied(AUTH_FAILED.0, AUTH_FAILED.1);
    vec![
        (
            "allowed",
            oidc(client(&format!("oidc-ok-{n}"))),
            Expect::Allowed,
        ),
        (
            "missing",
            oidc(None),
            Expect::Denied(AUTH_MISSING.0, AUTH_MISSING.1),
        ),
        ("suspended", oidc(client(&format!("oidc-susp-{n}"))), failed),
        (
            "forged",
            oidc(Some(forged(&claims(
                Some(&format!("oidc-ok-{n}")),
                &[],
                600,
            )))),
            failed,
        ),
        (
            "expired",
            oidc(Some(key().token(&claims(
                Some(&format!("oidc-ok-{n}")),
                &[],
                -300,
            )))),
            failed,
        ),
        (
            "no_client_id",
            oidc(Some(key().token(&claims(None, &[], 600)))),
            failed,
        ),
    ]
}

fn oidc_matrix(mode: &str, first: usize) -> Vec<(String, Shape, Case, Expect)> {
    let mut out = Vec::new();
    for (i, shape) in SHAPES.iter().enumerate() {
        for (kind, case, expect) in oidc_kinds(first + i) {
            out.push((format!("{mode}/{kind}/{shape:?}"), *shape, case, expect));
        }
    }
    out
}

/// Only verified callers reach 3scale, each with its client id as the app_id.
fn assert_backend_saw_only_verified_clients(s: &Stack) {
    let calls = s.backend.requests();
    assert!(
        !calls.is_empty(),
        "the allowed and suspended cases ask 3scale"
    );
    for call in &calls {
        let app_id = call.param("app_id").unwrap_or_default();
        assert!(
            app_id.starts_with("oidc-ok-") || app_id.starts_with("oidc-susp-"),
            "a backend call for an unverified caller: {call:?}"
        );
    }
}

#[test]
fn trusted_local_denials_never_reach_the_upstream_whatever_the_body() {
    let s = stack(false);
    let mut cases = Vec::new();
    for shape in SHAPES {
        for (kind, case, expect) in local_kinds() {
            cases.push((format!("local/{kind}/{shape:?}"), shape, case, expect));
        }
    }
    let failures = run_and_check(&s, &cases, PARALLEL);
    assert_none("jwt_authn + local mode", &failures, cases.len());
    assert!(
        s.backend.requests().is_empty(),
        "local mode never calls the backend"
    );
    assert!(traps(&s).is_empty(), "{:?}", traps(&s));
}

#[test]
fn trusted_oidc_authrep_denials_never_reach_the_upstream_whatever_the_body() {
    let s = stack(false);
    let cases = oidc_matrix("authrep", 0);
    let failures = run_and_check(&s, &cases, PARALLEL);
    assert_none("jwt_authn + OIDC authrep", &failures, cases.len());
    assert_backend_saw_only_verified_clients(&s);
    assert!(traps(&s).is_empty(), "{:?}", traps(&s));
}

#[test]
fn trusted_oidc_batching_denials_never_reach_the_upstream_on_a_miss_or_a_hit() {
    let s = stack(true);
    // Miss: clients 0.. new to the cache; hit: clients 20.., asked first without a body.
    let (miss, hit) = (oidc_matrix("miss", 0), oidc_matrix("hit", 20));
    let (failures, total, hits) = run_miss_then_hit(&s, &miss, &hit, PARALLEL);
    assert_none("jwt_authn + OIDC batching", &failures, total);
    assert!(
        hits > 0,
        "the second round was answered from the cache ({hits} hits)"
    );
    assert_backend_saw_only_verified_clients(&s);
    assert!(traps(&s).is_empty(), "{:?}", traps(&s));
}
