//! P-256 points for the ES256 sum (es256.rs): affine table entries, and a Jacobian
//! accumulator `(X, Y, Z)` standing for `(X/Z², Y/Z³)`, `Z = 0` the identity.
//!
//! The formulas are the classic incomplete ones (Explicit-Formulas Database, a = −3):
//! doubling `dbl-2001-b` (3M + 5S) and mixed addition `madd-2004-hmv` (8M + 3S), against
//! p256's complete formulas (about 12M + 2 products by b each) and its field inversion at the
//! end: the check `x(R) = r` compares `X` with `r·Z²` instead. The cases the incomplete
//! addition cannot take (the identity, `P + P`, `P − P`) are tested for and handled; a
//! signature can steer the sum into them, so they are exercised by the tests.

use crate::p256_field::Fe;

/// An affine point (never the identity: table entries are non-zero multiples).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Affine {
    pub x: Fe,
    pub y: Fe,
}

impl Affine {
    pub fn neg(&self) -> Affine {
        Affine {
            x: self.x,
            y: self.y.neg(),
        }
    }
}

/// A point in Jacobian coordinates.
#[derive(Clone, Copy, Debug)]
pub struct Jacobian {
    pub x: Fe,
    pub y: Fe,
    pub z: Fe,
}

impl Jacobian {
    pub const IDENTITY: Jacobian = Jacobian {
        x: Fe::ONE,
        y: Fe::ONE,
        z: Fe::ZERO,
    };

    pub fn is_identity(&self) -> bool {
        self.z.is_zero()
    }

    /// `2·self` (dbl-2001-b; the identity stays the identity: its `Z` stays 0).
    #[inline]
    pub fn double(&self) -> Jacobian {
        let delta = self.z.square();
        let gamma = self.y.square();
        let beta = self.x.mul(&gamma);
        let t = self.x.sub(&delta).mul(&self.x.add(&delta));
        let alpha = t.double().add(&t);
        let beta4 = beta.double().double();
        let x = alpha.square().sub(&beta4.double());
        let z = self.y.add(&self.z).square().sub(&gamma).sub(&delta);
        let gamma2_8 = gamma.square().double().double().double();
        let y = alpha.mul(&beta4.sub(&x)).sub(&gamma2_8);
        Jacobian { x, y, z }
    }

    /// `self + point` (madd-2004-hmv), with the cases it does not cover handled apart.
    #[inline]
    pub fn add_affine(&self, point: &Affine) -> Jacobian {
        if self.is_identity() {
            return Jacobian {
                x: point.x,
                y: point.y,
                z: Fe::ONE,
            };
        }
        let z1z1 = self.z.square();
        let u2 = point.x.mul(&z1z1);
        let s2 = point.y.mul(&self.z.mul(&z1z1));
        let h = u2.sub(&self.x);
        let r = s2.sub(&self.y);
        if h.is_zero() {
            // The same x: the same point (double it) or its negation (the sum is the identity).
            return if r.is_zero() {
                self.double()
            } else {
                Jacobian::IDENTITY
            };
        }
        let hh = h.square();
        let hhh = h.mul(&hh);
        let v = self.x.mul(&hh);
        let x = r.square().sub(&hhh).sub(&v.double());
        let y = r.mul(&v.sub(&x)).sub(&self.y.mul(&hhh));
        let z = self.z.mul(&h);
        Jacobian { x, y, z }
    }

    /// Whether the affine x of this point (not the identity) is the integer `x` (big-endian,
    /// below `p`): `X = x·Z²`, with no inversion.
    pub fn has_x(&self, x: &[u8; 32]) -> bool {
        match Fe::from_be_bytes(x) {
            Some(x) => !self.is_identity() && x.mul(&self.z.square()) == self.x,
            None => false,
        }
    }

    /// The affine point, given `Z⁻¹` (not the identity).
    pub fn with_z_inverse(&self, z_inv: &Fe) -> Affine {
        let z_inv2 = z_inv.square();
        Affine {
            x: self.x.mul(&z_inv2),
            y: self.y.mul(&z_inv2.mul(z_inv)),
        }
    }

    /// The affine point (`None` for the identity), at the cost of an inversion.
    pub fn to_affine(&self) -> Option<Affine> {
        (!self.is_identity()).then(|| self.with_z_inverse(&self.z.invert()))
    }

    /// Affine coordinates, big-endian (`None` for the identity): for the tests.
    #[doc(hidden)]
    pub fn to_affine_bytes(&self) -> Option<([u8; 32], [u8; 32])> {
        let affine = self.to_affine()?;
        Some((affine.x.to_be_bytes(), affine.y.to_be_bytes()))
    }
}
