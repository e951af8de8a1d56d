//! Sends the requests the core's System loader asks for (`tollgate_core::system::loader`)
//! through the System cluster on the root context's timer, hands back the answers, and
//! installs each new configuration on this worker.

use crate::host;
use crate::metrics::Metrics;
use crate::runner::Runner;
use crate::store::HostStore;
use log::debug;
use std::rc::Rc;
use std::time::Duration;
use tollgate_core::config::{Config, SystemConfig};
use tollgate_core::system::loader::{Loader, LoaderStep};

pub struct SystemFetcher(Loader, HostStore);

impl SystemFetcher {
    pub fn new(system: SystemConfig, store: HostStore) -> SystemFetcher {
        SystemFetcher(Loader::new(system), store)
    }

    pub fn owns(&self, token: u32) -> bool {
        self.0.owns(token)
    }

    /// The VM is going away: a fetch in progress is left to the other workers.
    pub fn shutdown(&mut self) {
        self.0.on_shutdown(&self.1, host::now_ms().unwrap_or(0));
    }

    /// Returns the configuration installed on this worker, if a new one was.
    pub fn tick(&mut self, runner: &Runner, metrics: &Metrics) -> Option<Rc<Config>> {
        let Ok(now_ms) = host::now_ms() else {
            return None;
        };
        let steps = self.0.on_tick(&self.1, now_ms);
        self.carry_out(steps, runner, metrics, now_ms)
    }

    /// The answer to the request in flight (a failed read fails the fetch).
    /// Returns the configuration installed on this worker, if a new one was.
    pub fn on_response(
        &mut self,
        body_size: usize,
        runner: &Runner,
        metrics: &Metrics,
    ) -> Option<Rc<Config>> {
        let status = crate::headers::call_status();
        // Read only if the loader wants it (a 200 within `max_answer_bytes`).
        let read_body = || host::call_response_body(body_size).ok().flatten();
        let now_ms = host::now_ms().unwrap_or(0);
        let base = runner.config();
        let steps = (self.0).on_answer(&self.1, base, status, body_size, read_body, now_ms);
        self.carry_out(steps, runner, metrics, now_ms)
    }

    fn carry_out(
        &mut self,
        steps: Vec<LoaderStep>,
        runner: &Runner,
        metrics: &Metrics,
        now_ms: u64,
    ) -> Option<Rc<Config>> {
        let mut installed = None;
        for step in steps {
            match step {
                LoaderStep::Get(path) => {
                    let system = self.0.system();
                    let timeout = Duration::from_millis(system.timeout_ms);
                    let cluster = system.cluster.clone();
                    let mut headers = self.0.request_headers();
                    headers.push((":path", path));
                    let headers: Vec<(&str, &str)> =
                        headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
                    let token = host::dispatch(&cluster, headers, None, timeout).ok();
                    self.0.on_sent(&self.1, token, now_ms);
                }
                LoaderStep::Fetched(at_s) => metrics.config_fetched_at(at_s),
                LoaderStep::Install(loaded) => {
                    let (config, warnings) = runner.config().with_fetched(&loaded.services);
                    // The fetching worker has logged each skipped service already.
                    for warning in warnings {
                        debug!("tollgate: {warning}");
                    }
                    metrics.config_installed(&config, loaded.loaded_at_s);
                    let config = Rc::new(config);
                    runner.install(config.clone());
                    installed = Some(config);
                }
            }
        }
        metrics.config_fetches(self.0.take_counts());
        installed
    }
}
