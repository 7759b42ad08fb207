//! The standalone billing server (`loopbackd` runs it with the others).

use clap::Parser;
use loopback_billing::{Billing, BillingArgs};
use loopback_org_core_client::{AuthorityClient, Config as AuthorityConfig};
use loopback_runtime::config::ServerArgs;
use loopback_runtime::{db, server, telemetry};
use tokio_util::sync::CancellationToken;

/// billing: payment methods, usage and costs.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    #[command(flatten)]
    server: ServerArgs,
    #[command(flatten)]
    billing: BillingArgs,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    telemetry::init(cli.server.log_format);
    let settings = cli.billing.settings().map_err(anyhow::Error::msg)?;
    let token =
        cli.billing.service_token.clone().ok_or_else(|| {
            anyhow::anyhow!("--billing-service-token is required to reach org-core")
        })?;
    let authority =
        AuthorityClient::connect(AuthorityConfig::new(&cli.billing.org_core_url, &token))?;
    let keyring = cli.server.secrets.keyring(&cli.server.data_dir, false)?;
    let conn = db::connect(&cli.billing.database_url(&cli.server.data_dir)?).await?;
    let billing = Billing::open(conn, settings, keyring, authority).await?;
    let (auth, _) = cli.server.auth.authenticator(&cli.server.data_dir, false)?;
    let mut routes = tonic::service::RoutesBuilder::default();
    billing.add_routes(&mut routes, &auth);
    let listener = tokio::net::TcpListener::bind(cli.server.listen).await?;
    tracing::info!(address = %listener.local_addr()?, "billing serving");
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
        loopback_billing::SERVICE_NAMES,
        listener,
        shutdown,
        std::time::Duration::from_secs(cli.server.shutdown_grace_seconds),
    )
    .await?;
    Ok(())
}
