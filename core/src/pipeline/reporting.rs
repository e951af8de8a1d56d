//! Batching mode's reporting on a worker: forwarded calls counted locally, moved to shared
//! data on each tick, reported by the elected worker, and what happens to a report's answer.

use super::steps::{CallPurpose, Step, Tally};
use crate::cache::reports::{self, ReportBatch, UNKNOWN_SERVICE_GRACE_MINUTES};
use crate::cache::{Calls, EntryKey, LocalUsage, RetiredServices, SharedStore};
use crate::config::backend::DEFAULT_MAX_PENDING;
use crate::config::{BackendConfig, Config};
use log::{debug, error, warn};

/// A forwarded call not yet counted: its entry, whether it was leased from a budget, and the
/// minute it was forwarded in (UNIX seconds / 60, see [`minute_of`]).
pub(super) type Uncounted = (EntryKey, bool, u64);

/// The minute a call forwarded at `now_ms` is reported in. No margin either way: a call
/// stamped later than its minute, once reported and settled, frees budget in the period it
/// was made in; one stamped earlier, in the next. With clocks in step (NTP) limits are
/// exact; a proxy clock `δ` off lets the calls of `δ` at a period's edge through twice.
pub(super) fn minute_of(now_ms: u64) -> u64 {
    now_ms / 60_000
}

pub(super) struct Reporting {
    /// Bound on pending reports (`backend.batching.max_pending`, or its default).
    max_pending: usize,
    /// `backend.report_response_codes`: a call is counted once its status is known.
    codes: bool,
    usage: LocalUsage,
    /// Services a System refresh removed, for their calls still pending.
    retired: RetiredServices,
    /// This worker's report round has backed off already: a round is one call per
    /// application, and an outage failing all of them is one failure, not one per app.
    backed_off: bool,
    hits: u64,
    misses: u64,
}

impl Reporting {
    pub(super) fn new(backend: &BackendConfig) -> Reporting {
        Reporting {
            max_pending: (backend.batching)
                .map_or(DEFAULT_MAX_PENDING, |b| u64::from(b.max_pending))
                as usize,
            codes: backend.report_response_codes,
            usage: LocalUsage::default(),
            retired: RetiredServices::default(),
            backed_off: false,
            hits: 0,
            misses: 0,
        }
    }

    /// Counts a forwarded call for the next report (its key carries the response code, if
    /// reported), made in `minute` (UNIX seconds / 60).
    pub(super) fn count(&mut self, (key, leased, minute): &Uncounted) {
        self.usage.add(key, *leased, *minute);
    }

    /// A request the cache decided, forwarded or denied (`waited`: a miss, else a hit).
    pub(super) fn decided(&mut self, waited: bool) {
        let counter = if waited {
            &mut self.misses
        } else {
            &mut self.hits
        };
        *counter = counter.saturating_add(1);
    }

    /// A call forwarded from the cache (`waited`: a miss, else a hit). It is counted now, or
    /// returned to be counted later ([`Reporting::uncounted`]).
    pub(super) fn forwarded(
        &mut self,
        call: Uncounted,
        waited: bool,
        streaming: bool,
    ) -> Option<Uncounted> {
        self.decided(waited);
        self.uncounted(call, streaming)
    }

    /// A forwarded call, counted now or returned to be counted with its response
    /// (`Worker::on_response`): with response codes, and while its body is read as it streams
    /// (`streaming`), which may yet refuse the request.
    pub(super) fn uncounted(&mut self, call: Uncounted, streaming: bool) -> Option<Uncounted> {
        if self.codes || streaming {
            return Some(call);
        }
        self.count(&call);
        None
    }

    /// A call returned by [`Reporting::uncounted`], counted: with response codes, with its
    /// status (`None`: without a code).
    pub(super) fn count_answered(&mut self, call: Uncounted, status: fn() -> Option<u16>) {
        let (key, leased, minute) = call;
        let key = match self.codes {
            true => status().map(|c| key.with_code(c)).unwrap_or(key),
            false => key,
        };
        self.count(&(key, leased, minute));
    }

    /// `new` replaces `old`: the services it removes are kept for their pending calls.
    pub(super) fn retire(&mut self, old: &Config, new: &Config) {
        self.retired.note(old, new);
    }

    /// The timer: usage to shared data, and the report calls if this worker is elected.
    pub(super) fn tick(
        &mut self,
        store: &dyn SharedStore,
        config: &Config,
        config_loaded: bool,
        now_ms: u64,
        tally: &mut Tally,
    ) -> Vec<Step> {
        tally.cache_hits = tally
            .cache_hits
            .saturating_add(std::mem::take(&mut self.hits));
        tally.cache_misses = tally
            .cache_misses
            .saturating_add(std::mem::take(&mut self.misses));
        let max_pending = self.max_pending;
        let mut pending = 0;
        let slots = config.backend.cache_max_entries;
        if let Some(merged) = self.usage.flush(store, max_pending) {
            self.dropped_at_bound(store, slots, &merged, Some(now_ms), tally);
            pending = merged.pending;
            tally.usage_pending = Some(merged.pending);
        }
        if !config_loaded || (!config.any_batching() && pending == 0) {
            // Services from System still to come: the pending calls (another VM's, say) are
            // theirs. Or nothing batches and nothing waits; calls left by services that
            // stopped batching are still reported.
            return Vec::new();
        }
        let interval_ms = config.report_interval_ms();
        if !reports::claim_report(store, now_ms, interval_ms) {
            return Vec::new();
        }
        self.backed_off = false;
        let pending = reports::take_pending(store);
        let (batches, unknown) = reports::batches(config, &self.retired, pending, now_ms / 1000);
        let calls = self.keep_unknown(store, slots, unknown, now_ms, tally);
        if calls > 0 {
            warn!(
                "tollgate: {calls} call(s) not reported: their services are not configured \
                 here, and no worker reported them within {UNKNOWN_SERVICE_GRACE_MINUTES} minutes"
            );
        }
        batches
            .into_iter()
            .map(|batch| {
                debug!(
                    "tollgate: reporting {} call(s) for service {}",
                    batch.calls(),
                    batch.service_id
                );
                Step::Call {
                    call: batch.call.clone(),
                    purpose: CallPurpose::Report(batch, now_ms),
                }
            })
            .collect()
    }

    /// Calls of services this configuration does not know, which another worker's may (the
    /// old or the new configuration during a listener drain, another listener of the same
    /// plugin name): put back for a worker that reports them, and dropped ([`drop_calls`])
    /// once older than [`UNKNOWN_SERVICE_GRACE_MINUTES`]; returns how many were. (Until
    /// 2026-12-06 they were dropped at once: calls of a service a static update added were
    /// lost whenever the old configuration's worker won a round; found by an audit.) Calls
    /// of an unknown minute (0: an earlier module's) are stamped with this one, so that they
    /// too are dropped after the grace, never kept for ever: no earlier than they were made,
    /// and no later than the backend counts a call reported without a timestamp (when it
    /// gets it).
    fn keep_unknown(
        &mut self,
        store: &dyn SharedStore,
        slots: u32,
        unknown: Vec<(EntryKey, Calls)>,
        now_ms: u64,
        tally: &mut Tally,
    ) -> u64 {
        let (now_minute, mut dropped) = (minute_of(now_ms), 0);
        for (key, mut calls) in unknown {
            if calls.minute == 0 {
                calls.minute = now_minute;
            }
            if now_minute.saturating_sub(calls.minute) <= UNKNOWN_SERVICE_GRACE_MINUTES {
                self.usage.add_calls(&key, calls);
                continue;
            }
            dropped = calls.calls.saturating_add(dropped);
            drop_calls(store, slots, &[(key, calls)], Some(now_ms), tally);
        }
        dropped
    }

    /// The report-status policy: 2xx settles the calls; a 4xx other than 408, 429 and 499 is
    /// the backend refusing the report itself (credentials, format), which a retry cannot
    /// fix, so the calls are dropped, loudly; anything else (no answer, 5xx, 1xx, 3xx, a
    /// proxy in front of the backend timing out or throttling, any answer not the backend's:
    /// `status` `None`, see `BackendAnswer::report_status`) keeps them for a retry: still
    /// owed, so no limit is passed, and delivered once the way to the backend works again.
    /// `sent`: the report and when it was sent (its accepted calls are owed until the
    /// backend's figures show them counted, `cache::entry::Unapplied`).
    pub(super) fn on_report_answer(
        &mut self,
        store: &dyn SharedStore,
        config: &Config,
        sent: (ReportBatch, u64),
        status: Option<u16>,
        now_ms: Option<u64>,
        tally: &mut Tally,
    ) {
        let (batch, sent_ms) = sent;
        let slots = config.backend.cache_max_entries;
        match status {
            Some(200..=299) => {
                match now_ms {
                    Some(now) => reports::settle_sent(store, slots, &batch.entries, sent_ms, now),
                    None => reports::settle(store, slots, &batch.entries),
                }
                reports::report_succeeded(store);
            }
            Some(s @ 400..=498) if !is_temporary(s) => {
                error!(
                    "tollgate: backend refused a report for service {} with {s}: {} call(s) dropped",
                    batch.service_id,
                    batch.calls()
                );
                tally.report_failures = tally.report_failures.saturating_add(1);
                drop_calls(store, slots, &batch.entries, now_ms, tally);
            }
            _ => self.keep_for_retry(store, batch, status, now_ms, tally),
        }
    }

    /// [`Reporting::on_report_answer`] for a report of unknown sending time: its accepted
    /// calls are settled.
    #[cfg(test)]
    pub(super) fn on_answer(
        &mut self,
        store: &dyn SharedStore,
        config: &Config,
        batch: ReportBatch,
        status: Option<u16>,
        now_ms: Option<u64>,
        tally: &mut Tally,
    ) {
        self.on_report_answer(store, config, (batch, 0), status, now_ms, tally);
    }

    /// A report that failed (or was never sent): its calls wait for the next attempt, after a
    /// backoff shared by every worker.
    pub(super) fn keep_for_retry(
        &mut self,
        store: &dyn SharedStore,
        batch: ReportBatch,
        status: Option<u16>,
        now_ms: Option<u64>,
        tally: &mut Tally,
    ) {
        tally.report_failures = tally.report_failures.saturating_add(1);
        // The backend's health: anything but its own 408 or 429 (no answer, never sent, a
        // 5xx, a 1xx or 3xx, something else answering). Until 2026-12-06 a 1xx or 3xx was a
        // report failure only, retried for ever unseen there (found by an audit).
        if !status.is_some_and(|s| (400..499).contains(&s)) {
            tally.backend_errors = tally.backend_errors.saturating_add(1);
        }
        for (key, calls) in &batch.entries {
            self.usage.add_calls(key, *calls);
        }
        if std::mem::replace(&mut self.backed_off, true) {
            warn!(
                "tollgate: report for service {} failed ({status:?}); {} call(s) kept for the next round's retry",
                batch.service_id,
                batch.calls()
            );
            return;
        }
        // Without the clock, the backoff starts from 0: the retry comes on the next tick.
        let backoff_ms = reports::report_failed(store, now_ms.unwrap_or(0));
        warn!(
            "tollgate: report for service {} failed ({status:?}); {} call(s) kept, retry in {backoff_ms} ms",
            batch.service_id,
            batch.calls()
        );
    }

    /// The calls a merge into the full pending list dropped: logged, counted, and owed by
    /// their entries until their period ends.
    fn dropped_at_bound(
        &self,
        store: &dyn SharedStore,
        slots: u32,
        merged: &reports::Merged,
        now_ms: Option<u64>,
        tally: &mut Tally,
    ) {
        if !merged.dropped.is_empty() {
            let calls = merged.dropped_calls();
            let max_pending = self.max_pending;
            error!("tollgate: {calls} call(s) dropped: more than {max_pending} pending reports");
            drop_calls(store, slots, &merged.dropped, now_ms, tally);
        }
    }

    /// Moves this worker's counted calls to shared data (the VM is going away). A new VM
    /// reports them; if Envoy is exiting, nothing will: Envoy runs this after its event loops
    /// stopped, so no report can be sent now (README "What can still be lost": drain first).
    pub(super) fn flush(
        &mut self,
        store: &dyn SharedStore,
        slots: u32,
        now_ms: Option<u64>,
        tally: &mut Tally,
    ) {
        let Some(merged) = self.usage.flush(store, self.max_pending) else {
            return;
        };
        self.dropped_at_bound(store, slots, &merged, now_ms, tally);
        let pending = merged.pending;
        if pending > 0 {
            warn!("tollgate: {pending} call(s) wait for the next report; never reported if Envoy is exiting");
        }
    }
}

/// 408 (request timeout) and 429 (too many requests): the report was not looked at, a later
/// one goes through.
fn is_temporary(status: u16) -> bool {
    matches!(status, 408 | 429)
}

/// Calls that will never be reported: counted, and owed by their entries until the end of
/// the limit period they were made in (`reports::abandon`). Settling them made every dropped
/// call a free one: a client that filled the pending list got past its limit (found by an
/// audit, 2026-12-05); owing them for good refused an application whose dropped calls
/// reached its limit in every later period, until Envoy restarted. Without the clock they
/// count as made now.
fn drop_calls(
    store: &dyn SharedStore,
    slots: u32,
    dropped: &[(EntryKey, Calls)],
    now_ms: Option<u64>,
    tally: &mut Tally,
) {
    let calls = Calls::total(dropped);
    tally.reports_dropped = tally.reports_dropped.saturating_add(calls);
    reports::abandon(store, slots, dropped, now_ms.unwrap_or(0));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::{BackendCall, ReportingIdentity, Transactions};
    use crate::cache::MemoryStore;

    /// Calls a VM going away finds no room for are counted, and owed by their entries only
    /// until their period ends (found by an audit, 2026-12-06: owed for good, uncounted).
    #[test]
    fn calls_dropped_by_the_last_flush_are_counted_and_owed_until_their_period_ends() {
        use crate::cache::authorizations::slot_key;
        use crate::cache::entry::SharedEntry;
        use crate::credentials::Credentials;
        use crate::mapping::Usage;
        let text =
            br#"{"backend":{"cluster":"b","batching":{"max_pending":1}},"services":[{"id":"1"}]}"#;
        let config = Config::parse(text).unwrap().config;
        let (store, mut tally) = (MemoryStore::default(), Tally::default());
        let slots = config.backend.cache_max_entries;
        let mut usage = Usage::default();
        usage.add("hits", 1);
        let key = |k: &str| EntryKey::new("1", &Credentials::UserKey(k.into()), &usage);
        let (other, k) = (key("other"), key("k"));
        let mut e = SharedEntry::new(k.base());
        e.outstanding = 1;
        e.lease_reset = 1_000;
        let slot = slot_key(k.slots(slots)[0]);
        store.set(&slot, &e.encode(), 0).unwrap();
        let mut first = Reporting::new(&config.backend);
        first.count(&(other, false, 0));
        first.flush(&store, slots, Some(500), &mut tally);
        let mut second = Reporting::new(&config.backend);
        second.count(&(k.clone(), true, 0));
        second.flush(&store, slots, Some(500), &mut tally);
        assert_eq!(tally.reports_dropped, 1);
        let after = SharedEntry::decode(&store.get(&slot).0.unwrap()).unwrap();
        assert_eq!((after.owed_at(999), after.owed_at(1_000)), (1, 0));
        assert!(after.is_idle(1_000));
    }

    #[test]
    fn a_round_failing_every_applications_report_backs_off_once() {
        let text = br#"{"backend":{"cluster":"b","batching":{}},"services":[{"id":"1"}]}"#;
        let config = Config::parse(text).unwrap().config;
        let (store, mut tally) = (MemoryStore::default(), Tally::default());
        let mut reporting = Reporting::new(&config.backend);
        let t0 = 1_000_000;
        let steps = reporting.tick(&store, &config, true, t0, &mut tally);
        assert!(steps.is_empty());
        let batch = ReportBatch {
            service_id: "1".into(),
            call: BackendCall::report(
                &ReportingIdentity::of(&config.services[0]),
                &Transactions::default(),
                t0 / 1000,
            ),
            entries: Vec::new(),
        };
        for _ in 0..3 {
            let b = batch.clone();
            reporting.on_answer(&store, &config, b, Some(503), Some(t0 + 5), &mut tally);
        }
        assert_eq!(tally.report_failures, 3);
        // 1 s of back-off, not 4 s.
        assert!(!reports::claim_report(&store, t0 + 1_004, 10_000));
        assert!(reports::claim_report(&store, t0 + 1_005, 10_000));
    }

    /// Calls of a service this configuration does not know are kept for a worker that knows
    /// it, then dropped once older than the grace; an earlier module's, of no known minute,
    /// from when a reporter first saw them (found by an audit, 2026-12-06: dropped at once).
    #[test]
    fn calls_of_an_unknown_service_wait_out_the_grace_then_are_dropped() {
        use crate::credentials::Credentials;
        use crate::mapping::Usage;
        let text = br#"{"backend":{"cluster":"b","batching":{}},"services":[{"id":"1"}]}"#;
        let config = Config::parse(text).unwrap().config;
        let (store, mut tally) = (MemoryStore::default(), Tally::default());
        let mut usage = Usage::default();
        usage.add("hits", 1);
        let key = |k: &str| EntryKey::new("9", &Credentials::UserKey(k.into()), &usage);
        let t0 = 1_800_000_000_000;
        let made = Calls {
            minute: minute_of(t0),
            calls: 2,
            leased: 0,
        };
        reports::merge(&store, [(key("a").as_str(), made)].into_iter(), 10).unwrap();
        let legacy = format!("1 0 {}\n", key("b").as_str());
        store
            .set(reports::LEGACY_PENDING_KEY, legacy.as_bytes(), 0)
            .unwrap();
        let mut reporting = Reporting::new(&config.backend);
        for minutes in [0, 10] {
            let now = t0 + minutes * 60_000;
            assert!(reporting
                .tick(&store, &config, true, now, &mut tally)
                .is_empty());
            assert_eq!(tally.reports_dropped, 0, "{minutes}");
            assert_eq!(reporting.usage.flush(&store, 10).unwrap().pending, 3);
        }
        let now = t0 + 11 * 60_000;
        reporting.tick(&store, &config, true, now, &mut tally);
        assert_eq!(tally.reports_dropped, 3);
        assert!(reporting.usage.is_empty());
        assert_eq!(reports::pending_calls(&store), 0);
    }
}
