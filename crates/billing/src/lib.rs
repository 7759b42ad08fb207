//! billing: payment methods (card tokens, SEPA mandates with sealed IBANs),
//! metered usage from platform services, the price book, cost summaries and
//! invoices. Every call is authorized by org-core through the authority
//! client (`loopback-org-core-client`); billing never re-implements the
//! status policy.
//!
//! Layout as in org-core: one module per resource family with a gRPC
//! adapter (`grpc.rs`) and the domain operations (`mod.rs`, methods on
//! [`Billing`]) over sea-orm entities.
//!
//! Spending alerts are recorded and logged; delivering them to notification
//! channels waits for the integrations service.

pub mod config;
pub mod costs;
pub mod entity;
pub mod error;
pub mod grpc;
pub mod invoices;
pub mod migration;
pub mod payment_methods;
pub mod spending;
pub mod usage;

use std::sync::Arc;

use loopback_org_core_client::AuthorityClient;
use loopback_proto::billing::v1 as pb;
use loopback_runtime::auth::Authenticator;
use loopback_runtime::secrets::Keyring;
use sea_orm::DatabaseConnection;
use sea_orm_migration::MigratorTrait as _;
use tonic::service::RoutesBuilder;

pub use config::{BillingArgs, Settings};

/// gRPC service names billing serves.
pub const SERVICE_NAMES: &[&str] = &[
    "loopback.billing.v1.PaymentMethodService",
    "loopback.billing.v1.UsageService",
    "loopback.billing.v1.CostService",
    "loopback.billing.v1.InvoiceService",
    "loopback.billing.v1.SpendingLimitService",
];

/// billing's state. Cheap to clone.
#[derive(Clone)]
pub struct Billing {
    inner: Arc<Inner>,
}

struct Inner {
    db: DatabaseConnection,
    settings: Settings,
    keyring: Keyring,
    authority: AuthorityClient,
}

impl std::fmt::Debug for Billing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Billing")
            .field("settings", &self.inner.settings)
            .finish()
    }
}

impl Billing {
    /// Runs billing's migrations and builds the service.
    pub async fn open(
        db: DatabaseConnection,
        settings: Settings,
        keyring: Keyring,
        authority: AuthorityClient,
    ) -> Result<Self, sea_orm::DbErr> {
        migrate(&db).await?;
        let billing = Self {
            inner: Arc::new(Inner {
                db,
                settings,
                keyring,
                authority,
            }),
        };
        billing.start_spending_sweep();
        Ok(billing)
    }

    /// Re-evaluates hard spending limits every minute, so a new period
    /// unblocks even without usage. Holds only a weak reference: the task
    /// ends when the service is dropped.
    fn start_spending_sweep(&self) {
        let weak = Arc::downgrade(&self.inner);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(std::time::Duration::from_secs(60));
            tick.tick().await;
            loop {
                tick.tick().await;
                let Some(inner) = weak.upgrade() else { return };
                if let Err(e) = (Billing { inner }).sweep_spending().await {
                    tracing::warn!(error = %e, "spending sweep failed");
                }
            }
        });
    }

    /// The database.
    pub fn db(&self) -> &DatabaseConnection {
        &self.inner.db
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

    /// Adds every billing gRPC service, behind `auth`, to `routes`.
    pub fn add_routes(&self, routes: &mut RoutesBuilder, auth: &Authenticator) {
        routes
            .add_service(
                pb::payment_method_service_server::PaymentMethodServiceServer::with_interceptor(
                    payment_methods::grpc::PaymentMethodGrpc(self.clone()),
                    auth.clone(),
                ),
            )
            .add_service(
                pb::usage_service_server::UsageServiceServer::with_interceptor(
                    usage::grpc::UsageGrpc(self.clone()),
                    auth.clone(),
                ),
            )
            .add_service(
                pb::cost_service_server::CostServiceServer::with_interceptor(
                    costs::grpc::CostGrpc(self.clone()),
                    auth.clone(),
                ),
            )
            .add_service(
                pb::invoice_service_server::InvoiceServiceServer::with_interceptor(
                    invoices::grpc::InvoiceGrpc(self.clone()),
                    auth.clone(),
                ),
            )
            .add_service(
                pb::spending_limit_service_server::SpendingLimitServiceServer::with_interceptor(
                    spending::grpc::SpendingGrpc(self.clone()),
                    auth.clone(),
                ),
            );
    }
}

/// Applies billing's pending migrations.
pub async fn migrate(db: &DatabaseConnection) -> Result<(), sea_orm::DbErr> {
    migration::Migrator::up(db, None).await
}
