//! The JWT micro-benchmark's cases, shared by the wasm32 module (timed from Node) and the
//! native binary: each runs one signature check `iters` times on the fixtures.

use p256::ecdsa::signature::hazmat::PrehashVerifier;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::sync::OnceLock;
use tollgate_core::auth::jwt::{verify, Jwks, JwtRules};
use tollgate_core::base64::decode_url;

/// The case names, in the order `run` numbers them.
pub const CASES: [&str; 8] = [
    "RS256 verify (valid)",
    "RS256 verify (forged)",
    "ES256 verify (valid)",
    "ES256 verify (forged)",
    "HS256 verify (valid: parsing, claims, HMAC)",
    "p256 0.13 verify_prehash (raw)",
    "p256 0.14 verify_prehash (raw)",
    "ES256 key parse again (JWKS with one EC key)",
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
            _ => false,
        };
        ok += u32::from(good);
    }
    ok
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
