//! Base64, the core's one decoder (and encoder), in two alphabets:
//!
//! - [`Alphabet::Standard`] (RFC 4648 §4) for HTTP Basic credentials (RFC 7617), as lenient
//!   as clients need: padding optional, unused trailing bits ignored;
//! - [`Alphabet::UrlSafe`] (RFC 4648 §5) for JWS (RFC 7515 §2), strict: padding is refused
//!   (compact serialization forbids it), and so are non-zero unused trailing bits (a
//!   non-canonical encoding: two different strings for the same bytes).
//!
//! Both refuse a length that cannot come from whole bytes and any character outside the
//! alphabet. Hand-written: a few lines instead of a dependency. Invalid input gives `None`.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alphabet {
    Standard,
    UrlSafe,
}

fn value(c: u8, alphabet: Alphabet) -> Option<u32> {
    match (c, alphabet) {
        (b'A'..=b'Z', _) => Some(u32::from(c - b'A')),
        (b'a'..=b'z', _) => Some(u32::from(c - b'a') + 26),
        (b'0'..=b'9', _) => Some(u32::from(c - b'0') + 52),
        (b'+', Alphabet::Standard) | (b'-', Alphabet::UrlSafe) => Some(62),
        (b'/', Alphabet::Standard) | (b'_', Alphabet::UrlSafe) => Some(63),
        _ => None,
    }
}

/// Decodes `input` in `alphabet` (see the module documentation for what each accepts).
pub fn decode(input: &str, alphabet: Alphabet) -> Option<Vec<u8>> {
    let strict = alphabet == Alphabet::UrlSafe;
    let data = if strict {
        input.as_bytes()
    } else {
        let unpadded = input.trim_end_matches('=');
        if input.len() - unpadded.len() > 2 {
            return None;
        }
        unpadded.as_bytes()
    };
    if data.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(data.len() / 4 * 3 + 2);
    for chunk in data.chunks(4) {
        let mut acc = 0u32;
        for &c in chunk {
            acc = (acc << 6) | value(c, alphabet)?;
        }
        // 4 chars: 3 whole bytes; 3 chars: 2 bytes and 2 unused bits; 2 chars: 1 byte and 4.
        let unused = (6 * chunk.len() % 8) as u32;
        if strict && acc & ((1 << unused) - 1) != 0 {
            return None;
        }
        acc <<= 6 * (4 - chunk.len() as u32);
        out.extend_from_slice(acc.to_be_bytes().get(1..chunk.len())?);
    }
    Some(out)
}

/// Decodes unpadded base64url, strictly (JWS).
pub fn decode_url(input: &str) -> Option<Vec<u8>> {
    decode(input, Alphabet::UrlSafe)
}

/// Encodes `data`: [`Alphabet::Standard`] padded with `=` (HTTP Basic credentials),
/// [`Alphabet::UrlSafe`] unpadded (JWS).
pub fn encode(data: &[u8], alphabet: Alphabet) -> String {
    const STANDARD: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const URL_SAFE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let table = match alphabet {
        Alphabet::Standard => STANDARD,
        Alphabet::UrlSafe => URL_SAFE,
    };
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let mut acc = 0u32;
        for (i, &b) in chunk.iter().enumerate() {
            acc |= u32::from(b) << (16 - 8 * i);
        }
        for i in 0..=chunk.len() {
            let index = ((acc >> (18 - 6 * i)) & 63) as usize;
            out.push(char::from(table.get(index).copied().unwrap_or(b'A')));
        }
        if alphabet == Alphabet::Standard {
            for _ in chunk.len()..3 {
                out.push('=');
            }
        }
    }
    out
}

/// Encodes as unpadded base64url (tests mint tokens with it).
#[cfg(test)]
pub fn encode_url(data: &[u8]) -> String {
    encode(data, Alphabet::UrlSafe)
}

#[cfg(test)]
mod tests {
    use super::{decode, encode, encode_url, Alphabet};

    fn standard(s: &str) -> Option<Vec<u8>> {
        decode(s, Alphabet::Standard)
    }

    fn url(s: &str) -> Option<Vec<u8>> {
        decode(s, Alphabet::UrlSafe)
    }

    #[test]
    fn standard_decodes_with_and_without_padding() {
        assert_eq!(standard("dmFsdWU6Cg==").unwrap(), b"value:\n");
        assert_eq!(standard("dXNlcjpwYXNz").unwrap(), b"user:pass");
        assert_eq!(standard("YQ").unwrap(), b"a");
        assert_eq!(standard("").unwrap(), b"");
        assert_eq!(standard("+/8=").unwrap(), [0xfb, 0xff]);
        // Lenient: unused bits are ignored.
        assert_eq!(standard("YR").unwrap(), b"a");
        assert!(standard("a").is_none());
        assert!(standard("!!!!").is_none());
        assert!(standard("YQ===").is_none());
        assert!(standard("-_8").is_none());
    }

    #[test]
    fn standard_encodes_with_padding_and_round_trips() {
        // RFC 4648 §10 test vectors.
        for (data, text) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(encode(data.as_bytes(), Alphabet::Standard), text);
        }
        assert_eq!(encode(&[0xfb, 0xff], Alphabet::Standard), "+/8=");
        for len in 0..40 {
            let data: Vec<u8> = (0..len).map(|i| (i * 53 + 7) as u8).collect();
            assert_eq!(standard(&encode(&data, Alphabet::Standard)).unwrap(), data);
        }
    }

    #[test]
    fn url_safe_round_trips() {
        for len in 0..40 {
            let data: Vec<u8> = (0..len).map(|i| (i * 37 + 11) as u8).collect();
            let text = encode_url(&data);
            assert!(!text.contains('='));
            assert_eq!(url(&text).unwrap(), data, "{text}");
        }
        assert_eq!(encode_url(&[0xfb, 0xff]), "-_8");
        assert_eq!(url("-_8").unwrap(), [0xfb, 0xff]);
    }

    #[test]
    fn url_safe_rejects_padding_bad_length_bad_chars_and_non_canonical() {
        assert!(url("YQ==").is_none());
        assert!(url("YQ=").is_none());
        assert!(url("YWJjZ").is_none());
        assert!(url("ab+/").is_none());
        assert!(url("a b=").is_none());
        assert!(url("YR").is_none()); // 'a' is "YQ"; "YR" has a non-zero unused bit
        assert!(url("YWJ").is_none()); // "ab" is "YWI"
        assert_eq!(url("").unwrap(), b"");
        assert_eq!(url("YWI").unwrap(), b"ab");
    }
}
