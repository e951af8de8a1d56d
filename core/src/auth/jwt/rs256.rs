//! RS256 verification (RSASSA-PKCS1-v1_5 with SHA-256, RFC 8017 §8.2.2) on `crypto-bigint`'s
//! Montgomery arithmetic.
//!
//! Verifying is `s^e mod n` and a byte comparison: with the usual `e = 65537` that is 17
//! Montgomery products. `crypto-bigint` works in 32-bit limbs on wasm32 (a 32×32→64 multiply
//! is one wasm instruction), where `num-bigint-dig` (the `rsa` crate 0.9) was about five times
//! slower. Only public data is handled here (key, signature, message hash), so nothing needs
//! to run in constant time.

use crypto_bigint::modular::runtime_mod::{DynResidue, DynResidueParams};
use crypto_bigint::{Limb, Uint};

/// Smallest accepted modulus (RFC 7518 §3.3).
pub(super) const MIN_BITS: usize = 2048;
/// Largest accepted modulus (as the `rsa` crate it replaces).
pub(super) const MAX_BITS: usize = 4096;
/// Public exponents outside 3..2^33 are refused (as the `rsa` crate does).
const MAX_EXPONENT: u64 = (1 << 33) - 1;

/// DER of the SHA-256 `DigestInfo` before the hash (RFC 8017 §9.2, note 1).
const SHA256_PREFIX: [u8; 19] = [
    0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05,
    0x00, 0x04, 0x20,
];

const LIMBS_2048: usize = 2048 / Limb::BITS;
const LIMBS_3072: usize = 3072 / Limb::BITS;
const LIMBS_4096: usize = 4096 / Limb::BITS;

/// The Montgomery parameters of `n`, in the smallest of three widths that holds it.
/// Boxed: a 4096-bit set is 2.5 KB.
#[derive(Clone, PartialEq, Eq)]
enum Modulus {
    W2048(Box<Exponentiation<LIMBS_2048>>),
    W3072(Box<Exponentiation<LIMBS_3072>>),
    W4096(Box<Exponentiation<LIMBS_4096>>),
}

/// What `s^e mod n` needs, computed once per key: the Montgomery parameters, and `R^e mod n`
/// (`R = 2^(32·LIMBS)`), which lets a check skip converting `s` into Montgomery form and the
/// result out of it (see [`pow`]).
#[derive(Clone, PartialEq, Eq)]
struct Exponentiation<const LIMBS: usize> {
    params: DynResidueParams<LIMBS>,
    r_pow_e: Uint<LIMBS>,
}

/// An RSA public key, ready to verify.
#[derive(Clone, PartialEq, Eq)]
pub(super) struct RsaKey {
    modulus: Modulus,
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
        let modulus = if bits <= 2048 {
            Modulus::W2048(Box::new(Exponentiation::new(n, e)))
        } else if bits <= 3072 {
            Modulus::W3072(Box::new(Exponentiation::new(n, e)))
        } else {
            Modulus::W4096(Box::new(Exponentiation::new(n, e)))
        };
        Ok(RsaKey {
            modulus,
            e,
            len: n.len(),
        })
    }

    /// The modulus length in bytes: the length of a signature.
    pub(super) fn signature_len(&self) -> usize {
        self.len
    }

    /// Whether `signature` is this key's RSASSA-PKCS1-v1_5 signature of the SHA-256 `digest`.
    pub(super) fn verifies(&self, digest: &[u8; 32], signature: &[u8]) -> bool {
        if signature.len() != self.len {
            return false;
        }
        let em = match &self.modulus {
            Modulus::W2048(exp) => pow(exp, signature, self.e),
            Modulus::W3072(exp) => pow(exp, signature, self.e),
            Modulus::W4096(exp) => pow(exp, signature, self.e),
        };
        let Some(em) = em else {
            return false; // signature >= n
        };
        // EM = 0x00 || 0x01 || 0xff… || 0x00 || DigestInfo (RFC 8017 §9.2), k bytes; the
        // wider integer's leading bytes must be zero.
        let (high, em) = em.split_at(em.len() - self.len);
        let tail = SHA256_PREFIX.len() + digest.len();
        let Some(padding_len) = self.len.checked_sub(3 + tail) else {
            return false;
        };
        let (head, rest) = em.split_at(2);
        let (ff, rest) = rest.split_at(padding_len);
        let (zero, rest) = rest.split_at(1);
        let (prefix, hash) = rest.split_at(SHA256_PREFIX.len());
        high.iter().all(|&b| b == 0)
            && head == [0x00, 0x01]
            && ff.iter().all(|&b| b == 0xff)
            && zero == [0x00]
            && prefix == SHA256_PREFIX
            && hash == digest
    }
}

fn strip_zeros(bytes: &[u8]) -> &[u8] {
    let first = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
    &bytes[first..]
}

/// `bytes` right-aligned in `width` bytes (longer `bytes` are kept whole).
fn left_pad(bytes: &[u8], width: usize) -> Vec<u8> {
    let mut out = vec![0u8; width.max(bytes.len())];
    let at = out.len() - bytes.len();
    out[at..].copy_from_slice(bytes);
    out
}

impl<const LIMBS: usize> Exponentiation<LIMBS> {
    /// For `n` (no leading zeros, at most `LIMBS` limbs, odd) and `e` (at least 3).
    fn new(n: &[u8], e: u64) -> Exponentiation<LIMBS> {
        let params = DynResidueParams::new(&uint(n));
        // R mod n is the Montgomery form of 1; as a residue, R^(e-1) has the form R^e.
        let r = DynResidue::new(DynResidue::one(params).as_montgomery(), params);
        let r_pow_e = *power(r, e - 1).as_montgomery();
        Exponentiation { params, r_pow_e }
    }
}

/// `base^e`, left to right over e's bits (e at least 1).
fn power<const LIMBS: usize>(base: DynResidue<LIMBS>, e: u64) -> DynResidue<LIMBS> {
    let mut x = base;
    for bit in (0..63 - e.leading_zeros()).rev() {
        x = x.square();
        if (e >> bit) & 1 == 1 {
            x = x.mul(&base);
        }
    }
    x
}

/// `bytes` (at most `LIMBS` limbs long) as an integer.
fn uint<const LIMBS: usize>(bytes: &[u8]) -> Uint<LIMBS> {
    Uint::from_be_slice(&left_pad(bytes, LIMBS * Limb::BYTES))
}

/// `signature^e mod n` as `LIMBS` limbs of big-endian bytes, or `None` when the signature,
/// as an integer, is not below `n` (RFC 8017 §5.2.2).
///
/// `s` is taken as the Montgomery form of `s·R⁻¹`, so the power is `s^e·R^-e` in Montgomery
/// form `s^e·R^(1-e)`; one product with `R^e` (as a Montgomery form) leaves `s^e` as the form
/// itself. That is 16 squarings and 2 products for e = 65537, against 16 squarings and 3
/// products (conversion in, the multiply, conversion out) the plain way.
fn pow<const LIMBS: usize>(
    exp: &Exponentiation<LIMBS>,
    signature: &[u8],
    e: u64,
) -> Option<Vec<u8>> {
    if signature.len() > LIMBS * Limb::BYTES {
        return None;
    }
    let s = uint::<LIMBS>(signature);
    if s >= *exp.params.modulus() {
        return None;
    }
    let x = power(DynResidue::from_montgomery(s, exp.params), e);
    let value = x.mul(&DynResidue::from_montgomery(exp.r_pow_e, exp.params));
    let mut out = Vec::with_capacity(LIMBS * Limb::BYTES);
    for limb in value.as_montgomery().as_limbs().iter().rev() {
        out.extend_from_slice(&limb.0.to_be_bytes());
    }
    Some(out)
}
