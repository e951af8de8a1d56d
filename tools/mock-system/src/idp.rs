//! A mock OpenID Connect issuer, served next to the System API with Keycloak's paths (as
//! 3scale's zync configures it, reference 3scale-configuration-loading.md §3.9 and §6):
//! `/auth/realms/{realm}/.well-known/openid-configuration` (Basic client credentials
//! required when the realm has them) and its `jwks_uri`. The issuer and URLs are built from
//! the request's Host, so a test names the issuer host it maps to a cluster.

use std::collections::BTreeMap;

use serde_json::{json, Value};
use tollgate_core::base64::{self, Alphabet};

use crate::api::Response;

const PREFIX: &str = "/auth/realms/";
const DISCOVERY: &str = ".well-known/openid-configuration";
const CERTS: &str = "protocol/openid-connect/certs";

/// One realm: its keys, and the `client:secret` its discovery endpoint requires (if any).
#[derive(Debug, Clone, PartialEq)]
pub struct Realm {
    pub jwks: Value,
    pub credentials: Option<String>,
}

/// The realms the mock serves, by name.
pub type Realms = BTreeMap<String, Realm>;

/// `https://{host}/auth/realms/{realm}`: the issuer a realm's tokens carry.
pub fn issuer(host: &str, realm: &str) -> String {
    format!("https://{host}{PREFIX}{realm}")
}

/// Answers an issuer request; `None` when the path is not an issuer's.
pub fn handle(
    realms: &Realms,
    host: &str,
    path: &str,
    authorization: Option<&str>,
) -> Option<Response> {
    let (name, rest) = path.strip_prefix(PREFIX)?.split_once('/')?;
    let Some(realm) = realms.get(name) else {
        return Some(Response::json(
            404,
            &json!({"error": "Realm does not exist"}),
        ));
    };
    match rest {
        DISCOVERY => {
            let expected = realm
                .credentials
                .as_ref()
                .map(|c| format!("Basic {}", base64::encode(c.as_bytes(), Alphabet::Standard)));
            if expected.is_some() && expected.as_deref() != authorization {
                return Some(Response::json(
                    401,
                    &json!({"error": "unauthorized_client"}),
                ));
            }
            let issuer = issuer(host, name);
            Some(Response::json(
                200,
                &json!({
                    "issuer": issuer,
                    "jwks_uri": format!("{issuer}/{CERTS}"),
                    "token_endpoint": format!("{issuer}/protocol/openid-connect/token"),
                    "id_token_signing_alg_values_supported": ["RS256", "ES256"]
                }),
            ))
        }
        CERTS => Some(Response::json(200, &realm.jwks)),
        _ => Some(Response::json(
            404,
            &json!({"error": "Unable to find matching target resource method"}),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discovery_needs_the_client_credentials_and_names_the_keys() {
        let mut realms = Realms::new();
        realms.insert(
            "api".into(),
            Realm {
                jwks: json!({"keys": []}),
                credentials: Some("zync:s3cr3t".into()),
            },
        );
        let path = "/auth/realms/api/.well-known/openid-configuration";
        let r = handle(&realms, "sso.example.com", path, None).unwrap();
        assert_eq!(r.status, 401);
        let r = handle(
            &realms,
            "sso.example.com",
            path,
            Some("Basic enluYzpzM2NyM3Q="),
        )
        .unwrap();
        assert_eq!(r.status, 200);
        let doc: Value = serde_json::from_str(&r.body).unwrap();
        assert_eq!(doc["issuer"], "https://sso.example.com/auth/realms/api");
        assert_eq!(
            doc["jwks_uri"],
            "https://sso.example.com/auth/realms/api/protocol/openid-connect/certs"
        );
        let certs = "/auth/realms/api/protocol/openid-connect/certs";
        assert_eq!(
            handle(&realms, "h", certs, None).unwrap().body,
            r#"{"keys":[]}"#
        );
        assert_eq!(
            handle(&realms, "h", "/auth/realms/x/y", None)
                .unwrap()
                .status,
            404
        );
        assert_eq!(handle(&realms, "h", "/admin/api/services.json", None), None);
    }
}
