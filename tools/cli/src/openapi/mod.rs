//! `tollgate openapi`: an OpenAPI 3.0.3 description of what a configuration enforces.
//!
//! Each service's credentials become `components.securitySchemes` named `svc<id>_<kind>`;
//! each mapping rule becomes an operation whose `security` lists the credentials the filter
//! would accept for it: separate entries are alternatives, schemes within one entry are
//! required together. Bodies and responses of the upstream API are not described.

mod paths;
mod schemes;
#[cfg(test)]
mod tests;

use paths::{parameters, responses, servers, tag_description, tag_name, template};
use schemes::{scheme_prefix, schemes, security, security_json, Schemes};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use tollgate_core::auth::grants::{default_action, RuleAccess};
use tollgate_core::auth::{public, Mode};
use tollgate_core::config::{Config, Service};
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

/// An operation: the rules of one service that describe it (several when they differ only
/// by query conditions, or repeat).
struct Op {
    service: usize,
    rules: Vec<usize>,
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
    let open = is_public(service, path);
    let security = security(ctx.schemes, path, open, &accesses, warnings, &what);
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
    map.insert("security".into(), security_json(&security));
    map.insert("responses".into(), responses(service));
    if open {
        map.insert("x-tollgate-public".into(), json!(true));
    }
    if let Some(servers) = &ctx.servers {
        map.insert("servers".into(), Value::Array(servers.clone()));
    }
    map.insert("x-3scale-pattern".into(), json!(first.raw_pattern));
    map.insert("x-3scale-metric".into(), json!(&*first.metric));
    map.insert("x-3scale-delta".into(), json!(first.delta));
    if rules.len() > 1 {
        let all: Vec<Value> = rules
            .iter()
            .map(|(r, _)| json!({"method": rule_method(&r.method), "pattern": r.raw_pattern, "metric": &*r.metric, "delta": r.delta}))
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

/// Passes without credentials: `authentication.mode: none`, a chain without `apicast`, or
/// under a public path.
fn is_public(service: &Service, path: &str) -> bool {
    service.auth.mode == Mode::Open
        || service.policies.public.is_some()
        || public::covers(&service.auth.public_paths, path)
}

/// A public path no rule describes: every method passes without credentials, unmetered.
fn public_operation(ctx: &Context, prefix: &str, warnings: &mut Vec<String>) -> Value {
    let what = format!("service {}: public path {prefix}", ctx.service.id);
    let security = security(ctx.schemes, prefix, true, &[], warnings, &what);
    let mut map = Map::new();
    map.insert("tags".into(), json!([ctx.tag]));
    map.insert(
        "summary".into(),
        json!(format!(
            "Public: every path under {prefix}, no credentials, not metered"
        )),
    );
    map.insert("security".into(), security_json(&security));
    map.insert("responses".into(), responses(ctx.service));
    if let Some(servers) = &ctx.servers {
        map.insert("servers".into(), Value::Array(servers.clone()));
    }
    map.insert("x-tollgate-public".into(), json!(true));
    Value::Object(map)
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
        all_schemes.push(schemes(&prefix, service));
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
        if service.policies.public.is_some() {
            warnings.push(format!(
                "service {}: its policy chain has no apicast policy, so any path is open to anyone (mapping rules are not read); its operations are listed as public",
                service.id
            ));
        } else if service.rules.is_empty() && service.auth.mode == Mode::Open {
            warnings.push(format!(
                "service {}: authentication.mode none and no mapping rules, so any path is open to anyone; no operation is listed",
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
    for ctx in &contexts {
        for prefix in &ctx.service.auth.public_paths {
            if paths.contains_key(prefix) {
                continue;
            }
            let operation = public_operation(ctx, prefix, &mut warnings);
            let item: Map<String, Value> = ANY_METHODS
                .iter()
                .map(|m| ((*m).to_string(), operation.clone()))
                .collect();
            paths.insert(prefix.clone(), Value::Object(item));
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
