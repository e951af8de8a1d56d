//! The signing keys of core/src/auth/jwt/tests (RS256, ES256, EdDSA, HS256), their JWKs,
//! tokens they sign and the reference crates' verdicts: shared by the JWT targets.

use serde_json::{json, Value};
use std::sync::OnceLock;
use tollgate_core::base64;

use crate::encode;

/// The HS256 test secret.
pub const HS_SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

/// The algorithms of the test keys, one key each.
pub const ALGS: [&str; 4] = ["HS256", "RS256", "ES256", "EdDSA"];

/// The 2048-bit RSA test key of core/src/auth/jwt/tests/mod.rs (PKCS#8, base64url).
pub const RSA_PKCS8_B64URL: &str = concat!(
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
        let Ok(es) = p256::ecdsa::SigningKey::from_slice(&[7u8; 32]) else {
            panic!("P-256 test key")
        };
        let ed = ed25519_dalek::SigningKey::from_bytes(&[9u8; 32]);
        TestKeys { rsa, es, ed }
    })
}

impl TestKeys {
    /// The public JWK of the key of `alg` (`kid`, `use` and `alg` left out), `Null` for
    /// another algorithm.
    pub fn jwk(&self, alg: &str) -> Value {
        match alg {
            "HS256" => json!({"kty": "oct", "k": encode(HS_SECRET)}),
            "RS256" => {
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
            "HS256" => {
                use hmac::Mac;
                hmac::Hmac::<sha2::Sha256>::new_from_slice(HS_SECRET).is_ok_and(|mut mac| {
                    mac.update(input);
                    mac.verify_slice(signature).is_ok()
                })
            }
            "RS256" => {
                use rsa::signature::Verifier;
                let key =
                    rsa::pkcs1v15::VerifyingKey::<sha2::Sha256>::new(self.rsa.to_public_key());
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
}
