//! Tollgate's configuration: parsed and compiled once (in `on_configure`), read-only afterwards.

pub mod backend;
pub mod duplicates;
pub mod errors;
pub mod header_values;
mod hosts;
pub mod json;
pub mod policies;
mod routes;
pub mod service;
mod service_backend;
mod shadowed;
pub mod system;
mod typos;
pub mod upstream;

pub use backend::{BackendConfig, Batching, CachingType};
pub use errors::{ErrorResponse, ErrorResponses};
pub use json::ConfigError;
pub use policies::{Answer, Policy, PolicyChain};
pub use service::{AuthMode, BackendAuth, CredentialNames, CredentialsLocation, Service};
pub use system::{Environment, FetchedService, SystemConfig};
pub use upstream::UpstreamRewrite;

use crate::hashing::SeededMap;
use backend::parse_backend;
use json::{error, Obj};
use routes::Routes;
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
    /// Whether the host delivers a request's body to a filter holding its headers (Envoy's
    /// `allow_on_headers_stop_iteration: true`). Without it (Istio's `WasmPlugin`, Envoy
    /// Gateway), a request waiting for its body would wait for good: it is refused instead.
    pub read_request_bodies: bool,
    pub services: Vec<Arc<Service>>,
    /// Services are (also) loaded from 3scale System; top-level `services` is then optional.
    pub system: Option<SystemConfig>,
    /// What the top level says about every service's policies (fetched services too).
    policies: policies::Context,
    /// Host → the services listing it, in configuration order.
    /// With path routing, each host's rules are indexed too (one map for both).
    hosts: SeededMap<String, Host>,
}

/// The start of the warning [`Config::with_fetched`] gives for each service it skips.
pub const SKIPPED_WARNING: &str = "service skipped: ";
/// The field of a placeholder the System loader publishes for an entry it could not read
/// (why): never compiled, it holds the hosts the entry lists. (A module that does not know
/// it compiles a service without rules: every request refused.)
pub const UNREADABLE: &str = "tollgate_unreadable";

/// The services listing one host.
#[derive(Debug, Clone, Default)]
struct Host {
    /// Indices of the services serving it, in configuration order.
    listed: Vec<usize>,
    /// Path routing: the rules of the `listed` services, indexed.
    routes: Routes,
    /// A service skipped from 3scale System holds the host (its id): no later service gets
    /// it, as APIcast keeps a host for the first service listing it. With host routing it is
    /// set only when the skipped service is the first: `listed` is then empty. With path
    /// routing, `listed` are the services before it, and a request none of their rules
    /// matches is refused (the skipped service's rules are unknown): no fallback.
    skipped: Option<String>,
}

/// A service to install, or one skipped from 3scale System, which keeps its place.
enum Entry {
    Loaded(Arc<Service>),
    Skipped { id: String, hosts: Vec<String> },
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
        if let Some(path) = duplicates::first_duplicate(text) {
            return Err(error(
                &path,
                "given twice in one object (a JSON reader keeps one silently)",
            ));
        }
        let root = Obj::new("", &value)?;
        root.deny_unknown(&[
            "system",
            "backend",
            "path_routing",
            "path_routing_only",
            "max_path_bytes",
            "read_request_bodies",
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
        let read_request_bodies = root.bool("read_request_bodies")?.unwrap_or(true);
        let parsed = root
            .array("services", |path, v| Service::parse(path, v, &policies))?
            .or_else(|| system.as_ref().map(|_| Vec::new()))
            .ok_or_else(|| {
                error(
                    "services",
                    "missing required field (or give a system block)",
                )
            })?;

        refuse_duplicate_ids(&parsed)?;
        hosts::refuse_dot_spellings(value.get("services").unwrap_or(&serde_json::Value::Null))?;

        let mut config = Config {
            backend,
            path_routing,
            path_routing_only,
            max_path_bytes,
            read_request_bodies,
            services: Vec::new(),
            system,
            policies,
            hosts: SeededMap::default(),
        };
        let entries = parsed.into_iter().map(|s| Entry::Loaded(Arc::new(s)));
        let mut warnings = config.install(entries.collect(), &[]);
        if let Some(serde_json::Value::Array(services)) = root.get("services") {
            let services: Vec<_> = services.iter().collect();
            let path = |i| format!("services[{i}]");
            warnings.extend(service_backend::differing_backends(
                &services,
                &path,
                &config.backend,
            ));
        }
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
    /// the returned warnings name its JSON path and the problem ([`SKIPPED_WARNING`]). A
    /// skipped service keeps its place: the hosts it is the first to list stay its, and no
    /// service serves them (APIcast gives a host to the first service listing it, and would
    /// serve it with that service's policies: a later service must not get its traffic).
    /// A service just before its own skipped entry is a version kept live (`Loader::finish`):
    /// it serves only the hosts the skipped one lists, which holds its other hosts.
    pub fn with_fetched(&self, fetched: &[FetchedService]) -> (Config, Vec<String>) {
        let mut warnings = Vec::new();
        let mut entries: Vec<Entry> = Vec::new();
        let mut previous: Option<&Option<String>> = None;
        let mut compiled: Vec<&FetchedService> = Vec::new();
        // What each entry was fetched as, in step with `entries`.
        let mut sources: Vec<&FetchedService> = Vec::new();
        for f in fetched {
            match self.compile(f) {
                Ok(mut service) => {
                    compiled.push(f);
                    service.config_version = Some(f.version);
                    // System's entry names it by `proxy.service_id` when `content.id` is absent.
                    if service.id.is_empty() {
                        service.id = f.id.clone().unwrap_or_default();
                    }
                    // A version kept live by a filter that refused this one, which compiles
                    // here (another `ignore_policies`, a newer module): the newer version
                    // serves, not the one System replaced (found by an audit, 2026-12-06).
                    // The same when this filter refuses the kept version itself: its skipped
                    // entry would hold the hosts the newer one serves (found by a review).
                    if f.id.is_some() && previous == Some(&f.id) {
                        entries.pop();
                        sources.pop();
                    }
                    entries.push(Entry::Loaded(Arc::new(service)));
                    sources.push(f);
                }
                Err(e) => {
                    warnings.push(format!("{SKIPPED_WARNING}{e}"));
                    let hosts = listed_hosts(&f.content);
                    // Hosts it lists in no readable form: the kept version keeps its own
                    // (found by an audit, 2026-12-06: `"hosts": "a"` freed them all).
                    if let (Some(Entry::Loaded(kept)), true, Some(hosts)) = (
                        entries.last_mut(),
                        f.id.is_some() && previous == Some(&f.id),
                        &hosts,
                    ) {
                        if let Some(kept) = Arc::get_mut(kept) {
                            kept.hosts.retain(|h| hosts.contains(h));
                        }
                    }
                    entries.push(Entry::Skipped {
                        id: f.id.clone().unwrap_or_default(),
                        hosts: hosts.unwrap_or_default(),
                    });
                    sources.push(f);
                }
            }
            previous = Some(&f.id);
        }
        let contents: Vec<_> = compiled.iter().map(|f| &f.content).collect();
        let path = |i: usize| compiled.get(i).map(|f| f.path.clone()).unwrap_or_default();
        warnings.extend(service_backend::differing_backends(
            &contents,
            &path,
            &self.backend,
        ));
        let contested = contested_hosts(&sources, &mut warnings);
        let mut config = Config {
            services: Vec::new(),
            hosts: SeededMap::default(),
            ..self.clone()
        };
        warnings.extend(config.install(entries, &contested));
        (config, warnings)
    }

    /// Whether a fetched service compiles with these settings (its JSON path and problem if
    /// not), and the warnings it is accepted with.
    pub fn check_fetched(
        &self,
        fetched: &FetchedService,
    ) -> std::result::Result<Vec<String>, ConfigError> {
        self.compile(fetched).map(|s| s.warnings)
    }

    /// Compiles a fetched service; one at a version other than `system.versions` pins is
    /// refused (APIcast never serves a pinned service at another version).
    fn compile(&self, f: &FetchedService) -> std::result::Result<Service, ConfigError> {
        let pins = self.system.as_ref().map_or(&[][..], |s| &s.versions);
        if pins
            .iter()
            .any(|(id, v)| f.id.as_ref() == Some(id) && *v != f.version)
        {
            return Err(error(&f.path, "not the version system.versions pins"));
        }
        if let Some(reason) = f.content.get(UNREADABLE).and_then(|r| r.as_str()) {
            return Err(error(&f.path, reason));
        }
        Service::parse(&f.path, &f.content, &self.policies)
    }

    /// Installs the services and indexes their hosts (and, with path routing, their rules);
    /// returns the warnings worth logging. No service serves a `contested` host.
    fn install(&mut self, entries: Vec<Entry>, contested: &[String]) -> Vec<String> {
        let mut warnings = Vec::new();
        let mut services: Vec<Arc<Service>> = Vec::new();
        let mut hosts: SeededMap<String, Host> = SeededMap::default();
        hold(&mut hosts, true, "", contested);
        for entry in entries {
            let mut service = match entry {
                Entry::Loaded(service) => service,
                Entry::Skipped { id, hosts: claimed } => {
                    hold(&mut hosts, self.path_routing, &id, &claimed);
                    continue;
                }
            };
            // Once per configuration, not per request. A service kept from the last System
            // generation (shared) has it already: the backend block does not change. (Not
            // `make_mut`: cloning a `Service` costs the module 16 KB.)
            if let Some(loaded) = Arc::get_mut(&mut service) {
                let fingerprint = crate::backend::reporting_fingerprint(&self.backend, loaded);
                loaded.reporting_fingerprint = fingerprint;
            }
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
                // Only from 3scale System (a static configuration is refused): the skipped
                // one holds its hosts as any skipped System service does, or its host would
                // go to a later service, and with path routing its paths fall back to the
                // host's first service (found by an audit, 2026-12-06).
                warnings.push(match service.id.as_str() {
                    "" => {
                        "a second service without id is skipped: only one may have none".to_string()
                    }
                    id => format!("service {id} is defined twice: the later one is skipped"),
                });
                hold(&mut hosts, self.path_routing, &service.id, &service.hosts);
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
                let held = hosts.entry(host.clone()).or_default();
                if let Some(skipped) = &held.skipped {
                    // A contested host's warning names every listing already.
                    if !contested.contains(host) {
                        warnings.push(format!(
                            "host {host} for service {} already defined by service {}, which is skipped: requests to {host} are refused",
                            service.id,
                            match skipped.as_str() {
                                "" => "without id",
                                id => id,
                            }
                        ));
                    }
                    continue;
                }
                let listed = &mut held.listed;
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
            for held in hosts.values_mut() {
                held.routes = Routes::build(&services, &held.listed, held.skipped.is_some());
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

    /// How many hosts the services list (held hosts included).
    pub fn host_count(&self) -> usize {
        self.hosts.len()
    }

    /// Whether a service lists `named` (lower-cased, without port), or holds it when skipped,
    /// and its services are not those of the request's host `own`.
    pub fn names_other_services(&self, named: &str, own: &str) -> bool {
        match (self.hosts.get(named), self.hosts.get(own)) {
            (None, _) => false,
            (Some(named), Some(own)) => named.listed != own.listed || named.skipped != own.skipped,
            (Some(_), None) => true,
        }
    }

    /// The services serving `host` (already lower-cased, without port), in configuration
    /// order: host routing takes the first, path routing falls back to it. None when a
    /// service skipped from 3scale System holds the host (with path routing: lists it at all,
    /// so that no request is handed to another service when its rules might have matched).
    pub fn services_for_host(&self, host: &str) -> impl Iterator<Item = &Arc<Service>> {
        self.hosts
            .get(host)
            .filter(|held| !(self.path_routing && held.skipped.is_some()))
            .into_iter()
            .flat_map(|held| &held.listed)
            .filter_map(|&i| self.services.get(i))
    }
}

/// Hosts two fetched services list, one with a trailing dot and one without (a static
/// configuration is refused): neither serves them, since Envoy's virtual hosts tell them apart,
/// and which one System lists first changes as they are deployed (found by a red team,
/// 2026-12-07). One warning per clash names both listings.
fn contested_hosts(sources: &[&FetchedService], warnings: &mut Vec<String>) -> Vec<String> {
    let listed: Vec<_> = (sources.iter())
        .map(|f| (&f.content, f.id.as_deref()))
        .collect();
    let mut contested = Vec::new();
    for c in hosts::dot_clashes(&listed) {
        if let (Some(a), Some(b)) = (sources.get(c.later.0), sources.get(c.first.0)) {
            warnings.push(format!(
                "{}.proxy.hosts[{}] (service {}) and {}.proxy.hosts[{}] (service {}): {} with and without a trailing dot (one host to the filter, two to Envoy's virtual hosts): served by neither (404)",
                a.path, c.later.1, a.id.as_deref().unwrap_or(""), b.path, c.first.1, b.id.as_deref().unwrap_or(""), c.host
            ));
        }
        contested.push(c.host);
    }
    contested
}

/// A skipped service holds the hosts it lists (`Host::skipped`); with host routing, a service
/// listed before keeps the host. Not inlined: one copy of the map's insertion (module size).
#[inline(never)]
fn hold(hosts: &mut SeededMap<String, Host>, path_routing: bool, id: &str, claimed: &[String]) {
    for host in claimed {
        let held = hosts.entry(host.clone()).or_default();
        if held.skipped.is_none() && (path_routing || held.listed.is_empty()) {
            held.skipped = Some(id.to_string());
        }
    }
}

/// A static configuration listing one service id twice (or two services without one) is
/// refused, naming the second and the first: skipping the second would free its hosts and,
/// with path routing, its paths for the other services (found by an audit, 2026-12-06).
fn refuse_duplicate_ids(services: &[Service]) -> std::result::Result<(), ConfigError> {
    for (i, service) in services.iter().enumerate() {
        let before = services.get(..i).unwrap_or_default();
        if let Some(first) = before.iter().position(|s| s.id == service.id) {
            let id = match service.id.as_str() {
                "" => "without id",
                id => id,
            };
            let problem = format!("service {id} is defined twice (services[{first}])");
            return Err(error(&format!("services[{i}].id"), problem));
        }
    }
    Ok(())
}

/// The hosts a service's JSON lists, read as a compiled service reads them (lower-cased, no
/// trailing dot, `localhost` without any) but leniently: a service that does not compile still
/// holds them (a lone string is one host). `None`: hosts in no form this can read.
fn listed_hosts(content: &serde_json::Value) -> Option<Vec<String>> {
    use serde_json::Value;
    let localhost = || Some(vec!["localhost".to_string()]);
    let proxy = match content.get("proxy") {
        None | Some(Value::Null) => return localhost(),
        Some(Value::Object(proxy)) => proxy,
        Some(_) => return None,
    };
    match proxy.get("hosts") {
        None | Some(Value::Null) => localhost(),
        Some(Value::String(host)) if host.is_empty() => None,
        Some(Value::String(host)) => Some(vec![hosts::normalize_host(host)]),
        // `[5]`, `[""]`: hosts in no readable form, not an empty list (found by a review).
        Some(Value::Array(items)) => {
            let hosts: Vec<String> = (items.iter())
                .filter_map(Value::as_str)
                .filter(|h| !h.is_empty())
                .map(hosts::normalize_host)
                .collect();
            (!hosts.is_empty() || items.is_empty()).then_some(hosts)
        }
        Some(_) => None,
    }
}

#[cfg(test)]
mod skipped_tests;
#[cfg(test)]
mod tests;
