//! Who a locally authenticated caller is, and what it may do.

use super::grants::{default_action, Grant, RuleAccess};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Method {
    ApiKey,
    Basic,
    Jwt,
    SignedUrl,
}

impl Method {
    pub fn name(&self) -> &'static str {
        match self {
            Method::ApiKey => "api_key",
            Method::Basic => "basic",
            Method::Jwt => "jwt",
            Method::SignedUrl => "signed_url",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Identity {
    pub method: Method,
    /// Key id, username, JWT client id (`azp`), or `signed-url`.
    pub id: String,
    pub grants: Vec<Grant>,
    pub roles: Vec<String>,
    /// A signed URL was authorized for exactly this request by whoever signed it.
    pub unrestricted: bool,
    /// A token's verified claims (`jwt_claim_check` reads them).
    #[cfg(feature = "jwt")]
    pub claims: Option<super::jwt::Claims>,
}

impl Identity {
    /// Whether the caller may do what a matched rule requires.
    pub fn may(&self, access: &RuleAccess, method: &str) -> bool {
        if self.unrestricted || access.is_open() {
            return true;
        }
        let grant_ok = match &access.namespace {
            None => true,
            Some(ns) => {
                let action = access.action.as_deref().unwrap_or(default_action(method));
                self.grants.iter().any(|g| g.allows(ns, action))
            }
        };
        let roles_ok =
            access.roles.is_empty() || access.roles.iter().any(|r| self.roles.contains(r));
        grant_ok && roles_ok
    }
}
