//! An `authorize` answer turned into a shared entry's new state: the exact-limit budget, the
//! lease end, and the calls owed from a period that has ended.

use super::{CacheSettings, UNAVAILABLE_RETRY_MS};
use crate::backend::{BackendAnswer, Decision};
use crate::cache::entry::{Figures, Fresh, LastKnown, SharedEntry};

/// How long an entry whose budget is held by calls of an ended period stays limited: until
/// their report (pulled forward) has gone, when the backend is asked again.
const ENDED_PERIOD_RETRY_MS: u64 = 1000;
/// How long after a period's end its owed calls are waited for so: past it (their report
/// failing, or dropped), the entry is limited until the new reset, as within a period, and no
/// longer asked about every second; with reports failing, so in every later period until they
/// get through (kept, never over a limit: README *Exact limits*).
const ENDED_PERIOD_GRACE_MS: u64 = 60_000;

/// How far past a minute a reset may land and still be that minute's end (see [`lease_end`]).
const RESET_ROUNDING_MS: u64 = 2_000;

/// Where an answer's leases stop: its reset, or the minute just before it when that is at most
/// [`RESET_ROUNDING_MS`] earlier and still to come. apisonator sends `3scale-limit-reset` in
/// whole seconds rounded up, counted from when it answered, so the reset lands up to a second
/// (and the answer's way back) after the period's end, which is always on a minute: calls
/// leased there are the next period's, taken from this one's budget, and, if their report is
/// dropped, forgiven at this one's end (found by an audit, 2026-12-06: 5 calls in a minute of
/// a 3-a-minute plan). With the proxy's clock off by more than a second, no minute is that
/// close and the reset stands, as before.
fn lease_end(reset_until: Option<u64>, now_ms: u64) -> u64 {
    let Some(reset) = reset_until else {
        return u64::MAX;
    };
    let minute = reset - reset % 60_000;
    if reset - minute <= RESET_ROUNDING_MS && minute > now_ms {
        minute
    } else {
        reset
    }
}

/// Turns an `authorize` answer into the entry's new state (reference §7.2, §7.4, and the
/// exact-limit budget: the calls the backend still allows, minus the calls leased but not yet
/// reported, and those reported but not counted yet: `entry::Unapplied`). Every number from
/// the backend or from shared data saturates: a reset of `i64::MAX` seconds is "never"
/// (`u64::MAX` ms), not a wrapped few seconds.
///
/// Returns whether the report should go now: the backend allows no more than the calls still
/// owed, but those were leased before the previous answer's reset, in a period that has
/// ended. Reported (with their minute), they may not count in the new period at all: the
/// entry is limited for a second, not until the new reset (found by an audit, 2026-12-06: a
/// per-minute limit used in the last seconds of a minute was refused for all of the next).
/// The entry keeps the ended period's reset until they are reported, so each answer within
/// the grace sees them as the ended period's (`rate_limit_headers` shows no figures then).
pub(super) fn apply_answer(
    entry: &mut SharedEntry,
    answer: &BackendAnswer,
    s: &CacheSettings,
    now_ms: u64,
) -> bool {
    entry.forgive_abandoned(now_ms);
    // Leases are taken only before the reset their answer gave (`Authorized::until`).
    // The same limit (its max value) in its next period: another, longer limit may hold
    // the owed calls in its current period.
    let same_limit = answer
        .limit_max_value
        .as_deref()
        .and_then(|m| m.trim().parse::<u64>().ok())
        .unwrap_or(0)
        == entry.max_value;
    let period_ended = entry.reset_at != 0
        && entry.reset_at <= now_ms
        && now_ms < entry.reset_at.saturating_add(ENDED_PERIOD_GRACE_MS)
        && entry.outstanding > 0
        && same_limit;
    let ended_reset = entry.reset_at;
    entry.authorizing_until = 0;
    entry.used_at = now_ms;
    let reset_s = answer
        .limit_reset
        .as_deref()
        .and_then(|r| r.trim().parse::<i64>().ok())
        .and_then(|r| u64::try_from(r).ok())
        .filter(|&r| r > 0);
    let reset_until = reset_s.map(|r| now_ms.saturating_add(r.saturating_mul(1000)));
    let denied_until = now_ms.saturating_add(s.denied_ttl_ms);
    let decision = answer.decision();
    if decision == Decision::BackendUnavailable {
        entry.unavailable_until = now_ms.saturating_add(UNAVAILABLE_RETRY_MS);
        return false;
    }
    // `rate_limit_headers`: the deadline, not the seconds, so every reader counts down.
    let max_value = answer
        .limit_max_value
        .as_deref()
        .map(|m| m.trim().parse::<u64>());
    entry.max_value = max_value.and_then(Result::ok).unwrap_or(0);
    entry.reset_at = reset_until.unwrap_or(0);
    let remaining = answer
        .limit_remaining
        .as_deref()
        .and_then(|r| r.trim().parse::<i64>().ok())
        .and_then(|r| u64::try_from(r).ok());
    // Reported calls this answer shows counted are no longer owed (a denial shows nothing).
    if decision != Decision::Denied {
        let figures = remaining.map(|remaining| Figures {
            remaining,
            max_value: entry.max_value,
            reset: reset_until.unwrap_or(u64::MAX),
        });
        entry.unapplied.observe(figures, now_ms);
    }
    let owed = (entry.outstanding).saturating_add(entry.unapplied.owed_at(now_ms));
    let mut report_soon = false;
    let (fresh, last) = match decision {
        Decision::BackendUnavailable => return false,
        Decision::Authorized => {
            let until = now_ms
                .saturating_add(s.auths_ttl_ms)
                .min(lease_end(reset_until, now_ms));
            match remaining {
                None => (
                    Fresh::Authorized {
                        until,
                        budget: None,
                    },
                    LastKnown::Authorized,
                ),
                Some(r) if r > owed => (
                    Fresh::Authorized {
                        until,
                        budget: Some(r - owed),
                    },
                    LastKnown::Authorized,
                ),
                Some(_) if period_ended => {
                    report_soon = true;
                    entry.reset_at = ended_reset;
                    let until = now_ms.saturating_add(ENDED_PERIOD_RETRY_MS);
                    (
                        Fresh::Limited {
                            until: until.min(reset_until.unwrap_or(until)),
                            retry_after: Some(ENDED_PERIOD_RETRY_MS / 1000),
                        },
                        LastKnown::Limited,
                    )
                }
                // The backend allows no more than this gateway has already let through.
                Some(_) => (
                    Fresh::Limited {
                        until: reset_until.unwrap_or(denied_until),
                        retry_after: reset_s,
                    },
                    LastKnown::Limited,
                ),
            }
        }
        Decision::LimitsExceeded { .. } => (
            Fresh::Limited {
                until: reset_until.unwrap_or(denied_until),
                retry_after: reset_s,
            },
            LastKnown::Limited,
        ),
        Decision::Denied => (
            Fresh::Denied {
                until: denied_until,
            },
            LastKnown::Denied,
        ),
    };
    // The latest end of a period whose leases may still be owed: where calls dropped later
    // stop being owed (`SharedEntry::abandon`), whatever other answers came since.
    if entry.outstanding == 0 {
        entry.lease_reset = 0;
    }
    if let Fresh::Authorized {
        budget: Some(_), ..
    } = fresh
    {
        entry.lease_reset = entry.lease_reset.max(reset_until.unwrap_or(u64::MAX));
    }
    entry.fresh = fresh;
    entry.last = last;
    entry.epoch = entry.epoch.wrapping_add(1);
    entry.unavailable_until = 0;
    report_soon
}
