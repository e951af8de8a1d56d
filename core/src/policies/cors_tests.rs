//! CORS origin patterns natively: literal or pattern as lua-resty-url reads `allow_origin`,
//! PCRE's unanchored match, and the patterns Tollgate refuses.

use super::cors::{is_literal, search, unsupported};

#[test]
fn allow_origin_literal_or_pattern_as_lua_resty_url_reads_it() {
    for literal in [
        "*",
        "http://example.com",
        "https://api.example.com:8443/x",
        "HTTPS://user@example.com",
        "mailto:someone",
        "https?://(www\\.)?example.com",
    ] {
        assert!(is_literal(literal), "{literal}");
    }
    for pattern in [
        "example.com",
        "localhost",
        "(api|web).test.com",
        "https://(api|web).test.com",
        "http:example.com",
        "",
    ] {
        assert!(!is_literal(pattern), "{pattern}");
    }
}

#[test]
fn origin_patterns_match_as_pcre_does_unanchored() {
    let m = |p: &str, s: &str| search(p.as_bytes(), s.as_bytes());
    let p = "(api|web).test.com";
    assert!(m(p, "http://api.test.com") && m(p, "http://web.test.com"));
    assert!(!m(p, "http://staging.test.com"));
    // Unanchored, and `.` is any byte, as in APIcast.
    assert!(m(p, "http://api.test.com.evil.net") && m(p, "http://webXtestXcom"));
    let anchored = "^https://(www\\.)?example\\.com$";
    assert!(m(anchored, "https://example.com") && m(anchored, "https://www.example.com"));
    for no in [
        "https://www.example.com.evil",
        "http://example.com",
        "https://wwwXexample.com",
        "xhttps://example.com",
    ] {
        assert!(!m(anchored, no), "{no}");
    }
    assert!(m("a|^b", "xa") && m("a|^b", "bx") && !m("a|^b", "xb"));
    assert!(m("((a|b)c|d)$", "xbc") && m("((a|b)c|d)$", "d") && !m("((a|b)c|d)$", "ac!"));
    assert!(m("(?:x|y)z?$", "ax") && m("(?:x|y)z?$", "ayz") && !m("(?:x|y)z?$", "ayzz"));
    assert!(m("", "anything") && m("", ""));
    assert!(m("\\(a\\)", "(a)") && !m("\\(a\\)", "a"));
    // Exponential backtracking gives up (no match) within the step budget.
    let blowup = format!("{}b", "(a|a)".repeat(30));
    let origin = "a".repeat(4000);
    let started = std::time::Instant::now();
    assert!(!m(&blowup, &origin));
    assert!(started.elapsed() < std::time::Duration::from_millis(200));
    assert!(m(&format!("{}b", "(a|a)".repeat(3)), "xaaab"));
}

#[test]
fn unsupported_origin_patterns_are_named() {
    for ok in [
        "(api|web).test.com",
        "^https://(www\\.)?example\\.com$",
        "a|b",
        "(?:x|y)z?",
        "https://example.com/*",
        "*",
        "",
    ] {
        assert_eq!(unsupported(ok), None, "{ok}");
    }
    for (bad, why) in [
        (".*\\.example\\.com", "*, +"),
        // Not an http(s) URL to lua-resty-url: a regex, where `/*` repeats `/`.
        ("https://*.example.com", "*, +"),
        ("a+", "*, +"),
        ("[a-z]", "*, +"),
        ("a{2}", "*, +"),
        ("\\d", "other than punctuation"),
        ("a\\", "other than punctuation"),
        ("(a", "unbalanced ("),
        ("a)", "unbalanced )"),
        ("?a", "? after nothing"),
        ("(?a)", "? after nothing"),
        ("a??", "? after nothing"),
        ("a|?", "? after nothing"),
    ] {
        let e = unsupported(bad).unwrap_or_else(|| panic!("{bad} accepted"));
        assert!(e.contains(why), "{bad}: {e}");
    }
}
