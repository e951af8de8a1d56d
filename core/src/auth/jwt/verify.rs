//! Compact JWS verification: every cheap check first, the signature last.

use super::budget::{self, FailureBudget};
use super::claims::{self, Claims};
use super::{Algorithm, Jwks, JwtError, JwtRules, MAX_TOKEN_LEN};
use crate::base64;
use serde_json::Value;

/// Verifies a compact JWS `token` (the bearer token, without the `Bearer ` prefix) against
/// `jwks` and `rules` at `now_unix` (seconds since the epoch), and returns its claims.
/// See the [module documentation](super) for the checks and their order. No bound on failed
/// checks: see [`verify_within`].
pub fn verify(
    token: &str,
    jwks: &Jwks,
    rules: &JwtRules,
    now_unix: u64,
) -> Result<Claims, JwtError> {
    verify_within(
        token,
        jwks,
        rules,
        now_unix,
        &mut FailureBudget::unlimited(),
    )
}

/// [`verify`], with the RS*/ES256/EdDSA checks that fail counted in `budget`: once it is
/// spent for the current second, a token that needs such a check is
/// [`JwtError::BudgetExhausted`] without one.
pub fn verify_within(
    token: &str,
    jwks: &Jwks,
    rules: &JwtRules,
    now_unix: u64,
    budget: &mut FailureBudget,
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
    if rules.algs.is_some_and(|algs| algs & alg.bit() == 0) {
        return Err(JwtError::UnsupportedAlgorithm);
    }
    if header.contains_key("crit") {
        return Err(JwtError::Malformed);
    }
    let kid = match header.get("kid") {
        None | Some(Value::Null) => None,
        Some(Value::String(kid)) => Some(kid.as_str()),
        Some(_) => return Err(JwtError::Malformed),
    };

    let candidates = jwks.select(kid).ok_or(JwtError::UnknownKid)?;
    let fitting: Vec<_> = candidates
        .into_iter()
        .filter(|k| k.algorithm() == alg)
        .collect();
    if fitting.is_empty() {
        return Err(JwtError::AlgorithmMismatch);
    }
    let signature = base64::decode_url(signature_b64).ok_or(JwtError::Malformed)?;
    let signing_input = token
        .get(..header_b64.len() + 1 + payload_b64.len())
        .ok_or(JwtError::Malformed)?
        .as_bytes();
    // The claims before the signature: an expired or foreign token costs no check. Nothing
    // from the payload is used unless the signature verifies.
    let payload = object(payload_b64)?;
    claims::check(&payload, rules, now_unix)?;

    // Only keys a signature of this length can be for (RS*: the modulus length; ES256 and
    // EdDSA: 64 bytes; HS*: the hash's): a wrong length is refused with no arithmetic, and spends no budget.
    let mut sized = fitting
        .into_iter()
        .filter(|k| k.signature_len() == signature.len())
        .peekable();
    if sized.peek().is_none() {
        return Err(JwtError::BadSignature);
    }
    // The budget is checked once per token and spent once per token no key verifies, by
    // the number of keys tried (the CPU it cost: at most 32 over the budget in a second).
    // Checked and spent per key, a valid token without `kid` spent it on the keys before
    // its own, and was refused between them (found by an audit, 2026-12-06).
    let limited = !alg.is_hmac();
    if limited && !budget.allows(now_unix) {
        budget::count_refusal();
        return Err(JwtError::BudgetExhausted);
    }
    let mut tried = 0;
    for key in sized {
        if key.verifies(signing_input, &signature) {
            return Ok(Claims::new(payload));
        }
        tried += 1;
    }
    if limited {
        budget.failed(now_unix, tried);
    }
    Err(JwtError::BadSignature)
}

/// A base64url part holding a JSON object.
fn object(part: &str) -> Result<serde_json::Map<String, Value>, JwtError> {
    let bytes = base64::decode_url(part).ok_or(JwtError::Malformed)?;
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(JwtError::Malformed),
    }
}
