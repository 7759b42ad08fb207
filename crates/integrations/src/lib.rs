//! integrations: how an organization's code reaches the platform and how
//! the platform reaches its people — Git OAuth connections (GitHub, GitHub
//! Enterprise, GitLab, self-managed GitLab), linked repositories, bundle
//! definitions, environments with sealed secret variables, immutable
//! revisions, deployments (exactly one active per environment) and the
//! build and deploy operations external workers lease; monitoring sources;
//! notification channels with a durable, retried, signed delivery queue
//! and the `Notify` entry point other services raise alerts through.
//!
//! Built from the service kit like every service: one module per resource
//! family in three layers — the gRPC adapter (`grpc.rs`: parse into the
//! domain's input, one domain call, map), the domain (`mod.rs`: methods on
//! [`Integrations`] taking `(principal, input)`, authorizing their row of
//! [`rpcs`] first through the authority client and writing through the
//! kit's transaction helper), and the store (`store.rs`, the only place
//! besides `entity/` and `migration/` that touches sea-orm). Writes are
//! audited through the kit's outbox, relayed to org-core's audit log.
//! [`outbound`] holds the rules every outbound request obeys; [`purge`]
//! follows org-core's lifecycle feed (a deleted project's bundles hidden
//! and its operations ended, purged projects and organizations deleted).

pub mod bundles;
pub mod config;
pub mod entity;
pub mod error;
pub mod git;
pub mod migration;
pub mod monitoring;
pub mod notifications;
pub mod operations;
pub mod outbound;
pub mod purge;
pub mod rpcs;
mod store;

use std::sync::Arc;
use std::time::Duration;

use loopback_org_core_client::{
    AuthorityArgs, AuthorityClient, OrganizationPolicy, follow_lifecycle,
};
use loopback_proto::integrations::v1 as pb;
use loopback_runtime::auth::{Authenticator, Principal};
use loopback_runtime::authz::Rpc;
use loopback_runtime::db::{DatabaseConnection, DbErr};
use loopback_runtime::outbox::{self, Outbox};
use loopback_runtime::secrets::{Keyring, SealedColumn};
use loopback_runtime::service::{BoxError, Context, Job, Service};
use loopback_runtime::tx::{Actor, WriteOptions, WriteTx, Writes};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tonic::service::RoutesBuilder;
use uuid::Uuid;

pub use config::{IntegrationsArgs, Settings};
pub use error::{Error, Result};

/// gRPC service names the integrations service serves.
pub const SERVICE_NAMES: &[&str] = &[
    "loopback.integrations.v1.GitProviderService",
    "loopback.integrations.v1.GitConnectionService",
    "loopback.integrations.v1.RepositoryService",
    "loopback.integrations.v1.BundleService",
    "loopback.integrations.v1.EnvironmentService",
    "loopback.integrations.v1.RevisionService",
    "loopback.integrations.v1.DeploymentService",
    "loopback.integrations.v1.OperationService",
    "loopback.integrations.v1.OperationWorkerService",
    "loopback.integrations.v1.MonitoringService",
    "loopback.integrations.v1.NotificationChannelService",
    "loopback.integrations.v1.NotificationService",
];

/// How often expired operation leases go back to the queue (a claim also
/// takes expired leases itself).
const LEASE_SWEEP: Duration = Duration::from_secs(5);
/// How often tokens about to expire are refreshed.
const TOKEN_REFRESH: Duration = Duration::from_secs(60);

/// The scope (lock row) of deployment-wide writes, such as an operator
/// configuring a Git provider: not an organization.
pub const DEPLOYMENT_SCOPE: Uuid = Uuid::nil();

/// The integrations service's state. Cheap to clone.
#[derive(Clone)]
pub struct Integrations {
    inner: Arc<Inner>,
}

struct Inner {
    writes: Writes,
    settings: Settings,
    keyring: Keyring,
    authority: AuthorityClient,
    outbound: outbound::Outbound,
    /// Talks to operator-configured Git providers (redirects off; their
    /// addresses may be private, e.g. a self-managed GitLab).
    providers: reqwest::Client,
}

impl std::fmt::Debug for Integrations {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Integrations")
            .field("settings", &self.inner.settings)
            .finish()
    }
}

impl Integrations {
    /// Builds the service over its migrated database.
    pub fn new(
        db: DatabaseConnection,
        settings: Settings,
        keyring: Keyring,
        authority: AuthorityClient,
    ) -> std::result::Result<Self, String> {
        let outbound =
            outbound::Outbound::new(settings.allow_insecure_endpoints, settings.outbound_timeout)?;
        let providers = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(settings.outbound_timeout)
            .user_agent("loopback-integrations")
            .build()
            .map_err(|e| format!("building the Git provider HTTP client: {e}"))?;
        Ok(Self {
            inner: Arc::new(Inner {
                writes: Writes::new(db, <Self as Service>::NAME, Outbox),
                settings,
                keyring,
                authority,
                outbound,
                providers,
            }),
        })
    }

    /// The database (for reads; writes go through [`Integrations::begin_write`]).
    pub fn db(&self) -> &DatabaseConnection {
        self.inner.writes.db()
    }

    /// The settings.
    pub fn settings(&self) -> &Settings {
        &self.inner.settings
    }

    /// The keyring sealing tokens and secrets.
    pub fn keyring(&self) -> &Keyring {
        &self.inner.keyring
    }

    /// The authority client.
    pub fn authority(&self) -> &AuthorityClient {
        &self.inner.authority
    }

    /// The outbound rules and client.
    pub fn outbound(&self) -> &outbound::Outbound {
        &self.inner.outbound
    }

    /// The HTTP client for Git providers.
    pub fn provider_http(&self) -> &reqwest::Client {
        &self.inner.providers
    }

    /// Changes after every committed write (waiters and the delivery
    /// worker wake on it).
    pub fn committed(&self) -> watch::Receiver<u64> {
        self.inner.writes.subscribe()
    }

    /// Asks the authority whether `principal` may call `rpc` in `org`: the
    /// first step of every organization-scoped domain method. Returns the
    /// organization's policy.
    pub async fn authorize(
        &self,
        principal: &Principal,
        rpc: &Rpc,
        org: Uuid,
    ) -> Result<Arc<OrganizationPolicy>> {
        Ok(self
            .authority()
            .authorize_rpc(principal, rpc, &format!("organizations/{org}"))
            .await?)
    }

    /// The same for a row outside any organization (operator
    /// configuration, catalogs, the workers' queue).
    pub async fn authorize_unscoped(&self, principal: &Principal, rpc: &Rpc) -> Result<()> {
        Ok(self.authority().authorize_unscoped(principal, rpc).await?)
    }

    /// Opens the write transaction of `rpc` on `org`, audited as done by
    /// `principal`; see `loopback_runtime::tx`.
    pub async fn begin_write(
        &self,
        org: Uuid,
        rpc: &Rpc,
        principal: &Principal,
        options: WriteOptions,
    ) -> Result<WriteTx> {
        Ok(self
            .inner
            .writes
            .begin(org, rpc, Actor::Principal(principal.clone()), options)
            .await?)
    }

    /// A write the service makes by itself (a background refresh, a
    /// delivery), audited as `service:integrations`.
    pub async fn begin_own_write(&self, org: Uuid, rpc: &Rpc) -> Result<WriteTx> {
        let actor = Actor::Id(format!("service:{}", <Self as Service>::NAME));
        Ok(self
            .inner
            .writes
            .begin(org, rpc, actor, WriteOptions::plain())
            .await?)
    }

    /// Raises the commit signal for writes made outside a [`WriteTx`]
    /// (claims, delivery bookkeeping).
    pub fn notify_committed(&self) {
        self.inner.writes.notify();
    }

    /// Seals `secret` for the row whose associated data is `aad`.
    pub fn seal(&self, secret: &str, aad: &str) -> Result<loopback_runtime::secrets::Sealed> {
        self.keyring()
            .seal_str(secret, aad)
            .map_err(|e| Error::Corrupt(format!("sealing a secret: {e}")))
    }

    /// Opens a sealed secret of the row whose associated data is `aad`.
    pub fn open(&self, sealed: &loopback_runtime::secrets::Sealed, aad: &str) -> Result<String> {
        self.keyring()
            .open_str(sealed, aad)
            .map_err(|e| Error::Corrupt(format!("{aad}: {e}")))
    }
}

/// Adds one gRPC service, behind the authenticator, to the routes.
macro_rules! route {
    ($routes:expr, $auth:expr, $server:ident :: $ty:ident, $adapter:expr) => {
        $routes.add_service(pb::$server::$ty::with_interceptor($adapter, $auth.clone()))
    };
}

impl Service for Integrations {
    const NAME: &'static str = "integrations";
    const ABOUT: &'static str = "integrations: Git connections, bundles, deployments and their operations, monitoring sources, notification channels.";
    const DEFAULT_PORT: u16 = 50054;
    type Args = IntegrationsArgs;
    type Link = AuthorityArgs;

    fn database_url(args: &IntegrationsArgs) -> Option<&str> {
        args.database_url.as_deref()
    }

    fn grpc_services() -> &'static [&'static str] {
        SERVICE_NAMES
    }

    fn sealed_secrets() -> &'static [SealedColumn] {
        &[
            SealedColumn {
                table: "git_providers",
                id_column: "provider",
                key_id_column: "secret_key_id",
                ciphertext_column: "secret_ciphertext",
                aad: git::client_secret_aad,
            },
            SealedColumn {
                table: "git_oauth_states",
                id_column: "id",
                key_id_column: "verifier_key_id",
                ciphertext_column: "verifier_ciphertext",
                aad: git::verifier_aad,
            },
            SealedColumn {
                table: "git_connections",
                id_column: "id",
                key_id_column: "access_key_id",
                ciphertext_column: "access_ciphertext",
                aad: git::access_token_aad,
            },
            SealedColumn {
                table: "git_connections",
                id_column: "id",
                key_id_column: "refresh_key_id",
                ciphertext_column: "refresh_ciphertext",
                aad: git::refresh_token_aad,
            },
            SealedColumn {
                table: "environment_variables",
                id_column: "id",
                key_id_column: "secret_key_id",
                ciphertext_column: "secret_ciphertext",
                aad: bundles::variable_aad,
            },
            SealedColumn {
                table: "notification_channels",
                id_column: "id",
                key_id_column: "secret_key_id",
                ciphertext_column: "secret_ciphertext",
                aad: notifications::channel_secret_aad,
            },
        ]
    }

    async fn migrate(db: &DatabaseConnection) -> std::result::Result<(), DbErr> {
        migration::migrate(db).await
    }

    async fn open(
        ctx: &Context,
        args: &IntegrationsArgs,
        db: DatabaseConnection,
    ) -> std::result::Result<Self, BoxError> {
        let settings = args.settings()?;
        let authority = AuthorityClient::from_link(ctx.authority()?)?;
        Ok(Self::new(db, settings, ctx.keyring.clone(), authority)?)
    }

    fn routes(&self, routes: &mut RoutesBuilder, auth: &Authenticator) {
        use bundles::grpc::{BundleGrpc, DeploymentGrpc, EnvironmentGrpc, RevisionGrpc};
        use git::grpc::{GitConnectionGrpc, GitProviderGrpc, RepositoryGrpc};
        use monitoring::grpc::MonitoringGrpc;
        use notifications::grpc::{NotificationChannelGrpc, NotificationGrpc};
        use operations::grpc::{OperationGrpc, WorkerGrpc};
        route!(
            routes,
            auth,
            git_provider_service_server::GitProviderServiceServer,
            GitProviderGrpc(self.clone())
        );
        route!(
            routes,
            auth,
            git_connection_service_server::GitConnectionServiceServer,
            GitConnectionGrpc(self.clone())
        );
        route!(
            routes,
            auth,
            repository_service_server::RepositoryServiceServer,
            RepositoryGrpc(self.clone())
        );
        route!(
            routes,
            auth,
            bundle_service_server::BundleServiceServer,
            BundleGrpc(self.clone())
        );
        route!(
            routes,
            auth,
            environment_service_server::EnvironmentServiceServer,
            EnvironmentGrpc(self.clone())
        );
        route!(
            routes,
            auth,
            revision_service_server::RevisionServiceServer,
            RevisionGrpc(self.clone())
        );
        route!(
            routes,
            auth,
            deployment_service_server::DeploymentServiceServer,
            DeploymentGrpc(self.clone())
        );
        route!(
            routes,
            auth,
            operation_service_server::OperationServiceServer,
            OperationGrpc(self.clone())
        );
        route!(
            routes,
            auth,
            operation_worker_service_server::OperationWorkerServiceServer,
            WorkerGrpc(self.clone())
        );
        route!(
            routes,
            auth,
            monitoring_service_server::MonitoringServiceServer,
            MonitoringGrpc(self.clone())
        );
        route!(
            routes,
            auth,
            notification_channel_service_server::NotificationChannelServiceServer,
            NotificationChannelGrpc(self.clone())
        );
        route!(
            routes,
            auth,
            notification_service_server::NotificationServiceServer,
            NotificationGrpc(self.clone())
        );
    }

    fn jobs(&self, shutdown: &CancellationToken) -> Vec<Job> {
        let relay = outbox::relay(
            self.db().clone(),
            self.authority().clone(),
            self.inner.writes.subscribe(),
            shutdown.clone(),
        );
        // Subscribed here, before the job's first reconciliation, so no
        // lifecycle event in between is missed.
        let lifecycle = follow_lifecycle(
            purge::PurgeFollower(self.clone()),
            self.authority().subscribe_lifecycle(),
            purge::CADENCE,
            shutdown.clone(),
        );
        let deliveries = self.clone().delivery_worker(shutdown.clone());
        let sweeper = self.clone();
        let refresher = self.clone();
        vec![
            Job {
                name: "audit outbox relay",
                task: Box::pin(relay),
            },
            Job {
                name: "project and organization lifecycle",
                task: Box::pin(lifecycle),
            },
            Job {
                name: "notification delivery worker",
                task: Box::pin(deliveries),
            },
            Job::every("operation lease sweep", LEASE_SWEEP, shutdown, move || {
                let s = sweeper.clone();
                async move { s.requeue_expired_leases().await.map_err(|e| e.to_string()) }
            }),
            Job::every("git token refresh", TOKEN_REFRESH, shutdown, move || {
                let s = refresher.clone();
                async move { s.refresh_expiring_tokens().await.map_err(|e| e.to_string()) }
            }),
        ]
    }
}

/// Applies the integrations service's pending migrations.
pub async fn migrate(db: &DatabaseConnection) -> std::result::Result<(), DbErr> {
    migration::migrate(db).await
}
