//! Public access, natively: `authentication.mode: none` and `public_paths` in every mode.
//! What the decision is (forward, which reply), what is forwarded (the secret token, the
//! upstream rewrite, debug headers), and that no backend call or report follows.

use super::fake_envoy::{decide_with_form, Headers};
use super::*;
use crate::cache::MemoryStore;
use serde_json::{json, Value};

struct Clock;
impl super::Clock for Clock {
    fn now_ms(&self) -> Option<u64> {
        Some(1_000_000)
    }
}

const RULES: &str = r#"[
    {"http_method": "GET", "pattern": "/v1", "metric_system_name": "hits", "delta": 1},
    {"http_method": "POST", "pattern": "/v1", "metric_system_name": "hits", "delta": 1}
]"#;

/// One service in `auth`'s mode, with a secret token and `/health`, `/docs/` public.
fn config(service: Value, batching: bool) -> Config {
    let mut backend = json!({"cluster": "backend"});
    if batching {
        backend["batching"] = json!({"batch_report_seconds": 1});
    }
    let mut s = json!({
        "id": "42", "system_name": "api",
        "backend_authentication_type": "service_token", "backend_authentication_value": "st",
        "proxy": {"hosts": ["api"], "secret_token": "s3cret", "error_status_no_match": 411,
                  "proxy_rules": serde_json::from_str::<Value>(RULES).unwrap()}
    });
    if let (Value::Object(s), Value::Object(extra)) = (&mut s, service) {
        s.extend(extra);
    }
    let v = json!({"backend": backend, "services": [s]});
    Config::parse(v.to_string().as_bytes()).unwrap().config
}

fn public(mode: &str) -> Value {
    json!({"authentication": {"mode": mode, "public_paths": ["/health", "/docs/"]}})
}

/// Every mode with a public path: 3scale user_key (v1), app_id (v2), local, and JWT.
fn every_mode() -> Vec<(&'static str, Value)> {
    let key = json!({"id": "bob", "hash": "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"});
    #[cfg_attr(not(feature = "jwt"), allow(unused_mut))]
    let mut modes = vec![
        (
            "user_key",
            json!({"backend_version": 1, "authentication": {"public_paths": ["/health", "/docs/"]}}),
        ),
        (
            "app_id",
            json!({"backend_version": 2, "authentication": {"public_paths": ["/health", "/docs/"]}}),
        ),
        (
            "local",
            json!({"authentication": {"mode": "local", "public_paths": ["/health", "/docs/"],
                                            "api_keys": {"header": "x-api-key", "keys": [key]}}}),
        ),
    ];
    #[cfg(feature = "jwt")]
    modes.push((
        "jwt",
        json!({"authentication": {"mode": "local", "public_paths": ["/health", "/docs/"],
            "jwt": {"jwks": {"keys": [{"kty": "oct", "kid": "k", "k": "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA"}]}}}}),
    ));
    modes
}

fn decide(
    config: &Config,
    method: &str,
    path: &str,
    headers: &[(&'static str, &'static str)],
) -> Result<Next, LocalReply> {
    decide_with_form(config, method, path, headers, "")
}

fn forwarded(next: Result<Next, LocalReply>) -> Forward {
    match next {
        Ok(Next::Forward(f)) => f,
        Ok(Next::Backend(m)) => panic!("backend call {}", m.authrep_call().path),
        Err(reply) => panic!("reply {reply:?}"),
    }
}

fn status(next: Result<Next, LocalReply>) -> (u16, Outcome) {
    match next {
        Err(reply) => (reply.status, reply.outcome),
        Ok(Next::Forward(f)) => panic!("forwarded {f:?}"),
        Ok(Next::Backend(m)) => panic!("backend call {}", m.authrep_call().path),
    }
}

fn secret_token() -> Vec<(String, String)> {
    vec![("x-3scale-proxy-secret-token".into(), "s3cret".into())]
}

#[test]
fn public_paths_pass_without_credentials_in_every_mode() {
    for (mode, service) in every_mode() {
        let c = config(service, false);
        for path in [
            "/health",
            "/health/",
            "/health/deep/x?user_key=ignored",
            "/%68ealth",
            "/docs/x",
        ] {
            let f = forwarded(decide(&c, "GET", path, &[]));
            assert!(f.public, "{mode} {path}");
            assert_eq!(f.headers_set(), secret_token(), "{mode} {path}");
            assert!(f.response_headers.is_empty());
        }
        // A leading `//` is a host to URL parsers (`//health/admin`: host `health`, path
        // `/admin`): the upstream gets the path the prefix matched.
        for (path, upstream) in [("//health", "/health"), ("//health/admin", "/health/admin")] {
            let f = forwarded(decide(&c, "GET", path, &[]));
            assert!(f.public, "{mode} {path}");
            let mut expected = secret_token();
            expected.insert(0, (":path".into(), upstream.into()));
            assert_eq!(f.headers_set(), expected, "{mode} {path}");
        }
        // Every method, and a path no mapping rule matches.
        assert!(
            forwarded(decide(&c, "DELETE", "/health", &[])).public,
            "{mode}"
        );
        // Not public: outside the prefixes, a segment past them, another case, or a prefix
        // whose trailing slash the path lacks. Credentials are needed, as without public_paths.
        for path in [
            "/healthz",
            "/Health",
            "/HEALTH/x",
            "/docs",
            "/v1",
            "/x/health",
        ] {
            assert_eq!(
                status(decide(&c, "GET", path, &[])),
                (401, Outcome::AuthMissing),
                "{mode} {path}"
            );
        }
        // Paths an upstream could read apart from the rules are refused before any of this.
        for path in [
            "/health/../private",
            "/health%2F..%2Fprivate",
            "/health/..;/private",
            "/health%5C..%5Cprivate",
        ] {
            assert_eq!(
                status(decide(&c, "GET", path, &[])),
                (400, Outcome::BadRequest),
                "{mode} {path}"
            );
        }
    }
}

#[test]
fn wrong_credentials_on_a_public_path_do_not_fail_it() {
    // A wrong key or token on a public path is not looked at, so it cannot fail the request.
    for (mode, service) in every_mode() {
        let c = config(service, false);
        let wrong = [
            ("x-api-key", "wrong"),
            ("authorization", "Bearer not.a.jwt"),
        ];
        let f = forwarded(decide(
            &c,
            "GET",
            "/health?user_key=x&app_id=y&app_key=z",
            &wrong,
        ));
        assert!(f.public, "{mode}");
    }
}

/// A public path's form `POST` is read, for a `_method` only (`jwt_claim_check` tells methods
/// apart there: found by an audit); a `PUT`'s is not.
#[test]
fn a_public_form_post_is_read_for_a_method_only() {
    let c = config(
        json!({"backend_version": 1, "authentication": {"public_paths": ["/health"]}}),
        false,
    );
    let head = RequestHead {
        method: "POST",
        authority: "api",
        path: "/health",
        now_s: 0,
    };
    let form = Headers(vec![("content-type", "application/x-www-form-urlencoded")]);
    let mut public = begin(&c, head, &form).unwrap();
    assert!(public.wants_body());
    public.add_form_body(b"user_key=x&_method=DELETE");
    assert_eq!(
        public.authorize().err(),
        Some(LocalReply::method_override())
    );
    let mut public = begin(&c, head, &form).unwrap();
    public.add_form_body(b"user_key=x&a=1");
    assert!(
        forwarded(public.authorize()).public,
        "credentials are not read"
    );
    // CakePHP reads a `_method` in a `PUT` form body too (found by an audit, 2026-12-07);
    // nothing reads one in a `GET`'s.
    let put = RequestHead {
        method: "PUT",
        ..head
    };
    assert!(begin(&c, put, &form).unwrap().wants_body());
    let get = RequestHead {
        method: "GET",
        ..head
    };
    assert!(!begin(&c, get, &form).unwrap().wants_body());
    let head = RequestHead {
        path: "/v1",
        ..head
    };
    assert!(begin(&c, head, &form).unwrap().wants_body());
}

#[test]
fn header_secrets_still_guard_public_paths() {
    let c = config(
        json!({"backend_version": 1, "authentication": {"public_paths": ["/health"],
        "header_secrets": [{"path_prefix": "/health/internal", "header": "x-s", "secret": "pw"}]}}),
        false,
    );
    assert!(forwarded(decide(&c, "GET", "/health", &[])).public);
    assert_eq!(
        status(decide(&c, "GET", "/health/internal", &[])),
        (403, Outcome::AuthFailed)
    );
    assert!(forwarded(decide(&c, "GET", "/health/internal", &[("x-s", "pw")])).public);
}

#[test]
fn header_secret_prefixes_are_compared_normalised_and_ambiguous_ones_refused() {
    let c = config(
        json!({"backend_version": 1, "authentication": {"public_paths": ["/"],
        "header_secrets": [{"path_prefix": "/my docs", "header": "x-s", "secret": "pw"},
                           {"path_prefix": "//caf\u{e9}", "header": "x-s", "secret": "pw"}]}}),
        false,
    );
    for path in [
        "/my%20docs/a",
        "/my docs/a",
        "/caf%C3%A9/menu",
        "//caf%c3%a9",
    ] {
        assert_eq!(
            status(decide(&c, "GET", path, &[])),
            (403, Outcome::AuthFailed),
            "{path}"
        );
        assert!(forwarded(decide(&c, "GET", path, &[("x-s", "pw")])).public);
    }
    for prefix in ["/a/../admin", "/a%2Fb", "/a?x", "/a;b"] {
        let v = json!({"backend": {"cluster": "b"}, "services": [{"id": "1",
            "authentication": {"mode": "none", "header_secrets": [
                {"path_prefix": prefix, "header": "x-s", "secret": "pw"}]},
            "proxy": {"hosts": ["api"]}}]});
        let e = (Config::parse(v.to_string().as_bytes()).err())
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("header_secrets[0].path_prefix"), "{prefix}: {e}");
    }
}

#[test]
fn mode_none_forwards_matched_requests_and_answers_no_match() {
    let c = config(json!({"authentication": {"mode": "none"}}), false);
    let f = forwarded(decide(&c, "GET", "/v1/x?user_key=ignored", &[]));
    assert!(f.public);
    assert_eq!(f.headers_set(), secret_token());
    assert_eq!(
        status(decide(&c, "GET", "/other", &[])),
        (411, Outcome::NoMatch)
    );
    assert_eq!(
        status(decide(&c, "PUT", "/v1", &[])),
        (411, Outcome::NoMatch)
    );
    // Public paths need no rule in mode none either.
    let c = config(public("none"), false);
    assert!(forwarded(decide(&c, "PUT", "/health", &[])).public);
    // Without rules, as local mode, every path goes through.
    let v = json!({"backend": {"cluster": "b"}, 
        "services": [{"id": "1", "authentication": {"mode": "none"}, "proxy": {"hosts": ["api"]}}]});
    let c = Config::parse(v.to_string().as_bytes()).unwrap().config;
    assert!(forwarded(decide(&c, "GET", "/anything", &[])).public);
}

#[test]
fn debug_headers_and_the_upstream_rewrite_apply_to_public_requests() {
    let mut service = public("none");
    service["proxy"] = json!({"hosts": ["api"], "secret_token": "s3cret", "api_backend": "https://up.internal/base",
        "proxy_rules": serde_json::from_str::<Value>(RULES).unwrap()});
    let c = config(service, false);
    let f = forwarded(decide(&c, "GET", "/v1?a=1", &[("x-3scale-debug", "st")]));
    assert_eq!(
        f.headers_set(),
        vec![
            (":authority".to_string(), "up.internal".to_string()),
            (":path".to_string(), "/base/v1?a=1".to_string()),
            (
                "x-3scale-proxy-secret-token".to_string(),
                "s3cret".to_string()
            ),
        ]
    );
    let debug: Vec<(&str, &str)> = f
        .response_headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(
        debug,
        vec![
            ("x-3scale-matched-rules", "/v1"),
            ("x-3scale-credentials", ""),
            ("x-3scale-usage", ""),
            ("x-3scale-service-id", "42"),
            ("x-3scale-service-name", "api"),
        ]
    );
    let f = forwarded(decide(&c, "GET", "/health", &[("x-3scale-debug", "st")]));
    assert_eq!(
        f.response_headers.first(),
        Some(&("x-3scale-matched-rules".to_string(), String::new()))
    );
    assert!(
        forwarded(decide(&c, "GET", "/health", &[("x-3scale-debug", "wrong")]))
            .response_headers
            .is_empty()
    );
}

#[test]
fn no_backend_call_and_no_report_in_either_backend_mode() {
    for batching in [false, true] {
        for service in [public("3scale"), public("none")] {
            let mut service = service;
            service["backend_version"] = json!(1);
            let c = std::rc::Rc::new(config(service, batching));
            let mut worker = Worker::new(c, Box::new(MemoryStore::default()), Box::new(Clock));
            let line = RequestLine {
                method: "GET",
                authority: "api",
                path: "/health",
            };
            let steps = worker.on_request_headers(1, line, &Headers(Vec::new()), true);
            assert!(steps.proceed);
            assert!(
                matches!(
                    &steps.list[..],
                    [Step::Forward {
                        request: 1,
                        resume: false,
                        public: true,
                        ..
                    }]
                ),
                "{:?}",
                steps.list
            );
            assert_eq!(worker.requests_remembered(), 0);
            // Reports come from the tick; a public request leaves nothing to report.
            for _ in 0..8 {
                assert!(worker.on_tick().list.is_empty());
            }
        }
    }
}

#[test]
fn configuration_refuses_what_mode_none_could_not_enforce() {
    let refused = |service: Value| {
        let v = json!({"backend": {"cluster": "b"}, "services": [service]});
        Config::parse(v.to_string().as_bytes())
            .unwrap_err()
            .to_string()
    };
    let e = refused(json!({"id": "1", "authentication": {"mode": "nobody"}}));
    assert!(e.starts_with("services[0].authentication.mode: unknown mode \"nobody\" (expected 3scale, local, local+3scale or none)"), "{e}");
    for extra in [
        json!({"https_only": true}),
        json!({"signed_urls": {"secret": "a-signing-secret-of-32-bytes-abc"}}),
        json!({"basic_users": []}),
    ] {
        let mut auth = json!({"mode": "none"});
        if let (Value::Object(a), Value::Object(x)) = (&mut auth, extra) {
            a.extend(x);
        }
        let e = refused(json!({"id": "1", "authentication": auth}));
        assert!(
            e.starts_with("services[0].authentication.mode: none reads no credentials"),
            "{e}"
        );
    }
    let rule =
        json!({"http_method": "GET", "pattern": "/", "metric_system_name": "hits", "delta": 1});
    let mut guarded = rule.clone();
    guarded["roles"] = json!(["admin"]);
    let e = refused(
        json!({"id": "1", "authentication": {"mode": "none"}, "proxy": {"proxy_rules": [rule, guarded]}}),
    );
    assert!(
        e.starts_with(
            "services[0].proxy.proxy_rules[1]: namespace and roles need a locally authenticated caller"
        ),
        "{e}"
    );
    // A 3scale service has no local caller either (found by an audit).
    let mut guarded = rule.clone();
    guarded["namespace"] = json!("admin");
    let e = refused(
        json!({"id": "1", "backend_version": "1", "proxy": {"proxy_rules": [rule.clone(), guarded]}}),
    );
    assert!(
        e.starts_with("services[0].proxy.proxy_rules[1]: namespace and roles need a locally"),
        "{e}"
    );
    let e = refused(json!({"id": "1", "authentication": {"public_paths": ["/ok", "health"]}}));
    assert_eq!(
        e,
        "services[0].authentication.public_paths[1]: must start with /"
    );
}

#[test]
fn a_rule_requirement_under_a_public_path_is_refused() {
    let key = json!({"id": "bob", "hash": "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"});
    let parse = |pattern: &str, public: Value| {
        let rules = json!([
            {"http_method": "GET", "pattern": "/", "metric_system_name": "hits", "delta": 1},
            {"http_method": "GET", "pattern": pattern, "metric_system_name": "hits", "delta": 1,
             "namespace": "admin"}
        ]);
        let service = json!({"id": "1", "proxy": {"proxy_rules": rules},
            "authentication": {"mode": "local", "public_paths": public,
                               "api_keys": {"header": "x-api-key", "keys": [key]}}});
        let v = json!({"backend": {"cluster": "b"}, "services": [service]});
        Config::parse(v.to_string().as_bytes()).map_err(|e| e.to_string())
    };
    // Every path the rule matches is public: its grant would never be checked.
    for (pattern, public) in [
        ("/docs/admin", json!(["/docs/"])),
        ("/docs/{id}$", json!(["/health", "/docs/"])),
        ("/health$", json!(["/health"])),
        ("//health/{x}", json!(["/health"])),
        ("/{anything}", json!(["/"])),
    ] {
        let e = parse(pattern, public.clone()).map(|_| ()).unwrap_err();
        assert!(
            e.starts_with(
                "services[0].proxy.proxy_rules[1]: its namespace or roles would never be checked"
            ),
            "{pattern} {public}: {e}"
        );
    }
    // A rule only partly public keeps its requirement elsewhere: the public path is the
    // listed exception.
    for (pattern, public) in [
        ("/{id}", json!(["/docs/"])),
        ("/docs", json!(["/docs/"])),
        ("/healthz", json!(["/health"])),
        ("/a/{x}", json!(["/a/b"])),
        // `/health` and `/doc{id}` also match `/healthz` and `/docs-admin` (found by a review).
        ("/health", json!(["/health"])),
        ("/doc{id}", json!(["/doc"])),
    ] {
        assert!(parse(pattern, public.clone()).is_ok(), "{pattern} {public}");
    }
}

/// Without a backend (`mode: none`, `local`) a matched rule is enough: a `delta` of 0 has no
/// usage to report, but still tells a covered path from an unmapped one. With 3scale it is no
/// match (APIcast drops a total of 0, and answers no match to an empty usage).
#[test]
fn a_zero_delta_rule_matches_without_a_backend_and_is_no_match_with_one() {
    let rules =
        json!([{"http_method": "GET", "pattern": "/v1", "metric_system_name": "hits", "delta": 0}]);
    let key = json!({"id": "bob", "hash": "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"});
    let with = |auth: Value| {
        let mut service = json!({"authentication": auth});
        service["proxy"] = json!({"hosts": ["api"], "secret_token": "s3cret", "error_status_no_match": 411,
            "proxy_rules": rules.clone()});
        config(service, false)
    };
    let open = with(json!({"mode": "none"}));
    forwarded(decide(&open, "GET", "/v1", &[]));
    assert_eq!(status(decide(&open, "GET", "/v2", &[])).1, Outcome::NoMatch);
    let local = with(json!({"mode": "local", "api_keys": {"header": "x-api-key", "keys": [key]}}));
    forwarded(decide(&local, "GET", "/v1", &[("x-api-key", "abc")]));
    let three_scale = {
        let mut service = json!({"backend_version": 1});
        service["proxy"] =
            json!({"hosts": ["api"], "error_status_no_match": 411, "proxy_rules": rules});
        config(service, false)
    };
    assert_eq!(
        status(decide(&three_scale, "GET", "/v1?user_key=k", &[])),
        (411, Outcome::NoMatch)
    );
}
