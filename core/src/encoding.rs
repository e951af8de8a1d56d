//! Percent-encoding and decoding shared by credentials, mapping rules and the backend protocol.

use percent_encoding::{percent_decode, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// Everything except RFC 3986 unreserved characters is escaped: a value can never
/// inject `&`, `=`, `%` or `#` into a backend query string.
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Percent-encodes a query component (name or value) for a backend call.
pub fn encode_component(value: &str) -> String {
    utf8_percent_encode(value, COMPONENT).to_string()
}

/// Appends `value` percent-encoded as [`encode_component`] does, without a string of its own.
pub fn push_component(out: &mut String, value: &str) {
    // Most values (keys, ids, metric names) need no escape: one scan, one copy.
    if value.bytes().all(is_unreserved) {
        out.push_str(value);
        return;
    }
    for part in utf8_percent_encode(value, COMPONENT) {
        out.push_str(part);
    }
}

/// RFC 3986 unreserved: the bytes [`COMPONENT`] leaves as they are.
fn is_unreserved(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~')
}

/// Percent-decodes once; invalid UTF-8 is replaced rather than refused.
pub fn decode_component(value: &str) -> String {
    percent_decode(value.as_bytes())
        .decode_utf8_lossy()
        .into_owned()
}

/// Decodes an `application/x-www-form-urlencoded` component: `+` is a space, then percent-decoding.
pub fn decode_form_component(value: &str) -> String {
    if value.contains('+') {
        decode_component(&value.replace('+', " "))
    } else {
        decode_component(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_reserved_characters() {
        assert_eq!(encode_component("a&b=c%d e"), "a%26b%3Dc%25d%20e");
        assert_eq!(encode_component("usage[hits]"), "usage%5Bhits%5D");
        assert_eq!(encode_component("Az09-._~"), "Az09-._~");
    }

    #[test]
    fn decodes_once() {
        assert_eq!(decode_component("a%2541"), "a%41");
        assert_eq!(decode_component("a+b"), "a+b");
        assert_eq!(decode_form_component("a+b%2Bc"), "a b+c");
    }

    #[test]
    fn push_component_escapes_as_encode_component_does() {
        // The fast path (nothing to escape) must agree with the encoder on every character.
        for c in (0u32..0x180).filter_map(char::from_u32) {
            for value in [c.to_string(), format!("ab{c}cd")] {
                let mut pushed = String::from("x");
                push_component(&mut pushed, &value);
                assert_eq!(pushed, format!("x{}", encode_component(&value)), "{c:?}");
            }
        }
    }
}
