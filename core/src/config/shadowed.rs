//! A rule's `namespace` or `roles` that an earlier `last` rule keeps from ever being checked.

use crate::auth::grants::RuleAccess;
use crate::config::json::{error, Obj, Result};
use crate::mapping::{normalize_path, MappingRule, MethodMatch};

/// Refuses a rule with a requirement when an earlier `last` rule matches, as APIcast does,
/// every request of its method on every path it can match: the evaluation stops there, so
/// the requirement would never be checked (`GET /admin` last before `GET /admin/{id}` with
/// `namespace: admin` let a key without the grant reach `/admin/users`; found by an audit,
/// 2026-12-07). A `last` rule covering only part of it (`/admin/status` before `/admin`)
/// is the exception its owner listed, and stays.
pub(super) fn refuse_shadowed_requirements(
    proxy: &Obj,
    rules: &[MappingRule],
    access: &[RuleAccess],
) -> Result<()> {
    for (i, (rule, needs)) in rules.iter().zip(access).enumerate() {
        if needs.is_open() {
            continue;
        }
        let literal = String::from_utf8_lossy(rule.pattern.literal_prefix());
        let path = normalize_path(&literal);
        let mut earlier = rules.iter().zip(access).take(i).enumerate();
        // The first covering one stops the evaluation; the same requirement there is checked.
        let first = earlier.find(|(_, (last, _))| {
            last.last
                && last.query.is_empty()
                && last.pattern.is_prefix_literal()
                && path.as_bytes().starts_with(last.pattern.literal_prefix())
                && covers_method(&last.method, &rule.method)
        });
        if let Some((j, (last, _))) = first.filter(|(_, (_, its))| *its != needs) {
            return Err(error(
                &format!("{}[{i}]", proxy.child_path("proxy_rules")),
                format!(
                    "its namespace or roles would never be checked: proxy_rules[{j}] (`{} {}`, last) matches first and stops the evaluation",
                    method_text(&last.method),
                    last.raw_pattern
                ),
            ));
        }
    }
    Ok(())
}

/// Whether `last` matches every request `rule` matches by its method, as APIcast does.
fn covers_method(last: &MethodMatch, rule: &MethodMatch) -> bool {
    match (last, rule) {
        (MethodMatch::Any, _) => true,
        (MethodMatch::Exact(a), MethodMatch::Exact(b)) => a == b,
        (MethodMatch::Exact(_), MethodMatch::Any) => false,
    }
}

fn method_text(method: &MethodMatch) -> &str {
    match method {
        MethodMatch::Any => "ANY",
        MethodMatch::Exact(m) => m,
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Config;
    use serde_json::{json, Value};

    fn refusal(rules: Value) -> Option<String> {
        let keys = json!({"header": "APIKey", "keys": [{"id": "k", "hash": format!("sha256:{}", "0".repeat(64))}]});
        let config = json!({"backend": {"cluster": "threescale_backend"},
            "services": [{"id": 1, "backend_version": 1,
            "authentication": {"mode": "local", "api_keys": keys},
            "proxy": {"hosts": ["a.example"], "proxy_rules": rules}}]});
        Config::parse(config.to_string().as_bytes())
            .err()
            .map(|e| e.to_string())
    }

    fn rule(method: &str, pattern: &str, extra: Value) -> Value {
        let mut r = json!({"http_method": method, "pattern": pattern,
            "metric_system_name": "hits", "delta": 1});
        if let (Some(r), Value::Object(extra)) = (r.as_object_mut(), extra) {
            r.extend(extra);
        }
        r
    }

    #[test]
    fn a_requirement_behind_a_covering_last_rule_is_refused() {
        let admin = json!({"namespace": "admin"});
        for (last, restricted) in [
            (
                rule("ANY", "/admin", json!({"last": true})),
                rule("GET", "/admin/{id}", admin.clone()),
            ),
            (
                rule("GET", "/ad", json!({"last": true})),
                rule("GET", "/admin$", admin.clone()),
            ),
            (
                rule("ANY", "/", json!({"last": true})),
                rule("ANY", "/x", json!({"roles": ["a"]})),
            ),
        ] {
            let e = refusal(json!([last, restricted])).expect("refused");
            assert!(e.starts_with("services[0].proxy.proxy_rules[1]: its namespace or roles would never be checked"), "{e}");
        }
    }

    #[test]
    fn a_last_rule_covering_only_part_of_a_requirement_is_an_exception() {
        let admin = json!({"namespace": "admin"});
        for (last, restricted) in [
            (
                rule("GET", "/admin/status", json!({"last": true})),
                rule("ANY", "/admin", admin.clone()),
            ),
            (
                rule("GET", "/admin", json!({"last": true})),
                rule("ANY", "/admin/{id}", admin.clone()),
            ),
            (
                rule("GET", "/admin?v=1", json!({"last": true})),
                rule("GET", "/admin", admin.clone()),
            ),
            (
                rule("GET", "/admin$", json!({"last": true})),
                rule("GET", "/admin/x", admin.clone()),
            ),
            (
                rule("GET", "/{id}", json!({"last": true})),
                rule("GET", "/admin", admin.clone()),
            ),
        ] {
            assert_eq!(refusal(json!([last, restricted])), None);
        }
        // The same requirement behind it is checked by the `last` rule itself.
        let same = json!([
            rule("GET", "/admin", json!({"last": true, "namespace": "admin"})),
            rule("GET", "/admin/x", admin)
        ]);
        assert_eq!(refusal(same), None);
    }
}
