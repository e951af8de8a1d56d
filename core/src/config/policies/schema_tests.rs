//! Every field of APIcast's policy schemas accepted, and a misspelt one refused with its path.

use super::review::review;
use crate::config::ConfigError;
use serde_json::{json, Value};

/// A service whose chain is `policy` then `apicast`, read as the filter reads it.
pub(super) fn chain_of(policy: Value) -> std::result::Result<crate::config::Parsed, ConfigError> {
    let c = json!({
        "backend": {"cluster": "threescale_backend"},
        "services": [{"id": 7, "backend_version": 1, "proxy": {"policy_chain": [
            policy, {"name": "apicast", "version": "builtin", "configuration": {}}]}}]
    });
    crate::config::Config::parse(c.to_string().as_bytes())
}

/// Every field of each policy's `apicast-policy.json` (APIcast ffe5da57), and of the chain
/// element (`name`, `version`, `configuration`: what porta writes and APIcast reads).
pub(super) fn full_schemas() -> Vec<Value> {
    let mut all = Vec::new();
    all.extend([
        // The element porta generates for a product's backends (`routing_policy.rb`).
        json!({"name": "routing", "version": "builtin", "enabled": true, "configuration": {
            "rules": [{"url": "http://b.internal:80", "owner_id": 7, "owner_type": "BackendApi",
                "condition": {"operations": [{"match": "path", "op": "==", "value": "/api"}]}}]}}),
        json!({"name": "ip_check", "version": "builtin", "configuration": {
            "check_type": "whitelist", "ips": ["10.0.0.0/8"], "error_msg": "no",
            "client_ip_sources": ["X-Forwarded-For", "X-Real-IP", "last_caller"]}}),
        json!({"name": "cors", "configuration": {"allow_headers": ["X-A"],
            "allow_methods": ["GET"], "allow_origin": "https://app.example.com",
            "allow_credentials": false, "max_age": 60}}),
        json!({"name": "headers", "configuration": {
            "request": [{"op": "set", "header": "X-A", "value": "1", "value_type": "plain"}],
            "response": [{"op": "add", "header": "X-B", "value": "2", "value_type": "plain"}]}}),
        json!({"name": "maintenance_mode", "configuration": {"status": 503, "message": "m",
            "message_content_type": "text/plain"}}),
        json!({"name": "default_credentials", "configuration": {"auth_type": "user_key",
            "user_key": "k", "app_id": "i", "app_key": "s"}}),
        json!({"name": "default_credentials", "configuration": {
            "auth_type": "app_id_and_app_key", "user_key": "k", "app_id": "i", "app_key": "s"}}),
        json!({"name": "statuscode_overwrite", "configuration": {
            "http_statuses": [{"upstream": 200, "apicast": 201}]}}),
        json!({"name": "rate_limit_headers", "configuration": {}}),
        json!({"name": "3scale_referrer", "configuration": {}}),
        json!({"name": "caching", "configuration": {"caching_type": "strict"}}),
        json!({"name": "3scale_batcher", "configuration": {"auths_ttl": 5,
            "batch_report_seconds": 5}}),
        json!({"name": "routing", "configuration": {"rules": [{"url": "http://b.internal",
            "replace_path": "/x", "owner_id": 2, "owner_type": "BackendApi", "host_header": "b", "condition": {
            "combine_op": "or", "operations": [{"match": "header", "header_name": "X",
            "query_arg_name": "q", "jwt_claim_name": "c", "liquid_value": "l", "op": "==",
            "value": "v", "value_type": "plain"}]}}]}}),
    ]);
    #[cfg(feature = "jwt")]
    all.push(
        json!({"name": "jwt_claim_check", "configuration": {"error_message": "no",
        "enable_extended_context": false, "rules": [{"resource": "/x",
        "resource_type": "plain", "methods": ["GET"], "combine_op": "or", "operations": [
        {"jwt_claim": "sub", "jwt_claim_type": "plain", "op": "==", "value": "a",
         "value_type": "plain"}]}]}}),
    );
    #[cfg(feature = "rewrite")]
    all.extend([
        json!({"name": "maintenance_mode", "configuration": {"condition": {
            "combine_op": "and", "operations": [{"left": "a", "left_type": "plain",
            "op": "==", "right": "a", "right_type": "plain"}]}}}),
        json!({"name": "url_rewriting", "configuration": {
            "commands": [{"op": "sub", "regex": "^/a", "replace": "/b", "options": "i",
                "break": true, "methods": ["GET"]}],
            "query_args_commands": [{"op": "set", "arg": "a", "value": "1",
                "value_type": "plain", "methods": ["GET"]}]}}),
    ]);
    all
}

#[test]
fn every_field_of_apicasts_schemas_is_accepted() {
    for policy in full_schemas() {
        if let Err(e) = chain_of(policy.clone()) {
            panic!("{policy}: {e}");
        }
    }
}

/// A field not in APIcast's schema (a misspelling) would be dropped, and a check with it:
/// refused, naming its path, wherever it stands.
#[test]
fn a_misspelt_field_of_a_policy_is_refused_with_its_path() {
    let op = json!({"match": "path", "op": "==", "value": "/"});
    let mut cases = Vec::new();
    cases.extend([
        // The chain element itself: APIcast reads name, version and configuration only.
        (
            json!({"name": "cors", "enable": true, "configuration": {}}),
            "enable",
        ),
        (
            json!({"name": "ip_check", "configuration": {"check_type": "blacklist",
            "ips": ["198.51.100.7"], "client_ip_source": ["X-Real-IP"]}}),
            "configuration.client_ip_source",
        ),
        (
            json!({"name": "cors", "configuration": {"allow_origins": "https://a.example"}}),
            "configuration.allow_origins",
        ),
        (
            json!({"name": "headers", "configuration": {"requests": []}}),
            "configuration.requests",
        ),
        (
            json!({"name": "headers", "configuration": {"response": [
            {"op": "set", "header": "X-A", "values": "1"}]}}),
            "configuration.response[0].values",
        ),
        (
            json!({"name": "maintenance_mode", "configuration": {"content_type": "a/b"}}),
            "configuration.content_type",
        ),
        (
            json!({"name": "default_credentials", "configuration": {"auth_type": "user_key",
            "user_key": "k", "app-key": "s"}}),
            "configuration.app-key",
        ),
        (
            json!({"name": "statuscode_overwrite", "configuration": {
            "http_statuses": [{"upstream": 200, "apicast": 201}], "http_status": []}}),
            "configuration.http_status",
        ),
        (
            json!({"name": "statuscode_overwrite", "configuration": {
            "http_statuses": [{"upstream": 200, "apicast": 201, "status": 202}]}}),
            "configuration.http_statuses[0].status",
        ),
        (
            json!({"name": "rate_limit_headers", "configuration": {"metric": "hits"}}),
            "configuration.metric",
        ),
        (
            json!({"name": "3scale_referrer", "configuration": {"referer": true}}),
            "configuration.referer",
        ),
        (
            json!({"name": "caching", "configuration": {"caching_type": "none",
            "cache": "strict"}}),
            "configuration.cache",
        ),
        (
            json!({"name": "3scale_batcher", "configuration": {"auth_ttl": 5}}),
            "configuration.auth_ttl",
        ),
        (
            json!({"name": "routing", "configuration": {"rules": [{"url": "http://b",
            "condition": {"operations": []}}], "rule": []}}),
            "configuration.rule",
        ),
        (
            json!({"name": "routing", "configuration": {"rules": [{"url": "http://b",
            "conditions": {"operations": [op.clone()]}}]}}),
            "configuration.rules[0].conditions",
        ),
        (
            json!({"name": "routing", "configuration": {"rules": [{"url": "http://b",
            "condition": {"operation": [op.clone()]}}]}}),
            "configuration.rules[0].condition.operation",
        ),
        (
            json!({"name": "routing", "configuration": {"rules": [{"url": "http://b",
            "condition": {"operations": [op.clone(), {"match": "path", "op": "==",
            "value": "/", "header": "X"}]}}]}}),
            "configuration.rules[0].condition.operations[1].header",
        ),
    ]);
    #[cfg(feature = "jwt")]
    {
        let claim = json!({"jwt_claim": "sub", "jwt_claim_type": "plain", "op": "==",
            "value": "a"});
        let rule = |rule: Value, op: Value| {
            let mut r = json!({"resource": "/", "operations": [op]});
            if let (Some(r), Value::Object(extra)) = (r.as_object_mut(), rule) {
                r.extend(extra);
            }
            json!({"name": "jwt_claim_check", "configuration": {"rules": [r]}})
        };
        let mut typo = claim.clone();
        typo["values"] = json!("b");
        cases.extend([
            (
                json!({"name": "jwt_claim_check", "configuration": {"rules": [
                {"resource": "/", "operations": [claim.clone()]}], "error_msg": "no"}}),
                "configuration.error_msg",
            ),
            (
                rule(json!({"method": ["POST"]}), claim.clone()),
                "configuration.rules[0].method",
            ),
            (
                rule(json!({}), typo),
                "configuration.rules[0].operations[0].values",
            ),
        ]);
    }
    #[cfg(feature = "rewrite")]
    {
        let cond =
            |c: Value| json!({"name": "maintenance_mode", "configuration": {"condition": c}});
        let left = json!({"left": "a", "op": "==", "right": "a"});
        let mut typo = left.clone();
        typo["right_typ"] = json!("plain");
        let sub = json!({"op": "sub", "regex": "a", "replace": "b"});
        let mut brake = sub.clone();
        brake["brake"] = json!(true);
        cases.extend([
            (
                cond(json!({"combine": "or", "operations": [left.clone()]})),
                "configuration.condition.combine",
            ),
            (
                cond(json!({"operations": [left, typo]})),
                "configuration.condition.operations[1].right_typ",
            ),
            (
                json!({"name": "url_rewriting", "configuration": {"command": [sub]}}),
                "configuration.command",
            ),
            (
                json!({"name": "url_rewriting", "configuration": {"commands": [brake]}}),
                "configuration.commands[0].brake",
            ),
            (
                json!({"name": "url_rewriting", "configuration": {"query_args_commands": [
                {"op": "set", "arg": "a", "value": "1", "method": ["GET"]}]}}),
                "configuration.query_args_commands[0].method",
            ),
        ]);
    }
    for (policy, at) in cases {
        let e = chain_of(policy.clone()).err().map(|e| e.to_string());
        assert_eq!(
            e.as_deref(),
            Some(format!("services[0].proxy.policy_chain[0].{at}: unknown field").as_str()),
            "{policy}"
        );
    }
    // `enabled: false` would not switch the policy off in APIcast (porta drops such policies).
    let off = json!({"name": "cors", "enabled": false, "configuration": {}});
    let e = chain_of(off)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        e.starts_with("services[0].proxy.policy_chain[0].enabled: APIcast runs"),
        "{e}"
    );
    // `tollgate check`'s review says the same.
    let cors = json!({"name": "cors", "configuration": {"allow_origins": "*"}});
    let text = json!({"services": [{"id": 1, "proxy": {"policy_chain": [cors]}}]});
    let review = review(text.to_string().as_bytes());
    let e = review[0].entries[0].answer.as_ref().unwrap_err();
    assert_eq!(
        e.path,
        "services[0].proxy.policy_chain[0].configuration.allow_origins"
    );
}
