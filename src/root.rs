//! The root context: configuration parsing (once per worker VM) and HTTP context creation.

use crate::http::TollgateHttp;
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
}

impl Context for TollgateRoot {}

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
                self.config = Some(Rc::new(parsed.config));
                true
            }
            Err(e) => {
                error!("tollgate: invalid configuration: {e}");
                false
            }
        }
    }

    fn create_http_context(&self, _: u32) -> Option<Box<dyn HttpContext>> {
        let config = self.config.clone()?;
        Some(Box::new(TollgateHttp::new(config, self.metrics.clone())))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}
