//! Batching mode and limits: exact limits under concurrency across 2 workers, concurrent cache
//! misses sharing one authorize, and denials (invalid key, disabled metric, limits exceeded)
//! answered from the cache.

mod support;

use e2e::Response;
use serde_json::{json, Value};
use std::io::{BufReader, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};
use support::cache::*;
use support::Stack;

fn batching(auths_ttl: u64, denied_ttl: u64) -> Value {
    json!({"auths_ttl": auths_ttl, "denied_ttl": denied_ttl, "batch_report_seconds": 1})
}

fn statuses(responses: &[Response]) -> Vec<String> {
    responses.iter().map(describe).collect()
}

#[test]
fn exact_limit_with_concurrent_requests() {
    let s = start(cache_config("none", Some(batching(30, 30))), cache_state());
    // The mock's minute is pinned at :01, so the 50 hits a minute cannot reset mid-test.
    pin_clock(&s.backend, 1);
    let port = s.port();
    let responses = concurrently(port, vec![user(FIFTY); 120]);
    let ok = count_status(&responses, 200);
    let limited = count_status(&responses, 429);
    assert_eq!((ok, limited), (50, 70), "{:?}", statuses(&responses));
    for r in responses.iter().filter(|r| r.status == 429) {
        assert_limits_exceeded(r);
    }
    assert_eq!(s.echo.requests().len(), 50);

    // More requests are limited from the cache, without asking the backend.
    let calls = authorizes(&s.backend).len();
    for _ in 0..5 {
        assert_eq!(user(FIFTY).send(port).status, 429);
    }
    assert_eq!(authorizes(&s.backend).len(), calls);

    // Exactly the 50 forwarded hits are reported, once.
    wait_until(Duration::from_secs(10), || {
        s.backend.reported_hits("1", "app-50", "hits") >= 50
    });
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(s.backend.reported_hits("1", "app-50", "hits"), 50);
    let posts = reports(&s.backend);
    assert_report_shape(&posts);
    assert_eq!(reported_in_bodies(&posts, "user_key", FIFTY, "hits"), 50);
    assert_eq!(stat(&s.envoy, "requests_authorized"), 50);
    assert_eq!(stat(&s.envoy, "requests_denied.limits_exceeded"), 75);
    assert_eq!(stat(&s.envoy, "report_failures"), 0);
    assert_eq!(stat(&s.envoy, "reports_dropped"), 0);
}

/// A limit of 50 a minute, a burst of 20 reported, then a burst of 60 after `auths_ttl`
/// (`reauthorize_after_ttl`) or within it: exactly 50 forwarded, by both workers, 50 reported.
fn exact_limit_across_a_report(auths_ttl: u64, reauthorize_after_ttl: bool) {
    let s = start(
        cache_config("none", Some(batching(auths_ttl, auths_ttl))),
        cache_state(),
    );
    pin_clock(&s.backend, 1);
    let port = s.port();
    let reported = || s.backend.reported_hits("1", "app-50", "hits");

    let first = concurrently(port, vec![user(FIFTY); 20]);
    let authorized_at = Instant::now();
    assert_eq!(count_status(&first, 200), 20, "{:?}", statuses(&first));
    let after_first = worker_connections(&s.envoy);
    assert!(
        wait_until(Duration::from_secs(10), || reported() == 20),
        "first burst reported: {}",
        reported()
    );
    let reported_at = s.backend.requests().len();
    if reauthorize_after_ttl {
        std::thread::sleep(
            (authorized_at + Duration::from_millis(auths_ttl * 1000 + 300))
                .saturating_duration_since(Instant::now()),
        );
    } else {
        // The report's answer settles the first burst's calls at the filter.
        std::thread::sleep(Duration::from_millis(300));
    }

    let second = concurrently(port, vec![user(FIFTY); 60]);
    let mut limited = concurrently(port, vec![user(FIFTY); 5]);
    assert_eq!(
        (count_status(&second, 200), count_status(&second, 429)),
        (30, 30),
        "{:?}",
        statuses(&second)
    );
    assert_eq!(count_status(&limited, 429), 5, "{:?}", statuses(&limited));
    limited.extend(second.into_iter().filter(|r| r.status == 429));
    for r in &limited {
        assert_limits_exceeded(r);
    }
    assert_eq!(s.echo.requests().len(), 50);
    // The backend was asked again after it had counted the first burst.
    let reauthorized = s.backend.requests()[reported_at..]
        .iter()
        .any(|r| r.path == "/transactions/authorize.xml");
    assert!(reauthorized, "no authorize after the report");

    // Both workers took part in each burst (all of the first one was forwarded).
    let after_second = worker_connections(&s.envoy);
    assert_eq!(after_first.len(), 2, "{after_first:?}");
    for (worker, (&one, &two)) in after_first.iter().zip(&after_second).enumerate() {
        assert!(
            one > 0,
            "worker {worker} took no request of the first burst"
        );
        assert!(
            two > one,
            "worker {worker} took no request of the second burst"
        );
    }

    wait_until(Duration::from_secs(10), || reported() >= 50);
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(reported(), 50);
    let posts = reports(&s.backend);
    assert_report_shape(&posts);
    assert_eq!(reported_in_bodies(&posts, "user_key", FIFTY, "hits"), 50);
    assert_eq!(stat(&s.envoy, "requests_authorized"), 50);
    assert_eq!(stat(&s.envoy, "report_failures"), 0);
    assert_eq!(stat(&s.envoy, "reports_dropped"), 0);
}

/// Exact limit when the authorization expires between the bursts: asked again after the report.
#[test]
fn exact_limit_across_a_report_and_reauthorize_after_auths_ttl() {
    exact_limit_across_a_report(1, true);
}

/// Exact limit when the cached budget runs out in the second burst: asked again, owed calls kept.
#[test]
fn exact_limit_across_a_report_and_reauthorize_when_budget_is_spent() {
    exact_limit_across_a_report(30, false);
}

#[test]
fn concurrent_misses_share_one_authorize() {
    let s = start(cache_config("none", Some(batching(30, 30))), cache_state());
    s.backend.set_latency(Duration::from_millis(300));
    let port = s.port();
    let mut requests = vec![user(FREE); 20];
    requests.extend(vec![app(APP3, APP3_KEY_A); 20]);
    let responses = concurrently(port, requests);
    assert_eq!(
        count_status(&responses, 200),
        40,
        "{:?}",
        statuses(&responses)
    );
    assert_eq!(authorizes_for(&s.backend, "user_key", FREE), 1);
    assert_eq!(authorizes_for(&s.backend, "app_id", APP3), 1);
    assert_eq!(stat(&s.envoy, "backend_authorize_calls"), 2);
    let t = Duration::from_secs(5);
    wait_until(t, || {
        stat(&s.envoy, "cache_hits") + stat(&s.envoy, "cache_misses") == 40
    });
    let (hits, misses) = (stat(&s.envoy, "cache_hits"), stat(&s.envoy, "cache_misses"));
    assert_eq!(hits + misses, 40);
    assert!(
        misses >= 2,
        "the requests that waited for an authorize: {misses}"
    );
    wait_until(Duration::from_secs(10), || {
        s.backend.reported_hits("1", "app-free", "hits") == 20
            && s.backend.reported_hits("2", APP3, "hits") == 20
    });
    assert_eq!(s.backend.reported_hits("1", "app-free", "hits"), 20);
    assert_eq!(s.backend.reported_hits("2", APP3, "hits"), 20);
}

#[test]
fn denials_are_cached_for_denied_ttl() {
    // denied_ttl (4 s) longer than auths_ttl (1 s): a denial outlives an authorization.
    let s = start(cache_config("none", Some(batching(1, 4))), cache_state());
    let port = s.port();
    let started = Instant::now();
    // An invalid key, a wrong app_key, and a disabled metric (a limit of 0): all auth failed.
    let denied = [user(INVALID), app(APP3, "wrong-key"), user(ZERO)];
    for request in &denied {
        for _ in 0..10 {
            let r = request.send(port);
            assert_eq!(
                (r.status, r.body.as_str()),
                (403, "Authentication failed"),
                "{r}"
            );
        }
    }
    let answered = Instant::now();
    std::thread::sleep(Duration::from_millis(1500));
    for request in &denied {
        for _ in 0..10 {
            assert_eq!(request.send(port).status, 403);
        }
        let responses = concurrently(port, vec![request.clone(); 10]);
        assert_eq!(
            count_status(&responses, 403),
            10,
            "{:?}",
            statuses(&responses)
        );
    }
    assert!(
        started.elapsed() < Duration::from_millis(3800),
        "test too slow: {:?}",
        started.elapsed()
    );
    assert_eq!(authorizes_for(&s.backend, "user_key", INVALID), 1);
    assert_eq!(authorizes_for(&s.backend, "app_id", APP3), 1);
    assert_eq!(authorizes_for(&s.backend, "user_key", ZERO), 1);
    assert_eq!(stat(&s.envoy, "backend_authorize_calls"), 3);
    assert_eq!(stat(&s.envoy, "requests_denied.auth_failed"), 90);
    assert_eq!(s.echo.requests().len(), 0);

    // After denied_ttl, asked again.
    std::thread::sleep(
        (answered + Duration::from_millis(4200)).saturating_duration_since(Instant::now()),
    );
    for request in &denied {
        assert_eq!(request.send(port).status, 403);
    }
    assert_eq!(authorizes(&s.backend).len(), 6);
    std::thread::sleep(Duration::from_millis(1500));
    assert!(
        reports(&s.backend).is_empty(),
        "nothing forwarded, nothing reported"
    );
}

#[test]
fn limits_exceeded_is_cached_until_reset() {
    let s = start(cache_config("none", Some(batching(1, 1))), cache_state());
    // The minute is pinned at :56 and app-one's hit is used up: 409, reset in 4 s.
    let pinned = pin_clock(&s.backend, 56);
    use_up(&s.backend);
    let port = s.port();
    let first = user(ONE).send(port);
    let answered = Instant::now();
    assert_eq!(
        (first.status, first.body.as_str()),
        (429, "Limits exceeded")
    );
    assert_eq!(first.header("retry-after"), Some("4"), "{first}");
    // Cached beyond auths_ttl and denied_ttl (1 s), until the reset.
    let mut responses = Vec::new();
    while answered.elapsed() < Duration::from_millis(3000) {
        responses.push(user(ONE).send(port));
        responses.extend(concurrently(port, vec![user(ONE); 5]));
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(
        count_status(&responses, 429),
        responses.len(),
        "{:?}",
        statuses(&responses)
    );
    for r in &responses {
        let retry_after: u64 = r.header("retry-after").unwrap().parse().unwrap();
        assert!((1..=4).contains(&retry_after), "Retry-After {retry_after}");
    }
    assert_eq!(authorizes(&s.backend).len(), 1, "answered from the cache");

    // The next minute starts at the backend: after the reset the filter asks again.
    s.backend.set_now(Some(pinned + 5));
    std::thread::sleep(
        (answered + Duration::from_millis(4200)).saturating_duration_since(Instant::now()),
    );
    let r = user(ONE).send(port);
    assert_eq!(r.status, 200, "{r}");
    assert_eq!(authorizes(&s.backend).len(), 2);
    // And the new minute's single hit is the limit again.
    let r = user(ONE).send(port);
    assert_eq!(r.status, 429, "{r}");
    wait_until(Duration::from_secs(5), || {
        s.backend.reported_hits("1", "app-one", "hits") == 1
    });
    assert_eq!(s.backend.reported_hits("1", "app-one", "hits"), 1);
}

/// The limits-exceeded error as a client sees it: 429 body and a `Retry-After` within the minute.
fn assert_limits_exceeded(r: &Response) {
    assert_eq!(r.body, "Limits exceeded");
    let retry_after: u64 = r
        .header("retry-after")
        .unwrap_or_else(|| panic!("no Retry-After: {r}"))
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry_after), "Retry-After {retry_after}");
}

/// A kept-alive HTTP/1.1 connection: every request on it goes to the worker that accepted it.
struct KeptAlive(BufReader<TcpStream>);

impl KeptAlive {
    fn open(port: u16) -> KeptAlive {
        let conn = TcpStream::connect(("127.0.0.1", port)).unwrap();
        conn.set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        KeptAlive(BufReader::new(conn))
    }

    /// `GET /` on service 1 with `key`: the status.
    fn get(&mut self, key: &str) -> u16 {
        let request = user(key).no_default_headers();
        self.0.get_mut().write_all(&request.to_bytes()).unwrap();
        e2e::http::read_response(&mut self.0, false).unwrap().status
    }
}

/// Opens connections until two are on different workers: (first worker's, second's, the
/// others, kept open so that Envoy does not hand their worker the next one).
fn connections_on_both_workers(s: &Stack) -> (KeptAlive, KeptAlive, Vec<KeptAlive>) {
    let (mut first, mut others) = (None::<(usize, KeptAlive)>, Vec::new());
    // Connections opened before (the harness's readiness probe) may still be being accepted.
    let mut settled = worker_connections(&s.envoy);
    for _ in 0..20 {
        std::thread::sleep(Duration::from_millis(100));
        let now = worker_connections(&s.envoy);
        if std::mem::replace(&mut settled, now) == settled {
            break;
        }
    }
    for _ in 0..40 {
        let before = worker_connections(&s.envoy);
        let conn = KeptAlive::open(s.port());
        let mut accepted = Vec::new();
        wait_until(Duration::from_secs(5), || {
            let after = worker_connections(&s.envoy);
            accepted = (after.iter().zip(&before).enumerate())
                .flat_map(|(worker, (a, b))| std::iter::repeat_n(worker, (a - b) as usize))
                .collect();
            !accepted.is_empty()
        });
        // Another connection accepted meanwhile (the harness's readiness probe, accepted late
        // on a loaded machine) makes this one's worker unknown: it is not used (found when CI
        // under load put both "workers" on one).
        let worker = match accepted[..] {
            [worker] => worker,
            [] => panic!("the connection was accepted by no worker"),
            _ => {
                others.push(conn);
                continue;
            }
        };
        match first.take() {
            Some((w, one)) if w != worker => return (one, conn, others),
            Some(one) => {
                others.push(conn);
                first = Some(one);
            }
            None => first = Some((worker, conn)),
        }
    }
    panic!("40 connections, all on one worker");
}

/// A worker that took a slice of the budget and went idle holds its unused calls (owed) until
/// its lease expires: the other worker uses up the rest and is limited, because the backend
/// allows no more than is owed. When the idle lease expires, its unused calls lift the limit:
/// the plan's 50 calls in all, not 48 (until the twenty-third session the entry stayed limited
/// until the reset; found by an audit of the twenty-second session).
#[test]
fn an_idle_workers_unused_slice_is_not_lost_to_the_application() {
    let cfg = cache_config(
        "none",
        Some(json!({"auths_ttl": 4, "denied_ttl": 4, "batch_report_seconds": 1})),
    );
    let s = start(cfg, cache_state());
    pin_clock(&s.backend, 1);
    let (mut idle, mut busy, _others) = connections_on_both_workers(&s);
    // The idle worker's one call asks the backend (50 left) and leases 3 of them.
    assert_eq!(idle.get(FIFTY), 200);
    let leased_at = Instant::now();
    let mut first: Vec<u16> = Vec::new();
    while first.last() != Some(&429) && first.len() < 60 {
        first.push(busy.get(FIFTY));
    }
    assert!(
        leased_at.elapsed() < Duration::from_secs(3),
        "too slow to tell the idle lease's calls apart: {:?}",
        leased_at.elapsed()
    );
    let forwarded = first.iter().filter(|&&s| s == 200).count();
    assert_eq!((forwarded, first.last()), (47, Some(&429)), "{first:?}");
    // The idle lease expires after auths_ttl (4 s); the busy worker looks again each second.
    std::thread::sleep(
        (leased_at + Duration::from_millis(5_800)).saturating_duration_since(Instant::now()),
    );
    let second: Vec<u16> = (0..4).map(|_| busy.get(FIFTY)).collect();
    assert_eq!(
        second,
        [200, 200, 429, 429],
        "the idle worker's 2 unused calls"
    );
    assert_eq!(
        (s.echo.requests().iter())
            .filter(|r| r.header("user_key") == Some(FIFTY))
            .count(),
        50
    );
    assert!(
        wait_until(Duration::from_secs(10), || s
            .backend
            .reported_hits("1", "app-50", "hits")
            >= 50),
        "reported {}",
        s.backend.reported_hits("1", "app-50", "hits")
    );
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(s.backend.reported_hits("1", "app-50", "hits"), 50);
}
