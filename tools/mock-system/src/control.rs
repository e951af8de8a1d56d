//! The test-only control API under `/__control/` (never authenticated, never recorded, never
//! failed or delayed): publish versions, delete services, make the API misbehave, read the
//! request log. The same operations exist as methods of [`MockSystem`](crate::MockSystem).

use std::time::Duration;

use serde::Serialize;
use serde_json::{json, Value};

use crate::api::{Credential, Response};
use crate::between_pages::BetweenPages;
use crate::model::{Store, Stored};

pub const PREFIX: &str = "/__control/";

/// How the System API misbehaves (the control routes always answer normally).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// Behave like porta.
    Normal,
    /// This status, with porta's body for it (403 and 404) or `{"status": "..."}`.
    Status(u16),
    /// 200 with a body that is not JSON.
    Garbage,
    /// 200 with `{}` (no `proxy_configs`).
    Empty,
    /// 200 with the real answer cut in half.
    Truncated,
    /// Close the connection without answering.
    Reset,
    /// Answer nothing for [`HANG_LIMIT`], then 500 (a client times out first).
    Hang,
    /// The real answer, padded with spaces to at least this many bytes: still valid JSON,
    /// too large for a client with a smaller limit.
    Padded(u64),
}

/// The most [`Failure::Padded`] makes an answer.
pub const MAX_PADDED_BYTES: u64 = 1 << 30;

/// How long [`Failure::Hang`] holds a request.
pub const HANG_LIMIT: Duration = Duration::from_secs(60);

/// The misbehaviour settings; each `POST /__control/fail` replaces them all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Faults {
    pub failure: Failure,
    /// Added before every System API answer.
    pub delay: Duration,
    /// The failure applies only to paths starting with this (default: every API path).
    pub path: Option<String>,
    /// The failure applies to this many requests, then the mock is normal again.
    pub count: Option<u64>,
    /// Serve page 1 whatever `page` asks (shows a client looping on exactly 500 entries).
    pub ignore_page: bool,
}

impl Default for Faults {
    fn default() -> Faults {
        Faults {
            failure: Failure::Normal,
            delay: Duration::ZERO,
            path: None,
            count: None,
            ignore_page: false,
        }
    }
}

impl Faults {
    /// Parses `{"mode": ..., "status": N, "bytes": N, "delay_ms": N, "path": "...", "count": N,
    /// "ignore_page": bool}`; every field is optional (`{}` restores normal behaviour).
    pub fn from_json(v: &Value) -> Result<Faults, String> {
        let obj = v.as_object().ok_or("expected a JSON object")?;
        for key in obj.keys() {
            if ![
                "mode",
                "status",
                "bytes",
                "delay_ms",
                "path",
                "count",
                "ignore_page",
            ]
            .contains(&key.as_str())
            {
                return Err(format!("unknown field {key}"));
            }
        }
        let uint = |key: &str| -> Result<Option<u64>, String> {
            match obj.get(key) {
                None => Ok(None),
                Some(v) => v
                    .as_u64()
                    .map(Some)
                    .ok_or(format!("{key}: expected an integer")),
            }
        };
        let failure = match obj.get("mode").and_then(Value::as_str).unwrap_or("normal") {
            "normal" => Failure::Normal,
            "status" => match uint("status")? {
                Some(s @ 100..=599) => Failure::Status(s as u16),
                _ => return Err("mode status needs a status (100 to 599)".to_string()),
            },
            "garbage" => Failure::Garbage,
            "empty" => Failure::Empty,
            "truncated" => Failure::Truncated,
            "reset" => Failure::Reset,
            "hang" => Failure::Hang,
            "padded" => match uint("bytes")? {
                Some(n @ 1..=MAX_PADDED_BYTES) => Failure::Padded(n),
                _ => return Err(format!("mode padded needs bytes (1 to {MAX_PADDED_BYTES})")),
            },
            other => return Err(format!("unknown mode {other}")),
        };
        Ok(Faults {
            failure,
            delay: Duration::from_millis(uint("delay_ms")?.unwrap_or(0)),
            path: obj.get("path").and_then(Value::as_str).map(str::to_string),
            count: uint("count")?,
            ignore_page: obj
                .get("ignore_page")
                .and_then(Value::as_bool)
                .unwrap_or(false),
        })
    }

    /// The failure for a request to `path`, counting it down.
    pub fn take(&mut self, path: &str) -> Failure {
        if self.failure == Failure::Normal
            || self
                .path
                .as_deref()
                .is_some_and(|prefix| !path.starts_with(prefix))
        {
            return Failure::Normal;
        }
        match &mut self.count {
            Some(0) => Failure::Normal,
            Some(n) => {
                *n -= 1;
                self.failure
            }
            None => self.failure,
        }
    }
}

/// The answer a failure gives instead of (or made from) the real one.
pub fn failed(failure: Failure, real: Response) -> Response {
    match failure {
        Failure::Normal | Failure::Reset | Failure::Hang => real,
        Failure::Status(403) => Response::access_denied(),
        Failure::Status(404) => Response::not_found(),
        Failure::Status(status) => Response::json(status, &json!({"status": "Mock failure"})),
        Failure::Garbage => Response::text(200, "<html><body>502 Bad Gateway</body>"),
        Failure::Empty => Response::json(200, &json!({})),
        Failure::Padded(bytes) => {
            let mut body = real.body;
            let missing = usize::try_from(bytes).unwrap_or(usize::MAX);
            let missing = missing.saturating_sub(body.len());
            body.push_str(&" ".repeat(missing));
            Response { body, ..real }
        }
        Failure::Truncated => {
            let half = real.body.len() / 2;
            let mut body = real.body;
            while !body.is_char_boundary(half.min(body.len())) {
                body.pop();
            }
            body.truncate(half.min(body.len()));
            Response {
                status: 200,
                body,
                ..real
            }
        }
    }
}

/// One System API request as received.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SystemRequest {
    pub method: String,
    pub path: String,
    /// Raw query string, without `?`.
    pub query: String,
    pub authorization: Option<String>,
    pub user_agent: Option<String>,
    pub credential: Credential,
    /// The status answered; `None` while in flight, or when the connection was reset or hung.
    pub status: Option<u16>,
    /// Milliseconds since the mock started.
    pub at_ms: u64,
}

/// What a control request asks of the server (beyond the store).
pub enum Action {
    Answer(Response),
    SetFaults(Faults),
    BetweenPages(BetweenPages),
    Requests,
    ClearRequests,
    Reset,
}

/// Handles `/__control/...` that only concern the store; the rest becomes an [`Action`].
pub fn handle(
    store: &mut Store,
    method: &str,
    path: &str,
    query: &[(String, String)],
    body: &[u8],
) -> Action {
    let route = path.strip_prefix(PREFIX).unwrap_or_default();
    let bad = |message: String| Action::Answer(Response::json(400, &json!({"error": message})));
    match (method, route) {
        ("POST", "publish") => {
            let envs = match query
                .iter()
                .find(|(k, _)| k == "environment")
                .map(|(_, v)| v.as_str())
            {
                None | Some("production") => vec![Stored::Production],
                Some("sandbox" | "staging") => vec![Stored::Sandbox],
                Some("both") => vec![Stored::Sandbox, Stored::Production],
                Some(other) => return bad(format!("unknown environment {other}")),
            };
            let contents = match serde_json::from_slice::<Value>(body) {
                Ok(Value::Array(items)) => items,
                Ok(item) => vec![item],
                Err(e) => return bad(format!("invalid JSON: {e}")),
            };
            let mut published = Vec::new();
            for content in contents {
                for &env in &envs {
                    match store.publish(env, content.clone()) {
                        Ok(p) => published.push(p),
                        Err(e) => return bad(e),
                    }
                }
            }
            Action::Answer(Response::json(200, &json!({ "published": published })))
        }
        ("DELETE", route) if route.starts_with("services/") => {
            let id = route.trim_start_matches("services/");
            match id.parse().ok().filter(|&id| store.delete(id)) {
                Some(_) => Action::Answer(Response::json(200, &json!({"deleted": id}))),
                None => Action::Answer(Response::not_found()),
            }
        }
        ("GET", "state") => Action::Answer(Response::json(200, &store.summary())),
        ("POST", "fail") => {
            let faults =
                serde_json::from_slice::<Value>(if body.is_empty() { b"{}" } else { body })
                    .map_err(|e| format!("invalid JSON: {e}"))
                    .and_then(|v| Faults::from_json(&v));
            match faults {
                Ok(faults) => Action::SetFaults(faults),
                Err(e) => bad(e),
            }
        }
        ("POST", "between_pages") => {
            let change = serde_json::from_slice::<Value>(body)
                .map_err(|e| format!("invalid JSON: {e}"))
                .and_then(|v| BetweenPages::from_json(&v));
            match change {
                Ok(change) => Action::BetweenPages(change),
                Err(e) => bad(e),
            }
        }
        ("GET", "requests") => Action::Requests,
        ("DELETE", "requests") => Action::ClearRequests,
        ("POST", "reset") => Action::Reset,
        _ => Action::Answer(Response::not_found()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_parse_and_count_down() {
        let mut f = Faults::from_json(
            &json!({"mode": "status", "status": 500, "count": 2, "path": "/admin/api/account/"}),
        )
        .unwrap();
        assert_eq!(
            f.take("/admin/api/services/1/proxy/configs/production/latest.json"),
            Failure::Normal
        );
        assert_eq!(
            f.take("/admin/api/account/proxy_configs/production.json"),
            Failure::Status(500)
        );
        assert_eq!(
            f.take("/admin/api/account/proxy_configs/production.json"),
            Failure::Status(500)
        );
        assert_eq!(
            f.take("/admin/api/account/proxy_configs/production.json"),
            Failure::Normal
        );
        assert_eq!(Faults::from_json(&json!({})).unwrap(), Faults::default());
        let d = Faults::from_json(&json!({"delay_ms": 1500, "ignore_page": true})).unwrap();
        assert_eq!(
            (d.delay, d.ignore_page, d.failure),
            (Duration::from_millis(1500), true, Failure::Normal)
        );
        assert!(Faults::from_json(&json!({"mode": "status"})).is_err());
        assert!(Faults::from_json(&json!({"mode": "explode"})).is_err());
        assert!(Faults::from_json(&json!({"stauts": 500})).is_err());
    }

    #[test]
    fn truncated_and_garbage_answers_are_not_json() {
        let real = Response::json(
            200,
            &json!({"proxy_configs": [{"proxy_config": {"version": 1}}]}),
        );
        for failure in [Failure::Truncated, Failure::Garbage] {
            let r = failed(failure, real.clone());
            assert_eq!(r.status, 200);
            assert!(
                serde_json::from_str::<Value>(&r.body).is_err(),
                "{}",
                r.body
            );
        }
        assert_eq!(
            failed(Failure::Status(403), real.clone()).body,
            r#"{"error":"Access denied"}"#
        );
    }

    #[test]
    fn a_padded_answer_is_the_real_one_made_larger() {
        let real = Response::json(200, &json!({"proxy_configs": []}));
        let f = Faults::from_json(&json!({"mode": "padded", "bytes": 4096})).unwrap();
        let r = failed(f.failure, real.clone());
        assert_eq!((r.status, r.body.len()), (200, 4096));
        let parsed: Value = serde_json::from_str(&r.body).unwrap();
        assert_eq!(parsed, json!({"proxy_configs": []}));
        assert_eq!(failed(Failure::Padded(3), real.clone()).body, real.body);
        assert!(Faults::from_json(&json!({"mode": "padded"})).is_err());
        assert!(Faults::from_json(&json!({"mode": "padded", "bytes": 0})).is_err());
    }
}
