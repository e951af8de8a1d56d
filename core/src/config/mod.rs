//! Tollgate's configuration: parsed and compiled once (in `on_configure`), read-only afterwards.

pub mod backend;
pub mod errors;
pub mod json;
pub mod policies;
mod routes;
pub mod service;
pub mod system;
pub mod upstream;

pub use backend::{BackendConfig, Batching, CachingType};
pub use errors::{ErrorResponse, ErrorResponses};
pub use json::ConfigError;
pub use policies::{Answer, Policy, PolicyChain};
pub use service::{AuthMode, BackendAuth, CredentialNames, CredentialsLocation, Service};
pub use system::{Environment, FetchedService, SystemConfig};
pub use upstream::UpstreamRewrite;

use crate::mapping::QueryArgs;
use backend::parse_backend;
use json::{error, Obj};
use routes::Routes;
use std::collections::HashMap;
use std::sync::Arc;

/// APIcast's default request-line limit (`APICAST_LARGE_CLIENT_HEADER_BUFFERS` `4 8k`).
pub const DEFAULT_MAX_PATH_BYTES: usize = 8192;
/// Envoy's own header limit can be raised to 8 MiB; a path this long is never legitimate.
const MAX_MAX_PATH_BYTES: u64 = 1 << 20;

#[derive(Debug, Clone)]
pub struct Config {
    pub backend: BackendConfig,
    /// APICAST_PATH_ROUTING: services sharing a host are chosen by their mapping rules.
    pub path_routing: bool,
    /// APICAST_PATH_ROUTING_ONLY: as path routing, with no fallback to the host's first service.
    pub path_routing_only: bool,
    /// Longest `:path` (query included) the filter reads; longer ones get 414, as APIcast's
    /// nginx answers a request line over `large_client_header_buffers` (8 KB by default).
    pub max_path_bytes: usize,
    pub services: Vec<Arc<Service>>,
    /// Services are (also) loaded from 3scale System; top-level `services` is then optional.
    pub system: Option<SystemConfig>,
    /// What the top level says about every service's policies (fetched services too).
    policies: policies::Context,
    /// Host → indices of the services listing it, in configuration order.
    /// With path routing, each host's rules are indexed too (one map for both).
    hosts: HashMap<String, (Vec<usize>, Routes)>,
}

#[derive(Debug)]
/// A parsed configuration and the warnings worth logging (skipped duplicates, policies
/// accepted with a difference). Policies that are Envoy's job are logged at info level here.
pub struct Parsed {
    pub config: Config,
    pub warnings: Vec<String>,
}

impl Config {
    pub fn parse(text: &[u8]) -> std::result::Result<Parsed, ConfigError> {
        let value: serde_json::Value =
            serde_json::from_slice(text).map_err(|e| error("", format!("invalid JSON: {e}")))?;
        let root = Obj::new("", &value)?;
        root.deny_unknown(&[
            "system",
            "backend",
            "path_routing",
            "path_routing_only",
            "max_path_bytes",
            "services",
            "ignore_policies",
        ])?;
        let system = SystemConfig::parse_in(&root)?;
        let backend = parse_backend(&root)?;
        let mut policies = policies::Context::new(&root)?;
        policies.issuers = system.as_ref().map(|s| policies::Issuers {
            clusters: s.issuer_clusters.clone(),
            refresh_s: s.refresh_s,
            timeout_ms: s.timeout_ms,
        });
        let path_routing_only = root.bool("path_routing_only")?.unwrap_or(false);
        let path_routing = root.bool("path_routing")?.unwrap_or(false) || path_routing_only;
        let max_path_bytes = match root.uint("max_path_bytes")? {
            None => DEFAULT_MAX_PATH_BYTES,
            Some(n @ 1..=MAX_MAX_PATH_BYTES) => n as usize,
            Some(_) => {
                return Err(error(
                    "max_path_bytes",
                    format!("must be between 1 and {MAX_MAX_PATH_BYTES}"),
                ))
            }
        };
        let parsed = root
            .array("services", |path, v| Service::parse(path, v, &policies))?
            .or_else(|| system.as_ref().map(|_| Vec::new()))
            .ok_or_else(|| {
                error(
                    "services",
                    "missing required field (or give a system block)",
                )
            })?;

        let mut config = Config {
            backend,
            path_routing,
            path_routing_only,
            max_path_bytes,
            services: Vec::new(),
            system,
            policies,
            hosts: HashMap::new(),
        };
        let mut warnings = config.install(parsed.into_iter().map(Arc::new).collect());
        if config.backend.report_response_codes && !config.any_batching() {
            // As APIcast's synchronous authrep: it is sent before the upstream answers.
            warnings.push(
                "backend.report_response_codes: authrep mode reports each call before the upstream answers, so no code is sent (as APIcast); batching sends them".to_string(),
            );
        }
        Ok(Parsed { config, warnings })
    }

    /// This configuration's settings with other services (fetched from 3scale System):
    /// each is compiled as a static one. A service that cannot be compiled is skipped, and
    /// the returned warnings name its JSON path and the problem.
    pub fn with_fetched(&self, fetched: &[FetchedService]) -> (Config, Vec<String>) {
        let mut warnings = Vec::new();
        let mut services = Vec::new();
        for f in fetched {
            match Service::parse(&f.path, &f.content, &self.policies) {
                Ok(mut service) => {
                    service.config_version = Some(f.version);
                    // System's entry names it by `proxy.service_id` when `content.id` is absent.
                    if service.id.is_empty() {
                        service.id = f.id.clone().unwrap_or_default();
                    }
                    services.push(Arc::new(service));
                }
                Err(e) => warnings.push(format!("service skipped: {e}")),
            }
        }
        let mut config = Config {
            services: Vec::new(),
            hosts: HashMap::new(),
            ..self.clone()
        };
        warnings.extend(config.install(services));
        (config, warnings)
    }

    /// Whether a fetched service compiles with these settings (its JSON path and problem if
    /// not), and the warnings it is accepted with.
    pub fn check_fetched(
        &self,
        fetched: &FetchedService,
    ) -> std::result::Result<Vec<String>, ConfigError> {
        Service::parse(&fetched.path, &fetched.content, &self.policies).map(|s| s.warnings)
    }

    /// Installs the services and indexes their hosts (and, with path routing, their rules);
    /// returns the warnings worth logging.
    fn install(&mut self, parsed: Vec<Arc<Service>>) -> Vec<String> {
        let mut warnings = Vec::new();
        let mut services: Vec<Arc<Service>> = Vec::new();
        let mut hosts: HashMap<String, (Vec<usize>, Routes)> = HashMap::new();
        for service in parsed {
            warnings.extend(service.warnings.iter().cloned());
            let chain = &service.policies;
            if chain.has_referrer() && (self.backend.batching.is_some() || chain.batcher.is_some())
            {
                warnings.push(format!(
                    "service {}: 3scale_referrer: authorized with an authrep per request, not batched (a cache entry per Referer value would multiply the limits)",
                    service.id
                ));
            }
            if services.iter().any(|s| s.id == service.id) {
                // Two services without an id would share cached authorizations and reports.
                warnings.push(match service.id.as_str() {
                    "" => {
                        "a second service without id is skipped: only one may have none".to_string()
                    }
                    id => format!("service {id} is defined twice: the later one is skipped"),
                });
                continue;
            }
            for (warning, line) in service.policies.log_lines() {
                match warning {
                    true => warnings.push(line),
                    false => log::info!("tollgate: {line}"),
                }
            }
            let index = services.len();
            for host in &service.hosts {
                let (listed, _) = hosts.entry(host.clone()).or_default();
                if let Some(first) = listed.first().and_then(|&i| services.get(i)) {
                    if !self.path_routing {
                        warnings.push(format!(
                            "host {host} for service {} already defined by service {}",
                            service.id, first.id
                        ));
                    }
                }
                if !listed.contains(&index) {
                    listed.push(index);
                }
            }
            services.push(service);
        }
        if self.path_routing {
            for (listed, routes) in hosts.values_mut() {
                *routes = Routes::build(&services, listed);
            }
        }
        self.services = services;
        self.hosts = hosts;
        warnings
    }

    /// Services whose JWT keys are fetched through a cluster: (service index, source).
    #[cfg(feature = "jwt")]
    pub fn jwks_sources(&self) -> Vec<(usize, crate::auth::jwt_auth::JwksSource)> {
        self.services
            .iter()
            .enumerate()
            .filter_map(|(i, s)| Some((i, s.auth.jwt.as_ref()?.source.clone()?)))
            .collect()
    }

    /// Installs a fetched JWKS for a service (with the issuer discovery named, for an
    /// OpenID Connect issuer); returns the number of keys.
    #[cfg(feature = "jwt")]
    pub fn refresh_jwks(
        &self,
        service: usize,
        body: &[u8],
        issuer: Option<&str>,
    ) -> std::result::Result<usize, ConfigError> {
        match self.services.get(service).and_then(|s| s.auth.jwt.as_ref()) {
            Some(jwt) => jwt.refresh(body, issuer),
            None => Err(error("jwks", "no such service")),
        }
    }

    /// The services listing `host` (already lower-cased, without port), in configuration order.
    pub fn services_for_host(&self, host: &str) -> impl Iterator<Item = &Arc<Service>> {
        self.hosts
            .get(host)
            .into_iter()
            .flat_map(|(listed, _)| listed)
            .filter_map(|&i| self.services.get(i))
    }

    /// Path routing: the first service listing `host` with a rule that matches the request
    /// (URI args only). Uses the per-host index built by [`parse`](Self::parse); `None`
    /// when path routing is off.
    pub fn service_by_path(
        &self,
        host: &str,
        method: &str,
        normalized_path: &str,
        args: &QueryArgs,
    ) -> Option<&Arc<Service>> {
        let (_, routes) = self.hosts.get(host)?;
        let index = routes.first_match(&self.services, method, normalized_path, args)?;
        self.services.get(index)
    }
}

#[cfg(test)]
mod tests;
