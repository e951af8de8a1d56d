//! A header that must carry a secret on paths under a prefix (seed 003's plugin example).

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
            Ok(HeaderSecret {
                path_prefix,
                header: h
                    .non_empty_string("header")?
                    .ok_or_else(|| error(&h.child_path("header"), "missing required field"))?
                    .to_ascii_lowercase(),
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
