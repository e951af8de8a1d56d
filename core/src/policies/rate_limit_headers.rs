//! The `rate_limit_headers` policy (reference apicast-policies.md §3.1): the figures of the
//! `RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset` headers a request's response
//! gets, from the backend's `3scale-limit-*` answer headers (which already describe the most
//! constrained limit of the call's whole usage: nothing to pick).
//!
//! - Authrep mode: this request's own answer, exact (the backend counted the request).
//! - Batching: the cached entry of the request's application and usage, counted down by one
//!   per request (`cache::AuthCache::figures`), the reset as the deadline the answer gave.
//! - No figures, no headers: the backend sent no limit headers, the reset is not in the
//!   future (`-1`: eternity), or no 3scale backend authorized the request (local
//!   authentication, `mode: none`, the failure policy).
//!
//! The headers go on the upstream's response and on the filter's own replies alike (the
//! response phase runs on both): a 429 limits exceeded carries `RateLimit-Remaining: 0`.

use super::{HeaderOp, RequestPolicies};
use crate::backend::BackendAnswer;
use crate::cache::{AuthCache, EntryKey, Lookup};
use crate::config::policies::configs::EditOp;
use crate::pipeline::{Clock, RequestId};

/// The three headers' values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Figures {
    pub limit: u64,
    pub remaining: u64,
    /// Seconds to the reset, at least 1.
    pub reset_s: u64,
}

impl Figures {
    /// APIcast's output rules: `max(x, 0)` for the limit and the remaining calls, and no
    /// headers at all unless the reset is in the future.
    pub fn new(limit: i64, remaining: i64, reset_s: i64) -> Option<Figures> {
        let at_least_0 = |v: i64| u64::try_from(v).unwrap_or(0);
        (reset_s > 0).then(|| Figures {
            limit: at_least_0(limit),
            remaining: at_least_0(remaining),
            reset_s: at_least_0(reset_s),
        })
    }

    /// An authrep answer's figures, as the backend sent them (an absent limit or remaining
    /// reads as 0, as in APIcast; an absent reset means no headers).
    pub fn of_answer(answer: &BackendAnswer) -> Option<Figures> {
        let num = |v: &Option<String>| {
            let v = v.as_deref().map(|v| v.trim().parse::<i64>().ok());
            v.unwrap_or(Some(0))
        };
        let reset = num(&answer.limit_reset).filter(|_| answer.limit_reset.is_some())?;
        Figures::new(
            num(&answer.limit_max_value)?,
            num(&answer.limit_remaining)?,
            reset,
        )
    }

    /// The header operations: each replaces any value the upstream sent.
    pub fn headers(&self) -> Vec<HeaderOp> {
        let set = |name: &str, v: u64| (EditOp::Set, name.to_string(), v.to_string());
        vec![
            set("RateLimit-Limit", self.limit),
            set("RateLimit-Remaining", self.remaining),
            set("RateLimit-Reset", self.reset_s),
        ]
    }
}

/// Whether a request's chain has the policy (so its figures are worth reading).
fn wanting(
    policies: &mut [(RequestId, Box<RequestPolicies>)],
    request: RequestId,
) -> Option<&mut RequestPolicies> {
    let found = policies.iter_mut().find(|(id, _)| *id == request);
    found
        .map(|(_, p)| &mut **p)
        .filter(|p| p.rate_limit.is_some())
}

/// Authrep mode: the headers of `request` from its own answer.
pub fn from_answer(
    policies: &mut [(RequestId, Box<RequestPolicies>)],
    request: RequestId,
    answer: &BackendAnswer,
) {
    if let Some(p) = wanting(policies, request) {
        p.rate_limit = Some(Figures::of_answer(answer).map_or_else(Vec::new, |f| f.headers()));
    }
}

/// Batching: the headers of `request`, forwarded or denied from the cache by `lookup`, from
/// the entry of `key` as this worker's cache holds it after the lookup.
pub fn from_cache(
    policies: &mut [(RequestId, Box<RequestPolicies>)],
    request: RequestId,
    lookup: &Lookup,
    cached: (Option<&AuthCache>, &EntryKey),
    clock: &dyn Clock,
) {
    if !matches!(lookup, Lookup::Forward { .. } | Lookup::Deny(_)) {
        return;
    }
    if let Some(p) = wanting(policies, request) {
        let (cache, key) = cached;
        let figures = cache
            .zip(clock.now_ms())
            .and_then(|(c, now)| c.figures(key, now));
        p.rate_limit = Some(figures.map_or_else(Vec::new, |f| f.headers()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(max: Option<&str>, remaining: Option<&str>, reset: Option<&str>) -> BackendAnswer {
        BackendAnswer {
            status: Some(200),
            limit_max_value: max.map(Into::into),
            limit_remaining: remaining.map(Into::into),
            limit_reset: reset.map(Into::into),
            ..Default::default()
        }
    }

    fn figures(limit: u64, remaining: u64, reset_s: u64) -> Option<Figures> {
        Some(Figures {
            limit,
            remaining,
            reset_s,
        })
    }

    #[test]
    fn an_answer_gives_what_the_backend_sent() {
        // TEST 1: 10/9/60.
        let f = Figures::of_answer(&answer(Some("10"), Some("9"), Some("60")));
        assert_eq!(f, figures(10, 9, 60));
        let ops = f.map(|f| f.headers()).unwrap_or_default();
        let set = |n: &str, v: &str| (EditOp::Set, n.to_string(), v.to_string());
        assert_eq!(
            ops,
            [
                set("RateLimit-Limit", "10"),
                set("RateLimit-Remaining", "9"),
                set("RateLimit-Reset", "60")
            ]
        );
        // Spaces around the numbers are read as the backend's other numbers are.
        let f = Figures::of_answer(&answer(Some(" 10"), Some("0 "), Some(" 1 ")));
        assert_eq!(f, figures(10, 0, 1));
    }

    #[test]
    fn negative_figures_are_0_and_a_missing_limit_or_remaining_too() {
        assert_eq!(
            Figures::of_answer(&answer(Some("-5"), Some("-1"), Some("30"))),
            figures(0, 0, 30)
        );
        // The backend leaves out max-value when nothing limits the call; APIcast reads 0.
        assert_eq!(
            Figures::of_answer(&answer(None, None, Some("30"))),
            figures(0, 0, 30)
        );
    }

    #[test]
    fn no_headers_without_a_reset_in_the_future() {
        // TEST 7: no limit headers at all.
        assert_eq!(Figures::of_answer(&answer(None, None, None)), None);
        assert_eq!(Figures::of_answer(&BackendAnswer::default()), None);
        // The backend's "no limit applies" (-1/-1), and a disabled metric (0/-1/0).
        assert_eq!(
            Figures::of_answer(&answer(None, Some("-1"), Some("-1"))),
            None
        );
        assert_eq!(
            Figures::of_answer(&answer(Some("0"), Some("0"), Some("-1"))),
            None
        );
        assert_eq!(
            Figures::of_answer(&answer(Some("10"), Some("9"), Some("0"))),
            None
        );
        assert_eq!(Figures::new(10, 9, 0), None);
        assert_eq!(Figures::new(10, 9, -3), None);
    }

    #[test]
    fn unreadable_figures_give_no_headers() {
        for bad in ["x", "1.5", "", "99999999999999999999"] {
            assert_eq!(
                Figures::of_answer(&answer(Some("10"), Some("9"), Some(bad))),
                None
            );
            assert_eq!(
                Figures::of_answer(&answer(Some(bad), Some("9"), Some("60"))),
                None
            );
            assert_eq!(
                Figures::of_answer(&answer(Some("10"), Some(bad), Some("60"))),
                None
            );
        }
    }
}
