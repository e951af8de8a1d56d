//! The root context: configuration parsing (once per worker VM), HTTP context creation, and
//! the worker's timer and wake-up queue.

use crate::host;
use crate::http::TollgateHttp;
#[cfg(feature = "jwt")]
use crate::jwks::JwksFetcher;
use crate::metrics::Metrics;
use crate::runner::Runner;
use crate::store::{HostClock, HostStore};
use crate::system::SystemFetcher;
use crate::wake;
use log::{error, info, warn};
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::ContextType;
use std::cell::Cell;
use std::collections::BTreeSet;
use std::rc::Rc;
use std::time::Duration;
use tollgate_core::config::Config;
use tollgate_core::pipeline::Worker;

pub struct TollgateRoot {
    id: u32,
    worker: Option<Rc<Runner>>,
    metrics: Rc<Metrics>,
    /// Batching's wake-up queue, registered at the first request (see [`WakeQueue`]).
    wake_queue: Cell<WakeQueue>,
    store: Option<HostStore>,
    system: Option<SystemFetcher>,
    #[cfg(feature = "jwt")]
    jwks: JwksFetcher,
}

impl TollgateRoot {
    pub fn new(id: u32) -> TollgateRoot {
        TollgateRoot {
            id,
            worker: None,
            metrics: Rc::default(),
            wake_queue: Cell::new(WakeQueue::Unwanted),
            store: None,
            system: None,
            #[cfg(feature = "jwt")]
            jwks: JwksFetcher::default(),
        }
    }
}

/// Whether this root context has a wake-up queue. It is registered at the root context's
/// first request, never in `on_configure`: Envoy's main thread loads the configuration in VMs
/// of its own, which serve no request and are torn down without `on_done`, and each queue they
/// registered would fill with every notice, unread, for the rest of the process (found by an
/// audit, 2026-12-06).
#[derive(Clone, Copy, PartialEq, Eq)]
enum WakeQueue {
    /// No batching: nobody waits for another request's answer.
    Unwanted,
    AtFirstRequest,
    Registered,
    /// Registration failed: waiting requests are resumed by the timer.
    Failed,
}

impl TollgateRoot {
    fn register_wake_queue(&self) {
        let Some(store) = &self.store else {
            return;
        };
        let now_s = host::now_ms().map_or(0, |ms| ms / 1000);
        if wake::register_queue(store, self.id, now_s).is_some() {
            self.wake_queue.set(WakeQueue::Registered);
        } else {
            warn!("tollgate: no wake-up queue; waiting requests are resumed by the timer");
            self.wake_queue.set(WakeQueue::Failed);
        }
    }
}

impl Context for TollgateRoot {
    fn on_done(&mut self) -> bool {
        if let Some(system) = &mut self.system {
            system.shutdown();
        }
        if let (WakeQueue::Registered, Some(store)) = (self.wake_queue.get(), &self.store) {
            wake::unregister_queue(store, self.id);
        }
        // Calls counted here but not yet in shared data would be lost with this VM.
        if let Some(runner) = &self.worker {
            runner.metrics.flush();
            runner.run(self.id, |worker| {
                worker.on_shutdown();
                Default::default()
            });
        }
        true
    }

    fn on_http_call_response(
        &mut self,
        token: u32,
        num_headers: usize,
        body_size: usize,
        _: usize,
    ) {
        let Some(runner) = &self.worker else {
            return;
        };
        if let Some(system) = self.system.as_mut().filter(|s| s.owns(token)) {
            let installed = system.on_response(body_size, runner, &self.metrics);
            #[cfg(feature = "jwt")]
            if let Some(config) = installed {
                self.jwks.follow(config);
            }
            #[cfg(not(feature = "jwt"))]
            let _ = installed;
        } else if runner.owns_call(token) {
            // A failed read is an unreadable answer: the core fails closed.
            let answer = crate::headers::backend_answer(num_headers);
            runner.run(self.id, |w| w.on_backend_answer(token, answer));
        } else {
            #[cfg(feature = "jwt")]
            if self.jwks.owns(token) {
                self.jwks.on_response(token, body_size, &self.metrics);
            }
        }
    }
}

/// Keys for the hash maps clients fill (`tollgate_core::hashing`), before any is built. Without
/// random bytes, the clock's nanoseconds at this VM's start stand in: not secret, but not the
/// same in every VM as std's keys are here.
fn seed_hash_maps() {
    let (k0, k1) = host::random_words().unwrap_or_else(|_| {
        warn!("tollgate: no random bytes from the host: hash map keys come from the clock");
        let now = host::now_ns().unwrap_or(0);
        (now, now.rotate_left(32) ^ 0x9e37_79b9_7f4a_7c15)
    });
    tollgate_core::hashing::seed(k0, k1);
}

impl RootContext for TollgateRoot {
    fn on_vm_start(&mut self, _: usize) -> bool {
        crate::logger::follow_host_level();
        seed_hash_maps();
        self.metrics = Rc::new(Metrics::define());
        true
    }

    fn on_configure(&mut self, _: usize) -> bool {
        let raw = match host::plugin_configuration() {
            Ok(raw) => raw.unwrap_or_default(),
            Err(_) => {
                error!("tollgate: the configuration could not be read from Envoy");
                return false;
            }
        };
        let parsed = match Config::parse(&raw) {
            Ok(parsed) => parsed,
            Err(e) => {
                error!("tollgate: invalid configuration: {e}");
                return false;
            }
        };
        for warning in &parsed.warnings {
            warn!("tollgate: {warning}");
        }
        info!(
            "tollgate: configuration loaded: {} service(s), backend cluster {}",
            parsed.config.services.len(),
            parsed.config.backend.cluster
        );
        let config = Rc::new(parsed.config);
        let store = HostStore::for_plugin();
        let worker = Worker::new(config.clone(), Box::new(store.clone()), Box::new(HostClock));
        let mut tick = worker.tick_period_ms().map(Duration::from_millis);
        self.system = (config.system.clone()).map(|s| SystemFetcher::new(s, store.clone()));
        if self.system.is_some() {
            // The first fetch right after start; new generations installed within 250 ms.
            tick = Some(Duration::from_millis(250));
        }
        if worker.batching() && self.wake_queue.get() == WakeQueue::Unwanted {
            self.wake_queue.set(WakeQueue::AtFirstRequest);
        }
        self.store = Some(store.clone());
        #[cfg(feature = "jwt")]
        let tick = {
            self.jwks = JwksFetcher::new(config.clone());
            // The first fetch happens on the first tick.
            if self.jwks.is_empty() {
                tick
            } else {
                tick.or(Some(std::time::Duration::from_secs(1)))
            }
        };
        if let Some(period) = tick {
            if host::set_tick_period(period).is_err() {
                // Reports, lease expiry and JWKS fetches all need the timer.
                error!("tollgate: configuration refused: no timer");
                return false;
            }
        }
        self.worker = Some(Rc::new(Runner::new(worker, self.metrics.clone(), store)));
        true
    }

    fn on_tick(&mut self) {
        if let Some(runner) = &self.worker {
            if let Some(system) = &mut self.system {
                let installed = system.tick(runner, &self.metrics);
                #[cfg(feature = "jwt")]
                if let Some(config) = installed {
                    self.jwks.follow(config);
                }
                #[cfg(not(feature = "jwt"))]
                let _ = installed;
            }
            runner.run(self.id, Worker::on_tick);
            runner.metrics.flush();
        }
        if let (WakeQueue::Registered, Some(store), Ok(now_ms)) =
            (self.wake_queue.get(), &self.store, host::now_ms())
        {
            wake::heartbeat(store, self.id, now_ms / 1000);
        }
        #[cfg(feature = "jwt")]
        if let Ok(now_ms) = host::now_ms() {
            self.jwks.tick(now_ms / 1000);
        }
    }

    fn on_queue_ready(&mut self, queue_id: u32) {
        let mut keys = BTreeSet::new();
        while let Ok(Some(message)) = host::dequeue(queue_id) {
            keys.insert(String::from_utf8_lossy(&message).into_owned());
        }
        if let Some(runner) = &self.worker {
            for key in keys {
                runner.run(self.id, |w| w.on_wake(&key));
            }
        }
    }

    fn create_http_context(&self, context_id: u32) -> Option<Box<dyn HttpContext>> {
        let worker = self.worker.clone()?;
        if self.wake_queue.get() == WakeQueue::AtFirstRequest {
            self.register_wake_queue();
        }
        Some(Box::new(TollgateHttp::new(context_id, worker)))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}
