//! dns's settings: its database, the nameservers VerifyDomain asks, and
//! what every zone's generated SOA and NS records say. How dns reaches
//! org-core is the authority client's business (`AuthorityArgs`).

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use crate::dnsname;

/// dns settings; every flag also reads a `LOOPBACK_*` variable.
#[derive(Debug, Clone, clap::Args)]
pub struct DnsArgs {
    /// Database URL (`sqlite://...` or `postgres://...`). Default: the
    /// SQLite file `dns.db` in the data dir.
    #[arg(
        id = "dns_database_url",
        long = "dns-database-url",
        env = "LOOPBACK_DNS_DATABASE_URL"
    )]
    pub database_url: Option<String>,
    /// Nameservers VerifyDomain sends its TXT queries to, `IP` or
    /// `IP:PORT` (comma-separated; port 53 by default), over UDP with TCP
    /// fallback. Default: the system's resolver configuration
    /// (/etc/resolv.conf).
    #[arg(
        long = "dns-nameservers",
        env = "LOOPBACK_DNS_NAMESERVERS",
        value_delimiter = ','
    )]
    pub nameservers: Vec<String>,
    /// How long VerifyDomain waits for one DNS answer, in seconds.
    #[arg(
        long = "dns-lookup-timeout-seconds",
        env = "LOOPBACK_DNS_LOOKUP_TIMEOUT_SECONDS",
        default_value_t = 5
    )]
    pub lookup_timeout_seconds: u64,
    /// The nameservers every zone's generated NS records name
    /// (comma-separated hostnames); the first is the SOA's primary.
    #[arg(
        long = "dns-zone-nameservers",
        env = "LOOPBACK_DNS_ZONE_NAMESERVERS",
        value_delimiter = ',',
        default_value = "ns1.loopback.cloud.,ns2.loopback.cloud."
    )]
    pub zone_nameservers: Vec<String>,
    /// The mailbox of the zones' administrator as the SOA writes it (a
    /// name: `hostmaster.example.com.` is hostmaster@example.com).
    #[arg(
        long = "dns-hostmaster",
        env = "LOOPBACK_DNS_HOSTMASTER",
        default_value = "hostmaster.loopback.cloud."
    )]
    pub hostmaster: String,
    /// How often the sweep moves domains whose registration expired to
    /// EXPIRED, in seconds.
    #[arg(
        long = "dns-expiry-sweep-seconds",
        env = "LOOPBACK_DNS_EXPIRY_SWEEP_SECONDS",
        default_value_t = 300
    )]
    pub expiry_sweep_seconds: u64,
}

impl Default for DnsArgs {
    fn default() -> Self {
        Self {
            database_url: None,
            nameservers: Vec::new(),
            lookup_timeout_seconds: 5,
            zone_nameservers: vec!["ns1.loopback.cloud.".into(), "ns2.loopback.cloud.".into()],
            hostmaster: "hostmaster.loopback.cloud.".into(),
            expiry_sweep_seconds: 300,
        }
    }
}

/// Validated dns settings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Where VerifyDomain asks; empty for the system's configuration.
    pub nameservers: Vec<SocketAddr>,
    /// Per-answer timeout of VerifyDomain's lookups.
    pub lookup_timeout: Duration,
    /// Hostnames of every zone's NS records, canonical.
    pub zone_nameservers: Vec<String>,
    /// SOA RNAME, canonical.
    pub hostmaster: String,
    /// Period of the expiry sweep.
    pub expiry_sweep: Duration,
}

impl DnsArgs {
    /// The database URL in force.
    pub fn database_url(&self, data_dir: &Path) -> std::io::Result<String> {
        match &self.database_url {
            Some(url) => Ok(url.clone()),
            None => loopback_runtime::db::sqlite_url(data_dir, "dns.db"),
        }
    }

    /// Checks every value; the error names the setting.
    pub fn settings(&self) -> Result<Settings, String> {
        let mut nameservers = Vec::new();
        for entry in self
            .nameservers
            .iter()
            .map(|e| e.trim())
            .filter(|e| !e.is_empty())
        {
            let addr = entry
                .parse::<SocketAddr>()
                .or_else(|_| entry.parse::<IpAddr>().map(|ip| SocketAddr::new(ip, 53)))
                .map_err(|_| {
                    format!("--dns-nameservers: {entry:?} is not an IP address or IP:PORT")
                })?;
            nameservers.push(addr);
        }
        if self.lookup_timeout_seconds == 0 || self.lookup_timeout_seconds > 60 {
            return Err("--dns-lookup-timeout-seconds must be 1 to 60".into());
        }
        let mut zone_nameservers = Vec::new();
        for host in self
            .zone_nameservers
            .iter()
            .map(|e| e.trim())
            .filter(|e| !e.is_empty())
        {
            zone_nameservers.push(
                dnsname::hostname(host)
                    .map_err(|e| format!("--dns-zone-nameservers: {host:?} {e}"))?,
            );
        }
        if zone_nameservers.is_empty() {
            return Err("--dns-zone-nameservers needs at least one hostname".into());
        }
        let hostmaster =
            dnsname::target_name(&self.hostmaster).map_err(|e| format!("--dns-hostmaster: {e}"))?;
        if self.expiry_sweep_seconds == 0 {
            return Err("--dns-expiry-sweep-seconds must be at least 1".into());
        }
        Ok(Settings {
            nameservers,
            lookup_timeout: Duration::from_secs(self.lookup_timeout_seconds),
            zone_nameservers,
            hostmaster,
            expiry_sweep: Duration::from_secs(self.expiry_sweep_seconds),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_are_checked() {
        let mut args = DnsArgs {
            nameservers: vec!["127.0.0.1:5353".into(), "::1".into()],
            ..DnsArgs::default()
        };
        let settings = args.settings().expect("valid");
        assert_eq!(settings.nameservers[0].port(), 5353);
        assert_eq!(settings.nameservers[1].port(), 53);
        assert_eq!(settings.zone_nameservers[0], "ns1.loopback.cloud.");
        args.nameservers = vec!["resolver.example".into()];
        assert!(args.settings().unwrap_err().contains("--dns-nameservers"));
        args.nameservers.clear();
        args.zone_nameservers = vec!["ns1".into()];
        assert!(
            args.settings()
                .unwrap_err()
                .contains("--dns-zone-nameservers")
        );
    }
}
