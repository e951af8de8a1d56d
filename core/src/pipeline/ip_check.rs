//! The `ip_check` policy's decision (reference apicast-policies.md §3.4): the client address
//! from the first of `client_ip_sources` that yields one, then the allow or deny list.
//!
//! As APIcast: no source yields an address → denied, whatever `check_type` says; a value that
//! is no IP address is in no block (a whitelist denies it, a blacklist lets it through). Unlike
//! APIcast, IPv6 addresses and blocks are read, and `[v6]:port` in `X-Forwarded-For` too.

use crate::config::policies::cidr::{forwarded_for, parse_endpoint, Ip};
use crate::config::policies::configs::{IpCheck, IpSource};
use crate::request::HeaderSource;

/// The client address from the first source that yields a value (`None`: none does;
/// `Some(None)`: a value that is no IP address). Reads only the sources it reaches.
pub fn client_ip(sources: &[IpSource], headers: &dyn HeaderSource) -> Option<Option<Ip>> {
    reading(sources, headers).map(|(_, ip)| ip)
}

/// [`client_ip`], with the source it came from.
fn reading(sources: &[IpSource], headers: &dyn HeaderSource) -> Option<(IpSource, Option<Ip>)> {
    sources.iter().find_map(|&source| {
        let ip = match source {
            // Envoy's downstream address: a pipe or internal address yields none.
            IpSource::LastCaller => headers
                .source_address()
                .and_then(|a| parse_endpoint(&a))
                .map(Some),
            // Envoy joins repeated X-Forwarded-For lines with commas: the first element is
            // the first line's, as in APIcast (its TEST 10).
            IpSource::XForwardedFor => headers
                .header("x-forwarded-for")
                .and_then(|v| forwarded_for(&v)),
            // APIcast takes the raw value: an empty one is an address in no block.
            IpSource::XRealIp => headers
                .header("x-real-ip")
                .map(|v| parse_endpoint(v.trim())),
        };
        ip.map(|ip| (source, ip))
    })
}

/// Whether `check` lets the request through.
pub fn allows(check: &IpCheck, headers: &dyn HeaderSource) -> bool {
    let Some((source, ip)) = reading(&check.sources, headers) else {
        return false;
    };
    // `X-Real-IP` repeated with different values: which line is the client's depends on
    // whether the proxy in front appends or prepends, so neither list can be checked: denied
    // (found by an audit, 2026-12-06: the first line was taken, a client's in front of a
    // proxy that appends). APIcast reads a Lua table there, no address, which a whitelist
    // denies and a blacklist lets through; Tollgate denies both.
    if source == IpSource::XRealIp && headers.header_ambiguous("x-real-ip") {
        return false;
    }
    let listed = ip.is_some_and(|ip| check.ips.iter().any(|block| block.holds(ip)));
    listed != check.blacklist
}
