//! The small decoders every request goes through: percent-decoding of query and form
//! components (`encoding.rs`), base64 in both alphabets (Basic credentials, JWS parts), and
//! the signed-URL check (`expires` and `signature` args of a client's query). Any bytes,
//! never a panic; decoding is never longer than its input and undoes encoding; a URL
//! signed by `sign` verifies until it expires and not after, and no other signature passes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tollgate_core::auth::signed_url::{self, SignedUrlError};
use tollgate_core::base64::{self, Alphabet};
use tollgate_core::encoding::{decode_component, decode_form_component, encode_component};

const SECRET: &[u8] = b"a long random secret for signed urls";

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let text = text.as_ref();

    // Percent-decoding: at most as long as the input, and the inverse of encoding.
    let decoded = decode_component(text);
    assert!(decoded.len() <= text.len(), "{text:?}");
    let form = decode_form_component(text);
    assert!(form.len() <= text.len(), "{text:?}");
    if !text.contains('%') {
        assert_eq!(decoded, text);
        assert_eq!(form, text.replace('+', " "));
    }
    assert_eq!(decode_component(&encode_component(text)), text);
    assert_eq!(decode_form_component(&encode_component(text)), text);
    let encoded = encode_component(text);
    assert!(encoded
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-._~%".contains(&b)));

    // base64: at most 3 bytes per 4 characters, and the inverse of encoding.
    for alphabet in [Alphabet::Standard, Alphabet::UrlSafe] {
        if let Some(bytes) = base64::decode(text, alphabet) {
            assert!(bytes.len() <= text.len() / 4 * 3 + 2, "{text:?}");
            // Strict (url-safe) decoding reads one text per value: encoding gives it back.
            if alphabet == Alphabet::UrlSafe {
                assert_eq!(base64::encode(&bytes, alphabet), text);
            }
        }
        let encoded = base64::encode(data, alphabet);
        assert_eq!(base64::decode(&encoded, alphabet).as_deref(), Some(data));
    }

    // Signed URLs: the fuzzed text as method, path and query, with an expiry.
    let mut parts = text.splitn(3, '\n');
    let method = parts.next().unwrap_or("GET");
    let path = parts.next().unwrap_or("/");
    let query = parts.next().unwrap_or("");
    let now = 1_700_000_000;
    let _ = signed_url::verify(SECRET, method, path, query, now);
    let expires = now + u64::from(data.first().copied().unwrap_or(0));
    let path_and_query = match query {
        "" => path.to_string(),
        q => format!("{path}?{q}"),
    };
    if path.contains('?') {
        return;
    }
    if let Some(url) = signed_url::sign(SECRET, method, &path_and_query, expires) {
        let (p, q) = url.split_once('?').unwrap_or((&url, ""));
        assert_eq!(p, path);
        assert_eq!(
            signed_url::verify(SECRET, method, p, q, now),
            Ok(()),
            "{url:?}"
        );
        assert_eq!(signed_url::verify(SECRET, method, p, q, expires), Ok(()));
        assert_eq!(
            signed_url::verify(SECRET, method, p, q, expires + 1),
            Err(SignedUrlError::Expired)
        );
        // Another secret, or a changed signature, never verifies.
        assert!(signed_url::verify(b"another secret", method, p, q, now).is_err());
        let flipped = match q.strip_suffix('0') {
            Some(rest) => format!("{rest}1"),
            None => format!("{}0", &q[..q.len().saturating_sub(1)]),
        };
        assert!(
            signed_url::verify(SECRET, method, p, &flipped, now).is_err(),
            "{flipped:?}"
        );
    }
});
