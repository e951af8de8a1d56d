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

/// A stack of one worker whose `jwt` block is `jwt`, with `extra` clusters.
fn stack_with(jwt: Value, idp_port: Option<u16>) -> Stack {
    let svc = json!({
        "id": 30,
        "authentication": {"mode": "local", "jwt": jwt},
        "proxy": {"hosts": ["jwt.example.com"], "proxy_rules": [
            {"http_method": "GET", "pattern": "/orders", "metric_system_name": "hits", "delta": 1}
        ]}
    });
    Stack::start_with(config(vec![svc]), backend_state(), |b| match idp_port {
        Some(port) => b.extra_cluster("idp", port),
        None => b,
    })
}

/// Valid tokens without `kid`, against several keys of their type (a rotation: the retiring
/// key first): each new one is checked against the keys before its own, which spent the
/// failure budget, so with no attacker at all new valid tokens were refused once a few
/// arrived in a second (found by an audit, 2026-12-06). Now a valid token spends nothing.
#[test]
fn fresh_valid_tokens_without_kid_are_not_refused_by_the_budget() {
    let (retiring, current) = (Signer::es256("retiring"), Signer::es256("current"));
    let mut jwks = Signer::jwks(&[&retiring, &current]);
    for key in jwks["keys"].as_array_mut().unwrap() {
        key.as_object_mut().unwrap().remove("kid");
    }
    let s = stack_with(
        json!({"jwks": jwks, "issuer": ISSUER, "max_failed_verifications_per_s": 2}),
        None,
    );
    let started = Instant::now();
    for n in 0..8 {
        let token = current.token_with_header(&json!({"alg": "ES256"}), &claims("alice", n));
        let r = call(&s, &token);
        assert_eq!(r.status, 200, "fresh valid token {n}: {r}");
    }
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "one second's budget"
    );
    assert_eq!(s.echo.requests().len(), 8, "all reached the upstream");
    assert!(s.backend.requests().is_empty(), "local: no backend call");
    // A forged one is still refused.
    let valid = current.token_with_header(&json!({"alg": "ES256"}), &claims("m", 0));
    let other = current.token_with_header(&json!({"alg": "ES256"}), &claims("m", 1));
    let forged = format!(
        "{}.{}",
        other.rsplit_once('.').unwrap().0,
        valid.rsplit_once('.').unwrap().1
    );
    assert_eq!(call(&s, &forged).status, 403);
    assert_eq!(s.echo.requests().len(), 8);
}

/// The JWKS refreshed every second with the same key keeps the cached token: during a
/// forged-token flood it stays 200 across refreshes (each refresh emptied the cache, and the
/// token then needed a check the spent budget refused: found by an audit, 2026-12-06).
#[test]
fn a_refresh_with_the_same_keys_keeps_the_cached_token_through_a_flood() {
    use e2e::document_server::DocumentServer;
    let signer = Signer::es256("es-refresh");
    let idp = DocumentServer::start(&Signer::jwks(&[&signer]).to_string()).unwrap();
    let s = stack_with(
        json!({"issuer": ISSUER, "max_failed_verifications_per_s": 1,
               "jwks_source": {"cluster": "idp", "path": "/certs", "refresh_s": 1}}),
        Some(idp.port()),
    );
    let cached = signer.token(&claims("alice", 0));
    let deadline = Instant::now() + Duration::from_secs(10);
    while call(&s, &cached).status != 200 {
        assert!(
            Instant::now() < deadline,
            "the first fetch installs the key"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    s.echo.clear();
    let refreshes = || {
        s.envoy
            .stat("wasmcustom.tollgate.jwks_refreshes")
            .unwrap_or(0)
    };
    let before = refreshes();
    let started = Instant::now();
    let mut n = 0;
    while started.elapsed() < Duration::from_millis(3500) {
        n += 1;
        assert_eq!(call(&s, &forged(&signer, n)).status, 403, "forged {n}");
        let r = call(&s, &cached);
        assert_eq!(r.status, 200, "the cached token after {n} forged: {r}");
        std::thread::sleep(Duration::from_millis(20));
    }
    let after = wait_for(refreshes, |v| v >= before + 2);
    assert!(
        after >= before + 2,
        "refreshed during the flood: {before} → {after}"
    );
    assert_eq!(
        s.echo.requests().len() as u64,
        n,
        "only the cached token's requests"
    );
    assert!(s.backend.requests().is_empty());
}

/// A full token cache evicts one token, the least recently used, instead of emptying itself:
/// another caller's own valid tokens (one per client_credentials grant) no longer flush a
/// token in use, which a flood then refused (found by an audit, 2026-12-06).
#[test]
fn a_full_cache_keeps_a_token_in_use_through_a_flood() {
    let signer = Signer::es256("es-cache");
    let s = stack_with(
        json!({"jwks": Signer::jwks(&[&signer]), "issuer": ISSUER, "cache_size": 4,
               "max_failed_verifications_per_s": 1}),
        None,
    );
    let victim = signer.token(&claims("alice", 0));
    let own: Vec<String> = (1..=4)
        .map(|n| signer.token(&claims("mallory", n)))
        .collect();
    assert_eq!(call(&s, &victim).status, 200);
    for (n, token) in own.iter().enumerate() {
        assert_eq!(call(&s, token).status, 200, "own token {n}");
        if n == 1 {
            assert_eq!(call(&s, &victim).status, 200);
        }
    }
    // The flood spends the budget: only cached tokens pass now.
    std::thread::sleep(Duration::from_millis(1100));
    let mut refused = 0;
    for n in 1..=3 {
        assert_eq!(call(&s, &forged(&signer, 100 + n)).status, 403);
        let r = call(&s, &victim);
        assert_eq!(r.status, 200, "the victim's cached token: {r}");
        if call(&s, &own[0]).status == 403 {
            refused += 1;
        }
    }
    assert!(refused >= 1, "the least recently used token was evicted");
    assert_eq!(s.echo.requests().len(), 1 + 4 + 1 + 3 + 3 - refused);
    assert!(s.backend.requests().is_empty());
}
