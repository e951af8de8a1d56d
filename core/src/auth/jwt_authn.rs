//! Trusting Envoy's `jwt_authn` filter: the `from_jwt_authn` source of the `jwt` block, and
//! what a request brings under it: claims `jwt_authn` verified, a token it did not verify, or
//! neither.
//!
//! The claims come only from the request's dynamic metadata, which only filters write (never
//! a header a client could send). `jwt_authn` stores a payload only for a token it verified;
//! with an `allow_missing_or_failed` requirement it lets a request with a rejected token go on
//! without one, so a token seen where `jwt_authn` reads it, and no payload, is a failed token.

use super::jwt::{self, Claims, JwtRules};
use crate::config::json::{error, Obj, Result};
use crate::mapping::QueryArgs;
use crate::request::HeaderSource;

/// `from_jwt_authn`: where `jwt_authn` stored the payload, and where clients send tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwtAuthnSource {
    /// `payload_in_metadata` of the `jwt_authn` provider(s).
    pub metadata_key: String,
    /// The header `jwt_authn` reads tokens from (`authorization`: a `Bearer` token in it).
    pub header: String,
    /// The query argument `jwt_authn` reads tokens from (its default: `access_token`).
    pub query: String,
}

/// What a request brings, for a service that trusts `jwt_authn`.
#[derive(Debug, Clone, PartialEq)]
pub enum Presented {
    /// A payload `jwt_authn` verified, whose claims pass the `jwt` block's rules.
    Verified(Claims),
    /// No usable payload, and a token was presented; or the payload broke a rule of the `jwt`
    /// block, or could not be decoded. The reason is a short code, for logs.
    Failed(&'static str),
    /// No payload and no token.
    Nothing,
}

impl JwtAuthnSource {
    pub fn parse(obj: &Obj) -> Result<JwtAuthnSource> {
        obj.deny_unknown(&["metadata_key", "header", "query"])?;
        let metadata_key = obj.non_empty_string("metadata_key")?.ok_or_else(|| {
            error(
                &obj.child_path("metadata_key"),
                "missing required field (jwt_authn's payload_in_metadata)",
            )
        })?;
        Ok(JwtAuthnSource {
            metadata_key: metadata_key.to_string(),
            header: obj
                .non_empty_string("header")?
                .unwrap_or("authorization")
                .to_ascii_lowercase(),
            query: obj
                .non_empty_string("query")?
                .unwrap_or("access_token")
                .to_string(),
        })
    }

    /// Reads the payload from the dynamic metadata (one host call, for this service only).
    pub fn presented(
        &self,
        rules: &JwtRules,
        headers: &dyn HeaderSource,
        args: &QueryArgs,
        now_s: u64,
    ) -> Presented {
        let metadata = headers.dynamic_metadata().unwrap_or_default();
        let tokens = self.tokens_sent(headers, args);
        match jwt::verified_by_jwt_authn(&metadata, &self.metadata_key, rules, now_s) {
            // `jwt_authn` stores the payload of the token it verified, and an
            // `allow_missing_or_failed` requirement lets another token it rejected go on with
            // it: which one the payload belongs to cannot be told, so two tokens fail.
            Ok(Some(_)) if tokens > 1 => Presented::Failed("several_tokens"),
            Ok(Some(claims)) => Presented::Verified(claims),
            Err(e) => Presented::Failed(e.code()),
            Ok(None) if tokens > 0 => Presented::Failed("not_verified"),
            Ok(None) => Presented::Nothing,
        }
    }

    /// How many different tokens the request carries where `jwt_authn` looks for them (2
    /// stands for 2 or more). Seen as `jwt_authn` sees them, or more: a `Bearer ` anywhere in
    /// the header's values (any case, where `jwt_authn` matches the case: a token it skipped
    /// is then one it did not verify), and every value of the query argument.
    fn tokens_sent(&self, headers: &dyn HeaderSource, args: &QueryArgs) -> usize {
        let mut tokens: Vec<String> = Vec::new();
        let mut add = |token: &str| {
            if !tokens.iter().any(|t| t == token) {
                tokens.push(token.to_string());
            }
        };
        if let Some(value) = headers.header_joined(&self.header) {
            if self.header == "authorization" {
                bearer_tokens(&value).for_each(&mut add);
            } else if !value.trim().is_empty() {
                add(value.trim());
            }
        }
        // Another spelling of a custom header (`x_jwt` for `x-jwt`): `jwt_authn` never reads
        // it, a CGI-style upstream reads it as the header (found by an audit, 2026-12-07).
        if self.header != "authorization" {
            headers.any_value_any_spelling(&self.header, &mut |value| {
                if !value.trim().is_empty() {
                    add(value.trim());
                }
                false
            });
        }
        args.all_uri_ci(&self.query).for_each(&mut add);
        tokens.len().min(2)
    }
}

/// The token after each `bearer` followed by a space or a tab, anywhere in `value` (ASCII
/// case-insensitive), as `jwt_authn` extracts it: the first run of base64url characters and
/// dots after the scheme (empty if none).
fn bearer_tokens(value: &str) -> impl Iterator<Item = &str> {
    const SCHEME: &[u8] = b"bearer";
    let bytes = value.as_bytes();
    let is_token = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.');
    let mut from = 0;
    std::iter::from_fn(move || {
        while from + SCHEME.len() < bytes.len() {
            let at = from;
            from += 1;
            let scheme_end = at + SCHEME.len();
            let is_scheme = bytes
                .get(at..scheme_end)
                .is_some_and(|s| s.eq_ignore_ascii_case(SCHEME));
            if !is_scheme || !matches!(bytes.get(scheme_end), Some(b' ' | b'\t')) {
                continue;
            }
            let rest = bytes.get(scheme_end..).unwrap_or_default();
            let start = scheme_end + rest.iter().position(|&b| is_token(b)).unwrap_or(rest.len());
            let tail = bytes.get(start..).unwrap_or_default();
            let end = start
                + tail
                    .iter()
                    .position(|&b| !is_token(b))
                    .unwrap_or(tail.len());
            // Scanning goes on from the scheme: a scheme inside what was taken is one more.
            return Some(value.get(start..end).unwrap_or_default());
        }
        None
    })
}
