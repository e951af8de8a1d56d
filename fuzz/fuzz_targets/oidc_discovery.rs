//! OpenID Connect discovery input: an issuer URL (`proxy.oidc_issuer_endpoint`, from 3scale
//! System) split into the call's host, authority and path, and a discovery document from the
//! issuer. Any bytes, never a panic; what is accepted is well-formed.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tollgate_core::auth::oidc_discovery::{parse_discovery, Location};

fuzz_target!(|data: &[u8]| {
    if let Ok(url) = std::str::from_utf8(data) {
        if let Ok(location) = Location::parse(url) {
            assert!(!location.host.is_empty());
            assert!(location.path.starts_with('/'));
            assert!(!location.path.contains('#'));
            assert!(!location.authority.contains(['/', '?', '@']));
            let discovery = location.discovery();
            assert!(discovery
                .path
                .ends_with("/.well-known/openid-configuration"));
            assert!(!discovery.path.contains('?'));
        }
    }
    if let Ok(found) = parse_discovery(data) {
        assert!(!found.issuer.is_empty());
        assert!(found.jwks.authorization.is_none());
        assert!(found.jwks.path.starts_with('/'));
        assert_eq!(found.algs & !0b1111, 0, "a bit per verified algorithm");
    }
});
