//! Issue 12's chain policies, natively: `caching` and `3scale_batcher` per service (through
//! the fake Envoy of `worker_tests`), `routing`'s usage clean-up by `owner_id`, and a chain
//! without `apicast` (public).

use super::fake_envoy::{backend_usage, Envoy, Fate, Headers};
use super::*;
use serde_json::{json, Value};

/// Two services on one host, chosen by path: `/one` and `/two`, each with its own chain.
fn two_services(backend: Value, one: Value, two: Value) -> Value {
    let service = |id: &str, chain: Value| {
        json!({
            "id": id, "backend_version": "1",
            "backend_authentication_type": "service_token", "backend_authentication_value": "st",
            "proxy": {"hosts": ["api.example.com"], "policy_chain": chain,
                "proxy_rules": [{"http_method": "GET", "pattern": format!("/{}", if id == "1" {"one"} else {"two"}),
                                 "metric_system_name": "hits", "delta": 1}]}
        })
    };
    json!({"backend": backend, "path_routing_only": true,
           "services": [service("1", one), service("2", two)]})
}

fn apicast() -> Value {
    json!({"name": "apicast"})
}

fn forwarded(f: Fate) -> bool {
    matches!(f, Fate::Forwarded { .. })
}

#[test]
fn a_service_with_3scale_batcher_batches_and_the_other_authreps() {
    // Batcher after apicast (APIcast TEST 4): authorize, never authrep, for service 1.
    let config = two_services(
        json!({"cluster": "backend"}),
        json!([apicast(), {"name": "3scale_batcher", "configuration": {"batch_report_seconds": 2}}]),
        json!([apicast()]),
    );
    let mut envoy = Envoy::new(config, 1);
    envoy.request(0, 1, "GET", "/one?user_key=k", true);
    let path = envoy.answer(Some(200), None);
    assert!(path.starts_with("/transactions/authorize.xml?"), "{path}");
    assert!(forwarded(envoy.fate(1)));
    // A second call is served from the cache: no backend call.
    envoy.request(0, 2, "GET", "/one?user_key=k", true);
    assert!(forwarded(envoy.fate(2)));
    assert!(envoy.calls.is_empty());
    // Service 2 has no batcher and the backend block none: authrep per request.
    for id in [3, 4] {
        envoy.request(0, id, "GET", "/two?user_key=k", true);
        let path = envoy.answer(Some(200), None);
        assert!(path.starts_with("/transactions/authrep.xml?"), "{path}");
        assert!(forwarded(envoy.fate(id)));
    }
    // Service 1's two calls are reported in one batch, then on its own schedule (2 s).
    envoy.tick(0);
    assert_eq!(envoy.calls.len(), 1);
    let (_, _, path) = envoy.calls[0].clone();
    assert_eq!(path, "/transactions.xml?service_id=1&service_token=st");
    let body = envoy.call_bodies.last().unwrap();
    assert!(
        body.contains("transactions%5B0%5D%5Busage%5D%5Bhits%5D=2"),
        "{body}"
    );
    envoy.answer(Some(202), None);
    envoy.request(0, 5, "GET", "/one?user_key=k", true);
    envoy.clock.set(Some(1_001_000));
    envoy.tick(0);
    assert!(envoy.calls.is_empty(), "not before batch_report_seconds");
    envoy.clock.set(Some(1_002_500));
    envoy.tick(0);
    assert_eq!(envoy.calls.len(), 1);
}

#[test]
fn a_service_follows_the_backend_block_unless_its_chain_says_otherwise() {
    // backend.batching is every service's default; a `caching` policy alone keeps authrep.
    let config = two_services(
        json!({"cluster": "backend", "batching": {}}),
        json!([apicast()]),
        json!([{"name": "caching", "configuration": {"caching_type": "resilient"}}, apicast()]),
    );
    let mut envoy = Envoy::new(config, 1);
    envoy.request(0, 1, "GET", "/one?user_key=k", true);
    assert!(envoy
        .answer(Some(200), None)
        .starts_with("/transactions/authorize.xml?"));
    envoy.request(0, 2, "GET", "/two?user_key=k", true);
    assert!(envoy
        .answer(Some(200), None)
        .starts_with("/transactions/authorize.xml?"));
}

#[test]
fn caching_none_and_allow_per_service_with_the_backend_down() {
    // APIcast t/apicast-policy-caching.t TEST 3 (none: 403) and TEST 4 (allow, unseen key: 200).
    let config = two_services(
        json!({"cluster": "backend"}),
        json!([{"name": "caching", "configuration": {"caching_type": "allow"}}, apicast()]),
        json!([apicast(), {"name": "caching", "configuration": {"caching_type": "none"}}]),
    );
    let mut envoy = Envoy::new(config, 1);
    envoy.request(0, 1, "GET", "/one?user_key=unseen", true);
    assert!(envoy
        .answer(Some(502), None)
        .starts_with("/transactions/authrep.xml?"));
    assert!(forwarded(envoy.fate(1)));
    envoy.request(0, 2, "GET", "/two?user_key=unseen", true);
    assert!(envoy
        .answer(Some(502), None)
        .starts_with("/transactions/authrep.xml?"));
    assert_eq!(envoy.fate(2), Fate::Replied(403, Outcome::AuthFailed));
}

#[test]
fn batcher_values_are_bounded_and_refused_with_their_path() {
    let config = |c: Value| {
        two_services(
            json!({"cluster": "backend"}),
            json!([apicast(), {"name": "3scale_batcher", "configuration": c}]),
            json!([apicast()]),
        )
    };
    let e = Config::parse(config(json!({"auths_ttl": 0})).to_string().as_bytes()).unwrap_err();
    assert_eq!(
        e.to_string(),
        "services[0].proxy.policy_chain[1].configuration.auths_ttl: must be between 1 and 86400"
    );
    let c = Config::parse(config(json!({})).to_string().as_bytes())
        .unwrap()
        .config;
    let b = c.backend.batching_for(&c.services[0].policies).unwrap();
    assert_eq!((b.auths_ttl, b.batch_report_seconds), (10, 10));
    assert_eq!(c.backend.batching_for(&c.services[1].policies), None);
    assert_eq!(c.report_interval_ms(), 10_000);
}

/// A service with `3scale_referrer` is authorized per request (authrep) even when batching
/// applies to it, with a warning: the Referer is part of each authorization.
#[test]
fn a_service_with_3scale_referrer_is_not_batched() {
    let referrer = json!({"name": "3scale_referrer"});
    let batcher = json!({"name": "3scale_batcher", "configuration": {}});
    let config = two_services(
        json!({"cluster": "backend", "batching": {}}),
        json!([apicast(), referrer.clone()]),
        json!([apicast(), referrer, batcher]),
    );
    let parsed = Config::parse(config.to_string().as_bytes()).unwrap();
    let c = &parsed.config;
    assert_eq!(c.backend.batching_for(&c.services[0].policies), None);
    assert_eq!(c.backend.batching_for(&c.services[1].policies), None);
    for id in ["1", "2"] {
        let warning =
            format!("service {id}: 3scale_referrer: authorized with an authrep per request");
        assert!(
            parsed.warnings.iter().any(|w| w.starts_with(&warning)),
            "{:?}",
            parsed.warnings
        );
    }
    let mut envoy = Envoy::new(config, 1);
    envoy.request(0, 1, "GET", "/one?user_key=k", true);
    let path = envoy.answer(Some(200), None);
    assert!(path.starts_with("/transactions/authrep.xml?"), "{path}");
}

/// With every candidate slot busy (here the only one, held by key `a`'s pending authorize),
/// key `b` gets an authrep of its own: the backend counts it at once, as no entry can hold
/// its budget; it is not reported later.
#[test]
fn a_request_with_no_cache_slot_gets_its_own_authrep() {
    let backend = json!({"cluster": "backend", "cache_max_entries": 1, "batching": {}});
    let mut envoy = Envoy::new(
        two_services(backend, json!([apicast()]), json!([apicast()])),
        1,
    );
    envoy.request(0, 1, "GET", "/one?user_key=a", true);
    envoy.request(0, 2, "GET", "/one?user_key=b", true);
    let paths: Vec<&str> = envoy.calls.iter().map(|(_, _, p)| p.as_str()).collect();
    assert_eq!(paths.len(), 2, "{paths:?}");
    assert!(
        paths[0].starts_with("/transactions/authorize.xml?"),
        "{paths:?}"
    );
    assert!(
        paths[1].starts_with("/transactions/authrep.xml?"),
        "{paths:?}"
    );
    assert!(paths[1].contains("user_key=b"), "{paths:?}");
}

// --- routing ------------------------------------------------------------------------------

/// A product with two backends (owners 1 and 2) and a rule of its own; APIcast
/// t/apicast-policy-routing.t TEST 28-30.
fn product(rules: Value) -> Config {
    product_chain(rules, true)
}

/// The product with `routing` before `apicast` (`routing_first`) or after it.
fn product_chain(rules: Value, routing_first: bool) -> Config {
    let routing = json!({"name": "routing", "configuration": {"rules": rules}});
    let chain = match routing_first {
        true => json!([routing, apicast()]),
        false => json!([apicast(), routing]),
    };
    let rule = |pattern: &str, metric: &str, owner: Value, owner_type: &str| {
        json!({"http_method": "GET", "pattern": pattern, "metric_system_name": metric, "delta": 1,
               "owner_id": owner, "owner_type": owner_type})
    };
    let v = json!({"backend": {"cluster": "backend"}, "services": [{
        "id": "9", "backend_version": "1",
        "proxy": {"hosts": ["api"], "policy_chain": chain,
            "proxy_rules": [rule("/", "a_hits", json!(1), "BackendApi"), rule("/", "b_hits", json!(2), "BackendApi"),
                            rule("/", "product_hits", json!(9), "Proxy"), rule("/b", "b_only", json!(2), "BackendApi")]}}]});
    Config::parse(v.to_string().as_bytes()).unwrap().config
}

#[test]
fn routing_reports_only_the_routed_backends_rules_and_the_products() {
    let c = product(json!([
        {"url": "http://a:1", "owner_id": 1, "condition": {"operations": [
            {"match": "header", "header_name": "X-Backend", "op": "==", "value": "a"}]}},
        {"url": "http://b:1", "owner_id": 2, "condition": {"combine_op": "or", "operations": [
            {"match": "path", "op": "==", "value": "/b"},
            {"match": "query_arg", "query_arg_name": "to", "op": "==", "value": "b"}]}}
    ]));
    assert_eq!(
        backend_usage(&c, "/x?user_key=k", &[("x-backend", "a")]),
        ["a_hits", "product_hits"]
    );
    assert_eq!(
        backend_usage(&c, "/b?user_key=k", &[]),
        ["b_hits", "b_only", "product_hits"]
    );
    assert_eq!(
        backend_usage(&c, "/x?user_key=k&to=b", &[]),
        ["b_hits", "product_hits"]
    );
    // No rule holds: nothing is cleaned up.
    assert_eq!(
        backend_usage(&c, "/x?user_key=k", &[]),
        ["a_hits", "b_hits", "product_hits"]
    );
}

/// `routing` after `apicast`: APIcast's clean-up runs in `apicast`'s access phase only if
/// `routing`'s ran first, so every matched rule's usage is reported (found by an audit).
#[test]
fn routing_after_apicast_cleans_no_usage() {
    let rules = json!([{"url": "http://a:1", "owner_id": 1, "condition": {"operations": [
        {"match": "header", "header_name": "X-Backend", "op": "==", "value": "a"}]}}]);
    let c = product_chain(rules, false);
    assert_eq!(
        backend_usage(&c, "/x?user_key=k", &[("x-backend", "a")]),
        ["a_hits", "b_hits", "product_hits"]
    );
}

/// Envoy's route matchers read a repeated query arg's first value and a repeated header's
/// values joined; `routing` reads the last arg and the first header. Where they could differ,
/// the usage kept might be another backend's than the one routed to: refused.
#[test]
fn routing_on_an_ambiguous_arg_or_header_is_a_bad_request() {
    let c = product(json!([
        {"url": "http://a:1", "owner_id": 1, "condition": {"operations": [
            {"match": "header", "header_name": "X-Backend", "op": "==", "value": "a"}]}},
        {"url": "http://b:1", "owner_id": 2, "condition": {"operations": [
            {"match": "query_arg", "query_arg_name": "to", "op": "==", "value": "b"}]}}
    ]));
    let reply = |path: &str, headers: &[(&'static str, &'static str)]| {
        let head = RequestHead {
            method: "GET",
            authority: "api",
            path,
            now_s: 0,
        };
        let pending = begin(&c, head, &Headers(headers.to_vec())).unwrap();
        pending.authorize().err().map(|r| (r.status, r.body))
    };
    let ambiguous = Some((400, "Bad Request: ambiguous argument".to_string()));
    assert_eq!(reply("/x?user_key=k&to=a&to=b", &[]), ambiguous);
    assert_eq!(reply("/x?user_key=k&TO=b", &[]), ambiguous);
    let twice = [("x-backend", "b"), ("X-Backend", "a")];
    assert_eq!(reply("/x?user_key=k", &twice), ambiguous);
    // Envoy's query matcher does not decode: `tw%65nty` is not `twenty` to it.
    assert_eq!(reply("/x?user_key=k&to=%62", &[]), ambiguous);
    assert_eq!(reply("/x?user_key=k&t%6F=b", &[]), ambiguous);
    // The same value twice is one reading.
    assert_eq!(
        reply(
            "/x?user_key=k&to=b&to=b",
            &[("x-backend", "a"), ("x-backend", "a")]
        ),
        None
    );
}

/// A `path` condition reads the normalized path; Envoy's route prefixes (without its
/// `normalize_path`) the path as sent: a path that is not in its normal form is refused.
#[test]
fn routing_on_the_path_refuses_a_path_not_in_its_normal_form() {
    let c = product(json!([
        {"url": "http://b:1", "owner_id": 2, "condition": {"operations": [
            {"match": "path", "op": "==", "value": "/b"}]}}
    ]));
    let reply = |path: &str| {
        let head = RequestHead {
            method: "GET",
            authority: "api",
            path,
            now_s: 0,
        };
        let pending = begin(&c, head, &Headers(vec![])).unwrap();
        pending.authorize().err().map(|r| r.status)
    };
    assert_eq!(reply("/b?user_key=k"), None);
    assert_eq!(reply("/%62?user_key=k"), Some(400));
    // A leading `//` goes upstream as the normalized path (`/b`): Envoy routes on that.
    assert_eq!(reply("//b?user_key=k"), None);
    assert_eq!(reply("/x//b?user_key=k"), Some(400));
}

#[test]
fn routing_first_true_rule_wins_and_ne_holds_for_an_absent_value() {
    let c = product(json!([
        {"url": "http://b:1", "owner_id": 2, "condition": {"operations": [
            {"match": "header", "header_name": "X-Backend", "op": "!=", "value": "a"}]}},
        {"url": "http://a:1", "owner_id": 1, "condition": {"operations": []}}
    ]));
    assert_eq!(
        backend_usage(&c, "/x?user_key=k", &[]),
        ["b_hits", "product_hits"]
    );
    assert_eq!(
        backend_usage(&c, "/x?user_key=k", &[("x-backend", "a")]),
        ["a_hits", "product_hits"]
    );
}

#[test]
fn routing_refuses_bad_patterns_and_liquid_with_their_path() {
    let refused = |rules: Value| {
        let v = json!({"backend": {"cluster": "backend"}, "services": [{"id": "9", "backend_version": "1",
            "proxy": {"policy_chain": [{"name": "routing", "configuration": {"rules": rules}}, apicast()]}}]});
        Config::parse(v.to_string().as_bytes())
            .unwrap_err()
            .to_string()
    };
    // A bad pattern (or any, in a build without regexes) is refused at its value.
    let e = refused(json!([{"url": "http://a", "condition": {"operations": [
        {"match": "path", "op": "==", "value": "/"}, {"match": "path", "op": "matches", "value": "(a"}]}}]));
    assert!(e.starts_with("services[0].proxy.policy_chain[0].configuration.rules[0].condition.operations[1].value: "), "{e}");
    let e = refused(json!([{"url": "http://a", "condition": {"operations": [
        {"match": "liquid", "liquid_value": "{{ uri }}", "op": "==", "value": "/"}]}}]));
    assert!(e.starts_with("services[0].proxy.policy_chain[0].configuration.rules[0].condition.operations[0].match: unknown value \"liquid\" (Liquid templates are not supported)"), "{e}");
    let e = refused(json!([{"url": "http://a", "condition": {"operations": [
        {"match": "path", "op": "==", "value": "/", "value_type": "liquid"}]}}]));
    assert!(
        e.contains("operations[0].value_type: unknown value \"liquid\""),
        "{e}"
    );
}

// --- a chain without apicast ------------------------------------------------------------------

fn public_service(chain: Value) -> Config {
    let v = json!({"backend": {"cluster": "backend"}, "services": [{"id": "5", "backend_version": "1",
        "proxy": {"hosts": ["api"], "policy_chain": chain,
            "proxy_rules": [{"http_method": "GET", "pattern": "/only", "metric_system_name": "hits", "delta": 1}]}}]});
    Config::parse(v.to_string().as_bytes()).unwrap().config
}

#[test]
fn a_chain_without_apicast_serves_without_credentials_rules_or_backend() {
    let c = public_service(json!([{"name": "headers", "configuration": {}}]));
    let head = |path| RequestHead {
        method: "DELETE",
        authority: "api",
        path,
        now_s: 0,
    };
    // No credentials, and a path no mapping rule matches: forwarded, counted public.
    for path in ["/anything", "/only?user_key=ignored"] {
        match begin(&c, head(path), &Headers(vec![])).unwrap().authorize() {
            Ok(Next::Forward(f)) => assert!(f.public, "{path}"),
            _ => panic!("expected a public forward for {path}"),
        }
    }
    // Its other policies still apply: ip_check denies a blocked address.
    let c = public_service(json!([{"name": "ip_check", "configuration": {
        "check_type": "blacklist", "ips": ["10.0.0.1"], "client_ip_sources": ["X-Forwarded-For"]}}]));
    let blocked = Headers(vec![("x-forwarded-for", "10.0.0.1")]);
    match begin(&c, head("/x"), &blocked).and_then(|p| p.authorize().map(|_| ())) {
        Err(reply) => assert_eq!(reply.status, 403),
        Ok(()) => panic!("a blocked address passed"),
    }
    let other = Headers(vec![("x-forwarded-for", "10.0.0.2")]);
    assert!(matches!(
        begin(&c, head("/x"), &other).unwrap().authorize(),
        Ok(Next::Forward(_))
    ));
}

#[test]
fn without_apicast_the_policies_that_need_it_are_noted() {
    let v = json!({"backend": {"cluster": "backend"}, "services": [{"id": "5",
        "proxy": {"policy_chain": [{"name": "3scale_batcher", "configuration": {}},
                                   {"name": "caching", "configuration": {"caching_type": "allow"}}]}}]});
    let parsed = Config::parse(v.to_string().as_bytes()).unwrap();
    let chain = &parsed.config.services[0].policies;
    assert_eq!((chain.batcher, chain.caching), (None, None));
    assert!(!parsed.config.any_batching());
    // No backend_version warning either: a public service never calls the backend.
    assert_eq!(parsed.warnings.len(), 3, "{:?}", parsed.warnings);
    assert!(parsed.warnings[1].ends_with(
        "policy 3scale_batcher: accepted: has no effect without apicast (the service is public), as in APIcast"
    ));
}

#[test]
fn routing_subtracts_per_metric_and_drops_a_metric_left_at_zero() {
    // One metric fed by both backends: only the other owner's delta goes (APIcast's
    // Usage:merge); a metric only the other owner fed is gone, even at delta 0, and so is
    // one whose total is 0 (`merge` drops it before the clean-up).
    let rule = |metric: &str, delta: u64, owner: u64| {
        json!({"http_method": "GET", "pattern": "/", "metric_system_name": metric, "delta": delta,
               "owner_id": owner, "owner_type": "BackendApi"})
    };
    let v = json!({"backend": {"cluster": "backend"}, "services": [{"id": "9", "backend_version": "1",
        "proxy": {"hosts": ["api"], "policy_chain": [{"name": "routing", "configuration": {"rules": [{"url": "http://a", "owner_id": 1, "condition": {"operations": []}}]}}, apicast()],
            "proxy_rules": [rule("hits", 1, 1), rule("hits", 2, 2), rule("zero", 0, 2), rule("mine", 0, 1)]}}]});
    let c = Config::parse(v.to_string().as_bytes()).unwrap().config;
    let head = RequestHead {
        method: "GET",
        authority: "api",
        path: "/?user_key=k",
        now_s: 0,
    };
    let pending = begin(&c, head, &Headers(vec![])).unwrap();
    let Ok(Next::Backend(m)) = pending.authorize() else {
        panic!("expected a backend call")
    };
    let usage: Vec<(String, u64)> = m.usage.iter().map(|(k, d)| (k.to_string(), d)).collect();
    assert_eq!(usage, [("hits".to_string(), 1)]);
}

#[test]
fn reports_follow_the_shortest_interval_of_the_services_that_batch() {
    let batcher = |s: u64| json!([apicast(), {"name": "3scale_batcher", "configuration": {"batch_report_seconds": s}}]);
    let interval = |backend: Value, one: Value, two: Value| {
        let c = two_services(backend, one, two);
        let parsed = Config::parse(c.to_string().as_bytes()).unwrap().config;
        parsed.report_interval_ms()
    };
    let backend = json!({"cluster": "backend", "batching": {"batch_report_seconds": 1}});
    // Every service has its own: the backend block's default is nobody's.
    assert_eq!(interval(backend.clone(), batcher(5), batcher(7)), 5_000);
    // A service without the policy follows the backend block's.
    assert_eq!(interval(backend, batcher(5), json!([apicast()])), 1_000);
    assert_eq!(
        interval(
            json!({"cluster": "backend"}),
            batcher(3),
            json!([apicast()])
        ),
        3_000
    );
}

#[test]
fn the_batcher_before_apicast_batches_too() {
    let config = two_services(
        json!({"cluster": "backend"}),
        json!([{"name": "3scale_batcher", "configuration": {}}, apicast()]),
        json!([apicast()]),
    );
    let mut envoy = Envoy::new(config, 2);
    envoy.request(0, 1, "GET", "/one?user_key=k", true);
    assert!(envoy
        .answer(Some(200), None)
        .starts_with("/transactions/authorize.xml?"));
    // The other worker uses the shared answer: no second call.
    envoy.request(1, 2, "GET", "/one?user_key=k", true);
    assert!(forwarded(envoy.fate(1)) && forwarded(envoy.fate(2)));
    assert!(envoy.calls.is_empty());
}

#[test]
#[cfg(feature = "rewrite")]
fn routing_matches_is_an_unanchored_regex() {
    let c = product(json!([
        {"url": "http://b:1", "owner_id": 2, "condition": {"operations": [
            {"match": "header", "header_name": "X-Version", "op": "matches", "value": "v[2-9]"}]}},
        {"url": "http://a:1", "owner_id": 1, "condition": {"operations": []}}
    ]));
    assert_eq!(
        backend_usage(&c, "/x?user_key=k", &[("x-version", "api-v3")]),
        ["b_hits", "product_hits"]
    );
    // No header: matches nothing.
    assert_eq!(
        backend_usage(&c, "/x?user_key=k", &[]),
        ["a_hits", "product_hits"]
    );
}

#[test]
#[cfg(not(feature = "rewrite"))]
fn routing_matches_is_refused_without_regexes() {
    let v = json!({"backend": {"cluster": "backend"}, "services": [{"id": "9", "backend_version": "1",
        "proxy": {"policy_chain": [{"name": "routing", "configuration": {"rules": [{"url": "http://a", "condition": {"operations": [
            {"match": "path", "op": "matches", "value": "^/a"}]}}]}}, apicast()]}}]});
    let e = Config::parse(v.to_string().as_bytes())
        .unwrap_err()
        .to_string();
    assert_eq!(e, "services[0].proxy.policy_chain[0].configuration.rules[0].condition.operations[0].value: needs regular expressions, which this build does not have (cargo feature \"rewrite\")");
}

/// `routing` removes every metric (all rules belong to the backend the request is not routed
/// to): no match, not an authrep without usage (which the backend would answer 200 and the
/// call would be served unmetered).
#[test]
fn routing_that_leaves_no_usage_is_no_match() {
    let v = json!({"backend": {"cluster": "backend"}, "services": [{"id": "9", "backend_version": "1",
        "proxy": {"hosts": ["api"], "policy_chain": [{"name": "routing", "configuration": {"rules": [
            {"url": "http://a", "owner_id": 1, "condition": {"operations": []}}]}}, apicast()],
            "proxy_rules": [{"http_method": "GET", "pattern": "/", "metric_system_name": "b_hits",
                "delta": 1, "owner_id": 2, "owner_type": "BackendApi"}]}}]});
    let c = Config::parse(v.to_string().as_bytes()).unwrap().config;
    let head = RequestHead {
        method: "GET",
        authority: "api",
        path: "/?user_key=k",
        now_s: 0,
    };
    let pending = begin(&c, head, &Headers(vec![])).unwrap();
    let Err(reply) = pending.authorize() else {
        panic!("expected no match")
    };
    assert_eq!((reply.status, reply.outcome), (404, Outcome::NoMatch));
}
