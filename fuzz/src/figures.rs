//! The oracle of the `rate_limit_headers` policy's reading of a backend answer
//! (`Figures::of_answer`): the figures are exactly what the answer said (negative ones as 0),
//! or there are none when a figure cannot be read or the reset is not in the future.

use tollgate_core::backend::BackendAnswer;
use tollgate_core::config::policies::configs::EditOp;
use tollgate_core::policies::rate_limit_headers::Figures;

/// What a limit header says: `Some(None)` for a value that is no `i64`.
fn said(value: &Option<String>) -> Option<Option<i64>> {
    value.as_deref().map(|v| v.trim().parse().ok())
}

/// Checks the figures `answer` gives against what its headers said.
pub fn check_figures(answer: &BackendAnswer) {
    let figures = Figures::of_answer(answer);
    let (limit, remaining, reset) = (
        said(&answer.limit_max_value),
        said(&answer.limit_remaining),
        said(&answer.limit_reset),
    );
    let Some(f) = figures else {
        // None: no reset, an unreadable figure, or a reset not in the future.
        let unreadable = [limit, remaining, reset].contains(&Some(None));
        assert!(
            reset.is_none() || unreadable || reset.flatten().is_some_and(|r| r <= 0),
            "no figures for {answer:?}"
        );
        return;
    };
    let as_said = |v: Option<Option<i64>>| match v {
        None => Some(0),
        Some(v) => v.map(|v| u64::try_from(v).unwrap_or(0)),
    };
    assert_eq!(Some(f.limit), as_said(limit), "limit of {answer:?}");
    assert_eq!(
        Some(f.remaining),
        as_said(remaining),
        "remaining of {answer:?}"
    );
    let reset = reset.flatten().and_then(|r| u64::try_from(r).ok());
    assert_eq!(Some(f.reset_s), reset, "reset of {answer:?}");
    assert!(f.reset_s >= 1);
    // The headers carry the figures as plain decimals, nothing else.
    let values = f.headers();
    let names = ["RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"];
    let numbers = [f.limit, f.remaining, f.reset_s];
    assert_eq!(values.len(), 3);
    for ((op, name, value), (want_name, want)) in values.iter().zip(names.iter().zip(numbers)) {
        assert_eq!(*op, EditOp::Set);
        assert_eq!(name, want_name);
        assert_eq!(value, &want.to_string());
    }
}
