//! Fields that block traffic, misspelt or misplaced, and mapping rules no request can match
//! (an audit of "a silent downgrade is a bypass too", 2026-12-06). Service, `proxy` and rule
//! objects ignore fields Tollgate does not read (porta writes dozens), so each of these was
//! accepted and dropped with what it asked for: a `policy_chains` and its `ip_check`, a rule's
//! `Delta` (its metric and limits), a `credential_location`, a rule for `post`. Each must now be
//! refused naming its JSON path; from 3scale System, only that service is skipped. Each test
//! failed on the module before the fix (the configuration was accepted, and the request it
//! should have blocked reached the upstream).

mod support;

use e2e::Request;
use serde_json::{json, Value};
use std::time::Duration;
use support::refusals::*;
use support::*;
use tollgate_core::auth::digest::stored_form;

const HOST: &str = "api.example.com";

/// Requests the configuration should have blocked (`ip_check`) or metered as asked.
fn probe(port: u16) -> String {
    let send = |r: Request| r.header("Host", HOST).send(port).status;
    let post = send(Request::post(&format!("/admin?user_key={USER_KEY}")));
    let get = send(Request::get(&format!("/?user_key={USER_KEY}")));
    format!("POST /admin {post}, GET / {get}")
}

/// Envoy refuses the configuration, naming `path`.
fn refused_at(cfg: Value, path: &str) {
    match start_or_refused(&cfg.to_string(), backend_state()) {
        Err(log) => assert!(
            log.contains(&format!("invalid configuration: {path}")),
            "refused, but not at {path}: {log}"
        ),
        Ok(s) => panic!(
            "accepted with {path}; {}, the upstream got {} request(s), the backend {:?}",
            probe(s.port()),
            s.echo.request_count(),
            s.authreps()
                .iter()
                .map(|c| c.raw_query.clone())
                .collect::<Vec<_>>()
        ),
    }
}

/// `ip_check` whitelisting another address: loopback clients are refused, if it is read.
fn whitelist() -> Value {
    json!([
        {"name": "ip_check", "configuration": {"check_type": "whitelist", "ips": ["203.0.113.7"]}},
        {"name": "apicast"}
    ])
}

fn rules(first: Value) -> Value {
    json!([first, {"http_method": "ANY", "pattern": "/", "metric_system_name": "hits", "delta": 1}])
}

#[test]
fn a_misspelt_or_misplaced_policy_chain_is_refused() {
    // Typos, and porta's Admin API's and the 3scale operator's names for the chain.
    for key in [
        "policy_chains",
        "policyChain",
        "Policy_chain",
        "polciy_chain",
        "policies_config",
        "policies",
    ] {
        let svc = service(1, json!(1), json!({ key: whitelist() }));
        refused_at(config(vec![svc]), &format!("services[0].proxy.{key}"));
    }
    let mut svc = service(1, json!(1), json!({}));
    svc["policy_chain"] = whitelist();
    refused_at(config(vec![svc]), "services[0].policy_chain");
}

#[test]
fn a_misspelt_rule_delta_or_credentials_location_is_refused() {
    let delta = rules(json!({"http_method": "POST", "pattern": "/admin",
        "metric_system_name": "get_foo", "Delta": 5}));
    let svc = service(1, json!(1), json!({ "proxy_rules": delta }));
    refused_at(config(vec![svc]), "services[0].proxy.proxy_rules[0].Delta");
    // Credentials then read from the query, not from the headers the owner chose.
    let svc = service(1, json!(1), json!({"credential_location": "headers"}));
    refused_at(config(vec![svc]), "services[0].proxy.credential_location");
}

/// Tollgate answers 400 to lower-case methods and to CONNECT, so such a rule never matched:
/// `POST /admin` was counted only as the catch-all's `hits`, its own metric and limits gone.
#[test]
fn a_rule_for_a_method_no_request_has_is_refused() {
    for method in ["post", "Post", "any", "", "CONNECT", "POST "] {
        let first = json!({"http_method": method, "pattern": "/admin",
            "metric_system_name": "get_foo", "delta": 5});
        let svc = service(1, json!(1), json!({ "proxy_rules": rules(first) }));
        refused_at(
            config(vec![svc]),
            "services[0].proxy.proxy_rules[0].http_method",
        );
    }
}

/// A `$` before the end of a pattern: APIcast's PCRE reads it as an end anchor, so
/// `/admin$$` matches `/admin` there; read literally, `POST /admin` was counted only as the
/// catch-all's `hits` (found by an audit, 2026-12-06).
#[test]
fn a_dollar_before_the_end_of_a_pattern_is_refused() {
    for pattern in ["/admin$$", "/admin$/x", "/{id}/$metadata"] {
        let first = json!({"http_method": "POST", "pattern": pattern,
            "metric_system_name": "get_foo", "delta": 5});
        let svc = service(1, json!(1), json!({ "proxy_rules": rules(first) }));
        refused_at(
            config(vec![svc]),
            "services[0].proxy.proxy_rules[0].pattern",
        );
    }
}

/// From 3scale System: the service with the misspelt chain is skipped (its host serves
/// nothing), the other one is served.
#[test]
fn a_system_service_with_a_misspelt_policy_chain_alone_is_skipped() {
    let (s, _mock) = served_beside(json!({"policy_chains": whitelist()}));
    assert!(s
        .envoy
        .wait_for_log("policy_chains", Duration::from_secs(2)));
    let r = Request::get(&format!("/?user_key={USER_KEY}"))
        .header("Host", HOST)
        .send(s.port());
    assert_ne!(
        r.status,
        200,
        "service 1 (skipped) served: {}",
        describe(&r)
    );
    only_service_two_served(&s);
}

/// Tollgate's `authentication` block written in `proxy` (its `https_only` and header secrets
/// apply in every mode), and a misspelt rule `roles`: each was dropped with what it asked
/// for, the second letting any caller with a key reach the rule's path.
#[test]
fn an_authentication_block_in_proxy_or_a_misspelt_role_is_refused() {
    let auth = json!({"https_only": true});
    let svc = service(1, json!(1), json!({ "authentication": auth }));
    refused_at(config(vec![svc]), "services[0].proxy.authentication");
    let keys = json!({"mode": "local", "api_keys": {"header": "APIKey",
        "keys": [{"id": "reader", "hash": stored_form("k-reader")}]}});
    for typo in ["rols", "rolse", "Roles"] {
        let admin = json!({"http_method": "POST", "pattern": "/admin",
            "metric_system_name": "hits", "delta": 1, typo: ["admin"]});
        let svc = local_service(keys.clone(), rules(admin));
        refused_at(
            config(vec![svc]),
            &format!("services[0].proxy.proxy_rules[0].{typo}"),
        );
    }
}

/// A `proxy.hosts` entry with a port (an audit, 2026-12-07): the request's host is matched
/// without its port, so the entry never matched and every request to the service was 404.
/// Refused with its path; from 3scale System, that service alone is skipped.
#[test]
fn a_host_with_a_port_is_refused() {
    let svc = service(1, json!(1), json!({"hosts": ["api.example.com:8080"]}));
    refused_at_or(
        config(vec![svc]),
        backend_state(),
        &["services[0].proxy.hosts[0]"],
        |s| {
            let r = Request::get(&format!("/?user_key={USER_KEY}"))
                .header("Host", "api.example.com:8080")
                .send(s.port());
            assert_eq!(
                r.status,
                200,
                "the host it lists was never served: {}",
                describe(&r)
            );
        },
    );
}

#[test]
fn a_system_service_with_a_host_with_a_port_alone_is_skipped() {
    let (s, _mock) = served_beside(json!({"hosts": ["api.example.com:8080"]}));
    assert!(
        s.envoy
            .wait_for_log("proxy.hosts[0]", Duration::from_secs(2)),
        "no warning names service 1's host"
    );
    let r = Request::get(&format!("/?user_key={USER_KEY}"))
        .header("Host", "api.example.com:8080")
        .send(s.port());
    assert_eq!(r.status, 404, "service 1 (skipped): {}", describe(&r));
    assert_eq!(s.echo.request_count(), 1, "only service 2's request");
    let authreps = s.authreps();
    assert!(
        authreps
            .iter()
            .all(|a| a.raw_query.contains("service_id=2")),
        "the backend got {:?}",
        authreps.iter().map(|a| &a.raw_query).collect::<Vec<_>>()
    );
}
