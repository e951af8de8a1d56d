//! The CORS policy's `allow_origin` matcher (`policies::cors::search`), run on every request
//! with an `Origin` header: a backtracking matcher of the regex subset `unsupported` lets
//! through (literals, `.`, `\` escapes of punctuation, `^`, `$`, groups, `|`, `?`). Any
//! pattern and origin: never a panic; and on short ASCII inputs (where the step budget cannot
//! run out) the verdict is regex-lite's, an independent engine, on the same pattern.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tollgate_core::policies::cors::{is_literal, search, unsupported};

fuzz_target!(|data: &[u8]| {
    // The pattern, a newline, the origin.
    let split = data.iter().position(|&b| b == b'\n').unwrap_or(data.len());
    let (pattern, origin) = (&data[..split], data.get(split + 1..).unwrap_or_default());
    let Ok(pattern) = std::str::from_utf8(pattern) else {
        return;
    };
    if is_literal(pattern) || unsupported(pattern).is_some() {
        return;
    }
    let found = search(pattern.as_bytes(), origin);
    // The differential: ASCII, no newline (PCRE's `$` also matches before a final one), no
    // `\<` / `\>` (word boundaries to regex-lite, literals to PCRE), and few choices, so that
    // the budget of 20,000 items is never what decides.
    let choices = pattern.bytes().filter(|b| matches!(b, b'?' | b'|')).count();
    let simple = pattern.is_ascii()
        && origin.is_ascii()
        && !origin.contains(&b'\n')
        && !pattern.contains("\\<")
        && !pattern.contains("\\>")
        && pattern.len() <= 24
        && origin.len() <= 32
        && choices <= 4;
    if !simple {
        return;
    }
    let Ok(reference) = regex_lite::Regex::new(pattern) else {
        return;
    };
    let Ok(origin) = std::str::from_utf8(origin) else {
        return;
    };
    assert_eq!(
        found,
        reference.is_match(origin),
        "pattern {pattern:?} on {origin:?}"
    );
});
