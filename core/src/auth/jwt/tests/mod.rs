//! Tokens are minted here with the same RustCrypto crates, from fixed keys (no RNG, no slow
//! RSA key generation: the 2048-bit test key is a constant).
//! These fixtures are shared; the tests are grouped by theme in the submodules.

mod algorithms;
mod budget;
mod claims;
mod es256;
mod jwks;
pub(crate) mod metadata;
mod montgomery;
mod rejected;
mod rs256;

use super::{verify, Claims, Jwks, JwtError, JwtRules};
use crate::base64::encode_url as encode;
use rsa::pkcs8::DecodePrivateKey;
use rsa::traits::PublicKeyParts;
use serde_json::{json, Value};
use std::sync::OnceLock;

const NOW: u64 = 1_700_000_000;
const HS_SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

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

fn rsa_key() -> &'static rsa::RsaPrivateKey {
    static KEY: OnceLock<rsa::RsaPrivateKey> = OnceLock::new();
    KEY.get_or_init(|| {
        let der = crate::base64::decode_url(RSA_PKCS8_B64URL).unwrap();
        rsa::RsaPrivateKey::from_pkcs8_der(&der).unwrap()
    })
}

fn es_key() -> p256::ecdsa::SigningKey {
    p256::ecdsa::SigningKey::from_slice(&[7u8; 32]).unwrap()
}

fn ed_key() -> ed25519_dalek::SigningKey {
    ed25519_dalek::SigningKey::from_bytes(&[9u8; 32])
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

fn sign_with(alg: &str, secret: &[u8], input: &[u8]) -> Vec<u8> {
    match alg {
        "HS256" => {
            use hmac::Mac;
            let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret).unwrap();
            mac.update(input);
            mac.finalize().into_bytes().to_vec()
        }
        "RS256" => {
            use rsa::signature::{SignatureEncoding, Signer};
            let key = rsa::pkcs1v15::SigningKey::<sha2::Sha256>::new(rsa_key().clone());
            key.sign(input).to_vec()
        }
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
