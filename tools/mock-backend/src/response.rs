//! HTTP responses as apisonator builds them (§1.4): header sets for route
//! responses and for `<error>` responses.

use crate::xml;

pub const XML_CONTENT_TYPE: &str = "application/vnd.3scale-v2.0+xml";
const EXPOSE: &str = "ETag, Link, 3scale-rejection-reason";
const CSP: &str = "default-src 'self'";
const ALLOW_METHODS: &str = "GET, POST, PATCH, PUT, DELETE";
const ALLOW_HEADERS: &str = "Authorization, Accept-Encoding, Content-Type, Cache-Control, Accept, If-Match, If-Modified-Since, If-None-Match, If-Unmodified-Since, X-Requested-With, X-HTTP-Method-Override, 3scale-options";

/// A response ready to be written. Header names are lower-case (Rack 3 / HEAD).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

/// A synchronous `<error>` (kind E in §5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn new(status: u16, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }
}

fn h(name: &str, value: &str) -> (String, String) {
    (name.to_string(), value.to_string())
}

impl Response {
    /// A normal (Sinatra route) response: content type, CORS, CSP, nosniff.
    pub fn route(status: u16, content_type: &str, body: impl Into<String>) -> Response {
        Response {
            status,
            headers: vec![
                h("content-type", content_type),
                h("access-control-allow-origin", "*"),
                h("access-control-expose-headers", EXPOSE),
                h("content-security-policy", CSP),
                h("x-content-type-options", "nosniff"),
            ],
            body: body.into(),
        }
    }

    /// A route response with the 3scale XML content type.
    pub fn xml(status: u16, body: impl Into<String>) -> Response {
        Response::route(status, XML_CONTENT_TYPE, body)
    }

    /// An `<error>` response (no CSP, never `3scale-*` headers). Empty body if `no_body`.
    pub fn error(err: &ApiError, no_body: bool) -> Response {
        Response {
            status: err.status,
            headers: vec![
                h("content-type", XML_CONTENT_TYPE),
                h("access-control-allow-origin", "*"),
                h("access-control-expose-headers", EXPOSE),
                h("x-content-type-options", "nosniff"),
            ],
            body: if no_body {
                String::new()
            } else {
                xml::error_body(err.code, &err.message)
            },
        }
    }

    /// The CORS preflight answer to `OPTIONS`.
    pub fn preflight() -> Response {
        let mut r = Response::xml(204, "");
        r.headers.insert(3, h("access-control-max-age", "86400"));
        r.headers
            .insert(4, h("access-control-allow-methods", ALLOW_METHODS));
        r.headers
            .insert(5, h("access-control-allow-headers", ALLOW_HEADERS));
        r
    }

    /// Adds an extension header (`3scale-*`) before `x-content-type-options`.
    pub fn add_extension_header(&mut self, name: &str, value: impl Into<String>) {
        let at = self
            .headers
            .iter()
            .position(|(n, _)| n == "x-content-type-options")
            .unwrap_or(self.headers.len());
        self.headers.insert(at, (name.to_string(), value.into()));
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}
