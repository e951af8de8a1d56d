//! `from_jwt_authn`: tokens where `jwt_authn` never looks but an upstream does (a form body,
//! another spelling of its header or arg) are tokens nobody verified (found by an audit,
//! 2026-12-07).

use super::local::{access_tokens_agree, authenticate, LocalFailure, LocalRequest};
use crate::config::Config;
use crate::mapping::QueryArgs;
use crate::request::{same_header_spelling, HeaderSource};
use serde_json::json;

const KEY: &str = "rk_spelling_0123456789abcdef";

struct Headers(Vec<(&'static str, &'static str)>);

impl HeaderSource for Headers {
    fn header(&self, name: &str) -> Option<String> {
        let mut values = self.0.iter().filter(|(k, _)| k.eq_ignore_ascii_case(name));
        values.next().map(|(_, v)| v.to_string())
    }

    fn any_value_any_spelling(&self, name: &str, found: &mut dyn FnMut(&str) -> bool) -> bool {
        (self.0.iter())
            .any(|(k, v)| same_header_spelling(k.as_bytes(), name.as_bytes()) && found(v))
    }
}

fn config(source: serde_json::Value) -> Config {
    let config = json!({
        "backend": {"cluster": "backend"},
        "services": [{
            "id": "42", "proxy": {"hosts": ["api.example.com"]},
            "authentication": {"mode": "local",
                "api_keys": {"header": "X-API-Key",
                             "keys": [{"id": "k", "hash": super::digest::stored_form(KEY)}]},
                "jwt": {"from_jwt_authn": source}}
        }]
    });
    match Config::parse(config.to_string().as_bytes()) {
        Ok(c) => c.config,
        Err(e) => panic!("{e}"),
    }
}

fn args(query: &str, form: &str) -> QueryArgs {
    let mut args = QueryArgs::parse(query);
    args.overlay(&QueryArgs::parse_form(form));
    args
}

#[test]
fn a_form_token_is_never_the_token_checked() {
    let c = config(json!({"metadata_key": "jwt_payload"}));
    let auth = &c.services[0].auth;
    assert!(!access_tokens_agree(
        auth,
        &args("a=1", "access_token=f"),
        None
    ));
    assert!(!access_tokens_agree(
        auth,
        &args("access_token=t", "access_token=f"),
        None
    ));
    // The token jwt_authn read from the query, given again in the form.
    assert!(access_tokens_agree(
        auth,
        &args("access_token=t", "access_token=t"),
        None
    ));
    assert!(access_tokens_agree(auth, &args("a=1", "b=2"), None));
}

#[test]
fn another_spelling_of_a_custom_arg_is_another_token() {
    let c = config(json!({"metadata_key": "jwt_payload", "query": "jwt_token"}));
    let auth = &c.services[0].auth;
    for (query, form) in [
        ("jwt.token=f", ""),
        ("jwt_token[]=f", ""),
        ("jwt_token=t&jwt.token=f", ""),
        ("a=1", "jwt_token=f"),
        ("jwt_token=t", "jwt_token=f"),
    ] {
        assert!(
            !access_tokens_agree(auth, &args(query, form), None),
            "{query} {form}"
        );
    }
    assert!(access_tokens_agree(
        auth,
        &args("jwt_token=t&jwt.token=t", ""),
        None
    ));
}

#[test]
fn another_spelling_of_a_custom_header_is_another_token() {
    let c = config(json!({"metadata_key": "jwt_payload", "header": "X-JWT-Assertion"}));
    let no_args = QueryArgs::default();
    let run = |headers: Vec<(&'static str, &'static str)>| {
        let headers = Headers(headers);
        let request = LocalRequest {
            method: "GET",
            path: "/",
            query: None,
            args: &no_args,
            headers: &headers,
            now_s: 1_700_000_000,
        };
        authenticate(&c.services[0].auth, &request).map(|who| who.id)
    };
    assert_eq!(run(vec![("x-api-key", KEY)]), Ok("k".into()));
    for spelling in ["x_jwt_assertion", "X-JWT_Assertion"] {
        let with_token = vec![("x-api-key", KEY), (spelling, "f.f.f")];
        assert_eq!(run(with_token), Err(LocalFailure::Failed), "{spelling}");
    }
}
