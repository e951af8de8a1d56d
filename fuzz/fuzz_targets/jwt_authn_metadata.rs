//! The dynamic metadata Envoy serializes for the `metadata` property (an
//! `envoy.config.core.v3.Metadata` protobuf message), decoded down to the payload `jwt_authn`
//! stored, then checked as claims: any bytes, never a panic, nesting bounded.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tollgate_core::auth::jwt::{jwt_authn_payload, verified_by_jwt_authn, JwtRules};

fuzz_target!(|data: &[u8]| {
    let payload = jwt_authn_payload(data, "jwt_payload");
    let rules = JwtRules {
        issuer: Some("https://issuer.example".into()),
        audiences: vec!["orders".into()],
        leeway_s: 60,
    };
    match verified_by_jwt_authn(data, "jwt_payload", &rules, 1_796_312_000) {
        // The same bytes decode the same way, and accepted claims came from a payload.
        Ok(Some(claims)) => {
            assert_eq!(payload.as_ref().ok().and_then(|p| p.as_ref()), Some(claims.as_map()));
            let _ = claims.strings_at("realm_access.roles");
            let _ = claims.string("azp");
        }
        Ok(None) => assert_eq!(payload, Ok(None)),
        Err(_) => {}
    }
});
