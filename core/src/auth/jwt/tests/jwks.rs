//! Parsing a JWKS: the error for each bad key, the keys skipped, and no secret in `Debug`.

use super::*;

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
        "authentication.jwt.jwks.keys[0].alg: HS256 does not fit a RSA key (expected RS256, RS384 or RS512)"
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
    // Algorithms and curves APIcast does not verify either (its ES384 and ES512 are refused:
    // sha384_512.rs).
    let mut ps256 = jwk_rsa("ps256");
    ps256["alg"] = json!("PS256");
    let k256 = json!({"kty": "EC", "crv": "secp256k1", "x": "AA", "y": "AA"});
    let x25519 = json!({"kty": "OKP", "crv": "X25519", "x": "AA"});
    let keys = Jwks::parse(
        "j",
        &json!({"keys": [enc.clone(), ps256, k256, x25519, jwk_ec("e1")]}),
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

/// `n` HS256 keys, `enc` of them (the last ones) for encryption.
fn oct_keys(n: usize, enc: usize) -> Vec<Value> {
    (0..n)
        .map(|i| {
            let mut key = jwk_oct(&format!("h{i}"), HS_SECRET);
            if i >= n - enc {
                key["use"] = json!("enc");
            }
            key
        })
        .collect()
}

#[test]
fn jwks_holds_at_most_32_keys() {
    assert_eq!(super::super::jwk::MAX_KEYS, 32);
    assert_eq!(jwks_of(oct_keys(32, 0)).len(), 32);
    assert_eq!(
        parse_err(oct_keys(33, 0)),
        "authentication.jwt.jwks.keys: 33 keys, at most 32 are supported"
    );
    // Checked before any key is parsed: a bad entry does not get a say.
    let mut bad_first = oct_keys(33, 0);
    bad_first[0] = json!(1);
    assert_eq!(
        parse_err(bad_first),
        "authentication.jwt.jwks.keys: 33 keys, at most 32 are supported"
    );
}

#[test]
fn jwks_key_limit_counts_skipped_keys() {
    assert_eq!(jwks_of(oct_keys(32, 3)).len(), 29);
    assert_eq!(
        parse_err(oct_keys(33, 3)),
        "authentication.jwt.jwks.keys: 33 keys, at most 32 are supported"
    );
    let mut rsa_enc = jwk_rsa("enc");
    rsa_enc["use"] = json!("enc");
    assert_eq!(
        parse_err(vec![rsa_enc; 33]),
        "authentication.jwt.jwks.keys: 33 keys, at most 32 are supported"
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

/// A fetched set skips the keys Tollgate cannot use (a small RSA key, an unknown `kty`, a bad
/// member) and keeps the others; a configured set refuses them. Refusing the whole fetched
/// document kept the old keys, so a key the identity provider had removed stayed trusted
/// (found by an audit, 2026-12-06).
#[test]
fn a_fetched_set_skips_unusable_keys() {
    let mut small = jwk_rsa("small");
    small["n"] = json!(encode(&[0xc5; 128]));
    let unknown = json!({"kty": "DSA", "kid": "d"});
    let mut bad_x = jwk_ec("bad");
    bad_x["x"] = json!("a+b/");
    let set = json!({"keys": [small, jwk_ec("e1"), unknown, bad_x]});
    let mut skipped = Vec::new();
    let keys = Jwks::parse_fetched("jwks", &set, &mut skipped).unwrap();
    assert_eq!(keys.len(), 1);
    let problems: Vec<String> = skipped.iter().map(ToString::to_string).collect();
    assert_eq!(problems.len(), 3, "{problems:?}");
    assert!(problems[0].starts_with("jwks.keys[0].n: RSA modulus of 1024 bits"));
    assert!(problems[1].starts_with("jwks.keys[2].kty: unsupported key type"));
    assert_eq!(problems[2], "jwks.keys[3].x: invalid base64url");
    assert!(Jwks::parse("jwks", &set).is_err(), "configured: strict");
    // Nothing usable, or not a key set: refused.
    let none = json!({"keys": [{"kty": "DSA"}]});
    assert!(Jwks::parse_fetched("jwks", &none, &mut Vec::new()).is_err());
    assert!(Jwks::parse_fetched("jwks", &json!({"keys": 1}), &mut Vec::new()).is_err());
}

/// A refresh whose document holds a new key and an unusable one installs the new key, and the
/// old key (gone from the document) stops verifying.
#[test]
fn a_refresh_with_an_unusable_key_still_drops_the_removed_key() {
    use crate::auth::jwt_auth::JwtAuth;
    use crate::config::json::Obj;
    let config = json!({"jwks": {"keys": [jwk_oct("old", HS_SECRET)]}});
    let auth = JwtAuth::parse(&Obj::new("jwt", &config).unwrap()).unwrap();
    let old = token("HS256", "old", &claims());
    assert!(auth.verify(&old, NOW).is_ok());
    let mut small = jwk_rsa("small");
    small["n"] = json!(encode(&[0xc5; 128]));
    let fetched = json!({"keys": [small, jwk_ec("new")]});
    assert_eq!(auth.refresh(fetched.to_string().as_bytes()).unwrap(), 1);
    assert_eq!(auth.verify(&old, NOW), Err(JwtError::UnknownKid));
    assert!(auth.verify(&token("ES256", "new", &claims()), NOW).is_ok());
}
