//! ES256 verification (ECDSA on P-256 with SHA-256) with precomputed tables.
//!
//! `p256` 0.13 computes `u1·G + u2·Q` as two constant-time scalar multiplications (256
//! doublings each). Verification handles only public data (key, signature, message hash), so
//! it may run in variable time: each point gets a table of its multiples, built once (G per
//! VM, Q when the key is parsed), and the sum is about 76 mixed additions and 21 doublings.
//! The arithmetic is our own field and Jacobian formulas (p256_field.rs, p256_point.rs):
//! p256's made a check about three times as slow in V8; a table costs ten inversions, a
//! check none.
//!
//! Each scalar is recoded in signed `W`-bit digits `d_i` (in `-2^(W-1)+1 ..= 2^(W-1)`), so
//! `u = Σ d_i·2^(W·i)`. With `i = S·j + k`, `u·P = Σ_k 2^(W·k) · Σ_j d_(S·j+k)·T_j` where
//! `T_j = 2^(W·S·j)·P`: the table holds `m·T_j` for `m` in `1..=2^(W-1)` (a negative digit
//! adds the negated point), and the sum runs as Horner over `k` (W doublings per step).

use crate::p256_field::Fe;
use crate::p256_point::{Affine, Jacobian};
use p256::ecdsa::Signature;
use p256::elliptic_curve::ops::Reduce;
use p256::elliptic_curve::sec1::ToEncodedPoint;
use p256::{AffinePoint, ProjectivePoint, Scalar, U256};
use std::sync::{Arc, Mutex, OnceLock};

/// Digit width in bits. In V8 (bench/jwt-micro): 5 against 4, about 12 % faster checks for
/// tables 1.6x as large; 7 against 5, 10 to 15 % faster again (76 additions instead of 106,
/// 21 doublings instead of 15) for tables of 640 points (40 KB) instead of 224 (14 KB).
pub const W: usize = 7;
/// Horner steps: the table covers every `S`-th digit position.
const S: usize = 4;
/// Signed digits of a scalar below 2^256 (one more for the last carry).
pub const DIGITS: usize = 256usize.div_ceil(W) + 1;
/// Table positions (`j`).
const POSITIONS: usize = DIGITS.div_ceil(S);
/// Multiples per position (`m` in `1..=HALF`).
const HALF: usize = 1 << (W - 1);
const TABLE_LEN: usize = POSITIONS * HALF;

/// The multiples of one point, affine (mixed additions are cheaper than projective ones).
type Table = [Affine; TABLE_LEN];

/// A P-256 public key with its table (640 points, 40 KB; shared by clones of the key set).
#[derive(Clone)]
pub struct Es256Key {
    key: p256::ecdsa::VerifyingKey,
    table: Arc<Table>,
}

impl PartialEq for Es256Key {
    /// The same point (the table follows from it).
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key
    }
}

impl Eq for Es256Key {}

impl Es256Key {
    /// `None` only if a table entry were the identity, which no valid key gives.
    pub fn new(key: p256::ecdsa::VerifyingKey) -> Option<Es256Key> {
        let table = recent_table(&key)?;
        // Built now rather than on the first token.
        generator_table()?;
        Some(Es256Key { key, table })
    }

    /// Whether `signature` (JWS `r || s`, 64 bytes) signs the SHA-256 `digest` with this key.
    pub fn verifies(&self, digest: &[u8; 32], signature: &[u8]) -> bool {
        // r and s in [1, n-1], as p256 checks.
        let Ok(sig) = Signature::from_slice(signature) else {
            return false;
        };
        let (r, s) = sig.split_scalars();
        let z = <Scalar as Reduce<U256>>::reduce_bytes(digest.into());
        let s_inv = Option::<Scalar>::from(p256::elliptic_curve::ops::Invert::invert_vartime(&*s));
        let Some(s_inv) = s_inv else {
            return false;
        };
        let Some(sum) = self.sum(&(z * s_inv), &(*r * s_inv)) else {
            return false;
        };
        x_reduces_to(&sum, &r.to_bytes().into())
    }

    /// `u1·G + u2·Q`, Q this key, as p256's point (the tests compare it with p256's own).
    #[doc(hidden)]
    pub fn combination(&self, u1: &Scalar, u2: &Scalar) -> Option<ProjectivePoint> {
        let Some((x, y)) = self.sum(u1, u2)?.to_affine_bytes() else {
            return Some(ProjectivePoint::IDENTITY);
        };
        let point = p256::EncodedPoint::from_affine_coordinates(&x.into(), &y.into(), false);
        let affine = Option::<AffinePoint>::from(
            p256::elliptic_curve::sec1::FromEncodedPoint::from_encoded_point(&point),
        )?;
        Some(ProjectivePoint::from(affine))
    }

    /// `u1·G + u2·Q` on the tables (`None` only without G's table).
    fn sum(&self, u1: &Scalar, u2: &Scalar) -> Option<Jacobian> {
        let (u1, u2) = (digits(u1), digits(u2));
        let g = generator_table()?;
        let mut acc = Jacobian::IDENTITY;
        for k in (0..S).rev() {
            if k != S - 1 {
                for _ in 0..W {
                    acc = acc.double();
                }
            }
            let rows = g.chunks(HALF).zip(self.table.chunks(HALF));
            for (j, (g_row, q_row)) in rows.enumerate() {
                let (Some(&d1), Some(&d2)) = (u1.get(S * j + k), u2.get(S * j + k)) else {
                    break;
                };
                acc = add_digit(acc, g_row, d1);
                acc = add_digit(acc, q_row, d2);
            }
        }
        Some(acc)
    }
}

/// `acc + d·T` where `row[m - 1] = m·T`.
#[inline]
fn add_digit(acc: Jacobian, row: &[Affine], d: i8) -> Jacobian {
    let m = usize::from(d.unsigned_abs());
    match row.get(m.wrapping_sub(1)) {
        None => acc, // d = 0
        Some(point) if d > 0 => acc.add_affine(point),
        Some(point) => acc.add_affine(&point.neg()),
    }
}

/// Whether `x(point) mod n = r` (`r` big-endian, below n): x is r, or r + n when that is
/// still below p (false for the identity).
#[doc(hidden)]
pub fn x_reduces_to(point: &Jacobian, r: &[u8; 32]) -> bool {
    point.has_x(r) || r_plus_n(r).is_some_and(|x| point.has_x(&x))
}

/// `r + n` (big-endian), if below 2^256: the other x whose reduction mod n is r (`has_x`
/// refuses it when it is not below p).
fn r_plus_n(r: &[u8; 32]) -> Option<[u8; 32]> {
    // n, the group order, least significant limb first.
    const N: [u32; 8] = [
        0xfc63_2551,
        0xf3b9_cac2,
        0xa717_9e84,
        0xbce6_faad,
        u32::MAX,
        u32::MAX,
        0,
        u32::MAX,
    ];
    let r = crate::p256_field::limbs_of(r);
    let mut sum = [0u8; 32];
    let mut carry = 0u64;
    for (i, chunk) in sum.rchunks_mut(4).enumerate() {
        let limb = u64::from(r[i]) + u64::from(N[i]) + carry;
        chunk.copy_from_slice(&(limb as u32).to_be_bytes());
        carry = limb >> 32;
    }
    // Above 2^256 is above p; below p is checked by the field's parser (has_x).
    (carry == 0).then_some(sum)
}

/// `scalar` in signed `W`-bit digits, least significant first.
pub fn digits(scalar: &Scalar) -> [i8; DIGITS] {
    let be = scalar.to_bytes();
    let bit = |i: usize| -> u32 {
        // Bit i of the big-endian 32 bytes; 0 past the top.
        be.get(31usize.wrapping_sub(i / 8))
            .map_or(0, |byte| u32::from(byte >> (i % 8) & 1))
    };
    let mut out = [0i8; DIGITS];
    let mut carry = 0u32;
    for (i, digit) in out.iter_mut().enumerate() {
        let mut v = carry;
        for b in 0..W {
            v += bit(W * i + b) << b;
        }
        // v is at most 2^W; above HALF it becomes v - 2^W and carries one.
        if v as usize > HALF {
            *digit = (v as i32 - (1 << W)) as i8;
            carry = 1;
        } else {
            *digit = v as i8;
            carry = 0;
        }
    }
    out
}

/// The table of `point`: `table[j·HALF + m - 1] = m·2^(W·S·j)·point`, built in Jacobian
/// coordinates and brought to affine with one inversion for all entries (Montgomery's trick),
/// plus one per position for the point its row multiplies (9 for W = 7).
fn table(point: Affine) -> Option<Box<Table>> {
    let mut jacobian = Box::new([Jacobian::IDENTITY; TABLE_LEN]);
    let mut base = point;
    for (j, row) in jacobian.chunks_mut(HALF).enumerate() {
        let mut multiple = Jacobian::IDENTITY.add_affine(&base);
        for entry in row.iter_mut() {
            *entry = multiple;
            multiple = multiple.add_affine(&base);
        }
        if j + 1 < POSITIONS {
            // The next position's point, affine for the mixed additions: an inversion each.
            let mut next = Jacobian::IDENTITY.add_affine(&base);
            for _ in 0..W * S {
                next = next.double();
            }
            base = next.to_affine()?;
        }
    }
    // Prefix products of the Zs, one inversion, then each Z⁻¹ from the back.
    let mut prefix = Box::new([Fe::ONE; TABLE_LEN]);
    let mut running = Fe::ONE;
    for (entry, point) in prefix.iter_mut().zip(jacobian.iter()) {
        if point.is_identity() {
            return None; // no non-zero multiple below the group order is
        }
        *entry = running;
        running = running.mul(&point.z);
    }
    let mut inverse = running.invert();
    let mut out = Box::new([point; TABLE_LEN]);
    for i in (0..TABLE_LEN).rev() {
        let (Some(p), Some(before), Some(entry)) = (jacobian.get(i), prefix.get(i), out.get_mut(i))
        else {
            return None;
        };
        let z_inv = inverse.mul(before);
        inverse = inverse.mul(&p.z);
        *entry = p.with_z_inverse(&z_inv);
    }
    Some(out)
}

/// A key's point, in our coordinates.
fn affine_of(key: &p256::AffinePoint) -> Option<Affine> {
    let encoded = key.to_encoded_point(false);
    let x = <[u8; 32]>::try_from(&encoded.x()?[..]).ok()?;
    let y = <[u8; 32]>::try_from(&encoded.y()?[..]).ok()?;
    Some(Affine {
        x: Fe::from_be_bytes(&x)?,
        y: Fe::from_be_bytes(&y)?,
    })
}

/// Tables kept for the keys parsed last, most recent last: a JWKS refresh parses its keys
/// again every few minutes, mostly the same.
const RECENT_TABLES: usize = 8;

/// `key`'s table, from the recent ones or built (and kept).
fn recent_table(key: &p256::ecdsa::VerifyingKey) -> Option<Arc<Table>> {
    static RECENT: Mutex<Vec<(p256::ecdsa::VerifyingKey, Arc<Table>)>> = Mutex::new(Vec::new());
    let build = || table(affine_of(key.as_affine())?).map(Arc::from);
    let Ok(mut recent) = RECENT.lock() else {
        return build(); // poisoned: nothing here panics, but do without the cache
    };
    if let Some(at) = recent.iter().position(|(k, _)| k == key) {
        let entry = recent.remove(at);
        let table = Arc::clone(&entry.1);
        recent.push(entry);
        return Some(table);
    }
    let table = build()?;
    if recent.len() >= RECENT_TABLES {
        recent.remove(0);
    }
    recent.push((*key, Arc::clone(&table)));
    Some(table)
}

/// Whether two keys share one table (the core's tests check the table cache).
#[doc(hidden)]
pub fn same_table(a: &Es256Key, b: &Es256Key) -> bool {
    Arc::ptr_eq(&a.table, &b.table)
}

/// The generator's table, built on first use (once per VM).
fn generator_table() -> Option<&'static Table> {
    static G: OnceLock<Option<Box<Table>>> = OnceLock::new();
    G.get_or_init(|| table(affine_of(&p256::AffinePoint::GENERATOR)?))
        .as_deref()
}
