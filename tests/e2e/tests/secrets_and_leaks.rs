//! Secrets and leaks, and client-controlled resource use (an audit of the module of the
//! seventeenth session, `s17a`, 2026-12-05): can a secret reach a log, a client or the backend
//! in a form it should not, and can a client make the filter keep or forget what it chooses?
//!
//! Findings (each test asserts what a safe filter does, and fails on s17a):
//! 1. `oversized_credentials_do_not_grow_the_authorization_cache`: the shared authorization
//!    cache keeps every credential whole in its key (`cache/key.rs` `EntryKey::new`, stored by
//!    `cache/authorizations.rs` `find_slot`/`lookup_shared` before the backend is asked), and
//!    nothing bounds a credential's length. `cache_max_entries` bounds slots, not bytes: 300
//!    unknown 40 KB `user_key` headers leave ~12 MB in Envoy's shared data (10 bytes each:
//!    ~0.25 MB), so the default 10,000 slots hold ~400 MB from headers, and ~5 GB from 500 KB
//!    keys in form bodies (measured: 10 such keys kept 5.2 MB). Shared data never expires.
//!    The same holds in authrep mode with a `caching_type` (`remember_authrep`), and each
//!    worker's local copies (`AuthCache::local`) keep the keys too.
//! 2. `a_flood_of_bad_keys_does_not_erase_a_good_keys_last_known_answer`: `find_slot` treats a
//!    slot whose only content is a last known 200 (no fresh answer) as idle, so any other key,
//!    an invalid one included, takes it. In authrep mode every entry is of that kind; in
//!    batching mode every entry past its `auths_ttl`. A few hundred invalid keys (one request
//!    each) erase what `caching_type: resilient` keeps for valid callers: when the backend then
//!    fails, they get 403 instead of being forwarded. README: "a flood of bad keys cannot crowd
//!    good ones out of the cache".
//! 3. `cache_hits_count_denials_answered_from_the_cache`: `tollgate.cache_hits` counts only
//!    forwarded hits (`pipeline/reporting.rs` `forwarded`); the README's metrics table says
//!    "requests answered from the cache (forwarded or denied)". A flood of bad keys answered
//!    from the cache does not show in it.
//!
//! Held (probed; the passing tests keep the most useful as regressions): no secret at info,
//! warn or error (service tokens, secret token, user keys, app keys, Basic passwords, valid or
//! not) with a backend answering 200, 403, 500 to authreps, authorizes and reports; the debug
//! headers need this service's token exactly (not another service's, not the secret token, no
//! prefix, suffix, case change, empty value, a list, or a second copy after a wrong first; an
//! `X_3scale_Debug` spelling is stripped but never turns them on); NUL, CR, LF, tab, DEL, `&`,
//! `=`, `#`, `+`, `%` and non-ASCII in user_key, app_id and app_key reach the authrep, the
//! authorize and the report body as one exact value (invalid UTF-8 such as `%FF` becomes
//! U+FFFD); a `Referer` with `&`, `%` or `+` goes percent-encoded as one `referrer` (Envoy itself
//! drops a `Referer` holding `#`, a space, a tab or non-ASCII, before the filter; the backend
//! then says "referrer is missing" where filters apply: fail closed); every refusal bumps
//! exactly one `requests_denied.*` counter (service not found, auth missing, no match, auth
//! failed from the backend, from the cache and for a duplicate credential, limits exceeded,
//! ambiguous path, method override, encoded body, 414); filter-defined metric names are fixed
//! (the only dynamic ones, `config_version.<id>`, name System's service ids, not client input).
//! Read in the code and held: secrets are compared with `secret::constant_time_eq` (debug token,
//! header secrets, signed URLs, API key and Basic digests; Basic costs one digest for unknown
//! users too); HS256 uses `hmac`'s `verify_slice` (constant time); API keys are looked up by
//! their SHA-256 (a timing on the digest tells nothing about the key); the verified-JWT cache
//! is bounded by `cache_size` and tokens by 16 KiB; config errors never echo a secret value.
//! Noted, not tested: once a worker's local map holds `cache_max_entries` keys (junk keys
//! included) it never frees them except on a lookup of the same key, so later keys are never
//! remembered locally and lease one call at a time (a CAS on shared data per request); an
//! upstream that sets `X-3scale-*` response headers (or reflects the secret token) reaches
//! the client unfiltered, as with APIcast.

mod support;

use e2e::mock_backend::{App, Mode, ReceivedRequest, Service, State};
use e2e::{Request, Response};
use serde_json::{json, Value};
use std::time::Duration;
use support::cache::*;
use support::*;

const TOKEN_B: &str = "svc-token-b-9f8e7d";
const SECRET_TOKEN: &str = "upstream-secret-7c1d";
const LEAKY_KEY: &str = "uk-leaky-secret-4a4a";
const LEAKY_APP_KEY: &str = "ak-leaky-secret-5b5b";

/// Bytes Envoy has allocated (`/memory`): shared data lives there.
fn allocated(s: &Stack) -> i64 {
    let r = s.envoy.admin("/memory").expect("admin /memory");
    let v: Value = serde_json::from_str(&r.body).expect("memory JSON");
    v["allocated"]
        .as_str()
        .and_then(|a| a.parse().ok())
        .expect("allocated")
}

// ---------------------------------------------------------------------------------------
// Finding 1: a credential's length is the client's; the cache keeps it whole.
// ---------------------------------------------------------------------------------------

#[test]
fn oversized_credentials_do_not_grow_the_authorization_cache() {
    let s = start(
        cache_config("none", Some(json!({"auths_ttl": 60}))),
        cache_state(),
    );
    assert_eq!(user(FREE).send(s.port()).status, 200);
    std::thread::sleep(Duration::from_millis(300));
    let before = allocated(&s);
    let keys = 300;
    for i in 0..keys {
        let key = format!("{i}-{}", "k".repeat(40_000));
        let r = user(&key).send(s.port());
        assert_eq!((r.status, r.body.as_str()), (403, "Authentication failed"));
    }
    std::thread::sleep(Duration::from_millis(500));
    let grown = allocated(&s) - before;
    // 300 slots of "about 200 bytes each" (README), with room to spare: 10 KB a key.
    assert!(
        grown < 3_000_000,
        "{keys} unknown 40 KB user keys left {grown} bytes in Envoy: the cache keeps each \
         credential whole, so cache_max_entries bounds slots, not memory"
    );
}

// ---------------------------------------------------------------------------------------
// Finding 2: bad keys evict a good key's last known answer.
// ---------------------------------------------------------------------------------------

#[test]
fn a_flood_of_bad_keys_does_not_erase_a_good_keys_last_known_answer() {
    let mut wrong = Vec::new();
    for batching in [false, true] {
        let mode = if batching { "batching" } else { "authrep" };
        let b = batching.then(|| json!({"auths_ttl": 1, "batch_report_seconds": 1}));
        let mut c = cache_config("resilient", b);
        c["backend"]["cache_max_entries"] = json!(8);
        let s = start(c, cache_state());
        let expire = || {
            if batching {
                std::thread::sleep(Duration::from_millis(1200));
            }
        };
        assert_eq!(user(FREE).send(s.port()).status, 200, "{mode}");
        expire();
        // Control: without the flood, the resilient policy forwards the known key.
        s.backend.set_mode(Mode::Status(503));
        let control = user(FREE).send(s.port());
        assert_eq!(control.status, 200, "{mode}: control, no flood: {control}");
        s.backend.set_mode(Mode::Normal);
        expire();
        for i in 0..200 {
            let r = user(&format!("uk-flood-{i}")).send(s.port());
            assert_eq!(r.status, 403, "{mode}: flood key {i}");
        }
        s.backend.set_mode(Mode::Status(503));
        expire();
        let r = user(FREE).send(s.port());
        if r.status != 200 {
            wrong.push(format!(
                "- {mode}: after 200 invalid keys, backend 503: {} {:?}",
                r.status, r.body
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "a valid key's last known 200 was evicted by invalid keys (resilient, 8 slots):\n{}",
        wrong.join("\n")
    );
}

// ---------------------------------------------------------------------------------------
// Finding 3: cache_hits leaves out denials answered from the cache.
// ---------------------------------------------------------------------------------------

/// Every refusal kind once or more; returns (what, status) per request.
fn refusals(s: &Stack) -> Vec<(&'static str, u16)> {
    let host = |r: Request| r.header("Host", "api.example.com");
    let post = |k: &str| host(Request::post("/")).header("user_key", k);
    let mut cases: Vec<(&str, Request)> = Vec::new();
    for _ in 0..3 {
        cases.push(("ok", user(FREE)));
        cases.push(("invalid", user(INVALID)));
    }
    cases.extend([
        ("limited", user(ONE)),
        ("limited", user(ONE)),
        ("missing", host(Request::get("/"))),
        ("no match", post(FREE)),
        ("no service", user(FREE).header("Host", "nope.example.com")),
        ("ambiguous path", user_path("/a%2Fb", FREE)),
        (
            "override",
            post(FREE).header("X-HTTP-Method-Override", "DELETE"),
        ),
        ("414", user_path(&format!("/{}", "a".repeat(9000)), FREE)),
        ("duplicate", user(FREE).header("USER_KEY", "other")),
        (
            "encoded body",
            post(FREE)
                .header("Content-Type", "application/json")
                .header("Content-Encoding", "gzip")
                .body("xxxx"),
        ),
    ]);
    (cases.into_iter())
        .map(|(what, r)| (what, r.send(s.port()).status))
        .collect()
}

#[test]
fn cache_hits_count_denials_answered_from_the_cache() {
    let mut wrong = Vec::new();
    for batching in [false, true] {
        let mode = if batching { "batching" } else { "authrep" };
        let b = batching.then(|| json!({"auths_ttl": 60, "batch_report_seconds": 1}));
        let s = start(cache_config("none", b), cache_state());
        pin_clock(&s.backend, 30);
        use_up(&s.backend);
        let sent = refusals(&s);
        let statuses: Vec<u16> = sent.iter().map(|(_, st)| *st).collect();
        let expected = [
            200, 403, 200, 403, 200, 403, 429, 429, 401, 404, 404, 400, 400, 414,
        ];
        assert_eq!(statuses[..14], expected, "{mode}: {sent:?}");
        assert_eq!(statuses[14..], [403, 400], "{mode}: {sent:?}");
        // Hits are added on the worker timer (250 ms).
        std::thread::sleep(Duration::from_millis(800));
        let mut want = vec![
            ("requests_authorized", 3),
            ("requests_denied.auth_failed", 4),
            ("requests_denied.limits_exceeded", 2),
            ("requests_denied.auth_missing", 1),
            ("requests_denied.no_match", 1),
            ("requests_denied.service_not_found", 1),
            ("requests_denied.bad_request", 4),
        ];
        if batching {
            // Each key's first request waits (a miss, forwarded or denied); then FREE: 2
            // forwarded hits, INVALID: 2 denied hits, ONE: 1 denied hit.
            want.extend([("cache_misses", 3), ("cache_hits", 5)]);
        }
        for (name, value) in want {
            let got = stat(&s.envoy, name);
            if got != value {
                wrong.push(format!(
                    "- {mode}: tollgate.{name} = {got}, expected {value}"
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "counters:\n{}", wrong.join("\n"));
}

// ---------------------------------------------------------------------------------------
// Held: logs, debug headers, exact values at the backend.
// ---------------------------------------------------------------------------------------

fn leaky_state() -> State {
    backend_state()
        .service(
            Service::new("7")
                .token(TOKEN_B)
                .backend_version("1")
                .metric("hits", None),
        )
        .app(App::new("7", "app-7").user_key(LEAKY_KEY).plan("Basic"))
        .app(
            App::new("2", "app-leaky")
                .app_keys(&[LEAKY_APP_KEY])
                .plan("Basic"),
        )
}

/// Service 1 (user_key, query) on api.example.com, 2 (HTTP Basic) on app.example.com and 7
/// (another service token) on b.example.com, all with a secret token.
fn leaky_config(batching: bool) -> Value {
    let secret = json!({"secret_token": SECRET_TOKEN});
    let mut b = service(
        7,
        json!(1),
        json!({"hosts": ["b.example.com"], "secret_token": SECRET_TOKEN}),
    );
    b["backend_authentication_value"] = json!(TOKEN_B);
    let basic = json!({"hosts": ["app.example.com"], "credentials_location": "authorization",
                       "secret_token": SECRET_TOKEN});
    let mut c = config(vec![
        service(1, json!(1), secret),
        service(2, json!(2), basic),
        b,
    ]);
    if batching {
        c["backend"]["batching"] = json!({"auths_ttl": 60, "batch_report_seconds": 1});
    }
    c
}

#[test]
fn secrets_stay_out_of_the_log_at_info() {
    let basic = e2e::base64::basic_auth;
    let (wrong_key, wrong_pw, down_key) = ("uk-wrong-6c6c", "pw-wrong-7d7d", "uk-down-8e8e");
    for batching in [false, true] {
        let s = Stack::start_with(leaky_config(batching), leaky_state(), |b| {
            b.log_level("info").wasm_log_level("info")
        });
        let get = |host: &str, target: &str| Request::get(target).header("Host", host);
        let b = |key: &str| get("b.example.com", &format!("/?user_key={key}"));
        let app =
            |pw: &str| get("app.example.com", "/").header("Authorization", &basic("app-leaky", pw));
        let p = s.port();
        assert_eq!(b(LEAKY_KEY).send(p).status, 200);
        assert_eq!(b(wrong_key).send(p).status, 403);
        assert_eq!(app(LEAKY_APP_KEY).send(p).status, 200);
        assert_eq!(app(wrong_pw).send(p).status, 403);
        // Reports and callouts that fail are logged at warn and error.
        s.backend.set_mode(Mode::Status(500));
        assert_eq!(b(down_key).send(p).status, 403);
        std::thread::sleep(Duration::from_millis(2500));
        s.backend.set_mode(Mode::Status(403));
        let _ = b(LEAKY_KEY).send(p);
        std::thread::sleep(Duration::from_millis(2500));
        let log = s.envoy.log();
        if batching {
            assert!(
                log.contains("backend refused a report"),
                "the error path ran"
            );
        }
        let secrets = [TOKEN, TOKEN_B, SECRET_TOKEN, LEAKY_KEY, LEAKY_APP_KEY];
        for secret in secrets.into_iter().chain([wrong_key, wrong_pw, down_key]) {
            let lines: Vec<&str> = log.lines().filter(|l| l.contains(secret)).collect();
            assert!(lines.is_empty(), "{secret} in the log at info: {lines:?}");
        }
    }
}

fn debug_headers(r: &Response) -> Vec<&(String, String)> {
    (r.headers.iter())
        .filter(|(k, _)| k.to_ascii_lowercase().starts_with("x-3scale-"))
        .collect()
}

#[test]
fn debug_headers_need_this_services_exact_token() {
    let s = Stack::start_with(leaky_config(false), leaky_state(), |b| b);
    let lists = format!("x, {TOKEN}");
    let cases: Vec<(&str, Vec<(&str, &str)>)> = vec![
        ("another service's token", vec![("X-3scale-Debug", TOKEN_B)]),
        ("the secret token", vec![("X-3scale-Debug", SECRET_TOKEN)]),
        ("upper case", vec![("X-3scale-Debug", "SVC-TOKEN-1")]),
        ("prefix", vec![("X-3scale-Debug", "svc-token-")]),
        ("suffix", vec![("X-3scale-Debug", "svc-token-1x")]),
        ("empty", vec![("X-3scale-Debug", "")]),
        ("a list", vec![("X-3scale-Debug", &lists)]),
        ("underscores", vec![("X_3scale_Debug", TOKEN)]),
        (
            "wrong, then right",
            vec![("X-3scale-Debug", "x"), ("X-3scale-Debug", TOKEN)],
        ),
    ];
    let send = |hs: &[(&str, &str)]| {
        let r = Request::get(&format!("/?user_key={USER_KEY}")).header("Host", "api.example.com");
        hs.iter().fold(r, |r, (k, v)| r.header(k, v)).send(s.port())
    };
    for (case, hs) in &cases {
        let r = send(hs);
        assert_eq!(r.status, 200, "{case}: {r}");
        assert!(
            debug_headers(&r).is_empty(),
            "{case}: {:?}",
            debug_headers(&r)
        );
        let seen = r.echo();
        let names: Vec<String> = (seen.headers.iter())
            .map(|(k, _)| k.to_ascii_lowercase().replace('_', "-"))
            .filter(|k| k == "x-3scale-debug")
            .collect();
        assert!(names.is_empty(), "{case}: debug header upstream");
    }
    // Control: the right token turns them on.
    let r = send(&[("X-3scale-Debug", TOKEN)]);
    assert_eq!(r.header("x-3scale-service-id"), Some("1"), "{r}");
}

fn exact(call: &ReceivedRequest, name: &str, value: &str) -> Option<String> {
    let all: Vec<&(String, String)> = (call.query.iter().chain(&call.body_params))
        .filter(|(k, _)| k == name)
        .collect();
    (all.len() != 1 || all[0].1 != value).then(|| {
        format!(
            "{name}: {all:?} (want {value:?}) in {:?} {:?}",
            call.raw_query, call.body
        )
    })
}

#[test]
fn control_bytes_reach_the_backend_as_one_exact_value() {
    let chain = json!([{"name": "apicast"}, {"name": "apicast.policy.3scale_referrer"}]);
    let key = "\0a\rb\nc\td\u{7f}\u{e9}&x=1#";
    let (app_id, app_key) = ("\0i&d", "k\n=");
    let mut wrong = Vec::new();
    for batching in [false, true] {
        // The referrer policy is authrep only (never batched): in batching mode, the report.
        let proxy = match batching {
            false => json!({"policy_chain": chain}),
            true => json!({}),
        };
        let mut c = config(vec![
            service(1, json!(1), proxy),
            service(2, json!(2), json!({"hosts": ["app.example.com"]})),
        ]);
        if batching {
            c["backend"]["batching"] = json!({"auths_ttl": 60, "batch_report_seconds": 1});
        }
        let s = Stack::start(c);
        let get = |host: &str, target: &str| Request::get(target).header("Host", host);
        let referer = "http://r.example/?a=1&service_id=2%zz+x";
        let key_q = "%00a%0Db%0Ac%09d%7F%C3%A9%26x%3D1%23";
        let r = (get("api.example.com", &format!("/?user_key={key_q}")))
            .header("Referer", referer)
            .send(s.port());
        assert_eq!(r.status, 403);
        let r = get("app.example.com", "/?app_id=%00i%26d&app_key=k%0A%3D").send(s.port());
        assert_eq!(r.status, 403);
        // A valid key with `&`, `=`, `%` and a space: reported in batching mode.
        let r = get("app.example.com", "/").send(s.port());
        assert_eq!(r.status, 401);
        let special = "a&b=c%d e";
        let r = get("api.example.com", "/?user_key=a%26b%3Dc%25d%20e").send(s.port());
        assert_eq!(r.status, 200);
        if batching {
            wait_until(Duration::from_secs(5), || {
                s.backend
                    .requests()
                    .iter()
                    .any(|r| r.path == "/transactions.xml")
            });
        }
        let calls = s.backend.requests();
        let find = |want: &str| calls.iter().find(|r| r.raw_query.contains(want));
        let checks = [
            (find("user_key=%00a"), "user_key", key),
            (find("app_id=%00i"), "app_id", app_id),
            (find("app_id=%00i"), "app_key", app_key),
            (find("user_key=a%26b"), "user_key", special),
        ];
        for (call, name, value) in checks {
            match call {
                Some(call) => wrong.extend(exact(call, name, value)),
                None => wrong.push(format!("no call with {name}: {calls:?}")),
            }
        }
        if !batching {
            wrong.extend(exact(find("user_key=%00a").unwrap(), "referrer", referer));
        } else {
            let report = calls.iter().find(|r| r.path == "/transactions.xml");
            match report {
                Some(r) => wrong.extend(exact(r, "transactions[0][user_key]", special)),
                None => wrong.push("no report".into()),
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
