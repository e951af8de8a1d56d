//! JWT signatures against every key type a JWKS server can publish: RS256, RS384 and RS512
//! (the Montgomery arithmetic of core/crypto), ES256 (its own P-256 field and point
//! arithmetic), EdDSA, and HS256, HS384 and HS512 (HMAC over SHA-384/512 of our own). The `credentials` target only reaches the HS256 key of the fuzz configuration;
//! here tokens are signed with the test keys of core/src/auth/jwt/tests, then changed, and
//! the verdict must be the reference crates' (rsa, p256, ed25519-dalek, hmac): a changed
//! token is accepted only if the reference accepts it, and refused for its signature only if
//! the reference refuses it. Keys with fuzzed material (any odd modulus of 2048 to 4096 bits,
//! any exponent, any P-256 coordinates, any Ed25519 point) are parsed and used: never a panic.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use serde_json::{json, Value};
use std::sync::OnceLock;
use tollgate_core::auth::jwt::{verify, Jwks, JwtError, JwtRules};
use tollgate_core::base64;
use tollgate_fuzz::encode;
use tollgate_fuzz::test_keys::{test_keys, TestKeys, ALGS};

const NOW: u64 = 1_700_000_000;
struct Keys {
    signing: &'static TestKeys,
    jwks: Jwks,
    /// One valid token per algorithm (RS256 signing is slow: signed once).
    tokens: Vec<String>,
}

fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| {
        let signing = test_keys();
        let kids = ["h1", "r1", "e1", "d1", "h384", "h512", "r384", "r512"];
        let mut list = Vec::new();
        for (alg, kid) in ALGS.iter().zip(kids) {
            let mut jwk = signing.jwk(alg);
            jwk["kid"] = Value::from(kid);
            if *alg == "RS256" {
                jwk["use"] = Value::from("sig");
                jwk["alg"] = Value::from("RS256");
            }
            list.push(jwk);
        }
        let Ok(jwks) = Jwks::parse("jwks", &json!({ "keys": list })) else {
            panic!("test JWKS refused")
        };
        let mut keys = Keys {
            signing,
            jwks,
            tokens: Vec::new(),
        };
        let claims = json!({"sub": "alice", "iss": "https://idp.example/realms/r",
                            "aud": ["account", "api"], "iat": NOW - 10, "exp": NOW + 300});
        for alg in ALGS {
            let header = json!({"alg": alg, "typ": "JWT"});
            let token = keys.token(&header.to_string(), claims.to_string().as_bytes());
            assert!(
                verify(&token, &keys.jwks, &JwtRules::default(), NOW).is_ok(),
                "{alg} test token refused"
            );
            keys.tokens.push(token);
        }
        keys
    })
}

impl Keys {
    fn token(&self, header: &str, payload: &[u8]) -> String {
        self.signing.token(header, payload)
    }

    fn reference(&self, alg: &str, input: &[u8], signature: &[u8]) -> bool {
        self.signing.reference(alg, input, signature)
    }

    /// Verifies `token` and checks the verdict against the reference.
    fn check(&self, token: &str) {
        let result = verify(token, &self.jwks, &JwtRules::default(), NOW);
        let mut parts = token.split('.');
        let (Some(header), Some(payload), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            assert!(result.is_err(), "{token:?}");
            return;
        };
        let alg = base64::decode_url(header)
            .and_then(|h| serde_json::from_slice::<Value>(&h).ok())
            .and_then(|h| h.get("alg").and_then(Value::as_str).map(str::to_string))
            .unwrap_or_default();
        let input = format!("{header}.{payload}");
        let reference = base64::decode_url(signature)
            .is_some_and(|sig| self.reference(&alg, input.as_bytes(), &sig));
        match result {
            Ok(_) => assert!(reference, "accepted, the reference refuses: {token:?}"),
            Err(JwtError::BadSignature) => {
                assert!(!reference, "refused, the reference accepts: {token:?}")
            }
            Err(_) => {}
        }
    }
}

#[derive(Debug, Arbitrary)]
enum Edit {
    /// Flips a bit of the token text.
    Flip { at: u16, bit: u8 },
    /// Cuts the token at this length.
    Cut(u16),
    /// Inserts a byte.
    Insert { at: u16, byte: u8 },
}

#[derive(Debug, Arbitrary)]
enum Input {
    /// A valid token of one algorithm, changed.
    Changed { alg: u8, edits: Vec<Edit> },
    /// A token over a fuzzed header and payload, signed by the header's `alg` (not RS*:
    /// slow), then optionally given a fuzzed signature.
    Signed {
        alg: u8,
        kid: Option<String>,
        payload: Vec<u8>,
        signature: Option<Vec<u8>>,
    },
    /// A valid ES256 token whose signature's `s` is replaced by `n - s` (the other valid
    /// signature of the same message), or whose `r` and `s` are fuzzed.
    Es256 {
        high_s: bool,
        r: [u8; 32],
        s: [u8; 32],
        fuzzed: bool,
    },
    /// A fuzzed RSA key; a signature of its length with the fuzzed bytes.
    RsaKey {
        n: Vec<u8>,
        e: u64,
        signature: Vec<u8>,
    },
    /// A fuzzed EC or OKP key and signature.
    PointKey {
        okp: bool,
        x: [u8; 32],
        y: [u8; 32],
        signature: [u8; 64],
    },
}

fn key_token(jwk: Value, alg: &str, signature: &[u8]) {
    let Ok(jwks) = Jwks::parse("jwks", &json!({ "keys": [jwk] })) else {
        return;
    };
    let header = json!({"alg": alg});
    let claims = json!({"exp": NOW + 300});
    let token = format!(
        "{}.{}.{}",
        encode(header.to_string().as_bytes()),
        encode(claims.to_string().as_bytes()),
        encode(signature)
    );
    // Random material: a forgery is out of reach, so anything but a refusal is a bug.
    assert!(verify(&token, &jwks, &JwtRules::default(), NOW).is_err());
}

fuzz_target!(|input: Input| {
    let keys = keys();
    match input {
        Input::Changed { alg, edits } => {
            let i = usize::from(alg) % keys.tokens.len();
            let mut bytes = keys.tokens[i].clone().into_bytes();
            for edit in edits.iter().take(8) {
                match *edit {
                    Edit::Flip { at, bit } => {
                        if let Some(b) = bytes.get_mut(usize::from(at)) {
                            *b ^= 1 << (bit % 8);
                        }
                    }
                    Edit::Cut(at) => bytes.truncate(usize::from(at)),
                    Edit::Insert { at, byte } => {
                        let at = usize::from(at).min(bytes.len());
                        bytes.insert(at, byte);
                    }
                }
            }
            let token = String::from_utf8_lossy(&bytes);
            keys.check(&token);
        }
        Input::Signed {
            alg,
            kid,
            payload,
            signature,
        } => {
            let alg = ["HS256", "ES256", "EdDSA", "HS384", "HS512"][usize::from(alg) % 5];
            let mut header = json!({ "alg": alg });
            if let Some(kid) = kid {
                header["kid"] = Value::from(kid);
            }
            let mut token = keys.token(&header.to_string(), &payload);
            if let Some(signature) = signature {
                if let Some(dot) = token.rfind('.') {
                    token.truncate(dot + 1);
                    token.push_str(&encode(&signature));
                }
            }
            keys.check(&token);
        }
        Input::Es256 {
            high_s,
            r,
            s,
            fuzzed,
        } => {
            let Some(token) = keys.tokens.get(2) else {
                return;
            };
            let Some(dot) = token.rfind('.') else { return };
            let Some(mut signature) = base64::decode_url(&token[dot + 1..]) else {
                return;
            };
            if fuzzed {
                signature = [r, s].concat();
            } else if high_s {
                use p256::elliptic_curve::PrimeField;
                let mut repr = p256::FieldBytes::default();
                repr.copy_from_slice(&signature[32..]);
                let Some(s) = Option::<p256::Scalar>::from(p256::Scalar::from_repr(repr)) else {
                    return;
                };
                let negated: p256::FieldBytes = (-s).to_repr();
                signature[32..].copy_from_slice(&negated);
            }
            let token = format!("{}{}", &token[..=dot], encode(&signature));
            keys.check(&token);
        }
        Input::RsaKey { n, e, signature } => {
            let mut n = n;
            n.truncate(520);
            if n.len() < 256 {
                n.resize(256, 0x5a);
            }
            n[0] |= 0x80;
            if let Some(low) = n.last_mut() {
                *low |= 1;
            }
            let mut signature = signature;
            signature.resize(n.len(), 0);
            signature[0] &= 0x7f;
            // The high bits pick the hash the key is pinned to.
            let alg = ["RS256", "RS384", "RS512"][(e >> 40) as usize % 3];
            let e = e % (1 << 34);
            let jwk =
                json!({"kty": "RSA", "alg": alg, "n": encode(&n), "e": encode(&e.to_be_bytes())});
            key_token(jwk, alg, &signature);
        }
        Input::PointKey {
            okp,
            x,
            y,
            signature,
        } => {
            let jwk = if okp {
                json!({"kty": "OKP", "crv": "Ed25519", "x": encode(&x)})
            } else {
                json!({"kty": "EC", "crv": "P-256", "x": encode(&x), "y": encode(&y)})
            };
            key_token(jwk, if okp { "EdDSA" } else { "ES256" }, &signature);
        }
    }
});
