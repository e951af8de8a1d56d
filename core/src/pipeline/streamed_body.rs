//! Multipart and JSON bodies, read for a `_method` (a `POST`) and credentials (`body_fields`)
//! as they stream (`crate::body_scan`). Such a body is never held for the verdict: each chunk
//! is read in the body callback that brings it, before Envoy passes it on, whatever the
//! request's state (waiting for the backend, or forwarded from the cache at the headers). A
//! `_method` found answers 400 then, a credential that is not the one checked the service's
//! auth failed, a rule arg with another value 400 ambiguous argument: the upstream, which has not had the whole body, is reset by Envoy's local
//! reply.

use super::flow::{held, State};
use super::reply::{LocalReply, Outcome};
use super::steps::{RequestId, Step, Steps};
use super::{PendingRequest, Worker};
use crate::body_scan::{BodyScan, Finding};
use crate::config::Service;
use std::sync::Arc;

/// A body being read.
pub(super) struct BodyWatch {
    request: RequestId,
    scan: BodyScan,
    /// For its auth-failed answer.
    service: Arc<Service>,
    /// Bytes of Envoy's buffer read already: while the request is held Envoy's buffer keeps
    /// every chunk, so the next read starts after them; once it goes on, each callback's buffer
    /// is its chunk alone.
    read: usize,
    /// Forwarded already (`Some(public)`): its outcome is counted when the body ends
    /// without a `_method`, never as well as the 400 one would bring.
    forwarded: Option<bool>,
}

impl Worker {
    /// Starts reading the body of a request whose headers did not end the stream.
    pub(super) fn watch_body(&mut self, request: RequestId, pending: &PendingRequest) {
        if !(pending.scans_body() || pending.compares_body()) {
            return;
        }
        let wanted = pending.body_wanted();
        if !wanted.is_empty() {
            self.bodies.push(BodyWatch {
                request,
                scan: BodyScan::wanting(wanted),
                service: Arc::clone(&pending.service),
                read: 0,
                forwarded: None,
            });
        }
    }

    /// The step that reads a body callback's new bytes, for a body being read.
    pub(super) fn body_step(&self, request: RequestId, size: usize, end: bool) -> Option<Step> {
        let state = self.flows.get(request);
        if matches!(state, Some(State::Complete)) {
            return None;
        }
        let watch = self.bodies.iter().find(|w| w.request == request)?;
        let from = match state.is_some_and(State::holds_request) {
            true => watch.read.min(size),
            false => 0,
        };
        Some(Step::ScanBody {
            request,
            from,
            size,
            end,
        })
    }

    /// The bytes asked for by `Step::ScanBody` (`size`: Envoy's buffer, read up to its end).
    pub fn on_body_chunk(
        &mut self,
        request: RequestId,
        size: usize,
        chunk: &[u8],
        end: bool,
    ) -> Steps {
        let Some(i) = self.bodies.iter().position(|w| w.request == request) else {
            return held(self.flows.get(request));
        };
        let holds = self.flows.get(request).is_some_and(State::holds_request);
        let Some(watch) = self.bodies.get_mut(i) else {
            return held(self.flows.get(request));
        };
        let found = watch.scan.feed(chunk) || (end && watch.scan.finish());
        watch.read = if holds { size } else { 0 };
        if found || end {
            let watch = self.bodies.swap_remove(i);
            if found {
                return self.refuse_body(request, &watch);
            }
            self.count_forward(&watch);
        }
        held(self.flows.get(request))
    }

    /// A forward of a request whose body is being read: counted when the body ends
    /// (`true`), or now.
    pub(super) fn defer_count(&mut self, request: RequestId, public: bool) -> bool {
        let watch = self.bodies.iter_mut().find(|w| w.request == request);
        watch.map(|w| w.forwarded = Some(public)).is_some()
    }

    /// The request is answered here after all (a `_method`, a host call that failed): its
    /// forward is not counted, the answer is.
    pub(super) fn uncount_forward(&mut self, request: RequestId) {
        for watch in self.bodies.iter_mut().filter(|w| w.request == request) {
            watch.forwarded = None;
        }
    }

    fn count_forward(&mut self, watch: &BodyWatch) {
        let counter = match watch.forwarded {
            Some(true) => &mut self.tally.public,
            Some(false) => &mut self.tally.authorized,
            None => return,
        };
        *counter = counter.saturating_add(1);
    }

    /// Trailers end the body (HTTP/2 and chunked bodies with trailers never say `end`).
    pub(super) fn body_ends(&mut self, request: RequestId) -> Option<Steps> {
        let i = self.bodies.iter().position(|w| w.request == request)?;
        let mut watch = self.bodies.swap_remove(i);
        let answered = matches!(self.flows.get(request), Some(State::Complete));
        if watch.scan.finish() && !answered {
            return Some(self.refuse_body(request, &watch));
        }
        if !answered {
            self.count_forward(&watch);
        }
        None
    }

    /// Refuses a request for its body. One forwarded from the cache is not reported, and a
    /// call its budget leased goes back: the upstream never had the whole body (until the
    /// thirty-fourth session it was metered, and spent the application's limit).
    fn refuse_body(&mut self, request: RequestId, watch: &BodyWatch) -> Steps {
        if let Some((key, leased, _)) = self.flows.take_report(request) {
            if leased {
                let slots = self.config.backend.cache_max_entries;
                self.cache.unlease(&*self.store, &key, slots);
            }
        }
        self.reply(request, watch.refusal())
    }

    /// Envoy is done with the request (a forwarded one whose body never ended is counted).
    pub(super) fn forget_body(&mut self, request: RequestId) {
        while let Some(i) = self.bodies.iter().position(|w| w.request == request) {
            let watch = self.bodies.swap_remove(i);
            self.count_forward(&watch);
        }
    }

    pub(super) fn watches_body(&self, request: RequestId) -> bool {
        self.bodies.iter().any(|w| w.request == request)
    }
}

impl BodyWatch {
    /// The answer to what the body held.
    fn refusal(&self) -> LocalReply {
        match self.scan.finding() {
            Some(Finding::Credential) => {
                LocalReply::error(&self.service.errors.auth_failed, Outcome::AuthFailed)
            }
            Some(Finding::Argument) => LocalReply::ambiguous_arg(),
            _ => LocalReply::method_override(),
        }
    }
}
