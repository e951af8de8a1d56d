//! The JWT micro-benchmark's cases, shared by the wasm32 module (timed from Node) and the
//! native binary: each runs one signature check `iters` times on the fixtures.

use p256::ecdsa::signature::hazmat::PrehashVerifier;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::sync::OnceLock;
use tollgate_core::auth::jwt::{verify, Jwks, JwtRules};
use tollgate_core::base64::decode_url;
use tollgate_crypto::montgomery::Modulus;

/// The case names, in the order `run` numbers them.
pub const CASES: [&str; 10] = [
    "RS256 verify (valid)",
    "RS256 verify (forged)",
    "ES256 verify (valid)",
    "ES256 verify (forged)",
    "HS256 verify (valid: parsing, claims, HMAC)",
    "p256 0.13 verify_prehash (raw)",
    "p256 0.14 verify_prehash (raw)",
    "ES256 key parse again (JWKS with one EC key)",
    "RS256 arithmetic: 10 Montgomery squarings (2048-bit)",
    "RS256 arithmetic: 10 Montgomery products (2048-bit)",
];

struct Fixtures {
    jwks: Jwks,
    now: u64,
    tokens: [String; 5],
    ec_jwks: Value,
    digest: [u8; 32],
    sig: Vec<u8>,
    xy: Vec<u8>,
}

fn fixtures() -> &'static Fixtures {
    static F: OnceLock<Fixtures> = OnceLock::new();
    F.get_or_init(|| {
        let all: Value = serde_json::from_str(include_str!("../fixtures.json")).unwrap();
        let jwks = Jwks::parse("jwks", &all["jwks"]).unwrap();
        let tok = |alg: &str, which: &str| all[alg][which].as_str().unwrap().to_string();
        let es = tok("ES256", "valid");
        let (input, sig) = es.rsplit_once('.').unwrap();
        let ec = &all["jwks"]["keys"][1];
        let mut xy = vec![4u8];
        xy.extend(decode_url(ec["x"].as_str().unwrap()).unwrap());
        xy.extend(decode_url(ec["y"].as_str().unwrap()).unwrap());
        Fixtures {
            jwks,
            now: all["now"].as_u64().unwrap(),
            tokens: [
                tok("RS256", "valid"),
                tok("RS256", "forged"),
                es.clone(),
                tok("ES256", "forged"),
                tok("HS256", "valid"),
            ],
            ec_jwks: serde_json::json!({ "keys": [ec] }),
            digest: Sha256::digest(input.as_bytes()).into(),
            sig: decode_url(sig).unwrap(),
            xy,
        }
    })
}

/// Runs case `case` `iters` times; returns how many checks succeeded (forged: 0).
pub fn run(case: u32, iters: u32) -> u32 {
    let f = fixtures();
    let rules = JwtRules::default();
    let mut ok = 0;
    for _ in 0..iters {
        let good = match case {
            0..=4 => verify(&f.tokens[case as usize], &f.jwks, &rules, f.now).is_ok(),
            5 => {
                let key = p256::ecdsa::VerifyingKey::from_sec1_bytes(&f.xy).unwrap();
                let sig = p256::ecdsa::Signature::from_slice(&f.sig).unwrap();
                key.verify_prehash(&f.digest, &sig).is_ok()
            }
            6 => p256_14(f),
            7 => Jwks::parse("jwks", &f.ec_jwks).is_ok(),
            8 | 9 => montgomery(case == 8),
            _ => false,
        };
        ok += u32::from(good);
    }
    ok
}

/// Ten Montgomery squarings or products modulo a 2048-bit modulus: what an RS256 check
/// spends most of its time on (16 squarings and 2 products).
fn montgomery(square: bool) -> bool {
    let n: Vec<u8> = (0..256u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8 | 1)
        .collect();
    let modulus = Modulus::new(&n).unwrap();
    let mut x = modulus.element(&n[1..]).unwrap();
    let mut t = x.clone();
    for _ in 0..10 {
        if square {
            modulus.square(&x, &mut t);
        } else {
            modulus.mul(&x, &x, &mut t);
        }
        std::mem::swap(&mut x, &mut t);
    }
    x.iter().any(|&limb| limb != 0)
}

#[cfg(feature = "p256-14")]
fn p256_14(f: &Fixtures) -> bool {
    use p256_14::ecdsa::signature::hazmat::PrehashVerifier as _;
    let key = p256_14::ecdsa::VerifyingKey::from_sec1_bytes(&f.xy).unwrap();
    let sig = p256_14::ecdsa::Signature::from_slice(&f.sig).unwrap();
    key.verify_prehash(&f.digest, &sig).is_ok()
}

#[cfg(not(feature = "p256-14"))]
fn p256_14(_: &Fixtures) -> bool {
    false
}

/// The wasm32 entry point Node calls.
#[no_mangle]
pub extern "C" fn bench_run(case: u32, iters: u32) -> u32 {
    run(case, iters)
}
