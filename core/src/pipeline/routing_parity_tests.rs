//! `routing` read as APIcast reads it (found by an audit of the policies against APIcast's
//! sources, 2026-12-07): a condition without `operations`, `tostring` of an absent header or
//! arg (`nil`) and of a bare `?flag` (`true`), a claim read raw rather than rendered as
//! Liquid, and an `owner_id` written as a decimal string.

use super::fake_envoy::backend_usage;
#[cfg(feature = "jwt")]
use super::fake_envoy::Headers;
use crate::config::Config;
use serde_json::{json, Value};

/// A product (APIcast routing TEST 28-30 shape): rules owned by backends 1 and 2, and one by
/// the product; `owner` is how backend 2's rule writes its `owner_id`.
fn product_with(rules: Value, owner: Value) -> Config {
    let rule = |metric: &str, owner: Value, owner_type: &str| {
        json!({"http_method": "GET", "pattern": "/", "metric_system_name": metric, "delta": 1,
               "owner_id": owner, "owner_type": owner_type})
    };
    let v = json!({"backend": {"cluster": "backend"}, "services": [{
        "id": "9", "backend_version": "1",
        "proxy": {"hosts": ["api"], "policy_chain": [
            {"name": "routing", "configuration": {"rules": rules}}, {"name": "apicast"}],
            "proxy_rules": [rule("a_hits", json!(1), "BackendApi"), rule("b_hits", owner, "BackendApi"),
                            rule("product_hits", json!(9), "Proxy")]}}]});
    Config::parse(v.to_string().as_bytes()).unwrap().config
}

fn product(rules: Value) -> Config {
    product_with(rules, json!(2))
}

/// To backend 2 when `operation` holds, else to backend 1 (a catch-all).
fn to_b_when(operation: Value) -> Config {
    product(json!([
        {"url": "http://b", "owner_id": 2, "condition": {"operations": [operation]}},
        {"url": "http://a", "owner_id": 1, "condition": {"operations": []}}
    ]))
}

const TO_A: [&str; 2] = ["a_hits", "product_hits"];
const TO_B: [&str; 2] = ["b_hits", "product_hits"];

/// APIcast TEST 34 (THREESCALE-6415): `"condition": {}` is a catch-all rule; it was refused,
/// and a fetched product with it skipped whole.
#[test]
fn a_condition_without_operations_always_holds() {
    let c = product(json!([
        {"url": "http://b", "owner_id": 2, "condition": {"operations": [
            {"match": "path", "op": "==", "value": "/b"}]}},
        {"url": "http://a", "owner_id": 1, "condition": {}}
    ]));
    assert_eq!(backend_usage(&c, "/b?user_key=k", &[]), TO_B);
    assert_eq!(backend_usage(&c, "/x?user_key=k", &[]), TO_A);
    // `or` over no operation holds for none (APIcast's `at_least_one_true`).
    let c = product(json!([
        {"url": "http://b", "owner_id": 2, "condition": {"combine_op": "or"}},
        {"url": "http://a", "owner_id": 1, "condition": {}}
    ]));
    assert_eq!(backend_usage(&c, "/x?user_key=k", &[]), TO_A);
}

/// An absent header is `tostring(nil)`, the text `nil`: `== "nil"` holds, and so does
/// `matches ".*"` (it matched nothing).
#[test]
fn an_absent_header_reads_nil() {
    let eq_nil =
        to_b_when(json!({"match": "header", "header_name": "X-Tier", "op": "==", "value": "nil"}));
    assert_eq!(backend_usage(&eq_nil, "/x?user_key=k", &[]), TO_B);
    assert_eq!(
        backend_usage(&eq_nil, "/x?user_key=k", &[("x-tier", "gold")]),
        TO_A
    );
    assert_eq!(
        backend_usage(&eq_nil, "/x?user_key=k", &[("x-tier", "")]),
        TO_A
    );
    let ne_empty =
        to_b_when(json!({"match": "header", "header_name": "X-Tier", "op": "!=", "value": ""}));
    assert_eq!(backend_usage(&ne_empty, "/x?user_key=k", &[]), TO_B);
    assert_eq!(
        backend_usage(&ne_empty, "/x?user_key=k", &[("x-tier", "")]),
        TO_A
    );
}

#[test]
#[cfg(feature = "rewrite")]
fn an_absent_header_or_arg_matches_what_matches_nil() {
    let any = to_b_when(
        json!({"match": "header", "header_name": "X-Tier", "op": "matches", "value": ".*"}),
    );
    assert_eq!(backend_usage(&any, "/x?user_key=k", &[]), TO_B);
    let nil = to_b_when(
        json!({"match": "query_arg", "query_arg_name": "tier", "op": "matches", "value": "^nil$"}),
    );
    assert_eq!(backend_usage(&nil, "/x?user_key=k", &[]), TO_B);
    assert_eq!(backend_usage(&nil, "/x?user_key=k&tier=gold", &[]), TO_A);
}

/// `ngx.req.get_uri_args`: `?flag` is Lua `true` (`== "true"` holds), `?flag=` the empty
/// text, no `flag` at all `nil`.
#[test]
fn a_query_arg_reads_as_tostring_of_get_uri_args() {
    let c = |value: &str| {
        to_b_when(
            json!({"match": "query_arg", "query_arg_name": "flag", "op": "==", "value": value}),
        )
    };
    let (is_true, is_empty, is_nil) = (c("true"), c(""), c("nil"));
    assert_eq!(backend_usage(&is_true, "/x?user_key=k&flag", &[]), TO_B);
    assert_eq!(
        backend_usage(&is_true, "/x?user_key=k&flag=true", &[]),
        TO_B
    );
    assert_eq!(backend_usage(&is_true, "/x?user_key=k&flag=", &[]), TO_A);
    assert_eq!(backend_usage(&is_empty, "/x?user_key=k&flag=", &[]), TO_B);
    assert_eq!(backend_usage(&is_empty, "/x?user_key=k&flag", &[]), TO_A);
    assert_eq!(backend_usage(&is_nil, "/x?user_key=k", &[]), TO_B);
    assert_eq!(backend_usage(&is_nil, "/x?user_key=k&flag", &[]), TO_A);
}

/// A mapping rule's `owner_id` as a decimal string is that owner (APIcast's `tonumber`); it
/// was no owner, so its usage was reported whatever the route. Other strings stay no owner.
#[test]
fn a_mapping_rule_owner_id_may_be_a_decimal_string() {
    let rules = json!([{"url": "http://a", "owner_id": 1, "condition": {"operations": []}}]);
    assert_eq!(
        backend_usage(
            &product_with(rules.clone(), json!("2")),
            "/x?user_key=k",
            &[]
        ),
        TO_A
    );
    let kept = ["a_hits", "b_hits", "product_hits"];
    for other in [json!("two"), json!("+2"), json!(" 2"), json!(""), json!(-2)] {
        let c = product_with(rules.clone(), other.clone());
        assert_eq!(backend_usage(&c, "/x?user_key=k", &[]), kept, "{other}");
    }
    // A routing rule's own `owner_id` too; a non-number there is refused, as before.
    let rules = |owner: Value| json!([{"url": "http://a", "owner_id": owner, "condition": {"operations": []}}]);
    let c = product(rules(json!("0001")));
    assert_eq!(backend_usage(&c, "/x?user_key=k", &[]), TO_A);
    let v = json!({"backend": {"cluster": "backend"}, "services": [{"id": "9", "backend_version": "1",
        "proxy": {"policy_chain": [{"name": "routing", "configuration": {"rules": rules(json!("one"))}},
            {"name": "apicast"}]}}]});
    let e = Config::parse(v.to_string().as_bytes()).unwrap_err();
    assert_eq!(
        e.to_string(),
        "services[0].proxy.policy_chain[0].configuration.rules[0].owner_id: expected a non-negative integer"
    );
}

/// A claim is `tostring(jwt[name])`, not rendered as Liquid: an array or object is a table
/// (its address: equal to no value; `matches` reads `table: 0x00000000`), a dotted name is
/// a claim of that very name (no path followed), missing or `false` is `nil`, `null` cjson's
/// `userdata: NULL`.
#[test]
#[cfg(feature = "jwt")]
fn a_jwt_claim_is_read_raw() {
    use super::routing::{self, RouteInputs};
    use crate::auth::jwt::Claims;
    let c = product(json!([
        {"url": "http://b", "owner_id": 2, "condition": {"operations": [
            {"match": "jwt_claim", "jwt_claim_name": "claim", "op": "==", "value": "admin"}]}},
        {"url": "http://a", "owner_id": 1, "condition": {"operations": []}}
    ]));
    let rules = c.services[0].policies.routing().unwrap();
    let inputs = RouteInputs::read(rules, &Headers(vec![]), &Default::default(), false);
    let text = |claims: Value| {
        let Value::Object(map) = claims else { panic!() };
        routing::claim_text(Some(&Claims::of(map)), "claim")
    };
    let expected: [(Value, Option<&str>); 10] = [
        (json!({"claim": "admin"}), Some("admin")),
        (json!({"claim": ["admin"]}), None),
        (json!({"claim": {"tier": "admin"}}), None),
        (json!({}), Some("nil")),
        (json!({"claim": false}), Some("nil")),
        (json!({"claim": true}), Some("true")),
        (json!({"claim": null}), Some("userdata: NULL")),
        (json!({"claim": 5}), Some("5")),
        (json!({"claim": 5.0}), Some("5")),
        (json!({"claim": 0.5}), Some("0.5")),
    ];
    for (claims, want) in expected {
        assert_eq!(text(claims.clone()).as_deref(), want, "{claims}");
    }
    assert_eq!(routing::claim_text(None, "claim").as_deref(), Some("nil"));
    // The owner each selects: only the plain string `admin` is equal.
    let owner = |claims: Value| {
        let claim = |name: &str| {
            let Value::Object(map) = claims.clone() else {
                panic!()
            };
            routing::claim_text(Some(&Claims::of(map)), name)
        };
        routing::owner(rules, &inputs, "/x", &claim)
    };
    assert_eq!(owner(json!({"claim": "admin"})), Some(2));
    assert_eq!(owner(json!({"claim": ["admin"]})), Some(1));
    // A dotted name is a top-level claim of that name.
    let dotted = product(json!([
        {"url": "http://b", "owner_id": 2, "condition": {"operations": [
            {"match": "jwt_claim", "jwt_claim_name": "realm.tier", "op": "==", "value": "gold"}]}},
        {"url": "http://a", "owner_id": 1, "condition": {"operations": []}}
    ]));
    let rules = dotted.services[0].policies.routing().unwrap();
    let owner = |claims: Value| {
        let Value::Object(map) = claims else { panic!() };
        let claims = Claims::of(map);
        let claim = |name: &str| routing::claim_text(Some(&claims), name);
        routing::owner(rules, &inputs, "/x", &claim)
    };
    assert_eq!(owner(json!({"realm": {"tier": "gold"}})), Some(1));
    assert_eq!(owner(json!({"realm.tier": "gold"})), Some(2));
}

/// `matches` on a table reads the fixed `table: 0x00000000`; `!=` holds for it.
#[test]
#[cfg(all(feature = "jwt", feature = "rewrite"))]
fn a_table_claim_matches_as_its_fixed_text() {
    use super::routing::{self, RouteInputs};
    use crate::auth::jwt::Claims;
    let c = |op: &str, value: &str| {
        product(json!([
            {"url": "http://b", "owner_id": 2, "condition": {"operations": [
                {"match": "jwt_claim", "jwt_claim_name": "roles", "op": op, "value": value}]}},
            {"url": "http://a", "owner_id": 1, "condition": {"operations": []}}
        ]))
    };
    let Value::Object(map) = json!({"roles": ["admin"]}) else {
        panic!()
    };
    let claims = Claims::of(map);
    let claim = |name: &str| routing::claim_text(Some(&claims), name);
    for (op, value, owner) in [
        ("matches", "^table: 0x", 2),
        ("matches", "admin", 1),
        ("!=", "admin", 2),
        ("==", "table: 0x00000000", 1),
    ] {
        let config = c(op, value);
        let rules = config.services[0].policies.routing().unwrap();
        let inputs = RouteInputs::read(rules, &Headers(vec![]), &Default::default(), false);
        assert_eq!(
            routing::owner(rules, &inputs, "/x", &claim),
            Some(owner),
            "{op} {value}"
        );
    }
}
