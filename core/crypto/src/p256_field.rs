//! Arithmetic modulo P-256's prime `p`, in 32-bit limbs, for the ES256 check (p256_point.rs).
//!
//! Why not `p256`'s own field: on wasm32, p256 0.13 runs its 64-bit algorithm on `u64` limbs,
//! so every limb product is a 128-bit product, which wasm32 has not: a call to
//! compiler-builtins' `__multi3` (V8 profile of an ES256 check: 39 % in `__multi3`, 29 % in
//! `fe_mul`). Here a limb product is one `i64.mul`; products are formed column by column
//! (FIPS, "finely integrated product scanning", Koç, Acar and Kaliski 1996): each column's
//! products are summed in an accumulator, and the reduction's products join the same columns,
//! so each limb of the result is written once. The loops have fixed bounds, so they unroll,
//! and the products by p's limbs (0, 1 or 2^32 − 1) fold away.
//!
//! Elements are in Montgomery form (`a·R mod p`, `R = 2^256`) and always fully reduced, so
//! equal elements have equal limbs. Only public data is handled: nothing is constant-time.

// Index loops over fixed bounds: the limb arithmetic reads best this way, and unrolls.
#![allow(clippy::needless_range_loop)]

/// A column accumulator: `lo + hi·2^32`, where each product's low half goes into `lo` and
/// its high half into `hi`, so no addition carries (a column has at most 16 products plus the
/// carry in, far below 2^64 in either word).
#[derive(Clone, Copy, Default)]
struct Acc {
    lo: u64,
    hi: u64,
}

impl Acc {
    #[inline(always)]
    fn add(&mut self, x: u32, y: u32) {
        let p = u64::from(x) * u64::from(y);
        self.lo += p & 0xffff_ffff;
        self.hi += p >> 32;
    }

    /// The low limb, and the accumulator shifted down by one limb.
    #[inline(always)]
    fn shift(&mut self) -> u32 {
        let low = self.lo as u32;
        self.lo = (self.lo >> 32) + self.hi;
        self.hi = 0;
        low
    }
}

/// A field element in Montgomery form, least significant limb first, below `p`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Fe([u32; 8]);

/// `p = 2^256 − 2^224 + 2^192 + 2^96 − 1`. `p ≡ −1 mod 2^32`, so `−p⁻¹ mod 2^32 = 1`: a
/// column's reduction limb is its own low limb.
const P: [u32; 8] = [u32::MAX, u32::MAX, u32::MAX, 0, 0, 0, 1, u32::MAX];
/// `R² mod p`: a product with it brings an integer into Montgomery form.
const R2: Fe = Fe([
    3,
    0,
    u32::MAX,
    0xffff_fffb,
    0xffff_fffe,
    u32::MAX,
    0xffff_fffd,
    4,
]);

impl Fe {
    pub const ZERO: Fe = Fe([0; 8]);
    /// 1 in Montgomery form (`R mod p`).
    pub const ONE: Fe = Fe([1, 0, 0, u32::MAX, u32::MAX, u32::MAX, 0xffff_fffe, 0]);

    /// The integer `bytes` (big-endian), if below `p`.
    pub fn from_be_bytes(bytes: &[u8; 32]) -> Option<Fe> {
        let limbs = limbs_of(bytes);
        (!at_least_p(&limbs, 0)).then(|| Fe(limbs).mul(&R2))
    }

    /// The integer `self` stands for, big-endian (out of Montgomery form).
    pub fn to_be_bytes(&self) -> [u8; 32] {
        let mut one = [0u32; 8];
        one[0] = 1;
        let plain = self.mul(&Fe(one)).0;
        let mut out = [0u8; 32];
        for (chunk, limb) in out.rchunks_mut(4).zip(plain) {
            chunk.copy_from_slice(&limb.to_be_bytes());
        }
        out
    }

    pub fn is_zero(&self) -> bool {
        self.0 == [0; 8]
    }

    /// `self·other·R⁻¹ mod p`: the Montgomery product, column by column.
    #[inline]
    pub fn mul(&self, other: &Fe) -> Fe {
        let (a, b) = (&self.0, &other.0);
        let mut out = [0u32; 8];
        let mut acc = Acc::default();
        for i in 0..8 {
            for j in 0..i {
                acc.add(a[j], b[i - j]);
                acc.add(out[j], P[i - j]);
            }
            acc.add(a[i], b[0]);
            let m = acc.lo as u32; // times −p⁻¹ = 1
            out[i] = m;
            acc.add(m, P[0]);
            acc.shift(); // zero
        }
        for i in 8..16 {
            for j in i - 7..8 {
                acc.add(a[j], b[i - j]);
                acc.add(out[j], P[i - j]);
            }
            out[i - 8] = acc.shift();
        }
        Fe(reduced(out, acc.lo as u32))
    }

    /// `self²`, as a product: in V8 a dedicated squaring (each cross product formed once)
    /// measured slower, its loops with bounds that vary per column unrolled less well.
    #[inline]
    pub fn square(&self) -> Fe {
        self.mul(self)
    }

    pub fn add(&self, other: &Fe) -> Fe {
        let mut out = [0u32; 8];
        let mut carry = 0u64;
        for i in 0..8 {
            let sum = u64::from(self.0[i]) + u64::from(other.0[i]) + carry;
            out[i] = sum as u32;
            carry = sum >> 32;
        }
        Fe(reduced(out, carry as u32))
    }

    pub fn sub(&self, other: &Fe) -> Fe {
        let mut out = [0u32; 8];
        let mut borrow = 0u64;
        for i in 0..8 {
            let d = u64::from(self.0[i]).wrapping_sub(u64::from(other.0[i]) + borrow);
            out[i] = d as u32;
            borrow = d >> 63;
        }
        if borrow != 0 {
            // Below zero: add p back (the carry out cancels the borrow).
            let mut carry = 0u64;
            for i in 0..8 {
                let sum = u64::from(out[i]) + u64::from(P[i]) + carry;
                out[i] = sum as u32;
                carry = sum >> 32;
            }
        }
        Fe(out)
    }

    pub fn neg(&self) -> Fe {
        Fe::ZERO.sub(self)
    }

    pub fn double(&self) -> Fe {
        self.add(self)
    }

    /// `self⁻¹` (`self^(p−2)`), zero for zero: square and multiply, for building tables.
    pub fn invert(&self) -> Fe {
        let mut exponent = P;
        exponent[0] -= 2; // p's low limb is 2^32 − 1
        let mut out = Fe::ONE;
        for limb in exponent.iter().rev() {
            for bit in (0..32).rev() {
                out = out.square();
                if limb >> bit & 1 == 1 {
                    out = out.mul(self);
                }
            }
        }
        out
    }
}

/// Big-endian bytes as limbs, least significant first.
pub(crate) fn limbs_of(bytes: &[u8; 32]) -> [u32; 8] {
    let mut out = [0u32; 8];
    for (limb, chunk) in out.iter_mut().zip(bytes.rchunks(4)) {
        *limb = chunk.iter().fold(0, |acc, &b| acc << 8 | u32::from(b));
    }
    out
}

/// Whether `x + carry·2^256 >= p`.
fn at_least_p(x: &[u32; 8], carry: u32) -> bool {
    if carry != 0 {
        return true;
    }
    for i in (0..8).rev() {
        if x[i] != P[i] {
            return x[i] > P[i];
        }
    }
    true
}

/// `x + carry·2^256`, known to be below `2p`, reduced below `p`.
#[inline]
fn reduced(mut x: [u32; 8], carry: u32) -> [u32; 8] {
    if at_least_p(&x, carry) {
        let mut borrow = 0u64;
        for i in 0..8 {
            let d = u64::from(x[i]).wrapping_sub(u64::from(P[i]) + borrow);
            x[i] = d as u32;
            borrow = d >> 63;
        }
    }
    x
}
