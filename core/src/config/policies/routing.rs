//! The `routing` policy (reference apicast-policies.md §3.13, apicast-behaviour.md §2.5), as
//! far as it changes what 3scale sees: the first rule whose condition holds selects its
//! `owner_id`, and the usage of mapping rules owned by another BackendApi is not reported
//! (`pipeline/routing.rs`). Choosing the upstream (`url`, `replace_path`, `host_header`) is
//! Envoy's job: its routes do it, the filter does not.

use super::configs::{routing, Op, RouteRule};
use super::Answer;
use crate::config::json::{error, Obj, Result};

/// What the log says of an accepted `routing` policy.
pub const NOTE: &str = "the usage of mapping rules owned by another backend (owner_id) is not \
    reported, as in APIcast; url, replace_path and host_header are NOT applied by the filter: \
    Envoy's routes choose the upstream (README \"routing\")";

/// The rules, refused with their path where a condition needs what is not enforced yet.
pub fn policy(c: &Obj) -> Result<(Vec<RouteRule>, Answer)> {
    let rules = routing(c)?;
    for (i, rule) in rules.iter().enumerate() {
        for (j, operation) in rule.operations.iter().enumerate() {
            if operation.op == Op::Matches {
                return Err(matches_refused(&format!(
                    "{}[{i}].condition.operations[{j}].op",
                    c.child_path("rules")
                )));
            }
        }
    }
    Ok((
        rules,
        Answer::Accepted {
            note: NOTE,
            warn: true,
        },
    ))
}

/// HOOK (regex engine): `matches` is an unanchored regex in APIcast. Once the engine lands,
/// compile `value` here (refusing a bad pattern with this path) and evaluate it in
/// `pipeline::routing::holds`; until then the operation is refused.
fn matches_refused(path: &str) -> crate::config::ConfigError {
    error(
        path,
        "\"matches\" (a regular expression) is not enforced yet: use == or !=",
    )
}

/// Each mapping rule's BackendApi owner (same index as the service's rules): `owner_id`, kept
/// only with `owner_type: "BackendApi"` (APIcast's `mapping_rule.lua`); a rule owned by the
/// product (`Proxy`) or by nobody is always reported.
pub fn owners(proxy: &Obj) -> Result<Vec<Option<u64>>> {
    let rules = proxy.array("proxy_rules", |path, v| {
        let rule = Obj::new(path, v)?;
        if rule.string("owner_type")? != Some("BackendApi") {
            return Ok(None);
        }
        match rule.get("owner_id") {
            None | Some(serde_json::Value::Null) => Ok(None),
            Some(_) => rule.uint("owner_id"),
        }
    })?;
    Ok(rules.unwrap_or_default())
}
