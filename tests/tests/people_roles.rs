//! Acceptance (people & access): last-owner rules, no privilege escalation,
//! custom roles behind their flag, roles in use cannot be deleted, and the
//! permission matrix: every org-core RPC for every built-in role, held in
//! the organization or on one project, exactly as the published catalog
//! says; non-members always get NOT_FOUND.

use std::collections::{BTreeMap, BTreeSet};

use loopback_proto::orgcore::v1 as pb;
use loopback_tests::{Backend, TestServer, backend_tests, bad_fields, metadata, reason};
use tonic::{Code, Status};

fn mask(paths: &[&str]) -> Option<prost_types::FieldMask> {
    Some(prost_types::FieldMask {
        paths: paths.iter().map(|p| p.to_string()).collect(),
    })
}

async fn update_roles(
    server: &TestServer,
    token: &str,
    member: &str,
    roles: &[&str],
) -> Result<pb::Member, Status> {
    server
        .members(token)
        .update_member(pb::UpdateMemberRequest {
            member: Some(pb::Member {
                name: member.into(),
                roles: roles.iter().map(|r| r.to_string()).collect(),
                ..Default::default()
            }),
            update_mask: mask(&["roles"]),
            validate_only: false,
        })
        .await
        .map(|r| r.into_inner().member.unwrap())
}

async fn last_owner_can_neither_leave_be_removed_nor_be_demoted(backend: Backend) {
    let server = TestServer::start(backend).await;
    let owner = server.account_token("owner@example.com");
    let org = server.create_org(&owner, "Acme").await;
    let me = server
        .members(&owner)
        .list_members(pb::ListMembersRequest {
            parent: org.name.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .members
        .remove(0);
    assert_eq!(me.roles, ["owner"]);

    let err = server
        .members(&owner)
        .leave_organization(pb::LeaveOrganizationRequest {
            organization: org.name.clone(),
            validate_only: false,
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert_eq!(reason(&err).as_deref(), Some("LAST_OWNER"));
    assert!(err.message().contains("last owner"));
    let err = server
        .members(&owner)
        .remove_member(pb::RemoveMemberRequest {
            name: me.name.clone(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(reason(&err).as_deref(), Some("LAST_OWNER"));
    let err = update_roles(&server, &owner, &me.name, &["admin"])
        .await
        .unwrap_err();
    assert_eq!(reason(&err).as_deref(), Some("LAST_OWNER"));

    // With a second owner, the first may step down and then leave.
    let (second, _) = server
        .add_member(&owner, &org.name, "second@example.com", &["owner"])
        .await;
    let demoted = update_roles(&server, &owner, &me.name, &["admin"])
        .await
        .unwrap();
    assert_eq!(demoted.roles, ["admin"]);
    // ...and now the second owner is the last one.
    let second_member = server
        .members(&second)
        .list_members(pb::ListMembersRequest {
            parent: org.name.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .members
        .into_iter()
        .find(|m| m.email == "second@example.com")
        .unwrap();
    let err = update_roles(&server, &second, &second_member.name, &["viewer"])
        .await
        .unwrap_err();
    assert_eq!(reason(&err).as_deref(), Some("LAST_OWNER"));
    server
        .members(&owner)
        .leave_organization(pb::LeaveOrganizationRequest {
            organization: org.name.clone(),
            validate_only: false,
        })
        .await
        .unwrap();
    let err = server
        .orgs(&owner)
        .get_organization(pb::GetOrganizationRequest {
            name: org.name.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(
        err.code(),
        Code::NotFound,
        "after leaving, the organization is gone for them"
    );
    server.stop().await;
}

async fn nobody_grants_what_they_do_not_hold(backend: Backend) {
    let server = TestServer::start(backend).await;
    let owner = server.account_token("owner@example.com");
    let org = server.create_org(&owner, "Acme").await;
    server
        .set_capabilities(&org.name, &[], &[("custom_roles_allowed", true)])
        .await;
    let (admin, admin_member) = server
        .add_member(&owner, &org.name, "admin@example.com", &["admin"])
        .await;
    let (_, viewer_member) = server
        .add_member(&owner, &org.name, "viewer@example.com", &["viewer"])
        .await;

    // An admin cannot make anyone an owner (owners can delete the org; admins cannot).
    let err = update_roles(&server, &admin, &viewer_member.name, &["owner"])
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    assert_eq!(reason(&err).as_deref(), Some("PERMISSION_ESCALATION"));
    assert_eq!(metadata(&err)["permission"], "orgcore.organizations.delete");
    // ...nor invite an owner...
    let err = server
        .invites(&admin)
        .create_invite(pb::CreateInviteRequest {
            parent: org.name.clone(),
            invite: Some(pb::Invite {
                email: "boss@example.com".into(),
                roles: vec!["owner".into()],
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(reason(&err).as_deref(), Some("PERMISSION_ESCALATION"));
    // ...nor build a custom role with a permission it lacks...
    let err = server
        .roles(&admin)
        .create_role(pb::CreateRoleRequest {
            parent: org.name.clone(),
            role_id: "deleter".into(),
            role: Some(pb::Role {
                permissions: vec!["orgcore.organizations.delete".into()],
                ..Default::default()
            }),
            validate_only: false,
        })
        .await
        .unwrap_err();
    assert_eq!(reason(&err).as_deref(), Some("PERMISSION_ESCALATION"));
    // ...nor demote the owner.
    let owner_member = server
        .members(&owner)
        .list_members(pb::ListMembersRequest {
            parent: org.name.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .members
        .into_iter()
        .find(|m| m.email == "owner@example.com")
        .unwrap();
    let err = update_roles(&server, &admin, &owner_member.name, &["viewer"])
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    // But an admin can do what it holds: make the viewer a member.
    let promoted = update_roles(&server, &admin, &viewer_member.name, &["member"])
        .await
        .unwrap();
    assert_eq!(promoted.roles, ["member"]);
    // And the admin cannot change its own role to owner either.
    let err = update_roles(&server, &admin, &admin_member.name, &["owner"])
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    server.stop().await;
}

async fn custom_roles_need_their_flag_and_a_role_in_use_cannot_be_deleted(backend: Backend) {
    let server = TestServer::start(backend).await;
    let owner = server.account_token("owner@example.com");
    let org = server.verified_org(&owner, "Acme").await;
    let create = |perms: &[&str]| pb::CreateRoleRequest {
        parent: org.name.clone(),
        role_id: "deployer".into(),
        role: Some(pb::Role {
            display_name: "Deployer".into(),
            description: "Creates and reads projects".into(),
            permissions: perms.iter().map(|p| p.to_string()).collect(),
            ..Default::default()
        }),
        validate_only: false,
    };
    let err = server
        .roles(&owner)
        .create_role(create(&["orgcore.projects.create"]))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert_eq!(reason(&err).as_deref(), Some("CAPABILITY_DISABLED"));
    assert_eq!(metadata(&err)["flag"], "custom_roles_allowed");

    server
        .set_capabilities(&org.name, &[], &[("custom_roles_allowed", true)])
        .await;
    // Unknown permissions are named.
    let err = server
        .roles(&owner)
        .create_role(create(&[
            "orgcore.projects.create",
            "orgcore.unicorns.ride",
        ]))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert_eq!(bad_fields(&err), ["role.permissions[1]"]);
    let role = server
        .roles(&owner)
        .create_role(create(&[
            "orgcore.projects.create",
            "orgcore.projects.list",
            "orgcore.organizations.get",
        ]))
        .await
        .unwrap()
        .into_inner()
        .role
        .unwrap();
    assert!(!role.built_in);
    assert_eq!(role.name, format!("{}/roles/deployer", org.name));
    let roles = server
        .roles(&owner)
        .list_roles(pb::ListRolesRequest {
            parent: org.name.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .roles;
    let ids: Vec<&str> = roles
        .iter()
        .map(|r| r.name.rsplit('/').next().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "owner",
            "admin",
            "billing_admin",
            "member",
            "viewer",
            "deployer"
        ]
    );

    // Built-in roles are immutable.
    let err = server
        .roles(&owner)
        .update_role(pb::UpdateRoleRequest {
            role: Some(pb::Role {
                name: format!("{}/roles/viewer", org.name),
                permissions: vec!["orgcore.projects.create".into()],
                ..Default::default()
            }),
            update_mask: mask(&["permissions"]),
            validate_only: false,
        })
        .await
        .unwrap_err();
    assert_eq!(reason(&err).as_deref(), Some("BUILT_IN_ROLE"));

    // A member holding the custom role gets exactly its permissions.
    let (dev, dev_member) = server
        .add_member(&owner, &org.name, "dev@example.com", &["deployer"])
        .await;
    server
        .projects(&dev)
        .create_project(pb::CreateProjectRequest {
            parent: org.name.clone(),
            project: Some(pb::Project {
                display_name: "by deployer".into(),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap();
    let err = server
        .members(&dev)
        .list_members(pb::ListMembersRequest {
            parent: org.name.clone(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);

    // In use: cannot be deleted.
    let err = server
        .roles(&owner)
        .delete_role(pb::DeleteRoleRequest {
            name: role.name.clone(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert_eq!(reason(&err).as_deref(), Some("ROLE_IN_USE"));
    // Granted by a pending invite: still in use.
    update_roles(&server, &owner, &dev_member.name, &["viewer"])
        .await
        .unwrap();
    let invite = server
        .invites(&owner)
        .create_invite(pb::CreateInviteRequest {
            parent: org.name.clone(),
            invite: Some(pb::Invite {
                email: "later@example.com".into(),
                roles: vec!["deployer".into()],
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .invite
        .unwrap();
    let err = server
        .roles(&owner)
        .delete_role(pb::DeleteRoleRequest {
            name: role.name.clone(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(reason(&err).as_deref(), Some("ROLE_IN_USE"));
    server
        .invites(&owner)
        .revoke_invite(pb::RevokeInviteRequest {
            name: invite.name,
            validate_only: false,
        })
        .await
        .unwrap();
    server
        .roles(&owner)
        .delete_role(pb::DeleteRoleRequest {
            name: role.name.clone(),
            ..Default::default()
        })
        .await
        .unwrap();
    server.stop().await;
}

/// Every org-scoped org-core RPC with the permission it checks.
const MATRIX: &[(&str, &str)] = &[
    ("GetOrganization", "orgcore.organizations.get"),
    ("UpdateOrganization", "orgcore.organizations.update"),
    ("DeleteOrganization", "orgcore.organizations.delete"),
    ("UndeleteOrganization", "orgcore.organizations.undelete"),
    ("CreateProject", "orgcore.projects.create"),
    ("GetProject", "orgcore.projects.get"),
    ("ListProjects", "orgcore.projects.list"),
    ("UpdateProject", "orgcore.projects.update"),
    ("DeleteProject", "orgcore.projects.delete"),
    ("UndeleteProject", "orgcore.projects.undelete"),
    ("ListMembers", "orgcore.members.list"),
    ("GetMember", "orgcore.members.get"),
    ("UpdateMember", "orgcore.members.update"),
    ("RemoveMember", "orgcore.members.remove"),
    ("CreateInvite", "orgcore.invites.create"),
    ("ListInvites", "orgcore.invites.list"),
    ("GetInvite", "orgcore.invites.list"),
    ("RevokeInvite", "orgcore.invites.revoke"),
    ("ResendInvite", "orgcore.invites.create"),
    ("ListRoles", "orgcore.roles.list"),
    ("GetRole", "orgcore.roles.get"),
    ("CreateRole", "orgcore.roles.create"),
    ("UpdateRole", "orgcore.roles.update"),
    ("DeleteRole", "orgcore.roles.delete"),
    ("ListAuditEvents", "orgcore.audit.list"),
    ("CreateAuthProvider", "orgcore.authProviders.create"),
    ("GetAuthProvider", "orgcore.authProviders.get"),
    ("ListAuthProviders", "orgcore.authProviders.list"),
    ("UpdateAuthProvider", "orgcore.authProviders.update"),
    ("DeleteAuthProvider", "orgcore.authProviders.delete"),
    ("CreateLimitIncreaseRequest", "orgcore.limitRequests.create"),
    ("ListLimitIncreaseRequests", "orgcore.limitRequests.list"),
    ("GetOrganizationUsage", "orgcore.organizations.get"),
    ("ChangePlan", "orgcore.organizations.changePlan"),
    ("GetOrganizationProfile", "orgcore.profile.get"),
    ("UpdateOrganizationProfile", "orgcore.profile.update"),
    ("GetOnboardingStatus", "orgcore.onboarding.get"),
    ("SubmitForVerification", "orgcore.onboarding.submit"),
];

/// org-core RPCs no role grants: operators only, PERMISSION_DENIED naming
/// the principal kind for every member and non-member alike.
const OPERATORS_ONLY: &[&str] = &[
    "CreatePlan",
    "UpdatePlan",
    "DeletePlan",
    "SetOrganizationPlan",
];

/// org-core RPCs open to every authenticated caller (they answer what the
/// caller may see: a self-serve plan is visible to all).
const ANYONE: &[&str] = &["GetPlan", "ListPlans"];

#[derive(Clone)]
struct Fixture {
    org: String,
    project: String,
    target_member: String,
    invite: String,
    role: String,
    provider: String,
    plan: String,
}

async fn call(server: &TestServer, token: &str, rpc: &str, f: &Fixture) -> Result<(), Status> {
    let org = f.org.clone();
    match rpc {
        "GetOrganization" => server
            .orgs(token)
            .get_organization(pb::GetOrganizationRequest { name: org })
            .await
            .map(|_| ()),
        "UpdateOrganization" => server
            .orgs(token)
            .update_organization(pb::UpdateOrganizationRequest {
                organization: Some(pb::Organization {
                    name: org,
                    display_name: "x".into(),
                    ..Default::default()
                }),
                update_mask: mask(&["display_name"]),
                validate_only: true,
            })
            .await
            .map(|_| ()),
        "DeleteOrganization" => server
            .orgs(token)
            .delete_organization(pb::DeleteOrganizationRequest {
                name: org,
                force: true,
                validate_only: true,
                ..Default::default()
            })
            .await
            .map(|_| ()),
        "UndeleteOrganization" => server
            .orgs(token)
            .undelete_organization(pb::UndeleteOrganizationRequest {
                name: org,
                validate_only: true,
            })
            .await
            .map(|_| ()),
        "CreateProject" => server
            .projects(token)
            .create_project(pb::CreateProjectRequest {
                parent: org,
                project: Some(pb::Project {
                    display_name: "x".into(),
                    ..Default::default()
                }),
                validate_only: true,
                ..Default::default()
            })
            .await
            .map(|_| ()),
        "GetProject" => server
            .projects(token)
            .get_project(pb::GetProjectRequest {
                name: f.project.clone(),
            })
            .await
            .map(|_| ()),
        "ListProjects" => server
            .projects(token)
            .list_projects(pb::ListProjectsRequest {
                parent: org,
                ..Default::default()
            })
            .await
            .map(|_| ()),
        "UpdateProject" => server
            .projects(token)
            .update_project(pb::UpdateProjectRequest {
                project: Some(pb::Project {
                    name: f.project.clone(),
                    description: "x".into(),
                    ..Default::default()
                }),
                update_mask: mask(&["description"]),
                validate_only: true,
            })
            .await
            .map(|_| ()),
        "DeleteProject" => server
            .projects(token)
            .delete_project(pb::DeleteProjectRequest {
                name: f.project.clone(),
                validate_only: true,
                ..Default::default()
            })
            .await
            .map(|_| ()),
        "UndeleteProject" => server
            .projects(token)
            .undelete_project(pb::UndeleteProjectRequest {
                name: f.project.clone(),
                validate_only: true,
            })
            .await
            .map(|_| ()),
        "ListMembers" => server
            .members(token)
            .list_members(pb::ListMembersRequest {
                parent: org,
                ..Default::default()
            })
            .await
            .map(|_| ()),
        "GetMember" => server
            .members(token)
            .get_member(pb::GetMemberRequest {
                name: f.target_member.clone(),
            })
            .await
            .map(|_| ()),
        "UpdateMember" => server
            .members(token)
            .update_member(pb::UpdateMemberRequest {
                member: Some(pb::Member {
                    name: f.target_member.clone(),
                    roles: vec!["viewer".into()],
                    ..Default::default()
                }),
                update_mask: mask(&["roles"]),
                validate_only: true,
            })
            .await
            .map(|_| ()),
        "RemoveMember" => server
            .members(token)
            .remove_member(pb::RemoveMemberRequest {
                name: f.target_member.clone(),
                validate_only: true,
                ..Default::default()
            })
            .await
            .map(|_| ()),
        "CreateInvite" => server
            .invites(token)
            .create_invite(pb::CreateInviteRequest {
                parent: org,
                invite: Some(pb::Invite {
                    email: "new@example.com".into(),
                    roles: vec!["viewer".into()],
                    ..Default::default()
                }),
                validate_only: true,
                ..Default::default()
            })
            .await
            .map(|_| ()),
        "ListInvites" => server
            .invites(token)
            .list_invites(pb::ListInvitesRequest {
                parent: org,
                ..Default::default()
            })
            .await
            .map(|_| ()),
        "GetInvite" => server
            .invites(token)
            .get_invite(pb::GetInviteRequest {
                name: f.invite.clone(),
            })
            .await
            .map(|_| ()),
        "RevokeInvite" => server
            .invites(token)
            .revoke_invite(pb::RevokeInviteRequest {
                name: f.invite.clone(),
                validate_only: true,
            })
            .await
            .map(|_| ()),
        "ResendInvite" => server
            .invites(token)
            .resend_invite(pb::ResendInviteRequest {
                name: f.invite.clone(),
                ttl_hours: 0,
            })
            .await
            .map(|_| ()),
        "ListRoles" => server
            .roles(token)
            .list_roles(pb::ListRolesRequest {
                parent: org,
                ..Default::default()
            })
            .await
            .map(|_| ()),
        "GetRole" => server
            .roles(token)
            .get_role(pb::GetRoleRequest {
                name: f.role.clone(),
            })
            .await
            .map(|_| ()),
        "CreateRole" => server
            .roles(token)
            .create_role(pb::CreateRoleRequest {
                parent: org,
                role_id: "another".into(),
                role: Some(pb::Role {
                    permissions: vec!["orgcore.organizations.get".into()],
                    ..Default::default()
                }),
                validate_only: true,
            })
            .await
            .map(|_| ()),
        "UpdateRole" => server
            .roles(token)
            .update_role(pb::UpdateRoleRequest {
                role: Some(pb::Role {
                    name: f.role.clone(),
                    description: "x".into(),
                    ..Default::default()
                }),
                update_mask: mask(&["description"]),
                validate_only: true,
            })
            .await
            .map(|_| ()),
        "DeleteRole" => server
            .roles(token)
            .delete_role(pb::DeleteRoleRequest {
                name: f.role.clone(),
                validate_only: true,
                ..Default::default()
            })
            .await
            .map(|_| ()),
        "ListAuditEvents" => server
            .audit(token)
            .list_audit_events(pb::ListAuditEventsRequest {
                parent: org,
                ..Default::default()
            })
            .await
            .map(|_| ()),
        "CreateAuthProvider" => server
            .auth_providers(token)
            .create_auth_provider(pb::CreateAuthProviderRequest {
                parent: org,
                auth_provider: Some(oidc_provider()),
                validate_only: true,
                ..Default::default()
            })
            .await
            .map(|_| ()),
        "GetAuthProvider" => server
            .auth_providers(token)
            .get_auth_provider(pb::GetAuthProviderRequest {
                name: f.provider.clone(),
            })
            .await
            .map(|_| ()),
        "ListAuthProviders" => server
            .auth_providers(token)
            .list_auth_providers(pb::ListAuthProvidersRequest {
                parent: org,
                ..Default::default()
            })
            .await
            .map(|_| ()),
        "UpdateAuthProvider" => server
            .auth_providers(token)
            .update_auth_provider(pb::UpdateAuthProviderRequest {
                auth_provider: Some(pb::AuthProvider {
                    name: f.provider.clone(),
                    enabled: true,
                    ..Default::default()
                }),
                update_mask: mask(&["enabled"]),
                validate_only: true,
            })
            .await
            .map(|_| ()),
        "DeleteAuthProvider" => server
            .auth_providers(token)
            .delete_auth_provider(pb::DeleteAuthProviderRequest {
                name: f.provider.clone(),
                validate_only: true,
                ..Default::default()
            })
            .await
            .map(|_| ()),
        "CreateLimitIncreaseRequest" => server
            .limit_requests(token)
            .create_limit_increase_request(pb::CreateLimitIncreaseRequestRequest {
                parent: org,
                limit_increase_request: Some(pb::LimitIncreaseRequest {
                    limit: "max_projects".into(),
                    requested_value: 100,
                    justification: "growth".into(),
                    ..Default::default()
                }),
                validate_only: true,
            })
            .await
            .map(|_| ()),
        "ListLimitIncreaseRequests" => server
            .limit_requests(token)
            .list_limit_increase_requests(pb::ListLimitIncreaseRequestsRequest {
                parent: org,
                ..Default::default()
            })
            .await
            .map(|_| ()),
        "GetOrganizationUsage" => server
            .quotas(token)
            .get_organization_usage(pb::GetOrganizationUsageRequest { organization: org })
            .await
            .map(|_| ()),
        "ChangePlan" => server
            .plans(token)
            .change_plan(pb::ChangePlanRequest {
                organization: org,
                plan: f.plan.clone(),
                validate_only: true,
                ..Default::default()
            })
            .await
            .map(|_| ()),
        "CreatePlan" => server
            .plans(token)
            .create_plan(pb::CreatePlanRequest {
                plan: Some(pb::Plan {
                    display_name: "x".into(),
                    ..Default::default()
                }),
                plan_id: "another".into(),
                validate_only: true,
            })
            .await
            .map(|_| ()),
        "GetOrganizationProfile" => server
            .onboarding(token)
            .get_organization_profile(pb::GetOrganizationProfileRequest {
                name: format!("{org}/profile"),
            })
            .await
            .map(|_| ()),
        "UpdateOrganizationProfile" => server
            .onboarding(token)
            .update_organization_profile(pb::UpdateOrganizationProfileRequest {
                profile: Some(pb::OrganizationProfile {
                    name: format!("{org}/profile"),
                    legal_name: "Acme GmbH".into(),
                    ..Default::default()
                }),
                update_mask: mask(&["legal_name"]),
                validate_only: true,
            })
            .await
            .map(|_| ()),
        "GetOnboardingStatus" => server
            .onboarding(token)
            .get_onboarding_status(pb::GetOnboardingStatusRequest { organization: org })
            .await
            .map(|_| ()),
        "SubmitForVerification" => server
            .onboarding(token)
            .submit_for_verification(pb::SubmitForVerificationRequest {
                organization: org,
                validate_only: true,
            })
            .await
            .map(|_| ()),
        "UpdatePlan" => server
            .plans(token)
            .update_plan(pb::UpdatePlanRequest {
                plan: Some(pb::Plan {
                    name: f.plan.clone(),
                    description: "x".into(),
                    ..Default::default()
                }),
                update_mask: mask(&["description"]),
                validate_only: true,
            })
            .await
            .map(|_| ()),
        "DeletePlan" => server
            .plans(token)
            .delete_plan(pb::DeletePlanRequest {
                name: f.plan.clone(),
                validate_only: true,
                ..Default::default()
            })
            .await
            .map(|_| ()),
        "SetOrganizationPlan" => server
            .operator(token)
            .set_organization_plan(pb::SetOrganizationPlanRequest {
                name: org,
                plan: f.plan.clone(),
                reason: "x".into(),
                validate_only: true,
                force: false,
            })
            .await
            .map(|_| ()),
        "GetPlan" => server
            .plans(token)
            .get_plan(pb::GetPlanRequest {
                name: f.plan.clone(),
            })
            .await
            .map(|_| ()),
        "ListPlans" => server
            .plans(token)
            .list_plans(pb::ListPlansRequest::default())
            .await
            .map(|_| ()),
        other => panic!("no call for {other}"),
    }
}

/// Asserts the outcome of `rpc` (checking `permission`) for `who`: allowed
/// (or stopped past the permission check by the fixture's state), or
/// PERMISSION_DENIED naming the permission.
fn expect(who: &str, rpc: &str, permission: &str, allowed: bool, result: Result<(), Status>) {
    if allowed {
        match &result {
            Ok(()) => {}
            // Allowed past the permission check, stopped by the state of the
            // fixture (nothing deleted to restore; a verified organization is
            // not submitted for verification).
            Err(e) if e.code() == Code::FailedPrecondition => {
                assert!(
                    matches!(reason(e).as_deref(), Some("NOT_DELETED" | "NOT_IN_SETUP")),
                    "{who} {rpc}: {e:?}"
                )
            }
            Err(e) => panic!("{who} {rpc} should be allowed: {e:?}"),
        }
    } else {
        let err = result.expect_err(&format!("{who} {rpc} should be denied"));
        assert_eq!(err.code(), Code::PermissionDenied, "{who} {rpc}: {err:?}");
        assert_eq!(metadata(&err)["permission"], permission, "{who} {rpc}");
    }
}

fn oidc_provider() -> pb::AuthProvider {
    pb::AuthProvider {
        display_name: "SSO".into(),
        config: Some(pb::auth_provider::Config::Oidc(pb::OidcConfig {
            issuer_uri: "https://login.example.com".into(),
            client_id: "client".into(),
            ..Default::default()
        })),
        ..Default::default()
    }
}

async fn permission_matrix_matches_the_catalog_for_every_builtin_role(backend: Backend) {
    let server = TestServer::start(backend).await;
    let owner = server.account_token("owner@example.com");
    let org = server.verified_org(&owner, "Acme").await;
    server
        .set_capabilities(
            &org.name,
            &[("max_auth_providers", 50)],
            &[("custom_roles_allowed", true), ("sso_allowed", true)],
        )
        .await;
    let provider = server
        .auth_providers(&owner)
        .create_auth_provider(pb::CreateAuthProviderRequest {
            parent: org.name.clone(),
            auth_provider: Some(oidc_provider()),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .auth_provider
        .unwrap();
    let project = server
        .projects(&owner)
        .create_project(pb::CreateProjectRequest {
            parent: org.name.clone(),
            project: Some(pb::Project {
                display_name: "p".into(),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .project
        .unwrap();
    let (_, target) = server
        .add_member(&owner, &org.name, "target@example.com", &["viewer"])
        .await;
    let invite = server
        .invites(&owner)
        .create_invite(pb::CreateInviteRequest {
            parent: org.name.clone(),
            invite: Some(pb::Invite {
                email: "pending@example.com".into(),
                roles: vec!["viewer".into()],
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .invite
        .unwrap();
    let role = server
        .roles(&owner)
        .create_role(pb::CreateRoleRequest {
            parent: org.name.clone(),
            role_id: "readers".into(),
            role: Some(pb::Role {
                permissions: vec!["orgcore.organizations.get".into()],
                ..Default::default()
            }),
            validate_only: false,
        })
        .await
        .unwrap()
        .into_inner()
        .role
        .unwrap();
    let plan = server
        .plans(&server.operator_token())
        .create_plan(pb::CreatePlanRequest {
            plan: Some(pb::Plan {
                display_name: "Starter".into(),
                self_serve: true,
                all_features: true,
                ..Default::default()
            }),
            plan_id: "starter".into(),
            validate_only: false,
        })
        .await
        .unwrap()
        .into_inner()
        .plan
        .unwrap();
    let fixture = Fixture {
        org: org.name.clone(),
        project: project.name,
        target_member: target.name,
        invite: invite.name,
        role: role.name,
        provider: provider.name,
        plan: plan.name,
    };

    // The published catalog: each built-in role's permissions.
    let published: BTreeMap<String, BTreeSet<String>> = server
        .roles(&owner)
        .list_roles(pb::ListRolesRequest {
            parent: org.name.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .roles
        .into_iter()
        .filter(|r| r.built_in)
        .map(|r| {
            (
                r.name.rsplit('/').next().unwrap().to_string(),
                r.permissions.into_iter().collect(),
            )
        })
        .collect();
    assert_eq!(published.len(), 5);
    let catalog: BTreeSet<String> = server
        .roles(&owner)
        .list_permissions(pb::ListPermissionsRequest {})
        .await
        .unwrap()
        .into_inner()
        .permissions
        .into_iter()
        .map(|p| p.name)
        .collect();
    for (_, permission) in MATRIX {
        assert!(catalog.contains(*permission), "{permission} is published");
    }

    for role_id in ["owner", "admin", "billing_admin", "member", "viewer"] {
        let email = format!("{role_id}-holder@example.com");
        let token = if role_id == "owner" {
            server
                .add_member(&owner, &org.name, &email, &["owner"])
                .await
                .0
        } else {
            server
                .add_member(&owner, &org.name, &email, &[role_id])
                .await
                .0
        };
        for (rpc, permission) in MATRIX {
            let allowed = published[role_id].contains(*permission);
            let result = call(&server, &token, rpc, &fixture).await;
            expect(role_id, rpc, permission, allowed, result);
        }
        // No role grants the operators' review queue or the services'
        // onboarding reports.
        let err = server
            .onboarding(&token)
            .list_review_queue(pb::ListReviewQueueRequest::default())
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::PermissionDenied, "{role_id}");
        assert_eq!(metadata(&err)["principal_kind"], "operator");
        let err = server
            .onboarding(&token)
            .report_onboarding_item(pb::ReportOnboardingItemRequest {
                organization: org.name.clone(),
                item: "payment_method".into(),
                complete: true,
                revision: 1,
            })
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::PermissionDenied, "{role_id}");
        assert_eq!(metadata(&err)["principal_kind"], "service or operator");
    }

    // Project roles: a member holding a built-in role on the fixture's
    // project only (`owner` is organization-wide) holds exactly the role's
    // project-scoped permissions there, reads the organization and lists
    // projects, holds nothing else at organization level, and finds every
    // other project NOT_FOUND.
    let scoped: BTreeSet<String> = server
        .roles(&owner)
        .list_permissions(pb::ListPermissionsRequest {})
        .await
        .unwrap()
        .into_inner()
        .permissions
        .into_iter()
        .filter(|p| p.project_scoped)
        .map(|p| p.name)
        .collect();
    assert_eq!(
        scoped,
        BTreeSet::from(
            [
                "dns.records.create",
                "dns.records.delete",
                "dns.records.get",
                "dns.records.list",
                "dns.records.update",
                "dns.zones.create",
                "dns.zones.delete",
                "dns.zones.get",
                "dns.zones.list",
                "dns.zones.update",
                "integrations.bundles.create",
                "integrations.bundles.delete",
                "integrations.bundles.get",
                "integrations.bundles.list",
                "integrations.bundles.update",
                "integrations.deployments.create",
                "integrations.deployments.get",
                "integrations.deployments.list",
                "integrations.deployments.operate",
                "integrations.environments.create",
                "integrations.environments.delete",
                "integrations.environments.get",
                "integrations.environments.list",
                "integrations.environments.update",
                "integrations.operations.cancel",
                "integrations.operations.get",
                "integrations.operations.list",
                "integrations.revisions.create",
                "integrations.revisions.get",
                "integrations.revisions.list",
                "orgcore.projects.delete",
                "orgcore.projects.get",
                "orgcore.projects.update"
            ]
            .map(String::from)
        ),
        "dns's zone and record permissions are granted in a project by project roles (dns_access.rs checks each built-in role on a project zone)"
    );
    const PROJECT_RPCS: [&str; 4] = [
        "GetProject",
        "UpdateProject",
        "DeleteProject",
        "UndeleteProject",
    ];
    const PROJECT_MEMBER: [&str; 2] = ["orgcore.organizations.get", "orgcore.projects.list"];
    let elsewhere = Fixture {
        project: server
            .projects(&owner)
            .create_project(pb::CreateProjectRequest {
                parent: org.name.clone(),
                project: Some(pb::Project {
                    display_name: "elsewhere".into(),
                    ..Default::default()
                }),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .project
            .unwrap()
            .name,
        ..fixture.clone()
    };
    for role_id in ["admin", "billing_admin", "member", "viewer"] {
        let email = format!("{role_id}-on-project@example.com");
        let invite = server
            .invites(&owner)
            .create_invite(pb::CreateInviteRequest {
                parent: org.name.clone(),
                invite: Some(pb::Invite {
                    email: email.clone(),
                    project_roles: vec![pb::ProjectRoles {
                        project: fixture.project.clone(),
                        roles: vec![role_id.into()],
                    }],
                    ..Default::default()
                }),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        let token = server.account_token(&email);
        server
            .invites(&token)
            .accept_invite(pb::AcceptInviteRequest {
                invite_token: invite.invite_token,
            })
            .await
            .unwrap();
        let who = format!("{role_id} on the project");
        for (rpc, permission) in MATRIX {
            let allowed = if PROJECT_RPCS.contains(rpc) {
                scoped.contains(*permission) && published[role_id].contains(*permission)
            } else {
                PROJECT_MEMBER.contains(permission)
            };
            let result = call(&server, &token, rpc, &fixture).await;
            expect(&who, rpc, permission, allowed, result);
        }
        for rpc in PROJECT_RPCS {
            let err = call(&server, &token, rpc, &elsewhere).await.unwrap_err();
            assert_eq!(err.code(), Code::NotFound, "{who} {rpc} elsewhere: {err:?}");
        }
    }
    // Operator verbs are nobody's role; plan reads are everyone's.
    let stranger = server.account_token("stranger@example.com");
    for role_id in [
        "owner",
        "admin",
        "billing_admin",
        "member",
        "viewer",
        "stranger",
    ] {
        let token = if role_id == "stranger" {
            stranger.clone()
        } else {
            server.account_token(&format!("{role_id}-holder@example.com"))
        };
        for rpc in OPERATORS_ONLY {
            let err = call(&server, &token, rpc, &fixture)
                .await
                .expect_err(&format!("{role_id} {rpc} should be denied"));
            assert_eq!(err.code(), Code::PermissionDenied, "{role_id} {rpc}");
            assert_eq!(
                metadata(&err)["principal_kind"],
                "operator",
                "{role_id} {rpc}"
            );
        }
        for rpc in ANYONE {
            call(&server, &token, rpc, &fixture)
                .await
                .unwrap_or_else(|e| panic!("{role_id} {rpc}: {e:?}"));
        }
    }
    let operator = server.operator_token();
    for rpc in OPERATORS_ONLY.iter().chain(ANYONE) {
        call(&server, &operator, rpc, &fixture)
            .await
            .unwrap_or_else(|e| panic!("operator {rpc}: {e:?}"));
    }

    // A viewer reads but never writes.
    assert!(
        published["viewer"]
            .iter()
            .all(|p| p.ends_with(".get") || p.ends_with(".list"))
    );

    // A non-member gets NOT_FOUND for every one of them.
    for (rpc, _) in MATRIX {
        let err = call(&server, &stranger, rpc, &fixture).await.unwrap_err();
        assert_eq!(err.code(), Code::NotFound, "non-member {rpc}: {err:?}");
    }
    server.stop().await;
}

backend_tests!(
    last_owner_can_neither_leave_be_removed_nor_be_demoted,
    nobody_grants_what_they_do_not_hold,
    custom_roles_need_their_flag_and_a_role_in_use_cannot_be_deleted,
    permission_matrix_matches_the_catalog_for_every_builtin_role,
);
