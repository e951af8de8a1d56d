//! What the root context and the HTTP contexts of one worker VM share: the authorization
//! cache, usage not yet moved to shared data, requests waiting for a backend answer, and the
//! backend calls in flight.
//!
//! Waiting requests are woken through a per-worker shared queue: whichever worker gets a
//! backend answer enqueues the entry key to every worker, and each worker's root context
//! resumes its own waiters (an HTTP context can only be resumed on its own thread).

use crate::host::{self, now_ms, HostResult};
use crate::http::{Flow, Step};
use crate::metrics::{BackendCallKind, Metrics};
use crate::store::HostStore;
use log::{debug, error, warn};
use proxy_wasm::types::Action;
use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};
use std::time::Duration;
use tollgate_core::backend::{BackendAnswer, BackendCall};
use tollgate_core::cache::reports::{self, ReportBatch};
use tollgate_core::cache::store::update;
use tollgate_core::cache::{AuthCache, CacheSettings, Calls, EntryKey, LocalUsage, Lookup, Ticket};
use tollgate_core::config::{Batching, Config};

/// Shared-data keys of the wake-up queues: a sequence number, and the queue tokens.
const QUEUE_SEQ_KEY: &str = "tollgate.workers.seq";
const QUEUES_KEY: &str = "tollgate.workers";
/// Queue tokens remembered (VMs come and go with configuration changes).
const MAX_QUEUES: usize = 64;

/// A request paused until a backend answer for its entry.
#[derive(Clone)]
pub struct Waiter {
    pub id: u32,
    pub flow: Weak<RefCell<Flow>>,
}

enum Call {
    Authorize {
        ticket: Ticket,
        /// Set when the answer serves only this request (its key found no cache slot).
        requester: Option<Waiter>,
    },
    Report(ReportBatch),
}

pub struct Worker {
    pub config: Rc<Config>,
    pub metrics: Rc<Metrics>,
    root_id: u32,
    cache: RefCell<Option<AuthCache>>,
    batching: Option<Batching>,
    usage: RefCell<LocalUsage>,
    /// Requests waiting per entry key, and backend calls in flight: few at a time, so plain
    /// `Vec`s (a map costs the module more).
    waiters: RefCell<Vec<(String, Waiter)>>,
    calls: RefCell<Vec<(u32, Call)>>,
    hits: Cell<u64>,
    misses: Cell<u64>,
}

impl Worker {
    pub fn new(config: Rc<Config>, metrics: Rc<Metrics>, root_id: u32) -> Worker {
        metrics.set_deferred(config.backend.batching.is_some());
        Worker {
            cache: RefCell::new(CacheSettings::new(&config.backend).map(AuthCache::new)),
            batching: config.backend.batching,
            config,
            metrics,
            root_id,
            usage: RefCell::default(),
            waiters: RefCell::default(),
            calls: RefCell::default(),
            hits: Cell::new(0),
            misses: Cell::new(0),
        }
    }

    pub fn batching(&self) -> bool {
        self.batching.is_some()
    }

    /// How often the root context's timer must run for this configuration.
    pub fn tick_period(&self) -> Option<Duration> {
        self.batching.map(|_| Duration::from_millis(250))
    }

    pub fn lookup(&self, key: &EntryKey, now: u64) -> Lookup {
        match self.cache.borrow_mut().as_mut() {
            Some(cache) => cache.lookup(&HostStore, key, now),
            None => Lookup::Deny(tollgate_core::cache::Denial::AuthFailed),
        }
    }

    /// Counts a forwarded call for the next report; `waited` tells hit from miss.
    pub fn count(&self, key: &EntryKey, leased: bool, waited: bool) {
        self.usage.borrow_mut().add(key, leased);
        let counter = if waited { &self.misses } else { &self.hits };
        counter.set(counter.get() + 1);
    }

    /// Authrep mode: the failure policy's answer when the backend is unavailable, if any
    /// `caching_type` is configured; otherwise remembers a real answer for later failures.
    pub fn authrep_answer(
        &self,
        key: &EntryKey,
        answer: &BackendAnswer,
    ) -> HostResult<Option<Lookup>> {
        let mut cache = self.cache.borrow_mut();
        let Some(cache) = cache.as_mut() else {
            return Ok(None);
        };
        let now = now_ms()?;
        if answer.decision() == tollgate_core::backend::Decision::BackendUnavailable {
            Ok(Some(cache.authrep_fallback(&HostStore, key, now)))
        } else {
            cache.remember_authrep(&HostStore, key, answer, now);
            Ok(None)
        }
    }

    /// Carries out what a request's flow asked for, from context `home` (the context whose
    /// callback is running). Returns the action for that callback when `home` is the request.
    pub fn drive(&self, waiter: &Waiter, mut step: Step, home: u32, resume: bool) -> Action {
        loop {
            match step {
                Step::Continue => return Action::Continue,
                Step::Pause => return Action::Pause,
                Step::Wait(key) => {
                    self.add_waiter(key.as_str(), waiter.clone());
                    return Action::Pause;
                }
                Step::Authorize(ticket, call) => {
                    match self.dispatch(&call, BackendCallKind::Authorize) {
                        Ok(token) => {
                            let requester = if ticket.is_cached() {
                                self.add_waiter(ticket.key.as_str(), waiter.clone());
                                None
                            } else {
                                Some(waiter.clone())
                            };
                            self.calls
                                .borrow_mut()
                                .push((token, Call::Authorize { ticket, requester }));
                            return Action::Pause;
                        }
                        Err(()) => {
                            // As if the backend had not answered: the failure policy decides.
                            let answer = BackendAnswer::default();
                            let direct = self.answer(&ticket, Ok(&answer));
                            step = self.in_context(waiter, home, |flow| match direct {
                                Ok(direct) => flow.resolve(self, direct, resume),
                                Err(e) => flow.fail(e),
                            });
                        }
                    }
                }
            }
        }
    }

    /// Runs `f` on a waiter's flow with Envoy's effective context set to it, then back to
    /// `home`. A gone request (reset by the client) yields `Step::Pause`.
    fn in_context(&self, waiter: &Waiter, home: u32, f: impl FnOnce(&mut Flow) -> Step) -> Step {
        let Some(flow) = waiter.flow.upgrade() else {
            return Step::Pause;
        };
        if waiter.id != home && host::set_effective_context(waiter.id).is_err() {
            return Step::Pause;
        }
        let step = match flow.try_borrow_mut() {
            Ok(mut flow) => f(&mut flow),
            Err(_) => Step::Pause,
        };
        if waiter.id != home {
            let _ = host::set_effective_context(home);
        }
        step
    }

    fn add_waiter(&self, key: &str, waiter: Waiter) {
        self.waiters.borrow_mut().push((key.to_string(), waiter));
    }

    /// Sends a backend call from the current effective context; its answer comes back to the
    /// context whose callback is running. A refused dispatch is counted as a backend error by
    /// whoever then handles the missing answer.
    pub fn dispatch(&self, call: &BackendCall, kind: BackendCallKind) -> Result<u32, ()> {
        let backend = &self.config.backend;
        let mut headers: Vec<(&str, &str)> = vec![
            (":method", call.method),
            (":path", &call.path),
            (":authority", &backend.authority),
        ];
        headers.extend(call.headers.iter().map(|(k, v)| (*k, v.as_str())));
        let body = (!call.body.is_empty()).then_some(call.body.as_bytes());
        self.metrics.backend_call(kind);
        let timeout = Duration::from_millis(backend.timeout_ms);
        host::dispatch(&backend.cluster, headers, body, timeout).map_err(|_| {
            warn!(
                "tollgate: backend callout to cluster {} failed",
                backend.cluster
            );
        })
    }

    /// Records an authorize answer; for an uncached ticket, returns the requester's lookup.
    /// An answer that could not be read (or the clock) is not recorded: the requester fails
    /// closed, and requests waiting on the key look again (and ask again once the ticket's
    /// wait is over).
    fn answer(
        &self,
        ticket: &Ticket,
        answer: HostResult<&BackendAnswer>,
    ) -> HostResult<Option<Lookup>> {
        if answer.is_ok_and(|a| a.status.is_none_or(|s| s >= 499)) {
            self.metrics.backend_error();
        }
        let direct = answer.and_then(|answer| {
            let now = now_ms()?;
            let mut cache = self.cache.borrow_mut();
            Ok(cache
                .as_mut()
                .and_then(|c| c.answer(&HostStore, ticket, answer, now)))
        });
        if !matches!(direct, Ok(Some(_))) {
            self.notify(&ticket.key);
        }
        direct
    }

    /// Whether `token` is a call this worker made (authorize or report).
    pub fn owns(&self, token: u32) -> bool {
        self.calls.borrow().iter().any(|(t, _)| *t == token)
    }

    /// A backend answer for one of this worker's calls, received by context `home`.
    pub fn on_response(&self, token: u32, answer: HostResult<BackendAnswer>, home: u32) {
        let call = {
            let mut calls = self.calls.borrow_mut();
            match calls.iter().position(|(t, _)| *t == token) {
                Some(i) => calls.swap_remove(i).1,
                None => return,
            }
        };
        match call {
            Call::Authorize { ticket, requester } => {
                let direct = self.answer(&ticket, answer.as_ref().map_err(|e| *e));
                let Some(waiter) = requester else {
                    return;
                };
                let step = self.in_context(&waiter, home, |flow| match direct {
                    Ok(Some(lookup)) => flow.resolve(self, Some(lookup), true),
                    Ok(None) => Step::Pause,
                    Err(e) => flow.fail(e),
                });
                self.drive(&waiter, step, home, true);
            }
            // An answer that could not be read is a failed report: kept and retried.
            Call::Report(batch) => self.on_report_answer(batch, answer.ok().and_then(|a| a.status)),
        }
    }

    /// Tells every worker (this one included) that `key` has a new answer.
    fn notify(&self, key: &EntryKey) {
        let (value, _) = tollgate_core::cache::SharedStore::get(&HostStore, QUEUES_KEY);
        for token in parse_tokens(value.as_deref()) {
            host::enqueue(token, key.as_str().as_bytes());
        }
    }

    /// Resumes the requests waiting on `key` (from the root context).
    pub fn wake(&self, key: &str) {
        let waiters: Vec<Waiter> = {
            let mut all = self.waiters.borrow_mut();
            let (woken, rest) = std::mem::take(&mut *all)
                .into_iter()
                .partition(|(k, _)| k == key);
            *all = rest;
            woken.into_iter().map(|(_, w)| w).collect()
        };
        for waiter in waiters {
            let step =
                self.in_context(&waiter, self.root_id, |flow| flow.resolve(self, None, true));
            self.drive(&waiter, step, self.root_id, true);
        }
    }

    /// Moves this worker's counted calls to shared data and returns its unused leases (the VM
    /// is going away).
    pub fn flush_usage(&self) {
        self.metrics.flush();
        if let Some(cache) = self.cache.borrow_mut().as_mut() {
            cache.release_all(&HostStore);
        }
        if let Some(batching) = self.batching {
            let _ = self
                .usage
                .borrow_mut()
                .flush(&HostStore, batching.max_pending as usize);
        }
    }

    /// The root context's timer: lease expiry, usage to shared data, lost wake-ups, reports.
    pub fn tick(&self) {
        // Without the clock nothing can expire or be reported; the next tick tries again.
        let Ok(now) = now_ms() else {
            return;
        };
        if let Some(cache) = self.cache.borrow_mut().as_mut() {
            cache.expire(&HostStore, now);
        }
        self.metrics
            .cache(self.hits.replace(0), self.misses.replace(0));
        self.metrics.flush();
        let Some(batching) = self.batching else {
            return;
        };
        let max_pending = batching.max_pending as usize;
        let merged = self.usage.borrow_mut().flush(&HostStore, max_pending);
        if let Some(merged) = merged {
            if merged.dropped > 0 {
                error!(
                    "tollgate: {} call(s) dropped: more than {max_pending} pending reports",
                    merged.dropped
                );
                self.drop_calls(&merged.dropped_leased, merged.dropped);
            }
            self.metrics.usage_pending(merged.pending);
        }
        // Waiters whose wake-up was lost, or whose asker went away, look again.
        let mut keys: Vec<String> = self
            .waiters
            .borrow()
            .iter()
            .map(|(k, _)| k.clone())
            .collect();
        // Unsorted: a key listed twice is simply found empty the second time.
        keys.dedup();
        for key in keys {
            self.wake(&key);
        }
        if reports::claim_report(&HostStore, now, batching.batch_report_seconds * 1000) {
            self.send_reports();
        }
    }

    fn send_reports(&self) {
        let (batches, dropped) = reports::batches(&self.config, reports::take_pending(&HostStore));
        if !dropped.is_empty() {
            let calls = Calls::total(&dropped);
            warn!("tollgate: {calls} call(s) of services no longer configured not reported");
            self.drop_calls(&dropped, calls);
        }
        for batch in batches {
            debug!(
                "tollgate: reporting {} call(s) for service {}",
                batch.calls(),
                batch.service_id
            );
            match self.dispatch(&batch.call, BackendCallKind::Report) {
                Ok(token) => {
                    self.calls.borrow_mut().push((token, Call::Report(batch)));
                }
                Err(()) => self.report_failed(batch, None),
            }
        }
    }

    /// Calls that will never be reported: counted, and no longer owed by their entries.
    fn drop_calls(&self, entries: &[(EntryKey, Calls)], calls: u64) {
        self.metrics.reports_dropped(calls);
        reports::settle(&HostStore, self.config.backend.cache_max_entries, entries);
    }

    fn on_report_answer(&self, batch: ReportBatch, status: Option<u16>) {
        match status {
            Some(200..=299) => {
                let slots = self.config.backend.cache_max_entries;
                reports::settle(&HostStore, slots, &batch.entries);
                reports::report_succeeded(&HostStore);
            }
            Some(s @ 400..=498) => {
                // The backend refuses the report itself (credentials, format): retrying
                // cannot help, so the calls are dropped, loudly.
                error!(
                    "tollgate: backend refused a report for service {} with {s}: {} call(s) dropped",
                    batch.service_id,
                    batch.calls()
                );
                self.metrics.report_failure();
                self.drop_calls(&batch.entries, batch.calls());
            }
            _ => self.report_failed(batch, status),
        }
    }

    /// Keeps the calls of a failed report for the next attempt, after a backoff.
    fn report_failed(&self, batch: ReportBatch, status: Option<u16>) {
        self.metrics.report_failure();
        let mut usage = self.usage.borrow_mut();
        for (key, calls) in &batch.entries {
            usage.add_calls(key, *calls);
        }
        // Without the clock, the backoff starts from 0: the retry comes on the next tick.
        let backoff = reports::report_failed(&HostStore, now_ms().unwrap_or(0));
        warn!(
            "tollgate: report for service {} failed ({status:?}); {} call(s) kept, retry in {backoff} ms",
            batch.service_id,
            batch.calls()
        );
    }
}

/// Registers this worker's wake-up queue (a unique name per VM) and publishes its token.
pub fn register_wake_queue() -> Option<u32> {
    let seq = update(&HostStore, QUEUE_SEQ_KEY, |value| {
        let n: u64 = value
            .and_then(|v| std::str::from_utf8(v).ok()?.parse().ok())
            .unwrap_or(0)
            + 1;
        Some((n.to_string().into_bytes(), n))
    })?;
    let token = host::register_queue(&format!("tollgate.wake.{seq}")).ok()?;
    update(&HostStore, QUEUES_KEY, |value| {
        let mut tokens = parse_tokens(value);
        tokens.push(token);
        let skip = tokens.len().saturating_sub(MAX_QUEUES);
        let text: Vec<String> = tokens[skip..].iter().map(u32::to_string).collect();
        Some((text.join(" ").into_bytes(), ()))
    })?;
    Some(token)
}

fn parse_tokens(value: Option<&[u8]>) -> Vec<u32> {
    value
        .map(String::from_utf8_lossy)
        .unwrap_or_default()
        .split(' ')
        .filter_map(|t| t.parse().ok())
        .collect()
}
