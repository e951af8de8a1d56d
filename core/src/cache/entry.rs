//! One cached authorization as stored in shared data, readable by every worker.
//!
//! Text form (one line, `|`-separated; keys are percent-encoded so they hold no `|`):
//! `1|<key>|<epoch>|<state>|<until_ms>|<budget>|<retry_after>|<outstanding>|<authorizing_until_ms>|<last>|<unavailable_until_ms>|<max_value>|<reset_at_ms>|<used_at_ms>|<abandoned>|<abandoned_until_ms>|<lease_reset_ms>`
//! (fields after `unavailable_until_ms` are read as 0 when absent: an entry written before
//! they were added).

/// The fresh answer, valid until `until` (milliseconds since the epoch).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fresh {
    None,
    /// Authorized; `budget` is how many more calls may be leased (`None`: no limit applies).
    Authorized {
        until: u64,
        budget: Option<u64>,
    },
    /// Auth failed (invalid credentials, unknown app, disabled metric, other denials).
    Denied {
        until: u64,
    },
    /// Limits exceeded until the period resets.
    Limited {
        until: u64,
        retry_after: Option<u64>,
    },
}

/// The last answer the backend gave, kept for `caching_type` when the backend fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LastKnown {
    None,
    Authorized,
    Denied,
    Limited,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedEntry {
    pub key: String,
    /// Bumped by every backend answer (shows in debugging dumps how often an entry was asked).
    pub epoch: u32,
    pub fresh: Fresh,
    /// Calls leased by workers (used or not) that the backend has not counted yet: they are
    /// taken off the next budget, which keeps limits exact between reports.
    pub outstanding: u64,
    /// Some worker is asking the backend until then; others wait instead of asking too.
    pub authorizing_until: u64,
    pub last: LastKnown,
    /// The backend failed; until then the failure policy answers without asking again.
    pub unavailable_until: u64,
    /// The last answer's `3scale-limit-max-value` (0 when absent, as APIcast reads it) and
    /// the deadline its `3scale-limit-reset` gave (ms since the epoch; 0: none), for the
    /// `rate_limit_headers` policy.
    pub max_value: u64,
    pub reset_at: u64,
    /// When a worker last asked the backend or took a lease for this key (ms since the
    /// epoch): which of two idle entries of valid keys gives way first (`cache::eviction`).
    pub used_at: u64,
    /// Of `outstanding`, calls whose report was dropped (the pending list full, the backend
    /// refusing the report): never counted by the backend, they stay owed until the end of
    /// the limit period they were leased in (`abandoned_until`, ms since the epoch), then are
    /// forgiven, so an application is held to its limit within that period but not refused
    /// in every later one. Dropped calls of a period with no end are not counted here: they
    /// stay in `outstanding` alone, owed for good.
    pub abandoned: u64,
    pub abandoned_until: u64,
    /// The latest period end (ms since the epoch; `u64::MAX`: a limit with no reset) of the
    /// answers whose budgets leased the calls still owed; 0 when none is owed. A later answer
    /// (a denial, another limit's) does not move it, so dropped calls are owed until the end
    /// of the period they were leased in, not of another limit's (found by an audit,
    /// 2026-12-06: the hour's calls forgiven at the minute's reset).
    pub lease_reset: u64,
}

impl SharedEntry {
    pub fn new(key: &str) -> SharedEntry {
        SharedEntry {
            key: key.to_string(),
            epoch: 0,
            fresh: Fresh::None,
            outstanding: 0,
            authorizing_until: 0,
            last: LastKnown::None,
            unavailable_until: 0,
            max_value: 0,
            reset_at: 0,
            used_at: 0,
            abandoned: 0,
            abandoned_until: 0,
            lease_reset: 0,
        }
    }

    /// The calls still owed to a budget at `now_ms`: abandoned ones only until their period
    /// has ended.
    pub fn owed_at(&self, now_ms: u64) -> u64 {
        if self.abandoned > 0 && self.abandoned_until <= now_ms {
            self.outstanding.saturating_sub(self.abandoned)
        } else {
            self.outstanding
        }
    }

    /// Forgets the abandoned calls whose period has ended (see `abandoned`).
    pub fn forgive_abandoned(&mut self, now_ms: u64) {
        if self.abandoned > 0 && self.abandoned_until <= now_ms {
            self.outstanding = self.owed_at(now_ms);
            self.abandoned = 0;
            self.abandoned_until = 0;
        }
    }

    /// `leased` of these calls will never be reported: owed until the end of the period they
    /// were leased in (`lease_reset`), forgiven at once if it has already ended. With no
    /// period end known (an eternity limit, or an entry of an earlier module) they stay owed.
    /// Calls of an ended period dropped after the next period's first lease are owed until
    /// that period's end: fewer calls in it, never more.
    pub fn abandon(&mut self, leased: u64, now_ms: u64) {
        self.forgive_abandoned(now_ms);
        // Owed for good: left in `outstanding` alone, so that later drops, with a period
        // end, are not kept for good with them (found by an audit, 2026-12-06).
        let until = match self.lease_reset {
            0 | u64::MAX => return,
            lease_reset => lease_reset,
        };
        self.abandoned = self.abandoned.saturating_add(leased);
        self.abandoned_until = self.abandoned_until.max(until);
        self.forgive_abandoned(now_ms);
    }

    /// Nothing fresh, nobody asking, nothing owed to a budget: the slot may go to another
    /// key, if `eviction` lets it (a last known 200 stays against keys the backend has not
    /// accepted).
    pub fn is_idle(&self, now_ms: u64) -> bool {
        self.fresh_at(now_ms) == Fresh::None && self.is_unclaimed(now_ms)
    }

    /// A cached denial (invalid key, unknown app) that nobody is asking about: another key
    /// may take its slot, so a flood of bad keys cannot crowd out good ones. Losing it costs
    /// one more backend call if that bad key comes back.
    pub fn is_denial_only(&self, now_ms: u64) -> bool {
        matches!(self.fresh_at(now_ms), Fresh::Denied { .. }) && self.is_unclaimed(now_ms)
    }

    /// The backend accepted these credentials last time (authorized, or over a limit): what
    /// `caching_type` keeps, and what a key the backend does not know may not evict.
    pub fn is_known(&self) -> bool {
        matches!(self.last, LastKnown::Authorized | LastKnown::Limited)
    }

    /// Nobody is asking the backend about this key, and no calls are owed on it.
    fn is_unclaimed(&self, now_ms: u64) -> bool {
        self.authorizing_until <= now_ms && self.owed_at(now_ms) == 0
    }

    /// The fresh answer, or `Fresh::None` once it has expired.
    pub fn fresh_at(&self, now_ms: u64) -> Fresh {
        let until = match self.fresh {
            Fresh::None => 0,
            Fresh::Authorized { until, .. }
            | Fresh::Denied { until }
            | Fresh::Limited { until, .. } => until,
        };
        if until > now_ms {
            self.fresh
        } else {
            Fresh::None
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        let opt = |v: Option<u64>| v.map_or("-".to_string(), |v| v.to_string());
        let (state, until, budget, retry) = match self.fresh {
            Fresh::None => ("-", 0, None, None),
            Fresh::Authorized { until, budget } => ("A", until, budget, None),
            Fresh::Denied { until } => ("D", until, None, None),
            Fresh::Limited { until, retry_after } => ("L", until, None, retry_after),
        };
        let last = match self.last {
            LastKnown::None => "-",
            LastKnown::Authorized => "A",
            LastKnown::Denied => "D",
            LastKnown::Limited => "L",
        };
        format!(
            "1|{}|{}|{state}|{until}|{}|{}|{}|{}|{last}|{}|{}|{}|{}|{}|{}|{}",
            self.key,
            self.epoch,
            opt(budget),
            opt(retry),
            self.outstanding,
            self.authorizing_until,
            self.unavailable_until,
            self.max_value,
            self.reset_at,
            self.used_at,
            self.abandoned,
            self.abandoned_until,
            self.lease_reset
        )
        .into_bytes()
    }

    /// `None` for anything `encode` did not write (an older format, a foreign value).
    pub fn decode(bytes: &[u8]) -> Option<SharedEntry> {
        let text = std::str::from_utf8(bytes).ok()?;
        let mut f: Vec<&str> = text.split('|').collect();
        // Older entries lack the last fields (read as 0); a later module's extra fields are
        // left unread, so the next addition does not make this module see free slots.
        if f.len() == 11 || f.len() >= 13 {
            f.resize(17, "0");
        }
        let [version, key, epoch, state, until, budget, retry, outstanding, authorizing, last, unavailable, max_value, reset_at, used_at, abandoned, abandoned_until, lease_reset] =
            f.as_slice()
        else {
            return None;
        };
        if *version != "1" {
            return None;
        }
        let num = |s: &str| s.parse::<u64>().ok();
        let opt = |s: &str| {
            if s == "-" {
                Some(None)
            } else {
                num(s).map(Some)
            }
        };
        let until = num(until)?;
        let fresh = match *state {
            "-" => Fresh::None,
            "A" => Fresh::Authorized {
                until,
                budget: opt(budget)?,
            },
            "D" => Fresh::Denied { until },
            "L" => Fresh::Limited {
                until,
                retry_after: opt(retry)?,
            },
            _ => return None,
        };
        let last = match *last {
            "-" => LastKnown::None,
            "A" => LastKnown::Authorized,
            "D" => LastKnown::Denied,
            "L" => LastKnown::Limited,
            _ => return None,
        };
        Some(SharedEntry {
            key: key.to_string(),
            epoch: epoch.parse().ok()?,
            fresh,
            outstanding: num(outstanding)?,
            authorizing_until: num(authorizing)?,
            last,
            unavailable_until: num(unavailable)?,
            max_value: num(max_value)?,
            reset_at: num(reset_at)?,
            used_at: num(used_at)?,
            abandoned: num(abandoned)?,
            abandoned_until: num(abandoned_until)?,
            lease_reset: num(lease_reset)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let mut e = SharedEntry::new("42 u k%7C hits=1");
        for fresh in [
            Fresh::None,
            Fresh::Authorized {
                until: 5,
                budget: Some(7),
            },
            Fresh::Authorized {
                until: 5,
                budget: None,
            },
            Fresh::Denied { until: 9 },
            Fresh::Limited {
                until: 9,
                retry_after: Some(30),
            },
            Fresh::Limited {
                until: 9,
                retry_after: None,
            },
        ] {
            e.fresh = fresh;
            e.epoch = 3;
            e.outstanding = 11;
            e.authorizing_until = 12;
            e.last = LastKnown::Limited;
            e.unavailable_until = 13;
            e.max_value = 14;
            e.reset_at = 15;
            e.used_at = 16;
            e.abandoned = 2;
            e.abandoned_until = 17;
            e.lease_reset = 18;
            assert_eq!(SharedEntry::decode(&e.encode()), Some(e.clone()));
        }
        // Written before the rate-limit figures: read with none.
        let old =
            SharedEntry::decode(b"1|k|3|A|5|7|-|11|12|L|13").map(|e| (e.max_value, e.reset_at));
        assert_eq!(old, Some((0, 0)));
        // Written before `used_at`: never used, as far as eviction knows.
        let older = SharedEntry::decode(b"1|k|3|A|5|7|-|11|12|L|13|14|15");
        assert_eq!(older.map(|e| (e.reset_at, e.used_at)), Some((15, 0)));
        assert_eq!(SharedEntry::decode(b"1|k|3|A|5|7|-|11|12|L|13|14"), None);
        // Written by a later module with more fields: read without them.
        let later = SharedEntry::decode(b"1|k|3|A|5|7|-|11|12|L|13|14|15|16|2|17|18|x");
        assert_eq!(later.map(|e| (e.used_at, e.abandoned)), Some((16, 2)));
        // Written before abandoned calls were kept apart: none.
        let before = SharedEntry::decode(b"1|k|3|A|5|7|-|11|12|L|13|14|15|16");
        assert_eq!(
            before.map(|e| (e.abandoned, e.abandoned_until)),
            Some((0, 0))
        );
        assert_eq!(SharedEntry::decode(b"2|x"), None);
        assert_eq!(SharedEntry::decode(b""), None);
    }

    #[test]
    fn fresh_answers_expire() {
        let mut e = SharedEntry::new("k");
        e.fresh = Fresh::Denied { until: 100 };
        assert_eq!(e.fresh_at(99), Fresh::Denied { until: 100 });
        assert_eq!(e.fresh_at(100), Fresh::None);
        assert!(!e.is_idle(99));
        assert!(e.is_idle(100));
        e.outstanding = 1;
        assert!(!e.is_idle(100));
    }

    /// Calls never reported stay owed until their period ends, then are forgiven; with no
    /// period end (an eternity limit) they stay owed.
    #[test]
    fn abandoned_calls_are_owed_until_their_period_ends() {
        let mut e = SharedEntry::new("k");
        e.outstanding = 7;
        e.lease_reset = 1_000;
        e.abandon(5, 400);
        assert_eq!((e.owed_at(999), e.owed_at(1_000)), (7, 2));
        assert!(!e.is_idle(1_000));
        e.outstanding = 5;
        assert!(e.is_idle(1_000), "only abandoned calls of an ended period");
        e.forgive_abandoned(999);
        assert_eq!((e.outstanding, e.abandoned), (5, 5));
        e.forgive_abandoned(1_000);
        assert_eq!((e.outstanding, e.abandoned, e.abandoned_until), (0, 0, 0));
        // Dropped after the period ended (no answer for the next one yet): forgiven at once.
        e.outstanding = 3;
        e.abandon(3, 1_500);
        assert_eq!((e.outstanding, e.abandoned), (0, 0));
        // No period end: an eternity limit, owed for good.
        e.lease_reset = 0;
        e.outstanding = 4;
        e.abandon(4, 1_500);
        assert_eq!(e.owed_at(u64::MAX - 1), 4);
    }
}
