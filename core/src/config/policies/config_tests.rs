//! The typed configurations of the policies to enforce: APIcast's schemas, refusals naming
//! the JSON path, and Liquid refused.

use super::review::review;
use super::*;
use serde_json::{json, Value};

/// The typed configuration of each policy that has one, read by its own parser as the filter
/// reads it; `Ok(None)` for other names.
fn typed(name: &str, c: &Obj) -> Result<Option<Policy>> {
    Ok(Some(match name {
        "3scale_referrer" => Policy::Referrer,
        "default_credentials" => Policy::DefaultCredentials(default_credentials(c)?),
        "ip_check" => Policy::IpCheck(ip_check(c)?),
        "jwt_claim_check" => Policy::JwtClaimCheck(jwt_claim_check(c)?),
        "maintenance_mode" => Policy::MaintenanceMode(maintenance_mode(c)?),
        "cors" => Policy::Cors(cors(c)?),
        "headers" => Policy::Headers(headers(c)?),
        "url_rewriting" => Policy::UrlRewriting(super::url_rewriting::parse(c)?),
        "statuscode_overwrite" => Policy::StatusCodeOverwrite(statuscode_overwrite(c)?),
        "routing" => Policy::Routing(super::routing::rules(c)?),
        _ => return Ok(None),
    }))
}

fn typed_of(name: &str, configuration: Value) -> std::result::Result<Policy, ConfigError> {
    let v = json!({"name": name, "configuration": configuration});
    let empty = json!({});
    let obj = Obj::new("p", &v).unwrap();
    let (name, _, c) = resolve(&obj, &empty).unwrap();
    typed(name, &c).map(|p| p.unwrap())
}

fn typed_err(name: &str, configuration: Value) -> String {
    typed_of(name, configuration).unwrap_err().to_string()
}

#[test]
fn ip_check_configuration() {
    let p = typed_of(
        "ip_check",
        json!({"check_type": "blacklist", "ips": ["1.1.1.0/4", "2001:db8::/32"],
        "client_ip_sources": ["X-Forwarded-For", "last_caller"]}),
    )
    .unwrap();
    let Policy::IpCheck(ip) = p else {
        panic!("{p:?}")
    };
    assert!(ip.blacklist);
    assert_eq!(ip.error_msg, "IP address not allowed");
    assert_eq!(ip.sources, [IpSource::XForwardedFor, IpSource::LastCaller]);
    assert!(ip.ips[0].contains("15.1.2.3"));
    assert!(ip.ips[1].contains("2001:db8::7"));
    let Policy::IpCheck(ip) =
        typed_of("ip_check", json!({"check_type": "whitelist", "ips": []})).unwrap()
    else {
        panic!()
    };
    assert_eq!(ip.sources, [IpSource::LastCaller]);

    assert_eq!(
        typed_err(
            "ip_check",
            json!({"check_type": "whitelist", "ips": ["10.0.0.0/8", "10.0.0.300"]})
        ),
        "p.configuration.ips[1]: expected an IP address or CIDR block"
    );
    assert_eq!(
        typed_err("ip_check", json!({"ips": []})),
        "p.configuration.check_type: missing required field"
    );
    assert_eq!(
        typed_err("ip_check", json!({"check_type": "whitelist"})),
        "p.configuration.ips: missing required field"
    );
    assert!(
        typed_err("ip_check", json!({"check_type": "allow", "ips": []}))
            .starts_with("p.configuration.check_type: unknown value \"allow\"")
    );
    assert!(typed_err(
        "ip_check",
        json!({"check_type": "whitelist", "ips": [], "client_ip_sources": ["Forwarded"]})
    )
    .starts_with("p.configuration.client_ip_sources[0]: unknown value \"Forwarded\""));
    assert_eq!(
        typed_err(
            "ip_check",
            json!({"check_type": "whitelist", "ips": [], "client_ip_sources": []})
        ),
        "p.configuration.client_ip_sources: expected 1 to 3 sources"
    );
}

#[test]
fn liquid_is_refused_where_apicast_would_render_it() {
    let rule = |op: Value| json!({"rules": [{"resource": "/x", "operations": [op]}]});
    let ok = rule(json!({"jwt_claim": "foo", "jwt_claim_type": "plain", "op": "==", "value": "1"}));
    let Policy::JwtClaimCheck(j) = typed_of("jwt_claim_check", ok).unwrap() else {
        panic!()
    };
    assert_eq!(j.error_message, "Request blocked due to JWT claim policy");
    assert!(j.rules[0].methods.is_empty());
    assert!(j.rules[0].resource.matches("/x/y"));
    assert_eq!(
        j.rules[0].operations[0],
        Operation {
            left: "foo".into(),
            op: Op::Eq,
            right: "1".into(),
            pattern: None,
        }
    );

    let liquid = typed_err(
        "jwt_claim_check",
        rule(json!({"jwt_claim": "{{foo}}", "jwt_claim_type": "liquid", "op": "==", "value": "1"})),
    );
    assert!(liquid.starts_with("p.configuration.rules[0].operations[0].jwt_claim_type: unknown value \"liquid\" (Liquid templates are not supported)"), "{liquid}");
    // APIcast reads a missing jwt_claim_type as Liquid.
    let missing = typed_err(
        "jwt_claim_check",
        rule(json!({"jwt_claim": "foo", "op": "==", "value": "1"})),
    );
    assert_eq!(
        missing,
        "p.configuration.rules[0].operations[0].jwt_claim_type: missing required field"
    );
    let value = typed_err(
        "jwt_claim_check",
        rule(
            json!({"jwt_claim": "foo", "jwt_claim_type": "plain", "op": "==", "value": "{{x}}", "value_type": "liquid"}),
        ),
    );
    assert!(
        value.starts_with(
            "p.configuration.rules[0].operations[0].value_type: unknown value \"liquid\""
        ),
        "{value}"
    );
    let resource = typed_err(
        "jwt_claim_check",
        json!({"rules": [{"resource": "/{{x}}", "resource_type": "liquid", "operations": []}]}),
    );
    assert!(
        resource.starts_with("p.configuration.rules[0].resource_type: unknown value \"liquid\""),
        "{resource}"
    );
    assert_eq!(
        typed_err("jwt_claim_check", json!({})),
        "p.configuration.rules: expected a non-empty array"
    );

    let header = typed_err(
        "headers",
        json!({"request": [{"op": "set", "header": "X-A", "value": "{{ uri }}", "value_type": "liquid"}]}),
    );
    assert!(
        header.starts_with("p.configuration.request[0].value_type: unknown value \"liquid\""),
        "{header}"
    );
    let route = typed_err(
        "routing",
        json!({"rules": [{"url": "http://a", "condition": {"operations": [{"match": "liquid", "liquid_value": "{{x}}", "op": "==", "value": "1"}]}}]}),
    );
    assert!(
        route.starts_with(
            "p.configuration.rules[0].condition.operations[0].match: unknown value \"liquid\""
        ),
        "{route}"
    );
    let path = typed_err(
        "routing",
        json!({"rules": [{"url": "http://a", "replace_path": "{{original_request.path}}"}]}),
    );
    assert_eq!(
        path,
        "p.configuration.rules[0].replace_path: Liquid templates are not supported"
    );
    let cond = typed_err(
        "maintenance_mode",
        json!({"condition": {"operations": [{"left": "{{ upstream.host }}", "left_type": "liquid", "op": "==", "right": "a"}]}}),
    );
    assert!(
        cond.starts_with(
            "p.configuration.condition.operations[0].left_type: unknown value \"liquid\""
        ),
        "{cond}"
    );
}

#[test]
fn the_other_typed_configurations() {
    let Policy::MaintenanceMode(m) = typed_of("maintenance_mode", json!({})).unwrap() else {
        panic!()
    };
    assert_eq!(
        (m.status, m.message.as_str(), m.condition),
        (503, "Service Unavailable - Maintenance", None)
    );
    assert_eq!(
        typed_err("maintenance_mode", json!({"status": 99})),
        "p.configuration.status: expected an HTTP status between 200 and 599"
    );
    // The Content-Type of its reply (found by an audit, 2026-12-06).
    assert_eq!(
        typed_err(
            "maintenance_mode",
            json!({"message_content_type": "text/plain\r\nX: y"})
        ),
        "p.configuration.message_content_type: has CR, LF, NUL or another control character"
    );

    let Policy::Cors(c) = typed_of(
        "cors",
        json!({"allow_methods": ["GET", "POST"], "max_age": 200}),
    )
    .unwrap() else {
        panic!()
    };
    assert_eq!(
        (
            c.allow_methods,
            c.allow_headers,
            c.allow_credentials,
            c.max_age
        ),
        (Some(vec!["GET".into(), "POST".into()]), None, true, 200)
    );
    assert!(typed_err("cors", json!({"allow_methods": ["get"]}))
        .starts_with("p.configuration.allow_methods[0]: unknown value \"get\""));

    let Policy::Headers(h) = typed_of(
        "headers",
        json!({"response": [{"op": "delete", "header": "Server"}]}),
    )
    .unwrap() else {
        panic!()
    };
    assert_eq!(h.response[0].op, EditOp::Delete);
    assert!(h.request.is_empty());
    assert_eq!(
        typed_err("headers", json!({"request": [{"op": "set"}]})),
        "p.configuration.request[0].header: missing required field"
    );

    #[cfg(feature = "rewrite")]
    {
        let Policy::UrlRewriting(u) = typed_of("url_rewriting", json!({"commands": [{"op": "gsub", "regex": "a", "replace": "b", "break": true, "methods": ["GET"]}],
            "query_args_commands": [{"op": "push", "arg": "x", "value": "1"}]})).unwrap() else { panic!() };
        assert!(u.commands[0].global && u.commands[0].stop);
        assert_eq!(u.query_args[0].op, EditOp::Push);
        assert!(typed_err(
            "url_rewriting",
            json!({"commands": [{"op": "replace", "regex": "a", "replace": "b"}]})
        )
        .starts_with("p.configuration.commands[0].op: unknown value"));
    }

    let Policy::StatusCodeOverwrite(s) = typed_of(
        "statuscode_overwrite",
        json!({"http_statuses": [{"upstream": 200, "apicast": 201}]}),
    )
    .unwrap() else {
        panic!()
    };
    assert_eq!(s, [(200, 201)]);
    assert_eq!(
        typed_err(
            "statuscode_overwrite",
            json!({"http_statuses": [{"upstream": 200, "apicast": 601}]})
        ),
        "p.configuration.http_statuses[0]: expected upstream (100 to 600) and apicast (200 to 599)"
    );

    assert_eq!(
        typed_of(
            "default_credentials",
            json!({"auth_type": "user_key", "user_key": "uk"})
        )
        .unwrap(),
        Policy::DefaultCredentials(DefaultCredentials {
            user_key: Some("uk".into()),
            ..Default::default()
        })
    );
    // The fields `auth_type` does not name are kept too, as APIcast keeps them.
    assert_eq!(
        typed_of(
            "default_credentials",
            json!({"auth_type": "user_key", "user_key": "uk", "app_id": "id", "app_key": "key"})
        )
        .unwrap(),
        Policy::DefaultCredentials(DefaultCredentials {
            user_key: Some("uk".into()),
            app_id: Some("id".into()),
            app_key: Some("key".into()),
        })
    );
    assert_eq!(
        typed_err(
            "default_credentials",
            json!({"auth_type": "user_key", "user_key": "uk", "app_id": 5})
        ),
        "p.configuration.app_id: expected a string"
    );
    assert_eq!(
        typed_err(
            "default_credentials",
            json!({"auth_type": "app_id_and_app_key", "app_id": "a"})
        ),
        "p.configuration.app_key: missing required field"
    );

    let Policy::Routing(r) = typed_of(
        "routing",
        json!({"rules": [{"url": "http://b:8080", "owner_id": 3, "condition": {"combine_op": "or",
        "operations": [{"match": "header", "header_name": "X-V", "op": "!=", "value": "2"}]}}]}),
    )
    .unwrap() else {
        panic!()
    };
    assert!(r[0].any);
    assert_eq!(r[0].owner_id, Some(3));
    assert_eq!(
        r[0].operations[0].subject,
        RouteSubject::Header("X-V".into())
    );
    assert_eq!(
        typed_of("3scale_referrer", json!({})).unwrap(),
        Policy::Referrer
    );
    let empty = json!({});
    assert_eq!(
        typed("logging", &Obj::new("p", &empty).unwrap()).unwrap(),
        None
    );
}

#[test]
fn cors_values_cannot_start_another_response_header() {
    let e = typed_err(
        "cors",
        json!({"allow_origin": "https://a.com\r\nSet-Cookie: x"}),
    );
    assert!(
        e.starts_with("p.configuration.allow_origin: has CR, LF, NUL or another control character"),
        "{e}"
    );
    let e = typed_err("cors", json!({"allow_headers": ["X-A", "X-B\nX-C: 1"]}));
    assert!(
        e.starts_with(
            "p.configuration.allow_headers: has CR, LF, NUL or another control character"
        ),
        "{e}"
    );
    assert!(typed_of(
        "cors",
        json!({"allow_origin": "https://a.com", "allow_headers": ["X-A"]})
    )
    .is_ok());
}

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
