//! apisonator's answers as bytes, for the backend answer tests (`backend_raw_answers.rs`,
//! `backend_hierarchy_and_mock_answers.rs`): a server that plays canned answers, the route
//! and error header sets (reference `3scale-backend-protocol.md` §1.4), and the reference's
//! verbatim bodies (§4.5).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One backend call as received: method, target, body.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub target: String,
    pub body: String,
}

/// Plays canned answers: `answer(method, target)` gives the whole response (status line,
/// headers, body). Keeps connections alive unless the answer says `Connection: close`.
pub struct RawBackend {
    pub port: u16,
    seen: Arc<Mutex<Vec<Seen>>>,
    stop: Arc<AtomicBool>,
}

impl RawBackend {
    pub fn start(answer: fn(&str, &str) -> Vec<u8>) -> RawBackend {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        listener.set_nonblocking(true).unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (s, st) = (seen.clone(), stop.clone());
        std::thread::spawn(move || {
            while !st.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((conn, _)) => {
                        let s = s.clone();
                        std::thread::spawn(move || serve_raw(conn, answer, &s));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        RawBackend { port, seen, stop }
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for RawBackend {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

fn serve_raw(conn: TcpStream, answer: fn(&str, &str) -> Vec<u8>, seen: &Mutex<Vec<Seen>>) {
    let _ = conn.set_nonblocking(false);
    let _ = conn.set_read_timeout(Some(Duration::from_secs(30)));
    let mut writer = conn.try_clone().unwrap();
    let mut reader = BufReader::new(conn);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut parts = line.split_whitespace();
        let method = parts.next().unwrap_or_default().to_string();
        let target = parts.next().unwrap_or_default().to_string();
        let mut length = 0usize;
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            if h == "\r\n" {
                break;
            }
            if let Some((n, v)) = h.split_once(':') {
                if n.eq_ignore_ascii_case("content-length") {
                    length = v.trim().parse().unwrap_or(0);
                }
            }
        }
        let mut body = vec![0u8; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        seen.lock().unwrap().push(Seen {
            method: method.clone(),
            target: target.clone(),
            body: String::from_utf8_lossy(&body).into_owned(),
        });
        let out = answer(&method, &target);
        if writer.write_all(&out).is_err() {
            return;
        }
        if String::from_utf8_lossy(&out).contains("Connection: close") {
            let _ = writer.shutdown(std::net::Shutdown::Both);
            return;
        }
    }
}

/// Route headers of apisonator HEAD (§1.4), then `extra`, then the body with its length.
pub fn route(status: &str, extra: &[(&str, &str)], body: &str) -> Vec<u8> {
    let mut head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/vnd.3scale-v2.0+xml\r\n\
         Access-Control-Allow-Origin: *\r\n\
         Access-Control-Expose-Headers: ETag, Link, 3scale-rejection-reason\r\n\
         Content-Security-Policy: default-src 'self'\r\n"
    );
    for (n, v) in extra {
        head.push_str(&format!("{n}: {v}\r\n"));
    }
    head.push_str(&format!(
        "X-Content-Type-Options: nosniff\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    ));
    head.into_bytes()
}

/// An `<error>` answer's headers (no CSP, no `3scale-*`), §1.4 / §4.2.
pub fn error(status: &str, body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/vnd.3scale-v2.0+xml\r\n\
         Access-Control-Allow-Origin: *\r\n\
         Access-Control-Expose-Headers: ETag, Link, 3scale-rejection-reason\r\n\
         X-Content-Type-Options: nosniff\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

pub const PROLOG: &str = r#"<?xml version="1.0" encoding="UTF-8"?>"#;

/// §4.5 A, verbatim (576 bytes).
pub const BODY_A: &str = r#"<?xml version="1.0" encoding="UTF-8"?><status><authorized>true</authorized><plan>plan1004</plan><usage_reports><usage_report metric="hits" period="month"><period_start>2010-05-01 00:00:00 +0000</period_start><period_end>2010-06-01 00:00:00 +0000</period_end><max_value>10000</max_value><current_value>5</current_value></usage_report><usage_report metric="hits" period="day"><period_start>2010-05-15 00:00:00 +0000</period_start><period_end>2010-05-16 00:00:00 +0000</period_end><max_value>100</max_value><current_value>2</current_value></usage_report></usage_reports></status>"#;
/// §4.5 B, verbatim (630 bytes).
pub const BODY_B: &str = r#"<?xml version="1.0" encoding="UTF-8"?><status><authorized>false</authorized><reason>usage limits are exceeded</reason><plan>plan1004</plan><usage_reports><usage_report metric="hits" period="month"><period_start>2010-05-01 00:00:00 +0000</period_start><period_end>2010-06-01 00:00:00 +0000</period_end><max_value>10</max_value><current_value>5</current_value></usage_report><usage_report metric="hits" period="day" exceeded="true"><period_start>2010-05-15 00:00:00 +0000</period_start><period_end>2010-05-16 00:00:00 +0000</period_end><max_value>4</max_value><current_value>5</current_value></usage_report></usage_reports></status>"#;
/// §4.5 C, verbatim.
pub const BODY_C: &str = r#"<?xml version="1.0" encoding="UTF-8"?><status><authorized>false</authorized><reason>usage limits are exceeded</reason><plan>plan1004</plan><usage_reports><usage_report metric="hits" period="eternity" exceeded="true"><max_value>2</max_value><current_value>3</current_value></usage_report><usage_report metric="hits" period="month"><period_start>2010-05-01 00:00:00 +0000</period_start><period_end>2010-06-01 00:00:00 +0000</period_end><max_value>20</max_value><current_value>3</current_value></usage_report></usage_reports></status>"#;
/// §4.5 D, verbatim.
pub const BODY_D: &str = r#"<?xml version="1.0" encoding="UTF-8"?><status><authorized>true</authorized><plan>Basic</plan><usage_reports><usage_report metric="hits" period="day"><period_start>2026-11-23 00:00:00 +0000</period_start><period_end>2026-11-24 00:00:00 +0000</period_end><max_value>100</max_value><current_value>2</current_value></usage_report><usage_report metric="hits" period="minute"><period_start>2026-11-23 06:46:00 +0000</period_start><period_end>2026-11-23 06:47:00 +0000</period_end><max_value>5</max_value><current_value>2</current_value></usage_report><usage_report metric="get_foo" period="hour"><period_start>2026-11-23 06:00:00 +0000</period_start><period_end>2026-11-23 07:00:00 +0000</period_end><max_value>10</max_value><current_value>2</current_value></usage_report><usage_report metric="disabled_m" period="eternity"><max_value>0</max_value><current_value>0</current_value></usage_report></usage_reports></status>"#;
/// §4.5 D's extra sections with `hierarchy=1&list_app_keys=1`.
pub const D_SECTIONS: &str = r#"<app_keys app="app1" svc="1001"><key id="key1"/></app_keys><hierarchy><metric name="hits" children="get_foo post_bar"/><metric name="hits" children="get_foo post_bar"/><metric name="get_foo" children=""/><metric name="disabled_m" children=""/></hierarchy></status>"#;
