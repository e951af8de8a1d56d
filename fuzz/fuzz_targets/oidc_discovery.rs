//! OpenID Connect discovery input: an issuer URL (`proxy.oidc_issuer_endpoint`, from 3scale
//! System) split into the call's host, authority and path, and a discovery document from the
//! issuer. Any bytes, never a panic; what is accepted is well-formed: its host lower-cased
//! within its authority, the URL rebuilt from authority and path reads back the same (without
//! credentials), the Basic credentials are the URL's userinfo.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tollgate_core::auth::jwt::Algorithm;
use tollgate_core::auth::oidc_discovery::{parse_discovery, Location};
use tollgate_core::base64::{self, Alphabet};

fuzz_target!(|data: &[u8]| {
    if let Ok(url) = std::str::from_utf8(data) {
        if let Ok(location) = Location::parse(url) {
            assert!(!location.host.is_empty());
            assert!(location.path.starts_with('/'));
            assert!(!location.path.contains('#'));
            assert!(!location.authority.contains(['/', '?', '@']));
            assert_eq!(location.host, location.host.to_ascii_lowercase());
            assert!(location
                .authority
                .to_ascii_lowercase()
                .contains(&location.host));
            let rebuilt = format!("http://{}{}", location.authority, location.path);
            let plain = Location {
                authorization: None,
                ..location.clone()
            };
            match Location::parse(&rebuilt) {
                // A path of "" became "/": one byte more than a URL at the bound.
                Err("is too long") => assert!(rebuilt.len() > url.len(), "{url:?}"),
                again => assert_eq!(again.as_ref(), Ok(&plain), "{url:?}"),
            }
            if let Some(basic) = &location.authorization {
                let userinfo = basic
                    .strip_prefix("Basic ")
                    .and_then(|b| base64::decode(b, Alphabet::Standard))
                    .and_then(|u| String::from_utf8(u).ok());
                let userinfo = userinfo.unwrap_or_else(|| panic!("{url:?}"));
                assert!(url.contains(&format!("{userinfo}@{}", location.authority)));
            }
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
        // A bit per listed name Tollgate verifies (eight algorithms since HS384, HS512,
        // RS384 and RS512: all of a u8), each name read back from its algorithm.
        let listed: Vec<Algorithm> = serde_json::from_slice::<serde_json::Value>(data)
            .ok()
            .and_then(|v| v.get("id_token_signing_alg_values_supported").cloned())
            .and_then(|v| v.as_array().cloned())
            .unwrap_or_default()
            .iter()
            .filter_map(|name| Algorithm::from_name(name.as_str()?))
            .collect();
        let bits = listed.iter().fold(0, |algs, alg| algs | alg.bit());
        assert_eq!(found.algs, bits);
        for alg in listed {
            assert_eq!(Algorithm::from_name(alg.name()), Some(alg));
        }
    }
});
