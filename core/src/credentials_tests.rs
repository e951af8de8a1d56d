//! Reading credentials at the service's location: query, headers, `Authorization`.

use crate::config::{AuthMode, Config, Service};
use crate::credentials::*;
use crate::mapping::QueryArgs;
use crate::request::HeaderSource;
use std::collections::HashMap;

#[test]
fn names_another_compares_user_key_and_app_id_with_the_identity() {
    let found = |user_key: Option<&str>, app_id: Option<&str>| Found {
        user_key: user_key.map(str::to_string),
        app_id: app_id.map(str::to_string),
        app_key: Some("any".to_string()),
        ..Found::default()
    };
    let none = |_: &str| false;
    assert!(!found(None, None).names_another("client-1", none));
    assert!(!found(Some("client-1"), None).names_another("client-1", none));
    assert!(!found(None, Some("client-1")).names_another("client-1", none));
    assert!(found(Some("uk-premium"), None).names_another("client-1", none));
    assert!(found(None, Some("client-2")).names_another("client-1", none));
    assert!(found(None, Some("client-1x")).names_another("client-1", none));
    // The caller's own key read from the same arg (a local key named `user_key`).
    let own = |v: &str| v == "secret-key";
    assert!(!found(Some("secret-key"), None).names_another("k1", own));
    assert!(found(Some("other-key"), None).names_another("k1", own));
}

struct Headers(HashMap<String, String>);
impl HeaderSource for Headers {
    fn header(&self, name: &str) -> Option<String> {
        self.0.get(&name.to_ascii_lowercase()).cloned()
    }
}
fn headers(pairs: &[(&str, &str)]) -> Headers {
    Headers(
        pairs
            .iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v.to_string()))
            .collect(),
    )
}

fn service(version: u8, proxy: &str) -> Service {
    let text = format!(
        r#"{{"backend":{{"cluster":"b"}},"services":[{{"id":1,"backend_version":{version},"proxy":{proxy}}}]}}"#
    );
    let parsed = Config::parse(text.as_bytes()).unwrap();
    (*parsed.config.services[0]).clone()
}

#[test]
fn query_user_key_is_case_insensitive_and_first_wins() {
    let s = service(1, "{}");
    let q = QueryArgs::parse("USER_KEY=a%26b&user_key=second");
    let found = extract(&s, &q, &headers(&[]));
    assert_eq!(
        found.complete(AuthMode::UserKey),
        Some(Credentials::UserKey("a&b".into()))
    );
}

/// A credential with two values is ambiguous (the upstream may read the other one): in
/// the query (any case), across query and form, across header spellings, or a header
/// sent twice. The same value twice is not.
#[test]
fn a_credential_with_two_values_is_ambiguous() {
    let s = service(1, "{}");
    let from_query = |q: &str| extract(&s, &QueryArgs::parse(q), &headers(&[])).ambiguous;
    assert!(from_query("USER_KEY=a&user_key=b"));
    assert!(from_query("user_key=a&x=1&user_key="));
    assert!(!from_query("user_key=a&User_Key=a&user_key"));
    assert!(!from_query("user_key=a&other=1&other=2"));

    let v2 = service(2, "{}");
    let mut found = extract(&v2, &QueryArgs::parse("app_id=q"), &headers(&[]));
    assert!(!found.ambiguous);
    found.fill_from_args(&v2, &QueryArgs::parse_form("app_id=q&app_key=k"));
    assert!(!found.ambiguous, "the body repeats the query's value");
    found.fill_from_args(&v2, &QueryArgs::parse_form("app_id=other&app_key=k"));
    assert!(
        found.ambiguous,
        "the body's app_id differs from the query's"
    );

    let in_headers = service(1, r#"{"credentials_location":"headers"}"#);
    let spellings = headers(&[("user_key", "a"), ("user-key", "b")]);
    assert!(extract(&in_headers, &QueryArgs::default(), &spellings).ambiguous);
    let same = headers(&[("user_key", "a"), ("user-key", "a")]);
    assert!(!extract(&in_headers, &QueryArgs::default(), &same).ambiguous);
    struct Twice;
    impl HeaderSource for Twice {
        fn header(&self, name: &str) -> Option<String> {
            (name == "user_key").then(|| "a".to_string())
        }
        fn header_ambiguous(&self, name: &str) -> bool {
            name == "user_key"
        }
    }
    assert!(extract(&in_headers, &QueryArgs::default(), &Twice).ambiguous);
}

#[test]
fn empty_value_is_present() {
    let s = service(1, "{}");
    let found = extract(&s, &QueryArgs::parse("user_key="), &headers(&[]));
    assert_eq!(
        found.complete(s.mode),
        Some(Credentials::UserKey(String::new()))
    );
    let found = extract(&s, &QueryArgs::parse("user_key"), &headers(&[]));
    assert_eq!(found.complete(s.mode), None);
}

#[test]
fn v2_needs_both() {
    let s = service(
        2,
        r#"{"auth_app_id":"X-App-Id","auth_app_key":"x_app_key","credentials_location":"headers"}"#,
    );
    let mut only_id = extract(&s, &QueryArgs::default(), &headers(&[("x-app-id", "a")]));
    assert_eq!(only_id.complete(s.mode), None);
    // Incomplete credentials are not taken: default_credentials must still see them.
    assert_eq!(only_id.take_complete(s.mode), None);
    assert_eq!(only_id.app_id.as_deref(), Some("a"));
    let mut both = extract(
        &s,
        &QueryArgs::default(),
        &headers(&[("x_app_id", "a"), ("x-app-key", "k")]),
    );
    let expected = Some(Credentials::AppIdAndKey {
        app_id: "a".into(),
        app_key: "k".into(),
    });
    assert_eq!(both.complete(s.mode), expected);
    assert_eq!(both.take_complete(s.mode), expected);
    assert_eq!(both.take_complete(s.mode), None);
}

#[test]
fn body_fills_missing_v2_value() {
    let s = service(2, "{}");
    let mut found = extract(&s, &QueryArgs::parse("app_id=q"), &headers(&[]));
    found.fill_from_args(&s, &QueryArgs::parse_form("app_id=b&app_key=k+1"));
    assert_eq!(
        found.complete(s.mode),
        Some(Credentials::AppIdAndKey {
            app_id: "q".into(),
            app_key: "k 1".into()
        })
    );
}

#[test]
fn basic_authorization() {
    let s = service(1, r#"{"credentials_location":"authorization"}"#);
    let found = extract(
        &s,
        &QueryArgs::default(),
        &headers(&[("authorization", "Basic dmFsdWU6Cg==")]),
    );
    assert_eq!(
        found.complete(s.mode),
        Some(Credentials::UserKey("value".into()))
    );
    let s2 = service(2, r#"{"credentials_location":"authorization"}"#);
    // "id:with:colon" -> userid "id", password "with:colon" (RFC 7617: the first colon)
    let found = extract(
        &s2,
        &QueryArgs::default(),
        &headers(&[("authorization", "Basic aWQ6d2l0aDpjb2xvbg==")]),
    );
    assert_eq!(
        found.complete(s2.mode),
        Some(Credentials::AppIdAndKey {
            app_id: "id".into(),
            app_key: "with:colon".into()
        })
    );
    for scheme in ["basic", "BASIC", "bAsIc"] {
        let found = extract(
            &s,
            &QueryArgs::default(),
            &headers(&[("authorization", &format!("{scheme} dmFsdWU6Cg=="))]),
        );
        assert_eq!(
            found.complete(s.mode),
            Some(Credentials::UserKey("value".into())),
            "{scheme}"
        );
    }
    let other = extract(
        &s,
        &QueryArgs::default(),
        &headers(&[("authorization", "Basicx dmFsdWU6Cg==")]),
    );
    assert_eq!(other.complete(s.mode), None);
}

#[test]
fn query_location_ignores_authorization_header() {
    let s = service(1, "{}");
    let found = extract(
        &s,
        &QueryArgs::default(),
        &headers(&[("authorization", "Basic dmFsdWU6Cg==")]),
    );
    assert_eq!(found.complete(s.mode), None);
}

#[test]
fn values_longer_than_any_3scale_credential_do_not_fit() {
    let at = "k".repeat(MAX_VALUE_BYTES);
    let over = "k".repeat(MAX_VALUE_BYTES + 1);
    assert!(Credentials::UserKey(at.clone()).fits());
    assert!(!Credentials::UserKey(over.clone()).fits());
    assert!(!Credentials::AppId(over.clone()).fits());
    let pair = |app_id: &str, app_key: &str| Credentials::AppIdAndKey {
        app_id: app_id.into(),
        app_key: app_key.into(),
    };
    assert!(pair(&at, &at).fits());
    assert!(!pair(&over, "k").fits());
    assert!(!pair("a", &over).fits());
    // Bytes, not characters: a multi-byte value counts what the key would store.
    assert!(!Credentials::UserKey("é".repeat(MAX_VALUE_BYTES / 2 + 1)).fits());
}

#[test]
fn encoded_for_debug_header() {
    let c = Credentials::AppIdAndKey {
        app_id: "a b".into(),
        app_key: "k&=".into(),
    };
    assert_eq!(c.encoded(), "app_id=a%20b&app_key=k%26%3D");
}
