//! The root context: configuration parsing (once per worker VM) and HTTP context creation.

use crate::http::TollgateHttp;
#[cfg(feature = "jwt")]
use crate::jwks::JwksFetcher;
use crate::metrics::Metrics;
use log::{error, info, warn};
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::ContextType;
use std::rc::Rc;
use tollgate_core::config::Config;

#[derive(Default)]
pub struct TollgateRoot {
    config: Option<Rc<Config>>,
    metrics: Rc<Metrics>,
    #[cfg(feature = "jwt")]
    jwks: JwksFetcher,
}

impl TollgateRoot {
    #[cfg(feature = "jwt")]
    fn now(&self) -> u64 {
        self.get_current_time()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    }
}

impl Context for TollgateRoot {
    #[cfg(feature = "jwt")]
    fn on_http_call_response(&mut self, token: u32, _: usize, body_size: usize, _: usize) {
        let status = self
            .get_http_call_response_header(":status")
            .and_then(|s| s.parse().ok());
        let body = self.get_http_call_response_body(0, body_size);
        let now = self.now();
        if let Some(config) = &self.config {
            self.jwks
                .on_response(token, status, body, config, &self.metrics, now);
        }
    }
}

impl RootContext for TollgateRoot {
    fn on_vm_start(&mut self, _: usize) -> bool {
        // Match Envoy's level for the `wasm` logger so disabled log lines cost nothing.
        if let Ok(level) = proxy_wasm::hostcalls::get_log_level() {
            proxy_wasm::set_log_level(level);
        }
        self.metrics = Rc::new(Metrics::define());
        true
    }

    fn on_configure(&mut self, _: usize) -> bool {
        let raw = self.get_plugin_configuration().unwrap_or_default();
        match Config::parse(&raw) {
            Ok(parsed) => {
                for warning in &parsed.warnings {
                    warn!("tollgate: {warning}");
                }
                info!(
                    "tollgate: configuration loaded: {} service(s), backend cluster {}",
                    parsed.config.services.len(),
                    parsed.config.backend.cluster
                );
                let config = Rc::new(parsed.config);
                #[cfg(feature = "jwt")]
                {
                    self.jwks = JwksFetcher::new(&config);
                    if !self.jwks.is_empty() {
                        // The first fetch happens on the first tick, a second from now.
                        self.set_tick_period(std::time::Duration::from_secs(1));
                    }
                }
                self.config = Some(config);
                true
            }
            Err(e) => {
                error!("tollgate: invalid configuration: {e}");
                false
            }
        }
    }

    #[cfg(feature = "jwt")]
    fn on_tick(&mut self) {
        let now = self.now();
        let mut jwks = std::mem::take(&mut self.jwks);
        jwks.tick(self, now);
        self.jwks = jwks;
    }

    fn create_http_context(&self, _: u32) -> Option<Box<dyn HttpContext>> {
        let config = self.config.clone()?;
        Some(Box::new(TollgateHttp::new(config, self.metrics.clone())))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}
