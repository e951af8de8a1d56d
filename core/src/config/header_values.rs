//! Configured strings that Tollgate sends in a header value, `:authority` or `:path`: one
//! check for each, so every such field is refused at configuration alike, with its path
//! (found by an audit, 2026-12-06: an error reply's Content-Type, the secret token, the
//! service's name and the upstream host went out unchecked). Envoy passes a CR or LF on to an
//! HTTP/1 peer, where it starts another header, and resets the stream on other control bytes.

use super::json::{error, Obj, Result};

/// Why `value` cannot be a header value: a control byte other than tab (RFC 9110's
/// `field-value`, the bytes Envoy's validator refuses). Non-ASCII text is allowed.
pub fn value_problem(value: &str) -> Option<&'static str> {
    let control = |b: u8| (b < 0x20 && b != b'\t') || b == 0x7f;
    value
        .bytes()
        .any(control)
        .then_some("has CR, LF, NUL or another control character")
}

/// Why `name` cannot be a header name: empty, or a byte outside an RFC 9110 token (letters,
/// digits and ``!#$%&'*+-.^_`|~``); such a name is never on a request as written, so a check
/// of it could never pass (or never apply).
pub fn name_problem(name: &str) -> Option<&'static str> {
    let token = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
    (name.is_empty() || !name.bytes().all(token))
        .then_some("not a header name (RFC 9110 token: letters, digits and !#$%&'*+-.^_`|~)")
}

/// Why `host` cannot be an `:authority`: a byte outside RFC 3986's `authority` (letters,
/// digits, `-._~!$&'()*+,;=:@[]%`), as Envoy checks a client's.
pub fn authority_problem(host: &str) -> Option<&'static str> {
    let allowed = |b: u8| b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@[]%".contains(&b);
    (!host.bytes().all(allowed))
        .then_some("not a host[:port]: only letters, digits and -._~!$&'()*+,;=:@[]% can be sent as :authority")
}

/// Why `path` cannot go into a `:path`: a space or a control byte (never in a URL).
pub fn path_problem(path: &str) -> Option<&'static str> {
    path.bytes()
        .any(|b| b <= b' ' || b == 0x7f)
        .then_some("has a space or a control character, which no URL path holds")
}

/// The string at `key` (absent or null: `None`), refused with its path when it cannot be a
/// header value.
pub fn header_value<'a>(o: &Obj<'a>, key: &str) -> Result<Option<&'a str>> {
    let value = o.string(key)?;
    match value.and_then(value_problem) {
        Some(why) => Err(error(&o.child_path(key), why)),
        None => Ok(value),
    }
}

/// Refuses `value` at `path` when `problem` finds one.
pub fn check(path: &str, value: &str, problem: fn(&str) -> Option<&'static str>) -> Result<()> {
    match problem(value) {
        Some(why) => Err(error(path, why)),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_values_refuse_control_bytes_but_tab() {
        for bad in ["a\r\nX-Evil: 1", "a\n", "a\0", "\x01", "a\x7f", "\x1b[0m"] {
            assert!(value_problem(bad).is_some(), "{bad:?}");
        }
        for good in [
            "",
            "text/html; charset=utf-8",
            "a\tb",
            "Ünïcode name",
            "a b",
        ] {
            assert_eq!(value_problem(good), None, "{good:?}");
        }
    }

    #[test]
    fn authorities_are_rfc3986_authorities() {
        for bad in [
            "a b",
            "a\r\nx: y",
            "a/b",
            "a?b",
            "a#b",
            "a\\b",
            "ä.example",
            "a\"b",
        ] {
            assert!(authority_problem(bad).is_some(), "{bad:?}");
        }
        for good in [
            "api.example.com",
            "api:8080",
            "[::1]:443",
            "xn--bcher-kva.example",
        ] {
            assert_eq!(authority_problem(good), None, "{good:?}");
        }
    }

    #[test]
    fn paths_refuse_spaces_and_control_bytes() {
        for bad in ["/a b", "/a\r\n", "/a\0", "/a\t"] {
            assert!(path_problem(bad).is_some(), "{bad:?}");
        }
        assert_eq!(path_problem("/v1/%20x;a=b"), None);
    }
}
