//! RS256, RS384 and RS512 verification (RSASSA-PKCS1-v1_5 with SHA-256, SHA-384 or
//! SHA-512, RFC 8017 §8.2.2).
//!
//! Verifying is `s^e mod n` and a comparison with the expected encoding: with the usual
//! `e = 65537` that is 16 Montgomery squarings and 2 products (core/crypto/src/montgomery.rs: 27-bit limbs,
//! columns summed in SIMD on wasm32).
//! Only public data is handled here (key, signature, message hash), so nothing needs to run
//! in constant time.

use tollgate_crypto::montgomery::Modulus;

/// Smallest accepted modulus (RFC 7518 §3.3).
pub(super) const MIN_BITS: usize = 2048;
/// Largest accepted modulus (as the `rsa` crate it replaces).
pub(super) const MAX_BITS: usize = 4096;
/// Public exponents outside 3..2^33 are refused (as the `rsa` crate does).
const MAX_EXPONENT: u64 = (1 << 33) - 1;

/// DER of the `DigestInfo` before the hash (RFC 8017 §9.2, note 1) for SHA-256, SHA-384
/// and SHA-512. The hash's OID is part of what is signed, so a signature over one hash never
/// verifies as another's.
pub(super) const SHA256_PREFIX: [u8; 19] = [
    0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05,
    0x00, 0x04, 0x20,
];
pub(super) const SHA384_PREFIX: [u8; 19] = [
    0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02, 0x05,
    0x00, 0x04, 0x30,
];
pub(super) const SHA512_PREFIX: [u8; 19] = [
    0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03, 0x05,
    0x00, 0x04, 0x40,
];

/// An RSA public key, ready to verify.
#[derive(Clone, PartialEq, Eq)]
pub(super) struct RsaKey {
    modulus: Modulus,
    /// `R^e mod n` (`R = 2^r_bits`, montgomery.rs): see [`RsaKey::verifies`].
    r_pow_e: Vec<u32>,
    e: u64,
    /// The modulus length in bytes (`k` in RFC 8017): a signature has exactly this length.
    len: usize,
}

impl RsaKey {
    /// From the big-endian `n` and `e` of a JWK; the error says what is wrong.
    pub(super) fn new(n: &[u8], e: &[u8]) -> Result<RsaKey, String> {
        let n = strip_zeros(n);
        let bits = n.first().map_or(0, |top| {
            (n.len() - 1) * 8 + (8 - top.leading_zeros() as usize)
        });
        if bits < MIN_BITS {
            return Err(format!(
                "RSA modulus of {bits} bits, at least {MIN_BITS} are needed"
            ));
        }
        if bits > MAX_BITS {
            return Err(format!(
                "RSA modulus of {bits} bits, at most {MAX_BITS} are supported"
            ));
        }
        if n.last().is_some_and(|low| low & 1 == 0) {
            return Err("invalid RSA key: even modulus".to_string());
        }
        let e = strip_zeros(e);
        if e.len() > 8 {
            return Err("invalid RSA key: public exponent too large".to_string());
        }
        let e = e.iter().fold(0u64, |acc, &b| acc << 8 | u64::from(b));
        if !(3..=MAX_EXPONENT).contains(&e) || e & 1 == 0 {
            return Err(format!("invalid RSA key: public exponent {e}"));
        }
        let modulus = Modulus::new(n).ok_or("invalid RSA key: even modulus")?;
        // R·R mod n is R in Montgomery form; its power e - 1 is R^(e-1), whose form is R^e.
        let r_form = modulus.power_of_two(2 * modulus.r_bits());
        let r_pow_e = power(&modulus, r_form, e - 1);
        Ok(RsaKey {
            modulus,
            r_pow_e,
            e,
            len: n.len(),
        })
    }

    /// The modulus length in bytes: the length of a signature.
    pub(super) fn signature_len(&self) -> usize {
        self.len
    }

    /// Whether `signature` is this key's RSASSA-PKCS1-v1_5 signature of `digest`, a hash
    /// whose `DigestInfo` starts with `prefix` (one of the `SHA*_PREFIX`).
    pub(super) fn verifies(&self, prefix: &[u8; 19], digest: &[u8], signature: &[u8]) -> bool {
        if signature.len() != self.len {
            return false;
        }
        let Some(s) = self.modulus.element(signature) else {
            return false; // s >= n (RFC 8017 §5.2.2)
        };
        // s is taken as the Montgomery form of s·R⁻¹: its power e is the form of s^e·R^-e,
        // s^e·R^(1-e), and one product with the form R^e leaves s^e itself. That is 16
        // squarings and 2 products for e = 65537, against 3 products the plain way
        // (conversion in, the multiply, conversion out).
        let x = power(&self.modulus, s, self.e);
        let mut em = vec![0u32; x.len()];
        self.modulus.mul(&x, &self.r_pow_e, &mut em);
        let expected = encoding(self.len, prefix, digest).and_then(|em| self.modulus.element(&em));
        expected.as_deref() == Some(&em[..])
    }
}

/// EM = 0x00 || 0x01 || 0xff… || 0x00 || DigestInfo, `k` bytes (RFC 8017 §9.2), compared
/// whole rather than parsed.
fn encoding(k: usize, prefix: &[u8; 19], digest: &[u8]) -> Option<Vec<u8>> {
    let padding = k.checked_sub(3 + prefix.len() + digest.len())?;
    let mut em = Vec::with_capacity(k);
    em.extend_from_slice(&[0x00, 0x01]);
    em.resize(2 + padding, 0xff);
    em.push(0x00);
    em.extend_from_slice(prefix);
    em.extend_from_slice(digest);
    Some(em)
}

fn strip_zeros(bytes: &[u8]) -> &[u8] {
    let first = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
    &bytes[first..]
}

/// `base^e` in Montgomery form, left to right over e's bits (e at least 1).
fn power(modulus: &Modulus, base: Vec<u32>, e: u64) -> Vec<u32> {
    let mut x = base.clone();
    let mut t = vec![0u32; base.len()];
    for bit in (0..63 - e.leading_zeros()).rev() {
        modulus.square(&x, &mut t);
        if (e >> bit) & 1 == 1 {
            modulus.mul(&t, &base, &mut x);
        } else {
            std::mem::swap(&mut x, &mut t);
        }
    }
    x
}
