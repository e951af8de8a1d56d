//! The request pipeline, in APIcast's order: service, credentials, mapping rules, backend
//! matched, then a local reply or the upstream.
//!
//! [`Worker`] takes Envoy's events for each request and returns the [`Steps`] the adapter
//! carries out. One request, top to bottom (`request_events.rs` and `worker.rs`; states in
//! `flow.rs`):
//!
//! ```text
//! on_request_headers ─► begin() ─► Step::Reply (414 path too long, 400 ambiguous path or
//!        │                                      host, 404 unknown host, 500 host failure)
//!        ├─ form body wanted ─► ReadingBody ─► on_request_body / on_request_trailers
//!        │        │                 ─► Step::ReadBody ─► on_form_body ─┐
//!        │        └─ no byte in 5 s, none ever delivered ─► on_tick ─► Step::Reply (400)
//!        ▼                                                             ▼
//!  PendingRequest::authorize() ─┬─► Step::Reply (401 auth missing, 403 auth failed, 404 no match)
//!                               ├─► Step::Forward (local authentication, or public: no backend)
//!                               ├─ authrep ─► Calling ─► Step::Call(Authrep) ─► on_backend_answer
//!                               │       ─► decide(), or the failure policy ─► Forward | Reply
//!                               └─ batching ─► Waiting ─► resolve(): cache lookup ─┬─► Forward (hit)
//!                                      ├─► Reply (cached denial)   ◄──────────────┤
//!                                      ├─► Step::Call(Authorize) ─► on_backend_answer ─► Notify
//!                                      └─► wait ◄── on_wake(key) / on_tick ◄── Notify (any worker)
//! ```
//!
//! On every worker, `on_tick` also moves counted calls to shared data and, on the elected
//! worker, sends the reports (`reporting.rs`). `on_host_error` fails a request closed.

mod access;
#[cfg(test)]
mod ambiguity_tests;
mod authorize;
mod batching;
#[cfg(test)]
mod batching_tests;
#[cfg(test)]
mod body_credentials_tests;
mod body_fields;
#[cfg(test)]
mod body_fields_tests;
#[cfg(test)]
mod body_wait_tests;
#[cfg(test)]
mod codes_tests;
#[cfg(test)]
mod combination_tests;
#[cfg(test)]
mod fake_envoy;
mod flow;
mod form_body;
mod forwarded_host;
#[cfg(test)]
mod forwarded_host_tests;
pub mod ip_check;
#[cfg(test)]
mod ip_check_tests;
#[cfg(test)]
mod local_key_tests;
mod matched;
mod method_override;
#[cfg(test)]
mod method_override_tests;
#[cfg(test)]
mod policy_tests;
#[cfg(test)]
mod public_tests;
mod reply;
mod reporting;
mod request_events;
mod rewrite_step;
#[cfg(test)]
mod rewrite_tests;
mod routing;
#[cfg(test)]
mod routing_parity_tests;
#[cfg(test)]
mod routing_tests;
mod select;
#[cfg(test)]
mod service_header_tests;
mod steps;
mod streamed_body;
#[cfg(test)]
mod streamed_body_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod trailer_tests;
mod worker;
#[cfg(test)]
mod worker_tests;

pub use matched::MatchedRequest;
pub use steps::{CallPurpose, Clock, RequestId, Step, Steps, Tally};
pub use worker::{RequestLine, Worker};

/// What follows a successful `authorize`.
pub enum Next {
    /// Ask the 3scale backend.
    Backend(MatchedRequest),
    /// Authenticated locally, no backend: forward with these changes.
    Forward(Forward),
}
pub use reply::{
    is_stripped_request_header, is_tollgate_request_header, Forward, LocalReply, Outcome, Refused,
    SECRET_TOKEN_HEADER,
};

use crate::auth::identity::Identity;
use crate::auth::local::{self, LocalFailure, LocalRequest};
use crate::auth::Mode;
use crate::auth::{header_secret, public};
use crate::body_scan;
use crate::config::policies::Policy;
use crate::config::{Config, CredentialsLocation, Service};
use crate::credentials::{self, Found};
use crate::mapping::{normalize_path, QueryArgs};
use crate::policies::RequestPolicies;
use crate::request::{is_ambiguous_path, split_path, without_host_dot, HeaderSource, RequestHead};
use crate::secret::constant_time_eq;
use rewrite_step::rewrite;
use select::{select_service, Selected};
use std::sync::Arc;

/// A request whose service is known, possibly waiting for its form body.
pub struct PendingRequest {
    service: Arc<Service>,
    method: String,
    normalized_path: String,
    /// Raw path and query, for the upstream rewrite; normalised when `rewritten`.
    path: String,
    query: Option<String>,
    /// `url_rewriting` changed the request line: the upstream gets `path` and `query`.
    rewritten: bool,
    args: QueryArgs,
    found: Found,
    /// No credential found, and one of the names comes where the service does not read it
    /// (`access::carried_elsewhere`): the default credentials do not apply.
    carried_elsewhere: bool,
    /// The local authentication result, for services that authenticate locally.
    local: Option<Result<Identity, LocalFailure>>,
    /// A credential arrived over plain HTTP on an HTTPS-only service.
    insecure: bool,
    /// The request came over plain HTTP to an HTTPS-only service (read only when it carried
    /// credentials or could carry them in its form body).
    plain_http: bool,
    /// A header-secret rule covers the path and its header is absent or wrong.
    header_secret_failed: bool,
    /// Under one of `authentication.public_paths`, or a chain without `apicast`: no
    /// credentials, rules or backend.
    public_path: bool,
    /// What the `routing` policy's conditions read from the head (with the policy only).
    route: Option<routing::RouteInputs>,
    debug: bool,
    /// A form body a credential may be in (APIcast: `POST`, `PUT`, `PATCH`, query location).
    body_eligible: bool,
    /// A signed URL's multipart or JSON content type on a method without a payload.
    signed_url_body: bool,
    /// An `application/x-www-form-urlencoded` body, any method: rules that read args read
    /// it (an upstream does, on `DELETE` too), and a `POST`'s is read for a `_method`.
    form_body: bool,
    /// That body is compressed (`Content-Encoding`) or in a charset that is not ASCII's
    /// superset (UTF-16): it cannot be read as sent, an upstream may decode it (Express's
    /// `urlencoded()` inflates, ASP.NET Core honours the charset), so it is refused whenever it
    /// would be read.
    encoded_form: bool,
    /// JWT services: the `Bearer` token, which a form body's `access_token` must equal (and
    /// which is the caller's own credential where `Authorization` is read for one).
    bearer: Option<String>,
    /// Local keys read from a header and the query: the header's, which a form body's key
    /// must equal.
    header_key: Option<String>,
    /// A `POST` that names another method for the upstream to run (`method_override`).
    method_overridden: bool,
    /// A multipart or JSON `POST` (`body_scan::applies`): its body is read for a `_method`, as
    /// it streams and after the verdict too (`Worker::on_body_chunk`), or as a form body is if
    /// the content type also names a form.
    scan_body: bool,
    /// That body is compressed or in a wide charset: it cannot be read, so it is refused.
    encoded_body: bool,
    /// The kinds a body's content type names (multipart, JSON), on any method, when it can be
    /// read: its credential fields or keys are compared (`body_fields`).
    body_kinds: body_scan::Kinds,
    /// The kinds of such a body that cannot be read (compressed, UTF-16): refused if a body
    /// follows and its fields would be compared (`body_follows`), else served unread.
    encoded_kinds: body_scan::Kinds,
    /// A form body that is also multipart or JSON to some reader held a credential field or
    /// key that is not the one checked: auth failed.
    body_credential_failed: bool,
    /// `Referer`, read only for a service with the `3scale_referrer` policy.
    referrer: Option<String>,
    /// The chain index of an `ip_check` after `apicast` that denied: answered once apicast's
    /// own checks passed.
    ip_denied: Option<usize>,
    /// The chain's header, status and CORS policies; the worker keeps them for the response.
    policies: Option<Box<RequestPolicies>>,
    /// A CORS preflight that a `cors` policy after `apicast` answers once credentials are found.
    preflight: bool,
    /// The chain's answer before anything else: `maintenance_mode`, a CORS preflight.
    early: Option<LocalReply>,
    /// The URI args path routing read to choose the service (`select::Selected`).
    routing_args: Vec<String>,
    /// The form body gave one of them another value, or a multipart or JSON reading of it
    /// gave an arg a rule reads one (`body_fields`): 400, ambiguous argument.
    body_arg_changed: bool,
    /// Path routing chose among several services of the host: the upstream request names the
    /// service (`reply::SERVICE_ID_HEADER`) for Envoy's routes.
    shared_host: bool,
    /// `:authority` without its host's trailing dot, which service selection dropped: sent
    /// upstream so that Envoy routes by the host the service was chosen by.
    dotless_authority: Option<String>,
}

/// Starts the pipeline from the request head; reads only the headers it needs.
pub fn begin(
    config: &Config,
    head: RequestHead,
    headers: &dyn HeaderSource,
) -> Result<PendingRequest, LocalReply> {
    start(config, head, headers).map_err(|refused| refused.reply)
}

/// [`begin`], with a refusal's response-phase policies once its service is known. The request
/// is boxed only if it waits for its body (`Worker::on_request_headers`).
pub fn start(
    config: &Config,
    head: RequestHead,
    headers: &dyn HeaderSource,
) -> Result<PendingRequest, Refused> {
    if head.path.len() > config.max_path_bytes {
        // Bounds the work on every later step, whatever the rules.
        return Err(LocalReply::uri_too_long().into());
    }
    if head.method == "CONNECT" || !head.path.starts_with('/') {
        // Envoy tunnels what follows a CONNECT it accepts (HTTP/2's websocket CONNECT
        // reaches filters as a `GET`).
        return Err(LocalReply::invalid_target().into());
    }
    if head.method.bytes().any(|b| b.is_ascii_lowercase()) {
        // Rules compare methods exactly, and some upstreams ignore the case (ASP.NET, Flask):
        // `get` over HTTP/2 would dodge a `GET` rule and be served as one. nginx refuses it.
        return Err(LocalReply::invalid_method().into());
    }
    let (path, query) = split_path(head.path);
    if is_ambiguous_path(path) {
        return Err(LocalReply::ambiguous_path().into());
    }
    let normalized_path = normalize_path(path);
    let args = query.map(QueryArgs::parse).unwrap_or_default();
    let Selected {
        service,
        routing_args,
        path_routed,
    } = select_service(config, head, &normalized_path, &args, headers)?;
    // The chain's header, status and CORS policies (`None`: the chain has none), read before
    // anything can refuse the request: its refusal is a response of the service too.
    let policies = RequestPolicies::new(&service, headers);
    // url_rewriting: `apicast` sees what the policies before it made, the upstream what all
    // of them made (the service was chosen on the path as sent, as APIcast chooses it).
    let rewrite = match rewrite(
        &service,
        head,
        &normalized_path,
        query,
        config.max_path_bytes,
    ) {
        Ok(rewrite) => rewrite,
        Err(reply) => return Err(Refused { reply, policies }),
    };
    let (normalized_path, args) = match rewrite.at_apicast {
        Some(r) => (
            r.path,
            r.query.as_deref().map(QueryArgs::parse).unwrap_or_default(),
        ),
        None => (normalized_path, args),
    };
    let (upstream_path, upstream_query, rewritten) = match rewrite.upstream {
        Some(r) => (r.path, r.query, true),
        // Envoy re-routes on the `:path` the filter sets: it reads what path routing read.
        // A leading `//` is a host to URL parsers (Node's `new URL(req.url, base)`, Python's
        // `urlsplit`): `//health/admin` would be served as `/admin` (found by an audit).
        None if (path_routed || path.starts_with("//")) && normalized_path != path => {
            (normalized_path.clone(), query.map(str::to_string), true)
        }
        None => (path.to_string(), query.map(str::to_string), false),
    };
    // The 3scale flow reads the request as the header operations before `apicast` leave it.
    let edited = policies.as_deref().map(|p| p.view(headers));
    let edited_all = policies.as_deref().map(|p| p.view_all(headers));
    let (headers, access_headers): (&dyn HeaderSource, &dyn HeaderSource) =
        match (&edited, &edited_all) {
            (Some(edited), Some(all)) => (edited, all),
            _ => (headers, headers),
        };
    // A CORS preflight ends APIcast's rewrite phase (answered here with `cors` before
    // `apicast`, once credentials are found with it after): the access-phase policies never
    // act on it. Otherwise, in chain order: maintenance_mode wherever it stands, ip_check
    // before apicast (after it: once apicast's checks pass). Either way before any backend
    // call, and through `authorize`, so that the worker keeps the policies for the response
    // phase (CORS headers, status overwrite).
    let preflight = policies
        .as_deref()
        .is_some_and(|p| p.is_preflight(head.method));
    let mut early = RequestPolicies::preflight_before_apicast(&service).filter(|_| preflight);
    let mut ip_denied = None;
    for (i, entry) in service.policies.entries.iter().enumerate() {
        if preflight {
            break;
        }
        early = match &entry.policy {
            Policy::MaintenanceMode(m) => Some(LocalReply::maintenance(
                m.status,
                &m.content_type,
                &m.message,
            )),
            Policy::IpCheck(check)
                if ip_denied.is_none() && !ip_check::allows(check, access_headers) =>
            {
                if !service.policies.before_apicast(i) {
                    ip_denied = Some(i);
                    continue;
                }
                Some(LocalReply::ip_denied(&check.error_msg))
            }
            _ => continue,
        };
        break;
    }
    let public_path = service.policies.public.is_some()
        || public::covers(&service.auth.public_paths, &normalized_path);
    // A public request reads no credential: none can fail it, and none costs a verification.
    let anonymous = public_path || service.auth.mode == Mode::Open;
    let found = if anonymous {
        Found::default()
    } else {
        credentials::extract(&service, &args, headers)
    };
    let carried_elsewhere = !anonymous
        && !found.any()
        && service.policies.default_credentials().next().is_some()
        && access::carried_elsewhere(&service, &args, headers);
    let local = (!anonymous && service.auth.mode != Mode::ThreeScale).then(|| {
        local::authenticate(
            &service.auth,
            &LocalRequest {
                method: head.method,
                path,
                query,
                args: &args,
                headers,
                now_s: head.now_s,
            },
        )
    });
    let carries_credentials = found.any()
        || local
            .as_ref()
            .is_some_and(|l| *l != Err(LocalFailure::Missing));
    let content_type = headers
        .header("content-type")
        .filter(|ct| !ct.trim().is_empty());
    let form = content_type.as_deref().is_some_and(form_body::is_form_type);
    // Puma and Unicorn give Rack `Content_Type` as the content type, on any method: such a
    // form is read to be compared too, never as APIcast's source (found in the thirty-fourth
    // session: a `PUT` form's `user_key` reached Rails unread).
    let form_spelled = form
        || headers.any_value_any_spelling("content-type", &mut |ct| form_body::is_form_type(ct));
    // Rack (Rails, Sinatra) parses a `POST` body without a content type as a form. A public
    // path's form is read for a `_method` only: `jwt_claim_check` still tells methods apart
    // there (found by an audit).
    // Two spellings of the content type that disagree are read as a form too: Unicorn (and
    // Puma before 6.4.3) give Rack `Content_Type` and `Content-Type` joined, and Rack takes
    // the first type in the list (found by an audit).
    let form_body = early.is_none()
        && (form_spelled
            || (head.method == "POST"
                && (content_type.is_none() || headers.header_any_spelling("content-type").1)));
    let body_eligible = form
        && form_body
        && !public_path
        && form_body::has_payload(head.method)
        && service.location == CredentialsLocation::Query;
    // Read only for a body that is read (no header look-up on a `GET`).
    let encoded = || {
        (headers.header("content-encoding"))
            .is_some_and(|e| !e.trim().eq_ignore_ascii_case("identity"))
            || content_type.as_deref().is_some_and(form_body::wide_charset)
    };
    let encoded_form = form_body && encoded();
    // Frameworks read a `_method` in a multipart or JSON body on `POST` only; the content
    // type in any spelling: an upstream that reads header names as CGI does (Symfony's
    // `HTTP_CONTENT_TYPE`) may take `Content_Type` for it (found by an audit).
    let kinds = body_kinds(content_type.as_deref(), headers);
    let other_body = kinds.multipart || kinds.json;
    let scan_body = head.method == "POST" && early.is_none() && other_body;
    let unreadable = early.is_none() && other_body && encoded();
    let encoded_body = scan_body && unreadable;
    // Credential fields and rule args are compared on every method; a body that cannot be
    // read is refused where it would be (a `POST`'s above, others' in `body_follows`).
    let none = body_scan::Kinds::default();
    let (body_kinds, encoded_kinds) = match (early.is_none() && other_body, unreadable) {
        (true, false) => (kinds, none),
        (true, true) => (none, kinds),
        _ => (none, none),
    };
    let signed_url_body = form_body::signed_url_body(&local, head.method, other_body);
    let method_overridden = method_override::in_headers(head.method, headers)
        || (head.method == "POST"
            && method_override::in_text(head.method, query.unwrap_or_default()));
    // Read only when a credential came, or may come in the form body.
    let plain_http = (carries_credentials || body_eligible)
        && service
            .auth
            .https_only
            .is_some_and(|h| !h.is_secure(headers));
    let insecure = carries_credentials && plain_http;
    let header_secret_failed =
        !header_secret::all_satisfied(&service.auth.header_secrets, &normalized_path, headers);
    let debug = is_debug(&service, headers);
    let referrer = match service.policies.has_referrer() {
        true => headers.header("referer"),
        false => None,
    };
    // An access-phase policy: it reads what every header operation and url_rewriting left,
    // as the upstream gets it (found by a review).
    let route = (service.policies.routing()).map(|rules| {
        let final_args = rewritten.then(|| {
            (upstream_query.as_deref())
                .map(QueryArgs::parse)
                .unwrap_or_default()
        });
        let (args, encoded) = match &final_args {
            Some(a) => (a, false),
            None => (&args, normalize_path(path) != path),
        };
        routing::RouteInputs::read(rules, access_headers, args, encoded)
    });
    let bearer = form_body::bearer(&service, headers);
    let header_key = form_body::header_key(&service, headers);
    Ok(PendingRequest {
        route,
        service,
        method: head.method.to_string(),
        normalized_path,
        path: upstream_path,
        query: upstream_query,
        rewritten,
        args,
        found,
        carried_elsewhere,
        local,
        insecure,
        plain_http,
        header_secret_failed,
        public_path,
        debug,
        body_eligible,
        signed_url_body,
        form_body,
        encoded_form,
        bearer,
        header_key,
        method_overridden,
        scan_body,
        encoded_body,
        body_kinds,
        encoded_kinds,
        body_credential_failed: false,
        referrer,
        ip_denied,
        preflight: policies
            .as_ref()
            .is_some_and(|p| p.preflight_after_apicast(head.method)),
        policies,
        early,
        routing_args,
        body_arg_changed: false,
        shared_host: path_routed,
        dotless_authority: without_host_dot(head.authority),
    })
}

/// The kinds of body the content type names, in any spelling of its name (two spellings
/// that disagree: both kinds).
fn body_kinds(content_type: Option<&str>, headers: &dyn HeaderSource) -> body_scan::Kinds {
    let (value, ambiguous) = headers.header_any_spelling("content-type");
    let of = |ct: Option<&str>| ct.map(body_scan::kinds).unwrap_or_default();
    let (first, other) = (of(content_type), of(value.as_deref()));
    body_scan::Kinds {
        multipart: ambiguous || first.multipart || other.multipart,
        json: ambiguous || first.json || other.json,
    }
}

/// Debug headers are on when `X-3scale-Debug` equals the backend authentication value.
fn is_debug(service: &Service, headers: &dyn HeaderSource) -> bool {
    let Some(auth) = &service.backend_auth else {
        return false;
    };
    headers
        .header("x-3scale-debug")
        .is_some_and(|v| constant_time_eq(v.as_bytes(), auth.value.as_bytes()))
}

impl PendingRequest {
    pub fn service(&self) -> &Service {
        &self.service
    }

    /// Whether the body is read for a `_method` in a multipart part or a JSON key.
    pub(super) fn scans_body(&self) -> bool {
        self.scan_body
    }
}
