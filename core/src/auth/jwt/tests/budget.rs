//! The budget of failed signature checks (budget.rs), with a fake clock: what spends it, what
//! it refuses once spent, and that the next second starts afresh.

use super::*;
use crate::auth::jwt::{take_budget_refusals, verify_within, FailureBudget};

/// The token with a changed payload and its original signature: it passes every cheap check.
fn forged(alg: &str, kid: &str, n: u64) -> String {
    let good = token(alg, kid, &claims());
    let (_, signature) = good.rsplit_once('.').unwrap();
    let other = token(alg, kid, &with(json!({ "jti": n })));
    let (input, _) = other.rsplit_once('.').unwrap();
    format!("{input}.{signature}")
}

fn run(token: &str, budget: &mut FailureBudget, now_s: u64) -> Result<Claims, JwtError> {
    static KEYS: OnceLock<Jwks> = OnceLock::new();
    verify_within(token, KEYS.get_or_init(all_keys), &rules(), now_s, budget)
}

#[test]
fn spent_budget_refuses_without_a_check_until_the_next_second() {
    for (alg, kid) in [("RS256", "r1"), ("ES256", "e1"), ("EdDSA", "d1")] {
        take_budget_refusals();
        let mut budget = FailureBudget::new(3);
        for n in 0..3 {
            assert_eq!(
                run(&forged(alg, kid, n), &mut budget, NOW),
                Err(JwtError::BadSignature),
                "{alg}: within the budget, checked"
            );
        }
        assert_eq!(
            run(&forged(alg, kid, 3), &mut budget, NOW),
            Err(JwtError::BudgetExhausted),
            "{alg}"
        );
        // A valid token this worker has not verified yet is refused too: it would need a check.
        let valid = token(alg, kid, &claims());
        assert_eq!(
            run(&valid, &mut budget, NOW),
            Err(JwtError::BudgetExhausted)
        );
        assert_eq!(
            take_budget_refusals(),
            2,
            "{alg}: refusals counted, then taken"
        );
        assert_eq!(take_budget_refusals(), 0);
        // The next second: checked again.
        assert!(run(&valid, &mut budget, NOW + 1).is_ok(), "{alg}");
        assert_eq!(
            run(&forged(alg, kid, 4), &mut budget, NOW + 1),
            Err(JwtError::BadSignature)
        );
        // A clock that steps back starts afresh as well.
        let mut budget = FailureBudget::new(1);
        assert_eq!(
            run(&forged(alg, kid, 5), &mut budget, NOW),
            Err(JwtError::BadSignature)
        );
        assert_eq!(
            run(&forged(alg, kid, 6), &mut budget, NOW),
            Err(JwtError::BudgetExhausted)
        );
        assert_eq!(
            run(&forged(alg, kid, 7), &mut budget, NOW - 1),
            Err(JwtError::BadSignature)
        );
        take_budget_refusals();
    }
}

#[test]
fn valid_tokens_and_cheap_refusals_spend_nothing() {
    let mut budget = FailureBudget::new(1);
    for _ in 0..5 {
        assert!(run(&token("RS256", "r1", &claims()), &mut budget, NOW).is_ok());
    }
    // Refused before any arithmetic: they never spend the budget.
    let expired = with(json!({"exp": NOW - 1}));
    let good = token("RS256", "r1", &claims());
    let (input, signature) = good.rsplit_once('.').unwrap();
    let sig = crate::base64::decode_url(signature).unwrap();
    let cheap = [
        (token("RS256", "r1", &expired), JwtError::Expired),
        (token("RS256", "nobody", &claims()), JwtError::UnknownKid),
        (token("RS256", "e1", &claims()), JwtError::AlgorithmMismatch),
        (
            format!("{input}.{}", encode(&sig[1..])),
            JwtError::BadSignature,
        ),
        (
            format!("{input}.{}", encode(&[sig.clone(), sig.clone()].concat())),
            JwtError::BadSignature,
        ),
        ("a.b".to_string(), JwtError::Malformed),
    ];
    for _ in 0..3 {
        for (t, e) in &cheap {
            assert_eq!(run(t, &mut budget, NOW).as_ref().err(), Some(e));
        }
    }
    // The one failure the budget allows is still there.
    assert_eq!(
        run(&forged("RS256", "r1", 1), &mut budget, NOW),
        Err(JwtError::BadSignature)
    );
    assert_eq!(
        run(&forged("RS256", "r1", 2), &mut budget, NOW),
        Err(JwtError::BudgetExhausted)
    );
    take_budget_refusals();
}

#[test]
fn hs256_is_never_limited() {
    let mut budget = FailureBudget::new(1);
    for n in 0..5 {
        assert_eq!(
            run(&forged("HS256", "h1", n), &mut budget, NOW),
            Err(JwtError::BadSignature)
        );
    }
    assert!(run(&token("HS256", "h1", &claims()), &mut budget, NOW).is_ok());
    // HS256 failures did not spend the asymmetric budget either.
    assert_eq!(
        run(&forged("ES256", "e1", 1), &mut budget, NOW),
        Err(JwtError::BadSignature)
    );
}

#[test]
fn every_key_tried_spends_one() {
    // Two kid-less RSA keys, a forged kid-less token: both checks fail, both count.
    let mut other = jwk_rsa("x");
    other.as_object_mut().unwrap().remove("kid");
    let mut first = jwk_rsa("y");
    first.as_object_mut().unwrap().remove("kid");
    let keys = jwks_of(vec![first, other]);
    let header = json!({"alg": "RS256"});
    let good = token_with(&header, &claims(), HS_SECRET);
    let (_, signature) = good.rsplit_once('.').unwrap();
    let changed = token_with(&header, &with(json!({"jti": 1})), HS_SECRET);
    let (input, _) = changed.rsplit_once('.').unwrap();
    let forged = format!("{input}.{signature}");
    let mut budget = FailureBudget::new(2);
    let r = |budget: &mut FailureBudget| verify_within(&forged, &keys, &rules(), NOW, budget);
    assert_eq!(r(&mut budget), Err(JwtError::BadSignature));
    assert_eq!(r(&mut budget), Err(JwtError::BudgetExhausted));
    take_budget_refusals();
}

fn auth(config: Value) -> Result<crate::auth::jwt_auth::JwtAuth, String> {
    let obj = crate::config::json::Obj::new("authentication.jwt", &config).unwrap();
    crate::auth::jwt_auth::JwtAuth::parse(&obj).map_err(|e| e.to_string())
}

#[test]
fn cached_tokens_keep_working_while_the_budget_is_spent() {
    let jwt = auth(json!({"jwks": {"keys": [jwk_ec("e1")]}, "max_failed_verifications_per_s": 2}))
        .unwrap();
    let valid = token("ES256", "e1", &claims());
    assert!(jwt.verify(&valid, NOW).is_ok(), "verified, now_s cached");
    take_budget_refusals();
    for n in 0..2 {
        assert_eq!(
            jwt.verify(&forged("ES256", "e1", n), NOW),
            Err(JwtError::BadSignature)
        );
    }
    for n in 2..10 {
        assert_eq!(
            jwt.verify(&forged("ES256", "e1", n), NOW),
            Err(JwtError::BudgetExhausted)
        );
        assert!(
            jwt.verify(&valid, NOW).is_ok(),
            "the cached token is answered"
        );
    }
    assert_eq!(take_budget_refusals(), 8);
    let new_valid = token("ES256", "e1", &with(json!({"sub": "bob"})));
    assert_eq!(jwt.verify(&new_valid, NOW), Err(JwtError::BudgetExhausted));
    assert!(jwt.verify(&new_valid, NOW + 1).is_ok());
    take_budget_refusals();
}

#[test]
fn budget_configuration() {
    let keys = json!({"keys": [jwk_ec("e1")]});
    assert_eq!(auth(json!({"jwks": keys})).unwrap().max_failed_per_s(), 20);
    let set = |n: Value| auth(json!({"jwks": keys, "max_failed_verifications_per_s": n}));
    assert_eq!(set(json!(1)).unwrap().max_failed_per_s(), 1);
    assert_eq!(set(json!(1_000_000)).unwrap().max_failed_per_s(), 1_000_000);
    let range = "authentication.jwt.max_failed_verifications_per_s: must be between 1 and 1000000";
    assert_eq!(set(json!(0)).unwrap_err(), range);
    assert_eq!(set(json!(1_000_001)).unwrap_err(), range);
    assert!(set(json!("10"))
        .unwrap_err()
        .starts_with("authentication.jwt.max_failed_verifications_per_s:"));
    assert!(set(json!(-1))
        .unwrap_err()
        .starts_with("authentication.jwt.max_failed_verifications_per_s:"));
}

/// A refresh that brings the very same keys keeps the cached tokens (it forgot them all, so
/// during a forged-token flood the valid tokens the worker had verified were refused: found by
/// an audit, 2026-12-06).
#[test]
fn a_refresh_with_the_same_keys_keeps_cached_tokens_during_a_flood() {
    use crate::auth::jwt_auth::JwtAuth;
    use crate::config::json::Obj;
    let jwks = json!({"keys": [jwk_ec("e1")]});
    let config = json!({"jwks": jwks, "max_failed_verifications_per_s": 1});
    let auth = JwtAuth::parse(&Obj::new("jwt", &config).unwrap()).unwrap();
    let valid = token("ES256", "e1", &claims());
    assert!(auth.verify(&valid, NOW - 1).is_ok(), "verified, cached");
    assert_eq!(
        auth.verify(&forged("ES256", "e1", 1), NOW),
        Err(JwtError::BadSignature)
    );
    assert_eq!(
        auth.verify(&forged("ES256", "e1", 2), NOW),
        Err(JwtError::BudgetExhausted)
    );
    assert!(
        auth.verify(&valid, NOW).is_ok(),
        "cached: served during the flood"
    );
    // The periodic JWKS refresh (every refresh_s) brings the same key.
    auth.refresh(jwks.to_string().as_bytes()).unwrap();
    assert!(
        auth.verify(&valid, NOW).is_ok(),
        "same keys: the cached token should stay"
    );
    // Another key set forgets them: a token of a key that is gone must not stay accepted.
    let other = json!({"keys": [jwk_ec("e2")]});
    auth.refresh(other.to_string().as_bytes()).unwrap();
    assert_eq!(auth.verify(&valid, NOW), Err(JwtError::UnknownKid));
}

/// A full cache makes room by evicting one token, the least recently used, so a caller with
/// many valid tokens of its own (one per client_credentials grant) evicts its own and not a
/// token in use (the cache was emptied when full: found by an audit, 2026-12-06).
#[test]
fn a_full_cache_evicts_one_token_not_everyones() {
    use crate::auth::jwt_auth::JwtAuth;
    use crate::config::json::Obj;
    let config = json!({"jwks": {"keys": [jwk_ec("e1")]}, "cache_size": 4,
                        "max_failed_verifications_per_s": 1});
    let auth = JwtAuth::parse(&Obj::new("jwt", &config).unwrap()).unwrap();
    let victim = token("ES256", "e1", &claims());
    assert!(auth.verify(&victim, NOW - 1).is_ok());
    // The victim's token is used now and then; the other caller's four fill the cache.
    for n in 0..4 {
        let own = token("ES256", "e1", &with(json!({"jti": n, "azp": "attacker"})));
        assert!(auth.verify(&own, NOW - 1).is_ok());
        if n == 1 {
            assert!(auth.verify(&victim, NOW - 1).is_ok(), "in use");
        }
    }
    // A forged-token flood spends the budget: only a cached token passes now.
    assert_eq!(
        auth.verify(&forged("ES256", "e1", 1), NOW),
        Err(JwtError::BadSignature)
    );
    assert!(
        auth.verify(&victim, NOW).is_ok(),
        "the victim's token stayed cached"
    );
    let first = token("ES256", "e1", &with(json!({"jti": 0, "azp": "attacker"})));
    assert_eq!(
        auth.verify(&first, NOW),
        Err(JwtError::BudgetExhausted),
        "evicted"
    );
}

/// Valid tokens without `kid` against several keys of their type spend no budget on the keys
/// tried before theirs (they did: with no attacker at all, new valid tokens were refused once
/// a few arrived in one second: found by an audit, 2026-12-06).
#[test]
fn valid_tokens_without_kid_spend_no_budget_on_the_keys_before_theirs() {
    use crate::auth::jwt_auth::JwtAuth;
    use crate::config::json::Obj;
    let (other_jwk, ours) = two_ec_keys_without_kid();
    // The retiring key first, the current one second (a rotation).
    let config = json!({"jwks": {"keys": [other_jwk, ours]}, "max_failed_verifications_per_s": 3});
    let auth = JwtAuth::parse(&Obj::new("jwt", &config).unwrap()).unwrap();
    for n in 0..5 {
        let t = token_with(
            &json!({"alg": "ES256"}),
            &with(json!({"jti": n})),
            HS_SECRET,
        );
        assert!(
            auth.verify(&t, NOW).is_ok(),
            "valid token {n}: {:?}",
            auth.verify(&t, NOW)
        );
    }
}

/// A token no key verifies spends the budget once, by the checks it cost, and the budget is
/// checked once per token: every key of a token started is tried.
#[test]
fn a_token_without_kid_no_key_verifies_spends_one_failure_per_key_tried() {
    let (other_jwk, ours) = two_ec_keys_without_kid();
    let keys = jwks_of(vec![other_jwk, ours]);
    let mut budget = FailureBudget::new(3);
    let forged_without_kid = |n: u64| {
        let valid = token_with(
            &json!({"alg": "ES256"}),
            &with(json!({"jti": 0})),
            HS_SECRET,
        );
        let other = token_with(
            &json!({"alg": "ES256"}),
            &with(json!({"jti": n})),
            HS_SECRET,
        );
        let (_, signature) = valid.rsplit_once('.').unwrap();
        let (input, _) = other.rsplit_once('.').unwrap();
        format!("{input}.{signature}")
    };
    let check =
        |t: &str, budget: &mut FailureBudget| verify_within(t, &keys, &rules(), NOW, budget);
    assert_eq!(
        check(&forged_without_kid(1), &mut budget),
        Err(JwtError::BadSignature)
    );
    // 2 of 3 spent: the next token is still checked against both keys.
    assert_eq!(
        check(&forged_without_kid(2), &mut budget),
        Err(JwtError::BadSignature)
    );
    assert_eq!(
        check(&forged_without_kid(3), &mut budget),
        Err(JwtError::BudgetExhausted)
    );
}

/// Two P-256 keys without `kid`: another one, and the one [`token`] signs with.
fn two_ec_keys_without_kid() -> (Value, Value) {
    let other = p256::ecdsa::SigningKey::from_bytes(&[9u8; 32].into()).unwrap();
    let point = other.verifying_key().to_encoded_point(false);
    let other_jwk = json!({"kty": "EC", "crv": "P-256",
        "x": encode(point.x().unwrap()), "y": encode(point.y().unwrap())});
    let mut ours = jwk_ec("x");
    ours.as_object_mut().unwrap().remove("kid");
    (other_jwk, ours)
}
