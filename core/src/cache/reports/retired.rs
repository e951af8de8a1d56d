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
    /// `new` replaces `old`: the services `old` had and `new` has not are kept, and those
    /// `new` has (back again, or never gone) are forgotten (the configuration's are current).
    pub fn note(&mut self, old: &Config, new: &Config) {
        // A scan, only when a configuration is installed (a sort would cost the module 10 KB).
        let is_live = |id: &str| new.services.iter().any(|s| s.id == id);
        self.list.retain(|r| !is_live(&r.service_id));
        for service in old.services.iter().filter(|s| !is_live(&s.id)) {
            self.list.retain(|r| r.service_id != service.id);
            self.list.push(ReportingIdentity::of(service));
        }
        let excess = self.list.len().saturating_sub(MAX_RETIRED);
        self.list.drain(..excess);
    }

    pub fn find(&self, service_id: &str) -> Option<&ReportingIdentity> {
        self.list.iter().find(|r| r.service_id == service_id)
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
        let one = retired.find("1").unwrap();
        assert_eq!(one.backend_auth.as_ref().unwrap().value, "tok1");
        assert!(retired.find("2").is_none());
        // Service 1 is back: the configuration's identity is the current one.
        retired.note(&services(&[2]), &services(&[1, 2]));
        assert!(retired.find("1").is_none());
        assert!(retired.find("3").is_some());
        // Removed again: kept once.
        retired.note(&services(&[1, 2]), &services(&[2]));
        retired.note(&services(&[1, 2]), &services(&[2]));
        assert_eq!(retired.len(), 2);
    }

    #[test]
    fn only_the_most_recently_removed_are_kept() {
        let mut retired = RetiredServices::default();
        let all: Vec<u32> = (1..=(MAX_RETIRED as u32 + 10)).collect();
        retired.note(&services(&all), &services(&[]));
        assert_eq!(retired.len(), MAX_RETIRED);
        assert!(retired.find("10").is_none());
        assert!(retired.find("11").is_some());
        assert!(retired.find(&all.len().to_string()).is_some());
        assert!(!retired.is_empty());
    }
}
