//! One cached authorization as stored in shared data, readable by every worker.
//!
//! Text form (one line, `|`-separated; keys are percent-encoded so they hold no `|`):
//! `1|<key>|<epoch>|<state>|<until_ms>|<budget>|<retry_after>|<outstanding>|<authorizing_until_ms>|<last>|<unavailable_until_ms>|<max_value>|<reset_at_ms>|<used_at_ms>|<abandoned>|<abandoned_until_ms>|<lease_reset_ms>|<members>|<denied>|<denied_until_ms>|<unapplied: 6 fields>`
//! (fields after `unavailable_until_ms` are read as 0 when absent: an entry written before
//! they were added).

mod unapplied;

pub use unapplied::{Figures, Unapplied};

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
    /// An application's keys share its entry (`MatchedRequest::cache_key`): the digests of
    /// the keys the backend accepted ([`key_digest`], [`DIGEST_HEX`] digits each, joined;
    /// the fresh answer and `last` hold for them alone; most recent last, at most
    /// [`MAX_MEMBERS`]) ...
    pub members: String,
    /// ... and of keys it refused, each refusal cached until `denied_until`, and the last
    /// known answer of these keys (`caching_type`) whatever the deadline.
    pub denied: String,
    pub denied_until: u64,
    /// Reported calls the backend accepted and may not have counted yet: owed to the next
    /// budgets until its figures show them (not to a slot: an idle entry may still go).
    pub unapplied: Unapplied,
}

/// Hex digits of a [`key_digest`].
pub const DIGEST_HEX: usize = 32;

/// Keys of one application whose acceptance an entry remembers; an older one asks again.
pub const MAX_MEMBERS: usize = 8;
/// Refused keys an entry remembers; an older one asks again.
pub const MAX_DENIED: usize = 4;

/// What an application key is remembered by in its application's entry: 128 bits of the
/// SHA-256 of the key as apisonator checks it (`app_key_as_checked`), so no key is stored.
pub fn key_digest(app_key: &str) -> String {
    use crate::auth::digest::{sha256, to_hex};
    let checked = super::key::app_key_as_checked(app_key);
    let digest = sha256(checked.as_bytes());
    to_hex(digest.get(..16).unwrap_or_default())
}

/// Whether a list of digests (`SharedEntry::members`) holds `digest`.
pub fn lists(list: &str, digest: &str) -> bool {
    let mut digests = list.as_bytes().chunks(DIGEST_HEX);
    digests.any(|d| d == digest.as_bytes())
}

/// The list without `digest`, and without its oldest digests past `keep` (rebuilt: a string
/// splice costs the module a kilobyte).
fn take_out(list: &mut String, digest: &str, keep: usize) {
    let digests = list
        .as_bytes()
        .chunks(DIGEST_HEX)
        .filter(|d| *d != digest.as_bytes());
    let kept: Vec<&[u8]> = digests.collect();
    let mut out = String::with_capacity(list.len());
    for d in kept.iter().skip(kept.len().saturating_sub(keep)) {
        out.push_str(std::str::from_utf8(d).unwrap_or_default());
    }
    *list = out;
}

/// Adds `digest` last to a bounded list (taking it out of where it was), the oldest out.
fn push_bounded(list: &mut String, digest: &str, bound: usize) {
    if digest.len() == DIGEST_HEX {
        take_out(list, digest, bound.saturating_sub(1));
        list.push_str(digest);
    }
}

/// A list of digests as read from shared data: whole digests, at most `bound`.
fn read_digests(field: &str, bound: usize) -> String {
    let whole =
        field.len().is_multiple_of(DIGEST_HEX) && field.bytes().all(|b| b.is_ascii_hexdigit());
    let keep = field.len().min(bound * DIGEST_HEX);
    match (whole, field.get(field.len() - keep..)) {
        (true, Some(last)) => last.to_string(),
        _ => String::new(),
    }
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
            members: String::new(),
            denied: String::new(),
            denied_until: 0,
            unapplied: Unapplied::default(),
        }
    }

    /// `check`: the request's key digest, `None` for credentials that are the application
    /// itself (a user_key, an app_id alone). Whether the fresh answer and `last` hold for it.
    pub fn admits(&self, check: Option<&str>) -> bool {
        check.is_none_or(|d| lists(&self.members, d))
    }

    /// Whether the backend's refusal of this key is cached at `now_ms`.
    pub fn refuses(&self, check: Option<&str>, now_ms: u64) -> bool {
        self.denied_until > now_ms && self.was_refused(check)
    }

    fn was_refused(&self, check: Option<&str>) -> bool {
        check.is_some_and(|d| lists(&self.denied, d))
    }

    /// The last known answer for this key (`caching_type`): the entry's for a member, a
    /// refusal for a refused key, nothing for a key never asked about.
    pub fn last_for(&self, check: Option<&str>) -> LastKnown {
        if self.admits(check) {
            self.last
        } else if self.was_refused(check) {
            LastKnown::Denied
        } else {
            LastKnown::None
        }
    }

    /// The backend accepted this key (authorized it, or counted it over a limit).
    pub fn accept(&mut self, check: Option<&str>) {
        if let Some(d) = check {
            take_out(&mut self.denied, d, MAX_DENIED);
            push_bounded(&mut self.members, d, MAX_MEMBERS);
        }
    }

    /// The backend refused this key: its refusal holds until `until`.
    pub fn refuse(&mut self, check: Option<&str>, until: u64) {
        if let Some(d) = check {
            take_out(&mut self.members, d, MAX_MEMBERS);
            push_bounded(&mut self.denied, d, MAX_DENIED);
            self.denied_until = self.denied_until.max(until);
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
            "1|{}|{}|{state}|{until}|{}|{}|{}|{}|{last}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}",
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
            self.lease_reset,
            self.members,
            self.denied,
            self.denied_until,
            self.unapplied.fields().map(|n| n.to_string()).join("|")
        )
        .into_bytes()
    }

    /// `None` for anything `encode` did not write (an older format, a foreign value).
    pub fn decode(bytes: &[u8]) -> Option<SharedEntry> {
        let text = std::str::from_utf8(bytes).ok()?;
        let mut f: Vec<&str> = text.split('|').collect();
        // Added in the thirtieth session: absent in older entries (no keys remembered).
        let digests = |i: usize, bound| read_digests(f.get(i).copied().unwrap_or_default(), bound);
        let (members, denied) = (digests(17, MAX_MEMBERS), digests(18, MAX_DENIED));
        let denied_until = f.get(19).copied().unwrap_or("0");
        // Added in the thirty-fourth session: absent in older entries (nothing unapplied).
        let mut unapplied = [0u64; 6];
        for (i, n) in unapplied.iter_mut().enumerate() {
            *n = f.get(20 + i).copied().unwrap_or("0").parse().ok()?;
        }
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
            members,
            denied,
            denied_until: num(denied_until)?,
            unapplied: Unapplied::from_fields(unapplied),
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
            e.members = "ab".repeat(DIGEST_HEX);
            e.denied = "e".repeat(DIGEST_HEX);
            e.denied_until = 19;
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

    /// The unapplied calls' fields come last; an entry of the module before them (20
    /// fields) has none.
    #[test]
    fn unapplied_calls_round_trip() {
        let mut e = SharedEntry::new("k");
        e.unapplied = Unapplied::from_fields([20, 21, 22, 23, 24, 25]);
        assert_eq!(SharedEntry::decode(&e.encode()), Some(e.clone()));
        let mut previous = e.clone();
        previous.unapplied = Unapplied::default();
        let text = String::from_utf8(previous.encode()).unwrap_or_default();
        let fields: Vec<&str> = text.split('|').take(20).collect();
        let read = SharedEntry::decode(fields.join("|").as_bytes());
        assert_eq!(read, Some(previous));
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
