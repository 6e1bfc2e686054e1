//! Which addresses a delivery may be sent to.
//!
//! A webhook URL is chosen by staff, so without a rule kassa could be made to POST into the
//! network it runs in (its database, a cloud metadata service, a neighbour's admin port). Unless
//! `allow_private_targets` is set, an address is refused when it is loopback, private (RFC 1918,
//! IPv6 unique local `fc00::/7`), link-local (which holds the cloud metadata addresses),
//! unspecified (`0.0.0.0/8`, `::`), shared address space (CGNAT `100.64.0.0/10`), multicast, or
//! the IPv4 broadcast address — or an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`) of any of
//! those. The check runs at registration for IP-literal hosts and at every delivery for every
//! address a host name resolves to, by the HTTP client's own resolver, so a name that resolves
//! to a public address when registered and to a private one later (DNS rebinding) is still
//! refused, and the connection only ever goes to an address that was checked.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Why `ip` may not be a webhook target, or `None` when it may.
pub fn refusal(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => refusal_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => refusal_v4(v4),
            None => refusal_v6(v6),
        },
    }
}

fn refusal_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, ..] = ip.octets();
    if ip.is_loopback() {
        Some("a loopback address")
    } else if ip.is_private() {
        Some("a private address")
    } else if ip.is_link_local() {
        Some("a link-local address")
    } else if a == 0 {
        Some("an unspecified address")
    } else if a == 100 && (64..128).contains(&b) {
        Some("a shared (CGNAT) address")
    } else if ip.is_multicast() {
        Some("a multicast address")
    } else if ip.is_broadcast() {
        Some("the broadcast address")
    } else {
        None
    }
}

fn refusal_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let first = ip.segments()[0];
    if ip.is_loopback() {
        Some("a loopback address")
    } else if ip.is_unspecified() {
        Some("an unspecified address")
    } else if first & 0xfe00 == 0xfc00 {
        Some("a private (unique local) address")
    } else if first & 0xffc0 == 0xfe80 {
        Some("a link-local address")
    } else if ip.is_multicast() {
        Some("a multicast address")
    } else {
        None
    }
}

/// A target address refused by [`refusal`]; the error an attempt records.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "target refused: {host} is {ip}, {reason}; private targets are not allowed \
     (webhooks.allow_private_targets)"
)]
pub struct TargetRefused {
    /// The URL's host as written (a name or an IP literal).
    pub host: String,
    pub ip: IpAddr,
    pub reason: &'static str,
}

/// `Err` when `allow_private` is false and some address of `host` is refused; the first
/// refused address is named.
pub fn check(
    host: &str,
    ips: impl IntoIterator<Item = IpAddr>,
    allow_private: bool,
) -> Result<(), TargetRefused> {
    if allow_private {
        return Ok(());
    }
    for ip in ips {
        if let Some(reason) = refusal(ip) {
            return Err(TargetRefused {
                host: host.to_owned(),
                ip,
                reason,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(ip: &str) -> bool {
        refusal(ip.parse().unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))).is_some()
    }

    #[test]
    fn internal_ranges_are_refused_on_both_sides_of_their_edges() {
        for ip in [
            "127.0.0.1",
            "127.255.255.254",
            "10.0.0.1",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "0.1.2.3",
            "100.64.0.1",
            "100.127.255.255",
            "224.0.0.1",
            "239.255.255.255",
            "255.255.255.255",
            "::1",
            "::",
            "fc00::1",
            "fdff:ffff::1",
            "fe80::1",
            "febf::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:10.1.2.3",
            "::ffff:169.254.169.254",
        ] {
            assert!(refused(ip), "{ip} was allowed");
        }
        for ip in [
            "93.184.216.34",
            "8.8.8.8",
            "172.15.255.255",
            "172.32.0.0",
            "100.63.255.255",
            "100.128.0.0",
            "192.169.0.1",
            "169.255.0.1",
            "1.0.0.1",
            "2606:4700:4700::1111",
            "fbff::1",
            "fec0::1",
            "::ffff:93.184.216.34",
        ] {
            assert!(!refused(ip), "{ip} was refused");
        }
    }

    #[test]
    fn a_check_names_the_first_refused_address_unless_private_targets_are_allowed() {
        let ips: Vec<IpAddr> = vec![
            "93.184.216.34"
                .parse()
                .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
            "10.0.0.7"
                .parse()
                .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
        ];
        let err = check("shop.example", ips.clone(), false).err();
        assert_eq!(
            err.as_ref().map(|e| e.ip.to_string()).as_deref(),
            Some("10.0.0.7")
        );
        assert!(err.is_some_and(|e| e.to_string().contains("a private address")));
        assert!(check("shop.example", ips, true).is_ok());
    }
}
