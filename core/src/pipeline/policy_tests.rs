//! The policies the pipeline enforces between credentials and the backend call:
//! `default_credentials` (anonymous access) and `jwt_claim_check`, on each side of `apicast`.

use super::*;
use crate::config::Config;
use crate::credentials::Credentials;
use serde_json::{json, Value};

struct NoHeaders;
impl HeaderSource for NoHeaders {
    fn header(&self, _: &str) -> Option<String> {
        None
    }
}

fn config(version: Value, chain: Value) -> Config {
    let v = json!({"backend": {"cluster": "b"}, "services": [{"id": 1, "backend_version": version,
        "proxy": {"hosts": ["api"], "policy_chain": chain, "proxy_rules": [
            {"http_method": "GET", "pattern": "/a", "metric_system_name": "hits", "delta": 1}]}}]});
    Config::parse(v.to_string().as_bytes()).unwrap().config
}

fn run(config: &Config, method: &str, path: &str) -> Result<Credentials, LocalReply> {
    let head = RequestHead {
        method,
        authority: "api",
        path,
        now_s: 0,
    };
    match begin(config, head, &NoHeaders)?.authorize()? {
        Next::Backend(m) => Ok(m.credentials),
        Next::Forward(_) => panic!("expected a backend call"),
    }
}

fn apicast() -> Value {
    json!({"name": "apicast"})
}

#[test]
fn default_credentials_fill_missing_ones_only_before_apicast() {
    let v1 = json!({"name": "default_credentials", "configuration": {"auth_type": "user_key", "user_key": "anon"}});
    let c = config(json!(1), json!([v1.clone(), apicast()]));
    assert_eq!(
        run(&c, "GET", "/a"),
        Ok(Credentials::UserKey("anon".into()))
    );
    // Credentials the request carries are used, even invalid ones.
    assert_eq!(
        run(&c, "GET", "/a?user_key=mine"),
        Ok(Credentials::UserKey("mine".into()))
    );
    // After apicast: no effect, 401.
    let c = config(json!(1), json!([apicast(), v1.clone()]));
    assert_eq!(
        run(&c, "GET", "/a").unwrap_err().outcome,
        Outcome::AuthMissing
    );
    // A version 2 service: both app_id and app_key must be absent; user_key defaults do
    // not fit it (APIcast branches on backend_version).
    let v2 = json!({"name": "default_credentials", "configuration": {"auth_type": "app_id_and_app_key", "app_id": "id", "app_key": "key"}});
    let c = config(json!(2), json!([v2, apicast()]));
    assert_eq!(
        run(&c, "GET", "/a"),
        Ok(Credentials::AppIdAndKey {
            app_id: "id".into(),
            app_key: "key".into()
        })
    );
    let partial = run(&c, "GET", "/a?app_id=mine").unwrap_err();
    assert_eq!(partial.outcome, Outcome::AuthMissing);
    let c = config(json!(2), json!([v1, apicast()]));
    assert_eq!(
        run(&c, "GET", "/a").unwrap_err().outcome,
        Outcome::AuthMissing
    );
}

/// A credential name sent where the service does not read it (a query arg beside headers
/// credentials, a header beside query ones) is carried: the defaults would authorize their
/// application while the upstream read it (found by an audit, 2026-12-07).
#[test]
fn default_credentials_do_not_apply_beside_a_credential_in_another_location() {
    struct UserKeyHeader;
    impl HeaderSource for UserKeyHeader {
        fn header(&self, name: &str) -> Option<String> {
            (name == "user_key").then(|| "theirs".to_string())
        }
    }
    let v1 = json!({"name": "default_credentials", "configuration": {"auth_type": "user_key", "user_key": "anon"}});
    let at = |location: &str| {
        let v = json!({"backend": {"cluster": "b"}, "services": [{"id": 1, "backend_version": 1,
            "proxy": {"hosts": ["api"], "policy_chain": [v1.clone(), apicast()],
            "credentials_location": location, "proxy_rules": [
            {"http_method": "GET", "pattern": "/a", "metric_system_name": "hits", "delta": 1}]}}]});
        Config::parse(v.to_string().as_bytes()).unwrap().config
    };
    let run_with = |c: &Config, path: &str, headers: &dyn HeaderSource| {
        let head = RequestHead {
            method: "GET",
            authority: "api",
            path,
            now_s: 0,
        };
        begin(c, head, headers)
            .and_then(|p| p.authorize())
            .err()
            .map(|r| r.outcome)
    };
    let headers = at("headers");
    assert_eq!(run_with(&headers, "/a?x=1", &NoHeaders), None);
    for path in ["/a?user_key=theirs", "/a?x=1;user.key=theirs"] {
        assert_eq!(
            run_with(&headers, path, &NoHeaders),
            Some(Outcome::AuthMissing),
            "{path}"
        );
    }
    let query = at("query");
    assert_eq!(
        run_with(&query, "/a", &UserKeyHeader),
        Some(Outcome::AuthMissing)
    );
    let authorization = at("authorization");
    assert_eq!(
        run_with(&authorization, "/a", &UserKeyHeader),
        Some(Outcome::AuthMissing)
    );
    assert_eq!(
        run_with(&authorization, "/a?user_key=theirs", &NoHeaders),
        Some(Outcome::AuthMissing)
    );
}

/// Two `default_credentials` before `apicast`: each asks the request whether it carries
/// credentials (not the one before it), so the last that has them for the service's version
/// wins in APIcast; Tollgate used the first (found by an audit, 2026-12-07).
#[test]
fn of_two_default_credentials_the_last_that_has_them_wins() {
    let defaults = |c: Value| json!({"name": "default_credentials", "configuration": c});
    let key = |k: &str| defaults(json!({"auth_type": "user_key", "user_key": k}));
    let ids = defaults(json!({"auth_type": "app_id_and_app_key", "app_id": "id", "app_key": "k"}));
    let c = config(json!(1), json!([key("first"), key("last"), apicast()]));
    assert_eq!(
        run(&c, "GET", "/a"),
        Ok(Credentials::UserKey("last".into()))
    );
    // The last has none for a version 1 service (APIcast: "No default user key
    // configured"): the one before it stands.
    let c = config(json!(1), json!([key("first"), ids.clone(), apicast()]));
    assert_eq!(
        run(&c, "GET", "/a"),
        Ok(Credentials::UserKey("first".into()))
    );
    // One after `apicast` never counts.
    let c = config(json!(1), json!([key("first"), apicast(), key("after")]));
    assert_eq!(
        run(&c, "GET", "/a"),
        Ok(Credentials::UserKey("first".into()))
    );
    // The request's own credentials still win over all of them.
    let c = config(json!(1), json!([key("first"), key("last"), apicast()]));
    assert_eq!(
        run(&c, "GET", "/a?user_key=mine"),
        Ok(Credentials::UserKey("mine".into()))
    );
}

/// APIcast's `default_credentials.lua` keeps `user_key`, `app_id` and `app_key` whatever
/// `auth_type` says, and the service's `backend_version` picks: a version 2 service uses the
/// `app_id`/`app_key` beside `auth_type: user_key`, a version 1 service the `user_key`
/// beside `auth_type: app_id_and_app_key` (Tollgate obeyed `auth_type` and answered 401:
/// found by an audit, 2026-12-07). A version 2 service needs both (an `app_id` alone: none).
#[test]
fn default_credentials_are_picked_by_backend_version_not_auth_type() {
    let defaults = |c: Value| json!({"name": "default_credentials", "configuration": c});
    let both = |auth_type: &str| {
        defaults(
            json!({"auth_type": auth_type, "user_key": "uk", "app_id": "id", "app_key": "key"}),
        )
    };
    for auth_type in ["user_key", "app_id_and_app_key"] {
        let c = config(json!(2), json!([both(auth_type), apicast()]));
        assert_eq!(
            run(&c, "GET", "/a"),
            Ok(Credentials::AppIdAndKey {
                app_id: "id".into(),
                app_key: "key".into()
            }),
            "{auth_type}"
        );
        let c = config(json!(1), json!([both(auth_type), apicast()]));
        assert_eq!(
            run(&c, "GET", "/a"),
            Ok(Credentials::UserKey("uk".into())),
            "{auth_type}"
        );
    }
    let id_only = defaults(json!({"auth_type": "user_key", "user_key": "uk", "app_id": "id"}));
    let c = config(json!(2), json!([id_only, apicast()]));
    let e = run(&c, "GET", "/a").unwrap_err();
    assert_eq!(e.outcome, Outcome::AuthMissing);
}

#[test]
#[cfg(feature = "jwt")]
fn a_claim_check_without_a_token_denies_equality_before_or_after_the_mapping_rules() {
    let check = json!({"name": "jwt_claim_check", "configuration": {"error_message": "JWT no valid",
        "rules": [{"resource": "/", "operations": [
            {"jwt_claim": "role", "jwt_claim_type": "plain", "op": "==", "value": "admin"}]}]}});
    // Before apicast: denied before the mapping rules (a path no rule matches too).
    let c = config(json!(1), json!([check.clone(), apicast()]));
    let denied = run(&c, "GET", "/nothing?user_key=k").unwrap_err();
    assert_eq!(
        (denied.status, denied.body.as_str(), denied.outcome),
        (403, "JWT no valid\n", Outcome::ClaimCheckDenied)
    );
    assert_eq!(
        denied.headers,
        vec![("content-type".to_string(), "text/plain".to_string())]
    );
    // After apicast: no mapping rule is 404 first; a matched request is denied.
    let c = config(json!(1), json!([apicast(), check]));
    assert_eq!(
        run(&c, "GET", "/nothing?user_key=k").unwrap_err().outcome,
        Outcome::NoMatch
    );
    assert_eq!(
        run(&c, "GET", "/a?user_key=k").unwrap_err().outcome,
        Outcome::ClaimCheckDenied
    );
    // Credentials missing come first (APIcast's rewrite phase).
    assert_eq!(
        run(&c, "GET", "/a").unwrap_err().outcome,
        Outcome::AuthMissing
    );
}

struct Referer(&'static str);
impl HeaderSource for Referer {
    fn header(&self, name: &str) -> Option<String> {
        (name == "referer").then(|| self.0.to_string())
    }
}

#[test]
fn the_referrer_policy_sends_referer_to_the_backend_and_keys_the_cache_by_it() {
    let matched = |chain: Value, referer: &'static str| {
        let c = config(json!(1), chain);
        let head = RequestHead {
            method: "GET",
            authority: "api",
            path: "/a?user_key=k",
            now_s: 0,
        };
        match begin(&c, head, &Referer(referer))
            .unwrap()
            .authorize()
            .unwrap()
        {
            Next::Backend(m) => m,
            Next::Forward(_) => panic!("expected a backend call"),
        }
    };
    let chain = json!([apicast(), {"name": "apicast.policy.3scale_referrer"}]);
    let m = matched(chain.clone(), "https://shop.example.com/a b&x=1");
    let encoded = "referrer=https%3A%2F%2Fshop.example.com%2Fa%20b%26x%3D1";
    assert!(
        m.authrep_call().path.ends_with(encoded),
        "{}",
        m.authrep_call().path
    );
    assert!(
        m.authorize_call().path.ends_with(encoded),
        "batching sends it too"
    );
    let key = m.cache_key();
    let parts = key.parts().unwrap();
    assert_eq!(
        parts.referrer.as_deref(),
        Some("https://shop.example.com/a b&x=1")
    );
    assert_eq!(parts.credentials, Credentials::UserKey("k".into()));
    assert_eq!(key.with_code(200).parts().unwrap().code, Some(200));
    assert_ne!(
        key,
        matched(chain, "https://other.example.com/").cache_key()
    );
    // Without the policy the header is not read.
    let plain = matched(json!([apicast()]), "https://shop.example.com/");
    assert!(!plain.authrep_call().path.contains("referrer"));
    assert!(plain.cache_key().parts().unwrap().referrer.is_none());
}

/// A `jwt_claim_check` rule with `"methods": []` never applies in APIcast (`rule.methods or
/// {ANY}` keeps the empty list, and the method loop runs zero times). Tollgate keeps applying
/// it to every method (a check that silently never applies would be a bypass by
/// configuration) and says so at configuration time, naming the path (found by an audit,
/// 2026-12-07). Absent `methods` or `["ANY"]` is every method in both: no warning.
#[test]
#[cfg(feature = "jwt")]
fn a_claim_check_rule_with_empty_methods_applies_to_every_method_with_a_warning() {
    let check = |methods: Option<Value>| {
        let mut rule = json!({"resource": "/a", "operations": [
            {"jwt_claim": "role", "jwt_claim_type": "plain", "op": "==", "value": "admin"}]});
        if let Some(m) = methods {
            rule["methods"] = m;
        }
        let other = json!({"resource": "/x", "operations": [
            {"jwt_claim": "role", "jwt_claim_type": "plain", "op": "!=", "value": "x"}]});
        json!({"name": "jwt_claim_check", "configuration": {"rules": [other, rule]}})
    };
    let parse = |chain: Value| {
        let v = json!({"backend": {"cluster": "b"}, "services": [{"id": 1, "backend_version": 1,
            "proxy": {"hosts": ["api"], "policy_chain": chain, "proxy_rules": [
                {"http_method": "GET", "pattern": "/a", "metric_system_name": "hits", "delta": 1}]}}]});
        Config::parse(v.to_string().as_bytes()).unwrap()
    };
    let parsed = parse(json!([check(Some(json!([]))), apicast()]));
    let line = "services[0].proxy.policy_chain[0].configuration.rules[1].methods: empty: APIcast never applies this rule; Tollgate applies it to every method";
    assert!(
        parsed.warnings.iter().any(|w| w == line),
        "{:?}",
        parsed.warnings
    );
    // Every method is checked: no token, `==` fails, 403.
    let e = run(&parsed.config, "GET", "/a?user_key=k").unwrap_err();
    assert_eq!((e.status, e.outcome), (403, Outcome::ClaimCheckDenied));
    for methods in [None, Some(json!(["ANY"])), Some(json!(["GET"]))] {
        let parsed = parse(json!([check(methods.clone()), apicast()]));
        assert!(
            !parsed.warnings.iter().any(|w| w.contains("methods: empty")),
            "{methods:?}: {:?}",
            parsed.warnings
        );
    }
}
