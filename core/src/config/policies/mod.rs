//! A service's `proxy.policy_chain`, read as APIcast does (reference apicast-policies.md §1),
//! and Tollgate's answer to each policy: enforced, Envoy's job, accepted with a note, accepted
//! through `ignore_policies`, or refused with its JSON path. A policy that can block traffic is
//! never dropped silently (APIcast drops any policy it cannot load and lets requests through).

pub mod cidr;
#[cfg(test)]
mod config_tests;
pub mod configs;
pub mod default_credentials;
#[cfg(all(test, feature = "jwt"))]
mod order_tests;
pub mod per_service;
pub mod review;
pub mod routing;
#[cfg(test)]
mod schema_tests;
#[cfg(test)]
mod tests;
pub mod url_rewriting;

use super::json::{error, Obj, Result};
use super::{CachingType, ConfigError};
use configs::*;
use serde_json::Value;
use std::fmt;
use url_rewriting::UrlRewriting;

/// What Tollgate does with a builtin policy (reference §2; README "APIcast policies").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Apicast,
    /// The proxy's job (routes, clusters, listeners, filters); it cannot block traffic.
    Envoy,
    Caching,
    Batcher,
    RateLimitHeaders,
    /// Enforced; a `condition` of plain values is decided with the configuration.
    Maintenance,
    /// Enforced (the `proxy_protocol_addr` source is refused with its path).
    IpCheck,
    /// Enforced, with its own typed configuration (`configs.rs`).
    Typed,
    /// Its rules' `owner_id` decides which backend's usage is reported (`routing.rs`).
    Routing,
}

/// Builtin policies Tollgate knows; any other name, or a builtin name with a version other
/// than `builtin`, can block traffic and is refused unless ignored.
const BUILTIN: &[(&str, Kind)] = &[
    ("apicast", Kind::Apicast),
    ("caching", Kind::Caching),
    ("3scale_batcher", Kind::Batcher),
    ("rate_limit_headers", Kind::RateLimitHeaders),
    ("3scale_referrer", Kind::Typed),
    ("default_credentials", Kind::Typed),
    ("ip_check", Kind::IpCheck),
    ("jwt_claim_check", Kind::Typed),
    ("maintenance_mode", Kind::Maintenance),
    ("cors", Kind::Typed),
    ("headers", Kind::Typed),
    ("url_rewriting", Kind::Typed),
    ("statuscode_overwrite", Kind::Typed),
    ("routing", Kind::Routing),
    ("camel", Kind::Envoy),
    ("content_caching", Kind::Envoy),
    ("grpc", Kind::Envoy),
    ("http_proxy", Kind::Envoy),
    ("logging", Kind::Envoy),
    ("nginx_filters", Kind::Envoy),
    ("phase_logger", Kind::Envoy),
    ("request_unbuffered", Kind::Envoy),
    ("retry", Kind::Envoy),
    ("tls", Kind::Envoy),
    ("upstream", Kind::Envoy),
    ("upstream_connection", Kind::Envoy),
    ("upstream_mtls", Kind::Envoy),
    ("websocket", Kind::Envoy),
];

/// What Tollgate does with `name` at `version`; `None`: unknown, custom or not enforced.
pub fn kind(name: &str, version: &str) -> Option<Kind> {
    if version != "builtin" {
        // APIcast looks a non-builtin version up among custom policies only.
        return None;
    }
    BUILTIN.iter().find(|(n, _)| *n == name).map(|(_, k)| *k)
}

/// What the top level says about every service's policies.
#[derive(Debug, Clone, Default)]
pub struct Context {
    /// `ignore_policies`: names accepted although Tollgate would refuse them.
    pub ignore: Vec<String>,
    /// With a `system` block: where OpenID Connect services from 3scale System discover their
    /// issuer's keys.
    pub issuers: Option<Issuers>,
}

/// `system.issuer_clusters`, and the System's refresh and timeout the discovery follows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issuers {
    /// Issuer host (lower-cased) → Envoy cluster.
    pub clusters: Vec<(String, String)>,
    pub refresh_s: u64,
    pub timeout_ms: u64,
}

impl Context {
    pub fn new(root: &Obj) -> Result<Context> {
        let mut ignore = Vec::new();
        for (path, v) in list(root, "ignore_policies")?.unwrap_or_default() {
            let name = v
                .as_str()
                .ok_or_else(|| error(&path, "expected a string (a policy name)"))?;
            ignore.push(builtin_name(name).unwrap_or(name).to_string());
        }
        Ok(Context {
            ignore,
            issuers: None,
        })
    }
}

/// One compiled policy; the configurations of the policies to enforce are typed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Policy {
    /// The 3scale flow: credentials, mapping rules, authorization, reporting.
    Apicast,
    /// Envoy's job; nothing for the filter to do.
    Proxy,
    Caching(CachingType),
    Batcher(Batcher),
    RateLimitHeaders,
    Referrer,
    DefaultCredentials(DefaultCredentials),
    IpCheck(IpCheck),
    JwtClaimCheck(JwtClaimCheck),
    MaintenanceMode(MaintenanceMode),
    Cors(Cors),
    Headers(Headers),
    UrlRewriting(UrlRewriting),
    /// `(upstream status, status sent)` pairs; a later pair for the same status wins.
    StatusCodeOverwrite(Vec<(u16, u16)>),
    Routing(Vec<RouteRule>),
    /// A policy Tollgate does not know or enforce, accepted through `ignore_policies`.
    Other,
}

/// Tollgate's answer to one policy of a chain it accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    Enforced,
    /// The proxy's job: logged at info level.
    EnvoysJob,
    /// Accepted, with what differs from APIcast; `warn`: logged as a warning.
    Accepted {
        note: &'static str,
        warn: bool,
    },
    /// Would be refused; the operator accepted it in `ignore_policies` (a warning).
    Ignored,
}

impl Answer {
    pub fn is_warning(&self) -> bool {
        matches!(self, Answer::Ignored | Answer::Accepted { warn: true, .. })
    }
}

impl fmt::Display for Answer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Answer::Enforced => f.write_str("enforced"),
            Answer::EnvoysJob => {
                f.write_str("Envoy's job (configure it in Envoy); it cannot block traffic")
            }
            Answer::Accepted { note, .. } => write!(f, "accepted: {note}"),
            Answer::Ignored => f.write_str("NOT enforced: accepted through ignore_policies"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainEntry {
    /// `services[0].proxy.policy_chain[2]`.
    pub path: String,
    /// The policy's directory name, without `apicast.policy.`.
    pub name: String,
    pub policy: Policy,
    pub answer: Answer,
}

/// A service's policies in chain order. Empty when `policy_chain` is absent or null:
/// APIcast's default chain, `apicast` alone. An explicit empty chain is refused; one without
/// `apicast` makes the service public.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PolicyChain {
    pub entries: Vec<ChainEntry>,
    /// Index in `entries` of the (first) `apicast` policy; 0 for the default chain, and
    /// `entries.len()` without one (every policy then stands before it).
    pub apicast: usize,
    /// No `apicast`: the chain's path. The service is public (no credentials, mapping rules
    /// or 3scale authorization, as in APIcast).
    pub public: Option<String>,
    /// The service's own `caching_type` (the `caching` policy), else `backend.caching_type`.
    pub caching: Option<CachingType>,
    /// The service's own batching (the `3scale_batcher` policy), else `backend.batching`.
    pub batcher: Option<Batcher>,
}

impl PolicyChain {
    pub fn parse(proxy: &Obj, ctx: &Context) -> Result<PolicyChain> {
        let path = proxy.child_path("policy_chain");
        let Some(items) = list(proxy, "policy_chain")? else {
            return Ok(PolicyChain::default());
        };
        if items.is_empty() {
            return Err(empty_chain(&path));
        }
        let mut entries = Vec::with_capacity(items.len());
        for (p, v) in items {
            entries.push(entry(&p, v, ctx)?);
        }
        let policies: Vec<(usize, &Policy)> =
            entries.iter().map(|e| &e.policy).enumerate().collect();
        if let Some((i, why)) = misplaced(&policies) {
            return Err(error(&format!("{path}[{i}]"), why));
        }
        let found = entries
            .iter()
            .position(|e| matches!(e.policy, Policy::Apicast));
        let apicast = found.unwrap_or(entries.len());
        let mut chain = PolicyChain {
            public: found.is_none().then_some(path),
            apicast,
            ..PolicyChain::default()
        };
        for (i, e) in entries.iter_mut().enumerate() {
            match &e.policy {
                // What only `apicast` reads: nothing without it.
                Policy::Caching(_)
                | Policy::Batcher(_)
                | Policy::Routing(_)
                | Policy::DefaultCredentials(_)
                | Policy::Referrer
                    if found.is_none() =>
                {
                    e.answer = Answer::Accepted {
                        note:
                            "has no effect without apicast (the service is public), as in APIcast",
                        warn: true,
                    };
                }
                Policy::DefaultCredentials(_) if i > apicast => {
                    e.answer = Answer::Accepted {
                        note: "placed after apicast, where it has no effect (a request without credentials gets 401), as in APIcast",
                        warn: true,
                    };
                }
                Policy::Routing(_) if i > apicast => {
                    e.answer = Answer::Accepted {
                        note: "placed after apicast, whose usage clean-up it then misses: every matched rule's usage is reported, as in APIcast",
                        warn: true,
                    };
                }
                // Twice in one chain: the first applies.
                Policy::Caching(t) => {
                    chain.caching.get_or_insert(*t);
                }
                Policy::Batcher(b) => {
                    chain.batcher.get_or_insert(*b);
                }
                _ => {}
            }
        }
        chain.entries = entries;
        Ok(chain)
    }

    /// The `default_credentials` policies that stand before `apicast`, in chain order (after
    /// it, APIcast has already found the credentials missing).
    pub fn default_credentials(&self) -> impl DoubleEndedIterator<Item = &DefaultCredentials> {
        self.entries
            .iter()
            .take(self.apicast)
            .filter_map(|e| match &e.policy {
                Policy::DefaultCredentials(d) => Some(d),
                _ => None,
            })
    }

    /// Whether the chain has `3scale_referrer` (wherever it stands, as in APIcast).
    pub fn has_referrer(&self) -> bool {
        self.entries.iter().any(|e| e.policy == Policy::Referrer)
    }

    /// The `jwt_claim_check` policies, each with whether it stands before `apicast`.
    pub fn claim_checks(&self) -> impl Iterator<Item = (bool, &JwtClaimCheck)> {
        self.entries
            .iter()
            .enumerate()
            .filter_map(|(i, e)| match &e.policy {
                Policy::JwtClaimCheck(c) => Some((i < self.apicast, c)),
                _ => None,
            })
    }

    /// The `maintenance_mode` policy, if the chain has one (wherever it stands: it answers
    /// before any authorization, so the backend is never called).
    pub fn maintenance(&self) -> Option<&MaintenanceMode> {
        self.entries.iter().find_map(|e| match &e.policy {
            Policy::MaintenanceMode(m) => Some(m),
            _ => None,
        })
    }

    /// The first `routing` policy's rules, when it stands before `apicast`: APIcast cleans
    /// the usage of other backends in `apicast`'s access phase, only if `routing`'s has run
    /// (after it, every matched rule's usage is reported: found by an audit).
    pub fn routing(&self) -> Option<&[RouteRule]> {
        let (at, rules) = (self.entries.iter().enumerate()).find_map(|(i, e)| match &e.policy {
            Policy::Routing(rules) => Some((i, rules.as_slice())),
            _ => None,
        })?;
        (self.public.is_none() && self.before_apicast(at)).then_some(rules)
    }

    /// Whether the policy at `index` comes before `apicast` (it matters within one phase).
    pub fn before_apicast(&self, index: usize) -> bool {
        index < self.apicast
    }

    /// The log lines: (warning?, text), one per policy not plainly enforced, and a warning
    /// for a public chain (no `apicast`).
    pub fn log_lines(&self) -> impl Iterator<Item = (bool, String)> + '_ {
        let public = self.public.as_deref().map(|p| (true, public_line(p)));
        public.into_iter().chain(
            self.entries
                .iter()
                .filter(|e| !matches!(e.answer, Answer::Enforced))
                .map(|e| {
                    (
                        e.answer.is_warning(),
                        format!("{}: policy {}: {}", e.path, e.name, e.answer),
                    )
                }),
        )
    }
}

/// A chain without `apicast` does no 3scale authorization in APIcast: the service is public.
/// A policy the chain's order refuses, given the chain's policies with their indices: its
/// index and why. The filter stops at it; `tollgate check` marks each (`review`).
fn misplaced(policies: &[(usize, &Policy)]) -> Option<(usize, &'static str)> {
    // APIcast matches a `jwt_claim_check` after `routing` against the path of the upstream
    // routing chose (`url`'s path, `replace_path`), which Envoy's routes choose here: its
    // rules would read another path than APIcast's (found by an audit, 2026-12-06).
    #[cfg(feature = "jwt")]
    {
        let routing = (policies.iter()).position(|(_, p)| matches!(p, Policy::Routing(_)));
        if let Some((i, _)) = (policies.iter())
            .skip(routing.map_or(policies.len(), |r| r + 1))
            .find(|(_, p)| matches!(p, Policy::JwtClaimCheck(_)))
        {
            return Some((*i, "jwt_claim_check after routing: APIcast checks the routed upstream's path, which Envoy's routes choose; place it before routing"));
        }
    }
    // APIcast would run the rules and the backend again on what the policies between them
    // made (a rewritten path, say); Tollgate reads one `apicast`.
    let mut apicasts = (policies.iter()).filter(|(_, p)| matches!(p, Policy::Apicast));
    apicasts.next();
    (apicasts.next()).map(|(i, _)| {
        (
            *i,
            "a second apicast: Tollgate authorizes once, with the first",
        )
    })
}

pub fn public_line(path: &str) -> String {
    format!(
        "{path}: no apicast policy: the service is PUBLIC: served without credentials, mapping \
         rules or 3scale authorization (as APIcast); its other policies apply"
    )
}

/// APIcast builds an empty chain, which neither authorizes nor proxies: surely a mistake.
fn empty_chain(path: &str) -> ConfigError {
    error(
        path,
        "an empty chain: APIcast would neither authorize nor proxy: list the policies \
         (with {\"name\": \"apicast\"} for 3scale), or remove policy_chain for apicast alone",
    )
}

/// `apicast.policy.<name>` names a builtin policy, whatever `version` says (APIcast strips
/// the first 15 characters).
fn builtin_name(given: &str) -> Option<&str> {
    given
        .strip_prefix("apicast.policy")
        .map(|rest| rest.get(1..).unwrap_or(""))
}

/// A chain element's name and version as APIcast resolves them, and its configuration.
fn resolve<'a>(obj: &Obj<'a>, empty: &'a Value) -> Result<(&'a str, &'a str, Obj<'a>)> {
    let given = obj
        .non_empty_string("name")?
        .ok_or_else(|| error(&obj.child_path("name"), "missing required field"))?;
    let version = obj.string("version")?;
    let (name, version) = match builtin_name(given) {
        Some(name) => (name, "builtin"),
        None => (given, version.unwrap_or("builtin")),
    };
    // A null is not an object: refused, as APIcast fails on it (`cfg.allow_origin` throws).
    let c = obj.raw("configuration").unwrap_or(empty);
    // porta writes `enabled: true` on the policies it generates (`routing`) and drops disabled
    // ones; APIcast ignores the field, so `false` would not switch the policy off: refused.
    if obj.bool("enabled")? == Some(false) {
        return Err(error(
            &obj.child_path("enabled"),
            "APIcast runs a policy whatever `enabled` says: remove the policy instead",
        ));
    }
    // APIcast reads these: another field would change nothing there.
    obj.deny_unread()?;
    Ok((
        name,
        version,
        Obj::new(&obj.child_path("configuration"), c)?,
    ))
}

fn entry(path: &str, value: &Value, ctx: &Context) -> Result<ChainEntry> {
    let empty = Value::Object(Default::default());
    let (name, version, c) = resolve(&Obj::new(path, value)?, &empty)?;
    // The answer, or where and why the policy is refused (one message format: 0.3 KB less).
    let (policy, answer) = match kind(name, version) {
        None => (
            Policy::Other,
            Err((
                path.to_string(),
                "can block or change traffic and Tollgate does not enforce it",
            )),
        ),
        Some(Kind::Apicast) => (Policy::Apicast, Ok(Answer::Enforced)),
        // Each parser named: a build links only those of the policies it enforces.
        Some(Kind::Typed) => {
            (
                match name {
                    #[cfg(feature = "jwt")]
                    "jwt_claim_check" => Policy::JwtClaimCheck(jwt_claim_check(&c)?),
                    // Without JWT support there are no claims to check.
                    #[cfg(not(feature = "jwt"))]
                    "jwt_claim_check" => return Err(error(
                        path,
                        "policy jwt_claim_check needs JWT support, which this build does not have",
                    )),
                    "default_credentials" => Policy::DefaultCredentials(default_credentials(&c)?),
                    #[cfg(feature = "rewrite")]
                    "url_rewriting" => Policy::UrlRewriting(url_rewriting::parse(&c)?),
                    #[cfg(not(feature = "rewrite"))]
                    "url_rewriting" => return Err(crate::regex::unsupported(path)),
                    "3scale_referrer" => Policy::Referrer,
                    "cors" => Policy::Cors(cors(&c)?),
                    "headers" => Policy::Headers(headers(&c)?),
                    "statuscode_overwrite" => {
                        Policy::StatusCodeOverwrite(statuscode_overwrite(&c)?)
                    }
                    _ => Policy::Other,
                },
                Ok(Answer::Enforced),
            )
        }
        Some(Kind::Envoy) => (Policy::Proxy, Ok(Answer::EnvoysJob)),
        // Conditions come with the regexes (4 KB of module the lean build does without).
        #[cfg(not(feature = "rewrite"))]
        Some(Kind::Maintenance) if c.get("condition").is_some() => (
            Policy::Other,
            Err((
                c.child_path("condition"),
                "has a condition, which this build does not evaluate (cargo feature \"rewrite\")",
            )),
        ),
        #[cfg(not(feature = "rewrite"))]
        Some(Kind::Maintenance) => (
            Policy::MaintenanceMode(maintenance_answer(&c)?),
            Ok(Answer::Enforced),
        ),
        // A condition of plain values (Liquid is refused) is the same for every request.
        #[cfg(feature = "rewrite")]
        Some(Kind::Maintenance) => {
            let m = maintenance_mode(&c)?;
            match m.condition.as_ref().is_none_or(crate::condition::constant) {
                true => (Policy::MaintenanceMode(m), Ok(Answer::Enforced)),
                false => (
                    Policy::Other,
                    Ok(Answer::Accepted {
                        note: "its condition (plain values) never holds: it never answers",
                        warn: true,
                    }),
                ),
            }
        }
        Some(Kind::IpCheck) => (Policy::IpCheck(ip_check(&c)?), Ok(Answer::Enforced)),
        // The service's own batching and caching type (`per_service.rs`).
        Some(Kind::Batcher) => (
            Policy::Batcher(per_service::batcher(&c)?),
            Ok(Answer::Enforced),
        ),
        Some(Kind::Caching) => (Policy::Caching(caching(&c)?), Ok(Answer::Enforced)),
        Some(Kind::Routing) => {
            let (rules, answer) = routing::policy(&c)?;
            (Policy::Routing(rules), Ok(answer))
        }
        Some(Kind::RateLimitHeaders) => (Policy::RateLimitHeaders, Ok(Answer::Enforced)),
    };
    // A configuration read: a field its parser did not look up is not in APIcast's schema (a
    // typo, say, that would drop a check), and a null in it is refused rather than read as
    // absent; `apicast`, `rate_limit_headers` and `3scale_referrer` have none.
    if answer.is_ok() && !matches!(policy, Policy::Proxy) {
        c.deny_unread()?;
        c.deny_nulls()?;
    }
    let answer = match answer {
        Ok(answer) => answer,
        Err(_) if ctx.ignore.iter().any(|n| n == name) => Answer::Ignored,
        Err((at, why)) => {
            return Err(error(
                &at,
                format!(
                    "policy {name} ({version}) {why}: remove it, or accept it in ignore_policies"
                ),
            ))
        }
    };
    Ok(ChainEntry {
        path: path.to_string(),
        name: name.to_string(),
        policy,
        answer,
    })
}
