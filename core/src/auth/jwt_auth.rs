//! The `jwt` block: verification keys (parsed once), claims rules, and which claims carry
//! the roles and the client id.

use super::jwt::{Jwks, JwtRules};
use crate::config::json::{error, Obj, Result};
use serde_json::Value;
use std::sync::Arc;

pub struct JwtAuth {
    pub jwks: Arc<Jwks>,
    pub rules: JwtRules,
    /// Dotted path of the claim holding roles (`roles`, `realm_access.roles`, `scope`).
    pub roles_claim: String,
    /// Claim holding the client id, used as the 3scale app_id (`azp` by default).
    pub client_id_claim: String,
}

impl std::fmt::Debug for JwtAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtAuth")
            .field("keys", &self.jwks.len())
            .field("roles_claim", &self.roles_claim)
            .finish()
    }
}

impl Clone for JwtAuth {
    fn clone(&self) -> Self {
        JwtAuth {
            jwks: self.jwks.clone(),
            rules: JwtRules {
                issuer: self.rules.issuer.clone(),
                audiences: self.rules.audiences.clone(),
                leeway_s: self.rules.leeway_s,
            },
            roles_claim: self.roles_claim.clone(),
            client_id_claim: self.client_id_claim.clone(),
        }
    }
}

impl JwtAuth {
    pub fn parse(obj: &Obj) -> Result<JwtAuth> {
        obj.deny_unknown(&[
            "jwks",
            "issuer",
            "audiences",
            "leeway_s",
            "roles_claim",
            "client_id_claim",
        ])?;
        let jwks_value = obj
            .get("jwks")
            .ok_or_else(|| error(&obj.child_path("jwks"), "missing required field"))?;
        let jwks = Arc::new(Jwks::parse(&obj.child_path("jwks"), jwks_value)?);
        if jwks.is_empty() {
            return Err(error(&obj.child_path("jwks"), "no usable key"));
        }
        Ok(JwtAuth {
            jwks,
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
}
