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

fn to_limbs(x: &BigUint, len: usize) -> Vec<u32> {
    let mut limbs = x.to_bytes_le();
    limbs.resize(len * 4, 0);
    limbs
        .chunks(4)
        .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

fn from_limbs(limbs: &[u32]) -> BigUint {
    let bytes: Vec<u8> = limbs.iter().flat_map(|l| l.to_le_bytes()).collect();
    BigUint::from_bytes_le(&bytes)
}

#[test]
fn products_and_squares_agree_with_num_bigint() {
    let mut state = 42u64;
    // Byte lengths: small, odd limb counts, and the RSA widths (one bit more, too).
    for bytes in [8, 12, 13, 33, 255, 256, 257, 300, 384, 511, 512] {
        for round in 0..6 {
            let mut n_bytes = random_bytes(&mut state, bytes);
            n_bytes[0] |= if round % 2 == 0 { 0x80 } else { 0x01 };
            if let Some(last) = n_bytes.last_mut() {
                *last |= 1;
            }
            let modulus = Modulus::new(&n_bytes).unwrap();
            let len = modulus.limb_count();
            let n = BigUint::from_bytes_be(&n_bytes);
            let r = BigUint::from(1u8) << (32 * len);
            let n_minus_1 = &n - 1u8;
            let mut operands: Vec<BigUint> = (0..4)
                .map(|_| BigUint::from_bytes_be(&random_bytes(&mut state, bytes)) % &n)
                .collect();
            operands.extend([BigUint::from(0u8), BigUint::from(1u8), n_minus_1.clone()]);
            for a in &operands {
                let a_limbs = to_limbs(a, len);
                assert_eq!(modulus.element(&a.to_bytes_be()), Some(a_limbs.clone()));
                let mut out = vec![0u32; len];
                modulus.square(&a_limbs, &mut out);
                let got = from_limbs(&out);
                assert!(got < n, "{bytes} bytes: square not reduced");
                assert_eq!((got * &r) % &n, (a * a) % &n, "{bytes} bytes, square");
                for b in &operands {
                    modulus.mul(&a_limbs, &to_limbs(b, len), &mut out);
                    let got = from_limbs(&out);
                    assert!(got < n, "{bytes} bytes: product not reduced");
                    assert_eq!((got * &r) % &n, (a * b) % &n, "{bytes} bytes, product");
                }
            }
            // 2^k mod n, and n itself is not an element.
            for k in [0, 1, 31, 32 * len, 64 * len] {
                let expected = (BigUint::from(1u8) << k) % &n;
                assert_eq!(from_limbs(&modulus.power_of_two(k)), expected, "2^{k}");
            }
            assert_eq!(modulus.element(&n_bytes), None);
        }
    }
}

#[test]
fn even_or_short_moduli_are_refused() {
    assert!(Modulus::new(&[0x80, 0, 0, 0, 0, 0, 0, 2]).is_none());
    assert!(Modulus::new(&[0x80, 0, 0, 1]).is_none());
    assert!(Modulus::new(&[]).is_none());
    assert!(Modulus::new(&[0, 0, 0, 0, 0x80, 0, 0, 0, 0, 0, 0, 1]).is_some());
}
