//! billing: payment methods (card tokens, SEPA mandates with sealed IBANs),
//! metered usage from platform services, the price book, cost summaries,
//! invoices and spending limits. Every call is authorized by org-core through
//! the authority client (`loopback-org-core-client`); billing never
//! re-implements the status policy.
//!
//! Built from the service kit like every service: one module per resource
//! family in three layers — the gRPC adapter (`grpc.rs`: parse into the
//! domain's input, one domain call, map), the domain (`mod.rs`: methods on
//! [`Billing`] taking `(principal, input)`, authorizing their row of
//! [`rpcs`] first and writing through the kit's transaction helper), and
//! the store (`store.rs`, the only place besides `entity/` and `migration/`
//! that touches sea-orm). Writes are audited through the kit's outbox,
//! which a background job relays to org-core's audit log.
//!
//! Spending alerts are recorded with an outbox row in the same transaction
//! and relayed to the integrations service's `Notify` (the `alerts`
//! module), which delivers them to the organization's notification
//! channels.

pub mod alerts;
pub mod config;
pub mod costs;
pub mod entity;
pub mod error;
pub mod invoices;
pub mod migration;
pub mod payment_methods;
pub mod purge;
pub mod rpcs;
pub mod spending;
pub mod usage;

use std::sync::Arc;
use std::time::Duration;

use loopback_integrations_client::Notifier;
use loopback_org_core_client::{
    AuthorityArgs, AuthorityClient, AuthorityDenied, OrganizationPolicy, follow_lifecycle,
};
use loopback_proto::billing::v1 as pb;
use loopback_runtime::auth::{Authenticator, Principal};
use loopback_runtime::authz::Rpc;
use loopback_runtime::db::{DatabaseConnection, DatabaseTransaction, DbErr};
use loopback_runtime::outbox::{self, Outbox};
use loopback_runtime::secrets::{Keyring, SealedColumn};
use loopback_runtime::service::{BoxError, Context, Job, Service};
use loopback_runtime::tx::{Actor, WriteOptions, WriteTx, Writes};
use tokio_util::sync::CancellationToken;
use tonic::service::RoutesBuilder;
use uuid::Uuid;

pub use config::{BillingArgs, Settings};
pub use error::{Error, Result};

/// gRPC service names billing serves.
pub const SERVICE_NAMES: &[&str] = &[
    "loopback.billing.v1.PaymentMethodService",
    "loopback.billing.v1.UsageService",
    "loopback.billing.v1.CostService",
    "loopback.billing.v1.InvoiceService",
    "loopback.billing.v1.SpendingLimitService",
];

/// How often hard spending limits are re-evaluated without usage (a new
/// period unblocks).
const SPENDING_SWEEP: Duration = Duration::from_secs(60);

/// How often facts for org-core's onboarding checklist that did not get
/// through right after their write are reported again.
const ONBOARDING_REPORTS: Duration = Duration::from_secs(2);

/// billing's state. Cheap to clone.
#[derive(Clone)]
pub struct Billing {
    inner: Arc<Inner>,
}

struct Inner {
    writes: Writes,
    settings: Settings,
    keyring: Keyring,
    authority: AuthorityClient,
    /// Where spending alerts are notified (`None`: recorded only).
    notifier: Option<Notifier>,
}

impl std::fmt::Debug for Billing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Billing")
            .field("settings", &self.inner.settings)
            .finish()
    }
}

impl Billing {
    /// Builds the service over its migrated database.
    pub fn new(
        db: DatabaseConnection,
        settings: Settings,
        keyring: Keyring,
        authority: AuthorityClient,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                writes: Writes::new(db, <Self as Service>::NAME, Outbox),
                settings,
                keyring,
                authority,
                notifier: None,
            }),
        }
    }

    /// The same service, notifying spending alerts through `notifier`.
    pub fn with_notifier(mut self, notifier: Notifier) -> Self {
        if let Some(inner) = Arc::get_mut(&mut self.inner) {
            inner.notifier = Some(notifier);
        }
        self
    }

    /// The client of the integrations service's Notify, if configured.
    pub fn notifier(&self) -> Option<&Notifier> {
        self.inner.notifier.as_ref()
    }

    /// Changes after every commit billing signals (writes, alerts).
    pub fn committed(&self) -> tokio::sync::watch::Receiver<u64> {
        self.inner.writes.subscribe()
    }

    /// Raises the commit signal for writes made outside a `WriteTx`.
    pub fn notify_committed(&self) {
        self.inner.writes.notify();
    }

    /// The database (for reads; writes go through [`Billing::begin_write`]).
    pub fn db(&self) -> &DatabaseConnection {
        self.inner.writes.db()
    }

    /// The settings.
    pub fn settings(&self) -> &Settings {
        &self.inner.settings
    }

    /// The keyring sealing payment secrets.
    pub fn keyring(&self) -> &Keyring {
        &self.inner.keyring
    }

    /// The authority client.
    pub fn authority(&self) -> &AuthorityClient {
        &self.inner.authority
    }

    /// Asks the authority whether `principal` may call `rpc` in `org`:
    /// the first step of every domain method. Returns the organization's
    /// policy (limits, flags).
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

    /// A plain transaction (no organization lock, request id or audit), for
    /// usage ingestion.
    pub async fn unlocked_tx(&self) -> Result<DatabaseTransaction> {
        Ok(self.inner.writes.unlocked().await?)
    }

    /// A write billing makes by itself (the spending evaluation), audited as
    /// `service:billing`.
    pub async fn begin_own_write(&self, org: Uuid, rpc: &Rpc) -> Result<WriteTx> {
        let actor = Actor::Id(format!("service:{}", <Self as Service>::NAME));
        Ok(self
            .inner
            .writes
            .begin(org, rpc, actor, WriteOptions::plain())
            .await?)
    }
}

/// Adds one gRPC service, behind the authenticator, to the routes.
macro_rules! route {
    ($routes:expr, $auth:expr, $server:ident :: $ty:ident, $adapter:expr) => {
        $routes.add_service(pb::$server::$ty::with_interceptor($adapter, $auth.clone()))
    };
}

impl Service for Billing {
    const NAME: &'static str = "billing";
    const ABOUT: &'static str =
        "billing: payment methods, usage, costs, invoices and spending limits.";
    const DEFAULT_PORT: u16 = 50052;
    type Args = BillingArgs;
    type Link = AuthorityArgs;

    fn database_url(args: &BillingArgs) -> Option<&str> {
        args.database_url.as_deref()
    }

    fn grpc_services() -> &'static [&'static str] {
        SERVICE_NAMES
    }

    fn sealed_secrets() -> &'static [SealedColumn] {
        &[SealedColumn {
            table: "payment_methods",
            id_column: "id",
            key_id_column: "secret_key_id",
            ciphertext_column: "secret_ciphertext",
            aad: payment_methods::secret_aad,
        }]
    }

    async fn migrate(db: &DatabaseConnection) -> std::result::Result<(), DbErr> {
        migration::migrate(db).await
    }

    async fn open(
        ctx: &Context,
        args: &BillingArgs,
        db: DatabaseConnection,
    ) -> std::result::Result<Self, BoxError> {
        let settings = args.settings()?;
        let link = ctx.authority()?;
        let authority = AuthorityClient::from_link(link)?;
        // In loopbackd, integrations is served by the same process as
        // org-core; a standalone billing is told where it is.
        let url = args.integrations_url.as_deref().unwrap_or(&link.url);
        let notifier = Notifier::connect(url, &link.service_token)?;
        Ok(Self::new(db, settings, ctx.keyring.clone(), authority).with_notifier(notifier))
    }

    fn routes(&self, routes: &mut RoutesBuilder, auth: &Authenticator) {
        use payment_methods::grpc::PaymentMethodGrpc;
        use spending::grpc::SpendingGrpc;
        route!(
            routes,
            auth,
            payment_method_service_server::PaymentMethodServiceServer,
            PaymentMethodGrpc(self.clone())
        );
        route!(
            routes,
            auth,
            usage_service_server::UsageServiceServer,
            usage::grpc::UsageGrpc(self.clone())
        );
        route!(
            routes,
            auth,
            cost_service_server::CostServiceServer,
            costs::grpc::CostGrpc(self.clone())
        );
        route!(
            routes,
            auth,
            invoice_service_server::InvoiceServiceServer,
            invoices::grpc::InvoiceGrpc(self.clone())
        );
        route!(
            routes,
            auth,
            spending_limit_service_server::SpendingLimitServiceServer,
            SpendingGrpc(self.clone())
        );
    }

    fn jobs(&self, shutdown: &CancellationToken) -> Vec<Job> {
        let relay = outbox::relay(
            self.db().clone(),
            self.authority().clone(),
            self.inner.writes.subscribe(),
            shutdown.clone(),
        );
        let billing = self.clone();
        let reporter = self.clone();
        // Subscribed here, before the job's first reconciliation, so no
        // purge in between is missed.
        let purges = follow_lifecycle(
            purge::PurgeFollower(self.clone()),
            self.authority().subscribe_lifecycle(),
            purge::CADENCE,
            shutdown.clone(),
        );
        let alerts = self.clone().spending_alert_relay(shutdown.clone());
        vec![
            Job {
                name: "spending alert relay",
                task: Box::pin(alerts),
            },
            Job {
                name: "audit outbox relay",
                task: Box::pin(relay),
            },
            Job {
                name: "purge",
                task: Box::pin(purges),
            },
            Job::every("spending sweep", SPENDING_SWEEP, shutdown, move || {
                let billing = billing.clone();
                async move { billing.sweep_spending().await.map_err(|e| e.to_string()) }
            }),
            Job::every(
                "onboarding reports",
                ONBOARDING_REPORTS,
                shutdown,
                move || {
                    let reporter = reporter.clone();
                    async move {
                        match reporter.report_onboarding().await {
                            // org-core is away: the facts wait, quietly.
                            Err(Error::Denied(AuthorityDenied::Unavailable(cause))) => {
                                tracing::debug!(%cause, "onboarding facts wait for org-core");
                                Ok(())
                            }
                            other => other.map(|_| ()).map_err(|e| e.to_string()),
                        }
                    }
                },
            ),
        ]
    }
}

/// Applies billing's pending migrations.
pub async fn migrate(db: &DatabaseConnection) -> std::result::Result<(), DbErr> {
    migration::migrate(db).await
}
