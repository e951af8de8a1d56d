//! Minting JWT keys and tokens at run time, for tests of the filter's `jwt` authentication.
//!
//! ```no_run
//! use e2e::jwt::{self, Signer};
//! use serde_json::json;
//!
//! let signer = Signer::es256("key-1");
//! let jwks = Signer::jwks(&[&signer]); // {"keys": [ the public JWK ]}, for the filter config
//! let token = signer.token(&json!({"sub": "alice", "azp": "app-1", "exp": jwt::now() + 300}));
//! // Request::get("/").header("authorization", &format!("Bearer {token}"))...
//!
//! // Forged tokens: alg "none", or the RS256→HS256 confusion attack.
//! let rsa = Signer::rs256("r1");
//! let none = rsa.token_with_header(&json!({"alg": "none", "kid": "r1"}), &json!({"sub": "x"}));
//! let confused = Signer::hs256(rsa.public_key_pem().unwrap().as_bytes(), "r1")
//!     .token(&json!({"sub": "x", "exp": jwt::now() + 300}));
//! ```
//!
//! HS256 secrets must be at least 32 bytes for the filter to accept the JWK (RFC 7518 §3.2).
//! RSA keys are 2048-bit and generated per [`Signer::rs256`] call (tenths of a second, as the
//! dev profile optimizes dependencies): share one signer across a test where you can.

use hmac::{Mac, SimpleHmac};
use rsa::pkcs8::{EncodePublicKey, LineEnding};
use rsa::traits::PublicKeyParts;
use serde_json::{json, Value};
use sha2::{Sha256, Sha384, Sha512};
use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch, for `exp`/`nbf`/`iat`.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock before 1970")
        .as_secs()
}

/// Unpadded base64url, as JWS uses.
pub fn b64url(data: &[u8]) -> String {
    crate::base64::url(data)
}

/// The SHA-2 hash of an HMAC or RSA signer: 256, 384 or 512.
#[derive(Clone, Copy)]
enum Hash {
    Sha256,
    Sha384,
    Sha512,
}

impl Hash {
    fn bits(self) -> &'static str {
        match self {
            Hash::Sha256 => "256",
            Hash::Sha384 => "384",
            Hash::Sha512 => "512",
        }
    }

    fn of(alg: &str) -> Hash {
        match alg.get(2..) {
            Some("384") => Hash::Sha384,
            Some("512") => Hash::Sha512,
            _ => Hash::Sha256,
        }
    }
}

enum Key {
    Hmac(Vec<u8>, Hash),
    Rsa(Box<rsa::RsaPrivateKey>, Hash),
    Es256(p256::ecdsa::SigningKey),
    Ed25519(ed25519_dalek::SigningKey),
}

/// A signing key with its `kid`: mints tokens and publishes its JWK.
pub struct Signer {
    kid: String,
    key: Key,
}

impl Signer {
    /// HS256 with this shared secret (the JWK then carries the secret as `k`).
    pub fn hs256(secret: &[u8], kid: &str) -> Signer {
        Signer {
            kid: kid.to_string(),
            key: Key::Hmac(secret.to_vec(), Hash::Sha256),
        }
    }

    /// HS512 with this shared secret (at least 64 bytes for the filter).
    pub fn hs512(secret: &[u8], kid: &str) -> Signer {
        Signer::hs256(secret, kid).same_key_as("HS512")
    }

    /// RS256 with a freshly generated 2048-bit key.
    pub fn rs256(kid: &str) -> Signer {
        let key =
            rsa::RsaPrivateKey::new(&mut rand::thread_rng(), 2048).expect("RSA key generation");
        Signer {
            kid: kid.to_string(),
            key: Key::Rsa(Box::new(key), Hash::Sha256),
        }
    }

    /// RS512 with a freshly generated 2048-bit key (its JWK names `alg: RS512`).
    pub fn rs512(kid: &str) -> Signer {
        Signer::rs256(kid).same_key_as("RS512")
    }

    /// This HMAC or RSA signer's key and `kid` under another algorithm of its type
    /// (`HS256`/`HS384`/`HS512`, `RS256`/`RS384`/`RS512`): to mint a token its own key signed
    /// with another hash than the JWK's `alg` names.
    pub fn same_key_as(&self, alg: &str) -> Signer {
        let key = match &self.key {
            Key::Hmac(secret, _) => Key::Hmac(secret.clone(), Hash::of(alg)),
            Key::Rsa(key, _) => Key::Rsa(key.clone(), Hash::of(alg)),
            _ => panic!("same_key_as: HMAC and RSA signers only"),
        };
        Signer {
            kid: self.kid.clone(),
            key,
        }
    }

    /// ES256 (P-256) with a freshly generated key.
    pub fn es256(kid: &str) -> Signer {
        let key = p256::ecdsa::SigningKey::random(&mut rand::rngs::OsRng);
        Signer {
            kid: kid.to_string(),
            key: Key::Es256(key),
        }
    }

    /// EdDSA (Ed25519) with a freshly generated key.
    pub fn ed25519(kid: &str) -> Signer {
        let key = ed25519_dalek::SigningKey::from_bytes(&rand::random::<[u8; 32]>());
        Signer {
            kid: kid.to_string(),
            key: Key::Ed25519(key),
        }
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The JWS `alg` this signer signs with.
    pub fn alg(&self) -> String {
        match &self.key {
            Key::Hmac(_, hash) => format!("HS{}", hash.bits()),
            Key::Rsa(_, hash) => format!("RS{}", hash.bits()),
            Key::Es256(_) => "ES256".to_string(),
            Key::Ed25519(_) => "EdDSA".to_string(),
        }
    }

    /// The verification JWK, with `kid`, `alg` and `use: sig` (for HS256, the secret itself).
    pub fn jwk(&self) -> Value {
        let (kid, alg) = (&self.kid, self.alg());
        match &self.key {
            Key::Hmac(secret, _) => {
                json!({"kty": "oct", "kid": kid, "alg": alg, "use": "sig", "k": b64url(secret)})
            }
            Key::Rsa(key, _) => json!({
                "kty": "RSA", "kid": kid, "alg": alg, "use": "sig",
                "n": b64url(&key.n().to_bytes_be()), "e": b64url(&key.e().to_bytes_be()),
            }),
            Key::Es256(key) => {
                let point = key.verifying_key().to_encoded_point(false);
                json!({
                    "kty": "EC", "crv": "P-256", "kid": kid, "alg": alg, "use": "sig",
                    "x": b64url(point.x().expect("uncompressed point")),
                    "y": b64url(point.y().expect("uncompressed point")),
                })
            }
            Key::Ed25519(key) => json!({
                "kty": "OKP", "crv": "Ed25519", "kid": kid, "alg": alg, "use": "sig",
                "x": b64url(&key.verifying_key().to_bytes()),
            }),
        }
    }

    /// A JWK Set of these signers' JWKs: `{"keys": [...]}`.
    pub fn jwks(signers: &[&Signer]) -> Value {
        json!({ "keys": signers.iter().map(|s| s.jwk()).collect::<Vec<_>>() })
    }

    /// The public key as PEM (SPKI), for RSA and ES256 signers: what an attacker would use as
    /// an HMAC secret in the RS256→HS256 confusion attack.
    pub fn public_key_pem(&self) -> Option<String> {
        match &self.key {
            Key::Rsa(key, _) => Some(
                key.to_public_key()
                    .to_public_key_pem(LineEnding::LF)
                    .expect("PEM"),
            ),
            Key::Es256(key) => Some(
                key.verifying_key()
                    .to_public_key_pem(LineEnding::LF)
                    .expect("PEM"),
            ),
            _ => None,
        }
    }

    /// A token with header `{"alg", "typ": "JWT", "kid"}` and these claims.
    pub fn token(&self, claims: &Value) -> String {
        self.token_with_header(
            &json!({"alg": self.alg(), "typ": "JWT", "kid": self.kid}),
            claims,
        )
    }

    /// A token with exactly this header, signed with this signer's key and algorithm whatever
    /// the header says (to craft wrong-`alg` or wrong-`kid` tokens); a header with
    /// `"alg": "none"` gets an empty signature, as an unsecured JWT has.
    pub fn token_with_header(&self, header: &Value, claims: &Value) -> String {
        let input = format!(
            "{}.{}",
            b64url(header.to_string().as_bytes()),
            b64url(claims.to_string().as_bytes())
        );
        if header.get("alg").and_then(Value::as_str) == Some("none") {
            return format!("{input}.");
        }
        format!("{input}.{}", b64url(&self.sign(input.as_bytes())))
    }

    /// The JWS signature of `input` (`base64url(header).base64url(payload)`).
    pub fn sign(&self, input: &[u8]) -> Vec<u8> {
        match &self.key {
            Key::Hmac(secret, hash) => match hash {
                Hash::Sha256 => hmac_sign::<Sha256>(secret, input),
                Hash::Sha384 => hmac_sign::<Sha384>(secret, input),
                Hash::Sha512 => hmac_sign::<Sha512>(secret, input),
            },
            Key::Rsa(key, hash) => match hash {
                Hash::Sha256 => rsa_sign::<Sha256>(key, input),
                Hash::Sha384 => rsa_sign::<Sha384>(key, input),
                Hash::Sha512 => rsa_sign::<Sha512>(key, input),
            },
            Key::Es256(key) => {
                use p256::ecdsa::signature::Signer as _;
                let signature: p256::ecdsa::Signature = key.sign(input);
                signature.to_bytes().to_vec()
            }
            Key::Ed25519(key) => {
                use ed25519_dalek::Signer as _;
                key.sign(input).to_bytes().to_vec()
            }
        }
    }
}

fn hmac_sign<D>(secret: &[u8], input: &[u8]) -> Vec<u8>
where
    D: sha2::Digest + hmac::digest::core_api::BlockSizeUser,
{
    let mut mac = SimpleHmac::<D>::new_from_slice(secret).expect("HMAC takes any key");
    mac.update(input);
    mac.finalize().into_bytes().to_vec()
}

fn rsa_sign<D>(key: &rsa::RsaPrivateKey, input: &[u8]) -> Vec<u8>
where
    D: sha2::Digest + rsa::pkcs8::AssociatedOid,
{
    use rsa::signature::{SignatureEncoding, Signer as _};
    rsa::pkcs1v15::SigningKey::<D>::new(key.clone())
        .sign(input)
        .to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tollgate_core::auth::jwt::{verify, Jwks, JwtError, JwtRules};

    #[test]
    fn minted_tokens_verify_with_tollgate_core() {
        let signers = [
            Signer::hs256(b"a shared secret of at least 32 bytes", "h"),
            Signer::rs256("r"),
            Signer::es256("e"),
            Signer::ed25519("d"),
        ];
        let jwks = Signer::jwks(&signers.iter().collect::<Vec<_>>());
        let keys = Jwks::parse("jwks", &jwks).unwrap();
        assert_eq!(keys.len(), 4);
        let rules = JwtRules {
            issuer: Some("idp".into()),
            audiences: vec!["api".into()],
            ..JwtRules::default()
        };
        let claims = json!({"iss": "idp", "aud": "api", "sub": "alice", "azp": "app", "exp": now() + 60,
                            "realm_access": {"roles": ["admin"]}});
        for signer in &signers {
            let verified = verify(&signer.token(&claims), &keys, &rules, now()).unwrap();
            assert_eq!(verified.string("azp"), Some("app"), "{}", signer.alg());
            assert_eq!(verified.strings_at("realm_access.roles"), ["admin"]);
        }

        let rsa = &signers[1];
        let none = rsa.token_with_header(&json!({"alg": "none", "kid": "r"}), &claims);
        assert!(none.ends_with('.'));
        assert_eq!(
            verify(&none, &keys, &rules, now()),
            Err(JwtError::UnsupportedAlgorithm)
        );
        let pem = rsa.public_key_pem().unwrap();
        assert!(pem.starts_with("-----BEGIN PUBLIC KEY-----"));
        let confused = Signer::hs256(pem.as_bytes(), "r").token(&claims);
        assert_eq!(
            verify(&confused, &keys, &rules, now()),
            Err(JwtError::AlgorithmMismatch)
        );
        let expired = signers[2].token(&json!({"iss": "idp", "aud": "api", "exp": now() - 10}));
        assert_eq!(
            verify(&expired, &keys, &rules, now()),
            Err(JwtError::Expired)
        );
        // Another key under the same kid.
        let impostor = Signer::es256("e").token(&claims);
        assert_eq!(
            verify(&impostor, &keys, &rules, now()),
            Err(JwtError::BadSignature)
        );
    }

    #[test]
    fn b64url_is_unpadded() {
        assert_eq!(b64url(b""), "");
        assert_eq!(b64url(b"a"), "YQ");
        assert_eq!(b64url(b"ab"), "YWI");
        assert_eq!(b64url(b"abc"), "YWJj");
        assert_eq!(b64url(&[0xfb, 0xff]), "-_8");
    }
}
