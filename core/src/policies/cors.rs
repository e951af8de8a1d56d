//! The `cors` policy (reference apicast-policies.md §3.5), as APIcast's `cors.lua` does it:
//! which request is a preflight, the `Access-Control-*` headers of a response, and
//! `allow_origin`: a literal, or a regular expression matched (unanchored) against `Origin`.
//!
//! Tollgate has no regex engine: it matches the part of the syntax origin patterns use
//! (literals, `.`, `\` escapes, `^`, `$`, `|` and `( )` groups, `?`), and the configuration
//! refuses any other pattern. A search tries at most [`STEPS`] items, whatever the pattern and
//! whatever `Origin` the client sends.

use super::HeaderOp;
use crate::config::policies::configs::{Cors, EditOp};
use std::cell::Cell;

/// The request headers the policy reads: `Origin`, `Access-Control-Request-Method`, and
/// `Access-Control-Request-Headers`.
pub const REQUEST_HEADERS: [&str; 3] = [
    "origin",
    "access-control-request-method",
    "access-control-request-headers",
];

/// A preflight: `OPTIONS` with `Origin` and `Access-Control-Request-Method`.
pub fn is_preflight(method: &str, request: &[Option<String>; 3]) -> bool {
    method == "OPTIONS" && request[0].is_some() && request[1].is_some()
}

/// The headers a response to a request with `Origin` gets (none without one). A header
/// whose value is unset (no configured value and none in the request) is removed, as
/// `ngx.header[name] = nil` does; `Access-Control-Allow-Origin` is left alone when the
/// pattern does not match.
pub fn response_headers(c: &Cors, request: &[Option<String>; 3], out: &mut Vec<HeaderOp>) {
    let [Some(origin), method, headers] = request else {
        return;
    };
    let listed = |l: &Option<Vec<String>>, asked: &Option<String>| match l {
        Some(l) => Some(l.join(", ")),
        None => asked.clone(),
    };
    let mut put = |name: &str, value: Option<String>| {
        let value = value.filter(|v| !v.is_empty());
        let op = if value.is_some() {
            EditOp::Set
        } else {
            EditOp::Delete
        };
        out.push((op, name.to_string(), value.unwrap_or_default()));
    };
    put(
        "access-control-allow-headers",
        listed(&c.allow_headers, headers),
    );
    put(
        "access-control-allow-methods",
        listed(&c.allow_methods, method),
    );
    if let Some(allowed) = allow_origin(c.allow_origin.as_deref(), origin) {
        put("access-control-allow-origin", Some(allowed.to_string()));
    }
    put(
        "access-control-allow-credentials",
        Some(c.allow_credentials.to_string()),
    );
    put("access-control-max-age", Some(c.max_age.to_string()));
}

/// `Access-Control-Allow-Origin`: the request's origin when unset or when the pattern
/// matches it, the configured value when it is a literal, none when the pattern fails.
fn allow_origin<'a>(allow: Option<&'a str>, origin: &'a str) -> Option<&'a str> {
    match allow {
        None => Some(origin),
        Some(v) if is_literal(v) => Some(v),
        Some(pattern) => search(pattern.as_bytes(), origin.as_bytes()).then_some(origin),
    }
}

/// What lua-resty-url 0.3's `split` accepts (APIcast sends that value as it is): `*`, and a
/// value with a scheme that is an `http(s)://host...` URL or another scheme's opaque form.
/// Anything else, such as `example.com` or `(api|web).test.com`, is a regex.
pub fn is_literal(v: &str) -> bool {
    let Some((scheme, rest)) = v.split_once(':') else {
        return v == "*";
    };
    let http = scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https");
    let host = |s: &str| {
        s.bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric() || b"._-[".contains(&b))
    };
    let absolute = rest.strip_prefix("//").is_some_and(|authority| {
        host(authority) || authority.split_once('@').is_some_and(|(_, h)| host(h))
    });
    !http || absolute
}

/// Longest pattern and deepest nesting of groups accepted. The search recurses once per item
/// matched and per group entered: deep or long patterns overflowed the Wasm stack (in Node's
/// V8 at 2,700 nested groups or 4,000 matched items), a trap for every request on the worker
/// (found by an audit, 2026-12-07). The bounds are `url_rewriting`'s (`crate::regex`).
const MAX_PATTERN_BYTES: usize = crate::regex::MAX_PATTERN_BYTES;
const MAX_GROUP_DEPTH: usize = 32;

/// Checks an `allow_origin` pattern Tollgate must match: `None` when it can.
pub fn unsupported(pattern: &str) -> Option<&'static str> {
    if is_literal(pattern) {
        return None;
    }
    if pattern.len() > MAX_PATTERN_BYTES {
        return Some("a regex longer than 1024 bytes");
    }
    let p = pattern.as_bytes();
    let mut depth = 0usize;
    // Whether the previous item can take a `?` (an atom or a group).
    let mut atom = false;
    let mut i = 0;
    while let Some(&b) = p.get(i) {
        atom = match b {
            b'*' | b'+' | b'{' | b'}' | b'[' | b']' => {
                return Some("a regex with *, +, {} or []: Tollgate matches literals, ., \\ escapes, ^, $, (a|b) and ?")
            }
            b'\\' => {
                i += 1;
                if !p.get(i).is_some_and(|c| c.is_ascii_punctuation()) {
                    return Some("a regex escaping other than punctuation");
                }
                true
            }
            b'?' if !atom => return Some("a regex with ? after nothing"),
            b'(' if depth == MAX_GROUP_DEPTH => {
                return Some("a regex with groups nested deeper than 32")
            }
            b'(' => {
                depth += 1;
                if p[i + 1..].starts_with(b"?:") {
                    i += 2;
                }
                false
            }
            b')' if depth == 0 => return Some("a regex with an unbalanced )"),
            b')' => {
                depth -= 1;
                true
            }
            b'?' | b'|' | b'^' | b'$' => false,
            _ => true,
        };
        i += 1;
    }
    (depth != 0).then_some("a regex with an unbalanced (")
}

/// Items a search may try before it gives up: the origin then does not match. Backtracking
/// over `?` and `( | )` could otherwise take time exponential in the pattern.
const STEPS: u32 = 20_000;

/// PCRE's unanchored search of a checked pattern ([`unsupported`]) in `s`.
pub fn search(pattern: &[u8], s: &[u8]) -> bool {
    let m = Matcher {
        len: s.len(),
        steps: Cell::new(STEPS),
    };
    (0..=s.len()).any(|i| m.seq(pattern, &s[i..], &|_| true))
}

/// A backtracking matcher in continuation-passing style: each step hands what is left of
/// the subject to the rest of the pattern.
struct Matcher {
    /// The subject's length: `^` matches where this much is left.
    len: usize,
    /// Items left to try.
    steps: Cell<u32>,
}

type Then<'a> = &'a dyn Fn(&[u8]) -> bool;

impl Matcher {
    /// Matches the alternatives of `p` at the start of `s`, each followed by `then`.
    fn seq(&self, p: &[u8], s: &[u8], then: Then) -> bool {
        let mut depth = 0usize;
        let mut start = 0;
        let mut i = 0;
        while let Some(&b) = p.get(i) {
            match b {
                b'\\' => i += 1,
                b'(' => depth += 1,
                b')' => depth = depth.saturating_sub(1),
                b'|' if depth == 0 => {
                    if self.concat(&p[start..i], s, then) {
                        return true;
                    }
                    start = i + 1;
                }
                _ => {}
            }
            i += 1;
        }
        self.concat(&p[start..], s, then)
    }

    /// Matches a sequence without top-level `|`.
    fn concat(&self, p: &[u8], s: &[u8], then: Then) -> bool {
        let Some(&first) = p.first() else {
            return then(s);
        };
        // The first item: one byte, an escape, or a group up to its `)`.
        let end = match first {
            b'\\' => 2,
            b'(' => {
                let mut depth = 0usize;
                let mut i = 0;
                while let Some(&b) = p.get(i) {
                    match b {
                        b'\\' => i += 1,
                        b'(' => depth += 1,
                        b')' if depth == 1 => break,
                        b')' => depth -= 1,
                        _ => {}
                    }
                    i += 1;
                }
                i + 1
            }
            _ => 1,
        };
        let item = p.get(..end).unwrap_or(p);
        let (optional, rest) = match p.get(end) {
            Some(b'?') => (true, &p[end + 1..]),
            _ => (false, p.get(end..).unwrap_or_default()),
        };
        let next = |s: &[u8]| self.concat(rest, s, then);
        self.item(item, s, &next) || (optional && next(s))
    }

    fn item(&self, item: &[u8], s: &[u8], then: Then) -> bool {
        let Some(left) = self.steps.get().checked_sub(1) else {
            return false;
        };
        self.steps.set(left);
        let one = |ok: bool| ok && then(&s[1..]);
        match item {
            [b'(', inner @ .., b')'] => {
                self.seq(inner.strip_prefix(b"?:").unwrap_or(inner), s, then)
            }
            [b'^'] => s.len() == self.len && then(s),
            [b'$'] => s.is_empty() && then(s),
            [b'.'] => one(!s.is_empty()),
            [b'\\', c] | [c] => one(s.first() == Some(c)),
            _ => false,
        }
    }
}
