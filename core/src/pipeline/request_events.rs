//! A request's events from Envoy, from its headers to its end: the headers start the
//! pipeline, the body and trailers feed a request held for its form body, a host failure
//! fails it closed, the response counts its call, and the end forgets it (returning the
//! cache asks that went with it, for the other workers). What follows from them (asking the
//! backend or the cache, forwarding, replying) is in `worker.rs`.

use super::flow::{held, State};
use super::method_override;
use super::reply::LocalReply;
use super::start;
use super::steps::{CallPurpose, RequestId, Step, Steps};
use super::worker::{RequestLine, Worker};
use crate::cache::EntryKey;
use crate::policies::RequestPolicies;
use crate::request::{same_header_spelling, HeaderSource, RequestHead};
use log::error;

/// How long a request held for its body waits for its first byte before the filter takes it
/// that this Envoy delivers none (see [`Worker::refuse_undelivered_bodies`]).
pub(super) const UNDELIVERED_BODY_MS: u64 = 5_000;

impl Worker {
    /// The request's headers: start the pipeline. Only the headers the core asks for are read.
    pub fn on_request_headers(
        &mut self,
        request: RequestId,
        head: RequestLine,
        headers: &dyn HeaderSource,
        end_of_stream: bool,
    ) -> Steps {
        if !self.config_loaded {
            return self.reply(request, LocalReply::config_not_loaded());
        }
        let Some(now_ms) = self.clock.now_ms() else {
            return self.fail(request);
        };
        let head = RequestHead {
            method: head.method,
            authority: head.authority,
            path: head.path,
            now_s: now_ms / 1000,
        };
        let begun = start(&self.config, head, headers).map(|mut pending| {
            pending.body_follows(!end_of_stream);
            pending
        });
        if headers.failed() {
            // Whatever was decided, it was decided on a header that could not be read.
            return self.fail(request);
        }
        // Every reply from here on, the refusals at the head included, gets the response
        // phase of a known service (found by an audit, 2026-12-06: url_rewriting's and an
        // unread body's 400s went without CORS headers and status overwrite).
        let mut pending = match begun {
            Err(refused) => {
                self.keep_policies(request, refused.policies);
                return self.reply(request, refused.reply);
            }
            Ok(pending) => pending,
        };
        self.keep_policies(request, pending.policies.take());
        match pending {
            // Envoy without `allow_on_headers_stop_iteration` gives a filter holding the
            // headers no body (found by an audit, 2026-12-06: form `POST`s hung in Istio).
            pending
                if pending.wants_body() && !end_of_stream && !self.config.read_request_bodies =>
            {
                self.reply(request, LocalReply::unread_body())
            }
            pending if pending.wants_body() && !end_of_stream => {
                self.flows.set(
                    request,
                    State::ReadingBody {
                        request: Box::new(pending),
                        buffered: 0,
                        since_ms: now_ms,
                    },
                );
                Steps::hold()
            }
            pending => {
                if !end_of_stream {
                    self.watch_body(request, &pending);
                }
                self.authorize(request, pending, false, Some(now_ms))
            }
        }
    }

    /// A part of the body arrived (`size`: Envoy's buffer, the whole body so far while the
    /// request is held, else this chunk).
    pub fn on_request_body(&mut self, request: RequestId, size: usize, end: bool) -> Steps {
        self.note_body_delivery(request);
        if let Some(step) = self.body_step(request, size, end) {
            return Steps::one(step);
        }
        match self.flows.get_mut(request) {
            Some(State::ReadingBody { buffered, .. }) if !end => {
                *buffered = size;
                Steps::hold()
            }
            Some(State::ReadingBody { .. }) => Steps::one(Step::ReadBody { request, size }),
            other => held(other.map(|s| &*s)),
        }
    }

    /// Trailers end a body that never had `end_of_stream` (HTTP/2, chunked with trailers).
    /// The adapter strips spoofed trailers before this.
    pub fn on_request_trailers(&mut self, request: RequestId) -> Steps {
        self.note_body_delivery(request);
        if let Some(steps) = self.body_ends(request) {
            return steps;
        }
        match self.flows.get(request) {
            Some(State::ReadingBody { buffered, .. }) => Steps::one(Step::ReadBody {
                request,
                size: *buffered,
            }),
            other => held(other),
        }
    }

    /// A body callback while the headers are held shows that this Envoy delivers bodies to a
    /// filter holding them (`allow_on_headers_stop_iteration`).
    fn note_body_delivery(&mut self, request: RequestId) {
        if self.flows.get(request).is_some_and(State::holds_headers) {
            self.bodies_delivered = true;
        }
    }

    /// The timer: `read_request_bodies: true` under an Envoy that delivers no body to a
    /// filter holding the headers (Istio's `WasmPlugin`, Envoy Gateway) would hold a form
    /// `POST` for good. Until a body has come while headers were held, a request held that
    /// long without a byte of its body gets the 400 `read_request_bodies: false` gives at once.
    pub(super) fn refuse_undelivered_bodies(&mut self, now_ms: u64) -> Steps {
        let mut steps = Steps::hold();
        if self.bodies_delivered {
            return steps;
        }
        let since_ms = now_ms.saturating_sub(UNDELIVERED_BODY_MS);
        for request in self.flows.bodiless_since(since_ms) {
            if !self.undelivered_body_logged {
                self.undelivered_body_logged = true;
                error!(
                    "a request held for its body got none in {} s: this Envoy does not deliver \
                     a body to a filter holding the headers (no allow_on_headers_stop_iteration: \
                     Istio's WasmPlugin, Envoy Gateway); answered 400: set \
                     read_request_bodies: false to refuse such requests at once",
                    UNDELIVERED_BODY_MS / 1000
                );
            }
            (steps.list).extend(self.reply(request, LocalReply::unread_body()).list);
        }
        steps
    }

    /// The form body asked for by `Step::ReadBody`: it may hold the credentials, and its args
    /// win for the mapping rules.
    pub fn on_form_body(&mut self, request: RequestId, body: &[u8]) -> Steps {
        match self.flows.take(request) {
            Some(State::ReadingBody {
                request: mut pending,
                ..
            }) => {
                pending.add_form_body(body);
                self.authorize(request, *pending, false, None)
            }
            other => self.put_back(request, other),
        }
    }

    /// A host call for this request failed (or the request's state could not be reached): it
    /// fails closed with an empty 500, unless it was already answered.
    pub fn on_host_error(&mut self, request: RequestId) -> Steps {
        match self.flows.get(request) {
            Some(State::Complete) => Steps::hold(),
            _ => self.fail(request),
        }
    }

    /// Envoy is done with the request (completed, or reset by the client): its state goes,
    /// and so do the calls its context sent (Envoy cancels them: no answer will come). A call
    /// whose response never came (the client went first) is counted without a code.
    ///
    /// Returns the cache keys whose `authorize` went with it: the host must tell every worker
    /// (`Step::Notify`), so that the requests waiting on them ask again at once instead of
    /// waiting out the ask (found 2026-12-05: a client's HTTP/2 reset held every request for
    /// the same app for `timeout_ms` + 1 s).
    pub fn on_request_done(&mut self, request: RequestId) -> Vec<EntryKey> {
        self.on_response(request, || None);
        self.flows.take(request);
        self.forget_body(request);
        if let Some(i) = self.policies.iter().position(|(id, _)| *id == request) {
            self.policies.swap_remove(i);
        }
        let mut abandoned = Vec::new();
        self.calls.retain(|(_, purpose, sent_from)| {
            if *sent_from != request {
                return true;
            }
            if let CallPurpose::Authorize { ticket, .. } = purpose {
                abandoned.push(ticket.clone());
            }
            false
        });
        (abandoned.into_iter())
            .map(|ticket| {
                self.cache.abandon(&*self.store, &ticket);
                ticket.key
            })
            .collect()
    }

    /// The headers to add to the upstream's response (debug headers), if any.
    pub fn response_headers(&self, request: RequestId) -> &[(String, String)] {
        match self.flows.get(request) {
            Some(State::Forwarded { headers, .. }) => headers,
            _ => &[],
        }
    }

    /// The response's headers are going to the client: a call waiting for its status
    /// (`backend.report_response_codes` with batching) is counted with it, as is one whose
    /// body was read as it streamed. `status` is read only then; `None` (unreadable) counts
    /// it without a code.
    pub fn on_response(&mut self, request: RequestId, status: fn() -> Option<u16>) {
        if let Some(call) = self.flows.take_report(request) {
            self.reporting.count_answered(call, status);
        }
    }

    /// The chain's response phase for a request (forwarded or answered locally: Envoy runs
    /// the response callback on the filter's own replies too), if its service has one.
    pub fn response_policies(&self, request: RequestId) -> Option<&RequestPolicies> {
        let found = self.policies.iter().find(|(id, _)| *id == request);
        found.map(|(_, p)| &**p)
    }

    /// Whether a request trailer `name` (any spelling) is a header some service's decision
    /// reads: a 3scale credential, a local API key's header, `Authorization`, the header
    /// `jwt_authn` reads tokens from, a method override, a forwarded host. Envoy forwards
    /// request trailers unread, and an upstream that merges them into the headers (Apache
    /// httpd's `MergeTrailers`) would read the client's trailer as the header the decision did
    /// not see (found in the thirty-first session; the `jwt_authn` header and forwarded hosts
    /// in the thirty-third), so it is removed. Every service's names, not the request's:
    /// trailers are rare, and a trailer named as another service's credential is no loss.
    pub fn reads_request_header(&self, name: &[u8]) -> bool {
        let same = |n: &str| same_header_spelling(n.as_bytes(), name);
        // Besides credentials: the host, the body's type and encoding, the client address
        // (`ip_check`) and the referrer (`3scale_referrer`).
        let fixed = [
            "authorization",
            "x-forwarded-host",
            "forwarded",
            "content-type",
            "content-encoding",
            "x-forwarded-for",
            "x-real-ip",
            "referer",
        ]
        .iter();
        fixed.chain(&method_override::HEADERS).any(|n| same(n))
            || self.config.services.iter().any(|s| {
                let n = &s.names;
                let key_header = (s.auth.api_keys.as_ref()).and_then(|k| k.header.as_deref());
                #[cfg(feature = "jwt")]
                let token_header = (s.auth.jwt.as_ref())
                    .and_then(|j| j.from_jwt_authn.as_ref())
                    .map(|source| source.header.as_str());
                #[cfg(not(feature = "jwt"))]
                let token_header: Option<&str> = None;
                same(&n.user_key)
                    || same(&n.app_id)
                    || same(&n.app_key)
                    || key_header.is_some_and(same)
                    || token_header.is_some_and(same)
            })
    }
}
