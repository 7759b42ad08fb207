//! org-core's RPC table: who may call each method and how the status table
//! judges it. Every domain method starts by authorizing its row
//! ([`crate::OrgCore::authorize`], or [`crate::OrgCore::authorize_project`]
//! for the project-scoped ones, which also count the caller's roles on the
//! project), so this table is the whole permission map of org-core; a test
//! compares it with the protos and with the published catalog.

use loopback_runtime::authz::ActionClass::{Create, Operate, Read, Setup};
use loopback_runtime::authz::{ACCOUNTS, ANYONE, OPERATORS, SERVICES, perm};

use crate::catalog as c;

loopback_runtime::rpc_table! {
    // OrganizationService
    CREATE_ORGANIZATION = "CreateOrganization", ACCOUNTS, Setup;
    GET_ORGANIZATION = "GetOrganization", perm(c::ORGANIZATIONS_GET), Read;
    LIST_ORGANIZATIONS = "ListOrganizations", ANYONE, Read;
    UPDATE_ORGANIZATION = "UpdateOrganization", perm(c::ORGANIZATIONS_UPDATE), Setup;
    DELETE_ORGANIZATION = "DeleteOrganization", perm(c::ORGANIZATIONS_DELETE), Setup;
    UNDELETE_ORGANIZATION = "UndeleteOrganization", perm(c::ORGANIZATIONS_UNDELETE), Setup;
    // ProjectService
    CREATE_PROJECT = "CreateProject", perm(c::PROJECTS_CREATE), Create;
    GET_PROJECT = "GetProject", perm(c::PROJECTS_GET), Read;
    LIST_PROJECTS = "ListProjects", perm(c::PROJECTS_LIST), Read;
    UPDATE_PROJECT = "UpdateProject", perm(c::PROJECTS_UPDATE), Operate;
    DELETE_PROJECT = "DeleteProject", perm(c::PROJECTS_DELETE), Operate;
    UNDELETE_PROJECT = "UndeleteProject", perm(c::PROJECTS_UNDELETE), Create;
    // OperatorService
    SET_VERIFICATION_STATUS = "SetVerificationStatus", OPERATORS, Setup;
    SET_ORGANIZATION_STATE = "SetOrganizationState", OPERATORS, Setup;
    SET_CAPABILITIES = "SetCapabilities", OPERATORS, Setup;
    SET_ORGANIZATION_PLAN = "SetOrganizationPlan", OPERATORS, Setup;
    // AccountService
    GET_CURRENT_ACCOUNT = "GetCurrentAccount", ACCOUNTS, Read;
    // MembershipService
    LIST_MEMBERS = "ListMembers", perm(c::MEMBERS_LIST), Read;
    GET_MEMBER = "GetMember", perm(c::MEMBERS_GET), Read;
    UPDATE_MEMBER = "UpdateMember", perm(c::MEMBERS_UPDATE), Setup;
    REMOVE_MEMBER = "RemoveMember", perm(c::MEMBERS_REMOVE), Setup;
    LEAVE_ORGANIZATION = "LeaveOrganization", ACCOUNTS, Setup;
    // InviteService
    CREATE_INVITE = "CreateInvite", perm(c::INVITES_CREATE), Setup;
    LIST_INVITES = "ListInvites", perm(c::INVITES_LIST), Read;
    GET_INVITE = "GetInvite", perm(c::INVITES_LIST), Read;
    REVOKE_INVITE = "RevokeInvite", perm(c::INVITES_REVOKE), Setup;
    RESEND_INVITE = "ResendInvite", perm(c::INVITES_CREATE), Setup;
    ACCEPT_INVITE = "AcceptInvite", ACCOUNTS, Setup;
    // RoleService
    LIST_PERMISSIONS = "ListPermissions", ANYONE, Read;
    LIST_ROLES = "ListRoles", perm(c::ROLES_LIST), Read;
    GET_ROLE = "GetRole", perm(c::ROLES_GET), Read;
    CREATE_ROLE = "CreateRole", perm(c::ROLES_CREATE), Setup;
    UPDATE_ROLE = "UpdateRole", perm(c::ROLES_UPDATE), Setup;
    DELETE_ROLE = "DeleteRole", perm(c::ROLES_DELETE), Setup;
    // AuditService (an empty parent lists every organization: operators)
    LIST_AUDIT_EVENTS = "ListAuditEvents", perm(c::AUDIT_LIST), Read;
    APPEND_AUDIT_EVENTS = "AppendAuditEvents", SERVICES, Read;
    // AuthProviderService
    CREATE_AUTH_PROVIDER = "CreateAuthProvider", perm(c::AUTH_PROVIDERS_CREATE), Setup;
    GET_AUTH_PROVIDER = "GetAuthProvider", perm(c::AUTH_PROVIDERS_GET), Read;
    LIST_AUTH_PROVIDERS = "ListAuthProviders", perm(c::AUTH_PROVIDERS_LIST), Read;
    UPDATE_AUTH_PROVIDER = "UpdateAuthProvider", perm(c::AUTH_PROVIDERS_UPDATE), Setup;
    DELETE_AUTH_PROVIDER = "DeleteAuthProvider", perm(c::AUTH_PROVIDERS_DELETE), Setup;
    // AuthorityService
    AUTHORIZE = "Authorize", SERVICES, Read;
    GET_ORGANIZATION_POLICY = "GetOrganizationPolicy", SERVICES, Read;
    WATCH_ORGANIZATION_POLICIES = "WatchOrganizationPolicies", SERVICES, Read;
    GET_PROJECT_STATE = "GetProjectState", SERVICES, Read;
    LIST_FEATURES = "ListFeatures", ANYONE, Read;
    // QuotaService (reservations create: the status table judges them)
    RESERVE_QUOTA = "ReserveQuota", SERVICES, Create;
    COMMIT_QUOTA = "CommitQuota", SERVICES, Operate;
    RELEASE_QUOTA = "ReleaseQuota", SERVICES, Operate;
    REPORT_USAGE = "ReportUsage", SERVICES, Read;
    GET_ORGANIZATION_USAGE = "GetOrganizationUsage", perm(c::ORGANIZATIONS_GET), Read;
    SET_SPENDING_LIMIT_REACHED = "SetSpendingLimitReached", SERVICES, Read;
    // LimitRequestService (an empty parent lists every organization: operators)
    CREATE_LIMIT_INCREASE_REQUEST = "CreateLimitIncreaseRequest", perm(c::LIMIT_REQUESTS_CREATE), Setup;
    LIST_LIMIT_INCREASE_REQUESTS = "ListLimitIncreaseRequests", perm(c::LIMIT_REQUESTS_LIST), Read;
    APPROVE_LIMIT_INCREASE_REQUEST = "ApproveLimitIncreaseRequest", OPERATORS, Setup;
    DENY_LIMIT_INCREASE_REQUEST = "DenyLimitIncreaseRequest", OPERATORS, Setup;
    // PlanService (plans belong to no organization: reads are scoped to
    // what the caller may see, see `plans`)
    CREATE_PLAN = "CreatePlan", OPERATORS, Setup;
    GET_PLAN = "GetPlan", ANYONE, Read;
    LIST_PLANS = "ListPlans", ANYONE, Read;
    UPDATE_PLAN = "UpdatePlan", OPERATORS, Setup;
    DELETE_PLAN = "DeletePlan", OPERATORS, Setup;
    CHANGE_PLAN = "ChangePlan", perm(c::ORGANIZATIONS_CHANGE_PLAN), Setup;
    // OnboardingService (a report states a fact, so no status gate)
    GET_ORGANIZATION_PROFILE = "GetOrganizationProfile", perm(c::PROFILE_GET), Read;
    UPDATE_ORGANIZATION_PROFILE = "UpdateOrganizationProfile", perm(c::PROFILE_UPDATE), Setup;
    GET_ONBOARDING_STATUS = "GetOnboardingStatus", perm(c::ONBOARDING_GET), Read;
    SUBMIT_FOR_VERIFICATION = "SubmitForVerification", perm(c::ONBOARDING_SUBMIT), Setup;
    LIST_REVIEW_QUEUE = "ListReviewQueue", OPERATORS, Read;
    REPORT_ONBOARDING_ITEM = "ReportOnboardingItem", SERVICES, Read;
}

/// Not an RPC: the audit name of the purge job removing an organization
/// (and everything org-core holds for it) for good.
pub const PURGE_ORGANIZATION: loopback_runtime::authz::Rpc =
    loopback_runtime::authz::Rpc::new("PurgeOrganization", OPERATORS, Setup);

/// Not an RPC: the audit name of the purge job removing a project deleted
/// on its own for good.
pub const PURGE_PROJECT: loopback_runtime::authz::Rpc =
    loopback_runtime::authz::Rpc::new("PurgeProject", OPERATORS, Setup);

#[cfg(test)]
mod tests {
    use prost::Message as _;

    use super::*;

    /// `(service, method)` of every RPC org-core's protos declare.
    fn proto_methods() -> Vec<(String, String)> {
        let set = prost_types::FileDescriptorSet::decode(loopback_proto::FILE_DESCRIPTOR_SET)
            .expect("the descriptor set decodes");
        set.file
            .iter()
            .filter(|f| f.package() == "loopback.orgcore.v1")
            .flat_map(|f| &f.service)
            .flat_map(|s| {
                s.method
                    .iter()
                    .map(|m| (s.name().to_string(), m.name().to_string()))
            })
            .collect()
    }

    #[test]
    fn every_rpc_of_every_service_has_exactly_one_row() {
        let methods = proto_methods();
        assert!(methods.len() > 40, "org-core's services were found");
        for (service, method) in &methods {
            let rows = RPCS.iter().filter(|r| r.method == method).count();
            assert_eq!(rows, 1, "{service}.{method} has {rows} rows in RPCS");
        }
        for row in RPCS {
            assert!(
                methods.iter().any(|(_, m)| m == row.method),
                "{} is in RPCS but no org-core service declares it",
                row.method
            );
        }
        let mut services: Vec<String> = methods
            .iter()
            .map(|(s, _)| format!("loopback.orgcore.v1.{s}"))
            .collect();
        services.sort();
        services.dedup();
        let mut served: Vec<String> = crate::SERVICE_NAMES.iter().map(|s| s.to_string()).collect();
        served.sort();
        assert_eq!(services, served, "SERVICE_NAMES lists every service");
    }

    #[test]
    fn every_permission_in_the_table_is_in_the_catalog() {
        for row in RPCS {
            if let Some(permission) = row.permission() {
                assert_eq!(
                    crate::catalog::lookup(permission),
                    Some(permission),
                    "{}: {permission} is not in the catalog",
                    row.method
                );
            }
        }
    }
}
