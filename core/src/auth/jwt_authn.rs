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
use crate::credentials::Authorization;
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
        match jwt::verified_by_jwt_authn(&metadata, &self.metadata_key, rules, now_s) {
            Ok(Some(claims)) => Presented::Verified(claims),
            Err(e) => Presented::Failed(e.code()),
            Ok(None) if self.token_sent(headers, args) => Presented::Failed("not_verified"),
            Ok(None) => Presented::Nothing,
        }
    }

    /// Whether the request carries a token where `jwt_authn` looks for one.
    fn token_sent(&self, headers: &dyn HeaderSource, args: &QueryArgs) -> bool {
        let in_header = headers.header(&self.header).is_some_and(|value| {
            if self.header == "authorization" {
                Authorization::parse(&value).token.is_some()
            } else {
                !value.trim().is_empty()
            }
        });
        in_header || args.first_ci(&self.query).is_some()
    }
}
