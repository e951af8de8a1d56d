//! A header that must carry a secret on paths under a prefix (seed 003's plugin example).

use crate::config::header_values::name_problem;
use crate::config::json::{error, Obj, Result};
use crate::request::HeaderSource;
use crate::secret::constant_time_eq;

#[derive(Debug, Clone)]
pub struct HeaderSecret {
    /// Compared with the normalised path, so `/x/../admin` is under `/admin`.
    pub path_prefix: String,
    pub header: String,
    secret: String,
}

pub fn parse_all(obj: &Obj) -> Result<Vec<HeaderSecret>> {
    Ok(obj
        .array("header_secrets", |path, v| {
            let h = Obj::new(path, v)?;
            h.deny_unknown(&["path_prefix", "header", "secret"])?;
            let prefix = h.required_string("path_prefix")?;
            // Compared in the form requests are matched in: as written, `/my docs` or `//a`
            // could never match.
            let path_prefix = super::public::path_prefix(prefix)
                .map_err(|problem| error(&h.child_path("path_prefix"), problem))?;
            let header = h
                .non_empty_string("header")?
                .ok_or_else(|| error(&h.child_path("header"), "missing required field"))?;
            // A name no request carries (`X-Admin Secret`) would answer 403 under the prefix
            // whatever is sent, as api_keys.header is refused (found by an audit, 2026-12-07).
            if let Some(problem) = name_problem(header) {
                return Err(error(&h.child_path("header"), problem));
            }
            Ok(HeaderSecret {
                path_prefix,
                header: header.to_ascii_lowercase(),
                secret: h
                    .non_empty_string("secret")?
                    .ok_or_else(|| error(&h.child_path("secret"), "missing required field"))?
                    .to_string(),
            })
        })?
        .unwrap_or_default())
}

/// False when a rule covers the path and its header is absent or wrong.
pub fn all_satisfied(
    secrets: &[HeaderSecret],
    normalized_path: &str,
    headers: &dyn HeaderSource,
) -> bool {
    secrets
        .iter()
        .filter(|s| normalized_path.starts_with(&s.path_prefix))
        .all(|s| {
            headers
                .header(&s.header)
                .is_some_and(|v| constant_time_eq(v.as_bytes(), s.secret.as_bytes()))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A name no request carries as written is refused at its path, as `api_keys.header` is:
    /// accepted, every request under the prefix would be 403 whatever it sent.
    #[test]
    fn a_header_no_request_can_carry_is_refused_with_its_path() {
        let parse = |header: &str| {
            let root = json!({"header_secrets": [
                {"path_prefix": "/admin", "header": header, "secret": "s3cr3t"}]});
            parse_all(&Obj::new("services[0].authentication", &root).unwrap())
        };
        for header in [
            "X-Admin Secret",
            "X-Admin-Secret ",
            "X-Admin-Secret:",
            ":path",
            "X-Sécret",
        ] {
            let e = parse(header).unwrap_err();
            assert_eq!(
                e.path, "services[0].authentication.header_secrets[0].header",
                "{header}"
            );
            assert!(e.message.starts_with("not a header name"), "{e}");
        }
        let ok = parse("X-Admin_Secret.v1").unwrap();
        assert_eq!(ok[0].header, "x-admin_secret.v1");
    }
}
