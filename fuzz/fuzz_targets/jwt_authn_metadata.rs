//! The dynamic metadata Envoy serializes for the `metadata` property (an
//! `envoy.config.core.v3.Metadata` protobuf message), decoded down to the payload `jwt_authn`
//! stored, then checked as claims: any bytes, never a panic, nesting bounded. The same bytes,
//! read as an `Authorization` value and a query, are the tokens `from_jwt_authn` counts: a
//! `Bearer ` anywhere in the header is a token, so the request is never one without any.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tollgate_core::auth::jwt::{jwt_authn_payload, verified_by_jwt_authn, JwtRules};
use tollgate_core::auth::jwt_authn::{JwtAuthnSource, Presented};
use tollgate_core::mapping::QueryArgs;
use tollgate_core::request::HeaderSource;

/// A request whose `Authorization` header and dynamic metadata are the fuzzer's.
struct Request<'a> {
    authorization: String,
    metadata: &'a [u8],
}

impl HeaderSource for Request<'_> {
    fn header(&self, name: &str) -> Option<String> {
        name.eq_ignore_ascii_case("authorization")
            .then(|| self.authorization.clone())
    }

    fn header_joined(&self, name: &str) -> Option<String> {
        self.header(name)
    }

    fn dynamic_metadata(&self) -> Option<Vec<u8>> {
        Some(self.metadata.to_vec())
    }
}

fuzz_target!(|data: &[u8]| {
    let payload = jwt_authn_payload(data, "jwt_payload");
    let rules = JwtRules {
        issuer: Some("https://issuer.example".into()),
        audiences: vec!["orders".into()],
        leeway_s: 60,
        oidc: true,
        ..JwtRules::default()
    };
    match verified_by_jwt_authn(data, "jwt_payload", &rules, 1_796_312_000) {
        // The same bytes decode the same way, and accepted claims came from a payload.
        Ok(Some(claims)) => {
            assert_eq!(
                payload.as_ref().ok().and_then(|p| p.as_ref()),
                Some(claims.as_map())
            );
            let _ = claims.strings_at("realm_access.roles");
            let _ = claims.string("azp");
        }
        Ok(None) => assert_eq!(payload, Ok(None)),
        Err(_) => {}
    }
    let text = String::from_utf8_lossy(data).into_owned();
    let source = JwtAuthnSource {
        metadata_key: "jwt_payload".into(),
        header: "authorization".into(),
        query: "access_token".into(),
    };
    let args = QueryArgs::parse(&text);
    let lower = text.to_ascii_lowercase();
    let request = Request {
        authorization: text,
        metadata: data,
    };
    let presented = source.presented(&rules, &request, &args, 1_796_312_000);
    if lower.contains("bearer ") || lower.contains("bearer\t") {
        assert!(presented != Presented::Nothing, "a Bearer token was missed");
    }
});
