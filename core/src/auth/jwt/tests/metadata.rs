//! The payload `jwt_authn` leaves in the dynamic metadata: decoded from what Envoy 1.40 really
//! returned for the `metadata` property, and from hand-built messages for the edge cases.

use super::super::metadata::MAX_DEPTH;
use super::super::{jwt_authn_payload, verified_by_jwt_authn, JwtError, JwtRules};
use serde_json::{json, Value};

/// Envoy 1.40, `jwt_authn` with `payload_in_metadata: jwt_payload`, for an HS256 token with
/// the payload `{"iss":"https://issuer.example","azp":"app-1","sub":"alice","roles":["admin",
/// "reader"],"realm_access":{"roles":["r1"]},"scope":"read write","n":null,"num":3,
/// "flag":true,"exp":1796312964}`.
const ENVOY_PAYLOAD: &str = concat!(
    "0a8f020a1c656e766f792e66696c746572732e687474702e6a77745f617574686e12ee010aeb010a0b6a77745f",
    "7061796c6f616412db012ad8010a150a0573636f7065120c1a0a726561642077726974650a1e0a05726f6c6573",
    "121532130a071a0561646d696e0a081a067265616465720a0e0a0373756212071a05616c6963650a1f0a036973",
    "7312181a1668747470733a2f2f6973737565722e6578616d706c650a100a03657870120911000000e163c4da41",
    "0a070a016e120208000a0e0a03617a7012071a056170702d310a0a0a04666c6167120220010a250a0c7265616c",
    "6d5f61636365737312152a130a110a05726f6c6573120832060a041a0272310a100a036e756d12091100000000",
    "00000840",
);

/// Envoy 1.40 with a `set_metadata` filter first (namespace `a.other`, and a typed value in
/// `typed.ns`) and `normalize_payload_in_metadata` splitting `scope`; the payload is
/// `{"iss":"https://issuer.example","azp":"app-1","scope":"read write","n":null,
/// "deep":{"a":{"b":[1,"x",true,null,{"c":"d"}]}},"exp":1796313084}`.
const ENVOY_WITH_OTHERS: &str = concat!(
    "0a210a07612e6f7468657212160a0a0a016e12051a03312e350a080a017812031a01790ae5010a1c656e766f79",
    "2e66696c746572732e687474702e6a77745f617574686e12c4010ac1010a0b6a77745f7061796c6f616412b101",
    "2aae010a1f0a0369737312181a1668747470733a2f2f6973737565722e6578616d706c650a100a036578701209",
    "11000000ff63c4da410a070a016e120208000a1c0a0573636f7065121332110a061a04726561640a071a057772",
    "6974650a420a0464656570123a2a380a360a016112312a2f0a2d0a0162122832260a0911000000000000f03f0a",
    "031a01780a0220010a0208000a0c2a0a0a080a016312031a01640a0e0a03617a7012071a056170702d31124608",
    "0874797065642e6e73123a0a2f747970652e676f6f676c65617069732e636f6d2f676f6f676c652e70726f746f",
    "6275662e537472696e6756616c756512070a0568656c6c6f",
);

const EXP: u64 = 1_796_312_964;

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

// A minimal protobuf encoder for the hand-built cases.
fn varint(mut n: u64, out: &mut Vec<u8>) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

fn field(number: u64, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    varint(number << 3 | 2, &mut out);
    varint(payload.len() as u64, &mut out);
    out.extend_from_slice(payload);
    out
}

fn entry(key: &str, value: &[u8]) -> Vec<u8> {
    field(1, &[field(1, key.as_bytes()), field(2, value)].concat())
}

fn string_value(s: &str) -> Vec<u8> {
    field(3, s.as_bytes())
}

fn struct_value(entries: &[Vec<u8>]) -> Vec<u8> {
    field(5, &entries.concat())
}

/// `Metadata` with `payload` (a `Value`) under `jwt_authn`'s namespace and `key`.
fn metadata(key: &str, payload: &[u8]) -> Vec<u8> {
    entry("envoy.filters.http.jwt_authn", &entry(key, payload))
}

/// A JSON value as a `google.protobuf.Value` message.
fn encode(value: &Value) -> Vec<u8> {
    match value {
        Value::Null => vec![1 << 3, 0],
        Value::Bool(b) => vec![4 << 3, u8::from(*b)],
        Value::Number(n) => [&[2 << 3 | 1][..], &n.as_f64().unwrap().to_le_bytes()].concat(),
        Value::String(s) => string_value(s),
        Value::Array(items) => field(
            6,
            &items
                .iter()
                .map(|v| field(1, &encode(v)))
                .collect::<Vec<_>>()
                .concat(),
        ),
        Value::Object(map) => struct_value(
            &map.iter()
                .map(|(k, v)| entry(k, &encode(v)))
                .collect::<Vec<_>>(),
        ),
    }
}

/// The dynamic metadata `jwt_authn` leaves with `payload_in_metadata: <key>` for a token
/// with this payload (for tests of the code that reads it).
pub(crate) fn jwt_authn_metadata(key: &str, payload: &Value) -> Vec<u8> {
    metadata(key, &encode(payload))
}

fn rules() -> JwtRules {
    JwtRules::default()
}

#[test]
fn decodes_every_kind_of_claim_envoy_stores() {
    let payload = jwt_authn_payload(&hex(ENVOY_PAYLOAD), "jwt_payload")
        .unwrap()
        .unwrap();
    assert_eq!(
        Value::Object(payload),
        json!({"iss": "https://issuer.example", "azp": "app-1", "sub": "alice",
               "roles": ["admin", "reader"], "realm_access": {"roles": ["r1"]},
               "scope": "read write", "n": null, "num": 3.0, "flag": true, "exp": 1796312964.0})
    );
}

#[test]
fn the_test_encoder_writes_what_envoy_writes() {
    let payload = jwt_authn_payload(&hex(ENVOY_PAYLOAD), "jwt_payload")
        .unwrap()
        .unwrap();
    let encoded = jwt_authn_metadata("jwt_payload", &Value::Object(payload.clone()));
    assert_eq!(
        jwt_authn_payload(&encoded, "jwt_payload"),
        Ok(Some(payload))
    );
}

#[test]
fn other_namespaces_and_typed_metadata_are_skipped() {
    let payload = jwt_authn_payload(&hex(ENVOY_WITH_OTHERS), "jwt_payload")
        .unwrap()
        .unwrap();
    assert_eq!(
        Value::Object(payload),
        json!({"iss": "https://issuer.example", "azp": "app-1", "scope": ["read", "write"],
               "n": null, "deep": {"a": {"b": [1.0, "x", true, null, {"c": "d"}]}},
               "exp": 1796313084.0})
    );
}

#[test]
fn claims_serve_as_a_verified_tokens() {
    let claims = verified_by_jwt_authn(&hex(ENVOY_PAYLOAD), "jwt_payload", &rules(), EXP - 1)
        .unwrap()
        .unwrap();
    assert_eq!(claims.string("azp"), Some("app-1"));
    assert_eq!(claims.strings_at("roles"), ["admin", "reader"]);
    assert_eq!(claims.strings_at("realm_access.roles"), ["r1"]);
    assert_eq!(claims.strings_at("scope"), ["read", "write"]);
}

#[test]
fn exp_and_the_configured_rules_still_apply() {
    let m = hex(ENVOY_PAYLOAD);
    assert_eq!(
        verified_by_jwt_authn(&m, "jwt_payload", &rules(), EXP),
        Err(JwtError::Expired)
    );
    let leeway = JwtRules {
        leeway_s: 60,
        ..rules()
    };
    assert!(verified_by_jwt_authn(&m, "jwt_payload", &leeway, EXP + 59).is_ok());
    let issuer = JwtRules {
        issuer: Some("https://other.example".into()),
        ..rules()
    };
    assert_eq!(
        verified_by_jwt_authn(&m, "jwt_payload", &issuer, EXP - 1),
        Err(JwtError::WrongIssuer)
    );
    let audience = JwtRules {
        audiences: vec!["orders".into()],
        ..rules()
    };
    assert_eq!(
        verified_by_jwt_authn(&m, "jwt_payload", &audience, EXP - 1),
        Err(JwtError::WrongAudience)
    );
    // jwt_authn accepts a token without `exp`; Tollgate does not.
    let no_exp = metadata("p", &struct_value(&[entry("azp", &string_value("a"))]));
    assert_eq!(
        verified_by_jwt_authn(&no_exp, "p", &rules(), 0),
        Err(JwtError::Expired)
    );
}

#[test]
fn absent_namespace_or_key_is_no_payload() {
    assert_eq!(jwt_authn_payload(&[], "jwt_payload"), Ok(None));
    assert_eq!(jwt_authn_payload(&hex(ENVOY_PAYLOAD), "payload"), Ok(None));
    let other = entry("a.other", &entry("jwt_payload", &struct_value(&[])));
    assert_eq!(jwt_authn_payload(&other, "jwt_payload"), Ok(None));
    assert_eq!(
        verified_by_jwt_authn(&other, "jwt_payload", &rules(), 0),
        Ok(None)
    );
}

#[test]
fn a_payload_that_is_not_a_struct_is_malformed() {
    let m = metadata("p", &string_value("eyJhbGciOi..."));
    assert_eq!(jwt_authn_payload(&m, "p"), Err(JwtError::Malformed));
    assert_eq!(
        jwt_authn_payload(&metadata("p", &[]), "p"),
        Err(JwtError::Malformed)
    );
}

#[test]
fn the_last_of_a_repeated_key_or_kind_wins() {
    let first = struct_value(&[entry("azp", &string_value("first"))]);
    let last = struct_value(&[
        entry("azp", &string_value("x")),
        entry("azp", &[string_value("y"), string_value("last")].concat()),
    ]);
    let m = [metadata("p", &first), metadata("p", &last)].concat();
    let payload = jwt_authn_payload(&m, "p").unwrap().unwrap();
    assert_eq!(Value::Object(payload), json!({"azp": "last"}));
}

#[test]
fn nesting_is_bounded() {
    let nested = |depth: usize| {
        let mut v = string_value("leaf");
        for _ in 0..depth {
            v = struct_value(&[entry("a", &v)]);
        }
        metadata("p", &v)
    };
    assert!(jwt_authn_payload(&nested(MAX_DEPTH), "p").is_ok());
    assert_eq!(
        jwt_authn_payload(&nested(MAX_DEPTH + 1), "p"),
        Err(JwtError::Malformed)
    );
}

#[test]
fn malformed_messages_are_refused() {
    let ok = hex(ENVOY_PAYLOAD);
    // Every truncation: an error or a (shorter) answer, never a panic.
    for len in 0..ok.len() {
        let _ = jwt_authn_payload(&ok[..len], "jwt_payload");
    }
    assert_eq!(
        jwt_authn_payload(&ok[..ok.len() - 1], "jwt_payload"),
        Err(JwtError::Malformed)
    );
    // A string claim that is not UTF-8.
    let bad_utf8 = metadata("p", &struct_value(&[entry("azp", &field(3, &[0xff]))]));
    assert_eq!(jwt_authn_payload(&bad_utf8, "p"), Err(JwtError::Malformed));
    // A known field with the wrong wire type (string_value as a varint).
    let wrong_type = metadata("p", &struct_value(&[entry("azp", &[3 << 3, 1])]));
    assert_eq!(
        jwt_authn_payload(&wrong_type, "p"),
        Err(JwtError::Malformed)
    );
    // A group (wire type 3), and a varint longer than 10 bytes.
    assert_eq!(jwt_authn_payload(&[0x0b], "p"), Err(JwtError::Malformed));
    assert_eq!(
        jwt_authn_payload(&[0x80; 11], "p"),
        Err(JwtError::Malformed)
    );
    // A length beyond the message.
    assert_eq!(
        jwt_authn_payload(&[0x0a, 0x05, 0x00], "p"),
        Err(JwtError::Malformed)
    );
}

#[test]
fn unknown_fields_are_skipped() {
    let mut value = struct_value(&[entry("azp", &string_value("a"))]);
    // Value field 9 as varint, fixed64 and fixed32: ignored.
    value.extend_from_slice(&[9 << 3, 1]);
    value.extend_from_slice(&[9 << 3 | 1, 0, 0, 0, 0, 0, 0, 0, 0]);
    value.extend_from_slice(&[9 << 3 | 5, 0, 0, 0, 0]);
    let payload = jwt_authn_payload(&metadata("p", &value), "p")
        .unwrap()
        .unwrap();
    assert_eq!(Value::Object(payload), json!({"azp": "a"}));
}

#[test]
fn whole_number_claims_from_jwt_authn_render_as_integers() {
    // Envoy stores every JSON number as a double: `"tier": 0` arrives as 0.0.
    let m = jwt_authn_metadata("jwt_payload", &json!({"tier": 0, "level": 5, "exp": EXP}));
    let claims = verified_by_jwt_authn(&m, "jwt_payload", &rules(), EXP - 1)
        .unwrap()
        .unwrap();
    // APIcast's Liquid renders the Lua number 0 as "0" (and a token verified by Tollgate
    // itself renders "0" too).
    assert_eq!(claims.render("tier"), "0", "tier");
    assert_eq!(claims.render("level"), "5", "level");
}
