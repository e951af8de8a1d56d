//! Tokens refused for their signature or their shape, always without a panic, and how
//! the errors read.

use super::*;
use crate::auth::jwt::MAX_TOKEN_LEN;
use crate::base64;

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
        let mut sig = base64::decode_url(signature).unwrap();
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

#[test]
fn errors_display() {
    assert_eq!(
        JwtError::AlgorithmMismatch.to_string(),
        "algorithm does not match the key"
    );
    assert_eq!(JwtError::Expired.code(), "expired");
}
