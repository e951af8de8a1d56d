//! A backend answer read from its headers as the host hands them over (value bytes, not
//! always UTF-8): the adapter only fetches the header map and finds a name's first value.
//! What the values mean (a status, the limits, apisonator's content type) is read here,
//! natively tested and fuzzed (`answer_headers`).

use super::answer::is_backend_content_type;
use super::protocol::{
    LIMIT_MAX_VALUE_HEADER, LIMIT_REMAINING_HEADER, LIMIT_RESET_HEADER, REJECTION_REASON_HEADER,
};
use super::BackendAnswer;

/// The answer whose headers `first` gives (the first value of a name, in any case, as
/// Envoy's `get_header` gives it), invalid UTF-8 repaired. A header map without `:status`
/// reads as no answer (`status: None`): Envoy's reset or connection failure.
pub fn read_answer<'a>(first: &dyn Fn(&str) -> Option<&'a [u8]>) -> BackendAnswer {
    let text = |name: &str| first(name).map(|v| String::from_utf8_lossy(v).into_owned());
    BackendAnswer {
        status: first(":status").and_then(status_code),
        rejection_reason: text(REJECTION_REASON_HEADER),
        limit_reset: text(LIMIT_RESET_HEADER),
        limit_max_value: text(LIMIT_MAX_VALUE_HEADER),
        limit_remaining: text(LIMIT_REMAINING_HEADER),
        foreign: !text("content-type").is_some_and(|ct| is_backend_content_type(&ct)),
    }
}

/// A `:status` value's code (`None`: not a decimal number that fits a `u16`).
pub fn status_code(value: &[u8]) -> Option<u16> {
    std::str::from_utf8(value).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::answer::BACKEND_CONTENT_TYPE;
    use crate::backend::Decision;

    /// The answer of these headers, each name's first value read in any case (as Envoy's
    /// `get_header` and the adapter's `HeaderMap` read them).
    fn read(pairs: &[(&str, &[u8])]) -> BackendAnswer {
        read_answer(&|name| {
            (pairs.iter())
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| *v)
        })
    }

    #[test]
    fn an_answer_reads_its_status_reason_limits_and_content_type() {
        let answer = read(&[
            (":status", b"409"),
            ("content-type", BACKEND_CONTENT_TYPE.as_bytes()),
            ("3scale-rejection-reason", b"limits_exceeded"),
            ("3scale-limit-reset", b"30"),
            ("3scale-limit-max-value", b"10"),
            ("3scale-limit-remaining", b"0"),
        ]);
        assert_eq!(
            answer,
            BackendAnswer {
                status: Some(409),
                rejection_reason: Some("limits_exceeded".into()),
                limit_reset: Some("30".into()),
                limit_max_value: Some("10".into()),
                limit_remaining: Some("0".into()),
                foreign: false,
            }
        );
        assert_eq!(
            answer.decision(),
            Decision::LimitsExceeded {
                retry_after: Some(30)
            }
        );
    }

    #[test]
    fn the_value_the_lookup_finds_first_counts() {
        let ct = BACKEND_CONTENT_TYPE.as_bytes();
        let answer = read(&[
            (":status", b"200"),
            (":status", b"403"),
            ("3Scale-Limit-Remaining", b"5"),
            ("3scale-limit-remaining", b"-1"),
            ("Content-Type", ct),
            ("content-type", b"text/html"),
        ]);
        assert_eq!(answer.status, Some(200));
        assert_eq!(answer.limit_remaining.as_deref(), Some("5"));
        assert!(!answer.foreign);
        // An unreadable first status is no status, whatever follows.
        assert_eq!(
            read(&[(":status", b"2OO"), (":status", b"200")]).status,
            None
        );
    }

    #[test]
    fn no_headers_or_another_servers_answer_authorizes_nothing() {
        let none = read(&[]);
        assert_eq!(
            none,
            BackendAnswer {
                foreign: true,
                ..Default::default()
            }
        );
        assert_ne!(none.decision(), Decision::Authorized);
        let proxy = read(&[(":status", b"200"), ("content-type", b"text/html")]);
        assert!(proxy.foreign);
        assert_ne!(proxy.decision(), Decision::Authorized);
        // Not UTF-8: repaired, never a panic; the limit reads as text the backend never sent.
        let odd = read(&[(":status", b"\xff200"), ("3scale-limit-reset", b"\xff1")]);
        assert_eq!(odd.status, None);
        assert_eq!(odd.limit_reset.as_deref(), Some("\u{fffd}1"));
    }

    #[test]
    fn a_status_is_a_decimal_u16() {
        assert_eq!(status_code(b"200"), Some(200));
        assert_eq!(status_code(b"65535"), Some(65535));
        for bad in [&b""[..], b"65536", b"-1", b" 200", b"200 ", b"2e2", b"\xc8"] {
            assert_eq!(status_code(bad), None, "{bad:?}");
        }
    }
}
