//! Outbound safety: every endpoint the service calls on a customer's behalf
//! (webhooks, Slack, monitoring endpoints) is https and resolves only to
//! public addresses — never private, loopback, link-local or otherwise
//! special ones — checked after DNS resolution when it is configured, and
//! again at every connection (a resolver that drops such addresses), so a
//! name re-pointed later (DNS rebinding) reaches nothing inside. Redirects
//! are never followed. `--allow-insecure-endpoints` (development and tests
//! only) lifts both rules.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use url::Url;

/// Whether `ip` is a special-purpose address no customer endpoint may use.
pub fn is_forbidden(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(a) => forbidden_v4(a),
        IpAddr::V6(a) => forbidden_v6(a),
    }
}

fn forbidden_v4(a: Ipv4Addr) -> bool {
    let [o0, o1, o2, _] = a.octets();
    a.is_private()
        || a.is_loopback()
        || a.is_link_local()
        || a.is_unspecified()
        || a.is_broadcast()
        || a.is_documentation()
        || a.is_multicast()
        || o0 == 0
        || (o0 == 100 && (64..128).contains(&o1)) // shared address space
        || (o0 == 192 && o1 == 0 && o2 == 0) // IETF protocol assignments
        || (o0 == 198 && (18..20).contains(&o1)) // benchmarking
        || o0 >= 240 // reserved
}

fn forbidden_v6(a: Ipv6Addr) -> bool {
    if let Some(v4) = a.to_ipv4_mapped() {
        return forbidden_v4(v4);
    }
    let s = a.segments();
    a.is_loopback()
        || a.is_unspecified()
        || a.is_multicast()
        || a.is_unique_local()
        || a.is_unicast_link_local()
        || (s[0] & 0xffc0) == 0xfec0 // site-local
        || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
        || (s[0] == 0x0064 && s[1] == 0xff9b) // NAT64: an IPv4 address inside
        || s[..6] == [0, 0, 0, 0, 0, 0] // IPv4-compatible
}

/// The outbound rules and the HTTP client that enforces them.
#[derive(Clone)]
pub struct Outbound {
    allow_insecure: bool,
    client: reqwest::Client,
}

impl std::fmt::Debug for Outbound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbound")
            .field("allow_insecure", &self.allow_insecure)
            .finish()
    }
}

/// Resolves names and drops every forbidden address (all of them: a name
/// with no public address does not connect).
struct PublicOnly {
    allow_insecure: bool,
}

impl Resolve for PublicOnly {
    fn resolve(&self, name: Name) -> Resolving {
        let allow = self.allow_insecure;
        let host = name.as_str().to_string();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|a| allow || !is_forbidden(a.ip()))
                .collect();
            if addrs.is_empty() {
                return Err(format!("{host} has no public address").into());
            }
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

impl Outbound {
    /// The rules (`allow_insecure` lifts them) and a client with `timeout`.
    pub fn new(allow_insecure: bool, timeout: Duration) -> Result<Self, String> {
        let client = reqwest::Client::builder()
            .dns_resolver(Arc::new(PublicOnly { allow_insecure }))
            .redirect(reqwest::redirect::Policy::none())
            .https_only(!allow_insecure)
            .timeout(timeout)
            .user_agent("loopback-integrations")
            .build()
            .map_err(|e| format!("building the outbound HTTP client: {e}"))?;
        Ok(Self {
            allow_insecure,
            client,
        })
    }

    /// Whether the development override is on.
    pub fn allows_insecure(&self) -> bool {
        self.allow_insecure
    }

    /// The client (redirects off, public addresses only).
    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// The scheme rule alone (no DNS): https, or http with the override.
    pub fn check_scheme(&self, url: &Url) -> Result<(), String> {
        match url.scheme() {
            "https" => Ok(()),
            "http" if self.allow_insecure => Ok(()),
            _ => Err("must be an https URL".into()),
        }
    }

    /// An endpoint URL: absolute, https, no credentials, resolving only to
    /// public addresses. The error says what is wrong, for the field.
    pub async fn check_url(&self, raw: &str) -> Result<Url, String> {
        let url = Url::parse(raw).map_err(|_| "must be an absolute https URL".to_string())?;
        self.check_scheme(&url)?;
        if !url.username().is_empty() || url.password().is_some() {
            return Err("must not carry credentials".into());
        }
        let host = url
            .host_str()
            .ok_or_else(|| "must name a host".to_string())?
            .to_string();
        let port = url.port_or_known_default().unwrap_or(443);
        self.check_host(&host, port).await?;
        Ok(url)
    }

    /// `host:port` (a TCP endpoint) under the same address rules.
    pub async fn check_host_port(&self, raw: &str) -> Result<(String, u16), String> {
        let (host, port) = raw
            .rsplit_once(':')
            .ok_or_else(|| "must be host:port".to_string())?;
        let port: u16 = port
            .parse()
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(|| "must end with a port from 1 to 65535".to_string())?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() || host.len() > 253 {
            return Err("must be host:port".into());
        }
        self.check_host(host, port).await?;
        Ok((host.to_string(), port))
    }

    /// Resolves `host` and refuses it when any address is forbidden.
    async fn check_host(&self, host: &str, port: u16) -> Result<(), String> {
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let addrs: Vec<IpAddr> = match host.parse::<IpAddr>() {
            Ok(ip) => vec![ip],
            Err(_) => tokio::net::lookup_host((host, port))
                .await
                .map_err(|_| format!("host {host:?} cannot be resolved"))?
                .map(|a| a.ip())
                .collect(),
        };
        if addrs.is_empty() {
            return Err(format!("host {host:?} cannot be resolved"));
        }
        if !self.allow_insecure
            && let Some(bad) = addrs.iter().find(|ip| is_forbidden(**ip))
        {
            return Err(format!(
                "resolves to {bad}, a private, loopback, link-local or reserved address: only public endpoints are allowed"
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn special_addresses_are_forbidden_and_public_ones_are_not() {
        for bad in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "::1",
            "fe80::1",
            "fd00::1",
            "::ffff:10.0.0.1",
            "64:ff9b::a00:1",
        ] {
            assert!(is_forbidden(bad.parse().unwrap()), "{bad}");
        }
        for good in ["93.184.216.34", "1.1.1.1", "2606:4700:4700::1111"] {
            assert!(!is_forbidden(good.parse().unwrap()), "{good}");
        }
    }

    #[tokio::test]
    async fn urls_must_be_https_and_public() {
        let strict = Outbound::new(false, Duration::from_secs(1)).unwrap();
        assert!(strict.check_url("https://93.184.216.34/hook").await.is_ok());
        assert!(strict.check_url("http://93.184.216.34/hook").await.is_err());
        assert!(strict.check_url("https://127.0.0.1/hook").await.is_err());
        assert!(strict.check_url("https://localhost/hook").await.is_err());
        assert!(strict.check_url("https://[::1]/hook").await.is_err());
        assert!(
            strict
                .check_url("https://u:p@93.184.216.34/")
                .await
                .is_err()
        );
        assert!(strict.check_host_port("10.0.0.1:443").await.is_err());
        let dev = Outbound::new(true, Duration::from_secs(1)).unwrap();
        assert!(dev.check_url("http://127.0.0.1:9/hook").await.is_ok());
    }
}
