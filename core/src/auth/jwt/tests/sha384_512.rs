//! RS384, RS512, HS384 and HS512, which APIcast verifies too (found by an audit, 2026-12-07:
//! they were refused): a key verifies only the algorithm its `alg` names, so no token of
//! another hash or family passes; ES384 and ES512 keys are refused, not skipped silently.

use super::*;
use crate::auth::jwt::{verify_within, Algorithm, FailureBudget};

const HS384_SECRET: &[u8] = b"0123456789abcdef0123456789abcdef0123456789abcdef";
const HS512_SECRET: &[u8] = b"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

fn pinned(mut jwk: Value, alg: &str) -> Value {
    jwk["alg"] = json!(alg);
    jwk
}

fn without_alg(mut jwk: Value) -> Value {
    jwk.as_object_mut().unwrap().remove("alg");
    jwk
}

/// A token of `claims()` with header `{alg, kid}`, signed by the test key of `alg` (`secret`
/// for HMAC).
fn signed(alg: &str, kid: &str, secret: &[u8]) -> String {
    token_with(&json!({"alg": alg, "kid": kid}), &claims(), secret)
}

fn sha384_512_keys() -> Jwks {
    jwks_of(vec![
        pinned(jwk_rsa("r384"), "RS384"),
        pinned(jwk_rsa("r512"), "RS512"),
        pinned(jwk_oct("h384", HS384_SECRET), "HS384"),
        pinned(jwk_oct("h512", HS512_SECRET), "HS512"),
    ])
}

const CASES: [(&str, &str, &[u8]); 4] = [
    ("RS384", "r384", b""),
    ("RS512", "r512", b""),
    ("HS384", "h384", HS384_SECRET),
    ("HS512", "h512", HS512_SECRET),
];

#[test]
fn each_is_verified_by_a_key_of_its_alg() {
    let keys = sha384_512_keys();
    for (alg, kid, secret) in CASES {
        let claims = verify(&signed(alg, kid, secret), &keys, &rules(), NOW)
            .unwrap_or_else(|e| panic!("{alg}: {e:?}"));
        assert_eq!(claims.string("sub"), Some("alice"), "{alg}");
        // Without `kid`: the keys of its algorithm are tried (here one).
        let no_kid = token_with(&json!({ "alg": alg }), &super::claims(), secret);
        assert!(verify(&no_kid, &keys, &rules(), NOW).is_ok(), "{alg}");
        // A changed payload under its signature.
        let good = signed(alg, kid, secret);
        let (_, signature) = good.rsplit_once('.').unwrap();
        let other = token_with(
            &json!({"alg": alg, "kid": kid}),
            &with(json!({"sub": "mallory"})),
            secret,
        );
        let (input, _) = other.rsplit_once('.').unwrap();
        let forged = format!("{input}.{signature}");
        assert_eq!(
            verify(&forged, &keys, &rules(), NOW),
            Err(JwtError::BadSignature),
            "{alg}"
        );
    }
}

#[test]
fn a_key_verifies_only_the_alg_it_names() {
    let rs512 = jwks_of(vec![pinned(jwk_rsa("r"), "RS512")]);
    let rs256 = jwks_of(vec![jwk_rsa("r")]);
    // Without `alg` an RSA key is RS256's, an `oct` key HS256's.
    let unpinned = jwks_of(vec![without_alg(jwk_rsa("r"))]);
    for (keys, alg) in [
        (&rs512, "RS256"),
        (&rs512, "RS384"),
        (&rs256, "RS512"),
        (&unpinned, "RS512"),
        (&unpinned, "RS384"),
    ] {
        assert_eq!(
            verify(&signed(alg, "r", b""), keys, &rules(), NOW),
            Err(JwtError::AlgorithmMismatch),
            "{alg}"
        );
    }
    // The signature of another hash under the key's own `alg`.
    let input = format!(
        "{}.{}",
        encode(json!({"alg": "RS512", "kid": "r"}).to_string().as_bytes()),
        encode(claims().to_string().as_bytes())
    );
    let rs256_signature = sign_with("RS256", b"", input.as_bytes());
    let relabelled = format!("{input}.{}", encode(&rs256_signature));
    assert_eq!(
        verify(&relabelled, &rs512, &rules(), NOW),
        Err(JwtError::BadSignature)
    );
    // HMAC: the same 64-byte secret as HS256 and as HS512 key, each refusing the other.
    let hs512 = jwks_of(vec![pinned(jwk_oct("h", HS512_SECRET), "HS512")]);
    let hs256 = jwks_of(vec![without_alg(jwk_oct("h", HS512_SECRET))]);
    for (keys, alg) in [(&hs512, "HS256"), (&hs512, "HS384"), (&hs256, "HS512")] {
        assert_eq!(
            verify(&signed(alg, "h", HS512_SECRET), keys, &rules(), NOW),
            Err(JwtError::AlgorithmMismatch),
            "{alg}"
        );
    }
    // The RS512 key's public bytes as an HS512 secret (the key-confusion attack).
    let n = rsa_key().to_public_key().n().to_bytes_be();
    assert_eq!(
        verify(&signed("HS512", "r", &n), &rs512, &rules(), NOW),
        Err(JwtError::AlgorithmMismatch)
    );
    // An alg of another type than the key's, named in the JWK: refused at configuration.
    let err = Jwks::parse("j", &json!({"keys": [pinned(jwk_rsa("r"), "HS512")]}))
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "j.keys[0].alg: HS512 does not fit a RSA key (expected RS256, RS384 or RS512)"
    );
}

#[test]
fn hmac_secrets_are_at_least_the_hash_size() {
    let short = |alg: &str, secret: &[u8]| {
        Jwks::parse("j", &json!({"keys": [pinned(jwk_oct("h", secret), alg)]}))
            .unwrap_err()
            .to_string()
    };
    assert_eq!(
        short("HS384", &HS384_SECRET[..47]),
        "j.keys[0].k: HS384 key of 47 bytes, at least 48 are needed"
    );
    assert_eq!(
        short("HS512", HS384_SECRET),
        "j.keys[0].k: HS512 key of 48 bytes, at least 64 are needed"
    );
    // Secrets of a block (128 bytes) and longer, hashed first (RFC 2104), as the `hmac` crate
    // that signs the tokens does.
    for len in [128, 129, 300] {
        let secret: Vec<u8> = (0..len).map(|i| i as u8).collect();
        for alg in ["HS384", "HS512"] {
            let keys = jwks_of(vec![pinned(jwk_oct("h", &secret), alg)]);
            let good = signed(alg, "h", &secret);
            assert!(verify(&good, &keys, &rules(), NOW).is_ok(), "{alg} {len}");
            let other = signed(alg, "h", &secret[..len - 1]);
            assert_eq!(
                verify(&other, &keys, &rules(), NOW),
                Err(JwtError::BadSignature),
                "{alg} {len}"
            );
        }
    }
}

#[test]
fn es384_and_es512_keys_are_refused_configured_and_skipped_fetched() {
    let p384 = json!({"kty": "EC", "crv": "P-384", "x": "AA", "y": "AA"});
    let es512 = json!({"kty": "EC", "crv": "P-521", "alg": "ES512", "x": "AA", "y": "AA"});
    let configured = |key: &Value| {
        Jwks::parse("j", &json!({"keys": [jwk_ec("e1"), key]}))
            .unwrap_err()
            .to_string()
    };
    assert!(
        configured(&p384).starts_with("j.keys[1].crv: ES384 keys are not supported"),
        "{}",
        configured(&p384)
    );
    assert!(configured(&es512).starts_with("j.keys[1].alg: ES512 keys are not supported"));
    let mut skipped = Vec::new();
    let set = json!({"keys": [p384, jwk_ec("e1"), es512]});
    let keys = Jwks::parse_fetched("j", &set, &mut skipped).unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(skipped.len(), 2, "{skipped:?}");
    // Their tokens: an algorithm Tollgate does not verify (403).
    for alg in ["ES384", "ES512"] {
        assert_eq!(
            verify(&signed(alg, "e1", b""), &keys, &rules(), NOW),
            Err(JwtError::UnsupportedAlgorithm)
        );
    }
}

#[test]
fn each_algorithm_has_its_bit_and_rsa_failures_spend_the_budget() {
    let all = [
        Algorithm::HS256,
        Algorithm::RS256,
        Algorithm::ES256,
        Algorithm::EdDSA,
        Algorithm::HS384,
        Algorithm::HS512,
        Algorithm::RS384,
        Algorithm::RS512,
    ];
    assert_eq!(all.map(Algorithm::bit), [1, 2, 4, 8, 16, 32, 64, 128]);
    for alg in all {
        assert_eq!(Algorithm::from_name(alg.name()), Some(alg));
    }
    // A discovery document listing RS512 alone.
    let listed = JwtRules {
        algs: Some(Algorithm::RS512.bit()),
        ..rules()
    };
    let keys = sha384_512_keys();
    assert!(verify(&signed("RS512", "r512", b""), &keys, &listed, NOW).is_ok());
    assert_eq!(
        verify(&signed("RS384", "r384", b""), &keys, &listed, NOW),
        Err(JwtError::UnsupportedAlgorithm)
    );
    // A forged RS512 token spends the budget; a forged HS512 one (a microsecond) does not.
    let forge = |alg: &str, kid: &str, secret: &[u8]| {
        let token = signed(alg, kid, secret);
        let (input, _) = token.rsplit_once('.').unwrap();
        let len = if alg == "HS512" { 64 } else { 256 };
        format!("{input}.{}", encode(&vec![1u8; len]))
    };
    let mut budget = FailureBudget::new(1);
    for _ in 0..3 {
        assert_eq!(
            verify_within(
                &forge("HS512", "h512", HS512_SECRET),
                &keys,
                &rules(),
                NOW,
                &mut budget
            ),
            Err(JwtError::BadSignature)
        );
    }
    let rs512 = forge("RS512", "r512", b"");
    assert_eq!(
        verify_within(&rs512, &keys, &rules(), NOW, &mut budget),
        Err(JwtError::BadSignature)
    );
    assert_eq!(
        verify_within(&rs512, &keys, &rules(), NOW, &mut budget),
        Err(JwtError::BudgetExhausted)
    );
}
