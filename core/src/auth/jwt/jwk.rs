//! JWK Set parsing (RFC 7517, RFC 7518 §6, RFC 8037): verifying keys, parsed once.

use super::rs256::RsaKey;
use super::Algorithm;
use crate::base64;
use crate::config::json::{error, ConfigError, Obj};
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::fmt;
use tollgate_crypto::es256::Es256Key;

/// Smallest accepted HS256 secret: the hash size (RFC 7518 §3.2).
const HMAC_MIN_BYTES: usize = 32;

/// Most entries a JWK Set's `keys` may hold. Identity providers publish 1 to ~10 keys (the
/// current, next and retiring ones, per algorithm); every key costs each worker parse work
/// (an RSA exponentiation, 40 KB of tables for a P-256 key), so a set pasted by mistake or
/// served by a misconfigured or compromised `jwks_uri` must not bring thousands.
pub(crate) const MAX_KEYS: usize = 32;

/// A parsed verifying key.
#[derive(Clone, PartialEq, Eq)]
enum Material {
    Hmac(Vec<u8>),
    Rsa(RsaKey),
    Es256(Es256Key),
    Ed25519(ed25519_dalek::VerifyingKey),
}

#[derive(Clone, PartialEq, Eq)]
pub(super) struct Key {
    kid: Option<String>,
    material: Material,
}

impl Key {
    /// The one algorithm this key verifies.
    pub(super) fn algorithm(&self) -> Algorithm {
        match self.material {
            Material::Hmac(_) => Algorithm::HS256,
            Material::Rsa(_) => Algorithm::RS256,
            Material::Es256(_) => Algorithm::ES256,
            Material::Ed25519(_) => Algorithm::EdDSA,
        }
    }

    /// The length of this key's signatures, in bytes.
    pub(super) fn signature_len(&self) -> usize {
        match &self.material {
            Material::Hmac(_) => 32,
            Material::Rsa(key) => key.signature_len(),
            Material::Es256(_) | Material::Ed25519(_) => 64,
        }
    }

    /// Whether `signature` signs `input` (the JWS signing input `header.payload`).
    pub(super) fn verifies(&self, input: &[u8], signature: &[u8]) -> bool {
        match &self.material {
            Material::Hmac(secret) => match Hmac::<Sha256>::new_from_slice(secret) {
                Ok(mut mac) => {
                    mac.update(input);
                    mac.verify_slice(signature).is_ok()
                }
                Err(_) => false,
            },
            Material::Rsa(key) => key.verifies(&Sha256::digest(input).into(), signature),
            Material::Es256(key) => key.verifies(&Sha256::digest(input).into(), signature),
            Material::Ed25519(key) => match ed25519_dalek::Signature::from_slice(signature) {
                Ok(sig) => key.verify_strict(input, &sig).is_ok(),
                Err(_) => false,
            },
        }
    }
}

impl fmt::Debug for Key {
    /// Names the key, never its material (an HS256 key is a secret).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.algorithm())?;
        match &self.kid {
            Some(kid) => write!(f, " kid={kid:?}"),
            None => write!(f, " (no kid)"),
        }
    }
}

/// A set of verifying keys, parsed once at configuration time.
///
/// Key selection for a token:
/// * with a `kid`: the keys with that `kid`; if there are none but the set holds a single
///   key without a `kid`, that key; otherwise [`JwtError::UnknownKid`](super::JwtError);
/// * without a `kid`: all keys (a single key, or every key tried in turn).
///
/// Of the selected keys, those whose algorithm is the token's `alg` are tried; none →
/// `AlgorithmMismatch`.
/// `Jwks::default()` is the empty set a JWKS URL starts from until its first fetch.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Jwks {
    keys: Vec<Key>,
}

impl fmt::Debug for Jwks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Jwks").field(&self.keys).finish()
    }
}

impl Jwks {
    /// Parses a JWK Set (`{"keys": [...]}`) found at `path` in the configuration.
    ///
    /// Supported keys: `kty: RSA` (`n`, `e`; 2048 to 4096 bits), `kty: EC` with
    /// `crv: P-256` (`x`, `y`), `kty: oct` (`k`, at least 32 bytes, for HS256) and
    /// `kty: OKP` with `crv: Ed25519` (`x`). `kid` is optional. `alg`, when present, must fit
    /// the key type (e.g. `RS256` for RSA).
    ///
    /// Skipped, so that an identity provider's JWKS can be pasted as is: keys with a `use`
    /// other than `sig`, keys whose `alg` is an algorithm Tollgate does not verify (`RS384`,
    /// `PS256`, `RSA-OAEP`, ...) and EC/OKP keys on other curves. A set left with no key is
    /// an error. So is a `keys` array of more than `MAX_KEYS` (32) entries, skipped ones
    /// included. Any other problem is an error naming the JSON path, e.g.
    /// `authentication.jwt.jwks.keys[1].n: invalid base64url`.
    pub fn parse(path: &str, value: &Value) -> Result<Jwks, ConfigError> {
        Jwks::parse_keys(path, value, None)
    }

    /// [`Jwks::parse`] for a set fetched from an identity provider: a key Tollgate cannot use
    /// (an RSA key outside 2048-4096 bits, an unknown `kty`, a malformed member) is skipped
    /// as an unsupported `alg` is, and its problem added to `skipped`. Refusing the whole
    /// document kept the old keys, so a key the provider had removed stayed trusted (found
    /// by an audit, 2026-12-06). A set left with no usable key is still refused.
    pub fn parse_fetched(
        path: &str,
        value: &Value,
        skipped: &mut Vec<ConfigError>,
    ) -> Result<Jwks, ConfigError> {
        Jwks::parse_keys(path, value, Some(skipped))
    }

    fn parse_keys(
        path: &str,
        value: &Value,
        mut skipped: Option<&mut Vec<ConfigError>>,
    ) -> Result<Jwks, ConfigError> {
        let set = Obj::new(path, value)?;
        let keys_path = set.child_path("keys");
        let list = match set.get("keys") {
            Some(Value::Array(list)) => list,
            Some(_) => return Err(error(&keys_path, "expected an array")),
            None => return Err(error(&keys_path, "missing required field")),
        };
        // Counted before any key is parsed, skipped ones included: the parse work is bounded.
        if list.len() > MAX_KEYS {
            return Err(error(
                &keys_path,
                format!("{} keys, at most {MAX_KEYS} are supported", list.len()),
            ));
        }
        let mut keys = Vec::with_capacity(list.len());
        for (i, value) in list.iter().enumerate() {
            match (
                parse_key(&format!("{keys_path}[{i}]"), value),
                skipped.as_deref_mut(),
            ) {
                (Ok(Some(key)), _) => keys.push(key),
                (Ok(None), _) => {}
                (Err(problem), Some(skipped)) => skipped.push(problem),
                (Err(problem), None) => return Err(problem),
            }
        }
        if keys.is_empty() {
            let message = if list.is_empty() {
                "no key".to_string()
            } else {
                format!(
                    "no usable signing key among {} (supported: RS256, ES256, HS256, EdDSA with use \"sig\")",
                    list.len()
                )
            };
            return Err(error(&keys_path, message));
        }
        Ok(Jwks { keys })
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Whether both sets hold the same keys (`kid` and material), in any order.
    pub fn same_keys(&self, other: &Jwks) -> bool {
        self.keys.len() == other.keys.len()
            && self.keys.iter().all(|k| other.keys.contains(k))
            && other.keys.iter().all(|k| self.keys.contains(k))
    }

    /// The keys a token with this `kid` may be verified with; `None` for an unknown kid.
    pub(super) fn select<'a>(&'a self, kid: Option<&'a str>) -> Option<Vec<&'a Key>> {
        match kid {
            None => Some(self.keys.iter().collect()),
            Some(kid) => {
                let by_kid: Vec<&Key> = self
                    .keys
                    .iter()
                    .filter(|k| k.kid.as_deref() == Some(kid))
                    .collect();
                if !by_kid.is_empty() {
                    return Some(by_kid);
                }
                match self.keys.as_slice() {
                    [only] if only.kid.is_none() => Some(vec![only]),
                    _ => None,
                }
            }
        }
    }
}

/// One JWK; `None` when it is skipped (see [`Jwks::parse`]).
fn parse_key(path: &str, value: &Value) -> Result<Option<Key>, ConfigError> {
    let obj = Obj::new(path, value)?;
    let kty = obj.required_string("kty")?;
    let kid = obj.string("kid")?.map(str::to_string);
    if obj.string("use")?.is_some_and(|u| u != "sig") {
        return Ok(None);
    }
    let pinned = match obj.string("alg")? {
        None => None,
        Some(name) => match Algorithm::from_name(name) {
            Some(alg) => Some(alg),
            None => return Ok(None),
        },
    };
    let material = match kty {
        "RSA" => {
            let n = bytes(&obj, "n")?;
            let e = bytes(&obj, "e")?;
            let key = RsaKey::new(&n, &e).map_err(|message| {
                let at = if message.starts_with("RSA modulus") {
                    obj.child_path("n")
                } else {
                    path.to_string()
                };
                error(&at, message)
            })?;
            Material::Rsa(key)
        }
        "EC" => {
            if obj.required_string("crv")? != "P-256" {
                return Ok(None);
            }
            let x = coordinate(&obj, "x")?;
            let y = coordinate(&obj, "y")?;
            let point = p256::EncodedPoint::from_affine_coordinates(&x.into(), &y.into(), false);
            let key = p256::ecdsa::VerifyingKey::from_encoded_point(&point)
                .map_err(|_| error(path, "invalid P-256 key: not a point on the curve"))?;
            Material::Es256(
                Es256Key::new(key).ok_or_else(|| error(path, "invalid P-256 key: no table"))?,
            )
        }
        "oct" => {
            let k = bytes(&obj, "k")?;
            if k.len() < HMAC_MIN_BYTES {
                return Err(error(
                    &obj.child_path("k"),
                    format!(
                        "HS256 key of {} bytes, at least {HMAC_MIN_BYTES} are needed",
                        k.len()
                    ),
                ));
            }
            Material::Hmac(k)
        }
        "OKP" => {
            if obj.required_string("crv")? != "Ed25519" {
                return Ok(None);
            }
            let x = coordinate(&obj, "x")?;
            let key = ed25519_dalek::VerifyingKey::from_bytes(&x)
                .map_err(|_| error(&obj.child_path("x"), "invalid Ed25519 public key"))?;
            Material::Ed25519(key)
        }
        other => {
            return Err(error(
                &obj.child_path("kty"),
                format!("unsupported key type \"{other}\" (expected RSA, EC, oct or OKP)"),
            ))
        }
    };
    let key = Key { kid, material };
    if let Some(alg) = pinned {
        if alg != key.algorithm() {
            return Err(error(
                &obj.child_path("alg"),
                format!(
                    "{alg} does not fit a {kty} key (expected {})",
                    key.algorithm()
                ),
            ));
        }
    }
    Ok(Some(key))
}

/// A required base64url member.
fn bytes(obj: &Obj, name: &str) -> Result<Vec<u8>, ConfigError> {
    let text = obj.required_string(name)?;
    base64::decode_url(text).ok_or_else(|| error(&obj.child_path(name), "invalid base64url"))
}

/// A required base64url member of exactly 32 bytes (P-256 coordinates, Ed25519 keys).
fn coordinate(obj: &Obj, name: &str) -> Result<[u8; 32], ConfigError> {
    let raw = bytes(obj, name)?;
    <[u8; 32]>::try_from(raw.as_slice()).map_err(|_| {
        error(
            &obj.child_path(name),
            format!("expected 32 bytes, got {}", raw.len()),
        )
    })
}
