//! Montgomery arithmetic modulo an odd RSA modulus, in 32-bit limbs, for RS256 (rs256.rs).
//!
//! Products are formed column by column (FIPS, "finely integrated product scanning", Koç,
//! Acar and Kaliski 1996): each column's products are summed in a 64-bit accumulator with a
//! carry word, and the reduction's products join the same columns, so each limb of the
//! result is written once. A squaring forms each cross product once and doubles the column.
//! In wasm32 a 32×32→64 product is one `i64.mul`; 64-bit limbs would need 128-bit products,
//! which wasm32 does not have. One copy serves every modulus length (no const generics).
//! Only public data is handled (key, signature), so nothing here runs in constant time.

/// A modulus `n` (odd, at least two limbs) and what products modulo it need.
#[derive(Clone, PartialEq, Eq)]
pub struct Modulus {
    /// `n`, least significant limb first.
    n: Vec<u32>,
    /// `-n⁻¹ mod 2^32`.
    n0: u32,
}

/// A column accumulator: `lo + hi·2^32`, where each product's low half goes into `lo` and
/// its high half into `hi`, so no addition carries (a column has at most 2·128 products plus
/// the carry in, far below 2^64 in either word).
#[derive(Clone, Copy, Default)]
pub(crate) struct Acc {
    pub(crate) lo: u64,
    hi: u64,
}

impl Acc {
    #[inline(always)]
    pub(crate) fn add(&mut self, x: u32, y: u32) {
        let p = u64::from(x) * u64::from(y);
        self.lo += p & 0xffff_ffff;
        self.hi += p >> 32;
    }

    #[inline(always)]
    pub(crate) fn add_acc(&mut self, other: Acc) {
        self.lo += other.lo;
        self.hi += other.hi;
    }

    #[inline(always)]
    pub(crate) fn double(&mut self) {
        self.lo <<= 1;
        self.hi <<= 1;
    }

    /// The low limb, and the accumulator shifted down by one limb.
    #[inline(always)]
    pub(crate) fn shift(&mut self) -> u32 {
        let low = self.lo as u32;
        self.lo = (self.lo >> 32) + self.hi;
        self.hi = 0;
        low
    }
}

impl Modulus {
    /// `n` as big-endian bytes; `None` unless it is odd and at least 33 bits long.
    pub fn new(n: &[u8]) -> Option<Modulus> {
        let significant = n.iter().skip_while(|&&b| b == 0).count();
        let n = limbs(n, significant.div_ceil(4))?;
        let low = *n.first()?;
        if low & 1 == 0 || n.len() < 2 || n.last() == Some(&0) {
            return None;
        }
        // n⁻¹ mod 2^32 by Newton's iteration: each step doubles the correct low bits.
        let mut inv = 1u32;
        for _ in 0..5 {
            inv = inv.wrapping_mul(2u32.wrapping_sub(low.wrapping_mul(inv)));
        }
        Some(Modulus {
            n,
            n0: inv.wrapping_neg(),
        })
    }

    /// Limbs per number.
    pub fn limb_count(&self) -> usize {
        self.n.len()
    }

    /// `x` as big-endian bytes, if it is below `n`, as limbs.
    pub fn element(&self, x: &[u8]) -> Option<Vec<u32>> {
        let x = limbs(x, self.n.len())?;
        (!self.at_least_n(&x, 0)).then_some(x)
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
                let next = *limb >> 31;
                *limb = *limb << 1 | carry;
                carry = next;
            }
            if self.at_least_n(&x, carry) {
                self.subtract_n(&mut x);
            }
        }
        x
    }

    /// `a·b·R⁻¹ mod n` into `out` (`R = 2^(32·len)`; `a`, `b` below `n`, all `len` limbs).
    // Slices zipped with their reversals: no bounds check per product. This crate is built
    // at opt-level 3, where the adapters inline; in V8 a check took a third less time than
    // with index loops (bench/jwt-micro). In the core at opt-level "z" they did not inline
    // and ran four times slower.
    pub fn mul(&self, a: &[u32], b: &[u32], out: &mut [u32]) {
        let n = &self.n[..];
        let s = n.len();
        let (a, b, out) = (&a[..s], &b[..s], &mut out[..s]);
        let mut acc = Acc::default();
        let mut i = 0;
        while i < s {
            // j < i: a[j]·b[i − j] and out[j]·n[i − j].
            let products = a[..i].iter().zip(b[1..=i].iter().rev());
            let reductions = out[..i].iter().zip(n[1..=i].iter().rev());
            for ((&x, &y), (&m, &p)) in products.zip(reductions) {
                acc.add(x, y);
                acc.add(m, p);
            }
            acc.add(a[i], b[0]);
            self.reduce_column(&mut acc, out, i);
            i += 1;
        }
        while i < 2 * s {
            // j in i + 1 − s .. s, so i − j runs from s − 1 down to i + 1 − s.
            let low = i + 1 - s;
            let products = a[low..].iter().zip(b[low..].iter().rev());
            let reductions = out[low..].iter().zip(n[low..].iter().rev());
            for ((&x, &y), (&m, &p)) in products.zip(reductions) {
                acc.add(x, y);
                acc.add(m, p);
            }
            out[i - s] = acc.shift();
            i += 1;
        }
        self.finish(out, acc.lo as u32);
    }

    /// `a²·R⁻¹ mod n` into `out`: the products `a[j]·a[i-j]` with `j < i - j` once, doubled.
    pub fn square(&self, a: &[u32], out: &mut [u32]) {
        let n = &self.n[..];
        let s = n.len();
        let (a, out) = (&a[..s], &mut out[..s]);
        let mut acc = Acc::default();
        let mut i = 0;
        while i < 2 * s {
            let low = (i + 1).saturating_sub(s);
            let mut cross = Acc::default();
            // j from low while j < i − j, paired with i − j from i − low down.
            let mid = i.div_ceil(2);
            for (&x, &y) in a[low..mid]
                .iter()
                .zip(a[i + 1 - mid..=i - low].iter().rev())
            {
                cross.add(x, y);
            }
            cross.double();
            if i % 2 == 0 {
                cross.add(a[i / 2], a[i / 2]);
            }
            acc.add_acc(cross);
            if i < s {
                for (&m, &p) in out[..i].iter().zip(n[1..=i].iter().rev()) {
                    acc.add(m, p);
                }
                self.reduce_column(&mut acc, out, i);
            } else {
                for (&m, &p) in out[low..].iter().zip(n[low..].iter().rev()) {
                    acc.add(m, p);
                }
                out[i - s] = acc.shift();
            }
            i += 1;
        }
        self.finish(out, acc.lo as u32);
    }

    /// Column `i < len`: the reduction limb `m_i` that clears the column, stored in `out[i]`.
    #[inline(always)]
    fn reduce_column(&self, acc: &mut Acc, out: &mut [u32], i: usize) {
        let m = (acc.lo as u32).wrapping_mul(self.n0);
        out[i] = m;
        acc.add(m, self.n[0]);
        acc.shift(); // zero
    }

    /// `out + carry·R` is below `2n`: subtract `n` once if needed.
    fn finish(&self, out: &mut [u32], carry: u32) {
        if self.at_least_n(out, carry) {
            self.subtract_n(out);
        }
    }

    /// Whether `x + carry·R >= n`.
    fn at_least_n(&self, x: &[u32], carry: u32) -> bool {
        if carry != 0 {
            return true;
        }
        for (a, b) in x.iter().rev().zip(self.n.iter().rev()) {
            if a != b {
                return a > b;
            }
        }
        true
    }

    /// `x - n` modulo `R`.
    fn subtract_n(&self, x: &mut [u32]) {
        let mut borrow = 0u64;
        for (a, b) in x.iter_mut().zip(&self.n) {
            let d = u64::from(*a).wrapping_sub(u64::from(*b) + borrow);
            *a = d as u32;
            borrow = d >> 63;
        }
    }
}

/// Big-endian `bytes` as `len` limbs, least significant first; `None` if they do not fit.
fn limbs(bytes: &[u8], len: usize) -> Option<Vec<u32>> {
    let first = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
    let bytes = &bytes[first..];
    if bytes.len() > len * 4 {
        return None;
    }
    let mut out = vec![0u32; len];
    for (limb, chunk) in out.iter_mut().zip(bytes.rchunks(4)) {
        *limb = chunk.iter().fold(0, |acc, &b| acc << 8 | u32::from(b));
    }
    Some(out)
}
