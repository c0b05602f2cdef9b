//! The client's address: the peer's, or, behind trusted proxies, the one they forwarded.

use std::net::{IpAddr, SocketAddr};

use crate::config::Cidr;

/// The proxies whose `X-Forwarded-For` is believed (`[server] trusted_proxies`).
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Vec<Cidr>);

impl TrustedProxies {
    pub fn new(ranges: Vec<Cidr>) -> Self {
        Self(ranges)
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|range| range.contains(ip))
    }

    /// The client of a request from `peer` with these `X-Forwarded-For` values (in header
    /// order): the peer if it is not a trusted proxy; else the rightmost forwarded address that
    /// is not one (each trusted hop appends the address it saw, so everything left of the first
    /// untrusted one is the client's to invent). An unreadable entry stops the walk at the last
    /// trusted hop.
    pub fn client<'a>(&self, peer: IpAddr, forwarded: impl Iterator<Item = &'a str>) -> IpAddr {
        let mut client = peer.to_canonical();
        if !self.trusts(client) {
            return client;
        }
        let hops: Vec<&str> = forwarded.flat_map(|value| value.split(',')).collect();
        for hop in hops.into_iter().rev() {
            let Some(ip) = parse_hop(hop) else {
                break;
            };
            client = ip;
            if !self.trusts(ip) {
                break;
            }
        }
        client
    }

    /// The client address of `req`, as text (`None` without a socket peer).
    pub fn client_addr(&self, req: &poem::Request) -> Option<String> {
        let peer = req.remote_addr().as_socket_addr()?.ip();
        let forwarded = req
            .headers()
            .get_all("x-forwarded-for")
            .into_iter()
            .filter_map(|value| value.to_str().ok());
        Some(self.client(peer, forwarded).to_string())
    }
}

/// One `X-Forwarded-For` entry: an address, maybe with a port (`192.0.2.1:4711`, `[2001:db8::1]:80`).
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    hop.parse::<IpAddr>()
        .or_else(|_| hop.parse::<SocketAddr>().map(|a| a.ip()))
        .ok()
        .map(|ip| ip.to_canonical())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proxies(ranges: &[&str]) -> TrustedProxies {
        TrustedProxies::new(ranges.iter().map(|r| r.parse().unwrap()).collect())
    }

    fn ip(raw: &str) -> IpAddr {
        raw.parse().unwrap()
    }

    #[test]
    fn forwarded_addresses_are_believed_only_from_trusted_proxies() {
        let none = TrustedProxies::default();
        let spoofed = ["198.51.100.9"];
        assert_eq!(
            none.client(ip("203.0.113.7"), spoofed.into_iter()),
            ip("203.0.113.7")
        );
        let lb = proxies(&["10.0.0.0/8"]);
        assert_eq!(
            lb.client(ip("203.0.113.7"), spoofed.into_iter()),
            ip("203.0.113.7"),
            "an untrusted peer's header is ignored"
        );
        assert_eq!(
            lb.client(ip("10.0.0.5"), ["198.51.100.9"].into_iter()),
            ip("198.51.100.9")
        );
        assert_eq!(
            lb.client(ip("10.0.0.5"), std::iter::empty()),
            ip("10.0.0.5"),
            "no header: the proxy itself"
        );
    }

    #[test]
    fn the_rightmost_untrusted_hop_is_the_client() {
        let lb = proxies(&["10.0.0.0/8", "192.0.2.1"]);
        // The client invented the first two; the proxies appended the rest.
        let header = [
            "1.1.1.1, 6.6.6.6",
            "198.51.100.9:5123, 10.1.1.1",
            "192.0.2.1",
        ];
        assert_eq!(
            lb.client(ip("10.0.0.5"), header.into_iter()),
            ip("198.51.100.9")
        );
        assert_eq!(
            lb.client(ip("10.0.0.5"), ["[2001:db8::7]:443"].into_iter()),
            ip("2001:db8::7")
        );
        assert_eq!(
            lb.client(ip("10.0.0.5"), ["garbage, 10.2.2.2"].into_iter()),
            ip("10.2.2.2"),
            "an unreadable hop stops at the last trusted one"
        );
        assert_eq!(
            lb.client(ip("::ffff:10.0.0.5"), ["198.51.100.9"].into_iter()),
            ip("198.51.100.9"),
            "IPv4-mapped peers"
        );
    }
}
