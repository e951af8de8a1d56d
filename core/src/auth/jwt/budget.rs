//! A per-worker bound on the CPU spent on signature checks that fail (a forged-token flood).
//!
//! An RSA (RS256/384/512), ES256 or EdDSA check costs tens to hundreds of microseconds in V8, and a token
//! with a forged signature but a known `kid`, a fitting `alg` and acceptable claims passes
//! every cheap check before it. The budget counts the asymmetric checks that failed in the
//! current second (of the request clock); once `max_failed_verifications_per_s` have failed, a
//! token that would need such a check is refused without one
//! ([`JwtError::BudgetExhausted`](super::JwtError)) until the next second.
//!
//! Not limited: HMAC, HS256/384/512 (a check costs about a microsecond), and tokens this worker has already
//! verified (the token cache answers them with no check). A valid token this worker has not
//! seen yet is refused like a forged one while the budget is spent: the flood costs new
//! tokens some refusals, never the worker's time.

use std::cell::Cell;

/// Default `max_failed_verifications_per_s`: at 0.1-0.8 ms a check, at most 0.2-1.6 % of a
/// worker's CPU goes to checking forged tokens. (100 was measured: 1,000 forged ES256 tokens a
/// second then cost the two workers of the benchmark about 0.5 s of CPU a second, most of it
/// in the checks the budget allowed.)
pub const DEFAULT_MAX_FAILED_PER_S: u32 = 20;

thread_local! {
    /// Tokens refused because the budget was spent, not yet taken by the host adapter's
    /// counter. One Wasm VM per Envoy worker: this is per worker.
    static REFUSED: Cell<u64> = const { Cell::new(0) };
}

/// The refusals counted since the last call (for `tollgate.jwt_verify_budget_exhausted`).
pub fn take_budget_refusals() -> u64 {
    REFUSED.with(|refused| refused.replace(0))
}

pub(super) fn count_refusal() {
    REFUSED.with(|refused| refused.set(refused.get().saturating_add(1)));
}

/// Failed asymmetric signature checks allowed per second.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailureBudget {
    per_second: u32,
    /// The second `failed` counts in.
    second: u64,
    failed: u32,
}

impl FailureBudget {
    pub fn new(per_second: u32) -> FailureBudget {
        FailureBudget {
            per_second,
            second: 0,
            failed: 0,
        }
    }

    /// No bound (direct calls of [`verify`](super::verify), tests).
    pub fn unlimited() -> FailureBudget {
        FailureBudget::new(u32::MAX)
    }

    pub fn per_second(&self) -> u32 {
        self.per_second
    }

    /// Whether an asymmetric check may run at `now_s` (seconds).
    pub(super) fn allows(&mut self, now_s: u64) -> bool {
        self.roll(now_s);
        self.failed < self.per_second
    }

    /// A token no key verified at `now_s`, after `checks` asymmetric checks.
    pub(super) fn failed(&mut self, now_s: u64, checks: u32) {
        self.roll(now_s);
        self.failed = self.failed.saturating_add(checks);
    }

    fn roll(&mut self, now_s: u64) {
        // Any other second starts afresh, a clock that stepped back included.
        if now_s != self.second {
            self.second = now_s;
            self.failed = 0;
        }
    }
}
