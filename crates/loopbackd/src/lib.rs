//! `loopbackd`: every Loopback service in one process, on one port.
//!
//! [`SERVICES`] is the list of services it runs; [`Loopbackd::start`] (what
//! the binary runs and what the end-to-end tests start in-process), the
//! `migrate` command and `rotate-secrets` all loop over it. A new service
//! joins by one line in [`services!`]'s invocation below. The services
//! other than org-core reach org-core over gRPC through the authority
//! client, exactly as separate deployments would, with a service token
//! minted here for each.

use std::net::SocketAddr;

use loopback_runtime::auth::{Authenticator, Principal, PrincipalKind};
use loopback_runtime::config::ServerArgs;
use loopback_runtime::secrets::Rotation;
use loopback_runtime::service::{self, AuthorityLink, BoxError, DevKeys, Host, Plug, Service};
use tokio_util::sync::CancellationToken;

/// Declares the services `loopbackd` runs, in start order: their flags
/// ([`ServiceArgs`]), the list of names ([`SERVICES`]) and the plugs the
/// kit's host opens.
macro_rules! services {
    ($($field:ident: $service:ty),+ $(,)?) => {
        /// Every service's own flags.
        #[derive(Debug, Clone, clap::Args)]
        pub struct ServiceArgs {
            $(
                #[command(flatten)]
                #[allow(missing_docs)]
                pub $field: <$service as Service>::Args,
            )+
        }

        impl ServiceArgs {
            /// Every service with its flags, in start order.
            pub fn plugs(&self) -> Vec<Box<dyn Plug>> {
                vec![$(service::plug::<$service>(self.$field.clone())),+]
            }
        }

        /// The services `loopbackd` runs, in start order.
        pub const SERVICES: &[&str] = &[$(<$service as Service>::NAME),+];
    };
}

// org-core first: the others ask it.
services! {
    org_core: loopback_org_core::OrgCore,
    billing: loopback_billing::Billing,
    dns: loopback_dns::Dns,
    integrations: loopback_integrations::Integrations,
}

/// The service that answers every other's authority questions.
const AUTHORITY: &str = <loopback_org_core::OrgCore as Service>::NAME;

/// Everything `loopbackd` needs to start.
#[derive(Debug, Clone, clap::Args)]
pub struct Config {
    /// Shared server settings.
    #[command(flatten)]
    pub server: ServerArgs,
    /// Every service's settings.
    #[command(flatten)]
    pub services: ServiceArgs,
}

/// A running `loopbackd`.
#[derive(Debug)]
pub struct Loopbackd {
    /// The address it serves on (useful with port 0).
    pub addr: SocketAddr,
    /// Verifies (and, with a dev key, mints) tokens.
    pub auth: Authenticator,
    /// True when this start generated the dev key.
    pub created_dev_key: bool,
    host: Host,
}

/// How long the service tokens `loopbackd` mints for its own services last.
const SERVICE_TOKEN_DAYS: i64 = 3650;

impl Loopbackd {
    /// Opens databases, migrates, binds and starts serving in the background.
    pub async fn start(config: Config) -> Result<Self, BoxError> {
        let links = |name: &'static str, addr: SocketAddr, auth: &Authenticator| {
            if name == AUTHORITY {
                return Ok(None);
            }
            let principal = Principal {
                kind: PrincipalKind::Service,
                subject: name.to_string(),
                email: None,
                name: None,
            };
            let service_token = auth
                .mint(&principal, chrono::Duration::days(SERVICE_TOKEN_DAYS))
                .map_err(|e| format!("minting {name}'s service token (loopbackd needs an HS256 key to mint one): {e}"))?;
            Ok(Some(AuthorityLink {
                url: format!("http://{addr}"),
                service_token,
                staleness: None,
            }))
        };
        let dev_keys = DevKeys {
            jwt: true,
            secrets: true,
        };
        let host = Host::start(&config.server, &config.services.plugs(), dev_keys, &links).await?;
        Ok(Self {
            addr: host.addr,
            auth: host.auth.clone(),
            created_dev_key: host.created_dev_key,
            host,
        })
    }

    /// The running service of type `S`.
    pub fn service<S: Service>(&self) -> Option<&S> {
        self.host.service::<S>()
    }

    /// A handle that stops the server when cancelled.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.host.shutdown_token()
    }

    /// Waits until the server stops (after the shutdown token is cancelled).
    pub async fn wait(self) -> Result<(), BoxError> {
        self.host.wait().await
    }

    /// Stops the server and waits for it.
    pub async fn stop(self) -> Result<(), BoxError> {
        self.host.stop().await
    }
}

/// Applies every service's migrations.
pub async fn migrate(config: &Config) -> Result<(), BoxError> {
    service::migrate(&config.server, &config.services.plugs()).await
}

/// Re-seals every stored secret of every service under the newest key; see
/// [`loopback_runtime::service::rotate_secrets`].
pub async fn rotate_secrets(
    config: &Config,
    add_key: bool,
    remove_old_keys: bool,
) -> Result<Rotation, BoxError> {
    service::rotate_secrets(
        &config.server,
        &config.services.plugs(),
        add_key,
        remove_old_keys,
    )
    .await
}
