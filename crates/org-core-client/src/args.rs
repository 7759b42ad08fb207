//! The flags a standalone service binary reads to reach org-core. They live
//! here, with the client, and are flattened once into each binary's command
//! line by the service kit (`Service::Link`); `loopbackd` needs none of
//! them, since it points every service at itself with a minted token.

use std::path::PathBuf;

use loopback_runtime::service::{AuthorityLink, LinkArgs};

/// How to reach org-core: its URL and this service's token.
#[derive(Clone, clap::Args)]
pub struct AuthorityArgs {
    /// org-core's gRPC URL.
    #[arg(
        long = "org-core-url",
        env = "LOOPBACK_ORG_CORE_URL",
        default_value = "http://127.0.0.1:50051"
    )]
    pub org_core_url: String,
    /// The bearer token this service presents to org-core: a `service`
    /// token signed by a key org-core trusts (`loopbackd token --service
    /// <name>` mints one).
    #[arg(
        long = "service-token",
        env = "LOOPBACK_SERVICE_TOKEN",
        hide_env_values = true,
        conflicts_with = "service_token_file"
    )]
    pub service_token: Option<String>,
    /// A file holding that token (e.g. a mounted secret); read at start.
    #[arg(long = "service-token-file", env = "LOOPBACK_SERVICE_TOKEN_FILE")]
    pub service_token_file: Option<PathBuf>,
    /// How long cached authority answers may still allow writes while
    /// org-core cannot be reached; after that, writes fail closed with
    /// AUTHORITY_UNAVAILABLE (reads keep answering from the cache).
    #[arg(
        long = "authority-staleness-seconds",
        env = "LOOPBACK_AUTHORITY_STALENESS_SECONDS",
        default_value_t = 30
    )]
    pub staleness_seconds: u64,
}

impl std::fmt::Debug for AuthorityArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthorityArgs")
            .field("org_core_url", &self.org_core_url)
            .field(
                "service_token",
                &self.service_token.as_ref().map(|_| "<redacted>"),
            )
            .field("service_token_file", &self.service_token_file)
            .field("staleness_seconds", &self.staleness_seconds)
            .finish()
    }
}

impl LinkArgs for AuthorityArgs {
    fn link(&self) -> Result<Option<AuthorityLink>, String> {
        let service_token = match (&self.service_token, &self.service_token_file) {
            (Some(token), _) => token.trim().to_string(),
            (None, Some(file)) => std::fs::read_to_string(file)
                .map_err(|e| format!("--service-token-file {}: {e}", file.display()))?
                .trim()
                .to_string(),
            (None, None) => {
                return Err(
                    "a service token is required to reach org-core: give --service-token or --service-token-file (`loopbackd token --service <name>` mints one)".into(),
                );
            }
        };
        if service_token.is_empty() {
            return Err("the service token is empty".into());
        }
        if self.staleness_seconds == 0 {
            return Err("--authority-staleness-seconds must be at least 1".into());
        }
        Ok(Some(AuthorityLink {
            url: self.org_core_url.clone(),
            service_token,
            staleness: Some(std::time::Duration::from_secs(self.staleness_seconds)),
        }))
    }
}
