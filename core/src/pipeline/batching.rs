//! Batching mode on a worker (`3scale_batcher`, or `backend.batching` by default): a request
//! waits for the cache's answer, asks the backend (`authorize`) on a miss, and is woken when
//! another request's answer arrives. Each service's own settings apply (`CacheSettings`).

use super::flow::State;
use super::matched::MatchedRequest;
use super::reporting::minute_of;
use super::steps::{CallPurpose, RequestId, Step, Steps};
use super::worker::Worker;
use crate::backend::BackendAnswer;
use crate::cache::{CacheSettings, Denial, EntryKey, Lookup, Ticket};
use crate::policies::rate_limit_headers as rate_limit;

/// A request being decided from the cache: `waited`, it waited already (a miss); `resume`,
/// it is paused and must be resumed when forwarded.
pub(super) struct Waiting {
    pub request: RequestId,
    pub waited: bool,
    pub resume: bool,
}

impl Worker {
    /// Another request's answer for `key` arrived (on any worker): its waiters look again.
    pub fn on_wake(&mut self, key: &str) -> Steps {
        self.wake(Some(key))
    }

    pub(super) fn wake(&mut self, key: Option<&str>) -> Steps {
        let mut steps = Steps::hold();
        for request in self.flows.waiting_on(key) {
            steps.extend(self.resolve(request, true, None));
        }
        steps
    }

    /// Batching mode: decides a waiting request from the cache. Runs when the request arrives
    /// and on every wake-up.
    pub(super) fn resolve(
        &mut self,
        request: RequestId,
        resume: bool,
        now_ms: Option<u64>,
    ) -> Steps {
        let Some(State::Waiting {
            matched,
            key,
            waited,
            ..
        }) = self.flows.take(request)
        else {
            return Steps::hold();
        };
        let waiting = Waiting {
            request,
            waited,
            resume,
        };
        self.resolve_matched(waiting, *matched, key, now_ms)
    }

    /// Decides `request` from the cache; it is listed as waiting only if it must wait (a
    /// request decided at once, a cache hit, is never stored).
    pub(super) fn resolve_matched(
        &mut self,
        waiting: Waiting,
        matched: MatchedRequest,
        key: EntryKey,
        now_ms: Option<u64>,
    ) -> Steps {
        let Some(now_ms) = now_ms.or_else(|| self.clock.now_ms()) else {
            return self.fail(waiting.request);
        };
        let lookup = self.lookup(&matched, &key, now_ms);
        self.act(waiting, matched, key, lookup, now_ms)
    }

    /// Carries out the cache's answer for a request.
    #[inline(never)]
    fn act(
        &mut self,
        Waiting {
            request,
            waited,
            resume,
        }: Waiting,
        matched: MatchedRequest,
        key: EntryKey,
        lookup: Lookup,
        now_ms: u64,
    ) -> Steps {
        let cached = (Some(&self.cache), &key);
        rate_limit::from_cache(&mut self.policies, request, &lookup, cached, &*self.clock);
        match lookup {
            Lookup::Forward { leased } => {
                let call = (key, leased, minute_of(now_ms));
                let streaming = self.watches_body(request);
                let report = (self.reporting).forwarded(call, waited, streaming);
                self.forward(request, matched.forward(), resume, report)
            }
            Lookup::Deny(denial) => {
                self.reporting.decided(waited);
                self.reply(request, matched.denied(denial))
            }
            // One key of an application asked about on its own: the answer decides this
            // request alone (`authorize_answer`), so it waits for nothing else.
            Lookup::Authorize(ticket) if ticket.is_cached() && ticket.verifies() => {
                let call = matched.authorize_call();
                self.flows.set(request, State::Calling(Box::new(matched)));
                Steps::one(Step::Call {
                    call,
                    purpose: CallPurpose::Authorize {
                        ticket,
                        requester: request,
                        resume,
                    },
                })
            }
            // No slot can hold this entry's budget, so nothing would stop concurrent requests
            // at the limit: the backend authorizes and counts the call at once (authrep), and
            // it is not reported (found by an audit, 2026-12-05: with the cache full, every
            // request was authorized on its own and its call reported later).
            Lookup::Authorize(ticket) if !ticket.is_cached() => {
                let call = matched.authrep_call();
                self.flows.set(request, State::Calling(Box::new(matched)));
                Steps::one(Step::Call {
                    call,
                    purpose: CallPurpose::Authrep { request, resume },
                })
            }
            Lookup::Authorize(ticket) => {
                let call = matched.authorize_call();
                self.wait(request, matched, key);
                Steps::one(Step::Call {
                    call,
                    purpose: CallPurpose::Authorize {
                        ticket,
                        requester: request,
                        resume,
                    },
                })
            }
            Lookup::Wait => {
                self.wait(request, matched, key);
                Steps::hold()
            }
        }
    }

    /// The request waits for an answer on its key.
    fn wait(&mut self, request: RequestId, matched: MatchedRequest, key: EntryKey) {
        let waiting = State::Waiting {
            matched: Box::new(matched),
            key,
            waited: true,
        };
        self.flows.set(request, waiting);
    }

    /// The cache's answer, with the service's settings (caching type, TTLs).
    fn lookup(&mut self, matched: &MatchedRequest, key: &EntryKey, now_ms: u64) -> Lookup {
        let service = matched.service();
        match CacheSettings::for_service(&self.config.backend, &service.policies) {
            Some(settings) => {
                let check = matched.key_check();
                let cache = self.cache.with_settings(settings);
                cache.lookup_checked(&*self.store, key, check.as_deref(), now_ms)
            }
            // A service that batches always has settings; if it had none, deny.
            None => Lookup::Deny(Denial::AuthFailed),
        }
    }

    /// An `authorize` answer: recorded for every request waiting on the key (on every
    /// worker), which are woken to look again. Tickets are cached ones only (a request
    /// without a slot gets an authrep). An answer that could not be read (or the clock) is not
    /// recorded: requests waiting on the key look again (and ask again once the ticket's wait
    /// is over). Nor is one whose slot another key took while it was slow to come (past
    /// `wait_ms`): the waiters look again too, and find a slot or get an authrep each. (Until
    /// 2026-12-06 nobody was woken then: the requester and every waiter sat until their
    /// worker's next tick; found by an audit.)
    pub(super) fn authorize_answer(
        &mut self,
        ticket: &Ticket,
        requester: RequestId,
        answer: Option<&BackendAnswer>,
        resume: bool,
        later: bool,
    ) -> Steps {
        let resume = resume || later;
        if ticket.verifies() {
            return self.verify_answer(ticket, requester, answer, resume);
        }
        if let (Some(answer), Some(now_ms)) = (answer, self.clock.now_ms()) {
            self.cache.answer(&*self.store, ticket, answer, now_ms);
            if self.cache.take_report_soon() {
                crate::cache::reports::report_soon(&*self.store, now_ms);
            }
        }
        let mut steps = Steps::one(Step::Notify(ticket.key.clone()));
        // The requester waits on the key like any other request: the notice wakes it. A
        // call refused in the requester's own callback is decided there, from the answer
        // just recorded (the failure policy).
        if !later {
            steps.extend(self.resolve(requester, resume, None));
        }
        steps
    }

    /// The answer about one key of an application (`Ticket::verifies`): recorded, it
    /// decides its requester, which waited for nothing else. An answer that could not be
    /// read is the backend failing.
    fn verify_answer(
        &mut self,
        ticket: &Ticket,
        requester: RequestId,
        answer: Option<&BackendAnswer>,
        resume: bool,
    ) -> Steps {
        let matched = match self.flows.take(requester) {
            Some(State::Calling(matched)) => matched,
            other => return self.put_back(requester, other),
        };
        let Some(now_ms) = self.clock.now_ms() else {
            return self.fail(requester);
        };
        let unreadable = BackendAnswer::default();
        let answer = answer.unwrap_or(&unreadable);
        let lookup = self.cache.answer(&*self.store, ticket, answer, now_ms);
        let lookup = lookup.unwrap_or(Lookup::Deny(Denial::AuthFailed));
        if self.cache.take_report_soon() {
            crate::cache::reports::report_soon(&*self.store, now_ms);
        }
        let waiting = Waiting {
            request: requester,
            waited: true,
            resume,
        };
        let mut steps = Steps::one(Step::Notify(ticket.key.clone()));
        let key = ticket.key.clone();
        steps.extend(self.act(waiting, *matched, key, lookup, now_ms));
        steps
    }
}
