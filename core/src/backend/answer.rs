//! Reading an authrep answer into a decision (APIcast §7.2).

use super::protocol::LIMITS_EXCEEDED;

/// The parts of a backend answer the decision depends on. `status: None` means no answer
/// (connection failure, reset, or the callout could not be dispatched).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BackendAnswer {
    pub status: Option<u16>,
    pub rejection_reason: Option<String>,
    pub limit_reset: Option<String>,
    pub limit_max_value: Option<String>,
    /// Calls of this usage the backend still allows (`-1`: no limit); the batching budget.
    pub limit_remaining: Option<String>,
    /// The answer does not carry apisonator's `Content-Type` ([`BACKEND_CONTENT_TYPE`], on
    /// every answer of its routes, protocol §1.4): some other web server answered (a
    /// `backend.cluster` naming the upstream, a proxy's page). Its 2xx authorizes nothing and
    /// delivers no report: the failure policy decides, as for an answer never received.
    pub foreign: bool,
}

/// The `Content-Type` of apisonator's answers, 200, 202 and 409 included (protocol §1.4).
pub const BACKEND_CONTENT_TYPE: &str = "application/vnd.3scale-v2.0+xml";

/// Whether a `Content-Type` value is apisonator's (parameters and case aside).
pub fn is_backend_content_type(value: &str) -> bool {
    let media_type = value.split(';').next().unwrap_or_default();
    media_type.trim().eq_ignore_ascii_case(BACKEND_CONTENT_TYPE)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Authorized,
    /// 409 `limits_exceeded`: the limits-exceeded error, with `Retry-After` when the reset is known.
    LimitsExceeded {
        retry_after: Option<u64>,
    },
    /// Any other denial (invalid key, disabled metric, other 4xx): auth failed.
    Denied,
    /// No answer, timeout or 5xx: the failure policy decides (fail closed: auth failed).
    BackendUnavailable,
}

impl BackendAnswer {
    pub fn decision(&self) -> Decision {
        match self.status {
            None | Some(0) => Decision::BackendUnavailable,
            Some(s) if s >= 499 => Decision::BackendUnavailable,
            Some(200) if self.foreign => Decision::BackendUnavailable,
            // A foreign 4xx stays a denial, as in APIcast: a WAF or rate limiter in front of
            // the backend may answer what the client put in the call (a crafted key, a
            // flood), and with `caching_type: allow` no answer would let it through.
            Some(200) => Decision::Authorized,
            Some(409) if self.is_limits_exceeded() => Decision::LimitsExceeded {
                // A reset of -1 (eternity) gives no usable Retry-After.
                retry_after: self
                    .limit_reset
                    .as_deref()
                    .and_then(|r| r.trim().parse::<u64>().ok()),
            },
            Some(_) => Decision::Denied,
        }
    }

    /// No answer, a timeout or a 5xx: counted in `tollgate.backend_errors`.
    pub fn is_backend_error(&self) -> bool {
        self.decision() == Decision::BackendUnavailable
    }

    /// A report's answer status, `None` (never delivered: kept for a retry, a backend error)
    /// for one that is not the backend's: its 2xx delivered nothing, and its 4xx (a proxy's
    /// 403 or 413) is no refusal by the backend, after which the calls would be dropped.
    pub fn report_status(&self) -> Option<u16> {
        self.status.filter(|&s| !(self.foreign && s < 499))
    }

    /// `limits_exceeded`, unless `3scale-limit-max-value: 0` says the metric is disabled.
    fn is_limits_exceeded(&self) -> bool {
        let disabled = self
            .limit_max_value
            .as_deref()
            .and_then(|v| v.trim().parse::<i64>().ok())
            == Some(0);
        self.rejection_reason.as_deref() == Some(LIMITS_EXCEEDED) && !disabled
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(
        status: u16,
        reason: Option<&str>,
        reset: Option<&str>,
        max: Option<&str>,
    ) -> BackendAnswer {
        BackendAnswer {
            status: Some(status),
            rejection_reason: reason.map(Into::into),
            limit_reset: reset.map(Into::into),
            limit_max_value: max.map(Into::into),
            limit_remaining: None,
            foreign: false,
        }
    }

    #[test]
    fn a_2xx_without_the_backends_content_type_is_no_answer() {
        let foreign = |status| BackendAnswer {
            status: Some(status),
            foreign: true,
            ..BackendAnswer::default()
        };
        assert_eq!(foreign(200).decision(), Decision::BackendUnavailable);
        assert!(foreign(200).is_backend_error());
        assert_eq!(foreign(202).report_status(), None);
        assert_eq!(foreign(413).report_status(), None);
        assert_eq!(foreign(503).report_status(), Some(503));
        assert_eq!(foreign(403).decision(), Decision::Denied);
        let ours = BackendAnswer {
            status: Some(202),
            ..BackendAnswer::default()
        };
        assert_eq!(ours.report_status(), Some(202));
        for value in [
            "application/vnd.3scale-v2.0+xml",
            "Application/VND.3scale-v2.0+XML; charset=utf-8",
            " application/vnd.3scale-v2.0+xml ",
        ] {
            assert!(is_backend_content_type(value), "{value}");
        }
        for value in [
            "text/html",
            "application/xml",
            "",
            "application/vnd.3scale-v2.0+xml2",
        ] {
            assert!(!is_backend_content_type(value), "{value}");
        }
    }

    #[test]
    fn maps_statuses() {
        assert_eq!(
            answer(200, None, None, None).decision(),
            Decision::Authorized
        );
        assert_eq!(
            answer(409, Some("limits_exceeded"), Some("60"), Some("5")).decision(),
            Decision::LimitsExceeded {
                retry_after: Some(60)
            }
        );
        assert_eq!(
            answer(409, Some("limits_exceeded"), Some("-1"), Some("0")).decision(),
            Decision::Denied
        );
        assert_eq!(
            answer(409, Some("limits_exceeded"), Some("-1"), Some("3")).decision(),
            Decision::LimitsExceeded { retry_after: None }
        );
        assert_eq!(
            answer(409, Some("application_key_invalid"), None, None).decision(),
            Decision::Denied
        );
        assert_eq!(answer(403, None, None, None).decision(), Decision::Denied);
        assert_eq!(answer(201, None, None, None).decision(), Decision::Denied);
        assert_eq!(
            answer(503, None, None, None).decision(),
            Decision::BackendUnavailable
        );
        assert_eq!(
            answer(499, None, None, None).decision(),
            Decision::BackendUnavailable
        );
        assert_eq!(
            BackendAnswer::default().decision(),
            Decision::BackendUnavailable
        );
    }
}
