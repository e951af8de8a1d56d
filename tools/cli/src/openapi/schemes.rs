//! Security schemes: each service's credentials as OpenAPI schemes, and the security
//! requirements (alternatives of schemes required together) listed for an operation.

use serde_json::{json, Value};
use tollgate_core::auth::grants::RuleAccess;
use tollgate_core::auth::{Authentication, Mode};
use tollgate_core::config::{AuthMode, CredentialsLocation, Service};

/// Most alternatives listed for the roles of an operation matched by several rules.
const MAX_ROLE_CHOICES: usize = 32;

/// A security requirement: schemes that must all be presented, each with its scopes.
pub(super) type Requirement = Vec<(String, Vec<String>)>;

/// One service's security schemes, grouped by what they let a caller do.
#[derive(Default)]
pub(super) struct Schemes {
    pub(super) components: Vec<(String, Value)>,
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

pub(super) fn schemes(prefix: &str, service: &Service) -> Schemes {
    let mut s = Schemes::default();
    let auth = &service.auth;
    let jwt = jwt_description(auth);
    if auth.mode == Mode::ThreeScale {
        // Local credentials on a 3scale service are refused when the configuration loads.
        s.threescale = Some(threescale(&mut s, prefix, service));
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
                // No credential can pass (no usable backend_version): no scheme to offer.
                AuthMode::Unusable => Vec::new(),
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
        Some(source) if source.discovery.is_some() => format!(
            "the keys of the OpenID Connect issuer discovered through cluster `{}` ({})",
            source.cluster, source.path
        ),
        Some(source) => format!(
            "the keys fetched from cluster `{}` ({})",
            source.cluster, source.path
        ),
        None => format!("one of {} configured key(s)", jwt.keys.current().jwks.len()),
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

/// Scheme-name prefix: `svc` + the id, reduced to the characters OpenAPI allows.
pub(super) fn scheme_prefix(id: &str, taken: &[String]) -> String {
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

/// Every way of holding one role of each set (AND of ORs), or the union when too many.
pub(super) fn role_choices(sets: &[Vec<String>]) -> Option<Vec<Vec<String>>> {
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

/// The alternatives accepted for an operation (empty: no credential can pass). A public
/// operation needs no credential: one empty alternative (plus any header secret).
pub(super) fn security(
    schemes: &Schemes,
    path: &str,
    public: bool,
    accesses: &[&RuleAccess],
    warnings: &mut Vec<String>,
    what: &str,
) -> Vec<Requirement> {
    let mut alternatives: Vec<Requirement> = match &schemes.threescale {
        _ if public => vec![Vec::new()],
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

/// The `security` of an operation: no requirement at all when it is public.
pub(super) fn security_json(alternatives: &[Requirement]) -> Value {
    match alternatives {
        [only] if only.is_empty() => json!([]),
        _ => Value::Array(alternatives.iter().map(requirement_json).collect()),
    }
}

fn requirement_json(requirement: &Requirement) -> Value {
    Value::Object(
        requirement
            .iter()
            .map(|(name, scopes)| (name.clone(), json!(scopes)))
            .collect(),
    )
}
