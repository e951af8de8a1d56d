//! A service from 3scale System that Tollgate skips keeps its place: the hosts it is the
//! first to list stay its (APIcast's `configuration_store.lua` `store` gives a host to the
//! first service listing it), so no later service serves them.

use super::*;
use serde_json::{json, Value};

fn base(path_routing: bool) -> Config {
    let v = json!({"backend": {"cluster": "b"}, "path_routing": path_routing, "services": []});
    Config::parse(v.to_string().as_bytes()).unwrap().config
}

fn good(id: u64, hosts: &[&str], pattern: &str) -> Value {
    json!({"id": id, "backend_version": "1", "proxy": {"hosts": hosts,
        "proxy_rules": [{"http_method": "GET", "pattern": pattern, "metric_system_name": "hits", "delta": 1}]}})
}

/// An `ip_check` whitelist and a custom policy Tollgate refuses: the service is skipped.
fn skipped(id: u64, proxy: Value) -> Value {
    let mut proxy = proxy;
    proxy["policy_chain"] = json!([
        {"name": "ip_check", "configuration": {"check_type": "whitelist", "ips": ["203.0.113.7"]}},
        {"name": "my_custom_policy", "version": "1.0.0", "configuration": {}},
        {"name": "apicast"}
    ]);
    json!({"id": id, "backend_version": "1", "proxy": proxy})
}

fn fetched(contents: &[Value]) -> Vec<FetchedService> {
    contents
        .iter()
        .enumerate()
        .map(|(i, content)| FetchedService {
            id: content["id"].as_u64().map(|id| id.to_string()),
            version: 1,
            environment: "production".into(),
            content: content.clone(),
            path: format!("proxy_configs[{i}].proxy_config.content"),
        })
        .collect()
}

fn first(c: &Config, host: &str) -> Option<String> {
    c.services_for_host(host).next().map(|s| s.id.clone())
}

#[test]
fn a_skipped_service_keeps_the_hosts_it_lists_first() {
    let (c, warnings) = base(false).with_fetched(&fetched(&[
        skipped(1, json!({"hosts": ["API.example.com"]})),
        good(2, &["api.example.com", "two.example.com"], "/"),
        good(3, &["api.example.com"], "/"),
    ]));
    assert_eq!(first(&c, "api.example.com"), None, "no service serves it");
    // Service 2 is loaded, for its other host.
    assert_eq!(first(&c, "two.example.com").as_deref(), Some("2"));
    let ids: Vec<&str> = c.services.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids, ["2", "3"]);
    assert!(warnings[0].starts_with(SKIPPED_WARNING), "{warnings:?}");
    for id in [2, 3] {
        let line = format!(
            "host api.example.com for service {id} already defined by service 1, which is skipped"
        );
        assert!(
            warnings.iter().any(|w| w.starts_with(&line)),
            "{warnings:?}"
        );
    }
}

#[test]
fn a_host_listed_first_by_a_loaded_service_stays_with_it() {
    let (c, _) = base(false).with_fetched(&fetched(&[
        good(2, &["api.example.com"], "/"),
        skipped(1, json!({"hosts": ["api.example.com", "one.example.com"]})),
        good(3, &["api.example.com", "one.example.com"], "/"),
    ]));
    assert_eq!(first(&c, "api.example.com").as_deref(), Some("2"));
    assert_eq!(first(&c, "one.example.com"), None);
}

/// A host with a port never matched: the request's host is read without one. Refused with
/// its path in a static configuration, and from System that service alone is skipped (found
/// by an audit, 2026-12-07; porta writes hosts without a port).
#[test]
fn a_host_with_a_port_is_refused_and_its_system_service_skipped() {
    for host in [
        "api.example.com:8080",
        "API.example.com:1",
        "10.0.0.1:80",
        "::1",
    ] {
        let v = json!({"backend": {"cluster": "b"}, "services": [good(1, &["a", host], "/")]});
        let e = Config::parse(v.to_string().as_bytes()).unwrap_err();
        assert_eq!(e.path, "services[0].proxy.hosts[1]", "{host}");
        assert!(e.message.starts_with("ends in :<digits>"), "{e}");
    }
    for host in ["[::1]", "api.example.com", "xn--bcher-kva.example"] {
        let v = json!({"backend": {"cluster": "b"}, "services": [good(1, &[host], "/")]});
        assert!(Config::parse(v.to_string().as_bytes()).is_ok(), "{host}");
    }
    let (c, warnings) = base(false).with_fetched(&fetched(&[
        good(1, &["api.example.com:8080"], "/"),
        good(2, &["two.example.com"], "/"),
    ]));
    let ids: Vec<&str> = c.services.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids, ["2"]);
    assert!(
        warnings[0].starts_with(SKIPPED_WARNING) && warnings[0].contains(".proxy.hosts[0]"),
        "{warnings:?}"
    );
}

#[test]
fn a_skipped_service_without_hosts_holds_localhost_as_a_loaded_one_would() {
    let (c, _) = base(false).with_fetched(&fetched(&[
        skipped(1, json!({})),
        good(2, &["localhost"], "/"),
    ]));
    assert_eq!(first(&c, "localhost"), None);
}

/// With path routing, the services before the skipped one are tried; a request none of
/// their rules matches might be the skipped service's: refused, with no fallback to the
/// host's first service, and the services after it do not get the host.
#[test]
fn path_routing_stops_at_a_skipped_service() {
    let args = crate::mapping::QueryArgs::parse("");
    let (c, _) = base(true).with_fetched(&fetched(&[
        good(2, &["api"], "/two"),
        skipped(1, json!({"hosts": ["api"]})),
        good(3, &["api", "three"], "/three"),
    ]));
    let by_path = |host: &str, path: &str| {
        c.route_by_path(host, "GET", path, &args)
            .0
            .map(|s| s.id.clone())
    };
    assert_eq!(by_path("api", "/two").as_deref(), Some("2"));
    assert_eq!(by_path("api", "/three"), None);
    assert_eq!(first(&c, "api"), None, "no fallback");
    assert_eq!(by_path("three", "/three").as_deref(), Some("3"));
    assert_eq!(first(&c, "three").as_deref(), Some("3"));
    let (c, _) = base(true).with_fetched(&fetched(&[
        skipped(1, json!({"hosts": ["api"]})),
        good(2, &["api"], "/two"),
    ]));
    assert_eq!(
        c.route_by_path("api", "GET", "/two", &args)
            .0
            .map(|s| s.id.clone()),
        None
    );
    assert_eq!(first(&c, "api"), None);
}

/// A version kept live (published just before its refused version, `Loader::finish`) serves
/// only the hosts the refused version lists; the refused version holds its other hosts.
#[test]
fn a_kept_version_serves_only_the_hosts_its_refused_version_lists() {
    let mut list = fetched(&[
        good(1, &["api", "old"], "/"),
        skipped(1, json!({"hosts": ["api", "new"]})),
        good(2, &["old", "new", "two"], "/"),
    ]);
    list[1].version = 2;
    let (c, _) = base(false).with_fetched(&list);
    assert_eq!(first(&c, "api").as_deref(), Some("1"));
    assert_eq!(first(&c, "old").as_deref(), Some("2"), "given to service 2");
    assert_eq!(first(&c, "new"), None, "held by the refused version");
    assert_eq!(first(&c, "two").as_deref(), Some("2"));
}

/// A service pinned by `system.versions` is never compiled at another version.
#[test]
fn a_version_other_than_the_pinned_one_is_refused() {
    let v = json!({"backend": {"cluster": "b"},
        "system": {"cluster": "s", "access_token": "t", "versions": {"1": 1}}});
    let base = Config::parse(v.to_string().as_bytes()).unwrap().config;
    let mut list = fetched(&[good(1, &["api"], "/"), good(2, &["two"], "/")]);
    list[0].version = 2;
    list[1].version = 2;
    let (c, warnings) = base.with_fetched(&list);
    assert_eq!(first(&c, "api"), None, "held");
    assert_eq!(first(&c, "two").as_deref(), Some("2"), "not pinned");
    assert!(warnings[0].ends_with("not the version system.versions pins"));
    list[0].version = 1;
    assert!(base.check_fetched(&list[0]).is_ok());
}

/// A null `delta`, or a null in a policy's configuration, skips only its service.
#[test]
fn a_service_with_a_refused_null_is_skipped_alone() {
    let mut delta = good(1, &["one.example.com"], "/");
    delta["proxy"]["proxy_rules"][0]["delta"] = Value::Null;
    let mut cors = good(2, &["two.example.com"], "/");
    cors["proxy"]["policy_chain"] = json!([
        {"name": "cors", "configuration": {"allow_origin": null}}, {"name": "apicast"}]);
    let (c, warnings) = base(false).with_fetched(&fetched(&[
        delta,
        cors,
        good(3, &["three.example.com"], "/"),
    ]));
    let ids: Vec<&str> = c.services.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids, ["3"]);
    for at in [
        "proxy_configs[0].proxy_config.content.proxy.proxy_rules[0].delta",
        "proxy_configs[1].proxy_config.content.proxy.policy_chain[0].configuration.allow_origin",
    ] {
        assert!(
            warnings.iter().any(|w| w.contains(at)),
            "{at}: {warnings:?}"
        );
    }
}

/// A fetched service whose secret token or error Content-Type holds a CR LF is refused like
/// any other (found by an audit, 2026-12-06): skipped, the others load.
#[test]
fn a_service_with_a_header_value_envoy_cannot_send_is_skipped() {
    let mut bad = good(1, &["one"], "/");
    bad["proxy"]["secret_token"] = json!("t\r\nX-Injected: 1");
    let mut bad_type = good(3, &["three"], "/");
    bad_type["proxy"]["error_headers_auth_failed"] = json!("text/plain\r\nX-Injected: 1");
    let (c, warnings) =
        base(false).with_fetched(&fetched(&[bad, good(2, &["two"], "/"), bad_type]));
    let ids: Vec<&str> = c.services.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids, ["2"]);
    assert!(
        warnings.iter().any(|w| w.starts_with(SKIPPED_WARNING)
            && w.contains("proxy_configs[0].proxy_config.content.proxy.secret_token")),
        "{warnings:?}"
    );
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("proxy.error_headers_auth_failed")),
        "{warnings:?}"
    );
}

/// From System, a duplicate id skips only the later service (a static configuration is
/// refused), and it holds the hosts it is the first to list as any skipped service does: a
/// later service does not get them, and with path routing its paths do not fall back to the
/// host's first service (found by an audit, 2026-12-06: they were released).
#[test]
fn a_duplicate_from_system_holds_its_hosts() {
    let without_id = |host: &str| {
        let mut s = good(0, &[host], "/");
        s.as_object_mut().map(|s| s.remove("id"));
        s
    };
    let (c, warnings) = base(false).with_fetched(&fetched(&[
        without_id("one"),
        without_id("held"),
        good(3, &["held", "three"], "/"),
    ]));
    assert_eq!(first(&c, "one").as_deref(), Some(""));
    assert_eq!(first(&c, "held"), None, "held by the skipped duplicate");
    assert_eq!(first(&c, "three").as_deref(), Some("3"));
    assert!(
        warnings
            .iter()
            .any(|w| w.starts_with("a second service without id is skipped")),
        "{warnings:?}"
    );
    let args = crate::mapping::QueryArgs::parse("");
    let mut list = fetched(&[
        good(1, &["api"], "/public"),
        good(2, &["two"], "/"),
        good(1, &["api"], "/admin"),
    ]);
    // Not merged by the loader: another entry's id, the same `content.id`.
    list[2].id = Some("9".into());
    let (c, warnings) = base(true).with_fetched(&list);
    let by_path = |path: &str| {
        c.route_by_path("api", "GET", path, &args)
            .0
            .map(|s| s.id.clone())
    };
    assert_eq!(by_path("/public").as_deref(), Some("1"));
    assert_eq!(by_path("/admin"), None);
    assert_eq!(first(&c, "api"), None, "no fallback to service 1");
    assert!(
        warnings
            .iter()
            .any(|w| w.starts_with("service 1 is defined twice: the later one is skipped")),
        "{warnings:?}"
    );
}

/// A host two fetched services spell with and without a trailing dot is served by neither,
/// whichever comes first, with path routing too; their other hosts are served. A kept
/// version and its refused successor are one service; the same spelling twice stays the
/// first's (APIcast).
#[test]
fn a_host_two_fetched_services_spell_with_and_without_a_dot_is_served_by_neither() {
    for (a, b) in [
        ("Api.example.com.", "api.example.com"),
        ("api.example.com", "api.example.com."),
    ] {
        for path_routing in [false, true] {
            let (c, warnings) = base(path_routing).with_fetched(&fetched(&[
                good(20, &["open.example.com", a], "/"),
                good(1, &[b, "one.example.com"], "/"),
            ]));
            assert_eq!(first(&c, "api.example.com"), None, "{a} {b}");
            assert_eq!(first(&c, "open.example.com").as_deref(), Some("20"));
            assert_eq!(first(&c, "one.example.com").as_deref(), Some("1"));
            assert_eq!(
                c.route_by_path(
                    "api.example.com",
                    "GET",
                    "/",
                    &crate::mapping::QueryArgs::parse("")
                )
                .0
                .map(|s| s.id.clone()),
                None
            );
            assert_eq!(warnings, ["proxy_configs[1].proxy_config.content.proxy.hosts[0] (service 1) and proxy_configs[0].proxy_config.content.proxy.hosts[1] (service 20): api.example.com with and without a trailing dot (one host to the filter, two to Envoy's virtual hosts): served by neither (404)"]);
        }
    }
    let mut kept = fetched(&[
        good(1, &["api.example.com"], "/"),
        skipped(1, json!({"hosts": ["api.example.com."]})),
    ]);
    kept[1].version = 2;
    let (c, _) = base(false).with_fetched(&kept);
    assert_eq!(first(&c, "api.example.com").as_deref(), Some("1"));
    let (c, _) = base(false).with_fetched(&fetched(&[
        good(20, &["api.example.com."], "/"),
        good(1, &["api.example.com."], "/"),
    ]));
    assert_eq!(first(&c, "api.example.com").as_deref(), Some("20"));
}
