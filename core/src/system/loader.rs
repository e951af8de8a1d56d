//! Loading services from 3scale System on a worker: the elected worker fetches (pages, or one
//! request per service), checks each service, keeps a failing service's previous version,
//! publishes the result to shared data and logs what changed; every worker installs each
//! new generation once. The adapter only sends the requests and hands back the answers.

use super::collecting::{keep_in_place, keep_installed, keep_or_hold, merge};
use super::paging_race::{missed, to_installed_place, MAX_CONFIRMS};
use super::{published, schedule};
use crate::cache::SharedStore;
use crate::config::system::{
    account_page_path, parse_answer_for, service_config_path, Expected, Fetched, Plan, SystemConfig,
};
use crate::config::{Config, FetchedService, SKIPPED_WARNING};
use log::{info, warn};
use serde_json::Value;

/// What the adapter must do for the loader.
#[derive(Debug)]
pub enum LoaderStep {
    /// Send `GET path` to the System cluster (with [`Loader::request_headers`]); hand the
    /// token (or the refusal) to [`Loader::on_sent`].
    Get(String),
    /// Compile these services with the static settings ([`Config::with_fetched`]) and
    /// install them on this worker.
    Install(Installed),
    /// A fetch succeeded at these Unix seconds (the `tollgate.config_loaded_at` gauge), on
    /// the fetching worker; nothing changed when no `Install` follows.
    Fetched(u64),
}

#[derive(Debug)]
pub struct Installed {
    pub services: Vec<FetchedService>,
    pub generation: u64,
    /// Unix seconds of the fetch (the `tollgate.config_loaded_at` gauge).
    pub loaded_at_s: u64,
}

enum Request {
    Page(u32),
    Service { id: String, version: Option<u64> },
}

/// One fetch in progress on the elected worker.
struct Fetch {
    /// Requests still to send, in order; the first is in flight once sent.
    queue: Vec<Request>,
    in_flight: Option<u32>,
    collected: Vec<FetchedService>,
    /// It read several pages: a change between two of them may have hidden a service.
    paged: bool,
}

/// Counts for Envoy's counters, taken after each event.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct LoaderCounts {
    pub fetches: u64,
    pub failures: u64,
}

/// Pages of 500 a fetch reads at most (500,000 services): a portal (or a proxy before it)
/// that ignores `page` must not keep a worker fetching forever.
const MAX_PAGES: u32 = 1000;

pub struct Loader {
    system: SystemConfig,
    /// Shared-data keys are scoped by this fingerprint of the `system` block: two filters
    /// (or a changed configuration) never share a fetch or a document.
    scope: String,
    /// The generation this worker runs (0: none yet).
    generation: u64,
    /// The services of that generation (a failing service keeps its entry from here).
    installed: Vec<FetchedService>,
    fetch: Option<Fetch>,
    counts: LoaderCounts,
}

impl Loader {
    pub fn new(system: SystemConfig) -> Loader {
        Loader {
            scope: scope(&system),
            system,
            generation: 0,
            installed: Vec::new(),
            fetch: None,
            counts: LoaderCounts::default(),
        }
    }

    pub fn system(&self) -> &SystemConfig {
        &self.system
    }

    /// The headers of every request besides `:path` (the token travels as Basic, never in
    /// the URL).
    pub fn request_headers(&self) -> Vec<(&'static str, String)> {
        vec![
            (":method", "GET".to_string()),
            (":authority", self.system.authority.clone()),
            ("authorization", self.system.authorization()),
            ("accept", "application/json".to_string()),
        ]
    }

    pub fn take_counts(&mut self) -> LoaderCounts {
        std::mem::take(&mut self.counts)
    }

    /// Whether `token` is the fetch request in flight.
    pub fn owns(&self, token: u32) -> bool {
        self.fetch
            .as_ref()
            .is_some_and(|f| f.in_flight == Some(token))
    }

    /// The timer: install a newer published generation; start a fetch if this worker is elected.
    pub fn on_tick(&mut self, store: &dyn SharedStore, now_ms: u64) -> Vec<LoaderStep> {
        let mut steps = Vec::new();
        if let Some(doc) = published::newer_than(store, &self.scope, self.generation) {
            match published::decode(&doc.json) {
                Some(services) => {
                    self.generation = doc.generation;
                    self.installed = services.clone();
                    steps.push(LoaderStep::Install(Installed {
                        services,
                        generation: doc.generation,
                        loaded_at_s: doc.loaded_at_s,
                    }));
                }
                None => warn!("tollgate: the shared System configuration could not be read"),
            }
        }
        // The winner holds the fetch long enough for every request to time out.
        let hold_ms = self
            .system
            .timeout_ms
            .saturating_mul(4)
            .max(self.refresh_ms());
        if self.fetch.is_none() && schedule::claim_fetch(store, &self.scope, now_ms, hold_ms) {
            let queue = match self.system.plan() {
                Plan::Account { pinned } => {
                    let mut queue = vec![Request::Page(1)];
                    queue.extend(pinned.into_iter().map(|(id, v)| Request::Service {
                        id,
                        version: Some(v),
                    }));
                    queue
                }
                Plan::Services(list) => list
                    .into_iter()
                    .map(|(id, version)| Request::Service { id, version })
                    .collect(),
            };
            self.counts.fetches += 1;
            self.fetch = Some(Fetch {
                queue,
                in_flight: None,
                collected: Vec::new(),
                paged: false,
            });
            steps.extend(self.next_request(store, now_ms));
        }
        steps
    }

    /// The host sent the request (`None`: it refused to).
    pub fn on_sent(&mut self, store: &dyn SharedStore, token: Option<u32>, now_ms: u64) {
        match (token, self.fetch.as_mut()) {
            (Some(token), Some(fetch)) => fetch.in_flight = Some(token),
            (None, Some(_)) => self.failed(store, "the System cluster refused the call", now_ms),
            _ => {}
        }
    }

    /// The answer to the request in flight (`status: None`: no answer, or a timeout).
    /// `read_body` is called only for a 200 of at most `system.max_answer_bytes`
    /// (`body_size`, as the host announces it): a larger answer fails the fetch unread.
    pub fn on_answer(
        &mut self,
        store: &dyn SharedStore,
        base: &Config,
        status: Option<u16>,
        body_size: usize,
        read_body: impl FnOnce() -> Option<Vec<u8>>,
        now_ms: u64,
    ) -> Vec<LoaderStep> {
        let max = self.system.max_answer_bytes;
        let Some(fetch) = self.fetch.as_mut() else {
            return Vec::new();
        };
        fetch.in_flight = None;
        if fetch.queue.is_empty() {
            return Vec::new();
        }
        // Other statuses are decided below without their body.
        let body = match status {
            Some(200) if body_size as u64 > max => Err(format!(
                "answer of {body_size} bytes, more than system.max_answer_bytes ({max})"
            )),
            // Envoy hands over no buffer for an empty body: that is an (invalid) answer.
            Some(200) if body_size == 0 => Ok(Vec::new()),
            Some(200) => read_body().ok_or_else(|| "its body could not be read".to_string()),
            _ => Ok(Vec::new()),
        };
        let body = match body {
            Ok(body) => body,
            Err(reason) => {
                self.failed(store, &reason, now_ms);
                return Vec::new();
            }
        };
        let request = fetch.queue.remove(0);
        // Audit 2026-12-06: an answer is read as the answer to its request (shape, environment).
        let environment = self.system.environment;
        // In account mode a latest request for one service confirms one the pages missed.
        let confirming = matches!(&request, Request::Service { version: None, .. })
            && self.system.services.is_none();
        let (expected, newest) = match &request {
            Request::Page(_) => (Expected::List(environment), true),
            Request::Service { version, .. } => (Expected::Single(environment), version.is_none()),
        };
        match (status, &request) {
            // A pinned service the account's pages do not list: deleted in System (found by an
            // audit, 2026-12-06: it stayed live for good).
            (Some(404), Request::Service { id, .. })
                if self.system.services.is_none()
                    && !(fetch.collected.iter()).any(|s| s.id.as_deref() == Some(id)) =>
            {
                warn!("tollgate: service {id} not found in 3scale System (404) nor in the account's list: removed");
            }
            (Some(404), Request::Service { id, .. }) => {
                // One service gone or not deployed: it keeps its current version, if any.
                warn!("tollgate: service {id} not found in 3scale System (404): keeping its current configuration");
                keep_installed(&self.installed, &mut fetch.collected, id, newest);
            }
            (Some(200), _) => match parse_answer_for(&body, expected) {
                Ok(Fetched {
                    mut services,
                    errors,
                    mut unread,
                    more,
                }) => {
                    for e in errors {
                        warn!("tollgate: 3scale System answer: entry skipped: {e}");
                    }
                    if let Request::Service { id, .. } = &request {
                        // Only the asked service's own entry is used (audit 2026-12-06: an
                        // answer holding another service installed it and dropped this one).
                        let other = services.iter().find(|s| s.id.as_deref() != Some(id));
                        if let Some(other) = other {
                            let got = other.id.as_deref().unwrap_or("without an id");
                            warn!("tollgate: 3scale System answered the request for service {id} with service {got}: entry skipped, keeping service {id}'s current configuration");
                            services.clear();
                        }
                        // An entry that could not be read: its service's live version stays,
                        // or the hosts it lists are held.
                        if services.is_empty() {
                            match unread.pop().filter(|u| u.id == *id) {
                                Some(entry) => keep_or_hold(
                                    &self.installed,
                                    &mut fetch.collected,
                                    entry,
                                    newest,
                                    base,
                                ),
                                None => {
                                    keep_installed(
                                        &self.installed,
                                        &mut fetch.collected,
                                        id,
                                        newest,
                                    );
                                }
                            }
                        }
                        unread.clear();
                    }
                    // Whose is it? Dropping a live service is worse than a stale set.
                    if unread.iter().any(|u| u.id.is_empty()) && !self.installed.is_empty() {
                        self.failed(store, "an entry without a readable service id", now_ms);
                        return Vec::new();
                    }
                    if let (true, Request::Page(n)) = (more, &request) {
                        let repeated = services.first().is_some_and(|first| {
                            fetch
                                .collected
                                .iter()
                                .any(|c| c.id.is_some() && c.id == first.id)
                        });
                        if repeated || *n >= MAX_PAGES {
                            self.failed(store, &format!("page {n} repeats an earlier page, or is past {MAX_PAGES} pages: the portal ignores `page`"), now_ms);
                            return Vec::new();
                        }
                        fetch.queue.insert(0, Request::Page(n + 1));
                        fetch.paged = true;
                    }
                    // In the answer's order: a kept version takes hosts where its entry stood.
                    let mut services = services.into_iter();
                    let mut merged = 0;
                    for entry in unread {
                        let ahead = services.by_ref().take(entry.before.saturating_sub(merged));
                        merge(&mut fetch.collected, ahead.collect(), newest);
                        merged = merged.max(entry.before);
                        keep_or_hold(&self.installed, &mut fetch.collected, entry, newest, base);
                    }
                    merge(&mut fetch.collected, services.collect(), newest);
                    match &request {
                        Request::Service { id, .. } if confirming => {
                            to_installed_place(&self.installed, &mut fetch.collected, id);
                        }
                        // The last of several pages: porta pages by offset over the current
                        // versions, so a deploy or a deletion between two page requests moves
                        // an entry onto a page already read, and no page holds it (found by
                        // an audit, 2026-12-07: a live service was removed until the next
                        // refresh). Each installed service the pages missed is asked for by
                        // itself: a 404 removes it, its latest version keeps it.
                        Request::Page(2..) if !more => {
                            // Before the pinned requests: a pinned 404 removes a service
                            // the fetch has not seen.
                            let missed = missed(&self.installed, &fetch.collected);
                            for (i, id) in missed.into_iter().enumerate() {
                                if i >= MAX_CONFIRMS {
                                    keep_in_place(&self.installed, &mut fetch.collected, &id);
                                    continue;
                                }
                                let confirm = Request::Service { id, version: None };
                                fetch.queue.insert(i, confirm);
                            }
                        }
                        _ => {}
                    }
                }
                Err(e) => {
                    self.failed(store, &format!("invalid answer: {e}"), now_ms);
                    return Vec::new();
                }
            },
            // A confirm that failed: the service keeps its installed version (it was live;
            // failing the whole fetch would let one slow request freeze every change).
            (status, Request::Service { id, .. }) if confirming => {
                warn!("tollgate: 3scale System: confirming service {id}, missing from the account's pages: status {status:?}: keeping its current configuration");
                keep_in_place(&self.installed, &mut fetch.collected, id);
            }
            (status, _) => {
                let reason = match status {
                    Some(s) => format!("status {s}"),
                    None => "no answer (connection failure or timeout)".to_string(),
                };
                self.failed(store, &reason, now_ms);
                return Vec::new();
            }
        }
        match self.fetch.as_ref().is_some_and(|f| f.queue.is_empty()) {
            true => self.finish(store, base, now_ms),
            false => self.next_request(store, now_ms),
        }
    }

    fn next_request(&mut self, store: &dyn SharedStore, now_ms: u64) -> Vec<LoaderStep> {
        let environment = self.system.environment;
        let path = match self.fetch.as_ref().and_then(|f| f.queue.first()) {
            Some(Request::Page(n)) => account_page_path(environment, *n),
            Some(Request::Service { id, version }) => {
                service_config_path(id, environment, *version)
            }
            None => {
                self.finish_empty(store, now_ms);
                return Vec::new();
            }
        };
        vec![LoaderStep::Get(path)]
    }

    fn finish_empty(&mut self, store: &dyn SharedStore, now_ms: u64) {
        self.fetch = None;
        schedule::fetch_succeeded(store, &self.scope, now_ms, self.refresh_ms(), false);
    }

    /// The VM is going away: a fetch it holds is released to the other workers.
    pub fn on_shutdown(&mut self, store: &dyn SharedStore, now_ms: u64) {
        if self.fetch.take().is_some() {
            schedule::release(store, &self.scope, now_ms);
        }
    }

    /// Every request answered: check each service, keep the previous version of one that
    /// fails, log the changes and publish (only a change: every worker compiles what is
    /// published, 0.2 s of its thread in V8 for 500 porta-shaped services, README). A failing
    /// service without a live version is published as it is, in its place: every worker skips
    /// it and keeps its hosts from the services after it ([`Config::with_fetched`]).
    fn finish(&mut self, store: &dyn SharedStore, base: &Config, now_ms: u64) -> Vec<LoaderStep> {
        let Some(fetch) = self.fetch.take() else {
            return Vec::new();
        };
        let paged = fetch.paged;
        let mut accepted = Vec::new();
        let mut accepted_with = Vec::new();
        // Indices in `accepted` of the services published only to hold their place.
        let mut skipped = Vec::new();
        for service in fetch.collected {
            match base.check_fetched(&service) {
                Ok(warnings) => {
                    accepted_with.extend(warnings);
                    accepted.push(service);
                }
                Err(e) => {
                    // The installed entry may itself be one that failed (published to hold
                    // its place): only a version that compiles stays live. It is published
                    // just before this one, which holds its place: the kept version serves
                    // only the hosts this one lists ([`Config::with_fetched`]).
                    let old = self
                        .installed
                        .iter()
                        .find(|s| s.id.is_some() && s.id == service.id)
                        .filter(|old| base.check_fetched(old).is_ok());
                    let kept = match old {
                        Some(old) => {
                            accepted.push(old.clone());
                            format!("; version {} stays live, on the hosts this one lists", old.version)
                        }
                        None => "; its hosts are refused (404), not served by a later service listing them".to_string(),
                    };
                    skipped.push(accepted.len());
                    accepted.push(service);
                    warn!("tollgate: service from 3scale System skipped: {e}{kept}");
                }
            }
        }
        let unchanged = self.generation > 0
            && accepted.len() == self.installed.len()
            && accepted
                .iter()
                .zip(&self.installed)
                .all(|(a, b)| a.id == b.id && a.version == b.version && a.content == b.content);
        // A service new in System that a change between two pages hid is found by the
        // early re-fetch, not `refresh_s` later (`missed` knows only installed services).
        let recheck = paged && !unchanged;
        schedule::fetch_succeeded(store, &self.scope, now_ms, self.refresh_ms(), recheck);
        if !unchanged {
            for warning in accepted_with {
                warn!("tollgate: service from 3scale System accepted: {warning}");
            }
            // Duplicates and hosts claimed twice, as every worker will see them (the skipped
            // services are logged above).
            for warning in base.with_fetched(&accepted).1 {
                if !warning.starts_with(SKIPPED_WARNING) {
                    warn!("tollgate: configuration from 3scale System: {warning}");
                }
            }
            log_changes(&self.installed, &accepted, &skipped);
            let json = published::encode(&accepted);
            if published::publish(store, &self.scope, &json, now_ms / 1000).is_none() {
                warn!("tollgate: the System configuration could not be shared with the workers");
            }
        }
        vec![LoaderStep::Fetched(now_ms / 1000)]
    }

    fn failed(&mut self, store: &dyn SharedStore, reason: &str, now_ms: u64) {
        self.fetch = None;
        self.counts.failures += 1;
        let backoff_ms = schedule::fetch_failed(store, &self.scope, now_ms, self.refresh_ms());
        warn!(
            "tollgate: configuration fetch from 3scale System (cluster {}) failed: {reason}; keeping the current configuration, retry in {backoff_ms} ms",
            self.system.cluster
        );
    }

    fn refresh_ms(&self) -> u64 {
        self.system.refresh_s.saturating_mul(1000)
    }
}

/// A fingerprint of what a fetch depends on (FNV-1a): the shared keys' scope. Settings of how
/// to fetch (`refresh_s`, `timeout_ms`, `max_answer_bytes`) are not in it: filters differing
/// only there share one fetch, made with the settings of the worker that claims it.
fn scope(system: &SystemConfig) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut add = |text: &str| {
        for b in text.bytes().chain([0]) {
            hash = (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    };
    add(&system.cluster);
    add(&system.authority);
    add(&system.access_token);
    add(system.environment.as_str());
    // Each list behind its own tag: `services: ["1", "5"]` and `versions: {"1": 5}` are not
    // the same words (found by an audit, 2026-12-06: one installed the other's document).
    if let Some(services) = &system.services {
        add("services");
        services.iter().for_each(|id| add(id));
    }
    add("versions");
    for (id, version) in &system.versions {
        add(id);
        add(&version.to_string());
    }
    format!("{hash:016x}")
}

fn name(service: &FetchedService) -> &str {
    service
        .content
        .get("system_name")
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// One info line per service added, removed or at a new version (`skipped`: indices in
/// `new` of services that hold their place only, already logged).
fn log_changes(old: &[FetchedService], new: &[FetchedService], skipped: &[usize]) {
    let label = |s: &FetchedService| s.id.clone().unwrap_or_else(|| "(no id)".to_string());
    for (i, service) in new.iter().enumerate() {
        if skipped.contains(&i) {
            continue;
        }
        match old.iter().find(|o| o.id.is_some() && o.id == service.id) {
            Some(o) if o.version == service.version => {}
            Some(o) => info!(
                "tollgate: service {} ({}): {} configuration version {} -> {}",
                label(service),
                name(service),
                service.environment,
                o.version,
                service.version
            ),
            None => info!(
                "tollgate: service {} ({}) added: {} configuration version {}",
                label(service),
                name(service),
                service.environment,
                service.version
            ),
        }
    }
    for o in old {
        if !new.iter().any(|s| s.id.is_some() && s.id == o.id) {
            info!("tollgate: service {} ({}) removed", label(o), name(o));
        }
    }
}
