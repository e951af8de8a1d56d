//! `url_rewriting` through the pipeline: what the mapping rules and credential extraction
//! read on each side of `apicast`, and the `:path` the upstream gets.
#![cfg(feature = "rewrite")]

use super::*;
use crate::config::Config;
use serde_json::{json, Value};

struct NoHeaders;
impl HeaderSource for NoHeaders {
    fn header(&self, _: &str) -> Option<String> {
        None
    }
}

fn config(chain: Value, api_backend: Option<&str>) -> Config {
    let v = json!({"backend": {"cluster": "b"}, "services": [{"id": 1, "backend_version": 1,
        "proxy": {"hosts": ["api"], "policy_chain": chain, "api_backend": api_backend, "proxy_rules": [
            {"http_method": "GET", "pattern": "/new", "metric_system_name": "new", "delta": 1},
            {"http_method": "GET", "pattern": "/original", "metric_system_name": "original", "delta": 1}]}}]});
    Config::parse(v.to_string().as_bytes()).unwrap().config
}

fn rewriting(config: Value) -> Value {
    json!({"name": "url_rewriting", "configuration": config})
}

fn sub(regex: &str, replace: &str) -> Value {
    rewriting(json!({"commands": [{"op": "sub", "regex": regex, "replace": replace}]}))
}

/// The usage reported and the `:path` sent upstream (`None`: the path as received).
fn run(config: &Config, path: &str) -> Result<(String, Option<String>), LocalReply> {
    let head = RequestHead {
        method: "GET",
        authority: "api",
        path,
        now_s: 0,
    };
    match begin(config, head, &NoHeaders)?.authorize()? {
        Next::Backend(m) => {
            let path = m
                .forward()
                .set_request_headers
                .iter()
                .find(|(n, _)| n == ":path")
                .map(|(_, v)| v.clone());
            Ok((m.usage.encoded(), path))
        }
        Next::Forward(_) => panic!("expected a backend call"),
    }
}

fn apicast() -> Value {
    json!({"name": "apicast"})
}

#[test]
fn before_apicast_the_rules_match_the_rewritten_path_the_upstream_gets() {
    let c = config(json!([sub("original", "new"), apicast()]), None);
    let (usage, path) = run(&c, "/original?user_key=k").unwrap();
    assert_eq!(usage, "usage%5Bnew%5D=1");
    assert_eq!(path.as_deref(), Some("/new?user_key=k"));
}

#[test]
fn after_apicast_the_rules_match_the_original_path() {
    let c = config(json!([apicast(), sub("original", "new")]), None);
    let (usage, path) = run(&c, "/original?user_key=k").unwrap();
    assert_eq!(usage, "usage%5Boriginal%5D=1");
    assert_eq!(path.as_deref(), Some("/new?user_key=k"));
}

#[test]
fn nothing_rewritten_the_path_goes_as_received() {
    let c = config(json!([sub("zzz", "new"), apicast()]), None);
    assert_eq!(run(&c, "/original//x?user_key=k").unwrap().1, None);
}

#[test]
fn the_api_backend_prefix_applies_to_the_rewritten_path() {
    let c = config(
        json!([sub("original", "new"), apicast()]),
        Some("http://up:8080/base"),
    );
    assert_eq!(
        run(&c, "/original?user_key=k").unwrap().1.as_deref(),
        Some("/base/new?user_key=k")
    );
}

#[test]
fn credentials_are_read_from_rewritten_args_before_apicast_only() {
    let push = rewriting(
        json!({"query_args_commands": [{"op": "set", "arg": "user_key", "value": "set-by-policy"}]}),
    );
    let c = config(json!([push.clone(), apicast()]), None);
    let head = RequestHead {
        method: "GET",
        authority: "api",
        path: "/new",
        now_s: 0,
    };
    let Next::Backend(m) = begin(&c, head, &NoHeaders).unwrap().authorize().unwrap() else {
        panic!()
    };
    assert_eq!(
        m.credentials,
        crate::credentials::Credentials::UserKey("set-by-policy".into())
    );
    // After apicast: the request had none.
    let c = config(json!([apicast(), push]), None);
    let e = begin(&c, head, &NoHeaders)
        .unwrap()
        .authorize()
        .err()
        .unwrap();
    assert_eq!(e.outcome, Outcome::AuthMissing);
}

#[test]
fn a_rewrite_that_would_be_read_differently_is_refused() {
    let c = config(json!([sub("original", "new;x"), apicast()]), None);
    assert_eq!(
        run(&c, "/original?user_key=k").err(),
        Some(LocalReply::ambiguous_path())
    );
    // Dot segments are resolved: the rules and the upstream read `/new`.
    let c = config(
        json!([sub("^/original/x", "/original/../new"), apicast()]),
        None,
    );
    let (usage, path) = run(&c, "/original/x?user_key=k").unwrap();
    assert_eq!(usage, "usage%5Bnew%5D=1");
    assert_eq!(path.as_deref(), Some("/new?user_key=k"));
}

#[test]
#[cfg(feature = "jwt")]
fn jwt_claim_check_reads_the_path_every_rewrite_made() {
    // No token: every claim is empty, so the rule's `==` fails wherever it applies.
    let claims = json!({"name": "jwt_claim_check", "configuration": {"error_message": "no", "rules": [
        {"resource": "/new", "operations": [{"jwt_claim": "foo", "jwt_claim_type": "plain", "op": "==", "value": "x"}]}]}});
    // The rewrite after apicast: the rules read `/original`, the claim check `/new`.
    let c = config(
        json!([apicast(), sub("original", "new"), claims.clone()]),
        None,
    );
    let e = run(&c, "/original?user_key=k").err().unwrap();
    assert_eq!((e.status, e.body.as_str()), (403, "no\n"));
    // Without the rewrite the rule does not apply.
    let c = config(json!([apicast(), claims]), None);
    assert!(run(&c, "/original?user_key=k").is_ok());
}

/// A `set` arg hidden behind a `;` (`x=1;tenant=evil`, which `;`-splitting upstreams read
/// first) is refused before the backend or the upstream hear of it (found by an audit).
#[test]
fn a_set_arg_behind_a_semicolon_is_refused() {
    let policy = rewriting(
        json!({"query_args_commands": [{"op": "set", "arg": "tenant", "value": "acme"}]}),
    );
    let c = config(json!([policy, apicast()]), None);
    assert_eq!(
        run(&c, "/new?user_key=k&x=1;tenant=evil").err(),
        Some(LocalReply::ambiguous_arg())
    );
    let (_, path) = run(&c, "/new?user_key=k&x=1%3Btenant=evil").unwrap();
    assert_eq!(
        path.as_deref(),
        Some("/new?user_key=k&x=1%3Btenant=evil&tenant=acme")
    );
}

/// `query_args_commands` without `value`: APIcast passes `nil`, so `set` removes the arg and
/// `push`/`add` change nothing (Tollgate sent `debug=&flag=`: found by an audit, 2026-12-07).
#[test]
fn a_query_arg_command_without_value_sets_nil() {
    let policy = rewriting(json!({"query_args_commands": [
        {"op": "set", "arg": "debug"}, {"op": "push", "arg": "flag"}, {"op": "add", "arg": "user_key"}]}));
    let c = config(json!([apicast(), policy]), None);
    let (usage, path) = run(&c, "/new?user_key=k&debug=1").unwrap();
    assert_eq!(usage, "usage%5Bnew%5D=1");
    assert_eq!(path.as_deref(), Some("/new?user_key=k"));
    // Nothing to remove, nothing pushed: the request goes as received.
    assert_eq!(run(&c, "/new?user_key=k").unwrap().1, None);
    // `set` to "" still sends the arg empty, as APIcast does.
    let policy =
        rewriting(json!({"query_args_commands": [{"op": "set", "arg": "debug", "value": ""}]}));
    let c = config(json!([apicast(), policy]), None);
    assert_eq!(
        run(&c, "/new?user_key=k&debug=1").unwrap().1.as_deref(),
        Some("/new?user_key=k&debug=")
    );
}
