//! Calls the backend accepted (a report's 202) but may not have counted yet: apisonator
//! applies a report a moment after answering it (its queue worker), so an `authorize`
//! answered in between does not count them. They stay owed to the entry's budget until the
//! backend's own figures show them counted.
//!
//! The entry keeps the figures of the latest answer naming a limit: the calls it still
//! allowed (`3scale-limit-remaining`), the limit (`max_value`) and its period (its reset).
//! Its counter only grows within a period, so when a later answer of the same limit and
//! period allows `d` calls fewer, the backend has counted at least `d` more calls: as many
//! of these are no longer owed. Other traffic (other gateways, other usages of the
//! application) lowers the figure too and lets them go earlier: never more owed than the
//! backend has not counted, so a quick backend costs no call. Another period (or a counter
//! that went down: a reset) forgives them, as the backend counts them in their own period.

/// Two resets of one limit within this of each other are the same period: the reset is whole
/// seconds rounded up from the answer, and the shortest period is a minute.
const SAME_PERIOD_MS: u64 = 30_000;
/// How far the backend's clock may be ahead of the proxy's and a call stamped with the
/// minute of the period's first figures still be of that period (it may have started in the
/// next minute by the backend's clock, counting such calls in the previous period).
const CLOCK_SLACK_MS: u64 = 2_000;

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Unapplied {
    /// Calls accepted (202) that the backend's figures do not show counted yet.
    pub calls: u64,
    /// The latest answer naming a limit: the calls it allowed, the limit's max value, its
    /// period's reset (ms since the epoch; `u64::MAX`: none), ...
    pub remaining: u64,
    pub max_value: u64,
    pub reset: u64,
    /// ... when the first answer of that limit and period came (its minute is in the period:
    /// calls of earlier minutes are another period's) ...
    pub since: u64,
    /// ... and when this one came (0: no figures known). Calls reported after it are not in
    /// its figures; calls reported before it may be.
    pub at: u64,
}

/// What an answer says of the limit it names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Figures {
    pub remaining: u64,
    pub max_value: u64,
    pub reset: u64,
}

impl Unapplied {
    /// A new answer's figures (`None`: it names no limit): the calls it shows counted are no
    /// longer owed; another limit or period forgives them all.
    pub fn observe(&mut self, figures: Option<Figures>, now_ms: u64) {
        let Some(f) = figures else {
            *self = Unapplied::default();
            return;
        };
        let same = self.at != 0
            && self.reset > now_ms
            && f.max_value == self.max_value
            && f.reset.abs_diff(self.reset) < SAME_PERIOD_MS
            && f.remaining <= self.remaining;
        if same {
            let counted = self.remaining - f.remaining;
            self.calls = self.calls.saturating_sub(counted);
        } else {
            self.calls = 0;
            self.since = now_ms;
        }
        self.remaining = f.remaining;
        self.max_value = f.max_value;
        self.reset = f.reset;
        self.at = now_ms;
    }

    /// The backend accepted `leased` calls of `minute` (UNIX seconds / 60) in a report sent
    /// at `sent_ms`. Owed while not counted, when the latest figures came before the report
    /// was sent (they cannot count them; later figures may, and would hold them twice) and
    /// the calls are of their period. Otherwise no longer owed, as before.
    pub fn accepted(&mut self, leased: u64, minute: u64, sent_ms: u64, now_ms: u64) {
        let in_period = minute != 0 && minute >= self.since.saturating_add(CLOCK_SLACK_MS) / 60_000;
        if self.at != 0 && self.at < sent_ms && self.reset > now_ms && in_period {
            self.calls = self.calls.saturating_add(leased);
        }
    }

    /// The calls owed at `now_ms`: none once the period of the figures has ended.
    pub fn owed_at(&self, now_ms: u64) -> u64 {
        if self.reset > now_ms {
            self.calls
        } else {
            0
        }
    }

    /// The fields as stored in the entry's text form.
    pub fn fields(&self) -> [u64; 6] {
        [
            self.calls,
            self.remaining,
            self.max_value,
            self.reset,
            self.since,
            self.at,
        ]
    }

    pub fn from_fields(f: [u64; 6]) -> Unapplied {
        let [calls, remaining, max_value, reset, since, at] = f;
        Unapplied {
            calls,
            remaining,
            max_value,
            reset,
            since,
            at,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: u64 = 60_000;
    /// 2026-12-06 05:30:00 UTC, in ms: a minute's start.
    const T0: u64 = 1_796_535_000_000;

    fn figures(remaining: u64, reset: u64) -> Option<Figures> {
        Some(Figures {
            remaining,
            max_value: 5,
            reset,
        })
    }

    /// An answer allowing 5 calls at `T0 + 1 s`, a minute's limit ending at `T0 + 60 s`,
    /// then 3 calls reported and accepted.
    fn three_reported() -> Unapplied {
        let mut u = Unapplied::default();
        u.observe(figures(5, T0 + MINUTE), T0 + 1_000);
        u.accepted(3, T0 / MINUTE, T0 + 2_000, T0 + 2_100);
        assert_eq!(u.owed_at(T0 + 2_100), 3);
        u
    }

    #[test]
    fn a_quick_backend_counted_them_nothing_more_is_owed() {
        let mut u = three_reported();
        u.observe(figures(2, T0 + MINUTE), T0 + 3_000);
        assert_eq!(u.owed_at(T0 + 3_000), 0);
        // Other traffic counted too: still nothing owed, never below 0.
        let mut u = three_reported();
        u.observe(figures(0, T0 + MINUTE), T0 + 3_000);
        assert_eq!(u.owed_at(T0 + 3_000), 0);
    }

    #[test]
    fn a_slow_backend_leaves_them_owed_until_counted() {
        let mut u = three_reported();
        // Not counted yet (the reset rounds to another second: the same period).
        u.observe(figures(5, T0 + MINUTE + 900), T0 + 3_000);
        assert_eq!(u.owed_at(T0 + 3_000), 3);
        // Two counted.
        u.observe(figures(3, T0 + MINUTE), T0 + 4_000);
        assert_eq!(u.owed_at(T0 + 4_000), 1);
        // Two more calls reported after that answer: owed as well.
        u.accepted(2, T0 / MINUTE, T0 + 4_500, T0 + 4_600);
        assert_eq!(u.owed_at(T0 + 4_600), 3);
        u.observe(figures(0, T0 + MINUTE), T0 + 5_000);
        assert_eq!(u.owed_at(T0 + 5_000), 0);
    }

    #[test]
    fn figures_that_may_count_them_already_do_not_hold_them() {
        let mut u = Unapplied::default();
        u.observe(figures(5, T0 + MINUTE), T0 + 1_000);
        // An answer came while the report was on its way: it may count them.
        u.observe(figures(4, T0 + MINUTE), T0 + 2_500);
        u.accepted(1, T0 / MINUTE, T0 + 2_000, T0 + 2_600);
        assert_eq!(u.owed_at(T0 + 2_600), 0);
        // Calls of an earlier minute than the period's first figures: another period's.
        u.accepted(1, T0 / MINUTE - 1, T0 + 3_000, T0 + 3_100);
        assert_eq!(u.owed_at(T0 + 3_100), 0);
        // The period's first figures in the last seconds of a minute: by the backend's
        // clock it may be the next minute already, which would not count calls of this one.
        let mut late = Unapplied::default();
        late.observe(figures(5, T0 + 2 * MINUTE), T0 + MINUTE - 1_000);
        late.accepted(1, T0 / MINUTE, T0 + MINUTE - 500, T0 + MINUTE - 400);
        assert_eq!(late.owed_at(T0 + MINUTE - 400), 0);
        late.accepted(1, T0 / MINUTE + 1, T0 + MINUTE + 100, T0 + MINUTE + 200);
        assert_eq!(late.owed_at(T0 + MINUTE + 200), 1);
        // No figures known (an unlimited usage): not held.
        let mut none = Unapplied::default();
        none.accepted(1, T0 / MINUTE, T0 + 3_000, T0 + 3_100);
        assert_eq!(none.owed_at(T0 + 3_100), 0);
    }

    #[test]
    fn a_new_period_forgives_them() {
        let mut u = three_reported();
        assert_eq!(u.owed_at(T0 + MINUTE), 0, "the period has ended");
        u.observe(figures(5, T0 + 2 * MINUTE), T0 + MINUTE + 500);
        assert_eq!(u.owed_at(T0 + MINUTE + 500), 0);
        // Its next answer starts from the new period's figures.
        u.accepted(1, T0 / MINUTE + 1, T0 + MINUTE + 600, T0 + MINUTE + 700);
        u.observe(figures(5, T0 + 2 * MINUTE), T0 + MINUTE + 800);
        assert_eq!(u.owed_at(T0 + MINUTE + 800), 1);
    }

    #[test]
    fn a_counter_reset_forgives_them() {
        let mut u = three_reported();
        // More allowed than before, in what looks like the same period: a counter reset.
        u.observe(figures(6, T0 + MINUTE), T0 + 3_000);
        assert_eq!(u.owed_at(T0 + 3_000), 0);
        // Another limit named (another max value): forgiven too.
        let mut u = three_reported();
        u.observe(
            Some(Figures {
                remaining: 5,
                max_value: 100,
                reset: T0 + MINUTE,
            }),
            T0 + 3_000,
        );
        assert_eq!(u.owed_at(T0 + 3_000), 0);
        // An unlimited answer: forgiven, no figures left.
        let mut u = three_reported();
        u.observe(None, T0 + 3_000);
        assert_eq!(u, Unapplied::default());
    }

    #[test]
    fn an_eternity_limit_holds_them_until_counted() {
        let mut u = Unapplied::default();
        u.observe(figures(5, u64::MAX), T0);
        u.accepted(2, T0 / MINUTE, T0 + 1_000, T0 + 1_100);
        u.observe(figures(5, u64::MAX), T0 + 10 * MINUTE);
        assert_eq!(u.owed_at(T0 + 10 * MINUTE), 2);
        u.observe(figures(3, u64::MAX), T0 + 11 * MINUTE);
        assert_eq!(u.owed_at(T0 + 11 * MINUTE), 0);
    }
}
