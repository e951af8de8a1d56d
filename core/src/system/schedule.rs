//! Which worker fetches the configuration from 3scale System, and when: one fetch per
//! `refresh_s` for the whole Envoy, elected through shared data as the reporter is, with a
//! backoff after failures (5 s, doubling, never more than `refresh_s`), and one early
//! re-fetch after a paged fetch that changed the set.

use crate::cache::store::update;
use crate::cache::SharedStore;

/// The schedule's shared-data key for one `system` block (see `loader::scope`).
fn key(scope: &str) -> String {
    format!("tollgate.system.{scope}.schedule")
}
/// The first retry after a failed fetch.
pub const FIRST_BACKOFF_MS: u64 = 5_000;

/// The re-fetch after a paged fetch that changed the set: a change between two page requests
/// may have hidden a service no page listed ([`fetch_succeeded`]).
pub const RECHECK_MS: u64 = 5_000;

/// The shared record, `next_at_ms backoff_ms early`: when the next fetch is due, the last
/// backoff (0: none), and whether that fetch is the early re-fetch (`1`; absent in records
/// written before it existed: `0`).
#[derive(Clone, Copy)]
struct Record {
    next_at_ms: u64,
    backoff_ms: u64,
    early: bool,
}

fn decode(value: Option<&[u8]>) -> Record {
    let text = String::from_utf8_lossy(value.unwrap_or_default()).into_owned();
    let mut fields = text.split(' ').map(|f| f.parse().unwrap_or(0));
    let mut next = || fields.next().unwrap_or(0);
    Record {
        next_at_ms: next(),
        backoff_ms: next(),
        early: next() == 1,
    }
}

fn encode(record: Record) -> Vec<u8> {
    let Record {
        next_at_ms,
        backoff_ms,
        early,
    } = record;
    format!("{next_at_ms} {backoff_ms} {}", u8::from(early)).into_bytes()
}

/// Whether this worker fetches now: the first to move the next fetch time forward wins. The
/// winner holds the fetch for `hold_ms` (if its VM goes away, another worker fetches then).
pub fn claim_fetch(store: &dyn SharedStore, scope: &str, now_ms: u64, hold_ms: u64) -> bool {
    update(store, &key(scope), |value| {
        let record = decode(value);
        (now_ms >= record.next_at_ms).then(|| {
            let next_at_ms = now_ms.saturating_add(hold_ms);
            (
                encode(Record {
                    next_at_ms,
                    ..record
                }),
                (),
            )
        })
    })
    .is_some()
}

/// The elected worker goes away mid-fetch: the next worker to tick fetches.
pub fn release(store: &dyn SharedStore, scope: &str, now_ms: u64) {
    update(store, &key(scope), |value| {
        let next_at_ms = now_ms;
        Some((
            encode(Record {
                next_at_ms,
                ..decode(value)
            }),
            (),
        ))
    });
}

/// The fetch succeeded: the next one is `refresh_ms` from now, or [`RECHECK_MS`] when
/// `recheck` (it read several pages and changed the set) unless this fetch was itself the
/// re-fetch: at most one early fetch per `refresh_ms`, never a loop against System.
pub fn fetch_succeeded(
    store: &dyn SharedStore,
    scope: &str,
    now_ms: u64,
    refresh_ms: u64,
    recheck: bool,
) {
    update(store, &key(scope), |value| {
        let early = recheck && !decode(value).early;
        let delay = if early { RECHECK_MS } else { refresh_ms };
        let next_at_ms = now_ms.saturating_add(delay.min(refresh_ms));
        let record = Record {
            next_at_ms,
            backoff_ms: 0,
            early,
        };
        Some((encode(record), ()))
    });
}

/// The fetch failed: the next one comes after the backoff, which this returns.
pub fn fetch_failed(store: &dyn SharedStore, scope: &str, now_ms: u64, refresh_ms: u64) -> u64 {
    update(store, &key(scope), |value| {
        // A failed re-fetch stays the re-fetch (`early` kept): its retry does not re-arm it.
        let record = decode(value);
        let backoff_ms = if record.backoff_ms == 0 {
            FIRST_BACKOFF_MS
        } else {
            record.backoff_ms.saturating_mul(2)
        }
        .min(refresh_ms.max(1));
        let next_at_ms = now_ms.saturating_add(backoff_ms);
        let record = Record {
            next_at_ms,
            backoff_ms,
            ..record
        };
        Some((encode(record), backoff_ms))
    })
    .unwrap_or(FIRST_BACKOFF_MS.min(refresh_ms))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::MemoryStore;

    #[test]
    fn one_worker_wins_each_round() {
        let store = MemoryStore::default();
        assert!(claim_fetch(&store, "s", 1_000, 60_000));
        assert!(
            !claim_fetch(&store, "s", 1_000, 60_000),
            "held by the first"
        );
        assert!(
            claim_fetch(&store, "other", 1_000, 60_000),
            "another system block"
        );
        release(&store, "s", 1_500);
        assert!(
            claim_fetch(&store, "s", 1_500, 60_000),
            "released: taken over"
        );
        fetch_succeeded(&store, "s", 2_000, 300_000, false);
        assert!(!claim_fetch(&store, "s", 301_999, 60_000));
        assert!(claim_fetch(&store, "s", 302_000, 60_000));
    }

    #[test]
    fn failures_back_off_from_5_s_doubling_up_to_refresh() {
        let store = MemoryStore::default();
        let backoffs: Vec<u64> = (0..6)
            .map(|_| fetch_failed(&store, "s", 0, 30_000))
            .collect();
        assert_eq!(
            backoffs,
            vec![5_000, 10_000, 20_000, 30_000, 30_000, 30_000]
        );
        assert!(!claim_fetch(&store, "s", 29_999, 1));
        assert!(claim_fetch(&store, "s", 30_000, 1));
        fetch_succeeded(&store, "s", 0, 30_000, false);
        assert_eq!(
            fetch_failed(&store, "s", 0, 30_000),
            5_000,
            "success resets the backoff"
        );
        // A refresh shorter than the first backoff caps it.
        let store = MemoryStore::default();
        assert_eq!(fetch_failed(&store, "s", 0, 2_000), 2_000);
    }

    #[test]
    fn a_changing_paged_fetch_is_fetched_again_once_early() {
        let store = MemoryStore::default();
        fetch_succeeded(&store, "s", 0, 300_000, true);
        assert!(!claim_fetch(&store, "s", 4_999, 60_000));
        assert!(
            claim_fetch(&store, "s", 5_000, 60_000),
            "re-fetched after 5 s"
        );
        // The re-fetch changes the set again: refresh_s, not another early fetch.
        fetch_succeeded(&store, "s", 6_000, 300_000, true);
        assert!(!claim_fetch(&store, "s", 305_999, 60_000), "no fetch loop");
        assert!(claim_fetch(&store, "s", 306_000, 60_000));
        // A failed re-fetch keeps it the re-fetch: its retry does not re-arm.
        let store = MemoryStore::default();
        fetch_succeeded(&store, "s", 0, 300_000, true);
        assert_eq!(fetch_failed(&store, "s", 5_000, 300_000), 5_000);
        assert!(claim_fetch(&store, "s", 10_000, 60_000));
        fetch_succeeded(&store, "s", 11_000, 300_000, true);
        assert!(!claim_fetch(&store, "s", 310_999, 60_000));
        // A normal fetch after it may re-fetch early again; an unchanged one does not.
        fetch_succeeded(&store, "s", 311_000, 300_000, true);
        assert!(claim_fetch(&store, "s", 316_000, 60_000));
        fetch_succeeded(&store, "s", 316_000, 300_000, false);
        assert!(!claim_fetch(&store, "s", 615_999, 60_000));
        // A refresh shorter than 5 s stays the refresh.
        let store = MemoryStore::default();
        fetch_succeeded(&store, "s", 0, 2_000, true);
        assert!(claim_fetch(&store, "s", 2_000, 60_000));
    }
}
