//! `http-fetch`, the only network a plugin has, and the allowlist that
//! guards it.
//!
//! A request passes three checks: its URL must match a granted
//! `scheme://host:port` pattern; every address its host name resolves to
//! must be public, or covered by a grant that names that address (an IP
//! literal or CIDR): a granted *name* never opens loopback or private
//! ranges, so DNS cannot be used to reach inside; and every redirect is
//! checked again. The connection goes to the addresses checked (a resolver
//! that applies the same rule), not to a second lookup's answer.

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

use ipnet::IpNet;
use reqwest::blocking::Client;
use url::Url;

/// The most redirects one fetch follows.
const MAX_REDIRECTS: usize = 5;

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

    fn matches(&self, url: &Url) -> bool {
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

/// Loopback, private, link-local, unspecified and other non-public ranges.
fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.octets()[0] == 100 && (v4.octets()[1] & 0xc0) == 64 // CGNAT
        }
        IpAddr::V6(v6) => {
            v6.is_loopback()
                || v6.is_unspecified()
                || (v6.segments()[0] & 0xfe00) == 0xfc00 // unique local
                || (v6.segments()[0] & 0xffc0) == 0xfe80 // link local
                || v6.to_ipv4_mapped().is_some_and(|v4| is_internal(IpAddr::V4(v4)))
        }
    }
}

/// Why a request was refused or failed.
#[derive(Debug)]
pub enum FetchError {
    /// A check refused it (not retryable).
    Denied(String),
    /// The request itself was malformed.
    Invalid(String),
    /// Connection errors and timeouts (retryable).
    Unavailable(String),
}

/// A response, its body capped.
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// One plugin's outbound HTTP, under its grants.
pub struct Egress {
    allow: Arc<Vec<HostPattern>>,
    client: Client,
}

impl Egress {
    pub fn new(allow: Vec<HostPattern>) -> Result<Egress, String> {
        let allow = Arc::new(allow);
        let for_redirects = allow.clone();
        let client = Client::builder()
            .dns_resolver(Arc::new(Resolver {
                allow: allow.clone(),
            }))
            .redirect(reqwest::redirect::Policy::custom(move |attempt| {
                if attempt.previous().len() > MAX_REDIRECTS {
                    return attempt.error(format!("more than {MAX_REDIRECTS} redirects"));
                }
                match check_url(&for_redirects, attempt.url()) {
                    Ok(()) => attempt.follow(),
                    Err(why) => attempt.error(format!("redirect refused: {why}")),
                }
            }))
            .user_agent(concat!("keystep/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        Ok(Egress { allow, client })
    }

    /// Sends a request; `timeout` bounds connect, send and the whole body.
    pub fn fetch(
        &self,
        method: &str,
        url: &str,
        headers: &[(String, String)],
        body: Option<Vec<u8>>,
        timeout: Duration,
        max_body: usize,
    ) -> Result<Response, FetchError> {
        let parsed = Url::parse(url).map_err(|e| FetchError::Invalid(format!("`{url}`: {e}")))?;
        check_url(&self.allow, &parsed).map_err(FetchError::Denied)?;
        check_addresses(&self.allow, &parsed).map_err(FetchError::Denied)?;
        let method = reqwest::Method::from_bytes(method.as_bytes())
            .map_err(|_| FetchError::Invalid(format!("bad method `{method}`")))?;
        let mut request = self.client.request(method, parsed).timeout(timeout);
        for (name, value) in headers {
            request = request.header(name, value);
        }
        if let Some(body) = body {
            request = request.body(body);
        }
        let response = request.send().map_err(|e| describe(url, timeout, e))?;
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .map(|(k, v)| (k.to_string(), String::from_utf8_lossy(v.as_bytes()).into()))
            .collect();
        let mut body = Vec::new();
        use std::io::Read;
        response
            .take(max_body as u64 + 1)
            .read_to_end(&mut body)
            .map_err(|e| FetchError::Unavailable(format!("{url}: reading the body: {e}")))?;
        if body.len() > max_body {
            return Err(FetchError::Denied(format!(
                "{url}: the response body is larger than {max_body} bytes"
            )));
        }
        Ok(Response {
            status,
            headers,
            body,
        })
    }
}

/// The error for a failed send, naming what went wrong in plain words.
fn describe(url: &str, timeout: Duration, e: reqwest::Error) -> FetchError {
    // reqwest wraps our own refusals (resolver, redirect policy).
    let mut chain = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        chain.push_str(": ");
        chain.push_str(&s.to_string());
        source = s.source();
    }
    if chain.contains("refused:") || chain.contains("not in allow_hosts") {
        let why = chain
            .split(": ")
            .skip_while(|p| !p.contains("refused") && !p.contains("allow_hosts"))
            .collect::<Vec<_>>()
            .join(": ");
        return FetchError::Denied(why);
    }
    if e.is_timeout() {
        return FetchError::Unavailable(format!(
            "{url}: no answer within {} ms",
            timeout.as_millis()
        ));
    }
    FetchError::Unavailable(format!("{url}: {chain}"))
}

/// The URL must match a granted pattern.
fn check_url(allow: &[HostPattern], url: &Url) -> Result<(), String> {
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("{url}: only http and https are allowed"));
    }
    if allow.iter().any(|p| p.matches(url)) {
        return Ok(());
    }
    let origin = url.origin().ascii_serialization();
    Err(if allow.is_empty() {
        format!("{origin} is not in allow_hosts (the plugin is granted no hosts)")
    } else {
        format!("{origin} is not in allow_hosts")
    })
}

/// An internal address passes only if a grant names it (as an IP or CIDR).
fn address_allowed(allow: &[HostPattern], ip: IpAddr) -> bool {
    !is_internal(ip)
        || allow
            .iter()
            .any(|p| matches!(&p.host, HostMatch::Net(net) if net.contains(&ip)))
}

/// Checks where the URL's host leads, before anything is sent.
fn check_addresses(allow: &[HostPattern], url: &Url) -> Result<(), String> {
    match url.host() {
        Some(url::Host::Domain(name)) => {
            resolve_allowed(allow, name, url.port_or_known_default().unwrap_or(0)).map(|_| ())
        }
        Some(url::Host::Ipv4(ip)) => ip_check(allow, url, IpAddr::V4(ip)),
        Some(url::Host::Ipv6(ip)) => ip_check(allow, url, IpAddr::V6(ip)),
        None => Err(format!("{url}: no host")),
    }
}

fn ip_check(allow: &[HostPattern], url: &Url, ip: IpAddr) -> Result<(), String> {
    if address_allowed(allow, ip) {
        Ok(())
    } else {
        Err(format!(
            "{url}: {ip} is an internal address; grant it by address to allow it"
        ))
    }
}

/// Resolves `name` and keeps the allowed addresses; refuses when none is.
fn resolve_allowed(
    allow: &[HostPattern],
    name: &str,
    port: u16,
) -> Result<Vec<SocketAddr>, String> {
    let found: Vec<SocketAddr> = (name, port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {name}: {e}"))?
        .collect();
    let (ok, refused): (Vec<_>, Vec<_>) = found
        .into_iter()
        .partition(|a| address_allowed(allow, a.ip()));
    if ok.is_empty() {
        let ips: Vec<String> = refused.iter().map(|a| a.ip().to_string()).collect();
        return Err(format!(
            "refused: {name} resolves to {}, an internal address; a host name never grants \
             loopback or private addresses, grant the address itself",
            ips.join(", ")
        ));
    }
    Ok(ok)
}

/// reqwest's resolver: the connection only goes to checked addresses.
struct Resolver {
    allow: Arc<Vec<HostPattern>>,
}

impl reqwest::dns::Resolve for Resolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let allow = self.allow.clone();
        let name = name.as_str().to_string();
        Box::pin(async move {
            let addrs = resolve_allowed(&allow, &name, 0)?;
            let addrs: reqwest::dns::Addrs = Box::new(addrs.into_iter());
            Ok(addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed(patterns: &[&str], url: &str) -> bool {
        let allow: Vec<_> = patterns
            .iter()
            .map(|p| HostPattern::parse(p).unwrap())
            .collect();
        check_url(&allow, &Url::parse(url).unwrap()).is_ok()
    }

    #[test]
    fn patterns_match_scheme_host_and_port() {
        assert!(allowed(
            &["https://api.example.com"],
            "https://api.example.com/x"
        ));
        assert!(!allowed(
            &["https://api.example.com"],
            "http://api.example.com/x"
        ));
        assert!(!allowed(
            &["https://api.example.com"],
            "https://api.example.com:8443/"
        ));
        assert!(allowed(
            &["https://*.example.com:*"],
            "https://a.b.example.com:8443/"
        ));
        assert!(!allowed(
            &["https://*.example.com"],
            "https://example.com.evil.io/"
        ));
        assert!(allowed(&["*://127.0.0.1:*"], "http://127.0.0.1:9/"));
        assert!(allowed(&["http://10.0.0.0/8:80"], "http://10.2.3.4/"));
        assert!(!allowed(&[], "https://api.example.com/"));
        assert!(HostPattern::parse("ftp://x").is_err());
        assert!(HostPattern::parse("example.com").is_err());
    }

    #[test]
    fn internal_addresses_need_an_address_grant() {
        let by_name = [HostPattern::parse("http://localhost:*").unwrap()];
        assert!(!address_allowed(&by_name, "127.0.0.1".parse().unwrap()));
        let by_ip = [HostPattern::parse("http://127.0.0.1:*").unwrap()];
        assert!(address_allowed(&by_ip, "127.0.0.1".parse().unwrap()));
        assert!(!address_allowed(&by_ip, "10.0.0.1".parse().unwrap()));
        assert!(address_allowed(&by_name, "93.184.216.34".parse().unwrap()));
        assert!(!address_allowed(
            &by_name,
            "::ffff:192.168.1.1".parse().unwrap()
        ));
    }
}
