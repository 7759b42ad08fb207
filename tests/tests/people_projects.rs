//! Acceptance (project-scoped access, issue 9): a member can hold roles on
//! single projects. A project-only member reads and changes their project,
//! is NOT_FOUND on every other project and PERMISSION_DENIED on
//! organization-level writes; `Authorize` answers per organization, project
//! and workspace; removing a binding reaches a service's cache through the
//! feed within a second; bindings obey the no-escalation and last-owner
//! rules; and the project lifecycle reaches watchers (the raw feed and the
//! client's cache and lifecycle subscription) in order.

use std::time::{Duration, Instant};

use futures::StreamExt as _;
use loopback_org_core_client::{
    ActionClass, AuthorityClient, AuthorityDenied, Config, Decision, LifecycleChange,
    LifecycleEvent, Principal, PrincipalKind, ProjectLifecycle, Rpc,
};
use loopback_proto::orgcore::v1 as pb;
use loopback_proto::r#type::v1 as tpb;
use loopback_runtime::authz::{SERVICES, perm};
use loopback_tests::{Backend, TestServer, backend_tests, bad_fields, metadata, reason};
use tokio::sync::broadcast;
use tonic::{Code, Status};

/// A row of a dependent service's RPC table acting on workspaces.
const UPDATE_WORKSPACE: Rpc = Rpc::new(
    "UpdateWorkspace",
    perm("orgcore.projects.update"),
    ActionClass::Operate,
);
/// A services-only row (e.g. a reconciler's call).
const SYNC_WORKSPACE: Rpc = Rpc::new("SyncWorkspace", SERVICES, ActionClass::Operate);

/// How fast a change must reach a subscriber's cache (issue 4).
const PROPAGATION: Duration = Duration::from_secs(1);
/// Upper bound for the watch stream to catch up at start.
const EVENTUALLY: Duration = Duration::from_secs(20);

fn mask(paths: &[&str]) -> Option<prost_types::FieldMask> {
    Some(prost_types::FieldMask {
        paths: paths.iter().map(|p| p.to_string()).collect(),
    })
}

fn bindings(list: &[(&str, &[&str])]) -> Vec<pb::ProjectRoles> {
    list.iter()
        .map(|(project, roles)| pb::ProjectRoles {
            project: project.to_string(),
            roles: roles.iter().map(|r| r.to_string()).collect(),
        })
        .collect()
}

/// The principal `TestServer::account_token(email)` authenticates as.
fn account(email: &str) -> Principal {
    Principal {
        kind: PrincipalKind::Account,
        subject: format!("sub-{email}"),
        email: Some(email.to_string()),
        name: None,
    }
}

/// UpdateMember with `roles` and/or `project_roles` (the mask names those
/// given).
async fn update_member(
    server: &TestServer,
    token: &str,
    member: &str,
    roles: Option<&[&str]>,
    project_roles: Option<&[(&str, &[&str])]>,
) -> Result<pb::Member, Status> {
    let mut paths = Vec::new();
    if roles.is_some() {
        paths.push("roles");
    }
    if project_roles.is_some() {
        paths.push("project_roles");
    }
    server
        .members(token)
        .update_member(pb::UpdateMemberRequest {
            member: Some(pb::Member {
                name: member.into(),
                roles: roles
                    .unwrap_or_default()
                    .iter()
                    .map(|r| r.to_string())
                    .collect(),
                project_roles: bindings(project_roles.unwrap_or_default()),
                ..Default::default()
            }),
            update_mask: mask(&paths),
            validate_only: false,
        })
        .await
        .map(|r| r.into_inner().member.unwrap())
}

async fn invite(
    server: &TestServer,
    token: &str,
    org: &str,
    email: &str,
    roles: &[&str],
    project_roles: &[(&str, &[&str])],
) -> Result<pb::CreateInviteResponse, Status> {
    server
        .invites(token)
        .create_invite(pb::CreateInviteRequest {
            parent: org.into(),
            invite: Some(pb::Invite {
                email: email.into(),
                roles: roles.iter().map(|r| r.to_string()).collect(),
                project_roles: bindings(project_roles),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .map(|r| r.into_inner())
}

/// Invites `email` with project roles only and accepts: a project-only
/// member. Returns their token and membership.
async fn add_project_member(
    server: &TestServer,
    admin: &str,
    org: &str,
    email: &str,
    project_roles: &[(&str, &[&str])],
) -> (String, pb::Member) {
    let created = invite(server, admin, org, email, &[], project_roles)
        .await
        .unwrap();
    let issued = created.invite.unwrap();
    assert!(issued.roles.is_empty(), "project roles alone: {issued:?}");
    assert_eq!(issued.project_roles, bindings(project_roles));
    let token = server.account_token(email);
    let member = server
        .invites(&token)
        .accept_invite(pb::AcceptInviteRequest {
            invite_token: created.invite_token,
        })
        .await
        .unwrap()
        .into_inner()
        .member
        .unwrap();
    (token, member)
}

async fn get_project(server: &TestServer, token: &str, name: &str) -> Result<pb::Project, Status> {
    server
        .projects(token)
        .get_project(pb::GetProjectRequest { name: name.into() })
        .await
        .map(|r| r.into_inner().project.unwrap())
}

async fn rename_project(server: &TestServer, token: &str, name: &str) -> Result<(), Status> {
    server
        .projects(token)
        .update_project(pb::UpdateProjectRequest {
            project: Some(pb::Project {
                name: name.into(),
                display_name: "renamed by the contractor".into(),
                ..Default::default()
            }),
            update_mask: mask(&["display_name"]),
            validate_only: false,
        })
        .await
        .map(|_| ())
}

async fn delete_project(
    server: &TestServer,
    token: &str,
    name: &str,
    validate_only: bool,
) -> Result<pb::Project, Status> {
    server
        .projects(token)
        .delete_project(pb::DeleteProjectRequest {
            name: name.into(),
            validate_only,
            ..Default::default()
        })
        .await
        .map(|r| r.into_inner().project.unwrap())
}

async fn list_projects(
    server: &TestServer,
    token: &str,
    org: &str,
    page_size: i32,
) -> Result<Vec<String>, Status> {
    let mut names = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = server
            .projects(token)
            .list_projects(pb::ListProjectsRequest {
                parent: org.into(),
                page_size,
                page_token,
                ..Default::default()
            })
            .await?
            .into_inner();
        names.extend(page.projects.into_iter().map(|p| p.name));
        if page.next_page_token.is_empty() {
            return Ok(names);
        }
        page_token = page.next_page_token;
    }
}

fn assert_code<T: std::fmt::Debug>(result: Result<T, Status>, code: Code, what: &str) -> Status {
    let err = result.expect_err(what);
    assert_eq!(err.code(), code, "{what}: {err:?}");
    err
}

/// Authorize, as a service asks it.
async fn authorize(
    server: &TestServer,
    email: &str,
    org: &str,
    permission: &str,
    class: tpb::ActionClass,
    resource: &str,
) -> Result<pb::AuthorizeResponse, Status> {
    server
        .authority(&server.service_token("dns"))
        .authorize(pb::AuthorizeRequest {
            principal: Some(tpb::Principal {
                kind: tpb::PrincipalKind::Account.into(),
                subject: format!("sub-{email}"),
                email: email.into(),
            }),
            organization: org.into(),
            permission: permission.into(),
            action_class: class.into(),
            resource: resource.into(),
        })
        .await
        .map(|r| r.into_inner())
}

async fn decision(
    server: &TestServer,
    email: &str,
    org: &str,
    permission: &str,
    class: tpb::ActionClass,
    resource: &str,
) -> pb::Decision {
    authorize(server, email, org, permission, class, resource)
        .await
        .unwrap()
        .decision()
}

/// An owner, a verified organization with projects X and Y, and a
/// contractor bound to X with `role` only.
struct Setup {
    server: TestServer,
    owner: String,
    org: String,
    x: String,
    y: String,
    contractor: String,
    contractor_member: pb::Member,
}

const CONTRACTOR: &str = "contractor@example.com";

async fn setup(backend: Backend, role: &str) -> Setup {
    let server = TestServer::start(backend).await;
    let owner = server.account_token("owner@example.com");
    let org = server.verified_org(&owner, "Acme").await.name;
    let x = server.create_project(&owner, &org, "x").await.name;
    let y = server.create_project(&owner, &org, "y").await.name;
    let (contractor, contractor_member) =
        add_project_member(&server, &owner, &org, CONTRACTOR, &[(&x, &[role])]).await;
    Setup {
        server,
        owner,
        org,
        x,
        y,
        contractor,
        contractor_member,
    }
}

/// Acceptance 1: a project-only member reads and changes project X, is
/// NOT_FOUND on project Y and PERMISSION_DENIED on organization-level
/// writes; ListProjects shows them X alone (keyset paging included).
async fn a_project_only_member_works_in_their_project_only(backend: Backend) {
    let Setup {
        server,
        owner,
        org,
        x,
        y,
        contractor: token,
        contractor_member: member,
    } = setup(backend, "admin").await;
    assert!(member.roles.is_empty());
    assert_eq!(member.project_roles, bindings(&[(&x, &["admin"])]));

    // Project X: read and change.
    assert_eq!(get_project(&server, &token, &x).await.unwrap().name, x);
    rename_project(&server, &token, &x).await.unwrap();
    assert_eq!(
        get_project(&server, &owner, &x).await.unwrap().display_name,
        "renamed by the contractor"
    );
    delete_project(&server, &token, &x, true).await.unwrap();

    // Project Y, and a project that does not exist: NOT_FOUND, as if absent.
    let missing = format!("{org}/projects/{}", uuid::Uuid::now_v7());
    for name in [&y, &missing] {
        let err = assert_code(
            get_project(&server, &token, name).await,
            Code::NotFound,
            name,
        );
        assert!(err.message().contains(name.as_str()), "{err:?}");
        assert_code(
            rename_project(&server, &token, name).await,
            Code::NotFound,
            name,
        );
        assert_code(
            delete_project(&server, &token, name, true).await,
            Code::NotFound,
            name,
        );
    }

    // The organization: readable, but no organization-level writes.
    let seen = server
        .orgs(&token)
        .get_organization(pb::GetOrganizationRequest { name: org.clone() })
        .await
        .unwrap()
        .into_inner()
        .organization
        .unwrap();
    assert!(
        seen.allowed_actions.is_empty(),
        "{:?}",
        seen.allowed_actions
    );
    let denied = |e: Status, permission: &str| {
        assert_eq!(e.code(), Code::PermissionDenied, "{e:?}");
        assert_eq!(metadata(&e)["permission"], permission);
    };
    denied(
        server
            .orgs(&token)
            .update_organization(pb::UpdateOrganizationRequest {
                organization: Some(pb::Organization {
                    name: org.clone(),
                    display_name: "Mine now".into(),
                    ..Default::default()
                }),
                update_mask: mask(&["display_name"]),
                validate_only: true,
            })
            .await
            .unwrap_err(),
        "orgcore.organizations.update",
    );
    denied(
        server
            .projects(&token)
            .create_project(pb::CreateProjectRequest {
                parent: org.clone(),
                project: Some(pb::Project {
                    display_name: "z".into(),
                    ..Default::default()
                }),
                validate_only: true,
                ..Default::default()
            })
            .await
            .unwrap_err(),
        "orgcore.projects.create",
    );
    denied(
        invite(
            &server,
            &token,
            &org,
            "friend@example.com",
            &["viewer"],
            &[],
        )
        .await
        .unwrap_err(),
        "orgcore.invites.create",
    );
    denied(
        invite(
            &server,
            &token,
            &org,
            "friend@example.com",
            &[],
            &[(&x, &["viewer"])],
        )
        .await
        .unwrap_err(),
        "orgcore.invites.create",
    );
    denied(
        server
            .members(&token)
            .list_members(pb::ListMembersRequest {
                parent: org.clone(),
                ..Default::default()
            })
            .await
            .unwrap_err(),
        "orgcore.members.list",
    );
    // Restoring projects stays organization-wide (it counts against
    // max_projects): they see X, so the answer names the permission.
    denied(
        server
            .projects(&token)
            .undelete_project(pb::UndeleteProjectRequest {
                name: x.clone(),
                validate_only: true,
            })
            .await
            .unwrap_err(),
        "orgcore.projects.undelete",
    );

    // ListProjects: X alone, and with a second binding keyset paging still
    // walks exactly the bound projects, in creation order.
    assert_eq!(
        list_projects(&server, &token, &org, 0).await.unwrap(),
        [x.as_str()]
    );
    let z = server.create_project(&owner, &org, "z").await.name;
    update_member(
        &server,
        &owner,
        &member.name,
        None,
        Some(&[(&z, &["viewer"]), (&x, &["admin"])]),
    )
    .await
    .unwrap();
    assert_eq!(
        list_projects(&server, &token, &org, 1).await.unwrap(),
        [x.clone(), z.clone()]
    );
    assert_eq!(
        list_projects(&server, &owner, &org, 1).await.unwrap(),
        [x.clone(), y.clone(), z.clone()],
        "an organization role lists every project"
    );
    // A viewer binding reads but does not change.
    get_project(&server, &token, &z).await.unwrap();
    denied(
        rename_project(&server, &token, &z).await.unwrap_err(),
        "orgcore.projects.update",
    );

    // Deleting X (they may) hides it from them like from everyone.
    delete_project(&server, &token, &x, false).await.unwrap();
    assert_code(get_project(&server, &token, &x).await, Code::NotFound, "x");
    assert_eq!(list_projects(&server, &token, &org, 0).await.unwrap(), [z]);

    // Another organization's members see nothing of it.
    let stranger = server.account_token("stranger@example.com");
    assert_code(
        get_project(&server, &stranger, &y).await,
        Code::NotFound,
        "y",
    );
    server.stop().await;
}

/// Acceptance 1: Authorize with and without the project (and for a
/// workspace under it).
async fn authorize_answers_per_organization_project_and_workspace(backend: Backend) {
    let Setup {
        server,
        owner,
        org,
        x,
        y,
        contractor_member,
        ..
    } = setup(backend, "member").await;
    use tpb::ActionClass::{Create, Operate, Read};
    const UPDATE: &str = "orgcore.projects.update";

    // In X: allowed (member grants update), with the organization's policy.
    let allowed = authorize(&server, CONTRACTOR, &org, UPDATE, Operate, &x)
        .await
        .unwrap();
    assert_eq!(allowed.decision(), pb::Decision::Allow);
    assert_eq!(allowed.policy.unwrap().organization, org);
    // A workspace under X is authorized as X; under Y as Y.
    let ws = |project: &str| format!("{project}/workspaces/ws-1");
    assert_eq!(
        decision(&server, CONTRACTOR, &org, UPDATE, Operate, &ws(&x)).await,
        pb::Decision::Allow
    );
    let uuid_ws = format!("{x}/workspaces/{}", uuid::Uuid::now_v7());
    assert_eq!(
        decision(&server, CONTRACTOR, &org, UPDATE, Operate, &uuid_ws).await,
        pb::Decision::Allow
    );
    // In Y: NOT_FOUND, revealing nothing (no policy).
    let hidden = authorize(&server, CONTRACTOR, &org, UPDATE, Operate, &y)
        .await
        .unwrap();
    assert_eq!(hidden.decision(), pb::Decision::DenyNotFound);
    assert!(hidden.policy.is_none());
    assert!(hidden.message.contains(&y), "{}", hidden.message);
    assert_eq!(
        decision(&server, CONTRACTOR, &org, UPDATE, Operate, &ws(&y)).await,
        pb::Decision::DenyNotFound
    );
    // At organization scope only organization roles count: they are a
    // member, so a project permission there is PERMISSION_DENIED...
    assert_eq!(
        decision(&server, CONTRACTOR, &org, UPDATE, Operate, "").await,
        pb::Decision::DenyPermission
    );
    // ...while reading the organization and listing projects are theirs.
    for permission in ["orgcore.organizations.get", "orgcore.projects.list"] {
        assert_eq!(
            decision(&server, CONTRACTOR, &org, permission, Read, "").await,
            pb::Decision::Allow,
            "{permission}"
        );
    }
    // Permissions that are not about a project never come from a binding,
    // not even in the project.
    for (permission, class) in [
        ("orgcore.projects.create", Create),
        ("orgcore.members.update", tpb::ActionClass::Setup),
        ("billing.invoices.list", Read),
    ] {
        assert_eq!(
            decision(&server, CONTRACTOR, &org, permission, class, &x).await,
            pb::Decision::DenyPermission,
            "{permission}"
        );
    }
    // Organization roles apply in every project; a binding adds to them.
    let (_, viewer) = server
        .add_member(&owner, &org, "viewer@example.com", &["viewer"])
        .await;
    update_member(
        &server,
        &owner,
        &viewer.name,
        None,
        Some(&[(&x, &["admin"])]),
    )
    .await
    .unwrap();
    let viewer_email = "viewer@example.com";
    assert_eq!(
        decision(
            &server,
            viewer_email,
            &org,
            "orgcore.projects.delete",
            Operate,
            &x
        )
        .await,
        pb::Decision::Allow
    );
    assert_eq!(
        decision(
            &server,
            viewer_email,
            &org,
            "orgcore.projects.delete",
            Operate,
            &y
        )
        .await,
        pb::Decision::DenyPermission,
        "an organization role sees Y"
    );
    assert_eq!(
        decision(
            &server,
            viewer_email,
            &org,
            "orgcore.projects.get",
            Read,
            &y
        )
        .await,
        pb::Decision::Allow
    );
    // Bad resources are the caller's INVALID_ARGUMENT naming `resource`:
    // another organization's project, a malformed name, a bad workspace id.
    let other_org = server.verified_org(&owner, "Other").await.name;
    let other = server.create_project(&owner, &other_org, "o").await.name;
    for resource in [
        other.clone(),
        format!("{org}/projects/nope"),
        format!("{x}/workspaces/Not OK"),
        format!("{x}/zones/z"),
    ] {
        let err = assert_code(
            authorize(&server, CONTRACTOR, &org, UPDATE, Operate, &resource).await,
            Code::InvalidArgument,
            &resource,
        );
        assert_eq!(bad_fields(&err), ["resource"], "{resource}");
    }
    // A deleted project is NOT_FOUND to everyone, owners included.
    delete_project(&server, &owner, &x, false).await.unwrap();
    assert_eq!(
        decision(&server, CONTRACTOR, &org, UPDATE, Operate, &x).await,
        pb::Decision::DenyNotFound
    );
    assert_eq!(
        decision(
            &server,
            "owner@example.com",
            &org,
            "orgcore.projects.get",
            Read,
            &x
        )
        .await,
        pb::Decision::DenyNotFound
    );
    // Removing the member makes them a stranger everywhere.
    server
        .members(&server.account_token("owner@example.com"))
        .remove_member(pb::RemoveMemberRequest {
            name: contractor_member.name,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        decision(
            &server,
            CONTRACTOR,
            &org,
            "orgcore.organizations.get",
            Read,
            ""
        )
        .await,
        pb::Decision::DenyNotFound
    );
    server.stop().await;
}

async fn eventually<F, Fut>(what: &str, within: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    loop {
        if check().await {
            return;
        }
        assert!(start.elapsed() < within, "{what}: not within {within:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn client(server: &TestServer) -> AuthorityClient {
    AuthorityClient::connect(Config::new(
        format!("http://{}", server.app.addr),
        server.service_token("dns"),
    ))
    .unwrap()
}

/// Waits until the client's watch stream delivered every change of `org`
/// made so far, so the feed's replay does not invalidate what is cached next.
async fn caught_up(client: &AuthorityClient, server: &TestServer, org: &str) {
    let target = server
        .authority(&server.service_token("dns"))
        .get_organization_policy(pb::GetOrganizationPolicyRequest {
            organization: org.into(),
        })
        .await
        .unwrap()
        .into_inner()
        .policy
        .unwrap()
        .revision;
    eventually("the watch stream catches up", EVENTUALLY, || async {
        let stats = client.stats();
        stats.watch_connected && stats.watched_revision >= target
    })
    .await;
}

/// Acceptance 1: removing a member's binding on X reaches a service's
/// cached decisions through the feed within a second; the service then
/// answers NOT_FOUND for X.
async fn removing_a_binding_reaches_a_service_cache_within_a_second(backend: Backend) {
    let Setup {
        server,
        owner,
        org,
        x,
        y,
        contractor_member,
        ..
    } = setup(backend, "member").await;
    let authority = client(&server);
    caught_up(&authority, &server, &org).await;
    let contractor = account(CONTRACTOR);
    const UPDATE: &str = "orgcore.projects.update";

    let workspace = format!("{x}/workspaces/ws-1");
    let allowed = authority
        .authorize_in(&contractor, &x, UPDATE, ActionClass::Operate)
        .await
        .unwrap();
    assert_eq!(allowed.decision, Decision::Allow);
    let policy = authority
        .require_in(
            &contractor,
            &workspace,
            UPDATE,
            ActionClass::Operate,
            "UpdateWorkspace",
        )
        .await
        .unwrap();
    assert_eq!(policy.organization, org);
    authority
        .authorize_rpc_in(&contractor, &UPDATE_WORKSPACE, &workspace)
        .await
        .unwrap();
    let org_scope = authority
        .authorize(&contractor, &org, UPDATE, ActionClass::Operate)
        .await
        .unwrap();
    assert!(matches!(org_scope.decision, Decision::DenyPermission(_)));
    let rpcs = authority.stats().rpcs;
    for _ in 0..10 {
        let again = authority
            .authorize_in(&contractor, &workspace, UPDATE, ActionClass::Operate)
            .await
            .unwrap();
        assert_eq!(again.decision, Decision::Allow);
    }
    assert_eq!(
        authority.stats().rpcs,
        rpcs,
        "the workspace shares X's cached decision"
    );

    // The owner moves the contractor from X to Y.
    update_member(
        &server,
        &owner,
        &contractor_member.name,
        None,
        Some(&[(&y, &["viewer"])]),
    )
    .await
    .unwrap();
    let changed = Instant::now();
    eventually(
        "the binding change drops the cached decisions",
        PROPAGATION,
        || async { authority.stats().cached_decisions == 0 },
    )
    .await;
    eprintln!(
        "binding change reached the cache in {:?}",
        changed.elapsed()
    );
    assert_eq!(
        authority.stats().rpcs,
        rpcs,
        "the change came through the feed"
    );
    let now = authority
        .authorize_in(&contractor, &x, UPDATE, ActionClass::Operate)
        .await
        .unwrap();
    assert!(matches!(now.decision, Decision::DenyNotFound(_)), "{now:?}");
    let err = Status::from(
        authority
            .require_in(
                &contractor,
                &workspace,
                UPDATE,
                ActionClass::Operate,
                "UpdateWorkspace",
            )
            .await
            .unwrap_err(),
    );
    assert_eq!(err.code(), Code::NotFound);
    assert_eq!(err.message(), format!("{workspace} not found"));
    assert_eq!(
        authority
            .authorize_rpc_in(&contractor, &UPDATE_WORKSPACE, &workspace)
            .await
            .unwrap_err(),
        AuthorityDenied::NotFound {
            organization: workspace.clone()
        }
    );
    // In Y they now read but do not write.
    let in_y = authority
        .authorize_in(&contractor, &y, UPDATE, ActionClass::Operate)
        .await
        .unwrap();
    assert!(matches!(in_y.decision, Decision::DenyPermission(_)));
    let read_y = authority
        .authorize_in(&contractor, &y, "orgcore.projects.get", ActionClass::Read)
        .await
        .unwrap();
    assert_eq!(read_y.decision, Decision::Allow);
    server.stop().await;
}

/// Bindings follow the rules of organization roles: nobody grants (or
/// takes away) in a project what they do not hold there, the last owner
/// stays, `owner` is never a project role, every member keeps a role, and
/// bad bindings are INVALID_ARGUMENT naming the field.
async fn bindings_follow_the_no_escalation_and_last_owner_rules(backend: Backend) {
    let server = TestServer::start(backend).await;
    let owner = server.account_token("owner@example.com");
    let org = server.verified_org(&owner, "Acme").await.name;
    server
        .set_capabilities(&org, &[], &[("custom_roles_allowed", true)])
        .await;
    let x = server.create_project(&owner, &org, "x").await.name;
    let y = server.create_project(&owner, &org, "y").await.name;
    // "people" manages members and reads projects (with what project viewers
    // read in them: DNS zones and records, bundles and all under them),
    // nothing more.
    server
        .roles(&owner)
        .create_role(pb::CreateRoleRequest {
            parent: org.clone(),
            role_id: "people".into(),
            role: Some(pb::Role {
                permissions: [
                    "orgcore.members.list",
                    "orgcore.members.get",
                    "orgcore.members.update",
                    "orgcore.members.remove",
                    "orgcore.projects.get",
                    "dns.zones.get",
                    "dns.zones.list",
                    "dns.records.get",
                    "dns.records.list",
                    "integrations.bundles.get",
                    "integrations.bundles.list",
                    "integrations.deployments.get",
                    "integrations.deployments.list",
                    "integrations.environments.get",
                    "integrations.environments.list",
                    "integrations.operations.get",
                    "integrations.operations.list",
                    "integrations.revisions.get",
                    "integrations.revisions.list",
                ]
                .map(String::from)
                .to_vec(),
                ..Default::default()
            }),
            validate_only: false,
        })
        .await
        .unwrap();
    let (people, people_member) = server
        .add_member(&owner, &org, "people@example.com", &["people"])
        .await;
    let (_, target) = add_project_member(
        &server,
        &owner,
        &org,
        "target@example.com",
        &[(&x, &["viewer"])],
    )
    .await;

    // They may grant in X what they hold there (viewer: projects.get and
    // the DNS reads)...
    update_member(
        &server,
        &people,
        &target.name,
        None,
        Some(&[(&x, &["viewer"]), (&y, &["viewer"])]),
    )
    .await
    .unwrap();
    // ...but not a role that changes things there (member: DNS records,
    // bundles and the project; the first they lack is named).
    let err = update_member(
        &server,
        &people,
        &target.name,
        None,
        Some(&[(&x, &["member"])]),
    )
    .await
    .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    assert_eq!(reason(&err).as_deref(), Some("PERMISSION_ESCALATION"));
    assert_eq!(metadata(&err)["permission"], "dns.records.create");
    assert!(err.message().contains(&x), "{}", err.message());
    // Their own role on X counts in X (organization ∪ project), not in Y.
    update_member(
        &server,
        &owner,
        &people_member.name,
        None,
        Some(&[(&x, &["admin"])]),
    )
    .await
    .unwrap();
    update_member(
        &server,
        &people,
        &target.name,
        None,
        Some(&[(&x, &["admin"])]),
    )
    .await
    .unwrap();
    let err = update_member(
        &server,
        &people,
        &target.name,
        None,
        Some(&[(&y, &["member"])]),
    )
    .await
    .unwrap_err();
    assert_eq!(reason(&err).as_deref(), Some("PERMISSION_ESCALATION"));
    assert!(err.message().contains(&y), "{}", err.message());
    // Nobody changes (or removes) someone holding more in a project than
    // they hold there.
    update_member(
        &server,
        &owner,
        &target.name,
        None,
        Some(&[(&y, &["admin"])]),
    )
    .await
    .unwrap();
    let err = update_member(
        &server,
        &people,
        &target.name,
        None,
        Some(&[(&x, &["viewer"])]),
    )
    .await
    .unwrap_err();
    assert_eq!(reason(&err).as_deref(), Some("PERMISSION_ESCALATION"));
    let err = server
        .members(&people)
        .remove_member(pb::RemoveMemberRequest {
            name: target.name.clone(),
            validate_only: true,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(reason(&err).as_deref(), Some("PERMISSION_ESCALATION"));

    // `owner` is organization-wide.
    let err = update_member(
        &server,
        &owner,
        &target.name,
        None,
        Some(&[(&x, &["viewer", "owner"])]),
    )
    .await
    .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert_eq!(bad_fields(&err), ["member.project_roles[0].roles[1]"]);
    let err = invite(
        &server,
        &owner,
        &org,
        "boss@example.com",
        &[],
        &[(&x, &["owner"])],
    )
    .await
    .unwrap_err();
    assert_eq!(bad_fields(&err), ["invite.project_roles[0].roles[0]"]);
    // The last owner stays an owner, project roles or not.
    let me = server
        .members(&owner)
        .list_members(pb::ListMembersRequest {
            parent: org.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .members
        .into_iter()
        .find(|m| m.email == "owner@example.com")
        .unwrap();
    let err = update_member(
        &server,
        &owner,
        &me.name,
        Some(&[]),
        Some(&[(&x, &["admin"])]),
    )
    .await
    .unwrap_err();
    assert_eq!(reason(&err).as_deref(), Some("LAST_OWNER"));
    // A member keeps at least one organization or project role.
    let err = update_member(&server, &owner, &target.name, None, Some(&[]))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert_eq!(bad_fields(&err), ["member.roles"]);
    let err = update_member(&server, &owner, &people_member.name, Some(&[]), Some(&[]))
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&err), ["member.roles"]);
    // ...but may trade organization roles for project roles.
    let moved = update_member(
        &server,
        &owner,
        &people_member.name,
        Some(&[]),
        Some(&[(&y, &["viewer"])]),
    )
    .await
    .unwrap();
    assert!(moved.roles.is_empty());
    assert_eq!(moved.project_roles, bindings(&[(&y, &["viewer"])]));
    // An empty mask still means `roles` only: project roles stay.
    let kept = server
        .members(&owner)
        .update_member(pb::UpdateMemberRequest {
            member: Some(pb::Member {
                name: moved.name.clone(),
                roles: vec!["viewer".into()],
                ..Default::default()
            }),
            update_mask: None,
            validate_only: false,
        })
        .await
        .unwrap()
        .into_inner()
        .member
        .unwrap();
    assert_eq!(kept.roles, ["viewer"]);
    assert_eq!(kept.project_roles, moved.project_roles);

    // Bad bindings, each named: a malformed name, another organization's
    // project (INVALID_ARGUMENT, not NOT_FOUND: the name is wrong for this
    // member, whatever exists), a project that does not exist, an unknown
    // role, no roles, a project listed twice.
    let other_org = server.verified_org(&owner, "Other").await.name;
    let foreign = server
        .create_project(&owner, &other_org, "foreign")
        .await
        .name;
    let missing = format!("{org}/projects/{}", uuid::Uuid::now_v7());
    type Case<'a> = (Vec<(&'a str, &'a [&'a str])>, &'a str);
    let cases: Vec<Case> = vec![
        (
            vec![("projects/x", &["viewer"])],
            "member.project_roles[0].project",
        ),
        (
            vec![(&foreign, &["viewer"])],
            "member.project_roles[0].project",
        ),
        (
            vec![(&x, &["viewer"]), (&missing, &["viewer"])],
            "member.project_roles[1].project",
        ),
        (vec![(&x, &["unicorn"])], "member.project_roles[0].roles[0]"),
        (
            vec![(&x, &["Not A Role"])],
            "member.project_roles[0].roles[0]",
        ),
        (vec![(&x, &[])], "member.project_roles[0].roles"),
        (
            vec![(&x, &["viewer"]), (&x, &["admin"])],
            "member.project_roles[1].project",
        ),
    ];
    for (list, field) in cases {
        let err = update_member(&server, &owner, &target.name, None, Some(&list))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument, "{field}: {err:?}");
        assert_eq!(bad_fields(&err), [field], "{err:?}");
    }
    let err = invite(
        &server,
        &owner,
        &org,
        "x@example.com",
        &[],
        &[(&foreign, &["viewer"])],
    )
    .await
    .unwrap_err();
    assert_eq!(bad_fields(&err), ["invite.project_roles[0].project"]);

    // A custom role held on a project is in use.
    update_member(
        &server,
        &owner,
        &target.name,
        None,
        Some(&[(&x, &["people"])]),
    )
    .await
    .unwrap();
    let err = server
        .roles(&owner)
        .delete_role(pb::DeleteRoleRequest {
            name: format!("{org}/roles/people"),
            validate_only: true,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(reason(&err).as_deref(), Some("ROLE_IN_USE"));
    server.stop().await;
}

type Watch = tonic::Streaming<pb::WatchOrganizationPoliciesResponse>;

/// The next `project_*` change of `org` on the raw feed, or its next
/// organization lifecycle change.
async fn next_lifecycle(stream: &mut Watch, org: &str) -> (String, String, i64) {
    loop {
        let change = tokio::time::timeout(Duration::from_secs(5), stream.next())
            .await
            .expect("a change within five seconds")
            .expect("stream open")
            .expect("no error");
        let lifecycle = change.kind.starts_with("project_")
            || ["created", "deleted", "undeleted"].contains(&change.kind.as_str());
        if change.organization == org && lifecycle {
            return (change.kind, change.project, change.revision);
        }
    }
}

async fn next_event(events: &mut broadcast::Receiver<LifecycleEvent>, org: &str) -> LifecycleEvent {
    loop {
        let event = tokio::time::timeout(Duration::from_secs(5), events.recv())
            .await
            .expect("an event within five seconds")
            .expect("no lag");
        let ours = match &event {
            LifecycleEvent::Organization { organization, .. }
            | LifecycleEvent::Project { organization, .. } => organization == org,
            LifecycleEvent::Resync { .. } => true,
        };
        if ours {
            return event;
        }
    }
}

fn project_event(
    org: &str,
    project: &str,
    change: LifecycleChange,
) -> (String, String, LifecycleChange) {
    (org.to_string(), project.to_string(), change)
}

fn as_project_event(event: LifecycleEvent) -> (String, String, LifecycleChange) {
    match event {
        LifecycleEvent::Project {
            organization,
            project,
            change,
            ..
        } => (organization, project, change),
        other => panic!("expected a project event, got {other:?}"),
    }
}

/// Project lifecycle on the feed: created, deleted, undeleted (and an
/// organization's forced delete and undelete, one change per project)
/// reach a raw watcher and the client's lifecycle subscription in order,
/// and the client's `project()` answers from its cache, following them.
async fn project_lifecycle_reaches_watchers_in_order(backend: Backend) {
    let server = TestServer::start(backend).await;
    let owner = server.account_token("owner@example.com");
    let org = server.verified_org(&owner, "Acme").await.name;
    let authority = client(&server);
    caught_up(&authority, &server, &org).await;
    let mut events = authority.subscribe_lifecycle();
    let from = server
        .authority(&server.service_token("dns"))
        .get_organization_policy(pb::GetOrganizationPolicyRequest {
            organization: org.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .policy
        .unwrap()
        .revision;
    let mut stream = server
        .authority(&server.service_token("watcher"))
        .watch_organization_policies(pb::WatchOrganizationPoliciesRequest {
            from_revision: from,
        })
        .await
        .unwrap()
        .into_inner();

    let p = server.create_project(&owner, &org, "p").await.name;
    assert_eq!(
        as_project_event(next_event(&mut events, &org).await),
        project_event(&org, &p, LifecycleChange::Created)
    );
    // (Once the feed delivered the creation: an answer fetched while the
    // feed moves the organization on is used but not cached.)
    assert_eq!(authority.project(&p).await.unwrap(), ProjectLifecycle::Live);
    let rpcs = authority.stats().rpcs;
    assert!(authority.project(&p).await.unwrap().is_live());
    assert_eq!(authority.stats().rpcs, rpcs, "answered from the cache");

    delete_project(&server, &owner, &p, false).await.unwrap();
    server
        .projects(&owner)
        .undelete_project(pb::UndeleteProjectRequest {
            name: p.clone(),
            validate_only: false,
        })
        .await
        .unwrap();
    let mut seen = Vec::new();
    for _ in 0..3 {
        seen.push(next_lifecycle(&mut stream, &org).await);
    }
    let kinds: Vec<(&str, &str)> = seen
        .iter()
        .map(|(k, p, _)| (k.as_str(), p.as_str()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("project_created", p.as_str()),
            ("project_deleted", p.as_str()),
            ("project_undeleted", p.as_str()),
        ]
    );
    assert!(
        seen.windows(2).all(|w| w[0].2 < w[1].2),
        "in revision order"
    );
    for change in [LifecycleChange::Deleted, LifecycleChange::Undeleted] {
        assert_eq!(
            as_project_event(next_event(&mut events, &org).await),
            project_event(&org, &p, change)
        );
    }
    // The delete dropped the cached state (the next look-up reads the purge
    // time); the undelete had nothing cached to move.
    assert_eq!(authority.cached_project(&p), None);
    assert!(authority.project(&p).await.unwrap().is_live());

    // Deleted: the client reads the purge time once, then answers from
    // cache, and the feed moves the cached state on.
    delete_project(&server, &owner, &p, false).await.unwrap();
    assert_eq!(next_lifecycle(&mut stream, &org).await.0, "project_deleted");
    assert_eq!(
        as_project_event(next_event(&mut events, &org).await),
        project_event(&org, &p, LifecycleChange::Deleted)
    );
    let ProjectLifecycle::Deleted {
        delete_time,
        purge_time,
    } = authority.project(&p).await.unwrap()
    else {
        panic!("expected deleted");
    };
    assert!(purge_time.unwrap() > delete_time.unwrap());
    let rpcs = authority.stats().rpcs;
    assert!(!authority.project(&p).await.unwrap().is_live());
    assert_eq!(authority.stats().rpcs, rpcs);
    // A services-only row in a deleted project's workspace: NOT_FOUND.
    let service = Principal {
        kind: PrincipalKind::Service,
        subject: "workspaces".into(),
        email: None,
        name: None,
    };
    let workspace = format!("{p}/workspaces/w1");
    assert_eq!(
        authority
            .authorize_rpc_in(&service, &SYNC_WORKSPACE, &workspace)
            .await
            .unwrap_err(),
        AuthorityDenied::NotFound {
            organization: workspace.clone()
        }
    );
    assert!(matches!(
        authority
            .authorize_rpc_in(&service, &SYNC_WORKSPACE, &format!("{p}/workspaces/Bad"))
            .await
            .unwrap_err(),
        AuthorityDenied::Rejected(_)
    ));
    server
        .projects(&owner)
        .undelete_project(pb::UndeleteProjectRequest {
            name: p.clone(),
            validate_only: false,
        })
        .await
        .unwrap();
    assert_eq!(
        as_project_event(next_event(&mut events, &org).await),
        project_event(&org, &p, LifecycleChange::Undeleted)
    );
    assert_eq!(authority.cached_project(&p), Some(ProjectLifecycle::Live));
    authority
        .authorize_rpc_in(&service, &SYNC_WORKSPACE, &workspace)
        .await
        .unwrap();
    next_lifecycle(&mut stream, &org).await;

    // A forced organization delete takes every project, each on the feed;
    // its undelete restores them, each on the feed.
    let q = server.create_project(&owner, &org, "q").await.name;
    assert_eq!(next_lifecycle(&mut stream, &org).await.1, q);
    next_event(&mut events, &org).await;
    server
        .orgs(&owner)
        .delete_organization(pb::DeleteOrganizationRequest {
            name: org.clone(),
            force: true,
            ..Default::default()
        })
        .await
        .unwrap();
    server
        .orgs(&owner)
        .undelete_organization(pb::UndeleteOrganizationRequest {
            name: org.clone(),
            validate_only: false,
        })
        .await
        .unwrap();
    let mut seen = Vec::new();
    for _ in 0..6 {
        let (kind, project, _) = next_lifecycle(&mut stream, &org).await;
        seen.push((kind, project));
    }
    let expect = |kind: &str, project: &str| (kind.to_string(), project.to_string());
    assert_eq!(
        seen,
        [
            expect("deleted", ""),
            expect("project_deleted", &p),
            expect("project_deleted", &q),
            expect("undeleted", ""),
            expect("project_undeleted", &p),
            expect("project_undeleted", &q),
        ]
    );
    let mut received = Vec::new();
    for _ in 0..6 {
        received.push(next_event(&mut events, &org).await);
    }
    assert!(matches!(
        &received[0],
        LifecycleEvent::Organization { change: LifecycleChange::Deleted, organization, .. } if *organization == org
    ));
    assert!(matches!(
        &received[3],
        LifecycleEvent::Organization {
            change: LifecycleChange::Undeleted,
            ..
        }
    ));
    assert_eq!(
        as_project_event(received[4].clone()),
        project_event(&org, &p, LifecycleChange::Undeleted)
    );
    assert_eq!(
        as_project_event(received[5].clone()),
        project_event(&org, &q, LifecycleChange::Undeleted)
    );
    assert!(authority.project(&q).await.unwrap().is_live());

    // Unknown projects are NOT_FOUND (not cached); bad names are refused.
    let missing = format!("{org}/projects/{}", uuid::Uuid::now_v7());
    assert_eq!(
        authority.project(&missing).await.unwrap(),
        ProjectLifecycle::NotFound
    );
    let err = Status::from(authority.project("projects/nope").await.unwrap_err());
    assert_eq!(err.code(), Code::InvalidArgument);
    assert_eq!(bad_fields(&err), ["project"]);
    // GetProjectState is for services.
    let err = server
        .authority(&owner)
        .get_project_state(pb::GetProjectStateRequest { project: p.clone() })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied, "{err:?}");
    server.stop().await;
}

/// The purge work's hooks: `remove_project_bindings` ends the bindings on a
/// project (and a membership left without roles), and `project_purged`
/// reaches the client, which then answers `Purged` from its cache.
async fn purge_hooks_end_bindings_and_reach_the_client(backend: Backend) {
    let Setup {
        server,
        owner,
        org,
        x,
        y,
        contractor_member,
        ..
    } = setup(backend, "viewer").await;
    let (_, both) = server
        .add_member(&owner, &org, "both@example.com", &["viewer"])
        .await;
    update_member(&server, &owner, &both.name, None, Some(&[(&x, &["admin"])]))
        .await
        .unwrap();
    let authority = client(&server);
    caught_up(&authority, &server, &org).await;
    assert!(authority.project(&x).await.unwrap().is_live());
    let mut events = authority.subscribe_lifecycle();

    let core = server.service::<loopback_org_core::OrgCore>();
    let org_id: uuid::Uuid = org.rsplit('/').next().unwrap().parse().unwrap();
    let x_id: uuid::Uuid = x.rsplit('/').next().unwrap().parse().unwrap();
    let removed = loopback_org_core::memberships::remove_project_bindings(core.db(), org_id, x_id)
        .await
        .unwrap();
    assert_eq!(removed, 2);
    loopback_org_core::changes::project_purged(core.db(), org_id, x_id)
        .await
        .unwrap();
    core.notify_changes();

    assert_eq!(
        as_project_event(next_event(&mut events, &org).await),
        project_event(&org, &x, LifecycleChange::Purged)
    );
    assert_eq!(
        authority.project(&x).await.unwrap(),
        ProjectLifecycle::Purged
    );
    // The project-only member had nothing else: no longer a member.
    let err = server
        .members(&owner)
        .get_member(pb::GetMemberRequest {
            name: contractor_member.name,
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    // The other keeps their organization role, without the binding.
    let both = server
        .members(&owner)
        .get_member(pb::GetMemberRequest { name: both.name })
        .await
        .unwrap()
        .into_inner()
        .member
        .unwrap();
    assert_eq!(both.roles, ["viewer"]);
    assert!(both.project_roles.is_empty());
    assert!(get_project(&server, &owner, &y).await.is_ok());
    server.stop().await;
}

backend_tests!(
    a_project_only_member_works_in_their_project_only,
    authorize_answers_per_organization_project_and_workspace,
    removing_a_binding_reaches_a_service_cache_within_a_second,
    bindings_follow_the_no_escalation_and_last_owner_rules,
    project_lifecycle_reaches_watchers_in_order,
    purge_hooks_end_bindings_and_reach_the_client,
);
