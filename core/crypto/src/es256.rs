//! ES256 verification (ECDSA on P-256 with SHA-256) with precomputed tables, on `p256`'s
//! public point arithmetic.
//!
//! `p256` 0.13 computes `u1·G + u2·Q` as two constant-time scalar multiplications (256
//! doublings each). Verification handles only public data (key, signature, message hash), so
//! it may run in variable time: each point gets a table of its multiples, built once (G per
//! VM, Q when the key is parsed), and the sum is about 100 mixed additions and 15 doublings.
//!
//! Each scalar is recoded in signed `W`-bit digits `d_i` (in `-2^(W-1)+1 ..= 2^(W-1)`), so
//! `u = Σ d_i·2^(W·i)`. With `i = S·j + k`, `u·P = Σ_k 2^(W·k) · Σ_j d_(S·j+k)·T_j` where
//! `T_j = 2^(W·S·j)·P`: the table holds `m·T_j` for `m` in `1..=2^(W-1)` (a negative digit
//! adds the negated point), and the sum runs as Horner over `k` (W doublings per step).

use p256::ecdsa::Signature;
use p256::elliptic_curve::group::Group;
use p256::elliptic_curve::ops::Reduce;
use p256::elliptic_curve::point::AffineCoordinates;
use p256::{AffinePoint, ProjectivePoint, Scalar, U256};
use std::sync::{Arc, Mutex, OnceLock};

/// Digit width in bits (5 against 4: about 12 % faster checks, tables 1.6x as large).
pub const W: usize = 5;
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
type Table = [AffinePoint; TABLE_LEN];

/// A P-256 public key with its table (224 points, about 15 KB; shared by clones of the key set).
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
    pub fn new(key: p256::ecdsa::VerifyingKey) -> Es256Key {
        let table = recent_table(&key);
        // Built now rather than on the first token.
        generator_table();
        Es256Key { key, table }
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
        let acc = self.combination(&(z * s_inv), &(*r * s_inv));
        if bool::from(acc.is_identity()) {
            return false;
        }
        let x = acc.to_affine().x();
        <Scalar as Reduce<U256>>::reduce_bytes(&x) == *r
    }

    /// `u1·G + u2·Q`, Q this key.
    pub fn combination(&self, u1: &Scalar, u2: &Scalar) -> ProjectivePoint {
        let (u1, u2) = (digits(u1), digits(u2));
        let g = generator_table();
        let mut acc = ProjectivePoint::IDENTITY;
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
        acc
    }
}

/// `acc + d·T` where `row[m - 1] = m·T`.
fn add_digit(acc: ProjectivePoint, row: &[AffinePoint], d: i8) -> ProjectivePoint {
    let m = usize::from(d.unsigned_abs());
    match row.get(m.wrapping_sub(1)) {
        None => acc, // d = 0
        Some(point) if d > 0 => acc + point,
        Some(point) => acc + -*point,
    }
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

/// The table of `point` (not the identity): `table[j·HALF + m - 1] = m·2^(W·S·j)·point`.
fn table(point: ProjectivePoint) -> Table {
    let mut projective = [ProjectivePoint::IDENTITY; TABLE_LEN];
    let mut base = point;
    for row in projective.chunks_mut(HALF) {
        let mut multiple = base;
        for entry in row.iter_mut() {
            *entry = multiple;
            multiple += base;
        }
        for _ in 0..W * S {
            base = base.double();
        }
    }
    // One inversion per entry: p256 0.13 has no batch normalisation (its point coordinates
    // are private). A few milliseconds per table in V8, once per key.
    projective.map(|p| p.to_affine())
}

/// Tables kept for the keys parsed last, most recent last: a JWKS refresh parses its keys
/// again every few minutes, mostly the same, and a table costs milliseconds.
const RECENT_TABLES: usize = 8;

/// `key`'s table, from the recent ones or built (and kept).
fn recent_table(key: &p256::ecdsa::VerifyingKey) -> Arc<Table> {
    static RECENT: Mutex<Vec<(p256::ecdsa::VerifyingKey, Arc<Table>)>> = Mutex::new(Vec::new());
    let build = || Arc::new(table(ProjectivePoint::from(*key.as_affine())));
    let Ok(mut recent) = RECENT.lock() else {
        return build(); // poisoned: nothing here panics, but do without the cache
    };
    if let Some(at) = recent.iter().position(|(k, _)| k == key) {
        let entry = recent.remove(at);
        let table = Arc::clone(&entry.1);
        recent.push(entry);
        return table;
    }
    let table = build();
    if recent.len() >= RECENT_TABLES {
        recent.remove(0);
    }
    recent.push((*key, Arc::clone(&table)));
    table
}

/// Whether two keys share one table (the core's tests check the table cache).
#[doc(hidden)]
pub fn same_table(a: &Es256Key, b: &Es256Key) -> bool {
    Arc::ptr_eq(&a.table, &b.table)
}

/// The generator's table, built on first use (once per VM).
fn generator_table() -> &'static Table {
    static G: OnceLock<Box<Table>> = OnceLock::new();
    G.get_or_init(|| Box::new(table(ProjectivePoint::GENERATOR)))
}
