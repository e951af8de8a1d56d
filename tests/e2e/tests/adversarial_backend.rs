//! An attacker's view of backend faults: when the 3scale backend answers 5xx, garbage, a
//! truncated or impossible response, hangs past the timeout, closes the connection or
//! refuses it, the filter fails closed (`caching_type: none`): 403, nothing upstream, with or
//! without a request body, over HTTP/1.1 and HTTP/2, in authrep and batching mode.

mod support;

use e2e::mock_backend::{MockBackend, Mode};
use e2e::{EchoUpstream, Envoy};
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::adversarial::*;
use support::cache::Gate;
use support::Stack;

/// How the fault server answers a backend call.
#[derive(Debug, Clone)]
enum Fault {
    /// Pass the call on to the mock backend.
    Relay,
    /// Read the request head, write these bytes, close.
    Bytes(&'static [u8]),
    /// Accept and close at once.
    Close,
    /// Read the request and never answer (until the test ends).
    Hang,
}

/// A TCP server between Envoy and the mock backend that can misbehave on demand. The fault
/// is chosen when a connection is accepted; changing it closes the relayed connections, so
/// Envoy's pooled (keep-alive) connections cannot carry on relaying to the mock.
struct FaultServer {
    port: u16,
    fault: Arc<Mutex<Fault>>,
    relays: Arc<Mutex<Vec<TcpStream>>>,
    stop: Arc<AtomicBool>,
}

impl FaultServer {
    fn start(backend: u16) -> FaultServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        listener.set_nonblocking(true).unwrap();
        let fault = Arc::new(Mutex::new(Fault::Relay));
        let relays = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (f, r, st) = (fault.clone(), relays.clone(), stop.clone());
        std::thread::spawn(move || {
            while !st.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((conn, _)) => {
                        let fault = f.lock().unwrap().clone();
                        if matches!(fault, Fault::Relay) {
                            r.lock().unwrap().push(conn.try_clone().unwrap());
                        }
                        let st = st.clone();
                        std::thread::spawn(move || serve(conn, fault, backend, &st));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        FaultServer {
            port,
            fault,
            relays,
            stop,
        }
    }

    fn set(&self, fault: Fault) {
        *self.fault.lock().unwrap() = fault;
        for conn in self.relays.lock().unwrap().drain(..) {
            let _ = conn.shutdown(Shutdown::Both);
        }
    }
}

impl Drop for FaultServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

fn read_head(conn: &mut TcpStream) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(2)));
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
        match conn.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(k) => got.extend_from_slice(&buf[..k]),
        }
    }
}

fn serve(mut conn: TcpStream, fault: Fault, backend: u16, stop: &AtomicBool) {
    let _ = conn.set_nonblocking(false);
    match fault {
        Fault::Relay => {
            let Ok(server) = TcpStream::connect(("127.0.0.1", backend)) else {
                return;
            };
            let (mut c2, mut s2) = (conn.try_clone().unwrap(), server.try_clone().unwrap());
            let up = std::thread::spawn(move || {
                let _ = std::io::copy(&mut c2, &mut s2);
                let _ = s2.shutdown(Shutdown::Write);
            });
            let (mut s3, mut c3) = (server, conn);
            let _ = std::io::copy(&mut s3, &mut c3);
            let _ = c3.shutdown(Shutdown::Write);
            let _ = up.join();
        }
        Fault::Bytes(bytes) => {
            read_head(&mut conn);
            let _ = conn.write_all(bytes);
            let _ = conn.shutdown(Shutdown::Both);
        }
        Fault::Close => drop(conn),
        Fault::Hang => {
            read_head(&mut conn);
            let until = Instant::now() + Duration::from_secs(20);
            while Instant::now() < until && !stop.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

/// Envoy → gate (can refuse connections) → fault server → mock backend; 500 ms timeout.
fn stack(batching: bool) -> (Stack, Gate, FaultServer) {
    let echo = EchoUpstream::start().unwrap();
    let backend = MockBackend::start(adv_state()).unwrap();
    let faults = FaultServer::start(backend.port());
    let gate = Gate::open_to(faults.port);
    let mut cfg = adv_config(three_scale_services(), batching);
    cfg["backend"]["timeout_ms"] = serde_json::json!(500);
    let envoy = Envoy::builder()
        .concurrency(2)
        .upstream_port(echo.port())
        .backend_port(gate.port())
        .filter_config(&cfg.to_string())
        .start()
        .unwrap();
    (
        Stack {
            echo,
            backend,
            envoy,
        },
        gate,
        faults,
    )
}

#[derive(Debug, Clone)]
enum Setup {
    Fault(Fault),
    Status(u16),
    Refused,
}

fn setups() -> Vec<(&'static str, Setup)> {
    vec![
        ("status_500", Setup::Status(500)),
        ("status_502", Setup::Status(502)),
        ("status_503", Setup::Status(503)),
        (
            "not_http",
            Setup::Fault(Fault::Bytes(b"NOT HTTP AT ALL\r\n\r\n")),
        ),
        (
            "status_999",
            Setup::Fault(Fault::Bytes(
                b"HTTP/1.1 999 Weird\r\nContent-Length: 0\r\n\r\n",
            )),
        ),
        (
            "truncated_200",
            Setup::Fault(Fault::Bytes(
                b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n<status>",
            )),
        ),
        (
            "bad_chunks_200",
            Setup::Fault(Fault::Bytes(
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            )),
        ),
        (
            "headers_cut",
            Setup::Fault(Fault::Bytes(b"HTTP/1.1 200 OK\r\nContent-")),
        ),
        ("closed", Setup::Fault(Fault::Close)),
        ("hang_past_timeout", Setup::Fault(Fault::Hang)),
        ("refused", Setup::Refused),
    ]
}

const SHAPES_HERE: [Shape; 4] = [Shape::NoBody, Shape::Json, Shape::H2, Shape::Form];

#[test]
fn backend_faults_fail_closed_in_authrep_and_batching_mode() {
    let mut failures = Vec::new();
    let mut total = 0;
    for batching in [false, true] {
        let mode = if batching { "batching" } else { "authrep" };
        let (s, mut gate, faults) = stack(batching);
        // The chain works: a valid key is forwarded.
        let sanity = vec![(
            format!("{mode}/relay"),
            Shape::Json,
            Case::new("hdr.example.com", "/api/x").header("user_key", "uk-ok-47"),
            Expect::Allowed,
        )];
        failures.extend(run_and_check(&s, &sanity, 1));
        for (i, (name, setup)) in setups().into_iter().enumerate() {
            match &setup {
                Setup::Fault(f) => faults.set(f.clone()),
                Setup::Status(code) => s.backend.set_mode(Mode::Status(*code)),
                Setup::Refused => gate.close(),
            }
            let mut cases = Vec::new();
            for (j, shape) in SHAPES_HERE.iter().enumerate() {
                // Fresh keys: a batching miss each time. Valid keys: only the fault stops them.
                let n = i * SHAPES_HERE.len() + j;
                let (host, target, headers) = match shape {
                    Shape::Form => (
                        "query.example.com",
                        format!("/api/x?user_key=uk-q-{n}"),
                        vec![],
                    ),
                    _ => (
                        "hdr.example.com",
                        "/api/x".to_string(),
                        vec![("user_key", format!("uk-ok-{n}"))],
                    ),
                };
                let mut case = Case::new(host, &target);
                for (k, v) in headers {
                    case = case.header(k, &v);
                }
                let wrong = Case::new("hdr.example.com", "/api/x")
                    .header("user_key", &format!("uk-wrong-{n}"));
                for (kind, c) in [("valid", case), ("wrong", wrong)] {
                    cases.push((
                        format!("{mode}/{name}/{kind}/{shape:?}"),
                        *shape,
                        c,
                        Expect::Denied(AUTH_FAILED.0, AUTH_FAILED.1),
                    ));
                }
            }
            total += cases.len();
            failures.extend(run_and_check(&s, &cases, 8));
            match setup {
                Setup::Fault(_) => faults.set(Fault::Relay),
                Setup::Status(_) => s.backend.set_mode(Mode::Normal),
                Setup::Refused => gate.open(),
            }
        }
        failures.extend(still_serving(s.port(), 3, "uk-ok-46"));
        let traps = traps(&s);
        if !traps.is_empty() {
            failures.push(format!("{mode}: the VM trapped: {traps:?}"));
        }
    }
    assert_none("backend faults", &failures, total);
}
