//! The `jwt` block: verification keys (parsed once, or fetched from a JWKS URL through an
//! Envoy cluster and refreshed) or trust in Envoy's `jwt_authn` (`from_jwt_authn`), claims
//! rules, and which claims carry roles and client id.

use super::jwt::{self, Claims, FailureBudget, Jwks, JwtError, JwtRules, TokenCache};
use super::jwt_authn::JwtAuthnSource;
use crate::config::json::{error, Obj, Result};
use serde_json::Value;
use std::sync::{Arc, Mutex, RwLock};

/// The most clock skew `leeway_s` may allow.
const MAX_LEEWAY_S: u64 = 300;

/// Default number of verified tokens remembered per worker.
const DEFAULT_CACHE_SIZE: u64 = 1024;
/// A full cache scans its entries for the one to evict at each newly verified token: at
/// 200,000 entries that scan cost more than the signature check it saves (found by a review,
/// 2026-12-06).
const MAX_CACHE_SIZE: u64 = 65_536;

/// Where to fetch the JWKS from: an Envoy cluster, like the 3scale backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwksSource {
    pub cluster: String,
    pub path: String,
    pub authority: String,
    pub refresh_s: u64,
    pub timeout_ms: u64,
    /// OpenID Connect discovery (a service from 3scale System): `path` is the issuer's
    /// discovery document, which names the issuer and the keys' URL.
    pub discovery: Option<Discovery>,
}

/// How to follow a discovery document (`oidc_discovery`).
#[derive(Clone, PartialEq, Eq)]
pub struct Discovery {
    /// Basic credentials from the issuer URL, for the discovery request only (a secret).
    pub authorization: Option<String>,
    /// `system.issuer_clusters`: the cluster for the `jwks_uri`'s host.
    pub clusters: Vec<(String, String)>,
}

impl std::fmt::Debug for Discovery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Discovery")
            .field(
                "authorization",
                &self.authorization.as_ref().map(|_| "<redacted>"),
            )
            .field("clusters", &self.clusters)
            .finish()
    }
}

/// Verification keys, and the issuer a discovery document named (then required of tokens)
/// with the algorithms it lists ([`jwt::Algorithm::bit`] each: then the only ones accepted).
#[derive(Debug, Default)]
pub struct Keys {
    pub jwks: Jwks,
    pub issuer: Option<String>,
    pub algs: u8,
}

/// The current verification keys; replaced whole when a refresh succeeds.
#[derive(Debug)]
pub struct KeySet(RwLock<Arc<Keys>>);

impl KeySet {
    pub fn current(&self) -> Arc<Keys> {
        match self.0.read() {
            Ok(keys) => keys.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    fn replace(&self, keys: Arc<Keys>) {
        let mut slot = match self.0.write() {
            Ok(slot) => slot,
            Err(poisoned) => poisoned.into_inner(),
        };
        *slot = keys;
    }
}

#[derive(Debug)]
pub struct JwtAuth {
    pub keys: KeySet,
    pub source: Option<JwksSource>,
    /// Envoy's `jwt_authn` verifies tokens and this filter reads the claims it stored: then
    /// there are no keys, and a token is never verified here.
    pub from_jwt_authn: Option<JwtAuthnSource>,
    pub rules: JwtRules,
    /// Dotted path of the claim holding roles (`roles`, `realm_access.roles`, `scope`).
    pub roles_claim: String,
    /// Claim holding the client id, used as the 3scale app_id (`azp` by default).
    pub client_id_claim: String,
    /// `client_id_claim` came from a liquid `jwt_claim_with_client_id` (`{{ aud }}`): the
    /// claim is rendered as APIcast's Liquid renders it (an array's elements joined), not
    /// read as APIcast reads a plain claim (an array's first element).
    pub client_id_liquid: bool,
    /// OIDC: the client id claim is the caller's 3scale app_id, so a token without it is
    /// refused (APIcast answers 403), rather than identified by `sub` as in local mode.
    pub client_id_required: bool,
    /// Verified tokens until they stop being valid. Cleared when the keys change.
    verified: Mutex<TokenCache>,
    cache_size: usize,
    /// Failed RS256/ES256/EdDSA checks allowed per second (`max_failed_verifications_per_s`).
    budget: Mutex<FailureBudget>,
}

impl Clone for JwtAuth {
    fn clone(&self) -> Self {
        JwtAuth {
            keys: KeySet(RwLock::new(self.keys.current())),
            source: self.source.clone(),
            from_jwt_authn: self.from_jwt_authn.clone(),
            rules: self.rules.clone(),
            roles_claim: self.roles_claim.clone(),
            client_id_claim: self.client_id_claim.clone(),
            client_id_liquid: self.client_id_liquid,
            client_id_required: self.client_id_required,
            verified: Mutex::new(TokenCache::default()),
            cache_size: self.cache_size,
            budget: Mutex::new(FailureBudget::new(self.max_failed_per_s())),
        }
    }
}

impl JwtAuth {
    pub fn parse(obj: &Obj) -> Result<JwtAuth> {
        obj.deny_unknown(&[
            "jwks",
            "jwks_source",
            "issuer",
            "audiences",
            "leeway_s",
            "roles_claim",
            "client_id_claim",
            "cache_size",
            "max_failed_verifications_per_s",
            "from_jwt_authn",
        ])?;
        let from_jwt_authn = obj
            .obj("from_jwt_authn")?
            .map(|o| JwtAuthnSource::parse(&o))
            .transpose()?;
        if from_jwt_authn.is_some() {
            // Settings of a verification done here: meaningless when jwt_authn verifies.
            for field in [
                "jwks",
                "jwks_source",
                "cache_size",
                "max_failed_verifications_per_s",
            ] {
                if obj.get(field).is_some() {
                    return Err(error(
                        &obj.child_path(field),
                        "not allowed with from_jwt_authn (Envoy's jwt_authn verifies the tokens)",
                    ));
                }
            }
        }
        let source = obj
            .obj("jwks_source")?
            .map(|s| parse_source(&s))
            .transpose()?;
        // A key set fetched from an identity provider signs the tokens of all its tenants and
        // clients (Azure AD's common keys, a shared realm): only `iss` tells ours apart.
        let issuer = obj.non_empty_string("issuer")?.map(str::to_string);
        if source.is_some() && issuer.is_none() {
            return Err(error(
                &obj.child_path("issuer"),
                "required with jwks_source (keys fetched from an identity provider sign tokens of its other tenants too)",
            ));
        }
        let jwks = match obj.get("jwks") {
            Some(v) => Jwks::parse(&obj.child_path("jwks"), v)?,
            None if source.is_some() || from_jwt_authn.is_some() => Jwks::default(),
            None => {
                return Err(error(
                    &obj.child_path("jwks"),
                    "missing required field (or set jwks_source or from_jwt_authn)",
                ))
            }
        };
        Ok(JwtAuth {
            keys: KeySet(RwLock::new(Arc::new(Keys {
                jwks,
                ..Keys::default()
            }))),
            source,
            from_jwt_authn,
            rules: JwtRules {
                issuer,
                audiences: match obj.array("audiences", |p, v| match v {
                    Value::String(s) if !s.is_empty() => Ok(s.clone()),
                    _ => Err(error(p, "expected a non-empty string")),
                })? {
                    // An empty list would check no audience: leave the field out for that.
                    Some(list) if list.is_empty() => {
                        return Err(error(&obj.child_path("audiences"), "no audience listed"))
                    }
                    list => list.unwrap_or_default(),
                },
                leeway_s: match obj.uint("leeway_s")?.unwrap_or(0) {
                    // A leeway in the wrong unit (ms) would lift `exp` for years.
                    s if s > MAX_LEEWAY_S => {
                        return Err(error(
                            &obj.child_path("leeway_s"),
                            format!("at most {MAX_LEEWAY_S} s"),
                        ))
                    }
                    s => s,
                },
                ..JwtRules::default()
            },
            roles_claim: obj
                .non_empty_string("roles_claim")?
                .unwrap_or("roles")
                .to_string(),
            client_id_claim: obj
                .non_empty_string("client_id_claim")?
                .unwrap_or("azp")
                .to_string(),
            client_id_liquid: false,
            client_id_required: false,
            verified: Mutex::new(TokenCache::default()),
            cache_size: parse_cache_size(obj)?,
            budget: Mutex::new(FailureBudget::new(parse_budget(obj)?)),
        })
    }

    /// The configured bound on failed signature checks per second and worker.
    pub fn max_failed_per_s(&self) -> u32 {
        match self.budget.lock() {
            Ok(budget) => budget.per_second(),
            Err(poisoned) => poisoned.into_inner().per_second(),
        }
    }

    /// Verifies a token, or finds it among the tokens verified before and not yet expired.
    pub fn verify(&self, token: &str, now_s: u64) -> std::result::Result<Claims, JwtError> {
        let mut verified = match self.verified.lock() {
            Ok(v) => v,
            Err(poisoned) => poisoned.into_inner(),
        };
        if let Some(claims) = verified.get(token, now_s) {
            return Ok(claims);
        }
        let claims = {
            let mut budget = match self.budget.lock() {
                Ok(b) => b,
                Err(poisoned) => poisoned.into_inner(),
            };
            let keys = self.keys.current();
            let discovered;
            let rules = match &keys.issuer {
                Some(issuer) => {
                    discovered = JwtRules {
                        issuer: Some(issuer.clone()),
                        algs: Some(keys.algs),
                        ..self.rules.clone()
                    };
                    &discovered
                }
                None => &self.rules,
            };
            jwt::verify_within(token, &keys.jwks, rules, now_s, &mut budget)?
        };
        if self.cache_size > 0 {
            let exp = claims
                .get("exp")
                .and_then(Value::as_f64)
                .unwrap_or(0.0)
                .max(0.0) as u64;
            let valid_until = exp.saturating_add(self.rules.leeway_s);
            verified.insert(token, claims.clone(), valid_until, now_s, self.cache_size);
        }
        Ok(claims)
    }

    /// Installs a freshly fetched JWKS document (no discovered issuer); on error the current
    /// keys stay.
    pub fn refresh(&self, body: &[u8]) -> Result<usize> {
        self.refresh_discovered(body, None)
    }

    /// [`JwtAuth::refresh`], with the issuer and the signing algorithms a discovery document
    /// named (if any): tokens must then carry that `iss` and one of those `alg`s.
    pub fn refresh_discovered(&self, body: &[u8], discovered: Option<(&str, u8)>) -> Result<usize> {
        let value: Value = serde_json::from_slice(body)
            .map_err(|e| error("jwks", format!("invalid JSON: {e}")))?;
        let mut skipped = Vec::new();
        let jwks = Jwks::parse_fetched("jwks", &value, &mut skipped)?;
        if jwks.is_empty() {
            return Err(error("jwks", "no usable key"));
        }
        for problem in &skipped {
            log::warn!("tollgate: fetched JWKS: key skipped: {problem}");
        }
        let count = jwks.len();
        let (issuer, algs) = discovered.unzip();
        self.install(Arc::new(Keys {
            jwks,
            issuer: issuer.map(str::to_string),
            algs: algs.unwrap_or_default(),
        }));
        Ok(count)
    }

    /// Takes over the keys another version of this service fetched (same source), so that a
    /// configuration refresh does not leave the service without keys until the next fetch.
    pub fn adopt_keys(&self, from: &JwtAuth) {
        self.install(from.keys.current());
    }

    fn install(&self, keys: Arc<Keys>) {
        // A refresh (every `refresh_s`) mostly brings the same keys: the tokens verified with
        // them stay, so a forged-token flood does not turn every valid token into a new
        // signature check the failure budget refuses (found by an audit, 2026-12-06).
        let current = self.keys.current();
        let unchanged = current.issuer == keys.issuer
            && current.algs == keys.algs
            && current.jwks.same_keys(&keys.jwks);
        self.keys.replace(keys);
        if unchanged {
            return;
        }
        // Tokens signed by a key that is gone must not stay accepted.
        match self.verified.lock() {
            Ok(mut v) => v.clear(),
            Err(poisoned) => poisoned.into_inner().clear(),
        }
    }

    /// An OpenID Connect service from 3scale System whose keys are discovered from its
    /// issuer (`None`: no cluster reaches the issuer, so every token is refused): APIcast's
    /// claims (`azp` client id; `configure_oidc` sets the OIDC profile), the default cache and
    /// failure budget.
    pub fn discovered(source: Option<JwksSource>) -> JwtAuth {
        JwtAuth {
            keys: KeySet(RwLock::new(Arc::default())),
            source,
            from_jwt_authn: None,
            rules: JwtRules::default(),
            roles_claim: "roles".to_string(),
            client_id_claim: "azp".to_string(),
            client_id_liquid: false,
            client_id_required: false,
            verified: Mutex::new(TokenCache::default()),
            cache_size: DEFAULT_CACHE_SIZE as usize,
            budget: Mutex::new(FailureBudget::new(jwt::DEFAULT_MAX_FAILED_PER_S)),
        }
    }
}

/// `cache_size`: at most [`MAX_CACHE_SIZE`].
fn parse_cache_size(obj: &Obj) -> Result<usize> {
    let size = obj.uint("cache_size")?.unwrap_or(DEFAULT_CACHE_SIZE);
    match usize::try_from(size) {
        Ok(size) if size as u64 <= MAX_CACHE_SIZE => Ok(size),
        _ => Err(error(
            &obj.child_path("cache_size"),
            "is too large (at most 65536)",
        )),
    }
}

/// `max_failed_verifications_per_s`: 1 to 1,000,000 (default 20).
fn parse_budget(obj: &Obj) -> Result<u32> {
    match obj.uint("max_failed_verifications_per_s")? {
        None => Ok(jwt::DEFAULT_MAX_FAILED_PER_S),
        Some(n @ 1..=1_000_000) => Ok(n as u32),
        Some(_) => Err(error(
            &obj.child_path("max_failed_verifications_per_s"),
            "must be between 1 and 1000000",
        )),
    }
}

fn parse_source(obj: &Obj) -> Result<JwksSource> {
    obj.deny_unknown(&["cluster", "path", "authority", "refresh_s", "timeout_ms"])?;
    let cluster = obj
        .non_empty_string("cluster")?
        .ok_or_else(|| error(&obj.child_path("cluster"), "missing required field"))?;
    let path = obj.required_string("path")?;
    if !path.starts_with('/') {
        return Err(error(&obj.child_path("path"), "must start with /"));
    }
    let refresh_s = obj.uint("refresh_s")?.unwrap_or(300);
    // A day at most: the refresh time is `now + refresh_s`, which must not overflow.
    if !(1..=86_400).contains(&refresh_s) {
        return Err(error(
            &obj.child_path("refresh_s"),
            "must be between 1 and 86400",
        ));
    }
    let timeout_ms = obj.uint("timeout_ms")?.unwrap_or(1000);
    if timeout_ms == 0 || timeout_ms > u64::from(u32::MAX) {
        return Err(error(
            &obj.child_path("timeout_ms"),
            "must be between 1 and 4294967295",
        ));
    }
    Ok(JwksSource {
        cluster: cluster.to_string(),
        path: path.to_string(),
        authority: obj
            .non_empty_string("authority")?
            .unwrap_or(cluster)
            .to_string(),
        refresh_s,
        timeout_ms,
        discovery: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::json::Obj;
    use serde_json::json;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    use crate::base64::encode_url as b64;

    fn token(exp: u64) -> String {
        super::jwt::tests::hs256_token(SECRET, "k", &json!({"exp": exp, "azp": "c"}))
    }

    fn jwks(kid: &str) -> Value {
        json!({"keys": [{"kty": "oct", "kid": kid, "k": b64(SECRET), "alg": "HS256"}]})
    }

    #[test]
    fn verified_tokens_are_remembered_until_expiry_and_forgotten_on_refresh() {
        let config = json!({"jwks": jwks("k"), "leeway_s": 2});
        let auth = JwtAuth::parse(&Obj::new("jwt", &config).unwrap()).unwrap();
        let t = token(1000);
        assert!(auth.verify(&t, 990).is_ok());
        assert_eq!(auth.verified.lock().unwrap().len(), 1);
        assert!(auth.verify(&t, 1001).is_ok(), "cached, within the leeway");
        assert_eq!(
            auth.verify(&t, 1002),
            Err(JwtError::Expired),
            "expiry is still enforced"
        );
        assert!(auth.verify(&t, 995).is_ok());
        // The key rotates away: the cached token must stop working.
        auth.refresh(jwks("other").to_string().as_bytes()).unwrap();
        assert_eq!(auth.verify(&t, 995), Err(JwtError::UnknownKid));
    }

    /// Fetched keys need an issuer: an identity provider's key set signs the tokens of its
    /// other tenants and clients too (found by an audit, 2026-12-06).
    #[test]
    fn fetched_keys_need_an_issuer() {
        let source = json!({"cluster": "idp", "path": "/certs"});
        let config = json!({"jwks_source": source});
        let err = JwtAuth::parse(&Obj::new("jwt", &config).unwrap()).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("jwt.issuer: required with jwks_source"),
            "{err}"
        );
        let config = json!({"jwks_source": source, "issuer": "https://idp"});
        assert!(JwtAuth::parse(&Obj::new("jwt", &config).unwrap()).is_ok());
        // Keys configured inline are the operator's own: no issuer needed.
        assert!(JwtAuth::parse(&Obj::new("jwt", &json!({"jwks": jwks("k")})).unwrap()).is_ok());
    }

    #[test]
    fn cache_can_be_disabled() {
        let config = json!({"jwks": jwks("k"), "cache_size": 0});
        let auth = JwtAuth::parse(&Obj::new("jwt", &config).unwrap()).unwrap();
        assert!(auth.verify(&token(1000), 990).is_ok());
        assert!(auth.verified.lock().unwrap().is_empty());
    }

    /// A full cache scans its entries at each new token: its size is bounded (found by a
    /// review, 2026-12-06: 3 ms per token at 200,000 entries).
    #[test]
    fn cache_size_is_bounded() {
        let parse = |size: u64| {
            let config = json!({"jwks": jwks("k"), "cache_size": size});
            JwtAuth::parse(&Obj::new("jwt", &config).unwrap()).map(|a| a.cache_size)
        };
        assert_eq!(parse(65_536).unwrap(), 65_536);
        let err = parse(65_537).unwrap_err().to_string();
        assert_eq!(err, "jwt.cache_size: is too large (at most 65536)");
    }
}
