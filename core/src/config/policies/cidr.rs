//! IP addresses and CIDR blocks for `ip_check` (IPv4 and IPv6; APIcast's library reads IPv4
//! only). An IPv4-mapped IPv6 address (`::ffff:1.2.3.4`) counts as its IPv4 address. Parsed
//! by hand: std's parser costs about 4 KB of module.

/// `10.0.0.0/8`, `2001:db8::/32`, or one address (a full-length prefix).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    pub v6: bool,
    /// The network address, host bits cleared (an IPv4 address in the low 32 bits).
    pub addr: u128,
    pub prefix: u8,
}

impl Cidr {
    /// `None` for anything but an address with an optional `/prefix` in range.
    pub fn parse(text: &str) -> Option<Cidr> {
        let (ip, prefix) = match text.split_once('/') {
            Some((ip, prefix)) => (ip, Some(prefix)),
            None => (text, None),
        };
        let (v6, addr) = parse_ip(ip)?;
        let max = if v6 { 128 } else { 32 };
        let prefix = match prefix {
            None => max,
            Some(p) => decimal(p, 3).filter(|p| *p <= u32::from(max))? as u8,
        };
        Some(Cidr {
            v6,
            addr: addr & mask(prefix, max),
            prefix,
        })
    }

    /// Whether the address `ip` (as [`parse_ip`] reads it) is in the block.
    pub fn contains(&self, ip: &str) -> bool {
        let Some((mut v6, mut addr)) = parse_ip(ip) else {
            return false;
        };
        if v6 && addr >> 32 == 0xffff {
            (v6, addr) = (false, addr & 0xffff_ffff);
        }
        let max = if v6 { 128 } else { 32 };
        v6 == self.v6 && addr & mask(self.prefix, max) == self.addr
    }
}

/// An IPv4 (dotted quad, no leading zeros) or IPv6 address: (is IPv6, its bits).
pub fn parse_ip(text: &str) -> Option<(bool, u128)> {
    if !text.contains(':') {
        return ipv4(text).map(|a| (false, u128::from(a)));
    }
    let (head, tail) = match text.split_once("::") {
        Some((head, tail)) => (head, Some(tail)),
        None => (text, None),
    };
    let mut groups = Vec::new();
    let mut head_len = 0;
    for (i, side) in [Some(head), tail].into_iter().flatten().enumerate() {
        if !side.is_empty() {
            let mut parts = side.split(':').peekable();
            while let Some(part) = parts.next() {
                let last = parts.peek().is_none() && (tail.is_none() || i == 1);
                match ipv4(part).filter(|_| last) {
                    Some(v4) => groups.extend([(v4 >> 16) as u16, v4 as u16]),
                    None => groups.push(hex16(part)?),
                }
            }
        }
        if i == 0 {
            head_len = groups.len();
        }
    }
    let missing = 8usize.checked_sub(groups.len())?;
    if (tail.is_some() && missing == 0) || (tail.is_none() && missing != 0) {
        return None;
    }
    let bits = groups.iter().enumerate().fold(0u128, |acc, (i, g)| {
        let at = if i < head_len { i } else { i + missing };
        acc | u128::from(*g) << (112 - 16 * at)
    });
    Some((true, bits))
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
        assert_eq!(host.prefix, 32);
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
        assert_eq!(Cidr::parse("::1/128").unwrap().prefix, 128);
        assert_eq!(Cidr::parse("10.0.0.0/0").unwrap().addr, 0);
    }
}
