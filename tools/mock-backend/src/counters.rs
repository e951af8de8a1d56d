//! Usage counters per (service, app, metric, period instance).

use std::collections::HashMap;

use crate::periods::Period;

/// One usage value: an increment (`"3"`) or a set (`"#3"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UsageValue {
    Incr(u64),
    Set(u64),
}

impl UsageValue {
    /// The number carried (`#N` counts as N).
    pub fn amount(self) -> u64 {
        match self {
            UsageValue::Incr(n) | UsageValue::Set(n) => n,
        }
    }

    /// The value after applying this usage to `stored`.
    pub fn applied_to(self, stored: u64) -> u64 {
        match self {
            UsageValue::Incr(n) => stored.saturating_add(n),
            UsageValue::Set(n) => n,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    service: String,
    app: String,
    metric: String,
    period: Period,
    start: i64,
}

impl Key {
    fn new(service: &str, app: &str, metric: &str, period: Period, ts: i64) -> Key {
        Key {
            service: service.to_string(),
            app: app.to_string(),
            metric: metric.to_string(),
            period,
            start: period.start(ts),
        }
    }
}

/// Stored counters, plus running totals of everything applied (for test helpers).
#[derive(Debug, Clone, Default)]
pub struct Counters {
    values: HashMap<Key, u64>,
    totals: HashMap<(String, String, String), u64>,
}

impl Counters {
    /// Stored value of the period instance containing `ts`.
    pub fn get(&self, service: &str, app: &str, metric: &str, period: Period, ts: i64) -> u64 {
        self.values
            .get(&Key::new(service, app, metric, period, ts))
            .copied()
            .unwrap_or(0)
    }

    /// Applies one (already propagated) usage value to every period instance at `ts`.
    pub fn apply(&mut self, service: &str, app: &str, metric: &str, value: UsageValue, ts: i64) {
        for period in Period::ALL {
            let slot = self
                .values
                .entry(Key::new(service, app, metric, period, ts))
                .or_insert(0);
            *slot = value.applied_to(*slot);
        }
        if let UsageValue::Incr(n) = value {
            let total = self
                .totals
                .entry((service.to_string(), app.to_string(), metric.to_string()))
                .or_insert(0);
            *total = total.saturating_add(n);
        }
    }

    /// Overwrites one period instance.
    pub fn set(&mut self, service: &str, app: &str, metric: &str, period: Period, ts: i64, v: u64) {
        self.values
            .insert(Key::new(service, app, metric, period, ts), v);
    }

    /// Sum of all increments applied to the metric (after propagation); sets are not counted.
    pub fn total(&self, service: &str, app: &str, metric: &str) -> u64 {
        self.totals
            .get(&(service.to_string(), app.to_string(), metric.to_string()))
            .copied()
            .unwrap_or(0)
    }

    /// Every running total: (service, app, metric, sum of increments).
    pub fn totals(&self) -> impl Iterator<Item = (&str, &str, &str, u64)> {
        self.totals
            .iter()
            .map(|((s, a, m), n)| (s.as_str(), a.as_str(), m.as_str(), *n))
    }

    /// Forgets every counter and total.
    pub fn clear(&mut self) {
        self.values.clear();
        self.totals.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn increments_and_sets() {
        let mut c = Counters::default();
        c.apply("1", "a", "hits", UsageValue::Incr(2), 120);
        c.apply("1", "a", "hits", UsageValue::Incr(3), 130);
        assert_eq!(c.get("1", "a", "hits", Period::Minute, 150), 5);
        assert_eq!(c.get("1", "a", "hits", Period::Minute, 180), 0);
        assert_eq!(c.get("1", "a", "hits", Period::Eternity, 999_999), 5);
        c.apply("1", "a", "hits", UsageValue::Set(1), 130);
        assert_eq!(c.get("1", "a", "hits", Period::Day, 130), 1);
        assert_eq!(c.total("1", "a", "hits"), 5);
    }
}
