//! Montgomery arithmetic modulo an odd RSA modulus, for RS256, RS384 and RS512 (pkcs1.rs).
//!
//! Numbers are limbs of 27 bits, least significant first, each in a `u32`. A limb product is
//! below 2^54, so a whole column of a product (at most `2·len` limb products, `len` at most
//! [`MAX_LIMBS`], and the carry in) adds up in one `u64` with no carry handling. Products are
//! formed column by column (FIPS, "finely integrated product scanning", Koç, Acar and Kaliski
//! 1996): the reduction's products join the same columns, so each limb of the result is
//! written once. Columns go in pairs: each pair is dot products of contiguous slices (the
//! second operand and `n` read from reversed copies), which on wasm32 run in SIMD
//! (`i64x2.extmul_*_i32x4_u`: two limb products per instruction) and elsewhere in a scalar
//! loop. Zeros around each number (`Padded`) let every dot product run on to a multiple of
//! 4 limbs, so no column has a leftover loop.
//!
//! Why not 32-bit limbs, 15 % fewer of them: each product then needs its carry split off (a
//! `u64` holds one), and cannot be summed in a vector lane. In V8 (bench/jwt-micro) a
//! 2048-bit squaring took 9.1 µs that way, 6.0 µs this way; an RS256 check 174 → 116 µs.
//! Only public data is handled (key, signature), so nothing here runs in constant time.

/// Bits per limb.
pub const LIMB_BITS: usize = 27;
const LIMB_MASK: u32 = (1 << LIMB_BITS) - 1;
/// The most limbs a modulus may have (8,100 bits): `(2·MAX_LIMBS + 2)` products below 2^54,
/// plus a carry, stay below 2^64.
pub const MAX_LIMBS: usize = 300;

/// A modulus `n` (odd, at least two limbs) and what products modulo it need.
#[derive(Clone, PartialEq, Eq)]
pub struct Modulus {
    /// `n`, least significant limb first.
    n: Vec<u32>,
    /// `n`, most significant limb first: a column reads `n[i − j]` as `j` grows.
    n_reversed: Padded,
    /// `-n⁻¹ mod 2^27`.
    n0: u32,
}

impl Modulus {
    /// `n` as big-endian bytes; `None` unless it is odd, at least 28 bits long and at most
    /// [`MAX_LIMBS`] limbs.
    pub fn new(n: &[u8]) -> Option<Modulus> {
        let n = limbs(n, None)?;
        let low = *n.first()?;
        if low & 1 == 0 || n.len() < 2 || n.len() > MAX_LIMBS {
            return None;
        }
        // n⁻¹ mod 2^32 by Newton's iteration: each step doubles the correct low bits.
        let mut inv = 1u32;
        for _ in 0..5 {
            inv = inv.wrapping_mul(2u32.wrapping_sub(low.wrapping_mul(inv)));
        }
        Some(Modulus {
            n_reversed: Padded::reversed(&n, n.len()),
            n,
            n0: inv.wrapping_neg() & LIMB_MASK,
        })
    }

    /// Limbs per number.
    pub fn limb_count(&self) -> usize {
        self.n.len()
    }

    /// `x` as big-endian bytes, if it is below `n`, as limbs.
    pub fn element(&self, x: &[u8]) -> Option<Vec<u32>> {
        let x = limbs(x, Some(self.n.len()))?;
        (!self.at_least_n(&x)).then_some(x)
    }

    /// The integer the limbs `x` stand for, as big-endian bytes (`len` of them, the low ones
    /// if it needs more).
    pub fn to_be_bytes(x: &[u32], len: usize) -> Vec<u8> {
        let mut out = vec![0u8; len];
        let (mut window, mut bits) = (0u64, 0);
        let mut bytes = out.iter_mut().rev();
        for &limb in x {
            window |= u64::from(limb) << bits;
            bits += LIMB_BITS;
            while bits >= 8 {
                if let Some(b) = bytes.next() {
                    *b = window as u8;
                }
                window >>= 8;
                bits -= 8;
            }
        }
        if let Some(b) = bytes.next() {
            *b = window as u8;
        }
        out
    }

    /// `R = 2^r_bits`: the Montgomery radix for this modulus.
    pub fn r_bits(&self) -> usize {
        LIMB_BITS * self.n.len()
    }

    /// `2^bits mod n`, by doubling (only when a key is parsed).
    pub fn power_of_two(&self, bits: usize) -> Vec<u32> {
        let mut x = vec![0u32; self.n.len()];
        if let Some(low) = x.first_mut() {
            *low = 1;
        }
        for _ in 0..bits {
            let mut carry = 0u32;
            for limb in x.iter_mut() {
                let doubled = *limb << 1 | carry;
                *limb = doubled & LIMB_MASK;
                carry = doubled >> LIMB_BITS;
            }
            if carry != 0 || self.at_least_n(&x) {
                self.subtract_n(&mut x);
            }
        }
        x
    }

    /// `a·b·R⁻¹ mod n` into `out` (`a`, `b` below `n`, all `len` limbs).
    // SIMD for the whole product, so that the dot products inline.
    #[cfg_attr(target_arch = "wasm32", target_feature(enable = "simd128"))]
    pub fn mul(&self, a: &[u32], b: &[u32], out: &mut [u32]) {
        let s = self.n.len();
        let (a, b_reversed) = (Padded::forward(a, s), Padded::reversed(b, s));
        let mut m = Padded::forward(&[], s);
        let mut carry = 0u64;
        for i in (0..2 * s).step_by(2) {
            // Columns i and i + 1 together: j in lo..hi covers both, the terms outside
            // either column meeting a zero of the padding; m[i] and m[i + 1] are still 0.
            let lo = (i + 1).saturating_sub(s);
            let len = ((i + 2).min(s) - lo).next_multiple_of(4);
            let j = FRONT + lo;
            let products = dot_pair(a.from(j, len), b_reversed.column_pair(i, j, len));
            let reductions = dot_pair(m.from(j, len), self.n_reversed.column_pair(i, j, len));
            let column = (products.0 + reductions.0, products.1 + reductions.1);
            carry = self.columns_done(i, column, carry, &mut m, out);
        }
        self.finish(out, carry);
    }

    /// `a²·R⁻¹ mod n` into `out`: the products `a[j]·a[i − j]` with `j < i − j` once, doubled.
    #[cfg_attr(target_arch = "wasm32", target_feature(enable = "simd128"))]
    pub fn square(&self, a: &[u32], out: &mut [u32]) {
        let s = self.n.len();
        let (a, a_reversed) = (Padded::forward(a, s), Padded::reversed(a, s));
        let mut m = Padded::forward(&[], s);
        let mut carry = 0u64;
        for i in (0..2 * s).step_by(2) {
            // Column i: j < i/2, then a[i/2]²; column i + 1: j < i/2, then a[i/2]·a[i/2 + 1].
            // The cross products end exactly at i/2 and start at most 3 limbs early, on zeros
            // of the padding (j < 0, or i − j past the top limb).
            let (lo, half) = ((i + 1).saturating_sub(s), i / 2);
            let len = half.saturating_sub(lo).next_multiple_of(4);
            let first = FRONT + half - len;
            let cross = dot_pair(a.from(first, len), a_reversed.column_pair(i, first, len));
            let (middle, next) = (a.at(half), a.at(half + 1));
            let products = (
                2 * cross.0 + u64::from(middle) * u64::from(middle),
                2 * (cross.1 + u64::from(middle) * u64::from(next)),
            );
            let (j, len) = (FRONT + lo, ((i + 2).min(s) - lo).next_multiple_of(4));
            let reductions = dot_pair(m.from(j, len), self.n_reversed.column_pair(i, j, len));
            let column = (products.0 + reductions.0, products.1 + reductions.1);
            carry = self.columns_done(i, column, carry, &mut m, out);
        }
        self.finish(out, carry);
    }

    /// After the products of columns `i` and `i + 1` (`column`, without the reduction limbs
    /// `m_i`, `m_(i + 1)`): below `len`, each column's reduction limb, which clears its low
    /// limb; from `len` on, limbs of the result. Returns the carry into column `i + 2`.
    #[inline(always)]
    fn columns_done(
        &self,
        i: usize,
        column: (u64, u64),
        carry: u64,
        m: &mut Padded,
        out: &mut [u32],
    ) -> u64 {
        let carry = self.column_done(i, column.0 + carry, m, out);
        // m_i was 0 in column i + 1's products: its term m_i·n[1] joins now.
        let late = u64::from(m.at(i)) * u64::from(self.n[1]);
        self.column_done(i + 1, column.1 + late + carry, m, out)
    }

    /// Column `k`: below `len`, the reduction limb `m_k` that clears its low limb; from `len`
    /// on, a limb of the result. Returns the carry into the next column.
    #[inline(always)]
    fn column_done(&self, k: usize, column: u64, m: &mut Padded, out: &mut [u32]) -> u64 {
        let s = self.n.len();
        if k < s {
            let m_k = (column as u32).wrapping_mul(self.n0) & LIMB_MASK;
            m.set(k, m_k);
            (column + u64::from(m_k) * u64::from(self.n[0])) >> LIMB_BITS
        } else {
            if let Some(limb) = out.get_mut(k - s) {
                *limb = column as u32 & LIMB_MASK;
            }
            column >> LIMB_BITS
        }
    }

    /// `out + carry·R` is below `2n < 2R`: subtract `n` once if needed.
    fn finish(&self, out: &mut [u32], carry: u64) {
        let Some(out) = out.get_mut(..self.n.len()) else {
            return; // not `len` limbs: callers always pass them
        };
        if carry != 0 || self.at_least_n(out) {
            self.subtract_n(out);
        }
    }

    /// Whether `x >= n` (`x` of `len` limbs).
    fn at_least_n(&self, x: &[u32]) -> bool {
        for (a, b) in x.iter().rev().zip(self.n.iter().rev()) {
            if a != b {
                return a > b;
            }
        }
        true
    }

    /// `x - n` modulo `R`.
    fn subtract_n(&self, x: &mut [u32]) {
        let mut borrow = 0u32;
        for (a, &b) in x.iter_mut().zip(&self.n) {
            let d = a.wrapping_sub(b).wrapping_sub(borrow);
            *a = d & LIMB_MASK;
            borrow = d >> 31;
        }
    }
}

/// Big-endian `bytes` as limbs: exactly `len` of them if given (`None` if they do not fit),
/// else as many as the value needs.
fn limbs(bytes: &[u8], len: Option<usize>) -> Option<Vec<u32>> {
    let first = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
    let bytes = &bytes[first..];
    let bits = bytes
        .first()
        .map_or(0, |top| 8 * bytes.len() - top.leading_zeros() as usize);
    let needed = bits.div_ceil(LIMB_BITS);
    let len = match len {
        Some(len) if needed > len => return None,
        Some(len) => len,
        None => needed,
    };
    let mut out = vec![0u32; len];
    let (mut window, mut bits) = (0u64, 0);
    let mut limbs = out.iter_mut();
    for &b in bytes.iter().rev() {
        window |= u64::from(b) << bits;
        bits += 8;
        if bits >= LIMB_BITS {
            if let Some(limb) = limbs.next() {
                *limb = window as u32 & LIMB_MASK;
            }
            window >>= LIMB_BITS;
            bits -= LIMB_BITS;
        }
    }
    if let Some(limb) = limbs.next() {
        *limb = window as u32;
    }
    Some(out)
}

/// A number's limbs between zeros: `FRONT` before and `BACK` after, so that a column's dot
/// products can run on to a multiple of 4 limbs (the terms they add meet a zero).
#[derive(Clone, PartialEq, Eq)]
struct Padded {
    /// The limbs, least significant first (`forward`) or most significant first (`reversed`),
    /// with the zeros.
    limbs: Vec<u32>,
    /// Limbs per number.
    len: usize,
}

const FRONT: usize = 4;
const BACK: usize = 8;

impl Padded {
    /// `x[j]` at `FRONT + j` (for `j` in `-FRONT..len + BACK`: zero outside `x`).
    fn forward(x: &[u32], len: usize) -> Padded {
        let mut limbs = vec![0u32; FRONT + len + BACK];
        for (to, &from) in limbs[FRONT..FRONT + len].iter_mut().zip(x) {
            *to = from;
        }
        Padded { limbs, len }
    }

    /// `x[t]` at `FRONT + len − 1 − t` (for `t` in `-BACK..len + FRONT`: zero outside `x`).
    fn reversed(x: &[u32], len: usize) -> Padded {
        let mut padded = Padded::forward(x, len);
        padded.limbs[FRONT..FRONT + len].reverse();
        padded
    }

    /// The `count` limbs of a forward number from `x[j]`, given as `FRONT + j` (`j` may be
    /// below 0).
    #[inline(always)]
    fn from(&self, front_plus_j: usize, count: usize) -> &[u32] {
        self.limbs
            .get(front_plus_j..front_plus_j + count)
            .unwrap_or(&[])
    }

    /// For a reversed `y`, and `j` from `FRONT + j` on: the `count + 1` limbs from
    /// `y[i + 1 − j]` (read backwards through `y`): without the first, `y[i − j]`; without the
    /// last, `y[i + 1 − j]`.
    #[inline(always)]
    fn column_pair(&self, i: usize, front_plus_j: usize, count: usize) -> &[u32] {
        // y[i + 1 − j] is at FRONT + len − 2 − i + j, at least 1 (j ≥ i + 1 − len − 3).
        let start = (front_plus_j + self.len).saturating_sub(i + 2);
        self.limbs.get(start..start + count + 1).unwrap_or(&[])
    }

    /// `x[j]` of a forward number (zero outside it).
    #[inline(always)]
    fn at(&self, j: usize) -> u32 {
        self.limbs.get(FRONT + j).copied().unwrap_or(0)
    }

    fn set(&mut self, j: usize, limb: u32) {
        if let Some(to) = self.limbs.get_mut(FRONT + j) {
            *to = limb;
        }
    }
}

// The dot products: `(Σ x[j]·y0[j], Σ x[j]·y1[j])` over slices of the same length, a multiple
// of 4, whose limbs are below 2^27. On wasm32 in SIMD (below); elsewhere one limb product at a
// time.

#[cfg(not(target_arch = "wasm32"))]
use scalar::dot_pair;

#[cfg(target_arch = "wasm32")]
use simd::dot_pair;

#[doc(hidden)]
pub mod scalar {
    #[inline(always)]
    pub fn dot(x: &[u32], y: &[u32]) -> u64 {
        x.iter()
            .zip(y)
            .map(|(&a, &b)| u64::from(a) * u64::from(b))
            .fold(0, u64::wrapping_add)
    }

    /// `(Σ x[j]·y[j + 1], Σ x[j]·y[j])`: `y` has one limb more than `x`.
    #[inline(always)]
    pub fn dot_pair(x: &[u32], y: &[u32]) -> (u64, u64) {
        (dot(x, y.get(1..).unwrap_or(&[])), dot(x, y))
    }
}

/// Four limb products at a time in two `u64` lanes (`i64x2.extmul_*_i32x4_u`). Every load is
/// `and`-ed with the limb mask, which changes no limb but keeps LLVM from splitting each
/// 16-byte load into two zero-extending 8-byte loads and an `i64x2.mul`, which V8 emulates
/// with three multiplies.
#[cfg(target_arch = "wasm32")]
#[doc(hidden)]
pub mod simd {
    use super::LIMB_MASK;
    use core::arch::wasm32::{
        u32x4, u32x4_splat, u64x2_add, u64x2_extmul_high_u32x4, u64x2_extmul_low_u32x4,
        u64x2_extract_lane, u64x2_splat, v128, v128_and,
    };

    #[inline]
    #[target_feature(enable = "simd128")]
    fn load(x: &[u32], mask: v128) -> v128 {
        match x {
            [a, b, c, d, ..] => v128_and(u32x4(*a, *b, *c, *d), mask),
            _ => u64x2_splat(0),
        }
    }

    #[inline]
    #[target_feature(enable = "simd128")]
    fn products(sums: v128, x: v128, y: v128) -> v128 {
        let sums = u64x2_add(sums, u64x2_extmul_low_u32x4(x, y));
        u64x2_add(sums, u64x2_extmul_high_u32x4(x, y))
    }

    #[inline]
    #[target_feature(enable = "simd128")]
    fn total(sums: v128) -> u64 {
        u64x2_extract_lane::<0>(sums).wrapping_add(u64x2_extract_lane::<1>(sums))
    }

    #[inline]
    #[target_feature(enable = "simd128")]
    pub fn dot_pair(x: &[u32], y: &[u32]) -> (u64, u64) {
        let mask = u32x4_splat(LIMB_MASK);
        let (mut sums0, mut sums1) = (u64x2_splat(0), u64x2_splat(0));
        let ys = y
            .get(1..)
            .unwrap_or(&[])
            .chunks_exact(4)
            .zip(y.chunks_exact(4));
        for (x, (y0, y1)) in x.chunks_exact(4).zip(ys) {
            let x = load(x, mask);
            sums0 = products(sums0, x, load(y0, mask));
            sums1 = products(sums1, x, load(y1, mask));
        }
        (total(sums0), total(sums1))
    }
}
