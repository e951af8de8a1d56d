//! `tollgate diff A B`: what changed between two configurations of one service, in the terms
//! a user reads: mapping rules added and removed (method, pattern, metric, delta), then every
//! other field added, removed or changed, by JSON path. Secrets are never printed.

use serde_json::Value;

/// Keys whose values are credentials: a change is reported, never the value.
const SECRET_KEYS: &[&str] = &[
    "backend_authentication_value",
    "secret_token",
    "provider_key",
    "access_token",
    "client_secret",
];

/// Longest value printed before it is cut.
const MAX_VALUE_CHARS: usize = 120;

/// One side of a diff: a service object and how to name it.
#[derive(Debug)]
pub struct Side {
    pub label: String,
    pub service: Value,
}

/// Reads a file as a service: a pulled file or the portal's `{"proxy_config": ...}`, a filter
/// configuration with exactly one service, or a bare service object.
pub fn side(name: &str, bytes: &[u8]) -> Result<Side, String> {
    let value: Value =
        serde_json::from_slice(bytes).map_err(|e| format!("{name}: invalid JSON: {e}"))?;
    if value.get("proxy_configs").is_some() {
        return Err(format!(
            "{name}: a page of several services; diff one service's files"
        ));
    }
    let (service, version) = if let Some(envelope) = value.get("proxy_config") {
        let version = format!(
            ", {} version {}",
            envelope["environment"].as_str().unwrap_or("?"),
            envelope["version"]
        );
        (envelope["content"].clone(), version)
    } else if let Some(services) = value.get("services") {
        match services.as_array().map(Vec::as_slice) {
            Some([one]) => (one.clone(), String::new()),
            _ => {
                return Err(format!(
                    "{name}: a configuration with one service is needed"
                ))
            }
        }
    } else {
        (value, String::new())
    };
    if !service.is_object() {
        return Err(format!("{name}: the service is not a JSON object"));
    }
    let id = match &service["id"] {
        Value::Null => "without id".to_string(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let display = service["name"]
        .as_str()
        .map(|n| format!(" ({n})"))
        .unwrap_or_default();
    Ok(Side {
        label: format!("{name}: service {id}{display}{version}"),
        service,
    })
}

/// A mapping rule as a user reads it.
fn rule_text(rule: &Value) -> String {
    let text = |key: &str| match &rule[key] {
        Value::String(s) => s.clone(),
        Value::Null => "?".to_string(),
        other => other.to_string(),
    };
    let last = if rule["last"].as_bool() == Some(true) {
        " (last)"
    } else {
        ""
    };
    format!(
        "{} {} -> {} +{}{last}",
        text("http_method"),
        text("pattern"),
        text("metric_system_name"),
        text("delta")
    )
}

fn rules(service: &Value) -> Vec<String> {
    service["proxy"]["proxy_rules"]
        .as_array()
        .map(|rules| rules.iter().map(rule_text).collect())
        .unwrap_or_default()
}

/// The lines of the diff (without the two header lines); empty when nothing changed.
pub fn lines(a: &Value, b: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let (old, new) = (rules(a), rules(b));
    let mut remaining = new.clone();
    let mut removed = Vec::new();
    for rule in &old {
        match remaining.iter().position(|r| r == rule) {
            Some(i) => {
                remaining.remove(i);
            }
            None => removed.push(rule),
        }
    }
    let mut rule_lines: Vec<String> = removed.iter().map(|r| format!("- {r}")).collect();
    rule_lines.extend(remaining.iter().map(|r| format!("+ {r}")));
    if rule_lines.is_empty() && old != new {
        rule_lines.push("~ the same rules in another order".to_string());
    }
    if !rule_lines.is_empty() {
        out.push("mapping rules:".to_string());
        out.extend(rule_lines.into_iter().map(|l| format!("  {l}")));
    }
    let mut fields = Vec::new();
    walk("", Some(a), Some(b), &mut fields);
    if !fields.is_empty() {
        out.push("fields:".to_string());
        out.extend(fields.into_iter().map(|l| format!("  {l}")));
    }
    out
}

fn child(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn walk(path: &str, a: Option<&Value>, b: Option<&Value>, out: &mut Vec<String>) {
    if path == "proxy.proxy_rules" {
        return; // reported as rules
    }
    match (a, b) {
        (Some(Value::Object(x)), Some(Value::Object(y))) => {
            let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
            keys.sort();
            keys.dedup();
            for key in keys {
                walk(&child(path, key), x.get(key), y.get(key), out);
            }
        }
        (Some(Value::Array(x)), Some(Value::Array(y))) => {
            for i in 0..x.len().max(y.len()) {
                walk(&format!("{path}[{i}]"), x.get(i), y.get(i), out);
            }
        }
        (Some(x), Some(y)) if x == y => {}
        (Some(x), Some(y)) => out.push(match secret(path) {
            true => format!("~ {path}: (secret changed)"),
            false => format!("~ {path}: {} -> {}", shown(path, x), shown(path, y)),
        }),
        (None, Some(y)) => out.push(format!("+ {path}: {}", shown(path, y))),
        (Some(x), None) => out.push(format!("- {path}: {}", shown(path, x))),
        (None, None) => {}
    }
}

fn secret(path: &str) -> bool {
    let key = path.rsplit('.').next().unwrap_or(path);
    SECRET_KEYS.contains(&key)
}

/// A value as printed: compact JSON, secrets hidden, URL credentials masked, long ones cut.
fn shown(path: &str, value: &Value) -> String {
    if secret(path) {
        return "(secret)".to_string();
    }
    let mut masked = value.clone();
    mask_userinfo(&mut masked);
    let text = masked.to_string();
    if text.chars().count() > MAX_VALUE_CHARS {
        let cut: String = text.chars().take(MAX_VALUE_CHARS).collect();
        format!("{cut}…")
    } else {
        text
    }
}

/// `https://client:secret@sso/...` → `https://***@sso/...`, anywhere in a value; secret keys
/// inside objects are hidden too.
fn mask_userinfo(value: &mut Value) {
    match value {
        Value::String(s) => {
            if let Some(scheme_end) = s.find("://") {
                let rest = s.get(scheme_end + 3..).unwrap_or_default();
                let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
                if let Some(at) = authority.rfind('@') {
                    *s = format!(
                        "{}://***@{}",
                        s.get(..scheme_end).unwrap_or_default(),
                        rest.get(at + 1..).unwrap_or_default()
                    );
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(mask_userinfo),
        Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                if SECRET_KEYS.contains(&key.as_str()) {
                    *v = Value::String("(secret)".to_string());
                } else {
                    mask_userinfo(v);
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rule(method: &str, pattern: &str, metric: &str, delta: u64) -> Value {
        json!({"http_method": method, "pattern": pattern, "metric_system_name": metric, "delta": delta, "id": 1, "position": 1})
    }

    #[test]
    fn rules_fields_and_secrets() {
        let a = json!({"id": 42, "name": "echo", "backend_authentication_value": "tokA", "description": "x",
            "proxy": {"error_status_auth_failed": 403, "hosts": ["a.example.com"],
                "oidc_issuer_endpoint": "https://zync:s3cr3t@sso.example.com/auth/realms/api",
                "proxy_rules": [rule("GET", "/", "hits", 1), rule("GET", "/old", "hits", 1)]}});
        let mut b = a.clone();
        b["backend_authentication_value"] = json!("tokB");
        b.as_object_mut().unwrap().remove("description");
        b["proxy"]["error_status_auth_failed"] = json!(401);
        b["proxy"]["hosts"] = json!(["a.example.com", "b.example.com"]);
        b["proxy"]["oidc_issuer_endpoint"] =
            json!("https://zync:other@sso2.example.com/auth/realms/api");
        let mut new_rule = rule("POST", "/orders/{id}", "orders", 2);
        new_rule["last"] = json!(true);
        b["proxy"]["proxy_rules"] = json!([rule("GET", "/", "hits", 1), new_rule]);
        let text = lines(&a, &b).join("\n");
        assert_eq!(
            text,
            "mapping rules:\n  - GET /old -> hits +1\n  + POST /orders/{id} -> orders +2 (last)\nfields:\n  \
             ~ backend_authentication_value: (secret changed)\n  - description: \"x\"\n  \
             ~ proxy.error_status_auth_failed: 403 -> 401\n  + proxy.hosts[1]: \"b.example.com\"\n  \
             ~ proxy.oidc_issuer_endpoint: \"https://***@sso.example.com/auth/realms/api\" -> \"https://***@sso2.example.com/auth/realms/api\""
        );
        assert!(!text.contains("tok") && !text.contains("s3cr3t"), "{text}");
        assert!(lines(&a, &a).is_empty());
    }

    #[test]
    fn reordered_rules_and_rule_ids_alone() {
        let a = json!({"proxy": {"proxy_rules": [rule("GET", "/a", "hits", 1), rule("GET", "/b", "hits", 1)]}});
        let b = json!({"proxy": {"proxy_rules": [rule("GET", "/b", "hits", 1), rule("GET", "/a", "hits", 1)]}});
        assert_eq!(
            lines(&a, &b),
            ["mapping rules:", "  ~ the same rules in another order"]
        );
        let mut c = a.clone();
        c["proxy"]["proxy_rules"][0]["id"] = json!(99);
        assert!(
            lines(&a, &c).is_empty(),
            "rule ids and positions are not what a user changes"
        );
    }

    #[test]
    fn sides_are_read_from_envelopes_configs_and_objects() {
        let env = json!({"proxy_config": {"version": 17, "environment": "production", "content": {"id": 42, "name": "echo"}}});
        let s = side("a.json", env.to_string().as_bytes()).unwrap();
        assert_eq!(s.label, "a.json: service 42 (echo), production version 17");
        let config = json!({"backend": {}, "services": [{"id": "7"}]});
        assert_eq!(
            side("c.json", config.to_string().as_bytes()).unwrap().label,
            "c.json: service 7"
        );
        assert!(side("p.json", br#"{"proxy_configs": []}"#).is_err());
        assert!(side("two.json", br#"{"services": [{}, {}]}"#).is_err());
        assert!(side("x.json", b"[]").is_err());
        assert!(side("x.json", b"{")
            .unwrap_err()
            .starts_with("x.json: invalid JSON"));
    }
}
