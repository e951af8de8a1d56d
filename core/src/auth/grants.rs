//! Grants `{namespace, actions}` held by a key, and what a mapping rule requires.

use crate::config::json::{error, Obj, Result};
use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub namespace: String,
    pub actions: Vec<String>,
}

impl Grant {
    pub fn allows(&self, namespace: &str, action: &str) -> bool {
        self.namespace == namespace && self.actions.iter().any(|a| a == action || a == "*")
    }
}

/// The default action for a method: GET/HEAD/OPTIONS read, POST create, PUT/PATCH update,
/// DELETE delete.
pub fn default_action(method: &str) -> &'static str {
    match method {
        "GET" | "HEAD" | "OPTIONS" => "read",
        "POST" => "create",
        "PUT" | "PATCH" => "update",
        "DELETE" => "delete",
        _ => "other",
    }
}

pub fn parse_grants(obj: &Obj, key: &str) -> Result<Vec<Grant>> {
    Ok(obj
        .array(key, |path, v| {
            let g = Obj::new(path, v)?;
            g.deny_unknown(&["namespace", "actions"])?;
            let namespace = g
                .non_empty_string("namespace")?
                .ok_or_else(|| error(&g.child_path("namespace"), "missing required field"))?;
            let actions = g
                .array("actions", |p, a| match a {
                    Value::String(s) if !s.is_empty() => Ok(s.clone()),
                    _ => Err(error(p, "expected a non-empty string")),
                })?
                .ok_or_else(|| error(&g.child_path("actions"), "missing required field"))?;
            Ok(Grant {
                namespace: namespace.to_string(),
                actions,
            })
        })?
        .unwrap_or_default())
}

/// What a mapping rule demands of a locally authenticated caller.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuleAccess {
    /// The namespace a grant must cover; the action defaults from the method.
    pub namespace: Option<String>,
    pub action: Option<String>,
    /// The caller needs at least one of these roles (JWT).
    pub roles: Vec<String>,
}

/// Near misses of a rule's access fields: such a typo would silently drop the requirement
/// (porta's rule fields are none of these), so it is refused.
const NEAR_MISSES: [(&str, &str); 6] = [
    ("role", "roles"),
    ("grant", "namespace"),
    ("grants", "namespace"),
    ("namespaces", "namespace"),
    ("actions", "action"),
    ("scope", "namespace"),
];

impl RuleAccess {
    pub fn parse(rule: &Obj) -> Result<RuleAccess> {
        if let Some((typo, meant)) = NEAR_MISSES.iter().find(|(k, _)| rule.get(k).is_some()) {
            return Err(error(
                &rule.child_path(typo),
                format!("unknown field (a rule's access fields are `namespace`, `action` and `roles`: `{meant}`?)"),
            ));
        }
        // In another case (`Namespace`): the same typo.
        let fields = ["namespace", "action", "roles"];
        if let Some(key) = rule
            .keys()
            .find(|k| fields.iter().any(|f| k.eq_ignore_ascii_case(f) && k != f))
        {
            return Err(error(
                &rule.child_path(key),
                "unknown field (a rule's access fields are `namespace`, `action` and `roles`, in lower case)",
            ));
        }
        let access = RuleAccess {
            namespace: rule.non_empty_string("namespace")?.map(str::to_string),
            action: rule.non_empty_string("action")?.map(str::to_string),
            roles: rule
                .array("roles", |p, v| match v {
                    Value::String(s) if !s.is_empty() => Ok(s.clone()),
                    _ => Err(error(p, "expected a non-empty string")),
                })?
                .unwrap_or_default(),
        };
        // Requirements that would require nothing: refused rather than read as open.
        if access.action.is_some() && access.namespace.is_none() {
            return Err(error(
                &rule.child_path("action"),
                "an action is checked within a `namespace`: give one",
            ));
        }
        if rule.get("roles").is_some() && access.roles.is_empty() {
            return Err(error(
                &rule.child_path("roles"),
                "no role listed: the rule would require none (leave the field out for that)",
            ));
        }
        Ok(access)
    }

    pub fn is_open(&self) -> bool {
        self.namespace.is_none() && self.roles.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grant_covers_actions() {
        let g = Grant {
            namespace: "models".into(),
            actions: vec!["read".into(), "create".into()],
        };
        assert!(g.allows("models", "read"));
        assert!(!g.allows("models", "delete"));
        assert!(!g.allows("files", "read"));
        assert_eq!(default_action("PATCH"), "update");
    }

    #[test]
    fn near_misses_of_the_access_fields_are_refused() {
        for typo in ["role", "grants", "actions", "namespaces"] {
            let v = serde_json::json!({"pattern": "/", typo: ["admin"]});
            let rule = Obj::new("rules[0]", &v).unwrap();
            let e = RuleAccess::parse(&rule).unwrap_err().to_string();
            assert!(
                e.starts_with(&format!("rules[0].{typo}: unknown field")),
                "{e}"
            );
        }
        let v = serde_json::json!({"pattern": "/", "roles": ["admin"], "owner_type": "Proxy"});
        let rule = Obj::new("rules[0]", &v).unwrap();
        assert_eq!(RuleAccess::parse(&rule).unwrap().roles, ["admin"]);
    }
}
