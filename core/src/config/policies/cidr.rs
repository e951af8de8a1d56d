//! IP addresses and CIDR blocks for `ip_check` (IPv4 and IPv6; APIcast's library reads IPv4
//! only), and the client addresses a request carries (Envoy's `source.address`, the headers
//! `X-Forwarded-For` and `X-Real-IP`). An IPv4-mapped IPv6 address (`::ffff:1.2.3.4`) counts as
//! its IPv4 address. Parsed by hand: std's parser costs about 4 KB of module.

/// An address: (is IPv6, its bits; an IPv4 address in the low 32 bits).
pub type Ip = (bool, u128);

/// `10.0.0.0/8`, `2001:db8::/32`, or one address (a full-length prefix).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    pub v6: bool,
    /// The network address, host bits cleared (an IPv4 address in the low 32 bits).
    pub addr: u128,
    /// The network bits.
    pub mask: u128,
}

impl Cidr {
    /// `None` for anything but an address with an optional `/prefix` in range.
    pub fn parse(text: &str) -> Option<Cidr> {
        let (ip, prefix) = match text.split_once('/') {
            Some((ip, prefix)) => (ip, Some(prefix)),
            None => (text, None),
        };
        let (mut v6, mut addr) = parse_ip(ip)?;
        let mut max = if v6 { 128 } else { 32 };
        let mut prefix = match prefix {
            None => max,
            Some(p) => decimal(p, 3).filter(|p| *p <= u32::from(max))? as u8,
        };
        // `::ffff:a.b.c.d/(96+n)` is the IPv4 block `a.b.c.d/n`: clients are compared as IPv4.
        if v6 && addr >> 32 == 0xffff && prefix >= 96 {
            (v6, addr, prefix, max) = (false, addr & 0xffff_ffff, prefix - 96, 32);
        }
        let mask = mask(prefix, max);
        Some(Cidr {
            v6,
            addr: addr & mask,
            mask,
        })
    }

    /// Whether the address `ip` (as [`parse_ip`] reads it) is in the block.
    pub fn contains(&self, ip: &str) -> bool {
        parse_ip(ip).is_some_and(|ip| self.holds(ip))
    }

    /// Whether the address is in the block.
    pub fn holds(&self, (mut v6, mut addr): Ip) -> bool {
        if v6 && addr >> 32 == 0xffff {
            (v6, addr) = (false, addr & 0xffff_ffff);
        }
        v6 == self.v6 && addr & self.mask == self.addr
    }
}

/// An address with an optional port, as Envoy writes `source.address` (`10.0.0.1:5678`,
/// `[::1]:5678`) and proxies write `X-Forwarded-For` elements (`10.0.0.1`, `2001:db8::1`,
/// `[2001:db8::1]:80`). What follows a port's colon is not read (APIcast ignores an invalid
/// port). `None`: no IP address (a pipe path, a name, garbage).
pub fn parse_endpoint(text: &str) -> Option<Ip> {
    if let Some(ip) = parse_ip(text) {
        return Some(ip);
    }
    match text.strip_prefix('[') {
        Some(rest) => parse_ip(rest.split_once(']')?.0),
        // An IPv6 address without brackets parsed above.
        None => parse_ip(text.split_once(':')?.0),
    }
}

/// The client address of an `X-Forwarded-For` value as APIcast reads it: its first
/// comma-separated element, spaces trimmed, without a port. `None`: that element is empty (the
/// header yields no address); `Some(None)`: it is not an IP address.
pub fn forwarded_for(value: &str) -> Option<Option<Ip>> {
    let first = value.split(',').next()?.trim();
    (!first.is_empty()).then(|| parse_endpoint(first))
}

/// An IPv4 (dotted quad, no leading zeros) or IPv6 address: (is IPv6, its bits).
pub fn parse_ip(text: &str) -> Option<Ip> {
    if !text.contains(':') {
        return ipv4(text).map(|a| (false, u128::from(a)));
    }
    let bits = match text.split_once("::") {
        None => groups(text, true).filter(|(_, n)| *n == 8)?.0,
        Some((head, tail)) => {
            let (head, n) = groups(head, false)?;
            let (tail, m) = groups(tail, true)?;
            if n + m > 7 {
                return None;
            }
            head.checked_shl(16 * (8 - n)).unwrap_or(0) | tail
        }
    };
    Some((true, bits))
}

/// Colon-separated hex groups (the last may be a dotted quad when `v4_last`): their bits and
/// how many 16-bit groups they make. Empty: none.
fn groups(text: &str, v4_last: bool) -> Option<(u128, u32)> {
    let (mut bits, mut n) = (0u128, 0);
    if text.is_empty() {
        return Some((bits, n));
    }
    let mut parts = text.split(':').peekable();
    while let Some(part) = parts.next() {
        match ipv4(part).filter(|_| v4_last && parts.peek().is_none()) {
            Some(v4) => (bits, n) = (bits << 32 | u128::from(v4), n + 2),
            None => (bits, n) = (bits << 16 | u128::from(hex16(part)?), n + 1),
        }
        if n > 8 {
            return None;
        }
    }
    Some((bits, n))
}

fn ipv4(text: &str) -> Option<u32> {
    let mut addr = 0u32;
    let mut count = 0;
    for part in text.split('.') {
        if part.len() > 1 && part.starts_with('0') {
            return None;
        }
        addr = addr << 8 | decimal(part, 3).filter(|v| *v <= 255)?;
        count += 1;
    }
    (count == 4).then_some(addr)
}

/// 1 to `max_digits` ASCII digits.
fn decimal(text: &str, max_digits: usize) -> Option<u32> {
    if text.is_empty() || text.len() > max_digits {
        return None;
    }
    text.bytes().try_fold(0u32, |n, b| {
        b.is_ascii_digit().then(|| n * 10 + u32::from(b - b'0'))
    })
}

fn hex16(text: &str) -> Option<u16> {
    if text.is_empty() || text.len() > 4 {
        return None;
    }
    text.bytes().try_fold(0u16, |n, b| {
        char::from(b).to_digit(16).map(|d| n << 4 | d as u16)
    })
}

/// The network bits of an address `max` bits long.
fn mask(prefix: u8, max: u8) -> u128 {
    let all = u128::MAX >> (128 - u32::from(max));
    all.checked_shl(u32::from(max - prefix.min(max)))
        .unwrap_or(0)
        & all
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_and_addresses() {
        let net = Cidr::parse("10.1.0.0/16").unwrap();
        assert!(net.contains("10.1.200.3"));
        assert!(!net.contains("10.2.0.1"));
        assert!(net.contains("::ffff:10.1.0.9"));
        assert!(!net.contains("garbage"));
        let host = Cidr::parse("2.2.2.2").unwrap();
        assert_eq!(host.mask, 0xffff_ffff);
        assert!(host.contains("2.2.2.2"));
        assert!(!host.contains("2.2.2.3"));
        // Host bits are cleared, as resty.iputils does.
        assert!(Cidr::parse("1.1.1.0/4").unwrap().contains("15.0.0.1"));
        let v6 = Cidr::parse("2001:db8::/32").unwrap();
        assert!(v6.contains("2001:db8:ffff::1"));
        assert!(!v6.contains("2001:db9::1"));
        assert!(!v6.contains("10.0.0.1"));
        assert!(Cidr::parse("0.0.0.0/0").unwrap().contains("203.0.113.7"));
        assert!(Cidr::parse("::/0").unwrap().contains("fe80::1"));
        // A block of IPv4-mapped addresses is the IPv4 block (clients are compared as IPv4).
        assert_eq!(
            Cidr::parse("::ffff:10.0.0.0/104"),
            Cidr::parse("10.0.0.0/8")
        );
        assert_eq!(Cidr::parse("::ffff:1.2.3.4"), Cidr::parse("1.2.3.4"));
        assert!(Cidr::parse("::ffff:1.2.3.4")
            .unwrap()
            .contains("::ffff:1.2.3.4"));
        assert!(!Cidr::parse("::/0").unwrap().contains("10.0.0.1"));
    }

    #[test]
    fn ip_addresses_read_as_std_does() {
        for ok in [
            "::",
            "::1",
            "1::",
            "fe80::1:2",
            "2001:db8:0:0:1:0:0:1",
            "1:2:3:4:5:6:7:8",
            "::ffff:1.2.3.4",
            "1:2:3:4:5:6:1.2.3.4",
            "64:ff9b::192.0.2.33",
            "1:2:3:4:5:6:7::",
            "::2:3:4:5:6:7:8",
            "ABCD:ef01::",
            "0.0.0.0",
            "255.255.255.255",
            "10.0.0.1",
        ] {
            let std: std::net::IpAddr = ok.parse().unwrap();
            let bits = match std {
                std::net::IpAddr::V4(a) => (false, u128::from(u32::from(a))),
                std::net::IpAddr::V6(a) => (true, u128::from(a)),
            };
            assert_eq!(parse_ip(ok), Some(bits), "{ok}");
        }
        for bad in [
            "",
            ":",
            ":::",
            "1:::2",
            "1::2::3",
            ":1::",
            "1:2:3:4:5:6:7:8:9",
            "1:2:3:4:5:6:7",
            "1:2:3:4:5:6:7:8::",
            "12345::",
            "g::",
            "1.2.3.4::",
            "::1.2.3",
            "1.2.3",
            "1.2.3.4.5",
            "256.0.0.1",
            "01.2.3.4",
            "1.2.3.-4",
            "+1.2.3.4",
            " 1.2.3.4",
            "1:2:3:4:5:6:7:1.2.3.4",
        ] {
            assert_eq!(parse_ip(bad), None, "{bad:?}");
            assert!(
                bad.parse::<std::net::IpAddr>().is_err(),
                "std accepts {bad:?}"
            );
        }
    }

    #[test]
    fn endpoints_as_envoy_and_proxies_write_them() {
        let v4 = |a: [u8; 4]| Some((false, u128::from(u32::from_be_bytes(a))));
        let v6 = |t: &str| Some((true, u128::from(t.parse::<std::net::Ipv6Addr>().unwrap())));
        assert_eq!(parse_endpoint("127.0.0.1:38138"), v4([127, 0, 0, 1]));
        assert_eq!(parse_endpoint("6.6.6.6:0"), v4([6, 6, 6, 6]));
        assert_eq!(parse_endpoint("[::1]:59944"), v6("::1"));
        assert_eq!(parse_endpoint("[2001:db8::5]:0"), v6("2001:db8::5"));
        assert_eq!(parse_endpoint("2001:db8::5"), v6("2001:db8::5"));
        assert_eq!(parse_endpoint("[2001:db8::5]"), v6("2001:db8::5"));
        // APIcast's client_ip_spec: an invalid or out-of-range port is ignored.
        assert_eq!(parse_endpoint("1.2.3.4:foo"), v4([1, 2, 3, 4]));
        assert_eq!(parse_endpoint("1.2.3.4:99999"), v4([1, 2, 3, 4]));
        for bad in [
            "",
            "/tmp/envoy.sock",
            "@abstract",
            "example.com:80",
            "[::1",
            "[1.2.3.4.5]:80",
            "::1]:80",
            ":80",
            "1.2.3:80",
            " 1.2.3.4",
        ] {
            assert_eq!(parse_endpoint(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn forwarded_for_is_its_first_element() {
        let ip = |t: &str| parse_ip(t);
        // APIcast's TEST 9 and client_ip_spec.
        assert_eq!(forwarded_for("1.2.3.4"), Some(ip("1.2.3.4")));
        assert_eq!(forwarded_for("6.6.6.6, 1.2.3.4"), Some(ip("6.6.6.6")));
        assert_eq!(forwarded_for("1.2.3.4:1000"), Some(ip("1.2.3.4")));
        assert_eq!(forwarded_for(" \t9.9.9.9 ,1.1.1.1"), Some(ip("9.9.9.9")));
        assert_eq!(
            forwarded_for("2001:db8::1,10.0.0.1"),
            Some(ip("2001:db8::1"))
        );
        assert_eq!(
            forwarded_for("[2001:4860:4860::8888]:8080"),
            Some(ip("2001:4860:4860::8888"))
        );
        // Present but not an address: "in no block".
        assert_eq!(forwarded_for("unknown, 1.2.3.4"), Some(None));
        assert_eq!(forwarded_for("_hidden"), Some(None));
        // An empty first element yields no address: the next source is asked.
        for none in ["", " ", ",", ", 9.9.9.9", " ,1.2.3.4"] {
            assert_eq!(forwarded_for(none), None, "{none:?}");
        }
    }

    #[test]
    fn invalid_blocks_are_refused() {
        for bad in [
            "",
            "1.2.3",
            "1.2.3.4/33",
            "1.2.3.4/",
            "1.2.3.4/+8",
            "256.0.0.1",
            "::1/129",
            "10.0.0.0/8/8",
            "example.com",
            "1.2.3.4/0008",
            "1.2.3.4/-1",
        ] {
            assert_eq!(Cidr::parse(bad), None, "{bad:?}");
        }
        assert_eq!(Cidr::parse("::1/128").unwrap().mask, u128::MAX);
        assert_eq!(Cidr::parse("2001:db8::/32").unwrap().mask, u128::MAX << 96);
        assert_eq!(Cidr::parse("10.0.0.0/8").unwrap().mask, 0xff00_0000);
        assert_eq!(Cidr::parse("10.0.0.0/0").unwrap().addr, 0);
    }
}
