//! A forged-token flood through Envoy: tokens with a known `kid`, the right `alg`, valid claims
//! and a forged signature. The worker checks at most `max_failed_verifications_per_s` of them a
//! second, refuses the rest with no check (403, `tollgate.jwt_verify_budget_exhausted`), and a
//! token it has already verified keeps getting 200 throughout.

mod support;

use e2e::jwt::{now, Signer};
use e2e::Request;
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use support::cache::stat;
use support::*;

const ISSUER: &str = "https://idp.example.com/realms/flood";
const BUDGET: u64 = 5;
const FORGED: u64 = 80;

fn claims(sub: &str, n: u64) -> Value {
    json!({"iss": ISSUER, "aud": "orders-api", "sub": sub, "azp": "client-1", "jti": n,
           "exp": now() + 300})
}

fn call(s: &Stack, token: &str) -> e2e::Response {
    Request::new("GET", "/orders/1")
        .header("Host", "jwt.example.com")
        .header("Authorization", &format!("Bearer {token}"))
        .send(s.port())
}

/// `signer`'s token for `sub`, with the signature of another payload: only the signature
/// check can tell it from a valid one.
fn forged(signer: &Signer, n: u64) -> String {
    let real = signer.token(&claims("mallory", 0));
    let (_, signature) = real.rsplit_once('.').unwrap();
    let other = signer.token(&claims("mallory", n));
    let (input, _) = other.rsplit_once('.').unwrap();
    format!("{input}.{signature}")
}

fn flood(signer: Signer) {
    let svc = json!({
        "id": 30,
        "authentication": {"mode": "local", "jwt": {
            "jwks": Signer::jwks(&[&signer]), "issuer": ISSUER, "audiences": ["orders-api"],
            "max_failed_verifications_per_s": BUDGET
        }},
        "proxy": {"hosts": ["jwt.example.com"], "proxy_rules": [
            {"http_method": "GET", "pattern": "/orders", "metric_system_name": "hits", "delta": 1}
        ]}
    });
    let s = Stack::start(config(vec![svc])); // one worker: one budget, one token cache
    let alg = signer.alg();
    let cached = signer.token(&claims("alice", 0));
    let r = call(&s, &cached);
    assert_eq!(r.status, 200, "{alg}: {r}");
    s.echo.clear();

    let started = Instant::now();
    for n in 1..=FORGED {
        let r = call(&s, &forged(&signer, n));
        assert_eq!(r.status, 403, "{alg}: forged token {n}: {r}");
        let r = call(&s, &cached);
        assert_eq!(
            r.status, 200,
            "{alg}: the cached token during the flood, after {n}: {r}"
        );
    }
    let seconds = started.elapsed().as_secs() + 1; // the seconds the flood touched, at most
    assert_eq!(
        s.echo.requests().len() as u64,
        FORGED,
        "{alg}: only the cached token's requests went upstream"
    );
    // The first BUDGET forged tokens of each second were checked; every other one was refused
    // without a check. Counters are flushed to /stats asynchronously.
    let refused = wait_for(|| stat(&s.envoy, "jwt_verify_budget_exhausted"), |v| v > 0);
    assert!(
        refused <= FORGED - BUDGET && refused + BUDGET * (seconds + 1) >= FORGED,
        "{alg}: {refused} refused without a check, {FORGED} forged in under {seconds} s"
    );
    assert!(stat(&s.envoy, "requests_denied.auth_failed") >= FORGED);

    // A new second, a fresh budget: a valid token this worker has never seen is checked.
    std::thread::sleep(Duration::from_millis(1100));
    let fresh = signer.token(&claims("bob", 0));
    assert_eq!(
        call(&s, &fresh).status,
        200,
        "{alg}: a new valid token after the flood"
    );
}

/// Polls `read` until `done` holds (2 s at most); returns the last value.
fn wait_for(read: impl Fn() -> u64, done: impl Fn(u64) -> bool) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let v = read();
        if done(v) || Instant::now() > deadline {
            return v;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn rs256_flood_is_bounded_and_cached_tokens_pass() {
    flood(Signer::rs256("rs-flood"));
}

#[test]
fn es256_flood_is_bounded_and_cached_tokens_pass() {
    flood(Signer::es256("es-flood"));
}
