//! `loopbackd`: every Loopback service in one process, on one port.
//!
//! [`Loopbackd::start`] is what the binary runs and what the end-to-end
//! tests start in-process: it opens each service's database (SQLite files in
//! the data dir unless URLs are given), runs migrations, and serves all
//! services plus reflection and health.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use loopback_billing::{Billing, BillingArgs};
use loopback_org_core::{OrgCore, OrgCoreArgs};
use loopback_org_core_client::{AuthorityClient, Config as AuthorityConfig};
use loopback_runtime::auth::{Authenticator, Principal, PrincipalKind};
use loopback_runtime::config::ServerArgs;
use loopback_runtime::{db, server};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Everything `loopbackd` needs to start.
#[derive(Debug, Clone)]
pub struct Config {
    /// Shared server settings.
    pub server: ServerArgs,
    /// org-core settings.
    pub org_core: OrgCoreArgs,
    /// billing settings (its `--org-core-url` is ignored: billing asks this
    /// process's own org-core over gRPC).
    pub billing: BillingArgs,
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
    /// org-core's domain service.
    pub org_core: OrgCore,
    /// billing's domain service.
    pub billing: Billing,
    shutdown: CancellationToken,
    task: JoinHandle<Result<(), server::ServeError>>,
}

impl Loopbackd {
    /// Opens databases, migrates, binds and starts serving in the background.
    pub async fn start(config: Config) -> anyhow::Result<Self> {
        let data_dir: PathBuf = config.server.data_dir.clone();
        std::fs::create_dir_all(&data_dir)
            .with_context(|| format!("creating data dir {}", data_dir.display()))?;
        let (auth, created_dev_key) = config
            .server
            .auth
            .authenticator(&data_dir, true)
            .context("loading token keys")?;
        let keyring = config
            .server
            .secrets
            .keyring(&data_dir, true)
            .context("loading secret keys")?;
        let settings = config
            .org_core
            .settings(keyring)
            .map_err(anyhow::Error::msg)?;
        let url = config.org_core.database_url(&data_dir)?;
        let conn = db::connect(&url)
            .await
            .with_context(|| format!("connecting to {}", redact(&url)))?;
        let org_core = OrgCore::open(conn, settings)
            .await
            .context("migrating org-core")?;

        let listener = TcpListener::bind(config.server.listen)
            .await
            .with_context(|| format!("binding {}", config.server.listen))?;
        let addr = listener.local_addr()?;

        // billing reaches org-core the way it would in production: over
        // gRPC, through the authority client, with a service token.
        let billing_token = match &config.billing.service_token {
            Some(token) => token.clone(),
            None => auth
                .mint(
                    &Principal {
                        kind: PrincipalKind::Service,
                        subject: "billing".into(),
                        email: None,
                        name: None,
                    },
                    chrono::Duration::days(3650),
                )
                .context("minting billing's service token (configure --billing-service-token when no HS256 key is available)")?,
        };
        let authority = AuthorityClient::connect(AuthorityConfig::new(
            format!("http://{addr}"),
            billing_token,
        ))
        .context("authority client for billing")?;
        let billing_settings = config.billing.settings().map_err(anyhow::Error::msg)?;
        let billing_url = config.billing.database_url(&data_dir)?;
        let billing_conn = db::connect(&billing_url)
            .await
            .with_context(|| format!("connecting to {}", redact(&billing_url)))?;
        let billing = Billing::open(
            billing_conn,
            billing_settings,
            org_core.settings().keyring.clone(),
            authority,
        )
        .await
        .context("migrating billing")?;

        let mut routes = tonic::service::RoutesBuilder::default();
        org_core.add_routes(&mut routes, &auth);
        billing.add_routes(&mut routes, &auth);
        let names: Vec<&str> = loopback_org_core::SERVICE_NAMES
            .iter()
            .chain(loopback_billing::SERVICE_NAMES)
            .copied()
            .collect();
        let shutdown = CancellationToken::new();
        let grace = Duration::from_secs(config.server.shutdown_grace_seconds);
        let task = tokio::spawn({
            let shutdown = shutdown.clone();
            async move { server::serve(routes, &names, listener, shutdown, grace).await }
        });
        Ok(Self {
            addr,
            auth,
            created_dev_key,
            org_core,
            billing,
            shutdown,
            task,
        })
    }

    /// A handle that stops the server when cancelled.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Waits until the server stops (after the shutdown token is cancelled).
    pub async fn wait(self) -> anyhow::Result<()> {
        let org_core = self.org_core.clone();
        let shutdown = self.shutdown.clone();
        tokio::spawn(async move {
            shutdown.cancelled().await;
            org_core.shutdown();
        });
        self.task.await.context("server task")??;
        Ok(())
    }

    /// Stops the server and waits for it.
    pub async fn stop(self) -> anyhow::Result<()> {
        self.shutdown.cancel();
        // Long-lived watch streams end too, so the drain does not wait on them.
        self.org_core.shutdown();
        self.wait().await
    }
}

/// What a secret rotation did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rotation {
    /// Secrets re-sealed under the newest key.
    pub resealed: u64,
    /// Secrets already under the newest key.
    pub current: u64,
}

/// Re-seals every stored secret under the newest configured key. With
/// `add_key`, a fresh key is first appended to the (last) key file; with
/// `remove_old_keys`, every older key is removed from the key files once
/// everything is re-sealed, so a leaked old key opens nothing.
pub async fn rotate_secrets(
    config: &Config,
    add_key: bool,
    remove_old_keys: bool,
) -> anyhow::Result<Rotation> {
    use loopback_runtime::secrets::Keyring;
    let data_dir = &config.server.data_dir;
    let files = config.server.secrets.effective_key_files(data_dir);
    let last = files.last().context("no secret key file configured")?;
    if add_key {
        let kid = Keyring::add_generated_key(last).context("adding a key")?;
        tracing::info!(key_id = %kid, file = %last.display(), "added a new secret key");
    }
    let keyring = config
        .server
        .secrets
        .keyring(data_dir, false)
        .context("loading secret keys")?;
    let url = config.org_core.database_url(data_dir)?;
    let conn = db::connect(&url)
        .await
        .with_context(|| format!("connecting to {}", redact(&url)))?;
    loopback_org_core::migrate(&conn).await?;
    let (resealed, current) =
        loopback_org_core::auth_providers::store::rotate_secrets(&conn, &keyring).await?;
    if remove_old_keys {
        let primary = keyring.primary_key_id().to_string();
        for file in &files {
            let text = std::fs::read_to_string(file)?;
            for kid in keyring.key_ids() {
                if kid != primary && text.contains(&format!("\"{kid}\"")) {
                    Keyring::remove_key(file, &kid)
                        .with_context(|| format!("removing key {kid}"))?;
                }
            }
        }
    }
    Ok(Rotation { resealed, current })
}

/// Hides a password in a database URL for logs.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}://***@{}", &url[..scheme], &url[at + 1..])
        }
        _ => url.to_string(),
    }
}
