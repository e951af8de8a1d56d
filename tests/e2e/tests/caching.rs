//! Authrep mode (no `batching`) with `backend.caching_type`: every request still makes one
//! synchronous authrep; the caching type only decides what a failed call (no answer, timeout,
//! 5xx) gets, from the last answer the backend gave for the same service, credentials and
//! usage. Every Envoy here runs 2 workers, so remembered answers are shared between them.

mod support;

use e2e::mock_backend::{MockBackend, Mode};
use e2e::{Envoy, Request, Response};
use serde_json::json;
use support::cache::*;
use support::{config, service, Stack};

/// How the backend fails.
#[derive(Debug, Clone, Copy)]
enum Failure {
    /// Every transaction call answers this status.
    Status(u16),
    /// Calls are accepted and never answered: the 500 ms callout timeout.
    Hang,
    /// Nothing listens on the backend port: connections are refused.
    Down,
}

/// What a caching type answers while the backend fails.
struct Expected {
    /// A key whose last answer was 200: the first failed request, then the next ones.
    authorized_first: u16,
    authorized_again: u16,
    /// A key whose last answer was limits exceeded (409).
    limited: u16,
    /// A key (or a usage) the backend was never asked about.
    unknown: u16,
}

fn expected(caching_type: &str) -> Expected {
    let (authorized_first, authorized_again, limited, unknown) = match caching_type {
        "none" => (403, 403, 403, 403),
        "strict" => (200, 403, 403, 403),
        "resilient" => (200, 200, 429, 403),
        "allow" => (200, 200, 429, 200),
        other => panic!("unknown caching type {other}"),
    };
    Expected {
        authorized_first,
        authorized_again,
        limited,
        unknown,
    }
}

/// Sends `request` and checks the status (and the body of the filter's errors); keeps a log
/// of every step for failure messages.
struct Run<'a> {
    port: u16,
    log: &'a mut Vec<String>,
}

impl Run<'_> {
    fn expect(&mut self, what: &str, request: Request, status: u16) -> Response {
        let r = request.send(self.port);
        self.log.push(format!("{what}: {}", describe(&r)));
        assert_eq!(
            r.status,
            status,
            "{what}; steps so far:\n{}",
            self.log.join("\n")
        );
        match status {
            403 => assert_eq!(r.body, "Authentication failed", "{what}"),
            429 => assert_eq!(r.body, "Limits exceeded", "{what}"),
            _ => {}
        }
        r
    }
}

fn fail(s: &mut Stack, failure: Failure) {
    match failure {
        Failure::Status(code) => s.backend.set_mode(Mode::Status(code)),
        Failure::Hang => s.backend.set_mode(Mode::Hang),
        Failure::Down => {
            // Replace the mock by one on another port; dropping the old one closes its port.
            let placeholder = MockBackend::start(cache_state()).unwrap();
            drop(std::mem::replace(&mut s.backend, placeholder));
        }
    }
}

fn restore(s: &mut Stack, failure: Failure, port: u16) {
    match failure {
        Failure::Status(_) | Failure::Hang => s.backend.set_mode(Mode::Normal),
        Failure::Down => {
            let backend = MockBackend::start_on(&format!("127.0.0.1:{port}"), cache_state())
                .expect("restart the mock backend on its port");
            pin_clock(&backend, 30);
            use_up(&backend);
            s.backend = backend;
        }
    }
}

/// Backend up, then failing, then up again, then failing again, for one caching type.
fn scenario(caching_type: &str, failure: Failure) {
    let mut s = start(cache_config(caching_type, None), cache_state());
    let backend_port = s.backend.port();
    pin_clock(&s.backend, 30);
    use_up(&s.backend);
    let e = expected(caching_type);
    let mut log = Vec::new();
    let mut run = Run {
        port: s.port(),
        log: &mut log,
    };
    let mut sent = 0u64;
    let mut failed = 0u64;
    let mut forwarded = 0usize;

    // Backend up: its answers, whatever the caching type.
    run.expect("up: valid key", user(FREE), 200);
    let r = run.expect("up: limits exceeded", user(ONE), 429);
    let retry_after: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!(retry_after <= 30, "Retry-After {retry_after}");
    run.expect("up: invalid key", user(INVALID), 403);
    sent += 3;
    forwarded += 1;

    fail(&mut s, failure);
    let steps = [
        ("failing: valid key", user(FREE), e.authorized_first),
        ("failing: valid key again", user(FREE), e.authorized_again),
        (
            "failing: valid key a third time",
            user(FREE),
            e.authorized_again,
        ),
        ("failing: invalid key", user(INVALID), 403),
        ("failing: limits exceeded", user(ONE), e.limited),
        ("failing: key never asked", user(FRESH), e.unknown),
        (
            "failing: valid key, usage never asked",
            user_path("/foo", FREE),
            e.unknown,
        ),
    ];
    for (what, request, status) in steps {
        run.expect(what, request, status);
        forwarded += usize::from(status == 200);
        sent += 1;
        failed += 1;
    }

    restore(&mut s, failure, backend_port);
    run.expect("restored: valid key", user(FREE), 200);
    run.expect("restored: limits exceeded", user(ONE), 429);
    run.expect("restored: invalid key", user(INVALID), 403);
    sent += 3;
    forwarded += 1;

    // The new 200 is remembered as well (strict: it covers one more failed request).
    fail(&mut s, failure);
    run.expect("failing again: valid key", user(FREE), e.authorized_first);
    run.expect(
        "failing again: valid key again",
        user(FREE),
        e.authorized_again,
    );
    forwarded += usize::from(e.authorized_first == 200) + usize::from(e.authorized_again == 200);
    sent += 2;
    failed += 2;

    // Every request made one authrep (and nothing else); failures are counted.
    assert_eq!(stat(&s.envoy, "backend_authrep_calls"), sent, "{log:?}");
    assert_eq!(stat(&s.envoy, "backend_calls"), sent);
    assert_eq!(stat(&s.envoy, "backend_authorize_calls"), 0);
    assert_eq!(stat(&s.envoy, "backend_report_calls"), 0);
    assert_eq!(stat(&s.envoy, "backend_errors"), failed);
    assert_eq!(stat(&s.envoy, "requests_authorized"), forwarded as u64);
    assert_eq!(s.echo.requests().len(), forwarded, "{log:?}");
    if let Failure::Status(_) = failure {
        // The mock saw every call, answered or not.
        assert_eq!(authrep_calls(&s.backend).len() as u64, sent);
        assert!(authorizes(&s.backend).is_empty());
        assert!(reports(&s.backend).is_empty());
    }
}

#[test]
fn none_backend_5xx() {
    scenario("none", Failure::Status(503));
}

#[test]
fn none_backend_timeout() {
    scenario("none", Failure::Hang);
}

#[test]
fn none_backend_down() {
    scenario("none", Failure::Down);
}

#[test]
fn strict_backend_5xx() {
    scenario("strict", Failure::Status(503));
}

#[test]
fn strict_backend_timeout() {
    scenario("strict", Failure::Hang);
}

#[test]
fn strict_backend_down() {
    scenario("strict", Failure::Down);
}

#[test]
fn resilient_backend_5xx() {
    scenario("resilient", Failure::Status(503));
}

#[test]
fn resilient_backend_timeout() {
    scenario("resilient", Failure::Hang);
}

#[test]
fn resilient_backend_down() {
    scenario("resilient", Failure::Down);
}

#[test]
fn allow_backend_5xx() {
    scenario("allow", Failure::Status(503));
}

#[test]
fn allow_backend_timeout() {
    scenario("allow", Failure::Hang);
}

#[test]
fn allow_backend_down() {
    scenario("allow", Failure::Down);
}

/// A caching type, the backend's status per request (`None`: its normal answer, a 200 here)
/// and what the client gets.
type Sequence = (&'static str, &'static [Option<u16>], &'static [u16]);

/// APIcast's documented sequences (strict: 200, 502, 502 gives 200, 200, 403; none: 200, 502,
/// 200, 502 gives 200, 403, 200, 403), and the same idea for the other types.
#[test]
fn documented_sequences() {
    let cases: [Sequence; 5] = [
        ("strict", &[None, Some(502), Some(502)], &[200, 200, 403]),
        (
            "none",
            &[None, Some(502), None, Some(502)],
            &[200, 403, 200, 403],
        ),
        (
            "strict",
            &[None, Some(502), None, Some(502), Some(502)],
            &[200, 200, 200, 200, 403],
        ),
        (
            "resilient",
            &[None, Some(502), Some(502), Some(502)],
            &[200, 200, 200, 200],
        ),
        ("allow", &[Some(502), None, Some(502)], &[200, 200, 200]),
    ];
    for (caching_type, backend, client) in cases {
        let s = start(cache_config(caching_type, None), cache_state());
        let got: Vec<u16> = backend
            .iter()
            .map(|answer| {
                s.backend
                    .set_mode(answer.map_or(Mode::Normal, Mode::Status));
                user(FREE).send(s.port()).status
            })
            .collect();
        assert_eq!(got, client, "{caching_type} with backend {backend:?}");
        assert_eq!(authrep_calls(&s.backend).len(), backend.len());
    }
}

/// Remembered answers are per (service, credentials, usage), and app_id/app_key services
/// remember theirs too.
#[test]
fn remembered_answers_are_per_credentials_and_usage() {
    let s = start(cache_config("resilient", None), cache_state());
    let port = s.port();
    assert_eq!(app(APP3, APP3_KEY_A).send(port).status, 200);
    assert_eq!(app(APP3, "wrong-key").send(port).status, 403);
    assert_eq!(user_path("/foo", FREE).send(port).status, 200);
    s.backend.set_mode(Mode::Status(503));
    let got = [
        app(APP3, APP3_KEY_A),
        app(APP3, "wrong-key"),
        app(APP3, APP3_KEY_B),
        user_path("/foo", FREE),
        user(FREE),
    ]
    .map(|r| r.send(port).status);
    assert_eq!(
        got,
        [200, 403, 403, 200, 403],
        "app key A (200 remembered), a wrong key (403 remembered), app key B (never asked), \
         /foo (200 remembered), / (never asked)"
    );
}

#[test]
fn unknown_caching_type_is_refused() {
    let mut c = config(vec![service(1, json!(1), json!({}))]);
    c["backend"]["caching_type"] = json!("sometimes");
    let log = Envoy::builder()
        .concurrency(2)
        .filter_config(&c.to_string())
        .start_expect_failure()
        .expect("Envoy must refuse the configuration");
    assert!(
        log.contains("Unable to create Wasm plugin tollgate"),
        "{log}"
    );
    assert!(
        log.contains("invalid configuration: backend.caching_type: unknown value \"sometimes\""),
        "{log}"
    );
    // The four documented values are accepted.
    for caching_type in ["none", "strict", "resilient", "allow"] {
        c["backend"]["caching_type"] = json!(caching_type);
        let envoy = Envoy::builder()
            .concurrency(2)
            .filter_config(&c.to_string())
            .start();
        assert!(envoy.is_ok(), "{caching_type}: {:?}", envoy.err());
    }
}
