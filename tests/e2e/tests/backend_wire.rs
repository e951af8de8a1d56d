//! The 3scale backend wire, both directions, in batching mode (protocol §1.3, §2.5, §6.3):
//! what the backend receives for credentials with reserved bytes (authorize query and report
//! body), how apisonator normalises what Tollgate sends (a stripped `app_key`), its
//! all-or-nothing report batches, and its asynchronous report processing.

mod support;

use e2e::mock_backend::{App, MockBackend, Period, ReceivedRequest, State};
use e2e::{EchoUpstream, Envoy, Request, Response};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use support::cache::*;
use support::{config, service, Stack, TOKEN};

/// Service 2 (app_id + app_key): an app with one key and 5 hits a minute.
const LIM_APP: &str = "app-lim";
const LIM_KEY: &str = "lim-key";

fn wire_state() -> State {
    cache_state().app(
        App::new("2", LIM_APP)
            .app_keys(&[LIM_KEY])
            .plan("Five")
            .limit("hits", Period::Minute, 5),
    )
}

/// Service 1 (user_key) and service 2 (app_id + app_key) with their credentials in the query.
fn query_config(caching_type: &str, batching: Value) -> Value {
    let mut c = config(vec![
        service(1, json!(1), json!({})),
        service(2, json!(2), json!({"hosts": ["app.example.com"]})),
    ]);
    c["backend"]["caching_type"] = json!(caching_type);
    c["backend"]["timeout_ms"] = json!(500);
    c["backend"]["batching"] = batching;
    c
}

fn statuses(responses: &[Response]) -> Vec<u16> {
    responses.iter().map(|r| r.status).collect()
}

fn forwarded_with(s: &Stack, needle: &str) -> usize {
    s.echo
        .requests()
        .iter()
        .filter(|r| r.path.contains(needle) || r.headers.iter().any(|(_, v)| v == needle))
        .count()
}

/// apisonator strips the app_key it receives (§1.3), but the cache key keeps the client's
/// whitespace: each padded spelling of one key is an entry with the whole remaining budget.
// FINDING: one app_key padded with spaces/tabs gets the plan's remaining calls once per spelling in batching mode.
#[test]
fn whitespace_padded_app_keys_share_one_limit_budget() {
    let s = start(
        query_config(
            "none",
            json!({"auths_ttl": 30, "denied_ttl": 30, "batch_report_seconds": 10}),
        ),
        wire_state(),
    );
    pin_clock(&s.backend, 1);
    let port = s.port();
    // `%20` and `+` are spaces, `%09` a tab: all the same key to the backend.
    let spellings = [
        "lim-key",
        "%20lim-key",
        "lim-key%20",
        "%20%20lim-key",
        "%09lim-key",
    ];
    let mut responses = Vec::new();
    for key in spellings {
        for _ in 0..5 {
            let r = Request::get(&format!("/?app_id={LIM_APP}&app_key={key}"))
                .header("Host", "app.example.com")
                .send(port);
            responses.push(r);
        }
    }
    let forwarded = forwarded_with(&s, LIM_APP);
    // What the backend was asked: each spelling, decoded as the client sent it.
    let asked: Vec<String> = authorizes(&s.backend)
        .iter()
        .filter_map(|r| r.param("app_key").map(|k| format!("{k:?}")))
        .collect();
    wait_until(Duration::from_secs(15), || {
        s.backend.reported_hits("2", LIM_APP, "hits") as usize >= forwarded
    });
    assert_eq!(
        (count_status(&responses, 200), forwarded),
        (5, 5),
        "a plan of 5 hits a minute; backend counted {} hits; authorize asked with app_key {asked:?}; {:?}",
        s.backend.reported_hits("2", LIM_APP, "hits"),
        statuses(&responses)
    );
    assert_eq!(count_status(&responses, 429), 20);
}

/// apisonator applies a report batch all-or-nothing (§2.5); one transaction it rejects (an
/// unknown user_key let through by `caching_type: allow` during an outage) voids the usage of
/// every other application reported in the same POST.
// FINDING: a made-up key forwarded by `allow` makes the backend drop every app's usage in the same report POST.
#[test]
fn an_unknown_key_let_through_by_allow_does_not_void_other_apps_reports() {
    let (s, mut gate) = start_gated(
        query_config(
            "allow",
            json!({"auths_ttl": 30, "denied_ttl": 30, "batch_report_seconds": 1}),
        ),
        cache_state(),
    );
    let port = s.port();
    let free = || Request::get(&format!("/?user_key={FREE}")).header("Host", "api.example.com");
    let bogus = |i: usize| {
        Request::get(&format!("/?user_key=uk-made-up-{i}")).header("Host", "api.example.com")
    };
    assert_eq!(free().send(port).status, 200);
    // That call's report goes out on its own.
    wait_until(Duration::from_secs(5), || {
        s.backend.reported_hits("1", "app-free", "hits") == 1
    });
    gate.close();
    let mut free_forwarded = 1;
    for i in 0..3 {
        // The valid key from its fresh authorization; the made-up one by `allow`.
        assert_eq!(free().send(port).status, 200);
        free_forwarded += 1;
        assert_eq!(
            bogus(i).send(port).status,
            200,
            "allow forwards an unknown key"
        );
    }
    std::thread::sleep(Duration::from_millis(1500));
    gate.open();
    wait_until(Duration::from_secs(15), || {
        !s.backend.report_errors().is_empty()
            || s.backend.reported_hits("1", "app-free", "hits") >= free_forwarded
    });
    std::thread::sleep(Duration::from_millis(2500));
    let posts = reports(&s.backend);
    let in_bodies = reported_in_bodies(&posts, "user_key", FREE, "hits");
    assert_eq!(
        s.backend.reported_hits("1", "app-free", "hits"),
        free_forwarded,
        "uk-free forwarded {free_forwarded} times and sent in report bodies {in_bodies} times; \
         backend report errors {:?}; bodies {:?}",
        s.backend.report_errors(),
        posts.iter().map(|p| p.body.clone()).collect::<Vec<_>>()
    );
}

/// The same all-or-nothing batch, without an outage: an application deleted (or its user_key
/// regenerated) while its authorization is cached voids every other application's calls
/// reported with its last ones.
// FINDING: one deleted app's transaction makes the backend drop the other apps' usage reported with it.
#[test]
fn a_deleted_application_does_not_void_other_apps_reports() {
    let state = cache_state().app(App::new("1", "app-gone").user_key("uk-gone").plan("Free"));
    let s = start(
        query_config(
            "none",
            json!({"auths_ttl": 60, "denied_ttl": 60, "batch_report_seconds": 1}),
        ),
        state,
    );
    let port = s.port();
    let get =
        |key: &str| Request::get(&format!("/?user_key={key}")).header("Host", "api.example.com");
    assert_eq!(get(FREE).send(port).status, 200);
    assert_eq!(get("uk-gone").send(port).status, 200);
    wait_until(Duration::from_secs(5), || {
        s.backend.reported_hits("1", "app-free", "hits") == 1
            && s.backend.reported_hits("1", "app-gone", "hits") == 1
    });
    // The application is deleted in 3scale; Tollgate's authorization for it is still fresh.
    s.backend
        .with_state(|st| st.apps.retain(|a| a.id != "app-gone"));
    let mut free_forwarded = 1;
    for _ in 0..5 {
        let both = concurrently(port, vec![get(FREE), get("uk-gone")]);
        assert_eq!(statuses(&both), vec![200, 200]);
        free_forwarded += 1;
    }
    wait_until(Duration::from_secs(10), || {
        s.backend.reported_hits("1", "app-free", "hits") >= free_forwarded
    });
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(
        s.backend.reported_hits("1", "app-free", "hits"),
        free_forwarded,
        "backend report errors {:?}",
        s.backend.report_errors()
    );
}

/// A relay between Envoy and the mock that answers report POSTs with `202` at once and
/// hands them to the mock `delay` later, as apisonator's Resque worker applies reports after
/// its listener has answered (§6.3). Other calls are relayed.
struct AsyncReports {
    port: u16,
    stop: Arc<AtomicBool>,
}

/// One HTTP/1.1 message: head and body (Content-Length only: what Envoy and the mock send).
fn read_message(reader: &mut BufReader<TcpStream>) -> Option<(String, Vec<u8>)> {
    let mut head = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let end = line == "\r\n";
        head.push_str(&line);
        if end {
            break;
        }
    }
    let length = head
        .lines()
        .find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse::<usize>().ok())?
        })
        .unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some((head, body))
}

fn forward(backend: u16, head: &str, body: &[u8]) -> Option<Vec<u8>> {
    let conn = TcpStream::connect(("127.0.0.1", backend)).ok()?;
    let mut w = conn.try_clone().ok()?;
    w.write_all(head.as_bytes()).ok()?;
    w.write_all(body).ok()?;
    let mut reader = BufReader::new(conn);
    let (rhead, rbody) = read_message(&mut reader)?;
    let mut out = rhead.into_bytes();
    out.extend_from_slice(&rbody);
    Some(out)
}

impl AsyncReports {
    fn start(backend: u16, delay: Duration) -> AsyncReports {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        listener.set_nonblocking(true).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let st = stop.clone();
        std::thread::spawn(move || {
            while !st.load(Ordering::SeqCst) {
                let Ok((conn, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(5));
                    continue;
                };
                std::thread::spawn(move || {
                    let _ = conn.set_nonblocking(false);
                    let mut w = conn.try_clone().unwrap();
                    let mut reader = BufReader::new(conn);
                    while let Some((head, body)) = read_message(&mut reader) {
                        if head.starts_with("POST /transactions.xml") {
                            let _ = w.write_all(
                                b"HTTP/1.1 202 Accepted\r\ncontent-type: application/vnd.3scale-v2.0+xml\r\ncontent-length: 0\r\n\r\n",
                            );
                            std::thread::spawn(move || {
                                std::thread::sleep(delay);
                                let _ = forward(backend, &head, &body);
                            });
                        } else {
                            match forward(backend, &head, &body) {
                                Some(answer) => {
                                    let _ = w.write_all(&answer);
                                }
                                None => return,
                            }
                        }
                    }
                });
            }
        });
        AsyncReports { port, stop }
    }
}

impl Drop for AsyncReports {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// The traffic of the tests below: 15 requests 400 ms apart (slower than the budget runs out:
/// authorizations expire, `auths_ttl` 1 s, between reports, every second) for an app of 5
/// hits a minute, its reports applied by the backend `delay` after their 202 (`None`: at
/// once). Returns the stack, the client's statuses, and the calls forwarded upstream once the
/// backend has counted them all.
fn five_a_minute_every_400_ms(delay: Option<Duration>) -> (Stack, Vec<u16>, usize) {
    let echo = EchoUpstream::start().unwrap();
    let backend = MockBackend::start(wire_state()).unwrap();
    let relay = delay.map(|d| AsyncReports::start(backend.port(), d));
    let cfg = query_config(
        "none",
        json!({"auths_ttl": 1, "denied_ttl": 1, "batch_report_seconds": 1}),
    );
    let envoy = Envoy::builder()
        .concurrency(2)
        .upstream_port(echo.port())
        .backend_port(relay.as_ref().map_or(backend.port(), |r| r.port))
        .filter_config(&cfg.to_string())
        .start()
        .unwrap();
    let s = Stack {
        echo,
        backend,
        envoy,
    };
    pin_clock(&s.backend, 1);
    let port = s.port();
    let get = || {
        Request::get(&format!("/?app_id={LIM_APP}&app_key={LIM_KEY}"))
            .header("Host", "app.example.com")
    };
    let mut responses = Vec::new();
    for _ in 0..15 {
        responses.push(get().send(port));
        std::thread::sleep(Duration::from_millis(400));
    }
    let forwarded = forwarded_with(&s, LIM_APP);
    wait_until(Duration::from_secs(10), || {
        s.backend.reported_hits("2", LIM_APP, "hits") as usize >= forwarded
    });
    // A late report (the relay's) would show here.
    std::thread::sleep(Duration::from_millis(500));
    drop(relay);
    (s, statuses(&responses), forwarded)
}

/// A 202 no longer settles the calls it carries at once: apisonator counts them later
/// (asynchronously, §6.3), and an authorize in between gets the old `remaining`. They stay
/// owed until an answer's figures show them counted (until the thirty-fourth session the
/// budget was given again in full: 10 calls of a plan of 5).
// FINDING: calls settled on a report's 202 are given out again while apisonator has not applied the report yet.
#[test]
fn limit_holds_while_the_backend_applies_a_report_asynchronously() {
    let (s, statuses, forwarded) = five_a_minute_every_400_ms(Some(Duration::from_millis(2500)));
    assert_the_plans_five_calls(&s, &statuses, forwarded);
}

/// Regression guard for the above: a backend that applies reports at once, the same traffic:
/// the plan's 5 calls go through (none held twice, once reported and once counted), no more.
#[test]
fn a_quick_backend_gets_exactly_the_plans_calls() {
    let (s, statuses, forwarded) = five_a_minute_every_400_ms(None);
    assert_the_plans_five_calls(&s, &statuses, forwarded);
}

/// Exactly the plan's 5 calls forwarded, answered 200 and counted by the backend; 429 after.
fn assert_the_plans_five_calls(s: &Stack, statuses: &[u16], forwarded: usize) {
    let hits = s.backend.reported_hits("2", LIM_APP, "hits");
    let authorizes = authorizes(&s.backend).len();
    let summary = format!("backend counted {hits} hits; {authorizes} authorizes; {statuses:?}");
    assert_eq!(forwarded, 5, "a plan of 5 hits a minute; {summary}");
    assert_eq!(hits, 5, "{summary}");
    assert_eq!(
        statuses.iter().filter(|&&c| c == 200).count(),
        5,
        "{summary}"
    );
    assert!(statuses.iter().all(|&c| c == 200 || c == 429), "{summary}");
}

/// Regression guard: credentials with bytes that mean something to Rack's query parser reach
/// the backend as sent, in the authorize query and in the report body, as one parameter each;
/// the report names the app by app_id alone and sums its calls.
#[test]
fn reserved_bytes_in_credentials_reach_authorize_and_report_intact() {
    let uk = "k&usage[hits]=0&service_id=2+%#[]é";
    let app_id = "a&transactions[1][app_id]=x";
    let app_key = "s=1&app_key=%";
    let state = cache_state()
        .app(App::new("1", "app-odd").user_key(uk).plan("Free"))
        .app(App::new("2", app_id).app_keys(&[app_key]).plan("Free"));
    let cfg = cache_config(
        "none",
        Some(json!({"auths_ttl": 30, "batch_report_seconds": 1})),
    );
    let s = start(cfg, state);
    let port = s.port();
    for _ in 0..3 {
        assert_eq!(user(uk).send(port).status, 200);
        assert_eq!(app(app_id, app_key).send(port).status, 200);
    }
    assert_eq!(s.echo.requests().len(), 6);
    let calls = authorizes(&s.backend);
    assert_eq!(calls.len(), 2, "{calls:?}");
    let only = |r: &ReceivedRequest, names: &[&str]| {
        let got: Vec<&str> = r.query.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(got, names, "{}", r.raw_query);
    };
    let by_user = calls
        .iter()
        .find(|r| r.param("user_key").is_some())
        .unwrap();
    only(
        by_user,
        &["service_id", "service_token", "user_key", "usage[hits]"],
    );
    assert_eq!(by_user.param("user_key"), Some(uk));
    assert_eq!(by_user.param("service_id"), Some("1"));
    assert_eq!(by_user.param("service_token"), Some(TOKEN));
    let by_app = calls.iter().find(|r| r.param("app_id").is_some()).unwrap();
    only(
        by_app,
        &[
            "service_id",
            "service_token",
            "app_id",
            "app_key",
            "usage[hits]",
        ],
    );
    assert_eq!(by_app.param("app_id"), Some(app_id));
    assert_eq!(by_app.param("app_key"), Some(app_key));
    support::batching::assert_reported_exactly(
        &s,
        &[("1", "app-odd", "hits", 3), ("2", app_id, "hits", 3)],
    );
    let posts = reports(&s.backend);
    assert_eq!(reported_in_bodies(&posts, "user_key", uk, "hits"), 3);
    assert_eq!(reported_in_bodies(&posts, "app_id", app_id, "hits"), 3);
    for p in &posts {
        assert!(!p.body.contains("s%3D1"), "app_key reported: {}", p.body);
        for t in transactions(p) {
            // The application and the minute of its calls, nothing else.
            let names: Vec<&str> = t.fields.keys().map(String::as_str).collect();
            assert!(
                names == ["timestamp", "user_key"] || names == ["app_id", "timestamp"],
                "{}",
                p.body
            );
            support::cache::assert_recent_minute(&t);
        }
    }
    assert!(s.backend.report_errors().is_empty());
}
