//! A header that must carry a secret on paths under a prefix (seed 003's plugin example).

use crate::config::json::{error, Obj, Result};
use crate::mapping::normalize_path;
use crate::request::is_ambiguous_path;
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
            let problem = if !prefix.starts_with('/') {
                Some("must start with /")
            } else if prefix.bytes().any(|b| b == b'?' || b == b'#') {
                Some("a path prefix has no query or fragment")
            } else if is_ambiguous_path(prefix) {
                Some("a dot segment, encoded slash, `;` or control byte cannot match a path")
            } else {
                None
            };
            if let Some(problem) = problem {
                return Err(error(&h.child_path("path_prefix"), problem));
            }
            Ok(HeaderSecret {
                // Compared in the form requests are matched in (`/my docs` is `/my%20docs`,
                // `//a` is `/a`): as written, some prefixes could never match.
                path_prefix: normalize_path(prefix),
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
