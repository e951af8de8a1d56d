//! `X-Forwarded-Host` and `Forwarded: host=` naming another service's host. Upstreams read the
//! request's host from them (Rails always, Express with `trust proxy`, Django with
//! `USE_X_FORWARDED_HOST`, Symfony and Laravel with trusted proxies): on an upstream serving
//! several services' hosts, a request checked as the `:authority`'s service would be served as
//! the named one (found by an audit, 2026-12-06). They are not stripped, as `X-Original-URL`
//! is: a trusted front proxy (a CDN) sets them to its own public name, which no service lists.

use crate::config::Config;
use crate::request::{host_of, HeaderSource};

/// Whether a forwarded host, read as `:authority` is read for service selection (lower-cased,
/// port stripped), is one a service lists (held hosts included) other than `own`, the
/// request's host. Values that name no listed host are left alone. Headers are not read with
/// fewer than two hosts listed: none could be another.
pub(super) fn names_another_host(config: &Config, own: &str, headers: &dyn HeaderSource) -> bool {
    if config.host_count() < 2 {
        return false;
    }
    let named = |header: &str, forwarded: bool| {
        headers.any_value_any_spelling(header, &mut |value| {
            names_another(config, own, value, forwarded)
        })
    };
    named("x-forwarded-host", false) || named("forwarded", true)
}

/// One header value: a list of hosts (`X-Forwarded-Host`), or of `Forwarded` elements whose
/// `host=` parameters (any case, quoted or not) name hosts. Plain loops: module size.
fn names_another(config: &Config, own: &str, value: &str, forwarded: bool) -> bool {
    for element in value.split(',') {
        if !forwarded {
            if is_another(config, own, element) {
                return true;
            }
            continue;
        }
        // Split at every `;`, quoted or not: a parser that splits naively finds a `host=`
        // inside a quoted value too, and no host contains one.
        for param in element.split(';') {
            if let Some((name, host)) = param.split_once('=') {
                if name.trim().eq_ignore_ascii_case("host") && is_another(config, own, host) {
                    return true;
                }
            }
        }
    }
    false
}

fn is_another(config: &Config, own: &str, named: &str) -> bool {
    let named = named.trim();
    let named = (named.strip_prefix('"').and_then(|n| n.strip_suffix('"'))).unwrap_or(named);
    let host = host_of(named.trim());
    *host != *own && config.lists_host(&host)
}
