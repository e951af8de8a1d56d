//! Answers of 3scale System (the proxy-config API) as two workers' loaders read them: the
//! elected worker fetches (account pages, or one request per listed service with a pinned
//! version), reads each answer (`parse_answer_for`: shape, environment, keys given twice,
//! entry ids), merges, checks each service against the static settings and publishes; the
//! other worker decodes the published document and installs it (`Config::with_fetched`).
//! An answer the loader reads is read alike by `parse_answer` (`tollgate pull`), but for the
//! entries of another environment.
//! The shared data (published document, generation, fetch schedule) can be overwritten as
//! another module or version could leave it. Any bytes, never a panic.
//!
//! Input: a flags byte, then chunks separated by 0xFF. A chunk's first byte says what
//! happens: `A` the request in flight is answered 200 with the rest as body, `P` 200 with a
//! full account page of 500 services drawn from the rest (so that fetches span pages, and the
//! services a page race hides are asked for by themselves), `N` 404, `E` 500, `X` no answer; `D`, `G`, `S` write the rest as the published document, generation or
//! schedule; `W` the fetching worker goes away; anything else: time passes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::cell::RefCell;
use tollgate_core::cache::store::Conflict;
use tollgate_core::cache::{MemoryStore, SharedStore};
use tollgate_core::config::system::{
    parse_answer, parse_answer_for, Environment, Expected, Fetched,
};
use tollgate_core::config::Config;
use tollgate_core::system::loader::{Loader, LoaderStep};

/// Shared data, remembering the keys written (the loader's keys are scoped by a fingerprint).
#[derive(Default)]
struct Store {
    inner: MemoryStore,
    keys: RefCell<Vec<String>>,
}

impl SharedStore for Store {
    fn get(&self, key: &str) -> (Option<Vec<u8>>, u32) {
        self.inner.get(key)
    }

    fn set(&self, key: &str, value: &[u8], version: u32) -> Result<(), Conflict> {
        let mut keys = self.keys.borrow_mut();
        if !keys.iter().any(|k| k == key) {
            keys.push(key.to_string());
        }
        self.inner.set(key, value, version)
    }
}

impl Store {
    /// Overwrites the key ending in `suffix` (if written yet), whatever its version.
    fn force(&self, suffix: &str, value: &[u8]) {
        let key = self
            .keys
            .borrow()
            .iter()
            .find(|k| k.ends_with(suffix))
            .cloned();
        if let Some(key) = key {
            let (_, version) = self.inner.get(&key);
            let _ = self.inner.set(&key, value, version);
        }
    }
}

fn config(flags: u8) -> Option<Config> {
    let environment = ["production", "staging", "sandbox", "production"][usize::from(flags & 3)];
    let mut system = serde_json::json!({"cluster": "sys", "access_token": "secret-token",
        "refresh_s": 10, "environment": environment});
    if flags & 4 != 0 {
        system["services"] = serde_json::json!(["1", "2", "7"]);
    }
    if flags & 8 != 0 {
        system["versions"] = serde_json::json!({"2": 4});
    }
    let text = serde_json::json!({"backend": {"cluster": "b"}, "system": system}).to_string();
    Config::parse(text.as_bytes()).ok().map(|p| p.config)
}

struct Worker {
    loader: Loader,
    /// The token of the request in flight.
    token: Option<u32>,
    installed: u64,
}

impl Worker {
    fn steps(&mut self, base: &Config, store: &Store, steps: Vec<LoaderStep>, now_ms: u64) {
        for step in steps {
            match step {
                LoaderStep::Get(path) => {
                    assert!(path.starts_with("/admin/api/"), "{path:?}");
                    let token = (now_ms % 1000) as u32 + 1;
                    self.loader.on_sent(store, Some(token), now_ms);
                    self.token = Some(token);
                }
                LoaderStep::Install(installed) => {
                    assert!(
                        installed.generation > self.installed,
                        "a generation installed twice"
                    );
                    self.installed = installed.generation;
                    let (config, _warnings) = base.with_fetched(&installed.services);
                    for service in &config.services {
                        for host in &service.hosts {
                            let _ = config.services_for_host(host).count();
                        }
                    }
                }
                LoaderStep::Fetched(_) => {}
            }
        }
    }
}

/// A full page (500 entries) of the production environment: ids from `seed[0]`, hosts shared
/// every `seed[1]` ids, versions cycling every `seed[2]`.
fn full_page(seed: &[u8]) -> Vec<u8> {
    let at = |i: usize| u64::from(seed.get(i).copied().unwrap_or(0));
    let list: Vec<serde_json::Value> = (0..500u64)
        .map(|n| {
            let id = at(0) * 7 + n + 1;
            let content = serde_json::json!({"id": id, "backend_version": "1", "proxy": {
                "hosts": [format!("h{}", id % (at(1) + 1))],
                "proxy_rules": [{"http_method": "GET", "pattern": "/",
                    "metric_system_name": "hits", "delta": 1}]}});
            serde_json::json!({"proxy_config": {"id": id, "version": 1 + id % (at(2) + 1),
                "environment": "production", "content": content}})
        })
        .collect();
    serde_json::json!({ "proxy_configs": list })
        .to_string()
        .into_bytes()
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    // Every chunk read alone, in either shape and environment, as `tollgate pull` and the
    // loader read it.
    for chunk in rest.split(|&b| b == 0xFF) {
        let body = chunk.get(1..).unwrap_or_default();
        let any = parse_answer(body);
        // What a request reads is what `tollgate pull` reads of the same answer, less the
        // other environment's entries (unread instead).
        let agrees = |fetched: &Fetched, env: Environment| {
            let any = any
                .as_ref()
                .unwrap_or_else(|e| panic!("pull refused: {e:?}"));
            assert!(fetched
                .services
                .iter()
                .all(|s| s.environment == env.answered()));
            let same_env: Vec<_> = (any.services.iter())
                .filter(|s| s.environment == env.answered())
                .collect();
            assert_eq!(fetched.services.iter().collect::<Vec<_>>(), same_env);
            assert_eq!(
                fetched.services.len() + fetched.errors.len(),
                any.services.len() + any.errors.len()
            );
            assert_eq!(fetched.more, any.more);
        };
        for env in [Environment::Production, Environment::Sandbox] {
            if let Ok(fetched) = parse_answer_for(body, Expected::List(env)) {
                assert!(fetched.unread.len() == fetched.errors.len());
                assert!(fetched
                    .unread
                    .iter()
                    .all(|u| u.before <= fetched.services.len()));
                agrees(&fetched, env);
            }
            if let Ok(fetched) = parse_answer_for(body, Expected::Single(env)) {
                assert!(fetched.services.len() + fetched.errors.len() <= 1);
                assert!(!fetched.more);
                // Unless the answer is a page too: `pull` reads that.
                let page = serde_json::from_slice::<serde_json::Value>(body)
                    .is_ok_and(|v| v.get("proxy_configs").is_some_and(|l| !l.is_null()));
                if !page {
                    agrees(&fetched, env);
                }
            }
        }
    }

    let Some(base) = config(flags) else {
        panic!("system block refused for flags {flags}");
    };
    let Some(system) = base.system.clone() else {
        return;
    };
    let store = Store::default();
    let mut workers = [
        Worker {
            loader: Loader::new(system.clone()),
            token: None,
            installed: 0,
        },
        Worker {
            loader: Loader::new(system),
            token: None,
            installed: 0,
        },
    ];
    let mut now_ms: u64 = 1_700_000_000_000;
    for chunk in rest.split(|&b| b == 0xFF).take(64) {
        let (&what, body) = chunk.split_first().unwrap_or((&0, &[]));
        let page;
        let body = match what {
            b'P' => {
                page = full_page(body);
                &page[..]
            }
            _ => body,
        };
        for w in &mut workers {
            let steps = w.loader.on_tick(&store, now_ms);
            w.steps(&base, &store, steps, now_ms);
        }
        let status = match what {
            b'A' | b'P' => Some(Some(200)),
            b'N' => Some(Some(404)),
            b'E' => Some(Some(500)),
            b'X' => Some(None),
            b'D' => {
                store.force(".config", body);
                None
            }
            b'G' => {
                store.force(".generation", body);
                None
            }
            b'S' => {
                store.force(".schedule", body);
                None
            }
            b'W' => {
                for w in &mut workers {
                    w.loader.on_shutdown(&store, now_ms);
                    w.token = None;
                }
                None
            }
            _ => {
                now_ms = now_ms.saturating_add(u64::from(what) * 1000);
                None
            }
        };
        if let Some(status) = status {
            for w in &mut workers {
                let Some(token) = w.token else { continue };
                if !w.loader.owns(token) {
                    continue;
                }
                w.token = None;
                let read = || Some(body.to_vec());
                let steps = w
                    .loader
                    .on_answer(&store, &base, status, body.len(), read, now_ms);
                w.steps(&base, &store, steps, now_ms);
                break;
            }
        }
        now_ms = now_ms.saturating_add(1);
    }
    for w in &mut workers {
        let steps = w.loader.on_tick(&store, now_ms.saturating_add(3_600_000));
        w.steps(&base, &store, steps, now_ms);
    }
});
