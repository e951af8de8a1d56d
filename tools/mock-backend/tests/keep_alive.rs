//! Keep-alive: many requests on one HTTP/1.1 connection (no `Connection: close`), many such
//! connections at once, and hung or delayed answers that hold up only their own connection.
//! Not a performance test: timeouts only guard against hangs.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers outside #[test] fns

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use mock_backend::{App, MockBackend, Mode, Period, Service, State};

const GUARD: Duration = Duration::from_secs(20);

fn backend() -> MockBackend {
    let mut state = State::new().service(
        Service::new("42")
            .token("svc-token")
            .backend_version("1")
            .metric("hits", None),
    );
    for i in 0..16 {
        state = state.app(
            App::new("42", &format!("app{i}"))
                .user_key(&format!("uk-{i}"))
                .limit("hits", Period::Eternity, 1_000_000),
        );
    }
    MockBackend::start(state).unwrap()
}

/// One persistent connection that reads responses by `content-length`.
struct Conn {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

#[derive(Debug)]
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Conn {
    fn open(port: u16) -> Conn {
        let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream.set_read_timeout(Some(GUARD)).unwrap();
        stream.set_write_timeout(Some(GUARD)).unwrap();
        Conn {
            reader: BufReader::new(stream.try_clone().unwrap()),
            writer: stream,
        }
    }

    fn line(&mut self) -> String {
        let mut line = String::new();
        self.reader.read_line(&mut line).unwrap();
        line.trim_end_matches(['\r', '\n']).to_string()
    }

    fn request(&mut self, method: &str, target: &str, body: &str) -> Reply {
        let mut req = format!("{method} {target} HTTP/1.1\r\nHost: backend\r\n");
        if method == "POST" {
            req.push_str("Content-Type: application/x-www-form-urlencoded\r\n");
            req.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        req.push_str("\r\n");
        req.push_str(body);
        self.writer.write_all(req.as_bytes()).unwrap();

        let status_line = self.line();
        assert!(status_line.starts_with("HTTP/1.1 "), "{status_line:?}");
        let status = status_line[9..12].parse().unwrap();
        let mut headers = Vec::new();
        loop {
            let line = self.line();
            if line.is_empty() {
                break;
            }
            let (n, v) = line.split_once(':').unwrap();
            headers.push((n.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
        let len: usize = headers
            .iter()
            .find(|(n, _)| n == "content-length")
            .map(|(_, v)| v.parse().unwrap())
            .expect("content-length on every answer");
        let mut body = vec![0; len];
        self.reader.read_exact(&mut body).unwrap();
        let reply = Reply {
            status,
            headers,
            body: String::from_utf8(body).unwrap(),
        };
        assert!(
            !reply
                .headers
                .iter()
                .any(|(n, v)| n == "connection" && v.eq_ignore_ascii_case("close")),
            "the server wants to close: {reply:?}"
        );
        reply
    }
}

fn authrep(user_key: &str) -> String {
    format!(
        "/transactions/authrep.xml?service_token=svc-token&service_id=42&user_key={user_key}&usage%5Bhits%5D=1"
    )
}

#[test]
fn hundred_requests_on_one_connection() {
    let b = backend();
    let mut c = Conn::open(b.port());
    for i in 1..=100u64 {
        let r = match i % 4 {
            0 => c.request(
                "POST",
                "/transactions.xml?service_token=svc-token&service_id=42",
                "transactions%5B0%5D%5Buser_key%5D=uk-0&transactions%5B0%5D%5Busage%5D%5Bhits%5D=1",
            ),
            1 => c.request("GET", "/status", ""),
            _ => c.request("GET", &authrep("uk-0"), ""),
        };
        match i % 4 {
            0 => assert_eq!((r.status, r.body.as_str()), (202, ""), "request {i}"),
            1 => assert_eq!(r.status, 200, "request {i}: {r:?}"),
            _ => {
                assert_eq!(r.status, 200, "request {i}: {r:?}");
                assert!(r.body.contains("<authorized>true</authorized>"), "{r:?}");
            }
        }
    }
    // The admin route on the same connection, then the counters it reports.
    let stats = c.request("GET", "/_mock/stats", "");
    assert_eq!(stats.status, 200);
    assert!(stats.body.contains(r#""authrep":50"#), "{}", stats.body);
    assert!(stats.body.contains(r#""report":25"#), "{}", stats.body);
    assert_eq!(b.reported_hits("42", "app0", "hits"), 75);
    assert_eq!(b.requests().len(), 100);
    assert_eq!(b.requests()[1].url(), authrep("uk-0"), "target as sent");
}

#[test]
fn concurrent_clients_each_with_keep_alive() {
    let b = backend();
    b.set_latency(Duration::from_millis(5));
    let port = b.port();
    let clients: Vec<_> = (0..16)
        .map(|i| {
            std::thread::spawn(move || {
                let mut c = Conn::open(port);
                for n in 1..=25 {
                    let r = c.request("GET", &authrep(&format!("uk-{i}")), "");
                    assert_eq!(r.status, 200, "client {i}, request {n}: {r:?}");
                    assert!(
                        r.body
                            .contains(&format!("<current_value>{n}</current_value>")),
                        "client {i}, request {n}: {}",
                        r.body
                    );
                }
            })
        })
        .collect();
    for c in clients {
        c.join().unwrap();
    }
    for i in 0..16 {
        assert_eq!(b.reported_hits("42", &format!("app{i}"), "hits"), 25);
    }
    assert_eq!(b.stats().calls.authrep, 16 * 25);
}

#[test]
fn a_hung_request_holds_up_only_its_own_connection() {
    let b = backend();
    let port = b.port();
    let mut busy = Conn::open(port);
    let mut other = Conn::open(port);
    assert_eq!(busy.request("GET", &authrep("uk-1"), "").status, 200);
    assert_eq!(other.request("GET", &authrep("uk-2"), "").status, 200);

    b.set_mode(Mode::Hang);
    busy.writer
        .write_all(format!("GET {} HTTP/1.1\r\nHost: backend\r\n\r\n", authrep("uk-1")).as_bytes())
        .unwrap();
    while b.requests().len() < 3 {
        std::thread::sleep(Duration::from_millis(5));
    }
    // Health and admin answers on the other kept-alive connection meanwhile.
    for _ in 0..10 {
        assert_eq!(other.request("GET", "/status", "").status, 200);
        assert_eq!(other.request("GET", "/_mock/stats", "").status, 200);
    }
    b.set_mode(Mode::Normal);
    assert_eq!(other.request("GET", &authrep("uk-2"), "").status, 200);

    // The client gives up on the hung one; a new connection is served normally.
    drop(busy);
    let mut fresh = Conn::open(port);
    assert_eq!(fresh.request("GET", &authrep("uk-1"), "").status, 200);

    // Stopping the mock closes the kept-alive connections.
    drop(b);
    let mut rest = Vec::new();
    assert_eq!(other.reader.read_to_end(&mut rest).unwrap_or(0), 0);
    assert_eq!(fresh.reader.read_to_end(&mut rest).unwrap_or(0), 0);
}
