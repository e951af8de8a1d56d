//! The `jwt` block: verification keys (parsed once, or fetched from a JWKS URL through an
//! Envoy cluster and refreshed), claims rules, and which claims carry roles and client id.

use super::jwt::{Jwks, JwtRules};
use crate::config::json::{error, Obj, Result};
use serde_json::Value;
use std::sync::{Arc, RwLock};

/// Where to fetch the JWKS from: an Envoy cluster, like the 3scale backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwksSource {
    pub cluster: String,
    pub path: String,
    pub authority: String,
    pub refresh_s: u64,
    pub timeout_ms: u64,
}

/// The current verification keys; replaced whole when a refresh succeeds.
#[derive(Debug)]
pub struct KeySet(RwLock<Arc<Jwks>>);

impl KeySet {
    pub fn current(&self) -> Arc<Jwks> {
        match self.0.read() {
            Ok(keys) => keys.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    fn replace(&self, jwks: Jwks) {
        let mut slot = match self.0.write() {
            Ok(slot) => slot,
            Err(poisoned) => poisoned.into_inner(),
        };
        *slot = Arc::new(jwks);
    }
}

#[derive(Debug)]
pub struct JwtAuth {
    pub keys: KeySet,
    pub source: Option<JwksSource>,
    pub rules: JwtRules,
    /// Dotted path of the claim holding roles (`roles`, `realm_access.roles`, `scope`).
    pub roles_claim: String,
    /// Claim holding the client id, used as the 3scale app_id (`azp` by default).
    pub client_id_claim: String,
}

impl Clone for JwtAuth {
    fn clone(&self) -> Self {
        JwtAuth {
            keys: KeySet(RwLock::new(self.keys.current())),
            source: self.source.clone(),
            rules: self.rules.clone(),
            roles_claim: self.roles_claim.clone(),
            client_id_claim: self.client_id_claim.clone(),
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
        ])?;
        let source = obj
            .obj("jwks_source")?
            .map(|s| parse_source(&s))
            .transpose()?;
        let jwks = match obj.get("jwks") {
            Some(v) => Jwks::parse(&obj.child_path("jwks"), v)?,
            None if source.is_some() => Jwks::default(),
            None => {
                return Err(error(
                    &obj.child_path("jwks"),
                    "missing required field (or set jwks_source)",
                ))
            }
        };
        Ok(JwtAuth {
            keys: KeySet(RwLock::new(Arc::new(jwks))),
            source,
            rules: JwtRules {
                issuer: obj.non_empty_string("issuer")?.map(str::to_string),
                audiences: obj
                    .array("audiences", |p, v| match v {
                        Value::String(s) if !s.is_empty() => Ok(s.clone()),
                        _ => Err(error(p, "expected a non-empty string")),
                    })?
                    .unwrap_or_default(),
                leeway_s: obj.uint("leeway_s")?.unwrap_or(0),
            },
            roles_claim: obj
                .non_empty_string("roles_claim")?
                .unwrap_or("roles")
                .to_string(),
            client_id_claim: obj
                .non_empty_string("client_id_claim")?
                .unwrap_or("azp")
                .to_string(),
        })
    }

    /// Installs a freshly fetched JWKS document; on error the current keys stay.
    pub fn refresh(&self, body: &[u8]) -> Result<usize> {
        let value: Value = serde_json::from_slice(body)
            .map_err(|e| error("jwks", format!("invalid JSON: {e}")))?;
        let jwks = Jwks::parse("jwks", &value)?;
        if jwks.is_empty() {
            return Err(error("jwks", "no usable key"));
        }
        let count = jwks.len();
        self.keys.replace(jwks);
        Ok(count)
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
    if refresh_s == 0 {
        return Err(error(
            &obj.child_path("refresh_s"),
            "must be greater than 0",
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
    })
}
