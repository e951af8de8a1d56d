//! [`JwtAuthn`]: Envoy's own `jwt_authn` filter, inserted before the wasm filter with
//! [`EnvoyBuilder::jwt_authn`](super::EnvoyBuilder::jwt_authn): one provider `idp` with an
//! inline JWK Set, storing verified payloads with `payload_in_metadata`, on every path.

use std::fmt::Write as _;

/// What `jwt_authn` requires of a request (its `rules[0].requires`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JwtRequirement {
    /// `provider_name: idp`: a missing or invalid token is answered 401 by `jwt_authn`.
    Provider,
    /// `idp` or `allow_missing`: an invalid token is answered 401 by `jwt_authn`, a request
    /// without one goes on.
    AllowMissing,
    /// `idp` or `allow_missing_or_failed`: every request goes on; a payload is stored only
    /// for a token that verified.
    AllowMissingOrFailed,
}

/// The `jwt_authn` filter's settings.
#[derive(Debug, Clone)]
pub struct JwtAuthn {
    pub(super) jwks: String,
    pub(super) issuer: Option<String>,
    pub(super) payload_in_metadata: String,
    pub(super) requirement: JwtRequirement,
    /// `from_headers`: the header the token is read from (default: `Authorization`).
    pub(super) header: Option<String>,
    /// `from_params`: the query arg the token is read from (default: `access_token`, only
    /// without `from_headers`).
    pub(super) param: Option<String>,
}

impl JwtAuthn {
    /// A provider verifying tokens with this JWK Set (JSON, e.g. `Signer::jwks(..)`), storing
    /// payloads under `jwt_payload`, with `allow_missing_or_failed`.
    pub fn new(jwks: &serde_json::Value) -> JwtAuthn {
        JwtAuthn {
            jwks: jwks.to_string(),
            issuer: None,
            payload_in_metadata: "jwt_payload".into(),
            requirement: JwtRequirement::AllowMissingOrFailed,
            header: None,
            param: None,
        }
    }

    /// Reads the token from this header (`from_headers`, no prefix) instead of `Authorization`.
    pub fn from_header(mut self, name: &str) -> JwtAuthn {
        self.header = Some(name.to_owned());
        self
    }

    /// Reads the token from this query arg too (`from_params`).
    pub fn from_param(mut self, name: &str) -> JwtAuthn {
        self.param = Some(name.to_owned());
        self
    }

    /// The provider's `issuer` (tokens with another `iss` fail).
    pub fn issuer(mut self, issuer: &str) -> JwtAuthn {
        self.issuer = Some(issuer.to_owned());
        self
    }

    /// The provider's `payload_in_metadata` key (default `jwt_payload`).
    pub fn payload_in_metadata(mut self, key: &str) -> JwtAuthn {
        self.payload_in_metadata = key.to_owned();
        self
    }

    pub fn requirement(mut self, requirement: JwtRequirement) -> JwtAuthn {
        self.requirement = requirement;
        self
    }

    /// The filter's entry in `http_filters` (indented for the HttpConnectionManager).
    pub(super) fn render(&self, out: &mut String) {
        let q = |s: &str| serde_json::Value::String(s.to_owned()).to_string();
        let issuer = match &self.issuer {
            Some(i) => format!("\n                  issuer: {}", q(i)),
            None => String::new(),
        };
        let mut from = match &self.header {
            Some(h) => format!("\n                  from_headers: [ {{ name: {} }} ]", q(h)),
            None => String::new(),
        };
        if let Some(p) = &self.param {
            let _ = write!(from, "\n                  from_params: [ {} ]", q(p));
        }
        let requires = match self.requirement {
            JwtRequirement::Provider => "{ provider_name: idp }",
            JwtRequirement::AllowMissing => {
                "{ requires_any: { requirements: [ { provider_name: idp }, { allow_missing: {} } ] } }"
            }
            JwtRequirement::AllowMissingOrFailed => {
                "{ requires_any: { requirements: [ { provider_name: idp }, { allow_missing_or_failed: {} } ] } }"
            }
        };
        let _ = write!(
            out,
            r#"          - name: envoy.filters.http.jwt_authn
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication
              providers:
                idp:{issuer}{from}
                  forward: true
                  payload_in_metadata: {key}
                  local_jwks: {{ inline_string: {jwks} }}
              rules:
              - match: {{ prefix: "/" }}
                requires: {requires}
"#,
            key = q(&self.payload_in_metadata),
            jwks = q(&self.jwks),
        );
    }
}
