//! A credential found in its location, compared with the same name in the others: an
//! upstream reading it there must not get another value than the one authorized.

use crate::config::{Config, Service};
use crate::credentials::extract;
use crate::mapping::query::QueryArgs;
use crate::request::HeaderSource;

struct Headers(Vec<(&'static str, &'static str)>);

impl HeaderSource for Headers {
    fn header(&self, name: &str) -> Option<String> {
        (self.0.iter())
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.to_string())
    }

    /// As the adapter does: every header named `name` up to case and `-`/`_`.
    fn any_value_any_spelling(&self, name: &str, found: &mut dyn FnMut(&str) -> bool) -> bool {
        let same = |a: &str| {
            a.replace('_', "-")
                .eq_ignore_ascii_case(&name.replace('_', "-"))
        };
        self.0.iter().any(|(k, v)| same(k) && found(v))
    }
}

fn service(version: u8, location: &str) -> Service {
    let text = format!(
        r#"{{"backend":{{"cluster":"b"}},"services":[{{"id":1,"backend_version":{version},"proxy":{{"credentials_location":"{location}"}}}}]}}"#
    );
    let parsed = Config::parse(text.as_bytes()).unwrap();
    (*parsed.config.services[0]).clone()
}

fn ambiguous(s: &Service, query: &str, headers: Vec<(&'static str, &'static str)>) -> bool {
    extract(s, &QueryArgs::parse(query), &Headers(headers)).ambiguous
}

#[test]
fn a_header_credential_beside_another_value_in_the_query_is_ambiguous() {
    let s = service(2, "headers");
    let creds = vec![("app_id", "mine"), ("app_key", "k")];
    assert!(!ambiguous(&s, "", creds.clone()));
    assert!(
        !ambiguous(&s, "app_id=mine&x=1", creds.clone()),
        "the same value"
    );
    assert!(ambiguous(&s, "app_id=admin", creds.clone()));
    assert!(
        ambiguous(&s, "APP_ID=admin", creds.clone()),
        "another spelling"
    );
    assert!(
        ambiguous(&s, "app.id=admin", creds.clone()),
        "PHP's spelling"
    );
    assert!(ambiguous(&s, "app_key=other", creds.clone()));
    // Nothing found in the headers: auth missing, as before, not auth failed.
    assert!(!ambiguous(&s, "app_id=admin&app_key=k", vec![]));
}

#[test]
fn a_query_credential_beside_another_value_in_a_header_is_ambiguous() {
    let s = service(1, "query");
    assert!(!ambiguous(&s, "user_key=mine", vec![("user_key", "mine")]));
    assert!(ambiguous(&s, "user_key=mine", vec![("user_key", "theirs")]));
    assert!(ambiguous(&s, "user_key=mine", vec![("User-Key", "theirs")]));
    assert!(!ambiguous(&s, "", vec![("user_key", "theirs")]));
}

#[test]
fn an_authorization_credential_beside_another_value_elsewhere_is_ambiguous() {
    let s = service(1, "authorization");
    // Basic base64("mine:")
    let basic = ("authorization", "Basic bWluZTo=");
    assert!(!ambiguous(&s, "", vec![basic]));
    assert!(!ambiguous(&s, "user_key=mine", vec![basic]));
    assert!(ambiguous(&s, "user_key=theirs", vec![basic]));
    assert!(ambiguous(
        &s,
        "",
        vec![basic, ("x-user-key", "z"), ("user_key", "theirs")]
    ));
}

#[test]
fn a_form_body_credential_beside_another_value_in_a_header_is_ambiguous() {
    let filled = |version: u8, headers: Vec<(&'static str, &'static str)>, form: &str| {
        let s = service(version, "query");
        let mut found = extract(&s, &QueryArgs::parse(""), &Headers(headers));
        assert!(!found.ambiguous, "nothing to compare before the body");
        found.fill_from_args(&s, &QueryArgs::parse(form));
        found.ambiguous
    };
    assert!(!filled(1, vec![("user_key", "mine")], "user_key=mine"));
    assert!(filled(1, vec![("user_key", "theirs")], "user_key=mine"));
    assert!(filled(1, vec![("User-Key", "theirs")], "user_key=mine"));
    assert!(
        !filled(1, vec![("user_key", "theirs")], "x=1"),
        "still missing"
    );
    let creds = "app_id=mine&app_key=k";
    assert!(!filled(
        2,
        vec![("app_id", "mine"), ("app_key", "k")],
        creds
    ));
    assert!(filled(2, vec![("app_key", "other")], creds));
    assert!(filled(2, vec![("APP-ID", "admin")], creds));
}

/// A cookie is another location (PHP's `$_REQUEST` with its built-in `variables_order`):
/// one naming the credential with another value, in any spelling, is ambiguous (found in the
/// thirty-fourth session).
#[test]
fn a_cookie_naming_the_credential_otherwise_is_ambiguous() {
    let query = service(1, "query");
    let cookie = |v: &'static str| vec![("cookie", v)];
    assert!(ambiguous(&query, "user_key=mine", cookie("user_key=admin")));
    assert!(ambiguous(
        &query,
        "user_key=mine",
        cookie("a=1; user.key=admin")
    ));
    assert!(ambiguous(
        &query,
        "user_key=mine",
        vec![("cookie", "a=1"), ("Cookie", "USER_KEY=admin")]
    ));
    assert!(!ambiguous(
        &query,
        "user_key=mine",
        cookie("user_key=mine; a=1")
    ));
    assert!(!ambiguous(&query, "user_key=mine", cookie("session=x")));
    let headers = service(2, "headers");
    let mut creds = vec![("app_id", "mine"), ("app_key", "k")];
    creds.push(("cookie", "app_key=other"));
    assert!(ambiguous(&headers, "", creds));
    let basic = service(1, "authorization");
    // base64("mine:")
    let with = vec![
        ("authorization", "Basic bWluZTo="),
        ("cookie", "user_key=admin"),
    ];
    assert!(ambiguous(&basic, "", with));
    // Nothing found: auth missing, not auth failed.
    assert!(!ambiguous(&query, "", cookie("user_key=admin")));
}
