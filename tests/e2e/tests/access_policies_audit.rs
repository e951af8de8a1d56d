//! Audit (2026-12-06) of the access-phase policies that can block traffic: `ip_check`,
//! `maintenance_mode`, `default_credentials`, `3scale_referrer` and `jwt_claim_check`, through
//! real Envoy. Each test asserts what the client got, what the upstream (echo) received and
//! what the mock backend was asked.

mod support;

use e2e::jwt::{now, Signer};
use e2e::mock_backend::{App, Period, Service, State};
use e2e::{Request, Response};
use serde_json::{json, Value};
use support::*;

const IP_DENIED: &str = "IP address not allowed\n";

fn apicast() -> Value {
    json!({"name": "apicast"})
}

fn send(s: &Stack, r: Request) -> Response {
    r.header("Host", "api.example.com").send(s.port())
}

// ---------------------------------------------------------------------------------------
// default_credentials
// ---------------------------------------------------------------------------------------

fn anonymous_v1(batching: bool) -> Stack {
    let v1 = json!({"name": "default_credentials", "configuration": {
        "auth_type": "user_key", "user_key": USER_KEY}});
    let mut cfg = config(vec![service(
        1,
        json!("1"),
        json!({"policy_chain": [v1, apicast()],
        "proxy_rules": [{"http_method": "ANY", "pattern": "/", "metric_system_name": "hits", "delta": 1}]}),
    )]);
    if batching {
        cfg["backend"]["batching"] = json!({"auths_ttl": 60, "batch_report_seconds": 1});
    }
    Stack::start_with(cfg, backend_state(), |b| b.concurrency(2))
}

/// The user_keys the backend was asked about (authreps and authorizes).
fn asked_keys(s: &Stack) -> Vec<String> {
    s.backend
        .requests()
        .iter()
        .filter(|c| c.path != "/transactions.xml")
        .filter_map(|c| c.param("user_key").map(str::to_string))
        .collect()
}

/// A `user_key` in a spelling an upstream reads as `user_key` (PHP's `user.key`/`user key`,
/// Rack's and `qs`'s `user_key[]`) is a credential the request carries: Tollgate refuses a
/// valid key beside a different spelled one as ambiguous (README, "Security": "the upstream
/// cannot read another key or app id than the one authorized"), and ambiguous_args.rs fixed
/// the same hole for a header credential with `default_credentials`. Alone, in the query or
/// a form body, it must not make the request anonymous: the default app is authorized and
/// charged while the upstream reads the client's (unknown, revoked or over-limit) key.
// FINDING: a spelled-only user_key with default_credentials is replaced by the default key; the upstream reads the client's key
// (now: carried, so no defaults: auth missing, 401, as without the policy)
#[test]
fn default_credentials_do_not_replace_a_user_key_in_a_spelling_the_upstream_reads() {
    let mut leaks = Vec::new();
    for batching in [false, true] {
        let s = anonymous_v1(batching);
        // Control: truly anonymous.
        let r = send(&s, Request::get("/things"));
        assert_eq!(r.status, 200, "batching {batching}: {r}");
        for target in [
            "/things?user.key=uk-someone-else",
            "/things?user_key[]=uk-someone-else",
            "/things?user%20key=uk-someone-else",
        ] {
            let r = send(&s, Request::get(target));
            if r.from_echo() || r.status != 401 {
                leaks.push(format!("batching {batching}: GET {target}: {}", r.status));
            }
        }
        let r = send(
            &s,
            Request::post("/things").form(&[("user.key", "uk-someone-else")]),
        );
        if r.from_echo() || r.status != 401 {
            leaks.push(format!(
                "batching {batching}: POST form user.key: {}",
                r.status
            ));
        }
        leaks.push(format!(
            "  (batching {batching}: backend asked about {:?})",
            asked_keys(&s)
        ));
    }
    // Version 2: an app_id and app_key only in such spellings.
    let v2 = json!({"name": "default_credentials", "configuration": {
        "auth_type": "app_id_and_app_key", "app_id": APP_ID, "app_key": APP_KEY}});
    let cfg = config(vec![service(
        2,
        json!("2"),
        json!({"policy_chain": [v2, apicast()]}),
    )]);
    let s = Stack::start_with(cfg, backend_state(), |b| b);
    assert_eq!(send(&s, Request::get("/things")).status, 200, "control");
    let r = send(&s, Request::get("/things?app.id=someone&app[key]=else"));
    if r.from_echo() || r.status != 401 {
        leaks.push(format!(
            "v2: GET ?app.id=someone&app[key]=else: {} (upstream saw {}; backend asked about app_id {:?})",
            r.status,
            r.echo().path,
            s.authreps().iter().map(|c| c.param("app_id").map(str::to_string)).collect::<Vec<_>>()
        ));
    }
    let real: Vec<_> = leaks.iter().filter(|l| !l.starts_with("  (")).collect();
    assert!(
        real.is_empty(),
        "anonymous (the default app authorized and charged) while the upstream read the \
         client's own key:\n{}",
        leaks.join("\n")
    );
}

/// Credentials a request carries are never replaced, in every spelling nginx and Tollgate
/// read as the arg (case, percent-encoded name) and in a form body: the wrong key is asked
/// about and refused, in authrep and batching modes (hit and miss).
#[test]
fn default_credentials_never_replace_a_wrong_key_in_any_exact_spelling_or_a_form_body() {
    for batching in [false, true] {
        let s = anonymous_v1(batching);
        // Warm the cache with the default key (batching: the next anonymous call is a hit).
        for _ in 0..2 {
            assert_eq!(send(&s, Request::get("/things")).status, 200);
        }
        for target in [
            "/things?USER_KEY=wrong-1",
            "/things?user%5Fkey=wrong-2",
            "/things?User_Key=wrong-3&x=1",
        ] {
            let r = send(&s, Request::get(target));
            assert_eq!(
                (r.status, r.body.as_str()),
                (403, "Authentication failed"),
                "batching {batching}: {target}: {r}"
            );
            assert!(!r.from_echo());
        }
        let r = send(
            &s,
            Request::post("/things").form(&[("user_key", "wrong-4")]),
        );
        assert_eq!(r.status, 403, "batching {batching}: form: {r}");
        assert_eq!(s.echo.request_count(), 2, "batching {batching}");
        let keys = asked_keys(&s);
        for k in ["wrong-1", "wrong-2", "wrong-3", "wrong-4"] {
            assert!(
                keys.iter().any(|x| x == k),
                "batching {batching}: {k} asked: {keys:?}"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------
// ip_check
// ---------------------------------------------------------------------------------------

fn ip_check(check: &str, ips: Value, sources: Option<Value>) -> Value {
    let mut c = json!({"check_type": check, "ips": ips});
    if let Some(s) = sources {
        c["client_ip_sources"] = s;
    }
    json!({"name": "apicast.policy.ip_check", "configuration": c})
}

fn ip_stack(chains: Vec<Value>, remote: bool) -> Stack {
    let services = chains
        .into_iter()
        .enumerate()
        .map(|(i, chain)| {
            // Service ids 3.. (backend_state's service 2 is an app_id one).
            let id = i as u64 + 3;
            let mut s = service(
                1,
                json!("1"),
                json!({"policy_chain": chain,
                "hosts": [format!("s{}.example.com", i + 1)]}),
            );
            s["id"] = json!(id);
            s["system_name"] = json!(format!("service-{id}"));
            s
        })
        .collect();
    let mut state = backend_state();
    for id in 3..=8 {
        state = state
            .service(
                Service::new(&id.to_string())
                    .token(TOKEN)
                    .backend_version("1")
                    .metric("hits", None),
            )
            .app(
                App::new(&id.to_string(), &format!("app-{id}"))
                    .user_key(USER_KEY)
                    .plan("Basic"),
            );
    }
    Stack::start_with(config(services), state, |b| {
        let b = b.concurrency(2);
        if remote {
            b.use_remote_address()
        } else {
            b
        }
    })
}

fn on(id: usize, r: Request) -> Request {
    r.header("Host", &format!("s{id}.example.com"))
}

fn keyed(id: usize) -> Request {
    on(id, Request::get(&format!("/things?user_key={USER_KEY}")))
}

/// Envoy's default (`use_remote_address: false`) takes `source.address` from the last
/// `X-Forwarded-For` element: an IPv4-mapped IPv6 spelling of a blacklisted address, or a
/// second header line, must not slip past a `last_caller` blacklist; a whitelist written as
/// an IPv4-mapped block covers IPv4 clients; `/0` and `/32` edges hold.
#[test]
fn last_caller_from_envoys_forwarded_address_in_mapped_and_odd_spellings() {
    let s = ip_stack(
        vec![
            json!([
                ip_check("blacklist", json!(["127.0.0.0/8", "10.0.0.1/32"]), None),
                apicast()
            ]),
            json!([
                ip_check("whitelist", json!(["::ffff:0:0/96"]), None),
                apicast()
            ]),
            json!([ip_check("whitelist", json!(["0.0.0.0/0"]), None), apicast()]),
            json!([ip_check("blacklist", json!(["::/0"]), None), apicast()]),
        ],
        false,
    );
    let p = s.port();
    // 1: the client's address as Envoy derives it from the last XFF element.
    for xff in [
        "6.6.6.6, ::ffff:127.0.0.1",
        "6.6.6.6, ::ffff:10.0.0.1",
        "6.6.6.6,10.0.0.1",
        "[::ffff:10.0.0.1]:80",
    ] {
        let r = keyed(1).header("X-Forwarded-For", xff).send(p);
        assert!(
            !r.from_echo() && r.status >= 400,
            "blacklisted client via XFF {xff:?}: {r}"
        );
    }
    // Two header lines: Envoy joins them; the last element is the address.
    let r = keyed(1)
        .header("X-Forwarded-For", "6.6.6.6")
        .header("X-Forwarded-For", "127.0.0.1")
        .send(p);
    assert_eq!((r.status, r.body.as_str()), (403, IP_DENIED), "{r}");
    let r = keyed(1).header("X-Forwarded-For", "6.6.6.6").send(p);
    assert_eq!(r.status, 200, "{r}");
    // 2: a mapped block is the IPv4 world; 3: /0 is every IPv4 client.
    assert_eq!(keyed(2).send(p).status, 200);
    assert_eq!(
        keyed(2)
            .header("X-Forwarded-For", "2001:db8::1")
            .send(p)
            .status,
        403
    );
    assert_eq!(keyed(3).send(p).status, 200);
    assert_eq!(
        keyed(3)
            .header("X-Forwarded-For", "2001:db8::1")
            .send(p)
            .status,
        403
    );
    // 4: `::/0` is every IPv6 client, no IPv4 one (README).
    assert_eq!(keyed(4).send(p).status, 200);
    assert_eq!(
        keyed(4)
            .header("X-Forwarded-For", "2001:db8::1")
            .send(p)
            .status,
        403
    );
    assert_eq!(
        s.echo.request_count(),
        4,
        "only the allowed requests reached the upstream"
    );
    assert_eq!(s.authreps().len(), 4, "denials never reach the backend");
}

/// `X-Real-IP` as a source: repeated lines with different values are denied, by a blacklist
/// too (whose line is the client's depends on whether the proxy in front appends or
/// prepends; the twenty-third session's audit), and a value with spaces or a port.
#[test]
fn x_real_ip_source_repeated_and_padded() {
    let s = ip_stack(
        vec![json!([
            ip_check(
                "blacklist",
                json!(["1.2.3.0/24", "2001:db8::/32"]),
                Some(json!(["X-Real-IP"]))
            ),
            apicast()
        ])],
        true,
    );
    let p = s.port();
    for (values, denied) in [
        (vec!["1.2.3.4"], true),
        (vec![" 1.2.3.4 "], true),
        (vec!["1.2.3.4:99"], true),
        (vec!["[2001:db8::1]:99"], true),
        (vec!["1.2.3.4", "9.9.9.9"], true),
        (vec!["9.9.9.9", "1.2.3.4"], true),
        (vec!["9.9.9.9", "9.9.9.9"], false),
        (vec!["9.9.9.9"], false),
    ] {
        let r = values
            .iter()
            .fold(keyed(1), |r, v| r.header("X-Real-IP", v))
            .send(p);
        if denied {
            assert_eq!(
                (r.status, r.body.as_str()),
                (403, IP_DENIED),
                "{values:?}: {r}"
            );
        } else {
            assert_eq!(r.status, 200, "{values:?}: {r}");
        }
    }
    assert_eq!(s.echo.request_count(), 2);
    assert_eq!(s.authreps().len(), 2);
}

// ---------------------------------------------------------------------------------------
// 3scale_referrer
// ---------------------------------------------------------------------------------------

fn referrer_stack(batching: bool) -> Stack {
    let state = State::new()
        .service(
            Service::new("1")
                .token(TOKEN)
                .backend_version("1")
                .referrer_filters_required(true)
                .metric("hits", None),
        )
        .app(
            App::new("1", "shop-app")
                .user_key(USER_KEY)
                .plan("Basic")
                .limit("hits", Period::Minute, 1000)
                .referrer_filter("*.shop.example.com/*"),
        );
    let chain = json!([{"name": "3scale_referrer"}, apicast()]);
    let mut cfg = config(vec![service(1, json!("1"), json!({"policy_chain": chain}))]);
    if batching {
        cfg["backend"]["batching"] = json!({"auths_ttl": 60, "batch_report_seconds": 1});
    }
    Stack::start_with(cfg, state, |b| b.concurrency(2))
}

/// The Referer is spoofable by design; what must hold is that the value the backend judges
/// is exactly the header's (no parameter injection through `&`/`=`, one value when the
/// header is repeated, a long one whole) and that a refused one never reaches the upstream.
#[test]
fn referrer_odd_spellings_twice_and_long_are_judged_as_sent() {
    for batching in [false, true] {
        let s = referrer_stack(batching);
        let get = |referers: &[&str]| {
            let r = referers.iter().fold(
                Request::get(&format!("/things?user_key={USER_KEY}")),
                |r, v| r.header("Referer", v),
            );
            send(&s, r)
        };
        let good = "http://www.shop.example.com/cart";
        let long_good = format!("http://www.shop.example.com/{}", "a".repeat(400));
        let evil = "http://evil.example.com/";
        assert_eq!(get(&[good]).status, 200);
        assert_eq!(get(&[&long_good]).status, 200, "a long referrer, whole");
        // Injection attempts: a parameter after `&` is part of the value.
        let inject = "http://evil.example.com/&referrer=http://www.shop.example.com/x";
        // (the glob `*.shop.example.com/*` matches it whole: only the value sent is checked)
        get(&[inject]);
        // Twice.
        // (Envoy joins repeated Referer lines with a comma, which the glob matches whole:
        // only the value sent is checked: it must not be the good one alone.)
        get(&[evil, good]);
        // Another header name is no Referer.
        let r = send(
            &s,
            Request::get(&format!("/things?user_key={USER_KEY}")).header("Referrer", good),
        );
        assert_eq!(r.status, 403, "batching {batching}: {r}");
        assert!(
            (3..=4).contains(&s.echo.request_count()),
            "batching {batching}"
        );
        let referrers: Vec<Option<String>> = s
            .authreps()
            .iter()
            .map(|c| c.param("referrer").map(str::to_string))
            .collect();
        assert_eq!(referrers.len(), 5, "an authrep per request: {referrers:?}");
        assert!(referrers.contains(&Some(long_good.clone())));
        assert!(
            referrers.contains(&Some(inject.to_string())),
            "{referrers:?}"
        );
        assert!(
            referrers
                .iter()
                .filter(|r| r.as_deref() == Some(good))
                .count()
                == 1,
            "the repeated header was not judged as its good value alone: {referrers:?}"
        );
        assert!(referrers
            .iter()
            .any(|r| r.as_deref().is_some_and(|r| r.starts_with(evil))));
        assert!(s.authreps().iter().all(|c| c
            .query
            .iter()
            .filter(|(k, _)| k == "referrer")
            .count()
            <= 1));
    }
}

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
