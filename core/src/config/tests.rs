//! Configuration contract tests: defaults, accepted shapes, and refusals naming the JSON path.

use super::*;
use serde_json::{json, Value};

fn parse(v: Value) -> std::result::Result<Parsed, ConfigError> {
    Config::parse(v.to_string().as_bytes())
}

fn with_services(services: Value) -> Value {
    json!({"backend": {"cluster": "threescale_backend"}, "services": services})
}

fn refused(v: Value) -> String {
    match parse(v) {
        Ok(_) => panic!("configuration was accepted"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn the_documented_shape_is_accepted_with_apicast_defaults() {
    let parsed = parse(json!({
        "backend": {"cluster": "threescale_backend", "authority": "su1.3scale.net", "timeout_ms": 1000},
        "path_routing": false,
        "path_routing_only": false,
        "services": [{
            "id": 42, "backend_version": "1", "unknown_export_field": {"x": 1},
            "backend_authentication_type": "service_token", "backend_authentication_value": "tok",
            "proxy": {"proxy_rules": [{"http_method": "GET", "pattern": "/", "metric_system_name": "hits", "delta": 1}]}
        }]
    }))
    .unwrap();
    let c = parsed.config;
    assert_eq!(c.backend.authority, "su1.3scale.net");
    let s = &c.services[0];
    assert_eq!(s.id, "42");
    assert_eq!(s.mode, AuthMode::UserKey);
    assert_eq!(s.location, CredentialsLocation::Query);
    assert_eq!(s.names.user_key, "user_key");
    assert_eq!(s.hosts, vec!["localhost"]);
    assert_eq!(s.errors, ErrorResponses::default());
    assert_eq!(s.errors.auth_missing.status, 401);
    assert_eq!(
        s.errors.auth_missing.content_type,
        "text/plain; charset=utf-8"
    );
}

#[test]
fn backend_defaults() {
    let c = parse(with_services(json!([]))).unwrap().config;
    assert_eq!(c.backend.authority, "threescale_backend");
    assert_eq!(c.backend.timeout_ms, 1000);
}

#[test]
fn custom_errors_and_names_are_read() {
    let c = parse(with_services(json!([{"id": "7", "backend_version": 2, "proxy": {
        "hosts": ["API.example.com"], "auth_app_id": "X-App", "credentials_location": "headers",
        "error_auth_failed": "nope", "error_status_auth_failed": 401, "error_headers_auth_failed": "application/json",
        "error_no_match": null
    }}])))
    .unwrap()
    .config;
    let s = &c.services[0];
    assert_eq!(s.mode, AuthMode::AppIdAndKey);
    assert_eq!(s.names.app_id, "x-app");
    assert_eq!(s.hosts, vec!["api.example.com"]);
    assert_eq!(s.errors.auth_failed.status, 401);
    assert_eq!(s.errors.auth_failed.body, "nope");
    assert_eq!(s.errors.auth_failed.content_type, "application/json");
    assert_eq!(s.errors.no_match.body, "No Mapping Rule matched");
}

#[test]
fn refusals_name_the_json_path() {
    let rule = |delta: Value| {
        with_services(
            json!([{"id": 1, "backend_version": 1}, {"id": 2, "backend_version": 1, "proxy": {"proxy_rules": [
                {"http_method": "GET", "pattern": "/", "metric_system_name": "hits", "delta": 1},
                {"http_method": "GET", "pattern": "/", "metric_system_name": "hits", "delta": 1},
                {"http_method": "GET", "pattern": "/", "metric_system_name": "hits", "delta": 1},
                {"http_method": "GET", "pattern": "/", "metric_system_name": "hits", "delta": delta}
            ]}}]),
        )
    };
    // A null `delta` too: read as 0 it would drop the rule's metric from the usage.
    for delta in [json!("x"), Value::Null] {
        assert_eq!(
            refused(rule(delta)),
            "services[1].proxy.proxy_rules[3].delta: expected an integer"
        );
    }
    assert_eq!(
        refused(with_services(
            json!([{"id": 1, "backend_version": 1, "proxy": {"proxy_rules": [{"http_method": "GET", "pattern": "/"}]}}])
        )),
        "services[0].proxy.proxy_rules[0].metric_system_name: missing required field"
    );
    assert_eq!(
        refused(json!({"backend": {"cluster": ""}, "services": []})),
        "backend.cluster: must not be empty"
    );
    assert!(
        refused(json!({"backend": {"cluster": "b", "timeout_ms": 0}, "services": []}))
            .starts_with("backend.timeout_ms: must be greater than 0")
    );
    assert!(
        refused(json!({"backend": {"cluster": "b", "clustr": "x"}, "services": []}))
            .starts_with("backend.clustr: unknown field")
    );
    assert!(refused(json!({"backend": {"cluster": "b"}, "service": []}))
        .starts_with("service: unknown field"));
    assert_eq!(
        refused(json!({"services": []})),
        "backend: missing required field"
    );
    // OpenID Connect needs the JWT feature; without it, another refusal names the path.
    #[cfg(feature = "jwt")]
    {
        assert!(refused(with_services(
        json!([{"id": 1, "backend_version": "oauth", "proxy": {"authentication_method": "oidc"}}])
    ))
    .starts_with(
        "services[0].authentication.jwt: backend_version \"oauth\" (OpenID Connect) needs"
    ));
        assert!(refused(with_services(
            json!([{"id": 1, "backend_version": "oauth"}])
        ))
        .starts_with("services[0].proxy.authentication_method: backend_version \"oauth\" needs"));
    }
    assert!(refused(with_services(
        json!([{"id": 1, "backend_version": 1, "proxy": {"credentials_location": "body"}}])
    ))
    .starts_with("services[0].proxy.credentials_location: unknown location"));
    assert_eq!(
        refused(with_services(
            json!([{"id": 1, "backend_version": 1, "proxy": {"error_status_no_match": "404"}}])
        )),
        "services[0].proxy.error_status_no_match: expected a non-negative integer"
    );
    assert!(refused(with_services(
        json!([{"id": 1, "backend_version": 1, "proxy": {"api_backend": "test.com"}}])
    ))
    .starts_with("services[0].proxy.api_backend:"));
    assert!(refused(json!("x")).contains("expected an object"));
    assert!(refused(Value::Null).contains("expected an object"));
    assert!(Config::parse(b"{not json")
        .unwrap_err()
        .to_string()
        .starts_with("invalid JSON"));
    assert_eq!(
        refused(with_services(json!([{"id": 1, "backend_version": 1, "backend_authentication_type": "service_token"}]))),
        "services[0].backend_authentication_value: missing required field (backend_authentication_type is set)"
    );
}

#[test]
fn first_service_for_a_host_wins() {
    let parsed = parse(with_services(json!([
        {"id": 1, "backend_version": 1, "proxy": {"hosts": ["a"]}},
        {"id": 2, "backend_version": 1, "proxy": {"hosts": ["a", "b"]}}
    ])))
    .unwrap();
    let c = &parsed.config;
    assert_eq!(c.services.len(), 2);
    assert_eq!(c.services_for_host("a").next().unwrap().id, "1");
    assert_eq!(c.services_for_host("b").next().unwrap().id, "2");
    assert_eq!(parsed.warnings.len(), 1);
}

/// Skipped, a second service 1 (a copy-pasted id) left its hosts to later services and, with
/// path routing, its rules' paths to the host's first service (found by an audit,
/// 2026-12-06): refused, naming both.
#[test]
fn a_service_id_given_twice_is_refused_naming_both() {
    let e = refused(with_services(json!([
        {"id": 1, "authentication": {"mode": "none"}, "proxy": {"hosts": ["api"]}},
        {"id": 2, "backend_version": 1, "proxy": {"hosts": ["two"]}},
        {"id": "1", "backend_version": 1, "proxy": {"hosts": ["api"], "proxy_rules": [
            {"http_method": "GET", "pattern": "/admin", "metric_system_name": "hits", "delta": 1}]}}
    ])));
    assert_eq!(
        e,
        "services[2].id: service 1 is defined twice (services[0])"
    );
    let e = refused(with_services(json!([
        {"id": 1, "backend_version": 1, "proxy": {"hosts": ["a"]}},
        {"backend_version": 1, "proxy": {"hosts": ["b"]}},
        {"backend_version": 1, "proxy": {"hosts": ["c"]}}
    ])));
    assert_eq!(
        e,
        "services[2].id: service without id is defined twice (services[1])"
    );
}

#[test]
fn max_path_bytes_defaults_to_apicast_request_line_and_is_bounded() {
    let base = with_services(json!([]));
    assert_eq!(
        parse(base.clone()).unwrap().config.max_path_bytes,
        DEFAULT_MAX_PATH_BYTES
    );
    let mut v = base.clone();
    v["max_path_bytes"] = json!(65536);
    assert_eq!(parse(v).unwrap().config.max_path_bytes, 65536);
    for bad in [json!(0), json!(2_000_000), json!("8k"), json!(-1)] {
        let mut v = base.clone();
        v["max_path_bytes"] = bad.clone();
        let e = refused(v);
        assert!(e.contains("max_path_bytes"), "{bad}: {e}");
    }
}

#[test]
fn services_without_id_or_a_usable_backend_version_load_as_in_apicast() {
    let parsed = parse(with_services(json!([
        {"backend_version": 1, "backend_authentication_type": "provider_key",
         "backend_authentication_value": "pk", "proxy": {"hosts": ["a"]}},
        {"id": 2, "proxy": {"hosts": ["b"]}},
        {"id": 3, "backend_version": "3", "proxy": {"hosts": ["c"]}}
    ])))
    .unwrap();
    let c = &parsed.config;
    assert_eq!(c.services.len(), 3);
    let no_id = c.services_for_host("a").next().unwrap();
    assert_eq!(no_id.id, "");
    let call = crate::backend::BackendCall::authrep(
        no_id,
        &crate::credentials::Credentials::UserKey("k".into()),
        &crate::mapping::Usage::default(),
        None,
    );
    assert!(
        call.path
            .starts_with("/transactions/authrep.xml?service_id=default&provider_key=pk&user_key=k"),
        "{}",
        call.path
    );
    assert_eq!(
        c.services_for_host("b").next().unwrap().mode,
        AuthMode::Unusable
    );
    assert_eq!(
        c.services_for_host("c").next().unwrap().mode,
        AuthMode::Unusable
    );
    let warnings = parsed.warnings.join("\n");
    assert!(
        warnings.contains("services[0].id: no service id"),
        "{warnings}"
    );
    assert!(
        warnings.contains("services[1].backend_version: backend version missing"),
        "{warnings}"
    );
    assert!(
        warnings.contains("services[2].backend_version: backend version \"3\" is not 1, 2"),
        "{warnings}"
    );
    // A value of the wrong type is still refused.
    let e = refused(with_services(
        json!([{"id": 4, "backend_version": [1], "proxy": {"hosts": ["d"]}}]),
    ));
    assert!(e.contains("services[0].backend_version"), "{e}");
}

/// porta writes the pattern `/search?debug` as `"querystring_parameters": {"debug": null}`:
/// the arg must be present, as the pattern itself reads (found by an audit, 2026-12-07: it
/// was refused, and a fetched service skipped whole). Other non-strings stay refused.
#[test]
fn a_null_query_parameter_from_porta_requires_the_arg() {
    let rule = |value: Value| {
        json!([{"http_method": "GET", "pattern": "/search?debug", "metric_system_name": "hits",
                "delta": 1, "querystring_parameters": {"debug": value}}])
    };
    let service = |value: Value| {
        with_services(json!([{"id": 1, "backend_version": "1",
            "proxy": {"proxy_rules": rule(value)}}]))
    };
    let config = parse(service(Value::Null)).unwrap().config;
    assert_eq!(
        config.services[0].rules[0].query,
        [crate::mapping::rule::QueryCondition::Present {
            name: "debug".into()
        }]
    );
    assert_eq!(
        refused(service(json!(1))),
        "services[0].proxy.proxy_rules[0].querystring_parameters.debug: expected a string or null"
    );
}

#[test]
fn patterns_with_regex_metacharacters_are_refused_naming_the_rule() {
    let rules = json!([
        {"http_method": "GET", "pattern": "/", "metric_system_name": "hits", "delta": 1},
        {"http_method": "GET", "pattern": "/admin*", "metric_system_name": "hits", "delta": 1}
    ]);
    let e = refused(with_services(
        json!([{"id": 1, "backend_version": "1", "proxy": {"proxy_rules": rules}}]),
    ));
    assert!(
        e.contains("services[0].proxy.proxy_rules[1].pattern: `*` is a regular-expression"),
        "{e}"
    );
}

#[cfg(feature = "jwt")]
#[test]
fn claim_check_resources_with_regex_metacharacters_are_refused_naming_the_rule() {
    let chain = json!([{"name": "jwt_claim_check", "configuration": {"rules": [{
        "resource": "/admin/(users|keys)", "methods": ["ANY"],
        "operations": [{"jwt_claim": "role", "jwt_claim_type": "plain", "op": "==", "value": "admin"}]
    }]}}, {"name": "apicast"}]);
    let e = refused(with_services(json!([{"id": 1, "backend_version": "oauth",
        "proxy": {"oidc_issuer_endpoint": "https://idp.example.com/realms/r", "policy_chain": chain,
            "proxy_rules": [{"http_method": "GET", "pattern": "/{id}.json$", "metric_system_name": "hits", "delta": 1}]}}])));
    assert!(
        e.contains("policy_chain[0].configuration.rules[0].resource: `(`"),
        "{e}"
    );
}

/// Local methods on a service 3scale alone authenticates (no `mode`, `3scale`, or no
/// `apicast` in its chain) were loaded and never read (found by an audit, 2026-12-06): refused
/// at `authentication.mode`. What applies in every mode (header secrets, HTTPS-only, public
/// paths) and OIDC (which sets local+3scale) still load; from 3scale System such a service is
/// skipped, the others load.
#[test]
fn local_methods_without_a_local_mode_are_refused() {
    let signed = json!({"signed_urls": {"secret": "a-signing-secret-of-32-bytes-abc"}});
    #[cfg(feature = "jwt")]
    let jwt = json!({"jwks": {"keys": [{"kty": "oct", "kid": "k", "alg": "HS256",
        "k": crate::base64::encode_url(b"0123456789abcdef0123456789abcdef")}]}});
    #[cfg(feature = "jwt")]
    let jwt_method = Some(json!({"jwt": jwt}));
    #[cfg(not(feature = "jwt"))]
    let jwt_method = None;
    let methods: Vec<Value> = [
        json!({"api_keys": {"header": "X-API-Key", "keys": []}}),
        json!({"basic_users": []}),
        signed.clone(),
    ]
    .into_iter()
    .chain(jwt_method)
    .collect();
    let service = |auth: Value, chain: Option<Value>| {
        let mut s = json!({"id": 1, "backend_version": 1, "authentication": auth});
        if let Some(chain) = chain {
            s["proxy"] = json!({"policy_chain": chain});
        }
        s
    };
    let without_apicast = json!([{"name": "cors", "configuration": {}}]);
    for method in &methods {
        for (mode, chain) in [
            (None, None),
            (Some("3scale"), None),
            (None, Some(without_apicast.clone())),
        ] {
            let mut auth = method.clone();
            if let Some(mode) = mode {
                auth["mode"] = json!(mode);
            }
            let e = refused(with_services(json!([service(auth, chain.clone())])));
            // Without apicast the service is public: the advice is to add it.
            let expected = match chain {
                None => "services[0].authentication.mode: 3scale (the default) reads only 3scale credentials",
                Some(_) => "services[0].proxy.policy_chain: no apicast policy, so the service is public",
            };
            assert!(e.starts_with(expected), "{method} {mode:?}: {e}");
        }
        for mode in ["local", "local+3scale"] {
            let mut auth = method.clone();
            auth["mode"] = json!(mode);
            if method.get("signed_urls").is_none() {
                // basic_users: [] and keys: [] authenticate nobody, but are a method.
                auth["signed_urls"] = signed["signed_urls"].clone();
            }
            assert!(parse(with_services(json!([service(auth, None)]))).is_ok());
        }
    }
    let every_mode = json!({"https_only": true, "public_paths": ["/health"],
        "header_secrets": [{"path_prefix": "/admin", "header": "X-Secret", "secret": "s"}]});
    assert!(parse(with_services(json!([service(every_mode, None)]))).is_ok());
    #[cfg(feature = "jwt")]
    {
        let oidc = json!({"id": 1, "backend_version": "oauth",
            "proxy": {"authentication_method": "oidc"},
            "authentication": {"jwt": {"issuer": "https://idp", "jwks": jwt["jwks"]}}});
        assert!(parse(with_services(json!([oidc]))).is_ok());
    }
    // From 3scale System: the service is skipped, the next one loads.
    let base = Config::parse(with_services(json!([])).to_string().as_bytes())
        .unwrap()
        .config;
    let fetched: Vec<FetchedService> = [
        service(methods[0].clone(), None),
        json!({"id": 2, "backend_version": 1}),
    ]
    .into_iter()
    .enumerate()
    .map(|(i, content)| FetchedService {
        id: content["id"].as_u64().map(|id| id.to_string()),
        version: 1,
        environment: "production".into(),
        content,
        path: format!("proxy_configs[{i}].proxy_config.content"),
    })
    .collect();
    let (c, warnings) = base.with_fetched(&fetched);
    let ids: Vec<&str> = c.services.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids, ["2"]);
    assert!(
        warnings[0].starts_with(SKIPPED_WARNING) && warnings[0].contains("authentication.mode"),
        "{warnings:?}"
    );
}

/// Every configured string Tollgate sends in a header value (an error reply's Content-Type,
/// the secret token, the debug headers' service id, name and patterns) or as `:authority` /
/// `:path` upstream is refused naming its path when Envoy could not send it as it is (found
/// by an audit, 2026-12-06: a CR LF in them started another header).
#[test]
fn strings_sent_in_headers_are_refused_with_control_characters() {
    let service = |id: Value, proxy: Value, system_name: &str| {
        let mut proxy = proxy;
        proxy["proxy_rules"] = json!([{"http_method": "GET", "pattern": "/", "metric_system_name": "hits", "delta": 1}]);
        with_services(
            json!([{"id": id, "backend_version": 1, "system_name": system_name, "proxy": proxy}]),
        )
    };
    let at = "services[0]";
    let crlf = "x\r\nSet-Cookie: a=b";
    for (proxy, key) in [
        (json!({"secret_token": crlf}), "proxy.secret_token"),
        (json!({"secret_token": "t\u{0}"}), "proxy.secret_token"),
        (
            json!({"error_headers_auth_failed": crlf}),
            "proxy.error_headers_auth_failed",
        ),
        (
            json!({"error_headers_auth_missing": "text/plain\n"}),
            "proxy.error_headers_auth_missing",
        ),
        (
            json!({"error_headers_no_match": "text/\u{1}plain"}),
            "proxy.error_headers_no_match",
        ),
        (
            json!({"error_headers_limits_exceeded": crlf}),
            "proxy.error_headers_limits_exceeded",
        ),
        (json!({"hostname_rewrite": crlf}), "proxy.hostname_rewrite"),
        (
            json!({"api_backend": format!("http://{crlf}/")}),
            "proxy.api_backend",
        ),
        (
            json!({"api_backend": "http://api/v1 x"}),
            "proxy.api_backend",
        ),
    ] {
        let e = refused(service(json!(1), proxy.clone(), "name"));
        assert!(e.starts_with(&format!("{at}.{key}: ")), "{proxy}: {e}");
    }
    let e = refused(service(json!(1), json!({}), "my api\r\nX: y"));
    assert!(
        e.starts_with(&format!("{at}.system_name: has CR, LF")),
        "{e}"
    );
    let e = refused(service(json!("7\n"), json!({}), "n"));
    assert!(e.starts_with(&format!("{at}.id: has CR, LF")), "{e}");
    let mut rule_crlf = service(json!(1), json!({}), "n");
    rule_crlf["services"][0]["proxy"]["proxy_rules"][0]["pattern"] = json!("/a\r\nX: y");
    let e = refused(rule_crlf);
    assert!(
        e.starts_with(&format!("{at}.proxy.proxy_rules[0].pattern: ")),
        "{e}"
    );
    // What is not a control byte passes: porta's names are `[a-z0-9_-]`, but a tab, a space
    // or non-ASCII text is a valid header value.
    let ok = service(
        json!("7"),
        json!({"secret_token": "s3cr\tet", "error_headers_no_match": "application/json; charset=\"utf-8\"",
            "hostname_rewrite": "api.example:8080", "api_backend": "https://user@[::1]:8443/v1?k=v"}),
        "Mön API",
    );
    let c = parse(ok).unwrap().config;
    assert_eq!(c.services[0].system_name, "Mön API");
}

/// Each service gets its reporting fingerprint when a configuration installs it, from 3scale
/// System too: the same backend and token give the same one, another token or `authority`
/// another (found by an audit, 2026-12-06: calls were reported under another identity).
#[test]
fn services_get_the_fingerprint_of_their_reporting_identity() {
    let svc = |token: &str| {
        json!({"id": 1, "backend_authentication_type": "service_token",
            "backend_authentication_value": token})
    };
    let fingerprint = |config: Value| {
        let c = parse(config).unwrap().config;
        c.services[0].reporting_fingerprint.clone()
    };
    let base = fingerprint(with_services(json!([svc("st")])));
    assert_eq!(base.len(), 8);
    assert!(base.bytes().all(|b| b.is_ascii_hexdigit()));
    assert_eq!(fingerprint(with_services(json!([svc("st")]))), base);
    assert_ne!(fingerprint(with_services(json!([svc("st2")]))), base);
    let mut moved = with_services(json!([svc("st")]));
    moved["backend"]["authority"] = json!("other.example");
    assert_ne!(fingerprint(moved), base);
    let empty = parse(with_services(json!([]))).unwrap().config;
    let fetched = [FetchedService {
        id: Some("1".into()),
        version: 1,
        environment: "production".into(),
        content: svc("st"),
        path: "proxy_configs[0].proxy_config.content".into(),
    }];
    let (c, _) = empty.with_fetched(&fetched);
    assert_eq!(c.services[0].reporting_fingerprint, base);
    // A second generation keeping the service keeps its fingerprint.
    let (c, _) = c.with_fetched(&fetched);
    assert_eq!(c.services[0].reporting_fingerprint, base);
}

/// Services naming different `proxy.backend.endpoint`s get a warning naming the path (found by
/// an audit, 2026-12-07: the field was ignored silently, and APIcast calls each service's own);
/// a System export's services all name the same one, and get none. Static and fetched alike.
#[test]
fn services_naming_different_backends_are_warned_about() {
    let svc = |id: u64, endpoint: &str| {
        json!({"id": id, "backend_version": 1,
               "proxy": {"hosts": [format!("h{id}")], "backend": {"endpoint": endpoint, "host": "x"}}})
    };
    let about_backends = |warnings: &[String]| -> Vec<String> {
        warnings
            .iter()
            .filter(|w| w.contains("proxy.backend"))
            .cloned()
            .collect()
    };
    let same = parse(with_services(json!([
        svc(1, "https://su1.3scale.net"),
        svc(2, "https://su1.3scale.net:443"),
        {"id": 3, "backend_version": 1, "proxy": {"hosts": ["h3"]}}
    ])))
    .unwrap();
    assert_eq!(about_backends(&same.warnings), Vec::<String>::new());
    let apart = parse(with_services(json!([
        svc(1, "https://su1.3scale.net"),
        svc(2, "http://other-backend:3000")
    ])))
    .unwrap();
    let warnings = about_backends(&apart.warnings);
    assert_eq!(warnings.len(), 1, "{:?}", apart.warnings);
    assert!(
        warnings[0].starts_with(
            "services[1].proxy.backend.endpoint: names backend other-backend:3000, services[0].proxy.backend.endpoint names su1.3scale.net: Tollgate sends every service's calls to backend.cluster threescale_backend "
        ),
        "{warnings:?}"
    );
    let empty = parse(with_services(json!([]))).unwrap().config;
    let fetched = |i: u64, endpoint: &str| FetchedService {
        id: Some(i.to_string()),
        version: 1,
        environment: "production".into(),
        content: svc(i, endpoint),
        path: format!("proxy_configs[{i}].proxy_config.content"),
    };
    let (_, warnings) = empty.with_fetched(&[
        fetched(1, "https://su1.3scale.net"),
        fetched(2, "https://su2.3scale.net"),
    ]);
    assert_eq!(about_backends(&warnings).len(), 1, "{warnings:?}");
    assert!(about_backends(&warnings)[0]
        .starts_with("proxy_configs[2].proxy_config.content.proxy.backend.endpoint: names backend su2.3scale.net"));
}
