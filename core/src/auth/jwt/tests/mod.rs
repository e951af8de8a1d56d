//! Tokens are minted here with the same RustCrypto crates, from fixed keys (no RNG, no slow
//! RSA key generation: the 2048-bit test key is a constant).

use super::b64url::encode;
use super::{verify, Claims, Jwks, JwtError, JwtRules, MAX_TOKEN_LEN};
use rsa::pkcs8::DecodePrivateKey;
use rsa::traits::PublicKeyParts;
use serde_json::{json, Value};
use std::sync::OnceLock;

const NOW: u64 = 1_700_000_000;
const HS_SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

const RSA_PKCS8_B64URL: &str = concat!(
    "MIIEvgIBADANBgkqhkiG9w0BAQEFAASCBKgwggSkAgEAAoIBAQC-9nVl8O-GW4DpP1XlrliDuMn8KiYBYgqYL6xaZRaVnYq0",
    "WVHT2VHWZR_O6UbxG4NRETBj3H_OXgc4xHTfiRPpMFXiAVlZ7UVfMev3K78q8BcSmX55cXX5hR3tNEEuVxoVcigV9Pqi2x5E",
    "DEBkAFPDuKSEjcFLxAJzXvKddPBSVU7jlXdLqYsf-4X95TL-oKI_QGZ0KL59n_yqqsmPkifhbaYE3iRCExq7heMApVnPuA8Q",
    "eQeT9Rocg23YP3pPdhr0F11oY7iM9vtJTDWrkGMFC18Cqpigf9mAsrcUnMNf7TqiWxjvqllNph4r-MspQ_BamZWWMrb5KVX_",
    "484LKRU7AgMBAAECggEAHZ-Q9afrGE4gkM5c7lzd6U0ktEP7klJZr2MR2xH8b2g5iKGkgncfbWFRjmD8utFYTR6cAZnGj8Zh",
    "W2qKcNTMbGutnvozmLIohUxyvOyh4rDM-3spNgCmWvdN_aqSA_TKHJKRalqO-O2B4-98m6a7V8zQZKmy1ySIdso_W7K0xyil",
    "EC8kAE4svtlaH5iCEYVnLjNK-8Ay4DcP9BKzJejingbPKKzPf5xswOolEqkmJv9VEc6IhdbzlLTuGKVZaJB7jAGEGbjjqP66",
    "_wErs1J4OzeERD2wg2vLibh9JFaMxmV0J5yFGo5mAqxoGOVFpJiqefBpMySAdW3KBOIgJTH8RQKBgQDhcSj14iCa6TuwxdqV",
    "kI5Wp3mulzOMbIaoGEL9PO2FVvoWDyoXupecvh3zy8q0Y35qse_daHG5JWTX2A1dL4463l8ryY2sMmqQWxAMTg_AhltFQ9iS",
    "uV2Wcfeq8hc8f_SAYGPrpppA9qqHecsqkPh5ihNKhb2pCdzMrox9WWxBlwKBgQDY2N3W4IWmpdGzBlgN37NFS4rPAMxJSR10",
    "rIbQs5aO5u32FKa2HGQAfju0ahFoCn_EzG8-1X8WY3jQQSaeDVzmZ86gj5Bzn3Id2-ls0xrXGvdGO7fNsljkgOMJsllh1dsT",
    "cjuMvmFAPKIaIcHj-1xSH6H516tqxyRcoVL1Tig1_QKBgQDChwhXEuYbhYFSCYeRYwjPUPe4ZRO_6a1Pwo-bQEWbtu9YtYEW",
    "tJU6VPo3cfPZL7jXi-5z2Dm5DsEzVmRBslVCCruIZwRuP5qgMVNpqroA4G5FGEP6ZySQOosA4KCYPbjWRVYy8rFLuQxwlfFv",
    "K2ScSz5WIY0EHVR-8WacitrUxQKBgQCgHJDARgupHqqVa0u9Ar2Vns-hRM-SFSBgs7rfgprabPyrRFhMAu57xrlC30Z28bmh",
    "j-lcFbu-xjfAXTqsXOWJYoCY4Sghl0tlbKkQJ1ecGFcYTqPKh7NHFTuOP1fr-0HFPAVoSHH6QkrWzLIjKcfjA2RP28TAFMZu",
    "dteQNONP6QKBgDYMCj7rZxHBSi69zXnlHQP252DXqnXAGOq7EkCiwvQdpHLj69PtDiV5ytsmJclGhitRhModZrMG2fIh_Ryq",
    "CAhNCv00hQMAY7-ioz-3qQgMQjjStdzgJ018vnVstGb1Scio_oThziwk2BZDiBgJPOqScFe2oQCkQ8Ed5v1JyVwh",
);

fn rsa_key() -> &'static rsa::RsaPrivateKey {
    static KEY: OnceLock<rsa::RsaPrivateKey> = OnceLock::new();
    KEY.get_or_init(|| {
        let der = super::b64url::decode(RSA_PKCS8_B64URL).unwrap();
        rsa::RsaPrivateKey::from_pkcs8_der(&der).unwrap()
    })
}

fn es_key() -> p256::ecdsa::SigningKey {
    p256::ecdsa::SigningKey::from_slice(&[7u8; 32]).unwrap()
}

fn ed_key() -> ed25519_dalek::SigningKey {
    ed25519_dalek::SigningKey::from_bytes(&[9u8; 32])
}

fn jwk_rsa(kid: &str) -> Value {
    let public = rsa_key().to_public_key();
    json!({"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256",
           "n": encode(&public.n().to_bytes_be()), "e": encode(&public.e().to_bytes_be())})
}

fn jwk_ec(kid: &str) -> Value {
    let point = es_key().verifying_key().to_encoded_point(false);
    json!({"kty": "EC", "kid": kid, "crv": "P-256",
           "x": encode(point.x().unwrap()), "y": encode(point.y().unwrap())})
}

fn jwk_oct(kid: &str, secret: &[u8]) -> Value {
    json!({"kty": "oct", "kid": kid, "k": encode(secret)})
}

fn jwk_ed(kid: &str) -> Value {
    json!({"kty": "OKP", "kid": kid, "crv": "Ed25519", "x": encode(&ed_key().verifying_key().to_bytes())})
}

fn jwks_of(keys: Vec<Value>) -> Jwks {
    Jwks::parse("jwks", &json!({ "keys": keys })).unwrap()
}

fn all_keys() -> Jwks {
    jwks_of(vec![
        jwk_rsa("r1"),
        jwk_ec("e1"),
        jwk_oct("h1", HS_SECRET),
        jwk_ed("d1"),
    ])
}

fn sign_with(alg: &str, secret: &[u8], input: &[u8]) -> Vec<u8> {
    match alg {
        "HS256" => {
            use hmac::Mac;
            let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret).unwrap();
            mac.update(input);
            mac.finalize().into_bytes().to_vec()
        }
        "RS256" => {
            use rsa::signature::{SignatureEncoding, Signer};
            let key = rsa::pkcs1v15::SigningKey::<sha2::Sha256>::new(rsa_key().clone());
            key.sign(input).to_vec()
        }
        "ES256" => {
            use p256::ecdsa::signature::Signer;
            let signature: p256::ecdsa::Signature = es_key().sign(input);
            signature.to_bytes().to_vec()
        }
        "EdDSA" => {
            use ed25519_dalek::Signer;
            ed_key().sign(input).to_bytes().to_vec()
        }
        _ => Vec::new(),
    }
}

/// A token with this header and payload, signed with the test key of the header's `alg`.
fn token_with(header: &Value, claims: &Value, secret: &[u8]) -> String {
    let input = format!(
        "{}.{}",
        encode(header.to_string().as_bytes()),
        encode(claims.to_string().as_bytes())
    );
    let alg = header["alg"].as_str().unwrap_or("");
    format!(
        "{input}.{}",
        encode(&sign_with(alg, secret, input.as_bytes()))
    )
}

fn token(alg: &str, kid: &str, claims: &Value) -> String {
    token_with(
        &json!({"alg": alg, "typ": "JWT", "kid": kid}),
        claims,
        HS_SECRET,
    )
}

fn claims() -> Value {
    json!({"sub": "alice", "azp": "app-1", "iss": "https://idp.example/realms/r",
           "aud": ["account", "api"], "iat": NOW - 10, "exp": NOW + 300})
}

fn with(extra: Value) -> Value {
    let mut claims = claims();
    for (k, v) in extra.as_object().unwrap() {
        if v.is_null() {
            claims.as_object_mut().unwrap().remove(k);
        } else {
            claims[k] = v.clone();
        }
    }
    claims
}

fn rules() -> JwtRules {
    JwtRules::default()
}

fn check(token: &str) -> Result<Claims, JwtError> {
    static KEYS: OnceLock<Jwks> = OnceLock::new();
    verify(token, KEYS.get_or_init(all_keys), &rules(), NOW)
}

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
        "none", "None", "NONE", "HS512", "RS384", "PS256", "ES384", "hs256", "",
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
fn bad_signatures_are_refused() {
    for (alg, kid) in [
        ("HS256", "h1"),
        ("RS256", "r1"),
        ("ES256", "e1"),
        ("EdDSA", "d1"),
    ] {
        let good = token(alg, kid, &claims());
        let (input, signature) = good.rsplit_once('.').unwrap();
        // Another payload with the original signature.
        let other = token(alg, kid, &with(json!({"sub": "mallory"})));
        let (other_input, _) = other.rsplit_once('.').unwrap();
        assert_eq!(
            check(&format!("{other_input}.{signature}")),
            Err(JwtError::BadSignature),
            "{alg}"
        );
        // A flipped signature bit.
        let mut sig = super::b64url::decode(signature).unwrap();
        sig[5] ^= 1;
        assert_eq!(
            check(&format!("{input}.{}", encode(&sig))),
            Err(JwtError::BadSignature),
            "{alg}"
        );
        // Truncated, empty and oversized signatures.
        for bad in [
            &sig[..sig.len() - 1],
            &[][..],
            &[sig.clone(), sig.clone()].concat()[..],
        ] {
            assert_eq!(
                check(&format!("{input}.{}", encode(bad))),
                Err(JwtError::BadSignature),
                "{alg}"
            );
        }
    }
    // A token signed with another HS256 secret.
    let t = token_with(
        &json!({"alg": "HS256", "kid": "h1"}),
        &claims(),
        b"another secret, 32 bytes long...",
    );
    assert_eq!(check(&t), Err(JwtError::BadSignature));
}

#[test]
fn es256_der_signature_is_refused() {
    let good = token("ES256", "e1", &claims());
    let (input, _) = good.rsplit_once('.').unwrap();
    use p256::ecdsa::signature::Signer;
    let signature: p256::ecdsa::Signature = es_key().sign(input.as_bytes());
    let der = signature.to_der();
    assert_eq!(
        check(&format!("{input}.{}", encode(der.as_bytes()))),
        Err(JwtError::BadSignature)
    );
}

#[test]
fn expiry_with_and_without_leeway() {
    let expired = token("HS256", "h1", &with(json!({"exp": NOW - 30})));
    assert_eq!(check(&expired), Err(JwtError::Expired));
    let lenient = JwtRules {
        leeway_s: 60,
        ..rules()
    };
    assert!(verify(&expired, &all_keys(), &lenient, NOW).is_ok());
    let tight = JwtRules {
        leeway_s: 30,
        ..rules()
    };
    assert_eq!(
        verify(&expired, &all_keys(), &tight, NOW),
        Err(JwtError::Expired)
    );
    // exp == now is expired; exp == now + 1 is not.
    assert_eq!(
        check(&token("HS256", "h1", &with(json!({"exp": NOW})))),
        Err(JwtError::Expired)
    );
    assert!(check(&token("HS256", "h1", &with(json!({"exp": NOW + 1})))).is_ok());
    // exp is required.
    assert_eq!(
        check(&token("HS256", "h1", &with(json!({"exp": null})))),
        Err(JwtError::Expired)
    );
}

#[test]
fn not_before() {
    let future = token("HS256", "h1", &with(json!({"nbf": NOW + 30})));
    assert_eq!(check(&future), Err(JwtError::NotYetValid));
    let lenient = JwtRules {
        leeway_s: 30,
        ..rules()
    };
    assert!(verify(&future, &all_keys(), &lenient, NOW).is_ok());
    assert!(check(&token("HS256", "h1", &with(json!({"nbf": NOW})))).is_ok());
    assert!(check(&token("HS256", "h1", &with(json!({"nbf": 0})))).is_ok());
}

#[test]
fn issuer() {
    let keys = all_keys();
    let rules = JwtRules {
        issuer: Some("https://idp.example/realms/r".into()),
        ..rules()
    };
    assert!(verify(&token("ES256", "e1", &claims()), &keys, &rules, NOW).is_ok());
    for iss in [
        json!("https://idp.example/realms/other"),
        json!(null),
        json!(1),
        json!(["https://idp.example/realms/r"]),
    ] {
        let t = token("ES256", "e1", &with(json!({ "iss": iss })));
        assert_eq!(
            verify(&t, &keys, &rules, NOW),
            Err(JwtError::WrongIssuer),
            "{iss}"
        );
    }
}

#[test]
fn audience() {
    let keys = all_keys();
    let rules = JwtRules {
        audiences: vec!["other".into(), "api".into()],
        ..rules()
    };
    assert!(verify(&token("HS256", "h1", &claims()), &keys, &rules, NOW).is_ok());
    assert!(verify(
        &token("HS256", "h1", &with(json!({"aud": "api"}))),
        &keys,
        &rules,
        NOW
    )
    .is_ok());
    for aud in [
        json!("account"),
        json!(["account"]),
        json!([]),
        json!(null),
        json!(7),
        json!([["api"]]),
    ] {
        let t = token("HS256", "h1", &with(json!({ "aud": aud })));
        assert_eq!(
            verify(&t, &keys, &rules, NOW),
            Err(JwtError::WrongAudience),
            "{aud}"
        );
    }
}

#[test]
fn roles_and_client_id() {
    let t = token(
        "RS256",
        "r1",
        &with(json!({
            "roles": ["reader", 3, "writer"],
            "realm_access": {"roles": ["admin", "user"]},
            "resource_access": {"my-app": {"roles": ["ops"]}},
            "scope": "openid  profile email",
            "https://example.com/roles": ["ns"],
            "azp": ["first", "second"],
        })),
    );
    let claims = check(&t).unwrap();
    assert_eq!(claims.strings_at("roles"), ["reader", "writer"]);
    assert_eq!(claims.strings_at("realm_access.roles"), ["admin", "user"]);
    assert_eq!(claims.strings_at("resource_access.my-app.roles"), ["ops"]);
    assert_eq!(claims.strings_at("scope"), ["openid", "profile", "email"]);
    assert_eq!(claims.strings_at("https://example.com/roles"), ["ns"]);
    assert_eq!(claims.strings_at("sub"), ["alice"]);
    assert!(claims.strings_at("missing").is_empty());
    assert!(claims.strings_at("realm_access.missing").is_empty());
    assert!(claims.strings_at("realm_access").is_empty());
    assert!(claims.strings_at("exp").is_empty());
    assert!(claims.strings_at("").is_empty());
    assert!(claims.strings_at("sub.x").is_empty());
    assert_eq!(claims.string("azp"), Some("first"));
    assert_eq!(claims.string("sub"), Some("alice"));
    assert_eq!(claims.string("exp"), None);
    assert_eq!(claims.string("nope"), None);
    assert_eq!(claims.get("exp"), Some(&json!(NOW + 300)));
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

#[test]
fn malformed_tokens_are_refused_without_panic() {
    let good = token("HS256", "h1", &claims());
    assert!(check(&good).is_ok());
    // Every truncation.
    for end in 0..good.len() {
        assert!(check(&good[..end]).is_err(), "{end}");
    }
    let (h, rest) = good.split_once('.').unwrap();
    let (p, s) = rest.split_once('.').unwrap();
    let o = |v: Value| encode(v.to_string().as_bytes());
    let cases = [
        String::new(),
        ".".into(),
        "..".into(),
        "...".into(),
        format!("{h}.{p}"),
        format!("{h}.{p}.{s}."),
        format!("{h}.{p}.{s}.{s}"),
        format!("{h}=.{p}.{s}"),
        format!("{h}.{p}.{s}="),
        format!("{h}.{p}==.{s}"),
        format!("{h}.{p}.{s} "),
        format!(" {h}.{p}.{s}"),
        format!("{h}.{p}.{}", s.replace('-', "+").replace('_', "/")),
        format!("{h}!.{p}.{s}"),
        format!("é.{p}.{s}"),
        format!("{}.{p}.{s}", o(json!([1, 2]))),
        format!("{}.{p}.{s}", o(json!("HS256"))),
        format!("{}.{p}.{s}", encode(b"{\"alg\":\"HS256\"")),
        format!("{}.{p}.{s}", encode(&[0xff, 0xfe, 0x00])),
        format!("{}.{p}.{s}", o(json!({"alg": "HS256", "kid": 1}))),
        format!(
            "{}.{p}.{s}",
            o(json!({"alg": "HS256", "kid": "h1", "crit": ["exp"]}))
        ),
        "a".repeat(MAX_TOKEN_LEN + 1),
        format!("{h}.{}.{s}", "A".repeat(MAX_TOKEN_LEN)),
    ];
    for case in &cases {
        let result = check(case);
        assert!(result.is_err(), "{case}");
    }
    assert_eq!(check(&format!("{h}.{p}")), Err(JwtError::Malformed));
    assert_eq!(check(&format!("{h}=.{p}.{s}")), Err(JwtError::Malformed));
    assert_eq!(check(&format!("{h}.{p}.{s}=")), Err(JwtError::Malformed));
    assert_eq!(
        check(&"a".repeat(MAX_TOKEN_LEN + 1)),
        Err(JwtError::Malformed)
    );
    // Deeply nested JSON in the header: serde_json's recursion limit, no stack overflow.
    let deep = format!(
        "{{\"alg\":\"HS256\",\"x\":{}{}}}",
        "[".repeat(10_000),
        "]".repeat(10_000)
    );
    assert_eq!(
        check(&format!("{}.{p}.{s}", encode(deep.as_bytes()))),
        Err(JwtError::Malformed)
    );
}

#[test]
fn odd_claim_values() {
    // Signed payloads that are not objects, or with numbers and types of all kinds.
    let payload_token = |payload: &str| {
        let input = format!(
            "{}.{}",
            encode(br#"{"alg":"HS256","kid":"h1"}"#),
            encode(payload.as_bytes())
        );
        format!(
            "{input}.{}",
            encode(&sign_with("HS256", HS_SECRET, input.as_bytes()))
        )
    };
    for (payload, expected) in [
        ("[1]", Err(JwtError::Malformed)),
        ("\"x\"", Err(JwtError::Malformed)),
        ("", Err(JwtError::Malformed)),
        ("{", Err(JwtError::Malformed)),
        ("{}", Err(JwtError::Expired)),
        (r#"{"exp":"9999999999"}"#, Err(JwtError::Malformed)),
        (r#"{"exp":[9999999999]}"#, Err(JwtError::Malformed)),
        (r#"{"exp":{"a":1}}"#, Err(JwtError::Malformed)),
        (r#"{"exp":true}"#, Err(JwtError::Malformed)),
        (r#"{"exp":-5}"#, Err(JwtError::Expired)),
        (r#"{"exp":-1e300}"#, Err(JwtError::Expired)),
        (r#"{"exp":1e400}"#, Err(JwtError::Malformed)), // not a JSON number serde_json accepts
        (r#"{"exp":1e300}"#, Ok(())),
        (r#"{"exp":18446744073709551615}"#, Ok(())),
        (r#"{"exp":99999999999999999999999999}"#, Ok(())),
        (r#"{"exp":1700000000.5}"#, Err(JwtError::Expired)),
        (r#"{"exp":1700000001.5}"#, Ok(())),
        (r#"{"exp":1e300,"nbf":1e300}"#, Err(JwtError::NotYetValid)),
        (r#"{"exp":1e300,"nbf":-1}"#, Ok(())),
        (r#"{"exp":1e300,"nbf":"0"}"#, Err(JwtError::Malformed)),
        (r#"{"exp":1e300,"nbf":null}"#, Ok(())),
    ] {
        let result = check(&payload_token(payload)).map(|_| ());
        assert_eq!(result, expected, "{payload}");
    }
    // Huge leeway and now: no overflow.
    let huge = JwtRules {
        leeway_s: u64::MAX,
        ..rules()
    };
    assert!(verify(
        &payload_token(r#"{"exp":1,"nbf":18446744073709551615}"#),
        &all_keys(),
        &huge,
        u64::MAX - 1
    )
    .is_ok());
}

#[test]
fn garbage_never_panics() {
    // A small deterministic fuzz over the token alphabet plus dots and junk.
    let alphabet = b"AbcXyz019-_.=+/ \xc3\xa9eyJhbGciOiJIUzI1NiJ9";
    let good = token("HS256", "h1", &claims());
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for _ in 0..3000 {
        let mut bytes = good.clone().into_bytes();
        for _ in 0..(next() % 4 + 1) {
            let i = (next() % bytes.len() as u64) as usize;
            bytes[i] = alphabet[(next() % alphabet.len() as u64) as usize];
        }
        if let Ok(text) = String::from_utf8(bytes) {
            if text != good {
                assert!(check(&text).is_err(), "{text}");
            }
        }
    }
}

fn parse_err(keys: Vec<Value>) -> String {
    Jwks::parse("authentication.jwt.jwks", &json!({ "keys": keys }))
        .unwrap_err()
        .to_string()
}

#[test]
fn jwks_parsing_and_errors() {
    assert_eq!(all_keys().len(), 4);
    assert!(!all_keys().is_empty());
    let mut bad_n = jwk_rsa("r");
    bad_n["n"] = json!("a+b/");
    assert_eq!(
        parse_err(vec![jwk_ec("e"), bad_n]),
        "authentication.jwt.jwks.keys[1].n: invalid base64url"
    );
    let mut padded = jwk_oct("h", HS_SECRET);
    padded["k"] = json!(format!("{}=", encode(&HS_SECRET[..31])));
    assert_eq!(
        parse_err(vec![padded]),
        "authentication.jwt.jwks.keys[0].k: invalid base64url"
    );
    let mut small = jwk_rsa("r");
    small["n"] = json!(encode(&[0xc5; 128]));
    assert!(parse_err(vec![small])
        .starts_with("authentication.jwt.jwks.keys[0].n: RSA modulus of 1024 bits"));
    let mut no_e = jwk_rsa("r");
    no_e.as_object_mut().unwrap().remove("e");
    assert_eq!(
        parse_err(vec![no_e]),
        "authentication.jwt.jwks.keys[0].e: missing required field"
    );
    let mut pinned = jwk_rsa("r");
    pinned["alg"] = json!("HS256");
    assert_eq!(
        parse_err(vec![pinned]),
        "authentication.jwt.jwks.keys[0].alg: HS256 does not fit a RSA key (expected RS256)"
    );
    assert!(parse_err(vec![jwk_oct("h", b"short")])
        .starts_with("authentication.jwt.jwks.keys[0].k: HS256 key of 5 bytes"));
    let mut off_curve = jwk_ec("e");
    off_curve["y"] = off_curve["x"].clone();
    assert_eq!(
        parse_err(vec![off_curve]),
        "authentication.jwt.jwks.keys[0]: invalid P-256 key: not a point on the curve"
    );
    let mut short_x = jwk_ec("e");
    short_x["x"] = json!(encode(&[1; 31]));
    assert_eq!(
        parse_err(vec![short_x]),
        "authentication.jwt.jwks.keys[0].x: expected 32 bytes, got 31"
    );
    assert_eq!(
        parse_err(vec![json!({"kty": "DSA"})]),
        "authentication.jwt.jwks.keys[0].kty: unsupported key type \"DSA\" (expected RSA, EC, oct or OKP)"
    );
    assert_eq!(
        parse_err(vec![json!({"kid": "a"})]),
        "authentication.jwt.jwks.keys[0].kty: missing required field"
    );
    assert_eq!(
        parse_err(vec![
            json!({"kty": "oct", "kid": 5, "k": encode(HS_SECRET)})
        ]),
        "authentication.jwt.jwks.keys[0].kid: expected a string"
    );
    assert_eq!(
        parse_err(vec![json!(1)]),
        "authentication.jwt.jwks.keys[0]: expected an object"
    );
    assert_eq!(parse_err(vec![]), "authentication.jwt.jwks.keys: no key");
    let err = Jwks::parse("j", &json!({"keys": {}}))
        .unwrap_err()
        .to_string();
    assert_eq!(err, "j.keys: expected an array");
    let err = Jwks::parse("j", &json!([])).unwrap_err().to_string();
    assert_eq!(err, "j: expected an object");
    let err = Jwks::parse("j", &json!({})).unwrap_err().to_string();
    assert_eq!(err, "j.keys: missing required field");
}

#[test]
fn jwks_skips_encryption_keys_other_algorithms_and_curves() {
    let mut enc = jwk_rsa("enc");
    enc["use"] = json!("enc");
    enc["alg"] = json!("RSA-OAEP");
    let mut rs384 = jwk_rsa("rs384");
    rs384["alg"] = json!("RS384");
    let p384 = json!({"kty": "EC", "crv": "P-384", "x": "AA", "y": "AA"});
    let x25519 = json!({"kty": "OKP", "crv": "X25519", "x": "AA"});
    let keys = Jwks::parse(
        "j",
        &json!({"keys": [enc.clone(), rs384, p384, x25519, jwk_ec("e1")]}),
    )
    .unwrap();
    assert_eq!(keys.len(), 1);
    assert!(verify(&token("ES256", "e1", &claims()), &keys, &rules(), NOW).is_ok());
    let err = Jwks::parse("j", &json!({"keys": [enc]}))
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("j.keys: no usable signing key among 1"),
        "{err}"
    );
}

#[test]
fn debug_output_hides_secrets() {
    let text = format!("{:?}", all_keys());
    assert_eq!(
        text,
        r#"Jwks([RS256 kid="r1", ES256 kid="e1", HS256 kid="h1", EdDSA kid="d1"])"#
    );
    assert!(!text.contains("0123456789"));
}

#[test]
fn errors_display() {
    assert_eq!(
        JwtError::AlgorithmMismatch.to_string(),
        "algorithm does not match the key"
    );
    assert_eq!(JwtError::Expired.code(), "expired");
}
