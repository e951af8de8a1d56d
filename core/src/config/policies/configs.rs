//! Typed configurations of the APIcast policies Tollgate enforces, read with APIcast's
//! schemas (reference apicast-policies.md §3). Bad values are refused with their JSON path,
//! including what APIcast itself would drop or turn into a no-op (a missing `rules`, a missing
//! `check_type`). Liquid templates are refused: Tollgate renders none.

use super::cidr::Cidr;
pub use super::default_credentials::{default_credentials, DefaultCredentials};
use crate::config::header_values::{header_value, value_problem};
use crate::config::json::{error, Obj, Result};
use crate::config::CachingType;
use crate::mapping::PathPattern;
use serde_json::Value;

/// `==`, `!=` or `matches` (an unanchored regex search, [`crate::condition`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Matches,
}

/// One `{left, op, right}` operation of a condition, plain values only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operation {
    pub left: String,
    pub op: Op,
    pub right: String,
    /// `right` compiled, for `matches`.
    pub pattern: Option<crate::regex::Regex>,
}

/// `{combine_op, operations}`: all operations (`and`) or any (`or`) must hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    pub any: bool,
    pub operations: Vec<Operation>,
}

/// Where `ip_check` reads the client address (`proxy_protocol_addr` is refused).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IpSource {
    LastCaller,
    XForwardedFor,
    XRealIp,
}

/// `ip_check` (§3.4): the status is always 403, the body `error_msg` and a newline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpCheck {
    /// `blacklist`: listed addresses are denied; else only listed addresses pass.
    pub blacklist: bool,
    pub ips: Vec<Cidr>,
    pub error_msg: String,
    /// The first source that yields an address is used; none yields one: denied.
    pub sources: Vec<IpSource>,
}

/// One `jwt_claim_check` rule (§3.8).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimRule {
    /// A mapping-rule pattern, matched against the path.
    pub resource: PathPattern,
    /// Empty: any method.
    pub methods: Vec<String>,
    pub any: bool,
    /// `left` is the claim name, `right` the expected value.
    pub operations: Vec<Operation>,
}

/// `jwt_claim_check`: a request matching a rule whose operations fail gets 403 + message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwtClaimCheck {
    pub error_message: String,
    pub rules: Vec<ClaimRule>,
    /// Worth logging at configuration time, with their paths.
    pub warnings: Vec<String>,
}

/// `maintenance_mode` (§3.7): every request (or those matching `condition`) gets this answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MaintenanceMode {
    pub status: u16,
    pub message: String,
    pub content_type: String,
    pub condition: Option<Condition>,
}

/// `cors` (§3.5); `None` fields echo the request's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cors {
    pub allow_headers: Option<Vec<String>>,
    pub allow_methods: Option<Vec<String>>,
    pub allow_origin: Option<String>,
    pub allow_credentials: bool,
    pub max_age: u64,
}

/// `add` (only to an existing header or arg), `set` (`""` removes), `push`, `delete`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EditOp {
    Add,
    Set,
    Push,
    Delete,
}

/// One header operation, or one query-argument operation of `url_rewriting`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edit {
    pub op: EditOp,
    pub name: String,
    pub value: String,
    /// `url_rewriting` only; empty: any method.
    pub methods: Vec<String>,
}

/// `headers` (§3.6): request operations, then response operations, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Headers {
    pub request: Vec<Edit>,
    pub response: Vec<Edit>,
}

/// What a `routing` operation looks at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteSubject {
    Path,
    Header(String),
    QueryArg(String),
    JwtClaim(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteOperation {
    pub subject: RouteSubject,
    pub op: Op,
    pub value: String,
    /// `value` compiled, for `matches`.
    pub pattern: Option<crate::regex::Regex>,
}

/// One `routing` rule (§3.13): the first rule whose condition holds picks `url`; its
/// `owner_id` keeps only the usage of that backend's mapping rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteRule {
    pub url: String,
    pub any: bool,
    pub operations: Vec<RouteOperation>,
    pub replace_path: Option<String>,
    pub owner_id: Option<u64>,
    pub host_header: Option<String>,
}

/// `3scale_batcher` (§3.11); `None`: APIcast's default (10 s).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Batcher {
    pub auths_ttl: Option<u64>,
    pub batch_report_seconds: Option<u64>,
}

pub(super) const METHODS: &[&str] = &[
    "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECT",
];
pub(super) const EDIT_OPS: &[&str] = &["add", "set", "push", "delete"];
pub(super) const EDITS: [EditOp; 4] = [EditOp::Add, EditOp::Set, EditOp::Push, EditOp::Delete];

/// The index of `key`'s value in `options`; `default` when absent.
pub(super) fn choice(
    obj: &Obj,
    key: &str,
    options: &[&str],
    default: Option<usize>,
) -> Result<usize> {
    let path = obj.child_path(key);
    match obj.string(key)? {
        None => default.ok_or_else(|| error(&path, "missing required field")),
        Some(v) => pick(&path, v, options),
    }
}

fn pick(path: &str, value: &str, options: &[&str]) -> Result<usize> {
    options.iter().position(|o| *o == value).ok_or_else(|| {
        let liquid = if value == "liquid" {
            " (Liquid templates are not supported)"
        } else {
            ""
        };
        error(
            path,
            format!(
                "unknown value {value:?}{liquid} (expected one of: {})",
                options.join(", ")
            ),
        )
    })
}

/// A `*_type` field that must be `plain` (its default).
pub(super) fn plain(obj: &Obj, key: &str) -> Result<()> {
    choice(obj, key, &["plain"], Some(0)).map(drop)
}

fn text(path: &str, value: &Value) -> Result<String> {
    str_at(path, value).map(str::to_string)
}

fn str_at<'a>(path: &str, value: &'a Value) -> Result<&'a str> {
    value
        .as_str()
        .ok_or_else(|| error(path, "expected a string"))
}

pub(super) fn string_or(obj: &Obj, key: &str, default: &str) -> Result<String> {
    Ok(obj.string(key)?.unwrap_or(default).to_string())
}

pub(super) fn required(obj: &Obj, key: &str) -> Result<String> {
    obj.required_string(key).map(str::to_string)
}

/// The items of an array field with their paths (absent: `None`). Every list is read
/// through this one non-generic walker and a plain loop: an iterator chain per item type
/// costs about 2 KB of module each.
pub(super) fn list<'a>(obj: &Obj<'a>, key: &str) -> Result<Option<Vec<(String, &'a Value)>>> {
    let path = obj.child_path(key);
    match obj.get(key) {
        None => Ok(None),
        Some(Value::Array(items)) => {
            let mut out = Vec::with_capacity(items.len());
            for (i, v) in items.iter().enumerate() {
                out.push((format!("{path}[{i}]"), v));
            }
            Ok(Some(out))
        }
        Some(_) => Err(error(&path, "expected an array")),
    }
}

/// An array of objects, each read by `item`; `required`: present and not empty.
pub(super) fn objects<T>(
    obj: &Obj,
    key: &str,
    required: bool,
    item: &dyn Fn(&Obj) -> Result<T>,
) -> Result<Vec<T>> {
    let mut out = Vec::new();
    for (path, v) in list(obj, key)?.unwrap_or_default() {
        let o = Obj::new(&path, v)?;
        out.push(item(&o)?);
        o.deny_unread()?;
    }
    if required && out.is_empty() {
        return Err(error(&obj.child_path(key), "expected a non-empty array"));
    }
    Ok(out)
}

/// An array of strings, each among `allowed` unless that is empty.
fn strings(obj: &Obj, key: &str, allowed: &[&str]) -> Result<Option<Vec<String>>> {
    let Some(items) = list(obj, key)? else {
        return Ok(None);
    };
    let mut out = Vec::new();
    for (path, v) in items {
        let s = text(&path, v)?;
        if !allowed.is_empty() {
            pick(&path, &s, allowed)?;
        }
        out.push(s);
    }
    Ok(Some(out))
}

/// HTTP methods; absent: empty (any method).
pub(super) fn methods(obj: &Obj, key: &str, allowed: &[&str]) -> Result<Vec<String>> {
    Ok(strings(obj, key, allowed)?.unwrap_or_default())
}

pub(super) fn op(obj: &Obj) -> Result<Op> {
    Ok([Op::Eq, Op::Ne, Op::Matches][choice(obj, "op", &["==", "!=", "matches"], None)?])
}

pub(super) fn any(obj: &Obj) -> Result<bool> {
    Ok(choice(obj, "combine_op", &["and", "or"], Some(0))? == 1)
}

/// A field APIcast always renders as Liquid: accepted only when it holds no template.
pub(super) fn no_template(obj: &Obj, key: &str) -> Result<Option<String>> {
    match obj.string(key)? {
        Some(t) if t.contains("{{") || t.contains("{%") => Err(error(
            &obj.child_path(key),
            "Liquid templates are not supported",
        )),
        other => Ok(other.map(str::to_string)),
    }
}

/// `{combine_op, operations: [{left, left_type, op, right, right_type}]}` (reference §1.8).
fn condition(obj: &Obj) -> Result<Condition> {
    let c = Condition {
        any: any(obj)?,
        operations: objects(obj, "operations", true, &|o| {
            plain(o, "left_type")?;
            plain(o, "right_type")?;
            let (op, right) = (op(o)?, required(o, "right")?);
            Ok(Operation {
                left: required(o, "left")?,
                pattern: crate::condition::pattern(&o.child_path("right"), op, &right)?,
                op,
                right,
            })
        })?,
    };
    obj.deny_unread()?;
    Ok(c)
}

pub fn caching(c: &Obj) -> Result<CachingType> {
    Ok([
        CachingType::Strict,
        CachingType::Resilient,
        CachingType::Allow,
        CachingType::None,
    ][choice(
        c,
        "caching_type",
        &["strict", "resilient", "allow", "none"],
        None,
    )?])
}

pub fn batcher(c: &Obj) -> Result<Batcher> {
    Ok(Batcher {
        auths_ttl: c.uint("auths_ttl")?,
        batch_report_seconds: c.uint("batch_report_seconds")?,
    })
}

pub fn ip_check(c: &Obj) -> Result<IpCheck> {
    const SOURCES: [IpSource; 3] = [
        IpSource::LastCaller,
        IpSource::XForwardedFor,
        IpSource::XRealIp,
    ];
    let names = &[
        "last_caller",
        "X-Forwarded-For",
        "X-Real-IP",
        "proxy_protocol_addr",
    ];
    // Plain loops over `list` (see there), scalars first: fewer exits with vectors to drop.
    let blacklist = choice(c, "check_type", &["whitelist", "blacklist"], None)? == 1;
    let mut sources = vec![IpSource::LastCaller];
    if let Some(items) = list(c, "client_ip_sources")? {
        if !(1..=3).contains(&items.len()) {
            return Err(error(
                &c.child_path("client_ip_sources"),
                "expected 1 to 3 sources",
            ));
        }
        sources.clear();
        for (path, v) in items {
            match pick(&path, str_at(&path, v)?, names)? {
                // Not a configuration Tollgate can take as it is: no ignore_policies for it.
                3 => {
                    return Err(error(
                        &path,
                        "proxy_protocol_addr is not supported: use last_caller with Envoy's \
                         proxy_protocol listener filter",
                    ))
                }
                i => sources.push(SOURCES[i % 3]),
            }
        }
    }
    let items = list(c, "ips")?;
    let mut ips = Vec::new();
    for (path, v) in items.ok_or_else(|| error(&c.child_path("ips"), "missing required field"))? {
        let ip = str_at(&path, v)?;
        ips.push(
            Cidr::parse(ip).ok_or_else(|| error(&path, "expected an IP address or CIDR block"))?,
        );
    }
    Ok(IpCheck {
        blacklist,
        ips,
        error_msg: string_or(c, "error_msg", "IP address not allowed")?,
        sources,
    })
}

pub fn jwt_claim_check(c: &Obj) -> Result<JwtClaimCheck> {
    let mut all = METHODS.to_vec();
    all.insert(0, "ANY");
    c.bool("enable_extended_context")?;
    Ok(JwtClaimCheck {
        error_message: string_or(
            c,
            "error_message",
            "Request blocked due to JWT claim policy",
        )?,
        rules: objects(c, "rules", true, &|r| {
            plain(r, "resource_type")?;
            let resource = required(r, "resource")?;
            if !resource.starts_with('/') {
                return Err(error(&r.child_path("resource"), "must start with /"));
            }
            if let Some(problem) = PathPattern::regex_problem(&resource) {
                return Err(error(&r.child_path("resource"), problem));
            }
            // The rule would never apply (found by an audit, 2026-12-07).
            if let Some(problem) = crate::mapping::unmatchable::unmatchable(&resource) {
                return Err(error(&r.child_path("resource"), problem));
            }
            let mut methods = methods(r, "methods", &all)?;
            if methods.iter().any(|m| m == "ANY") {
                methods.clear();
            }
            Ok(ClaimRule {
                resource: PathPattern::compile(&resource),
                methods,
                any: any(r)?,
                operations: objects(r, "operations", true, &|o| {
                    // APIcast reads any jwt_claim_type but "plain", even none, as Liquid.
                    choice(o, "jwt_claim_type", &["plain"], None)?;
                    plain(o, "value_type")?;
                    let left = required(o, "jwt_claim")?;
                    // A plain claim becomes `{{<claim>}}`: only a name (or a dotted path)
                    // renders as that claim; anything else would be a Liquid expression.
                    let name_char = |c: char| c.is_ascii_alphanumeric() || "_-.".contains(c);
                    if !left.chars().all(name_char) {
                        return Err(error(
                            &o.child_path("jwt_claim"),
                            "is not a claim name (letters, digits, _ - and . for a path): APIcast would read it as a Liquid expression",
                        ));
                    }
                    let (op, right) = (op(o)?, required(o, "value")?);
                    Ok(Operation {
                        left,
                        pattern: crate::condition::pattern(&o.child_path("value"), op, &right)?,
                        op,
                        right,
                    })
                })?,
            })
        })?,
        warnings: empty_methods(c)?,
    })
}

/// `methods: []`: APIcast's `rule.methods or {ANY}` keeps the empty list and loops over no
/// method, so the rule never applies. Tollgate applies it to every method, as no `methods`
/// does: an access check that silently never applies would be a bypass by configuration;
/// the difference is logged (found by an audit, 2026-12-07).
fn empty_methods(c: &Obj) -> Result<Vec<String>> {
    let mut warnings = Vec::new();
    for (path, rule) in list(c, "rules")?.unwrap_or_default() {
        if rule
            .get("methods")
            .and_then(Value::as_array)
            .is_some_and(Vec::is_empty)
        {
            warnings.push(format!(
                "{path}.methods: empty: APIcast never applies this rule; Tollgate applies it to every method"
            ));
        }
    }
    Ok(warnings)
}

pub fn maintenance_mode(c: &Obj) -> Result<MaintenanceMode> {
    Ok(MaintenanceMode {
        condition: c.obj("condition")?.map(|o| condition(&o)).transpose()?,
        ..maintenance_answer(c)?
    })
}

/// `maintenance_mode` without its `condition`.
pub fn maintenance_answer(c: &Obj) -> Result<MaintenanceMode> {
    let status = match c.uint("status")? {
        None => 503,
        Some(s @ 200..=599) => s as u16,
        Some(_) => {
            return Err(error(
                &c.child_path("status"),
                "expected an HTTP status between 200 and 599",
            ))
        }
    };
    Ok(MaintenanceMode {
        status,
        message: string_or(c, "message", "Service Unavailable - Maintenance")?,
        content_type: header_value(c, "message_content_type")?
            .unwrap_or("text/plain; charset=utf-8")
            .to_string(),
        condition: None,
    })
}

pub fn cors(c: &Obj) -> Result<Cors> {
    let allow_origin = c.string("allow_origin")?;
    if let Some(why) = allow_origin.and_then(crate::policies::cors::unsupported) {
        return Err(error(&c.child_path("allow_origin"), why));
    }
    let allow_headers = strings(c, "allow_headers", &[])?;
    // They become response header values: a CR or LF would start another header.
    for (key, values) in [
        ("allow_origin", allow_origin.into_iter().collect::<Vec<_>>()),
        (
            "allow_headers",
            allow_headers.iter().flatten().map(String::as_str).collect(),
        ),
    ] {
        if let Some(why) = values.into_iter().find_map(value_problem) {
            return Err(error(&c.child_path(key), why));
        }
    }
    Ok(Cors {
        allow_headers,
        allow_methods: strings(c, "allow_methods", METHODS)?,
        allow_origin: allow_origin.map(str::to_string),
        allow_credentials: c.bool("allow_credentials")?.unwrap_or(true),
        max_age: c.uint("max_age")?.unwrap_or(600),
    })
}

pub fn headers(c: &Obj) -> Result<Headers> {
    // Plain loops over `list`, not `objects`/`edit`: the filter links only this reader.
    let mut lists = [Vec::new(), Vec::new()];
    for (i, key) in ["request", "response"].into_iter().enumerate() {
        for (path, v) in list(c, key)?.unwrap_or_default() {
            let o = Obj::new(&path, v)?;
            let e = header_edit(&o, i == 0)?;
            // `push`/`add` without `value`: APIcast's `new_header_value(current, nil)` keeps
            // the current value, so nothing changes (an empty header line was added: found by
            // an audit, 2026-12-07). `set` without one deletes, as `set ""` does.
            if o.get("value").is_some() || !matches!(e.op, EditOp::Push | EditOp::Add) {
                lists[i].push(e);
            }
        }
    }
    let [request, response] = lists;
    Ok(Headers { request, response })
}

/// A header operation Envoy can carry out as it is ([`crate::policies::header_problem`]).
fn header_edit(o: &Obj, request: bool) -> Result<Edit> {
    plain(o, "value_type")?;
    let e = Edit {
        op: EDITS[choice(o, "op", EDIT_OPS, None)?],
        name: required(o, "header")?,
        value: string_or(o, "value", "")?,
        methods: Vec::new(),
    };
    o.deny_unread()?;
    match crate::policies::header_problem(&e, request) {
        Some((key, why)) => Err(error(&o.child_path(key), why)),
        None => Ok(e),
    }
}

/// `(upstream, apicast)` pairs. The status sent must be a final one Envoy can send (200 to
/// 599); APIcast's schema also allows 1xx and 600.
pub fn statuscode_overwrite(c: &Obj) -> Result<Vec<(u16, u16)>> {
    let key = "http_statuses";
    let mut pairs = Vec::new();
    for (path, v) in list(c, key)?.unwrap_or_default() {
        let o = Obj::new(&path, v)?;
        let status = |key| o.get(key).and_then(Value::as_u64);
        match (status("upstream"), status("apicast")) {
            (Some(from @ 100..=600), Some(to @ 200..=599)) => {
                o.deny_unread()?;
                pairs.push((from as u16, to as u16))
            }
            _ => {
                return Err(error(
                    &path,
                    "expected upstream (100 to 600) and apicast (200 to 599)",
                ))
            }
        }
    }
    if pairs.is_empty() {
        return Err(error(&c.child_path(key), "expected a non-empty array"));
    }
    Ok(pairs)
}
