//! One HTTP request: runs the core pipeline, pausing for the form body and the backend.
//!
//! `TollgateHttp` is what Envoy calls; the request's state lives in a `Flow` behind an
//! `Rc<RefCell>` so that the worker can resume a request that waited for another request's
//! backend answer (batching mode). The flow acts through `host`, on Envoy's effective context.
//!
//! A host call that fails while the request is undecided fails it closed: a local 500, or a
//! reset when no reply can be sent (see [`Flow::fail`]).

use crate::headers::{backend_answer, RequestHeaders};
use crate::host::{self, now_ms, HostError, HostResult};
use crate::metrics::BackendCallKind;
use crate::worker::{Waiter, Worker};
use log::{debug, warn};
use proxy_wasm::traits::{Context, HttpContext};
use proxy_wasm::types::Action;
use std::cell::RefCell;
use std::rc::Rc;
use tollgate_core::backend::{BackendAnswer, BackendCall};
use tollgate_core::cache::{EntryKey, Lookup, Ticket};
use tollgate_core::pipeline::{
    self, is_stripped_request_header, Authorization, Begin, Forward, LocalReply, Next, Outcome,
    PendingRequest, Verdict,
};
use tollgate_core::request::{HeaderSource, RequestHead};

enum State {
    Start,
    /// Paused until the form body has arrived (`buffered`: its bytes so far, held by Envoy).
    ReadingBody {
        request: Box<PendingRequest>,
        buffered: usize,
    },
    /// Authrep mode: paused until the backend answers.
    Authorizing(Box<Authorization>),
    /// Batching mode: paused until the cache can decide (`waited`: the request had to wait).
    Waiting {
        authorization: Box<Authorization>,
        key: EntryKey,
        waited: bool,
    },
    /// Forwarded; these headers go on the upstream's response (debug headers).
    Forwarded(Vec<(String, String)>),
    Done,
}

/// What the flow needs from the worker next.
pub enum Step {
    Continue,
    Pause,
    /// Wait for the answer another request is getting for this key.
    Wait(EntryKey),
    /// Ask the backend, then wait for the answer.
    Authorize(Ticket, BackendCall),
}

pub struct Flow {
    state: State,
}

pub struct TollgateHttp {
    id: u32,
    worker: Rc<Worker>,
    flow: Rc<RefCell<Flow>>,
}

impl TollgateHttp {
    pub fn new(id: u32, worker: Rc<Worker>) -> TollgateHttp {
        TollgateHttp {
            id,
            worker,
            flow: Rc::new(RefCell::new(Flow {
                state: State::Start,
            })),
        }
    }

    /// Runs `f` on the flow, then lets the worker carry out the step it returned.
    fn run(&self, f: impl FnOnce(&mut Flow, &Worker) -> Step) -> Action {
        let step = match self.flow.try_borrow_mut() {
            Ok(mut flow) => f(&mut flow, &self.worker),
            Err(_) => {
                // Cannot happen (one thread, no re-entry); if it did, fail closed.
                log::error!("tollgate: request state busy; answering 500");
                answer_500();
                return Action::Pause;
            }
        };
        let waiter = Waiter {
            id: self.id,
            flow: Rc::downgrade(&self.flow),
        };
        self.worker.drive(&waiter, step, self.id, false)
    }
}

/// Answers the current request with an empty 500, or resets it if even that is refused.
fn answer_500() {
    if host::send_response(500, &[], &[]).is_err() {
        let _ = host::reset_request();
    }
}

/// Removes every header (or trailer) that reads as one the client must not send upstream.
fn strip(names: Vec<Vec<u8>>, remove: fn(&[u8]) -> HostResult<()>) -> HostResult<()> {
    for name in names {
        if is_stripped_request_header(&name) {
            remove(&name)?;
        }
    }
    Ok(())
}

impl Flow {
    /// A host call failed before the request was decided (or while forwarding it): the
    /// request fails closed, and is done.
    pub fn fail(&mut self, error: HostError) -> Step {
        warn!("tollgate: answering 500: host call {} failed", error.call);
        self.state = State::Done;
        answer_500();
        Step::Pause
    }

    fn reply(&mut self, worker: &Worker, reply: LocalReply) -> Step {
        worker.metrics.outcome(reply.outcome);
        let headers: Vec<(&str, &str)> = reply
            .headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        self.state = State::Done;
        if host::send_response(reply.status, &headers, reply.body.as_bytes()).is_err() {
            // Nothing else can be sent: the request must not stay paused forever.
            let _ = host::reset_request();
        }
        Step::Pause
    }

    /// Lets the request through with the verdict's header changes. `resume`: the request is
    /// paused and must be resumed.
    fn forward(&mut self, worker: &Worker, forward: Forward, resume: bool) -> Step {
        // One host call for the names (every spelling must go), one per header removed.
        // Trailers that already arrived were cleaned in `on_request_trailers`.
        let prepared = host::request_header_names()
            .and_then(|names| strip(names, host::remove_request_header))
            .and_then(|()| {
                forward
                    .set_request_headers
                    .iter()
                    .try_for_each(|(name, value)| host::set_request_header(name, value))
            });
        if let Err(e) = prepared {
            // A spoofed secret token may still be there, or ours missing: never forward.
            return self.fail(e);
        }
        self.state = State::Forwarded(forward.response_headers);
        if resume {
            if let Err(e) = host::resume_request() {
                return self.fail(e);
            }
        }
        worker.metrics.outcome(Outcome::Authorized);
        Step::Continue
    }

    fn verdict(&mut self, worker: &Worker, verdict: Verdict, resume: bool) -> Step {
        match verdict {
            Verdict::Reply(reply) => self.reply(worker, reply),
            Verdict::Forward(forward) => self.forward(worker, forward, resume),
        }
    }

    fn on_request_headers(&mut self, worker: &Worker, end_of_stream: bool) -> Step {
        let headers = RequestHeaders::default();
        let pseudo = |name| headers.header(name).unwrap_or_default();
        let (method, authority, path) = (pseudo(":method"), pseudo(":authority"), pseudo(":path"));
        let now = match now_ms() {
            Ok(now) => now,
            Err(e) => return self.fail(e),
        };
        let head = RequestHead {
            method: &method,
            authority: &authority,
            path: &path,
            now: now / 1000,
        };
        let begin = pipeline::begin(&worker.config, head, &headers);
        if let Some(e) = headers.failed() {
            // Whatever the core decided, it decided on a header it could not read.
            return self.fail(e);
        }
        match begin {
            Begin::Reply(reply) => self.reply(worker, reply),
            Begin::Request(request) if request.wants_body() && !end_of_stream => {
                self.state = State::ReadingBody {
                    request,
                    buffered: 0,
                };
                Step::Pause
            }
            Begin::Request(request) => self.authorize(worker, *request),
        }
    }

    /// Credentials and rules are known: ask the backend or the cache, or answer now.
    fn authorize(&mut self, worker: &Worker, request: PendingRequest) -> Step {
        let authorization = match request.authorize() {
            Ok(Next::Backend(a)) => Box::new(a),
            Ok(Next::Forward(forward)) => return self.forward(worker, forward, false),
            Err(reply) => return self.reply(worker, reply),
        };
        if worker.batching() {
            let key = authorization.cache_key();
            self.state = State::Waiting {
                authorization,
                key,
                waited: false,
            };
            return self.resolve(worker, None, false);
        }
        self.authrep(worker, authorization)
    }

    /// Authrep mode: one call that authorizes and reports this request.
    fn authrep(&mut self, worker: &Worker, authorization: Box<Authorization>) -> Step {
        debug!(
            "tollgate: authrep for service {}",
            authorization.service().id
        );
        match worker.dispatch(&authorization.authrep_call(), BackendCallKind::Authrep) {
            Ok(_) => {
                self.state = State::Authorizing(authorization);
                Step::Pause
            }
            Err(()) => {
                self.authrep_answer(worker, &authorization, &BackendAnswer::default(), false)
            }
        }
    }

    fn authrep_answer(
        &mut self,
        worker: &Worker,
        authorization: &Authorization,
        answer: &BackendAnswer,
        resume: bool,
    ) -> Step {
        if answer.status.is_none_or(|s| s >= 499) {
            worker.metrics.backend_error();
        }
        let key = authorization.cache_key();
        match worker.authrep_answer(&key, answer) {
            Ok(Some(Lookup::Forward { .. })) => {
                self.forward(worker, authorization.forward(), resume)
            }
            Ok(Some(Lookup::Deny(denial))) => self.reply(worker, authorization.denied(denial)),
            Ok(_) => self.verdict(worker, authorization.decide(answer), resume),
            Err(e) => self.fail(e),
        }
    }

    /// Batching mode: decides a waiting request from the cache (`direct`: an answer meant for
    /// this request alone). Called when the request arrives and on every wake-up.
    pub fn resolve(&mut self, worker: &Worker, direct: Option<Lookup>, resume: bool) -> Step {
        let State::Waiting {
            authorization,
            key,
            waited,
        } = std::mem::replace(&mut self.state, State::Done)
        else {
            return Step::Pause;
        };
        let lookup = match direct {
            Some(lookup) => lookup,
            None => match now_ms() {
                Ok(now) => worker.lookup(&key, now),
                Err(e) => return self.fail(e),
            },
        };
        match lookup {
            Lookup::Forward { leased } => {
                worker.count(&key, leased, waited);
                self.forward(worker, authorization.forward(), resume)
            }
            Lookup::Deny(denial) => self.reply(worker, authorization.denied(denial)),
            Lookup::Authorize(ticket) => {
                let call = authorization.authorize_call();
                self.state = State::Waiting {
                    authorization,
                    key,
                    waited: true,
                };
                Step::Authorize(ticket, call)
            }
            Lookup::Wait => {
                self.state = State::Waiting {
                    authorization,
                    key: key.clone(),
                    waited: true,
                };
                Step::Wait(key)
            }
        }
    }

    fn on_request_body(&mut self, worker: &Worker, body_size: usize, end: bool) -> Option<Step> {
        let State::ReadingBody { buffered, .. } = &mut self.state else {
            return None;
        };
        if !end {
            // Keep buffering until the whole body is there.
            *buffered = body_size;
            return Some(Step::Pause);
        }
        self.authorize_with_body(worker, body_size)
    }

    /// Trailers end a body that never had `end_of_stream` (HTTP/2, chunked with trailers).
    fn on_request_trailers(&mut self, worker: &Worker) -> Option<Step> {
        // A secret token sent as a trailer must not reach an upstream that reads trailers.
        // Trailers exist only from this callback on, so they are cleaned here, whatever the state.
        let stripped = host::request_trailer_names()
            .and_then(|names| strip(names, host::remove_request_trailer));
        if let Err(e) = stripped {
            // Even after a 200 verdict: the trailers must not reach the upstream. A request
            // already answered locally is only held (it has its answer).
            if matches!(self.state, State::Done) {
                return Some(Step::Pause);
            }
            return Some(self.fail(e));
        }
        let State::ReadingBody { buffered, .. } = self.state else {
            return None;
        };
        self.authorize_with_body(worker, buffered)
    }

    /// The form body is complete (`size` bytes buffered by Envoy): read it and decide.
    fn authorize_with_body(&mut self, worker: &Worker, size: usize) -> Option<Step> {
        let State::ReadingBody { mut request, .. } =
            std::mem::replace(&mut self.state, State::Done)
        else {
            return None;
        };
        let body = match host::request_body(size) {
            Ok(body) => body,
            Err(e) => return Some(self.fail(e)),
        };
        request.add_form_body(&body);
        Some(self.authorize(worker, *request))
    }

    /// While the verdict is pending (or a local reply was sent), body and trailers must stay
    /// in Envoy: `Continue` from these callbacks would release the paused headers upstream.
    fn holds_request(&self) -> bool {
        matches!(
            self.state,
            State::ReadingBody { .. } | State::Authorizing(_) | State::Waiting { .. } | State::Done
        )
    }

    fn on_authrep_response(&mut self, worker: &Worker, num_headers: usize) -> Step {
        match std::mem::replace(&mut self.state, State::Done) {
            State::Authorizing(authorization) => match backend_answer(num_headers) {
                Ok(answer) => self.authrep_answer(worker, &authorization, &answer, true),
                Err(e) => self.fail(e),
            },
            other => {
                self.state = other;
                Step::Pause
            }
        }
    }
}

fn held(flow: &Flow) -> Step {
    if flow.holds_request() {
        Step::Pause
    } else {
        Step::Continue
    }
}

impl Context for TollgateHttp {
    fn on_http_call_response(&mut self, token: u32, num_headers: usize, _: usize, _: usize) {
        if self.worker.owns(token) {
            self.worker
                .on_response(token, backend_answer(num_headers), self.id);
        } else {
            self.run(|flow, worker| flow.on_authrep_response(worker, num_headers));
        }
    }
}

impl HttpContext for TollgateHttp {
    fn on_http_request_headers(&mut self, _: usize, end_of_stream: bool) -> Action {
        self.run(|flow, worker| flow.on_request_headers(worker, end_of_stream))
    }

    fn on_http_request_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        // `Pause` here is StopIterationAndBuffer: Envoy keeps the body until the verdict
        // (a body beyond its buffer limit gets Envoy's 413, and never reaches the upstream).
        self.run(|flow, worker| {
            flow.on_request_body(worker, body_size, end_of_stream)
                .unwrap_or_else(|| held(flow))
        })
    }

    fn on_http_request_trailers(&mut self, _: usize) -> Action {
        self.run(|flow, worker| {
            flow.on_request_trailers(worker)
                .unwrap_or_else(|| held(flow))
        })
    }

    fn on_http_response_headers(&mut self, _: usize, _: bool) -> Action {
        if let Ok(flow) = self.flow.try_borrow() {
            if let State::Forwarded(headers) = &flow.state {
                for (name, value) in headers {
                    // Debug headers only: a failure is logged and counted, the response goes on.
                    let _ = host::set_response_header(name, value);
                }
            }
        }
        Action::Continue
    }
}
