//! One HTTP request: hands Envoy's callbacks to the core's worker as events, through the
//! worker's [`Runner`], and returns what the core says the callback returns.
//!
//! The request's state lives in the core (`tollgate_core::pipeline::Worker`), keyed by this
//! context's id, so that a request waiting for another request's backend answer (batching)
//! can be resumed from the root context.

use crate::headers::{backend_answer, HeaderMap};
use crate::host;
use crate::runner::Runner;
use proxy_wasm::traits::{Context, HttpContext};
use proxy_wasm::types::Action;
use std::rc::Rc;
use tollgate_core::pipeline::{is_stripped_request_header, RequestLine};

pub struct TollgateHttp {
    id: u32,
    runner: Rc<Runner>,
    /// The worker has held something for this request after one of its callbacks (see
    /// `Worker::remembers`); if never, its response and end are not handed over: there is
    /// nothing for them to do (a request forwarded from the cache).
    remembered: bool,
}

impl TollgateHttp {
    pub fn new(id: u32, runner: Rc<Runner>) -> TollgateHttp {
        TollgateHttp {
            id,
            runner,
            remembered: false,
        }
    }

    /// After each of the request's own callbacks: does the worker hold anything for it now?
    /// (Other contexts' events only act on requests it holds already.)
    fn note_remembered(&mut self) {
        self.remembered = self.remembered || self.runner.remembers(self.id);
    }

    fn action(proceed: bool) -> Action {
        if proceed {
            Action::Continue
        } else {
            Action::Pause
        }
    }
}

impl Drop for TollgateHttp {
    fn drop(&mut self) {
        // Envoy is done with the request: the core forgets it.
        if self.remembered {
            self.runner.forget(self.id);
        }
    }
}

impl Context for TollgateHttp {
    fn on_http_call_response(&mut self, token: u32, num_headers: usize, _: usize, _: usize) {
        // A failed read is an unreadable answer: the core fails closed.
        let answer = backend_answer(num_headers);
        self.runner
            .run(self.id, |worker| worker.on_backend_answer(token, answer));
        self.note_remembered();
    }
}

impl HttpContext for TollgateHttp {
    fn on_http_request_headers(&mut self, _: usize, end_of_stream: bool) -> Action {
        // One host call for every header the decision reads, and the names to strip.
        let headers = HeaderMap::request();
        // Borrowed from the map when UTF-8 (always, from Envoy): no copies per request.
        let pseudo = |name| headers.lossy(name).unwrap_or_default();
        let (method, authority, path) = (pseudo(":method"), pseudo(":authority"), pseudo(":path"));
        let line = RequestLine {
            method: &method,
            authority: &authority,
            path: &path,
        };
        let id = self.id;
        let stripped = headers.stripped_names();
        let proceed = self.runner.run_reading(id, Some(stripped), |worker| {
            worker.on_request_headers(id, line, &headers, end_of_stream)
        });
        self.note_remembered();
        Self::action(proceed)
    }

    fn on_http_request_body(&mut self, body_size: usize, end_of_stream: bool) -> Action {
        // `Pause` here is StopIterationAndBuffer: Envoy keeps the body until the verdict
        // (a body beyond its buffer limit gets Envoy's 413, and never reaches the upstream).
        let id = self.id;
        let proceed = self.runner.run(id, |worker| {
            worker.on_request_body(id, body_size, end_of_stream)
        });
        self.note_remembered();
        Self::action(proceed)
    }

    fn on_http_request_trailers(&mut self, _: usize) -> Action {
        // A secret token sent as a trailer must not reach an upstream that reads trailers,
        // nor a header a `headers` request operation sets or deletes (upstreams that merge
        // trailers read it as the header). Trailers exist only from this callback on, so they
        // are cleaned here, whatever the state; if that fails, the core fails the request
        // (unless it was already answered).
        let id = self.id;
        let runner = &self.runner;
        let stripped = host::request_trailer_names().and_then(|names| {
            for name in names {
                if is_stripped_request_header(&name) || runner.trailer_replaced(id, &name) {
                    host::remove_request_trailer(&name)?;
                }
            }
            Ok(())
        });
        let proceed = self.runner.run(id, |worker| match stripped {
            Ok(()) => worker.on_request_trailers(id),
            Err(_) => worker.on_host_error(id),
        });
        self.note_remembered();
        Self::action(proceed)
    }

    fn on_http_response_headers(&mut self, _: usize, _: bool) -> Action {
        if self.remembered {
            self.runner.on_response_headers(self.id);
        }
        Action::Continue
    }
}
