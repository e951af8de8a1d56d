//! Tollgate's own JWT verification (`authentication.jwt` with keys; not Envoy's `jwt_authn`)
//! through real Envoy, the shapes of a token: NumericDates of every JSON shape and the
//! leeway's edges, `aud`/`iss` shapes, encodings of the three parts, signatures of the wrong
//! size or form. Each case checks the answer, what the upstream received and that the
//! backend received nothing.

mod support;

use e2e::jwt::{b64url, now, Signer};
use serde_json::{json, Value};
use support::own_jwt::{
    base_claims, hs, jwt_block, local_service, mismatches, raw, with, HOST, ISSUER,
};
use support::*;

fn without(claim: &str) -> Value {
    let mut all = base_claims();
    all.as_object_mut().unwrap().remove(claim);
    all
}

/// `exp`/`nbf`/`iat` in every JSON shape: a number (integer, fraction, exponent, negative,
/// beyond u64) is a NumericDate, anything else refuses the token; `null` is no claim
/// (`exp` required), and the leeway counts on both sides.
#[test]
fn held_numeric_dates_of_every_json_shape_and_the_leeway() {
    let k = hs();
    let s = Stack::start(config(vec![local_service(30, HOST, jwt_block(&[&k]))]));
    let t = now() as i64;
    let tok = |v: Value| k.token(&v);
    let rawp = |payload: String| raw(&k, r#"{"alg":"HS256","kid":"hs-1"}"#, &payload);
    let head = format!(r#""iss":"{ISSUER}","aud":"orders-api","sub":"u","azp":"c""#);
    let cases: Vec<(&str, String, u16)> = vec![
        (
            "exp as a fraction",
            tok(with(&[("exp", json!(t as f64 + 60.5))])),
            200,
        ),
        (
            "exp with an exponent",
            rawp(format!(r#"{{{head},"exp":1e10}}"#)),
            200,
        ),
        (
            "exp 2^64 (beyond u64)",
            rawp(format!(r#"{{{head},"exp":18446744073709551616}}"#)),
            200,
        ),
        ("exp negative", tok(with(&[("exp", json!(-1))])), 403),
        ("exp -1e30", rawp(format!(r#"{{{head},"exp":-1e30}}"#)), 403),
        ("exp 0", tok(with(&[("exp", json!(0))])), 403),
        (
            "exp as a string",
            tok(with(&[("exp", json!((t + 300).to_string()))])),
            403,
        ),
        ("exp null", tok(with(&[("exp", Value::Null)])), 403),
        ("exp true", tok(with(&[("exp", json!(true))])), 403),
        (
            "exp in an array",
            tok(with(&[("exp", json!([t + 300]))])),
            403,
        ),
        (
            "exp as an object",
            tok(with(&[("exp", json!({"v": t + 300}))])),
            403,
        ),
        ("no exp", tok(without("exp")), 403),
        (
            "exp past, within the leeway",
            tok(with(&[("exp", json!(t - 2))])),
            200,
        ),
        (
            "exp past, beyond the leeway",
            tok(with(&[("exp", json!(t - 8))])),
            403,
        ),
        (
            "exp past by a fraction beyond the leeway",
            tok(with(&[("exp", json!(t as f64 - 7.9))])),
            403,
        ),
        (
            "nbf future, within the leeway",
            tok(with(&[("nbf", json!(t + 2))])),
            200,
        ),
        (
            "nbf future, beyond the leeway",
            tok(with(&[("nbf", json!(t + 9))])),
            403,
        ),
        (
            "nbf as a fraction in the future",
            tok(with(&[("nbf", json!(t as f64 + 30.5))])),
            403,
        ),
        (
            "nbf 1e30",
            rawp(format!(r#"{{{head},"exp":{},"nbf":1e30}}"#, t + 300)),
            403,
        ),
        ("nbf negative", tok(with(&[("nbf", json!(-5))])), 200),
        ("nbf as a string", tok(with(&[("nbf", json!("0"))])), 403),
        ("nbf false", tok(with(&[("nbf", json!(false))])), 403),
        ("nbf null", tok(with(&[("nbf", Value::Null)])), 200),
        // Not an OIDC service: iat is not read.
        (
            "iat as a string (local)",
            tok(with(&[("iat", json!("soon"))])),
            200,
        ),
    ];
    let bad = mismatches(&s, "GET", &cases);
    assert!(bad.is_empty(), "{bad:#?}");
}

/// `aud` and `iss` shapes: `aud` an array with other types beside the audience is accepted
/// (it contains it); an empty array, another case, a nested array, an object or a number is
/// not; `iss` is compared exactly (trailing slash, case, array).
#[test]
fn held_audience_and_issuer_shapes() {
    let k = hs();
    let s = Stack::start(config(vec![local_service(31, HOST, jwt_block(&[&k]))]));
    let tok = |c: &[(&str, Value)]| k.token(&with(c));
    let cases: Vec<(&str, String, u16)> = vec![
        (
            "aud array with non-strings",
            tok(&[("aud", json!([1, null, {"a": 1}, "orders-api"]))]),
            200,
        ),
        ("aud empty array", tok(&[("aud", json!([]))]), 403),
        ("aud other case", tok(&[("aud", json!("Orders-API"))]), 403),
        (
            "aud nested array",
            tok(&[("aud", json!([["orders-api"]]))]),
            403,
        ),
        (
            "aud object",
            tok(&[("aud", json!({"orders-api": true}))]),
            403,
        ),
        ("aud number", tok(&[("aud", json!(1))]), 403),
        (
            "aud with a space",
            tok(&[("aud", json!("orders-api "))]),
            403,
        ),
        ("no aud", k.token(&without("aud")), 403),
        (
            "iss trailing slash",
            tok(&[("iss", json!(format!("{ISSUER}/")))]),
            403,
        ),
        (
            "iss other case",
            tok(&[("iss", json!(ISSUER.to_uppercase()))]),
            403,
        ),
        ("iss in an array", tok(&[("iss", json!([ISSUER]))]), 403),
        ("no iss", k.token(&without("iss")), 403),
    ];
    let bad = mismatches(&s, "GET", &cases);
    assert!(bad.is_empty(), "{bad:#?}");
}

fn replace_part(token: &str, index: usize, part: &str) -> String {
    let mut parts: Vec<&str> = token.split('.').collect();
    parts[index] = part;
    parts.join(".")
}

/// The compact serialization's shapes: exactly three unpadded base64url parts, canonical
/// last characters, a JSON-object header with a supported `alg` spelled exactly; `crit`
/// refused; keys a header points at (`jwk`, `jku`) never trusted; oversize and deeply
/// nested tokens refused without a trap.
#[test]
fn held_token_encodings_and_header_shapes() {
    let k = hs();
    let rs = Signer::rs256("rs-1");
    let s = Stack::start(config(vec![local_service(32, HOST, jwt_block(&[&k, &rs]))]));
    let good = k.token(&base_claims());
    let parts: Vec<String> = good.split('.').map(str::to_string).collect();
    let sig = &parts[2];
    // The HMAC is 32 bytes: 43 characters whose last carries 2 unused bits.
    let last = sig.chars().last().unwrap();
    let alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let v = alphabet.find(last).unwrap();
    let noncanonical = format!(
        "{}{}",
        &sig[..sig.len() - 1],
        alphabet.chars().nth(v | 1).unwrap()
    );
    assert_ne!(&noncanonical, sig, "the last character has a free bit");
    let std_sig = sig.replace('-', "+").replace('_', "/");
    let hdr = |h: &str| raw(&k, h, &base_claims().to_string());
    let attacker = Signer::rs256("rs-1");
    let embedded = attacker.token_with_header(
        &json!({"alg": "RS256", "jwk": attacker.jwk(), "jku": "https://evil.example/jwks"}),
        &base_claims(),
    );
    let embedded_kid = attacker.token_with_header(
        &json!({"alg": "RS256", "kid": "rs-1", "jwk": attacker.jwk()}),
        &base_claims(),
    );
    let mut big = base_claims();
    big["pad"] = json!("x".repeat(17 * 1024));
    let mut nested = String::from("1");
    for _ in 0..300 {
        nested = format!("[{nested}]");
    }
    let deep = raw(
        &k,
        r#"{"alg":"HS256","kid":"hs-1"}"#,
        &format!(
            r#"{{"iss":"{ISSUER}","aud":"orders-api","exp":{},"deep":{nested}}}"#,
            now() + 300
        ),
    );
    let cases: Vec<(&str, String, u16)> = vec![
        ("control: the token", good.clone(), 200),
        ("padded signature", format!("{good}="), 403),
        (
            "padded payload",
            replace_part(&good, 1, &format!("{}=", parts[1])),
            403,
        ),
        (
            "standard alphabet (+ /)",
            replace_part(&good, 2, &std_sig),
            if std_sig == *sig { 200 } else { 403 },
        ),
        (
            "non-canonical last character",
            replace_part(&good, 2, &noncanonical),
            403,
        ),
        ("trailing dot", format!("{good}."), 403),
        ("two parts", format!("{}.{}", parts[0], parts[1]), 403),
        ("four parts", format!("{good}.{sig}"), 403),
        (
            "empty signature",
            format!("{}.{}.", parts[0], parts[1]),
            403,
        ),
        ("empty header", format!(".{}.{}", parts[1], parts[2]), 403),
        ("empty payload", format!("{}..{}", parts[0], parts[2]), 403),
        (
            "space inside",
            format!("{} {}", &good[..10], &good[10..]),
            403,
        ),
        (
            "alg lower case",
            hdr(r#"{"alg":"hs256","kid":"hs-1"}"#),
            403,
        ),
        (
            "alg with a space",
            hdr(r#"{"alg":"HS256 ","kid":"hs-1"}"#),
            403,
        ),
        (
            "alg in an array",
            hdr(r#"{"alg":["HS256"],"kid":"hs-1"}"#),
            403,
        ),
        ("kid a number", hdr(r#"{"alg":"HS256","kid":1}"#), 403),
        (
            "crit",
            hdr(r#"{"alg":"HS256","kid":"hs-1","crit":["exp"]}"#),
            403,
        ),
        ("header an array", hdr(r#"["HS256"]"#), 403),
        (
            "typ and cty are not read",
            hdr(r#"{"alg":"HS256","kid":"hs-1","typ":"at+jwt","cty":"JWT"}"#),
            200,
        ),
        // Duplicate header names: the last wins (RFC 7515 §4), and the whole is signed.
        (
            "alg none then HS256",
            hdr(r#"{"alg":"none","alg":"HS256","kid":"hs-1"}"#),
            200,
        ),
        (
            "alg HS256 then none",
            hdr(r#"{"alg":"HS256","kid":"hs-1","alg":"none"}"#),
            403,
        ),
        (
            "kid unknown then known",
            hdr(r#"{"alg":"HS256","kid":"zz","kid":"hs-1"}"#),
            200,
        ),
        ("embedded jwk/jku, no kid", embedded, 403),
        ("embedded jwk under a known kid", embedded_kid, 403),
        ("over 16 KB", k.token(&big), 403),
        ("nested 300 deep", deep, 403),
    ];
    let bad = mismatches(&s, "GET", &cases);
    assert!(bad.is_empty(), "{bad:#?}");
    assert!(
        s.envoy.log().matches("panicked").count() == 0,
        "a trap: {}",
        s.envoy.log()
    );
}

/// P-256 group order, big-endian.
const P256_N: &str = "ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551";
/// Ed25519 group order L, little-endian.
const ED_L: [u8; 32] = [
    0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
];

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn b64url_decode(s: &str) -> Vec<u8> {
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut bits = 0u32;
    let mut n = 0;
    let mut out = Vec::new();
    for c in s.bytes() {
        let v = alphabet.iter().position(|&a| a == c).unwrap() as u32;
        bits = (bits << 6) | v;
        n += 6;
        if n >= 8 {
            n -= 8;
            out.push((bits >> n) as u8);
        }
    }
    out
}

/// Signatures of the wrong length or form: ES256 as DER, with r or s zero or equal to n,
/// r||s swapped; RS256 one byte short, the modulus itself, 0, 1, all ones; a truncated HMAC;
/// an EdDSA signature with S + L. All 403, nothing forwarded.
#[test]
fn held_signatures_of_the_wrong_length_or_form() {
    let (k, rs, es, ed) = (
        hs(),
        Signer::rs256("rs-1"),
        Signer::es256("es-1"),
        Signer::ed25519("ed-1"),
    );
    let s = Stack::start(config(vec![local_service(
        33,
        HOST,
        jwt_block(&[&k, &rs, &es, &ed]),
    )]));
    let claims = base_claims();
    let with_sig = |signer: &Signer, sig: &[u8]| {
        let t = signer.token(&claims);
        replace_part(&t, 2, &b64url(sig))
    };
    let es_token = es.token(&claims);
    let es_sig = b64url_decode(es_token.split('.').nth(2).unwrap());
    assert_eq!(es_sig.len(), 64);
    let (r, sv) = (es_sig[..32].to_vec(), es_sig[32..].to_vec());
    let n = hex(P256_N);
    let der = p256::ecdsa::Signature::from_slice(&es_sig)
        .unwrap()
        .to_der();
    let cat = |a: &[u8], b: &[u8]| [a, b].concat();
    let zero = [0u8; 32];
    let rs_token = rs.token(&claims);
    let rs_sig = b64url_decode(rs_token.split('.').nth(2).unwrap());
    let modulus = b64url_decode(rs.jwk()["n"].as_str().unwrap());
    let klen = rs_sig.len();
    let mut one = vec![0u8; klen];
    one[klen - 1] = 1;
    let ed_token = ed.token(&claims);
    let ed_sig = b64url_decode(ed_token.split('.').nth(2).unwrap());
    let mut ed_plus_l = ed_sig.clone();
    let mut carry = 0u16;
    for i in 0..32 {
        let v = u16::from(ed_plus_l[32 + i]) + u16::from(ED_L[i]) + carry;
        ed_plus_l[32 + i] = v as u8;
        carry = v >> 8;
    }
    let hs_sig = b64url_decode(k.token(&claims).split('.').nth(2).unwrap());
    let cases: Vec<(&str, String, u16)> = vec![
        ("control ES256", es_token.clone(), 200),
        ("control RS256", rs_token.clone(), 200),
        ("control EdDSA", ed_token.clone(), 200),
        ("ES256 as DER", with_sig(&es, der.as_bytes()), 403),
        ("ES256 r = 0", with_sig(&es, &cat(&zero, &sv)), 403),
        ("ES256 s = 0", with_sig(&es, &cat(&r, &zero)), 403),
        ("ES256 r = n", with_sig(&es, &cat(&n, &sv)), 403),
        ("ES256 s = n", with_sig(&es, &cat(&r, &n)), 403),
        ("ES256 s || r", with_sig(&es, &cat(&sv, &r)), 403),
        ("ES256 63 bytes", with_sig(&es, &es_sig[..63]), 403),
        ("RS256 one byte short", with_sig(&rs, &rs_sig[1..]), 403),
        (
            "RS256 with a leading zero byte more",
            with_sig(&rs, &cat(&[0], &rs_sig)),
            403,
        ),
        ("RS256 = the modulus", with_sig(&rs, &modulus), 403),
        ("RS256 0", with_sig(&rs, &vec![0u8; klen]), 403),
        ("RS256 1", with_sig(&rs, &one), 403),
        ("RS256 all ones", with_sig(&rs, &vec![0xff; klen]), 403),
        (
            "HS256 truncated to 16 bytes",
            with_sig(&k, &hs_sig[..16]),
            403,
        ),
        ("HS256 empty", with_sig(&k, &[]), 403),
        ("EdDSA S + L", with_sig(&ed, &ed_plus_l), 403),
        ("EdDSA all zero", with_sig(&ed, &[0u8; 64]), 403),
    ];
    let bad = mismatches(&s, "GET", &cases);
    assert!(bad.is_empty(), "{bad:#?}");
}
