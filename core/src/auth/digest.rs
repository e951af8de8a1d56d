//! SHA-256 digests for stored secrets. API keys and generated passwords are high-entropy
//! random strings, so one SHA-256 is enough: a 128-bit random key cannot be found from its
//! digest by guessing, and no salt or slow KDF is needed as it would be for human passwords.

use crate::secret::constant_time_eq;
use sha2::{Digest, Sha256};

pub type Sha256Digest = [u8; 32];

pub fn sha256(data: &[u8]) -> Sha256Digest {
    Sha256::digest(data).into()
}

pub fn to_hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(HEX[usize::from(b >> 4)] as char);
        out.push(HEX[usize::from(b & 15)] as char);
    }
    out
}

/// Parses 64 hex digits (either case) into a digest.
pub fn parse_hex(text: &str) -> Option<Sha256Digest> {
    let bytes = text.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (slot, pair) in out.iter_mut().zip(bytes.chunks(2)) {
        let hi = (*pair.first()? as char).to_digit(16)?;
        let lo = (*pair.get(1)? as char).to_digit(16)?;
        *slot = (hi * 16 + lo) as u8;
    }
    Some(out)
}

/// The stored form of a key: `sha256:<hex>` (what `tollgate hash-key` prints).
pub fn stored_form(key: &str) -> String {
    format!("sha256:{}", to_hex(&sha256(key.as_bytes())))
}

/// Parses `sha256:<hex>` (or bare hex).
pub fn parse_stored(text: &str) -> Option<Sha256Digest> {
    parse_hex(text.strip_prefix("sha256:").unwrap_or(text))
}

pub fn digests_equal(a: &Sha256Digest, b: &Sha256Digest) -> bool {
    constant_time_eq(a, b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_form_round_trips() {
        let stored = stored_form("abc");
        assert_eq!(
            stored,
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(parse_stored(&stored), Some(sha256(b"abc")));
        assert_eq!(
            parse_stored(&stored.to_uppercase().replace("SHA256:", "")),
            Some(sha256(b"abc"))
        );
        assert_eq!(parse_stored("sha256:abc"), None);
        assert_eq!(parse_stored(&"zz".repeat(32)), None);
    }
}
