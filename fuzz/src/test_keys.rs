//! The signing keys of core/src/auth/jwt/tests (RS256, ES256, EdDSA, HS256; the RSA key as
//! RS384 and RS512 too, HS384 and HS512 with secrets of their hash's size), their JWKs, tokens
//! they sign and the reference crates' verdicts: shared by the JWT targets.

use serde_json::{json, Value};
use std::sync::OnceLock;
use tollgate_core::base64;

use crate::encode;

/// The HS384 and HS512 test secrets (at least the hash's size, RFC 7518 §3.2).
pub const HS384_SECRET: &[u8] = b"0123456789abcdef0123456789abcdef0123456789abcdef";
pub const HS512_SECRET: &[u8] = b"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

/// The algorithms of the test keys, one key each (the first four in this order: the targets
/// index them).
pub const ALGS: [&str; 8] = [
    "HS256", "RS256", "ES256", "EdDSA", "HS384", "HS512", "RS384", "RS512",
];

/// The algorithms whose keys must name them (`alg`): without it an RSA key is RS256's, an
/// `oct` key HS256's.
pub fn needs_alg(alg: &str) -> bool {
    matches!(alg, "HS384" | "HS512" | "RS384" | "RS512")
}

/// The HMAC secret of `alg`.
fn hmac_secret(alg: &str) -> &'static [u8] {
    match alg {
        "HS384" => HS384_SECRET,
        "HS512" => HS512_SECRET,
        _ => HS_SECRET,
    }
}

/// The HMAC of `input` with the `hmac` crate (the reference).
fn hmac_of(alg: &str, input: &[u8]) -> Vec<u8> {
    use hmac::Mac;
    let secret = hmac_secret(alg);
    let mac = match alg {
        "HS384" => hmac::Hmac::<sha2::Sha384>::new_from_slice(secret)
            .map(|m| m.chain_update(input).finalize().into_bytes().to_vec()),
        "HS512" => hmac::Hmac::<sha2::Sha512>::new_from_slice(secret)
            .map(|m| m.chain_update(input).finalize().into_bytes().to_vec()),
        _ => hmac::Hmac::<sha2::Sha256>::new_from_slice(secret)
            .map(|m| m.chain_update(input).finalize().into_bytes().to_vec()),
    };
    mac.unwrap_or_default()
}

// The key material of core's JWT tests, compiled here too: one copy of the keys.
#[path = "../../core/src/auth/jwt/tests/keys.rs"]
mod core_keys;
pub use core_keys::{ED25519_SEED, ES256_SCALAR, HS_SECRET, RSA_PKCS8_B64URL};

/// The private halves of the test keys.
pub struct TestKeys {
    pub rsa: rsa::RsaPrivateKey,
    pub es: p256::ecdsa::SigningKey,
    pub ed: ed25519_dalek::SigningKey,
}

/// The test keys, built once.
pub fn test_keys() -> &'static TestKeys {
    static KEYS: OnceLock<TestKeys> = OnceLock::new();
    KEYS.get_or_init(|| {
        use rsa::pkcs8::DecodePrivateKey;
        let Some(der) = base64::decode_url(RSA_PKCS8_B64URL) else {
            panic!("RSA test key")
        };
        let Ok(rsa) = rsa::RsaPrivateKey::from_pkcs8_der(&der) else {
            panic!("RSA test key")
        };
        let Ok(es) = p256::ecdsa::SigningKey::from_slice(&ES256_SCALAR) else {
            panic!("P-256 test key")
        };
        let ed = ed25519_dalek::SigningKey::from_bytes(&ED25519_SEED);
        TestKeys { rsa, es, ed }
    })
}

impl TestKeys {
    /// The public JWK of the key of `alg` (`kid` and `use` left out, `alg` only where
    /// [`needs_alg`]), `Null` for another algorithm.
    pub fn jwk(&self, alg: &str) -> Value {
        let mut jwk = self.material(alg);
        if needs_alg(alg) && jwk.is_object() {
            jwk["alg"] = Value::from(alg);
        }
        jwk
    }

    fn material(&self, alg: &str) -> Value {
        match alg {
            "HS256" | "HS384" | "HS512" => json!({"kty": "oct", "k": encode(hmac_secret(alg))}),
            "RS256" | "RS384" | "RS512" => {
                use rsa::traits::PublicKeyParts;
                let public = self.rsa.to_public_key();
                json!({"kty": "RSA", "n": encode(&public.n().to_bytes_be()),
                       "e": encode(&public.e().to_bytes_be())})
            }
            "ES256" => {
                let point = self.es.verifying_key().to_encoded_point(false);
                let (Some(x), Some(y)) = (point.x(), point.y()) else {
                    return Value::Null;
                };
                json!({"kty": "EC", "crv": "P-256", "x": encode(x), "y": encode(y)})
            }
            "EdDSA" => json!({"kty": "OKP", "crv": "Ed25519",
                              "x": encode(&self.ed.verifying_key().to_bytes())}),
            _ => Value::Null,
        }
    }

    /// The signature of `input` with the key of `alg` (empty for another algorithm).
    pub fn sign(&self, alg: &str, input: &[u8]) -> Vec<u8> {
        match alg {
            "HS256" | "HS384" | "HS512" => hmac_of(alg, input),
            "RS256" => rsa_sign::<sha2::Sha256>(&self.rsa, input),
            "RS384" => rsa_sign::<sha2::Sha384>(&self.rsa, input),
            "RS512" => rsa_sign::<sha2::Sha512>(&self.rsa, input),
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
    pub fn token(&self, header: &str, payload: &[u8]) -> String {
        let alg = serde_json::from_str::<Value>(header)
            .ok()
            .and_then(|h| h.get("alg").and_then(Value::as_str).map(str::to_string))
            .unwrap_or_default();
        let input = format!("{}.{}", encode(header.as_bytes()), encode(payload));
        let signature = self.sign(&alg, input.as_bytes());
        format!("{input}.{}", encode(&signature))
    }

    /// Whether the reference crates accept `signature` of `input` with the key of `alg`.
    pub fn reference(&self, alg: &str, input: &[u8], signature: &[u8]) -> bool {
        match alg {
            "HS256" | "HS384" | "HS512" => hmac_of(alg, input) == signature,
            "RS256" => rsa_verifies::<sha2::Sha256>(&self.rsa, input, signature),
            "RS384" => rsa_verifies::<sha2::Sha384>(&self.rsa, input, signature),
            "RS512" => rsa_verifies::<sha2::Sha512>(&self.rsa, input, signature),
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
}

fn rsa_sign<D: sha2::Digest + rsa::pkcs8::AssociatedOid>(
    key: &rsa::RsaPrivateKey,
    input: &[u8],
) -> Vec<u8> {
    use rsa::signature::{SignatureEncoding, Signer};
    rsa::pkcs1v15::SigningKey::<D>::new(key.clone())
        .sign(input)
        .to_vec()
}

fn rsa_verifies<D: sha2::Digest + rsa::pkcs8::AssociatedOid>(
    key: &rsa::RsaPrivateKey,
    input: &[u8],
    signature: &[u8],
) -> bool {
    use rsa::signature::Verifier;
    let key = rsa::pkcs1v15::VerifyingKey::<D>::new(key.to_public_key());
    rsa::pkcs1v15::Signature::try_from(signature).is_ok_and(|sig| key.verify(input, &sig).is_ok())
}
