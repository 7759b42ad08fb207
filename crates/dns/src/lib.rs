//! dns: domain registration records with DNS ownership proofs, DNS zones
//! and their records (with RFC 1035 zone-file import and export), and
//! network bridges. Every call is authorized by org-core through the
//! authority client (`loopback-org-core-client`); dns never re-implements
//! the status policy.
//!
//! Built from the service kit like every service: one module per resource
//! family in three layers — the gRPC adapter (`grpc.rs`: parse into the
//! domain's input, one domain call, map), the domain (`mod.rs`: methods on
//! [`Dns`] taking `(principal, input)`, authorizing their row of [`rpcs`]
//! first and writing through the kit's transaction helper), and the store
//! (`store.rs`, the only place besides `entity/` and `migration/` that
//! touches sea-orm). Writes are audited through the kit's outbox, and the
//! usage of dns's limits (`max_dns_zones`, `max_dns_records_per_zone`,
//! `max_network_bridges`) is counted in the same transactions and relayed
//! to org-core's `QuotaService.ReportUsage` by [`usage`].
//!
//! DNS itself comes from well-kept crates: hickory-proto (names, record
//! data, zone-file parsing), hickory-resolver (VerifyDomain's lookups),
//! `idna`, `psl` (the public suffix list) and `ipnet` (bridge CIDRs).
//!
//! Zones live at organization scope or in a project (authorized in the
//! project's scope, NOT_FOUND while it is not live, deleted when it is
//! purged: `purge`); name patterns of organization zones can be delegated
//! to projects and workspaces (`delegations`), whose members then manage
//! the records under them.

pub mod bridges;
pub mod config;
pub mod delegations;
pub mod dnsname;
pub mod domains;
pub mod entity;
pub mod error;
pub mod migration;
pub mod purge;
pub mod records;
pub mod rpcs;
pub mod usage;
pub mod zones;

use std::sync::Arc;

use loopback_org_core_client::{
    AuthorityArgs, AuthorityClient, OrganizationPolicy, follow_lifecycle,
};
use loopback_proto::dns::v1 as pb;
use loopback_runtime::auth::{Authenticator, Principal};
use loopback_runtime::authz::Rpc;
use loopback_runtime::db::{DatabaseConnection, DbErr};
use loopback_runtime::outbox::{self, Outbox};
use loopback_runtime::service::{BoxError, Context, Job, Service};
use loopback_runtime::tx::{Actor, WriteOptions, WriteTx, Writes};
use tokio_util::sync::CancellationToken;
use tonic::service::RoutesBuilder;
use tonic::service::interceptor::InterceptedService;
use uuid::Uuid;

pub use config::{DnsArgs, Settings};
pub use error::{Error, Result};
use zones::{Scope, ZoneName};

/// gRPC service names dns serves.
pub const SERVICE_NAMES: &[&str] = &[
    "loopback.dns.v1.DomainService",
    "loopback.dns.v1.ZoneService",
    "loopback.dns.v1.RecordService",
    "loopback.dns.v1.DelegationService",
    "loopback.dns.v1.NetworkBridgeService",
];

/// dns's state. Cheap to clone.
#[derive(Clone)]
pub struct Dns {
    inner: Arc<Inner>,
}

struct Inner {
    writes: Writes,
    settings: Settings,
    authority: AuthorityClient,
}

impl std::fmt::Debug for Dns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dns")
            .field("settings", &self.inner.settings)
            .finish()
    }
}

impl Dns {
    /// Builds the service over its migrated database.
    pub fn new(db: DatabaseConnection, settings: Settings, authority: AuthorityClient) -> Self {
        Self {
            inner: Arc::new(Inner {
                writes: Writes::new(db, <Self as Service>::NAME, Outbox),
                settings,
                authority,
            }),
        }
    }

    /// The database (for reads; writes go through [`Dns::begin_write`]).
    pub fn db(&self) -> &DatabaseConnection {
        self.inner.writes.db()
    }

    /// The settings.
    pub fn settings(&self) -> &Settings {
        &self.inner.settings
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

    /// [`Dns::authorize`] in a scope: the organization, or one of its
    /// projects — decided there (organization roles plus the caller's
    /// roles on the project) and NOT_FOUND unless the project is live.
    pub async fn authorize_scope(
        &self,
        principal: &Principal,
        rpc: &Rpc,
        scope: Scope,
    ) -> Result<Arc<OrganizationPolicy>> {
        if scope.project.is_none() {
            return self.authorize(principal, rpc, scope.organization).await;
        }
        let project = scope.to_string();
        let policy = self
            .authority()
            .authorize_rpc_in(principal, rpc, &project)
            .await?;
        if !self.authority().project(&project).await?.is_live() {
            return Err(Error::not_found(project));
        }
        Ok(policy)
    }

    /// Authorizes a read of the zone itself (GetZone): in its scope, or,
    /// for an organization zone, also through any of its delegations (a
    /// project member reads the zone their names are delegated in).
    pub async fn authorize_zone_read(
        &self,
        principal: &Principal,
        rpc: &Rpc,
        zone: ZoneName,
    ) -> Result<Arc<OrganizationPolicy>> {
        Ok(self.name_access(principal, &[rpc], zone).await?.0)
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

    /// A write dns makes by itself (the expiry sweep), audited as
    /// `service:dns`.
    pub async fn begin_own_write(&self, org: Uuid, rpc: &Rpc) -> Result<WriteTx> {
        let actor = Actor::Id(format!("service:{}", <Self as Service>::NAME));
        Ok(self
            .inner
            .writes
            .begin(org, rpc, actor, WriteOptions::plain())
            .await?)
    }

    /// The limit `key` of a policy; unlimited when the policy has none.
    pub fn limit_of(policy: &OrganizationPolicy, key: &str) -> i64 {
        policy.limit(key).unwrap_or(i64::MAX)
    }
}

/// Adds one gRPC service, behind the authenticator, to the routes.
macro_rules! route {
    ($routes:expr, $auth:expr, $server:ident :: $ty:ident, $adapter:expr) => {
        $routes.add_service(pb::$server::$ty::with_interceptor($adapter, $auth.clone()))
    };
}

impl Service for Dns {
    const NAME: &'static str = "dns";
    const ABOUT: &'static str = "dns: domains, DNS zones and records, network bridges.";
    const DEFAULT_PORT: u16 = 50053;
    type Args = DnsArgs;
    type Link = AuthorityArgs;

    fn database_url(args: &DnsArgs) -> Option<&str> {
        args.database_url.as_deref()
    }

    fn grpc_services() -> &'static [&'static str] {
        SERVICE_NAMES
    }

    async fn migrate(db: &DatabaseConnection) -> std::result::Result<(), DbErr> {
        migration::migrate(db).await
    }

    async fn open(
        ctx: &Context,
        args: &DnsArgs,
        db: DatabaseConnection,
    ) -> std::result::Result<Self, BoxError> {
        let settings = args.settings()?;
        let authority = AuthorityClient::from_link(ctx.authority()?)?;
        Ok(Self::new(db, settings, authority))
    }

    fn routes(&self, routes: &mut RoutesBuilder, auth: &Authenticator) {
        route!(
            routes,
            auth,
            domain_service_server::DomainServiceServer,
            domains::grpc::DomainGrpc(self.clone())
        );
        // Zone files up to their cap must get through tonic's 4 MiB default.
        let zones =
            pb::zone_service_server::ZoneServiceServer::new(zones::grpc::ZoneGrpc(self.clone()))
                .max_decoding_message_size(zones::MAX_REQUEST_BYTES);
        routes.add_service(InterceptedService::new(zones, auth.clone()));
        route!(
            routes,
            auth,
            record_service_server::RecordServiceServer,
            records::grpc::RecordGrpc(self.clone())
        );
        route!(
            routes,
            auth,
            delegation_service_server::DelegationServiceServer,
            delegations::grpc::DelegationGrpc(self.clone())
        );
        route!(
            routes,
            auth,
            network_bridge_service_server::NetworkBridgeServiceServer,
            bridges::grpc::BridgeGrpc(self.clone())
        );
    }

    fn jobs(&self, shutdown: &CancellationToken) -> Vec<Job> {
        let relay = outbox::relay(
            self.db().clone(),
            self.authority().clone(),
            self.inner.writes.subscribe(),
            shutdown.clone(),
        );
        let usage = usage::relay(
            self.clone(),
            self.inner.writes.subscribe(),
            shutdown.clone(),
        );
        // Subscribed here, before the job's first reconciliation, so no
        // purge in between is missed.
        let lifecycle = follow_lifecycle(
            purge::LifecycleJob(self.clone()),
            self.authority().subscribe_lifecycle(),
            purge::CADENCE,
            shutdown.clone(),
        );
        let dns = self.clone();
        vec![
            Job {
                name: "audit outbox relay",
                task: Box::pin(relay),
            },
            Job {
                name: "lifecycle follower",
                task: Box::pin(lifecycle),
            },
            Job {
                name: "usage relay",
                task: Box::pin(usage),
            },
            Job::every(
                "domain expiry sweep",
                self.settings().expiry_sweep,
                shutdown,
                move || {
                    let dns = dns.clone();
                    async move {
                        dns.expire_domains()
                            .await
                            .map(|_| ())
                            .map_err(|e| e.to_string())
                    }
                },
            ),
        ]
    }
}

/// Applies dns's pending migrations.
pub async fn migrate(db: &DatabaseConnection) -> std::result::Result<(), DbErr> {
    migration::migrate(db).await
}
