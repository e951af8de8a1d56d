//! Usage reports (§4.1, §6.3), the Limits validator (§6.2) and the limit
//! headers algorithm (§6.4).

use crate::counters::Counters;
use crate::handlers::usage::{self, Usage};
use crate::model::{App, Service};
use crate::periods::Period;
use crate::xml::UsageReport;

/// The app's limits whose metric exists, ordered metric-id asc × period desc,
/// one per (metric, period) (the last declared wins).
fn plan_limits(service: &Service, app: &App) -> Vec<(usize, String, Period, u64)> {
    let mut out: Vec<(usize, String, Period, u64)> = Vec::new();
    for l in &app.limits {
        let Some(id) = service.metric_id(&l.metric) else {
            continue;
        };
        out.retain(|(_, m, p, _)| !(m == &l.metric && *p == l.period));
        out.push((id, l.metric.clone(), l.period, l.value));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0).then(b.2.cmp(&a.2)));
    out
}

/// Usage reports for every limit of the plan. `added` is the propagated usage
/// added to `current_value` (authorized authrep only); `exceeded` uses the stored value.
pub fn usage_reports(
    service: &Service,
    app: &App,
    counters: &Counters,
    now: i64,
    added: Option<&Usage>,
) -> Vec<UsageReport> {
    plan_limits(service, app)
        .into_iter()
        .map(|(_, metric, period, max)| {
            let stored = counters.get(&service.id, &app.id, &metric, period, now);
            let current = match added.and_then(|u| usage::get(u, &metric)) {
                Some(v) => v.applied_to(stored),
                None => stored,
            };
            UsageReport {
                period_start: period.start(now),
                period_end: period.end(now),
                max_value: max,
                current_value: current,
                exceeded: stored > max,
                metric,
                period,
            }
        })
        .collect()
}

/// The Limits validator. `usage` is the usage to check (propagated unless
/// `flat_usage`); `None`/empty checks every limit against the stored values.
pub fn within_limits(
    service: &Service,
    app: &App,
    counters: &Counters,
    now: i64,
    usage: Option<&Usage>,
) -> bool {
    let limits = plan_limits(service, app);
    let stored =
        |metric: &str, period: Period| counters.get(&service.id, &app.id, metric, period, now);
    match usage.filter(|u| !u.is_empty()) {
        None => limits.iter().all(|(_, m, p, max)| stored(m, *p) <= *max),
        Some(u) => limits.iter().all(|(_, m, p, max)| match usage::get(u, m) {
            Some(v) => v.applied_to(stored(m, *p)) <= *max,
            None => true,
        }),
    }
}

/// `3scale-limit-*` header values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimitHeaders {
    pub remaining: i64,
    pub reset: i64,
    pub max_value: Option<u64>,
}

/// §6.4. `reports` carry the §6.3 current values; `usage` is this call's usage
/// propagated to ancestors (predicted usage for authorize), `None` if absent.
pub fn limit_headers(reports: &[UsageReport], usage: Option<&Usage>, now: i64) -> LimitHeaders {
    let usage = usage.filter(|u| !u.is_empty());
    let mut best: Option<(i64, &UsageReport)> = None;
    for r in reports {
        let u = match usage {
            None => 0,
            Some(u) => match usage::get(u, &r.metric) {
                Some(v) => v.amount(),
                None => continue,
            },
        };
        let remaining = r.max_value.saturating_sub(r.current_value);
        let same_calls: i64 = if remaining == 0 {
            0
        } else {
            remaining
                .checked_div(u)
                .map_or(-1, |n| i64::try_from(n).unwrap_or(i64::MAX))
        };
        let better = match best {
            None => true,
            Some((b, br)) => {
                let key = |v: i64| if v < 0 { i64::MAX } else { v };
                key(same_calls) < key(b) || (key(same_calls) == key(b) && r.period > br.period)
            }
        };
        if better {
            best = Some((same_calls, r));
        }
    }
    match best {
        Some((n, r)) if n >= 0 => LimitHeaders {
            remaining: n,
            reset: if r.period == Period::Eternity {
                -1
            } else {
                r.period_end - now
            },
            max_value: Some(r.max_value),
        },
        _ => LimitHeaders {
            remaining: -1,
            reset: -1,
            max_value: None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::counters::UsageValue;
    use crate::periods::unix_from_civil;

    fn report(period: Period, max: u64, current: u64, now: i64) -> UsageReport {
        UsageReport {
            metric: "hits".into(),
            period,
            period_start: period.start(now),
            period_end: period.end(now),
            max_value: max,
            current_value: current,
            exceeded: current > max,
        }
    }

    #[test]
    fn worked_examples() {
        let now = unix_from_civil(2026, 11, 23, 22, 59, 59);
        let hits = |n| Some(vec![("hits".to_string(), UsageValue::Incr(n))]);
        // limit 100, usage 10, authorize → 10; authrep (cv includes usage) → 9
        let r = [report(Period::Day, 100, 0, now)];
        assert_eq!(limit_headers(&r, hits(10).as_ref(), now).remaining, 10);
        let r = [report(Period::Day, 100, 10, now)];
        assert_eq!(limit_headers(&r, hits(10).as_ref(), now).remaining, 9);
        // hour limit 10 hit by 11 at 22:59:59 → 0 / 1 / 10
        let r = [report(Period::Hour, 10, 11, now)];
        let h = limit_headers(&r, hits(1).as_ref(), now);
        assert_eq!((h.remaining, h.reset, h.max_value), (0, 1, Some(10)));
        // nothing full, no usage → -1/-1
        let r = [report(Period::Hour, 10, 3, now)];
        assert_eq!(
            limit_headers(&r, None, now),
            LimitHeaders {
                remaining: -1,
                reset: -1,
                max_value: None
            }
        );
        // usage[x]=0 → -1/-1
        assert_eq!(limit_headers(&r, hits(0).as_ref(), now).remaining, -1);
        // disabled metric, no usage → 0 / -1 / 0
        let r = [report(Period::Eternity, 0, 0, now)];
        let h = limit_headers(&r, None, now);
        assert_eq!((h.remaining, h.reset, h.max_value), (0, -1, Some(0)));
        // ties: the longer period wins
        let r = [
            report(Period::Day, 5, 5, now),
            report(Period::Minute, 5, 5, now),
        ];
        assert_eq!(limit_headers(&r, None, now).reset, 3601);
        let r = [
            report(Period::Minute, 5, 5, now),
            report(Period::Month, 5, 5, now),
        ];
        assert_eq!(
            limit_headers(&r, None, now).reset,
            Period::Month.end(now) - now
        );
    }
}
