//! RSA PKCS#1 v1.5 arithmetic (pkcs1.rs) on its own: every width, an exponent other than 65537, and the
//! signatures and keys it must refuse. The 2048-bit key is also covered end to end (mod.rs).

use super::super::pkcs1::{RsaKey, SHA256_PREFIX};
use crate::base64::decode_url;
use sha2::{Digest, Sha256};

/// (bits, e, n, signature of MESSAGE), base64url; made with Python `cryptography`.
const VECTORS: [(usize, u64, &str, &str); 3] = [
    (2056, 3, "2It0lxv9a9g7YqKeaTtwqtNy0NMH8uUo5rPZwGk03WWTDnYGYPpuuQ3HZ6U4xuLkavIvhajrQinqvGan1vcXRRUXnAeeMDxvy7FKfq6uGghRYtVeh6ydvSojJd-d-Z13MvGS4ljusLi7cjrAC6qRN5XsUvqLjXFmtqPdBVML09UaT3Eivra8fZPYAmX_t4QLmzRlSEB_25LnhuxsY3lvs99JrFuCK8-7RVyg90KmQDPJGDoe2T_mcgFDMi-ReaipGqB7hy5TWD-VVxcWYYlpcKS_sR1LWA9xzlkANn0a87LSg23Q188yTyucgkQq1R9H7bOils0l6-IuVYN-2eWy8i0", "ZBZnU-StcElbIrm_JjYnBUu8pVXScDsSz3L6yNAhMd4es83YyPCINTo-uP-gdZNklfpg9u6uR9H3YX58IHbC1FliVnKl9sNve7TeGzLkKzmGy0VYMMCsd3SxpKseyXkQZsKPcDROORlHAJLri70tUemi0-41B-dlgAj_VHnhd1bnAt9Ww7podtYqJHc_dwsqG016d445hQOdXHoY1b7qGTRdg9G8LJ_ngq6YxHzyF07NDJfqU0c73wCw3lC1YygKA4dRa9uiUR3yUETq6HqSF7CSoPMVifYBR6Bgusl7qPQ1Eq-zq_G3D1HVQZ_PHeFN6cUSVQH4wHJm_ULRrD4HO6A"),
    (3072, 65537, "liZ_6ZLupX1xZVmCNv25z-RMoqo5Set2dHTb6hSE1br8QKu1tj-t0zpPwnK961fsmQ8pLIJL-vXrhvyMcE70sAE17STOmA_av5rTmPW3EuCTMA82zh5oG8tI1x3eL8m_EMJKmtL8WayNDDjFqkQdieKbg6lzT9eE_vgZ-v4fTokaHZGs9-FEj3GJQufWDaaaxvLQ9dZg8s3oL3D86bAaDpNslyLDm3NLtOcmi-zRn6046rrBlMinJOSENEQcm12LStSQBHKrmTUhNM2drKLd7xMK_dku2or3VY5renRYdfJ15_lFBAS2Mi8WPHD8JF69R_MKtLgTcYFkkF-iqmA8rBbJpomUzwTGUg_I4nJom9yaIlvSmNG30TxNrm7X0VSVQzgrhLMPlsKYwGfy81pLIMlCeiQN5fJBiqRFaWVtMghOw8Vkf8nkravXL7x1rSgAsXENS-j8Desp3RfBqT8MHf7MzZX8chFqTY5IjKeakZhstlnMaP5lRK2i3EDqRt4z", "LeEXlpZ3wutapWttQXVBEAp8KQkVauNtuTYSlC4o9tuRDdM_lVHKelI_gx8TZV_js7S79spEwYSRGOHQE6VqQh5SOQKfc61WTX3Wv2yM918Zh2BwhceK7FitKhx2faABPRBWSapVWX1r-B6RPOCTJ4ZaoL6-i1PKiwZjhBE5Z4qkv4uNmRC4CxNexTbcRM78eDaug2bWjBmEpPGtwayGROYJxY0w_mQTUjKbWDdaNbk9pdVIfWOdrtIDbLlTKb-E1OxsdnJYjjU_iKZYdFWoCdOPOrPRqF65VJkATuceLDqrPCJ5JVjZb4nab1BYH94kIhYI7l5rAASPhz05cnJX9HVrWlqnz_a9oLaoZYFB9kR576b0Bxv-Aawq-p9oNWBg6h97SrQP1bzYcuCfJx_QCK99b-0yL8_UVBsDZyM_oPps6bE7SUIiaYcpaVXXcaywXzv241CZ4WrZM9wnFx5w5x1-B9_-buZ1Bbcn_W5YSP2QIh8woo00dTNUDIddlfuv"),
    (4096, 65537, "wN0M8wlQToIwIJk8VwNkyQWEeEVT2lefPs-spCjXAhFxrgIYlN6wXOz-j0Z-s6Qdngv3T4Vy7KscUpp2zx3WSy7U2lDNHXT49jrvV4qbpOOtY7J3uI8QJFoBn-7bcAhTvBgXJD-5VlLAxRy4p5ZIECwp3fuxQsVe0U8gsdBk4A1_J1Eeu_CQxI-6Ip6khH6AzDptjhv6qGkPCsrxUEifLnwYwDT2ftG-F7pgI7Ps7Jw2jyEu-LIDPiyRgvltRl6KlgZXTtMiG7dRr0DBV2MhN4tLYt2T60lMjbXSm2rHkc1KT_Xzoivr-6be_YS4Oorn_IEyl8U6Uf8tnOFf4he8GXU9UfNyM2W9aY_gNWAliy9YXlzG_2a7EFccVHCzuh4UwHD3SOCVkLgbOUbWnATwy2l83rpSMyPsN9VgAvZqTfAoq_IDhmZb2A3cwPFVubpQRZ9pRrbdQC062G1ta26267oFeTBMby-j_WebiaqxLBaspB49vD3UhevFhPyis-IDMKmEDOUQtnNWmya6ZtHHtiRrv25VwZ1gLWmKMN83dLb3MRnLyxvgWi6OZpcviA5Ps5wPr6N1XS2qCK3MrEm_Mo9QynV8FvAzCNAxsn8WYN7BY8KtEm1mT7w8qmf9cFNuXsPLq7bjqrqnQrh-Vpfi7Y1mXg9KaHspwSa_3FEE7yk", "nPe9FKxrtX4qw0J223nbRA1gpWAhWv8z_1pGpG8wpm9LO6aOkAFQrXUf9dmy8FwYpiNpnHB1cxmBeUhs5SuIK6BYm1SiLiMCxVT1unfz5u2omuDcA5aDsU_HyxfaViF2InC-f7ZKO5JDAJqtc1z9an4SPpJUolc__3mxUVjA5A2VUEG9PL4S4bASLYo1p44p5wcrbXQjpoljW4F3rq2yf5j-hID6B1N8PVYAp-6OSKwAT3UD7cuUrO9OB346epY0LzuSDHX2NmVv_J3-UDBH0BF9i5MIjSutaKlde1jT-U_N7ZtAhvv0VyYX-RA4DnQkN9JvjvTZUOn_P1f34yosI9IV33CTr1w9eP9zIuyfWtT7qrpiJFPJLR7qwOUs5KgSBMimQFCvxKnXiB7-vVN5vnmPdbcmYthqERAjydyslF30Tyyhwo0sET3-cmiMgE5KRqUyq2Ptc6mvv3k8JkjpIMYUwOGsk06CBNzlaYY0d_1FLwPYw1TefrWc0EC-6fzx4zgNMeLpPx1kfPP78QDP0Lxg1v9f8PiFub8u01sSpSqQoOFNAnK2_qPOCLb45BaupwGplbOTHmmisy5cr_iVbxdPIH-hlfPmGcDPRP7kI_PDfI4Jgd0Sxjzrjm1TDuMA8nWRUA2afdAydeIu2ZVG1FeSNQrPgRbYzJaaFx5eeTw"),
];
const MESSAGE: &[u8] = b"eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ2ZWN0b3IifQ";

fn key(n: &str, e: u64) -> RsaKey {
    RsaKey::new(&decode_url(n).unwrap(), &e.to_be_bytes()).unwrap()
}

fn digest(message: &[u8]) -> [u8; 32] {
    Sha256::digest(message).into()
}

#[test]
fn every_width_verifies_and_refuses_a_changed_message_or_signature() {
    for (bits, e, n, sig) in VECTORS {
        let key = key(n, e);
        let sig = decode_url(sig).unwrap();
        assert!(
            key.verifies(&SHA256_PREFIX, &digest(MESSAGE), &sig),
            "{bits} bits"
        );
        assert!(
            !key.verifies(&SHA256_PREFIX, &digest(b"other"), &sig),
            "{bits} bits, other message"
        );
        for at in [0, sig.len() / 2, sig.len() - 1] {
            let mut changed = sig.clone();
            changed[at] ^= 0x01;
            assert!(
                !key.verifies(&SHA256_PREFIX, &digest(MESSAGE), &changed),
                "{bits} bits, byte {at}"
            );
        }
        // A signature of the wrong length, even one with the same value.
        let mut longer = vec![0u8];
        longer.extend_from_slice(&sig);
        assert!(
            !key.verifies(&SHA256_PREFIX, &digest(MESSAGE), &longer),
            "{bits} bits, 0-padded"
        );
        assert!(
            !key.verifies(&SHA256_PREFIX, &digest(MESSAGE), &sig[1..]),
            "{bits} bits, short"
        );
        assert!(
            !key.verifies(&SHA256_PREFIX, &digest(MESSAGE), &[]),
            "{bits} bits, empty"
        );
        // s >= n: n itself, and all ones.
        let n_bytes = decode_url(n).unwrap();
        assert!(
            !key.verifies(&SHA256_PREFIX, &digest(MESSAGE), &n_bytes),
            "{bits} bits, s = n"
        );
        assert!(
            !key.verifies(&SHA256_PREFIX, &digest(MESSAGE), &vec![0xff; sig.len()]),
            "{bits} bits, s > n"
        );
        // The same modulus with another exponent does not verify it.
        let other_e = if e == 3 { 65537 } else { 3 };
        assert!(
            !self::key(n, other_e).verifies(&SHA256_PREFIX, &digest(MESSAGE), &sig),
            "{bits} bits, e"
        );
    }
}

#[test]
fn signature_zero_and_one_are_refused() {
    let (_, e, n, sig) = VECTORS[2];
    let key = key(n, e);
    let len = decode_url(sig).unwrap().len();
    let mut one = vec![0u8; len];
    *one.last_mut().unwrap() = 1;
    assert!(!key.verifies(&SHA256_PREFIX, &digest(MESSAGE), &vec![0u8; len]));
    assert!(!key.verifies(&SHA256_PREFIX, &digest(MESSAGE), &one));
}

#[test]
fn keys_out_of_range_are_refused() {
    let (_, _, n, _) = VECTORS[2];
    let n = decode_url(n).unwrap();
    let e = 65537u32.to_be_bytes();
    let err = |n: &[u8], e: &[u8]| RsaKey::new(n, e).err().unwrap();
    assert_eq!(
        err(&n[..127], &e),
        "RSA modulus of 1016 bits, at least 2048 are needed"
    );
    let mut big = vec![1u8];
    big.extend_from_slice(&n);
    assert_eq!(
        err(&big, &e),
        "RSA modulus of 4097 bits, at most 4096 are supported"
    );
    let mut even = n.clone();
    *even.last_mut().unwrap() &= 0xfe;
    assert_eq!(err(&even, &e), "invalid RSA key: even modulus");
    assert_eq!(err(&n, &[1]), "invalid RSA key: public exponent 1");
    assert_eq!(
        err(&n, &[0x01, 0x00, 0x00]),
        "invalid RSA key: public exponent 65536"
    );
    assert_eq!(
        err(&n, &[2, 0, 0, 0, 1]),
        "invalid RSA key: public exponent 8589934593"
    );
    assert_eq!(
        err(&n, &[1; 9]),
        "invalid RSA key: public exponent too large"
    );
    assert_eq!(err(&n, &[]), "invalid RSA key: public exponent 0");
    // Leading zero bytes are not part of the size.
    let mut padded = vec![0u8, 0];
    padded.extend_from_slice(&n);
    assert!(RsaKey::new(&padded, &[0, 1, 0, 1]).is_ok());
}
