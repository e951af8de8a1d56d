//! Request routing (§1.1). Handlers are pure functions of the request, the
//! state and the clock, so they can be unit-tested without sockets.

pub mod auth;
pub mod credentials;
pub mod extensions;
pub mod limits;
pub mod report;
pub mod usage;

use crate::model::State;
use crate::response::Response;

/// A transport-independent view of an HTTP request.
#[derive(Debug, Clone, Copy)]
pub struct HttpRequest<'a> {
    pub method: &'a str,
    /// Path without the query string.
    pub path: &'a str,
    /// Raw query string (without `?`).
    pub query: &'a str,
    /// Header names lower-cased.
    pub headers: &'a [(String, String)],
    pub body: &'a [u8],
}

impl HttpRequest<'_> {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Which transaction endpoint a request targets: the filter's own vocabulary.
pub use tollgate_core::backend::protocol::Endpoint;

/// The transaction endpoint for `method` + `path` (HEAD counts as GET).
pub fn endpoint(method: &str, path: &str) -> Option<Endpoint> {
    let ep = Endpoint::from_path(path)?;
    let method = if method == "HEAD" { "GET" } else { method };
    (ep.method() == method).then_some(ep)
}

/// Answers one request. `now` is UNIX seconds.
pub fn handle(req: &HttpRequest<'_>, state: &mut State, now: i64) -> Response {
    if req.method == "OPTIONS" {
        return Response::preflight();
    }
    if let Some(ep) = endpoint(req.method, req.path) {
        return match ep {
            Endpoint::Report => report::handle(req, state, now),
            other => auth::handle(other, req, state, now),
        };
    }
    match (req.method, req.path) {
        ("HEAD", "/available") => Response::xml(200, ""),
        ("GET" | "HEAD", "/check.txt") => Response::route(200, "text/plain;charset=utf-8", "ok"),
        ("GET" | "HEAD", "/status") => Response::route(
            200,
            "application/json",
            r#"{"status":"ok","version":{"backend":"3.4.3"}}"#,
        ),
        _ => Response::xml(404, ""),
    }
}
