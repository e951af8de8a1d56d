//! JWT bearer-token verification (RFC 7519 over RFC 7515 compact JWS).
//!
//! Keys are parsed once, at configuration time, into a [`Jwks`]; each request then calls
//! [`verify`] with the token, the keys, the claim [`JwtRules`] and the current time, and gets
//! the payload's [`Claims`] or a [`JwtError`].
//!
//! Supported algorithms: `HS256`, `HS384`, `HS512` (JWK `kty: oct`), `RS256`, `RS384`,
//! `RS512` (`kty: RSA`), `ES256` (`kty: EC`, `crv: P-256`; signature is the JWS raw
//! `r || s`, 64 bytes) and `EdDSA` (`kty: OKP`, `crv: Ed25519`). Each key verifies exactly
//! one algorithm: the one its JWK's `alg` names, or without `alg` the one of its type that
//! uses SHA-256 (`RS256`, `HS256`). The token's `alg` must be that algorithm: an RSA key never
//! verifies an `HS256` token (the RS256→HS256 key-confusion attack), an `RS512` key never an
//! `RS256` token; `alg: none` and every other algorithm are refused. `ES384` and `ES512`
//! (which APIcast verifies) are not supported: their keys are refused in a configured set
//! and skipped with a warning in a fetched one (see [`Jwks::parse`]).
//!
//! What is checked, in order, every cheap check before the signature:
//! 1. shape: at most [`MAX_TOKEN_LEN`] bytes, exactly three base64url parts (unpadded; a
//!    `=` is an error), a JSON-object header with a string `alg`, a string
//!    `kid` if any, and no `crit` (no extension is understood) → [`JwtError::Malformed`];
//! 2. `alg` is supported (and one of [`JwtRules::algs`], when set) →
//!    [`JwtError::UnsupportedAlgorithm`];
//! 3. key selection (see [`Jwks`]) → [`JwtError::UnknownKid`], then a selected key of the
//!    token's algorithm must exist → [`JwtError::AlgorithmMismatch`];
//! 4. the signature part is base64url and the payload a JSON object → `Malformed`;
//! 5. claims, with `leeway_s` of tolerance for clock skew (checked before the signature so
//!    that an expired or foreign token costs no signature check; nothing from the payload is
//!    used unless the signature verifies):
//!    * `exp` is **required** (as in APIcast's OIDC policy and RFC 9068): missing, the
//!      token is [`JwtError::Expired`]; valid while `now_s < exp + leeway`;
//!    * `nbf` is optional: valid when `nbf <= now_s + leeway`, else [`JwtError::NotYetValid`];
//!    * `exp`/`nbf` are NumericDates: a JSON number (a fraction is floored, a negative
//!      value counts as 0, a huge one saturates); any other type is `Malformed`;
//!    * `iss` must equal [`JwtRules::issuer`] when one is configured → [`JwtError::WrongIssuer`];
//!    * `aud` (a string or an array of strings) must contain one of [`JwtRules::audiences`]
//!      when any is configured → [`JwtError::WrongAudience`];
//!    * with [`JwtRules::oidc`], APIcast's OpenID Connect claims (RFC 7523 §3): `iss`, `sub`
//!      and `aud` present, `iat` a number above 0 if present, `typ` `Bearer` if present →
//!      [`JwtError::NotAccessToken`];
//! 6. the signature's length fits the key (RS*: the modulus length; ES256, EdDSA: 64
//!    bytes; HS256, HS384, HS512: 32, 48, 64) → [`JwtError::BadSignature`];
//! 7. with [`verify_within`], the worker's [`FailureBudget`] of failed RS*/ES256/EdDSA
//!    checks is not spent for this second → [`JwtError::BudgetExhausted`] (see `budget.rs`);
//! 8. the signature → [`JwtError::BadSignature`].
//!
//! Header fields that point at keys (`jku`, `jwk`, `x5u`, `x5c`) are ignored: only the
//! configured keys are ever trusted. Nothing here panics on any input.

mod budget;
mod claims;
mod jwk;
mod metadata;
mod pkcs1;
mod sha512_family;
mod token_cache;
mod verify;

#[cfg(test)]
pub(crate) mod tests;

pub use budget::{take_budget_refusals, FailureBudget, DEFAULT_MAX_FAILED_PER_S};
pub(crate) use claims::number_text;
pub use claims::Claims;
pub use jwk::Jwks;
pub use metadata::{jwt_authn_payload, verified_by_jwt_authn, JWT_AUTHN_NAMESPACE};
pub use token_cache::TokenCache;
pub use verify::{verify, verify_within};

use std::fmt;

/// Longest accepted token, in bytes; longer ones are [`JwtError::Malformed`].
pub const MAX_TOKEN_LEN: usize = 16 * 1024;

/// The signature algorithms Tollgate verifies (JWS `alg` names). The order gives each its
/// [`Algorithm::bit`]: eight, a `u8`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// HMAC with SHA-256, `kty: oct`.
    HS256,
    /// RSASSA-PKCS1-v1_5 with SHA-256, `kty: RSA`.
    RS256,
    /// ECDSA on P-256 with SHA-256, `kty: EC`, `crv: P-256`.
    ES256,
    /// Ed25519, `kty: OKP`, `crv: Ed25519`.
    EdDSA,
    /// HMAC with SHA-384, `kty: oct` with `alg: HS384`.
    HS384,
    /// HMAC with SHA-512, `kty: oct` with `alg: HS512`.
    HS512,
    /// RSASSA-PKCS1-v1_5 with SHA-384, `kty: RSA` with `alg: RS384`.
    RS384,
    /// RSASSA-PKCS1-v1_5 with SHA-512, `kty: RSA` with `alg: RS512`.
    RS512,
}

/// Every algorithm, in [`Algorithm::bit`] order.
const ALGORITHMS: [Algorithm; 8] = [
    Algorithm::HS256,
    Algorithm::RS256,
    Algorithm::ES256,
    Algorithm::EdDSA,
    Algorithm::HS384,
    Algorithm::HS512,
    Algorithm::RS384,
    Algorithm::RS512,
];

impl Algorithm {
    /// The algorithm a JWS `alg` value names, if supported (case-sensitive, as in RFC 7515).
    pub fn from_name(name: &str) -> Option<Algorithm> {
        ALGORITHMS.into_iter().find(|alg| alg.name() == name)
    }

    /// The JWK `kty` of this algorithm's keys.
    pub fn key_type(self) -> &'static str {
        match self {
            Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => "oct",
            Algorithm::RS256 | Algorithm::RS384 | Algorithm::RS512 => "RSA",
            Algorithm::ES256 => "EC",
            Algorithm::EdDSA => "OKP",
        }
    }

    /// An HMAC: a check costs about a microsecond (not limited by the failure budget).
    pub fn is_hmac(self) -> bool {
        self.key_type() == "oct"
    }

    /// The algorithm's bit in a set of algorithms.
    pub fn bit(self) -> u8 {
        1 << self as u8
    }

    pub fn name(self) -> &'static str {
        match self {
            Algorithm::HS256 => "HS256",
            Algorithm::RS256 => "RS256",
            Algorithm::ES256 => "ES256",
            Algorithm::EdDSA => "EdDSA",
            Algorithm::HS384 => "HS384",
            Algorithm::HS512 => "HS512",
            Algorithm::RS384 => "RS384",
            Algorithm::RS512 => "RS512",
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What the claims must satisfy besides the signature.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JwtRules {
    /// Required `iss`, when set.
    pub issuer: Option<String>,
    /// Accepted audiences: the token's `aud` must contain one of them (when not empty).
    pub audiences: Vec<String>,
    /// Clock-skew tolerance for `exp` and `nbf`, in seconds.
    pub leeway_s: u64,
    /// APIcast's OpenID Connect profile (`backend_version: oauth`): `iss`, `sub` and `aud`
    /// required, `iat` (if any) after 0, `typ` (if any) `Bearer` → [`JwtError::NotAccessToken`].
    pub oidc: bool,
    /// The only `alg`s accepted ([`Algorithm::bit`] each), when set: a discovery document's
    /// `id_token_signing_alg_values_supported` → [`JwtError::UnsupportedAlgorithm`].
    pub algs: Option<u8>,
}

/// Why a token was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JwtError {
    /// Not a well-formed compact JWS (or too long, or a claim of the wrong type).
    Malformed,
    /// `alg` is not one of the [`Algorithm`]s (this includes `none`).
    UnsupportedAlgorithm,
    /// The token's `kid` names no configured key.
    UnknownKid,
    /// The token's `alg` does not fit the selected key's type.
    AlgorithmMismatch,
    BadSignature,
    /// `exp` is past (beyond the leeway), or missing.
    Expired,
    /// `nbf` is in the future (beyond the leeway).
    NotYetValid,
    WrongIssuer,
    WrongAudience,
    /// An OpenID Connect token without `iss`, `sub` or `aud`, or with `iat` <= 0 or a `typ`
    /// other than `Bearer` (a Keycloak ID or refresh token).
    NotAccessToken,
    /// Refused with no signature check: this worker's budget of failed checks for the
    /// current second is spent (a forged-token flood; see [`FailureBudget`]).
    BudgetExhausted,
}

impl JwtError {
    /// A short stable code, for logs and response details.
    pub fn code(&self) -> &'static str {
        match self {
            JwtError::Malformed => "malformed",
            JwtError::UnsupportedAlgorithm => "unsupported_algorithm",
            JwtError::UnknownKid => "unknown_kid",
            JwtError::AlgorithmMismatch => "algorithm_mismatch",
            JwtError::BadSignature => "bad_signature",
            JwtError::Expired => "expired",
            JwtError::NotYetValid => "not_yet_valid",
            JwtError::WrongIssuer => "wrong_issuer",
            JwtError::WrongAudience => "wrong_audience",
            JwtError::NotAccessToken => "not_access_token",
            JwtError::BudgetExhausted => "verify_budget_exhausted",
        }
    }
}

impl fmt::Display for JwtError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            JwtError::Malformed => "malformed token",
            JwtError::UnsupportedAlgorithm => "unsupported signature algorithm",
            JwtError::UnknownKid => "unknown key id",
            JwtError::AlgorithmMismatch => "algorithm does not match the key",
            JwtError::BadSignature => "bad signature",
            JwtError::Expired => "token expired",
            JwtError::NotYetValid => "token not yet valid",
            JwtError::WrongIssuer => "wrong issuer",
            JwtError::WrongAudience => "wrong audience",
            JwtError::NotAccessToken => "not an access token",
            JwtError::BudgetExhausted => "not checked: budget of failed signature checks spent",
        })
    }
}

impl std::error::Error for JwtError {}
