//! `CacheSettings` from the configuration's `backend` block.

use super::*;

#[test]
fn settings_from_the_backend_block() {
    let parse = |backend: &str| {
        let text = format!(r#"{{"backend":{backend},"services":[]}}"#);
        crate::config::Config::parse(text.as_bytes())
            .unwrap()
            .config
            .backend
    };
    assert_eq!(CacheSettings::new(&parse(r#"{"cluster":"b"}"#)), None);
    let s = CacheSettings::new(&parse(
        r#"{"cluster":"b","timeout_ms":500,"cache_max_entries":7,"batching":{"auths_ttl":3,"denied_ttl":2}}"#,
    ))
    .unwrap();
    assert_eq!(
        s,
        CacheSettings {
            caching_type: CachingType::None,
            auths_ttl_ms: 3_000,
            denied_ttl_ms: 2_000,
            slots: 7,
            wait_ms: 1_500,
        }
    );
    let s = CacheSettings::new(&parse(r#"{"cluster":"b","caching_type":"strict"}"#)).unwrap();
    assert_eq!((s.caching_type, s.auths_ttl_ms), (CachingType::Strict, 0));
}
