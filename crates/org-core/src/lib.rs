//! org-core: Loopback's tenant service and the authority.
//!
//! It owns organizations (verification status, lifecycle state, capability
//! limits and flags), projects, accounts and memberships, the audit log and
//! the policy change feed, and answers the other services' access questions
//! from the one status policy table in [`policy`].
//!
//! Layout: one module per resource family (`organizations`, `projects`,
//! `operator`, `accounts`, `authority`), each with a gRPC adapter
//! (`grpc.rs`, the only code that sees prost types), the domain operations
//! (`mod.rs`, methods on [`OrgCore`]) and, where it has tables, a store
//! (`store.rs`, the only code that sees sea-orm entities besides shared
//! helpers).

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
pub mod grpc;
pub mod invites;
pub mod limit_requests;
pub mod memberships;
pub mod migration;
pub mod model;
pub mod operator;
pub mod organizations;
pub mod policy;
pub mod projects;
pub mod quotas;
pub mod roles;
pub mod service;

use loopback_proto::orgcore::v1 as pb;
use loopback_runtime::auth::Authenticator;
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
];

impl OrgCore {
    /// Adds every org-core gRPC service, behind `auth`, to `routes`.
    pub fn add_routes(&self, routes: &mut RoutesBuilder, auth: &Authenticator) {
        routes
            .add_service(
                pb::organization_service_server::OrganizationServiceServer::with_interceptor(
                    organizations::grpc::OrganizationGrpc(self.clone()),
                    auth.clone(),
                ),
            )
            .add_service(
                pb::project_service_server::ProjectServiceServer::with_interceptor(
                    projects::grpc::ProjectGrpc(self.clone()),
                    auth.clone(),
                ),
            )
            .add_service(
                pb::operator_service_server::OperatorServiceServer::with_interceptor(
                    operator::grpc::OperatorGrpc(self.clone()),
                    auth.clone(),
                ),
            )
            .add_service(
                pb::account_service_server::AccountServiceServer::with_interceptor(
                    accounts::grpc::AccountGrpc(self.clone()),
                    auth.clone(),
                ),
            )
            .add_service(
                pb::authority_service_server::AuthorityServiceServer::with_interceptor(
                    authority::grpc::AuthorityGrpc(self.clone()),
                    auth.clone(),
                ),
            )
            .add_service(
                pb::membership_service_server::MembershipServiceServer::with_interceptor(
                    memberships::grpc::MembershipGrpc(self.clone()),
                    auth.clone(),
                ),
            )
            .add_service(
                pb::invite_service_server::InviteServiceServer::with_interceptor(
                    invites::grpc::InviteGrpc(self.clone()),
                    auth.clone(),
                ),
            )
            .add_service(
                pb::role_service_server::RoleServiceServer::with_interceptor(
                    roles::grpc::RoleGrpc(self.clone()),
                    auth.clone(),
                ),
            )
            .add_service(
                pb::audit_service_server::AuditServiceServer::with_interceptor(
                    audit::grpc::AuditGrpc(self.clone()),
                    auth.clone(),
                ),
            )
            .add_service(
                pb::auth_provider_service_server::AuthProviderServiceServer::with_interceptor(
                    auth_providers::grpc::AuthProviderGrpc(self.clone()),
                    auth.clone(),
                ),
            )
            .add_service(
                pb::quota_service_server::QuotaServiceServer::with_interceptor(
                    quotas::grpc::QuotaGrpc(self.clone()),
                    auth.clone(),
                ),
            )
            .add_service(
                pb::limit_request_service_server::LimitRequestServiceServer::with_interceptor(
                    limit_requests::grpc::LimitRequestGrpc(self.clone()),
                    auth.clone(),
                ),
            );
    }
}
