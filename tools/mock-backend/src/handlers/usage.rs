//! `usage[...]` parsing, validation and propagation to ancestor metrics (§6.2, §6.5).

use crate::counters::UsageValue;
use crate::model::Service;
use crate::params::{Hash, Value};
use crate::response::ApiError;

/// One parsed usage entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub metric: String,
    pub value: UsageValue,
    /// The raw value was exactly `"0"` (authrep does not report those).
    pub raw_zero: bool,
}

/// Usage keyed by metric name, in insertion order.
pub type Usage = Vec<(String, UsageValue)>;

/// Looks up a metric in a usage list.
pub fn get(usage: &Usage, metric: &str) -> Option<UsageValue> {
    usage.iter().find(|(m, _)| m == metric).map(|(_, v)| *v)
}

fn put(usage: &mut Usage, metric: &str, value: UsageValue) {
    match usage.iter_mut().find(|(m, _)| m == metric) {
        Some(slot) => slot.1 = value,
        None => usage.push((metric.to_string(), value)),
    }
}

/// Validates a value against `/\A\s*#?\d+\s*\Z/`.
pub fn parse_value(raw: &str) -> Option<UsageValue> {
    let s = raw.trim_matches(|c: char| c.is_ascii_whitespace() || c == '\u{b}');
    let (set, digits) = match s.strip_prefix('#') {
        Some(d) => (true, d),
        None => (false, s),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n = digits.parse::<u64>().unwrap_or(u64::MAX);
    Some(if set {
        UsageValue::Set(n)
    } else {
        UsageValue::Incr(n)
    })
}

fn metric_invalid(name: &str) -> ApiError {
    ApiError::new(
        404,
        "metric_invalid",
        format!(r#"metric "{name}" is invalid"#),
    )
}

/// §3 step 9 (`no_body` on): resolve only the metric names.
pub fn check_metric_names(service: &Service, raw: &Hash) -> Result<(), ApiError> {
    for (name, _) in raw.iter() {
        let name = name.trim();
        if !service.has_metric(name) {
            return Err(metric_invalid(name));
        }
    }
    Ok(())
}

/// Parses and validates a usage hash: bad value → 403 `usage_value_invalid`,
/// unknown metric → 404 `metric_invalid` (value checked first, per pair).
pub fn parse(service: &Service, raw: &Hash) -> Result<Vec<Entry>, ApiError> {
    let mut out: Vec<Entry> = Vec::new();
    for (name, value) in raw.iter() {
        let name = name.trim();
        let parsed = match value {
            Value::Str(s) if !s.trim().is_empty() => parse_value(s).ok_or_else(|| {
                ApiError::new(
                    403,
                    "usage_value_invalid",
                    format!(r#"usage value "{s}" for metric "{name}" is invalid"#),
                )
            })?,
            _ => {
                return Err(ApiError::new(
                    403,
                    "usage_value_invalid",
                    format!(r#"usage value for metric "{name}" can not be empty"#),
                ))
            }
        };
        if !service.has_metric(name) {
            return Err(metric_invalid(name));
        }
        let entry = Entry {
            metric: name.to_string(),
            value: parsed,
            raw_zero: value.as_str() == Some("0"),
        };
        match out.iter_mut().find(|e| e.metric == name) {
            Some(slot) => *slot = entry,
            None => out.push(entry),
        }
    }
    Ok(out)
}

/// Entries as a `Usage`, optionally dropping those whose raw value was `"0"`.
pub fn to_usage(entries: &[Entry], skip_raw_zero: bool) -> Usage {
    entries
        .iter()
        .filter(|e| !(skip_raw_zero && e.raw_zero))
        .map(|e| (e.metric.clone(), e.value))
        .collect()
}

/// Propagates to all ancestors: increments add up, `#N` sets each ancestor
/// to N (last writer wins), an ancestor already set keeps its set value.
pub fn propagate(service: &Service, usage: &Usage) -> Usage {
    let mut memo = usage.clone();
    for (metric, value) in usage {
        for ancestor in service.ancestors(metric) {
            let new = match (value, get(&memo, &ancestor)) {
                (UsageValue::Set(_), _) => *value,
                (_, Some(prev @ UsageValue::Set(_))) => prev,
                (UsageValue::Incr(n), prev) => {
                    UsageValue::Incr(prev.map_or(0, UsageValue::amount).saturating_add(*n))
                }
            };
            put(&mut memo, &ancestor, new);
        }
    }
    memo
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::parse_nested;

    fn svc() -> Service {
        Service::new("1")
            .metric("hits", None)
            .metric("child_hits", Some("hits"))
            .metric("grand", Some("child_hits"))
    }

    fn raw(qs: &str) -> Hash {
        parse_nested(qs)
            .unwrap()
            .params
            .get("usage")
            .unwrap()
            .as_hash()
            .unwrap()
            .clone()
    }

    #[test]
    fn values() {
        assert_eq!(parse_value(" 2 "), Some(UsageValue::Incr(2)));
        assert_eq!(parse_value("#5"), Some(UsageValue::Set(5)));
        assert_eq!(parse_value("2\n"), Some(UsageValue::Incr(2)));
        assert_eq!(parse_value("-1"), None);
        assert_eq!(parse_value("1.5"), None);
        assert_eq!(parse_value("# 5"), None);
    }

    #[test]
    fn errors() {
        let s = svc();
        let e = parse(&s, &raw("usage[hits]=abc")).unwrap_err();
        assert_eq!(
            e.message,
            r#"usage value "abc" for metric "hits" is invalid"#
        );
        let e = parse(&s, &raw("usage[hits]=")).unwrap_err();
        assert_eq!(
            e.message,
            r#"usage value for metric "hits" can not be empty"#
        );
        let e = parse(&s, &raw("usage[hits][x]=1")).unwrap_err();
        assert_eq!(e.code, "usage_value_invalid");
        let e = parse(&s, &raw("usage[nope]=1")).unwrap_err();
        assert_eq!(
            (e.status, e.message.as_str()),
            (404, r#"metric "nope" is invalid"#)
        );
        assert_eq!(
            parse(&s, &raw("usage[%20hits%20]=1")).unwrap()[0].metric,
            "hits"
        );
    }

    #[test]
    fn propagation() {
        let s = svc();
        let u = to_usage(
            &parse(&s, &raw("usage[hits]=2&usage[child_hits]=5")).unwrap(),
            false,
        );
        let p = propagate(&s, &u);
        assert_eq!(get(&p, "hits"), Some(UsageValue::Incr(7)));
        assert_eq!(get(&p, "child_hits"), Some(UsageValue::Incr(5)));
        let u = to_usage(&parse(&s, &raw("usage[grand]=%233")).unwrap(), false);
        let p = propagate(&s, &u);
        assert_eq!(get(&p, "hits"), Some(UsageValue::Set(3)));
        assert_eq!(get(&p, "child_hits"), Some(UsageValue::Set(3)));
    }
}
