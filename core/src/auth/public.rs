//! Public access (seed 003's `none`): `authentication.public_paths`, the path prefixes whose
//! requests pass without credentials, in every mode, with no backend call.
//!
//! A prefix ends on a segment boundary: `/health` covers `/health` and `/health/x`, not
//! `/healthz`; `/docs/` covers `/docs/x`, not `/docs`. It is compared with the normalised path
//! (what the mapping rules read; an ambiguous path was refused before), case-sensitively.

use crate::config::json::{error, Obj, Result};
use crate::mapping::normalize_path;
use crate::request::is_ambiguous_path;
use serde_json::Value;

pub fn parse(obj: &Obj) -> Result<Vec<String>> {
    // A plain loop: a generic `Obj::array` instance costs the module more.
    let base = obj.child_path("public_paths");
    let items = match obj.get("public_paths") {
        None => return Ok(Vec::new()),
        Some(Value::Array(items)) => items,
        Some(_) => return Err(error(&base, "expected an array")),
    };
    let mut prefixes = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let prefix = match item.as_str() {
            Some(p) => path_prefix(p),
            None => Err("expected a string"),
        };
        match prefix {
            Ok(prefix) => prefixes.push(prefix),
            Err(problem) => return Err(error(&format!("{base}[{i}]"), problem)),
        }
    }
    Ok(prefixes)
}

/// A configured path prefix (`public_paths`, `header_secrets`) in the form requests are
/// matched in (`//a` is `/a`, `/a%41` is `/aA`, `/my docs` is `/my%20docs`), or why it cannot
/// be one. An ambiguous prefix is refused, as such paths are in requests: normalising it could
/// widen it (`/health/..` is `/`).
pub fn path_prefix(p: &str) -> std::result::Result<String, &'static str> {
    if !p.starts_with('/') {
        Err("must start with /")
    } else if p.bytes().any(|b| b == b'?' || b == b'#') {
        Err("a path prefix has no query or fragment")
    } else if p.contains('*') {
        // A glob read literally would cover nothing (`/admin/*`): no secret required.
        Err("a path prefix is a plain prefix (`/admin/` covers everything under it), not a glob")
    } else if is_ambiguous_path(p) {
        Err("a dot segment, encoded slash, `;` or control byte is never a path prefix")
    } else {
        Ok(normalize_path(p))
    }
}

/// Whether `normalized_path` is under one of the prefixes.
pub fn covers(prefixes: &[String], normalized_path: &str) -> bool {
    prefixes.iter().any(|prefix| {
        normalized_path
            .strip_prefix(prefix.as_str())
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/') || prefix.ends_with('/'))
    })
}

/// The prefix covering every path that starts with `literal` (only `literal` itself, and
/// with a trailing `/`, when `exact`), if any (for configuration errors). `/doc` covers
/// `/doc/x...` and, exactly, `/doc`, but not every path from `/doc` (`/docs-admin`).
pub fn covering_all<'a>(prefixes: &'a [String], literal: &str, exact: bool) -> Option<&'a str> {
    prefixes
        .iter()
        .find(|p| match literal.strip_prefix(p.as_str()) {
            Some("") => exact || p.ends_with('/'),
            Some(rest) => rest.starts_with('/') || p.ends_with('/'),
            None => false,
        })
        .map(String::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(value: Value) -> Result<Vec<String>> {
        let root = serde_json::json!({ "public_paths": value });
        parse(&Obj::new("services[0].authentication", &root)?)
    }

    #[test]
    fn prefixes_end_on_a_segment_boundary() {
        let p = vec![
            "/health".to_string(),
            "/docs/".to_string(),
            "/a/b".to_string(),
        ];
        for path in [
            "/health",
            "/health/",
            "/health/x/y",
            "/docs/",
            "/docs/x",
            "/a/b/c",
        ] {
            assert!(covers(&p, path), "{path}");
        }
        for path in [
            "/healthz",
            "/Health",
            "/HEALTH/x",
            "/docs",
            "/docsx",
            "/a/bc",
            "/",
            "/x/health",
        ] {
            assert!(!covers(&p, path), "{path}");
        }
        assert!(covers(&["/".to_string()], "/anything"));
        assert!(!covers(&[], "/health"));
    }

    #[test]
    fn attack_paths_normalise_before_the_check() {
        let p = vec!["/health".to_string()];
        // Merged slashes and encoded ordinary characters read as the upstream reads them.
        assert!(covers(&p, &normalize_path("//health")));
        assert!(covers(&p, &normalize_path("/%68ealth/x")));
        // Dot segments resolve away from the prefix (such paths are refused earlier anyway).
        assert!(!covers(&p, &normalize_path("/health/../private")));
        assert!(!covers(&p, &normalize_path("/health%2F..%2Fprivate")));
    }

    #[test]
    fn entries_are_validated_with_their_path() {
        // Kept in the form requests are matched in.
        assert_eq!(
            parsed(serde_json::json!([
                "/health", "/docs/", "//a//b", "/%61%20c", "/my docs"
            ]))
            .unwrap(),
            ["/health", "/docs/", "/a/b", "/a%20c", "/my%20docs"]
        );
        let cases = [
            (
                serde_json::json!("/health"),
                "services[0].authentication.public_paths",
                "expected an array",
            ),
            (
                serde_json::json!(["health"]),
                "services[0].authentication.public_paths[0]",
                "must start with /",
            ),
            (
                serde_json::json!(["/a", ""]),
                "services[0].authentication.public_paths[1]",
                "must start with /",
            ),
            (
                serde_json::json!(["/a?x=1"]),
                "services[0].authentication.public_paths[0]",
                "no query",
            ),
            (
                serde_json::json!(["/a#x"]),
                "services[0].authentication.public_paths[0]",
                "no query",
            ),
            (
                serde_json::json!([7]),
                "services[0].authentication.public_paths[0]",
                "expected a string",
            ),
            (
                serde_json::json!(["/ok", "/health/.."]),
                "services[0].authentication.public_paths[1]",
                "dot segment",
            ),
            (
                serde_json::json!(["/a%2Fb"]),
                "services[0].authentication.public_paths[0]",
                "encoded slash",
            ),
            (
                serde_json::json!(["/a;b"]),
                "services[0].authentication.public_paths[0]",
                "`;`",
            ),
        ];
        for (value, path, message) in cases {
            let e = parsed(value.clone()).unwrap_err();
            assert_eq!(e.path, path, "{value}");
            assert!(e.message.contains(message), "{value}: {}", e.message);
        }
    }
}
