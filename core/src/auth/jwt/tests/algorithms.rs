//! Which tokens a key verifies: every supported algorithm, no unsupported one, no
//! algorithm confusion, and the key chosen by `kid` (or tried without one).

use super::*;
use crate::auth::jwt::Algorithm;

#[test]
fn each_algorithm_is_accepted() {
    let keys = all_keys();
    for (alg, kid) in [
        ("HS256", "h1"),
        ("RS256", "r1"),
        ("ES256", "e1"),
        ("EdDSA", "d1"),
    ] {
        let claims = verify(&token(alg, kid, &claims()), &keys, &rules(), NOW)
            .unwrap_or_else(|e| panic!("{alg}: {e:?}"));
        assert_eq!(claims.string("sub"), Some("alice"), "{alg}");
    }
}

#[test]
fn alg_none_and_other_algorithms_are_unsupported() {
    let payload = encode(claims().to_string().as_bytes());
    for alg in [
        "none", "None", "NONE", "PS256", "ES384", "ES512", "RS1", "hs256", "hs512", "",
    ] {
        let header = encode(json!({"alg": alg, "kid": "h1"}).to_string().as_bytes());
        assert_eq!(
            check(&format!("{header}.{payload}.")),
            Err(JwtError::UnsupportedAlgorithm),
            "{alg}"
        );
        let signed = token_with(&json!({"alg": alg, "kid": "h1"}), &claims(), HS_SECRET);
        assert_eq!(check(&signed), Err(JwtError::UnsupportedAlgorithm), "{alg}");
    }
    // alg missing or not a string: malformed.
    for header in [
        json!({"kid": "h1"}),
        json!({"alg": null}),
        json!({"alg": ["HS256"]}),
    ] {
        let header = encode(header.to_string().as_bytes());
        assert_eq!(
            check(&format!("{header}.{payload}.")),
            Err(JwtError::Malformed)
        );
    }
}

#[test]
fn only_the_listed_algorithms_are_accepted_when_a_list_is_set() {
    // A discovery document's `id_token_signing_alg_values_supported`.
    let keys = all_keys();
    let listed = JwtRules {
        algs: Some(Algorithm::RS256.bit() | Algorithm::EdDSA.bit()),
        ..rules()
    };
    let none_listed = JwtRules {
        algs: Some(0),
        ..rules()
    };
    for (alg, kid, accepted) in [
        ("HS256", "h1", false),
        ("RS256", "r1", true),
        ("ES256", "e1", false),
        ("EdDSA", "d1", true),
    ] {
        let t = token(alg, kid, &claims());
        let expected = if accepted {
            Ok(())
        } else {
            Err(JwtError::UnsupportedAlgorithm)
        };
        let result = verify(&t, &keys, &listed, NOW).map(|_| ());
        assert_eq!(result, expected, "{alg}");
        let result = verify(&t, &keys, &none_listed, NOW).map(|_| ());
        assert_eq!(result, Err(JwtError::UnsupportedAlgorithm), "{alg}");
        assert!(verify(&t, &keys, &rules(), NOW).is_ok(), "no list: {alg}");
    }
    let bits = [
        Algorithm::HS256,
        Algorithm::RS256,
        Algorithm::ES256,
        Algorithm::EdDSA,
    ]
    .map(Algorithm::bit);
    assert_eq!(bits, [1, 2, 4, 8]);
}

#[test]
fn unknown_kid_is_refused() {
    assert_eq!(
        check(&token("HS256", "nope", &claims())),
        Err(JwtError::UnknownKid)
    );
    // Even a single key with another kid.
    let keys = jwks_of(vec![jwk_oct("h1", HS_SECRET)]);
    let t = token("HS256", "h2", &claims());
    assert_eq!(verify(&t, &keys, &rules(), NOW), Err(JwtError::UnknownKid));
}

/// The PEM text of a DER public key, as `openssl` writes it.
fn pem(der: &[u8]) -> String {
    let mut b64 = encode(der).replace('-', "+").replace('_', "/");
    while !b64.len().is_multiple_of(4) {
        b64.push('=');
    }
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
        lines.join("\n")
    )
}

#[test]
fn rsa_public_key_as_hmac_secret_is_refused() {
    // The RS256→HS256 confusion attack: HMAC-sign with the (public) RSA key bytes.
    use rsa::pkcs8::EncodePublicKey;
    let public = rsa_key().to_public_key();
    let der = public.to_public_key_der().unwrap();
    let pem = pem(der.as_bytes());
    let n = public.n().to_bytes_be();
    for secret in [der.as_bytes(), pem.as_bytes(), &n] {
        let t = token_with(&json!({"alg": "HS256", "kid": "r1"}), &claims(), secret);
        assert_eq!(check(&t), Err(JwtError::AlgorithmMismatch));
        // Single kid-less RSA key, token without kid.
        let mut jwk = jwk_rsa("x");
        jwk.as_object_mut().unwrap().remove("kid");
        let keys = jwks_of(vec![jwk]);
        let t = token_with(&json!({"alg": "HS256"}), &claims(), secret);
        assert_eq!(
            verify(&t, &keys, &rules(), NOW),
            Err(JwtError::AlgorithmMismatch)
        );
    }
    // Same for an EC key named with another family's alg.
    assert_eq!(
        check(&token("RS256", "e1", &claims())),
        Err(JwtError::AlgorithmMismatch)
    );
}

#[test]
fn key_selection_without_kid() {
    let no_kid = |alg: &str| token_with(&json!({"alg": alg}), &claims(), HS_SECRET);
    // Several keys: the keys of the token's family are tried.
    for alg in ["HS256", "RS256", "ES256", "EdDSA"] {
        assert!(check(&no_kid(alg)).is_ok(), "{alg}");
    }
    // Two HS256 keys without kids: the second one verifies.
    let mut first = jwk_oct("x", b"some other secret of 32 bytes...");
    first.as_object_mut().unwrap().remove("kid");
    let mut second = jwk_oct("x", HS_SECRET);
    second.as_object_mut().unwrap().remove("kid");
    let keys = jwks_of(vec![first, second]);
    assert!(verify(&no_kid("HS256"), &keys, &rules(), NOW).is_ok());
    assert_eq!(
        verify(&no_kid("ES256"), &keys, &rules(), NOW),
        Err(JwtError::AlgorithmMismatch)
    );
    // Several keys, a kid the set does not have: unknown even though kid-less keys exist.
    assert_eq!(
        verify(&token("HS256", "k", &claims()), &keys, &rules(), NOW),
        Err(JwtError::UnknownKid)
    );
    // A single kid-less key matches any kid.
    let mut only = jwk_ec("x");
    only.as_object_mut().unwrap().remove("kid");
    let keys = jwks_of(vec![only]);
    assert!(verify(&token("ES256", "whatever", &claims()), &keys, &rules(), NOW).is_ok());
}
