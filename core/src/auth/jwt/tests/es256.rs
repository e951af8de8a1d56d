//! ES256 with precomputed tables (es256.rs) against `p256`'s own verification: random keys,
//! messages and signatures from a seeded generator, valid and tampered, must get the same
//! answer; the table sum must equal p256's `u1·G + u2·Q` for edge and random scalars.

use p256::ecdsa::signature::hazmat::{PrehashSigner, PrehashVerifier};
use p256::ecdsa::{Signature, SigningKey, VerifyingKey};
use p256::elliptic_curve::ops::Reduce;
use p256::elliptic_curve::PrimeField;
use p256::{ProjectivePoint, Scalar, U256};
use tollgate_crypto::es256::{digits, same_table, Es256Key, W};

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
        let ours = Es256Key::new(public);
        let other = Es256Key::new(*signing_key(&mut rng).verifying_key());
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
    let key = Es256Key::new(*signer.verifying_key());
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
        let key = Es256Key::new(public);
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
            assert_eq!(key.combination(&u1, &u2), expected, "{u1:?} {u2:?}");
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
    let first = Es256Key::new(public);
    let again = Es256Key::new(public);
    assert!(same_table(&first, &again));
    let other = Es256Key::new(*signing_key(&mut rng).verifying_key());
    assert!(!same_table(&first, &other));
}
