//! A worker's side of every request: the state machine that takes Envoy's events for a
//! request (received in `request_events`) and returns the steps the adapter carries out
//! (see the diagram in `pipeline`).
//!
//! It owns every decision along the way: the failure policy (fail closed, or the caching
//! type's answer), what counts as a backend error, the report-status policy (in
//! `reporting`), and what happens when the host fails (the request fails closed).

use super::batching::Waiting;
use super::flow::{held, Flows, State};
use super::matched::MatchedRequest;
use super::reply::{Forward, LocalReply};
use super::reporting::{minute_of, Reporting, Uncounted};
use super::steps::{CallPurpose, Clock, RequestId, Step, Steps, Tally};
use super::streamed_body::BodyWatch;
use super::{Next, PendingRequest};
use crate::backend::{BackendAnswer, Decision};
use crate::cache::{reports, slot_count, AuthCache, CacheSettings, Lookup, SharedStore};
use crate::config::{CachingType, Config};
use crate::policies::{rate_limit_headers as rate_limit, RequestPolicies};
use log::warn;
use std::mem::take;
use std::rc::Rc;

/// The timer period of a worker that does not batch (see [`Worker::tick_period_ms`]): calls
/// left by another configuration wait a second at most to be noticed.
const LEFTOVER_TICK_MS: u64 = 1_000;

pub struct Worker {
    pub(super) config: Rc<Config>,
    pub(super) store: Box<dyn SharedStore>,
    pub(super) clock: Box<dyn Clock>,
    /// The matched cache: batching, or the failure policy's memory in authrep mode; each
    /// service's settings apply ([`CacheSettings::for_service`]).
    pub(super) cache: AuthCache,
    /// Counted calls and reports: batching mode's, and in authrep mode the calls another
    /// configuration of the plugin left in shared data (found by an audit, 2026-12-06: after
    /// a listener update from batching to authrep mode, nobody reported them).
    pub(super) reporting: Reporting,
    pub(super) flows: Flows,
    /// The header, status and CORS policies of requests whose service's chain has some, from
    /// their authorization until Envoy is done with them (the response phase needs them).
    pub(super) policies: Vec<(RequestId, Box<RequestPolicies>)>,
    /// Multipart and JSON `POST` bodies being read for a `_method` (`streamed_body`).
    pub(super) bodies: Vec<BodyWatch>,
    /// False while services are to come from 3scale System and none has arrived.
    pub(super) config_loaded: bool,
    /// Backend calls in flight: the host's token, why, and the context that sent it (Envoy
    /// cancels a context's calls when the context goes).
    pub(super) calls: Vec<(u32, CallPurpose, u32)>,
    pub(super) tally: Tally,
    /// Answers of something else than the backend (`BackendAnswer::foreign`), for the log.
    foreign_answers: u64,
    /// A body (or trailers) came while a request's headers were held: this Envoy delivers
    /// them (`refuse_undelivered_bodies`).
    pub(super) bodies_delivered: bool,
    pub(super) undelivered_body_logged: bool,
}

impl Worker {
    pub fn new(config: Rc<Config>, store: Box<dyn SharedStore>, clock: Box<dyn Clock>) -> Worker {
        let config = with_pinned_slots(config, &*store);
        Worker {
            cache: AuthCache::new(CacheSettings::of(&config.backend, CachingType::None, None)),
            reporting: Reporting::new(&config.backend),
            config_loaded: config.system.is_none() || !config.services.is_empty(),
            config,
            store,
            clock,
            flows: Flows::default(),
            policies: Vec::new(),
            bodies: Vec::new(),
            calls: Vec::new(),
            tally: Tally::default(),
            foreign_answers: 0,
            bodies_delivered: false,
            undelivered_body_logged: false,
        }
    }

    pub fn config(&self) -> &Rc<Config> {
        &self.config
    }

    /// Installs services loaded from 3scale System. A request in progress finishes with the
    /// service it started with; the cache and the pending reports stay (their keys carry the
    /// service id, the credentials and the usage, so nothing is mixed up), and the pending
    /// calls of a removed service are still reported. The cache keeps its slot count.
    pub fn install_config(&mut self, config: Rc<Config>) {
        let config = with_pinned_slots(config, &*self.store);
        self.reporting.retire(&self.config, &config);
        self.config = config;
        self.config_loaded = true;
    }

    /// Batching mode (some service batches, or may: System): authorizations come from the
    /// cache, reports are batched on a timer.
    pub fn batching(&self) -> bool {
        self.config.any_batching() || self.config.system.is_some()
    }

    /// How often the worker's timer must call [`Worker::on_tick`]: every worker has one, to
    /// report calls left in shared data by the plugin's other configurations (the one a
    /// listener update replaced). Without batching, a tick reads the two pending lists and
    /// nothing more while they are empty; the request path reads nothing.
    pub fn tick_period_ms(&self) -> Option<u64> {
        Some(if self.batching() {
            250
        } else {
            LEFTOVER_TICK_MS
        })
    }

    /// The counts since the last call, for Envoy's counters.
    pub fn take_tally(&mut self) -> Tally {
        #[cfg(feature = "jwt")]
        {
            self.tally.jwt_verify_budget_exhausted = crate::auth::jwt::take_budget_refusals();
        }
        std::mem::take(&mut self.tally)
    }

    /// Requests this worker remembers (paused, forwarded with response headers, or answered).
    pub fn requests_remembered(&self) -> usize {
        self.flows.len()
    }

    /// Whether the worker holds anything for `request`: a state, the chain's response phase, or
    /// a backend call sent from its context. If not, its response and end need not be handed
    /// to the worker ([`Worker::on_response`], [`Worker::on_request_done`] would do nothing):
    /// the cached path skips them. Once true for a request, the host keeps calling them.
    pub fn remembers(&self, request: RequestId) -> bool {
        self.flows.get(request).is_some()
            || self.policies.iter().any(|(id, _)| *id == request)
            || self.watches_body(request)
            || self.calls.iter().any(|(_, _, from)| *from == request)
    }

    /// Backend calls waiting for their answer.
    pub fn calls_in_flight(&self) -> usize {
        self.calls.len()
    }

    /// Whether `token` is one of this worker's backend calls.
    pub fn owns_call(&self, token: u32) -> bool {
        self.calls.iter().any(|(t, _, _)| *t == token)
    }

    // --- Backend calls -------------------------------------------------------------------

    /// The host sent a call asked for by `Step::Call`, from context `sent_from`.
    pub fn on_call_sent(&mut self, token: u32, purpose: CallPurpose, sent_from: u32) {
        self.calls.push((token, purpose, sent_from));
    }

    /// The host refused to send a call: as if the backend had not answered.
    pub fn on_call_refused(&mut self, purpose: CallPurpose) -> Steps {
        warn!(
            "tollgate: backend callout to cluster {} failed",
            self.config.backend.cluster
        );
        self.answered(purpose, Some(BackendAnswer::default()), false)
    }

    /// The backend answered call `token` (`None`: the answer could not be read).
    pub fn on_backend_answer(&mut self, token: u32, answer: Option<BackendAnswer>) -> Steps {
        let Some(i) = self.calls.iter().position(|(t, _, _)| *t == token) else {
            return Steps::hold();
        };
        let (_, purpose, _) = self.calls.swap_remove(i);
        self.answered(purpose, answer, true)
    }

    /// A call's answer (`later`: it came in its own callback, so the request it was for is
    /// paused; otherwise the call was refused in the callback that asked for it).
    fn answered(
        &mut self,
        purpose: CallPurpose,
        answer: Option<BackendAnswer>,
        later: bool,
    ) -> Steps {
        // Authorizations here; a failed report is counted where reports are settled
        // (`reporting`), in `report_failures` and, unless the backend's own 408 or 429, here
        // too.
        if !matches!(purpose, CallPurpose::Report(..))
            && answer.as_ref().is_some_and(BackendAnswer::is_backend_error)
        {
            self.tally.backend_errors = self.tally.backend_errors.saturating_add(1);
        }
        // (apisonator's own 500 carries no headers: not this.)
        let foreign = (answer.as_ref()).and_then(|a| a.foreign.then_some(a.status)?);
        if let Some(status) = foreign.filter(|&s| s < 499) {
            // The first, then every 1,000th: a wrong cluster answers every request so.
            if self.foreign_answers.is_multiple_of(1000) {
                warn!(
                    "tollgate: backend answered {status} without 3scale's content type ({} \
                     such answers): is backend.cluster the 3scale backend?",
                    self.foreign_answers + 1
                );
            }
            self.foreign_answers = self.foreign_answers.saturating_add(1);
        }
        match purpose {
            CallPurpose::Authrep { request, resume } => {
                let resume = resume || later;
                let matched = match self.flows.take(request) {
                    Some(State::Calling(matched)) => matched,
                    // Gone while its call was in flight, or answered meanwhile (a body's
                    // `_method`): its state stays, so later body and trailer callbacks still
                    // hold it (found by an audit, 2026-12-06).
                    other => {
                        self.put_back(request, other);
                        return Steps::hold();
                    }
                };
                match answer {
                    Some(answer) => self.authrep_answer(request, &matched, &answer, resume),
                    None => self.fail(request),
                }
            }
            CallPurpose::Authorize {
                ticket,
                requester,
                resume,
            } => self.authorize_answer(&ticket, requester, answer.as_ref(), resume, later),
            CallPurpose::Report(batch, sent_ms) => {
                let now_ms = self.clock.now_ms();
                let status = answer.and_then(|a| a.report_status());
                let store = &*self.store;
                (self.reporting).on_report_answer(
                    store,
                    &self.config,
                    (batch, sent_ms),
                    status,
                    now_ms,
                    &mut self.tally,
                );
                Steps::hold()
            }
        }
    }

    /// The worker's timer: lease expiry, lost wake-ups, bodies Envoy does not deliver, usage
    /// to shared data, reports.
    pub fn on_tick(&mut self) -> Steps {
        // Without the clock nothing can expire or be reported; the next tick tries again.
        let Some(now_ms) = self.clock.now_ms() else {
            return Steps::hold();
        };
        self.cache.expire(&*self.store, now_ms);
        // Waiters whose wake-up was lost, or whose asker went away, look again.
        let mut steps = self.wake(None);
        (steps.list).extend(self.refuse_undelivered_bodies(now_ms).list);
        let store = &*self.store;
        let (config, loaded) = (&self.config, self.config_loaded);
        let tally = &mut self.tally;
        (steps.list).extend(self.reporting.tick(store, config, loaded, now_ms, tally));
        steps
    }

    /// The VM is going away: this worker's counted calls go to shared data, and its unused
    /// leases go back. (Envoy keeps a VM until its requests are done, so a call waiting for
    /// its response (its status, or a body read as it streams) was counted by `on_request_done`
    /// already.)
    pub fn on_shutdown(&mut self) {
        self.cache.release_all(&*self.store);
        let slots = self.config.backend.cache_max_entries;
        let now_ms = self.clock.now_ms();
        (self.reporting).flush(&*self.store, slots, now_ms, &mut self.tally);
        // A report still waiting for its answer never gets it: whether the backend
        // counted its calls is unknown, so they are owed until the end of their period,
        // as dropped calls are, not owed for good nor reported twice (found by an
        // audit, 2026-12-06: a slice of the budget lost until Envoy restarted).
        for (_, purpose, _) in take(&mut self.calls) {
            if let CallPurpose::Report(batch, _) = purpose {
                let now_ms = now_ms.unwrap_or_default();
                reports::abandon(&*self.store, slots, &batch.entries, now_ms);
            }
        }
    }

    // --- Transitions -------------------------------------------------------------------

    /// The chain's response phase for `request`, if its service has one.
    pub(super) fn keep_policies(
        &mut self,
        request: RequestId,
        policies: Option<Box<RequestPolicies>>,
    ) {
        if let Some(p) = policies {
            self.policies.push((request, p));
        }
    }

    /// Credentials and rules are known: answer now, forward (local authentication), or ask
    /// the backend (authrep) or the cache (batching).
    /// `now_ms`: the clock already read by this event, if any (one host call less).
    pub(super) fn authorize(
        &mut self,
        request: RequestId,
        pending: PendingRequest,
        resume: bool,
        now_ms: Option<u64>,
    ) -> Steps {
        let matched = match pending.authorize() {
            Ok(Next::Backend(a)) => a,
            Ok(Next::Forward(forward)) => return self.forward(request, forward, resume, None),
            Err(reply) => return self.reply(request, reply),
        };
        if (self.config.backend)
            .batching_for(&matched.service().policies)
            .is_some()
        {
            let key = matched.cache_key();
            let waiting = Waiting {
                request,
                waited: false,
                resume,
            };
            return self.resolve_matched(waiting, matched, key, now_ms);
        }
        let call = matched.authrep_call();
        self.flows.set(request, State::Calling(Box::new(matched)));
        Steps::one(Step::Call {
            call,
            purpose: CallPurpose::Authrep { request, resume },
        })
    }

    /// Authrep mode: the backend's answer, and the failure policy when it is unavailable.
    fn authrep_answer(
        &mut self,
        request: RequestId,
        matched: &MatchedRequest,
        answer: &BackendAnswer,
        resume: bool,
    ) -> Steps {
        let chain = &matched.service().policies;
        if let Some(settings) = CacheSettings::for_service(&self.config.backend, chain) {
            let cache = self.cache.with_settings(settings);
            let Some(now_ms) = self.clock.now_ms() else {
                return self.fail(request);
            };
            let (key, check) = (matched.cache_key(), matched.key_check());
            if answer.decision() == Decision::BackendUnavailable {
                let check = check.as_deref();
                match cache.authrep_fallback(&*self.store, &key, check, now_ms) {
                    Lookup::Forward { .. } => {
                        // A batching service's call no slot could hold (`resolve_matched`):
                        // reported as the calls the policy forwards from the cache are (found
                        // by an audit, 2026-12-06: never reported). An authrep that timed out
                        // after the backend applied it is counted twice (README). Authrep
                        // mode reports no call.
                        let batches = self.config.backend.batching_for(chain).is_some();
                        let streaming = self.watches_body(request);
                        let call = (key, false, minute_of(now_ms));
                        let report = (batches)
                            .then(|| self.reporting.uncounted(call, streaming))
                            .flatten();
                        return self.forward(request, matched.forward(), resume, report);
                    }
                    Lookup::Deny(denial) => return self.reply(request, matched.denied(denial)),
                    Lookup::Authorize(_) | Lookup::Wait => {}
                }
            } else {
                let check = check.as_deref();
                cache.remember_authrep(&*self.store, &key, check, answer, now_ms);
            }
        }
        rate_limit::from_answer(&mut self.policies, request, answer);
        match matched.decide(answer) {
            Ok(forward) => self.forward(request, forward, resume, None),
            Err(reply) => self.reply(request, reply),
        }
    }

    // --- Ends ----------------------------------------------------------------------------

    pub(super) fn reply(&mut self, request: RequestId, reply: LocalReply) -> Steps {
        // A forward the host failed to carry out: its call is counted, as it always was.
        self.on_response(request, || None);
        self.flows.set(request, State::Complete);
        self.uncount_forward(request);
        Steps::one(Step::Reply { request, reply })
    }

    /// Lets the request through. A request forwarded by the callback in progress
    /// (`resume: false`) is let go by that callback's return. `report`: the call, counted
    /// later (`Reporting::uncounted`).
    pub(super) fn forward(
        &mut self,
        request: RequestId,
        forward: Forward,
        resume: bool,
        report: Option<Uncounted>,
    ) -> Steps {
        if forward.response_headers.is_empty() && report.is_none() {
            self.flows.take(request);
        } else {
            let state = State::Forwarded {
                headers: forward.response_headers,
                report,
            };
            self.flows.set(request, state);
        }
        let counted = !self.defer_count(request, forward.public);
        let edits = self.policies.iter_mut().find(|(id, _)| *id == request);
        Steps {
            proceed: !resume,
            list: vec![Step::Forward {
                request,
                edit_request_headers: edits.map(|(_, p)| take(&mut p.request)).unwrap_or_default(),
                set_request_headers: forward.set_request_headers,
                secret_token: forward.secret_token,
                resume,
                public: forward.public,
                counted,
            }],
        }
    }

    /// Fails the request closed: an empty 500 (the host call that failed was logged).
    pub(super) fn fail(&mut self, request: RequestId) -> Steps {
        self.reply(request, LocalReply::internal_error())
    }

    /// Puts back a state taken by mistake (an event that does not apply to it).
    pub(super) fn put_back(&mut self, request: RequestId, state: Option<State>) -> Steps {
        let steps = held(state.as_ref());
        if let Some(state) = state {
            self.flows.set(request, state);
        }
        steps
    }
}

/// The configuration with the slot count the plugin's shared cache keeps
/// ([`slot_count`]): `backend.cache_max_entries` is where every lookup, lease, settle and drop
/// reads it, so it holds that count rather than the configured one.
fn with_pinned_slots(config: Rc<Config>, store: &dyn SharedStore) -> Rc<Config> {
    let configured = config.backend.cache_max_entries;
    let slots = slot_count::pinned(store, configured, config.uses_cache());
    if slots == configured {
        return config;
    }
    warn!(
        "tollgate: backend.cache_max_entries ignored: the shared cache of this plugin keeps \
         {slots} slots until Envoy restarts"
    );
    let mut pinned = (*config).clone();
    pinned.backend.cache_max_entries = slots;
    Rc::new(pinned)
}

/// The pseudo-headers of a request, as Envoy gives them.
#[derive(Debug, Clone, Copy)]
pub struct RequestLine<'a> {
    pub method: &'a str,
    pub authority: &'a str,
    pub path: &'a str,
}
