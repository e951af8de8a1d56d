//! Mapping-rule patterns no request path can match: the rules read a path decoded once, dot
//! segments resolved, and re-escaped as nginx escapes it ([`super::normalize_path`]), so some
//! literal text never appears in it, and a rule holding it never matches.

use super::path::needs_escape;
use super::pattern::{strip_query, tokenize, Token};

/// Why no request path can match this pattern, if so: the rules read a path decoded
/// once and re-escaped as nginx escapes it (space, `#`, `%`, `?`, control and non-ASCII
/// bytes as upper-case `%XX`, every other byte as itself), so a literal `é`, space or `#`,
/// a lower-case escape and an escape of any other byte (`%7E`, `%2F`) are never in it.
/// Such a rule never matched, and its metric, limits and roles were dropped (APIcast's
/// never matches either; found by an audit, 2026-12-07). A `%` ending a literal piece is
/// left alone: a placeholder or the rest of the path may complete it. Nor is a `.` or `..`
/// segment in it (`/a/../b`): it was dropped the same way (an audit, 2026-12-07).
#[inline(never)]
pub fn unmatchable(pattern: &str) -> Option<&'static str> {
    let path = strip_query(pattern);
    let anchored = path.ends_with('$');
    let path = path.strip_suffix('$').unwrap_or(path);
    if has_dot_segment(path, anchored) {
        return Some("a `.` or `..` segment is never in a path the rules read (they resolve them): the rule would never match, dropping its metric, limits and roles");
    }
    let hex = |b: u8| match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    };
    for token in tokenize(path.as_bytes()) {
        let Token::Literal(literal) = token else {
            continue;
        };
        for (i, &b) in literal.iter().enumerate() {
            let (high, low) = match (b, literal.get(i + 1), literal.get(i + 2)) {
                (b'%', Some(&h), Some(&l)) => (hex(h), hex(l)),
                (0x00..=0x20 | b'#' | 0x7f..=0xff, _, _) => {
                    return Some("a space, `#` or non-ASCII character is never in a path the rules read (they escape it as upper-case `%XX`): the rule would never match, dropping its metric, limits and roles")
                }
                _ => continue,
            };
            match (high, low) {
                (Some(h), Some(l)) if needs_escape(h << 4 | l) => {}
                _ => return Some("this `%` escape is never in a path the rules read (they decode it, then escape only space, `#`, `%`, control and non-ASCII bytes, in upper case): the rule would never match, dropping its metric, limits and roles"),
            }
        }
    }
    None
}

/// Whether a segment of the pattern is all literal `.` or `..`, followed by a `/` or, with
/// `$`, ending the pattern. A last segment without `$` is a prefix: `/a/.` matches `/a/.env`.
/// (An escaped dot, `%2E`, is refused as an escape the rules decode.)
fn has_dot_segment(path: &str, anchored: bool) -> bool {
    // How many dots the segment so far is made of; `None`: anything else.
    let mut dots = Some(0u8);
    for token in tokenize(path.as_bytes()) {
        let Token::Literal(literal) = token else {
            dots = None;
            continue;
        };
        for &b in &literal {
            dots = match (b, dots) {
                (b'/', Some(1 | 2)) => return true,
                (b'/', _) => Some(0),
                (b'.', Some(n)) if n < 2 => Some(n + 1),
                _ => None,
            };
        }
    }
    anchored && matches!(dots, Some(1 | 2))
}

#[cfg(test)]
mod tests {
    use super::unmatchable;
    use crate::mapping::{normalize_path, PathPattern};

    fn matches(pattern: &str, path: &str) -> bool {
        PathPattern::compile(pattern).matches(path)
    }

    /// The pattern's path as a request would spell it.
    fn strip(pattern: &str) -> &str {
        let path = pattern.split('?').next().unwrap_or(pattern);
        path.strip_suffix('$').unwrap_or(path)
    }

    /// A pattern whose literal text no path the rules read holds (an audit, 2026-12-07).
    #[test]
    fn patterns_no_read_path_holds_are_found() {
        for pattern in [
            "/caf\u{e9}",
            "/a b",
            "/a#b",
            "/caf%c3%a9",
            "/%7Euser",
            "/a%2Fb",
            "/%61dmin",
            "/{id}/caf%c3",
            "/x%zz",
            "/a%2f$",
        ] {
            assert!(unmatchable(pattern).is_some(), "{pattern}");
        }
        for pattern in [
            "/caf%C3%A9",
            "/foo%20/bar/",
            "/a%25b",
            "/a%23b$",
            "/a%",
            "/a%2",
            "/a%{x}",
            "/{a b}/c",
            "/x?q=a b",
            "/~user/{id}.json",
        ] {
            assert_eq!(unmatchable(pattern), None, "{pattern}");
        }
        // Dot segments: nginx and Envoy resolve them (`%2E` too, refused above as an escape).
        for pattern in [
            "/a/./b",
            "/a/../b",
            "/./x",
            "/../x",
            "/a/.$",
            "/a/..$",
            "/a/./",
            "/{id}/../admin",
            "/a/./{id}",
            "/a/.//b",
            "/a/./b?x=1",
            "/a/%2E/b",
            "/a/%2e%2e/b",
        ] {
            assert!(unmatchable(pattern).is_some(), "{pattern}");
            assert!(
                !matches(pattern, &normalize_path(strip(pattern))),
                "{pattern}"
            );
        }
        for pattern in [
            "/a/.",
            "/a/..",
            "/.",
            "/a/.env",
            "/a/...",
            "/a/..b/c",
            "/a./b",
            "/{id}./x",
            "/.{ext}/x",
            "/a/{x}..$",
            "/a?x=/./",
        ] {
            assert_eq!(unmatchable(pattern), None, "{pattern}");
        }
        // A last segment without `$` is a prefix: `/a/.` matches `/a/.env`, as in APIcast.
        assert!(matches("/a/.", "/a/.env"));
        assert!(matches("/a/..", "/a/..b"));
        // What it says it finds never matches, and what it leaves does.
        let path = normalize_path("/caf%c3%a9");
        assert!(!matches("/caf%c3%a9", &path));
        assert!(matches("/caf%C3%A9", &path));
        assert!(!matches("/%7Euser", &normalize_path("/%7Euser")));
    }
}
