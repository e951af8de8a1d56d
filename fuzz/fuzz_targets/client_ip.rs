//! `ip_check`'s parsers and decision: IP addresses (read exactly as std reads them), addresses
//! with a port as Envoy's `source.address` and proxies write them, `X-Forwarded-For` values,
//! CIDR blocks, then the decision over fuzzed sources and blocks (a repeated `X-Real-IP`
//! with different values is denied when it is the source read).
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use std::net::{IpAddr, SocketAddr};
use tollgate_core::config::policies::cidr::{forwarded_for, parse_endpoint, parse_ip, Cidr, Ip};
use tollgate_core::config::policies::configs::{IpCheck, IpSource};
use tollgate_core::pipeline::ip_check::{allows, client_ip};
use tollgate_core::request::HeaderSource;

#[derive(Debug, Arbitrary)]
struct Input {
    text: String,
    blocks: Vec<String>,
    source_address: Option<String>,
    forwarded_for: Option<String>,
    real_ip: Option<String>,
    /// A second `X-Real-IP` line (read as the first; ambiguous when it differs).
    real_ip_again: Option<String>,
    sources: Vec<u8>,
    blacklist: bool,
}

impl HeaderSource for Input {
    fn header(&self, name: &str) -> Option<String> {
        match name {
            "x-forwarded-for" => self.forwarded_for.clone(),
            "x-real-ip" => self.real_ip.clone(),
            _ => None,
        }
    }

    fn header_ambiguous(&self, name: &str) -> bool {
        name == "x-real-ip"
            && matches!((&self.real_ip, &self.real_ip_again), (Some(a), Some(b)) if a != b)
    }

    fn source_address(&self) -> Option<String> {
        self.source_address.clone()
    }
}

fn bits(ip: IpAddr) -> Ip {
    match ip {
        IpAddr::V4(a) => (false, u128::from(u32::from(a))),
        IpAddr::V6(a) => (true, u128::from(a)),
    }
}

fn mapped((v6, addr): Ip) -> bool {
    v6 && addr >> 32 == 0xffff
}

fuzz_target!(|input: Input| {
    let text = input.text.as_str();
    assert_eq!(
        parse_ip(text),
        text.parse::<IpAddr>().ok().map(bits),
        "{text:?}"
    );
    let endpoint = parse_endpoint(text);
    if let Ok(ip) = text.parse::<IpAddr>() {
        assert_eq!(endpoint, Some(bits(ip)), "{text:?}");
    }
    if let Ok(socket) = text.parse::<SocketAddr>() {
        assert_eq!(endpoint, Some(bits(socket.ip())), "{text:?}");
    }
    let first = text.split(',').next().unwrap_or("").trim();
    match forwarded_for(text) {
        None => assert!(first.is_empty(), "{text:?}"),
        Some(ip) => assert_eq!(ip, parse_endpoint(first), "{text:?}"),
    }
    // A block holds its network address and the address it was written with.
    if let Some(block) = Cidr::parse(text) {
        assert!(block.holds((block.v6, block.addr)), "{text:?}");
        let written = parse_ip(text.split('/').next().unwrap_or(""));
        if let Some(ip) = written.filter(|ip| !(block.v6 && mapped(*ip))) {
            assert!(block.holds(ip), "{text:?}");
        }
    }

    // The decision: no address denies; else listed XOR blacklist.
    let all = [
        IpSource::LastCaller,
        IpSource::XForwardedFor,
        IpSource::XRealIp,
    ];
    let sources: Vec<_> = input
        .sources
        .iter()
        .take(3)
        .map(|b| all[usize::from(*b % 3)])
        .collect();
    let check = IpCheck {
        blacklist: input.blacklist,
        ips: input.blocks.iter().filter_map(|b| Cidr::parse(b)).collect(),
        error_msg: String::new(),
        sources,
    };
    let allowed = allows(&check, &input);
    // The source read: the first that yields a value.
    let read_real_ip = check.sources.iter().find(|s| match s {
        IpSource::LastCaller => input
            .source_address
            .as_deref()
            .and_then(parse_endpoint)
            .is_some(),
        IpSource::XForwardedFor => input
            .forwarded_for
            .as_deref()
            .and_then(forwarded_for)
            .is_some(),
        IpSource::XRealIp => input.real_ip.is_some(),
    }) == Some(&IpSource::XRealIp);
    match client_ip(&check.sources, &input) {
        None => assert!(!allowed),
        Some(_) if read_real_ip && input.header_ambiguous("x-real-ip") => assert!(!allowed),
        Some(ip) => {
            let listed = ip.is_some_and(|ip| check.ips.iter().any(|b| b.holds(ip)));
            assert_eq!(allowed, listed != check.blacklist);
        }
    }
});
