//! The `routing` policy (reference apicast-policies.md §3.13, apicast-behaviour.md §2.5), as
//! far as it changes what 3scale sees: the first rule whose condition holds selects its
//! `owner_id`, and the usage of mapping rules owned by another BackendApi is not reported
//! (`pipeline/routing.rs`). Choosing the upstream (`url`, `replace_path`, `host_header`) is
//! Envoy's job: its routes do it, the filter does not.

use super::configs::{
    any, choice, list, no_template, op, plain, required, RouteOperation, RouteRule, RouteSubject,
};
use super::Answer;
use crate::config::json::{error, Obj, Result};

/// What the log says of an accepted `routing` policy.
pub const NOTE: &str = "the usage of mapping rules owned by another backend (owner_id) is not \
    reported, as in APIcast; url, replace_path and host_header are NOT applied by the filter: \
    Envoy's routes choose the upstream (README \"routing\")";

/// The rules, refused with their path where a condition needs what is not enforced yet.
pub fn policy(c: &Obj) -> Result<(Vec<RouteRule>, Answer)> {
    Ok((
        rules(c)?,
        Answer::Accepted {
            note: NOTE,
            warn: true,
        },
    ))
}

/// `rules: [{url, condition: {combine_op, operations}, replace_path, owner_id, host_header}]`
/// with APIcast's schema; Liquid is refused (`match: liquid`, a `liquid` value type, a
/// template in `replace_path`). Plain loops over `list`: an `objects`
/// closure per item type would cost kilobytes of module.
pub fn rules(c: &Obj) -> Result<Vec<RouteRule>> {
    let mut rules = Vec::new();
    for (path, v) in list(c, "rules")?.unwrap_or_default() {
        let r = Obj::new(&path, v)?;
        let mut rule = RouteRule {
            url: required(&r, "url")?,
            any: false,
            operations: Vec::new(),
            replace_path: no_template(&r, "replace_path")?,
            owner_id: owner_id(&r)?,
            host_header: r.string("host_header")?.map(str::to_string),
        };
        // `condition` is required, checked after unknown fields (a misspelt `conditions`):
        // APIcast's `rule.lua` indexes it and fails without it, dropping the whole policy, so
        // every rule's usage is reported; read as "always holds" the rule would take every
        // request's usage for its owner alone. A missing `operations` is `{}` there
        // (`init_condition`, TEST 34 "Match all conditions"), as `[]` is here: refusing it
        // skipped a fetched product whole (found by an audit, 2026-12-07).
        let cond = r.obj("condition")?;
        if let Some(cond) = &cond {
            rule.any = any(cond)?;
            for (path, v) in list(cond, "operations")?.unwrap_or_default() {
                rule.operations.push(operation(&Obj::new(&path, v)?)?);
            }
            cond.deny_unread()?;
        }
        // porta writes `owner_type` (`BackendApi`) beside `owner_id`: part of the schema.
        r.get("owner_type");
        // `conditions` for `condition` would make the rule hold for every request.
        r.deny_unread()?;
        if cond.is_none() {
            return Err(error(&r.child_path("condition"), "missing required field"));
        }
        rules.push(rule);
    }
    if rules.is_empty() {
        return Err(error(&c.child_path("rules"), "expected a non-empty array"));
    }
    Ok(rules)
}

fn operation(o: &Obj) -> Result<RouteOperation> {
    plain(o, "value_type")?;
    // In APIcast's schema whatever `match` says (`liquid` is refused): not unknown.
    let _ = (
        o.get("header_name"),
        o.get("query_arg_name"),
        o.get("jwt_claim_name"),
        o.get("liquid_value"),
    );
    let kinds = &["path", "header", "query_arg", "jwt_claim"];
    let subject = match choice(o, "match", kinds, None)? {
        0 => RouteSubject::Path,
        1 => RouteSubject::Header(required(o, "header_name")?),
        2 => RouteSubject::QueryArg(required(o, "query_arg_name")?),
        _ => RouteSubject::JwtClaim(required(o, "jwt_claim_name")?),
    };
    let op = op(o)?;
    let value = required(o, "value")?;
    o.deny_unread()?;
    Ok(RouteOperation {
        subject,
        op,
        // `matches`: an unanchored regex, refused with its path in a build without regexes.
        pattern: crate::condition::pattern(&o.child_path("value"), op, &value)?,
        value,
    })
}

/// A mapping rule's BackendApi owner: `owner_id`, kept only with `owner_type: "BackendApi"`
/// (APIcast's `mapping_rule.lua`); a rule owned by the product (`Proxy`) or by nobody is
/// always reported. Read for every service (3scale writes it on every rule), so a value that
/// is neither an integer nor a [decimal string](decimal_id) is no owner rather than a
/// refusal: its usage is always reported.
pub fn owner(rule: &Obj) -> Result<Option<u64>> {
    let id = rule.get("owner_id").and_then(decimal_id);
    Ok(id.filter(|_| {
        rule.get("owner_type").and_then(serde_json::Value::as_str) == Some("BackendApi")
    }))
}

/// A routing rule's `owner_id`: an integer or a decimal string, else refused with its path.
fn owner_id(rule: &Obj) -> Result<Option<u64>> {
    match rule.get("owner_id").and_then(decimal_id) {
        Some(id) => Ok(Some(id)),
        None => rule.uint("owner_id"),
    }
}

/// An owner id as APIcast's `tonumber` reads it, as far as ids go: a non-negative integer,
/// or a string of decimal digits (`"4"`), which was read as no owner, so its rules' usage
/// was reported whatever the route (found by an audit, 2026-12-07).
fn decimal_id(v: &serde_json::Value) -> Option<u64> {
    match v {
        serde_json::Value::String(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
            s.parse().ok()
        }
        other => other.as_u64(),
    }
}
