//! A service's `proxy.policy_chain`, read as APIcast does (reference apicast-policies.md §1),
//! and Tollgate's answer to each policy: enforced, Envoy's job, accepted with a note, accepted
//! through `ignore_policies`, or refused with its JSON path. A policy that can block traffic is
//! never dropped silently (APIcast drops any policy it cannot load and lets requests through).

pub mod cidr;
pub mod configs;
#[cfg(test)]
mod tests;

use super::json::{error, Obj, Result};
use super::{BackendConfig, CachingType, ConfigError};
use configs::*;
use serde_json::Value;
use std::fmt;

/// The proxy's job (routes, clusters, listeners, filters): none can block traffic.
const ENVOYS_JOB: &[&str] = &[
    "camel",
    "content_caching",
    "grpc",
    "http_proxy",
    "logging",
    "nginx_filters",
    "phase_logger",
    "request_unbuffered",
    "retry",
    "tls",
    "upstream",
    "upstream_connection",
    "upstream_mtls",
    "websocket",
];

/// What the top level says about every service's policies.
#[derive(Debug, Clone)]
pub struct Context {
    /// `ignore_policies`: names accepted although Tollgate would refuse them.
    pub ignore: Vec<String>,
    /// `backend.caching_type` and whether `backend.batching` is on: they apply to every service.
    pub caching: CachingType,
    pub batching: bool,
}

impl Default for Context {
    fn default() -> Context {
        Context {
            ignore: Vec::new(),
            caching: CachingType::None,
            batching: false,
        }
    }
}

impl Context {
    pub fn new(root: &Obj, backend: &BackendConfig) -> Result<Context> {
        let mut ignore = Vec::new();
        for (path, v) in list(root, "ignore_policies")?.unwrap_or_default() {
            let name = v
                .as_str()
                .ok_or_else(|| error(&path, "expected a string (a policy name)"))?;
            ignore.push(builtin_name(name).unwrap_or(name).to_string());
        }
        Ok(Context {
            ignore,
            caching: backend.caching_type,
            batching: backend.batching.is_some(),
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
        note: String,
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
    /// `builtin`, or a custom policy's version.
    pub version: String,
    pub policy: Policy,
    pub answer: Answer,
}

/// A service's policies in chain order. A chain without `apicast` is refused, so there is
/// always one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyChain {
    pub entries: Vec<ChainEntry>,
    /// Index in `entries` of the (first) `apicast` policy.
    pub apicast: usize,
    /// False when `policy_chain` is absent or null: APIcast's default, `apicast` alone.
    pub explicit: bool,
}

impl PolicyChain {
    pub fn parse(proxy: &Obj, ctx: &Context) -> Result<PolicyChain> {
        let path = proxy.child_path("policy_chain");
        let Some(items) = list(proxy, "policy_chain")? else {
            return Ok(PolicyChain {
                entries: vec![ChainEntry {
                    path,
                    name: "apicast".to_string(),
                    version: "builtin".to_string(),
                    policy: Policy::Apicast,
                    answer: Answer::Enforced,
                }],
                apicast: 0,
                explicit: false,
            });
        };
        let mut entries = Vec::with_capacity(items.len());
        for (p, v) in items {
            entries.push(entry(&p, v, ctx)?);
        }
        let apicast = entries
            .iter()
            .position(|e| e.policy == Policy::Apicast)
            .ok_or_else(|| no_apicast(&path))?;
        Ok(PolicyChain {
            entries,
            apicast,
            explicit: true,
        })
    }

    /// Whether the policy at `index` comes before `apicast` (it matters within one phase).
    pub fn before_apicast(&self, index: usize) -> bool {
        index < self.apicast
    }

    /// The log lines of an explicit chain: (warning?, text), one per policy not plainly enforced.
    pub fn log_lines(&self) -> impl Iterator<Item = (bool, String)> + '_ {
        self.entries
            .iter()
            .filter(|e| self.explicit && e.answer != Answer::Enforced)
            .map(|e| {
                (
                    e.answer.is_warning(),
                    format!("{}: policy {}: {}", e.path, e.name, e.answer),
                )
            })
    }
}

/// A chain without `apicast` does no 3scale authorization in APIcast: the service is public.
/// Tollgate refuses it rather than authorizing it (a behaviour that would change the day
/// public services land).
fn no_apicast(path: &str) -> ConfigError {
    error(
        path,
        "no apicast policy: APIcast would serve this service without 3scale authorization \
         (public), which Tollgate does not do: add {\"name\": \"apicast\"} to the chain",
    )
}

/// `apicast.policy.<name>` names a builtin policy, whatever `version` says (APIcast strips
/// the first 15 characters).
fn builtin_name(given: &str) -> Option<&str> {
    given
        .strip_prefix("apicast.policy")
        .map(|rest| rest.get(1..).unwrap_or(""))
}

/// `none` < `strict` < `resilient` < `allow`: how much a failing backend lets through.
fn leniency(t: CachingType) -> u8 {
    t as u8
}

fn caching_name(t: CachingType) -> &'static str {
    ["none", "strict", "resilient", "allow"][t as usize]
}

fn entry(path: &str, value: &Value, ctx: &Context) -> Result<ChainEntry> {
    let obj = Obj::new(path, value)?;
    let given = obj.required_string("name")?;
    let version = obj.string("version")?;
    let (name, version) = match builtin_name(given) {
        Some(name) => (name, "builtin"),
        None => (given, version.unwrap_or("builtin")),
    };
    let empty = Value::Object(Default::default());
    let c = Obj::new(
        &obj.child_path("configuration"),
        obj.get("configuration").unwrap_or(&empty),
    )?;
    // A builtin name with another version is looked up among custom policies only.
    let policy = match (version == "builtin").then_some(name) {
        Some("apicast") => Some(Policy::Apicast),
        Some(n) if ENVOYS_JOB.contains(&n) => Some(Policy::Proxy),
        Some("caching") => Some(Policy::Caching(caching(&c)?)),
        Some("3scale_batcher") => Some(Policy::Batcher(batcher(&c)?)),
        Some("rate_limit_headers") => Some(Policy::RateLimitHeaders),
        Some("3scale_referrer") => Some(Policy::Referrer),
        Some("default_credentials") => Some(Policy::DefaultCredentials(default_credentials(&c)?)),
        Some("ip_check") => Some(Policy::IpCheck(ip_check(&c)?)),
        Some("jwt_claim_check") => Some(Policy::JwtClaimCheck(jwt_claim_check(&c)?)),
        Some("maintenance_mode") => Some(Policy::MaintenanceMode(maintenance_mode(&c)?)),
        Some("cors") => Some(Policy::Cors(cors(&c)?)),
        Some("headers") => Some(Policy::Headers(headers(&c)?)),
        Some("url_rewriting") => Some(Policy::UrlRewriting(url_rewriting(&c)?)),
        Some("statuscode_overwrite") => {
            Some(Policy::StatusCodeOverwrite(statuscode_overwrite(&c)?))
        }
        Some("routing") => Some(Policy::Routing(routing(&c)?)),
        _ => None,
    };
    let ignored = ctx.ignore.iter().any(|n| n == name);
    let refuse = |at: &str, why: String| match ignored {
        true => Ok(Answer::Ignored),
        false => Err(error(
            at,
            format!("{why}: remove it, or accept it in ignore_policies"),
        )),
    };
    let answer = match &policy {
        None => refuse(
            path,
            format!("policy {name} (version {version}) can block or change traffic and Tollgate does not enforce it"),
        )?,
        Some(Policy::Apicast) => Answer::Enforced,
        Some(Policy::Proxy) => Answer::EnvoysJob,
        Some(Policy::Batcher(_)) => Answer::Accepted {
            note: match ctx.batching {
                true => "backend.batching applies (its TTLs, not the policy's)",
                false => "backend.batching is off: every request is authorized by an authrep",
            }
            .to_string(),
            warn: false,
        },
        Some(Policy::RateLimitHeaders) => Answer::Accepted {
            note: "RateLimit-* headers are not added yet".to_string(),
            warn: true,
        },
        // The global caching_type applies to every service: it may be stricter than the
        // policy's (then fewer requests pass while the backend is down), never looser.
        Some(Policy::Caching(asked)) if leniency(ctx.caching) <= leniency(*asked) => Answer::Accepted {
            note: format!(
                "backend.caching_type \"{}\" applies",
                caching_name(ctx.caching)
            ),
            warn: leniency(ctx.caching) < leniency(*asked),
        },
        Some(Policy::Caching(asked)) => refuse(
            &c.child_path("caching_type"),
            format!(
                "\"{}\" is stricter than backend.caching_type \"{}\", which applies to every service",
                caching_name(*asked),
                caching_name(ctx.caching)
            ),
        )?,
        Some(_) => refuse(path, format!("policy {name} is not enforced yet"))?,
    };
    Ok(ChainEntry {
        path: path.to_string(),
        name: name.to_string(),
        version: version.to_string(),
        policy: policy.unwrap_or(Policy::Other),
        answer,
    })
}

/// One service's explicit chain as `tollgate check` prints it, refused policies included.
#[derive(Debug)]
pub struct Review {
    pub service: String,
    /// `services[0].proxy.policy_chain`.
    pub path: String,
    pub entries: Vec<std::result::Result<ChainEntry, ConfigError>>,
    pub no_apicast: Option<ConfigError>,
}

/// Every policy of every explicit chain with its answer or its refusal, even when the
/// configuration is refused (the filter stops at the first refusal).
pub fn review(text: &[u8]) -> Vec<Review> {
    let Ok(root) = serde_json::from_slice::<Value>(text) else {
        return Vec::new();
    };
    let Ok(obj) = Obj::new("", &root) else {
        return Vec::new();
    };
    let ctx = super::backend::parse_backend(&obj)
        .and_then(|b| Context::new(&obj, &b))
        .unwrap_or_default();
    let services = root.get("services").and_then(Value::as_array);
    let mut reviews = Vec::new();
    for (i, service) in services.into_iter().flatten().enumerate() {
        let chain = service.get("proxy").and_then(|p| p.get("policy_chain"));
        let Some(Value::Array(chain)) = chain else {
            continue;
        };
        let path = format!("services[{i}].proxy.policy_chain");
        let entries: Vec<_> = chain
            .iter()
            .enumerate()
            .map(|(j, v)| entry(&format!("{path}[{j}]"), v, &ctx))
            .collect();
        let has_apicast = entries
            .iter()
            .any(|e| matches!(e, Ok(e) if e.policy == Policy::Apicast));
        reviews.push(Review {
            service: match service.get("id") {
                Some(Value::String(s)) => s.clone(),
                Some(id) => id.to_string(),
                None => "?".to_string(),
            },
            no_apicast: (!has_apicast).then(|| no_apicast(&path)),
            path,
            entries,
        });
    }
    reviews
}
