//! SHA-384 and SHA-512, and HMAC over them, for RS384, RS512, HS384 and HS512 (found by an
//! audit, 2026-12-07: APIcast verifies them).
//!
//! One function per hash, each a single instance of `sha2`'s `Digest` (SHA-512's is EdDSA's
//! too), and HMAC (RFC 2104) written on them: with the `hmac` crate the four algorithms cost
//! the module 10.8 KB (`Hmac`, block-level code for each hash) or 11.4 KB (`SimpleHmac`),
//! here 6.0 KB. HS256 keeps `Hmac<Sha256>`, which signed URLs link anyway. Checked against
//! the `hmac` crate by the tests, which sign their HS384 and HS512 tokens with it (a secret
//! longer than the block included).

use crate::secret::constant_time_eq;
use sha2::{Digest, Sha384, Sha512};

/// SHA-384 or SHA-512.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Wide {
    Sha384,
    Sha512,
}

/// The block size of both (FIPS 180-4): HMAC's key length.
const BLOCK: usize = 128;

impl Wide {
    /// The hash of `parts`, one after the other.
    pub(super) fn digest(self, parts: &[&[u8]]) -> Vec<u8> {
        match self {
            Wide::Sha384 => hash::<Sha384>(parts),
            Wide::Sha512 => hash::<Sha512>(parts),
        }
    }

    /// Whether `signature` is the HMAC of `input` under `secret`, compared in constant time.
    pub(super) fn hmac_verifies(self, secret: &[u8], input: &[u8], signature: &[u8]) -> bool {
        let mut key = [0u8; BLOCK];
        let hashed;
        let secret = if secret.len() > BLOCK {
            hashed = self.digest(&[secret]);
            hashed.as_slice()
        } else {
            secret
        };
        for (k, s) in key.iter_mut().zip(secret) {
            *k = *s;
        }
        let inner = self.digest(&[&key.map(|b| b ^ 0x36), input]);
        let mac = self.digest(&[&key.map(|b| b ^ 0x5c), &inner]);
        constant_time_eq(&mac, signature)
    }
}

fn hash<D: Digest>(parts: &[&[u8]]) -> Vec<u8> {
    let mut hasher = D::new();
    for part in parts {
        hasher.update(part);
    }
    hasher.finalize().to_vec()
}
