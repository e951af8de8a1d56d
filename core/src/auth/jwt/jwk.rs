//! JWK Set parsing (RFC 7517, RFC 7518 §6, RFC 8037): verifying keys, parsed once.

use super::pkcs1::{RsaKey, SHA256_PREFIX, SHA384_PREFIX, SHA512_PREFIX};
use super::sha512_family::Wide;
use super::Algorithm;
use crate::base64;
use crate::config::json::{error, ConfigError, Obj};
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::fmt;
use tollgate_crypto::es256::Es256Key;

/// The algorithms APIcast (lua-resty-jwt) verifies and Tollgate does not: their keys are
/// refused in a configured set and skipped with a warning in a fetched one, rather than
/// skipped silently as another algorithm is (found by an audit, 2026-12-07: APIcast's
/// t/apicast-oidc.t verifies an ES512 token; here it is 403).
const APICAST_ONLY: [(&str, &str); 2] = [("ES384", "P-384"), ("ES512", "P-521")];

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
    /// The one algorithm it verifies: its JWK's `alg`, else its type's SHA-256 one.
    alg: Algorithm,
    material: Material,
}

impl Key {
    /// The one algorithm this key verifies.
    pub(super) fn algorithm(&self) -> Algorithm {
        self.alg
    }

    /// The length of this key's signatures, in bytes.
    pub(super) fn signature_len(&self) -> usize {
        match &self.material {
            Material::Hmac(_) => hmac_len(self.alg),
            Material::Rsa(key) => key.signature_len(),
            Material::Es256(_) | Material::Ed25519(_) => 64,
        }
    }

    /// Whether `signature` signs `input` (the JWS signing input `header.payload`).
    pub(super) fn verifies(&self, input: &[u8], signature: &[u8]) -> bool {
        match &self.material {
            Material::Hmac(secret) => match self.alg {
                Algorithm::HS384 => Wide::Sha384.hmac_verifies(secret, input, signature),
                Algorithm::HS512 => Wide::Sha512.hmac_verifies(secret, input, signature),
                _ => Hmac::<Sha256>::new_from_slice(secret)
                    .is_ok_and(|mac| mac.chain_update(input).verify_slice(signature).is_ok()),
            },
            Material::Rsa(key) => match self.alg {
                Algorithm::RS384 => {
                    key.verifies(&SHA384_PREFIX, &Wide::Sha384.digest(&[input]), signature)
                }
                Algorithm::RS512 => {
                    key.verifies(&SHA512_PREFIX, &Wide::Sha512.digest(&[input]), signature)
                }
                _ => key.verifies(&SHA256_PREFIX, &Sha256::digest(input), signature),
            },
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
    /// Supported keys: `kty: RSA` (`n`, `e`; 2048 to 4096 bits; RS256, RS384, RS512),
    /// `kty: EC` with `crv: P-256` (`x`, `y`; ES256), `kty: oct` (`k`; HS256, HS384, HS512,
    /// with at least 32, 48, 64 bytes) and `kty: OKP` with `crv: Ed25519` (`x`; EdDSA). `kid`
    /// is optional. `alg`, when present, must fit the key type and is the one algorithm the
    /// key verifies; without it an RSA key verifies RS256 and an `oct` key HS256.
    ///
    /// Skipped, so that an identity provider's JWKS can be pasted as is: keys with a `use`
    /// other than `sig`, keys whose `alg` is an algorithm neither Tollgate nor APIcast
    /// verifies (`PS256`, `RSA-OAEP`, ...) and EC/OKP keys on other curves. ES384 and ES512
    /// keys (`alg`, or `crv` P-384 or P-521), which APIcast verifies, are refused, naming the
    /// path (a fetched set skips them with a warning). A set left with no key is an error. So is a `keys` array of more than `MAX_KEYS` (32) entries, skipped ones
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
                    "no usable signing key among {} (supported: RS256, RS384, RS512, ES256, HS256, HS384, HS512, EdDSA with use \"sig\")",
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
            None if APICAST_ONLY.iter().any(|(alg, _)| *alg == name) => {
                return Err(apicast_only(&obj.child_path("alg"), name))
            }
            None => return Ok(None),
        },
    };
    let (default, fitting) = match kty {
        "RSA" => (Algorithm::RS256, "RS256, RS384 or RS512"),
        "EC" => (Algorithm::ES256, "ES256"),
        "oct" => (Algorithm::HS256, "HS256, HS384 or HS512"),
        "OKP" => (Algorithm::EdDSA, "EdDSA"),
        other => {
            return Err(error(
                &obj.child_path("kty"),
                format!("unsupported key type \"{other}\" (expected RSA, EC, oct or OKP)"),
            ))
        }
    };
    let alg = match pinned {
        Some(alg) if alg.key_type() != kty => {
            return Err(error(
                &obj.child_path("alg"),
                format!("{alg} does not fit a {kty} key (expected {fitting})"),
            ))
        }
        Some(alg) => alg,
        None => default,
    };
    let material = match alg {
        Algorithm::RS256 | Algorithm::RS384 | Algorithm::RS512 => {
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
        Algorithm::ES256 => {
            let crv = obj.required_string("crv")?;
            if let Some((name, _)) = APICAST_ONLY.iter().find(|(_, curve)| *curve == crv) {
                return Err(apicast_only(&obj.child_path("crv"), name));
            }
            if crv != "P-256" {
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
        Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => {
            let k = bytes(&obj, "k")?;
            // The hash's size at least (RFC 7518 §3.2).
            let min = hmac_len(alg);
            if k.len() < min {
                return Err(error(
                    &obj.child_path("k"),
                    format!("{alg} key of {} bytes, at least {min} are needed", k.len()),
                ));
            }
            Material::Hmac(k)
        }
        Algorithm::EdDSA => {
            if obj.required_string("crv")? != "Ed25519" {
                return Ok(None);
            }
            let x = coordinate(&obj, "x")?;
            let key = ed25519_dalek::VerifyingKey::from_bytes(&x)
                .map_err(|_| error(&obj.child_path("x"), "invalid Ed25519 public key"))?;
            Material::Ed25519(key)
        }
    };
    Ok(Some(Key { kid, alg, material }))
}

/// The length of an HMAC algorithm's signatures, and the shortest secret it takes.
fn hmac_len(alg: Algorithm) -> usize {
    match alg {
        Algorithm::HS384 => 48,
        Algorithm::HS512 => 64,
        _ => 32,
    }
}

/// The error for an ES384 or ES512 key.
fn apicast_only(path: &str, alg: &str) -> ConfigError {
    error(
        path,
        format!("{alg} keys are not supported (APIcast verifies them, Tollgate does not: see README, Where Tollgate differs from APIcast); use ES256, RS256 or EdDSA keys"),
    )
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
