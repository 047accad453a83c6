//! Who the client is behind a reverse proxy: `--trusted-proxy CIDR` names the proxies whose
//! `Forwarded` (RFC 7239) or `X-Forwarded-For` headers are believed. For a peer outside those
//! networks the headers are ignored (anyone can write them), and the client is the peer.
//!
//! A chain of proxies appends one hop each, so the list reads client first, nearest proxy
//! last. Only the right end is trustworthy: the client is the right-most hop that is not a
//! trusted proxy. Everything left of it was written by that client and may be forged. A hop
//! that is not an address (`unknown`, an obfuscated `_name`, garbage) stops the walk: the
//! client is then the trusted proxy that reported it.
//!
//! The scheme the client used (`proto=` of that hop, or `X-Forwarded-Proto`) comes along, so
//! that a page served through a TLS-terminating proxy is recognised as the server's own.

use std::net::IpAddr;

use hyper::HeaderMap;

/// One network, as `ADDR/PREFIX` (a bare address is a single host).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    net: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Parses `10.0.0.0/8`, `::1/128`, `192.168.1.7` or `fd00::/8`.
    pub fn parse(text: &str) -> Result<Cidr, String> {
        let bad = || format!("`{text}` is not a network like 10.0.0.0/8, 127.0.0.1 or fd00::/8");
        let (addr, prefix) = match text.trim().split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (text.trim(), None),
        };
        let net: IpAddr = addr.parse().map_err(|_| bad())?;
        let net = net.to_canonical();
        let max = if net.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p.parse::<u8>().ok().filter(|&p| p <= max).ok_or_else(bad)?,
            None => max,
        };
        Ok(Cidr { net, prefix })
    }

    /// Whether `ip` is in this network.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.net, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.prefix)).unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(self.prefix)).unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// What the request says about its client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr {
    /// The client's address: the peer, or the hop a trusted proxy reported.
    pub ip: IpAddr,
    /// The scheme the client used, if a trusted proxy said so.
    pub https: Option<bool>,
    /// Whether the peer is a trusted proxy (its own address is not the client's).
    pub via_proxy: bool,
}

/// The `--trusted-proxy` networks.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies {
    nets: Vec<Cidr>,
}

impl TrustedProxies {
    /// From `--trusted-proxy` values.
    pub fn new(entries: &[String]) -> Result<TrustedProxies, String> {
        let nets = entries.iter().map(|e| Cidr::parse(e).map_err(|e| format!("--trusted-proxy {e}")));
        Ok(TrustedProxies { nets: nets.collect::<Result<_, _>>()? })
    }

    /// Whether no proxy is trusted.
    pub fn is_empty(&self) -> bool {
        self.nets.is_empty()
    }

    /// Whether `ip` is a trusted proxy.
    pub fn trusts(&self, ip: IpAddr) -> bool {
        self.nets.iter().any(|net| net.contains(ip))
    }

    /// The client of a request from `peer` with these headers.
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> ClientAddr {
        let peer = peer.to_canonical();
        if !self.trusts(peer) {
            return ClientAddr { ip: peer, https: None, via_proxy: false };
        }
        let hops = hops(headers);
        let mut client = ClientAddr { ip: peer, https: None, via_proxy: true };
        for hop in hops.iter().rev() {
            let Some(ip) = hop.ip else { break };
            client.ip = ip;
            client.https = hop.https.or(client.https);
            if !self.trusts(ip) {
                break;
            }
        }
        client
    }
}

/// One hop of a forwarding chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Hop {
    /// `None`: not an address (`unknown`, obfuscated, unparseable).
    ip: Option<IpAddr>,
    https: Option<bool>,
}

/// The hops, client first: `Forwarded` if present, else `X-Forwarded-For` (with
/// `X-Forwarded-Proto` lined up from the right).
fn hops(headers: &HeaderMap) -> Vec<Hop> {
    let values = |name: &str| -> Vec<String> {
        let lines = headers.get_all(name).iter().filter_map(|v| v.to_str().ok());
        lines.flat_map(|line| line.split(',')).map(|s| s.trim().to_owned()).collect()
    };
    let forwarded = values("forwarded");
    if !forwarded.is_empty() {
        return forwarded.iter().map(|element| forwarded_hop(element)).collect();
    }
    let ips = values("x-forwarded-for");
    let protos = values("x-forwarded-proto");
    let offset = ips.len().saturating_sub(protos.len());
    ips.iter()
        .enumerate()
        .map(|(i, ip)| Hop {
            ip: parse_node(ip),
            https: i.checked_sub(offset).and_then(|j| protos.get(j)).map(|p| p.eq_ignore_ascii_case("https")),
        })
        .collect()
}

/// One `Forwarded` element: `for=...;proto=...;by=...`, values optionally quoted.
fn forwarded_hop(element: &str) -> Hop {
    let mut hop = Hop { ip: None, https: None };
    for pair in element.split(';') {
        let Some((key, value)) = pair.split_once('=') else { continue };
        let value = value.trim().trim_matches('"');
        match key.trim().to_ascii_lowercase().as_str() {
            "for" => hop.ip = parse_node(value),
            "proto" => hop.https = Some(value.eq_ignore_ascii_case("https")),
            _ => {}
        }
    }
    hop
}

/// A node: `1.2.3.4`, `1.2.3.4:5678`, `[2001:db8::1]`, `[2001:db8::1]:80`, or a bare IPv6
/// address (as some proxies write `X-Forwarded-For`).
fn parse_node(text: &str) -> Option<IpAddr> {
    let text = text.trim();
    if let Some(rest) = text.strip_prefix('[') {
        return rest.split_once(']').and_then(|(ip, _)| ip.parse::<IpAddr>().ok()).map(|ip| ip.to_canonical());
    }
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Some(ip.to_canonical());
    }
    let (ip, port) = text.rsplit_once(':')?;
    port.parse::<u16>().ok()?;
    ip.parse::<std::net::Ipv4Addr>().ok().map(IpAddr::V4)
}

#[cfg(test)]
mod tests {
    use hyper::header::HeaderValue;

    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_str(value).expect("header value"));
        }
        map
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("an address")
    }

    #[test]
    fn networks_parse_and_match() {
        let lan = Cidr::parse("10.0.0.0/8").expect("cidr");
        assert!(lan.contains(ip("10.200.3.4")) && !lan.contains(ip("11.0.0.1")));
        assert!(lan.contains(ip("::ffff:10.1.2.3")), "v4-mapped counts as v4");
        let host = Cidr::parse("127.0.0.1").expect("host");
        assert!(host.contains(ip("127.0.0.1")) && !host.contains(ip("127.0.0.2")));
        let v6 = Cidr::parse("fd00::/8").expect("v6");
        assert!(v6.contains(ip("fd12::1")) && !v6.contains(ip("fe80::1")) && !v6.contains(ip("10.0.0.1")));
        assert!(Cidr::parse("0.0.0.0/0").expect("all").contains(ip("8.8.8.8")));
        for bad in ["10.0.0.0/33", "nope", "10.0.0/8", "::/129", ""] {
            assert!(Cidr::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn headers_from_an_untrusted_peer_are_ignored() {
        let proxies = TrustedProxies::new(&["127.0.0.1".into()]).expect("valid");
        let forged = headers(&[("x-forwarded-for", "1.2.3.4"), ("forwarded", "for=5.6.7.8")]);
        let client = proxies.client(ip("203.0.113.9"), &forged);
        assert_eq!(client, ClientAddr { ip: ip("203.0.113.9"), https: None, via_proxy: false });
        let none = TrustedProxies::default().client(ip("127.0.0.1"), &forged);
        assert_eq!(none.ip, ip("127.0.0.1"), "no --trusted-proxy: never believed");
    }

    #[test]
    fn the_right_most_untrusted_hop_is_the_client() {
        let proxies = TrustedProxies::new(&["127.0.0.1".into(), "10.0.0.0/8".into()]).expect("valid");
        // The client forged a first hop; the edge proxy (10.0.0.5) appended the real one.
        let chain = headers(&[("x-forwarded-for", "6.6.6.6, 198.51.100.7, 10.0.0.5")]);
        let client = proxies.client(ip("127.0.0.1"), &chain);
        assert_eq!(client.ip, ip("198.51.100.7"));
        assert!(client.via_proxy);
        // Several header lines are one list.
        let split = headers(&[("x-forwarded-for", "6.6.6.6"), ("x-forwarded-for", "198.51.100.7")]);
        assert_eq!(proxies.client(ip("127.0.0.1"), &split).ip, ip("198.51.100.7"));
        // Every hop trusted: the left-most is the client.
        let inside = headers(&[("x-forwarded-for", "10.1.1.1, 10.0.0.5")]);
        assert_eq!(proxies.client(ip("127.0.0.1"), &inside).ip, ip("10.1.1.1"));
        // No header: the proxy itself.
        assert_eq!(proxies.client(ip("127.0.0.1"), &HeaderMap::new()).ip, ip("127.0.0.1"));
    }

    #[test]
    fn forwarded_elements_with_ports_quotes_v6_and_proto() {
        let proxies = TrustedProxies::new(&["127.0.0.1".into()]).expect("valid");
        let h = headers(&[("forwarded", r#"for=6.6.6.6, for="[2001:db8:cafe::17]:4711";proto=https;by=10.0.0.1"#)]);
        let client = proxies.client(ip("127.0.0.1"), &h);
        assert_eq!(client.ip, ip("2001:db8:cafe::17"));
        assert_eq!(client.https, Some(true));
        let ported = headers(&[("forwarded", "for=192.0.2.60:8080;proto=http")]);
        assert_eq!(
            proxies.client(ip("127.0.0.1"), &ported),
            ClientAddr { ip: ip("192.0.2.60"), https: Some(false), via_proxy: true }
        );
        let xfp = headers(&[("x-forwarded-for", "192.0.2.61"), ("x-forwarded-proto", "https")]);
        assert_eq!(proxies.client(ip("127.0.0.1"), &xfp).https, Some(true));
    }

    #[test]
    fn a_hop_that_is_not_an_address_stops_the_walk() {
        let proxies = TrustedProxies::new(&["127.0.0.1".into(), "10.0.0.0/8".into()]).expect("valid");
        for value in ["for=unknown, for=10.0.0.2", "for=_hidden, for=10.0.0.2", "for=garbage!, for=10.0.0.2"] {
            let client = proxies.client(ip("127.0.0.1"), &headers(&[("forwarded", value)]));
            assert_eq!(client.ip, ip("10.0.0.2"), "{value}");
        }
    }
}
