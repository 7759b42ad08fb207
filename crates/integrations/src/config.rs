//! The integrations service's settings. How it reaches org-core is the
//! authority client's business (`AuthorityArgs`), set once per binary.

use std::path::Path;
use std::time::Duration;

/// integrations settings; every flag also reads a `LOOPBACK_*` variable.
#[derive(Debug, Clone, clap::Args)]
pub struct IntegrationsArgs {
    /// Database URL (`sqlite://...` or `postgres://...`). Default: the
    /// SQLite file `integrations.db` in the data dir.
    #[arg(
        id = "integrations_database_url",
        long = "integrations-database-url",
        env = "LOOPBACK_INTEGRATIONS_DATABASE_URL"
    )]
    pub database_url: Option<String>,
    /// DEVELOPMENT ONLY: allow plain-http endpoints and private, loopback
    /// and link-local addresses for webhooks, monitoring endpoints, the
    /// email relay and Git providers. Off, every outbound endpoint must be
    /// https and resolve only to public addresses (server-side request
    /// forgery protection).
    #[arg(
        long = "allow-insecure-endpoints",
        env = "LOOPBACK_ALLOW_INSECURE_ENDPOINTS"
    )]
    pub allow_insecure_endpoints: bool,
    /// Attempts per notification delivery before it is marked FAILED.
    #[arg(
        long = "notification-max-attempts",
        env = "LOOPBACK_NOTIFICATION_MAX_ATTEMPTS",
        default_value_t = 8
    )]
    pub notification_max_attempts: u32,
    /// The first retry's delay in milliseconds; each further retry waits
    /// twice as long (at most one hour).
    #[arg(
        long = "notification-retry-base-ms",
        env = "LOOPBACK_NOTIFICATION_RETRY_BASE_MS",
        default_value_t = 5_000
    )]
    pub notification_retry_base_ms: u64,
    /// The mail relay email channels are sent through: an https endpoint
    /// taking `{"to", "subject", "text"}` as JSON. Without one, email
    /// deliveries fail (and say so in the delivery log).
    #[arg(long = "email-relay-url", env = "LOOPBACK_EMAIL_RELAY_URL")]
    pub email_relay_url: Option<String>,
    /// How long a BeginGitConnection `state` stays valid, in seconds.
    #[arg(
        long = "oauth-state-ttl-seconds",
        env = "LOOPBACK_OAUTH_STATE_TTL_SECONDS",
        default_value_t = 600
    )]
    pub oauth_state_ttl_seconds: u64,
    /// Timeout of every outbound HTTP request (webhooks, providers), in
    /// seconds.
    #[arg(
        long = "outbound-timeout-seconds",
        env = "LOOPBACK_OUTBOUND_TIMEOUT_SECONDS",
        default_value_t = 10
    )]
    pub outbound_timeout_seconds: u64,
}

impl Default for IntegrationsArgs {
    fn default() -> Self {
        Self {
            database_url: None,
            allow_insecure_endpoints: false,
            notification_max_attempts: 8,
            notification_retry_base_ms: 5_000,
            email_relay_url: None,
            oauth_state_ttl_seconds: 600,
            outbound_timeout_seconds: 10,
        }
    }
}

/// Validated settings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Development override of the outbound endpoint rules.
    pub allow_insecure_endpoints: bool,
    /// Attempts per delivery.
    pub max_attempts: u32,
    /// First retry delay.
    pub retry_base: Duration,
    /// The mail relay, if any.
    pub email_relay_url: Option<url::Url>,
    /// OAuth state lifetime.
    pub state_ttl: Duration,
    /// Outbound request timeout.
    pub outbound_timeout: Duration,
}

impl IntegrationsArgs {
    /// The database URL in force.
    pub fn database_url(&self, data_dir: &Path) -> std::io::Result<String> {
        match &self.database_url {
            Some(url) => Ok(url.clone()),
            None => loopback_runtime::db::sqlite_url(data_dir, "integrations.db"),
        }
    }

    /// Checks every value; the error names the setting.
    pub fn settings(&self) -> Result<Settings, String> {
        if !(1..=50).contains(&self.notification_max_attempts) {
            return Err("--notification-max-attempts must be 1 to 50".into());
        }
        if !(10..=3_600_000).contains(&self.notification_retry_base_ms) {
            return Err("--notification-retry-base-ms must be 10 to 3600000".into());
        }
        if !(1..=86_400).contains(&self.oauth_state_ttl_seconds) {
            return Err("--oauth-state-ttl-seconds must be 1 to 86400".into());
        }
        if !(1..=300).contains(&self.outbound_timeout_seconds) {
            return Err("--outbound-timeout-seconds must be 1 to 300".into());
        }
        let email_relay_url = match self.email_relay_url.as_deref().filter(|u| !u.is_empty()) {
            None => None,
            Some(raw) => {
                let url =
                    url::Url::parse(raw).map_err(|e| format!("--email-relay-url {raw:?}: {e}"))?;
                if url.scheme() != "https" && !self.allow_insecure_endpoints {
                    return Err("--email-relay-url must be https".into());
                }
                Some(url)
            }
        };
        Ok(Settings {
            allow_insecure_endpoints: self.allow_insecure_endpoints,
            max_attempts: self.notification_max_attempts,
            retry_base: Duration::from_millis(self.notification_retry_base_ms),
            email_relay_url,
            state_ttl: Duration::from_secs(self.oauth_state_ttl_seconds),
            outbound_timeout: Duration::from_secs(self.outbound_timeout_seconds),
        })
    }
}
