//! A driver for the authorization cache and batched reports: two workers (two `AuthCache`s
//! and two `LocalUsage`s) over one `MemoryStore`, running fuzzer-chosen operations.

use crate::Pick;
use arbitrary::Arbitrary;
use tollgate_core::backend::BackendAnswer;
use tollgate_core::cache::authorizations::slot_key;
use tollgate_core::cache::entry::{Fresh, LastKnown, SharedEntry};
use tollgate_core::cache::reports::{self, PENDING_KEY, REPORT_KEY};
use tollgate_core::cache::{
    AuthCache, CacheSettings, Calls, EntryKey, LocalUsage, Lookup, MemoryStore, SharedStore, Ticket,
};
use tollgate_core::config::CachingType;
use tollgate_core::credentials::Credentials;
use tollgate_core::mapping::Usage;

/// Milliseconds since the epoch at the start of a run (late 2023).
pub const T0: u64 = 1_700_000_000_000;

/// A header value: a number (the interesting case), or any text.
#[derive(Debug, Clone, Arbitrary)]
pub enum NumText {
    Int(i64),
    Unsigned(u64),
    Small(i8),
    Text(String),
}

impl NumText {
    pub fn text(&self) -> String {
        match self {
            NumText::Int(v) => v.to_string(),
            NumText::Unsigned(v) => v.to_string(),
            NumText::Small(v) => v.to_string(),
            NumText::Text(s) => s.clone(),
        }
    }
}

#[derive(Debug, Clone, Arbitrary)]
pub struct Answer {
    pub status: Option<u16>,
    pub ok: bool,
    pub reason: Option<Pick>,
    pub reset: Option<NumText>,
    pub max_value: Option<NumText>,
    pub remaining: Option<NumText>,
    /// Without apisonator's content type (another server answered).
    pub foreign: bool,
}

impl Answer {
    pub fn backend(&self) -> BackendAnswer {
        let status = if self.ok { Some(200) } else { self.status };
        BackendAnswer {
            status,
            rejection_reason: self
                .reason
                .as_ref()
                .map(|r| r.get(&["limits_exceeded", "user_key_invalid"]).to_string()),
            limit_reset: self.reset.as_ref().map(NumText::text),
            limit_max_value: self.max_value.as_ref().map(NumText::text),
            limit_remaining: self.remaining.as_ref().map(NumText::text),
            foreign: self.foreign,
        }
    }
}

#[derive(Debug, Arbitrary)]
pub enum Op {
    /// A request on worker `w` for key `k`; an `Authorize` ticket is kept for `Answer`.
    Lookup {
        w: bool,
        k: u8,
    },
    /// The backend answers worker `w`'s oldest ticket.
    Answer {
        w: bool,
        answer: Answer,
    },
    /// Worker `w`'s oldest ticket is abandoned (its request went away with the call).
    Abandon {
        w: bool,
    },
    /// Authrep mode: an answer remembered, or the fallback while the backend fails.
    Authrep {
        w: bool,
        k: u8,
        answer: Answer,
    },
    Fallback {
        w: bool,
        k: u8,
    },
    /// Time passes (milliseconds).
    Tick(u16),
    Jump(u32),
    Expire {
        w: bool,
    },
    Release {
        w: bool,
    },
    /// Worker `w` flushes its usage, and reports if elected.
    Flush {
        w: bool,
        max_pending: u8,
    },
    Report {
        w: bool,
        ok: bool,
    },
    /// Shared data overwritten with something else (another version, another module).
    Overwrite {
        slot: u8,
        value: Value,
    },
    OverwritePending(Pending),
    OverwriteSchedule(Vec<u8>),
}

/// A shared-data value: raw bytes, or an entry with arbitrary numbers.
#[derive(Debug, Arbitrary)]
pub enum Value {
    Raw(Vec<u8>),
    Entry {
        k: u8,
        epoch: u32,
        fresh: u8,
        until: u64,
        near: Option<i32>,
        budget: Option<u64>,
        retry: Option<u64>,
        outstanding: u64,
        authorizing_until: u64,
        last: u8,
        unavailable_until: u64,
    },
}

/// The pending list: raw bytes, or lines with arbitrary counts.
#[derive(Debug, Arbitrary)]
pub enum Pending {
    Raw(Vec<u8>),
    /// (calls, leased, minute: none as an earlier module wrote them, key)
    Lines(Vec<(u64, u64, Option<u64>, u8)>),
}

pub struct World {
    pub store: MemoryStore,
    pub settings: CacheSettings,
    pub workers: [(AuthCache, LocalUsage, Vec<Ticket>); 2],
    pub keys: Vec<EntryKey>,
    pub now: u64,
}

pub fn keys() -> Vec<EntryKey> {
    let usage = |pairs: &[(&str, u64)]| {
        let mut u = Usage::default();
        for (m, d) in pairs {
            u.add(m, *d);
        }
        u
    };
    // Without a reporting fingerprint, as modules before the twenty-sixth session made them:
    // shared data may still hold such keys.
    let key = |service: &str, credentials: &Credentials, usage: &Usage| {
        EntryKey::identified(service, "", credentials, usage)
    };
    vec![
        key(
            "1",
            &Credentials::UserKey("k1".into()),
            &usage(&[("hits", 1)]),
        ),
        key(
            "1",
            &Credentials::UserKey("k2".into()),
            &usage(&[("hits", 1), ("orders", 2)]),
        ),
        key(
            "2",
            &Credentials::AppIdAndKey {
                app_id: "a|b c".into(),
                app_key: "k\n".into(),
            },
            &usage(&[("apps", u64::MAX)]),
        ),
        key(
            "5",
            &Credentials::AppId("key-one".into()),
            &usage(&[("hits", 3)]),
        ),
        // A service the configuration no longer has.
        key(
            "99",
            &Credentials::UserKey("gone".into()),
            &usage(&[("hits", 1)]),
        ),
    ]
}

impl World {
    pub fn new(slots: u8, caching: u8) -> World {
        let caching_type = match caching % 4 {
            0 => CachingType::None,
            1 => CachingType::Strict,
            2 => CachingType::Resilient,
            _ => CachingType::Allow,
        };
        let settings = CacheSettings {
            caching_type,
            auths_ttl_ms: 30_000,
            denied_ttl_ms: 5_000,
            slots: u32::from(slots % 8) + 1,
            wait_ms: 1_500,
        };
        World {
            store: MemoryStore::default(),
            settings,
            workers: [
                (AuthCache::new(settings), LocalUsage::default(), Vec::new()),
                (AuthCache::new(settings), LocalUsage::default(), Vec::new()),
            ],
            keys: keys(),
            now: T0,
        }
    }

    fn key(&self, k: u8) -> EntryKey {
        let i = usize::from(k) % self.keys.len();
        self.keys
            .get(i)
            .cloned()
            .unwrap_or_else(|| panic!("no key {i}"))
    }

    pub fn run(&mut self, op: &Op) {
        // An application key of the entry, as `app_id` requests carry (`SharedEntry::members`),
        // or none (a user_key).
        fn check_of(k: u8) -> Option<String> {
            let key = ["a", "b", "c"].get(usize::from(k / 64))?;
            Some(tollgate_core::cache::entry::key_digest(key))
        }
        let now = self.now;
        let store = &self.store;
        match op {
            Op::Lookup { w, k } => {
                let key = self.key(*k);
                let (cache, usage, tickets) = &mut self.workers[usize::from(*w)];
                let check = check_of(*k);
                match cache.lookup_checked(store, &key, check.as_deref(), now) {
                    Lookup::Forward { leased } => usage.add(&key, leased, now / 60_000),
                    Lookup::Authorize(t) => tickets.push(t),
                    Lookup::Deny(_) | Lookup::Wait => {}
                }
            }
            Op::Answer { w, answer } => {
                let (cache, usage, tickets) = &mut self.workers[usize::from(*w)];
                if tickets.is_empty() {
                    return;
                }
                let ticket = tickets.remove(0);
                let lookup = cache.answer(store, &ticket, &answer.backend(), now);
                let _ = ticket.is_cached();
                let lookup = lookup.unwrap_or_else(|| cache.lookup(store, &ticket.key, now));
                if let Lookup::Forward { leased } = lookup {
                    usage.add(&ticket.key, leased, now / 60_000);
                }
            }
            Op::Abandon { w } => {
                let (cache, _, tickets) = &mut self.workers[usize::from(*w)];
                if !tickets.is_empty() {
                    let ticket = tickets.remove(0);
                    cache.abandon(store, &ticket);
                }
            }
            Op::Authrep { w, k, answer } => {
                let key = self.key(*k);
                let (cache, _, _) = &mut self.workers[usize::from(*w)];
                let check = check_of(*k);
                cache.remember_authrep(store, &key, check.as_deref(), &answer.backend(), now);
            }
            Op::Fallback { w, k } => {
                let key = self.key(*k);
                let (cache, _, _) = &mut self.workers[usize::from(*w)];
                let check = check_of(*k);
                let _ = cache.authrep_fallback(store, &key, check.as_deref(), now);
            }
            Op::Tick(dt) => self.now = now.saturating_add(u64::from(*dt)),
            Op::Jump(dt) => self.now = now.saturating_add(u64::from(*dt)),
            Op::Expire { w } => self.workers[usize::from(*w)].0.expire(store, now),
            Op::Release { w } => self.workers[usize::from(*w)].0.release_all(store),
            Op::Flush { w, max_pending } => {
                let (_, usage, _) = &mut self.workers[usize::from(*w)];
                // As the worker: dropped calls are counted, never settled.
                let _ = usage.flush(store, usize::from(*max_pending));
                let _ = reports::pending_calls(store);
                if reports::claim_report(store, now, 10_000) {
                    self.report(*w, true);
                }
            }
            Op::Report { w, ok } => self.report(*w, *ok),
            Op::Overwrite { slot, value } => {
                let name = slot_key(u32::from(*slot) % self.settings.slots);
                let bytes = self.value_bytes(value);
                check_decode(&bytes);
                force_set(store, &name, &bytes);
            }
            Op::OverwritePending(pending) => {
                let bytes = match pending {
                    Pending::Raw(raw) => raw.clone(),
                    Pending::Lines(lines) => lines
                        .iter()
                        .map(|(c, l, m, k)| {
                            let minute = m.map(|m| format!("@{m} ")).unwrap_or_default();
                            format!("{c} {l} {minute}{}\n", self.key(*k).as_str())
                        })
                        .collect::<String>()
                        .into_bytes(),
                };
                force_set(store, PENDING_KEY, &bytes);
            }
            Op::OverwriteSchedule(bytes) => force_set(store, REPORT_KEY, bytes),
        }
    }

    fn report(&mut self, w: bool, ok: bool) {
        let store = &self.store;
        let pending = reports::take_pending(store);
        let _ = Calls::total(&pending);
        // Calls of services no longer configured are dropped, and not settled (as the worker).
        let retired = reports::RetiredServices::default();
        let now_s = self.now / 1000;
        let (batches, _dropped) = reports::batches(crate::config(), &retired, pending, now_s);
        let (_, usage, _) = &mut self.workers[usize::from(w)];
        for batch in batches {
            let _ = batch.calls();
            if ok {
                reports::settle(store, self.settings.slots, &batch.entries);
            } else {
                for (key, calls) in &batch.entries {
                    usage.add_calls(key, *calls);
                }
            }
        }
        if ok {
            reports::report_succeeded(store);
        } else {
            let _ = reports::report_failed(store, self.now);
        }
    }

    fn value_bytes(&self, value: &Value) -> Vec<u8> {
        let Value::Entry {
            k,
            epoch,
            fresh,
            until,
            near,
            budget,
            retry,
            outstanding,
            authorizing_until,
            last,
            unavailable_until,
        } = value
        else {
            let Value::Raw(raw) = value else {
                return Vec::new();
            };
            return raw.clone();
        };
        let until = near.map_or(*until, |d| self.now.saturating_add_signed(i64::from(d)));
        let mut e = SharedEntry::new(self.key(*k).as_str());
        e.epoch = *epoch;
        e.fresh = match fresh % 4 {
            0 => Fresh::None,
            1 => Fresh::Authorized {
                until,
                budget: *budget,
            },
            2 => Fresh::Denied { until },
            _ => Fresh::Limited {
                until,
                retry_after: *retry,
            },
        };
        e.outstanding = *outstanding;
        e.authorizing_until = *authorizing_until;
        e.last = match last % 4 {
            0 => LastKnown::None,
            1 => LastKnown::Authorized,
            2 => LastKnown::Denied,
            _ => LastKnown::Limited,
        };
        e.unavailable_until = *unavailable_until;
        e.encode()
    }
}

/// A value written without regard to its version (another module writing the same key).
fn force_set(store: &MemoryStore, key: &str, value: &[u8]) {
    let (_, version) = store.get(key);
    let _ = store.set(key, value, version);
}

/// Decoding never panics, and what decodes re-encodes to a value that decodes the same.
pub fn check_decode(bytes: &[u8]) {
    if let Some(entry) = SharedEntry::decode(bytes) {
        let again = SharedEntry::decode(&entry.encode());
        assert_eq!(
            again.as_ref(),
            Some(&entry),
            "{:?}",
            String::from_utf8_lossy(bytes)
        );
        let _ = entry.is_idle(T0);
        let _ = entry.is_denial_only(T0);
        let _ = entry.fresh_at(T0);
    }
}
