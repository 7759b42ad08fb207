//! The standalone org-core server (`loopbackd` runs it with the others).

use clap::Parser;
use loopback_org_core::{OrgCore, OrgCoreArgs};
use loopback_runtime::config::ServerArgs;
use loopback_runtime::{db, server, telemetry};
use tokio_util::sync::CancellationToken;

/// org-core: organizations, projects, accounts and the authority.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    #[command(flatten)]
    server: ServerArgs,
    #[command(flatten)]
    org_core: OrgCoreArgs,
    /// Apply database migrations and exit.
    #[arg(long)]
    migrate_only: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    telemetry::init(cli.server.log_format);
    let keyring = cli.server.secrets.keyring(&cli.server.data_dir, false)?;
    let settings = cli.org_core.settings(keyring).map_err(anyhow::Error::msg)?;
    let url = cli.org_core.database_url(&cli.server.data_dir)?;
    let conn = db::connect(&url).await?;
    let core = OrgCore::open(conn, settings).await?;
    if cli.migrate_only {
        tracing::info!("migrations applied");
        return Ok(());
    }
    let (auth, _) = cli.server.auth.authenticator(&cli.server.data_dir, false)?;
    let mut routes = tonic::service::RoutesBuilder::default();
    core.add_routes(&mut routes, &auth);
    let listener = tokio::net::TcpListener::bind(cli.server.listen).await?;
    tracing::info!(address = %listener.local_addr()?, "org-core serving");
    let shutdown = CancellationToken::new();
    tokio::spawn({
        let shutdown = shutdown.clone();
        async move {
            server::shutdown_signal().await;
            shutdown.cancel();
        }
    });
    server::serve(
        routes,
        loopback_org_core::SERVICE_NAMES,
        listener,
        shutdown,
        std::time::Duration::from_secs(cli.server.shutdown_grace_seconds),
    )
    .await?;
    Ok(())
}
