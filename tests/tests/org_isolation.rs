//! Acceptance: tenant isolation. An account sees exactly its own
//! organizations; anything of another organization is NOT_FOUND, never
//! PERMISSION_DENIED, so existence is not revealed.

use loopback_proto::orgcore::v1 as pb;
use loopback_tests::{Backend, TestServer, backend_tests};
use tonic::Code;

fn names(orgs: &[pb::Organization]) -> Vec<String> {
    let mut v: Vec<String> = orgs.iter().map(|o| o.name.clone()).collect();
    v.sort();
    v
}

async fn list_orgs(server: &TestServer, token: &str) -> Vec<pb::Organization> {
    server
        .orgs(token)
        .list_organizations(pb::ListOrganizationsRequest::default())
        .await
        .unwrap()
        .into_inner()
        .organizations
}

async fn members_see_only_their_organizations(backend: Backend) {
    let server = TestServer::start(backend).await;
    let alice = server.account_token("alice@example.com");
    let bob = server.account_token("bob@example.com");
    let a = server.create_org(&alice, "A").await;
    let b = server.create_org(&alice, "B").await;
    let c = server.create_org(&bob, "C").await;

    assert_eq!(
        names(&list_orgs(&server, &alice).await),
        names(&[a.clone(), b.clone()])
    );
    assert_eq!(
        names(&list_orgs(&server, &bob).await),
        names(std::slice::from_ref(&c))
    );
    // Someone with no organizations sees none.
    assert!(
        list_orgs(&server, &server.account_token("carol@example.com"))
            .await
            .is_empty()
    );
    // Operators see all three.
    assert_eq!(
        names(&list_orgs(&server, &server.operator_token()).await),
        names(&[a.clone(), b.clone(), c.clone()])
    );
    server.stop().await;
}

async fn another_tenants_organization_and_projects_are_not_found(backend: Backend) {
    let server = TestServer::start(backend).await;
    let alice = server.account_token("alice@example.com");
    let bob = server.account_token("bob@example.com");
    let a = server.verified_org(&alice, "A").await;
    let _b = server.verified_org(&bob, "B").await;
    let project = server
        .projects(&alice)
        .create_project(pb::CreateProjectRequest {
            parent: a.name.clone(),
            project: Some(pb::Project {
                display_name: "secret".into(),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .project
        .unwrap();

    let mut orgs = server.orgs(&bob);
    let mut projects = server.projects(&bob);
    let mut codes = Vec::new();
    codes.push((
        "GetOrganization",
        orgs.get_organization(pb::GetOrganizationRequest {
            name: a.name.clone(),
        })
        .await
        .map(|_| ()),
    ));
    codes.push((
        "UpdateOrganization",
        orgs.update_organization(pb::UpdateOrganizationRequest {
            organization: Some(pb::Organization {
                name: a.name.clone(),
                display_name: "pwned".into(),
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["display_name".into()],
            }),
            validate_only: false,
        })
        .await
        .map(|_| ()),
    ));
    codes.push((
        "DeleteOrganization",
        orgs.delete_organization(pb::DeleteOrganizationRequest {
            name: a.name.clone(),
            force: true,
            ..Default::default()
        })
        .await
        .map(|_| ()),
    ));
    codes.push((
        "UndeleteOrganization",
        orgs.undelete_organization(pb::UndeleteOrganizationRequest {
            name: a.name.clone(),
            validate_only: false,
        })
        .await
        .map(|_| ()),
    ));
    codes.push((
        "CreateProject",
        projects
            .create_project(pb::CreateProjectRequest {
                parent: a.name.clone(),
                project: Some(pb::Project {
                    display_name: "intruder".into(),
                    ..Default::default()
                }),
                ..Default::default()
            })
            .await
            .map(|_| ()),
    ));
    codes.push((
        "GetProject",
        projects
            .get_project(pb::GetProjectRequest {
                name: project.name.clone(),
            })
            .await
            .map(|_| ()),
    ));
    codes.push((
        "ListProjects",
        projects
            .list_projects(pb::ListProjectsRequest {
                parent: a.name.clone(),
                ..Default::default()
            })
            .await
            .map(|_| ()),
    ));
    codes.push((
        "UpdateProject",
        projects
            .update_project(pb::UpdateProjectRequest {
                project: Some(pb::Project {
                    name: project.name.clone(),
                    display_name: "pwned".into(),
                    ..Default::default()
                }),
                update_mask: Some(prost_types::FieldMask {
                    paths: vec!["display_name".into()],
                }),
                validate_only: false,
            })
            .await
            .map(|_| ()),
    ));
    codes.push((
        "DeleteProject",
        projects
            .delete_project(pb::DeleteProjectRequest {
                name: project.name.clone(),
                ..Default::default()
            })
            .await
            .map(|_| ()),
    ));
    codes.push((
        "UndeleteProject",
        projects
            .undelete_project(pb::UndeleteProjectRequest {
                name: project.name.clone(),
                validate_only: false,
            })
            .await
            .map(|_| ()),
    ));
    for (rpc, result) in codes {
        let err = result.expect_err(rpc);
        assert_eq!(err.code(), Code::NotFound, "{rpc}: {err:?}");
        assert!(
            !err.message().contains("permission"),
            "{rpc} must not hint at existence"
        );
    }

    // A project name that mixes bob's organization with alice's project id
    // is not found either.
    let b = list_orgs(&server, &bob).await.remove(0);
    let project_id = project.name.rsplit('/').next().unwrap();
    let err = projects
        .get_project(pb::GetProjectRequest {
            name: format!("{}/projects/{project_id}", b.name),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);

    // Nothing changed for alice.
    let still = server
        .projects(&alice)
        .get_project(pb::GetProjectRequest {
            name: project.name.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .project
        .unwrap();
    assert_eq!(still.display_name, "secret");
    let org = server
        .orgs(&alice)
        .get_organization(pb::GetOrganizationRequest {
            name: a.name.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .organization
        .unwrap();
    assert_eq!(org.display_name, "A");
    server.stop().await;
}

async fn services_are_read_only_and_accounts_cannot_use_operator_or_authority_rpcs(
    backend: Backend,
) {
    let server = TestServer::start(backend).await;
    let alice = server.account_token("alice@example.com");
    let org = server.verified_org(&alice, "A").await;
    let svc = server.service_token("dns");
    // A service can read...
    server
        .orgs(&svc)
        .get_organization(pb::GetOrganizationRequest {
            name: org.name.clone(),
        })
        .await
        .unwrap();
    // ...but not write.
    let err = server
        .projects(&svc)
        .create_project(pb::CreateProjectRequest {
            parent: org.name.clone(),
            project: Some(pb::Project {
                display_name: "x".into(),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    assert_eq!(
        loopback_tests::metadata(&err)["permission"],
        "orgcore.projects.create"
    );

    let err = server
        .operator(&alice)
        .set_verification_status(pb::SetVerificationStatusRequest {
            name: org.name.clone(),
            verification_status: loopback_proto::r#type::v1::VerificationStatus::Blocked.into(),
            reason: "self-block".into(),
            validate_only: false,
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    let err = server
        .authority(&alice)
        .get_organization_policy(pb::GetOrganizationPolicyRequest {
            organization: org.name.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    server.stop().await;
}

backend_tests!(
    members_see_only_their_organizations,
    another_tenants_organization_and_projects_are_not_found,
    services_are_read_only_and_accounts_cannot_use_operator_or_authority_rpcs,
);
