//! OpenID Connect discovery for services loaded from 3scale System, as APIcast's loader does
//! it (reference 3scale-configuration-loading.md §3.9): `proxy.oidc_issuer_endpoint`
//! (`https://client:secret@sso.example.com/auth/realms/api`) names the issuer; its
//! `/.well-known/openid-configuration` names the `issuer` tokens must carry and the
//! `jwks_uri` of its keys. Each host is reached through the Envoy cluster that
//! `system.issuer_clusters` maps it to. Parsing only: the fetches are `jwks_refresh`'s.

use super::jwt::Algorithm;
use crate::base64::{self, Alphabet};
use serde_json::Value;
use std::fmt;

/// Longest URL read from a configuration or a discovery document.
const MAX_URL_BYTES: usize = 4096;

/// An absolute `http`/`https` URL, split as the Envoy call needs it.
#[derive(Clone, PartialEq, Eq)]
pub struct Location {
    /// Lower-cased, without port or brackets: the key into `system.issuer_clusters`.
    pub host: String,
    /// `host[:port]` as written: the call's `:authority`.
    pub authority: String,
    /// Path and query (`/` when empty), without fragment.
    pub path: String,
    /// `Authorization: Basic base64("user:password")` from the URL's userinfo, as APIcast
    /// sends it to the discovery endpoint. A secret: never logged.
    pub authorization: Option<String>,
}

impl fmt::Debug for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Location")
            .field("authority", &self.authority)
            .field("path", &self.path)
            .field(
                "authorization",
                &self.authorization.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

impl Location {
    /// Splits an absolute `http://` or `https://` URL. The error says what is wrong, never
    /// repeating the URL (it may hold credentials).
    pub fn parse(url: &str) -> Result<Location, &'static str> {
        if url.len() > MAX_URL_BYTES {
            return Err("is too long");
        }
        if url.bytes().any(|b| b <= b' ' || b == 0x7f) {
            return Err("contains spaces or control characters");
        }
        let lower = url.get(..8).unwrap_or(url).to_ascii_lowercase();
        let rest = if lower.starts_with("https://") {
            &url[8..]
        } else if lower.starts_with("http://") {
            &url[7..]
        } else {
            return Err("is not an http or https URL");
        };
        let rest = rest.split('#').next().unwrap_or_default();
        let end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, path) = rest.split_at(end);
        // An `@` further on means credentials with a raw `/`, `?` or `#`: what looks like
        // the host would be part of the secret (and logged), so the URL is refused.
        if rest[end..].contains('@') {
            return Err("has an @ after its host (percent-encode the credentials)");
        }
        let (userinfo, authority) = match authority.rsplit_once('@') {
            Some((userinfo, authority)) => (Some(userinfo), authority),
            None => (None, authority),
        };
        let host = match authority.strip_prefix('[') {
            Some(v6) => v6.split_once(']').map(|(h, _)| h).unwrap_or_default(),
            None => authority.split(':').next().unwrap_or_default(),
        };
        if host.is_empty() {
            return Err("has no host");
        }
        let path = match path {
            "" => "/".to_string(),
            p if p.starts_with('?') => format!("/{p}"),
            p => p.to_string(),
        };
        Ok(Location {
            host: host.to_ascii_lowercase(),
            authority: authority.to_string(),
            path,
            authorization: userinfo
                .map(|u| format!("Basic {}", base64::encode(u.as_bytes(), Alphabet::Standard))),
        })
    }

    /// The issuer's discovery document: the path with `/.well-known/openid-configuration`
    /// appended (APIcast joins, so `/auth/realms/api` and `/auth/realms/api/` are the same).
    pub fn discovery(&self) -> Location {
        let base = self.path.split('?').next().unwrap_or_default();
        Location {
            path: format!(
                "{}/.well-known/openid-configuration",
                base.trim_end_matches('/')
            ),
            ..self.clone()
        }
    }
}

/// What a discovery document says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Discovered {
    /// The `iss` every token must carry (the discovered one, as APIcast checks it).
    pub issuer: String,
    pub jwks: Location,
    /// `id_token_signing_alg_values_supported`, those Tollgate verifies ([`Algorithm::bit`]
    /// each): the only `alg`s accepted, as in APIcast (which refuses every token without the
    /// list).
    pub algs: u8,
}

/// Reads a discovery document: `issuer`, `jwks_uri` and a non-empty
/// `id_token_signing_alg_values_supported` are required (the keys are fetched without
/// credentials, as APIcast does).
pub fn parse_discovery(body: &[u8]) -> Result<Discovered, String> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| format!("discovery document: invalid JSON: {e}"))?;
    let field = |name: &str| match value.get(name) {
        Some(Value::String(s)) if !s.is_empty() => Ok(s.as_str()),
        _ => Err(format!(
            "discovery document: {name}: expected a non-empty string"
        )),
    };
    let issuer = field("issuer")?;
    let mut jwks = Location::parse(field("jwks_uri")?)
        .map_err(|problem| format!("discovery document: jwks_uri {problem}"))?;
    jwks.authorization = None;
    let algs = match value.get("id_token_signing_alg_values_supported") {
        Some(Value::Array(names)) if !names.is_empty() => names
            .iter()
            .filter_map(|name| Algorithm::from_name(name.as_str()?))
            .fold(0, |algs, alg| algs | alg.bit()),
        _ => return Err(
            "discovery document: id_token_signing_alg_values_supported: expected a non-empty array"
                .to_string(),
        ),
    };
    Ok(Discovered {
        issuer: issuer.to_string(),
        jwks,
        algs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_issuer_endpoint_splits_into_cluster_key_authority_path_and_basic_credentials() {
        let l = Location::parse("https://zync:s3cr3t@SSO.example.com/auth/realms/api").unwrap();
        assert_eq!(l.host, "sso.example.com");
        assert_eq!(l.authority, "SSO.example.com");
        assert_eq!(l.path, "/auth/realms/api");
        assert_eq!(l.authorization.as_deref(), Some("Basic enluYzpzM2NyM3Q="));
        let d = l.discovery();
        assert_eq!(d.path, "/auth/realms/api/.well-known/openid-configuration");
        assert_eq!(d.authorization, l.authorization);
        assert!(
            !format!("{l:?}").contains("enlu"),
            "credentials stay out of Debug"
        );

        let l = Location::parse("http://[::1]:8080/realm/?x=1#frag").unwrap();
        assert_eq!(
            (l.host.as_str(), l.authority.as_str()),
            ("::1", "[::1]:8080")
        );
        assert_eq!(l.path, "/realm/?x=1");
        assert_eq!(
            l.discovery().path,
            "/realm/.well-known/openid-configuration"
        );
        assert_eq!(l.authorization, None);

        let l = Location::parse("http://idp:9000").unwrap();
        assert_eq!((l.host.as_str(), l.path.as_str()), ("idp", "/"));
        assert_eq!(l.discovery().path, "/.well-known/openid-configuration");
        assert_eq!(Location::parse("http://idp?a").unwrap().path, "/?a");
    }

    #[test]
    fn what_is_not_an_http_url_is_refused_without_echoing_it() {
        for (url, problem) in [
            ("ftp://idp/x", "is not an http or https URL"),
            ("sso.example.com/auth", "is not an http or https URL"),
            ("https://user:pw@/x", "has no host"),
            ("https://", "has no host"),
            ("https://:443/x", "has no host"),
            ("https://idp/a b", "contains spaces or control characters"),
            (
                "https://idp/\u{7f}",
                "contains spaces or control characters",
            ),
            ("", "is not an http or https URL"),
            ("é", "is not an http or https URL"),
            (
                "https://abc/def@sso/x",
                "has an @ after its host (percent-encode the credentials)",
            ),
            (
                "https://u:p?w@sso/x",
                "has an @ after its host (percent-encode the credentials)",
            ),
        ] {
            assert_eq!(Location::parse(url), Err(problem), "{url}");
        }
        assert_eq!(
            Location::parse(&format!("https://idp/{}", "a".repeat(MAX_URL_BYTES))),
            Err("is too long")
        );
    }

    #[test]
    fn a_discovery_document_needs_issuer_jwks_uri_and_signing_algorithms() {
        let d = parse_discovery(
            br#"{"issuer":"https://sso/auth/realms/api","jwks_uri":"https://u:p@sso:8443/certs",
                "id_token_signing_alg_values_supported":["PS384","RS256",7,"none","ES256","rs256"]}"#,
        )
        .unwrap();
        assert_eq!(d.issuer, "https://sso/auth/realms/api");
        assert_eq!(
            d.algs,
            Algorithm::RS256.bit() | Algorithm::ES256.bit(),
            "those Tollgate verifies"
        );
        assert_eq!(
            (d.jwks.host.as_str(), d.jwks.path.as_str()),
            ("sso", "/certs")
        );
        assert_eq!(
            d.jwks.authorization, None,
            "keys are fetched without credentials"
        );
        for (body, problem) in [
            (&b"<html>"[..], "invalid JSON"),
            (br#"{"jwks_uri":"https://sso/certs"}"#, "issuer: expected"),
            (
                br#"{"issuer":"","jwks_uri":"https://sso/certs"}"#,
                "issuer: expected",
            ),
            (br#"{"issuer":"i"}"#, "jwks_uri: expected"),
            (br#"{"issuer":"i","jwks_uri":7}"#, "jwks_uri: expected"),
            (
                br#"{"issuer":"i","jwks_uri":"/certs"}"#,
                "jwks_uri is not an http",
            ),
            (br#"[]"#, "issuer: expected"),
            // APIcast: "missing OIDC configuration", every token refused.
            (
                br#"{"issuer":"i","jwks_uri":"https://sso/certs"}"#,
                "id_token_signing_alg_values_supported: expected a non-empty array",
            ),
            (
                br#"{"issuer":"i","jwks_uri":"https://sso/certs","id_token_signing_alg_values_supported":[]}"#,
                "id_token_signing_alg_values_supported: expected",
            ),
            (
                br#"{"issuer":"i","jwks_uri":"https://sso/certs","id_token_signing_alg_values_supported":"RS256"}"#,
                "id_token_signing_alg_values_supported: expected",
            ),
        ] {
            let e = parse_discovery(body).unwrap_err();
            assert!(e.contains(problem), "{e}");
        }
    }
}
