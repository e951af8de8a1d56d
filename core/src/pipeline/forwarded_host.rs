//! `X-Forwarded-Host` and `Forwarded: host=` naming another service's host. Upstreams read the
//! request's host from them (Rails always, Express with `trust proxy`, Django with
//! `USE_X_FORWARDED_HOST`, Symfony and Laravel with trusted proxies): on an upstream serving
//! several services' hosts, a request checked as the `:authority`'s service would be served as
//! the named one (found by an audit, 2026-12-06). They are not stripped, as `X-Original-URL`
//! is: a trusted front proxy (a CDN) sets them to its own public name, which no service lists.

use crate::config::Config;
use crate::request::{host_of, HeaderSource};

/// Whether a forwarded host, read as `:authority` is read for service selection (lower-cased,
/// port stripped), is one a service lists (held hosts included) whose services are not those
/// of `own`, the request's host: another host of the same service is no confusion (a front
/// proxy rewriting `Host` to an internal name both list). Values that name no listed host are
/// left alone. Headers are not read with
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

/// One header value: a list of hosts (`X-Forwarded-Host`), or `Forwarded` elements. In those,
/// every `host=` is read wherever it stands, as Spring and Vert.x read it (a regex over the
/// whole value: `host=` inside a quoted `for=`, in `xhost=`, with an unbalanced quote; found
/// by a review, 2026-12-06). Plain loops: module size.
fn names_another(config: &Config, own: &str, value: &str, forwarded: bool) -> bool {
    if !forwarded {
        return value
            .split(',')
            .any(|element| is_another(config, own, element));
    }
    let bytes = value.as_bytes();
    let mut at = 0;
    while let Some(found) = find_host_param(bytes, at) {
        // The value after `host` and optional blanks, `=`, blanks and a quote, up to `;`,
        // `,` or a quote.
        let rest = value.get(found + 4..).unwrap_or_default();
        at = found + 4;
        let Some(after) = rest.trim_start_matches([' ', '\t']).strip_prefix('=') else {
            continue;
        };
        let after = after.trim_start_matches([' ', '\t']);
        let after = after.strip_prefix('"').unwrap_or(after);
        let end = after.find([';', ',', '"']).unwrap_or(after.len());
        if is_another(config, own, after.get(..end).unwrap_or_default()) {
            return true;
        }
    }
    false
}

/// Where `host` (any case) starts at or after `from`.
fn find_host_param(bytes: &[u8], from: usize) -> Option<usize> {
    let tail = bytes.get(from..)?;
    (tail.windows(4))
        .position(|w| w.eq_ignore_ascii_case(b"host"))
        .map(|p| p + from)
}

/// Whether `named` is a host whose services are not the request's. Read as `:authority` is
/// (port stripped, lower-cased) and as Express reads it (cut at the first `:`: `admin:abc`).
fn is_another(config: &Config, own: &str, named: &str) -> bool {
    let named = named.trim().trim_matches('"').trim();
    let before_colon = match named.starts_with('[') {
        true => None,
        false => named.split_once(':').map(|(host, _)| host),
    };
    std::iter::once(named)
        .chain(before_colon)
        .any(|candidate| config.names_other_services(&host_of(candidate), own))
}
