//! Base64 for tests: standard padded (HTTP Basic) and unpadded base64url (JWS).

const STANDARD: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const URL_SAFE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

fn encode(data: &[u8], alphabet: &[u8; 64], pad: bool) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let mut acc = 0u32;
        for (i, &b) in chunk.iter().enumerate() {
            acc |= u32::from(b) << (16 - 8 * i);
        }
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(alphabet[((acc >> (18 - 6 * i)) & 63) as usize]));
            } else if pad {
                out.push('=');
            }
        }
    }
    out
}

/// Standard base64 with padding.
pub fn standard(data: &[u8]) -> String {
    encode(data, STANDARD, true)
}

/// Unpadded base64url, as JWS uses.
pub fn url(data: &[u8]) -> String {
    encode(data, URL_SAFE, false)
}

/// An `Authorization: Basic` header value.
pub fn basic_auth(user: &str, password: &str) -> String {
    format!(
        "Basic {}",
        standard(format!("{user}:{password}").as_bytes())
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn encodes() {
        assert_eq!(super::standard(b"value:\n"), "dmFsdWU6Cg==");
        assert_eq!(super::url(&[0xfb, 0xff]), "-_8");
    }
}
