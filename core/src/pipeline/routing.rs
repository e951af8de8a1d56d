//! The `routing` policy's effect on usage (reference apicast-policies.md §3.13,
//! apicast-behaviour.md §2.5): the first rule whose condition holds selects its `owner_id`,
//! and the deltas of matched mapping rules owned by another BackendApi are taken out of the
//! usage before the backend is asked (`route_upstream_usage_cleanup`). Which upstream gets
//! the request is Envoy's routes' job.

use crate::config::policies::configs::{Op, RouteOperation, RouteRule, RouteSubject};
use crate::config::Service;
use crate::mapping::{ArgValue, QueryArgs, RuleMatch, Usage};
use crate::request::HeaderSource;

/// The header and query-argument values the rules' conditions look at, read with the
/// request's head (URI arguments only, as APIcast's `ngx.req.get_uri_args`), in rule and
/// operation order; `None` for other subjects or an absent value.
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
                RouteSubject::Header(name) => {
                    let name = name.to_ascii_lowercase();
                    ambiguous |= headers.header_ambiguous(&name);
                    headers.header(&name)
                }
                // A `?flag` without `=` is Lua `true`: equal to no string.
                RouteSubject::QueryArg(name) => {
                    ambiguous |= args.ambiguous(name) || args.encoded(name);
                    match args.last(name) {
                        Some(ArgValue::Present(v)) => Some(v.clone()),
                        _ => None,
                    }
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
/// normalized path (nginx `$uri`), `claim` a verified token's claim, if any.
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

/// One operation; an absent value (Lua `nil`) equals nothing and matches nothing.
fn holds(operation: &RouteOperation, actual: Option<&str>) -> bool {
    let value = Some(operation.value.as_str());
    match (operation.op, actual) {
        (Op::Eq, actual) => actual == value,
        (Op::Ne, actual) => actual != value,
        (Op::Matches, Some(actual)) => {
            (operation.pattern.as_ref()).is_some_and(|r| r.is_match(actual))
        }
        (Op::Matches, None) => false,
    }
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
