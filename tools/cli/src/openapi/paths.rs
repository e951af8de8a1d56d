//! What an operation shows besides its security: the path template and its parameters,
//! and each service's servers, tag and error responses.

use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use tollgate_core::auth::Mode;
use tollgate_core::config::policies::configs::IpCheck;
use tollgate_core::config::policies::Policy;
use tollgate_core::config::Service;
use tollgate_core::mapping::QueryCondition;

/// `{x}` placeholders become path parameters; the query part and a final `$` go away.
pub(super) fn template(raw_pattern: &str) -> (String, Vec<String>) {
    let path = raw_pattern.split_once('?').map_or(raw_pattern, |(p, _)| p);
    let mut bytes: Vec<u8> = Vec::with_capacity(path.len());
    for &b in path.as_bytes() {
        if !(b == b'/' && bytes.last() == Some(&b'/')) {
            bytes.push(b);
        }
    }
    if bytes.last() == Some(&b'$') {
        bytes.pop();
    }
    let mut out: Vec<u8> = Vec::with_capacity(bytes.len());
    let mut names: Vec<String> = Vec::new();
    let mut rest = bytes.as_slice();
    while let Some(open) = rest.iter().position(|&b| b == b'{') {
        let (before, after) = (
            rest.get(..open).unwrap_or_default(),
            rest.get(open + 1..).unwrap_or_default(),
        );
        out.extend_from_slice(before);
        // As in the core: at least one byte inside, closed by the first `}` after it, no newline.
        let close = after.iter().skip(1).position(|&b| b == b'}').map(|i| i + 1);
        match close.filter(|&c| !after.get(..c).unwrap_or_default().contains(&b'\n')) {
            Some(close) => {
                let inner =
                    String::from_utf8_lossy(after.get(..close).unwrap_or_default()).into_owned();
                let mut name = inner.clone();
                let mut n = 1;
                while names.contains(&name) {
                    n += 1;
                    name = format!("{inner}_{n}");
                }
                out.push(b'{');
                out.extend_from_slice(name.as_bytes());
                out.push(b'}');
                names.push(name);
                rest = after.get(close + 1..).unwrap_or_default();
            }
            None => {
                out.push(b'{');
                rest = after;
            }
        }
    }
    out.extend_from_slice(rest);
    (String::from_utf8_lossy(&out).into_owned(), names)
}

pub(super) fn servers(service: &Service) -> Vec<Value> {
    let schemes: &[&str] = if service.auth.https_only.is_some() {
        &["https"]
    } else {
        &["https", "http"]
    };
    service
        .hosts
        .iter()
        .flat_map(|host| {
            schemes
                .iter()
                .map(move |scheme| json!({"url": format!("{scheme}://{host}")}))
        })
        .collect()
}

pub(super) fn tag_name(service: &Service) -> String {
    if service.system_name.is_empty() {
        format!("service {}", service.id)
    } else {
        format!("{} ({})", service.system_name, service.id)
    }
}

pub(super) fn tag_description(service: &Service) -> String {
    let via = match service.auth.mode {
        Mode::ThreeScale => "3scale credentials, authorized and reported by the 3scale backend",
        Mode::Local => "local credentials only (no 3scale backend call)",
        Mode::LocalThenThreeScale => {
            "local credentials, then the 3scale backend with the caller's id as its user_key or app_id"
        }
        Mode::Open => "no credentials (authentication.mode none), no 3scale backend call",
    };
    let mut text = format!("3scale service {}: {via}", service.id);
    if !service.auth.public_paths.is_empty() {
        text.push_str(&format!(
            "; public without credentials: paths under {}",
            service.auth.public_paths.join(", ")
        ));
    }
    for check in ip_checks(service) {
        let kind = if check.blacklist {
            "blacklist"
        } else {
            "whitelist"
        };
        text.push_str(&format!(
            "; client addresses checked against a {kind} (ip_check)"
        ));
    }
    text
}

/// The service's `ip_check` policies.
fn ip_checks(service: &Service) -> impl Iterator<Item = &IpCheck> {
    service
        .policies
        .entries
        .iter()
        .filter_map(|e| match &e.policy {
            Policy::IpCheck(check) => Some(check),
            _ => None,
        })
}

/// The error replies the filter may send instead of the upstream's response.
pub(super) fn responses(service: &Service) -> Value {
    let errors = &service.errors;
    let mut by_status: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut add =
        |status: u16, text: String| by_status.entry(status.to_string()).or_default().push(text);
    let mode = service.auth.mode;
    if mode != Mode::Open {
        add(
            errors.auth_missing.status,
            format!("{:?} (auth_missing)", errors.auth_missing.body),
        );
    }
    if mode != Mode::Open || !service.auth.header_secrets.is_empty() {
        add(
            errors.auth_failed.status,
            format!("{:?} (auth_failed)", errors.auth_failed.body),
        );
    }
    add(
        errors.no_match.status,
        format!("{:?} (no_match)", errors.no_match.body),
    );
    if matches!(mode, Mode::ThreeScale | Mode::LocalThenThreeScale) {
        add(
            errors.limits_exceeded.status,
            format!("{:?} (limits_exceeded)", errors.limits_exceeded.body),
        );
    }
    if service.auth.https_only.is_some() {
        add(403, "\"HTTPS required\" (https_only)".to_string());
    }
    for check in ip_checks(service) {
        add(
            403,
            format!("{:?} (ip_check)", format!("{}\n", check.error_msg)),
        );
    }
    let mut map = Map::new();
    map.insert(
        "default".to_string(),
        json!({"description": "The upstream's response"}),
    );
    for (status, texts) in by_status {
        map.insert(
            status,
            json!({"description": format!("From Tollgate: {}", texts.join("; "))}),
        );
    }
    Value::Object(map)
}

pub(super) fn parameters(path_params: &[String], query: &[QueryCondition]) -> Vec<Value> {
    let mut list: Vec<Value> = path_params
        .iter()
        .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}))
        .collect();
    for condition in query {
        list.push(match condition {
            QueryCondition::Equals { name, value } => json!({
                "name": name, "in": "query", "required": true,
                "schema": {"type": "string", "enum": [value]}
            }),
            QueryCondition::Present { name } => json!({
                "name": name, "in": "query", "required": true, "allowEmptyValue": true,
                "schema": {"type": "string"}
            }),
        });
    }
    list
}
