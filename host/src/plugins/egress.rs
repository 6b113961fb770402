//! `http-fetch`, the only network a plugin has, and the allowlist that
//! guards it.
//!
//! Every hop of a request (the first URL and each redirect) passes two
//! checks: its URL must match a granted `scheme://host:port` pattern, and
//! when its host is an internal IP address (loopback, private, ... see
//! [`is_internal`]) one of the patterns that match the URL must itself name
//! an address or range: `http://127.0.0.1:8080` opens that port, never every
//! port of 127.0.0.1 through `http://*:*`. A host *name* never reaches an
//! internal address, whatever is granted: the resolver keeps only public
//! addresses, so DNS cannot be used to reach inside, and the connection goes
//! to the addresses it checked. Lookups run off the request's thread and are
//! bounded by the request's timeout. No proxy from the environment is used.

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use reqwest::blocking::Client;
use url::Url;

mod patterns;
pub use patterns::{HostPattern, is_internal};

/// The most redirects one fetch follows.
const MAX_REDIRECTS: usize = 5;

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

/// A refusal by the redirect policy or the resolver, carried through
/// reqwest's error chain to become a [`FetchError::Denied`].
#[derive(Debug)]
struct Refused(String);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Refused {}

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
        Egress::with_lookup(allow, system_lookup)
    }

    fn with_lookup(allow: Vec<HostPattern>, lookup: Lookup) -> Result<Egress, String> {
        let allow = Arc::new(allow);
        let for_redirects = allow.clone();
        let client = Client::builder()
            .no_proxy()
            .dns_resolver(Arc::new(Resolver { lookup }))
            .redirect(reqwest::redirect::Policy::custom(move |attempt| {
                if attempt.previous().len() > MAX_REDIRECTS {
                    return attempt.error(format!("more than {MAX_REDIRECTS} redirects"));
                }
                match check(&for_redirects, attempt.url()) {
                    Ok(()) => attempt.follow(),
                    Err(why) => attempt.error(Refused(format!("redirect refused: {why}"))),
                }
            }))
            .user_agent(concat!("keystep/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        Ok(Egress { allow, client })
    }

    /// Sends a request; `timeout` bounds the lookup, connect, send and the
    /// whole body.
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
        check(&self.allow, &parsed).map_err(FetchError::Denied)?;
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
    let mut chain = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        // reqwest wraps our own refusals (resolver, redirect policy).
        if let Some(refused) = s.downcast_ref::<Refused>() {
            return FetchError::Denied(refused.0.clone());
        }
        chain.push_str(": ");
        chain.push_str(&s.to_string());
        source = s.source();
    }
    if e.is_timeout() {
        return FetchError::Unavailable(format!(
            "{url}: no answer within {} ms",
            timeout.as_millis()
        ));
    }
    FetchError::Unavailable(format!("{url}: {chain}"))
}

/// One hop's checks: the URL must match a granted pattern, and an internal
/// IP address only passes through a matching pattern that names addresses.
fn check(allow: &[HostPattern], url: &Url) -> Result<(), String> {
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("{url}: only http and https are allowed"));
    }
    let origin = url.origin().ascii_serialization();
    let mut matching = allow.iter().filter(|p| p.matches(url)).peekable();
    if matching.peek().is_none() {
        return Err(if allow.is_empty() {
            format!("{origin} is not in allow_hosts (the plugin is granted no hosts)")
        } else {
            format!("{origin} is not in allow_hosts")
        });
    }
    let ip = match url.host() {
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip),
        _ => return Ok(()),
    };
    if is_internal(ip) && !matching.any(HostPattern::names_addresses) {
        return Err(format!(
            "{origin}: {ip} is an internal address; only a grant of that address \
             with this scheme and port allows it"
        ));
    }
    Ok(())
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// How a host name is looked up; the system's resolver but in tests.
type Lookup = fn(&str) -> std::io::Result<Vec<IpAddr>>;

fn system_lookup(name: &str) -> std::io::Result<Vec<IpAddr>> {
    Ok((name, 0).to_socket_addrs()?.map(|a| a.ip()).collect())
}

/// The most host-name lookups under way at once, in the whole process.
const MAX_LOOKUPS: usize = 32;
static LOOKUPS: AtomicUsize = AtomicUsize::new(0);

/// reqwest's resolver (asked for host names only, never for IP literals):
/// keeps the public addresses, and refuses a name that has none.
struct Resolver {
    lookup: Lookup,
}

impl reqwest::dns::Resolve for Resolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let lookup = self.lookup;
        let name = name.as_str().to_string();
        Box::pin(async move {
            // The lookup blocks, so it runs on a thread of its own (not the
            // runtime's pool, which its shutdown would wait for); the
            // request's timeout drops this future, and with it the wait.
            // A lookup left behind by a timeout still holds its thread, so
            // only so many may be under way at once.
            if LOOKUPS.fetch_add(1, Ordering::SeqCst) >= MAX_LOOKUPS {
                LOOKUPS.fetch_sub(1, Ordering::SeqCst);
                return Err(
                    format!("cannot resolve {name}: {MAX_LOOKUPS} lookups under way").into(),
                );
            }
            let (tx, rx) = tokio::sync::oneshot::channel();
            let asked = name.clone();
            std::thread::spawn(move || {
                let _ = tx.send(lookup(&asked));
                LOOKUPS.fetch_sub(1, Ordering::SeqCst);
            });
            let found = rx
                .await
                .map_err(|_| format!("cannot resolve {name}: the lookup failed"))?
                .map_err(|e| format!("cannot resolve {name}: {e}"))?;
            let (public, internal): (Vec<IpAddr>, Vec<IpAddr>) =
                found.into_iter().partition(|ip| !is_internal(*ip));
            if public.is_empty() && !internal.is_empty() {
                let ips: Vec<String> = internal.iter().map(ToString::to_string).collect();
                return Err(Box::new(Refused(format!(
                    "{name} resolves to {}, an internal address; a host name never reaches \
                     loopback or private addresses, grant and use the address itself",
                    ips.join(", ")
                ))) as BoxError);
            }
            let addrs: reqwest::dns::Addrs =
                Box::new(public.into_iter().map(|ip| SocketAddr::new(ip, 0)));
            Ok::<_, BoxError>(addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;
    use std::time::Instant;

    fn patterns(patterns: &[&str]) -> Vec<HostPattern> {
        patterns
            .iter()
            .map(|p| HostPattern::parse(p).unwrap())
            .collect()
    }

    fn allowed(granted: &[&str], url: &str) -> bool {
        check(&patterns(granted), &Url::parse(url).unwrap()).is_ok()
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
    fn an_address_grant_opens_only_its_own_scheme_and_port() {
        let granted = ["http://127.0.0.1:8080", "http://*:*"];
        assert!(allowed(&granted, "http://127.0.0.1:8080/"));
        assert!(!allowed(&granted, "http://127.0.0.1:8081/"));
        assert!(!allowed(&granted, "http://127.0.0.2:8080/"));
        assert!(!allowed(&granted, "http://[::1]:8080/"));
        assert!(!allowed(
            &["https://127.0.0.1:8080", "http://*:*"],
            "http://127.0.0.1:8080/"
        ));
        // Public addresses and names pass through the wildcard.
        assert!(allowed(&granted, "http://93.184.216.34:81/"));
        assert!(allowed(&granted, "http://example.com:81/"));
        // Other spellings of loopback are parsed to the same address.
        assert!(!allowed(&["http://*:*"], "http://2130706433/"));
        assert!(!allowed(&["http://*:*"], "http://0x7f.1/"));
        assert!(!allowed(&["http://*:*"], "http://[::ffff:127.0.0.1]/"));
    }

    /// A listener on 127.0.0.1 that counts the connections it accepts.
    fn listener() -> (u16, Arc<AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let hits = Arc::new(AtomicUsize::new(0));
        let counted = hits.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                counted.fetch_add(1, Ordering::SeqCst);
                drop(stream);
            }
        });
        (port, hits)
    }

    fn fetch(egress: &Egress, url: &str, timeout: Duration) -> Result<Response, FetchError> {
        egress.fetch("GET", url, &[], None, timeout, 1 << 20)
    }

    #[test]
    fn a_name_that_resolves_to_an_internal_address_is_refused_before_connecting() {
        let (port, hits) = listener();
        let loopback: Lookup = |_| Ok(vec!["127.0.0.1".parse().unwrap()]);
        let egress = Egress::with_lookup(
            patterns(&["http://*:*", &format!("http://127.0.0.1:{port}")]),
            loopback,
        )
        .unwrap();
        let url = format!("http://inside.example:{port}/");
        match fetch(&egress, &url, Duration::from_secs(5)) {
            Err(FetchError::Denied(why)) => assert!(
                why.contains("inside.example resolves to 127.0.0.1, an internal address"),
                "{why}"
            ),
            other => panic!("{:?}", other.map(|r| r.status)),
        }
        assert_eq!(
            hits.load(Ordering::SeqCst),
            0,
            "nothing reached the listener"
        );
    }

    #[test]
    fn a_lookup_that_hangs_ends_at_the_timeout() {
        let slow: Lookup = |_| {
            std::thread::sleep(Duration::from_secs(60));
            Ok(Vec::new())
        };
        let egress = Egress::with_lookup(patterns(&["http://*:*"]), slow).unwrap();
        let started = Instant::now();
        match fetch(&egress, "http://slow.example/", Duration::from_millis(300)) {
            Err(FetchError::Unavailable(why)) => {
                assert!(why.contains("no answer within 300 ms"), "{why}")
            }
            other => panic!("{:?}", other.map(|r| r.status)),
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{:?}",
            started.elapsed()
        );
    }
}
