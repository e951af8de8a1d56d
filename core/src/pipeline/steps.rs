//! What the core asks the adapter to carry out, and what it needs from the host to decide.
//!
//! The core never touches Envoy: every event of a request returns [`Steps`], which the
//! adapter carries out in order through fallible host calls. A step that fails is reported
//! back ([`super::Worker::on_host_error`]); a call the host refuses to send is reported back
//! too ([`super::Worker::on_call_refused`]), and the core decides what follows.

use super::reply::LocalReply;
use crate::backend::BackendCall;
use crate::cache::{EntryKey, ReportBatch, Ticket};
use crate::policies::HeaderOp;
use std::sync::Arc;

/// The id Envoy gives a request (its HTTP context id).
pub type RequestId = u32;

/// One thing the adapter must do.
#[derive(Debug)]
pub enum Step {
    /// Answer `request` locally (on failure, reset it). The request is complete.
    Reply {
        request: RequestId,
        reply: LocalReply,
    },
    /// Remove every spelling of the stripped headers (`is_stripped_request_header`), carry
    /// out the header policies' operations in order, set these headers (pseudo-headers
    /// included, last: Tollgate's own win), and let `request` go upstream. `resume`: the
    /// request is paused by an earlier callback and must be resumed.
    /// `public`: let through without credentials (`tollgate.requests_public`), else authorized.
    Forward {
        request: RequestId,
        edit_request_headers: Vec<HeaderOp>,
        set_request_headers: Vec<(String, String)>,
        /// Set last, as `X-3scale-proxy-secret-token` ([`SECRET_TOKEN_HEADER`]).
        ///
        /// [`SECRET_TOKEN_HEADER`]: super::SECRET_TOKEN_HEADER
        secret_token: Option<Arc<str>>,
        resume: bool,
        public: bool,
        /// Count the outcome (authorized or public) now. `false`: a body is still read for a
        /// `_method` that would refuse the request after all; the worker counts it when the
        /// body ends ([`Tally::authorized`], [`Tally::public`]), so one request is one outcome.
        counted: bool,
    },
    /// Read the first `size` bytes of the body Envoy buffered for `request`, and hand them to
    /// [`super::Worker::on_form_body`].
    ReadBody { request: RequestId, size: usize },
    /// Read bytes `from..size` of the body Envoy holds for `request` (the chunk just arrived,
    /// or what arrived since the last read while the request is held) and hand them to
    /// [`super::Worker::on_body_chunk`]; `end`: the body ends with them.
    ScanBody {
        request: RequestId,
        from: usize,
        size: usize,
        end: bool,
    },
    /// Send `call` to the backend. Hand the host's token to [`super::Worker::on_call_sent`]
    /// with `purpose`, or the purpose to [`super::Worker::on_call_refused`].
    Call {
        call: BackendCall,
        purpose: CallPurpose,
    },
    /// Tell every worker (this one included) that `key` has a new answer: each then calls
    /// [`super::Worker::on_wake`].
    Notify(EntryKey),
}

/// What the steps of one event are, and what the Envoy callback in progress returns.
#[derive(Debug, Default)]
pub struct Steps {
    /// The callback in progress lets the request (or its body, or trailers) go on. It is also
    /// true after a `Forward` of that request with `resume: false`, if the forward succeeds.
    pub proceed: bool,
    pub list: Vec<Step>,
}

impl Steps {
    pub(super) fn one(step: Step) -> Steps {
        Steps {
            proceed: false,
            list: vec![step],
        }
    }

    /// Nothing to do; the callback holds the request.
    pub(super) fn hold() -> Steps {
        Steps::default()
    }

    /// Nothing to do; the callback lets the request go on.
    pub(super) fn proceed() -> Steps {
        Steps {
            proceed: true,
            list: Vec::new(),
        }
    }

    pub(super) fn extend(&mut self, more: Steps) {
        self.proceed |= more.proceed;
        self.list.extend(more.list);
    }
}

/// Why a backend call is made; the core gets it back with the answer.
#[derive(Debug)]
pub enum CallPurpose {
    /// Authorize and report `request`: authrep mode, and in batching mode a request that no
    /// cache slot can hold.
    Authrep { request: RequestId, resume: bool },
    /// Batching mode: ask for `ticket`'s entry (a cached one), for `requester` and every
    /// request waiting on the key; `resume`: the requester was paused by an earlier callback.
    Authorize {
        ticket: Ticket,
        requester: RequestId,
        resume: bool,
    },
    /// Batching mode: report these calls, sent at this time (ms since the epoch).
    Report(ReportBatch, u64),
}

/// The host's clock. `None`: the clock could not be read, and whatever needed it fails closed.
pub trait Clock {
    fn now_ms(&self) -> Option<u64>;
}

/// Counts the adapter moves to Envoy's counters after each event ([`super::Worker::take_tally`]).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Tally {
    /// No answer, a timeout, a 5xx, or a call the host refused to send.
    pub backend_errors: u64,
    /// Batching: requests decided from the cache, and requests that waited for the backend.
    /// Moved here on each tick (a host call per request would cost the cached path).
    pub cache_hits: u64,
    pub cache_misses: u64,
    pub report_failures: u64,
    /// Calls that will never be reported (the pending bound, a refused report, a removed service).
    pub reports_dropped: u64,
    /// Tokens refused with no signature check: the worker's budget of failed checks was spent
    /// (a forged-token flood).
    pub jwt_verify_budget_exhausted: u64,
    /// Batching: calls waiting in shared data for the next report, when it changed.
    pub usage_pending: Option<u64>,
    /// Requests forwarded before their body was read for a `_method`, counted once it ended
    /// without one (a `Forward` with `counted: false`).
    pub authorized: u64,
    pub public: u64,
}
