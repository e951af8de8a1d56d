//! ES256 with precomputed tables (es256.rs) against `p256`'s own verification: random keys,
//! messages and signatures from a seeded generator, valid and tampered, must get the same
//! answer; the table sum must equal p256's `u1·G + u2·Q` for edge and random scalars.

use p256::ecdsa::signature::hazmat::{PrehashSigner, PrehashVerifier};
use p256::ecdsa::{Signature, SigningKey, VerifyingKey};
use p256::elliptic_curve::ops::Reduce;
use p256::elliptic_curve::PrimeField;
use p256::{ProjectivePoint, Scalar, U256};
use tollgate_crypto::es256::{digits, same_table, x_reduces_to, Es256Key, W};
use tollgate_crypto::p256_field::Fe;
use tollgate_crypto::p256_point::{Affine, Jacobian};

/// splitmix64: a fixed sequence, so a failure reproduces.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn bytes32(&mut self) -> [u8; 32] {
        let mut out = [0u8; 32];
        for chunk in out.chunks_mut(8) {
            chunk.copy_from_slice(&self.next().to_le_bytes());
        }
        out
    }

    fn scalar(&mut self) -> Scalar {
        <Scalar as Reduce<U256>>::reduce_bytes(&self.bytes32().into())
    }
}

fn signing_key(rng: &mut Rng) -> SigningKey {
    loop {
        if let Ok(key) = SigningKey::from_slice(&rng.bytes32()) {
            return key;
        }
    }
}

/// p256's answer, the reference.
fn p256_says(key: &VerifyingKey, digest: &[u8; 32], signature: &[u8]) -> bool {
    Signature::from_slice(signature).is_ok_and(|sig| key.verify_prehash(digest, &sig).is_ok())
}

#[test]
fn agrees_with_p256_on_valid_and_tampered_signatures() {
    let mut rng = Rng(13);
    let mut valid = 0;
    for round in 0..32 {
        let signer = signing_key(&mut rng);
        let public = *signer.verifying_key();
        let ours = Es256Key::new(public).unwrap();
        let other = Es256Key::new(*signing_key(&mut rng).verifying_key()).unwrap();
        for _ in 0..4 {
            let digest = rng.bytes32();
            let sig: Signature = signer.sign_prehash(&digest).unwrap();
            let sig = sig.to_bytes().to_vec();
            assert!(ours.verifies(&digest, &sig), "round {round}: valid refused");
            assert!(p256_says(&public, &digest, &sig));
            valid += 1;
            // The same signature for another key, and with s negated (p256 accepts high s).
            assert!(!other.verifies(&digest, &sig));
            let parsed = Signature::from_slice(&sig).unwrap();
            let high_s = Signature::from_scalars(parsed.r(), -*parsed.s()).unwrap();
            let high_s = high_s.to_bytes().to_vec();
            assert_eq!(
                ours.verifies(&digest, &high_s),
                p256_says(&public, &digest, &high_s)
            );
            // One flipped bit of the digest or of the signature.
            let bit = (rng.next() % 256) as usize;
            let mut changed = digest;
            changed[bit / 8] ^= 1 << (bit % 8);
            assert!(!ours.verifies(&changed, &sig));
            assert!(!p256_says(&public, &changed, &sig));
            let bit = (rng.next() % 512) as usize;
            let mut forged = sig.clone();
            forged[bit / 8] ^= 1 << (bit % 8);
            assert_eq!(
                ours.verifies(&digest, &forged),
                p256_says(&public, &digest, &forged),
                "round {round}, bit {bit}"
            );
            // Random r and s.
            let mut random = rng.bytes32().to_vec();
            random.extend(rng.bytes32());
            assert_eq!(
                ours.verifies(&digest, &random),
                p256_says(&public, &digest, &random)
            );
        }
    }
    assert_eq!(valid, 128);
}

#[test]
fn refuses_out_of_range_r_and_s_and_other_lengths() {
    let mut rng = Rng(7);
    let signer = signing_key(&mut rng);
    let key = Es256Key::new(*signer.verifying_key()).unwrap();
    let digest = rng.bytes32();
    let sig: Signature = signer.sign_prehash(&digest).unwrap();
    let (r, s) = (sig.r().to_bytes(), sig.s().to_bytes());
    // n, the group order, and 2^256 - 1.
    let n: [u8; 32] = [
        0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63,
        0x25, 0x51,
    ];
    assert_eq!(Scalar::from_repr(n.into()).is_none().unwrap_u8(), 1);
    let n_minus_1 = (-Scalar::ONE).to_bytes();
    assert_eq!(n_minus_1[31], 0x50);
    let zero = [0u8; 32];
    let ones = [0xffu8; 32];
    for (r, s) in [
        (&zero[..], &s[..]),
        (&r[..], &zero[..]),
        (&n[..], &s[..]),
        (&r[..], &n[..]),
        (&ones[..], &s[..]),
        (&r[..], &ones[..]),
    ] {
        let bytes = [r, s].concat();
        assert!(!key.verifies(&digest, &bytes));
    }
    assert!(key.verifies(&digest, &[&r[..], &s[..]].concat()));
    assert!(!key.verifies(&digest, &[&r[..], &s[..], &[0][..]].concat()));
    assert!(!key.verifies(&digest, &[&r[..], &s[..31]].concat()));
}

#[test]
fn the_table_sum_is_u1_g_plus_u2_q() {
    let mut rng = Rng(21);
    let minus_one = -Scalar::ONE;
    let two_255 = Scalar::from_repr({
        let mut b = [0u8; 32];
        b[0] = 0x80;
        b.into()
    })
    .unwrap();
    let edges = [
        Scalar::ZERO,
        Scalar::ONE,
        minus_one,
        -Scalar::from(8u64),
        two_255,
    ];
    for round in 0..16 {
        let public = *signing_key(&mut rng).verifying_key();
        let key = Es256Key::new(public).unwrap();
        let q = ProjectivePoint::from(*public.as_affine());
        let mut pairs: Vec<(Scalar, Scalar)> =
            (0..8).map(|_| (rng.scalar(), rng.scalar())).collect();
        if round == 0 {
            for a in edges {
                for b in edges {
                    pairs.push((a, b));
                }
            }
        }
        for (u1, u2) in pairs {
            let expected = ProjectivePoint::GENERATOR * u1 + q * u2;
            assert_eq!(
                key.combination(&u1, &u2).unwrap(),
                expected,
                "{u1:?} {u2:?}"
            );
        }
    }
}

#[test]
fn digits_recompose_the_scalar() {
    let mut rng = Rng(5);
    let base = Scalar::from(1u64 << W);
    let half = 1i8 << (W - 1);
    for _ in 0..200 {
        let scalar = rng.scalar();
        let digits = digits(&scalar);
        let mut sum = Scalar::ZERO;
        for &d in digits.iter().rev() {
            assert!((1 - half..=half).contains(&d), "{d}");
            let term = Scalar::from(u64::from(d.unsigned_abs()));
            sum = sum * base + if d < 0 { -term } else { term };
        }
        assert_eq!(sum, scalar);
    }
}

#[test]
fn a_key_parsed_again_reuses_its_table() {
    let mut rng = Rng(99);
    let public = *signing_key(&mut rng).verifying_key();
    let first = Es256Key::new(public).unwrap();
    let again = Es256Key::new(public).unwrap();
    assert!(same_table(&first, &again));
    let other = Es256Key::new(*signing_key(&mut rng).verifying_key()).unwrap();
    assert!(!same_table(&first, &other));
}

/// The sums a signature can steer into the cases incomplete formulas cannot take: with the
/// key G itself (private key 1), `u·G + u·G` adds each table point to itself (a doubling),
/// `u·G − u·G` cancels it (the identity); both must still be right.
#[test]
fn the_sum_doubles_and_cancels_where_points_meet() {
    let mut rng = Rng(3);
    let mut one = [0u8; 32];
    one[31] = 1;
    let signer = SigningKey::from_slice(&one).unwrap();
    let public = *signer.verifying_key();
    assert_eq!(
        ProjectivePoint::from(*public.as_affine()),
        ProjectivePoint::GENERATOR
    );
    let key = Es256Key::new(public).unwrap();
    for _ in 0..16 {
        let u = rng.scalar();
        let doubled = ProjectivePoint::GENERATOR * (u + u);
        assert_eq!(key.combination(&u, &u).unwrap(), doubled);
        assert_eq!(key.combination(&u, &-u).unwrap(), ProjectivePoint::IDENTITY);
        let v = rng.scalar();
        assert_eq!(
            key.combination(&u, &v).unwrap(),
            ProjectivePoint::GENERATOR * (u + v)
        );
        // Signatures by that key verify (and a changed digest does not).
        let digest = rng.bytes32();
        let sig: Signature = signer.sign_prehash(&digest).unwrap();
        assert!(key.verifies(&digest, &sig.to_bytes()));
        let mut changed = digest;
        changed[0] ^= 1;
        assert!(!key.verifies(&changed, &sig.to_bytes()));
    }
}

/// A point whose x is at least n reduces to x − n: found by trying x = n, n + 1, ... (about
/// every other x is on the curve), as a signature whose R has such an x would be checked.
#[test]
fn an_x_above_the_order_reduces_by_it() {
    use p256::elliptic_curve::bigint::ArrayEncoding;
    use p256::elliptic_curve::point::DecompressPoint;
    use p256::elliptic_curve::sec1::ToEncodedPoint;
    let n = U256::from_be_hex("ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551");
    let mut found = 0;
    for t in 0u64..40 {
        let x = n.wrapping_add(&U256::from_u64(t));
        let x_bytes: [u8; 32] = x.to_be_byte_array().into();
        let Some(point) = Option::<p256::AffinePoint>::from(p256::AffinePoint::decompress(
            &x_bytes.into(),
            0.into(),
        )) else {
            continue;
        };
        let encoded = point.to_encoded_point(false);
        let y = <[u8; 32]>::try_from(&encoded.y().unwrap()[..]).unwrap();
        let affine = Affine {
            x: Fe::from_be_bytes(&x_bytes).unwrap(),
            y: Fe::from_be_bytes(&y).unwrap(),
        };
        // A Jacobian form with Z ≠ 1: the point doubled, then added to its negation's double.
        let jacobian = Jacobian::IDENTITY.add_affine(&affine).double();
        let back = jacobian.add_affine(&affine.neg());
        assert!(!back.is_identity());
        let r: [u8; 32] = U256::from_u64(t).to_be_byte_array().into();
        assert!(x_reduces_to(&back, &r), "x = n + {t}");
        let other: [u8; 32] = U256::from_u64(t + 1).to_be_byte_array().into();
        assert!(!x_reduces_to(&back, &other));
        assert!(!x_reduces_to(&Jacobian::IDENTITY, &r));
        found += 1;
    }
    assert!(found >= 5, "{found}");
}

/// The field against p256's: products, squares, sums, differences and inverses of random
/// elements, through their byte forms.
#[test]
fn the_field_agrees_with_p256() {
    use p256::elliptic_curve::bigint::ArrayEncoding;
    use p256::FieldElement;
    let mut rng = Rng(11);
    let bytes = |f: &FieldElement| -> [u8; 32] { f.to_bytes().into() };
    let ours = |f: &FieldElement| Fe::from_be_bytes(&bytes(f)).unwrap();
    let mut edges = vec![FieldElement::ZERO, FieldElement::ONE, -FieldElement::ONE];
    edges.push(FieldElement::from_u64(u64::MAX));
    for _ in 0..300 {
        let a = FieldElement::from_bytes(&rng.bytes32().into());
        let b = FieldElement::from_bytes(&rng.bytes32().into());
        let (Some(a), Some(b)) = (Option::from(a), Option::from(b)) else {
            continue;
        };
        edges.push(a);
        edges.push(b);
    }
    for pair in edges.windows(2) {
        let (a, b) = (pair[0], pair[1]);
        let (x, y) = (ours(&a), ours(&b));
        assert_eq!(x.to_be_bytes(), bytes(&a));
        assert_eq!(x.mul(&y).to_be_bytes(), bytes(&(a * b)));
        assert_eq!(x.square().to_be_bytes(), bytes(&a.square()));
        assert_eq!(x.add(&y).to_be_bytes(), bytes(&(a + b)));
        assert_eq!(x.sub(&y).to_be_bytes(), bytes(&(a - b)));
        assert_eq!(x.neg().to_be_bytes(), bytes(&-a));
        let inverse = Option::<FieldElement>::from(a.invert()).unwrap_or(FieldElement::ZERO);
        assert_eq!(x.invert().to_be_bytes(), bytes(&inverse));
    }
    // p itself and above are not elements.
    let p = U256::from_be_hex("ffffffff00000001000000000000000000000000ffffffffffffffffffffffff");
    assert!(Fe::from_be_bytes(&p.to_be_byte_array().into()).is_none());
    assert!(Fe::from_be_bytes(&[0xff; 32]).is_none());
}

/// A signature whose R has an x above the group order: `r = x(R) − n`. Built backwards: R
/// with x = n + t (by decompression), any u1 and u2, the key `Q = u2⁻¹·(R − u1·G)`, then
/// `s = r / u2` and the digest `z = u1·s`, so that verification computes `u1·G + u2·Q = R`.
/// Both p256 and the tables must accept it, and refuse it for r + 1.
#[test]
fn a_signature_whose_r_is_x_minus_the_order_verifies() {
    use p256::elliptic_curve::bigint::ArrayEncoding;
    use p256::elliptic_curve::point::DecompressPoint;
    let mut rng = Rng(17);
    let n = U256::from_be_hex("ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551");
    let mut checked = 0;
    for t in 1u64..40 {
        let x: [u8; 32] = n.wrapping_add(&U256::from_u64(t)).to_be_byte_array().into();
        let Some(big_r) =
            Option::<p256::AffinePoint>::from(p256::AffinePoint::decompress(&x.into(), 1.into()))
        else {
            continue;
        };
        let (u1, u2) = (rng.scalar(), rng.scalar());
        let q =
            (ProjectivePoint::from(big_r) - ProjectivePoint::GENERATOR * u1) * u2.invert().unwrap();
        let public = VerifyingKey::from_affine(q.to_affine()).unwrap();
        let r = Scalar::from(t);
        let s = r * u2.invert().unwrap();
        let digest: [u8; 32] = (u1 * s).to_bytes().into();
        let sig = Signature::from_scalars(r, s).unwrap().to_bytes().to_vec();
        let ours = Es256Key::new(public).unwrap();
        assert!(p256_says(&public, &digest, &sig), "t = {t}");
        assert!(ours.verifies(&digest, &sig), "t = {t}");
        let other = Signature::from_scalars(r + Scalar::ONE, s)
            .unwrap()
            .to_bytes()
            .to_vec();
        assert!(!p256_says(&public, &digest, &other));
        assert!(!ours.verifies(&digest, &other));
        checked += 1;
    }
    assert!(checked >= 5, "{checked}");
}
