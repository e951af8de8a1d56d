//! Which service a request is for: by host (the first service listing it), or by path with
//! path routing (APICAST_PATH_ROUTING: the first service with a rule matching method, path
//! and URI args), falling back to host routing unless path routing only.

use super::reply::LocalReply;
use crate::config::{Config, Service};
use crate::mapping::QueryArgs;
use crate::request::{host_of, HeaderSource, RequestHead};
use std::sync::Arc;

pub(super) struct Selected {
    pub service: Arc<Service>,
    /// The URI args path routing read to choose it (empty without path routing): a form body
    /// must not give them other values.
    pub routing_args: Vec<String>,
    /// Path routing chose among several services of the host: Envoy's routes may send each
    /// service's paths to its own cluster, so the upstream gets the path as the rules read it,
    /// and the service's id to route on (`reply::SERVICE_ID_HEADER`)
    /// (found by an audit, 2026-12-06: `//public/x`, `/%70ublic/x`, `/users/%40me` chose a
    /// public service and went as sent to another service's route).
    pub path_routed: bool,
}

pub(super) fn select_service(
    config: &Config,
    head: RequestHead,
    normalized_path: &str,
    args: &QueryArgs,
    headers: &dyn HeaderSource,
) -> Result<Selected, LocalReply> {
    let host = host_of(head.authority);
    if super::forwarded_host::names_another_host(config, &host, headers) {
        // Checked as this host's service, the upstream could serve it as the named one's.
        return Err(LocalReply::ambiguous_host());
    }
    let first = || config.services_for_host(&host).next().cloned();
    let (service, routing_args, path_routed) = if config.path_routing {
        // One look-up in the host's rule index, built at configuration time.
        let (found, routed) = config.route_by_path(&host, head.method, normalized_path, args);
        if routed.truncated {
            return Err(LocalReply::too_many_args());
        }
        if routed.readings_differ {
            return Err(LocalReply::ambiguous_path());
        }
        if routed.ambiguous {
            // Refused whichever service it would reach, a public one included (found by an
            // audit): the upstream may read the value another service's rule guards.
            return Err(LocalReply::ambiguous_arg());
        }
        let service = match found {
            Some(s) => Some(s.clone()),
            None if config.path_routing_only => None,
            None => first(),
        };
        (service, routed.args_read, routed.shared)
    } else {
        (first(), Vec::new(), false)
    };
    match service {
        Some(service) => Ok(Selected {
            service,
            routing_args,
            path_routed,
        }),
        None => Err(LocalReply::service_not_found()),
    }
}

/// Whether a form body gives an arg path routing read another value than the query did
/// (or one it lacked): the request could be for another service than the one chosen.
pub(super) fn form_changes_routing(
    routing_args: &[String],
    uri: &QueryArgs,
    form: &QueryArgs,
) -> bool {
    // A form longer than what is read could hide one past the pieces seen.
    let hidden = !routing_args.is_empty() && form.truncated();
    hidden
        || routing_args.iter().any(|name| {
            let sent = uri.spelled(name).last();
            form.spelled(name).any(|v| Some(v) != sent)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_form_may_repeat_what_routing_read_but_not_change_it() {
        let read = vec!["type".to_string()];
        let uri = QueryArgs::parse("type=summary");
        let same = QueryArgs::parse_form("type=summary&x=1");
        assert!(!form_changes_routing(&read, &uri, &same));
        for form in [
            "type=full",
            "Type=full",
            "type[]=full",
            "x=1&type=summary&type=full",
        ] {
            let form = QueryArgs::parse_form(form);
            assert!(form_changes_routing(&read, &uri, &form));
        }
        // An arg the query lacked: the rule that read it was passed over.
        let none = QueryArgs::parse("");
        assert!(form_changes_routing(
            &read,
            &none,
            &QueryArgs::parse_form("type=full")
        ));
        assert!(!form_changes_routing(
            &read,
            &none,
            &QueryArgs::parse_form("other=1")
        ));
        // Past the pieces read (found by a review).
        let long = format!("{}type=full", "x=1&".repeat(120));
        assert!(form_changes_routing(
            &read,
            &uri,
            &QueryArgs::parse_form(&long)
        ));
        assert!(!form_changes_routing(
            &[],
            &none,
            &QueryArgs::parse_form("type=full")
        ));
    }
}
