//! The reporter election (one worker reports per interval) and the back-off after failed
//! reports.

use super::*;

#[test]
fn one_worker_reports_per_interval() {
    let store = MemoryStore::default();
    // Worker A and B both try at every tick; exactly one wins per interval.
    let mut wins = [0; 2];
    for tick in 0..100u64 {
        let now_ms = T0 + tick * 1_000;
        let a = claim_report(&store, now_ms, INTERVAL);
        let b = claim_report(&store, now_ms + 1, INTERVAL);
        assert!(!(a && b));
        wins[0] += u32::from(a);
        wins[1] += u32::from(b);
    }
    assert_eq!(wins[0] + wins[1], 10);
    assert_eq!(wins, [10, 0], "the first to try at each interval wins");
    assert!(!claim_report(&store, T0 + 100_000 - 1, INTERVAL));
    assert!(claim_report(&store, T0 + 100_000, INTERVAL));
}

#[test]
fn failed_reports_back_off_up_to_a_minute() {
    let store = MemoryStore::default();
    let mut now_ms = T0;
    assert!(claim_report(&store, now_ms, INTERVAL));
    let mut backoffs = Vec::new();
    for _ in 0..10 {
        let backoff = report_failed(&store, now_ms);
        backoffs.push(backoff);
        assert!(!claim_report(&store, now_ms + backoff - 1, INTERVAL));
        now_ms += backoff;
        assert!(claim_report(&store, now_ms, INTERVAL));
    }
    assert_eq!(
        backoffs,
        [1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 60_000, 60_000, 60_000, 60_000]
    );
    // Many more failures never overflow.
    for _ in 0..100 {
        assert_eq!(report_failed(&store, now_ms), 60_000);
    }

    // A success resets the back-off and keeps the regular schedule.
    now_ms += 60_000;
    assert!(claim_report(&store, now_ms, INTERVAL));
    report_succeeded(&store);
    assert!(!claim_report(&store, now_ms + INTERVAL - 1, INTERVAL));
    assert!(claim_report(&store, now_ms + INTERVAL, INTERVAL));
    assert_eq!(report_failed(&store, now_ms + INTERVAL), 1_000);
    assert_eq!(report_failed(&store, now_ms + INTERVAL), 2_000);
    report_succeeded(&store);
    assert_eq!(report_failed(&store, now_ms + INTERVAL), 1_000);
}

#[test]
fn report_succeeded_without_failures_writes_nothing() {
    let store = MemoryStore::default();
    assert!(claim_report(&store, T0, INTERVAL));
    let version = store.get(REPORT_KEY).1;
    report_succeeded(&store);
    assert_eq!(store.get(REPORT_KEY).1, version);
}

/// `report_soon` brings the next report to the next timer (a second after the last at the
/// earliest), but never cuts a back-off short.
#[test]
fn a_report_asked_for_soon_goes_at_the_next_tick_unless_backing_off() {
    let store = MemoryStore::default();
    assert!(claim_report(&store, T0, INTERVAL));
    assert!(!claim_report(&store, T0 + 1, INTERVAL));
    // A second after the last report at the earliest (many entries ask at once).
    report_soon(&store, T0 + 2);
    assert!(!claim_report(&store, T0 + 999, INTERVAL));
    assert!(claim_report(&store, T0 + 1_000, INTERVAL));
    assert!(!claim_report(&store, T0 + 1_001, INTERVAL));
    report_soon(&store, T0 + 2_500);
    assert!(claim_report(&store, T0 + 2_500, INTERVAL));
    let backoff = report_failed(&store, T0 + 2_600);
    report_soon(&store, T0 + 2_700);
    assert!(!claim_report(&store, T0 + 2_700, INTERVAL));
    assert!(!claim_report(&store, T0 + 2_599 + backoff, INTERVAL));
    assert!(claim_report(&store, T0 + 2_600 + backoff, INTERVAL));
}
