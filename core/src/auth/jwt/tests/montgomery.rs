//! Montgomery products (montgomery.rs) against `num-bigint-dig` (through `rsa`): random odd
//! moduli of many lengths, random and extreme operands, from a seeded generator.

use rsa::BigUint;
use tollgate_crypto::montgomery::Modulus;

/// splitmix64: a fixed sequence, so a failure reproduces.
fn next(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn random_bytes(state: &mut u64, len: usize) -> Vec<u8> {
    (0..len).map(|_| next(state) as u8).collect()
}

fn from_limbs(limbs: &[u32]) -> BigUint {
    BigUint::from_bytes_be(&Modulus::to_be_bytes(limbs, limbs.len() * 27 / 8 + 1))
}

#[test]
fn products_and_squares_agree_with_num_bigint() {
    let mut state = 42u64;
    // Byte lengths: small, whole limbs (27 and 54 bytes: 8 and 16 limbs of 27 bits), the RSA
    // widths (one bit more, too), and the most limbs a modulus may have.
    for bytes in [
        8, 12, 13, 27, 33, 54, 255, 256, 257, 300, 384, 511, 512, 1013,
    ] {
        for round in 0..6 {
            let mut n_bytes = random_bytes(&mut state, bytes);
            // The top bit set, or only the lowest (1,013 bytes: 300 limbs, the most allowed).
            if bytes == 1013 {
                n_bytes[0] = 1;
            } else {
                n_bytes[0] |= if round % 2 == 0 { 0x80 } else { 0x01 };
            }
            if let Some(last) = n_bytes.last_mut() {
                *last |= 1;
            }
            let modulus = Modulus::new(&n_bytes).unwrap();
            let len = modulus.limb_count();
            let n = BigUint::from_bytes_be(&n_bytes);
            let r = BigUint::from(1u8) << modulus.r_bits();
            let n_minus_1 = &n - 1u8;
            let mut operands: Vec<BigUint> = (0..4)
                .map(|_| BigUint::from_bytes_be(&random_bytes(&mut state, bytes)) % &n)
                .collect();
            operands.extend([BigUint::from(0u8), BigUint::from(1u8), n_minus_1.clone()]);
            for a in &operands {
                let a_limbs = modulus.element(&a.to_bytes_be()).unwrap();
                assert_eq!(a_limbs.len(), len);
                assert_eq!(from_limbs(&a_limbs), *a);
                let mut out = vec![0u32; len];
                modulus.square(&a_limbs, &mut out);
                let got = from_limbs(&out);
                assert!(got < n, "{bytes} bytes: square not reduced");
                assert_eq!((got * &r) % &n, (a * a) % &n, "{bytes} bytes, square");
                for b in &operands {
                    let b_limbs = modulus.element(&b.to_bytes_be()).unwrap();
                    modulus.mul(&a_limbs, &b_limbs, &mut out);
                    let got = from_limbs(&out);
                    assert!(got < n, "{bytes} bytes: product not reduced");
                    assert_eq!((got * &r) % &n, (a * b) % &n, "{bytes} bytes, product");
                }
            }
            // 2^k mod n, and n itself is not an element.
            for k in [0, 1, 31, modulus.r_bits(), 2 * modulus.r_bits()] {
                let expected = (BigUint::from(1u8) << k) % &n;
                assert_eq!(from_limbs(&modulus.power_of_two(k)), expected, "2^{k}");
            }
            assert_eq!(modulus.element(&n_bytes), None);
        }
    }
}

/// Every limb of `n` and of the operands full (`n = 2^(27·limbs) − 1`, operands `n − 1` and
/// `n − 2`): the largest column sums there are, up to the most limbs allowed.
#[test]
fn full_limbs_up_to_the_most_limbs_allowed() {
    for limbs in [2, 76, 152, 300] {
        let n = (BigUint::from(1u8) << (27 * limbs)) - 1u8;
        let modulus = Modulus::new(&n.to_bytes_be()).unwrap();
        assert_eq!(modulus.limb_count(), limbs);
        let r = BigUint::from(1u8) << modulus.r_bits();
        let (a, b) = (&n - 1u8, &n - 2u8);
        let a_limbs = modulus.element(&a.to_bytes_be()).unwrap();
        let b_limbs = modulus.element(&b.to_bytes_be()).unwrap();
        let mut out = vec![0u32; limbs];
        modulus.square(&a_limbs, &mut out);
        assert_eq!(
            (from_limbs(&out) * &r) % &n,
            (&a * &a) % &n,
            "{limbs} limbs, square"
        );
        modulus.mul(&a_limbs, &b_limbs, &mut out);
        assert_eq!(
            (from_limbs(&out) * &r) % &n,
            (&a * &b) % &n,
            "{limbs} limbs, product"
        );
        let two_r = 2 * modulus.r_bits();
        assert_eq!(
            from_limbs(&modulus.power_of_two(two_r)),
            (BigUint::from(1u8) << two_r) % &n
        );
    }
}

#[test]
fn even_short_or_too_long_moduli_are_refused() {
    assert!(Modulus::new(&[0x80, 0, 0, 0, 0, 0, 0, 2]).is_none());
    // 27 bits: one limb.
    assert!(Modulus::new(&[0x04, 0, 0, 1]).is_none());
    assert!(Modulus::new(&[0x08, 0, 0, 1]).is_some());
    assert!(Modulus::new(&[]).is_none());
    assert!(Modulus::new(&[0, 0, 0, 0, 0x80, 0, 0, 0, 0, 0, 0, 1]).is_some());
    // 8,100 bits is 300 limbs; 8,101 would be 301.
    let mut n = vec![0xffu8; 1013];
    n[0] = 0x0f;
    assert!(Modulus::new(&n).is_some());
    n[0] = 0x1f;
    assert!(Modulus::new(&n).is_none());
}
