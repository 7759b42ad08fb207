//! TXT lookups for VerifyDomain, over real DNS with hickory-resolver: the
//! configured nameservers (`--dns-nameservers`) or the system's. A fresh
//! resolver without a cache answers every verification, so a record just
//! published (or just removed) is seen at once and a failed attempt is not
//! remembered.

use hickory_resolver::Resolver;
use hickory_resolver::config::{
    ConnectionConfig, NameServerConfig, ResolveHosts, ResolverConfig, ResolverOpts,
};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::RData;

use crate::config::Settings;

/// What a TXT lookup found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TxtLookup {
    /// The TXT values at the name (each record's strings joined).
    Found(Vec<String>),
    /// The name does not exist (NXDOMAIN).
    NoSuchName,
    /// The name exists but has no TXT record.
    NoTxt,
    /// No nameserver gave an answer (timeout, refused, unreachable, ...).
    Failed(String),
}

/// Looks up the TXT records of `name` (absolute, with the trailing dot).
pub async fn lookup_txt(settings: &Settings, name: &str) -> TxtLookup {
    let builder = if settings.nameservers.is_empty() {
        match Resolver::builder_tokio() {
            Ok(builder) => builder,
            Err(e) => {
                return TxtLookup::Failed(format!(
                    "the system's resolver configuration cannot be read ({e}); configure --dns-nameservers"
                ));
            }
        }
    } else {
        let servers = settings
            .nameservers
            .iter()
            .map(|addr| {
                let mut udp = ConnectionConfig::udp();
                udp.port = addr.port();
                let mut tcp = ConnectionConfig::tcp();
                tcp.port = addr.port();
                NameServerConfig::new(addr.ip(), true, vec![udp, tcp])
            })
            .collect();
        Resolver::builder_with_config(
            ResolverConfig::from_name_servers(servers),
            TokioRuntimeProvider::default(),
        )
    };
    let mut options = ResolverOpts::default();
    options.cache_size = 0;
    options.timeout = settings.lookup_timeout;
    options.attempts = 2;
    options.use_hosts_file = ResolveHosts::Never;
    let resolver = match builder.with_options(options).build() {
        Ok(resolver) => resolver,
        Err(e) => return TxtLookup::Failed(format!("cannot build a resolver: {e}")),
    };
    match resolver.txt_lookup(name).await {
        Ok(lookup) => {
            let values: Vec<String> = lookup
                .answers()
                .iter()
                .filter_map(|record| match &record.data {
                    RData::TXT(txt) => Some(
                        txt.txt_data
                            .iter()
                            .map(|chunk| String::from_utf8_lossy(chunk).into_owned())
                            .collect::<String>(),
                    ),
                    _ => None,
                })
                .collect();
            if values.is_empty() {
                TxtLookup::NoTxt
            } else {
                TxtLookup::Found(values)
            }
        }
        Err(e) if e.is_nx_domain() => TxtLookup::NoSuchName,
        Err(e) if e.is_no_records_found() => TxtLookup::NoTxt,
        Err(e) => TxtLookup::Failed(e.to_string()),
    }
}
