//! The typed configurations of the policies to enforce: APIcast's schemas, refusals naming
//! the JSON path, and Liquid refused.

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
    // A resource no path the rules read holds: the rule would never apply (an audit,
    // 2026-12-07).
    let op = json!({"jwt_claim": "role", "jwt_claim_type": "plain", "op": "==", "value": "admin"});
    let dead = typed_err(
        "jwt_claim_check",
        json!({"rules": [{"resource": "/%61dmin", "operations": [op]}]}),
    );
    assert!(
        dead.starts_with("p.configuration.rules[0].resource: this `%` escape is never in a path"),
        "{dead}"
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
