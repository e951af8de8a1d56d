//! APIcast's `jwt_claim_check` policy (reference apicast-policies.md §3.8): a rule applies to
//! a request whose method is one of its `methods` (none: any) and whose path matches its
//! `resource` (a mapping-rule pattern, on the path the mapping rules see); its operations,
//! joined by `and` or `or`, compare a claim of the verified token with a plain value (`==`,
//! `!=`, or `matches`: an unanchored regex, [`crate::condition`]). The
//! first applicable rule whose condition is false denies. Without a token every claim is
//! empty, so `==` fails and `!=` holds, as in APIcast.

use crate::config::policies::configs::{JwtClaimCheck, Operation};

/// Whether the policy denies the request. `claim` renders a claim as APIcast's Liquid does
/// (`Claims::render`; empty without a token).
pub fn denies(
    check: &JwtClaimCheck,
    method: &str,
    normalized_path: &str,
    claim: &dyn Fn(&str) -> String,
) -> bool {
    check.rules.iter().any(|rule| {
        // `HEAD` runs the `GET` handler upstream (see `MethodMatch::matches`).
        let listed = |m: &String| m == method || (method == "HEAD" && m == "GET");
        let applies = (rule.methods.is_empty() || rule.methods.iter().any(listed))
            && rule.resource.matches(normalized_path);
        if !applies {
            return false;
        }
        let holds = |op: &Operation| crate::condition::holds(op, &claim(&op.left));
        let passed = match rule.any {
            true => rule.operations.iter().any(holds),
            false => rule.operations.iter().all(holds),
        };
        !passed
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::json::Obj;
    use crate::config::policies::configs::jwt_claim_check;
    use serde_json::{json, Value};

    fn check(config: Value) -> JwtClaimCheck {
        jwt_claim_check(&Obj::new("c", &config).unwrap()).unwrap()
    }

    fn claims(v: Value) -> impl Fn(&str) -> String {
        move |name: &str| {
            let mut value = &v;
            for segment in name.split('.') {
                value = &value[segment];
            }
            match value {
                Value::String(s) => s.clone(),
                Value::Null => String::new(),
                other => other.to_string(),
            }
        }
    }

    fn op(claim: &str, op: &str, value: &str) -> Value {
        json!({"jwt_claim": claim, "jwt_claim_type": "plain", "op": op, "value": value})
    }

    #[test]
    fn a_rule_applies_by_method_and_resource_and_its_condition_decides() {
        let c = check(json!({"error_message": "JWT no valid", "rules": [
            {"resource": "/confidential", "methods": ["GET", "POST"],
             "operations": [op("foo", "==", "1"), op("role", "!=", "guest")]},
            {"resource": "/groups/{id}$", "combine_op": "or",
             "operations": [op("realm.admin", "==", "true"), op("foo", "==", "2")]}
        ]}));
        let good = claims(json!({"foo": "1", "role": "director"}));
        assert!(!denies(&c, "GET", "/confidential/x", &good));
        let guest = claims(json!({"foo": "1", "role": "guest"}));
        assert!(
            denies(&c, "GET", "/confidential", &guest),
            "and: one op fails"
        );
        assert!(
            !denies(&c, "DELETE", "/confidential", &guest),
            "method not listed"
        );
        assert!(
            !denies(&c, "GET", "/public", &guest),
            "no rule applies: allowed"
        );
        // `or`: one operation is enough; `$` anchors the resource.
        assert!(!denies(
            &c,
            "PUT",
            "/groups/%2020",
            &claims(json!({"realm": {"admin": true}}))
        ));
        assert!(denies(
            &c,
            "PUT",
            "/groups/%2020",
            &claims(json!({"foo": "1", "role": "x"}))
        ));
        assert!(!denies(&c, "PUT", "/groups/1/more", &claims(json!({}))));
        // Without a token every claim is empty: `==` fails, `!=` holds.
        let none = |_: &str| String::new();
        assert!(denies(&c, "GET", "/confidential", &none));
        let ne =
            check(json!({"rules": [{"resource": "/", "operations": [op("role", "!=", "guest")]}]}));
        assert!(!denies(&ne, "GET", "/x", &none));
        assert_eq!(ne.error_message, "Request blocked due to JWT claim policy");
    }

    #[test]
    #[cfg(feature = "rewrite")]
    fn matches_is_an_unanchored_regex_search() {
        let c = check(json!({"rules": [{"resource": "/", "combine_op": "and",
            "operations": [op("email", "matches", "@example\\.com$"), op("role", "matches", "adm")]}]}));
        let ok = claims(json!({"email": "a@example.com", "role": "sysadmin"}));
        assert!(!denies(&c, "GET", "/x", &ok));
        let other = claims(json!({"email": "a@example.org", "role": "sysadmin"}));
        assert!(denies(&c, "GET", "/x", &other));
        // No token: every claim is empty, and these patterns need text.
        assert!(denies(&c, "GET", "/x", &|_: &str| String::new()));
    }
}
