//! Backend answers read from the header map the host hands over (`answer_headers` in the core,
//! behind the adapter's `MapPairs` of src/abi.rs, in `tollgate_fuzz::abi`): the input as a
//! serialized map, and as `name\nvalue\n...` text serialized into one. Each field is its
//! header's value as sent (repaired UTF-8), a status is a decimal `u16`, only the backend's own
//! 200 authorizes, and the `rate_limit_headers` figures are what the answer said.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tollgate_core::backend::answer::is_backend_content_type;
use tollgate_core::backend::answer_headers::{read_answer, status_code};
use tollgate_core::backend::Decision;
use tollgate_fuzz::abi::MapPairs;
use tollgate_fuzz::figures::check_figures;
use tollgate_fuzz::header_lines::serialized_lines;

/// Checks the answer read from `pairs` (each name's first value, in any case, as the
/// adapter's `HeaderMap` finds it) against a plain reading of them.
fn check(pairs: &[(&[u8], &[u8])]) {
    let first = |name: &str| {
        (pairs.iter())
            .find(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
            .map(|(_, v)| *v)
    };
    let answer = read_answer(&first);
    let text = |name: &str| first(name).map(|v| String::from_utf8_lossy(v).into_owned());
    assert_eq!(answer.status, first(":status").and_then(status_code));
    assert_eq!(answer.rejection_reason, text("3scale-rejection-reason"));
    assert_eq!(answer.limit_reset, text("3scale-limit-reset"));
    assert_eq!(answer.limit_max_value, text("3scale-limit-max-value"));
    assert_eq!(answer.limit_remaining, text("3scale-limit-remaining"));
    let apisonator = text("content-type").is_some_and(|ct| is_backend_content_type(&ct));
    assert_eq!(answer.foreign, !apisonator);
    if answer.decision() == Decision::Authorized {
        assert_eq!(answer.status, Some(200), "authorized on {answer:?}");
        assert!(
            apisonator,
            "authorized on another server's answer: {answer:?}"
        );
    }
    check_figures(&answer);
}

/// A status is a decimal number that fits a `u16`, and reads as exactly that.
fn check_status(value: &[u8]) {
    if let Some(code) = status_code(value) {
        let digits = value.strip_prefix(b"+").unwrap_or(value);
        assert!(!digits.is_empty() && digits.iter().all(u8::is_ascii_digit));
        let number = std::str::from_utf8(digits)
            .ok()
            .and_then(|d| d.parse::<u64>().ok());
        assert_eq!(number, Some(u64::from(code)));
    }
}

fuzz_target!(|data: &[u8]| {
    // The bytes as the host's serialized map.
    let read: Vec<(&[u8], &[u8])> = MapPairs::new(data).take(10_000).collect();
    check(&read);
    for (_, value) in &read {
        check_status(value);
    }
    check_status(data);

    // The bytes as names and values, one a line, serialized as Envoy does and read back.
    let text = String::from_utf8_lossy(data);
    let (map, bytes) = serialized_lines(&text);
    let read: Vec<(&[u8], &[u8])> = MapPairs::new(&bytes).collect();
    assert_eq!(read.len(), map.len());
    check(&read);
});
