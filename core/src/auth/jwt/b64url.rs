//! Base64url without padding (RFC 7515 §2, RFC 4648 §5), strict.
//!
//! JWS compact serialization forbids padding, so `=` is rejected, as are a length that
//! cannot come from whole bytes (`len % 4 == 1`) and non-zero unused trailing bits (a
//! non-canonical encoding: two different strings for the same bytes). Invalid input
//! gives `None`.

fn value(c: u8) -> Option<u32> {
    match c {
        b'A'..=b'Z' => Some(u32::from(c - b'A')),
        b'a'..=b'z' => Some(u32::from(c - b'a') + 26),
        b'0'..=b'9' => Some(u32::from(c - b'0') + 52),
        b'-' => Some(62),
        b'_' => Some(63),
        _ => None,
    }
}

/// Decodes unpadded base64url.
pub fn decode(input: &str) -> Option<Vec<u8>> {
    let data = input.as_bytes();
    let tail = data.len() % 4;
    if tail == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(data.len() / 4 * 3 + 2);
    for chunk in data.chunks(4) {
        let mut acc = 0u32;
        for &c in chunk {
            acc = (acc << 6) | value(c)?;
        }
        match chunk.len() {
            4 => out.extend_from_slice(acc.to_be_bytes().get(1..)?),
            // 3 chars = 18 bits: 2 bytes and 2 unused bits.
            3 => {
                if acc & 0b11 != 0 {
                    return None;
                }
                out.extend_from_slice((acc << 6).to_be_bytes().get(1..3)?);
            }
            // 2 chars = 12 bits: 1 byte and 4 unused bits.
            2 => {
                if acc & 0b1111 != 0 {
                    return None;
                }
                out.extend_from_slice((acc << 12).to_be_bytes().get(1..2)?);
            }
            _ => return None,
        }
    }
    Some(out)
}

/// Encodes as unpadded base64url (tests mint tokens with it).
#[cfg(test)]
pub fn encode(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let mut acc = 0u32;
        for (i, &b) in chunk.iter().enumerate() {
            acc |= u32::from(b) << (16 - 8 * i);
        }
        for i in 0..=chunk.len() {
            out.push(char::from(ALPHABET[((acc >> (18 - 6 * i)) & 63) as usize]));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{decode, encode};

    #[test]
    fn round_trips() {
        for len in 0..40 {
            let data: Vec<u8> = (0..len).map(|i| (i * 37 + 11) as u8).collect();
            let text = encode(&data);
            assert!(!text.contains('='));
            assert_eq!(decode(&text).unwrap(), data, "{text}");
        }
        assert_eq!(encode(&[0xfb, 0xff]), "-_8");
        assert_eq!(decode("-_8").unwrap(), [0xfb, 0xff]);
    }

    #[test]
    fn rejects_padding_bad_length_bad_chars_and_non_canonical() {
        assert!(decode("YQ==").is_none());
        assert!(decode("YQ=").is_none());
        assert!(decode("YWJjZ").is_none());
        assert!(decode("ab+/").is_none());
        assert!(decode("a b=").is_none());
        assert!(decode("YR").is_none()); // 'a' is "YQ"; "YR" has a non-zero unused bit
        assert!(decode("YWJ").is_none()); // "ab" is "YWI"
        assert_eq!(decode("").unwrap(), b"");
        assert_eq!(decode("YWI").unwrap(), b"ab");
    }
}
