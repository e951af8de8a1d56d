//! `url_rewriting` semantics, after APIcast's t/apicast-policy-url-rewriting.t, and what a
//! rewrite may not produce.

use super::*;
use crate::config::json::Obj;
use crate::config::policies::{Context, PolicyChain};
use crate::mapping::normalize_path;
use serde_json::{json, Value};

const MAX: usize = 8192;

fn chain(policy_chain: Value) -> PolicyChain {
    let proxy = json!({ "policy_chain": policy_chain });
    PolicyChain::parse(&Obj::new("proxy", &proxy).unwrap(), &Context::default()).unwrap()
}

/// The policy after `apicast` (APIcast's TEST 1-4, 14, 15) or before it.
fn policy(config: Value, before: bool) -> PolicyChain {
    let rewriting = json!({"name": "apicast.policy.url_rewriting", "configuration": config});
    let apicast = json!({"name": "apicast.policy.apicast"});
    chain(match before {
        true => json!([rewriting, apicast]),
        false => json!([apicast, rewriting]),
    })
}

fn commands(commands: Value) -> Value {
    json!({ "commands": commands })
}

fn run_on(chain: &PolicyChain, method: &str, path: &str, query: Option<&str>) -> Outcome {
    run(chain, method, &normalize_path(path), query, MAX).unwrap()
}

fn upstream(chain: &PolicyChain, method: &str, path: &str) -> Option<String> {
    run_on(chain, method, path, None).upstream.map(|r| r.path)
}

#[test]
fn sub_after_apicast_leaves_the_rules_the_original_path() {
    let c = policy(
        commands(json!([{"op": "sub", "regex": "original", "replace": "new"}])),
        false,
    );
    let out = run_on(&c, "GET", "/xxx_original_yyy", Some("user_key=value"));
    assert_eq!(out.at_apicast, None);
    assert_eq!(
        out.upstream,
        Some(Rewritten {
            path: "/xxx_new_yyy".into(),
            query: Some("user_key=value".into())
        })
    );
}

#[test]
fn gsub_replaces_every_match() {
    let c = policy(
        commands(json!([{"op": "gsub", "regex": "original", "replace": "new"}])),
        false,
    );
    assert_eq!(
        upstream(&c, "GET", "/aaa_original_bbb_original_ccc").as_deref(),
        Some("/aaa_new_bbb_new_ccc")
    );
}

#[test]
fn commands_run_in_order_with_options() {
    let c = policy(
        commands(json!([
            {"op": "gsub", "regex": "AAA", "replace": "bbb", "options": "i"},
            {"op": "sub", "regex": "bbb", "replace": "ccc"},
            {"op": "sub", "regex": "ccc", "replace": "ddd"}
        ])),
        false,
    );
    assert_eq!(upstream(&c, "GET", "/aaa_aaa").as_deref(), Some("/ddd_bbb"));
}

#[test]
fn break_only_after_a_command_that_matched() {
    let c = policy(
        commands(json!([
            {"op": "sub", "regex": "does_not_match", "replace": "a", "break": true},
            {"op": "sub", "regex": "aaa", "replace": "bbb"},
            {"op": "sub", "regex": "bbb", "replace": "ccc", "break": true},
            {"op": "sub", "regex": "ccc", "replace": "ddd"}
        ])),
        false,
    );
    assert_eq!(upstream(&c, "GET", "/aaa").as_deref(), Some("/ccc"));
}

#[test]
fn before_apicast_the_rules_see_the_rewritten_path() {
    let c = policy(
        commands(json!([{"op": "sub", "regex": "original", "replace": "new"}])),
        true,
    );
    let out = run_on(&c, "GET", "/original", Some("user_key=value"));
    let expected = Some(Rewritten {
        path: "/new".into(),
        query: Some("user_key=value".into()),
    });
    assert_eq!(out.at_apicast, expected);
    assert_eq!(out.upstream, expected);
}

#[test]
fn nothing_matched_nothing_changes() {
    let c = policy(
        commands(json!([{"op": "sub", "regex": "zzz", "replace": "new"}])),
        true,
    );
    assert_eq!(
        run_on(&c, "GET", "/original", Some("a=1")),
        Outcome::default()
    );
    // A chain without the policy does not even decode the path.
    let plain = chain(json!([{"name": "apicast"}]));
    assert_eq!(
        run(&plain, "GET", "/%FF", None, MAX),
        Ok(Outcome::default())
    );
}

#[test]
fn the_replacement_is_escaped_for_the_rules() {
    // APIcast TEST 13: rule `/new%20/foo/` matches `/original` rewritten to `/new /foo/`.
    let c = policy(
        commands(json!([{"op": "sub", "regex": "original", "replace": "new /foo/"}])),
        true,
    );
    let out = run_on(&c, "GET", "/original", None);
    assert_eq!(out.at_apicast.unwrap().path, "/new%20/foo/");
}

#[test]
fn commands_read_the_decoded_path() {
    let c = policy(
        commands(json!([{"op": "sub", "regex": "a b", "replace": "c"}])),
        true,
    );
    assert_eq!(upstream(&c, "GET", "/x/a%20b").as_deref(), Some("/x/c"));
    // Groups, and `$$` for a dollar.
    let c = policy(
        commands(json!([{"op": "sub", "regex": "^/v(\\d+)/(\\w+)", "replace": "/$2/v$1/$$"}])),
        true,
    );
    assert_eq!(
        upstream(&c, "GET", "/v2/users/7").as_deref(),
        Some("/users/v2/$/7")
    );
}

#[test]
fn methods_filter_commands() {
    let config = |methods: Value| {
        policy(
            commands(
                json!([{"op": "sub", "regex": "original", "replace": "new", "methods": methods}]),
            ),
            false,
        )
    };
    let c = config(json!(["GET", "POST", "PUT"]));
    assert_eq!(
        upstream(&c, "GET", "/xxx_original_yyy").as_deref(),
        Some("/xxx_new_yyy")
    );
    let c = config(json!(["DELETE", "POST", "PUT"]));
    assert_eq!(upstream(&c, "GET", "/xxx_original_yyy"), None);
    assert_eq!(
        upstream(&c, "DELETE", "/xxx_original_yyy").as_deref(),
        Some("/xxx_new_yyy")
    );
}

fn query_after(ops: Value, method: &str, query: Option<&str>) -> Option<Option<String>> {
    let c = policy(json!({ "query_args_commands": ops }), true);
    run_on(&c, method, "/", query).upstream.map(|r| r.query)
}

#[test]
fn push_adds_a_value() {
    let q = query_after(
        json!([
            {"op": "push", "arg": "new_arg", "value": "a_value"},
            {"op": "push", "arg": "existing_arg", "value": "new_value"}
        ]),
        "GET",
        Some("user_key=value&some_arg=1&existing_arg=original_value"),
    );
    assert_eq!(
        q,
        Some(Some(
            "user_key=value&some_arg=1&existing_arg=original_value&new_arg=a_value&existing_arg=new_value".into()
        ))
    );
}

#[test]
fn set_replaces_every_value_or_creates() {
    let q = query_after(
        json!([
            {"op": "set", "arg": "an_arg", "value": "new_value"},
            {"op": "set", "arg": "not_in_the_original_query", "value": "val"}
        ]),
        "GET",
        Some("user_key=value&an_arg=original_value&an_arg=another_val"),
    );
    assert_eq!(
        q,
        Some(Some(
            "user_key=value&an_arg=new_value&not_in_the_original_query=val".into()
        ))
    );
}

#[test]
fn add_only_to_an_argument_present() {
    let ops = json!([
        {"op": "add", "arg": "new_arg", "value": "a_value"},
        {"op": "add", "arg": "existing_arg", "value": "new_value"}
    ]);
    let q = query_after(
        ops.clone(),
        "GET",
        Some("user_key=value&existing_arg=original_value"),
    );
    assert_eq!(
        q,
        Some(Some(
            "user_key=value&existing_arg=original_value&existing_arg=new_value".into()
        ))
    );
    // Nothing to add to: nothing changes.
    assert_eq!(query_after(ops, "GET", Some("user_key=value")), None);
}

#[test]
fn delete_removes_every_value() {
    let ops = json!([{"op": "delete", "arg": "an_arg"}]);
    assert_eq!(
        query_after(
            ops.clone(),
            "GET",
            Some("user_key=value&an_arg=1&an%5Farg=2")
        ),
        Some(Some("user_key=value".into()))
    );
    // The last argument gone: no query at all.
    assert_eq!(query_after(ops, "GET", Some("an_arg=1")), Some(None));
}

#[test]
fn query_values_are_encoded_and_names_decoded() {
    let q = query_after(
        json!([{"op": "set", "arg": "a b", "value": "x&y=z#"}]),
        "GET",
        Some("a+b=1&a%20b=2&c=3"),
    );
    assert_eq!(q, Some(Some("c=3&a%20b=x%26y%3Dz%23".into())));
}

#[test]
fn query_commands_follow_methods() {
    let ops = json!([{"op": "push", "arg": "x", "value": "1", "methods": ["POST"]}]);
    assert_eq!(query_after(ops.clone(), "GET", None), None);
    assert_eq!(query_after(ops, "POST", None), Some(Some("x=1".into())));
}

#[test]
fn before_and_after_apicast_in_one_chain() {
    let c = chain(json!([
        {"name": "url_rewriting", "configuration": commands(json!([{"op": "sub", "regex": "^/a", "replace": "/b"}]))},
        {"name": "apicast"},
        {"name": "url_rewriting", "configuration": {
            "commands": [{"op": "sub", "regex": "^/b", "replace": "/c"}],
            "query_args_commands": [{"op": "push", "arg": "after", "value": "1"}]}}
    ]));
    let out = run_on(&c, "GET", "/a/x", Some("k=v"));
    assert_eq!(
        out.at_apicast,
        Some(Rewritten {
            path: "/b/x".into(),
            query: Some("k=v".into())
        })
    );
    assert_eq!(
        out.upstream,
        Some(Rewritten {
            path: "/c/x".into(),
            query: Some("k=v&after=1".into())
        })
    );
}

/// Whatever the replacement writes, the upstream reads the path the rules matched.
#[test]
fn a_rewrite_cannot_escape() {
    let rewrite = |regex: &str, replace: &str, path: &str| {
        let c = policy(
            commands(json!([{"op": "sub", "regex": regex, "replace": replace}])),
            true,
        );
        run(&c, "GET", &normalize_path(path), None, MAX).map(|o| o.upstream.map(|r| r.path))
    };
    // Dot segments are resolved, never above the root; slashes merged.
    assert_eq!(
        rewrite("^/public", "/public/../admin", "/public/x"),
        Ok(Some("/admin/x".into()))
    );
    assert_eq!(rewrite("^/p", "/../../..", "/p/x"), Ok(Some("/x".into())));
    assert_eq!(rewrite("x", "/./", "/a/x/b"), Ok(Some("/a/b".into())));
    // An encoded slash written by the replacement stays text: the upstream decodes `%2F`.
    assert_eq!(
        rewrite("x", "..%2Fadmin", "/a/x"),
        Ok(Some("/a/..%252Fadmin".into()))
    );
    // No leading slash: made absolute. `?` and `#` are escaped, not a query or fragment.
    assert_eq!(rewrite("^/a", "b", "/a/c"), Ok(Some("/b/c".into())));
    assert_eq!(
        rewrite("c", "?q=1#f", "/a/c"),
        Ok(Some("/a/%3Fq=1%23f".into()))
    );
    // What no upstream may read differently: refused, as in a request.
    for replace in ["/;jsessionid=1", "\\..\\", "\u{1}"] {
        assert_eq!(
            rewrite("x", replace, "/a/x"),
            Err(LocalReply::ambiguous_path()),
            "{replace:?}"
        );
    }
}

#[test]
fn growth_is_bounded() {
    let c = policy(
        commands(json!([{"op": "gsub", "regex": "", "replace": "0123456789"}])),
        true,
    );
    let long = format!("/{}", "a".repeat(1000));
    assert_eq!(
        run(&c, "GET", &long, None, MAX),
        Err(LocalReply::uri_too_long())
    );
    assert!(run(&c, "GET", "/abc", None, MAX).is_ok());
    // The query counts too.
    let c = policy(
        json!({"query_args_commands": [{"op": "push", "arg": "a", "value": "v".repeat(100)}]}),
        true,
    );
    assert_eq!(
        run(&c, "GET", "/", None, 50),
        Err(LocalReply::uri_too_long())
    );
}

#[test]
fn a_path_that_is_not_text_is_refused() {
    let c = policy(
        commands(json!([{"op": "sub", "regex": "a", "replace": "b"}])),
        true,
    );
    assert_eq!(
        run(&c, "GET", &normalize_path("/a%FF"), None, MAX),
        Err(LocalReply::ambiguous_path())
    );
    // UTF-8 text is read as characters.
    let c = policy(
        commands(json!([{"op": "sub", "regex": "é", "replace": "e"}])),
        true,
    );
    assert_eq!(
        upstream(&c, "GET", "/caf%C3%A9/a").as_deref(),
        Some("/cafe/a")
    );
}

#[test]
fn what_cannot_be_honoured_is_refused_with_its_path() {
    let refused = |config: Value| {
        let proxy = json!({"policy_chain": [{"name": "url_rewriting", "configuration": config}, {"name": "apicast"}]});
        let at = "services[0].proxy";
        PolicyChain::parse(&Obj::new(at, &proxy).unwrap(), &Context::default())
            .unwrap_err()
            .to_string()
    };
    let base = "services[0].proxy.policy_chain[0].configuration";
    let cases = [
        (
            json!({"query_args_commands": [{"op": "set", "arg": "a", "value": "{{ uri }}", "value_type": "liquid"}]}),
            format!("{base}.query_args_commands[0].value_type: unknown value \"liquid\" (Liquid templates are not supported)"),
        ),
        (
            commands(json!([{"op": "sub", "regex": "a", "replace": "b", "options": "ia"}])),
            format!("{base}.commands[0].options: option 'a' is not supported"),
        ),
        (
            commands(json!([{"op": "sub", "regex": "(?=a)", "replace": "b"}])),
            format!("{base}.commands[0].regex: not a regular expression Tollgate can run"),
        ),
        (
            commands(json!([{"op": "sub", "regex": "a".repeat(1025), "replace": "b"}])),
            format!("{base}.commands[0].regex: longer than 1024 bytes"),
        ),
        (
            commands(json!([{"op": "sub", "regex": "(a)", "replace": "$2"}])),
            format!("{base}.commands[0].replace: refers to group 2"),
        ),
        (
            commands(json!([{"op": "sub", "regex": "a", "replace": "b", "methods": ["FETCH"]}])),
            format!("{base}.commands[0].methods[0]: unknown value \"FETCH\""),
        ),
        (
            json!({"query_args_commands": [{"op": "push", "value": "1"}]}),
            format!("{base}.query_args_commands[0].arg: missing required field"),
        ),
    ];
    for (config, expected) in cases {
        let e = refused(config);
        assert!(e.starts_with(&expected), "{e}\nexpected: {expected}");
    }
}

/// A `set` kept the other pieces' raw text, `;` included: `x=1;tenant=evil` went upstream
/// beside `tenant=acme`, and Rack 2, Python before 3.9.2 or Go before 1.17 read `tenant=evil`
/// first (APIcast's `ngx.req.set_uri_args` escapes that `;`). Found by an audit, 2026-12-06.
#[test]
fn a_set_arg_behind_a_semicolon_is_ambiguous() {
    let c = policy(
        json!({"query_args_commands": [{"op": "set", "arg": "tenant", "value": "acme"}]}),
        true,
    );
    let refused = |query: &str| run(&c, "GET", "/ok", Some(query), MAX).err();
    for query in [
        "x=1;tenant=evil",
        "user_key=k&x=1;tenant=evil",
        "x;tenant=evil",
        "tenant;x=evil",
        "x=1;Tenant=evil",
        "x=1;[tenant]=evil",
        "x=1;tenant[]=evil",
        "x=1;te%6Eant=evil",
        // Another spelling, `&`-separated: `set` would leave it for ASP.NET, `qs`, Rack.
        "Tenant=evil&x=1",
        "tenant[]=evil",
        "[tenant]=evil",
    ] {
        assert_eq!(refused(query), Some(LocalReply::ambiguous_arg()), "{query}");
    }
    // A `%3B` is data to every parser; `;` beside other args, and `tenant` itself, are fine.
    for (query, upstream) in [
        ("x=1%3Btenant=evil", "x=1%3Btenant=evil&tenant=acme"),
        ("x=1;y=2&tenant=old", "x=1;y=2&tenant=acme"),
        ("tenants=1;x=2", "tenants=1;x=2&tenant=acme"),
        // `set` takes a `tenant` piece away whole, `;` and all.
        ("tenant=a;b&x=1", "x=1&tenant=acme"),
        ("tenant=a;tenant=evil", "tenant=acme"),
    ] {
        let out = run_on(&c, "GET", "/ok", Some(query));
        assert_eq!(out.upstream.unwrap().query.as_deref(), Some(upstream));
    }
}

/// Every operation refuses its arg behind a `;`: `delete` would leave `;tenant=evil` for the
/// upstream to read, `push` and `add` a value APIcast's upstream never reads.
#[test]
fn every_query_operation_refuses_its_arg_behind_a_semicolon() {
    for op in [
        json!({"op": "delete", "arg": "tenant"}),
        json!({"op": "push", "arg": "tenant", "value": "acme"}),
        json!({"op": "add", "arg": "tenant", "value": "acme"}),
    ] {
        let c = policy(json!({ "query_args_commands": [op] }), false);
        for query in ["tenant=1&x=1;tenant=evil", "x=1;TENANT=evil"] {
            let e = run(&c, "GET", "/ok", Some(query), MAX).err();
            assert_eq!(e, Some(LocalReply::ambiguous_arg()), "{op} {query}");
        }
        // A `tenant` piece with a `;` in it: `delete` takes it away whole; `push` and `add`
        // leave it, a second `tenant` behind its `;` included.
        let e = run(&c, "GET", "/ok", Some("tenant=a;tenant=evil"), MAX).err();
        let deleted = op["op"] == "delete";
        assert_eq!(e.is_none(), deleted, "{op}");
    }
    // A command skipped for the method reads nothing.
    let ops = json!([{"op": "delete", "arg": "tenant", "methods": ["POST"]}]);
    assert_eq!(query_after(ops, "GET", Some("x=1;tenant=evil")), None);
}
