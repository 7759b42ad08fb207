//! The service kit's frame: every Loopback service implements [`Service`]
//! (its name, flags, database, migrations, gRPC routes, sealed secrets and
//! background jobs), and one [`Host`] runs any list of them — one service
//! in its own binary ([`main`]), or all of them in `loopbackd`. The
//! `migrate` and `rotate-secrets` commands loop over the same list, so a
//! new service joins all of them by being put on it.
//!
//! A service's `main.rs` is one call:
//!
//! ```ignore
//! fn main() -> std::process::ExitCode {
//!     loopback_runtime::service::main::<loopback_billing::Billing>()
//! }
//! ```

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{CommandFactory as _, FromArgMatches as _};
use futures::future::BoxFuture;
use sea_orm::{DatabaseConnection, DbErr};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tonic::service::RoutesBuilder;

use crate::auth::Authenticator;
use crate::config::ServerArgs;
use crate::secrets::{Keyring, Rotation, SealedColumn};
use crate::{db, server, telemetry};

/// Errors of starting a service: anything, with a message for the operator.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// How a service reaches the authority (org-core): its URL and the service
/// token to present. `loopbackd` makes one per service (its own address, a
/// token minted for the service's name); a standalone binary takes it from
/// flags ([`Service::Link`]).
#[derive(Clone, PartialEq, Eq)]
pub struct AuthorityLink {
    /// org-core's gRPC URL, e.g. `http://org-core:50051`.
    pub url: String,
    /// The bearer token (a `service` principal) sent to org-core.
    pub service_token: String,
    /// How long cached answers may serve writes while org-core cannot be
    /// reached (the client's default when `None`).
    pub staleness: Option<Duration>,
}

impl fmt::Debug for AuthorityLink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthorityLink")
            .field("url", &self.url)
            .field("service_token", &"<redacted>")
            .field("staleness", &self.staleness)
            .finish()
    }
}

/// The flags a standalone binary reads to build its [`AuthorityLink`].
/// org-core needs none ([`NoLink`]); the others take the authority
/// client's (`loopback_org_core_client::AuthorityArgs`).
pub trait LinkArgs:
    clap::Args + clap::FromArgMatches + Clone + fmt::Debug + Send + Sync + 'static
{
    /// The link, or `None` for a service that needs none; the error says
    /// which flag is missing or wrong.
    fn link(&self) -> Result<Option<AuthorityLink>, String>;
}

/// No flags: the service does not call the authority.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct NoLink {}

impl LinkArgs for NoLink {
    fn link(&self) -> Result<Option<AuthorityLink>, String> {
        Ok(None)
    }
}

/// What a service gets when it opens.
#[derive(Debug, Clone)]
pub struct Context {
    /// The data directory (SQLite files, dev keys).
    pub data_dir: PathBuf,
    /// Keys for the service's secrets at rest.
    pub keyring: Keyring,
    /// How to reach org-core, when the host provides it.
    pub authority: Option<AuthorityLink>,
    /// Cancelled when the host stops.
    pub shutdown: CancellationToken,
}

impl Context {
    /// The authority link, or an error naming the flags that provide it.
    pub fn authority(&self) -> Result<&AuthorityLink, BoxError> {
        self.authority.as_ref().ok_or_else(|| {
            "this service asks org-core for every decision: give --org-core-url and a service token (--service-token or --service-token-file)".into()
        })
    }
}

/// A background task of a service, run by the host until it stops.
pub struct Job {
    /// What it is, for logs.
    pub name: &'static str,
    /// The task; it should end soon after the host's shutdown token is
    /// cancelled.
    pub task: BoxFuture<'static, ()>,
}

impl fmt::Debug for Job {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Job").field("name", &self.name).finish()
    }
}

impl Job {
    /// Runs `step` every `period` (the first time after one period) until
    /// `shutdown`; a failed step is logged and retried next period.
    pub fn every<F, Fut>(
        name: &'static str,
        period: Duration,
        shutdown: &CancellationToken,
        step: F,
    ) -> Self
    where
        F: Fn() -> Fut + Send + 'static,
        Fut: Future<Output = Result<(), String>> + Send + 'static,
    {
        let shutdown = shutdown.clone();
        Self {
            name,
            task: Box::pin(async move {
                let mut tick = tokio::time::interval(period);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                tick.tick().await;
                loop {
                    tokio::select! {
                        () = shutdown.cancelled() => return,
                        _ = tick.tick() => {}
                    }
                    if let Err(error) = step().await {
                        tracing::warn!(job = name, %error, "background job failed; retrying next period");
                    }
                }
            }),
        }
    }
}

/// One Loopback service, as the kit runs it.
pub trait Service: Clone + Send + Sync + 'static {
    /// Short name: names the binary, the SQLite file (`<name>.db`), the
    /// service principal it uses towards org-core, and log lines.
    const NAME: &'static str;
    /// What it does, for `--help`.
    const ABOUT: &'static str;
    /// The port its standalone binary listens on by default.
    const DEFAULT_PORT: u16;
    /// Its own flags (database URL and the service's settings).
    type Args: clap::Args + clap::FromArgMatches + Clone + fmt::Debug + Send + Sync + 'static;
    /// The flags its standalone binary needs to reach org-core.
    type Link: LinkArgs;

    /// The database URL its flags give, if any (default: `<name>.db` in
    /// the data dir).
    fn database_url(args: &Self::Args) -> Option<&str>;

    /// The fully qualified gRPC services it serves (reported SERVING by
    /// the health service).
    fn grpc_services() -> &'static [&'static str];

    /// The columns holding its sealed secrets, for `rotate-secrets`.
    fn sealed_secrets() -> &'static [SealedColumn] {
        &[]
    }

    /// Applies its pending migrations.
    fn migrate(db: &DatabaseConnection) -> impl Future<Output = Result<(), DbErr>> + Send;

    /// Builds the service over its migrated database.
    fn open(
        ctx: &Context,
        args: &Self::Args,
        db: DatabaseConnection,
    ) -> impl Future<Output = Result<Self, BoxError>> + Send;

    /// Adds its gRPC services, behind `auth`, to `routes`.
    fn routes(&self, routes: &mut RoutesBuilder, auth: &Authenticator);

    /// Its background jobs (sweeps, relays), run until `shutdown`.
    fn jobs(&self, shutdown: &CancellationToken) -> Vec<Job> {
        let _ = shutdown;
        Vec::new()
    }

    /// Called when the host stops, before in-flight calls drain (e.g. to
    /// end long-lived streams).
    fn stop(&self) {}
}

/// A service chosen to run, with its flags, not yet opened: what
/// `loopbackd`'s list of services holds.
pub trait Plug: Send + Sync {
    /// [`Service::NAME`].
    fn name(&self) -> &'static str;
    /// The database URL in force.
    fn database_url(&self, data_dir: &Path) -> std::io::Result<String>;
    /// [`Service::sealed_secrets`].
    fn sealed_secrets(&self) -> &'static [SealedColumn];
    /// [`Service::migrate`].
    fn migrate<'a>(&'a self, db: &'a DatabaseConnection) -> BoxFuture<'a, Result<(), DbErr>>;
    /// [`Service::open`].
    fn open<'a>(
        &'a self,
        ctx: &'a Context,
        db: DatabaseConnection,
    ) -> BoxFuture<'a, Result<Box<dyn Running>, BoxError>>;
}

struct Plugged<S: Service>(S::Args);

/// `S` with its flags, ready for a [`Host`].
pub fn plug<S: Service>(args: S::Args) -> Box<dyn Plug> {
    Box::new(Plugged::<S>(args))
}

impl<S: Service> Plug for Plugged<S> {
    fn name(&self) -> &'static str {
        S::NAME
    }

    fn database_url(&self, data_dir: &Path) -> std::io::Result<String> {
        match S::database_url(&self.0) {
            Some(url) => Ok(url.to_string()),
            None => db::sqlite_url(data_dir, &format!("{}.db", S::NAME)),
        }
    }

    fn sealed_secrets(&self) -> &'static [SealedColumn] {
        S::sealed_secrets()
    }

    fn migrate<'a>(&'a self, db: &'a DatabaseConnection) -> BoxFuture<'a, Result<(), DbErr>> {
        Box::pin(S::migrate(db))
    }

    fn open<'a>(
        &'a self,
        ctx: &'a Context,
        db: DatabaseConnection,
    ) -> BoxFuture<'a, Result<Box<dyn Running>, BoxError>> {
        Box::pin(async move {
            let service = S::open(ctx, &self.0, db).await?;
            Ok(Box::new(service) as Box<dyn Running>)
        })
    }
}

/// An opened service, as the host keeps it.
pub trait Running: Any + Send + Sync {
    /// [`Service::NAME`].
    fn name(&self) -> &'static str;
    /// [`Service::grpc_services`].
    fn grpc_services(&self) -> &'static [&'static str];
    /// [`Service::routes`].
    fn routes(&self, routes: &mut RoutesBuilder, auth: &Authenticator);
    /// [`Service::jobs`].
    fn jobs(&self, shutdown: &CancellationToken) -> Vec<Job>;
    /// [`Service::stop`].
    fn stop(&self);
    /// For [`Host::service`].
    fn as_any(&self) -> &dyn Any;
}

impl<S: Service> Running for S {
    fn name(&self) -> &'static str {
        S::NAME
    }
    fn grpc_services(&self) -> &'static [&'static str] {
        S::grpc_services()
    }
    fn routes(&self, routes: &mut RoutesBuilder, auth: &Authenticator) {
        Service::routes(self, routes, auth);
    }
    fn jobs(&self, shutdown: &CancellationToken) -> Vec<Job> {
        Service::jobs(self, shutdown)
    }
    fn stop(&self) {
        Service::stop(self);
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// Which keys a host may create in its data dir when none are configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DevKeys {
    /// The token signing key (loopbackd only: services in separate
    /// processes must share one, so they never make their own).
    pub jwt: bool,
    /// The secret-sealing key.
    pub secrets: bool,
}

/// Gives each service its authority link, given the host's address and
/// authenticator.
pub type Links<'a> = &'a (
        dyn Fn(&'static str, SocketAddr, &Authenticator) -> Result<Option<AuthorityLink>, BoxError>
            + Send
            + Sync
    );

/// Running services behind one gRPC server.
pub struct Host {
    /// The address it serves on (useful with port 0).
    pub addr: SocketAddr,
    /// Verifies (and, with an HS256 key, mints) tokens.
    pub auth: Authenticator,
    /// True when this start generated the dev token key.
    pub created_dev_key: bool,
    services: Vec<Box<dyn Running>>,
    shutdown: CancellationToken,
    task: JoinHandle<Result<(), server::ServeError>>,
}

impl fmt::Debug for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Host")
            .field("addr", &self.addr)
            .field(
                "services",
                &self.services.iter().map(|s| s.name()).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl Host {
    /// Loads keys, binds, opens (migrating first) every service in order,
    /// and serves them all with reflection and health in the background.
    pub async fn start(
        server: &ServerArgs,
        plugs: &[Box<dyn Plug>],
        dev_keys: DevKeys,
        links: Links<'_>,
    ) -> Result<Self, BoxError> {
        let data_dir = server.data_dir.clone();
        std::fs::create_dir_all(&data_dir)
            .map_err(|e| format!("creating data dir {}: {e}", data_dir.display()))?;
        let (auth, created_dev_key) = server
            .auth
            .authenticator(&data_dir, dev_keys.jwt)
            .map_err(|e| format!("loading token keys: {e}"))?;
        let keyring = server
            .secrets
            .keyring(&data_dir, dev_keys.secrets)
            .map_err(|e| format!("loading secret keys: {e}"))?;
        let listener = TcpListener::bind(server.listen)
            .await
            .map_err(|e| format!("binding {}: {e}", server.listen))?;
        let addr = listener.local_addr()?;
        let shutdown = CancellationToken::new();
        let mut services = Vec::with_capacity(plugs.len());
        for plug in plugs {
            let db = connect_and_migrate(plug.as_ref(), &data_dir).await?;
            let ctx = Context {
                data_dir: data_dir.clone(),
                keyring: keyring.clone(),
                authority: links(plug.name(), addr, &auth)?,
                shutdown: shutdown.clone(),
            };
            let service = plug
                .open(&ctx, db)
                .await
                .map_err(|e| format!("opening {}: {e}", plug.name()))?;
            services.push(service);
        }
        let mut routes = RoutesBuilder::default();
        let mut names = Vec::new();
        for service in &services {
            service.routes(&mut routes, &auth);
            names.extend_from_slice(service.grpc_services());
            for job in service.jobs(&shutdown) {
                tracing::debug!(service = service.name(), job = job.name, "starting job");
                tokio::spawn(job.task);
            }
        }
        let grace = Duration::from_secs(server.shutdown_grace_seconds);
        let task = tokio::spawn({
            let shutdown = shutdown.clone();
            async move { server::serve(routes, &names, listener, shutdown, grace).await }
        });
        Ok(Self {
            addr,
            auth,
            created_dev_key,
            services,
            shutdown,
            task,
        })
    }

    /// The running service of type `S`, if the host runs one.
    pub fn service<S: Service>(&self) -> Option<&S> {
        self.services
            .iter()
            .find_map(|s| s.as_any().downcast_ref::<S>())
    }

    /// A handle that stops the host when cancelled.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Waits until the host stops (after the shutdown token is cancelled).
    pub async fn wait(self) -> Result<(), BoxError> {
        let shutdown = self.shutdown.clone();
        let services = self.services;
        let stopper = tokio::spawn({
            let shutdown = shutdown.clone();
            async move {
                shutdown.cancelled().await;
                for service in &services {
                    service.stop();
                }
                services
            }
        });
        let served = self.task.await;
        // Also when serving failed: stops the jobs and the services.
        shutdown.cancel();
        drop(stopper.await);
        served.map_err(|e| format!("server task: {e}"))??;
        Ok(())
    }

    /// Stops the host and waits for it.
    pub async fn stop(self) -> Result<(), BoxError> {
        self.shutdown.cancel();
        self.wait().await
    }
}

async fn connect_and_migrate(
    plug: &dyn Plug,
    data_dir: &Path,
) -> Result<DatabaseConnection, BoxError> {
    let url = plug.database_url(data_dir)?;
    let conn = db::connect(&url)
        .await
        .map_err(|e| format!("{}: connecting to {}: {e}", plug.name(), db::redact(&url)))?;
    plug.migrate(&conn)
        .await
        .map_err(|e| format!("{}: migrating {}: {e}", plug.name(), db::redact(&url)))?;
    Ok(conn)
}

/// Applies every service's migrations.
pub async fn migrate(server: &ServerArgs, plugs: &[Box<dyn Plug>]) -> Result<(), BoxError> {
    for plug in plugs {
        let url = plug.database_url(&server.data_dir)?;
        connect_and_migrate(plug.as_ref(), &server.data_dir).await?;
        tracing::info!(service = plug.name(), database = %db::redact(&url), "migrations applied");
    }
    Ok(())
}

/// Re-seals every secret of every service under the newest key. With
/// `add_key`, a fresh key is first appended to the (last) key file; with
/// `remove_old_keys`, every older key is removed from the key files once
/// everything is re-sealed, so a leaked old key opens nothing. A secret no
/// key opens stops it before any key is removed.
pub async fn rotate_secrets(
    server: &ServerArgs,
    plugs: &[Box<dyn Plug>],
    add_key: bool,
    remove_old_keys: bool,
) -> Result<Rotation, BoxError> {
    let data_dir = &server.data_dir;
    let files = server.secrets.effective_key_files(data_dir);
    let last = files.last().ok_or("no secret key file configured")?;
    if add_key {
        let kid = Keyring::add_generated_key(last)?;
        tracing::info!(key_id = %kid, file = %last.display(), "added a new secret key");
    }
    let keyring = server.secrets.keyring(data_dir, false)?;
    let mut total = Rotation::default();
    for plug in plugs {
        let conn = connect_and_migrate(plug.as_ref(), data_dir).await?;
        let done = crate::secrets::rotate_columns(&conn, &keyring, plug.sealed_secrets()).await?;
        tracing::info!(
            service = plug.name(),
            resealed = done.resealed,
            current = done.current,
            "secrets rotated"
        );
        total += done;
    }
    if remove_old_keys {
        let primary = keyring.primary_key_id().to_string();
        for file in &files {
            let text = std::fs::read_to_string(file)?;
            for kid in keyring.key_ids() {
                if kid != primary && text.contains(&format!("\"{kid}\"")) {
                    Keyring::remove_key(file, &kid)?;
                }
            }
        }
    }
    Ok(total)
}

/// The command line of a standalone service binary.
#[derive(Debug, clap::Parser)]
struct Standalone<A: clap::Args, L: clap::Args> {
    #[command(subcommand)]
    command: Option<Admin>,
    #[command(flatten)]
    server: ServerArgs,
    #[command(flatten)]
    service: A,
    #[command(flatten)]
    link: L,
}

/// Administrative commands every binary has.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum Admin {
    /// Apply the database migrations and exit.
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

/// The `main` of a service's own binary: parses its flags (the shared
/// server flags, the service's own and its authority link), then serves
/// it until SIGTERM/Ctrl-C, or runs `migrate` / `rotate-secrets`.
pub fn main<S: Service>() -> std::process::ExitCode {
    let command = Standalone::<S::Args, S::Link>::command()
        .name(S::NAME)
        .bin_name(S::NAME)
        .about(S::ABOUT)
        .mut_arg("listen", |a| {
            a.default_value(&*Box::leak(
                format!("127.0.0.1:{}", S::DEFAULT_PORT).into_boxed_str(),
            ))
        });
    let cli = match Standalone::<S::Args, S::Link>::from_arg_matches(&command.get_matches()) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("{}: cannot start the async runtime: {e}", S::NAME);
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run_standalone::<S>(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{}: {e}", S::NAME);
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run_standalone<S: Service>(cli: Standalone<S::Args, S::Link>) -> Result<(), BoxError> {
    telemetry::init(cli.server.log_format);
    let plugs = [plug::<S>(cli.service)];
    match cli.command {
        Some(Admin::Migrate) => migrate(&cli.server, &plugs).await,
        Some(Admin::RotateSecrets {
            add_key,
            remove_old_keys,
        }) => {
            let done = rotate_secrets(&cli.server, &plugs, add_key, remove_old_keys).await?;
            println!(
                "re-sealed {} secret(s); {} already under the newest key",
                done.resealed, done.current
            );
            Ok(())
        }
        None => {
            let link = cli.link.link()?;
            let links = move |_: &'static str, _: SocketAddr, _: &Authenticator| Ok(link.clone());
            // Separate processes must share one token key, so a standalone
            // service never makes its own; its secret key is its own.
            let dev_keys = DevKeys {
                jwt: false,
                secrets: true,
            };
            let host = Host::start(&cli.server, &plugs, dev_keys, &links).await?;
            tracing::info!(service = S::NAME, address = %host.addr, "serving");
            let shutdown = host.shutdown_token();
            tokio::spawn(async move {
                server::shutdown_signal().await;
                shutdown.cancel();
            });
            host.wait().await
        }
    }
}
