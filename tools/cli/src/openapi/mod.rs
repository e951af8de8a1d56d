//! `tollgate openapi`: an OpenAPI 3.0.3 description of what a configuration enforces.
//!
//! Each service's credentials become `components.securitySchemes` named `svc<id>_<kind>`;
//! each mapping rule becomes an operation whose `security` lists the credentials the filter
//! would accept for it: separate entries are alternatives, schemes within one entry are
//! required together. Bodies and responses of the upstream API are not described.

use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use tollgate_core::auth::grants::{default_action, RuleAccess};
use tollgate_core::auth::{Authentication, Mode};
use tollgate_core::config::{AuthMode, Config, CredentialsLocation, Service};
use tollgate_core::mapping::{MethodMatch, QueryCondition};

pub struct Document {
    /// Pretty-printed JSON.
    pub text: String,
    /// What the document cannot show (skipped rules, ignored settings).
    pub warnings: Vec<String>,
}

/// The methods an `ANY` rule is described with.
const ANY_METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];
/// The methods an OpenAPI path item can hold.
const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];
/// Most alternatives listed for the roles of an operation matched by several rules.
const MAX_ROLE_CHOICES: usize = 32;

/// A security requirement: schemes that must all be presented, each with its scopes.
type Requirement = Vec<(String, Vec<String>)>;

/// One service's security schemes, grouped by what they let a caller do.
#[derive(Default)]
struct Schemes {
    components: Vec<(String, Value)>,
    /// 3scale mode: the 3scale credentials, required together.
    threescale: Option<Requirement>,
    /// Local: schemes whose callers hold grants (API keys, Basic users).
    granted: Vec<String>,
    /// Local: JWT bearer tokens, whose callers hold roles.
    jwt: Option<String>,
    /// Local: signed URLs, allowed everything the URL names.
    signed_url: Option<String>,
    /// Path prefix and scheme of each header secret (required in every mode).
    header_secrets: Vec<(String, String)>,
}

impl Schemes {
    fn add(&mut self, prefix: &str, kind: &str, scheme: Value) -> String {
        let name = format!("{prefix}_{kind}");
        self.components.push((name.clone(), scheme));
        name
    }
}

fn api_key(location: &str, name: &str, description: &str) -> Value {
    json!({"type": "apiKey", "in": location, "name": name, "description": description})
}

fn http(scheme: &str, description: &str) -> Value {
    json!({"type": "http", "scheme": scheme, "description": description})
}

fn schemes(prefix: &str, service: &Service, warnings: &mut Vec<String>) -> Schemes {
    let mut s = Schemes::default();
    let auth = &service.auth;
    let jwt = jwt_description(auth);
    if auth.mode == Mode::ThreeScale {
        s.threescale = Some(threescale(&mut s, prefix, service));
        if auth.api_keys.is_some()
            || auth.basic_users.is_some()
            || jwt.is_some()
            || auth.signed_url_secret.is_some()
        {
            warnings.push(format!(
                "service {}: authentication.mode is 3scale, so its local credentials are ignored (and left out)",
                service.id
            ));
        }
    } else {
        if let Some(keys) = &auth.api_keys {
            if let Some(header) = &keys.header {
                let name = s.add(
                    prefix,
                    "api_key_header",
                    api_key("header", header, "API key (api_keys)"),
                );
                s.granted.push(name);
            }
            if let Some(query) = &keys.query {
                let name = s.add(
                    prefix,
                    "api_key_query",
                    api_key("query", query, "API key (api_keys)"),
                );
                s.granted.push(name);
            }
            if keys.basic_username {
                let scheme = http(
                    "basic",
                    "API key (api_keys) as the HTTP Basic username, with an empty password",
                );
                let name = s.add(prefix, "api_key_basic", scheme);
                s.granted.push(name);
            }
        }
        if auth.basic_users.is_some() {
            let name = s.add(
                prefix,
                "basic",
                http("basic", "HTTP Basic user (basic_users)"),
            );
            s.granted.push(name);
        }
        if let Some(description) = jwt {
            let mut scheme = http("bearer", &description);
            if let Value::Object(map) = &mut scheme {
                map.insert("bearerFormat".to_string(), json!("JWT"));
            }
            s.jwt = Some(s.add(prefix, "jwt", scheme));
        }
        if auth.signed_url_secret.is_some() {
            let description =
                "Signed URL: `expires` and `signature` query args (see `tollgate sign-url`)";
            s.signed_url = Some(s.add(
                prefix,
                "signed_url",
                api_key("query", "signature", description),
            ));
        }
    }
    for (i, secret) in auth.header_secrets.iter().enumerate() {
        let description = format!(
            "Shared secret, required on paths under {}",
            secret.path_prefix
        );
        let name = s.add(
            prefix,
            &format!("header_secret_{}", i + 1),
            api_key("header", &secret.header, &description),
        );
        s.header_secrets.push((secret.path_prefix.clone(), name));
    }
    s
}

/// The 3scale credentials of `backend_version` 1 or 2, where `credentials_location` says.
fn threescale(s: &mut Schemes, prefix: &str, service: &Service) -> Requirement {
    let names = &service.names;
    let form = "; also read from a form-urlencoded POST/PUT/PATCH body";
    let requirement = match (service.mode, service.location) {
        (AuthMode::UserKey, CredentialsLocation::Authorization) => {
            let description =
                "3scale user key as the HTTP Basic username (or password), or as a Bearer token";
            vec![s.add(prefix, "user_key", http("basic", description))]
        }
        (AuthMode::AppIdAndKey, CredentialsLocation::Authorization) => {
            let description =
                "3scale application: app_id as the HTTP Basic username, app_key as the password";
            vec![s.add(prefix, "app_credentials", http("basic", description))]
        }
        (mode, location) => {
            let (at, suffix) = match location {
                CredentialsLocation::Headers => ("header", ""),
                _ => ("query", form),
            };
            let keys: Vec<(&str, &str, &str)> = match mode {
                AuthMode::UserKey => vec![("user_key", &names.user_key, "3scale user key")],
                AuthMode::AppIdAndKey => vec![
                    (
                        "app_id",
                        &names.app_id,
                        "3scale application id, sent with its app_key",
                    ),
                    (
                        "app_key",
                        &names.app_key,
                        "3scale application key, sent with its app_id",
                    ),
                ],
            };
            keys.into_iter()
                .map(|(kind, name, what)| {
                    s.add(prefix, kind, api_key(at, name, &format!("{what}{suffix}")))
                })
                .collect()
        }
    };
    requirement
        .into_iter()
        .map(|name| (name, Vec::new()))
        .collect()
}

#[cfg(feature = "jwt")]
fn jwt_description(auth: &Authentication) -> Option<String> {
    let jwt = auth.jwt.as_ref()?;
    let keys = match &jwt.source {
        Some(source) => format!(
            "the keys fetched from cluster `{}` ({})",
            source.cluster, source.path
        ),
        None => format!("one of {} configured key(s)", jwt.keys.current().len()),
    };
    let mut text = format!(
        "JWT bearer token signed by {keys}; roles are read from the `{}` claim",
        jwt.roles_claim
    );
    if let Some(issuer) = &jwt.rules.issuer {
        text.push_str(&format!("; issuer {issuer}"));
    }
    if !jwt.rules.audiences.is_empty() {
        text.push_str(&format!(
            "; audience one of {}",
            jwt.rules.audiences.join(", ")
        ));
    }
    Some(text)
}

#[cfg(not(feature = "jwt"))]
fn jwt_description(_auth: &Authentication) -> Option<String> {
    None
}

/// An operation: the rules of one service that describe it (several when they differ only
/// by query conditions, or repeat).
struct Op {
    service: usize,
    rules: Vec<usize>,
}

/// `{x}` placeholders become path parameters; the query part and a final `$` go away.
fn template(raw_pattern: &str) -> (String, Vec<String>) {
    let path = raw_pattern.split_once('?').map_or(raw_pattern, |(p, _)| p);
    let mut bytes: Vec<u8> = Vec::with_capacity(path.len());
    for &b in path.as_bytes() {
        if !(b == b'/' && bytes.last() == Some(&b'/')) {
            bytes.push(b);
        }
    }
    if bytes.last() == Some(&b'$') {
        bytes.pop();
    }
    let mut out: Vec<u8> = Vec::with_capacity(bytes.len());
    let mut names: Vec<String> = Vec::new();
    let mut rest = bytes.as_slice();
    while let Some(open) = rest.iter().position(|&b| b == b'{') {
        let (before, after) = (
            rest.get(..open).unwrap_or_default(),
            rest.get(open + 1..).unwrap_or_default(),
        );
        out.extend_from_slice(before);
        // As in the core: at least one byte inside, closed by the first `}` after it, no newline.
        let close = after.iter().skip(1).position(|&b| b == b'}').map(|i| i + 1);
        match close.filter(|&c| !after.get(..c).unwrap_or_default().contains(&b'\n')) {
            Some(close) => {
                let inner =
                    String::from_utf8_lossy(after.get(..close).unwrap_or_default()).into_owned();
                let mut name = inner.clone();
                let mut n = 1;
                while names.contains(&name) {
                    n += 1;
                    name = format!("{inner}_{n}");
                }
                out.push(b'{');
                out.extend_from_slice(name.as_bytes());
                out.push(b'}');
                names.push(name);
                rest = after.get(close + 1..).unwrap_or_default();
            }
            None => {
                out.push(b'{');
                rest = after;
            }
        }
    }
    out.extend_from_slice(rest);
    (String::from_utf8_lossy(&out).into_owned(), names)
}

/// Scheme-name prefix: `svc` + the id, reduced to the characters OpenAPI allows.
fn scheme_prefix(id: &str, taken: &[String]) -> String {
    let clean: String = id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut prefix = format!("svc{clean}");
    let mut n = 1;
    while taken.contains(&prefix) {
        n += 1;
        prefix = format!("svc{clean}_{n}");
    }
    prefix
}

fn servers(service: &Service) -> Vec<Value> {
    let schemes: &[&str] = if service.auth.https_only.is_some() {
        &["https"]
    } else {
        &["https", "http"]
    };
    service
        .hosts
        .iter()
        .flat_map(|host| {
            schemes
                .iter()
                .map(move |scheme| json!({"url": format!("{scheme}://{host}")}))
        })
        .collect()
}

fn tag_name(service: &Service) -> String {
    if service.system_name.is_empty() {
        format!("service {}", service.id)
    } else {
        format!("{} ({})", service.system_name, service.id)
    }
}

fn tag_description(service: &Service) -> String {
    let via = match service.auth.mode {
        Mode::ThreeScale => "3scale credentials, authorized and reported by the 3scale backend",
        Mode::Local => "local credentials only (no 3scale backend call)",
        Mode::LocalThenThreeScale => {
            "local credentials, then the 3scale backend with the caller's id as its user_key or app_id"
        }
    };
    format!("3scale service {}: {via}", service.id)
}

/// The error replies the filter may send instead of the upstream's response.
fn responses(service: &Service) -> Value {
    let errors = &service.errors;
    let mut by_status: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut add =
        |status: u16, text: String| by_status.entry(status.to_string()).or_default().push(text);
    add(
        errors.auth_missing.status,
        format!("{:?} (auth_missing)", errors.auth_missing.body),
    );
    add(
        errors.auth_failed.status,
        format!("{:?} (auth_failed)", errors.auth_failed.body),
    );
    add(
        errors.no_match.status,
        format!("{:?} (no_match)", errors.no_match.body),
    );
    if service.auth.mode != Mode::Local {
        add(
            errors.limits_exceeded.status,
            format!("{:?} (limits_exceeded)", errors.limits_exceeded.body),
        );
    }
    if service.auth.https_only.is_some() {
        add(403, "\"HTTPS required\" (https_only)".to_string());
    }
    let mut map = Map::new();
    map.insert(
        "default".to_string(),
        json!({"description": "The upstream's response"}),
    );
    for (status, texts) in by_status {
        map.insert(
            status,
            json!({"description": format!("From Tollgate: {}", texts.join("; "))}),
        );
    }
    Value::Object(map)
}

/// Every way of holding one role of each set (AND of ORs), or the union when too many.
fn role_choices(sets: &[Vec<String>]) -> Option<Vec<Vec<String>>> {
    let mut choices: Vec<Vec<String>> = vec![Vec::new()];
    for set in sets {
        let mut next: Vec<Vec<String>> = Vec::new();
        for partial in &choices {
            for role in set {
                let mut choice = partial.clone();
                if !choice.contains(role) {
                    choice.push(role.clone());
                    choice.sort();
                }
                if !next.contains(&choice) {
                    next.push(choice);
                }
            }
        }
        if next.len() > MAX_ROLE_CHOICES {
            return None;
        }
        choices = next;
    }
    Some(choices)
}

/// The alternatives accepted for an operation (empty: no credential can pass).
fn security(
    schemes: &Schemes,
    path: &str,
    accesses: &[&RuleAccess],
    warnings: &mut Vec<String>,
    what: &str,
) -> Vec<Requirement> {
    let mut alternatives: Vec<Requirement> = match &schemes.threescale {
        Some(requirement) => vec![requirement.clone()],
        None => {
            let needs_grant = accesses.iter().any(|a| a.namespace.is_some());
            let mut role_sets: Vec<Vec<String>> = Vec::new();
            for access in accesses.iter().filter(|a| !a.roles.is_empty()) {
                if !role_sets.contains(&access.roles) {
                    role_sets.push(access.roles.clone());
                }
            }
            let mut alternatives: Vec<Requirement> = Vec::new();
            // Grant holders have no roles; JWT callers have no grants; signed URLs pass all.
            if role_sets.is_empty() {
                alternatives.extend(
                    schemes
                        .granted
                        .iter()
                        .map(|name| vec![(name.clone(), Vec::new())]),
                );
            }
            if let (Some(jwt), false) = (&schemes.jwt, needs_grant) {
                let choices = role_choices(&role_sets).unwrap_or_else(|| {
                    warnings.push(format!(
                        "{what}: too many role combinations; listing all roles together"
                    ));
                    let mut all: Vec<String> = role_sets.concat();
                    all.sort();
                    all.dedup();
                    vec![all]
                });
                alternatives.extend(
                    choices
                        .into_iter()
                        .map(|scopes| vec![(jwt.clone(), scopes)]),
                );
            }
            if let Some(signed) = &schemes.signed_url {
                alternatives.push(vec![(signed.clone(), Vec::new())]);
            }
            alternatives
        }
    };
    for (prefix, scheme) in &schemes.header_secrets {
        if path.starts_with(prefix.as_str()) {
            for alternative in &mut alternatives {
                alternative.push((scheme.clone(), Vec::new()));
            }
        }
    }
    alternatives
}

fn requirement_json(requirement: &Requirement) -> Value {
    Value::Object(
        requirement
            .iter()
            .map(|(name, scopes)| (name.clone(), json!(scopes)))
            .collect(),
    )
}

fn parameters(path_params: &[String], query: &[QueryCondition]) -> Vec<Value> {
    let mut list: Vec<Value> = path_params
        .iter()
        .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}))
        .collect();
    for condition in query {
        list.push(match condition {
            QueryCondition::Equals { name, value } => json!({
                "name": name, "in": "query", "required": true,
                "schema": {"type": "string", "enum": [value]}
            }),
            QueryCondition::Present { name } => json!({
                "name": name, "in": "query", "required": true, "allowEmptyValue": true,
                "schema": {"type": "string"}
            }),
        });
    }
    list
}

struct Context<'a> {
    service: &'a Service,
    schemes: &'a Schemes,
    tag: String,
    /// Operation-level servers, when the document covers several services.
    servers: Option<Vec<Value>>,
}

fn operation(
    ctx: &Context,
    path: &str,
    method: &str,
    op: &Op,
    warnings: &mut Vec<String>,
) -> Option<Value> {
    let service = ctx.service;
    let rules: Vec<_> = op
        .rules
        .iter()
        .filter_map(|&i| {
            service
                .rules
                .get(i)
                .map(|r| (r, service.rule_access.get(i)))
        })
        .collect();
    let (first, _) = rules.first()?;
    let upper = method.to_ascii_uppercase();
    let what = format!("service {}: {upper} {path}", service.id);
    let default_access = RuleAccess::default();
    let accesses: Vec<&RuleAccess> = rules
        .iter()
        .map(|(_, a)| a.unwrap_or(&default_access))
        .collect();
    let security = security(ctx.schemes, path, &accesses, warnings, &what);
    if security.is_empty() {
        warnings.push(format!(
            "{what}: no configured credential can satisfy both the roles and the namespace its rules require; left out"
        ));
        return None;
    }
    let (_, path_params) = template(&first.raw_pattern);
    let query: &[QueryCondition] = if rules.len() == 1 { &first.query } else { &[] };
    let mut map = Map::new();
    map.insert("tags".into(), json!([ctx.tag]));
    map.insert(
        "summary".into(),
        json!(format!(
            "{} {}",
            rule_method(&first.method),
            first.raw_pattern
        )),
    );
    let params = parameters(&path_params, query);
    if !params.is_empty() {
        map.insert("parameters".into(), Value::Array(params));
    }
    map.insert(
        "security".into(),
        Value::Array(security.iter().map(requirement_json).collect()),
    );
    map.insert("responses".into(), responses(service));
    if let Some(servers) = &ctx.servers {
        map.insert("servers".into(), Value::Array(servers.clone()));
    }
    map.insert("x-3scale-pattern".into(), json!(first.raw_pattern));
    map.insert("x-3scale-metric".into(), json!(first.metric));
    map.insert("x-3scale-delta".into(), json!(first.delta));
    if rules.len() > 1 {
        let all: Vec<Value> = rules
            .iter()
            .map(|(r, _)| json!({"method": rule_method(&r.method), "pattern": r.raw_pattern, "metric": r.metric, "delta": r.delta}))
            .collect();
        map.insert("x-3scale-rules".into(), Value::Array(all));
    }
    if service.auth.mode != Mode::ThreeScale {
        let mut grants: Vec<Value> = Vec::new();
        for access in &accesses {
            if let Some(namespace) = &access.namespace {
                let action = access.action.as_deref().unwrap_or(default_action(&upper));
                let grant = json!({"namespace": namespace, "action": action});
                if !grants.contains(&grant) {
                    grants.push(grant);
                }
            }
        }
        match grants.len() {
            0 => {}
            1 => {
                map.insert("x-tollgate-grant".into(), grants.remove(0));
            }
            _ => {
                map.insert("x-tollgate-grant".into(), Value::Array(grants));
            }
        }
    }
    Some(Value::Object(map))
}

fn rule_method(method: &MethodMatch) -> &str {
    match method {
        MethodMatch::Any => "ANY",
        MethodMatch::Exact(m) => m,
    }
}

pub fn document(config: &Config) -> Document {
    let mut warnings = Vec::new();
    let several = config.services.len() > 1;
    let mut prefixes: Vec<String> = Vec::new();
    let mut all_schemes: Vec<Schemes> = Vec::new();
    let mut top_servers: Vec<Value> = Vec::new();
    let mut tags: Vec<Value> = Vec::new();
    let mut ops: BTreeMap<String, BTreeMap<&'static str, Op>> = BTreeMap::new();

    for (index, service) in config.services.iter().enumerate() {
        let prefix = scheme_prefix(&service.id, &prefixes);
        all_schemes.push(schemes(&prefix, service, &mut warnings));
        prefixes.push(prefix);
        for server in servers(service) {
            if !top_servers.contains(&server) {
                top_servers.push(server);
            }
        }
        tags.push(json!({"name": tag_name(service), "description": tag_description(service)}));
        if service.rules.is_empty() && service.auth.mode == Mode::Local {
            warnings.push(format!(
                "service {}: no mapping rules, so any path is open to its local credentials; no operation is listed",
                service.id
            ));
        }
        if service.auth.mode == Mode::ThreeScale && service.rule_access.iter().any(|a| !a.is_open())
        {
            warnings.push(format!(
                "service {}: rules' namespace and roles only apply to local authentication; ignored",
                service.id
            ));
        }
        for (rule_index, rule) in service.rules.iter().enumerate() {
            let (path, _) = template(&rule.raw_pattern);
            let methods: Vec<&'static str> = match &rule.method {
                MethodMatch::Any => ANY_METHODS.to_vec(),
                MethodMatch::Exact(m) => {
                    let lower = m.to_ascii_lowercase();
                    match METHODS.iter().find(|known| **known == lower) {
                        Some(known) => vec![*known],
                        None => {
                            warnings.push(format!(
                                "service {}: rule {m} {}: OpenAPI has no method {m}; left out",
                                service.id, rule.raw_pattern
                            ));
                            Vec::new()
                        }
                    }
                }
            };
            for method in methods {
                let slot = ops.entry(path.clone()).or_default();
                match slot.get_mut(method) {
                    None => {
                        slot.insert(
                            method,
                            Op {
                                service: index,
                                rules: vec![rule_index],
                            },
                        );
                    }
                    Some(op) if op.service == index => op.rules.push(rule_index),
                    Some(op) => {
                        let owner = config
                            .services
                            .get(op.service)
                            .map_or("?", |s| s.id.as_str());
                        warnings.push(format!(
                            "service {}: rule {} {}: {} {path} is already described for service {owner}; left out",
                            service.id,
                            rule_method(&rule.method),
                            rule.raw_pattern,
                            method.to_ascii_uppercase()
                        ));
                    }
                }
            }
        }
    }

    let contexts: Vec<Context> = config
        .services
        .iter()
        .zip(&all_schemes)
        .map(|(service, schemes)| Context {
            service,
            schemes,
            tag: tag_name(service),
            servers: several.then(|| servers(service)),
        })
        .collect();
    let mut paths = Map::new();
    for (path, methods) in &ops {
        let mut item = Map::new();
        for (method, op) in methods {
            let Some(ctx) = contexts.get(op.service) else {
                continue;
            };
            if let Some(operation) = operation(ctx, path, method, op, &mut warnings) {
                item.insert((*method).to_string(), operation);
            }
        }
        if !item.is_empty() {
            paths.insert(path.clone(), Value::Object(item));
        }
    }
    let security_schemes: Map<String, Value> = all_schemes
        .iter()
        .flat_map(|s| s.components.iter().cloned())
        .collect();

    let title = match config.services.as_slice() {
        [one] => tag_name(one),
        _ => "Tollgate services".to_string(),
    };
    let members = [
        ("openapi", json!("3.0.3")),
        (
            "info",
            json!({
                "title": title,
                "version": "1",
                "description": "Generated by `tollgate openapi` from a Tollgate configuration: the credentials each \
                    mapping rule accepts. Entries of `security` are alternatives; the schemes of one entry are \
                    required together. Mapping rules match by prefix unless their pattern ends with `$`."
            }),
        ),
        ("servers", Value::Array(top_servers)),
        ("tags", Value::Array(tags)),
        ("paths", Value::Object(paths)),
        ("components", json!({"securitySchemes": security_schemes})),
    ];
    Document {
        text: ordered(&members),
        warnings,
    }
}

/// Pretty JSON of an object whose members keep the given order.
fn ordered(members: &[(&str, Value)]) -> String {
    let mut text = String::from("{");
    for (i, (key, value)) in members.iter().enumerate() {
        text.push_str(if i == 0 { "\n  " } else { ",\n  " });
        text.push_str(&Value::from(*key).to_string());
        text.push_str(": ");
        // JSON strings never hold a raw newline, so this only indents.
        text.push_str(&format!("{value:#}").replace('\n', "\n  "));
    }
    text.push_str("\n}");
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates() {
        assert_eq!(
            template("/foo//{id}/bar$"),
            ("/foo/{id}/bar".to_string(), vec!["id".to_string()])
        );
        assert_eq!(
            template("/a/{x}.{fmt}?q={v}"),
            ("/a/{x}.{fmt}".to_string(), vec!["x".into(), "fmt".into()])
        );
        assert_eq!(
            template("/a/{id}/b/{id}"),
            (
                "/a/{id}/b/{id_2}".to_string(),
                vec!["id".into(), "id_2".into()]
            )
        );
        assert_eq!(template("/a{}/b{"), ("/a{}/b{".to_string(), vec![]));
        assert_eq!(template("/é/{ü}"), ("/é/{ü}".to_string(), vec!["ü".into()]));
    }

    #[test]
    fn roles_combine_as_and_of_or() {
        let sets = vec![
            vec!["a".to_string(), "b".to_string()],
            vec!["c".to_string()],
        ];
        assert_eq!(
            role_choices(&sets).unwrap(),
            vec![
                vec!["a".to_string(), "c".to_string()],
                vec!["b".to_string(), "c".to_string()]
            ]
        );
        assert_eq!(role_choices(&[]).unwrap(), vec![Vec::<String>::new()]);
    }

    #[test]
    fn prefixes_are_unique_and_clean() {
        assert_eq!(scheme_prefix("42", &[]), "svc42");
        assert_eq!(scheme_prefix("a b", &["svca_b".to_string()]), "svca_b_2");
    }
}
