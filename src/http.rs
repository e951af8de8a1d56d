//! One HTTP request: runs the core pipeline, pausing for the form body and the backend callout.

use crate::headers::{backend_answer, request_header, RequestHeaders};
use crate::metrics::Metrics;
use log::{debug, warn};
use proxy_wasm::traits::{Context, HttpContext};
use proxy_wasm::types::Action;
use std::rc::Rc;
use std::time::Duration;
use tollgate_core::backend::BackendAnswer;
use tollgate_core::config::Config;
use tollgate_core::pipeline::{
    self, Authorization, Begin, Forward, LocalReply, Next, Outcome, PendingRequest, Verdict,
    STRIPPED_REQUEST_HEADERS,
};
use tollgate_core::request::RequestHead;

enum State {
    Start,
    /// Paused until the form body has arrived.
    ReadingBody(Box<PendingRequest>),
    /// Paused until the backend answers.
    Authorizing(Authorization),
    /// Forwarded; these headers go on the upstream's response (debug headers).
    Forwarded(Vec<(String, String)>),
    Done,
}

pub struct TollgateHttp {
    config: Rc<Config>,
    metrics: Rc<Metrics>,
    state: State,
}

impl TollgateHttp {
    pub fn new(config: Rc<Config>, metrics: Rc<Metrics>) -> TollgateHttp {
        TollgateHttp {
            config,
            metrics,
            state: State::Start,
        }
    }

    fn reply(&mut self, reply: LocalReply) -> Action {
        self.metrics.outcome(reply.outcome);
        let headers: Vec<(&str, &str)> = reply
            .headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        self.send_http_response(
            u32::from(reply.status),
            headers,
            Some(reply.body.as_bytes()),
        );
        self.state = State::Done;
        Action::Pause
    }

    /// Credentials and rules are known: ask the backend, or answer now.
    fn authorize(&mut self, request: PendingRequest) -> Action {
        let authorization = match request.authorize() {
            Ok(Next::Backend(a)) => a,
            Ok(Next::Forward(forward)) => return self.forward(forward, false),
            Err(reply) => return self.reply(reply),
        };
        let call = authorization.authrep_call();
        let backend = &self.config.backend;
        let mut headers: Vec<(&str, &str)> = vec![
            (":method", call.method),
            (":path", &call.path),
            (":authority", &backend.authority),
        ];
        headers.extend(call.headers.iter().map(|(k, v)| (*k, v.as_str())));
        debug!(
            "tollgate: authrep for service {}",
            authorization.service().id
        );
        self.metrics.backend_call();
        match self.dispatch_http_call(
            &backend.cluster,
            headers,
            None,
            vec![],
            Duration::from_millis(backend.timeout_ms),
        ) {
            Ok(_) => {
                self.state = State::Authorizing(authorization);
                Action::Pause
            }
            Err(status) => {
                warn!(
                    "tollgate: backend callout to cluster {} failed: {status:?}",
                    backend.cluster
                );
                self.finish(authorization, &BackendAnswer::default(), false)
            }
        }
    }

    /// Applies the verdict. `resume` is true when the request is paused and must be resumed.
    fn finish(
        &mut self,
        authorization: Authorization,
        answer: &BackendAnswer,
        resume: bool,
    ) -> Action {
        if answer.status.is_none_or(|s| s >= 499) {
            self.metrics.backend_error();
        }
        match authorization.decide(answer) {
            Verdict::Reply(reply) => self.reply(reply),
            Verdict::Forward(forward) => self.forward(forward, resume),
        }
    }

    /// Lets the request through with the verdict's header changes.
    fn forward(&mut self, forward: Forward, resume: bool) -> Action {
        self.metrics.outcome(Outcome::Authorized);
        for name in STRIPPED_REQUEST_HEADERS {
            self.set_http_request_header(name, None);
        }
        for (name, value) in &forward.set_request_headers {
            self.set_http_request_header(name, Some(value));
        }
        self.state = State::Forwarded(forward.response_headers);
        if resume {
            self.resume_http_request();
        }
        Action::Continue
    }
}

impl Context for TollgateHttp {
    fn on_http_call_response(&mut self, _: u32, num_headers: usize, _: usize, _: usize) {
        if let State::Authorizing(authorization) = std::mem::replace(&mut self.state, State::Done) {
            let answer = backend_answer(self, num_headers);
            self.finish(authorization, &answer, true);
        }
    }
}

impl HttpContext for TollgateHttp {
    fn on_http_request_headers(&mut self, _: usize, end_of_stream: bool) -> Action {
        let method = request_header(self, ":method");
        let authority = request_header(self, ":authority");
        let path = request_header(self, ":path");
        let now = self
            .get_current_time()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let head = RequestHead {
            method: &method,
            authority: &authority,
            path: &path,
            now,
        };
        match pipeline::begin(&self.config, head, &RequestHeaders(self)) {
            Begin::Reply(reply) => self.reply(reply),
            Begin::Request(request) if request.wants_body() && !end_of_stream => {
                self.state = State::ReadingBody(request);
                Action::Pause
            }
            Begin::Request(request) => self.authorize(*request),
        }
    }

    fn on_http_request_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        if !matches!(self.state, State::ReadingBody(_)) {
            return Action::Continue;
        }
        if !end_of_stream {
            // Keep buffering until the whole body is there.
            return Action::Pause;
        }
        let body = self.get_http_request_body(0, body_size).unwrap_or_default();
        match std::mem::replace(&mut self.state, State::Done) {
            State::ReadingBody(mut request) => {
                request.add_form_body(&body);
                self.authorize(*request)
            }
            _ => Action::Continue,
        }
    }

    fn on_http_request_trailers(&mut self, _: usize) -> Action {
        // HTTP/2 with trailers never ends the body with end_of_stream: decide without it.
        match std::mem::replace(&mut self.state, State::Done) {
            State::ReadingBody(request) => self.authorize(*request),
            other => {
                self.state = other;
                Action::Continue
            }
        }
    }

    fn on_http_response_headers(&mut self, _: usize, _: bool) -> Action {
        if let State::Forwarded(headers) = &self.state {
            for (name, value) in headers {
                self.set_http_response_header(name, Some(value));
            }
        }
        Action::Continue
    }
}
