//! Compact JWS verification.

use super::claims::{self, Claims};
use super::{Algorithm, Jwks, JwtError, JwtRules, MAX_TOKEN_LEN};
use crate::base64;
use serde_json::Value;

/// Verifies a compact JWS `token` (the bearer token, without the `Bearer ` prefix) against
/// `jwks` and `rules` at `now_unix` (seconds since the epoch), and returns its claims.
/// See the [module documentation](super) for the checks and their order.
pub fn verify(
    token: &str,
    jwks: &Jwks,
    rules: &JwtRules,
    now_unix: u64,
) -> Result<Claims, JwtError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(JwtError::Malformed);
    }
    let mut parts = token.split('.');
    let (Some(header_b64), Some(payload_b64), Some(signature_b64), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(JwtError::Malformed);
    };

    let header = object(header_b64)?;
    let alg = match header.get("alg") {
        Some(Value::String(name)) => {
            Algorithm::from_name(name).ok_or(JwtError::UnsupportedAlgorithm)?
        }
        _ => return Err(JwtError::Malformed),
    };
    if header.contains_key("crit") {
        return Err(JwtError::Malformed);
    }
    let kid = match header.get("kid") {
        None | Some(Value::Null) => None,
        Some(Value::String(kid)) => Some(kid.as_str()),
        Some(_) => return Err(JwtError::Malformed),
    };

    let candidates = jwks.select(kid).ok_or(JwtError::UnknownKid)?;
    let signature = base64::decode_url(signature_b64).ok_or(JwtError::Malformed)?;
    let signing_input = token
        .get(..header_b64.len() + 1 + payload_b64.len())
        .ok_or(JwtError::Malformed)?
        .as_bytes();
    let mut fitting = candidates
        .into_iter()
        .filter(|k| k.algorithm() == alg)
        .peekable();
    if fitting.peek().is_none() {
        return Err(JwtError::AlgorithmMismatch);
    }
    if !fitting.any(|key| key.verifies(signing_input, &signature)) {
        return Err(JwtError::BadSignature);
    }

    let payload = object(payload_b64)?;
    claims::check(&payload, rules, now_unix)?;
    Ok(Claims::new(payload))
}

/// A base64url part holding a JSON object.
fn object(part: &str) -> Result<serde_json::Map<String, Value>, JwtError> {
    let bytes = base64::decode_url(part).ok_or(JwtError::Malformed)?;
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(JwtError::Malformed),
    }
}
