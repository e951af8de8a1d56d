//! Batching mode's reporting on a worker: forwarded calls counted locally, moved to shared
//! data on each tick, reported by the elected worker, and what happens to a report's answer.

use super::steps::{CallPurpose, Step, Tally};
use crate::cache::reports::{self, ReportBatch};
use crate::cache::{Calls, EntryKey, LocalUsage, SharedStore};
use crate::config::backend::DEFAULT_MAX_PENDING;
use crate::config::{BackendConfig, Config};
use log::{debug, error, warn};

pub(super) struct Reporting {
    /// Bound on pending reports (`backend.batching.max_pending`, or its default).
    max_pending: usize,
    /// `backend.report_response_codes`: a call is counted once its status is known.
    codes: bool,
    usage: LocalUsage,
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
            hits: 0,
            misses: 0,
        }
    }

    /// Counts a forwarded call for the next report (its key carries the response code, if
    /// reported).
    pub(super) fn count(&mut self, key: &EntryKey, leased: bool) {
        self.usage.add(key, leased);
    }

    /// A call forwarded from the cache (`waited`: a miss, else a hit). It is counted now, or,
    /// with response codes, returned to be counted with its status (`Worker::on_response`).
    pub(super) fn forwarded(
        &mut self,
        key: EntryKey,
        leased: bool,
        waited: bool,
    ) -> Option<(EntryKey, bool)> {
        let counter = if waited {
            &mut self.misses
        } else {
            &mut self.hits
        };
        *counter = counter.saturating_add(1);
        if self.codes {
            return Some((key, leased));
        }
        self.count(&key, leased);
        None
    }

    /// The timer: usage to shared data, and the report calls if this worker is elected.
    pub(super) fn tick(
        &mut self,
        store: &dyn SharedStore,
        config: &Config,
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
        if let Some(merged) = self.usage.flush(store, max_pending) {
            if merged.dropped > 0 {
                error!(
                    "tollgate: {} call(s) dropped: more than {max_pending} pending reports",
                    merged.dropped
                );
                drop_calls(merged.dropped, tally);
            }
            tally.usage_pending = Some(merged.pending);
        }
        if !config.any_batching() {
            // Nothing to report yet (services from System still to come, or none batching):
            // claiming now would schedule the next report at the default interval, not at the
            // services' own (a 3scale_batcher's 1 s waited 10 s after boot).
            return Vec::new();
        }
        let interval_ms = config.report_interval_ms();
        if !reports::claim_report(store, now_ms, interval_ms) {
            return Vec::new();
        }
        let (batches, dropped) = reports::batches(config, reports::take_pending(store));
        if !dropped.is_empty() {
            let calls = Calls::total(&dropped);
            warn!("tollgate: {calls} call(s) of services no longer configured not reported");
            drop_calls(calls, tally);
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
                    purpose: CallPurpose::Report(batch),
                }
            })
            .collect()
    }

    /// The report-status policy: 2xx settles the calls; a 4xx other than 499 is the backend
    /// refusing the report itself (credentials, format), which a retry cannot fix, so the
    /// calls are dropped, loudly; anything else (no answer, 5xx) keeps them for a retry.
    pub(super) fn on_answer(
        &mut self,
        store: &dyn SharedStore,
        config: &Config,
        batch: ReportBatch,
        status: Option<u16>,
        now_ms: Option<u64>,
        tally: &mut Tally,
    ) {
        match status {
            Some(200..=299) => {
                reports::settle(store, config.backend.cache_max_entries, &batch.entries);
                reports::report_succeeded(store);
            }
            Some(s @ 400..=498) => {
                error!(
                    "tollgate: backend refused a report for service {} with {s}: {} call(s) dropped",
                    batch.service_id,
                    batch.calls()
                );
                tally.report_failures = tally.report_failures.saturating_add(1);
                drop_calls(batch.calls(), tally);
            }
            _ => self.keep_for_retry(store, batch, status, now_ms, tally),
        }
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
        for (key, calls) in &batch.entries {
            self.usage.add_calls(key, *calls);
        }
        // Without the clock, the backoff starts from 0: the retry comes on the next tick.
        let backoff_ms = reports::report_failed(store, now_ms.unwrap_or(0));
        warn!(
            "tollgate: report for service {} failed ({status:?}); {} call(s) kept, retry in {backoff_ms} ms",
            batch.service_id,
            batch.calls()
        );
    }

    /// Moves this worker's counted calls to shared data (the VM is going away).
    pub(super) fn flush(&mut self, store: &dyn SharedStore) {
        let _ = self.usage.flush(store, self.max_pending);
    }
}

/// Calls that will never be reported: counted, and no longer owed by their entries.
/// Dropped calls are counted, and their entries are NOT settled: the backend never counted
/// them, so they keep reducing their entries' budgets until the entries go (settling them
/// made every dropped call a free one: a client that filled the pending list got past its
/// limit; found by an audit, 2026-12-05).
fn drop_calls(calls: u64, tally: &mut Tally) {
    tally.reports_dropped = tally.reports_dropped.saturating_add(calls);
}
