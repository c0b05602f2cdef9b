//! The HTTP client for application endpoints: no redirects, one timeout, small answers, and
//! destinations checked when they are saved and again at connect time (a resolver that refuses
//! private addresses), so a DNS answer that changed cannot reach an internal service.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::Url;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// Answer bytes kept in an attempt's record.
pub const KEPT_BYTES: usize = 1024;
/// Answer bytes read at most; the rest is not waited for.
const READ_BYTES: usize = 4096;

/// Whether an address is one an endpoint may not reach: loopback, private, link-local (cloud
/// metadata at 169.254.169.254 among them), unique-local, shared, unspecified, multicast or
/// broadcast.
pub fn is_forbidden(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => forbidden_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return forbidden_v4(v4);
            }
            let first = v6.segments()[0];
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00 // unique-local fc00::/7 (fd00:ec2::254 included)
                || (first & 0xffc0) == 0xfe80 // link-local fe80::/10
                || (first == 0x64 && v6.segments()[1] == 0xff9b) // NAT64 of any IPv4
        }
    }
}

fn forbidden_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // shared address space 100.64.0.0/10
        || (a == 192 && b == 0 && ip.octets()[2] == 0) // IETF protocol assignments
}

/// Why a destination is refused, if it is.
fn refusal(host: &str, ip: IpAddr) -> String {
    format!(
        "destination {host} resolves to a forbidden address ({ip}): loopback, private, link-local, unique-local and metadata addresses are refused"
    )
}

/// Resolves with the system resolver and refuses forbidden addresses.
#[derive(Debug)]
struct GuardedResolver;

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if let Some(bad) = addrs.iter().find(|a| is_forbidden(a.ip())) {
                return Err(refusal(&host, bad.ip()).into());
            }
            let addrs: Addrs = Box::new(addrs.into_iter());
            Ok(addrs)
        })
    }
}

/// The answer to one attempt.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    /// `Retry-After` in seconds, when given as such.
    pub retry_after: Option<u64>,
    /// The first [`KEPT_BYTES`] of the body, as text.
    pub body: String,
}

/// The outcome of one attempt: an answer, or why none came.
#[derive(Debug)]
pub struct Sent {
    pub result: Result<Answer, String>,
    pub latency: Duration,
}

/// The client for application endpoints.
#[derive(Debug, Clone)]
pub struct EndpointClient {
    http: reqwest::Client,
    allow_private: bool,
}

impl EndpointClient {
    pub fn new(timeout: Duration, allow_private: bool) -> Result<Self, reqwest::Error> {
        let mut builder = reqwest::Client::builder()
            .user_agent(concat!("voice-gateway/", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .timeout(timeout)
            .no_proxy();
        if !allow_private {
            builder = builder.dns_resolver(Arc::new(GuardedResolver));
        }
        Ok(Self {
            http: builder.build()?,
            allow_private,
        })
    }

    /// Posts `body` to `url` with `headers`.
    pub async fn post(&self, url: &str, headers: &[(&str, String)], body: String) -> Sent {
        let started = Instant::now();
        let result = self.attempt(url, headers, body).await;
        Sent {
            result,
            latency: started.elapsed(),
        }
    }

    async fn attempt(
        &self,
        url: &str,
        headers: &[(&str, String)],
        body: String,
    ) -> Result<Answer, String> {
        let parsed = Url::parse(url).map_err(|e| format!("invalid URL: {e}"))?;
        if !self.allow_private {
            // An address in the URL is never resolved, so it is checked here.
            if let Some(ip) = literal_ip(&parsed) {
                if is_forbidden(ip) {
                    return Err(refusal(&ip.to_string(), ip));
                }
            }
        }
        let mut request = self.http.post(parsed);
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        let mut response = request.body(body).send().await.map_err(describe)?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse().ok());
        let mut kept = Vec::new();
        let mut read = 0;
        while read < READ_BYTES {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    read += chunk.len();
                    let room = KEPT_BYTES.saturating_sub(kept.len());
                    kept.extend_from_slice(&chunk[..chunk.len().min(room)]);
                }
                Ok(None) | Err(_) => break,
            }
        }
        Ok(Answer {
            status,
            retry_after,
            body: String::from_utf8_lossy(&kept).into_owned(),
        })
    }
}

fn literal_ip(url: &Url) -> Option<IpAddr> {
    let host = url.host_str()?;
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .ok()
}

/// A transport error in a few words, never the URL (it may carry credentials).
fn describe(error: reqwest::Error) -> String {
    let mut message = if error.is_timeout() {
        "timed out".to_owned()
    } else if error.is_connect() {
        "connection failed".to_owned()
    } else {
        "request failed".to_owned()
    };
    let mut source = std::error::Error::source(&error);
    while let Some(inner) = source {
        let text = inner.to_string();
        if text.contains("forbidden address") {
            return text;
        }
        source = inner.source();
        if source.is_none() {
            message = format!("{message}: {text}");
        }
    }
    message
}

/// Checks an endpoint URL when it is saved: syntax (see [`super::check_url_syntax`]), then,
/// unless private destinations are allowed, what its host is or resolves to (a name that does
/// not resolve yet is accepted: the connect-time check still applies).
pub async fn check_destination(url: &str, allow_private: bool) -> Result<(), String> {
    if allow_private {
        return Ok(());
    }
    let parsed = Url::parse(url).map_err(|e| format!("invalid URL: {e}"))?;
    if let Some(ip) = literal_ip(&parsed) {
        return if is_forbidden(ip) {
            Err(refusal(&ip.to_string(), ip))
        } else {
            Ok(())
        };
    }
    let Some(host) = parsed.host_str() else {
        return Err("the URL has no host".to_owned());
    };
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    if host == "localhost" || host.ends_with(".localhost") {
        return Err(refusal(&host, IpAddr::V4(Ipv4Addr::LOCALHOST)));
    }
    let lookup = tokio::net::lookup_host((host.as_str(), 0));
    if let Ok(Ok(addrs)) = tokio::time::timeout(Duration::from_secs(2), lookup).await {
        for addr in addrs {
            if is_forbidden(addr.ip()) {
                return Err(refusal(&host, addr.ip()));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::net::Ipv6Addr;

    #[test]
    fn private_and_special_addresses_are_forbidden() {
        for bad in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "::1",
            "::",
            "fd00:ec2::254",
            "fc00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
        ] {
            assert!(
                is_forbidden(bad.parse().unwrap_or(IpAddr::V6(Ipv6Addr::LOCALHOST))),
                "{bad}"
            );
        }
        for good in ["93.184.216.34", "8.8.8.8", "2606:4700::1111"] {
            let ip: IpAddr = good.parse().unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST));
            assert!(!is_forbidden(ip), "{good}");
        }
    }

    #[tokio::test]
    async fn saving_refuses_private_destinations() {
        for url in [
            "http://127.0.0.1:9/hook",
            "http://[::1]/hook",
            "http://169.254.169.254/latest/meta-data",
            "http://localhost/hook",
            "http://10.0.0.5/hook",
        ] {
            let error = check_destination(url, false)
                .await
                .err()
                .unwrap_or_default();
            assert!(error.contains("forbidden address"), "{url}: {error}");
        }
        assert!(
            check_destination("http://127.0.0.1:9/hook", true)
                .await
                .is_ok()
        );
        assert!(
            check_destination("https://93.184.216.34/hook", false)
                .await
                .is_ok()
        );
    }

    #[tokio::test]
    async fn connecting_refuses_private_destinations() {
        let client = EndpointClient::new(Duration::from_secs(2), false).unwrap_or_else(|_| {
            panic!("client");
        });
        for url in ["http://127.0.0.1:9/hook", "http://localhost:9/hook"] {
            let sent = client.post(url, &[], "{}".to_owned()).await;
            let error = sent.result.err().unwrap_or_default();
            assert!(error.contains("forbidden address"), "{url}: {error}");
        }
    }
}
