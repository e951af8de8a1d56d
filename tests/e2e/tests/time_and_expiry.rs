//! Time and expiry: what Tollgate caches or remembers must stop counting when its time is up,
//! and must not keep a client out longer than its plan says.
//!
//! - Batching across a limit period's end (found by this audit, fixed): calls made at the end
//!   of a minute and reported after it carried no `transactions[i][timestamp]` (protocol
//!   reference §2.5), so the backend counted them in the next minute, and the filter took them
//!   off the next minute's budget as owed: a client that used its per-minute limit in the last
//!   seconds of one minute was refused (429) for the whole next one. Reports now carry each
//!   call's minute, and an entry whose new period's budget such calls fill is limited for a
//!   second while their report goes (`core/src/cache/authorizations.rs` `apply_answer`).
//! - Regression guards: the budget comes back once, and only once, when the period ends with
//!   the reports in; `RateLimit-Reset` and `Retry-After` count down to 1, never 0, never past
//!   the period's end, and start again with the next period; an OIDC token verified and
//!   cached (with its application's authorization cached in batching mode) stops at `exp`;
//!   requests waiting on a slow `authorize` are answered with the fresh answer, and the
//!   answer's `auths_ttl` counts from when it arrived.

mod support;

use e2e::jwt::{now, Signer};
use e2e::mock_backend::{App, Period, Service, State};
use e2e::{Request, Response};
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use support::cache::*;
use support::{config, service, Stack, TOKEN};

/// Service 1: an app allowed 3 hits a minute.
const THREE: &str = "uk-three";

fn three_state() -> State {
    cache_state().app(
        App::new("1", "app-three")
            .user_key(THREE)
            .plan("Three")
            .limit("hits", Period::Minute, 3),
    )
}

fn batching(auths_ttl: u64, batch_report_seconds: u64) -> Value {
    json!({"auths_ttl": auths_ttl, "denied_ttl": auths_ttl,
        "batch_report_seconds": batch_report_seconds})
}

fn sleep_until(t: Instant) {
    std::thread::sleep(t.saturating_duration_since(Instant::now()));
}

fn header_u64(r: &Response, name: &str) -> Option<u64> {
    r.header(name).map(|v| v.parse().expect("a number"))
}

/// The app's counter of `hits` in the minute that holds `at` (the mock's clock is moved there
/// and back).
fn minute_counter(s: &Stack, app: &str, at: i64) -> u64 {
    let was = s.backend.now();
    s.backend.set_now(Some(at));
    let n = s.backend.counter("1", app, "hits", Period::Minute);
    s.backend.set_now(Some(was));
    n
}

/// Now, in milliseconds since the epoch (the filter's and the mock's clock when unpinned).
fn now_ms() -> u64 {
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    since.expect("clock after 1970").as_millis() as u64
}

/// Sleeps until `second` (0..60) of a minute, at least `after` from now.
fn sleep_until_second(second: u64, after: Duration) -> u64 {
    let earliest = now_ms() + after.as_millis() as u64;
    let minute = earliest / 60_000;
    let mut at = minute * 60_000 + second * 1000;
    if at < earliest {
        at += 60_000;
    }
    std::thread::sleep(Duration::from_millis(at - now_ms()));
    at
}

/// A plan of 3 hits a minute, the 3 used at :56 and due to be reported only 60 s after the
/// last report (about :49 of the next minute). Real clocks, as the filter reads its own:
/// - in the next minute the client has used nothing, so it is served at once, or after a
///   second's 429 (`Retry-After: 1`) while the filter reports the earlier minute's calls
///   (it asks for the report then), never refused for the minute;
/// - the backend counts the 3 calls in the minute they were made (§2.5: the report's
///   `transactions[i][timestamp]`), none in the next one.
// Found by an audit (2026-12-06), fixed: end-of-minute calls reported after it counted in the next minute (no report timestamp), and were taken off its budget as owed: 429 for all of it.
#[test]
fn calls_at_the_end_of_a_minute_do_not_spend_the_next_minutes_limit() {
    // The first report round is claimed at the workers' first tick, about :49; the next
    // one is due 60 s later.
    sleep_until_second(48, Duration::ZERO);
    let s = start(cache_config("none", Some(batching(30, 60))), three_state());
    let port = s.port();
    let at = sleep_until_second(56, Duration::ZERO);
    assert!(
        now_ms() < at + 1000,
        "the machine is too slow for this test's timing"
    );
    let old_minute = (at / 1000) as i64;
    let first: Vec<Response> = (0..4).map(|_| user(THREE).send(port)).collect();
    assert_eq!(
        first.iter().map(|r| r.status).collect::<Vec<_>>(),
        vec![200, 200, 200, 429],
        "{:?}",
        first.iter().map(describe).collect::<Vec<_>>()
    );
    let retry = header_u64(&first[3], "retry-after");
    assert!(matches!(retry, Some(3..=4)), "{}", first[3]);
    assert_eq!(s.echo.requests().len(), 3);
    assert!(reports(&s.backend).iter().all(|r| !r.body.contains(THREE)));

    // The next minute, half a second in.
    let next_minute = sleep_until_second(0, Duration::ZERO) / 1000;
    std::thread::sleep(Duration::from_millis(500));
    let mut refusals = Vec::new();
    let served = loop {
        let r = user(THREE).send(port);
        if r.status != 429 || refusals.len() == 5 {
            break r;
        }
        refusals.push(describe(&r));
        std::thread::sleep(Duration::from_millis(600));
    };
    assert_eq!(served.status, 200, "{served}; refused before: {refusals:?}");
    assert!(
        refusals.len() <= 3 && refusals.iter().all(|r| r.contains("(Retry-After 1)")),
        "refused a second at most, with Retry-After: 1: {refusals:?}"
    );
    assert_eq!(s.echo.requests().len(), 4);
    // The earlier minute's calls were reported (before the next round), stamped with it.
    let stamped: Vec<Option<String>> = reports(&s.backend)
        .iter()
        .flat_map(transactions)
        .filter(|t| t.fields.get("user_key").map(String::as_str) == Some(THREE))
        .map(|t| t.fields.get("timestamp").cloned())
        .collect();
    let minute_start = (old_minute - old_minute % 60).to_string();
    assert_eq!(stamped, vec![Some(minute_start)]);
    assert_eq!(
        (
            minute_counter(&s, "app-three", old_minute),
            minute_counter(&s, "app-three", next_minute as i64)
        ),
        (3, 0),
        "the minutes' counters at the backend (the next minute's call is not reported yet)"
    );
}

/// Regression guard: with the reports in before the minute ends, the budget (3 a minute)
/// comes back once when it ends, and only once. `RateLimit-Remaining` counts the budget down,
/// `RateLimit-Reset` and `Retry-After` count down to the deadline the backend gave (never 0,
/// never beyond it), then start again at the next minute's.
#[test]
fn budget_and_reset_headers_start_again_once_when_the_minute_ends() {
    let mut cfg = cache_config("none", Some(batching(30, 1)));
    cfg["services"][0]["proxy"]["policy_chain"] = json!([
        {"name": "apicast.policy.rate_limit_headers"}, {"name": "apicast.policy.apicast"}
    ]);
    let s = start(cfg, three_state());
    let port = s.port();
    let pinned = pin_clock(&s.backend, 56);
    let figures = |r: &Response| {
        (
            r.status,
            header_u64(r, "ratelimit-limit"),
            header_u64(r, "ratelimit-remaining"),
        )
    };
    let started = Instant::now();
    let burst: Vec<Response> = (0..4).map(|_| user(THREE).send(port)).collect();
    assert_eq!(
        burst.iter().map(figures).collect::<Vec<_>>(),
        vec![
            (200, Some(3), Some(2)),
            (200, Some(3), Some(1)),
            (200, Some(3), Some(0)),
            (429, Some(3), Some(0))
        ],
        "{:?}",
        burst.iter().map(|r| r.to_string()).collect::<Vec<_>>()
    );
    for r in &burst {
        let reset = header_u64(r, "ratelimit-reset").unwrap();
        assert!((1..=4).contains(&reset), "{r}");
    }
    assert!(wait_until(Duration::from_secs(5), || {
        s.backend.reported_hits("1", "app-three", "hits") == 3
    }));
    // Within the minute: 429 from the cache, both headers counting down together, never 0.
    let mut last = u64::MAX;
    while started.elapsed() < Duration::from_millis(3300) {
        let r = user(THREE).send(port);
        let retry = header_u64(&r, "retry-after");
        let reset = header_u64(&r, "ratelimit-reset");
        assert_eq!(r.status, 429, "{r}");
        assert_eq!(retry, reset, "{r}");
        let reset = reset.unwrap();
        assert!(
            (1..=4).contains(&reset) && reset <= last,
            "{r} after {last}"
        );
        last = reset;
        std::thread::sleep(Duration::from_millis(250));
    }
    assert_eq!(authorizes_for(&s.backend, "user_key", THREE), 2);

    // The next minute: 3 calls again, the reset that minute's.
    sleep_until(started + Duration::from_millis(4400));
    s.backend.set_now(Some(pinned + 5));
    let burst: Vec<Response> = (0..5).map(|_| user(THREE).send(port)).collect();
    assert_eq!(
        burst.iter().map(figures).collect::<Vec<_>>(),
        vec![
            (200, Some(3), Some(2)),
            (200, Some(3), Some(1)),
            (200, Some(3), Some(0)),
            (429, Some(3), Some(0)),
            (429, Some(3), Some(0))
        ],
        "{:?}",
        burst.iter().map(|r| r.to_string()).collect::<Vec<_>>()
    );
    for r in &burst {
        let reset = header_u64(r, "ratelimit-reset").unwrap();
        assert!((56..=59).contains(&reset), "{r}");
    }
    assert_eq!(
        header_u64(&burst[4], "retry-after"),
        header_u64(&burst[4], "ratelimit-reset")
    );
    assert_eq!(s.echo.requests().len(), 6);
    assert!(wait_until(Duration::from_secs(5), || {
        s.backend.reported_hits("1", "app-three", "hits") == 6
    }));
    std::thread::sleep(Duration::from_millis(1200));
    assert_eq!(s.backend.reported_hits("1", "app-three", "hits"), 6);
    // (The mock's clock is frozen: it counts each report at its own time, not the
    // timestamps the filter's real clock wrote; the test above runs on real clocks.)
    assert_eq!(
        (
            minute_counter(&s, "app-three", pinned),
            minute_counter(&s, "app-three", pinned + 5)
        ),
        (3, 3)
    );
}

/// Regression guard: an OIDC service in batching mode, its tokens verified by Tollgate. A
/// token cached as verified, whose application's authorization is cached too (auths_ttl 30),
/// stops being accepted at its `exp` (leeway 0): 403 with no backend call, nothing upstream,
/// nothing reported for it; a fresh token of the same client is still served from the cache.
#[test]
fn an_oidc_token_cached_with_its_authorization_stops_at_exp() {
    const ISSUER: &str = "https://idp.example.com/realms/demo";
    let k = Signer::hs256(b"an hs256 secret of at least 32 bytes!!", "hs-1");
    let state = State::new()
        .service(
            Service::new("5")
                .token(TOKEN)
                .backend_version("oauth")
                .metric("hits", None),
        )
        .app(App::new("5", "client-1").plan("OIDC"));
    let svc = json!({
        "id": 5, "backend_version": "oauth",
        "backend_authentication_type": "service_token", "backend_authentication_value": TOKEN,
        "authentication": {"jwt": {"jwks": Signer::jwks(&[&k]), "issuer": ISSUER}},
        "proxy": {"hosts": ["oidc.example.com"], "authentication_method": "oidc",
            "proxy_rules": [{"http_method": "GET", "pattern": "/", "metric_system_name": "hits", "delta": 1}]}
    });
    let mut cfg = config(vec![svc]);
    cfg["backend"]["batching"] = batching(30, 1);
    let s = Stack::start_with(cfg, state, |b| b.concurrency(2));
    let token = |exp: u64| {
        k.token(
            &json!({"iss": ISSUER, "sub": "u", "aud": "account", "azp": "client-1",
            "typ": "Bearer", "exp": exp}),
        )
    };
    let send = |t: &str| {
        Request::get("/orders")
            .header("Host", "oidc.example.com")
            .header("Authorization", &format!("Bearer {t}"))
            .send(s.port())
    };
    let exp = now() + 2;
    let short = token(exp);
    for _ in 0..4 {
        let r = send(&short);
        assert_eq!(r.status, 200, "{r}");
    }
    let oauth_authorizes = || {
        (s.backend.requests().iter())
            .filter(|r| r.path == "/transactions/oauth_authorize.xml")
            .count()
    };
    assert_eq!(oauth_authorizes(), 1, "then from the cache");
    while now() < exp {
        std::thread::sleep(Duration::from_millis(100));
    }
    for _ in 0..4 {
        let r = send(&short);
        assert_eq!(
            (r.status, r.body.as_str()),
            (403, "Authentication failed"),
            "{r}"
        );
    }
    let fresh = token(now() + 300);
    let r = send(&fresh);
    assert_eq!(r.status, 200, "{r}");
    assert_eq!(s.echo.requests().len(), 5);
    assert_eq!(
        oauth_authorizes(),
        1,
        "the expired token asks nothing, the fresh one is served from the cache"
    );
    assert!(s
        .backend
        .requests()
        .iter()
        .all(|r| r.path == "/transactions/oauth_authorize.xml" || r.path == "/transactions.xml"));
    assert!(wait_until(Duration::from_secs(5), || {
        s.backend.reported_hits("5", "client-1", "hits") == 5
    }));
    std::thread::sleep(Duration::from_millis(1200));
    assert_eq!(s.backend.reported_hits("5", "client-1", "hits"), 5);
}

/// Regression guard: a burst waiting on one slow `authorize` (400 ms, auths_ttl 1 s) is
/// answered from it, on both workers; the answer counts its `auths_ttl` from its arrival (a
/// request 700 ms after it is still a hit), and once it is over the backend is asked again,
/// once. A revoked key is refused from the next answer on.
#[test]
fn waiters_on_a_slow_authorize_get_its_answer_and_its_ttl_counts_from_the_answer() {
    let s = start(cache_config("none", Some(batching(1, 1))), cache_state());
    s.backend.set_latency(Duration::from_millis(400));
    let port = s.port();
    let burst = concurrently(port, vec![user(FREE); 12]);
    let answered = Instant::now();
    assert_eq!(
        count_status(&burst, 200),
        12,
        "{:?}",
        burst.iter().map(describe).collect::<Vec<_>>()
    );
    assert_eq!(authorizes_for(&s.backend, "user_key", FREE), 1);
    sleep_until(answered + Duration::from_millis(600));
    assert_eq!(user(FREE).send(port).status, 200);
    assert_eq!(
        authorizes_for(&s.backend, "user_key", FREE),
        1,
        "within auths_ttl"
    );
    // The key is revoked at the backend; the cached answer ends 1 s after it came.
    s.backend.with_state(|st| {
        st.find_app_mut("1", "app-free").unwrap().state = "suspended".to_string();
    });
    sleep_until(answered + Duration::from_millis(1300));
    let after = concurrently(port, vec![user(FREE); 6]);
    assert_eq!(
        count_status(&after, 403),
        6,
        "{:?}",
        after.iter().map(describe).collect::<Vec<_>>()
    );
    assert_eq!(authorizes_for(&s.backend, "user_key", FREE), 2);
    assert_eq!(s.echo.requests().len(), 13);
    assert!(wait_until(Duration::from_secs(5), || {
        s.backend.reported_hits("1", "app-free", "hits") == 13
    }));
}

/// Regression guard: a signed URL on a `local+3scale` service in batching mode (metered as the
/// application `signed-url`), accepted while valid, its authorization cached for 30 s. Replayed
/// once `expires` has passed it is auth failed: nothing upstream, no backend call, nothing
/// reported for it; a URL signed again is served from the cached authorization.
#[test]
fn a_signed_url_accepted_before_its_expiry_is_refused_after_it_even_with_the_authorization_cached()
{
    const SECRET: &str = "time-audit-signing-secret-0123456789";
    let state = cache_state().app(
        App::new("1", "app-signed")
            .user_key("signed-url")
            .plan("Free"),
    );
    let mut svc = service(1, json!(1), json!({"hosts": ["files.example.com"]}));
    svc["authentication"] = json!({"mode": "local+3scale", "signed_urls": {"secret": SECRET}});
    let mut cfg = config(vec![svc]);
    cfg["backend"]["batching"] = batching(30, 1);
    let s = start(cfg, state);
    let get = |url: &str| {
        Request::get(url)
            .header("Host", "files.example.com")
            .send(s.port())
    };
    let sign = |expires: u64| {
        tollgate_core::auth::signed_url::sign(SECRET.as_bytes(), "GET", "/files/r.csv?v=1", expires)
            .unwrap()
    };
    let expires = now() + 2;
    let url = sign(expires);
    for _ in 0..3 {
        let r = get(&url);
        assert_eq!(r.status, 200, "{r}");
        assert_eq!(r.echo().path, url);
    }
    assert_eq!(authorizes_for(&s.backend, "user_key", "signed-url"), 1);
    while now() <= expires {
        std::thread::sleep(Duration::from_millis(100));
    }
    for _ in 0..4 {
        let r = get(&url);
        assert_eq!(
            (r.status, r.body.as_str()),
            (403, "Authentication failed"),
            "{r}"
        );
    }
    let again = sign(now() + 300);
    assert_eq!(get(&again).status, 200);
    assert_eq!(s.echo.requests().len(), 4);
    assert_eq!(authorizes_for(&s.backend, "user_key", "signed-url"), 1);
    assert!(wait_until(Duration::from_secs(5), || {
        s.backend.reported_hits("1", "app-signed", "hits") == 4
    }));
    std::thread::sleep(Duration::from_millis(1200));
    assert_eq!(s.backend.reported_hits("1", "app-signed", "hits"), 4);
}
