//! `Authorization` header parsing (Basic, Bearer; an encoded user and password read back),
//! base64url and JWT verification: raw tokens, and validly signed HS256 tokens with arbitrary
//! headers and claims.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use tollgate_core::auth::jwt::{verify, Jwks, JwtRules};
use tollgate_core::base64::{self, Alphabet};
use tollgate_core::credentials::Authorization;
use tollgate_fuzz::{hs256_token, JoseHeader, Payload};

#[derive(Debug, Arbitrary)]
enum Input {
    Header(String),
    Token(String),
    Signed(JoseHeader, Payload, u32),
    Jwks(Vec<u8>),
}

fuzz_target!(|input: Input| {
    let config = tollgate_fuzz::config();
    let Some(jwt) = config.services.get(3).and_then(|s| s.auth.jwt.as_ref()) else {
        panic!("service 4 has no jwt block");
    };
    match input {
        Input::Header(value) => {
            let _ = Authorization::parse(&value);
            // Basic reads back the user and password a client encoded (RFC 7617: the user
            // ends at the first colon), whatever the scheme's case.
            let (user, password) = value.split_once('\n').unwrap_or(("", &value));
            if !user.contains(':') {
                let encoded =
                    base64::encode(format!("{user}:{password}").as_bytes(), Alphabet::Standard);
                let basic = Authorization::parse(&format!("bAsIc {encoded}"));
                assert_eq!(
                    (basic.userid.as_deref(), basic.password.as_deref()),
                    (Some(user), Some(password)),
                    "{encoded:?}"
                );
                assert!(basic.token.is_none() && !basic.malformed_basic);
            }
            if let Some(rest) = value.strip_prefix("Bearer ") {
                let _ = jwt.verify(rest, 1_700_000_000);
            }
        }
        Input::Token(token) => {
            if let Some(bytes) = base64::decode_url(&token) {
                assert_eq!(
                    base64::decode_url(&tollgate_fuzz::encode(&bytes)),
                    Some(bytes)
                );
            }
            let _ = jwt.verify(&token, 1_700_000_000);
        }
        Input::Signed(header, payload, now) => {
            let now = 1_700_000_000 + u64::from(now);
            let token = hs256_token(&header.bytes(), &payload.bytes(now));
            let rules = JwtRules {
                issuer: Some("https://idp.example.com".into()),
                audiences: vec!["orders".into()],
                leeway_s: u64::MAX,
                ..JwtRules::default()
            };
            let _ = verify(&token, &jwt.keys.current().jwks, &rules, now);
            if let Ok(claims) = jwt.verify(&token, now) {
                let _ = claims.strings_at("realm_access.roles");
                let _ = claims.string("azp");
            }
        }
        Input::Jwks(bytes) => {
            if let Ok(value) = serde_json::from_slice::<serde_json::Value>(&bytes) {
                let _ = Jwks::parse("jwks", &value);
            }
        }
    }
});
