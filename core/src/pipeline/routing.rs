//! The `routing` policy's effect on usage (reference apicast-policies.md §3.13,
//! apicast-behaviour.md §2.5): the first rule whose condition holds selects its `owner_id`,
//! and the deltas of matched mapping rules owned by another BackendApi are taken out of the
//! usage before the backend is asked (`route_upstream_usage_cleanup`). Which upstream gets
//! the request is Envoy's routes' job.

use crate::config::policies::configs::{Op, RouteOperation, RouteRule, RouteSubject};
use crate::config::Service;
use crate::mapping::{ArgValue, QueryArgs, RuleMatch, Usage};
use crate::request::HeaderSource;

/// APIcast's `tostring` of nothing (an absent header, arg or claim, or no token).
const NIL: &str = "nil";

/// What `matches` reads for a Lua table (an array or object claim): `tostring` gives its
/// address (`table: 0x7f...`), which no `==` equals; a pattern sees this fixed text.
pub const TABLE_TEXT: &str = "table: 0x00000000";

/// The header and query-argument values the rules' conditions look at, read with the
/// request's head (URI arguments only, as APIcast's `ngx.req.get_uri_args`), in rule and
/// operation order, as APIcast's `tostring` writes them (absent: `nil`); `None` for other
/// subjects.
pub struct RouteInputs {
    values: Vec<Option<String>>,
    /// A header sent twice with different values, an [ambiguous](QueryArgs::ambiguous) or
    /// [encoded](QueryArgs::encoded) arg, or an encoded path: Envoy's route matchers read
    /// another value (the first arg, undecoded; another of the header's values; the path as
    /// sent), so the usage kept could be another backend's than the one routed to.
    pub ambiguous: bool,
}

impl RouteInputs {
    /// `path_encoded`: the path as sent is not its normalized form (`/tw%65nty`), which
    /// Envoy's route prefixes do not see.
    pub fn read(
        rules: &[RouteRule],
        headers: &dyn HeaderSource,
        args: &QueryArgs,
        path_encoded: bool,
    ) -> RouteInputs {
        let mut values = Vec::new();
        let mut ambiguous = false;
        for operation in rules.iter().flat_map(|r| &r.operations) {
            values.push(match &operation.subject {
                // Absent: `nil`, which `matches ".*"` and `== "nil"` hold for in APIcast
                // (an absent value matched nothing here: found by an audit, 2026-12-07).
                RouteSubject::Header(name) => {
                    let name = name.to_ascii_lowercase();
                    ambiguous |= headers.header_ambiguous(&name);
                    Some(headers.header(&name).unwrap_or_else(|| NIL.to_string()))
                }
                // A `?flag` without `=` is Lua `true`, written `true`.
                RouteSubject::QueryArg(name) => {
                    ambiguous |= args.ambiguous(name) || args.encoded(name);
                    Some(match args.last(name) {
                        Some(ArgValue::Present(v)) => v.clone(),
                        Some(ArgValue::NoValue) => "true".to_string(),
                        None => NIL.to_string(),
                    })
                }
                RouteSubject::Path => {
                    ambiguous |= path_encoded;
                    None
                }
                RouteSubject::JwtClaim(_) => None,
            });
        }
        RouteInputs { values, ambiguous }
    }
}

/// The `owner_id` of the first rule whose condition holds (`and`: every operation, `or`:
/// any); `None` when no rule holds or the selected one has no owner. `path` is the request's
/// normalized path (nginx `$uri`), `claim` a claim of the verified token as [`claim_text`]
/// writes it (`None`: a table).
pub fn owner(
    rules: &[RouteRule],
    inputs: &RouteInputs,
    path: &str,
    claim: &dyn Fn(&str) -> Option<String>,
) -> Option<u64> {
    let mut values = inputs.values.iter();
    let mut selected = None;
    for rule in rules {
        let mut results = Vec::with_capacity(rule.operations.len());
        for operation in &rule.operations {
            let read = values.next().cloned().flatten();
            let actual = match &operation.subject {
                RouteSubject::Path => Some(path.to_string()),
                RouteSubject::JwtClaim(name) => claim(name),
                RouteSubject::Header(_) | RouteSubject::QueryArg(_) => read,
            };
            results.push(holds(operation, actual.as_deref()));
        }
        // Every rule's values are consumed, so the next rule reads its own.
        let holds = match rule.any {
            true => results.iter().any(|r| *r),
            false => results.iter().all(|r| *r),
        };
        if holds && selected.is_none() {
            selected = Some(rule.owner_id);
        }
    }
    selected.flatten()
}

/// One operation, on `tostring` of the value (`None`: a table, whose address equals no
/// configured value and reads [`TABLE_TEXT`] for `matches`).
fn holds(operation: &RouteOperation, actual: Option<&str>) -> bool {
    let value = Some(operation.value.as_str());
    match operation.op {
        Op::Eq => actual == value,
        Op::Ne => actual != value,
        Op::Matches => {
            (operation.pattern.as_ref()).is_some_and(|r| r.is_match(actual.unwrap_or(TABLE_TEXT)))
        }
    }
}

/// A claim as APIcast's `routing` reads it: `tostring((jwt and jwt[name]) or nil)`, the
/// top-level claim of that very name (`realm_access.tier` follows no path), not rendered as
/// Liquid as `jwt_claim_check` does (found by an audit, 2026-12-07). Missing, `false` (the
/// `or nil` drops it) or no token: `nil`; `null`: cjson's `userdata: NULL`; a number as
/// `jwt_claim_check` writes it; an array or object: `None` (a table).
#[cfg(feature = "jwt")]
pub fn claim_text(claims: Option<&crate::auth::jwt::Claims>, name: &str) -> Option<String> {
    use serde_json::Value;
    let text = match claims.and_then(|c| c.get(name)) {
        None | Some(Value::Bool(false)) => NIL,
        Some(Value::Null) => "userdata: NULL",
        Some(Value::Bool(true)) => "true",
        Some(Value::String(s)) => s,
        Some(Value::Number(n)) => return Some(crate::auth::jwt::number_text(n)),
        Some(Value::Array(_) | Value::Object(_)) => return None,
    };
    Some(text.to_string())
}

/// Without JWT support no request has a token: every claim is `nil`.
#[cfg(not(feature = "jwt"))]
pub fn claim_text(_: Option<&()>, _: &str) -> Option<String> {
    Some(NIL.to_string())
}

/// APIcast's `clean_usage_by_owner_id`: the deltas of matched rules owned by another
/// BackendApi are subtracted, and a metric so cleaned whose total drops to 0 or below is
/// removed (APIcast's `Usage:merge`). The usage is rebuilt rather than edited: a map removal
/// would cost 3 KB of module.
pub fn clean_usage(service: &Service, matched: &mut RuleMatch, owner: u64) {
    // The sum of the other owners' deltas for `metric`; `None`: no such rule matched.
    let taken = |metric: &str| {
        let mut sum = None;
        for &i in &matched.matched {
            let Some(rule) = service.rules.get(i) else {
                continue;
            };
            if rule.owner.is_some_and(|o| o != owner) && *rule.metric == *metric {
                sum = Some(sum.unwrap_or(0u64).saturating_add(rule.delta));
            }
        }
        sum
    };
    let mut kept = Usage::default();
    for (metric, delta) in matched.usage.iter() {
        match taken(metric) {
            None => kept.add(metric, delta),
            Some(minus) if delta > minus => kept.add(metric, delta - minus),
            Some(_) => {}
        }
    }
    matched.usage = kept;
}
