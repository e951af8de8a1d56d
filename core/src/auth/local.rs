//! Local verification: which credential the request carries, and whether it is valid.

use super::identity::{Identity, Method};
use super::signed_url::{self, SignedUrlError};
use super::Authentication;
use crate::credentials::Authorization;
use crate::mapping::QueryArgs;
use crate::request::HeaderSource;

/// The request facts local authentication looks at.
pub struct LocalRequest<'a> {
    pub method: &'a str,
    /// Path and query as sent (signed URLs are checked against them).
    pub path: &'a str,
    pub query: Option<&'a str>,
    pub args: &'a QueryArgs,
    pub headers: &'a dyn HeaderSource,
    pub now_s: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LocalFailure {
    /// No credential of a configured kind: auth missing.
    Missing,
    /// A credential was presented and is invalid, expired or unknown: auth failed.
    Failed,
}

/// Tries each configured method in turn: signed URL, claims Envoy's `jwt_authn` verified,
/// Authorization (Bearer JWT, Basic user or key-as-username), API key header, API key query arg.
pub fn authenticate(auth: &Authentication, req: &LocalRequest) -> Result<Identity, LocalFailure> {
    let authorization = req.headers.header("authorization");
    let parsed = authorization.as_deref().map(Authorization::parse);
    // A credential sent twice with different values is refused: the upstream might read the
    // one not checked. That holds across places: a key as the Basic username (with or
    // without a password: the upstream's convention ignores it) and one in the header or the
    // query must be the same (found by an audit).
    let other_key = other_key(auth, req)?;
    let basic_key = basic_username_key(auth, parsed.as_ref());
    if matches!((&basic_key, &other_key), (Some(b), Some(o)) if b != o) {
        return Err(LocalFailure::Failed);
    }
    // Once one credential authenticates, no credential of another kind this service reads may
    // come with it: the upstream would get one nobody checked (a forged token beside a signed
    // URL, an unknown key beside a verified token; found by an audit, 2026-12-05).
    let reads_header = parsed.is_some() && reads_authorization(auth);
    // A second `Authorization`, whatever its scheme, on a service that reads one: the
    // upstream may read the other. Envoy joins two into one value with a `,`, which no
    // Basic or Bearer credential holds. Checked before every method: the claims `jwt_authn`
    // verified from a first `Bearer` value let a second, Basic one through unchecked (found
    // by an audit, 2026-12-06).
    let joined = authorization.as_deref().is_some_and(|a| a.contains(','));
    if reads_header && (joined || req.headers.header_ambiguous("authorization")) {
        return Err(LocalFailure::Failed);
    }
    if let Some(secret) = &auth.signed_url_secret {
        let query = req.query.unwrap_or("");
        match signed_url::verify(secret, req.method, req.path, query, req.now_s) {
            Ok(()) => {
                #[cfg(feature = "jwt")]
                let token = from_jwt_authn(auth, req).is_some()
                    || !access_tokens_agree(auth, req.args, None);
                #[cfg(not(feature = "jwt"))]
                let token = false;
                if token || reads_header || other_key.is_some() {
                    return Err(LocalFailure::Failed);
                }
                return Ok(identity(
                    Method::SignedUrl,
                    "signed-url".into(),
                    Vec::new(),
                    true,
                ));
            }
            Err(SignedUrlError::Missing) => {}
            Err(_) => return Err(LocalFailure::Failed),
        }
    }
    #[cfg(feature = "jwt")]
    if !access_tokens_agree(
        auth,
        req.args,
        parsed.as_ref().and_then(|p| p.token.as_deref()),
    ) {
        return Err(LocalFailure::Failed);
    }
    #[cfg(feature = "jwt")]
    if let Some(result) = from_jwt_authn(auth, req) {
        // A Bearer token is the one jwt_authn verified (`presented` compares them) only when
        // jwt_authn reads `Authorization`; any other credential there was never checked (a
        // second token beside one in `x-jwt`, say: found by a review).
        let source_reads = |s: &super::jwt_authn::JwtAuthnSource| s.header == "authorization";
        let same_token = parsed.as_ref().is_some_and(|p| p.token.is_some())
            && (auth.jwt.as_ref().and_then(|j| j.from_jwt_authn.as_ref()))
                .is_some_and(source_reads);
        return match result {
            Ok(_) if (reads_header && !same_token) || other_key.is_some() => {
                Err(LocalFailure::Failed)
            }
            result => result,
        };
    }
    if let Some(parsed) = parsed {
        if let Some(result) = from_authorization(auth, &parsed, req.now_s) {
            // A key beside a token or a Basic user (the key as the Basic username is the same
            // credential, compared above).
            return match result {
                Ok(who) if who.method != Method::ApiKey && other_key.is_some() => {
                    Err(LocalFailure::Failed)
                }
                result => result,
            };
        }
    }
    if let (Some(keys), Some(key)) = (&auth.api_keys, other_key) {
        return keys
            .find(&key)
            .map(|k| identity(Method::ApiKey, k.id.clone(), k.grants.clone(), false))
            .ok_or(LocalFailure::Failed);
    }
    Err(LocalFailure::Missing)
}

/// The API key in the header or the query; failed when either comes twice or they disagree.
fn other_key(auth: &Authentication, req: &LocalRequest) -> Result<Option<String>, LocalFailure> {
    let Some(keys) = &auth.api_keys else {
        return Ok(None);
    };
    let (in_header, header_twice) = match keys.header.as_deref() {
        Some(h) => req.headers.header_any_spelling(h),
        None => (None, false),
    };
    let (in_query, query_twice) = match keys.query.as_deref() {
        Some(q) => req.args.credential(q),
        None => (None, false),
    };
    // A key in the header and another in the query: the upstream may read the one not
    // checked (found by an audit, 2026-12-05).
    let disagree = matches!((&in_header, in_query), (Some(h), Some(q)) if h != q);
    if query_twice || header_twice || disagree {
        return Err(LocalFailure::Failed);
    }
    let key = in_header.or_else(|| in_query.map(str::to_string));
    // The query arg in another spelling an upstream reads as it (`api.key`, `api_key[]`) is
    // never read as the key: its value must be the key checked, and beside no key (a Basic
    // user, a signed URL) it is one nobody checked (found by an audit, 2026-12-07).
    if (keys.query.as_deref()).is_some_and(|q| req.args.spelled_other_than(q, key.as_deref())) {
        return Err(LocalFailure::Failed);
    }
    Ok(key)
}

/// The Basic username of a service that reads keys from it, with or without a password.
pub(crate) fn basic_username_key(
    auth: &Authentication,
    parsed: Option<&Authorization>,
) -> Option<String> {
    let reads = auth.api_keys.as_ref().is_some_and(|k| k.basic_username);
    let user = parsed?.userid.as_ref().filter(|u| reads && !u.is_empty())?;
    Some(user.clone())
}

/// Whether the service reads the `Authorization` header (Basic users or keys, a JWT).
fn reads_authorization(auth: &Authentication) -> bool {
    #[cfg(feature = "jwt")]
    let jwt = auth.jwt.is_some();
    #[cfg(not(feature = "jwt"))]
    let jwt = false;
    jwt || auth.basic_users.is_some() || auth.api_keys.as_ref().is_some_and(|k| k.basic_username)
}

/// On a JWT service, the token checked must be the only one: an upstream reading an RFC 6750
/// `access_token` (or the arg `jwt_authn` reads tokens from; query or form body, in any
/// spelling an upstream reads as that name) would get another, which nobody verified. The
/// token checked is the Bearer one, or the first URI value of the arg `jwt_authn` reads
/// (never a form body's: `jwt_authn` reads no body, so a forged token there rode along with
/// an API key; found by an audit, 2026-12-07); without either (another credential
/// authenticates), any such arg is refused.
#[cfg(feature = "jwt")]
pub fn access_tokens_agree(auth: &Authentication, args: &QueryArgs, bearer: Option<&str>) -> bool {
    let Some(jwt) = &auth.jwt else {
        return true;
    };
    let source_query = (jwt.from_jwt_authn.as_ref()).map(|s| s.query.as_str());
    let checked = bearer.or_else(|| source_query.and_then(|q| args.all_uri_ci(q).next()));
    let agree = |name: &str| args.spelled(name).all(|t| Some(t) == checked);
    agree(ACCESS_TOKEN) && source_query.is_none_or(agree)
}

#[cfg(feature = "jwt")]
const ACCESS_TOKEN: &str = "access_token";

/// `None` when the header carries nothing this service authenticates with.
fn from_authorization(
    auth: &Authentication,
    header: &Authorization,
    #[allow(unused_variables)] now_s: u64,
) -> Option<Result<Identity, LocalFailure>> {
    #[cfg(feature = "jwt")]
    if let (Some(jwt), Some(token)) = (&auth.jwt, &header.token) {
        if jwt.from_jwt_authn.is_some() {
            // jwt_authn did not verify it (else its claims were used): never verified here.
            return Some(Err(LocalFailure::Failed));
        }
        return Some(verify_jwt(jwt, token, now_s));
    }
    let basic_users = auth.basic_users.is_some();
    let basic_keys = auth.api_keys.as_ref().is_some_and(|k| k.basic_username);
    if header.malformed_basic && (basic_users || basic_keys) {
        // A Basic credential this service reads, unreadable here: never let another
        // credential authenticate while an upstream may read a user from it.
        return Some(Err(LocalFailure::Failed));
    }
    let (Some(user), Some(password)) = (&header.userid, &header.password) else {
        return None;
    };
    if password.is_empty() {
        if let Some(keys) = auth.api_keys.as_ref().filter(|k| k.basic_username) {
            return Some(
                keys.find(user)
                    .map(|k| identity(Method::ApiKey, k.id.clone(), k.grants.clone(), false))
                    .ok_or(LocalFailure::Failed),
            );
        }
    }
    let users = auth.basic_users.as_ref()?;
    Some(
        users
            .verify(user, password)
            .map(|u| identity(Method::Basic, user.clone(), u.grants.clone(), false))
            .ok_or(LocalFailure::Failed),
    )
}

/// For a service that trusts `jwt_authn`: the claims it verified, or a failure when a token
/// came without them; `None` when neither (other methods may still apply).
#[cfg(feature = "jwt")]
fn from_jwt_authn(
    auth: &Authentication,
    req: &LocalRequest,
) -> Option<Result<Identity, LocalFailure>> {
    use super::jwt_authn::Presented;
    let jwt = auth.jwt.as_ref()?;
    let source = jwt.from_jwt_authn.as_ref()?;
    match source.presented(&jwt.rules, req.headers, req.args, req.now_s) {
        Presented::Verified(claims) => Some(jwt_identity(jwt, claims)),
        Presented::Failed(reason) => {
            log::debug!("tollgate: no claims from jwt_authn: {reason}");
            Some(Err(LocalFailure::Failed))
        }
        Presented::Nothing => None,
    }
}

#[cfg(feature = "jwt")]
fn verify_jwt(
    jwt: &super::jwt_auth::JwtAuth,
    token: &str,
    now_s: u64,
) -> Result<Identity, LocalFailure> {
    match jwt.verify(token, now_s) {
        Ok(claims) => jwt_identity(jwt, claims),
        Err(e) => {
            log::debug!("tollgate: JWT rejected: {e:?}");
            Err(LocalFailure::Failed)
        }
    }
}

/// The caller a verified token's claims name: the client id claim (required for OIDC with
/// 3scale, else `sub` stands in), with the roles of the roles claim.
#[cfg(feature = "jwt")]
fn jwt_identity(
    jwt: &super::jwt_auth::JwtAuth,
    claims: super::jwt::Claims,
) -> Result<Identity, LocalFailure> {
    // A liquid template renders an array's elements joined, as APIcast's Liquid does.
    let client_id = if jwt.client_id_liquid {
        Some(claims.render(&jwt.client_id_claim))
    } else {
        claims.identifier(&jwt.client_id_claim)
    }
    .filter(|s| !s.is_empty());
    let id = match client_id {
        Some(id) => id,
        None if jwt.client_id_required => {
            log::debug!("tollgate: JWT without a `{}` claim", jwt.client_id_claim);
            return Err(LocalFailure::Failed);
        }
        None => claims.identifier("sub").unwrap_or_default(),
    };
    let mut who = identity(Method::Jwt, id, Vec::new(), false);
    who.roles = claims.strings_at(&jwt.roles_claim);
    who.claims = Some(claims);
    Ok(who)
}

fn identity(
    method: Method,
    id: String,
    grants: Vec<super::grants::Grant>,
    unrestricted: bool,
) -> Identity {
    Identity {
        method,
        id,
        grants,
        roles: Vec::new(),
        unrestricted,
        #[cfg(feature = "jwt")]
        claims: None,
    }
}
