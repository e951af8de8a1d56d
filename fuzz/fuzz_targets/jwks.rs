//! JWKS documents fetched and installed (`JwksRefresh::on_answer` → `JwtAuth::refresh`): a
//! service with a `jwks_source` gets up to four answers (the input split at 0xFF bytes, which
//! JSON text never holds). A document installs exactly when it parses as a JWK Set with a
//! usable key, and then holds what it parsed; a refused one keeps the current keys. A token
//! verifies only if a key of the installed document signed it (tokens of the test keys and of
//! two foreign keys, without `kid`, each checked after every answer: a key gone stops
//! accepting its tokens at once); a test key listed plainly verifies its token. Keys the
//! README says are skipped (another `use`, algorithm or curve) added to an installed document
//! change nothing.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::{json, Value};
use std::sync::{Arc, OnceLock};
use tollgate_core::auth::jwks_refresh::{JwksRefresh, Refreshed};
use tollgate_core::auth::jwt::Jwks;
use tollgate_core::base64;
use tollgate_core::config::Config;
use tollgate_fuzz::encode;
use tollgate_fuzz::test_keys::{needs_alg, test_keys, ALGS};

const START: u64 = 1_700_000_000;
const ISSUER: &str = "https://idp";
const CONFIG: &str = r#"{"backend": {"cluster": "b"},
  "services": [{"id": 1, "backend_version": 1, "proxy": {"hosts": ["a"], "proxy_rules": []},
    "authentication": {"mode": "local", "jwt": {
      "jwks_source": {"cluster": "idp", "path": "/certs", "refresh_s": 60},
      "issuer": "https://idp"}}}]}"#;

/// A signer's public JWK (no `kid`, `use` or `alg`), its algorithm and a token it signed.
struct Signer {
    jwk: Value,
    alg: &'static str,
    token: String,
}

/// The test keys' signers, then two foreign ones (another HS256 secret, another Ed25519 key).
fn signers() -> &'static [Signer] {
    static SIGNERS: OnceLock<Vec<Signer>> = OnceLock::new();
    SIGNERS.get_or_init(|| {
        let keys = test_keys();
        let claims = json!({"sub": "alice", "iss": ISSUER, "exp": START + 100_000_000});
        let payload = claims.to_string();
        let mut signers: Vec<Signer> = (ALGS.iter())
            .map(|alg| Signer {
                jwk: keys.jwk(alg),
                alg,
                token: keys.token(&json!({ "alg": alg }).to_string(), payload.as_bytes()),
            })
            .collect();
        let input = |alg: &str| {
            let header = json!({ "alg": alg }).to_string();
            format!("{}.{}", encode(header.as_bytes()), encode(payload.as_bytes()))
        };
        let secret = b"another secret, 32 bytes or more";
        let hs = {
            use hmac::Mac;
            let Ok(mut mac) = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret) else {
                panic!("HMAC key")
            };
            let input = input("HS256");
            mac.update(input.as_bytes());
            format!("{input}.{}", encode(&mac.finalize().into_bytes()))
        };
        signers.push(Signer {
            jwk: json!({"kty": "oct", "k": encode(secret)}),
            alg: "HS256",
            token: hs,
        });
        let ed = ed25519_dalek::SigningKey::from_bytes(&[10u8; 32]);
        let ed_token = {
            use ed25519_dalek::Signer as _;
            let input = input("EdDSA");
            let signature = ed.sign(input.as_bytes()).to_bytes();
            format!("{input}.{}", encode(&signature))
        };
        signers.push(Signer {
            jwk: json!({"kty": "OKP", "crv": "Ed25519", "x": encode(&ed.verifying_key().to_bytes())}),
            alg: "EdDSA",
            token: ed_token,
        });
        signers
    })
}

/// A base64url member's bytes, leading zeros left out (how RSA numbers compare).
fn number(v: Option<&Value>) -> Option<Vec<u8>> {
    let bytes = base64::decode_url(v?.as_str()?)?;
    let start = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
    Some(bytes[start..].to_vec())
}

/// The members holding a JWK's key material.
fn material(jwk: &Value) -> &'static [&'static str] {
    match jwk.get("kty").and_then(Value::as_str) {
        Some("oct") => &["k"],
        Some("RSA") => &["n", "e"],
        Some("EC") => &["crv", "x", "y"],
        Some("OKP") => &["crv", "x"],
        _ => &[],
    }
}

/// Whether `entry` holds `jwk`'s key material.
fn holds(entry: &Value, jwk: &Value) -> bool {
    entry.get("kty") == jwk.get("kty")
        && material(jwk).iter().all(|m| match *m {
            "crv" => entry.get(m) == jwk.get(m),
            _ => number(entry.get(m)).is_some_and(|b| Some(b) == number(jwk.get(m))),
        })
}

/// Whether `entry` is `jwk` listed plainly: its material, with at most a string `kid`,
/// `use: sig` and its own `alg` (which an RS384, RS512, HS384 or HS512 key must name).
fn plainly(entry: &Value, signer: &Signer) -> bool {
    let Some(fields) = entry.as_object() else {
        return false;
    };
    (fields.contains_key("alg") || !needs_alg(signer.alg))
        && holds(entry, &signer.jwk)
        && fields.iter().all(|(name, value)| match name.as_str() {
            "kty" => true,
            "kid" => value.is_string(),
            "use" => value == "sig",
            "alg" => value == signer.alg,
            other => material(&signer.jwk).contains(&other),
        })
}

/// Keys a JWKS may hold that Tollgate skips (README: another `use`, algorithm or curve; a
/// fetched ES384 or ES512 key with a warning).
fn unusable(pick: usize) -> Value {
    match pick % 5 {
        0 => json!({"kty": "RSA", "use": "enc", "alg": "RSA-OAEP", "n": "AQAB", "e": "AQAB"}),
        1 => json!({"kty": "EC", "crv": "P-384", "x": "AA", "y": "AA"}),
        2 => json!({"kty": "RSA", "alg": "PS256", "n": "AQAB", "e": "AQAB"}),
        3 => json!({"kty": "EC", "crv": "P-521", "alg": "ES512", "x": "AA", "y": "AA"}),
        _ => json!({"kty": "OKP", "crv": "X25519", "x": "AA"}),
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(parsed) = Config::parse(CONFIG.as_bytes()) else {
        panic!("configuration refused")
    };
    let config = parsed.config;
    let Some(jwt) = config.services[0].auth.jwt.as_ref() else {
        panic!("no jwt")
    };
    let mut refresh = JwksRefresh::new(&config);
    let mut now = START;
    let mut installed: Option<Value> = None;
    let mut token = 0;
    let mut answer = |refresh: &mut JwksRefresh, now: u64, body: &[u8]| {
        let due = refresh.due(now);
        assert_eq!(due.len(), 1, "the fetch is due");
        token += 1;
        refresh.on_sent(0, Some(token));
        let result = refresh.on_answer(
            token,
            Some(200),
            body.len(),
            || Some(body.to_vec()),
            &config,
            now,
        );
        assert!(!refresh.owns(token));
        result
    };
    for body in data.split(|&b| b == 0xff).take(4) {
        let before = jwt.keys.current();
        let result = answer(&mut refresh, now, body);
        let value = serde_json::from_slice::<Value>(body).ok();
        let reference = (value.as_ref()).map(|v| Jwks::parse_fetched("jwks", v, &mut Vec::new()));
        let after = jwt.keys.current();
        let accepted = match reference {
            Some(Ok(jwks)) => {
                assert_eq!(result, Some(Refreshed::Installed));
                assert_eq!(after.jwks, jwks);
                assert!(!jwks.is_empty() && jwks.len() <= 32);
                assert!(after.issuer.is_none());
                installed = value;
                Some(jwks)
            }
            _ => {
                assert_eq!(result, Some(Refreshed::Refused));
                assert!(
                    Arc::ptr_eq(&before, &after),
                    "a refused document changed the keys"
                );
                None
            }
        };
        now += 61;
        // Every signer's token: accepted only if the installed document holds its key, and
        // accepted if it holds it plainly.
        let listed = installed
            .as_ref()
            .and_then(|doc| doc.get("keys"))
            .and_then(Value::as_array);
        for signer in signers() {
            let verified = jwt.verify(&signer.token, now).is_ok();
            let held = listed.is_some_and(|keys| keys.iter().any(|k| holds(k, &signer.jwk)));
            assert!(
                !verified || held,
                "a {} token verified by keys not holding its key",
                signer.alg
            );
            let plain = listed.is_some_and(|keys| keys.iter().any(|k| plainly(k, signer)));
            assert!(
                verified || !plain,
                "a {} token refused by its own key",
                signer.alg
            );
        }
        // The installed document with a skipped key more: installed the same.
        if let (Some(jwks), Some(mut doc)) = (accepted, installed.clone()) {
            if let Some(keys) = doc.get_mut("keys").and_then(Value::as_array_mut) {
                if keys.len() < 32 {
                    keys.insert(body.len() % (keys.len() + 1), unusable(body.len()));
                    let more = doc.to_string();
                    let result = answer(&mut refresh, now, more.as_bytes());
                    assert_eq!(
                        result,
                        Some(Refreshed::Installed),
                        "a skipped key refused {more}"
                    );
                    assert_eq!(jwt.keys.current().jwks, jwks);
                    now += 61;
                }
            }
        }
    }
});
