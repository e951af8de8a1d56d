//! POST /transactions.xml (§2.5): synchronous checks, then the batch is
//! applied at once (all-or-nothing). Asynchronous errors go to the error log.

use crate::handlers::credentials::Credentials;
use crate::handlers::extensions::Extensions;
use crate::handlers::usage;
use crate::handlers::HttpRequest;
use crate::model::{App, State};
use crate::params::{parse_nested, parse_nested_pairs, Hash, Parsed, Value};
use crate::periods::parse_timestamp;
use crate::response::{ApiError, Response};
use tollgate_core::backend::protocol::OPTIONS_HEADER;

/// An asynchronous (worker) error: never returned to the caller, kept for tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportError {
    pub service_id: String,
    pub code: &'static str,
    pub message: String,
}

const TOO_OLD: i64 = 86_400;
const TOO_NEW: i64 = 3_600;

pub fn handle(req: &HttpRequest<'_>, state: &mut State, now: i64) -> Response {
    let ext = Extensions::from_header(req.header(OPTIONS_HEADER));
    match run(req, state, now, ext) {
        Ok(()) => Response::xml(202, ""),
        Err(e) => Response::error(&e, ext.no_body),
    }
}

fn media_type(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}

fn run(
    req: &HttpRequest<'_>,
    state: &mut State,
    now: i64,
    ext: Extensions,
) -> Result<(), ApiError> {
    // 1. Content-Type
    let content_type = req.header("content-type").unwrap_or_default();
    let media = media_type(content_type);
    let multipart = media == "multipart/form-data";
    if !(media.is_empty() || media == "application/x-www-form-urlencoded" || multipart) {
        return Err(ApiError::new(
            400,
            "content_type_invalid",
            format!("invalid Content-Type: {media}"),
        ));
    }
    let bad = |e: crate::params::ParseError| ApiError::new(400, "bad_request", e.message());
    let query = parse_nested(req.query).map_err(bad)?;
    let body = if multipart {
        parse_multipart(content_type, req.body).map_err(bad)?
    } else {
        match std::str::from_utf8(req.body) {
            Ok(s) => parse_nested(s).map_err(bad)?,
            Err(_) => {
                let mut p = parse_nested(&String::from_utf8_lossy(req.body)).map_err(bad)?;
                p.invalid_utf8 = true;
                p
            }
        }
    };
    let mut params = query.params;
    params.merge(body.params);
    // 2. credentials
    let creds = Credentials::from_params(&params);
    creds.check_early(state)?;
    // 3. UTF-8
    if query.invalid_utf8 || body.invalid_utf8 {
        return Err(ApiError::new(
            422,
            "not_valid_data",
            "all data must be valid UTF8",
        ));
    }
    // 4–7. transactions
    let transactions = match params.get("transactions") {
        None => return Err(blank()),
        Some(v) if v.is_blank() => return Err(blank()),
        Some(Value::Hash(h)) => h.clone(),
        Some(_) => {
            return Err(ApiError::new(
                400,
                "transactions_format_invalid",
                "transactions format is invalid",
            ))
        }
    };
    if transactions.iter().any(|(_, t)| t.is_null()) {
        return Err(ApiError::new(
            400,
            "transactions_has_nil_transaction",
            "transactions has a nil transaction",
        ));
    }
    let has_user_id = transactions.iter().any(|(_, t)| {
        t.as_hash()
            .is_some_and(|h| h.get("user_id").is_some_and(|v| !v.is_null()))
    });
    if has_user_id {
        return Err(ApiError::new(
            400,
            "end_users_no_longer_supported",
            "End-users are no longer supported, do not specify the user_id parameter",
        ));
    }
    // 8. service
    let service_id = creds.resolve(state)?.id.clone();
    // 9. accepted: process the batch now
    process(state, &service_id, &transactions, now, ext.flat_usage);
    Ok(())
}

fn blank() -> ApiError {
    ApiError::new(
        400,
        "transactions_is_blank",
        "transactions parameter is blank",
    )
}

/// A validated transaction waiting to be applied.
struct Pending {
    app_id: String,
    usage: usage::Usage,
    ts: i64,
    logged: crate::model::Logged,
}

/// The worker: validates every transaction and applies all of them, or none.
fn process(state: &mut State, service_id: &str, transactions: &Hash, now: i64, flat: bool) {
    let err = |code, message: String| ReportError {
        service_id: service_id.to_string(),
        code,
        message,
    };
    let Some(service) = state.find_service(service_id).cloned() else {
        return;
    };
    let mut pending: Vec<Pending> = Vec::new();
    for (_, t) in transactions.iter() {
        let Some(t) = t.as_hash() else {
            state.report_errors.push(err(
                "transactions_format_invalid",
                "transactions format is invalid".into(),
            ));
            return;
        };
        let raw_usage = match t.get("usage") {
            Some(Value::Hash(h)) if !h.is_empty() => h,
            _ => continue,
        };
        let app = match find_app(state, service_id, t) {
            Ok(app) => app,
            Err(e) => {
                state.report_errors.push(err(e.code, e.message));
                return;
            }
        };
        let entries = match usage::parse(&service, raw_usage) {
            Ok(e) => e,
            Err(e) => {
                state.report_errors.push(err(e.code, e.message));
                return;
            }
        };
        let usage = usage::to_usage(&entries, false);
        if usage
            .iter()
            .all(|(_, v)| *v == crate::counters::UsageValue::Incr(0))
        {
            continue;
        }
        // A frozen clock stands elsewhere than the real one the filter stamps with: a
        // timestamp within the hour of the real time is counted at the frozen now.
        let real_clock = |ts: i64| (ts - crate::server::system_now()).abs() <= 3600;
        let stamped = t.str("timestamp").and_then(parse_timestamp);
        let ts = (stamped.filter(|&ts| !(state.frozen_clock && real_clock(ts)))).unwrap_or(now);
        if ts < now - TOO_OLD {
            state.report_errors.push(err(
                "transaction_timestamp_too_old",
                "reporting transactions older than 86400 seconds is not allowed".into(),
            ));
            return;
        }
        if ts > now + TOO_NEW {
            state.report_errors.push(err(
                "transaction_timestamp_too_new",
                "reporting transactions more than 3600 seconds in the future is not allowed".into(),
            ));
            return;
        }
        let usage = if flat {
            usage
        } else {
            usage::propagate(&service, &usage)
        };
        pending.push(Pending {
            logged: crate::model::Logged::new("report", service_id, &app.id, t),
            app_id: app.id.clone(),
            usage,
            ts,
        });
    }
    for p in pending {
        for (metric, value) in p.usage {
            state
                .counters
                .apply(service_id, &p.app_id, &metric, value, p.ts);
        }
        state.logged.push(p.logged);
    }
}

/// `Application.extract_id!`: app_id or user_key (any backend_version).
fn find_app<'s>(state: &'s State, service_id: &str, t: &Hash) -> Result<&'s App, ApiError> {
    let non_blank = |k| t.str(k).filter(|s| !s.trim().is_empty());
    match (non_blank("app_id"), non_blank("user_key")) {
        (Some(_), Some(_)) => Err(ApiError::new(
            403,
            "authentication_error",
            "either app_id or user_key is allowed, not both",
        )),
        (Some(id), None) => state.find_app(service_id, id).ok_or_else(|| {
            ApiError::new(
                404,
                "application_not_found",
                format!(r#"application with id="{id}" was not found"#),
            )
        }),
        (None, Some(uk)) => state.find_app_by_user_key(service_id, uk).ok_or_else(|| {
            ApiError::new(
                403,
                "user_key_invalid",
                format!(r#"user key "{uk}" is invalid"#),
            )
        }),
        (None, None) => Err(ApiError::new(
            404,
            "application_not_found",
            "application id is missing",
        )),
    }
}

/// Minimal `multipart/form-data` parsing into nested params.
fn parse_multipart(content_type: &str, body: &[u8]) -> Result<Parsed, crate::params::ParseError> {
    let boundary = content_type
        .split(';')
        .filter_map(|p| p.trim().strip_prefix("boundary="))
        .next()
        .map(|b| b.trim_matches('"').to_string())
        .unwrap_or_default();
    let text = String::from_utf8_lossy(body);
    let invalid_utf8 = std::str::from_utf8(body).is_err();
    let mut pairs = Vec::new();
    if !boundary.is_empty() {
        let delim = format!("--{boundary}");
        for part in text.split(delim.as_str()).skip(1) {
            if part.starts_with("--") {
                break;
            }
            let part = part.strip_prefix("\r\n").unwrap_or(part);
            let Some((head, value)) = part.split_once("\r\n\r\n") else {
                continue;
            };
            let name = head
                .split(';')
                .filter_map(|p| p.trim().strip_prefix("name="))
                .next()
                .map(|n| n.trim_matches('"').to_string());
            if let Some(name) = name {
                let value = value.strip_suffix("\r\n").unwrap_or(value);
                pairs.push((name, Some(value.to_string())));
            }
        }
    }
    let mut parsed = parse_nested_pairs(pairs)?;
    parsed.invalid_utf8 |= invalid_utf8;
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multipart_body() {
        let body = "--XX\r\nContent-Disposition: form-data; name=\"transactions[0][app_id]\"\r\n\r\napp1\r\n--XX\r\nContent-Disposition: form-data; name=\"transactions[0][usage][hits]\"\r\n\r\n3\r\n--XX--\r\n";
        let p = parse_multipart("multipart/form-data; boundary=XX", body.as_bytes()).unwrap();
        let t = p.params.get("transactions").unwrap().as_hash().unwrap();
        let t0 = t.get("0").unwrap().as_hash().unwrap();
        assert_eq!(t0.str("app_id"), Some("app1"));
    }
}
