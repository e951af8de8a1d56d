//! Tokens are minted here with the same RustCrypto crates, from fixed keys (no RNG, no slow
//! RSA key generation: the 2048-bit test key is a constant; `keys.rs`, shared with the fuzz
//! crate).
//! These fixtures are shared; the tests are grouped by theme in the submodules.

mod algorithms;
mod budget;
mod claims;
mod es256;
mod jwks;
mod keys;
pub(crate) mod metadata;
mod montgomery;
mod pkcs1;
mod rejected;
mod sha384_512;

use super::{verify, Claims, Jwks, JwtError, JwtRules};
use crate::base64::encode_url as encode;
use keys::{ED25519_SEED, ES256_SCALAR, HS_SECRET, RSA_PKCS8_B64URL};
use rsa::pkcs8::DecodePrivateKey;
use rsa::traits::PublicKeyParts;
use serde_json::{json, Value};
use std::sync::OnceLock;

const NOW: u64 = 1_700_000_000;

fn rsa_key() -> &'static rsa::RsaPrivateKey {
    static KEY: OnceLock<rsa::RsaPrivateKey> = OnceLock::new();
    KEY.get_or_init(|| {
        let der = crate::base64::decode_url(RSA_PKCS8_B64URL).unwrap();
        rsa::RsaPrivateKey::from_pkcs8_der(&der).unwrap()
    })
}

fn es_key() -> p256::ecdsa::SigningKey {
    p256::ecdsa::SigningKey::from_slice(&ES256_SCALAR).unwrap()
}

fn ed_key() -> ed25519_dalek::SigningKey {
    ed25519_dalek::SigningKey::from_bytes(&ED25519_SEED)
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

/// HMAC with hash `$hash`.
macro_rules! hmac_sign {
    ($hash:ty, $secret:expr, $input:expr) => {{
        use hmac::Mac;
        let mut mac = hmac::Hmac::<$hash>::new_from_slice($secret).unwrap();
        mac.update($input);
        mac.finalize().into_bytes().to_vec()
    }};
}

fn sign_with(alg: &str, secret: &[u8], input: &[u8]) -> Vec<u8> {
    match alg {
        "HS256" => hmac_sign!(sha2::Sha256, secret, input),
        "HS384" => hmac_sign!(sha2::Sha384, secret, input),
        "HS512" => hmac_sign!(sha2::Sha512, secret, input),
        "RS256" => rsa_sign::<sha2::Sha256>(input),
        "RS384" => rsa_sign::<sha2::Sha384>(input),
        "RS512" => rsa_sign::<sha2::Sha512>(input),
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

/// RSASSA-PKCS1-v1_5 with the test RSA key and hash `D`, by the `rsa` crate.
fn rsa_sign<D>(input: &[u8]) -> Vec<u8>
where
    D: sha2::Digest + rsa::pkcs8::AssociatedOid,
{
    use rsa::signature::{SignatureEncoding, Signer};
    let key = rsa::pkcs1v15::SigningKey::<D>::new(rsa_key().clone());
    key.sign(input).to_vec()
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

/// An HS256 token of `claims` under `kid`, signed with `secret`: for the tests of the modules
/// around the verifier (key refresh, OIDC discovery, the verified-token cache).
pub(crate) fn hs256_token(secret: &[u8], kid: &str, claims: &Value) -> String {
    token_with(&json!({"alg": "HS256", "kid": kid}), claims, secret)
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
