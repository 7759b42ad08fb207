//! org-core: Loopback's tenant service and the authority.
//!
//! It owns organizations (verification status, lifecycle state, capability
//! limits and flags), projects, accounts and memberships, the audit log and
//! the policy change feed, and answers the other services' access questions
//! from the one status policy table in [`policy`].
//!
//! Layout: one module per resource family (`organizations`, `projects`,
//! `memberships`, ...), each in three layers: the gRPC adapter (`grpc.rs`:
//! `Input::try_from(request)`, one domain call, `to_pb` — the only code that
//! sees prost types), the domain (`mod.rs`: methods on [`OrgCore`] taking
//! `(principal, input)`, authorizing their row of [`rpcs`] first, writing
//! through the kit's transaction helper) and the store (`store.rs`: the
//! only code besides `entity/` and `migration/` that touches sea-orm). A
//! module reaches another through its domain API, never its store.

pub mod access;
pub mod accounts;
pub mod audit;
pub mod auth_providers;
pub mod authority;
pub mod catalog;
pub mod changes;
pub mod config;
pub mod convert;
pub mod entity;
pub mod error;
pub mod invites;
pub mod limit_requests;
pub mod memberships;
pub mod migration;
pub mod model;
pub mod onboarding;
pub mod operator;
pub mod organizations;
pub mod paging;
pub mod plans;
pub mod policy;
pub mod projects;
pub mod purge;
pub mod quotas;
pub mod roles;
pub mod rpcs;
pub mod service;

use loopback_proto::orgcore::v1 as pb;
use loopback_runtime::auth::Authenticator;
use loopback_runtime::db::{DatabaseConnection, DbErr};
use loopback_runtime::secrets::SealedColumn;
use loopback_runtime::service::{BoxError, Context, Job, NoLink, Service};
use tokio_util::sync::CancellationToken;
use tonic::service::RoutesBuilder;

pub use config::{OrgCoreArgs, Settings};
pub use error::{Error, Result};
pub use service::{OrgCore, migrate};

/// gRPC service names org-core serves (for health reporting).
pub const SERVICE_NAMES: &[&str] = &[
    "loopback.orgcore.v1.OrganizationService",
    "loopback.orgcore.v1.ProjectService",
    "loopback.orgcore.v1.OperatorService",
    "loopback.orgcore.v1.AccountService",
    "loopback.orgcore.v1.AuthorityService",
    "loopback.orgcore.v1.MembershipService",
    "loopback.orgcore.v1.InviteService",
    "loopback.orgcore.v1.RoleService",
    "loopback.orgcore.v1.AuditService",
    "loopback.orgcore.v1.AuthProviderService",
    "loopback.orgcore.v1.QuotaService",
    "loopback.orgcore.v1.LimitRequestService",
    "loopback.orgcore.v1.PlanService",
    "loopback.orgcore.v1.OnboardingService",
];

/// Adds one gRPC service, behind the authenticator, to the routes.
macro_rules! route {
    ($routes:expr, $auth:expr, $server:ident :: $ty:ident, $adapter:expr) => {
        $routes.add_service(pb::$server::$ty::with_interceptor($adapter, $auth.clone()))
    };
}

impl Service for OrgCore {
    const NAME: &'static str = "org-core";
    const ABOUT: &'static str = "org-core: organizations, projects, people and access, and the authority every other service asks.";
    const DEFAULT_PORT: u16 = 50051;
    type Args = OrgCoreArgs;
    type Link = NoLink;

    fn database_url(args: &OrgCoreArgs) -> Option<&str> {
        args.database_url.as_deref()
    }

    fn grpc_services() -> &'static [&'static str] {
        SERVICE_NAMES
    }

    fn sealed_secrets() -> &'static [SealedColumn] {
        &[SealedColumn {
            table: "auth_providers",
            id_column: "id",
            key_id_column: "client_secret_key_id",
            ciphertext_column: "client_secret_ciphertext",
            aad: auth_providers::secret_aad,
        }]
    }

    async fn migrate(db: &DatabaseConnection) -> Result<(), DbErr> {
        migration::migrate(db).await
    }

    async fn open(
        ctx: &Context,
        args: &OrgCoreArgs,
        db: DatabaseConnection,
    ) -> Result<Self, BoxError> {
        let settings = args.settings(ctx.keyring.clone())?;
        let core = OrgCore::open(db, settings);
        // The default plan always exists (the migration seeds `default`;
        // another `--default-plan` is created here if missing).
        if core.ensure_default_plan().await? {
            tracing::info!(
                plan = %core.settings().default_plan,
                "created the default plan with the deployment's defaults"
            );
        }
        Ok(core)
    }

    fn routes(&self, routes: &mut RoutesBuilder, auth: &Authenticator) {
        use organizations::grpc::OrganizationGrpc;
        route!(
            routes,
            auth,
            organization_service_server::OrganizationServiceServer,
            OrganizationGrpc(self.clone())
        );
        route!(
            routes,
            auth,
            project_service_server::ProjectServiceServer,
            projects::grpc::ProjectGrpc(self.clone())
        );
        route!(
            routes,
            auth,
            operator_service_server::OperatorServiceServer,
            operator::grpc::OperatorGrpc(self.clone())
        );
        route!(
            routes,
            auth,
            account_service_server::AccountServiceServer,
            accounts::grpc::AccountGrpc(self.clone())
        );
        route!(
            routes,
            auth,
            authority_service_server::AuthorityServiceServer,
            authority::grpc::AuthorityGrpc(self.clone())
        );
        route!(
            routes,
            auth,
            membership_service_server::MembershipServiceServer,
            memberships::grpc::MembershipGrpc(self.clone())
        );
        route!(
            routes,
            auth,
            invite_service_server::InviteServiceServer,
            invites::grpc::InviteGrpc(self.clone())
        );
        route!(
            routes,
            auth,
            role_service_server::RoleServiceServer,
            roles::grpc::RoleGrpc(self.clone())
        );
        route!(
            routes,
            auth,
            audit_service_server::AuditServiceServer,
            audit::grpc::AuditGrpc(self.clone())
        );
        route!(
            routes,
            auth,
            auth_provider_service_server::AuthProviderServiceServer,
            auth_providers::grpc::AuthProviderGrpc(self.clone())
        );
        route!(
            routes,
            auth,
            quota_service_server::QuotaServiceServer,
            quotas::grpc::QuotaGrpc(self.clone())
        );
        route!(
            routes,
            auth,
            limit_request_service_server::LimitRequestServiceServer,
            limit_requests::grpc::LimitRequestGrpc(self.clone())
        );
        route!(
            routes,
            auth,
            plan_service_server::PlanServiceServer,
            plans::grpc::PlanGrpc(self.clone())
        );
        route!(
            routes,
            auth,
            onboarding_service_server::OnboardingServiceServer,
            onboarding::grpc::OnboardingGrpc(self.clone())
        );
    }

    /// The purge job (every `--purge-interval`: organizations and projects
    /// past their purge time, see [`purge`]) and the feed compaction (every
    /// `--feed-compaction-interval`: changes older than `--feed-retention`
    /// go, the newest always stays; a watcher behind them resyncs).
    fn jobs(&self, shutdown: &CancellationToken) -> Vec<Job> {
        let settings = self.settings();
        let purger = self.clone();
        let compactor = self.clone();
        let retention = settings.feed_retention;
        vec![
            Job::every("purge", settings.purge_interval, shutdown, move || {
                let core = purger.clone();
                async move {
                    let run = core.purge_due().await.map_err(|e| e.to_string())?;
                    if run.failed > 0 {
                        return Err(format!("{} purge(s) failed", run.failed));
                    }
                    Ok(())
                }
            }),
            Job::every(
                "feed compaction",
                settings.feed_compaction_interval,
                shutdown,
                move || {
                    let core = compactor.clone();
                    async move {
                        let removed = core
                            .compact_changes(retention)
                            .await
                            .map_err(|e| e.to_string())?;
                        tracing::debug!(removed, "compacted the policy feed");
                        Ok(())
                    }
                },
            ),
        ]
    }

    fn stop(&self) {
        // Long-lived watch streams end, so the drain does not wait on them.
        self.shutdown();
    }
}
