//! `loopbackd`: run every Loopback service in one process, mint dev tokens,
//! or apply migrations.

use clap::{Parser, Subcommand};
use loopback_runtime::auth::{Principal, PrincipalKind};
use loopback_runtime::config::{AuthArgs, ServerArgs};
use loopback_runtime::{server, telemetry};
use loopbackd::{Config, Loopbackd};

/// Loopback control plane, all services in one process.
///
/// With no subcommand it serves every service on one port (SQLite files
/// under the data dir by default). On first start it creates a dev signing
/// key in the data dir and prints an operator token and a grpcurl example.
#[derive(Debug, Parser)]
#[command(name = "loopbackd", version, about, long_about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    config: Config,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print a bearer token signed with the dev key (alone on stdout).
    Token(TokenArgs),
    /// Apply every service's database migrations and exit.
    Migrate,
    /// Re-encrypt every stored secret under the newest secret key.
    RotateSecrets {
        /// First append a fresh key to the (last) secret key file.
        #[arg(long)]
        add_key: bool,
        /// Afterwards remove every older key from the key files.
        #[arg(long)]
        remove_old_keys: bool,
    },
}

#[derive(Debug, clap::Args)]
#[group(required = true, multiple = false, id = "who")]
struct TokenWho {
    /// An operator token.
    #[arg(long)]
    operator: bool,
    /// An account token for this email.
    #[arg(long, value_name = "EMAIL")]
    account: Option<String>,
    /// A service token for this service name.
    #[arg(long, value_name = "NAME")]
    service: Option<String>,
}

#[derive(Debug, clap::Args)]
struct TokenArgs {
    #[command(flatten)]
    who: TokenWho,
    /// Subject (`sub`); defaults to the email, service name or `operator`.
    #[arg(long)]
    subject: Option<String>,
    /// Display name claim for account tokens.
    #[arg(long)]
    name: Option<String>,
    /// Validity in hours.
    #[arg(long, default_value_t = 24)]
    ttl_hours: i64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let config = cli.config;
    match cli.command {
        Some(Command::Token(args)) => token(&config.server, args),
        Some(Command::Migrate) => {
            telemetry::init(config.server.log_format);
            loopbackd::migrate(&config)
                .await
                .map_err(anyhow::Error::from_boxed)
        }
        Some(Command::RotateSecrets {
            add_key,
            remove_old_keys,
        }) => {
            telemetry::init(config.server.log_format);
            let done = loopbackd::rotate_secrets(&config, add_key, remove_old_keys)
                .await
                .map_err(anyhow::Error::from_boxed)?;
            println!(
                "re-sealed {} secret(s); {} already under the newest key",
                done.resealed, done.current
            );
            Ok(())
        }
        None => serve(config).await,
    }
}

fn token(server: &ServerArgs, args: TokenArgs) -> anyhow::Result<()> {
    let auth_args: &AuthArgs = &server.auth;
    let (auth, _) = auth_args.authenticator(&server.data_dir, true)?;
    let principal = if args.who.operator {
        Principal {
            kind: PrincipalKind::Operator,
            subject: args.subject.unwrap_or_else(|| "operator".into()),
            email: None,
            name: args.name,
        }
    } else if let Some(email) = args.who.account {
        let email = loopback_runtime::validation::email(&email)
            .map_err(|e| anyhow::anyhow!("--account: {e}"))?;
        Principal {
            kind: PrincipalKind::Account,
            subject: args.subject.unwrap_or_else(|| email.clone()),
            email: Some(email),
            name: args.name,
        }
    } else if let Some(service) = args.who.service {
        Principal {
            kind: PrincipalKind::Service,
            subject: args.subject.unwrap_or(service),
            email: None,
            name: None,
        }
    } else {
        anyhow::bail!("say --operator, --account EMAIL or --service NAME");
    };
    let token = auth.mint(&principal, chrono::Duration::hours(args.ttl_hours))?;
    println!("{token}");
    Ok(())
}

async fn serve(config: Config) -> anyhow::Result<()> {
    telemetry::init(config.server.log_format);
    let uses_dev_key = config.server.auth.key_files.is_empty();
    let data_dir = config.server.data_dir.clone();
    let app = Loopbackd::start(config)
        .await
        .map_err(anyhow::Error::from_boxed)?;
    tracing::info!(address = %app.addr, data_dir = %data_dir.display(), "loopbackd serving");
    if uses_dev_key {
        print_welcome(&app)?;
    }
    let shutdown = app.shutdown_token();
    tokio::spawn(async move {
        server::shutdown_signal().await;
        shutdown.cancel();
    });
    app.wait().await.map_err(anyhow::Error::from_boxed)
}

fn print_welcome(app: &Loopbackd) -> anyhow::Result<()> {
    let operator = Principal {
        kind: PrincipalKind::Operator,
        subject: "operator".into(),
        email: None,
        name: None,
    };
    let token = app.auth.mint(&operator, chrono::Duration::days(7))?;
    let addr = app.addr;
    let first = if app.created_dev_key {
        " (created just now)"
    } else {
        ""
    };
    eprintln!(
        "\nloopbackd is serving on {addr} with a dev signing key{first}.\n\
         Operator token (valid 7 days):\n\n  export OPERATOR_TOKEN={token}\n\n\
         Try it:\n\n  grpcurl -plaintext {addr} list\n  \
         grpcurl -plaintext -H \"authorization: Bearer $OPERATOR_TOKEN\" {addr} loopback.orgcore.v1.OrganizationService/ListOrganizations\n\n\
         Account tokens: cargo run --release -- token --account you@example.com\n"
    );
    Ok(())
}
