//! Configuration value types: JSON `null`, wrong types, numbers and booleans as strings, empty
//! strings, arrays and objects, for the fields Tollgate reads from the service configuration
//! (audit, s18a.wasm). APIcast decodes JSON with cjson: `null` is `cjson.null`, a lightuserdata
//! that is TRUTHY in Lua, so `field or default` keeps it and indexing it, summing it or passing
//! it to `ipairs` throws; a throw in a policy's `.new()` drops that policy, a throw at request
//! time fails the request. Tollgate's reader (`core/src/config/json.rs` `Obj::get`) reads
//! every `null` as absent (README "Configuration": "A JSON `null` counts as absent"). That is
//! harmless where the default is at least as strict as what APIcast does with the null, and a
//! silent weakening where it is not. The rule held to: configuration that could block traffic
//! or count usage is never read more weakly than written; refused with its JSON path instead.
//!
//! Findings (each test fails on s18a.wasm):
//! - `proxy_rules[].delta: null` reads as 0: the rule's metric is dropped from the usage, so
//!   a request that another rule also matches is forwarded without it (its limits are never
//!   checked). APIcast fails the request (`usage:add` stores the null, which cannot be summed
//!   or encoded). The earlier audit (`service_field_downgrades.rs`) noted it, untested.
//! - `routing` `rules[].condition: null` (and absent) reads as a condition that always holds:
//!   every request is taken as the rule's `owner_id`'s and the other backends' usage is
//!   dropped. APIcast's `init_condition` indexes the null and the policy is dropped (every
//!   usage reported). The same downgrade as the misspelt `conditions` that
//!   `policy_misreadings.rs` fixed by refusing unknown fields.
//! - `cors` `allow_origin: null`, or the policy's `configuration: null`, reads as no
//!   `allow_origin`: every `Origin` is echoed with `Access-Control-Allow-Credentials: true`.
//!   APIcast echoes none (the null is not a string: no header, or the policy is dropped).
//!
//! Held (probed here or read in the code; regression guards kept only where not covered):
//! - Refused with their path (guard below): `last: "true"`, `pattern`/`http_method`/
//!   `metric_system_name: null`, `error_status_auth_failed: "403"`, `secret_token: 123`,
//!   `hosts: [""]` and `[null]`, `ip_check` `ips: null`, `jwt_claim_check` `rules: null`,
//!   `backend.batching.auths_ttl: "30"`, a policy's `enabled: "true"`, `backend_version: 2.0`.
//! - `backend_version` `2` and `"2"` are the same; `"oauth"` in another case, or `"oidc"`,
//!   is an unusable version: every request 401, as APIcast (`service_field_downgrades.rs`).
//! - `last: null` is `false`: APIcast stops there (null is truthy), Tollgate goes on and
//!   counts the later rules too: never less usage.
//! - `http_method: ""` or `"get"` matches no request in APIcast (exact comparison): refused
//!   with its path (`config_typos.rs`).
//! - Nulls whose default is as strict as APIcast's failure: `error_status_*`/`error_*`
//!   (APIcast's defaults), `proxy_rules: null` (no rule: every request no match), `proxy:
//!   null` (localhost, no rules), `policy_chain: null` (apicast alone, as APIcast),
//!   `credentials_location: null` (query: credentials still required), `auth_*: null`
//!   (default names), `secret_token: null`/`""` (no header, as nginx omits it),
//!   `backend.caching_type: null` (none, the strictest), `backend.batching: null` (authrep
//!   per request), `maintenance_mode` `condition: null` (every request answered),
//!   `jwt_claim_check` `methods: null` (every method), `ip_check` `check_type: null`
//!   (refused; APIcast's check is then a no-op).
//! - `querystring_parameters: {}` is no condition, as APIcast's empty map; `{"a": null}`
//!   refused. Mapping-rule `owner_id: "20"` is owner 20, as APIcast's `tonumber`
//!   reads it (twenty-seventh session; `chain_policies.rs`); another string is no owner.
//! - Not findings, noted: `ip_check` `client_ip_sources: null` reads `last_caller` (APIcast
//!   throws in `ipairs` on every request, 500); `url_rewriting` `break: null` goes on
//!   (APIcast stops); `headers` `value: null` is `""` (a `set` removes the header). They
//!   follow "null is absent" and change no count; a blanket refusal of `null` inside policy
//!   configurations (porta writes none there, APIcast's schemas allow none) would cover them
//!   with the findings above.

mod support;

use e2e::mock_backend::{App, Period, Service, State};
use e2e::{Envoy, Request};
use serde_json::{json, Value};
use support::refusals::*;
use support::*;

const HOST: &str = "api.example.com";

fn get(target: &str) -> Request {
    Request::get(target).header("Host", HOST)
}

fn apicast() -> Value {
    json!({"name": "apicast", "version": "builtin", "configuration": {}})
}

/// Service 1 (user_key) with this `proxy` merged over the defaults.
fn one_service(proxy: Value) -> Value {
    config(vec![service(1, json!(1), proxy)])
}

/// The usage params of the last authrep, for messages.
fn last_usage(s: &Stack) -> Vec<(String, String)> {
    let calls = s.authreps();
    let Some(last) = calls.last() else {
        return Vec::new();
    };
    ["usage[hits]", "usage[get_foo]"]
        .iter()
        .filter_map(|p| Some((p.to_string(), last.param(p)?.to_string())))
        .collect()
}

// ---------------------------------------------------------------------------------------
// `delta: null`. README "Mapping rules": `delta` defaults to 0 and a metric whose total is 0
// is not sent. APIcast (`mapping_rules_matcher.lua`) runs `usage:add(rule.system_name,
// rule.delta or 0)`: the null is truthy, so `usage.deltas[metric]` becomes `cjson.null`, and
// the request fails when it is summed (another rule on the metric) or encoded into the
// authrep (`ngx.encode_args`). Tollgate reads 0 and drops the metric: with another rule
// matching too (`GET /` on `hits`, as most products have), the request is authorized and
// forwarded on `hits` alone, and the plan's limit on the dropped metric is never checked.
// Where: core/src/config/service.rs `parse_rule` (`rule.get("delta")` is `None` for null).

/// The plan forbids `get_foo` (limit 0 a minute); `GET /reports` is metered on it with
/// `"delta": null`, beside the product-wide `GET /` on `hits`.
// FINDING: delta null is read as 0 and the rule's metric (and its limit) silently dropped
#[test]
fn a_null_mapping_rule_delta_is_refused_not_read_as_zero() {
    let state = State::new()
        .service(
            Service::new("1")
                .token(TOKEN)
                .backend_version("1")
                .metric("hits", None)
                .metric("get_foo", Some("hits")),
        )
        .app(
            App::new("1", "app-1")
                .user_key(USER_KEY)
                .plan("No reports")
                .limit("hits", Period::Minute, 1000)
                .limit("get_foo", Period::Minute, 0),
        );
    let c = one_service(json!({"proxy_rules": [
        {"http_method": "GET", "pattern": "/", "metric_system_name": "hits", "delta": 1},
        {"http_method": "GET", "pattern": "/reports", "metric_system_name": "get_foo",
         "delta": null}
    ]}));
    refused_at_or(c, state, &["services[0].proxy.proxy_rules[1].delta"], |s| {
        let r = get(&format!("/reports?user_key={USER_KEY}")).send(s.port());
        assert_eq!(
            s.echo.request_count(),
            0,
            "Envoy started with proxy_rules[1].delta: null read as 0: GET /reports got {} \
                 and reached the upstream, authorized with {:?} (get_foo, limited to 0, never \
                 asked); APIcast fails the request; expected the configuration refused at \
                 services[0].proxy.proxy_rules[1].delta",
            describe(&r),
            last_usage(s)
        );
    });
}

// ---------------------------------------------------------------------------------------
// `routing` `condition: null`. README "routing": "a rule without a condition always holds".
// APIcast's `rule.lua` `init_condition(config_rule.condition)` reads
// `config_condition.operations`: indexing nil (absent) or `cjson.null` throws in
// `Rule.new_from_config_rule`, so `routing`'s `.new()` crashes and the policy is dropped
// ("It will be ignored"): no usage clean-up, every matched rule's usage reported. Tollgate
// reads the rule as always true, selects its owner for every request, and drops the usage
// of every other backend's rules. Where: core/src/config/policies/routing.rs `rules`
// (`if let Some(cond) = r.obj("condition")?`): refuse a null or absent condition at
// `rules[i].condition` (or read it as APIcast does: no clean-up for the whole policy).

/// The product of `policy_misreadings.rs`: `GET /` is `hits` for backend 10 and `get_foo`
/// for backend 20; the rule for backend 20 has `"condition": null`.
// FINDING: a null routing condition is read as always true and other backends' usage dropped
#[test]
fn a_null_routing_condition_is_refused_not_read_as_always_true() {
    let rule = |metric: &str, owner: u64| {
        json!({"http_method": "GET", "pattern": "/", "metric_system_name": metric, "delta": 1,
               "owner_id": owner, "owner_type": "BackendApi"})
    };
    let routing = json!({"name": "routing", "configuration": {"rules": [
        {"url": "http://backend-20.internal", "owner_id": 20, "condition": null},
        {"url": "http://backend-10.internal", "owner_id": 10, "condition": {"operations": [
            {"match": "path", "op": "matches", "value": "^/[a-z]"}]}}
    ]}});
    let c = one_service(json!({
        "policy_chain": [routing, apicast()],
        "proxy_rules": [rule("hits", 10), rule("get_foo", 20)]
    }));
    refused_at_or(
        c,
        backend_state(),
        &["services[0].proxy.policy_chain[0].configuration.rules[0].condition"],
        |s| {
            let r = get(&format!("/a?user_key={USER_KEY}")).send(s.port());
            let usage = last_usage(s);
            assert!(
                usage.iter().any(|(m, v)| m == "usage[hits]" && v == "1"),
                "Envoy started with routing rules[0].condition: null read as always true: \
                 GET /a got {} and was authorized with {usage:?}: backend 10's hits dropped; \
                 APIcast drops the policy and reports every matched rule; expected the \
                 configuration refused at ...rules[0].condition",
                r.status
            );
            assert_eq!(s.echo.request_count(), 1, "{}", describe(&r));
        },
    );
}

// ---------------------------------------------------------------------------------------
// `cors` `allow_origin: null`, and `configuration: null`. APIcast's `cors.lua` `.new`:
// `cfg = config or {}` keeps a null configuration, and `cfg.allow_origin` then throws: the
// policy is dropped, no CORS header is sent. With `allow_origin: null`,
// `url_helper.parse_url(cfg.allow_origin or "")` fails on the userdata and the origin is
// taken as a regex (`allow_origin_is_regexp`), which the request's Origin does not match: no
// `Access-Control-Allow-Origin`. Tollgate reads both as "no allow_origin" and echoes every
// Origin with `Access-Control-Allow-Credentials: true` (the default): any site can read the
// responses a browser gets with the user's cookies. Where: core/src/config/policies/mod.rs
// `resolve` (`obj.get("configuration").unwrap_or(empty)`) and configs.rs `cors`
// (`c.string("allow_origin")`).

/// One origin meant (`https://app.example.com`), written as null by an export.
// FINDING: a null cors allow_origin (or configuration) echoes every origin with credentials
#[test]
fn a_null_cors_allow_origin_is_refused_not_echoing_every_origin() {
    let mut echoed = Vec::new();
    for (cors, path) in [
        (
            json!({"name": "cors", "configuration": {"allow_origin": null,
                   "allow_methods": ["GET"]}}),
            "services[0].proxy.policy_chain[0].configuration.allow_origin",
        ),
        (
            json!({"name": "cors", "configuration": null}),
            "services[0].proxy.policy_chain[0].configuration",
        ),
    ] {
        let what = cors.to_string();
        let c = one_service(json!({"policy_chain": [cors, apicast()]}));
        match start_or_refused(&c.to_string(), backend_state()) {
            Err(log) => assert!(
                log.contains(&format!("invalid configuration: {path}")),
                "refused, but not at {path}: {log}"
            ),
            Ok(s) => {
                let r = get(&format!("/?user_key={USER_KEY}"))
                    .header("Origin", "https://evil.example.net")
                    .send(s.port());
                assert_eq!(r.status, 200, "{}", describe(&r));
                assert_eq!(s.echo.request_count(), 1, "{}", describe(&r));
                if r.header("access-control-allow-origin") == Some("https://evil.example.net") {
                    echoed.push(format!(
                        "{what}: any origin is echoed (Allow-Credentials {:?}); expected the \
                         configuration refused at {path}",
                        r.header("access-control-allow-credentials")
                    ));
                }
            }
        }
    }
    assert!(
        echoed.is_empty(),
        "Envoy started, and APIcast would echo no origin: {echoed:#?}"
    );
}

// ---------------------------------------------------------------------------------------
// Regression guard: wrong types and nulls in fields that block or meter are refused with
// their path (Envoy does not start), not read as a default. Not covered elsewhere as e2e.

fn refused_log(config: &Value) -> String {
    Envoy::builder()
        .filter_config(&config.to_string())
        .start_expect_failure()
        .expect("Envoy must refuse the configuration")
}

#[test]
fn wrong_value_types_are_refused_with_their_path() {
    let rule = |extra: Value| {
        let mut r = json!({"http_method": "GET", "pattern": "/", "metric_system_name": "hits",
                           "delta": 1});
        if let (Some(o), Value::Object(e)) = (r.as_object_mut(), extra) {
            o.extend(e);
        }
        one_service(json!({"proxy_rules": [r]}))
    };
    let policy = |p: Value| one_service(json!({"policy_chain": [p, apicast()]}));
    let mut batching = one_service(json!({}));
    batching["backend"]["batching"] = json!({"auths_ttl": "30"});
    let mut version = one_service(json!({}));
    version["services"][0]["backend_version"] = json!(2.0);
    let rules = "services[0].proxy.proxy_rules[0]";
    let chain0 = "services[0].proxy.policy_chain[0]";
    let cases: Vec<(Value, String, &str)> = vec![
        (
            rule(json!({"last": "true"})),
            format!("{rules}.last"),
            "expected a boolean",
        ),
        (
            rule(json!({"pattern": null})),
            format!("{rules}.pattern"),
            "missing required field",
        ),
        (
            rule(json!({"http_method": null})),
            format!("{rules}.http_method"),
            "missing required field",
        ),
        (
            rule(json!({"metric_system_name": null})),
            format!("{rules}.metric_system_name"),
            "missing required field",
        ),
        (
            one_service(json!({"error_status_auth_failed": "403"})),
            "services[0].proxy.error_status_auth_failed".to_string(),
            "expected a non-negative integer",
        ),
        (
            one_service(json!({"secret_token": 123})),
            "services[0].proxy.secret_token".to_string(),
            "expected a string",
        ),
        (
            one_service(json!({"hosts": [HOST, null]})),
            "services[0].proxy.hosts[1]".to_string(),
            "expected a non-empty string",
        ),
        (
            one_service(json!({"hosts": [""]})),
            "services[0].proxy.hosts[0]".to_string(),
            "expected a non-empty string",
        ),
        (
            policy(json!({"name": "ip_check", "configuration": {
                "check_type": "whitelist", "ips": null}})),
            format!("{chain0}.configuration.ips"),
            "missing required field",
        ),
        (
            policy(json!({"name": "jwt_claim_check", "configuration": {"rules": null}})),
            format!("{chain0}.configuration.rules"),
            "expected a non-empty array",
        ),
        (
            policy(
                json!({"name": "ip_check", "enabled": "true", "configuration": {
                "check_type": "whitelist", "ips": ["10.0.0.0/8"]}}),
            ),
            format!("{chain0}.enabled"),
            "expected a boolean",
        ),
        (
            batching,
            "backend.batching.auths_ttl".to_string(),
            "expected a non-negative integer",
        ),
        (
            version,
            "services[0].backend_version".to_string(),
            "expected a string or an integer",
        ),
    ];
    for (config, path, problem) in cases {
        let log = refused_log(&config);
        assert!(
            log.contains(&format!("invalid configuration: {path}: {problem}")),
            "{path}: expected `{problem}`:\n{log}"
        );
    }
}
