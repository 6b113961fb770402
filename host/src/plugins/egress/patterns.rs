//! `allow_hosts` patterns, and which addresses are internal.

use std::net::IpAddr;
use std::sync::LazyLock;

use ipnet::IpNet;
use url::Url;

/// One `allow_hosts` entry: `scheme://host:port`, each part may be `*`;
/// the host may be `*.example.com`, an IP address or a CIDR range.
#[derive(Debug, Clone, PartialEq)]
pub struct HostPattern {
    text: String,
    scheme: Option<String>,
    host: HostMatch,
    port: Option<u16>,
}

#[derive(Debug, Clone, PartialEq)]
enum HostMatch {
    Any,
    Exact(String),
    Suffix(String),
    Net(IpNet),
}

impl HostPattern {
    pub fn parse(text: &str) -> Result<HostPattern, String> {
        let bad = |why: &str| format!("`{text}`: {why} (expected scheme://host:port)");
        let (scheme, rest) = text.split_once("://").ok_or_else(|| bad("no scheme"))?;
        let scheme = match scheme {
            "*" => None,
            "http" | "https" => Some(scheme.to_string()),
            _ => return Err(bad("the scheme must be http, https or *")),
        };
        let rest = rest.trim_end_matches('/');
        // `[v6]:port`, `host:port`, or `host` (the scheme's port).
        let (host, port) = if let Some(v6) = rest.strip_prefix('[') {
            let (h, p) = v6.split_once(']').ok_or_else(|| bad("unclosed `[`"))?;
            (h, p.strip_prefix(':'))
        } else if rest.matches(':').count() == 1 {
            let (h, p) = rest.split_once(':').unwrap();
            (h, Some(p))
        } else {
            (rest, None)
        };
        let port = match port {
            Some("*") => None,
            Some(p) => Some(p.parse().map_err(|_| bad("bad port"))?),
            None => match scheme.as_deref() {
                Some("http") => Some(80),
                Some("https") => Some(443),
                _ => None,
            },
        };
        let host = if host == "*" {
            HostMatch::Any
        } else if let Some(domain) = host.strip_prefix("*.") {
            HostMatch::Suffix(format!(".{}", domain.to_ascii_lowercase()))
        } else if let Ok(net) = host.parse::<IpNet>() {
            HostMatch::Net(net)
        } else if let Ok(ip) = host.parse::<IpAddr>() {
            HostMatch::Net(IpNet::from(ip))
        } else if host.is_empty() || host.contains(['/', '*', '@']) {
            return Err(bad("bad host"));
        } else {
            HostMatch::Exact(host.to_ascii_lowercase())
        };
        Ok(HostPattern {
            text: text.to_string(),
            scheme,
            host,
            port,
        })
    }

    /// Whether the host part is an IP address or range (not a name).
    pub(super) fn names_addresses(&self) -> bool {
        matches!(self.host, HostMatch::Net(_))
    }

    pub(super) fn matches(&self, url: &Url) -> bool {
        let scheme_ok = self.scheme.as_deref().is_none_or(|s| s == url.scheme());
        let port_ok = self
            .port
            .is_none_or(|p| Some(p) == url.port_or_known_default());
        let host_ok = match (&self.host, url.host()) {
            (HostMatch::Any, Some(_)) => true,
            (HostMatch::Exact(h), Some(url::Host::Domain(d))) => d.eq_ignore_ascii_case(h),
            (HostMatch::Suffix(s), Some(url::Host::Domain(d))) => {
                d.to_ascii_lowercase().ends_with(s.as_str())
            }
            (HostMatch::Net(net), Some(url::Host::Ipv4(ip))) => net.contains(&IpAddr::V4(ip)),
            (HostMatch::Net(net), Some(url::Host::Ipv6(ip))) => net.contains(&IpAddr::V6(ip)),
            _ => false,
        };
        scheme_ok && port_ok && host_ok
    }
}

impl std::fmt::Display for HostPattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

/// Ranges that are not the public internet: this host, private networks,
/// and the IPv6 forms that carry an IPv4 address a gateway may turn back
/// into an internal one (IPv4-compatible, NAT64, 6to4, Teredo).
const INTERNAL: &[&str] = &[
    "0.0.0.0/8",       // "this network"; 0.0.0.0 connects to this host
    "10.0.0.0/8",      // private
    "100.64.0.0/10",   // carrier-grade NAT
    "127.0.0.0/8",     // loopback
    "169.254.0.0/16",  // link local (cloud metadata)
    "172.16.0.0/12",   // private
    "192.0.0.0/24",    // IETF protocol assignments
    "192.0.2.0/24",    // documentation
    "192.88.99.0/24",  // 6to4 relays
    "192.168.0.0/16",  // private
    "198.18.0.0/15",   // benchmarking
    "198.51.100.0/24", // documentation
    "203.0.113.0/24",  // documentation
    "224.0.0.0/4",     // multicast
    "240.0.0.0/4",     // reserved, broadcast
    "::/96",           // unspecified, loopback, IPv4-compatible ::a.b.c.d
    "64:ff9b::/96",    // NAT64
    "64:ff9b:1::/48",  // local NAT64
    "100::/64",        // discard
    "2001::/23",       // IETF protocol assignments, Teredo
    "2001:db8::/32",   // documentation
    "2002::/16",       // 6to4
    "fc00::/7",        // unique local
    "fe80::/10",       // link local
    "fec0::/10",       // site local
    "ff00::/8",        // multicast
];

/// Whether `ip` is loopback, private, link-local or otherwise not public.
/// An IPv4-mapped IPv6 address is judged by its IPv4 address.
pub fn is_internal(ip: IpAddr) -> bool {
    static NETS: LazyLock<Vec<IpNet>> = LazyLock::new(|| {
        INTERNAL
            .iter()
            .map(|n| n.parse().expect("a valid range"))
            .collect()
    });
    if let IpAddr::V6(v6) = ip
        && let Some(v4) = v6.to_ipv4_mapped()
    {
        return is_internal(IpAddr::V4(v4));
    }
    NETS.iter().any(|net| net.contains(&ip))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_ranges() {
        for ip in [
            "127.0.0.1",
            "127.1.2.3",
            "0.0.0.0",
            "0.1.2.3",
            "10.0.0.1",
            "172.31.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "::127.0.0.1",
            "::ffff:192.168.1.1",
            "64:ff9b::7f00:1",
            "2002:7f00:1::1",
            "2001:0:4136:e378::1",
            "fd00::1",
            "fe80::1",
            "ff02::1",
        ] {
            assert!(is_internal(ip.parse().unwrap()), "{ip} is internal");
        }
        for ip in [
            "93.184.216.34",
            "8.8.8.8",
            "::ffff:8.8.8.8",
            "2606:4700::1111",
        ] {
            assert!(!is_internal(ip.parse().unwrap()), "{ip} is public");
        }
    }
}
