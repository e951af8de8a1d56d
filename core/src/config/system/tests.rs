//! The `system` block's contract, the wire's paths and header, and how answers are read.

use super::*;
use crate::config::Config;
use serde_json::json;

fn system(v: Value) -> std::result::Result<SystemConfig, String> {
    let obj = Obj::new("system", &v).map_err(|e| e.to_string())?;
    SystemConfig::parse(&obj).map_err(|e| e.to_string())
}

fn minimal() -> Value {
    json!({"cluster": "threescale_system", "access_token": "tok"})
}

fn with(field: &str, value: Value) -> Value {
    let mut v = minimal();
    v[field] = value;
    v
}

#[test]
fn the_documented_shape_is_read() {
    let s = system(json!({
        "cluster": "threescale_system",
        "authority": "acme-admin.3scale.net",
        "access_token": "secret-token",
        "environment": "production",
        "refresh_s": 300,
        "timeout_ms": 5000,
        "services": ["2555417777777"],
        "versions": {"2555417777777": 17}
    }))
    .unwrap();
    assert_eq!(s.cluster, "threescale_system");
    assert_eq!(s.authority, "acme-admin.3scale.net");
    assert_eq!(s.access_token, "secret-token");
    assert_eq!(s.environment, Environment::Production);
    assert_eq!((s.refresh_s, s.timeout_ms), (300, 5000));
    assert_eq!(s.services, Some(vec!["2555417777777".to_string()]));
    assert_eq!(s.versions, vec![("2555417777777".to_string(), 17)]);
    assert!(s.issuer_clusters.is_empty());
}

#[test]
fn service_ids_are_read_as_porta_reads_them() {
    // porta finds `"0042"` as service 42, and its answers carry `42`.
    let s = system(with("services", json!(["0042", 7, "000"]))).unwrap();
    assert_eq!(s.services, Some(vec!["42".into(), "7".into(), "0".into()]));
    let twice = system(with("services", json!(["42", "042"]))).unwrap_err();
    assert!(twice.to_string().contains("listed twice"), "{twice}");
}

#[test]
fn defaults() {
    let s = system(minimal()).unwrap();
    assert_eq!(s.authority, "threescale_system");
    assert_eq!(s.environment, Environment::Production);
    assert_eq!((s.refresh_s, s.timeout_ms), (300, 5000));
    assert_eq!(s.services, None);
    assert!(s.versions.is_empty());
}

#[test]
fn environments_are_kept_as_written() {
    for name in ["production", "staging", "sandbox"] {
        let s = system(with("environment", json!(name))).unwrap();
        assert_eq!(s.environment.as_str(), name);
        assert_eq!(Environment::from_name(name), Some(s.environment));
    }
    assert_eq!(
        system(with("environment", json!("Production"))).unwrap_err(),
        "system.environment: expected production, staging or sandbox"
    );
}

#[test]
fn refusals_name_the_path() {
    let cases = [
        (json!({"access_token": "t"}), "system.cluster: missing required field"),
        (json!({"cluster": "c"}), "system.access_token: missing required field"),
        (with("access_token", json!("")), "system.access_token: must not be empty"),
        (with("access_token", json!(7)), "system.access_token: expected a string"),
        (with("authority", json!("")), "system.authority: must not be empty"),
        (with("refresh_s", json!(0)), "system.refresh_s: must be between 1 and 86400"),
        (with("refresh_s", json!(86401)), "system.refresh_s: must be between 1 and 86400"),
        (with("refresh_s", json!("300")), "system.refresh_s: expected a non-negative integer"),
        (with("timeout_ms", json!(0)), "system.timeout_ms: must be between 1 and 60000"),
        (with("timeout_ms", json!(60001)), "system.timeout_ms: must be between 1 and 60000"),
        (with("services", json!("42")), "system.services: expected an array"),
        (
            with("services", json!([])),
            "system.services: must not be empty (leave it out to load every service)",
        ),
        (with("services", json!([42, true])), "system.services[1]: expected a service id (an integer or a string)"),
        (with("services", json!(["4/2"])), "system.services[0]: a service id is made of digits"),
        (with("services", json!([-1])), "system.services[0]: expected a service id (an integer or a string)"),
        (with("services", json!([42, "42"])), "system.services[1]: service 42 is listed twice"),
        (with("versions", json!({"42": 0})), "system.versions.42: expected a version number (1 or more)"),
        (with("versions", json!({"42": "17"})), "system.versions.42: expected a version number (1 or more)"),
        (with("versions", json!({"x": 1})), "system.versions.x: a service id is made of digits"),
        (with("issuer_clusters", json!({"sso.example.com": ""})), "system.issuer_clusters.sso.example.com: expected an issuer host and a cluster name"),
        (with("issuer_clusters", json!(["sso"])), "system.issuer_clusters: expected an object"),
        (with("token", json!("t")), "system.token: unknown field (expected one of: cluster, authority, access_token, environment, refresh_s, timeout_ms, services, versions, issuer_clusters, max_answer_bytes)"),
    ];
    for (value, expected) in cases {
        assert_eq!(system(value.clone()).unwrap_err(), expected, "{value}");
    }
    let mut pinned_elsewhere = with("services", json!(["1"]));
    pinned_elsewhere["versions"] = json!({"2": 3});
    assert_eq!(
        system(pinned_elsewhere).unwrap_err(),
        "system.versions.2: this service is not in system.services"
    );
}

#[test]
fn services_take_integers_and_strings_and_issuers_are_case_insensitive() {
    let mut v = with("services", json!([2555417777777u64, "7"]));
    v["issuer_clusters"] = json!({"SSO.example.com": "sso"});
    let s = system(v).unwrap();
    assert_eq!(s.services, Some(vec!["2555417777777".into(), "7".into()]));
    assert_eq!(s.issuer_cluster("sso.EXAMPLE.com"), Some("sso"));
    assert_eq!(s.issuer_cluster("other.example.com"), None);
}

#[test]
fn the_token_never_shows_in_debug_output() {
    let s = system(with("access_token", json!("very-secret-token"))).unwrap();
    let text = format!("{s:?}");
    assert!(!text.contains("very-secret-token"), "{text}");
    assert!(text.contains("threescale_system"), "{text}");
}

#[test]
fn plans() {
    let s = system(minimal()).unwrap();
    assert_eq!(s.plan(), Plan::Account { pinned: vec![] });
    let s = system(with("versions", json!({"42": 17}))).unwrap();
    assert_eq!(
        s.plan(),
        Plan::Account {
            pinned: vec![("42".into(), 17)]
        }
    );
    let mut v = with("services", json!([42, "7"]));
    v["versions"] = json!({"7": 3});
    assert_eq!(
        system(v).unwrap().plan(),
        Plan::Services(vec![("42".into(), None), ("7".into(), Some(3))])
    );
}

#[test]
fn paths_and_header() {
    assert_eq!(
        account_page_path(Environment::Production, 1),
        "/admin/api/account/proxy_configs/production.json?version=latest&page=1&per_page=500"
    );
    assert_eq!(
        account_page_path(Environment::Staging, 3),
        "/admin/api/account/proxy_configs/staging.json?version=latest&page=3&per_page=500"
    );
    assert_eq!(
        service_config_path("42", Environment::Sandbox, None),
        "/admin/api/services/42/proxy/configs/sandbox/latest.json"
    );
    assert_eq!(
        service_config_path("42", Environment::Production, Some(17)),
        "/admin/api/services/42/proxy/configs/production/17.json"
    );
    assert_eq!(
        service_index_path("42", Environment::Production),
        "/admin/api/services/42/proxy/configs/production.json"
    );
    // base64("TOKEN:") as APIcast sends https://TOKEN@portal.
    assert_eq!(basic_authorization("TOKEN"), "Basic VE9LRU46");
    assert_eq!(
        system(with("access_token", json!("abc")))
            .unwrap()
            .authorization(),
        "Basic YWJjOg=="
    );
}

fn entry(id: Value, version: u64) -> Value {
    json!({"proxy_config": {"id": 9000 + version, "version": version, "environment": "production",
        "content": {"id": id, "backend_version": "1", "proxy": {"hosts": ["a.example.com"]}}}})
}

#[test]
fn a_page_is_read_with_per_entry_errors() {
    let body = json!({"proxy_configs": [
        entry(json!(42), 17),
        {"proxy_config": {"id": 1, "version": 2, "environment": "production"}},
        {"proxy_config": {"id": 1, "version": "2", "environment": "production", "content": {}}},
        {"proxy_config": {"id": 1, "version": 2, "content": {}}},
        {"proxy_config": {"id": 1, "version": 2, "environment": "sandbox", "content": []}},
        {"proxy_config": {"id": 1, "version": 2, "environment": "sandbox", "content": {"id": 1.5}}},
        {"something": 1},
        7,
        {"proxy_config": {"id": 1, "version": 5, "environment": "sandbox",
            "content": {"proxy": {"service_id": "77"}}}},
        {"proxy_config": {"id": 1, "version": 6, "environment": "sandbox", "content": {}}},
    ], "metadata": {"per_page": 500}});
    let fetched = parse_answer(body.to_string().as_bytes()).unwrap();
    let errors: Vec<String> = fetched.errors.iter().map(|e| e.to_string()).collect();
    assert_eq!(
        errors,
        [
            "proxy_configs[1].proxy_config.content: missing required field",
            "proxy_configs[2].proxy_config.version: expected a non-negative integer",
            "proxy_configs[3].proxy_config.environment: missing required field",
            "proxy_configs[4].proxy_config.content: expected an object",
            "proxy_configs[5].proxy_config.content.id: expected a string or an integer",
            "proxy_configs[6].proxy_config: missing required field",
            "proxy_configs[7]: expected an object",
        ]
    );
    assert!(!fetched.more);
    let ids: Vec<(Option<&str>, u64, &str)> = fetched
        .services
        .iter()
        .map(|s| (s.id.as_deref(), s.version, s.path.as_str()))
        .collect();
    assert_eq!(
        ids,
        [
            (Some("42"), 17, "proxy_configs[0].proxy_config.content"),
            (Some("77"), 5, "proxy_configs[8].proxy_config.content"),
            (None, 6, "proxy_configs[9].proxy_config.content"),
        ]
    );
    let first = &fetched.services[0];
    assert_eq!(first.environment, "production");
    assert_eq!(first.content["proxy"]["hosts"][0], "a.example.com");
}

#[test]
fn exactly_a_full_page_asks_for_the_next() {
    let page = |n: usize| {
        let items: Vec<Value> = (0..n).map(|i| entry(json!(i), 1)).collect();
        parse_answer(json!({ "proxy_configs": items }).to_string().as_bytes()).unwrap()
    };
    assert!(page(500).more);
    assert_eq!(page(500).services.len(), 500);
    assert!(!page(499).more);
    assert!(!page(501).more);
    assert!(!page(0).more);
}

#[test]
fn a_single_proxy_config_is_read() {
    let fetched = parse_answer(entry(json!("42"), 3).to_string().as_bytes()).unwrap();
    assert_eq!(fetched.services.len(), 1);
    assert_eq!(fetched.services[0].id.as_deref(), Some("42"));
    assert_eq!(fetched.services[0].path, "proxy_config.content");
    assert!(fetched.errors.is_empty() && !fetched.more);
    let bad = json!({"proxy_config": {"version": 3, "environment": "production"}});
    let fetched = parse_answer(bad.to_string().as_bytes()).unwrap();
    assert!(fetched.services.is_empty());
    assert_eq!(
        fetched.errors[0].to_string(),
        "proxy_config.content: missing required field"
    );
}

#[test]
fn whole_answer_failures() {
    let fail = |body: &str| parse_answer(body.as_bytes()).unwrap_err().to_string();
    assert!(
        fail("<html>").starts_with("invalid JSON: "),
        "{}",
        fail("<html>")
    );
    assert!(fail("{\"proxy_configs\": [").starts_with("invalid JSON: "));
    assert_eq!(fail("{}"), "proxy_configs: missing required field");
    assert_eq!(
        fail("{\"proxy_configs\": null}"),
        "proxy_configs: missing required field"
    );
    assert_eq!(
        fail("{\"error\": \"Access denied\"}"),
        "proxy_configs: missing required field"
    );
    assert_eq!(
        fail("{\"proxy_configs\": {}}"),
        "proxy_configs: expected an array"
    );
    assert_eq!(fail("[]"), "expected an object");
}

#[test]
fn config_with_system_needs_no_services_and_without_it_still_does() {
    let parsed = Config::parse(
        json!({"backend": {"cluster": "threescale_backend"}, "system": minimal()})
            .to_string()
            .as_bytes(),
    )
    .unwrap();
    assert!(parsed.config.services.is_empty());
    assert_eq!(parsed.config.system.unwrap().cluster, "threescale_system");

    let err =
        Config::parse(json!({"backend": {"cluster": "b"}}).to_string().as_bytes()).unwrap_err();
    assert_eq!(err.path, "services");

    let static_too = Config::parse(
        json!({"backend": {"cluster": "b"}, "system": minimal(), "services": [{"id": 1, "backend_version": 1}]})
            .to_string()
            .as_bytes(),
    )
    .unwrap();
    assert_eq!(static_too.config.services.len(), 1);

    let without = Config::parse(
        json!({"backend": {"cluster": "b"}, "services": []})
            .to_string()
            .as_bytes(),
    )
    .unwrap();
    assert!(without.config.system.is_none());

    let err = Config::parse(
        json!({"backend": {"cluster": "b"}, "system": {"cluster": "s"}})
            .to_string()
            .as_bytes(),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "system.access_token: missing required field"
    );
}

/// A key given twice in a service skips that service only; one outside every service fails the
/// answer (JSON readers keep one of the two silently).
#[test]
fn a_key_given_twice_skips_its_service() {
    let one = r#"{"proxy_config": {"id": 1, "version": 2, "environment": "production", "content": {"id": 1}}}"#;
    let twice = r#"{"proxy_config": {"id": 2, "version": 2, "environment": "production",
        "content": {"id": 2, "proxy": {"hosts": ["a"], "policy_chain": [{"name": "ip_check"}], "policy_chain": []}}}}"#;
    let body = format!(r#"{{"proxy_configs": [{one}, {twice}]}}"#);
    let fetched = parse_answer(body.as_bytes()).unwrap();
    let errors: Vec<String> = fetched.errors.iter().map(|e| e.to_string()).collect();
    assert_eq!(
        errors,
        ["proxy_configs[1].proxy_config.content.proxy.policy_chain: given twice in one object (a JSON reader keeps one silently)"]
    );
    assert_eq!(fetched.services.len(), 1);
    let body = format!(r#"{{"proxy_configs": [{one}], "proxy_configs": []}}"#);
    let e = parse_answer(body.as_bytes()).unwrap_err().to_string();
    assert!(e.starts_with("proxy_configs: given twice"), "{e}");
}

/// An unreadable entry of a page names its service id when that can be read (the service
/// keeps its live version), empty when not.
#[test]
fn unreadable_entries_name_their_service() {
    let body = json!({"proxy_configs": [
        {"proxy_config": {"id": 1, "version": 2, "content": {"id": 7}}},
        {"proxy_config": {"version": 2, "environment": "production",
            "content": {"proxy": {"service_id": "8"}, "system_name": 1}}},
        {"proxy_config": {"version": 2}},
        entry(json!(9), 1),
    ]});
    let text = body.to_string().replacen(
        "\"system_name\":1",
        "\"system_name\":1,\"system_name\":1",
        1,
    );
    let fetched = parse_answer(text.as_bytes()).unwrap();
    let unread: Vec<(usize, &str)> = (fetched.unread.iter())
        .map(|u| (u.before, u.id.as_str()))
        .collect();
    assert_eq!(unread, [(0, "7"), (0, "8"), (0, "")]);
    assert_eq!(fetched.services.len(), 1);
}

/// Audit 2026-12-06: an answer is read as the answer to its request. A page must hold
/// `proxy_configs` (one `proxy_config` is no page), a per-service answer `proxy_config`.
#[test]
fn an_answer_of_the_other_shape_fails_whole() {
    let production = Environment::Production;
    let single = entry(json!(2), 1).to_string();
    let page = json!({"proxy_configs": [entry(json!(2), 1)]}).to_string();
    let fail = |body: &str, expected| {
        parse_answer_for(body.as_bytes(), expected)
            .unwrap_err()
            .to_string()
    };
    assert_eq!(
        fail(&single, Expected::List(production)),
        "proxy_configs: missing required field"
    );
    assert_eq!(
        fail(&page, Expected::Single(production)),
        "proxy_config: missing required field"
    );
    assert_eq!(
        fail("{}", Expected::Single(production)),
        "proxy_config: missing required field"
    );
    let both = json!({"proxy_configs": [], "proxy_config": entry(json!(2), 1)["proxy_config"]});
    let read = parse_answer_for(both.to_string().as_bytes(), Expected::List(production)).unwrap();
    assert!(
        read.services.is_empty(),
        "a page reads `proxy_configs` only"
    );
    let read = parse_answer_for(page.as_bytes(), Expected::List(production)).unwrap();
    assert_eq!(read.services.len(), 1);
    let read = parse_answer_for(single.as_bytes(), Expected::Single(production)).unwrap();
    assert_eq!(read.services[0].id.as_deref(), Some("2"));
    // Tools reading a pulled file take either shape.
    assert_eq!(parse_answer(single.as_bytes()).unwrap().services.len(), 1);
    assert_eq!(parse_answer(page.as_bytes()).unwrap().services.len(), 1);
}

/// Audit 2026-12-06: an entry of another environment than the one asked for is unreadable
/// (its service keeps its live version); `staging` is answered as `sandbox`.
#[test]
fn an_entry_of_another_environment_is_unreadable() {
    let in_env = |id: u64, version: u64, env: &str| {
        let mut e = entry(json!(id), version);
        e["proxy_config"]["environment"] = json!(env);
        e
    };
    let page = json!({"proxy_configs": [
        in_env(1, 1, "production"), in_env(1, 2, "sandbox"), in_env(2, 1, "staging")
    ]})
    .to_string();
    let read = parse_answer_for(page.as_bytes(), Expected::List(Environment::Production)).unwrap();
    let errors: Vec<String> = read.errors.iter().map(|e| e.to_string()).collect();
    assert_eq!(
        errors,
        [
            r#"proxy_configs[1].proxy_config.environment: "sandbox", not the environment asked for ("production")"#,
            r#"proxy_configs[2].proxy_config.environment: "staging", not the environment asked for ("production")"#,
        ]
    );
    let unread: Vec<(usize, &str)> = (read.unread.iter())
        .map(|u| (u.before, u.id.as_str()))
        .collect();
    assert_eq!(unread, [(1, "1"), (1, "2")]);
    let versions: Vec<u64> = read.services.iter().map(|s| s.version).collect();
    assert_eq!(versions, [1]);
    for asked in [Environment::Staging, Environment::Sandbox] {
        let read = parse_answer_for(page.as_bytes(), Expected::List(asked)).unwrap();
        let versions: Vec<u64> = read.services.iter().map(|s| s.version).collect();
        assert_eq!(versions, [2], "{asked:?} is answered as sandbox");
    }
    let single = in_env(3, 1, "sandbox").to_string();
    let read = parse_answer_for(single.as_bytes(), Expected::Single(Environment::Production));
    let read = read.unwrap();
    assert!(read.services.is_empty());
    assert_eq!(
        read.errors[0].to_string(),
        r#"proxy_config.environment: "sandbox", not the environment asked for ("production")"#
    );
    // Without any environment asked (a pulled file), every entry is read.
    assert_eq!(parse_answer(page.as_bytes()).unwrap().services.len(), 3);
}

/// A `proxy.service_id` read as the service's id is sent in `x-3scale-service-id` as
/// `content.id` is: a control character in it refuses the entry (found by a review,
/// 2026-12-06).
#[test]
fn a_service_id_with_a_control_character_refuses_its_entry() {
    let body = json!({"proxy_configs": [
        {"proxy_config": {"id": 1, "version": 5, "environment": "production",
            "content": {"proxy": {"service_id": "7\r\nX-Evil: 1"}}}},
        {"proxy_config": {"id": 2, "version": 1, "environment": "production",
            "content": {"proxy": {"service_id": "8"}}}},
    ]});
    let fetched = parse_answer(body.to_string().as_bytes()).unwrap();
    let errors: Vec<String> = fetched.errors.iter().map(|e| e.to_string()).collect();
    assert_eq!(
        errors,
        ["proxy_configs[0].proxy_config.content.proxy.service_id: has CR, LF, NUL or another control character"]
    );
    let ids: Vec<Option<&str>> = fetched.services.iter().map(|s| s.id.as_deref()).collect();
    assert_eq!(ids, [Some("8")]);
}
