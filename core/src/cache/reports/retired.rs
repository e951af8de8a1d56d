//! The reporting identities of services removed from the configuration (a 3scale System
//! refresh dropped them) while some of their calls may still wait to be reported. Those calls
//! were forwarded under a valid authorization: they are reported with the identity they had.

use crate::backend::ReportingIdentity;
use crate::config::Config;

/// Identities kept per worker, the most recently removed: a few KB at most. The calls of a
/// service removed before this many others, and still pending then, are dropped (counted).
pub const MAX_RETIRED: usize = 64;

#[derive(Debug, Default)]
pub struct RetiredServices {
    /// Oldest removal first.
    list: Vec<ReportingIdentity>,
}

impl RetiredServices {
    /// `new` replaces `old`: the identities `old` had and `new` has not are kept (a service
    /// removed, or its token or backend changed), and those `new` has (back again, or never
    /// gone) are forgotten (the configuration's are current).
    pub fn note(&mut self, old: &Config, new: &Config) {
        // A scan, only when a configuration is installed (a sort would cost the module 10 KB).
        let is_live = |r: &ReportingIdentity| {
            (new.services.iter())
                .any(|s| s.id == r.service_id && s.reporting_fingerprint == r.fingerprint)
        };
        self.list.retain(|r| !is_live(r));
        for identity in old.services.iter().map(|s| ReportingIdentity::of(s)) {
            if is_live(&identity) {
                continue;
            }
            self.list.retain(|r| *r != identity);
            self.list.push(identity);
        }
        let excess = self.list.len().saturating_sub(MAX_RETIRED);
        self.list.drain(..excess);
    }

    /// The identity of `service_id` with this fingerprint (any: the latest removed).
    pub fn find(&self, service_id: &str, fingerprint: Option<&str>) -> Option<&ReportingIdentity> {
        let matches = |r: &&ReportingIdentity| {
            r.service_id == service_id && fingerprint.is_none_or(|f| f == r.fingerprint)
        };
        self.list.iter().rev().find(matches)
    }

    #[cfg(test)]
    fn find_id(&self, service_id: &str) -> Option<&ReportingIdentity> {
        self.find(service_id, None)
    }

    pub fn len(&self) -> usize {
        self.list.len()
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn services(ids: &[u32]) -> Config {
        let list: Vec<String> = ids
            .iter()
            .map(|id| format!(r#"{{"id":"{id}","backend_authentication_type":"service_token","backend_authentication_value":"tok{id}"}}"#))
            .collect();
        let json = format!(
            r#"{{"backend":{{"cluster":"b"}},"services":[{}]}}"#,
            list.join(",")
        );
        Config::parse(json.as_bytes()).unwrap().config
    }

    #[test]
    fn removed_services_are_kept_until_they_come_back() {
        let mut retired = RetiredServices::default();
        retired.note(&services(&[1, 2, 3]), &services(&[2]));
        assert_eq!(retired.len(), 2);
        let one = retired.find_id("1").unwrap();
        assert_eq!(one.backend_auth.as_ref().unwrap().value, "tok1");
        assert!(retired.find_id("2").is_none());
        // Service 1 is back: the configuration's identity is the current one.
        retired.note(&services(&[2]), &services(&[1, 2]));
        assert!(retired.find_id("1").is_none());
        assert!(retired.find_id("3").is_some());
        // Removed again: kept once.
        retired.note(&services(&[1, 2]), &services(&[2]));
        retired.note(&services(&[1, 2]), &services(&[2]));
        assert_eq!(retired.len(), 2);
    }

    /// A System refresh rotating a service's token: the old identity is kept for the calls
    /// authorized with it, found by its fingerprint; the current one is the configuration's.
    #[test]
    fn a_changed_token_keeps_the_old_identity() {
        let mut retired = RetiredServices::default();
        let old = services(&[1]);
        let json = r#"{"backend":{"cluster":"b"},"services":[{"id":"1","backend_authentication_type":"service_token","backend_authentication_value":"rotated"}]}"#;
        let new = Config::parse(json.as_bytes()).unwrap().config;
        let (was, now) = (&old.services[0], &new.services[0]);
        assert_ne!(was.reporting_fingerprint, now.reporting_fingerprint);
        assert_eq!(was.reporting_fingerprint.len(), 8);
        retired.note(&old, &new);
        let found = retired.find("1", Some(&was.reporting_fingerprint)).unwrap();
        assert_eq!(found.backend_auth.as_ref().unwrap().value, "tok1");
        assert!(retired
            .find("1", Some(&now.reporting_fingerprint))
            .is_none());
        // Rotated back: the old identity is the configuration's again.
        retired.note(&new, &old);
        assert!(retired
            .find("1", Some(&was.reporting_fingerprint))
            .is_none());
        assert!(retired
            .find("1", Some(&now.reporting_fingerprint))
            .is_some());
    }

    #[test]
    fn only_the_most_recently_removed_are_kept() {
        let mut retired = RetiredServices::default();
        let all: Vec<u32> = (1..=(MAX_RETIRED as u32 + 10)).collect();
        retired.note(&services(&all), &services(&[]));
        assert_eq!(retired.len(), MAX_RETIRED);
        assert!(retired.find_id("10").is_none());
        assert!(retired.find_id("11").is_some());
        assert!(retired.find_id(&all.len().to_string()).is_some());
        assert!(!retired.is_empty());
    }
}
