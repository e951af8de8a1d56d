//! Built for wasm32 only (`make test-simd`): on other targets there is no SIMD path to check.
//!
//! `dot_pair` is the only code that differs between wasm32 and native builds of the
//! Montgomery products, so where it agrees with the scalar one on every input shape the
//! products agree with the native ones, which the core's tests check against num-bigint.

#[cfg(target_arch = "wasm32")]
use tollgate_crypto::montgomery::{scalar, simd, LIMB_BITS};

/// splitmix64: a fixed sequence, so a failure reproduces.
#[cfg(target_arch = "wasm32")]
fn next(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// How many inputs the SIMD and scalar dot products disagree on, and how many were tried, as
/// `disagreements << 32 | tried`: every length a column can have up to 4096-bit moduli and past
/// the most limbs allowed, with random limbs, all limbs at their maximum, and zeros.
#[cfg(target_arch = "wasm32")]
#[no_mangle]
pub extern "C" fn check() -> u64 {
    let max = (1u32 << LIMB_BITS) - 1;
    let mut state = 7u64;
    let (mut tried, mut disagreements) = (0u64, 0u64);
    for len in (0..=320).step_by(4) {
        for fill in 0..5 {
            let mut limb = |i: usize| match fill {
                0 => max,
                1 => 0,
                2 if i.is_multiple_of(2) => max,
                _ => next(&mut state) as u32 & max,
            };
            let x: Vec<u32> = (0..len).map(&mut limb).collect();
            let y: Vec<u32> = (0..=len).map(&mut limb).collect();
            let want = scalar::dot_pair(&x, &y);
            let got = simd::dot_pair(&x, &y);
            tried += 1;
            disagreements += u64::from(got != want);
        }
    }
    disagreements << 32 | tried
}
