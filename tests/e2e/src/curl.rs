//! HTTP/2 (and other) requests through the `curl` command line tool, for what the raw
//! HTTP/1.1 client in [`crate::http`] cannot speak.
//!
//! ```no_run
//! use e2e::curl::Curl;
//! # let port = 10000;
//! let resp = Curl::new("POST", "/orders?user_key=k")
//!     .http2()
//!     .header("Host", "api.example.com")
//!     .body("{\"a\":1}")
//!     .send(port);
//! assert_eq!(resp.status, 200);
//! ```
//!
//! The target is sent as given (`--path-as-is`), `Host` becomes `:authority` over HTTP/2,
//! and a body is sent as is (`--data-raw`, or `--data-binary @-` when it is not text or
//! longer than 64 KiB; curl's
//! default form content type is removed unless a `Content-Type` header is given).

use std::io::{self, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::http::Response;

/// Bodies up to this size go on the command line (Linux limits one argument to 128 KiB).
const ARG_LIMIT: usize = 64 * 1024;

/// A request to be sent with curl.
#[derive(Debug, Clone)]
pub struct Curl {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
    body: Option<Vec<u8>>,
    http2: bool,
    timeout: Duration,
}

impl Curl {
    /// `method target` over HTTP/1.1 (use [`http2`](Self::http2) for HTTP/2).
    pub fn new(method: &str, target: &str) -> Curl {
        Curl {
            method: method.to_owned(),
            target: target.to_owned(),
            headers: Vec::new(),
            body: None,
            http2: false,
            timeout: Duration::from_secs(20),
        }
    }

    /// HTTP/2 over cleartext with prior knowledge (`--http2-prior-knowledge`).
    pub fn http2(mut self) -> Curl {
        self.http2 = true;
        self
    }

    /// Adds a request header (repeatable).
    pub fn header(mut self, name: &str, value: &str) -> Curl {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Sets the request body (sent as is).
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Curl {
        self.body = Some(body.into());
        self
    }

    /// Overall time limit (`--max-time`, default 20 s).
    pub fn timeout(mut self, timeout: Duration) -> Curl {
        self.timeout = timeout;
        self
    }

    /// Runs curl against `127.0.0.1:port`; the response with the final status and headers.
    pub fn try_send(&self, port: u16) -> io::Result<Response> {
        let mut cmd = Command::new("curl");
        cmd.args(["-s", "-S", "--path-as-is", "-D", "-", "-o", "-"])
            .args(["--max-time", &format!("{}", self.timeout.as_secs_f64())])
            .args(["-X", &self.method]);
        if self.http2 {
            cmd.arg("--http2-prior-knowledge");
        }
        for (k, v) in &self.headers {
            cmd.args(["-H", &format!("{k}: {v}")]);
        }
        if self.body.is_some() {
            if !self
                .headers
                .iter()
                .any(|(k, _)| k.eq_ignore_ascii_case("content-type"))
            {
                cmd.args(["-H", "Content-Type:"]);
            }
            match self.body.as_deref().map(std::str::from_utf8) {
                // Given on the command line, so curl sends the headers and the whole body at
                // once with a Content-Length (from stdin it would stream it).
                Some(Ok(text)) if !text.contains('\0') && text.len() <= ARG_LIMIT => {
                    cmd.args(["--data-raw", text]);
                }
                _ => {
                    cmd.args(["--data-binary", "@-"]);
                }
            }
        }
        cmd.arg(format!("http://127.0.0.1:{port}{}", self.target));
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn()?;
        if let Some(mut stdin) = child.stdin.take() {
            if let Some(body) = self.body.as_ref().filter(|b| {
                std::str::from_utf8(b).is_err() || b.contains(&0) || b.len() > ARG_LIMIT
            }) {
                // curl may stop reading when the server answers early: ignore write errors.
                let _ = stdin.write_all(body);
            }
        }
        let out = child.wait_with_output()?;
        if !out.status.success() && out.stdout.is_empty() {
            return Err(io::Error::other(format!(
                "curl failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            )));
        }
        parse(&out.stdout).ok_or_else(|| {
            io::Error::other(format!(
                "cannot parse curl output ({}): {:?} {}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ))
        })
    }

    /// Like [`try_send`](Self::try_send), but panics on error.
    pub fn send(&self, port: u16) -> Response {
        self.try_send(port)
            .unwrap_or_else(|e| panic!("curl {} {}: {e}", self.method, self.target))
    }
}

/// Splits curl's `-D - -o -` output into the last (final) header block and the body.
fn parse(out: &[u8]) -> Option<Response> {
    let mut rest = out;
    loop {
        let end = rest.windows(4).position(|w| w == b"\r\n\r\n")?;
        let head = String::from_utf8_lossy(&rest[..end]).into_owned();
        rest = &rest[end + 4..];
        let mut lines = head.lines();
        let status_line = lines.next()?;
        let mut parts = status_line.splitn(3, ' ');
        let version = parts.next()?;
        if !version.starts_with("HTTP/") {
            return None;
        }
        let status: u16 = parts.next()?.trim().parse().ok()?;
        let reason = parts.next().unwrap_or("").trim().to_owned();
        if (100..200).contains(&status) && status != 101 {
            continue;
        }
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
            .collect();
        return Some(Response {
            status,
            reason,
            headers,
            body: String::from_utf8_lossy(rest).into_owned(),
        });
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn parses_interim_and_final() {
        let out =
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/2 403 \r\ncontent-type: text/plain\r\n\r\nnope";
        let r = super::parse(out).unwrap();
        assert_eq!((r.status, r.body.as_str()), (403, "nope"));
        assert_eq!(r.header("content-type"), Some("text/plain"));
    }
}
