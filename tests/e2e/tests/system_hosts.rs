//! Hosts of services from 3scale System: an audit (2026-12-05, sixteenth session, module s16a)
//! of configuration loaded from 3scale System, and OpenID Connect services with 3scale (their
//! tokens' findings are in oidc_claims.rs), that lets a request through that should be refused, serves it with
//! the wrong service, or silently drops configuration that would block traffic. Each
//! `finding_*` test fails on the audited module and asserts what a safe filter must do (what
//! APIcast does, or what the README promises); `held_*` tests pass and keep a probe that held.
//!
//! Findings, fixed (each `finding_*` failed on s16a):
//! - a refused new version keeps its old version live WITH the old hosts, so a host System
//!   has given to another service is still served by the old one (`core/src/system/loader.rs`
//!   `Loader::finish`, `core/src/config/mod.rs` `Config::with_fetched`/`install`);
//! - a refused new version whose old version stays live does not hold the hosts the refused
//!   version lists, so a later service gets them (same place);
//! - with the account list, an entry that cannot be read (a key twice in its content) drops
//!   the service's live version and hands its host to the next service listing it
//!   (`Loader::on_answer`, `keep_installed` is only called for per-service requests);
//! - a pinned version System does not have (404) is replaced by the latest version from the
//!   account list (`Loader::on_answer` 404 arm: `keep_installed` keeps the page's latest);
//! - OIDC services from System accepted Keycloak ID tokens (`typ: "ID"`) as access tokens,
//!   and tokens without `sub` or `aud`, which APIcast's `oauth/oidc.lua` refuses (now in
//!   oidc_claims.rs).
//!
//! - (2026-12-06) an unreadable entry of a service never live left its hosts to a later
//!   service (`an_unreadable_entry_of_a_service_never_live_holds_its_host`).
//!
//! Held (probed, not kept as tests unless listed below):
//! - two services swapping hosts in one refresh, both valid: each host is served by its new
//!   service at once (kept: `held_two_services_swapping_hosts_in_one_refresh`);
//! - a Host with another case, a port or a trailing dot (`api.example.com.`, which nginx
//!   strips, since 2026-12-07) selects the host as nginx reads it; never another service
//!   (kept: `held_host_spellings`);
//! - a page that is garbage, truncated, `{}`, 500 or a reset keeps the current
//!   configuration (system_loading.rs covers it);
//! - unknown policies, a builtin name with another version or case, `apicast.policy.rate_limit`,
//!   an `ip_check` without `ips` or with a misspelt `check_type`, `jwt_claim_check` without
//!   `rules`: the fetched service is skipped and its hosts held (404) (read in
//!   `core/src/config/policies`);
//! - `error_status_auth_failed: "403"`, `credentials_location: "header"`, an unknown
//!   `backend_authentication_type`: skipped with the hosts held; an empty `secret_token`
//!   sends none (as nginx); `backend_version` `2`/`"2"` alike, `"OAUTH"` is loaded as
//!   unusable (401 for every request);
//! - an OIDC issuer URL with credentials in it: sent only to discovery, never logged;
//!   a token from another issuer or realm: 403 (system_oidc.rs covers the issuer check);
//! - the OAuth authrep's `app_id` is exactly the token's client id, one percent-encoded
//!   parameter (`&app_id=` inside it adds none), a list's first element (kept in
//!   oidc_claims.rs: `held_oidc_client_id_is_one_percent_encoded_app_id`).
//!
//! Not tested here, noted: with `system.services`, a service System answers 404 for (deleted,
//! or no longer visible to the token) keeps serving its last version indefinitely (README
//! documents it; APIcast drops it at the next reload); with the account list, a deploy during
//! a paginated fetch can move a service from page 2 to page 1 after page 1 was read, so it is
//! missing from that fetch and dropped until the next one (APIcast has the same race).

mod support;

use e2e::document_server::DocumentServer;
use e2e::system::{self, MockSystem, Stored, WithSystem};
use e2e::{wait_steady, wait_until, Request, Response};
use serde_json::{json, Value};
use std::time::Duration;
use support::refusals::describe;
use support::*;

const API: &str = "api.example.com";

fn on(port: u16, host: &str, target: &str) -> Response {
    Request::get(target).header("Host", host).send(port)
}

fn user_key() -> String {
    format!("/?user_key={USER_KEY}")
}

fn app_creds() -> String {
    format!("/?app_id={APP_ID}&app_key={APP_KEY}")
}

/// Envoy (2 workers) loading its services from `mock` with this `system` block.
fn serve(mock: &MockSystem, block: Value) -> Stack {
    let config = json!({
        "backend": {"cluster": "threescale_backend", "authority": "backend.example", "timeout_ms": 1000},
        "system": block
    });
    Stack::start_with(config, backend_state(), |b| {
        b.with_system(mock).concurrency(2)
    })
}

/// Service 1 (user_key) on api.example.com and service 2 (app_id/app_key) on
/// two.example.com, both at version 1.
fn publish_one_and_two(mock: &MockSystem) {
    mock.publish(
        Stored::Production,
        service(1, json!(1), json!({"hosts": [API]})),
    )
    .unwrap();
    mock.publish(
        Stored::Production,
        service(2, json!(2), json!({"hosts": ["two.example.com"]})),
    )
    .unwrap();
}

/// A chain with a policy Tollgate refuses (Edge Limiting): the fetched version is skipped.
fn refused_chain() -> Value {
    json!([
        {"name": "rate_limit", "configuration": {"fixed_window_limiters": [
            {"key": {"name": "per-service", "scope_type": "service"}, "count": 1, "window": 60}]}},
        {"name": "apicast"}
    ])
}

/// `ip_check` letting only 203.0.113.7 in (the tests' client is 127.0.0.1).
fn ip_check_chain() -> Value {
    json!([
        {"name": "ip_check", "configuration": {"check_type": "whitelist", "ips": ["203.0.113.7"]}},
        {"name": "apicast"}
    ])
}

/// Status, and whether the upstream answered (the echo's body is long).
fn short(r: &Response) -> String {
    match r.from_echo() {
        true => format!("{} (forwarded to the upstream)", r.status),
        false => describe(r),
    }
}

fn debug_service_id(port: u16, host: &str, target: &str) -> String {
    let r = Request::get(target)
        .header("Host", host)
        .header("X-3scale-Debug", TOKEN)
        .send(port);
    format!(
        "{} (service {:?}, config version {:?})",
        short(&r),
        r.header("x-3scale-service-id"),
        r.header("x-3scale-config-version")
    )
}

// ---------------------------------------------------------------------------------------
// A refused new version keeps its old version live (README "Never all-or-nothing"), and with
// it the old version's hosts: hosts System has moved to another service stay with the old one.

/// System (account list, ordered by row id as porta's `order(:id)`): service 1 v1 on
/// api.example.com (user_key), service 2 v1 on two.example.com. Then service 1 v2 moves to
/// one.example.com and adds Edge Limiting (refused: v1 stays live), and service 2 v2 takes
/// api.example.com behind an `ip_check` that denies this client. APIcast serves
/// api.example.com with service 2 (`ip_check`: 403). Tollgate serves it with service 1's
/// old version: service 1's key reaches the API System gave to service 2, past its ip_check.
#[test]
fn finding_a_kept_old_version_does_not_keep_a_host_system_gave_to_another_service() {
    let mock = system::start();
    publish_one_and_two(&mock);
    let s = serve(&mock, system::block(1));
    let port = s.port();
    assert!(
        wait_steady(Duration::from_secs(8), || on(port, API, &user_key()).status
            == 200),
        "service 1 never served {API}"
    );

    mock.publish(
        Stored::Production,
        service(
            1,
            json!(1),
            json!({"hosts": ["one.example.com"], "policy_chain": refused_chain()}),
        ),
    )
    .unwrap();
    mock.publish(
        Stored::Production,
        service(
            2,
            json!(2),
            json!({"hosts": [API], "policy_chain": ip_check_chain()}),
        ),
    )
    .unwrap();
    assert!(s.envoy.wait_for_log(
        "service 2 (service-2): production configuration version 1 -> 2",
        Duration::from_secs(8)
    ));
    assert!(s.envoy.wait_for_log("stays live", Duration::from_secs(2)));
    // Both workers run the new generation: service 2 no longer answers two.example.com.
    assert!(wait_steady(Duration::from_secs(4), || on(
        port,
        "two.example.com",
        &app_creds()
    )
    .status
        == 404));

    let upstream_before = s.echo.request_count();
    let r = on(port, API, &user_key());
    assert_ne!(
        r.status,
        200,
        "System now gives {API} to service 2 (whose ip_check denies this client; APIcast: 403), \
         service 1 moved to one.example.com; Tollgate served service 1's key there with service \
         1's old version: {}",
        debug_service_id(port, API, &user_key())
    );
    assert_eq!(
        s.echo.request_count(),
        upstream_before,
        "the upstream was reached"
    );
}

/// System (`system.services: [1, 2]`, so in that order): service 1 v1 on api.example.com,
/// service 2 on two.example.com (app_id/app_key). Service 1 v2 lists both hosts and adds Edge
/// Limiting (refused: v1 stays live). Service 1 is the first service listing two.example.com:
/// APIcast serves it with service 1 (user_key: service 2's application gets 401); README: "a
/// skipped service keeps its hosts ... a later service listing the same host does not get it".
/// Tollgate keeps service 1's old version, which does not list two.example.com, so service 2
/// keeps serving it with its own credentials, without service 1's policies.
#[test]
fn finding_a_refused_version_holds_its_hosts_even_when_an_old_version_stays_live() {
    let mock = system::start();
    publish_one_and_two(&mock);
    let mut block = system::block(1);
    block["services"] = json!(["1", "2"]);
    let s = serve(&mock, block);
    let port = s.port();
    assert!(
        wait_steady(Duration::from_secs(8), || on(
            port,
            "two.example.com",
            &app_creds()
        )
        .status
            == 200),
        "service 2 never served two.example.com"
    );

    mock.publish(
        Stored::Production,
        service(
            1,
            json!(1),
            json!({"hosts": [API, "two.example.com"], "policy_chain": refused_chain()}),
        ),
    )
    .unwrap();
    assert!(s.envoy.wait_for_log(
        "policy_chain[0]: policy rate_limit (builtin) can block or change traffic",
        Duration::from_secs(8)
    ));
    assert!(s
        .envoy
        .wait_for_log("version 1 stays live", Duration::from_secs(2)));
    std::thread::sleep(Duration::from_millis(1500));

    let upstream_before = s.echo.request_count();
    let r = on(port, "two.example.com", &app_creds());
    assert_ne!(
        r.status,
        200,
        "service 1 (first in System's order) now lists two.example.com and its version that \
         does is refused: the host must be held (404) or served by service 1, never by \
         service 2; Tollgate: {}",
        debug_service_id(port, "two.example.com", &app_creds())
    );
    assert_eq!(
        s.echo.request_count(),
        upstream_before,
        "the upstream was reached"
    );
}

// ---------------------------------------------------------------------------------------
// Account list: an entry that cannot be read drops the service's live version (the
// per-service requests keep it), and its host goes to the next service listing it.

fn entry(row: u64, version: u64, content: &Value) -> String {
    json!({"proxy_config": {"id": row, "version": version, "environment": "production",
        "content": content}})
    .to_string()
}

/// System (served verbatim): service 1 (user_key) and service 2 (app_id/app_key), both
/// listing api.example.com; service 1 is first and owns it. The next answer carries
/// service 1's entry at version 2 with `system_name` written twice (same value): Tollgate
/// reads the entry as unreadable and drops service 1 altogether (its id, 1, is right there),
/// so service 2 takes api.example.com and its application is served. With
/// `system.services` the same entry keeps version 1 live; README: "if an earlier version was
/// live, it stays live" and "a skipped service keeps its hosts".
#[test]
fn finding_an_unreadable_account_entry_keeps_the_live_version_and_its_host() {
    let one = service(1, json!(1), json!({"hosts": [API]}));
    let two = service(2, json!(2), json!({"hosts": [API]}));
    let page = |first: String| format!("{{\"proxy_configs\":[{first},{}]}}", entry(12, 1, &two));
    let doc = DocumentServer::start(&page(entry(11, 1, &one))).unwrap();
    let config = json!({
        "backend": {"cluster": "threescale_backend", "authority": "backend.example", "timeout_ms": 1000},
        "system": system::block(1)
    });
    let s = Stack::start_with(config, backend_state(), |b| {
        b.extra_cluster(system::CLUSTER, doc.port()).concurrency(2)
    });
    let port = s.port();
    assert!(
        wait_steady(Duration::from_secs(8), || on(port, API, &user_key()).status
            == 200),
        "service 1 never served {API}"
    );
    assert_eq!(
        on(port, API, &app_creds()).status,
        401,
        "service 1 owns {API}: service 2's application is auth missing"
    );

    let twice = entry(21, 2, &one).replacen(
        "\"system_name\":\"service-1\"",
        "\"system_name\":\"service-1\",\"system_name\":\"service-1\"",
        1,
    );
    assert_eq!(twice.matches("\"system_name\"").count(), 2, "{twice}");
    doc.set(200, &page(twice));
    assert!(s
        .envoy
        .wait_for_log("entry skipped", Duration::from_secs(8)));
    std::thread::sleep(Duration::from_millis(1500));

    let upstream_before = s.echo.request_count();
    let r = on(port, API, &app_creds());
    assert_ne!(
        r.status,
        200,
        "service 1 (live at version 1, its new entry unreadable) owns {API}; Tollgate dropped \
         it and served service 2's application there: {}",
        debug_service_id(port, API, &app_creds())
    );
    assert_eq!(
        s.echo.request_count(),
        upstream_before,
        "the upstream was reached"
    );
    let r = on(port, API, &user_key());
    assert_eq!(
        r.status,
        200,
        "service 1's live version should keep serving its key: {}",
        describe(&r)
    );
}

/// First load (service 1 never live): service 1's entry has `system_name` twice (unreadable),
/// service 2 (app_id/app_key) lists api.example.com after it. The host stays service 1's:
/// refused (404), not served by service 2 (found by an audit, 2026-12-06: service 2's
/// application reached the upstream). Once the entry can be read, service 1 serves.
#[test]
fn an_unreadable_entry_of_a_service_never_live_holds_its_host() {
    let one = service(1, json!(1), json!({"hosts": [API]}));
    let two = service(2, json!(2), json!({"hosts": [API, "two.example.com"]}));
    let page = |first: String| format!("{{\"proxy_configs\":[{first},{}]}}", entry(12, 1, &two));
    let twice = entry(11, 1, &one).replacen(
        "\"system_name\":\"service-1\"",
        "\"system_name\":\"service-1\",\"system_name\":\"service-1\"",
        1,
    );
    assert_eq!(twice.matches("\"system_name\"").count(), 2, "{twice}");
    let doc = DocumentServer::start(&page(twice)).unwrap();
    let config = json!({
        "backend": {"cluster": "threescale_backend", "authority": "backend.example", "timeout_ms": 1000},
        "system": system::block(1)
    });
    let s = Stack::start_with(config, backend_state(), |b| {
        b.extra_cluster(system::CLUSTER, doc.port()).concurrency(2)
    });
    let port = s.port();
    assert!(
        wait_steady(Duration::from_secs(8), || on(
            port,
            "two.example.com",
            &app_creds()
        )
        .status
            == 200),
        "service 2 never served two.example.com"
    );
    let upstream_before = s.echo.request_count();
    for target in [app_creds(), user_key()] {
        let r = on(port, API, &target);
        assert_eq!(
            r.status,
            404,
            "{API} is service 1's (its entry unreadable): {}",
            describe(&r)
        );
    }
    assert_eq!(
        s.echo.request_count(),
        upstream_before,
        "the upstream was reached"
    );
    doc.set(200, &page(entry(11, 1, &one)));
    assert!(
        wait_steady(Duration::from_secs(8), || on(port, API, &user_key()).status
            == 200),
        "service 1 never served {API}"
    );
    assert_eq!(on(port, API, &app_creds()).status, 401);
}

// ---------------------------------------------------------------------------------------
// Pinned versions (APICAST_SERVICE_${ID}_CONFIGURATION_VERSION) with the account list.

/// Sandbox versions 1 and 2 of service 1; version 2 is promoted to production (production
/// has only version 2: porta keeps the number, so production's versions have gaps). The
/// operator pins version 1, read from the staging history. System answers 404 for production
/// version 1. APIcast (pinned mode) skips the service: its host is 404. Tollgate keeps the
/// latest version the account page returned and serves it: a configuration the operator
/// pinned away from, here with a rule (`/b`) version 1 does not have.
#[test]
fn finding_a_pinned_version_system_lacks_is_not_replaced_by_the_latest() {
    let mock = system::start();
    let rule = |p: &str| json!({"http_method": "GET", "pattern": p, "metric_system_name": "hits", "delta": 1});
    mock.publish(
        Stored::Sandbox,
        service(1, json!(1), json!({"proxy_rules": [rule("/a")]})),
    )
    .unwrap();
    mock.publish(
        Stored::Sandbox,
        service(
            1,
            json!(1),
            json!({"proxy_rules": [rule("/a"), rule("/b")]}),
        ),
    )
    .unwrap();
    mock.promote(1, Stored::Sandbox, 2, Stored::Production)
        .unwrap();
    let mut block = system::block(60);
    block["versions"] = json!({"1": 1});
    let s = serve(&mock, block);
    let port = s.port();
    let b = format!("/b?user_key={USER_KEY}");
    assert!(
        wait_until(Duration::from_secs(8), || on(port, API, &b).status != 503),
        "the configuration never loaded"
    );
    assert!(s.envoy.wait_for_log(
        "service 1 not found in 3scale System (404)",
        Duration::from_secs(4)
    ));
    std::thread::sleep(Duration::from_millis(600));
    let r = on(port, API, &b);
    assert_eq!(
        r.status,
        404,
        "service 1 is pinned to production version 1, which System does not have: not to be \
         served (APIcast skips it), never at another version; Tollgate: {}",
        debug_service_id(port, API, &b)
    );
    assert_eq!(s.echo.request_count(), 0, "the upstream was reached");
}

// ---------------------------------------------------------------------------------------
// Probes that held.

/// Two services swap their hosts in one refresh (both versions valid): each host is served
/// by its new service, with its credentials, once both workers install the generation.
#[test]
fn held_two_services_swapping_hosts_in_one_refresh() {
    let mock = system::start();
    let publish = |one: &str, two: &str| {
        mock.publish(
            Stored::Production,
            service(1, json!(1), json!({"hosts": [one]})),
        )
        .unwrap();
        mock.publish(
            Stored::Production,
            service(2, json!(2), json!({"hosts": [two]})),
        )
        .unwrap();
    };
    publish(API, "two.example.com");
    let mut block = system::block(1);
    block["services"] = json!(["1", "2"]);
    let s = serve(&mock, block);
    let port = s.port();
    assert!(wait_steady(Duration::from_secs(8), || {
        on(port, API, &user_key()).status == 200
            && on(port, "two.example.com", &app_creds()).status == 200
    }));
    publish("two.example.com", API);
    assert!(
        wait_steady(Duration::from_secs(6), || {
            on(port, API, &app_creds()).status == 200
                && on(port, "two.example.com", &user_key()).status == 200
        }),
        "the swap never took effect"
    );
    for (host, target, service_id) in [
        (API, app_creds(), "2"),
        ("two.example.com", user_key(), "1"),
    ] {
        let r = Request::get(&target)
            .header("Host", host)
            .header("X-3scale-Debug", TOKEN)
            .send(s.port());
        assert_eq!(
            r.header("x-3scale-service-id"),
            Some(service_id),
            "{host}: {r}"
        );
    }
    assert_eq!(
        on(port, API, &user_key()).status,
        401,
        "service 1's key on service 2's host"
    );
    assert_eq!(on(port, "two.example.com", &app_creds()).status, 401);
}

/// Host spellings from the client: case, port and a trailing dot (which nginx strips) select
/// the service, and the upstream gets the Host without the dot; another host selects none.
#[test]
fn held_host_spellings() {
    let mock = system::start();
    mock.publish(
        Stored::Production,
        service(1, json!(1), json!({"hosts": [API]})),
    )
    .unwrap();
    let s = serve(&mock, system::block(60));
    let port = s.port();
    assert!(wait_steady(Duration::from_secs(8), || on(
        port,
        API,
        &user_key()
    )
    .status
        == 200));
    for host in [
        "API.Example.COM",
        "api.example.com:8443",
        "Api.Example.Com:80",
        "api.example.com.",
        "api.example.com.:80",
    ] {
        let r = on(port, host, &user_key());
        assert_eq!(r.status, 200, "{host}: {r}");
    }
    let hosts: Vec<String> = (s.echo.requests().iter().rev().take(2))
        .map(|r| r.header("host").unwrap_or_default().to_string())
        .collect();
    assert_eq!(hosts, ["api.example.com:80", "api.example.com"]);
    let before = s.echo.request_count();
    for host in ["api.example.com..", "example.com"] {
        let r = Request::get(&user_key())
            .header("Host", host)
            .try_send(s.port());
        if let Ok(r) = r {
            assert_ne!(r.status, 200, "{host:?}: {r}");
        }
    }
    assert_eq!(s.echo.request_count(), before);
}
