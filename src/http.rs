//! One HTTP request: runs the core pipeline, pausing for the form body and the backend.
//!
//! `TollgateHttp` is what Envoy calls; the request's state lives in a `Flow` behind an
//! `Rc<RefCell>` so that the worker can resume a request that waited for another request's
//! backend answer (batching mode). The flow acts through `Host`, on Envoy's effective context.

use crate::headers::{backend_answer, request_header, RequestHeaders};
use crate::host::{now_ms, Host};
use crate::metrics::BackendCallKind;
use crate::worker::{Waiter, Worker};
use log::debug;
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
use tollgate_core::request::RequestHead;

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
                Host.send_http_response(500, vec![], None);
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

impl Flow {
    fn reply(&mut self, worker: &Worker, reply: LocalReply) -> Step {
        worker.metrics.outcome(reply.outcome);
        let headers: Vec<(&str, &str)> = reply
            .headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        Host.send_http_response(
            u32::from(reply.status),
            headers,
            Some(reply.body.as_bytes()),
        );
        self.state = State::Done;
        Step::Pause
    }

    /// Lets the request through with the verdict's header changes. `resume`: the request is
    /// paused and must be resumed.
    fn forward(&mut self, worker: &Worker, forward: Forward, resume: bool) -> Step {
        worker.metrics.outcome(Outcome::Authorized);
        // One host call for the names (every spelling must go), one per header removed.
        for (name, _) in Host.get_http_request_headers_bytes() {
            if is_stripped_request_header(&name) {
                Host.set_http_request_header(&name, None);
            }
        }
        // Trailers that already arrived were cleaned in `on_request_trailers`.
        for (name, value) in &forward.set_request_headers {
            Host.set_http_request_header(name, Some(value));
        }
        self.state = State::Forwarded(forward.response_headers);
        if resume {
            Host.resume_http_request();
        }
        Step::Continue
    }

    fn verdict(&mut self, worker: &Worker, verdict: Verdict, resume: bool) -> Step {
        match verdict {
            Verdict::Reply(reply) => self.reply(worker, reply),
            Verdict::Forward(forward) => self.forward(worker, forward, resume),
        }
    }

    fn on_request_headers(&mut self, worker: &Worker, end_of_stream: bool) -> Step {
        let method = request_header(&Host, ":method");
        let authority = request_header(&Host, ":authority");
        let path = request_header(&Host, ":path");
        let head = RequestHead {
            method: &method,
            authority: &authority,
            path: &path,
            now: now_ms() / 1000,
        };
        match pipeline::begin(&worker.config, head, &RequestHeaders(&Host)) {
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
            Some(Lookup::Forward { .. }) => self.forward(worker, authorization.forward(), resume),
            Some(Lookup::Deny(denial)) => self.reply(worker, authorization.denied(denial)),
            _ => self.verdict(worker, authorization.decide(answer), resume),
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
        let lookup = direct.unwrap_or_else(|| worker.lookup(&key, now_ms()));
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
        for (name, _) in Host.get_http_request_trailers_bytes() {
            if is_stripped_request_header(&name) {
                Host.set_http_request_trailer(&name, None);
            }
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
        let body = Host.get_http_request_body(0, size).unwrap_or_default();
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
            State::Authorizing(authorization) => {
                let answer = backend_answer(&Host, num_headers);
                self.authrep_answer(worker, &authorization, &answer, true)
            }
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
            let answer = backend_answer(&Host, num_headers);
            self.worker.on_response(token, &answer, self.id);
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
                    Host.set_http_response_header(name, Some(value));
                }
            }
        }
        Action::Continue
    }
}
