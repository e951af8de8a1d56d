//! Services loaded from 3scale System changing while traffic flows (audit, 2026-12): refreshes
//! that change a service while its authorizations are cached and its calls wait to be
//! reported, and answers from System that are not the answer the filter asked for.
//!
//! Existing coverage not repeated here: boot/refresh/failures (500, garbage, `{}`, reset,
//! 403), paging, pinning (`system_loading.rs`); hosts of refused versions and unreadable
//! entries (`system_hosts.rs`); OIDC discovery (`system_oidc.rs`); pending reports across a
//! new version, a removed service, a removed batcher, a shorter interval and limits across a
//! refresh (`lifecycle_races.rs`); ip_check from System (`ip_check.rs`).
//!
//! Findings (fail on the audited module): the loader does not check an answer against the
//! request it answers (`core/src/config/system.rs` `parse_answer`, `core/src/system/loader.rs`
//! `Loader::on_answer` / `merge`): an account page holding one `proxy_config` is a successful
//! fetch of one service; a per-service answer holding another service installs that one and
//! drops the asked one; an entry of another environment, or an older version listed after the
//! latest, replaces the version that should serve.

mod support;

use e2e::document_server::DocumentServer;
use e2e::mock_backend::Period;
use e2e::system::{self, Failure, Faults, MockSystem, Stored, WithSystem};
use e2e::{wait_steady, wait_until, Request, Response};
use serde_json::{json, Value};
use std::time::Duration;
use support::*;

const SECRET: &str = "x-3scale-proxy-secret-token";

fn backend_block(extra: Value) -> Value {
    let mut backend = json!({"cluster": "threescale_backend", "authority": "backend.example", "timeout_ms": 1000});
    if let (Some(b), Value::Object(extra)) = (backend.as_object_mut(), extra) {
        b.extend(extra);
    }
    backend
}

/// Envoy (2 workers) whose `threescale_system` cluster is the mock System.
fn start_mock(mock: &MockSystem, block: Value, backend: Value) -> Stack {
    let config = json!({"backend": backend_block(backend), "system": block});
    Stack::start_with(config, backend_state(), |b| {
        b.with_system(mock).concurrency(2)
    })
}

/// Envoy (2 workers) whose `threescale_system` cluster answers every request with `doc`'s
/// current document (what a misbehaving System, or a proxy before it, answers).
fn start_doc(doc: &DocumentServer, block: Value) -> Stack {
    let config = json!({"backend": backend_block(json!({})), "system": block});
    Stack::start_with(config, backend_state(), |b| {
        b.extra_cluster(system::CLUSTER, doc.port()).concurrency(2)
    })
}

/// One `proxy_config` as porta answers it.
fn envelope(id: u64, version: u64, environment: &str, content: &Value) -> Value {
    json!({"id": id * 1000 + version, "version": version, "environment": environment, "content": content})
}

fn page(entries: &[Value]) -> String {
    let list: Vec<Value> = entries.iter().map(|e| json!({"proxy_config": e})).collect();
    json!({"proxy_configs": list}).to_string()
}

fn rule(pattern: &str, metric: &str) -> Value {
    json!({"http_method": "GET", "pattern": pattern, "metric_system_name": metric, "delta": 1})
}

fn on(s: &Stack, host: &str, target: &str) -> Response {
    Request::get(target).header("Host", host).send(s.port())
}

fn uk(path: &str) -> String {
    format!("{path}?user_key={USER_KEY}")
}

fn app(path: &str) -> String {
    format!("{path}?app_id={APP_ID}&app_key={APP_KEY}")
}

fn failures(s: &Stack) -> u64 {
    s.envoy
        .stat("wasmcustom.tollgate.config_fetch_failures")
        .unwrap_or(0)
}

/// Upstream requests that carried this secret token.
fn forwarded_with(s: &Stack, secret: &str) -> usize {
    s.echo
        .requests()
        .iter()
        .filter(|r| r.header(SECRET) == Some(secret))
        .count()
}

fn backend_calls(s: &Stack, path: &str) -> usize {
    s.backend
        .requests()
        .iter()
        .filter(|r| r.path == path)
        .count()
}

// ---------------------------------------------------------------------------------------
// Findings: an answer that is not the one asked for replaces the live configuration.
// README "Configuration from 3scale System": "A failed fetch keeps the current configuration:
// ... invalid JSON or no `proxy_configs` ... counted in tollgate.config_fetch_failures".
// `parse_answer` (core/src/config/system.rs) accepts a single `proxy_config` for any request,
// so a page of the account list answered with one service's envelope is a successful fetch
// of that one service, and every other service is removed.
// ---------------------------------------------------------------------------------------

// Guards: an account-list page without `proxy_configs` is a failed fetch (every service stays).
#[test]
fn an_account_page_without_proxy_configs_fails_the_fetch_and_keeps_every_service() {
    let one = service(1, json!("1"), json!({"secret_token": "one-secret"}));
    let two = service(
        2,
        json!("2"),
        json!({"hosts": ["two.example.com"], "secret_token": "two-secret"}),
    );
    let doc = DocumentServer::start(&page(&[
        envelope(1, 1, "production", &one),
        envelope(2, 1, "production", &two),
    ]))
    .unwrap();
    let s = start_doc(&doc, system::block(1));
    assert!(wait_steady(Duration::from_secs(8), || {
        on(&s, "api.example.com", &uk("/")).status == 200
            && on(&s, "two.example.com", &app("/")).status == 200
    }));

    // The account list answered with a per-service envelope (a misrouted path, a proxy).
    let before = failures(&s);
    doc.set(
        200,
        &json!({"proxy_config": envelope(2, 1, "production", &two)}).to_string(),
    );
    let counted = wait_until(Duration::from_secs(6), || failures(&s) > before);
    std::thread::sleep(Duration::from_millis(1500));
    let forwarded = forwarded_with(&s, "one-secret");
    for _ in 0..6 {
        let r = on(&s, "api.example.com", &uk("/"));
        assert_eq!(
            r.status, 200,
            "service 1 is still in 3scale: the answer lacked `proxy_configs`: {r}"
        );
    }
    assert_eq!(forwarded_with(&s, "one-secret"), forwarded + 6);
    assert_eq!(on(&s, "two.example.com", &app("/")).status, 200);
    assert!(
        counted,
        "an account page without `proxy_configs` is a failed fetch (config_fetch_failures)"
    );
}

// Guards: a per-service answer holding another service keeps the asked one, installs no other.
#[test]
fn a_per_service_answer_for_another_service_keeps_the_asked_service() {
    let one = service(1, json!("1"), json!({"secret_token": "one-secret"}));
    let two = service(
        2,
        json!("2"),
        json!({"hosts": ["two.example.com"], "secret_token": "two-secret"}),
    );
    // One document answers every request: first service 2's envelope.
    let doc = DocumentServer::start(
        &json!({"proxy_config": envelope(2, 1, "production", &two)}).to_string(),
    )
    .unwrap();
    let mut block = system::block(1);
    block["services"] = json!(["2"]);
    let s = start_doc(&doc, block);
    assert!(wait_steady(Duration::from_secs(8), || on(
        &s,
        "two.example.com",
        &app("/")
    )
    .status
        == 200));
    // Now the answer to "service 2" is service 1's configuration.
    doc.set(
        200,
        &json!({"proxy_config": envelope(1, 1, "production", &one)}).to_string(),
    );
    std::thread::sleep(Duration::from_secs(3));
    // Service 1 was never asked for (`services: ["2"]`): it must not be served.
    let r = on(&s, "api.example.com", &uk("/"));
    assert_eq!(r.status, 404, "a service not in `services` is served: {r}");
    assert_eq!(forwarded_with(&s, "one-secret"), 0);
    // Service 2's live version stays, as for a 404 or an unreadable answer.
    let r = on(&s, "two.example.com", &app("/"));
    assert_eq!(
        r.status, 200,
        "service 2 was dropped by an answer that was not its own: {r}"
    );
}

// Guards: an account-list entry of another environment (sandbox) never replaces the
// production version (found by an audit, 2026-12-06).
#[test]
fn an_entry_of_another_environment_is_not_served() {
    let prod = service(
        1,
        json!("1"),
        json!({"secret_token": "prod-secret", "proxy_rules": [rule("/$", "hits")]}),
    );
    let staging = service(
        1,
        json!("1"),
        json!({"secret_token": "staging-secret",
               "proxy_rules": [rule("/$", "hits"), rule("/staging-only", "hits")]}),
    );
    let doc = DocumentServer::start(&page(&[
        envelope(1, 1, "production", &prod),
        envelope(1, 2, "sandbox", &staging),
    ]))
    .unwrap();
    let s = start_doc(&doc, system::block(1));
    assert!(wait_steady(Duration::from_secs(8), || on(
        &s,
        "api.example.com",
        &uk("/")
    )
    .status
        == 200));
    let r = on(&s, "api.example.com", &uk("/"));
    assert_eq!(r.status, 200, "{r}");
    assert_eq!(
        r.echo().header(SECRET),
        Some("prod-secret"),
        "the production configuration serves production (the filter asked for production)"
    );
    let r = on(&s, "api.example.com", &uk("/staging-only"));
    assert_eq!(r.status, 404, "a staging-only rule serves production: {r}");
    assert_eq!(forwarded_with(&s, "staging-secret"), 0);
}

// Guards: of two versions of a service in one answer the latest serves, not the one listed
// last (found by an audit, 2026-12-06).
#[test]
fn of_two_versions_in_one_answer_the_latest_serves() {
    let v2 = service(
        1,
        json!("1"),
        json!({"secret_token": "v2-secret", "proxy_rules": [rule("/$", "hits")]}),
    );
    let v1 = service(
        1,
        json!("1"),
        json!({"secret_token": "v1-secret",
               "proxy_rules": [rule("/$", "hits"), rule("/removed-in-v2", "hits")]}),
    );
    // The filter asked `version=latest`; System (or a proxy dropping the query) lists both,
    // newest first.
    let doc = DocumentServer::start(&page(&[
        envelope(1, 2, "production", &v2),
        envelope(1, 1, "production", &v1),
    ]))
    .unwrap();
    let s = start_doc(&doc, system::block(1));
    assert!(wait_steady(Duration::from_secs(8), || on(
        &s,
        "api.example.com",
        &uk("/")
    )
    .status
        == 200));
    let r = on(&s, "api.example.com", &uk("/"));
    assert_eq!(r.echo().header(SECRET), Some("v2-secret"), "{r}");
    let r = on(&s, "api.example.com", &uk("/removed-in-v2"));
    assert_eq!(r.status, 404, "a rule of the older version serves: {r}");
    assert_eq!(forwarded_with(&s, "v1-secret"), 0);
}

// ---------------------------------------------------------------------------------------
// Held: refreshes while authorizations are cached (batching, auths_ttl 60 s) and calls wait
// to be reported. Each change is followed by every new request at once; no cached
// authorization lets an old credential, rule or host through; the upstream gets the new
// secret token only; the calls of each configuration are reported to the service that
// forwarded them, once.
// ---------------------------------------------------------------------------------------

#[test]
fn held_cached_authorizations_do_not_outlive_the_configuration_that_allowed_them() {
    let mock = system::start();
    let one = |version: &str, secret: &str, hosts: Value, extra: Value| {
        let mut proxy = json!({"hosts": hosts, "secret_token": secret,
            "proxy_rules": [rule("/a", "hits"), rule("/b", "get_foo")]});
        if let (Some(p), Value::Object(extra)) = (proxy.as_object_mut(), extra) {
            p.extend(extra);
        }
        service(1, json!(version), proxy)
    };
    let two = |hosts: Value| {
        service(
            2,
            json!("2"),
            json!({"hosts": hosts, "secret_token": "two-v1"}),
        )
    };
    mock.publish(
        Stored::Production,
        one("1", "one-v1", json!(["api.example.com"]), json!({})),
    )
    .unwrap();
    mock.publish(Stored::Production, two(json!(["two.example.com"])))
        .unwrap();
    let s = start_mock(
        &mock,
        system::block(1),
        json!({"batching": {"auths_ttl": 60, "batch_report_seconds": 1}}),
    );
    let api = |target: &str| on(&s, "api.example.com", target);
    assert!(wait_steady(Duration::from_secs(8), || api(&uk("/a"))
        .status
        == 200
        && api(&uk("/b")).status == 200));

    // 1. A new secret token, and the rule of /b (metric get_foo) removed.
    mock.publish(
        Stored::Production,
        one(
            "1",
            "one-v2",
            json!(["api.example.com"]),
            json!({"proxy_rules": [rule("/a", "hits")]}),
        ),
    )
    .unwrap();
    assert!(wait_steady(Duration::from_secs(8), || api(&uk("/b"))
        .status
        == 404));
    for _ in 0..5 {
        let r = api(&uk("/a"));
        assert_eq!(r.status, 200, "{r}");
        assert_eq!(r.echo().header_all(SECRET), vec!["one-v2"]);
        assert_eq!(
            api(&uk("/b")).status,
            404,
            "a removed rule, cached authorization"
        );
    }
    let old_secret = forwarded_with(&s, "one-v1");

    // 2. Credentials moved to headers: the query's key no longer counts, though its
    // authorization is cached.
    mock.publish(
        Stored::Production,
        one(
            "1",
            "one-v3",
            json!(["api.example.com"]),
            json!({"proxy_rules": [rule("/a", "hits")], "credentials_location": "headers"}),
        ),
    )
    .unwrap();
    assert!(wait_steady(Duration::from_secs(8), || api(&uk("/a"))
        .status
        == 401));
    let header = || {
        Request::get("/a")
            .header("Host", "api.example.com")
            .header("user_key", USER_KEY)
            .send(s.port())
    };
    assert_eq!(header().status, 200);

    // 3. backend_version 2: a user_key is no credential any more.
    mock.publish(
        Stored::Production,
        one(
            "2",
            "one-v4",
            json!(["api.example.com"]),
            json!({"proxy_rules": [rule("/a", "hits")]}),
        ),
    )
    .unwrap();
    assert!(wait_steady(Duration::from_secs(8), || api(&uk("/a"))
        .status
        == 401
        && header().status == 401));
    let asked = backend_calls(&s, "/transactions/authorize.xml");
    for _ in 0..5 {
        let r = api(&uk("/a"));
        assert_eq!(r.status, 401, "{r}");
        assert_eq!(header().status, 401);
    }
    assert_eq!(backend_calls(&s, "/transactions/authorize.xml"), asked);

    // 4. The host moved to service 2 (app_id/app_key): its calls are service 2's.
    mock.publish(
        Stored::Production,
        one(
            "1",
            "one-v5",
            json!(["one.example.com"]),
            json!({"proxy_rules": [rule("/a", "hits")]}),
        ),
    )
    .unwrap();
    mock.publish(
        Stored::Production,
        two(json!(["two.example.com", "api.example.com"])),
    )
    .unwrap();
    assert!(wait_steady(Duration::from_secs(8), || api(&app("/"))
        .status
        == 200
        && api(&uk("/a")).status == 401));
    for _ in 0..3 {
        let r = api(&app("/"));
        assert_eq!(r.echo().header_all(SECRET), vec!["two-v1"], "{r}");
    }
    assert_eq!(on(&s, "one.example.com", &uk("/a")).status, 200);

    // Nothing forwarded under an old secret after its version was replaced.
    assert_eq!(forwarded_with(&s, "one-v1"), old_secret);
    // Every forwarded call reported once, to the service that forwarded it.
    let one_total: usize = ["one-v1", "one-v2", "one-v3", "one-v4", "one-v5"]
        .iter()
        .map(|t| forwarded_with(&s, t))
        .sum();
    let get_foo = s
        .echo
        .requests()
        .iter()
        .filter(|r| r.path_only() == "/b")
        .count() as u64;
    let two_total = forwarded_with(&s, "two-v1") as u64;
    assert_eq!(
        forwarded_with(&s, "one-v4"),
        0,
        "nothing passed as backend_version 2"
    );
    let counted = || {
        (
            s.backend.counter("1", "app-1", "hits", Period::Eternity),
            s.backend.counter("1", "app-1", "get_foo", Period::Eternity),
            s.backend.counter("2", APP_ID, "hits", Period::Eternity),
        )
    };
    let want = (one_total as u64, get_foo, two_total);
    wait_until(Duration::from_secs(10), || counted() == want);
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(counted(), want, "(service 1 hits, get_foo, service 2 hits)");
    assert_eq!(s.echo.request_count(), one_total + two_total as usize);
}

// ---------------------------------------------------------------------------------------
// Held: bad answers not covered by system_loading.rs (a truncated body; with `services`, one
// service's request failing or answered `{}`) keep the whole current configuration.
// ---------------------------------------------------------------------------------------

#[test]
fn held_bad_answers_for_one_service_keep_every_service() {
    let mock = system::start();
    mock.publish(
        Stored::Production,
        service(1, json!("1"), json!({"secret_token": "one"})),
    )
    .unwrap();
    mock.publish(
        Stored::Production,
        service(
            2,
            json!("2"),
            json!({"hosts": ["two.example.com"], "secret_token": "two"}),
        ),
    )
    .unwrap();
    let mut block = system::block(1);
    block["services"] = json!(["1", "2"]);
    let s = start_mock(&mock, block, json!({}));
    let both = || {
        on(&s, "api.example.com", &uk("/")).status == 200
            && on(&s, "two.example.com", &app("/")).status == 200
    };
    assert!(wait_steady(Duration::from_secs(8), both));
    for failure in [
        Failure::Truncated,
        Failure::Status(500),
        Failure::Empty,
        Failure::Garbage,
    ] {
        let before = failures(&s);
        mock.set_faults(Faults {
            failure,
            path: Some("/admin/api/services/2/".to_string()),
            ..Faults::default()
        });
        assert!(
            wait_until(Duration::from_secs(8), || failures(&s) > before),
            "{failure:?} not counted as a failed fetch"
        );
        for _ in 0..4 {
            assert!(both(), "{failure:?}: a service stopped serving");
        }
        mock.fail(Failure::Normal);
    }
}

// ---------------------------------------------------------------------------------------
// Held: an OIDC service whose new version names another issuer endpoint does not keep the old
// issuer's keys (nor its cached authorization) while the new issuer cannot be discovered.
// ---------------------------------------------------------------------------------------

fn oidc_service(endpoint: &str) -> Value {
    json!({
        "id": 5, "backend_version": "oauth", "system_name": "oidc-5",
        "backend_authentication_type": "service_token", "backend_authentication_value": TOKEN,
        "proxy": {"hosts": ["api.example.com"], "authentication_method": "oidc",
            "oidc_issuer_endpoint": endpoint, "secret_token": "oidc-secret",
            "proxy_rules": [rule("/", "hits")]}
    })
}

#[test]
fn held_a_new_issuer_endpoint_drops_the_old_issuers_keys_and_cached_authorizations() {
    use e2e::jwt::{now, Signer};
    use e2e::system::Realm;
    let mock = system::start();
    let (old_key, new_key) = (Signer::rs256("old-1"), Signer::rs256("new-1"));
    let realm = |s: &Signer| Realm {
        jwks: Signer::jwks(&[s]),
        credentials: Some("zync:s3cr3t".to_string()),
    };
    mock.set_realm("api", realm(&old_key));
    mock.publish(
        Stored::Production,
        oidc_service("https://zync:s3cr3t@sso.example.com/auth/realms/api"),
    )
    .unwrap();
    let mut block = system::block(1);
    block["issuer_clusters"] = json!({"sso.example.com": "sso"});
    let config = json!({
        "backend": backend_block(json!({"batching": {"auths_ttl": 60, "batch_report_seconds": 1}})),
        "system": block
    });
    let s = Stack::start_with(config, oidc_state(), |b| {
        b.with_system(&mock)
            .extra_cluster("sso", mock.port())
            .concurrency(2)
    });
    let token = |signer: &Signer, realm: &str| {
        signer.token(
            &json!({"iss": format!("https://sso.example.com/auth/realms/{realm}"),
            "azp": "client-1", "sub": "user-1", "aud": "account", "exp": now() + 300}),
        )
    };
    let call = |t: &str| {
        Request::get("/")
            .header("Host", "api.example.com")
            .header("Authorization", &format!("Bearer {t}"))
            .send(s.port())
    };
    let old = token(&old_key, "api");
    assert!(wait_steady(Duration::from_secs(8), || call(&old).status == 200));

    // The service moves to realm `moved`, which the issuer does not serve yet (404).
    mock.publish(
        Stored::Production,
        oidc_service("https://zync:s3cr3t@sso.example.com/auth/realms/moved"),
    )
    .unwrap();
    assert!(wait_steady(Duration::from_secs(8), || call(&old).status == 403));
    let forwarded = s.echo.request_count();
    for _ in 0..6 {
        let r = call(&old);
        assert_eq!(r.status, 403, "{r}");
    }
    assert_eq!(
        s.echo.request_count(),
        forwarded,
        "the old issuer's token got through"
    );

    // The new realm comes up: its tokens pass, the old realm's still do not.
    mock.set_realm("moved", realm(&new_key));
    let new = token(&new_key, "moved");
    assert!(wait_steady(Duration::from_secs(10), || call(&new).status == 200));
    assert_eq!(call(&old).status, 403);
    let reported = || s.backend.counter("5", "client-1", "hits", Period::Eternity);
    let want = s.echo.request_count() as u64;
    wait_until(Duration::from_secs(8), || reported() == want);
    assert_eq!(reported(), want, "every forwarded call reported once");
}
