//! Audit (2026-12-06) of the access-phase policies that can block traffic, through real
//! Envoy: `jwt_claim_check` (path encodings, method overrides), `maintenance_mode`, and both
//! with `ip_check` in every mode (a batching cache hit, a local service). Each test asserts
//! what the client got, what the upstream (echo) received and what the mock backend was
//! asked.

mod support;

use e2e::jwt::{now, Signer};
use e2e::mock_backend::{App, Service};
use e2e::Request;
use serde_json::{json, Value};
use support::access_policies::{apicast, ip_check, send, IP_DENIED};
use support::*;

// ---------------------------------------------------------------------------------------
// jwt_claim_check
// ---------------------------------------------------------------------------------------

const ISSUER: &str = "https://idp.example.com/realms/demo";

fn signer() -> Signer {
    Signer::hs256(b"0123456789abcdef0123456789abcdef-claims", "hs-1")
}

fn token(role: &str) -> String {
    signer().token(
        &json!({"iss": ISSUER, "azp": "client-1", "sub": "u", "aud": "account",
        "exp": now() + 300, "role": role}),
    )
}

fn claims_stack(before: bool) -> Stack {
    let check = json!({"name": "jwt_claim_check", "configuration": {
        "error_message": "admins only",
        "rules": [{"resource": "/admin", "methods": ["GET", "DELETE"],
                   "operations": [{"jwt_claim": "role", "jwt_claim_type": "plain", "op": "==", "value": "admin"}]}]}});
    let chain = if before {
        json!([check, apicast()])
    } else {
        json!([apicast(), check])
    };
    let svc = json!({
        "id": 5, "backend_version": "oauth",
        "backend_authentication_type": "service_token", "backend_authentication_value": TOKEN,
        "authentication": {"jwt": {"jwks": Signer::jwks(&[&signer()]), "issuer": ISSUER}},
        "proxy": {"hosts": ["api.example.com"], "authentication_method": "oidc",
            "policy_chain": chain,
            "proxy_rules": [{"http_method": "ANY", "pattern": "/", "metric_system_name": "hits", "delta": 1}]}
    });
    Stack::start_with(config(vec![svc]), oidc_state(), |b| b.concurrency(2))
}

/// A guest must not reach `/admin` through another spelling of the path an upstream reads as
/// `/admin` (percent-encoded letters, dot segments, doubled slashes, a trailing `;`), nor
/// through a method override, with the check before or after `apicast`.
#[test]
fn a_claim_rule_is_not_dodged_with_path_encodings_or_method_overrides() {
    for before in [true, false] {
        let s = claims_stack(before);
        let guest = token("guest");
        let admin = token("admin");
        let bearer = |t: &str| format!("Bearer {t}");
        let r = send(
            &s,
            Request::get("/admin/x").header("Authorization", &bearer(&admin)),
        );
        assert_eq!(r.status, 200, "{r}");
        let mut through = Vec::new();
        for target in [
            "/admin",
            "/%61dmin",
            "/%41DMIN",
            "//admin",
            "/./admin",
            "/x/../admin",
            "/admin;x",
            "/%2e/admin",
            "/admin%2Fx",
        ] {
            let r = send(
                &s,
                Request::get(target).header("Authorization", &bearer(&guest)),
            );
            if r.from_echo() {
                through.push(format!("GET {target} → upstream {}", r.echo().path));
            }
        }
        for (method, header, value) in [
            ("POST", "X-HTTP-Method-Override", "DELETE"),
            ("POST", "x-http-method", "delete"),
            ("POST", "X_Method-Override", "DELETE"),
        ] {
            let r = send(
                &s,
                Request::new(method, "/admin")
                    .header("Authorization", &bearer(&guest))
                    .header(header, value),
            );
            if r.from_echo() {
                through.push(format!("{method} with {header}: {value} → upstream"));
            }
        }
        for target in [
            "/admin?_method=DELETE",
            "/admin?_METHOD=delete",
            "/admin?x=1&.method=DELETE",
        ] {
            let r = send(
                &s,
                Request::post(target).header("Authorization", &bearer(&guest)),
            );
            if r.from_echo() {
                through.push(format!("POST {target} → upstream"));
            }
        }
        let r = send(
            &s,
            Request::post("/admin")
                .header("Authorization", &bearer(&guest))
                .form(&[("_method", "DELETE")]),
        );
        if r.from_echo() {
            through.push("POST form _method=DELETE → upstream".into());
        }
        // `/%41DMIN` is `/ADMIN`, another path for a case-sensitive upstream: only those that
        // an upstream reads as /admin count.
        through.retain(|t| !t.contains("/%41DMIN"));
        assert!(through.is_empty(), "before {before}: {through:#?}");
        // Denials never reached the backend.
        assert_eq!(
            s.backend.requests().len(),
            s.echo.request_count(),
            "before {before}: only forwarded requests were authorized"
        );
    }
}

// ---------------------------------------------------------------------------------------
// maintenance_mode
// ---------------------------------------------------------------------------------------

/// `maintenance_mode` answers before credentials (even valid ones), in batching mode after
/// a cache hit too, and a condition of plain values that holds answers every request.
#[test]
fn maintenance_answers_before_a_cached_authorization_and_with_a_holding_condition() {
    let maint = |cond: Option<Value>| {
        let mut c = json!({"status": 503, "message": "down"});
        if let Some(cond) = cond {
            c["condition"] = cond;
        }
        json!({"name": "maintenance_mode", "configuration": c})
    };
    let holds = json!({"combine_op": "or", "operations": [
        {"left": "a", "op": "==", "right": "b"},
        {"left": "abc", "op": "matches", "right": "b"}]});
    let services = vec![
        service(
            1,
            json!("1"),
            json!({"hosts": ["m1.example.com"], "policy_chain": [apicast(), maint(None)]}),
        ),
        {
            let mut s = service(
                3,
                json!("1"),
                json!({"hosts": ["m3.example.com"], "policy_chain": [maint(Some(holds)), apicast()]}),
            );
            s["id"] = json!(3);
            s
        },
    ];
    let mut cfg = config(services);
    cfg["backend"]["batching"] = json!({"auths_ttl": 60, "batch_report_seconds": 1});
    let state = backend_state()
        .service(
            Service::new("3")
                .token(TOKEN)
                .backend_version("1")
                .metric("hits", None),
        )
        .app(App::new("3", "app-3").user_key(USER_KEY).plan("Basic"));
    let s = Stack::start_with(cfg, state, |b| b.concurrency(2));
    for host in ["m1.example.com", "m3.example.com"] {
        for target in [
            format!("/things?user_key={USER_KEY}"),
            "/things".to_string(),
        ] {
            let r = Request::get(&target).header("Host", host).send(s.port());
            assert_eq!(
                (r.status, r.body.as_str()),
                (503, "down\n"),
                "{host}{target}: {r}"
            );
            assert!(!r.from_echo());
        }
    }
    assert_eq!(s.echo.request_count(), 0);
    assert!(
        s.backend.requests().is_empty(),
        "{:?}",
        s.backend.requests()
    );
}

// ---------------------------------------------------------------------------------------
// Every mode: a batching cache hit does not skip an access-phase policy after `apicast`
// ---------------------------------------------------------------------------------------

/// With batching, the first request of a credential is a miss (authorize), the next ones
/// hits answered from the cache at the request headers. An `ip_check` (source
/// X-Forwarded-For) and a `jwt_claim_check` after `apicast` must deny on a hit as on a miss.
#[test]
fn policies_after_apicast_deny_on_a_batching_cache_hit() {
    let check = json!({"name": "jwt_claim_check", "configuration": {
        "rules": [{"resource": "/admin", "methods": ["ANY"],
                   "operations": [{"jwt_claim": "role", "jwt_claim_type": "plain", "op": "==", "value": "admin"}]}]}});
    let oidc = json!({
        "id": 5, "backend_version": "oauth",
        "backend_authentication_type": "service_token", "backend_authentication_value": TOKEN,
        "authentication": {"jwt": {"jwks": Signer::jwks(&[&signer()]), "issuer": ISSUER}},
        "proxy": {"hosts": ["oidc.example.com"], "authentication_method": "oidc",
            "policy_chain": [apicast(), check],
            "proxy_rules": [{"http_method": "ANY", "pattern": "/", "metric_system_name": "hits", "delta": 1}]}
    });
    let ip = service(
        1,
        json!("1"),
        json!({"hosts": ["ip.example.com"], "policy_chain": [
        apicast(),
        ip_check("blacklist", json!(["6.6.6.0/24"]), Some(json!(["X-Forwarded-For"])))]}),
    );
    let mut cfg = config(vec![oidc, ip]);
    cfg["backend"]["batching"] = json!({"auths_ttl": 60, "batch_report_seconds": 1});
    let state = backend_state()
        .service(
            Service::new("5")
                .token(TOKEN)
                .backend_version("oauth")
                .metric("hits", None),
        )
        .app(App::new("5", "client-1").plan("Basic"));
    let s = Stack::start_with(cfg, state, |b| b.concurrency(1));
    let p = s.port();
    let ip_get = |xff: &str| {
        Request::get(&format!("/things?user_key={USER_KEY}"))
            .header("Host", "ip.example.com")
            .header("X-Forwarded-For", xff)
            .send(p)
    };
    let claims_get = |path: &str, role: &str| {
        Request::get(path)
            .header("Host", "oidc.example.com")
            .header("Authorization", &format!("Bearer {}", token(role)))
            .send(p)
    };
    // Warm both cache entries.
    for _ in 0..2 {
        assert_eq!(ip_get("9.9.9.9").status, 200);
        assert_eq!(claims_get("/admin", "admin").status, 200);
        assert_eq!(claims_get("/other", "guest").status, 200);
    }
    let asked = s
        .backend
        .requests()
        .iter()
        .filter(|c| c.path != "/transactions.xml")
        .count();
    // Hits: denied.
    for _ in 0..2 {
        let r = ip_get("6.6.6.7");
        assert_eq!((r.status, r.body.as_str()), (403, IP_DENIED), "{r}");
        let r = claims_get("/admin", "guest");
        assert_eq!(
            (r.status, r.body.as_str()),
            (403, "Request blocked due to JWT claim policy\n"),
            "{r}"
        );
    }
    // A miss (a key never seen) with a denied address: denied too, and nothing asked.
    let r = Request::get("/things?user_key=uk-disabled")
        .header("Host", "ip.example.com")
        .header("X-Forwarded-For", "6.6.6.8")
        .send(p);
    assert_eq!((r.status, r.body.as_str()), (403, IP_DENIED), "{r}");
    assert_eq!(
        s.echo.request_count(),
        6,
        "only the warm-up reached the upstream"
    );
    let asked_after = s
        .backend
        .requests()
        .iter()
        .filter(|c| c.path != "/transactions.xml")
        .count();
    assert_eq!(asked, asked_after, "hits ask nothing");
    // The reports count only the forwarded requests.
    assert!(
        e2e::wait_until(std::time::Duration::from_secs(5), || {
            s.backend
                .logged()
                .iter()
                .map(|l| {
                    l.usage
                        .iter()
                        .map(|(_, v)| v.parse::<u64>().unwrap_or(0))
                        .sum::<u64>()
                })
                .sum::<u64>()
                == 6
        }),
        "{:?}",
        s.backend.logged()
    );
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let total: u64 = s
        .backend
        .logged()
        .iter()
        .map(|l| {
            l.usage
                .iter()
                .map(|(_, v)| v.parse::<u64>().unwrap_or(0))
                .sum::<u64>()
        })
        .sum();
    assert_eq!(total, 6, "denied requests are not reported");
}

// ---------------------------------------------------------------------------------------
// Local mode: no backend, the policies still hold
// ---------------------------------------------------------------------------------------

const LOCAL_KEY: &str = "local-key-0123456789abcdef";

/// A locally authenticated service (API keys, no 3scale backend): an `ip_check` before or
/// after `apicast` and a `maintenance_mode` after it deny a caller with a valid key.
#[test]
fn local_mode_services_enforce_ip_check_and_maintenance_wherever_they_stand() {
    use tollgate_core::auth::digest::stored_form;
    let local = |id: u64, host: &str, chain: Value| {
        json!({
            "id": id,
            "authentication": {"mode": "local", "api_keys": {"header": "X-API-Key", "keys": [
                {"id": "k", "hash": stored_form(LOCAL_KEY)}]}},
            "proxy": {"hosts": [host], "secret_token": "local-secret", "policy_chain": chain,
                "proxy_rules": [{"http_method": "ANY", "pattern": "/", "metric_system_name": "hits", "delta": 1}]}
        })
    };
    let cfg = config(vec![
        local(
            11,
            "a.local",
            json!([
                ip_check("blacklist", json!(["127.0.0.0/8"]), None),
                apicast()
            ]),
        ),
        local(
            12,
            "b.local",
            json!([
                apicast(),
                ip_check("blacklist", json!(["127.0.0.0/8"]), None)
            ]),
        ),
        local(
            13,
            "c.local",
            json!([apicast(), {"name": "maintenance_mode"}]),
        ),
        local(
            14,
            "d.local",
            json!([
                apicast(),
                ip_check("whitelist", json!(["127.0.0.1/32"]), None)
            ]),
        ),
    ]);
    let s = Stack::start_with(cfg, backend_state(), |b| b.use_remote_address());
    let get = |host: &str, key: Option<&str>| {
        let r = Request::get("/x").header("Host", host);
        match key {
            Some(k) => r.header("X-API-Key", k),
            None => r,
        }
        .send(s.port())
    };
    let r = get("d.local", Some(LOCAL_KEY));
    assert_eq!(r.status, 200, "control: {r}");
    assert_eq!(
        r.echo().header("x-3scale-proxy-secret-token"),
        Some("local-secret")
    );
    for host in ["a.local", "b.local"] {
        let r = get(host, Some(LOCAL_KEY));
        assert_eq!((r.status, r.body.as_str()), (403, IP_DENIED), "{host}: {r}");
    }
    // Before apicast: denied before the credentials check; after it, 401 first.
    assert_eq!(get("a.local", None).status, 403);
    assert_eq!(get("b.local", None).status, 401);
    assert_eq!(get("b.local", Some("wrong")).status, 403);
    let r = get("c.local", Some(LOCAL_KEY));
    assert_eq!(
        (r.status, r.body.as_str()),
        (503, "Service Unavailable - Maintenance\n"),
        "{r}"
    );
    assert_eq!(
        s.echo.request_count(),
        1,
        "only the control reached the upstream"
    );
    assert!(s.backend.requests().is_empty());
}
