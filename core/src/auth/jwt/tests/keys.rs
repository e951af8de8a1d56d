//! The test keys' material: fixed, so no RNG and no slow RSA key generation. The fuzz crate
//! compiles this file too (`fuzz/src/test_keys.rs`, by `#[path]`), so that its JWT targets
//! sign with the keys these tests use: it holds constants only, naming nothing of either
//! crate, and each crate builds the keys with its own base64 and error handling.

/// The HS256 secret.
pub const HS_SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

/// The P-256 (ES256) private scalar.
pub const ES256_SCALAR: [u8; 32] = [7u8; 32];

/// The Ed25519 (EdDSA) private seed.
pub const ED25519_SEED: [u8; 32] = [9u8; 32];

/// The 2048-bit RSA (RS256) private key: PKCS#8 DER, base64url.
pub const RSA_PKCS8_B64URL: &str = concat!(
    "MIIEvgIBADANBgkqhkiG9w0BAQEFAASCBKgwggSkAgEAAoIBAQC-9nVl8O-GW4DpP1XlrliDuMn8KiYBYgqYL6xaZRaVnYq0",
    "WVHT2VHWZR_O6UbxG4NRETBj3H_OXgc4xHTfiRPpMFXiAVlZ7UVfMev3K78q8BcSmX55cXX5hR3tNEEuVxoVcigV9Pqi2x5E",
    "DEBkAFPDuKSEjcFLxAJzXvKddPBSVU7jlXdLqYsf-4X95TL-oKI_QGZ0KL59n_yqqsmPkifhbaYE3iRCExq7heMApVnPuA8Q",
    "eQeT9Rocg23YP3pPdhr0F11oY7iM9vtJTDWrkGMFC18Cqpigf9mAsrcUnMNf7TqiWxjvqllNph4r-MspQ_BamZWWMrb5KVX_",
    "484LKRU7AgMBAAECggEAHZ-Q9afrGE4gkM5c7lzd6U0ktEP7klJZr2MR2xH8b2g5iKGkgncfbWFRjmD8utFYTR6cAZnGj8Zh",
    "W2qKcNTMbGutnvozmLIohUxyvOyh4rDM-3spNgCmWvdN_aqSA_TKHJKRalqO-O2B4-98m6a7V8zQZKmy1ySIdso_W7K0xyil",
    "EC8kAE4svtlaH5iCEYVnLjNK-8Ay4DcP9BKzJejingbPKKzPf5xswOolEqkmJv9VEc6IhdbzlLTuGKVZaJB7jAGEGbjjqP66",
    "_wErs1J4OzeERD2wg2vLibh9JFaMxmV0J5yFGo5mAqxoGOVFpJiqefBpMySAdW3KBOIgJTH8RQKBgQDhcSj14iCa6TuwxdqV",
    "kI5Wp3mulzOMbIaoGEL9PO2FVvoWDyoXupecvh3zy8q0Y35qse_daHG5JWTX2A1dL4463l8ryY2sMmqQWxAMTg_AhltFQ9iS",
    "uV2Wcfeq8hc8f_SAYGPrpppA9qqHecsqkPh5ihNKhb2pCdzMrox9WWxBlwKBgQDY2N3W4IWmpdGzBlgN37NFS4rPAMxJSR10",
    "rIbQs5aO5u32FKa2HGQAfju0ahFoCn_EzG8-1X8WY3jQQSaeDVzmZ86gj5Bzn3Id2-ls0xrXGvdGO7fNsljkgOMJsllh1dsT",
    "cjuMvmFAPKIaIcHj-1xSH6H516tqxyRcoVL1Tig1_QKBgQDChwhXEuYbhYFSCYeRYwjPUPe4ZRO_6a1Pwo-bQEWbtu9YtYEW",
    "tJU6VPo3cfPZL7jXi-5z2Dm5DsEzVmRBslVCCruIZwRuP5qgMVNpqroA4G5FGEP6ZySQOosA4KCYPbjWRVYy8rFLuQxwlfFv",
    "K2ScSz5WIY0EHVR-8WacitrUxQKBgQCgHJDARgupHqqVa0u9Ar2Vns-hRM-SFSBgs7rfgprabPyrRFhMAu57xrlC30Z28bmh",
    "j-lcFbu-xjfAXTqsXOWJYoCY4Sghl0tlbKkQJ1ecGFcYTqPKh7NHFTuOP1fr-0HFPAVoSHH6QkrWzLIjKcfjA2RP28TAFMZu",
    "dteQNONP6QKBgDYMCj7rZxHBSi69zXnlHQP252DXqnXAGOq7EkCiwvQdpHLj69PtDiV5ytsmJclGhitRhModZrMG2fIh_Ryq",
    "CAhNCv00hQMAY7-ioz-3qQgMQjjStdzgJ018vnVstGb1Scio_oThziwk2BZDiBgJPOqScFe2oQCkQ8Ed5v1JyVwh",
);
