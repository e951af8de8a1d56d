//! The fake Envoy of the state-machine tests (`worker_tests`, `routing_tests`): it carries out
//! the steps of one or more workers (shared store, fake clock), as the adapter does, and
//! records what each request got, what the upstream received, and what the backend was asked.

use super::*;
use crate::backend::BackendAnswer;
use crate::cache::{MemoryStore, SharedStore};
use crate::config::Config;
use serde_json::Value;
use std::cell::Cell;
use std::collections::HashMap;
use std::rc::Rc;

pub(super) struct Store(pub(super) Rc<MemoryStore>);
impl SharedStore for Store {
    fn get(&self, key: &str) -> (Option<Vec<u8>>, u32) {
        self.0.get(key)
    }
    fn set(
        &self,
        key: &str,
        value: &[u8],
        version: u32,
    ) -> Result<(), crate::cache::store::Conflict> {
        self.0.set(key, value, version)
    }
}

pub(super) struct FakeClock(pub(super) Rc<Cell<Option<u64>>>);
impl Clock for FakeClock {
    fn now_ms(&self) -> Option<u64> {
        self.0.get()
    }
}

pub(super) struct Headers(pub(super) Vec<(&'static str, &'static str)>);
impl HeaderSource for Headers {
    fn header(&self, name: &str) -> Option<String> {
        self.0
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.to_string())
    }

    fn header_ambiguous(&self, name: &str) -> bool {
        let mut values = (self.0.iter())
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v);
        let first = values.next();
        values.any(|v| Some(v) != first)
    }

    fn any_value_any_spelling(&self, name: &str, found: &mut dyn FnMut(&str) -> bool) -> bool {
        (self.0.iter()).any(|(k, v)| {
            crate::request::same_header_spelling(k.as_bytes(), name.as_bytes()) && found(v)
        })
    }
}

/// One request's decision without a worker: `begin`, the form `body` when not empty (it must
/// be waited for), then `authorize`. The form-body tests' shared path to a verdict.
pub(super) fn decide_with_form(
    config: &Config,
    method: &str,
    path: &str,
    headers: &[(&'static str, &'static str)],
    body: &str,
) -> Result<Next, LocalReply> {
    let head = RequestHead {
        method,
        authority: "api",
        path,
        now_s: 0,
    };
    let mut pending = begin(config, head, &Headers(headers.to_vec()))?;
    if !body.is_empty() {
        assert!(
            pending.wants_body(),
            "{method} {path} {headers:?}: body not read"
        );
        pending.add_form_body(body.as_bytes());
    }
    pending.authorize()
}

/// The metrics a `GET` is reported with (it must go to the backend).
pub(super) fn backend_usage(
    config: &Config,
    path: &str,
    headers: &[(&'static str, &'static str)],
) -> Vec<String> {
    match decide_with_form(config, "GET", path, headers, "") {
        Ok(Next::Backend(m)) => m.usage.iter().map(|(m, _)| m.to_string()).collect(),
        _ => panic!("expected a backend call"),
    }
}

/// What happened to one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Fate {
    /// Paused, undecided.
    Held,
    /// Went upstream with these headers set; `resumed`: by a later event.
    Forwarded {
        headers: Vec<(String, String)>,
        resumed: bool,
    },
    Replied(u16, Outcome),
}

/// A fake Envoy with `n` workers on one shared store and one clock.
pub(super) struct Envoy {
    pub(super) workers: Vec<Worker>,
    pub(super) store: Rc<MemoryStore>,
    pub(super) clock: Rc<Cell<Option<u64>>>,
    pub(super) fates: HashMap<RequestId, Fate>,
    /// Calls in flight: (worker, token, call path).
    pub(super) calls: Vec<(usize, u32, String)>,
    pub(super) next_token: u32,
    /// Bodies of every call made (reports).
    pub(super) call_bodies: Vec<String>,
    /// The host refuses to dispatch.
    pub(super) refuse_calls: bool,
    /// Request bodies Envoy buffered.
    pub(super) bodies: HashMap<RequestId, Vec<u8>>,
}

impl Envoy {
    pub(super) fn new(config: Value, workers: usize) -> Envoy {
        let config = Rc::new(Config::parse(config.to_string().as_bytes()).unwrap().config);
        let store = Rc::new(MemoryStore::default());
        let clock = Rc::new(Cell::new(Some(1_000_000)));
        Envoy {
            workers: (0..workers)
                .map(|_| {
                    Worker::new(
                        config.clone(),
                        Box::new(Store(store.clone())),
                        Box::new(FakeClock(clock.clone())),
                    )
                })
                .collect(),
            store,
            clock,
            fates: HashMap::new(),
            calls: Vec::new(),
            next_token: 1,
            call_bodies: Vec::new(),
            refuse_calls: false,
            bodies: HashMap::new(),
        }
    }

    /// Adds a worker with another configuration on the same shared data (a configuration
    /// update: the old VMs drain while the new ones start); returns its index.
    pub(super) fn add_worker(&mut self, config: Value) -> usize {
        let config = Rc::new(Config::parse(config.to_string().as_bytes()).unwrap().config);
        self.workers.push(Worker::new(
            config,
            Box::new(Store(self.store.clone())),
            Box::new(FakeClock(self.clock.clone())),
        ));
        self.workers.len() - 1
    }

    /// Every worker installs these services, as loaded from 3scale System (`content` objects).
    pub(super) fn install_fetched(&mut self, services: &[Value]) {
        let fetched: Vec<crate::config::FetchedService> = services
            .iter()
            .enumerate()
            .map(|(i, content)| crate::config::FetchedService {
                id: content["id"].as_u64().map(|id| id.to_string()),
                version: 1,
                environment: "production".into(),
                content: content.clone(),
                path: format!("proxy_configs[{i}].proxy_config.content"),
            })
            .collect();
        let base = self.workers[0].config().clone();
        let (config, warnings) = base.with_fetched(&fetched);
        assert!(warnings.is_empty(), "{warnings:?}");
        let config = Rc::new(config);
        for worker in &mut self.workers {
            worker.install_config(config.clone());
        }
    }

    /// Sends a request to worker `w`; returns what the headers callback returned.
    pub(super) fn request(
        &mut self,
        w: usize,
        id: RequestId,
        method: &str,
        path: &str,
        end: bool,
    ) -> bool {
        self.request_with(w, id, method, path, &[], end)
    }

    pub(super) fn request_with(
        &mut self,
        w: usize,
        id: RequestId,
        method: &str,
        path: &str,
        headers: &[(&'static str, &'static str)],
        end: bool,
    ) -> bool {
        self.fates.insert(id, Fate::Held);
        let line = RequestLine {
            method,
            authority: "api.example.com",
            path,
        };
        let steps = self.workers[w].on_request_headers(id, line, &Headers(headers.to_vec()), end);
        self.carry_out(w, id, steps)
    }

    pub(super) fn body(&mut self, w: usize, id: RequestId, body: &str, end: bool) -> bool {
        self.bodies.insert(id, body.as_bytes().to_vec());
        let steps = self.workers[w].on_request_body(id, body.len(), end);
        self.carry_out(w, id, steps)
    }

    /// The backend answers the oldest call in flight with `status` (and a remaining budget).
    pub(super) fn answer(&mut self, status: Option<u16>, remaining: Option<&str>) -> String {
        self.answer_with_reset(status, remaining, None)
    }

    /// As [`Envoy::answer`], with `3scale-limit-reset` (seconds to the period's end).
    pub(super) fn answer_with_reset(
        &mut self,
        status: Option<u16>,
        remaining: Option<&str>,
        reset_s: Option<u64>,
    ) -> String {
        let (w, token, path) = self.calls.remove(0);
        let answer = status.map(|s| BackendAnswer {
            status: Some(s),
            limit_remaining: remaining.map(str::to_string),
            limit_reset: reset_s.map(|r| r.to_string()),
            ..Default::default()
        });
        let steps = self.workers[w].on_backend_answer(token, answer);
        self.carry_out(w, 0, steps);
        path
    }

    /// Envoy is done with request `id` on worker `w` (completed or reset): the calls its
    /// context sent are cancelled, and the keys whose ask went with it are notified.
    pub(super) fn done(&mut self, w: usize, id: RequestId) {
        let abandoned = self.workers[w].on_request_done(id);
        let owned: Vec<bool> = (self.calls.iter())
            .map(|(cw, token, _)| *cw != w || self.workers[w].owns_call(*token))
            .collect();
        let mut owned = owned.into_iter();
        self.calls.retain(|_| owned.next().unwrap_or(true));
        let steps = Steps {
            list: abandoned.into_iter().map(Step::Notify).collect(),
            ..Steps::default()
        };
        self.carry_out(w, 0, steps);
    }

    pub(super) fn tick(&mut self, w: usize) {
        let steps = self.workers[w].on_tick();
        self.carry_out(w, 0, steps);
    }

    /// Carries out steps as the adapter does, from context `home` of worker `w`.
    pub(super) fn carry_out(&mut self, w: usize, home: RequestId, steps: Steps) -> bool {
        let mut proceed = steps.proceed;
        let mut pending = steps.list;
        pending.reverse();
        while let Some(step) = pending.pop() {
            let follow = match step {
                Step::Reply { request, reply } => {
                    self.fates
                        .insert(request, Fate::Replied(reply.status, reply.outcome));
                    None
                }
                Step::Forward {
                    request,
                    mut set_request_headers,
                    secret_token,
                    resume,
                    ..
                } => {
                    // As the adapter does: the secret token last.
                    if let Some(token) = secret_token {
                        set_request_headers.push((SECRET_TOKEN_HEADER.into(), token.to_string()));
                    }
                    if !resume {
                        assert_eq!(request, home, "only the callback in progress goes on");
                    }
                    self.fates.insert(
                        request,
                        Fate::Forwarded {
                            headers: set_request_headers,
                            resumed: resume,
                        },
                    );
                    None
                }
                Step::ReadBody { request, size } => {
                    let body = self.bodies.get(&request).cloned().unwrap_or_default();
                    Some(self.workers[w].on_form_body(request, &body[..size.min(body.len())]))
                }
                Step::ScanBody {
                    request,
                    from,
                    size,
                    end,
                } => {
                    let body = self.bodies.get(&request).cloned().unwrap_or_default();
                    let chunk = body.get(from..size).unwrap_or_default();
                    Some(self.workers[w].on_body_chunk(request, size, chunk, end))
                }
                Step::Call { call, purpose } => {
                    if self.refuse_calls {
                        Some(self.workers[w].on_call_refused(purpose))
                    } else {
                        let token = self.next_token;
                        self.next_token += 1;
                        self.calls.push((w, token, call.path.clone()));
                        self.call_bodies.push(call.body.clone());
                        self.workers[w].on_call_sent(token, purpose, home);
                        None
                    }
                }
                Step::Notify(key) => {
                    let mut more = Steps::default();
                    for i in 0..self.workers.len() {
                        let steps = self.workers[i].on_wake(key.as_str());
                        // Woken requests are resumed from worker i's root context.
                        self.carry_out(i, 0, steps);
                    }
                    more.proceed = false;
                    Some(more)
                }
            };
            if let Some(more) = follow {
                proceed |= more.proceed;
                pending.extend(more.list.into_iter().rev());
            }
        }
        proceed
    }

    pub(super) fn fate(&self, id: RequestId) -> Fate {
        self.fates[&id].clone()
    }
}
