//! JWT signatures against every key type a JWKS server can publish: RS256 (the Montgomery
//! arithmetic of core/crypto), ES256 (its own P-256 field and point arithmetic), EdDSA and
//! HS256. The `credentials` target only reaches the HS256 key of the fuzz configuration;
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

const NOW: u64 = 1_700_000_000;
const HS_SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

/// The 2048-bit RSA test key of core/src/auth/jwt/tests/mod.rs (PKCS#8, base64url).
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

struct Keys {
    rsa: rsa::RsaPrivateKey,
    es: p256::ecdsa::SigningKey,
    ed: ed25519_dalek::SigningKey,
    jwks: Jwks,
    /// One valid token per algorithm (RS256 signing is slow: signed once).
    tokens: Vec<String>,
}

const ALGS: [&str; 4] = ["HS256", "RS256", "ES256", "EdDSA"];

fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| {
        use rsa::pkcs8::DecodePrivateKey;
        use rsa::traits::PublicKeyParts;
        let Some(der) = base64::decode_url(RSA_PKCS8_B64URL) else {
            panic!("RSA test key")
        };
        let Ok(rsa) = rsa::RsaPrivateKey::from_pkcs8_der(&der) else {
            panic!("RSA test key")
        };
        let Ok(es) = p256::ecdsa::SigningKey::from_slice(&[7u8; 32]) else {
            panic!("P-256 test key")
        };
        let ed = ed25519_dalek::SigningKey::from_bytes(&[9u8; 32]);
        let public = rsa.to_public_key();
        let point = es.verifying_key().to_encoded_point(false);
        let (Some(x), Some(y)) = (point.x(), point.y()) else {
            panic!("P-256 test key")
        };
        let set = json!({"keys": [
            {"kty": "RSA", "kid": "r1", "use": "sig", "alg": "RS256",
             "n": encode(&public.n().to_bytes_be()), "e": encode(&public.e().to_bytes_be())},
            {"kty": "EC", "kid": "e1", "crv": "P-256", "x": encode(x), "y": encode(y)},
            {"kty": "oct", "kid": "h1", "k": encode(HS_SECRET)},
            {"kty": "OKP", "kid": "d1", "crv": "Ed25519", "x": encode(&ed.verifying_key().to_bytes())},
        ]});
        let Ok(jwks) = Jwks::parse("jwks", &set) else {
            panic!("test JWKS refused")
        };
        let mut keys = Keys {
            rsa,
            es,
            ed,
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
    fn sign(&self, alg: &str, input: &[u8]) -> Vec<u8> {
        match alg {
            "HS256" => {
                use hmac::Mac;
                match hmac::Hmac::<sha2::Sha256>::new_from_slice(HS_SECRET) {
                    Ok(mut mac) => {
                        mac.update(input);
                        mac.finalize().into_bytes().to_vec()
                    }
                    Err(_) => Vec::new(),
                }
            }
            "RS256" => {
                use rsa::signature::{SignatureEncoding, Signer};
                let key = rsa::pkcs1v15::SigningKey::<sha2::Sha256>::new(self.rsa.clone());
                key.sign(input).to_vec()
            }
            "ES256" => {
                use p256::ecdsa::signature::Signer;
                let signature: p256::ecdsa::Signature = self.es.sign(input);
                signature.to_bytes().to_vec()
            }
            "EdDSA" => {
                use ed25519_dalek::Signer;
                self.ed.sign(input).to_bytes().to_vec()
            }
            _ => Vec::new(),
        }
    }

    /// A token of this header (its `alg` signs it) and payload.
    fn token(&self, header: &str, payload: &[u8]) -> String {
        let alg = serde_json::from_str::<Value>(header)
            .ok()
            .and_then(|h| h.get("alg").and_then(Value::as_str).map(str::to_string))
            .unwrap_or_default();
        let input = format!("{}.{}", encode(header.as_bytes()), encode(payload));
        let signature = self.sign(&alg, input.as_bytes());
        format!("{input}.{}", encode(&signature))
    }

    /// Whether the reference crates accept `signature` of `input` with the key of `alg`.
    fn reference(&self, alg: &str, input: &[u8], signature: &[u8]) -> bool {
        match alg {
            "HS256" => {
                use hmac::Mac;
                hmac::Hmac::<sha2::Sha256>::new_from_slice(HS_SECRET).is_ok_and(|mut mac| {
                    mac.update(input);
                    mac.verify_slice(signature).is_ok()
                })
            }
            "RS256" => {
                use rsa::signature::Verifier;
                let key = rsa::pkcs1v15::VerifyingKey::<sha2::Sha256>::new(self.rsa.to_public_key());
                rsa::pkcs1v15::Signature::try_from(signature)
                    .is_ok_and(|sig| key.verify(input, &sig).is_ok())
            }
            "ES256" => {
                use p256::ecdsa::signature::Verifier;
                p256::ecdsa::Signature::from_slice(signature)
                    .is_ok_and(|sig| self.es.verifying_key().verify(input, &sig).is_ok())
            }
            "EdDSA" => ed25519_dalek::Signature::from_slice(signature)
                .is_ok_and(|sig| self.ed.verifying_key().verify_strict(input, &sig).is_ok()),
            _ => false,
        }
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
    /// A token over a fuzzed header and payload, signed by the header's `alg` (not RS256:
    /// slow), then optionally given a fuzzed signature.
    Signed {
        alg: u8,
        kid: Option<String>,
        payload: Vec<u8>,
        signature: Option<Vec<u8>>,
    },
    /// A valid ES256 token whose signature's `s` is replaced by `n - s` (the other valid
    /// signature of the same message), or whose `r` and `s` are fuzzed.
    Es256 { high_s: bool, r: [u8; 32], s: [u8; 32], fuzzed: bool },
    /// A fuzzed RSA key; a signature of its length with the fuzzed bytes.
    RsaKey { n: Vec<u8>, e: u64, signature: Vec<u8> },
    /// A fuzzed EC or OKP key and signature.
    PointKey { okp: bool, x: [u8; 32], y: [u8; 32], signature: [u8; 64] },
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
            let alg = ["HS256", "ES256", "EdDSA"][usize::from(alg) % 3];
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
            let e = e % (1 << 34);
            let jwk = json!({"kty": "RSA", "n": encode(&n), "e": encode(&e.to_be_bytes())});
            key_token(jwk, "RS256", &signature);
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
