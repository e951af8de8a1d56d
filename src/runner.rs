//! Runs the core's worker: hands it one event, then carries out the steps it returns through
//! host calls, and reports back what the host did (a call's token, a body, a failure).
//! Nothing here decides: every choice is the core's (`tollgate_core::pipeline::Worker`).

use crate::abi::MapPairs;
use crate::host::{self, HostResult};
use crate::metrics::Metrics;
use crate::store::HostStore;
use crate::wake;
use log::error;
use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;
use tollgate_core::backend::BackendCall;
use tollgate_core::config::policies::configs::EditOp;
use tollgate_core::config::Config;
use tollgate_core::pipeline::{
    is_stripped_request_header, LocalReply, Outcome, RequestId, Step, Steps, Worker,
    SECRET_TOKEN_HEADER,
};
use tollgate_core::policies::{is_other_spelling_of_replaced, HeaderOp};

pub struct Runner {
    worker: RefCell<Worker>,
    config: Rc<Config>,
    pub metrics: Rc<Metrics>,
    /// The plugin's shared data (the worker has its own handle): wake-up notices.
    store: HostStore,
}

impl Runner {
    pub fn new(worker: Worker, metrics: Rc<Metrics>, store: HostStore) -> Runner {
        metrics.set_deferred(worker.batching());
        Runner {
            config: worker.config().clone(),
            worker: RefCell::new(worker),
            metrics,
            store,
        }
    }

    /// The static configuration (its settings hold for services loaded from System too).
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Installs services loaded from 3scale System.
    pub fn install(&self, config: Rc<Config>) {
        if let Ok(mut worker) = self.worker.try_borrow_mut() {
            worker.install_config(config);
        }
    }

    /// Whether the worker holds anything for `request` (if it cannot tell: yes).
    pub fn remembers(&self, request: RequestId) -> bool {
        self.worker
            .try_borrow()
            .map_or(true, |w| w.remembers(request))
    }

    /// Whether `token` is one of the worker's backend calls.
    pub fn owns_call(&self, token: u32) -> bool {
        self.worker.try_borrow().is_ok_and(|w| w.owns_call(token))
    }

    /// `request`'s response headers: sets those the core adds (debug headers), carries out
    /// the chain's response phase if its service has one, then hands the core the status
    /// when it waits for it (response codes in batched reports: the status the client gets,
    /// after `statuscode_overwrite`, as APIcast reports it). A failure is logged and counted;
    /// the response goes on.
    pub fn on_response_headers(&self, request: RequestId) {
        let Ok(mut worker) = self.worker.try_borrow_mut() else {
            return;
        };
        for (name, value) in worker.response_headers(request) {
            let _ = host::set_response_header(name, value);
        }
        if let Some(policies) = worker.response_policies(request) {
            // One read for the status and every header an operation asks about.
            let map = host::response_headers().unwrap_or_default();
            let value = |name: &str| {
                MapPairs::new(&map)
                    .find(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
                    .map(|(_, v)| v)
            };
            let status = value(":status").and_then(|s| std::str::from_utf8(s).ok()?.parse().ok());
            let (status, ops) = policies.response(status, &|name| value(name).is_some());
            if let Some(status) = status {
                // u64's formatting is linked already; u16's would cost 0.3 KB.
                let _ = host::set_response_header(":status", &u64::from(status).to_string());
            }
            for (op, name, value) in ops {
                let _ = host::edit_header(true, op, &name, &value);
            }
        }
        worker.on_response(request, crate::headers::response_status);
    }

    /// Whether the trailer `name` must go: a header a service's decision reads, or one a
    /// `headers` request operation of `request`'s service sets or deletes (if the worker
    /// cannot tell: yes, the trailer goes).
    pub fn trailer_replaced(&self, request: RequestId, name: &[u8]) -> bool {
        self.worker.try_borrow().map_or(true, |w| {
            w.reads_request_header(name)
                || (w.response_policies(request)).is_some_and(|p| p.replaces_request_header(name))
        })
    }

    /// Envoy is done with `request` (never fails: it runs when a context is dropped).
    pub fn forget(&self, request: RequestId) {
        let abandoned = match self.worker.try_borrow_mut() {
            Ok(mut worker) => {
                let abandoned = worker.on_request_done(request);
                // A forward counted only now (its body never ended): to Envoy at once.
                self.metrics.tally(worker.take_tally());
                abandoned
            }
            Err(_) => return,
        };
        // Its `authorize` was cancelled with it: the requests waiting on the key ask again.
        for key in abandoned {
            wake::notify(&self.store, key.as_str());
        }
    }

    /// Hands one event to the worker from context `home` (the context whose callback is
    /// running) and carries out its steps. Returns whether that callback lets its request go on.
    pub fn run(&self, home: u32, event: impl FnOnce(&mut Worker) -> Steps) -> bool {
        self.run_reading(home, None, event)
    }

    /// As [`Runner::run`]; `stripped`: the header names to remove if `home` is forwarded by
    /// this callback, when the callback has read them already.
    pub fn run_reading(
        &self,
        home: u32,
        stripped: Option<Vec<Vec<u8>>>,
        event: impl FnOnce(&mut Worker) -> Steps,
    ) -> bool {
        let Some(steps) = self.event(event) else {
            // Cannot happen (one thread, and steps are carried out after the event returns);
            // if it did, the request in progress fails closed.
            error!("tollgate: worker busy; answering 500");
            answer_500();
            return false;
        };
        self.carry_out(home, steps, stripped)
    }

    fn event(&self, event: impl FnOnce(&mut Worker) -> Steps) -> Option<Steps> {
        let mut worker = self.worker.try_borrow_mut().ok()?;
        let steps = event(&mut worker);
        self.metrics.tally(worker.take_tally());
        Some(steps)
    }

    fn carry_out(&self, home: u32, steps: Steps, mut stripped: Option<Vec<Vec<u8>>>) -> bool {
        let mut proceed = steps.proceed;
        let mut home_failed = false;
        // Steps that follow from a step come right after it.
        let mut pending: Vec<Step> = steps.list;
        pending.reverse();
        while let Some(step) = pending.pop() {
            let follow = match step {
                Step::Reply { request, reply } => {
                    self.metrics.outcome(reply.outcome);
                    in_context(request, home, || reply_with(&reply));
                    None
                }
                Step::Forward {
                    request,
                    edit_request_headers,
                    set_request_headers,
                    secret_token,
                    resume,
                    public,
                    counted,
                } => match in_context(request, home, || {
                    // Names read by this callback still hold for its own request only.
                    let names = stripped.take().filter(|_| request == home && !resume);
                    let set = SetHeaders {
                        set: &set_request_headers,
                        secret_token: secret_token.as_deref(),
                    };
                    forward(names, &edit_request_headers, set, resume)
                }) {
                    Some(Err(_)) => {
                        home_failed |= request == home;
                        self.event(|w| w.on_host_error(request))
                    }
                    Some(Ok(())) => {
                        if counted {
                            self.metrics.outcome(if public {
                                Outcome::Public
                            } else {
                                Outcome::Authorized
                            });
                        }
                        None
                    }
                    None => None,
                },
                Step::ReadBody { request, size } => {
                    match in_context(request, home, || host::request_body(size)) {
                        Some(Ok(body)) => self.event(|w| w.on_form_body(request, &body)),
                        Some(Err(_)) => {
                            home_failed |= request == home;
                            self.event(|w| w.on_host_error(request))
                        }
                        None => None,
                    }
                }
                Step::ScanBody {
                    request,
                    from,
                    size,
                    end,
                } => match in_context(request, home, || host::request_body_range(from, size)) {
                    Some(Ok(chunk)) => self.event(|w| w.on_body_chunk(request, size, &chunk, end)),
                    Some(Err(_)) => {
                        home_failed |= request == home;
                        self.event(|w| w.on_host_error(request))
                    }
                    None => None,
                },
                Step::Call { call, purpose } => match self.dispatch(&call) {
                    Ok(token) => {
                        self.event(|w| {
                            w.on_call_sent(token, purpose, home);
                            Steps::default()
                        });
                        None
                    }
                    Err(()) => self.event(|w| w.on_call_refused(purpose)),
                },
                Step::Notify(key) => {
                    wake::notify(&self.store, key.as_str());
                    None
                }
            };
            if let Some(more) = follow {
                proceed |= more.proceed;
                pending.extend(more.list.into_iter().rev());
            }
        }
        proceed && !home_failed
    }

    /// Sends a backend call from the current context.
    fn dispatch(&self, call: &BackendCall) -> Result<u32, ()> {
        let backend = &self.config.backend;
        let mut headers: Vec<(&str, &str)> = vec![
            (":method", call.method),
            (":path", &call.path),
            (":authority", &backend.authority),
        ];
        headers.extend(call.headers.iter().map(|(k, v)| (*k, v.as_str())));
        let body = (!call.body.is_empty()).then_some(call.body.as_bytes());
        self.metrics.backend_call(call.endpoint);
        let timeout = Duration::from_millis(backend.timeout_ms);
        host::dispatch(&backend.cluster, headers, body, timeout).map_err(|_| ())
    }
}

/// Runs `f` with Envoy's effective context set to `request`, then back to `home`. `None`: the
/// request is gone (reset by the client).
fn in_context<T>(request: RequestId, home: u32, f: impl FnOnce() -> T) -> Option<T> {
    if request != home && host::set_effective_context(request).is_err() {
        return None;
    }
    let result = f();
    if request != home {
        let _ = host::set_effective_context(home);
    }
    Some(result)
}

fn reply_with(reply: &LocalReply) {
    let headers: Vec<(&str, &str)> = reply
        .headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    if host::send_response(reply.status, &headers, reply.body.as_bytes()).is_err() {
        // Nothing else can be sent: the request must not stay paused forever.
        let _ = host::reset_request();
    }
}

/// Answers the current request with an empty 500, or resets it if even that is refused.
pub fn answer_500() {
    reply_with(&LocalReply::internal_error());
}

/// Strips the spoofable headers, carries out the header policies' operations, sets the
/// verdict's headers (last, so the secret token is Tollgate's), and resumes a paused request.
/// Every spelling must go: the names come from the callback's own read (`stripped`), or one
/// host call; then one call per header removed. Trailers that already arrived were cleaned in
/// `on_request_trailers`.
fn forward(
    stripped: Option<Vec<Vec<u8>>>,
    edits: &[HeaderOp],
    headers: SetHeaders,
    resume: bool,
) -> HostResult<()> {
    let names = match stripped {
        Some(names) => names,
        None => host::request_header_names()?,
    };
    strip(names, host::remove_request_header)?;
    if edits
        .iter()
        .any(|(op, _, _)| matches!(op, EditOp::Set | EditOp::Delete))
    {
        for name in host::request_header_names()? {
            if is_other_spelling_of_replaced(edits, &name) {
                host::remove_request_header(&name)?;
            }
        }
    }
    for (op, name, value) in edits {
        host::edit_header(false, *op, name, value)?;
    }
    for (name, value) in headers.set {
        host::set_request_header(name, value)?;
    }
    if let Some(token) = headers.secret_token {
        host::set_request_header(SECRET_TOKEN_HEADER, token)?;
    }
    if resume {
        host::resume_request()?;
    }
    Ok(())
}

/// The headers a forward sets: the verdict's, then the secret token.
struct SetHeaders<'a> {
    set: &'a [(String, String)],
    secret_token: Option<&'a str>,
}

/// Removes every header (or trailer) that reads as one the client must not send upstream.
pub fn strip(names: Vec<Vec<u8>>, remove: fn(&[u8]) -> HostResult<()>) -> HostResult<()> {
    for name in names {
        if is_stripped_request_header(&name) {
            remove(&name)?;
        }
    }
    Ok(())
}
