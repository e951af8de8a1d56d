//! The `backend` block: where the 3scale backend is, what a cached answer is worth when it
//! fails (`caching_type`), and whether usage is batched (`batching`).

use super::json::{error, Obj, Result};

const DEFAULT_TIMEOUT_MS: u64 = 1000;
const DEFAULT_AUTHS_TTL: u64 = 10;
const DEFAULT_BATCH_REPORT_SECONDS: u64 = 10;
const DEFAULT_MAX_ENTRIES: u64 = 10_000;
pub(crate) const DEFAULT_MAX_PENDING: u64 = 10_000;
/// A day: 3scale's largest useful cache lifetime; longer values are a typo, not a choice.
pub(crate) const MAX_SECONDS: u64 = 86_400;

/// Where and how the 3scale backend is called.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackendConfig {
    /// Envoy cluster for the callouts.
    pub cluster: String,
    /// `:authority` of the callouts.
    pub authority: String,
    pub timeout_ms: u64,
    /// What the last known answer is worth when the backend is down or answers 5xx.
    pub caching_type: CachingType,
    /// Authorize on a cache miss and report in batches; `None` means authrep per request.
    pub batching: Option<Batching>,
    /// Bound on cached authorizations (shared-data slots, shared by all workers).
    pub cache_max_entries: u32,
    /// APICAST_RESPONSE_CODES: batched reports carry each call's response code (`log[code]`).
    pub report_response_codes: bool,
}

/// APIcast's caching policy `caching_type` (reference §7.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CachingType {
    /// Nothing is remembered: backend failure means auth failed.
    None,
    /// A remembered 200 covers one failed call, then is forgotten.
    Strict,
    /// The last answer (200 or a denial) stands while the backend fails.
    Resilient,
    /// As resilient, and with nothing remembered a failure authorizes.
    Allow,
}

/// APIcast's 3scale batcher policy (reference §7.4), plus Tollgate's bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Batching {
    /// Seconds an authorization (with its limit budget) is used without asking the backend.
    pub auths_ttl: u64,
    /// Seconds between reports of the accumulated usage.
    pub batch_report_seconds: u64,
    /// Seconds a denial (invalid key, unknown app, disabled metric) is remembered.
    pub denied_ttl: u64,
    /// Bound on distinct (credentials, usage) pairs waiting to be reported; beyond it hits are
    /// dropped and counted (`tollgate.reports_dropped`).
    pub max_pending: u32,
}

pub(super) fn parse_backend(root: &Obj) -> Result<BackendConfig> {
    let backend = root
        .obj("backend")?
        .ok_or_else(|| error("backend", "missing required field"))?;
    backend.deny_unknown(&[
        "cluster",
        "authority",
        "timeout_ms",
        "caching_type",
        "batching",
        "cache_max_entries",
        "report_response_codes",
    ])?;
    let cluster = backend
        .non_empty_string("cluster")?
        .ok_or_else(|| error("backend.cluster", "missing required field"))?;
    let timeout_ms = match backend.uint("timeout_ms")? {
        None => DEFAULT_TIMEOUT_MS,
        Some(0) => {
            return Err(error(
                "backend.timeout_ms",
                "must be greater than 0 (Envoy reads 0 as no timeout)",
            ))
        }
        Some(ms) if ms > u32::MAX as u64 => {
            return Err(error("backend.timeout_ms", "is too large"))
        }
        Some(ms) => ms,
    };
    let caching_type = match backend.string("caching_type")? {
        None | Some("none") => CachingType::None,
        Some("strict") => CachingType::Strict,
        Some("resilient") => CachingType::Resilient,
        Some("allow") => CachingType::Allow,
        Some(other) => {
            return Err(error(
                "backend.caching_type",
                format!("unknown value {other:?} (expected none, strict, resilient or allow)"),
            ))
        }
    };
    let batching = match backend.obj("batching")? {
        None => None,
        Some(b) => Some(parse_batching(&b)?),
    };
    let cache_max_entries = bounded(
        &backend,
        "cache_max_entries",
        DEFAULT_MAX_ENTRIES,
        1_000_000,
    )? as u32;
    Ok(BackendConfig {
        cluster: cluster.to_string(),
        authority: backend
            .non_empty_string("authority")?
            .unwrap_or(cluster)
            .to_string(),
        timeout_ms,
        caching_type,
        batching,
        cache_max_entries,
        report_response_codes: backend.bool("report_response_codes")?.unwrap_or(false),
    })
}

fn parse_batching(b: &Obj) -> Result<Batching> {
    b.deny_unknown(&[
        "auths_ttl",
        "batch_report_seconds",
        "denied_ttl",
        "max_pending",
    ])?;
    let auths_ttl = bounded(b, "auths_ttl", DEFAULT_AUTHS_TTL, MAX_SECONDS)?;
    Ok(Batching {
        auths_ttl,
        batch_report_seconds: bounded(
            b,
            "batch_report_seconds",
            DEFAULT_BATCH_REPORT_SECONDS,
            MAX_SECONDS,
        )?,
        denied_ttl: bounded(b, "denied_ttl", auths_ttl, MAX_SECONDS)?,
        max_pending: bounded(b, "max_pending", DEFAULT_MAX_PENDING, 1_000_000)? as u32,
    })
}

/// An integer in `1..=max`, or `default` when absent.
pub(super) fn bounded(obj: &Obj, key: &str, default: u64, max: u64) -> Result<u64> {
    match obj.uint(key)? {
        None => Ok(default),
        Some(v) if (1..=max).contains(&v) => Ok(v),
        Some(_) => Err(error(
            &obj.child_path(key),
            format!("must be between 1 and {max}"),
        )),
    }
}
