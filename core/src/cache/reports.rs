//! Batched reporting. Each worker counts the calls it forwards in its own memory, moves them
//! into one shared pending list on its timer, and one worker at a time (elected by a
//! compare-and-swap on the next report time) takes the whole list and reports it. A call is
//! counted by exactly one worker and taken by exactly one reporter: none lost, none twice.

use super::authorizations::slot_key;
use super::entry::SharedEntry;
use super::key::{EntryKey, KeyParts};
use super::store::{update, SharedStore};
use crate::backend::report::{reported_app, App};
use crate::backend::{BackendCall, ReportingIdentity, Transactions};
use crate::config::Config;
use crate::hashing::SeededMap;

mod retired;
mod schedule;

pub use retired::RetiredServices;
pub use schedule::{claim_report, report_failed, report_soon, report_succeeded, REPORT_KEY};

/// Shared-data key of the pending list, `<calls> <leased> @<minute> <key>` lines.
pub const PENDING_KEY: &str = "tollgate.pending.m";
/// The list of modules before minutes were kept (`<calls> <leased> <key>`), which VMs of such
/// a module still fill during an update: taken with the other, read as minute 0. (One key for
/// both would have those VMs drop the lines they cannot read.)
pub const LEGACY_PENDING_KEY: &str = "tollgate.pending";
/// Transactions per report call: a bound on one POST body.
const MAX_TRANSACTIONS_PER_CALL: usize = 500;
/// Parameters per report call: apisonator (Rack 3.1) answers 400 to more than 4,096, which
/// would drop the application's calls.
const MAX_PARAMS_PER_CALL: usize = 3_500;

/// Calls forwarded for one entry in one minute: all of them, and those taken from a limit
/// budget. The minute (UNIX seconds / 60; 0: unknown) goes to the backend as the report's
/// `timestamp`, so calls made at the end of a limit period are counted in it, not in the next
/// one (found by an audit, 2026-12-06: a plan's per-minute limit used in the last seconds of
/// a minute spent the next minute's too). Every 3scale period starts on a minute.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Calls {
    pub minute: u64,
    pub calls: u64,
    pub leased: u64,
}

impl Calls {
    /// Total calls of a list of entries.
    pub fn total(entries: &[(EntryKey, Calls)]) -> u64 {
        sum_calls(entries)
    }

    fn add(&mut self, other: Calls) {
        self.calls = self.calls.saturating_add(other.calls);
        self.leased = self.leased.saturating_add(other.leased);
    }

    /// Takes up to `n` calls (leased ones first) out of these.
    fn take(&mut self, n: u64) -> Calls {
        let calls = self.calls.min(n);
        let leased = self.leased.min(calls);
        self.calls -= calls;
        self.leased -= leased;
        Calls {
            minute: self.minute,
            calls,
            leased,
        }
    }
}

/// The calls this worker forwarded since it last flushed: those of the current minute, by
/// key (the request path adds to them), and those of earlier minutes or of failed reports.
#[derive(Default)]
pub struct LocalUsage {
    calls: SeededMap<String, Calls>,
    minute: u64,
    earlier: Vec<(String, Calls)>,
}

/// What a merge into the shared list did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Merged {
    /// Calls dropped because the list was at its bound (counted in `tollgate.reports_dropped`),
    /// by key: their entries owe them until their period ends ([`abandon`]).
    pub dropped: Vec<(EntryKey, Calls)>,
    /// Calls now waiting in the shared list (the `tollgate.usage_pending` gauge).
    pub pending: u64,
}

impl Merged {
    /// How many calls were dropped.
    pub fn dropped_calls(&self) -> u64 {
        sum_calls(&self.dropped)
    }
}

impl LocalUsage {
    /// One call of `key`, forwarded in `minute`.
    pub fn add(&mut self, key: &EntryKey, leased: bool, minute: u64) {
        if minute != self.minute {
            // Once a minute at most: the current minute's calls become earlier ones.
            self.earlier.extend(self.calls.drain());
            self.minute = minute;
        }
        let one = Calls {
            minute,
            calls: 1,
            leased: u64::from(leased),
        };
        // Look up before inserting: the common case allocates nothing.
        match self.calls.get_mut(key.as_str()) {
            Some(c) => c.add(one),
            None => {
                self.calls.insert(key.as_str().to_string(), one);
            }
        }
    }

    /// Takes back calls whose report failed; the next flush returns them to the shared list.
    pub fn add_calls(&mut self, key: &EntryKey, calls: Calls) {
        self.earlier.push((key.as_str().to_string(), calls));
    }

    pub fn is_empty(&self) -> bool {
        self.calls.is_empty() && self.earlier.is_empty()
    }

    /// Moves the counts into the shared list; on persistent contention they stay here for
    /// the next flush.
    pub fn flush(&mut self, store: &dyn SharedStore, max_pending: usize) -> Option<Merged> {
        if self.is_empty() {
            return Some(Merged {
                pending: pending_calls(store),
                ..Merged::default()
            });
        }
        let earlier = self.earlier.iter().map(|(k, c)| (k.as_str(), *c));
        let current = self.calls.iter().map(|(k, c)| (k.as_str(), *c));
        let merged = merge(store, earlier.chain(current), max_pending)?;
        self.calls.clear();
        self.earlier.clear();
        Some(merged)
    }
}

/// Calls in the shared pending lists, not yet taken for a report.
pub fn pending_calls(store: &dyn SharedStore) -> u64 {
    [PENDING_KEY, LEGACY_PENDING_KEY]
        .iter()
        .map(|key| {
            let (value, _) = store.get(key);
            sum_calls(&decode_pending(value.as_deref().unwrap_or_default()))
        })
        .fold(0, u64::saturating_add)
}

/// The calls of a list, saturating: the counts come from shared data.
fn sum_calls<K>(entries: &[(K, Calls)]) -> u64 {
    entries
        .iter()
        .fold(0u64, |sum, (_, c)| sum.saturating_add(c.calls))
}

/// The most key bytes the shared pending list holds, whatever `max_pending` allows: every
/// worker reads and rewrites the whole list on each tick, and keys carry credentials (up to a
/// few KB each). Without it, made-up keys let through by `caching_type: allow` while the
/// backend is down could grow it to tens of megabytes (found by an audit, 2026-12-06).
pub const MAX_PENDING_KEY_BYTES: usize = 4 << 20;

/// The most minutes one key keeps apart in the pending list: a report interval of a few
/// minutes (`batch_report_seconds`) keeps each of its minutes; a long outage does not fill
/// the list with minutes.
pub const MAX_MINUTES_PER_KEY: usize = 16;

/// Adds calls to the shared pending list, up to `max_pending` distinct keys of
/// [`MAX_MINUTES_PER_KEY`] minutes each and [`MAX_PENDING_KEY_BYTES`] of keys. Past them, calls
/// of a key already listed join its latest entry, at the later minute (counted later, never
/// earlier); only calls of keys not listed are dropped.
pub fn merge<'a>(
    store: &dyn SharedStore,
    calls: impl Iterator<Item = (&'a str, Calls)> + Clone,
    max_pending: usize,
) -> Option<Merged> {
    update(store, PENDING_KEY, |value| {
        let mut list = decode_pending(value.unwrap_or_default());
        let mut key_bytes: usize = list.iter().map(|(k, _)| k.len()).sum();
        // Entries of one key are adjacent (the list is sorted by key, then minute).
        let mut keys = list
            .iter()
            .zip(list.iter().skip(1))
            .filter(|((a, _), (b, _))| a != b)
            .count()
            + usize::from(!list.is_empty());
        let mut merged = Merged::default();
        for (key, c) in calls.clone() {
            let bytes_room = key_bytes + key.len() <= MAX_PENDING_KEY_BYTES;
            let at = list.binary_search_by(|(k, e)| (k.as_str(), e.minute).cmp(&(key, c.minute)));
            let i = match at {
                Ok(i) => {
                    if let Some((_, existing)) = list.get_mut(i) {
                        existing.add(c);
                    }
                    continue;
                }
                Err(i) => i,
            };
            let minutes = minutes_of(&list, key, i);
            let room = match minutes {
                0 => keys < max_pending && bytes_room,
                n => n < MAX_MINUTES_PER_KEY && bytes_room,
            };
            if room {
                key_bytes += key.len();
                keys += usize::from(minutes == 0);
                list.insert(i, (key.to_string(), c));
                continue;
            }
            // The latest entry of the key takes them, at the later of the two minutes (still
            // the latest of its key): a call counted in a minute before the one it was made
            // in would free budget in its own period.
            match latest_of(&list, key, i).and_then(|j| list.get_mut(j)) {
                Some((_, existing)) => {
                    existing.minute = existing.minute.max(c.minute);
                    existing.calls = existing.calls.saturating_add(c.calls);
                    existing.leased = existing.leased.saturating_add(c.leased);
                }
                // Dropped calls stay owed by their entries (never settled): the backend
                // never counts them, so they must not free budget.
                None => merged
                    .dropped
                    .extend(EntryKey::from_text(key).map(|k| (k, c))),
            }
        }
        merged.pending = sum_calls(&list);
        Some((encode_pending(&list), merged.clone()))
    })
}

/// How many entries (minutes) `key` has, around `i` where a new minute of it would go.
fn minutes_of(list: &[(String, Calls)], key: &str, i: usize) -> usize {
    let same = |(k, _): &(String, Calls)| k == key;
    let before = list.get(..i).unwrap_or_default();
    let after = list.get(i..).unwrap_or_default();
    before.iter().rev().take_while(|e| same(e)).count()
        + after.iter().take_while(|e| same(e)).count()
}

/// The index of `key`'s entry with the latest minute, around `i` where a new minute of it
/// would go.
fn latest_of(list: &[(String, Calls)], key: &str, i: usize) -> Option<usize> {
    let same = |j: usize| list.get(j).is_some_and(|(k, _)| k == key).then_some(j);
    same(i).or_else(|| same(i.checked_sub(1)?)).map(|mut j| {
        while same(j + 1).is_some() {
            j += 1;
        }
        j
    })
}

/// Takes the whole pending list (and an earlier module's), leaving them empty.
pub fn take_pending(store: &dyn SharedStore) -> Vec<(EntryKey, Calls)> {
    let take = |key| {
        update(store, key, |value| {
            let list = decode_pending(value?);
            Some((Vec::new(), list))
        })
        .unwrap_or_default()
    };
    let mut list = take(PENDING_KEY);
    list.extend(take(LEGACY_PENDING_KEY));
    (list.into_iter())
        .filter_map(|(k, c)| Some((EntryKey::from_text(&k)?, c)))
        .collect()
}

/// `<calls> <leased> @<minute> <key>` per line, sorted by key and minute. (A key never
/// starts with `@`: its parts are percent-encoded.)
fn encode_pending(list: &[(String, Calls)]) -> Vec<u8> {
    let mut out = String::new();
    for (key, c) in list {
        out.push_str(&format!("{} {} @{} {key}\n", c.calls, c.leased, c.minute));
    }
    out.into_bytes()
}

/// The pending list, sorted by key and minute (a sorted `Vec` costs the module less than a
/// map). A line written before minutes were kept (`<calls> <leased> <key>`) has minute 0.
fn decode_pending(bytes: &[u8]) -> Vec<(String, Calls)> {
    let mut list: Vec<(String, Calls)> = String::from_utf8_lossy(bytes)
        .lines()
        .filter_map(|line| {
            let mut f = line.splitn(3, ' ');
            let calls = f.next()?.parse().ok()?;
            let leased = f.next()?.parse().ok()?;
            let rest = f.next()?;
            let (minute, key) = match rest.strip_prefix('@') {
                Some(rest) => {
                    let (minute, key) = rest.split_once(' ')?;
                    (minute.parse().ok()?, key)
                }
                None => (0, rest),
            };
            let c = Calls {
                minute,
                calls,
                leased,
            };
            Some((key.to_string(), c))
        })
        .collect();
    // (key, minute) pairs are distinct: by them alone.
    crate::sorting::heap_sort(&mut list);
    list
}

/// One report call and the pending entries it carries (returned to the list if it fails).
#[derive(Debug, Clone)]
pub struct ReportBatch {
    pub service_id: String,
    pub call: BackendCall,
    pub entries: Vec<(EntryKey, Calls)>,
}

impl ReportBatch {
    pub fn calls(&self) -> u64 {
        sum_calls(&self.entries)
    }
}

/// How long calls wait for a worker that can report them as they were authorized: those of a
/// service the reporting worker's configuration does not know, and those authorized under
/// another reporting identity of the service (another token, backend or account: the
/// fingerprint in their key). Envoy's default drain time (`--drain-time-s`, 600 s), during
/// which the listener's old configuration and its new one both report.
pub const UNKNOWN_SERVICE_GRACE_MINUTES: u64 = 10;

/// Groups pending calls into report calls, one per application of a service (each split at
/// [`MAX_TRANSACTIONS_PER_CALL`]): apisonator applies a report all-or-nothing (protocol §2.5),
/// so an application it rejects (deleted, a key let through by `caching_type: allow`) voids
/// only its own calls, never the other applications'. The service is the configuration's,
/// else one it no longer has (`retired`). Calls of a service neither knows cannot be
/// reported here: they are returned, for a worker whose configuration knows it.
///
/// A call is reported with the identity it was authorized under (found by an audit,
/// 2026-12-06: during a listener drain the old configuration's worker reported the new one's
/// calls with the revoked token, and the backend's 403 dropped them). Calls of another
/// identity are returned as well, for a worker of the configuration that authorized them;
/// past [`UNKNOWN_SERVICE_GRACE_MINUTES`] that configuration is gone (drained), and the
/// service is the same: they are reported with this worker's identity rather than lost.
pub fn batches(
    config: &Config,
    retired: &RetiredServices,
    pending: Vec<(EntryKey, Calls)>,
    now_s: u64,
) -> (Vec<ReportBatch>, Vec<(EntryKey, Calls)>) {
    let now_minute = now_s / 60;
    // Per identity, sorted by service id and fingerprint.
    let mut per_identity: Vec<(ReportingIdentity, Vec<Pending>)> = Vec::new();
    let mut unknown = Vec::new();
    for (key, calls) in pending {
        let Some(parts) = key.parts() else { continue };
        let id = parts.service_id.as_str();
        let configured = config.services.iter().find(|s| s.id == id);
        let fingerprint = parts.fingerprint.as_deref();
        let own = |f: &str| fingerprint.is_none_or(|p| p == f);
        let identity = match configured {
            Some(s) if own(&s.reporting_fingerprint) => Some(ReportingIdentity::of(s)),
            _ => retired.find(id, fingerprint).cloned(),
        };
        let late = calls.minute != 0
            && now_minute.saturating_sub(calls.minute) > UNKNOWN_SERVICE_GRACE_MINUTES;
        let identity = match identity {
            Some(identity) => Some(identity),
            None if late => (configured.map(|s| ReportingIdentity::of(s)))
                .or_else(|| retired.find(id, None).cloned()),
            None => None,
        };
        let Some(identity) = identity else {
            unknown.push((key, calls));
            continue;
        };
        let app = reported_app(&parts.credentials);
        let entry = Pending {
            app,
            key,
            parts,
            calls,
        };
        let wanted = (identity.service_id.as_str(), identity.fingerprint.as_str());
        let at = per_identity.binary_search_by(|(i, _)| {
            (i.service_id.as_str(), i.fingerprint.as_str()).cmp(&wanted)
        });
        match at {
            Ok(i) => {
                if let Some((_, entries)) = per_identity.get_mut(i) {
                    entries.push(entry);
                }
            }
            Err(i) => per_identity.insert(i, (identity, vec![entry])),
        }
    }
    let mut out = Vec::new();
    for (service, entries) in &mut per_identity {
        let entries = by_application(std::mem::take(entries));
        fill(&mut out, service, entries, now_s);
    }
    (out, unknown)
}

/// Adds the report calls of one service's `entries` (grouped per application) to `out`.
fn fill(
    out: &mut Vec<ReportBatch>,
    service: &ReportingIdentity,
    entries: Vec<Pending>,
    now_s: u64,
) {
    let mut call = ReportCall::new(&service.service_id, service, now_s);
    for Pending {
        app,
        key,
        parts,
        mut calls,
    } in entries
    {
        if call.app.as_ref().is_some_and(|a| *a != app) {
            call.send(out);
        }
        call.app = Some(app);
        loop {
            // Calls with a code are a transaction each: an entry may span report calls.
            let by_params = MAX_PARAMS_PER_CALL.saturating_sub(call.transactions.params())
                / (parts.usage.len() + 3);
            let room = MAX_TRANSACTIONS_PER_CALL
                .saturating_sub(call.transactions.len())
                .min(by_params);
            let part = calls.take(match parts.code {
                Some(_) => (room as u64).max(1),
                None => u64::MAX,
            });
            let made = (part.minute, part.calls);
            (call.transactions).add(&parts.credentials, &parts.usage, parts.code, made);
            call.carried.push((key.clone(), part));
            if call.transactions.len() >= MAX_TRANSACTIONS_PER_CALL
                || call.transactions.params() >= MAX_PARAMS_PER_CALL
            {
                call.send(out);
            }
            if calls.calls == 0 {
                break;
            }
        }
    }
    call.send(out);
}

/// The entries grouped per application, each group in its entries' order. Not `sort_by`:
/// the standard library's stable sort costs the module about 7 KB.
fn by_application(entries: Vec<Pending>) -> Vec<Pending> {
    let mut groups: Vec<(App, Vec<Pending>)> = Vec::new();
    for entry in entries {
        match groups.binary_search_by(|(app, _)| app.cmp(&entry.app)) {
            Ok(i) => {
                if let Some((_, group)) = groups.get_mut(i) {
                    group.push(entry);
                }
            }
            Err(i) => groups.insert(i, (entry.app.clone(), vec![entry])),
        }
    }
    groups.into_iter().flat_map(|(_, group)| group).collect()
}

/// A pending entry read back for a report.
struct Pending {
    app: App,
    key: EntryKey,
    parts: KeyParts,
    calls: Calls,
}

/// The report call being filled, for one application of one service.
struct ReportCall<'a> {
    service_id: &'a str,
    service: &'a ReportingIdentity,
    now_s: u64,
    app: Option<App>,
    transactions: Transactions,
    carried: Vec<(EntryKey, Calls)>,
}

impl<'a> ReportCall<'a> {
    fn new(service_id: &'a str, service: &'a ReportingIdentity, now_s: u64) -> ReportCall<'a> {
        ReportCall {
            service_id,
            service,
            now_s,
            app: None,
            transactions: Transactions::default(),
            carried: Vec::new(),
        }
    }

    /// Adds the call filled so far (if any) to `out`, and starts an empty one.
    fn send(&mut self, out: &mut Vec<ReportBatch>) {
        if !self.transactions.is_empty() {
            out.push(ReportBatch {
                service_id: self.service_id.to_string(),
                call: BackendCall::report(self.service, &self.transactions, self.now_s),
                entries: std::mem::take(&mut self.carried),
            });
        }
        self.transactions = Transactions::default();
        self.carried.clear();
    }
}

/// The backend has counted these calls: they no longer reduce their entries' budgets.
pub fn settle(store: &dyn SharedStore, slots: u32, entries: &[(EntryKey, Calls)]) {
    for_entries(store, slots, entries, &|entry, calls| {
        entry.outstanding = entry.outstanding.saturating_sub(calls.leased);
    });
}

/// The backend accepted these calls (202) in a report sent at `sent_ms`: no longer
/// outstanding, but owed until its figures show them counted (`entry::Unapplied`).
pub fn settle_sent(
    store: &dyn SharedStore,
    slots: u32,
    entries: &[(EntryKey, Calls)],
    sent_ms: u64,
    now_ms: u64,
) {
    for_entries(store, slots, entries, &|entry, calls| {
        entry.outstanding = entry.outstanding.saturating_sub(calls.leased);
        (entry.unapplied).accepted(calls.leased, calls.minute, sent_ms, now_ms);
    });
}

/// These calls will never be reported (dropped): their entries owe them until the end of the
/// limit period they were made in, then forgive them (`SharedEntry::abandon`). Settled at
/// once they would be free calls within that period; owed for good, an application whose
/// dropped calls reach its limit would be refused in every later period.
pub fn abandon(store: &dyn SharedStore, slots: u32, entries: &[(EntryKey, Calls)], now_ms: u64) {
    for_entries(store, slots, entries, &|entry, calls| {
        entry.abandon(calls.leased, now_ms);
    });
}

/// Applies `change` with the calls to the shared entry of each key that has leased ones.
fn for_entries(
    store: &dyn SharedStore,
    slots: u32,
    entries: &[(EntryKey, Calls)],
    change: &dyn Fn(&mut SharedEntry, &Calls),
) {
    for (key, calls) in entries.iter().filter(|(_, c)| c.leased > 0) {
        for slot in key.slots(slots) {
            let done = update(store, &slot_key(slot), |value| {
                let mut entry = value.and_then(SharedEntry::decode)?;
                if entry.key != key.base() {
                    return None;
                }
                change(&mut entry, calls);
                Some((entry.encode(), ()))
            });
            if done.is_some() {
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests;
