//! The echo upstream over real TCP: requests recorded exactly as received, keep-alive,
//! concurrent connections. Timeouts here only guard against hangs.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers outside #[test] fns

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use echo_upstream::{EchoRequest, EchoUpstream};

const GUARD: Duration = Duration::from_secs(20);

struct Conn {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn echo(&self) -> EchoRequest {
        EchoRequest::from_json(&self.body).unwrap()
    }
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

    fn send(&mut self, raw: &[u8]) {
        self.writer.write_all(raw).unwrap();
    }

    fn line(&mut self) -> String {
        let mut line = String::new();
        self.reader.read_line(&mut line).unwrap();
        line.trim_end_matches(['\r', '\n']).to_string()
    }

    /// One response: status line, headers, `content-length` bytes of body.
    fn reply(&mut self) -> Reply {
        let status_line = self.line();
        let status = status_line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("bad status line {status_line:?}"));
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
            .unwrap_or(0);
        let mut body = vec![0; len];
        self.reader.read_exact(&mut body).unwrap();
        Reply {
            status,
            headers,
            body: String::from_utf8(body).unwrap(),
        }
    }

    fn exchange(&mut self, raw: &str) -> Reply {
        self.send(raw.as_bytes());
        self.reply()
    }
}

#[test]
fn request_targets_are_recorded_raw() {
    let echo = EchoUpstream::start().unwrap();
    let mut c = Conn::open(echo.port());
    for target in [
        "/a%2Fb",
        "/a\\b",
        "/a;b=c",
        "//double//slash",
        "/a/../b/./c",
        "/%61dmin%2e%2E?x=%2F&y=a+b&&z",
        "/q?",
        "/j/{\"k\":1}",
        "/caf\u{e9}",
        "/s?a=[1]|^~",
        "*",
    ] {
        let r = c.exchange(&format!(
            "OPTIONS {target} HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n"
        ));
        assert_eq!(r.status, 200, "{target}");
        assert_eq!(r.echo().path, target);
        assert_eq!(echo.last_request().unwrap().path, target);
    }
    // Absolute form (as a forward proxy would get it).
    let r =
        c.exchange("GET http://example.com:8080/p%2Fq?x=1 HTTP/1.1\r\nHost: example.com\r\n\r\n");
    assert_eq!(r.echo().path, "http://example.com:8080/p%2Fq?x=1");
}

#[test]
fn headers_duplicates_underscores_and_values_are_kept() {
    let echo = EchoUpstream::start().unwrap();
    let mut c = Conn::open(echo.port());
    let r = c.exchange(
        "GET / HTTP/1.1\r\nHost: h\r\nX_Under_Score: a_b\r\nX-Dup: 1\r\nx-dup: 2, 3\r\n\
         X-DUP:  spaced  value \r\nX-Empty:\r\nX-Json: {\"a\": [1, \"two\"]}\r\n\r\n",
    );
    let seen = r.echo();
    assert_eq!(
        seen.headers,
        [
            ("host", "h"),
            ("x_under_score", "a_b"),
            ("x-dup", "1"),
            ("x-dup", "2, 3"),
            ("x-dup", "spaced  value"),
            ("x-empty", ""),
            ("x-json", "{\"a\": [1, \"two\"]}"),
        ]
        .map(|(n, v)| (n.to_string(), v.to_string()))
    );
    assert_eq!(echo.requests(), vec![seen]);
    assert_eq!(r.header("x-upstream"), Some("echo"));
    assert_eq!(r.header("content-type"), Some("application/json"));
}

#[test]
fn bodies_chunked_and_after_100_continue() {
    let echo = EchoUpstream::start().unwrap();
    let mut c = Conn::open(echo.port());

    let r = c.exchange(
        "POST /chunked HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n\
         5\r\nhello\r\n7\r\n, world\r\n0\r\n\r\n",
    );
    let seen = r.echo();
    assert_eq!(seen.body, "hello, world");
    assert_eq!(seen.header("transfer-encoding"), Some("chunked"));

    // The client waits for `100 Continue` before it sends the body.
    c.send(
        b"PUT /expect HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 11\r\n\r\n",
    );
    assert_eq!(c.line(), "HTTP/1.1 100 Continue");
    assert_eq!(c.line(), "");
    c.send(b"hello there");
    let r = c.reply();
    assert_eq!(r.status, 200);
    let seen = r.echo();
    assert_eq!(
        (seen.method.as_str(), seen.body.as_str()),
        ("PUT", "hello there")
    );
    assert_eq!(seen.header("expect"), Some("100-continue"));

    // A body larger than hyper's buffers.
    let big = "x".repeat(1 << 20);
    let r = c.exchange(&format!(
        "POST /big HTTP/1.1\r\nHost: h\r\nContent-Length: {}\r\n\r\n{big}",
        big.len()
    ));
    assert_eq!(r.echo().body.len(), big.len());
    assert_eq!(echo.request_count(), 3);
}

#[test]
fn chunked_request_trailers_are_recorded() {
    let echo = EchoUpstream::start().unwrap();
    let mut c = Conn::open(echo.port());
    let r = c.exchange(
        "POST /t HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTrailer: x-checksum\r\n\r\n\
         5\r\nhello\r\n0\r\nX-Checksum: abc\r\nX_Under_Score: u\r\nx-dup: 1\r\n\
         X-DUP: 2\r\n\r\n",
    );
    assert_eq!(r.status, 200);
    let seen = r.echo();
    assert_eq!(seen.body, "hello");
    assert_eq!(
        seen.trailers,
        [
            ("x-checksum", "abc"),
            ("x_under_score", "u"),
            ("x-dup", "1"),
            ("x-dup", "2"),
        ]
        .map(|(n, v)| (n.to_string(), v.to_string()))
    );
    assert_eq!(seen.trailer_all("X-DUP"), vec!["1", "2"]);
    // Trailers are not headers.
    assert!(!seen.has_header("x-checksum"));
    assert_eq!(echo.requests(), vec![seen]);

    // Without trailers (chunked or not), on the same connection: none recorded, and the
    // JSON has no `trailers` field (older readers parse it unchanged).
    let r = c.exchange(
        "POST /n HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n",
    );
    assert!(!r.body.contains("trailers"), "{}", r.body);
    assert_eq!(r.echo().trailers, Vec::<(String, String)>::new());
    let r = c.exchange("GET /g HTTP/1.1\r\nHost: h\r\n\r\n");
    assert!(r.echo().trailers.is_empty());
    assert_eq!(echo.request_count(), 3);
    // An old echo (no `trailers` field) still parses.
    let old = r#"{"method":"GET","path":"/","headers":[["host","h"]],"body":""}"#;
    assert!(EchoRequest::from_json(old).unwrap().trailers.is_empty());
}

#[test]
fn many_requests_on_one_connection() {
    let echo = EchoUpstream::start().unwrap();
    let mut c = Conn::open(echo.port());
    for i in 0..100 {
        let body = format!("body {i}");
        let r = c.exchange(&format!(
            "POST /n/{i}?i={i} HTTP/1.1\r\nHost: h\r\nX-I: {i}\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        ));
        assert_eq!(r.status, 200, "request {i}");
        assert_ne!(r.header("connection"), Some("close"), "request {i}");
        let seen = r.echo();
        assert_eq!(seen.path, format!("/n/{i}?i={i}"));
        assert_eq!(seen.header("x-i"), Some(i.to_string().as_str()));
        assert_eq!(seen.body, body);
    }
    // Special paths on the same connection.
    assert_eq!(
        c.exchange("GET /status/503 HTTP/1.1\r\nHost: h\r\n\r\n")
            .status,
        503
    );
    assert_eq!(
        c.exchange("GET /delay/20 HTTP/1.1\r\nHost: h\r\n\r\n")
            .status,
        200
    );
    let r = c.exchange("GET /status/599 HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_eq!(r.status, 599);
    assert_eq!(echo.request_count(), 103);
}

#[test]
fn concurrent_keep_alive_clients() {
    let echo = EchoUpstream::start().unwrap();
    let port = echo.port();
    let clients: Vec<_> = (0..16)
        .map(|client| {
            std::thread::spawn(move || {
                let mut c = Conn::open(port);
                for i in 0..25 {
                    // One slow request per client: others are answered meanwhile.
                    let path = if i == 3 {
                        format!("/delay/200/{client}")
                    } else {
                        format!("/c/{client}/{i}")
                    };
                    let r = c.exchange(&format!("GET {path} HTTP/1.1\r\nHost: h\r\n\r\n"));
                    assert_eq!(r.status, 200);
                    assert_eq!(r.echo().path, path);
                }
            })
        })
        .collect();
    for c in clients {
        c.join().unwrap();
    }
    assert_eq!(echo.request_count(), 16 * 25);
}

#[test]
fn dropping_the_server_closes_its_port_and_connections() {
    let echo = EchoUpstream::start().unwrap();
    let port = echo.port();
    let mut idle = Conn::open(port);
    assert_eq!(
        idle.exchange("GET / HTTP/1.1\r\nHost: h\r\n\r\n").status,
        200
    );
    let mut delayed = Conn::open(port);
    delayed.send(b"GET /delay/60000 HTTP/1.1\r\nHost: h\r\n\r\n");
    while echo.request_count() < 2 {
        std::thread::sleep(Duration::from_millis(5));
    }
    let started = std::time::Instant::now();
    drop(echo);
    assert!(started.elapsed() < Duration::from_secs(5));
    let mut rest = Vec::new();
    assert_eq!(idle.reader.read_to_end(&mut rest).unwrap_or(0), 0);
    assert_eq!(delayed.reader.read_to_end(&mut rest).unwrap_or(0), 0);
    assert!(TcpStream::connect(("127.0.0.1", port)).is_err());
    // The port can be bound again at once.
    let again = EchoUpstream::start_on(("127.0.0.1", port)).unwrap();
    assert_eq!(again.port(), port);
}
