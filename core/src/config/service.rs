//! One APIcast service object, compiled: credentials, rules, errors, upstream rewrite and
//! policy chain.
//! Unknown fields are ignored here, because 3scale exports carry many.

use super::errors::ErrorResponses;
use super::header_values::{check, header_value, value_problem};
use super::json::{error, Obj, Result};
use super::policies::configs::Edit;
use super::policies::{Context, Policy, PolicyChain};
use super::upstream::UpstreamRewrite;
use crate::auth::grants::RuleAccess;
use crate::auth::{Authentication, Mode};
use crate::mapping::{MappingRule, PathPattern, QueryCondition, RuleSet};
use crate::request::same_header_spelling;
use serde_json::Value;
use std::sync::Arc;

/// Which credentials identify the application (`backend_version`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMode {
    /// `backend_version: 1`: `user_key`.
    UserKey,
    /// `backend_version: 2`: `app_id` and `app_key`, both required.
    AppIdAndKey,
    /// No `backend_version`, or one APIcast cannot use: loaded with a warning, as APIcast
    /// does, and every request is auth missing (401).
    Unusable,
}

/// Where credentials are read (`proxy.credentials_location`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialsLocation {
    /// Query string, then the form body of POST/PUT/PATCH.
    Query,
    Headers,
    /// HTTP Basic (`Authorization: Basic`), or a Bearer token for the id.
    Authorization,
}

/// Credential parameter names, lower-cased as APIcast does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialNames {
    pub user_key: String,
    pub app_id: String,
    pub app_key: String,
}

impl CredentialNames {
    fn new(user_key: String, app_id: String, app_key: String) -> CredentialNames {
        CredentialNames {
            user_key,
            app_id,
            app_key,
        }
    }
}

/// `backend_authentication_type` and value: sent to the backend as `service_token=` or `provider_key=`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackendAuth {
    pub param: &'static str,
    pub value: String,
}

#[derive(Debug, Clone)]
pub struct Service {
    /// The configuration version System gave it (loaded from 3scale System only).
    pub config_version: Option<u64>,
    /// Accepted with a difference worth logging (no id, an unusable backend version).
    pub warnings: Vec<String>,
    pub id: String,
    /// `system_name`, reported in `X-3scale-service-name`.
    pub system_name: String,
    pub mode: AuthMode,
    pub location: CredentialsLocation,
    pub names: CredentialNames,
    pub backend_auth: Option<BackendAuth>,
    /// A short digest of who the backend counts this service's calls for (backend cluster,
    /// authority, `backend_auth`), set when a configuration installs it
    /// (`backend::reporting_fingerprint`): its cache keys and pending calls carry it.
    pub reporting_fingerprint: String,
    /// Lower-cased hosts (`proxy.hosts`, default `localhost`).
    pub hosts: Vec<String>,
    pub secret_token: Option<Arc<str>>,
    pub errors: ErrorResponses,
    /// Indexed once here, so that a request tries only the rules that can match.
    pub rules: RuleSet,
    /// True when some rule looks at query parameters (then form bodies matter for matching).
    pub rules_use_args: bool,
    pub upstream: Option<UpstreamRewrite>,
    /// `backend_version: "oauth"` (OpenID Connect): a verified JWT's client id is the app_id,
    /// reported on `/transactions/oauth_authrep.xml`.
    pub oidc: bool,
    /// Tollgate's `authentication` block: local methods, header secrets, HTTPS-only.
    pub auth: Authentication,
    /// What each rule (same index as `rules`) requires of a locally authenticated caller.
    pub rule_access: Vec<RuleAccess>,
    /// `proxy.policy_chain`, compiled; what Tollgate does not enforce was refused or ignored.
    pub policies: PolicyChain,
}

impl Service {
    pub fn parse(path: &str, value: &Value, policies: &Context) -> Result<Service> {
        let obj = Obj::new(path, value)?;
        let mut warnings = Vec::new();
        // APIcast loads a service without an id, and sends `service_id=default`.
        let id = obj.number_or_string("id")?.unwrap_or_default();
        // Sent back in `X-3scale-service-id`.
        check(&obj.child_path("id"), &id, value_problem)?;
        if id.is_empty() {
            warnings.push(format!(
                "{}: no service id: service_id=default is sent to the backend, as APIcast does (auth failed unless the backend knows it)",
                obj.child_path("id")
            ));
        }
        // Borrowed, not cloned: a copy of every rule cost a tenth of compiling a System answer.
        let no_proxy = Value::Object(Default::default());
        let proxy_value = obj.get("proxy").unwrap_or(&no_proxy);
        let proxy = Obj::new(&obj.child_path("proxy"), proxy_value)?;
        super::typos::check_service(&obj, &proxy)?;
        let mut auth = match obj.obj("authentication")? {
            Some(a) => Authentication::parse(&a)?,
            None => Authentication::default(),
        };
        let oidc = obj.number_or_string("backend_version")?.as_deref() == Some("oauth");
        let chain = PolicyChain::parse(&proxy, policies)?;
        for (_, check) in chain.claim_checks() {
            warnings.extend(check.warnings.iter().cloned());
        }
        refuse_body_headers_after_apicast(&chain)?;
        let mode = if oidc {
            configure_oidc(&obj, &proxy, &mut auth, policies, &mut warnings)?
        } else {
            // Without apicast the backend is never called: its version does not matter.
            let public = chain.public.is_some();
            // ... and no credential is read: local authentication would never be checked.
            if public
                && (!matches!(auth.mode, Mode::ThreeScale | Mode::Open) || auth.has_local_method())
            {
                return Err(error(
                    &proxy.child_path("policy_chain"),
                    "no apicast policy, so the service is public: its local authentication would never be checked (add apicast, or set authentication.mode none)",
                ));
            }
            let auth_mode = if public { Mode::Open } else { auth.mode };
            parse_mode(&obj, &proxy, auth_mode, &mut warnings)?
        };
        auth.refuse_unread_methods(&obj.child_path("authentication.mode"))?;
        // The client id is the caller's 3scale credential: a token without it is refused,
        // never sent as its `sub` (the user's id at the identity provider, which may equal
        // another app's key).
        #[cfg(feature = "jwt")]
        if let (Mode::LocalThenThreeScale, Some(jwt)) = (auth.mode, auth.jwt.as_mut()) {
            jwt.client_id_required = true;
        }
        // No local caller (mode none or 3scale): a rule's namespace or roles would never be
        // checked, so they are refused rather than ignored.
        let open = matches!(auth.mode, Mode::Open | Mode::ThreeScale);
        let (rules, rule_access): (Vec<_>, Vec<_>) = proxy
            .array("proxy_rules", |path, v| parse_rule(path, v, open))?
            .unwrap_or_default()
            .into_iter()
            .unzip();
        refuse_public_requirements(&proxy, &rules, &rule_access, &auth.public_paths)?;
        super::shadowed::refuse_shadowed_requirements(&proxy, &rules, &rule_access)?;
        Ok(Service {
            config_version: None,
            warnings,
            system_name: header_value(&obj, "system_name")?
                .unwrap_or_default()
                .to_string(),
            mode,
            location: parse_location(&proxy)?,
            names: CredentialNames::new(
                name_or(&proxy, "auth_user_key", "user_key")?,
                name_or(&proxy, "auth_app_id", "app_id")?,
                name_or(&proxy, "auth_app_key", "app_key")?,
            ),
            backend_auth: parse_backend_auth(&obj)?,
            reporting_fingerprint: String::new(),
            hosts: super::hosts::parse_hosts(&proxy)?,
            secret_token: header_value(&proxy, "secret_token")?
                .filter(|t| !t.is_empty())
                .map(Arc::from),
            errors: ErrorResponses::parse(&proxy)?,
            policies: chain,
            rules_use_args: rules.iter().any(|r| !r.query.is_empty()),
            rules: RuleSet::from(rules),
            rule_access,
            oidc,
            auth,
            upstream: UpstreamRewrite::parse(&proxy)?,
            id,
        })
    }
}

fn parse_mode(
    service: &Obj,
    proxy: &Obj,
    auth: Mode,
    warnings: &mut Vec<String>,
) -> Result<AuthMode> {
    let path = service.child_path("backend_version");
    let version = match service.number_or_string("backend_version")? {
        Some(v) => v,
        // A service that never calls the backend needs no backend version.
        None if matches!(auth, Mode::Local | Mode::Open) => "1".to_string(),
        None => String::new(),
    };
    match version.as_str() {
        "1" => Ok(AuthMode::UserKey),
        "2" => Ok(AuthMode::AppIdAndKey),
        other => {
            // APIcast loads it, and answers every request auth missing.
            let problem = match other {
                "" => "missing".to_string(),
                other => format!("\"{other}\" is not 1, 2 or \"oauth\""),
            };
            warnings.push(format!(
                "{path}: backend version {problem}: the service is loaded, and every request is auth missing (401), as in APIcast"
            ));
            Ok(AuthMode::Unusable)
        }
    }
    .and_then(|mode| match proxy.string("authentication_method")? {
        Some("oidc") => Err(error(
            &proxy.child_path("authentication_method"),
            "\"oidc\" needs backend_version \"oauth\"",
        )),
        // APIcast runs native OAuth for it, which it no longer has: every request fails.
        Some("oauth") => Err(error(
            &proxy.child_path("authentication_method"),
            "native OAuth is not supported",
        )),
        _ => Ok(mode),
    })
}

/// OIDC as APIcast does it: the JWT is verified with the service's `authentication.jwt`
/// (issuer, keys), its client id claim (`azp`, or `proxy.jwt_claim_with_client_id`) becomes
/// the app_id, and the request is authorized and reported through 3scale.
#[cfg(feature = "jwt")]
fn configure_oidc(
    service: &Obj,
    proxy: &Obj,
    auth: &mut Authentication,
    context: &Context,
    warnings: &mut Vec<String>,
) -> Result<AuthMode> {
    // APIcast reads an absent authentication_method as native OAuth, which it no longer has.
    if proxy.string("authentication_method")? != Some("oidc") {
        return Err(error(
            &proxy.child_path("authentication_method"),
            "backend_version \"oauth\" needs \"oidc\" here (native OAuth is not supported)",
        ));
    }
    let configured = auth.jwt.is_some();
    if !configured {
        auth.jwt = discovered_issuer(proxy, context, warnings)?;
    }
    let Some(jwt) = auth.jwt.as_mut() else {
        return Err(error(
            &service.child_path("authentication.jwt"),
            "backend_version \"oauth\" (OpenID Connect) needs the issuer's keys here (or proxy.oidc_issuer_endpoint and a system block)",
        ));
    };
    // APIcast always checks `iss`; without it, the tokens of every tenant and client of a
    // shared key set (a multi-tenant IdP) would pass (found by an audit, 2026-12-06). Keys
    // from discovery pin the issuer the document names.
    if configured && jwt.rules.issuer.is_none() {
        return Err(error(
            &service.child_path("authentication.jwt.issuer"),
            "required for an OIDC service",
        ));
    }
    if let Some(claim) = proxy.non_empty_string("jwt_claim_with_client_id")? {
        (jwt.client_id_claim, jwt.client_id_liquid) = client_id_claim(proxy, claim)?;
    }
    jwt.client_id_required = true;
    // APIcast's access-token claims (`oauth/oidc.lua`), for keys given or discovered and for
    // claims jwt_authn verified alike.
    jwt.rules.oidc = true;
    // `none` was read as local+3scale, so a service documented as reading no credentials
    // asked every request for a token (found by an audit, 2026-12-07).
    let refusal = match auth.mode {
        Mode::Local => "an OpenID Connect service reports to 3scale: use local+3scale or leave mode unset",
        Mode::Open => "an OpenID Connect service reads a token and reports to 3scale: use local+3scale or leave mode unset",
        _ => "",
    };
    if !refusal.is_empty() {
        return Err(error(&service.child_path("authentication.mode"), refusal));
    }
    auth.mode = Mode::LocalThenThreeScale;
    Ok(AuthMode::AppIdAndKey)
}

/// The claim `jwt_claim_with_client_id` names, as its `_type` reads it: `plain` (the default)
/// names the claim; `liquid` is a template over the claims, read when it is one variable
/// (`{{ azp }}`) and refused otherwise (a template with no variable is a constant app_id).
/// With it, whether the claim is rendered as Liquid renders it (`true` for `liquid`).
#[cfg(feature = "jwt")]
fn client_id_claim(proxy: &Obj, claim: &str) -> Result<(String, bool)> {
    let path = proxy.child_path("jwt_claim_with_client_id_type");
    match proxy.string("jwt_claim_with_client_id_type")? {
        None | Some("plain") => Ok((claim.to_string(), false)),
        Some("liquid") => claim
            .trim()
            .strip_prefix("{{")
            .and_then(|c| c.strip_suffix("}}"))
            .map(str::trim)
            .filter(|c| {
                !c.is_empty()
                    && c.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-'))
            })
            .map(|c| (c.to_string(), true))
            .ok_or_else(|| {
                error(
                    &path,
                    "a liquid client id is read only as one claim (`{{ azp }}`); \
                     write the claim's name with type plain",
                )
            }),
        Some(other) => Err(error(
            &path,
            format!("expected \"plain\" or \"liquid\", got {other:?}"),
        )),
    }
}

/// `proxy.oidc_issuer_endpoint` with a `system` block, as APIcast's loader: the issuer's keys
/// are discovered through the cluster `system.issuer_clusters` maps its host to. An issuer
/// that cannot be reached is a warning, and every token of the service is auth failed (403).
/// `None`: no endpoint, or no `system` block (a static service gives its keys in `jwt`).
#[cfg(feature = "jwt")]
fn discovered_issuer(
    proxy: &Obj,
    context: &Context,
    warnings: &mut Vec<String>,
) -> Result<Option<crate::auth::jwt_auth::JwtAuth>> {
    use crate::auth::jwt_auth::{Discovery, JwksSource, JwtAuth};
    use crate::auth::oidc_discovery::Location;
    let (Some(issuers), Some(endpoint)) = (
        context.issuers.as_ref(),
        proxy.non_empty_string("oidc_issuer_endpoint")?,
    ) else {
        return Ok(None);
    };
    let path = proxy.child_path("oidc_issuer_endpoint");
    let unreachable = |problem: String| {
        format!("{path}: {problem}: every token of this service is auth failed (403)")
    };
    let issuer = match Location::parse(endpoint) {
        Ok(issuer) => issuer,
        Err(problem) => {
            warnings.push(unreachable(problem.to_string()));
            return Ok(Some(JwtAuth::discovered(None)));
        }
    };
    let Some((_, cluster)) = issuers.clusters.iter().find(|(h, _)| *h == issuer.host) else {
        warnings.push(unreachable(format!(
            "issuer host {} has no cluster in system.issuer_clusters",
            issuer.host
        )));
        return Ok(Some(JwtAuth::discovered(None)));
    };
    let discovery = issuer.discovery();
    Ok(Some(JwtAuth::discovered(Some(JwksSource {
        cluster: cluster.clone(),
        path: discovery.path,
        authority: discovery.authority,
        refresh_s: issuers.refresh_s,
        timeout_ms: issuers.timeout_ms,
        discovery: Some(Discovery {
            authorization: discovery.authorization,
            clusters: issuers.clusters.clone(),
        }),
    }))))
}

#[cfg(not(feature = "jwt"))]
fn configure_oidc(
    service: &Obj,
    _: &Obj,
    _: &mut Authentication,
    _: &Context,
    _: &mut Vec<String>,
) -> Result<AuthMode> {
    Err(error(
        &service.child_path("backend_version"),
        "\"oauth\" (OpenID Connect) needs JWT support, which this build does not have",
    ))
}

fn parse_location(proxy: &Obj) -> Result<CredentialsLocation> {
    match proxy.string("credentials_location")? {
        None | Some("query") => Ok(CredentialsLocation::Query),
        Some("headers") => Ok(CredentialsLocation::Headers),
        Some("authorization") => Ok(CredentialsLocation::Authorization),
        Some(other) => Err(error(
            &proxy.child_path("credentials_location"),
            format!("unknown location \"{other}\" (expected query, headers or authorization)"),
        )),
    }
}

fn name_or(proxy: &Obj, key: &str, default: &str) -> Result<String> {
    Ok(proxy
        .non_empty_string(key)?
        .unwrap_or(default)
        .to_ascii_lowercase())
}

fn parse_backend_auth(service: &Obj) -> Result<Option<BackendAuth>> {
    let value = service.string("backend_authentication_value")?;
    let param = match service.string("backend_authentication_type")? {
        None => return Ok(None),
        Some("service_token") => "service_token",
        Some("provider_key") => "provider_key",
        Some(_) => {
            return Err(error(
                &service.child_path("backend_authentication_type"),
                // Never the value: it may be the token pasted into the wrong field.
                "unknown type (expected service_token or provider_key)",
            ));
        }
    };
    match value {
        Some(v) if !v.is_empty() => Ok(Some(BackendAuth {
            param,
            value: v.to_string(),
        })),
        _ => Err(error(
            &service.child_path("backend_authentication_value"),
            "missing required field (backend_authentication_type is set)",
        )),
    }
}

/// A `headers` policy after `apicast` that changes how the upstream reads the body: the
/// rules, the credentials and the `_method` check read it by the client's `Content-Type`
/// (`text/plain` is never scanned), the upstream by the new one (a form whose `_method=DELETE`
/// Rails or Laravel runs; found by an audit). Before `apicast`, the filter reads it too.
fn refuse_body_headers_after_apicast(chain: &PolicyChain) -> Result<()> {
    let after = chain.entries.iter().skip(chain.apicast + 1);
    for entry in after {
        let Policy::Headers(headers) = &entry.policy else {
            continue;
        };
        // In any spelling an upstream reads as the header (`Content_Type`: CGI, Rack).
        let body_header = |e: &Edit| {
            [b"content-type".as_slice(), b"content-encoding"]
                .iter()
                .any(|h| same_header_spelling(e.name.as_bytes(), h))
        };
        if let Some(i) = headers.request.iter().position(body_header) {
            return Err(error(
                &format!("{}.configuration.request[{i}]", entry.path),
                "Content-Type and Content-Encoding tell the upstream how to read the body the filter read after apicast: change them in a headers policy before apicast",
            ));
        }
    }
    Ok(())
}

/// A rule whose every path starts with a public path: its `namespace` or `roles` would never
/// be checked (a public path skips grants and roles), so the two settings contradict each
/// other and the configuration is refused rather than the requirement dropped. A rule that
/// only partly overlaps a public path (`/{id}` beside `/docs/`) is kept: the public path
/// is the exception the owner listed.
fn refuse_public_requirements(
    proxy: &Obj,
    rules: &[MappingRule],
    access: &[RuleAccess],
    public_paths: &[String],
) -> Result<()> {
    for (i, (rule, access)) in rules.iter().zip(access).enumerate() {
        let literal = String::from_utf8_lossy(rule.pattern.literal_prefix());
        let normalized = crate::mapping::normalize_path(&literal);
        let exact = rule.pattern.is_exact_literal();
        let covering = crate::auth::public::covering_all(public_paths, &normalized, exact);
        if let (false, Some(public)) = (access.is_open(), covering) {
            return Err(error(
                &format!("{}[{i}]", proxy.child_path("proxy_rules")),
                format!("its namespace or roles would never be checked: its paths are under the public path `{public}` (authentication.public_paths), where no credential is read"),
            ));
        }
    }
    Ok(())
}

/// `open`: `authentication.mode` is none, so nobody is authenticated: a rule's namespace or
/// roles would never be checked, and are refused rather than ignored.
fn parse_rule(path: &str, value: &Value, open: bool) -> Result<(MappingRule, RuleAccess)> {
    let rule = Obj::new(path, value)?;
    super::typos::check_rule(&rule)?;
    let method = rule.required_string("http_method")?;
    // `ANY`, or a method a request can have: Tollgate answers 400 to lower-case methods and
    // to CONNECT, so a rule with one never matches, and its metric, limits and roles go with
    // it (found by an audit, 2026-12-06). Porta offers upper-case methods only.
    let method_chars =
        |b: u8| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-' || b == b'_';
    if method.is_empty() || method == "CONNECT" || !method.bytes().all(method_chars) {
        return Err(error(
            &rule.child_path("http_method"),
            "must be ANY or a method in upper case other than CONNECT (no request has this method: the rule would never match)",
        ));
    }
    let pattern = rule.required_string("pattern")?;
    if !pattern.starts_with('/') {
        return Err(error(&rule.child_path("pattern"), "must start with /"));
    }
    if let Some(problem) = PathPattern::regex_problem(pattern) {
        return Err(error(&rule.child_path("pattern"), problem));
    }
    // Never matched, its metric, limits and roles dropped (found by an audit, 2026-12-07).
    if let Some(problem) = crate::mapping::unmatchable::unmatchable(pattern) {
        return Err(error(&rule.child_path("pattern"), problem));
    }
    // Sent back in `X-3scale-matched-rules`.
    check(&rule.child_path("pattern"), pattern, value_problem)?;
    let metric = rule
        .non_empty_string("metric_system_name")?
        .ok_or_else(|| {
            error(
                &rule.child_path("metric_system_name"),
                "missing required field",
            )
        })?;
    // A null is refused, not read as 0: APIcast fails the request on it, and 0 drops the
    // rule's metric (and its limits) from the usage.
    let delta = match rule.raw("delta") {
        None => 0,
        Some(v) => v
            .as_u64()
            .ok_or_else(|| error(&rule.child_path("delta"), "expected an integer"))?,
    };
    let query = match rule.entries("querystring_parameters")? {
        None => None,
        Some(entries) => Some(
            entries
                .into_iter()
                .map(|(path, name, v)| match v {
                    Value::String(s) => Ok(QueryCondition::from_pair(name, s)),
                    // porta writes the pattern `/x?flag` as `{"flag": null}` (Ruby's
                    // `split('=', 2)`): the arg must be present, as the pattern reads. It was
                    // refused, skipping a fetched service whole (found by an audit, 2026-12-07).
                    Value::Null => Ok(QueryCondition::Present {
                        name: name.to_string(),
                    }),
                    _ => Err(error(&path, "expected a string or null")),
                })
                .collect::<Result<Vec<_>>>()?,
        ),
    };
    let mut mapping = MappingRule::new(
        method,
        pattern,
        metric,
        delta,
        rule.bool("last")?.unwrap_or(false),
        query,
    );
    mapping.owner = super::policies::routing::owner(&rule)?;
    let access = RuleAccess::parse(&rule)?;
    if open && !access.is_open() {
        return Err(error(
            path,
            "namespace and roles need a locally authenticated caller; with authentication.mode none or 3scale there is none",
        ));
    }
    Ok((mapping, access))
}
