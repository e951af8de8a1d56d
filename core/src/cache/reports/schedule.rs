//! The shared report schedule: which worker reports next (a compare-and-swap on the next
//! report time), and the back-off after failed reports.

use crate::cache::store::{update, SharedStore};

pub const REPORT_KEY: &str = "tollgate.report";
const MAX_BACKOFF_MS: u64 = 60_000;

/// `<next_at> <failures> <last_at>` in shared data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Schedule {
    /// The next report time, written with the interval of the worker that claimed the last one.
    next_at: u64,
    /// Failed reports in a row (the back-off).
    failures: u32,
    /// When the last report was claimed.
    last_at: u64,
}

impl Schedule {
    fn decode(value: Option<&[u8]>) -> Schedule {
        let text = String::from_utf8_lossy(value.unwrap_or_default()).into_owned();
        let mut f = text.split(' ').map(str::parse::<u64>);
        let next_at = f.next().and_then(Result::ok).unwrap_or(0);
        let failures = f.next().and_then(Result::ok).unwrap_or(0);
        // Written before `last_at` existed: the next report time alone decides.
        let last_at = f.next().and_then(Result::ok).unwrap_or(next_at);
        Schedule {
            next_at,
            failures: u32::try_from(failures).unwrap_or(u32::MAX),
            last_at,
        }
    }

    fn encode(self) -> Vec<u8> {
        format!("{} {} {}", self.next_at, self.failures, self.last_at).into_bytes()
    }

    /// Due at the next report time, or earlier when this worker's interval is shorter than
    /// the one it was written with (`batch_report_seconds` lowered in System): the interval
    /// counts from the last report. A back-off is never cut short.
    fn due(&self, now_ms: u64, interval_ms: u64) -> bool {
        now_ms >= self.next_at
            || (self.failures == 0 && now_ms >= self.last_at.saturating_add(interval_ms))
    }
}

/// Whether this worker reports now: the first to move the next report time forward wins.
pub fn claim_report(store: &dyn SharedStore, now_ms: u64, interval_ms: u64) -> bool {
    update(store, REPORT_KEY, |value| {
        let schedule = Schedule::decode(value);
        if !schedule.due(now_ms, interval_ms) {
            return None;
        }
        let next = Schedule {
            next_at: now_ms.saturating_add(interval_ms),
            last_at: now_ms,
            ..schedule
        };
        Some((next.encode(), ()))
    })
    .is_some()
}

/// Reports asked for early are at least this far apart: many entries whose period ended
/// together ask at once.
const SOON_APART_MS: u64 = 1_000;

/// The next report at a worker's next timer, a second after the last at the earliest, unless
/// reports are backing off (`AuthCache::take_report_soon`).
pub fn report_soon(store: &dyn SharedStore, now_ms: u64) {
    update(store, REPORT_KEY, |value| {
        let schedule = Schedule::decode(value);
        let soon = now_ms.max(schedule.last_at.saturating_add(SOON_APART_MS));
        (schedule.failures == 0 && schedule.next_at > soon).then(|| {
            let next = Schedule {
                next_at: soon,
                ..schedule
            };
            (next.encode(), ())
        })
    });
}

/// A report failed: the next attempt comes after 1 s, 2 s, 4 s, ... up to a minute.
pub fn report_failed(store: &dyn SharedStore, now_ms: u64) -> u64 {
    update(store, REPORT_KEY, |value| {
        let schedule = Schedule::decode(value);
        let failures = schedule.failures.saturating_add(1);
        let backoff = 1000u64
            .saturating_mul(1 << failures.saturating_sub(1).min(16))
            .min(MAX_BACKOFF_MS);
        let next = Schedule {
            next_at: now_ms.saturating_add(backoff),
            failures,
            ..schedule
        };
        Some((next.encode(), backoff))
    })
    .unwrap_or(0)
}

/// A report went through: back to the regular schedule.
pub fn report_succeeded(store: &dyn SharedStore) {
    update(store, REPORT_KEY, |value| {
        let schedule = Schedule::decode(value);
        (schedule.failures > 0).then(|| {
            let next = Schedule {
                failures: 0,
                ..schedule
            };
            (next.encode(), ())
        })
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::store::MemoryStore;

    const T0: u64 = 1_000_000;

    #[test]
    fn a_shorter_interval_pulls_the_next_report_in() {
        let store = MemoryStore::default();
        assert!(claim_report(&store, T0, 60_000));
        // Another worker already on a 1 s interval: due 1 s after the last report, not 60 s.
        assert!(!claim_report(&store, T0 + 999, 1_000));
        assert!(claim_report(&store, T0 + 1_000, 1_000));
        assert!(!claim_report(&store, T0 + 1_999, 1_000));
        assert!(claim_report(&store, T0 + 2_000, 1_000));
        // A worker still on the old interval follows the next report time written with 1 s.
        assert!(claim_report(&store, T0 + 3_000, 60_000));
        assert!(!claim_report(&store, T0 + 3_500, 60_000));
    }

    #[test]
    fn a_longer_interval_waits_for_the_report_already_scheduled() {
        let store = MemoryStore::default();
        assert!(claim_report(&store, T0, 1_000));
        assert!(!claim_report(&store, T0 + 999, 60_000));
        assert!(claim_report(&store, T0 + 1_000, 60_000));
        assert!(!claim_report(&store, T0 + 60_999, 60_000));
        assert!(claim_report(&store, T0 + 61_000, 60_000));
    }

    #[test]
    fn a_shorter_interval_does_not_cut_a_back_off_short() {
        let store = MemoryStore::default();
        assert!(claim_report(&store, T0, 60_000));
        assert_eq!(report_failed(&store, T0 + 10), 1_000);
        assert_eq!(report_failed(&store, T0 + 20), 2_000);
        assert!(!claim_report(&store, T0 + 2_019, 500));
        assert!(claim_report(&store, T0 + 2_020, 500));
    }

    #[test]
    fn a_schedule_written_without_the_last_report_time_keeps_its_next_report() {
        let store = MemoryStore::default();
        assert!(store.set(REPORT_KEY, b"1060000 0", 0).is_ok());
        assert!(!claim_report(&store, T0 + 1_000, 1_000));
        assert!(claim_report(&store, T0 + 60_000, 1_000));
        assert_eq!(
            Schedule::decode(store.get(REPORT_KEY).0.as_deref()),
            Schedule {
                next_at: T0 + 61_000,
                failures: 0,
                last_at: T0 + 60_000
            }
        );
    }
}
