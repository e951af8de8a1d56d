//! Local authentication: API keys, HTTP Basic users, JWT, signed URLs, header secrets and
//! HTTPS-only, configured per service in its `authentication` block (a Tollgate extension
//! next to APIcast's fields). A service authenticates through 3scale (the default), locally,
//! both (verify locally, then authrep to meter and enforce plans), or not at all (`none`);
//! its public paths (`public.rs`) pass without credentials in every mode.

pub mod api_keys;
pub mod basic;
#[cfg(feature = "jwt")]
pub mod claim_check;
pub mod digest;
pub mod grants;
pub mod header_secret;
pub mod identity;
#[cfg(feature = "jwt")]
pub mod jwks_refresh;
#[cfg(feature = "jwt")]
pub mod jwt;
#[cfg(feature = "jwt")]
pub mod jwt_auth;
#[cfg(feature = "jwt")]
pub mod jwt_authn;
#[cfg(test)]
#[cfg(feature = "jwt")]
mod jwt_authn_spelling_tests;
#[cfg(test)]
#[cfg(feature = "jwt")]
mod jwt_authn_tests;
pub mod local;
#[cfg(feature = "jwt")]
pub mod oidc_discovery;
#[cfg(test)]
#[cfg(feature = "jwt")]
mod oidc_tests;
pub mod public;
pub mod signed_url;
pub mod transport;

use crate::config::json::{error, Obj, Result};
use api_keys::ApiKeys;
use basic::BasicUsers;
use header_secret::HeaderSecret;
use transport::HttpsOnly;

/// Who decides whether a caller is let in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// APIcast's behaviour: 3scale credentials, authrep.
    #[default]
    ThreeScale,
    /// Local credentials only; no backend call.
    Local,
    /// Local credentials, then authrep with the caller's id as the 3scale credential.
    LocalThenThreeScale,
    /// `none`: no credentials and no backend call; the mapping rules still decide no-match.
    Open,
}

#[derive(Debug, Clone, Default)]
pub struct Authentication {
    pub mode: Mode,
    pub https_only: Option<HttpsOnly>,
    pub header_secrets: Vec<HeaderSecret>,
    pub api_keys: Option<ApiKeys>,
    pub basic_users: Option<BasicUsers>,
    #[cfg(feature = "jwt")]
    pub jwt: Option<jwt_auth::JwtAuth>,
    /// HMAC secret for signed URLs.
    pub signed_url_secret: Option<Vec<u8>>,
    /// Path prefixes open without credentials, in every mode (`public::covers`).
    pub public_paths: Vec<String>,
}

const FIELDS: &[&str] = &[
    "mode",
    "https_only",
    "trust_forwarded_proto",
    "header_secrets",
    "api_keys",
    "basic_users",
    "jwt",
    "signed_urls",
    "public_paths",
];

impl Authentication {
    pub fn parse(obj: &Obj) -> Result<Authentication> {
        obj.deny_unknown(FIELDS)?;
        let mode = match obj.string("mode")? {
            None | Some("3scale") => Mode::ThreeScale,
            Some("local") => Mode::Local,
            Some("local+3scale") => Mode::LocalThenThreeScale,
            Some("none") => Mode::Open,
            Some(other) => {
                return Err(error(
                    &obj.child_path("mode"),
                    format!(
                        "unknown mode \"{other}\" (expected 3scale, local, local+3scale or none)"
                    ),
                ))
            }
        };
        let auth = Authentication {
            mode,
            https_only: HttpsOnly::parse(obj)?,
            header_secrets: header_secret::parse_all(obj)?,
            api_keys: obj
                .obj("api_keys")?
                .map(|o| ApiKeys::parse(&o))
                .transpose()?,
            basic_users: obj
                .get("basic_users")
                .map(|v| BasicUsers::parse(&obj.child_path("basic_users"), v))
                .transpose()?,
            #[cfg(feature = "jwt")]
            jwt: obj
                .obj("jwt")?
                .map(|o| jwt_auth::JwtAuth::parse(&o))
                .transpose()?,
            signed_url_secret: parse_signed_urls(obj)?,
            public_paths: public::parse(obj)?,
        };
        #[cfg(not(feature = "jwt"))]
        if obj.get("jwt").is_some() {
            return Err(error(
                &obj.child_path("jwt"),
                "this build of Tollgate has no JWT support",
            ));
        }
        if auth.mode == Mode::Open {
            // A credential setting would look enforced and never be.
            if auth.has_local_method() || auth.https_only.is_some() {
                return Err(error(
                    &obj.child_path("mode"),
                    "none reads no credentials: remove api_keys, basic_users, jwt, signed_urls and https_only",
                ));
            }
        } else if auth.mode != Mode::ThreeScale && !auth.has_local_method() {
            return Err(error(
                &obj.child_path("mode"),
                "local authentication needs api_keys, basic_users, jwt or signed_urls",
            ));
        }
        Ok(auth)
    }

    /// Refuses local methods on a service 3scale alone authenticates (no `mode`, or
    /// `3scale`): they would look enforced and never be read (found by an audit,
    /// 2026-12-06). Asked once the mode is final: OIDC makes it local+3scale. `path` is the
    /// service's `authentication.mode`.
    pub fn refuse_unread_methods(&self, path: &str) -> Result<()> {
        if self.mode == Mode::ThreeScale && self.has_local_method() {
            return Err(error(
                path,
                "3scale (the default) reads only 3scale credentials: api_keys, basic_users, jwt and signed_urls need mode local or local+3scale",
            ));
        }
        Ok(())
    }

    /// Whether any local method (`api_keys`, `basic_users`, `jwt`, `signed_urls`) is set.
    pub(crate) fn has_local_method(&self) -> bool {
        #[cfg(feature = "jwt")]
        let jwt = self.jwt.is_some();
        #[cfg(not(feature = "jwt"))]
        let jwt = false;
        self.api_keys.is_some()
            || self.basic_users.is_some()
            || jwt
            || self.signed_url_secret.is_some()
    }
}

/// The shortest `signed_urls.secret` accepted (HS256 keys in a JWKS need 32 bytes; a secret
/// typed as text gets some slack).
const MIN_SIGNING_SECRET_BYTES: usize = 16;

fn parse_signed_urls(obj: &Obj) -> Result<Option<Vec<u8>>> {
    let Some(signed) = obj.obj("signed_urls")? else {
        return Ok(None);
    };
    signed.deny_unknown(&["secret"])?;
    let secret = signed
        .non_empty_string("secret")?
        .ok_or_else(|| error(&signed.child_path("secret"), "missing required field"))?;
    // A signed URL passes every grant and role check: a short key guessed offline from one
    // URL would open everything.
    if secret.len() < MIN_SIGNING_SECRET_BYTES {
        return Err(error(
            &signed.child_path("secret"),
            format!("at least {MIN_SIGNING_SECRET_BYTES} bytes (a long random secret)"),
        ));
    }
    Ok(Some(secret.as_bytes().to_vec()))
}
