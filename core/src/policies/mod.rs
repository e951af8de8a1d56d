//! What a service's `headers`, `statuscode_overwrite`, `cors` and `rate_limit_headers` policies
//! do to one request (reference apicast-policies.md §3.1, §3.5, §3.6, §3.15): the request
//! header operations the
//! upstream gets, the CORS preflight answer, and the response phase (APIcast's
//! `header_filter`), which runs in chain order on the upstream's response and on the filter's
//! own replies alike (Envoy runs the filter's response callback on its local replies too).
//! Decided here; the adapter only carries out the operations.

pub mod cors;
#[cfg(test)]
mod cors_tests;
#[cfg(test)]
mod flow_tests;
pub mod rate_limit_headers;
#[cfg(test)]
mod rate_limit_tests;
#[cfg(test)]
mod tests;

use crate::config::policies::configs::{Edit, EditOp};
use crate::config::policies::Policy;
use crate::config::Service;
use crate::pipeline::{is_tollgate_request_header, LocalReply, Outcome};
use crate::request::HeaderSource;
use std::sync::Arc;

/// One header operation, in order: `Set` replaces every value, `Push` adds one, `Delete`
/// removes every value (`add` and `set ""` are resolved into these, or dropped).
pub type HeaderOp = (EditOp, String, String);

/// A service's header, status and CORS policies, as they apply to one request.
#[derive(Debug)]
pub struct RequestPolicies {
    service: Arc<Service>,
    /// The request header operations, in chain order; the first `before` come from policies
    /// before `apicast`, so credential extraction sees them (APIcast's rewrite phase).
    pub request: Vec<HeaderOp>,
    before: usize,
    /// `cors::REQUEST_HEADERS` as the request sent them (with a `cors` policy only).
    cors: [Option<String>; 3],
    /// With a `rate_limit_headers` policy: the `RateLimit-*` headers, once the backend or the
    /// cache gave figures (`rate_limit_headers`).
    rate_limit: Option<Vec<HeaderOp>>,
}

impl RequestPolicies {
    /// `None` when the chain has none of these policies: nothing to read or remember.
    pub fn new(service: &Arc<Service>, headers: &dyn HeaderSource) -> Option<Box<Self>> {
        let chain = &service.policies;
        let mut p = RequestPolicies {
            service: service.clone(),
            request: Vec::new(),
            before: 0,
            cors: Default::default(),
            rate_limit: None,
        };
        let mut any = false;
        for (i, e) in chain.entries.iter().enumerate() {
            match &e.policy {
                Policy::Headers(h) => {
                    resolve(&h.request, &|n| headers.header(n).is_some(), &mut p.request);
                    if chain.before_apicast(i) {
                        p.before = p.request.len();
                    }
                }
                Policy::Cors(_) => {
                    let [o, m, h] = cors::REQUEST_HEADERS;
                    p.cors = [headers.header(o), headers.header(m), headers.header(h)];
                }
                Policy::StatusCodeOverwrite(_) => {}
                Policy::RateLimitHeaders => p.rate_limit = Some(Vec::new()),
                _ => continue,
            }
            any = true;
        }
        any.then(|| Box::new(p))
    }

    /// The request headers as the policies before `apicast` left them: what the 3scale flow
    /// reads (credentials, the debug token, the form content type...).
    pub fn view<'a>(&'a self, headers: &'a dyn HeaderSource) -> Edited<'a> {
        Edited {
            inner: headers,
            ops: &self.request[..self.before],
        }
    }

    /// The request headers as every request operation left them, wherever it stands: what the
    /// access-phase policies (`ip_check`) read, since APIcast runs every `headers` request
    /// operation in the rewrite phase, before them.
    pub fn view_all<'a>(&'a self, headers: &'a dyn HeaderSource) -> Edited<'a> {
        Edited {
            inner: headers,
            ops: &self.request,
        }
    }

    /// The answer to a preflight when a `cors` policy stands before `apicast` (`None`: it is
    /// answered once credentials are found, see [`Self::preflight_after_apicast`]).
    pub fn preflight_before_apicast(service: &Service) -> Option<LocalReply> {
        let chain = &service.policies;
        (chain.entries.iter().enumerate())
            .any(|(i, e)| matches!(e.policy, Policy::Cors(_)) && chain.before_apicast(i))
            .then(preflight)
    }

    /// A preflight the `cors` policy answers once `apicast`'s rewrite phase found credentials
    /// (the policy stands after `apicast`).
    pub fn preflight_after_apicast(&self, method: &str) -> bool {
        let chain = &self.service.policies;
        self.is_preflight(method)
            && (chain.entries.iter().enumerate())
                .any(|(i, e)| matches!(e.policy, Policy::Cors(_)) && !chain.before_apicast(i))
    }

    /// A CORS preflight (with a `cors` policy in the chain).
    pub fn is_preflight(&self, method: &str) -> bool {
        cors::is_preflight(method, &self.cors)
    }

    /// Whether a request operation sets or deletes `name` (in any spelling): a request trailer
    /// of that name is removed, since upstreams that merge trailers into the headers (Apache
    /// httpd's `MergeTrailers`) would read the client's value past the operator's (found by an
    /// audit, 2026-12-07).
    pub fn replaces_request_header(&self, name: &[u8]) -> bool {
        (self.service.policies.entries.iter()).any(|e| match &e.policy {
            Policy::Headers(h) => h.request.iter().any(|edit| {
                matches!(edit.op, EditOp::Set | EditOp::Delete)
                    && crate::request::same_header_spelling(edit.name.as_bytes(), name)
            }),
            _ => false,
        })
    }

    /// The response phase: the new status, if it changes, and the header operations, in chain
    /// order. `present`: whether the response has a header before them. The `RateLimit-*`
    /// headers come first, wherever the policy stands: APIcast sets them in its content
    /// phase, before any policy's `header_filter`.
    pub fn response(
        &self,
        mut status: Option<u16>,
        present: &dyn Fn(&str) -> bool,
    ) -> (Option<u16>, Vec<HeaderOp>) {
        let mut ops = self.rate_limit.clone().unwrap_or_default();
        let mut changed = None;
        for e in &self.service.policies.entries {
            match &e.policy {
                Policy::Headers(h) => resolve(&h.response, present, &mut ops),
                Policy::Cors(c) => cors::response_headers(c, &self.cors, &mut ops),
                Policy::StatusCodeOverwrite(pairs) => {
                    // A later pair for the same status wins.
                    let to = pairs.iter().rev().find(|(from, _)| Some(*from) == status);
                    if let Some(&(_, to)) = to {
                        (status, changed) = (Some(to), Some(to));
                    }
                }
                _ => {}
            }
        }
        (changed, ops)
    }
}

/// What makes a header operation unusable, and at which key: a name that is not an HTTP token
/// (a pseudo-header such as `:path`), a value with a control byte but tab (Envoy sends both as they
/// are), or a request operation on a header Tollgate strips or sets itself (the secret token,
/// the debug token, the service id) or on `Host` (the route's authority), whatever the client
/// sends.
pub fn header_problem(e: &Edit, request: bool) -> Option<(&'static str, &'static str)> {
    let name = e.name.as_bytes();
    if crate::config::header_values::name_problem(&e.name).is_some() {
        Some(("header", "not a header name"))
    } else if request && (is_tollgate_request_header(name) || e.name.eq_ignore_ascii_case("host")) {
        Some((
            "header",
            "set or removed by Tollgate itself (secret token, X-3scale-Debug, X-3scale-Service-Id, Host)",
        ))
    } else if is_one_of(&FRAMING_HEADERS, name) {
        Some((
            "header",
            "frames the message (Content-Length, Transfer-Encoding): Envoy sends it as set, so the body would be read as another request or response",
        ))
    } else if request && is_one_of(&HOP_BY_HOP_HEADERS, name) {
        Some((
            "header",
            "hop-by-hop (Connection, Keep-Alive, Proxy-Connection, TE, Upgrade): Envoy removes the client's before the filter and sends one set here as set",
        ))
    } else {
        crate::config::header_values::value_problem(&e.value).map(|why| ("value", why))
    }
}

/// `Content-Length` or `Transfer-Encoding`, in any spelling (a `set` or `delete` of
/// `Content_Length` removes the real one too). Envoy's HTTP/1 codecs frame the message by the
/// headers as set: `Content-Length: 0` on a request with a body sent the body upstream as a
/// second request, never authorized (found by a red team, 2026-12-07); nginx sets both itself.
const FRAMING_HEADERS: [&str; 2] = ["Content-Length", "Transfer-Encoding"];

/// A request's hop-by-hop headers. Envoy strips the client's before the filter, not one a
/// policy sets: `Connection: X-3scale-Proxy-Secret-Token` had a hop before the upstream drop the
/// header named, and `Upgrade: websocket` with `Connection: upgrade` relayed the upstream's 101
/// to a client that asked no upgrade, a POST's body lost (found by a red team, 2026-12-07).
/// nginx (APIcast) replaces or drops all but `Proxy-Connection`.
const HOP_BY_HOP_HEADERS: [&str; 5] = [
    "Connection",
    "Keep-Alive",
    "Proxy-Connection",
    "TE",
    "Upgrade",
];

/// `name` is one of `headers`, in any spelling. Read at configuration only: one copy, not one
/// inlined per list (0.8 KB).
#[inline(never)]
fn is_one_of(headers: &[&str], name: &[u8]) -> bool {
    (headers.iter()).any(|h| crate::request::same_header_spelling(h.as_bytes(), name))
}

/// The answer to a CORS preflight: 204, its headers from the response phase.
pub fn preflight() -> LocalReply {
    LocalReply {
        status: 204,
        headers: Vec::new(),
        body: String::new(),
        outcome: Outcome::Preflight,
    }
}

/// Resolves `edits` against the headers present before them and the operations so far:
/// `add` to a header absent at that point does nothing, `set ""` deletes. APIcast reads the
/// request's headers once, before its operations; Tollgate applies them in order, as
/// APIcast does on responses (the same unless two operations name one header).
fn resolve(edits: &[Edit], present: &dyn Fn(&str) -> bool, out: &mut Vec<HeaderOp>) {
    for e in edits {
        let op = match e.op {
            EditOp::Add if !exists(&e.name, out, present) => continue,
            EditOp::Add => EditOp::Push,
            EditOp::Set if e.value.is_empty() => EditOp::Delete,
            op => op,
        };
        out.push((op, e.name.clone(), e.value.clone()));
    }
}

/// Whether `name` exists after `ops`: the last operation on it says, else `present`.
fn exists(name: &str, ops: &[HeaderOp], present: &dyn Fn(&str) -> bool) -> bool {
    match ops
        .iter()
        .rev()
        .find(|(_, n, _)| n.eq_ignore_ascii_case(name))
    {
        Some((op, _, _)) => *op != EditOp::Delete,
        None => present(name),
    }
}

/// Whether `name` is another spelling (`x_consumer_tier`) of a header that a request
/// operation sets or deletes (`X-Consumer-Tier`): the forward removes it, as CGI-style
/// upstreams would read it as that header, past the operator's value.
pub fn is_other_spelling_of_replaced(ops: &[HeaderOp], name: &[u8]) -> bool {
    ops.iter().any(|(op, replaced, _)| {
        matches!(op, EditOp::Set | EditOp::Delete)
            && crate::request::same_header_spelling(replaced.as_bytes(), name)
            && !replaced.as_bytes().eq_ignore_ascii_case(name)
    })
}

/// Request headers seen through header operations (the first value of each, as
/// [`HeaderSource::header`] gives it).
pub struct Edited<'a> {
    inner: &'a dyn HeaderSource,
    ops: &'a [HeaderOp],
}

/// An edited view that reads spellings one by one (the trait's default).
struct Spellings<'a, 'b>(&'a Edited<'b>);

impl HeaderSource for Spellings<'_, '_> {
    fn header(&self, name: &str) -> Option<String> {
        self.0.header(name)
    }

    fn header_ambiguous(&self, name: &str) -> bool {
        self.0.header_ambiguous(name)
    }
}

impl HeaderSource for Edited<'_> {
    fn header(&self, name: &str) -> Option<String> {
        let mut value = self.inner.header(name);
        for (op, n, v) in self.ops {
            if n.eq_ignore_ascii_case(name) {
                value = match op {
                    EditOp::Delete => None,
                    EditOp::Push => value.or_else(|| Some(v.clone())),
                    _ => Some(v.clone()),
                };
            }
        }
        value
    }

    /// The request's own reading, unless an operation names a spelling of `name`: then the
    /// spellings are read through the operations.
    fn header_any_spelling(&self, name: &str) -> (Option<String>, bool) {
        let edited = (self.ops.iter())
            .any(|(_, n, _)| crate::request::same_header_spelling(n.as_bytes(), name.as_bytes()));
        match edited {
            false => self.inner.header_any_spelling(name),
            true => {
                let view: &dyn HeaderSource = &Spellings(self);
                view.header_any_spelling(name)
            }
        }
    }

    /// A `set` or a deletion leaves one value or none; a `push` (or an `add` carried out)
    /// beside a different value leaves two, of which the decision reads the first and an
    /// upstream may read the other (a client's `user_key` beside the operator's pushed one was
    /// authorized as the client's: found by a red team, 2026-12-07).
    fn header_ambiguous(&self, name: &str) -> bool {
        let mut ambiguous = self.inner.header_ambiguous(name);
        let mut value = self.inner.header(name);
        for (op, _, v) in (self.ops.iter()).filter(|(_, n, _)| n.eq_ignore_ascii_case(name)) {
            match op {
                EditOp::Set | EditOp::Delete => {
                    ambiguous = false;
                    value = (*op == EditOp::Set).then(|| v.clone());
                }
                _ => {
                    ambiguous |= value.as_ref().is_some_and(|first| first != v);
                    value.get_or_insert_with(|| v.clone());
                }
            }
        }
        ambiguous
    }

    #[cfg(feature = "jwt")]
    fn header_joined(&self, name: &str) -> Option<String> {
        self.inner.header_joined(name)
    }

    /// The request as it arrived, as `header_joined` (the default read one spelling only).
    fn any_value_any_spelling(&self, name: &str, found: &mut dyn FnMut(&str) -> bool) -> bool {
        self.inner.any_value_any_spelling(name, found)
    }

    fn is_tls(&self) -> bool {
        self.inner.is_tls()
    }

    #[cfg(feature = "jwt")]
    fn dynamic_metadata(&self) -> Option<Vec<u8>> {
        self.inner.dynamic_metadata()
    }

    // Every method the trait has, or the view answers with its default (`ip_check` found no
    // address and denied everyone).
    fn source_address(&self) -> Option<String> {
        self.inner.source_address()
    }

    fn failed(&self) -> bool {
        self.inner.failed()
    }
}
