//! A fresh-eyes audit of the configuration reader for silent downgrades (2026-12-07). Each of
//! these was accepted and dropped with what it asked for:
//! - a near miss holding a character that shows as nothing or as a dash, or one letter outside
//!   ASCII (`policy_chain` pasted with a zero-width or no-break space, a word processor's
//!   hyphen, a Cyrillic `р`): letters were counted as UTF-8 bytes, so such a key was 2 or 3
//!   letters away from the field. Its `ip_check` was gone;
//! - another tool's name for the rules (porta's Admin API's `mapping_rules`, the 3scale
//!   operator's `mappingRules`), and other tools' names written beside `proxy`: a locally
//!   authenticated service then had no rules, so every path was open to every key, whatever
//!   grant the rules asked for;
//! - a rule pattern no request path can match (`/%61dmin`, `/café`: the rules read a path
//!   decoded once and re-escaped as nginx does), whose grant (or metric and limits) was never
//!   checked;
//! - a rule pattern with a `.` or `..` segment (`/v1/./admin`), which the request's path never
//!   holds (dot segments are resolved), likewise.
//!
//! Each is now refused naming its JSON path; from 3scale System only that service is skipped.
//! Each test failed on the session's first module (the configuration was accepted, and the
//! request it should have blocked reached the upstream).

mod support;

use e2e::Request;
use serde_json::{json, Value};
use std::time::Duration;
use support::refusals::*;
use support::*;
use tollgate_core::auth::digest::stored_form;

const HOST: &str = "api.example.com";
const LOCAL: &str = "local.example.com";

/// `ip_check` whitelisting another address: loopback clients are refused, if it is read.
fn whitelist() -> Value {
    json!([
        {"name": "ip_check", "configuration": {"check_type": "whitelist", "ips": ["203.0.113.7"]}},
        {"name": "apicast"}
    ])
}

/// Envoy refuses `cfg` at `path`, saying `shown`, or panics with what the running stack let
/// through.
fn refused_at(cfg: Value, path: &str, shown: &str) {
    match start_or_refused(&cfg.to_string(), backend_state()) {
        Err(log) => {
            let at = format!("invalid configuration: {path}");
            assert!(log.contains(&at), "refused, but not at {path:?}: {log}");
            assert!(
                log.contains(shown),
                "the refusal does not show {shown:?}: {log}"
            );
        }
        Ok(s) => {
            let get = Request::get(&format!("/?user_key={USER_KEY}"))
                .header("Host", HOST)
                .send(s.port());
            let admin = Request::post("/admin")
                .header("Host", LOCAL)
                .header("APIKey", "k-reader")
                .send(s.port());
            panic!(
                "accepted with {path:?}: GET / {}, POST /admin (reader) {}; the upstream got {} request(s)",
                describe(&get),
                describe(&admin),
                s.echo.request_count()
            );
        }
    }
}

#[test]
fn a_near_miss_with_an_invisible_or_non_ascii_character_is_refused() {
    for key in [
        "policy_chain\u{200b}",
        "policy_chain\u{a0}",
        "policy\u{2010}chain",
        "\u{440}olicy_chain",
    ] {
        let svc = service(1, json!(1), json!({ key: whitelist() }));
        refused_at(
            config(vec![svc]),
            &format!("services[0].proxy.{key}"),
            "(its name holds a character other than visible ASCII): `policy_chain` is read here",
        );
    }
}

/// A locally authenticated service whose `POST /admin` rule needs the `admin` grant, its
/// rules under `key` (`proxy_rules` is read); the key `k-reader` has no grant.
fn local_rules_under(key: &str) -> Value {
    let auth = json!({"mode": "local", "api_keys": {"header": "APIKey",
        "keys": [{"id": "reader", "hash": stored_form("k-reader")}]}});
    let rules = json!([
        {"http_method": "POST", "pattern": "/admin", "metric_system_name": "hits", "delta": 1,
         "namespace": "admin"},
        {"http_method": "ANY", "pattern": "/", "metric_system_name": "hits", "delta": 1}
    ]);
    json!({"id": 10, "authentication": auth,
        "proxy": {"hosts": [LOCAL], "secret_token": "local-secret", key: rules}})
}

#[test]
fn another_tools_name_for_the_rules_is_refused() {
    // The rules as read: the reader is refused `POST /admin` (the test's own control).
    let s = Stack::start(config(vec![local_rules_under("proxy_rules")]));
    let admin = Request::post("/admin")
        .header("Host", LOCAL)
        .header("APIKey", "k-reader")
        .send(s.port());
    assert_eq!(admin.status, 403, "{}", describe(&admin));
    assert_eq!(s.echo.request_count(), 0);
    drop(s);
    for key in ["mapping_rules", "mappingRules"] {
        refused_at(
            config(vec![local_rules_under(key)]),
            &format!("services[0].proxy.{key}"),
            "`proxy_rules` is read here",
        );
    }
    // The 3scale operator's Product puts its `policies` at the service's level.
    let mut svc = service(1, json!(1), json!({}));
    svc["policies"] = whitelist();
    refused_at(
        config(vec![svc]),
        "services[0].policies",
        "`policy_chain` is read in `proxy`",
    );
}

/// A rule's pattern that no path the rules read holds (they read it decoded once and
/// re-escaped as nginx does: `/%61dmin` is read `/admin`, `/café` as `/caf%C3%A9`): the rule
/// never matched, so the `admin` grant it asked for was never checked and the reader's
/// `POST` went through on the catch-all.
#[test]
fn a_pattern_no_request_path_can_match_is_refused() {
    for (pattern, path) in [("/%61dmin", "/admin"), ("/caf\u{e9}", "/caf%C3%A9")] {
        assert_pattern_refused(pattern, path, "never in a path the rules read");
    }
}

/// The local service with `pattern` as its `admin` rule is refused at the pattern with
/// `why`; accepted, the reader's `POST path` (no grant) shows what got through.
fn assert_pattern_refused(pattern: &str, path: &str, why: &str) {
    let mut svc = local_rules_under("proxy_rules");
    svc["proxy"]["proxy_rules"][0]["pattern"] = json!(pattern);
    let cfg = config(vec![svc]);
    match start_or_refused(&cfg.to_string(), backend_state()) {
        Err(log) => assert!(
            log.contains("invalid configuration: services[0].proxy.proxy_rules[0].pattern: ")
                && log.contains(why),
            "refused, but not at the pattern: {log}"
        ),
        Ok(s) => {
            let r = Request::post(path)
                .header("Host", LOCAL)
                .header("APIKey", "k-reader")
                .send(s.port());
            panic!(
                "accepted with {pattern:?}: POST {path} (reader, no grant) {}; the upstream got {:?}",
                describe(&r),
                (s.echo.requests().iter()).map(|r| format!("{} {}", r.method, r.path)).collect::<Vec<_>>()
            );
        }
    }
}

/// A rule's pattern with a `.` or `..` segment (`/v1/./admin`): nginx, Envoy and the filter
/// resolve them in the request's path (`/v1/./admin` is read `/v1/admin`, `%2e` alike), so the
/// rule never matched, the `admin` grant it asked for was never checked, and the reader's
/// `POST /v1/admin` went through on the catch-all (an audit, 2026-12-07).
#[test]
fn a_pattern_with_a_dot_segment_is_refused() {
    for (pattern, path) in [
        ("/v1/./admin", "/v1/admin"),
        ("/v1/x/../admin", "/v1/admin"),
        ("/./admin", "/admin"),
        ("/{tenant}/../admin", "/admin"),
        ("/admin/.$", "/admin/"),
    ] {
        assert_pattern_refused(
            pattern,
            path,
            "`.` or `..` segment is never in a path the rules read",
        );
    }
    // A last segment without `$` is a prefix (`/v1/.` matches `/v1/.env`, in APIcast too):
    // loaded, and its grant applies.
    let mut svc = local_rules_under("proxy_rules");
    svc["proxy"]["proxy_rules"][0]["pattern"] = json!("/v1/.");
    let s = Stack::start(config(vec![svc]));
    let r = Request::post("/v1/.env")
        .header("Host", LOCAL)
        .header("APIKey", "k-reader")
        .send(s.port());
    assert_eq!(r.status, 403, "{}", describe(&r));
    assert_eq!(s.echo.request_count(), 0);
}

/// From 3scale System, a service with such a pattern alone is skipped: its host serves
/// nothing (held, also as `api.example.com.`), the other service is served.
#[test]
fn a_system_service_with_a_dot_segment_pattern_alone_is_skipped() {
    let rules = json!([{"http_method": "GET", "pattern": "/v1/./admin",
                        "metric_system_name": "hits", "delta": 1}]);
    let (s, _mock) = served_beside(json!({ "proxy_rules": rules }));
    assert!(
        s.envoy
            .wait_for_log("`.` or `..` segment", Duration::from_secs(2)),
        "no service was skipped for the pattern"
    );
    for host in [HOST, "api.example.com."] {
        let r = Request::get(&format!("/v1/admin?user_key={USER_KEY}"))
            .header("Host", host)
            .send(s.port());
        assert_eq!(r.status, 404, "{host}: {}", describe(&r));
    }
    only_service_two_served(&s);
}

/// From 3scale System: the service whose chain is under a key with a zero-width space is
/// skipped (its host serves nothing), the other one is served.
#[test]
fn a_system_service_with_an_invisible_character_in_its_chain_key_alone_is_skipped() {
    let (s, _mock) = served_beside(json!({"policy_chain\u{200b}": whitelist()}));
    let r = Request::get(&format!("/?user_key={USER_KEY}"))
        .header("Host", HOST)
        .send(s.port());
    assert_eq!(
        r.status,
        404,
        "service 1 (skipped) served: {}",
        describe(&r)
    );
    assert!(s
        .envoy
        .wait_for_log("other than visible ASCII", Duration::from_secs(2)));
    only_service_two_served(&s);
}
