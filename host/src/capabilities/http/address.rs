//! Which addresses a bot's request may connect to: none of the host's own, its private networks
//! or a cloud's metadata service, unless the tenant's allowlist names the address itself.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Why a bot may not connect to `ip` by default, or `None` for a public address.
pub fn restricted_range(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(ip) => restricted_v4(ip),
        IpAddr::V6(ip) => match ip.to_ipv4_mapped() {
            Some(v4) => restricted_v4(v4),
            None => restricted_v6(ip),
        },
    }
}

fn restricted_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    Some(if ip.is_loopback() {
        "loopback"
    } else if ip == Ipv4Addr::new(169, 254, 169, 254) || ip == Ipv4Addr::new(100, 100, 100, 200) {
        "cloud metadata"
    } else if ip.is_private() {
        "private"
    } else if ip.is_link_local() {
        "link-local"
    } else if a == 100 && (64..128).contains(&b) {
        "shared address space (carrier-grade NAT)"
    } else if a == 0 || ip.is_broadcast() || ip.is_multicast() || a >= 240 {
        "not a unicast address"
    } else if a == 192 && b == 0 && c == 0 {
        "IETF protocol assignments"
    } else if a == 198 && (b == 18 || b == 19) {
        "benchmarking"
    } else {
        return None;
    })
}

fn restricted_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let first = ip.segments()[0];
    Some(if ip.is_loopback() {
        "loopback"
    } else if ip.is_unspecified() || ip.is_multicast() {
        "not a unicast address"
    } else if ip == Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254) {
        "cloud metadata"
    } else if first & 0xfe00 == 0xfc00 {
        "private (unique local)"
    } else if first & 0xffc0 == 0xfe80 {
        "link-local"
    } else if first & 0xffc0 == 0xfec0 {
        "site-local (deprecated)"
    } else if first == 0x64 && ip.segments()[1] == 0xff9b && ip.segments()[2] == 1 {
        // RFC 8215: NAT64 prefixes of a local network, translating to its own addresses.
        "NAT64 for local use"
    } else if first == 0x64 && ip.segments()[1] == 0xff9b {
        // NAT64 embeds an IPv4 address, which may be a private one.
        let [.., a, b, c, d] = ip.octets();
        return restricted_v4(Ipv4Addr::new(a, b, c, d));
    } else if ip.to_ipv4().is_some() {
        // IPv4-compatible (deprecated) addresses.
        "IPv4-compatible"
    } else {
        return None;
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(ip: &str) -> Option<&'static str> {
        restricted_range(ip.parse().unwrap())
    }

    #[test]
    fn loopback_private_link_local_and_metadata_are_restricted() {
        assert_eq!(reason("127.0.0.1"), Some("loopback"));
        assert_eq!(reason("127.8.9.10"), Some("loopback"));
        assert_eq!(reason("::1"), Some("loopback"));
        assert_eq!(reason("::ffff:127.0.0.1"), Some("loopback"));
        assert_eq!(reason("10.1.2.3"), Some("private"));
        assert_eq!(reason("172.16.0.1"), Some("private"));
        assert_eq!(reason("192.168.1.1"), Some("private"));
        assert_eq!(reason("169.254.169.254"), Some("cloud metadata"));
        assert_eq!(reason("fd00:ec2::254"), Some("cloud metadata"));
        assert_eq!(reason("169.254.1.1"), Some("link-local"));
        assert_eq!(reason("fe80::1"), Some("link-local"));
        assert_eq!(reason("fd12:3456::1"), Some("private (unique local)"));
        assert_eq!(
            reason("100.64.0.1"),
            Some("shared address space (carrier-grade NAT)")
        );
        assert_eq!(reason("0.0.0.0"), Some("not a unicast address"));
        assert_eq!(reason("::"), Some("not a unicast address"));
        assert_eq!(reason("64:ff9b::10.0.0.1"), Some("private"));
        assert_eq!(reason("fec0::1"), Some("site-local (deprecated)"));
        assert_eq!(reason("feff:ffff::1"), Some("site-local (deprecated)"));
        assert_eq!(reason("64:ff9b:1::8.8.8.8"), Some("NAT64 for local use"));
        assert_eq!(reason("64:ff9b:1:ffff::1"), Some("NAT64 for local use"));
        assert_eq!(
            reason("64:ff9b::8.8.8.8"),
            None,
            "the well-known prefix, public"
        );
    }

    #[test]
    fn public_addresses_are_not() {
        for ip in [
            "93.184.216.34",
            "8.8.8.8",
            "2606:2800:220:1::1",
            "172.32.0.1",
        ] {
            assert_eq!(reason(ip), None, "{ip}");
        }
    }
}
