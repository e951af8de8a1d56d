//! authorize / authrep / oauth_authorize / oauth_authrep (§2.2–§2.4, §3).

use crate::handlers::credentials::{normalized, normalized_app_key, Credentials};
use crate::handlers::extensions::Extensions;
use crate::handlers::limits::{limit_headers, usage_reports, within_limits};
use crate::handlers::usage::{self, Entry};
use crate::handlers::{Endpoint, HttpRequest};
use crate::model::{App, Service, State};
use crate::params::{parse_nested, Hash, Value};
use crate::response::{ApiError, Response};
use crate::xml::{ApplicationSection, StatusBody};
use tollgate_core::backend::protocol::{
    LIMITS_EXCEEDED, LIMIT_MAX_VALUE_HEADER, LIMIT_REMAINING_HEADER, LIMIT_RESET_HEADER,
    OPTIONS_HEADER, REJECTION_REASON_HEADER,
};

/// A 409 denial (kind D in §5).
struct Denial {
    code: &'static str,
    message: String,
}

impl Denial {
    fn new(code: &'static str, message: impl Into<String>) -> Denial {
        Denial {
            code,
            message: message.into(),
        }
    }
}

/// Outcome of the validator chain.
enum Outcome {
    Authorized(Vec<Entry>),
    Denied(Denial, Option<Vec<Entry>>),
}

pub fn handle(ep: Endpoint, req: &HttpRequest<'_>, state: &mut State, now: i64) -> Response {
    let header_ext = Extensions::from_header(req.header(OPTIONS_HEADER));
    let parsed = match parse_nested(req.query) {
        Ok(p) => p,
        Err(e) => {
            return Response::error(
                &ApiError::new(400, "bad_request", e.message()),
                header_ext.no_body,
            )
        }
    };
    let params = parsed.params;
    let ext = header_ext.with_params(&params);
    match run(ep, &params, parsed.invalid_utf8, ext, state, now) {
        Ok(resp) => resp,
        Err(Failure::Error(e)) => Response::error(&e, ext.no_body),
        Err(Failure::EmptyForbidden) => Response::xml(403, ""),
    }
}

enum Failure {
    Error(ApiError),
    EmptyForbidden,
}

impl From<ApiError> for Failure {
    fn from(e: ApiError) -> Failure {
        Failure::Error(e)
    }
}

fn run(
    ep: Endpoint,
    params: &Hash,
    invalid_utf8: bool,
    ext: Extensions,
    state: &mut State,
    now: i64,
) -> Result<Response, Failure> {
    let oauth_endpoint = ep.is_oauth();
    let authrep = ep.is_authrep();
    // §3 step 2
    if invalid_utf8 {
        return Err(ApiError::new(422, "not_valid_data", "all data must be valid UTF8").into());
    }
    // steps 3–4
    let creds = Credentials::from_params(params);
    creds.check_early(state)?;
    // step 5
    if params.get("user_id").is_some_and(|v| !v.is_null()) {
        return Err(ApiError::new(
            400,
            "end_users_no_longer_supported",
            "End-users are no longer supported, do not specify the user_id parameter",
        )
        .into());
    }
    // step 6
    let raw_usage: Option<&Hash> = match params.get("usage") {
        None | Some(Value::Null) => None,
        Some(Value::Hash(h)) => Some(h),
        Some(_) => return Err(Failure::EmptyForbidden),
    };
    let raw_usage = raw_usage.filter(|h| !h.is_empty());
    // step 7
    let service = creds.resolve(state)?.clone();
    // step 8
    let app = find_app(oauth_endpoint, &service, params, state)?.clone();
    // step 9
    if ext.no_body {
        if let Some(raw) = raw_usage {
            usage::check_metric_names(&service, raw)?;
        }
    }
    // step 10
    let outcome = validate(
        oauth_endpoint,
        &service,
        &app,
        params,
        raw_usage,
        ext,
        state,
        now,
    )?;
    // steps 11–12
    let (authorized, denial, entries) = match outcome {
        Outcome::Authorized(e) => (true, None, Some(e)),
        Outcome::Denied(d, e) => (false, Some(d), e),
    };
    let entries = entries.unwrap_or_default();
    let propagated = usage::propagate(&service, &usage::to_usage(&entries, false));
    let added = (authrep && authorized).then_some(&propagated);
    let reports = usage_reports(&service, &app, &state.counters, now, added);

    let mut body = StatusBody {
        authorized,
        reason: denial.as_ref().map(|d| d.message.clone()),
        application: oauth_endpoint.then(|| application_section(&app, params)),
        plan: app.plan.clone(),
        usage_reports: reports.clone(),
        app_keys: None,
        hierarchy: None,
    };
    if ext.list_app_keys {
        body.app_keys = Some((app.id.clone(), service.id.clone(), app.app_keys.clone()));
    }
    if ext.hierarchy {
        body.hierarchy = Some(
            reports
                .iter()
                .map(|r| (r.metric.clone(), service.children(&r.metric)))
                .collect(),
        );
    }
    let status = if authorized { 200 } else { 409 };
    let mut resp = Response::xml(
        status,
        if ext.no_body {
            String::new()
        } else {
            body.render()
        },
    );
    if let (Some(d), true) = (&denial, ext.rejection_reason_header) {
        resp.add_extension_header(REJECTION_REASON_HEADER, d.code);
    }
    let limits_denial = denial.as_ref().is_some_and(|d| d.code == LIMITS_EXCEEDED);
    if ext.limit_headers && (authorized || limits_denial) {
        let u = (!entries.is_empty()).then_some(&propagated);
        let h = limit_headers(&reports, u, now);
        resp.add_extension_header(LIMIT_REMAINING_HEADER, h.remaining.to_string());
        resp.add_extension_header(LIMIT_RESET_HEADER, h.reset.to_string());
        if let Some(max) = h.max_value {
            resp.add_extension_header(LIMIT_MAX_VALUE_HEADER, max.to_string());
        }
    }
    if authrep && authorized {
        let to_report = usage::to_usage(&entries, true);
        if !to_report.is_empty() {
            let applied = if ext.flat_usage {
                to_report
            } else {
                usage::propagate(&service, &to_report)
            };
            for (metric, value) in applied {
                state
                    .counters
                    .apply(&service.id, &app.id, &metric, value, now);
            }
            let logged = crate::model::Logged::new("authrep", &service.id, &app.id, params);
            state.logged.push(logged);
        }
    }
    Ok(resp)
}

/// §2.2 / §3 step 8.
fn find_app<'s>(
    oauth_endpoint: bool,
    service: &Service,
    params: &Hash,
    state: &'s State,
) -> Result<&'s App, ApiError> {
    let app_id = normalized(params, "app_id");
    let user_key = normalized(params, "user_key");
    let missing_id = || ApiError::new(404, "application_not_found", "application id is missing");
    if oauth_endpoint && app_id.is_none() {
        return Err(missing_id());
    }
    if app_id.is_some() && user_key.is_some() {
        return Err(ApiError::new(
            403,
            "authentication_error",
            "either app_id or user_key is allowed, not both",
        ));
    }
    if service.backend_version == "1" && !oauth_endpoint {
        let Some(uk) = user_key else {
            return Err(ApiError::new(
                403,
                "user_key_invalid",
                "user key is missing",
            ));
        };
        return state.find_app_by_user_key(&service.id, &uk).ok_or_else(|| {
            ApiError::new(
                403,
                "user_key_invalid",
                format!(r#"user key "{uk}" is invalid"#),
            )
        });
    }
    let Some(id) = app_id else {
        return Err(missing_id());
    };
    state.find_app(&service.id, &id).ok_or_else(|| {
        ApiError::new(
            404,
            "application_not_found",
            format!(r#"application with id="{id}" was not found"#),
        )
    })
}

/// §3 step 10: the validator chain for the endpoint and service type.
#[allow(clippy::too_many_arguments)]
fn validate(
    oauth_endpoint: bool,
    service: &Service,
    app: &App,
    params: &Hash,
    raw_usage: Option<&Hash>,
    ext: Extensions,
    state: &State,
    now: i64,
) -> Result<Outcome, ApiError> {
    let oauth_service = service.backend_version == "oauth";
    let denied = |d: Denial| Ok(Outcome::Denied(d, None));
    if oauth_endpoint && !oauth_service {
        return denied(Denial::new("oauth_not_enabled", "oauth is not enabled"));
    }
    let key_check = if oauth_endpoint || oauth_service {
        oauth_key(app, params)
    } else if service.backend_version == "1" {
        None
    } else {
        key(app, params)
    };
    if let Some(d) = key_check {
        return denied(d);
    }
    if oauth_endpoint {
        if let Some(d) = redirect(app, params) {
            return denied(d);
        }
    }
    if let Some(d) = referrer(service, app, params) {
        return denied(d);
    }
    if !app.is_active() {
        return denied(Denial::new(
            "application_not_active",
            "application is not active",
        ));
    }
    if !service.is_active() {
        return denied(Denial::new("service_not_active", "service is not active"));
    }
    // Limits
    let entries = match raw_usage {
        Some(raw) => usage::parse(service, raw)?,
        None => Vec::new(),
    };
    let flat = usage::to_usage(&entries, false);
    let checked = if ext.flat_usage {
        flat
    } else {
        usage::propagate(service, &flat)
    };
    if within_limits(service, app, &state.counters, now, Some(&checked)) {
        Ok(Outcome::Authorized(entries))
    } else {
        Ok(Outcome::Denied(
            Denial::new(LIMITS_EXCEEDED, "usage limits are exceeded"),
            Some(entries),
        ))
    }
}

/// `Key` validator (backend_version 2).
fn key(app: &App, params: &Hash) -> Option<Denial> {
    if app.app_keys.is_empty() {
        return None;
    }
    match normalized_app_key(params) {
        None => Some(Denial::new(
            "application_key_invalid",
            "application key is missing",
        )),
        Some(k) if k.is_empty() => Some(Denial::new(
            "application_key_invalid",
            "application key is missing",
        )),
        Some(k) if app.app_keys.contains(&k) => None,
        Some(k) => Some(Denial::new(
            "application_key_invalid",
            format!(r#"application key "{k}" is invalid"#),
        )),
    }
}

/// `OauthKey` validator: only checked when `app_key` is present.
fn oauth_key(app: &App, params: &Hash) -> Option<Denial> {
    match normalized_app_key(params) {
        None => None,
        Some(k) if app.app_keys.contains(&k) => None,
        Some(k) if k.is_empty() => Some(Denial::new(
            "application_key_invalid",
            "application key is missing",
        )),
        Some(k) => Some(Denial::new(
            "application_key_invalid",
            format!(r#"application key "{k}" is invalid"#),
        )),
    }
}

/// `RedirectURI` validator (`redirect_url` wins over `redirect_uri`).
fn redirect(app: &App, params: &Hash) -> Option<Denial> {
    let (name, code, value) = match (params.str("redirect_url"), params.str("redirect_uri")) {
        (Some(v), _) => ("redirect_url", "redirect_url_invalid", v),
        (None, Some(v)) => ("redirect_uri", "redirect_uri_invalid", v),
        (None, None) => return None,
    };
    if value.is_empty() || app.redirect_url.as_deref() == Some(value) {
        None
    } else {
        Some(Denial::new(code, format!(r#"{name} "{value}" is invalid"#)))
    }
}

/// `Referrer` validator.
fn referrer(service: &Service, app: &App, params: &Hash) -> Option<Denial> {
    if !service.referrer_filters_required || app.referrer_filters.is_empty() {
        return None;
    }
    match params.str("referrer") {
        None | Some("") => Some(Denial::new("referrer_not_allowed", "referrer is missing")),
        Some("*") => None,
        Some(r) if app.referrer_filters.iter().any(|f| glob_match(f, r)) => None,
        Some(r) => Some(Denial::new(
            "referrer_not_allowed",
            format!(r#"referrer "{r}" is not allowed"#),
        )),
    }
}

/// Anchored glob match where `*` matches any run of characters.
fn glob_match(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first) || text.len() < first.len() + last.len() || !text.ends_with(last) {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for mid in &parts[1..parts.len() - 1] {
        match rest.find(mid) {
            Some(i) => rest = &rest[i + mid.len()..],
            None => return false,
        }
    }
    true
}

fn application_section(app: &App, params: &Hash) -> ApplicationSection {
    let uri_only = params.get("redirect_url").is_none() && params.get("redirect_uri").is_some();
    ApplicationSection {
        id: app.id.clone(),
        key: app.app_keys.first().cloned().unwrap_or_default(),
        redirect_element: if uri_only {
            "redirect_uri"
        } else {
            "redirect_url"
        },
        redirect_url: app.redirect_url.clone().unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::glob_match;

    #[test]
    fn globs() {
        assert!(glob_match("*.example.com", "www.example.com"));
        assert!(!glob_match("*.example.com", "www.example.com.evil"));
        assert!(glob_match("example.com", "example.com"));
        assert!(glob_match("a*b*c", "aXXbYYc"));
        assert!(!glob_match("a*b*c", "aXXc"));
        assert!(glob_match("*", "anything"));
    }
}
