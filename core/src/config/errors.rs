//! The four configurable error responses of an APIcast service (§3 of the APIcast reference).

use super::header_values::header_value;
use super::json::{error, Obj, Result};

const DEFAULT_CONTENT_TYPE: &str = "text/plain; charset=utf-8";

/// A local reply: status, body and the `Content-Type` taken from `error_headers_*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorResponse {
    pub status: u16,
    pub body: String,
    pub content_type: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorResponses {
    pub auth_failed: ErrorResponse,
    pub auth_missing: ErrorResponse,
    pub no_match: ErrorResponse,
    pub limits_exceeded: ErrorResponse,
}

impl ErrorResponses {
    /// Reads `error_<kind>`, `error_status_<kind>` and `error_headers_<kind>` for each kind,
    /// falling back to APIcast's defaults for absent (or null) fields.
    pub fn parse(proxy: &Obj) -> Result<ErrorResponses> {
        Ok(ErrorResponses {
            auth_failed: parse_one(proxy, "auth_failed", 403, "Authentication failed")?,
            auth_missing: parse_one(
                proxy,
                "auth_missing",
                401,
                "Authentication parameters missing",
            )?,
            no_match: parse_one(proxy, "no_match", 404, "No Mapping Rule matched")?,
            limits_exceeded: parse_one(proxy, "limits_exceeded", 429, "Limits exceeded")?,
        })
    }
}

impl Default for ErrorResponses {
    fn default() -> Self {
        let make = |status, body: &str| ErrorResponse {
            status,
            body: body.to_string(),
            content_type: DEFAULT_CONTENT_TYPE.to_string(),
        };
        ErrorResponses {
            auth_failed: make(403, "Authentication failed"),
            auth_missing: make(401, "Authentication parameters missing"),
            no_match: make(404, "No Mapping Rule matched"),
            limits_exceeded: make(429, "Limits exceeded"),
        }
    }
}

fn parse_one(proxy: &Obj, kind: &str, status: u16, body: &str) -> Result<ErrorResponse> {
    let status_key = format!("error_status_{kind}");
    let status = match proxy.uint(&status_key)? {
        None => status,
        Some(s) if (200..=599).contains(&s) => s as u16,
        Some(_) => {
            return Err(error(
                &proxy.child_path(&status_key),
                "expected an HTTP status between 200 and 599",
            ))
        }
    };
    Ok(ErrorResponse {
        status,
        body: proxy
            .string(&format!("error_{kind}"))?
            .unwrap_or(body)
            .to_string(),
        content_type: header_value(proxy, &format!("error_headers_{kind}"))?
            .unwrap_or(DEFAULT_CONTENT_TYPE)
            .to_string(),
    })
}
