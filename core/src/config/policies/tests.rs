//! Policy chains: APIcast's reading of names and versions, Tollgate's answer to each policy,
//! refusals naming the JSON path and the policy, `ignore_policies`, and the typed
//! configurations of the policies to enforce.

use super::review::review;
use super::schema_tests::{chain_of, full_schemas};
use super::*;
use crate::config::{Config, Parsed};
use serde_json::{json, Value};

fn config(chain: Value, top: Value) -> Value {
    let mut c = json!({
        "backend": {"cluster": "threescale_backend"},
        "services": [{"id": 7, "backend_version": 1, "proxy": {"policy_chain": chain}}]
    });
    if let (Some(c), Value::Object(top)) = (c.as_object_mut(), top) {
        c.extend(top);
    }
    c
}

fn parse(chain: Value, top: Value) -> std::result::Result<Parsed, ConfigError> {
    Config::parse(config(chain, top).to_string().as_bytes())
}

fn chain(chain: Value) -> PolicyChain {
    parse(chain, json!({})).unwrap().config.services[0]
        .policies
        .clone()
}

fn refused(chain: Value, top: Value) -> String {
    parse(chain, top).unwrap_err().to_string()
}

const APICAST: fn() -> Value =
    || json!({"name": "apicast", "version": "builtin", "configuration": {}});

#[test]
fn an_absent_or_null_chain_is_apicast_alone() {
    for absent in [false, true] {
        let mut c = config(Value::Null, json!({}));
        if absent {
            c["services"][0]["proxy"] = json!({});
        }
        let parsed = Config::parse(c.to_string().as_bytes()).unwrap();
        let policies = &parsed.config.services[0].policies;
        assert!(policies.entries.is_empty(), "default chain");
        assert_eq!(policies.apicast, 0);
        assert!(parsed.warnings.is_empty());
    }
}

#[test]
fn names_with_and_without_the_prefix_and_versions_resolve_as_in_apicast() {
    let c = chain(json!([
        {"name": "apicast.policy.logging", "version": "1.0.0"},
        {"name": "upstream_connection", "version": "builtin", "configuration": {"connect_timeout": 1}},
        {"name": "apicast.policy.apicast"},
        {"name": "websocket"}
    ]));
    let names: Vec<_> = c.entries.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(
        names,
        ["logging", "upstream_connection", "apicast", "websocket"]
    );
    assert_eq!(c.apicast, 2);
    assert!(c.before_apicast(1));
    assert!(!c.before_apicast(3));
    assert_eq!(c.entries[0].policy, Policy::Proxy);
    assert_eq!(c.entries[0].answer, Answer::EnvoysJob);
    assert_eq!(c.entries[0].path, "services[0].proxy.policy_chain[0]");
    assert_eq!(c.entries[2].answer, Answer::Enforced);

    // A builtin name with another version is a custom policy: unknown to Tollgate.
    let e = refused(
        json!([{"name": "logging", "version": "1.0.0"}, APICAST()]),
        json!({}),
    );
    assert_eq!(
        e,
        "services[0].proxy.policy_chain[0]: policy logging (1.0.0) can block or change traffic \
         and Tollgate does not enforce it: remove it, or accept it in ignore_policies"
    );
    let e = refused(json!([{"name": "apicast", "version": "2.0.0"}]), json!({}));
    assert!(e.contains("policy apicast (2.0.0) can block"), "{e}");
}

#[test]
fn a_second_apicast_is_refused_at_its_path() {
    let e = refused(
        json!([{"name": "apicast"}, {"name": "logging"}, {"name": "apicast", "version": "builtin"}]),
        json!({}),
    );
    assert_eq!(
        e,
        "services[0].proxy.policy_chain[2]: a second apicast: Tollgate authorizes once, with the first"
    );
}

#[test]
fn an_empty_chain_is_refused_and_one_without_apicast_is_public() {
    let e = refused(json!([]), json!({}));
    assert!(
        e.starts_with("services[0].proxy.policy_chain: an empty chain: APIcast would neither authorize nor proxy"),
        "{e}"
    );
    let parsed = parse(
        json!([{"name": "logging"}, {"name": "upstream"}]),
        json!({}),
    )
    .unwrap();
    let c = &parsed.config.services[0].policies;
    assert_eq!(c.public.as_deref(), Some("services[0].proxy.policy_chain"));
    assert_eq!(
        c.apicast, 2,
        "every policy stands before the missing apicast"
    );
    assert!(parsed.warnings[0]
        .starts_with("services[0].proxy.policy_chain: no apicast policy: the service is PUBLIC"));
}

#[test]
fn policies_that_can_block_traffic_and_are_not_enforced_are_refused_with_path_and_name() {
    for name in [
        "rate_limit",
        "payload_limits",
        "token_introspection",
        "keycloak_role_check",
        "tls_validation",
        "oauth_mtls",
        "fapi",
        "soap",
        "conditional",
        "on_failed",
        "jwt_parser",
        "echo",
        "custom_metrics",
        "rewrite_url_captures",
        "liquid_context_debug",
        "edge_limiting",
        "status_code_overwrite",
        "my_custom",
        "find_service",
    ] {
        for spelling in [name.to_string(), format!("apicast.policy.{name}")] {
            let e = refused(json!([APICAST(), {"name": spelling}]), json!({}));
            assert_eq!(
                e,
                format!(
                    "services[0].proxy.policy_chain[1]: policy {name} (builtin) can block or \
                     change traffic and Tollgate does not enforce it: remove it, or accept it \
                     in ignore_policies"
                )
            );
        }
    }
}

#[test]
#[cfg(feature = "jwt")]
fn jwt_claim_check_is_enforced_with_plain_claim_names_and_without_regexes() {
    let with = |op: Value| {
        json!([{"name": "jwt_claim_check", "configuration": {"rules": [
            {"resource": "/", "operations": [op]}]}}, APICAST()])
    };
    let ok = chain(with(
        json!({"jwt_claim": "realm_access.role-1", "jwt_claim_type": "plain", "op": "==", "value": "x"}),
    ));
    let checks: Vec<_> = ok.claim_checks().collect();
    assert_eq!(checks.len(), 1);
    assert!(checks[0].0, "before apicast");
    for (op, path, problem) in [
        (
            json!({"jwt_claim": "roles | first", "jwt_claim_type": "plain", "op": "==", "value": "x"}),
            "jwt_claim",
            "is not a claim name",
        ),
        (
            json!({"jwt_claim": "foo", "jwt_claim_type": "plain", "op": "matches", "value": "(?=x)"}),
            "value",
            "regular expression",
        ),
        (
            json!({"jwt_claim": "{{foo}}", "jwt_claim_type": "liquid", "op": "==", "value": "x"}),
            "jwt_claim_type",
            "",
        ),
    ] {
        let e = refused(with(op), json!({}));
        let at = format!(
            "services[0].proxy.policy_chain[0].configuration.rules[0].operations[0].{path}: "
        );
        assert!(e.starts_with(&at) && e.contains(problem), "{e}");
    }
}

#[test]
fn default_credentials_after_apicast_is_accepted_with_a_warning_and_does_nothing() {
    let policy = json!({"name": "default_credentials", "configuration": {"auth_type": "user_key", "user_key": "anon"}});
    let before = chain(json!([policy.clone(), APICAST()]));
    assert!(before.default_credentials().next().is_some());
    assert_eq!(before.entries[0].answer, Answer::Enforced);
    let after = chain(json!([APICAST(), policy]));
    assert!(after.default_credentials().next().is_none());
    assert!(after.entries[1].answer.is_warning());
    let e = refused(
        json!([{"name": "default_credentials", "configuration": {"auth_type": "app_id_and_app_key", "app_id": "a"}}, APICAST()]),
        json!({}),
    );
    assert!(
        e.starts_with(
            "services[0].proxy.policy_chain[0].configuration.app_key: missing required field"
        ),
        "{e}"
    );
}

#[test]
fn maintenance_mode_is_enforced_and_a_plain_condition_decided_once() {
    let with = |c: Value| json!([{"name": "maintenance_mode", "configuration": c}, APICAST()]);
    let policies = chain(with(json!({"status": 418, "message": "Later"})));
    let m = policies.maintenance().unwrap();
    assert_eq!((m.status, m.message.as_str()), (418, "Later"));
    assert!(chain(json!([APICAST()])).maintenance().is_none());
    #[cfg(not(feature = "rewrite"))]
    {
        let e = refused(
            with(json!({"condition": {"operations": [{"left": "a", "op": "==", "right": "a"}]}})),
            json!({}),
        );
        assert!(
            e.starts_with("services[0].proxy.policy_chain[0].configuration.condition: policy maintenance_mode (builtin) has a condition, which this build does not evaluate"),
            "{e}"
        );
    }
    #[cfg(feature = "rewrite")]
    maintenance_conditions(&with);
}

#[cfg(feature = "rewrite")]
fn maintenance_conditions(with: &dyn Fn(Value) -> Value) {
    // Plain values: the condition holds for every request, or for none.
    let holds = chain(with(json!({"condition": {"combine_op": "and",
        "operations": [{"left": "a", "op": "==", "right": "a"}, {"left": "a", "op": "!=", "right": "b"}]}})));
    assert!(holds.maintenance().is_some());
    assert_eq!(holds.entries[0].answer, Answer::Enforced);
    let never = chain(with(json!({"condition": {"combine_op": "or",
        "operations": [{"left": "a", "op": "!=", "right": "a"}, {"left": "a", "op": "==", "right": "b"}]}})));
    assert!(never.maintenance().is_none());
    assert!(never.entries[0].answer.is_warning());
    let matches = |right: &str| {
        chain(with(
            json!({"condition": {"operations": [{"left": "abc", "op": "matches", "right": right}]}}),
        ))
    };
    assert!(matches("^a.c$").maintenance().is_some());
    assert!(matches("^b").maintenance().is_none());
    // Liquid and bad regexes are refused with their path.
    let e = refused(
        with(
            json!({"condition": {"operations": [{"left": "{{ host }}", "left_type": "liquid", "op": "==", "right": "a"}]}}),
        ),
        json!({}),
    );
    assert!(
        e.starts_with("services[0].proxy.policy_chain[0].configuration.condition.operations[0].left_type: unknown value \"liquid\""),
        "{e}"
    );
    let e = refused(
        with(
            json!({"condition": {"operations": [{"left": "a", "op": "matches", "right": "(a)\\1"}]}}),
        ),
        json!({}),
    );
    assert!(
        e.starts_with(
            "services[0].proxy.policy_chain[0].configuration.condition.operations[0].right: "
        ),
        "{e}"
    );
}

#[test]
fn ip_check_is_enforced_and_proxy_protocol_addr_refused() {
    let ip = |c: Value| json!({"name": "apicast.policy.ip_check", "configuration": c});
    let policies = chain(json!([
        ip(json!({"check_type": "whitelist", "ips": ["10.0.0.0/8"]})),
        APICAST(),
        ip(json!({"check_type": "blacklist", "ips": ["2001:db8::/32"], "error_msg": "no"}))
    ]));
    assert_eq!(policies.entries[0].answer, Answer::Enforced);
    assert_eq!(policies.log_lines().count(), 0, "enforced: nothing to log");
    assert!(policies.before_apicast(0) && !policies.before_apicast(2));
    let Policy::IpCheck(after) = &policies.entries[2].policy else {
        panic!("{:?}", policies.entries[2])
    };
    assert!(after.blacklist && after.error_msg == "no");

    // Envoy's proxy_protocol listener filter puts the PROXY source in source.address: the
    // source is refused, even when ip_check is ignored (a configuration to change).
    let pp = ip(json!({"check_type": "whitelist", "ips": [],
        "client_ip_sources": ["X-Real-IP", "proxy_protocol_addr"]}));
    for ignore in [json!([]), json!(["ip_check"])] {
        let e = refused(json!([pp, APICAST()]), json!({"ignore_policies": ignore}));
        assert_eq!(
            e,
            "services[0].proxy.policy_chain[0].configuration.client_ip_sources[1]: \
             proxy_protocol_addr is not supported: use last_caller with Envoy's proxy_protocol \
             listener filter"
        );
    }
    // Listed in ignore_policies, an enforced policy is still enforced.
    let parsed = parse(
        json!([ip(json!({"check_type": "whitelist", "ips": []})), APICAST()]),
        json!({"ignore_policies": ["ip_check"]}),
    )
    .unwrap();
    let entry = &parsed.config.services[0].policies.entries[0];
    assert_eq!(entry.answer, Answer::Enforced);
    assert!(matches!(entry.policy, Policy::IpCheck(_)));
    // A bad configuration is refused even when ignored.
    let e = refused(
        json!([
            ip(json!({"check_type": "whitelist", "ips": ["10.0.0.0/33"]})),
            APICAST()
        ]),
        json!({"ignore_policies": ["ip_check"]}),
    );
    assert_eq!(
        e,
        "services[0].proxy.policy_chain[0].configuration.ips[0]: expected an IP address or CIDR \
         block"
    );
}

#[test]
fn envoys_job_is_accepted_without_warnings() {
    let names = [
        "camel",
        "content_caching",
        "grpc",
        "http_proxy",
        "logging",
        "nginx_filters",
        "phase_logger",
        "request_unbuffered",
        "retry",
        "tls",
        "upstream",
        "upstream_connection",
        "upstream_mtls",
        "websocket",
    ];
    let mut list: Vec<Value> = names.iter().map(|n| json!({"name": n})).collect();
    list.push(APICAST());
    let parsed = parse(Value::Array(list), json!({})).unwrap();
    assert!(parsed.warnings.is_empty(), "{:?}", parsed.warnings);
    let c = &parsed.config.services[0].policies;
    assert!(c.entries[..names.len()]
        .iter()
        .all(|e| e.answer == Answer::EnvoysJob && e.policy == Policy::Proxy));
    let (warning, line) = c.log_lines().next().unwrap();
    assert!(!warning);
    assert_eq!(
        line,
        "services[0].proxy.policy_chain[0]: policy camel: Envoy's job (configure it in Envoy); \
         it cannot block traffic"
    );
    assert_eq!(c.log_lines().count(), names.len(), "apicast has no line");
}

#[test]
fn ignore_policies_accepts_a_named_policy_with_a_warning_per_service() {
    let mut c = config(
        json!([{"name": "rate_limit", "configuration": {"fixed_window_limiters": []}}, APICAST(),
               {"name": "apicast.policy.custom_metrics", "configuration": {"rules": []}},
               {"name": "my_policy", "version": "1.2.3"}]),
        json!({"ignore_policies": ["apicast.policy.rate_limit", "custom_metrics", "my_policy", "not_in_any_chain"]}),
    );
    let second = json!({"id": 8, "backend_version": 1, "proxy": {"hosts": ["b"], "policy_chain": [{"name": "rate_limit"}, APICAST()]}});
    c["services"].as_array_mut().unwrap().push(second);
    let parsed = Config::parse(c.to_string().as_bytes()).unwrap();
    let first = &parsed.config.services[0].policies;
    assert_eq!(first.entries[0].answer, Answer::Ignored);
    assert_eq!(first.entries[0].policy, Policy::Other);
    assert_eq!(first.entries[2].answer, Answer::Ignored);
    assert_eq!(first.entries[3].answer, Answer::Ignored);
    assert_eq!(
        parsed.warnings,
        [
            "services[0].proxy.policy_chain[0]: policy rate_limit: NOT enforced: accepted through ignore_policies",
            "services[0].proxy.policy_chain[2]: policy custom_metrics: NOT enforced: accepted through ignore_policies",
            "services[0].proxy.policy_chain[3]: policy my_policy: NOT enforced: accepted through ignore_policies",
            "services[1].proxy.policy_chain[0]: policy rate_limit: NOT enforced: accepted through ignore_policies",
        ]
    );
}

#[test]
fn ignore_policies_is_a_list_of_strings() {
    let e = refused(
        json!([APICAST()]),
        json!({"ignore_policies": ["rate_limit", 3]}),
    );
    assert_eq!(e, "ignore_policies[1]: expected a string (a policy name)");
    let e = refused(json!([APICAST()]), json!({"ignore_policies": "rate_limit"}));
    assert_eq!(e, "ignore_policies: expected an array");
}

#[test]
fn batcher_is_accepted_and_rate_limit_headers_enforced() {
    let parsed = parse(
        json!([{"name": "3scale_batcher", "configuration": {"auths_ttl": 30}},
               {"name": "rate_limit_headers"}, APICAST()]),
        json!({}),
    )
    .unwrap();
    let c = &parsed.config.services[0].policies;
    assert_eq!(
        c.entries[0].policy,
        Policy::Batcher(Batcher {
            auths_ttl: Some(30),
            batch_report_seconds: Some(10)
        })
    );
    assert_eq!(c.entries[0].answer, Answer::Enforced);
    assert_eq!(c.entries[1].policy, Policy::RateLimitHeaders);
    assert_eq!(c.entries[1].answer, Answer::Enforced);
    assert!(parsed.warnings.is_empty(), "{:?}", parsed.warnings);
    let e = refused(
        json!([{"name": "3scale_batcher", "configuration": {"auths_ttl": "10"}}, APICAST()]),
        json!({}),
    );
    assert_eq!(e, "services[0].proxy.policy_chain[0].configuration.auths_ttl: expected a non-negative integer");
}

#[test]
fn malformed_chains_are_refused_with_their_path() {
    let cases = [
        (
            json!({"name": "apicast"}),
            "services[0].proxy.policy_chain: expected an array",
        ),
        (
            json!(["apicast"]),
            "services[0].proxy.policy_chain[0]: expected an object",
        ),
        (
            json!([{"version": "builtin"}]),
            "services[0].proxy.policy_chain[0].name: missing required field",
        ),
        (
            json!([{"name": ""}]),
            "services[0].proxy.policy_chain[0].name: must not be empty",
        ),
        (
            json!([{"name": 3}]),
            "services[0].proxy.policy_chain[0].name: expected a string",
        ),
        (
            json!([{"name": "apicast", "version": 1}]),
            "services[0].proxy.policy_chain[0].version: expected a string",
        ),
        (
            json!([{"name": "apicast", "configuration": []}]),
            "services[0].proxy.policy_chain[0].configuration: expected an object",
        ),
    ];
    for (chain, expected) in cases {
        assert_eq!(refused(chain, json!({})), expected);
    }
}

#[test]
fn review_lists_every_policy_even_when_the_configuration_is_refused() {
    let c = config(
        json!([{"name": "url_rewriting", "configuration": {"commands": [{"op": "nope", "regex": "a", "replace": "b"}]}},
               {"name": "logging"}, {"name": "rate_limit"}, {"name": "caching", "configuration": {"caching_type": "strict"}}]),
        json!({"ignore_policies": ["rate_limit"]}),
    );
    let reviews = review(c.to_string().as_bytes());
    assert_eq!(reviews.len(), 1);
    let r = &reviews[0];
    assert_eq!(
        (r.service.as_str(), r.path.as_str()),
        ("7", "services[0].proxy.policy_chain")
    );
    assert!(r.chain.as_ref().unwrap().is_ok(), "public: a warning");
    // An enforced policy's bad configuration is its refusal (without regexes, the policy).
    let ip = &r.entries[0];
    let at = match cfg!(feature = "rewrite") {
        true => "services[0].proxy.policy_chain[0].configuration.commands[0].op",
        false => "services[0].proxy.policy_chain[0]",
    };
    assert_eq!(ip.answer.as_ref().unwrap_err().path, at);
    assert_eq!(
        r.entries[1].answer.as_ref().unwrap().answer,
        Answer::EnvoysJob
    );
    assert_eq!(
        r.entries[2].answer.as_ref().unwrap().answer,
        Answer::Ignored
    );
    assert_eq!(
        r.entries[3].answer.as_ref().unwrap().answer,
        Answer::Enforced
    );
}

/// Every value of every schema, and each configuration, set to null: refused at its path
/// (porta writes no null there; APIcast fails on one), never read as the field's default.
#[test]
fn a_null_anywhere_in_a_policy_configuration_is_refused_at_its_path() {
    fn paths(v: &Value, at: String, out: &mut Vec<String>) {
        let children: Vec<(String, &Value)> = match v {
            Value::Object(m) => m.iter().map(|(k, v)| (format!("{at}/{k}"), v)).collect(),
            Value::Array(a) => (a.iter().enumerate())
                .map(|(i, v)| (format!("{at}/{i}"), v))
                .collect(),
            _ => Vec::new(),
        };
        for (p, v) in children {
            out.push(p.clone());
            paths(v, p, out);
        }
    }
    for policy in full_schemas() {
        let mut at = vec!["/configuration".to_string()];
        paths(&policy["configuration"], "/configuration".into(), &mut at);
        for pointer in at {
            let mut p = policy.clone();
            if let Some(v) = p.pointer_mut(&pointer) {
                *v = Value::Null;
            }
            // `/configuration/rules/0/url` is `configuration.rules[0].url`.
            let mut path = String::from("services[0].proxy.policy_chain[0]");
            for seg in pointer.split('/').skip(1) {
                match seg.parse::<usize>() {
                    Ok(i) => path.push_str(&format!("[{i}]")),
                    Err(_) => path.push_str(&format!(".{seg}")),
                }
            }
            let e = chain_of(p.clone()).err();
            let e = e.unwrap_or_else(|| panic!("{p}: accepted"));
            // At the null, or where its parser names a pair (`http_statuses[0]`).
            let within = e
                .path
                .starts_with("services[0].proxy.policy_chain[0].configuration");
            assert!(within && path.starts_with(&e.path), "{p}: {e}");
        }
    }
    // A null configuration is not an object, whatever the policy; one Tollgate does not read
    // (Envoy's job) may hold nulls.
    let e = chain_of(json!({"name": "logging", "configuration": null})).unwrap_err();
    let at = "services[0].proxy.policy_chain[0].configuration: expected an object";
    assert_eq!(e.to_string(), at);
    assert!(chain_of(json!({"name": "logging", "configuration": {"condition": null}})).is_ok());
}

/// APIcast's routing `rule.lua` indexes `condition`: without it the policy fails to load and
/// every rule's usage is reported, so it may not be read as "always". A missing `operations`
/// is `{}` there (TEST 34), as `[]` (found by an audit, 2026-12-07).
#[test]
fn a_routing_rule_needs_its_condition_not_its_operations() {
    let routing = |rule: Value| json!({"name": "routing", "configuration": {"rules": [rule]}});
    let e = chain_of(routing(json!({"url": "http://b", "owner_id": 2}))).unwrap_err();
    assert_eq!(
        e.to_string(),
        "services[0].proxy.policy_chain[0].configuration.rules[0].condition: missing required field"
    );
    for condition in [
        json!({}),
        json!({"combine_op": "or"}),
        json!({"operations": []}),
    ] {
        let rule = json!({"url": "http://b", "owner_id": 2, "condition": condition});
        let parsed = chain_of(routing(rule)).unwrap();
        let rules = parsed.config.services[0].policies.routing().unwrap();
        assert!(rules[0].operations.is_empty(), "{condition}");
    }
}
