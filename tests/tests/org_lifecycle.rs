//! Acceptance: soft delete and undelete, forced deletes that undelete
//! exactly what they took, idempotent creates, validate_only, etags and the
//! audit log of operator changes.

use loopback_proto::orgcore::v1 as pb;
use loopback_proto::r#type::v1::{State, VerificationStatus};
use loopback_tests::{Backend, TestServer, backend_tests, reason};
use sea_orm::{ConnectionTrait as _, Database, Statement};
use tonic::Code;

fn project_req(parent: &str, name: &str) -> pb::CreateProjectRequest {
    pb::CreateProjectRequest {
        parent: parent.into(),
        project: Some(pb::Project {
            display_name: name.into(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

async fn list_org_names(
    server: &TestServer,
    token: &str,
    show_deleted: bool,
) -> Result<Vec<String>, tonic::Status> {
    Ok(server
        .orgs(token)
        .list_organizations(pb::ListOrganizationsRequest {
            show_deleted,
            ..Default::default()
        })
        .await?
        .into_inner()
        .organizations
        .into_iter()
        .map(|o| o.name)
        .collect())
}

async fn deleted_org_is_invisible_listed_for_operators_and_comes_back(backend: Backend) {
    let server = TestServer::start(backend).await;
    let owner = server.account_token("owner@example.com");
    let op = server.operator_token();
    let org = server.create_org(&owner, "Gone soon").await;
    let deleted = server
        .orgs(&owner)
        .delete_organization(pb::DeleteOrganizationRequest {
            name: org.name.clone(),
            etag: org.etag.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .organization
        .unwrap();
    assert_eq!(deleted.state(), State::Deleted);
    assert!(deleted.delete_time.is_some());
    assert!(deleted.purge_time.unwrap().seconds > deleted.delete_time.unwrap().seconds);
    assert_eq!(deleted.allowed_actions, vec!["undelete".to_string()]);

    // Normal use: NOT_FOUND and absent from lists.
    let err = server
        .orgs(&owner)
        .get_organization(pb::GetOrganizationRequest {
            name: org.name.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    assert!(
        list_org_names(&server, &owner, false)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        !list_org_names(&server, &op, false)
            .await
            .unwrap()
            .contains(&org.name)
    );
    // show_deleted is for operators only.
    let err = list_org_names(&server, &owner, true).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert_eq!(loopback_tests::bad_fields(&err), ["show_deleted"]);
    // Operators see it with show_deleted, and can Get it.
    assert!(
        list_org_names(&server, &op, true)
            .await
            .unwrap()
            .contains(&org.name)
    );
    let filtered = server
        .orgs(&op)
        .list_organizations(pb::ListOrganizationsRequest {
            show_deleted: true,
            state: State::Deleted.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .organizations;
    assert_eq!(
        filtered.iter().map(|o| o.name.clone()).collect::<Vec<_>>(),
        std::slice::from_ref(&org.name)
    );
    server
        .orgs(&op)
        .get_organization(pb::GetOrganizationRequest {
            name: org.name.clone(),
        })
        .await
        .unwrap();

    // Undelete brings it back for its owner.
    let back = server
        .orgs(&owner)
        .undelete_organization(pb::UndeleteOrganizationRequest {
            name: org.name.clone(),
            validate_only: false,
        })
        .await
        .unwrap()
        .into_inner()
        .organization
        .unwrap();
    assert_eq!(back.state(), State::Active);
    assert!(back.delete_time.is_none() && back.purge_time.is_none());
    assert_eq!(
        list_org_names(&server, &owner, false).await.unwrap(),
        std::slice::from_ref(&org.name)
    );
    // Undeleting a live organization is a precondition failure.
    let err = server
        .orgs(&owner)
        .undelete_organization(pb::UndeleteOrganizationRequest {
            name: org.name.clone(),
            validate_only: false,
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    server.stop().await;
}

async fn delete_with_live_projects_needs_force_and_undelete_restores_exactly_those(
    backend: Backend,
) {
    let server = TestServer::start(backend).await;
    let owner = server.account_token("owner@example.com");
    let org = server.verified_org(&owner, "Acme").await;
    let mut projects = server.projects(&owner);
    let kept = projects
        .create_project(project_req(&org.name, "kept"))
        .await
        .unwrap()
        .into_inner()
        .project
        .unwrap();
    let earlier = projects
        .create_project(project_req(&org.name, "earlier"))
        .await
        .unwrap()
        .into_inner()
        .project
        .unwrap();
    projects
        .delete_project(pb::DeleteProjectRequest {
            name: earlier.name.clone(),
            ..Default::default()
        })
        .await
        .unwrap();

    let err = server
        .orgs(&owner)
        .delete_organization(pb::DeleteOrganizationRequest {
            name: org.name.clone(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert_eq!(reason(&err).as_deref(), Some("ORGANIZATION_HAS_PROJECTS"));
    assert!(
        err.message().contains(&kept.name),
        "names what blocks it: {}",
        err.message()
    );
    assert!(err.message().contains("force"));

    server
        .orgs(&owner)
        .delete_organization(pb::DeleteOrganizationRequest {
            name: org.name.clone(),
            force: true,
            ..Default::default()
        })
        .await
        .unwrap();
    // The operator sees both projects deleted.
    let op = server.operator_token();
    let all = server
        .projects(&op)
        .list_projects(pb::ListProjectsRequest {
            parent: org.name.clone(),
            show_deleted: true,
            ..Default::default()
        })
        .await;
    // The organization itself is deleted, so even operators get NOT_FOUND
    // for its children until it is undeleted.
    assert_eq!(all.unwrap_err().code(), Code::NotFound);

    server
        .orgs(&owner)
        .undelete_organization(pb::UndeleteOrganizationRequest {
            name: org.name.clone(),
            validate_only: false,
        })
        .await
        .unwrap();
    let live: Vec<String> = projects
        .list_projects(pb::ListProjectsRequest {
            parent: org.name.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .projects
        .into_iter()
        .map(|p| p.name)
        .collect();
    assert_eq!(
        live,
        std::slice::from_ref(&kept.name),
        "only what the forced delete took comes back"
    );
    let err = projects
        .get_project(pb::GetProjectRequest {
            name: earlier.name.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(
        err.code(),
        Code::NotFound,
        "the project deleted before stays deleted"
    );
    server.stop().await;
}

async fn retried_creates_with_the_same_request_id_return_the_same_resource(backend: Backend) {
    let server = TestServer::start(backend).await;
    let owner = server.account_token("owner@example.com");
    let request_id = uuid::Uuid::new_v4().to_string();
    let create = |rid: String| {
        let mut orgs = server.orgs(&owner);
        async move {
            orgs.create_organization(pb::CreateOrganizationRequest {
                organization: Some(pb::Organization {
                    display_name: "Once".into(),
                    ..Default::default()
                }),
                request_id: rid,
                validate_only: false,
            })
            .await
            .map(|r| r.into_inner().organization.unwrap())
        }
    };
    // Concurrent retries too.
    let results = futures::future::join_all((0..8).map(|_| create(request_id.clone()))).await;
    let names: std::collections::BTreeSet<String> =
        results.into_iter().map(|r| r.unwrap().name).collect();
    assert_eq!(names.len(), 1, "one organization for one request_id");
    let org_name = names.into_iter().next().unwrap();
    assert_eq!(create(request_id.clone()).await.unwrap().name, org_name);
    assert_ne!(
        create(uuid::Uuid::new_v4().to_string()).await.unwrap().name,
        org_name
    );
    // Another account using the same request_id gets its own organization.
    let mut other = server.orgs(&server.account_token("other@example.com"));
    let theirs = other
        .create_organization(pb::CreateOrganizationRequest {
            organization: Some(pb::Organization {
                display_name: "Theirs".into(),
                ..Default::default()
            }),
            request_id: request_id.clone(),
            validate_only: false,
        })
        .await
        .unwrap()
        .into_inner()
        .organization
        .unwrap();
    assert_ne!(theirs.name, org_name);

    server
        .set_status(&org_name, VerificationStatus::Verified)
        .await;
    let mut req = project_req(&org_name, "web");
    req.request_id = uuid::Uuid::new_v4().to_string();
    let mut projects = server.projects(&owner);
    let first = projects
        .create_project(req.clone())
        .await
        .unwrap()
        .into_inner()
        .project
        .unwrap();
    let again = projects
        .create_project(req.clone())
        .await
        .unwrap()
        .into_inner()
        .project
        .unwrap();
    assert_eq!(first.name, again.name);
    let count = projects
        .list_projects(pb::ListProjectsRequest {
            parent: org_name.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .projects
        .len();
    assert_eq!(count, 1);
    server.stop().await;
}

async fn validate_only_writes_nothing_and_stale_etags_abort(backend: Backend) {
    let server = TestServer::start(backend).await;
    let owner = server.account_token("owner@example.com");
    let dry = server
        .orgs(&owner)
        .create_organization(pb::CreateOrganizationRequest {
            organization: Some(pb::Organization {
                display_name: "Dry".into(),
                ..Default::default()
            }),
            request_id: String::new(),
            validate_only: true,
        })
        .await
        .unwrap()
        .into_inner()
        .organization
        .unwrap();
    assert_eq!(dry.display_name, "Dry");
    assert!(
        list_org_names(&server, &owner, false)
            .await
            .unwrap()
            .is_empty()
    );

    let org = server.verified_org(&owner, "Acme").await;
    let mut projects = server.projects(&owner);
    let mut req = project_req(&org.name, "dry");
    req.validate_only = true;
    projects.create_project(req).await.unwrap();
    let listed = projects
        .list_projects(pb::ListProjectsRequest {
            parent: org.name.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .projects;
    assert!(listed.is_empty());

    // Stale etag → ABORTED; current etag → OK.
    let update = |etag: String, name: &str| pb::UpdateOrganizationRequest {
        organization: Some(pb::Organization {
            name: org.name.clone(),
            display_name: name.into(),
            etag,
            ..Default::default()
        }),
        update_mask: Some(prost_types::FieldMask {
            paths: vec!["display_name".into()],
        }),
        validate_only: false,
    };
    let mut orgs = server.orgs(&owner);
    let renamed = orgs
        .update_organization(update(org.etag.clone(), "Acme 2"))
        .await
        .unwrap()
        .into_inner()
        .organization
        .unwrap();
    assert_eq!(renamed.display_name, "Acme 2");
    assert_ne!(renamed.etag, org.etag);
    let err = orgs
        .update_organization(update(org.etag.clone(), "Acme 3"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Aborted);
    assert_eq!(reason(&err).as_deref(), Some("ETAG_MISMATCH"));
    // validate_only on operator verbs changes nothing either.
    let still = server
        .operator(&server.operator_token())
        .set_verification_status(pb::SetVerificationStatusRequest {
            name: org.name.clone(),
            verification_status: VerificationStatus::Blocked.into(),
            reason: "dry run".into(),
            validate_only: true,
        })
        .await
        .unwrap()
        .into_inner()
        .organization
        .unwrap();
    assert_eq!(
        still.verification_status(),
        VerificationStatus::Blocked,
        "returns the would-be result"
    );
    let now = orgs
        .get_organization(pb::GetOrganizationRequest {
            name: org.name.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .organization
        .unwrap();
    assert_eq!(now.verification_status(), VerificationStatus::Verified);
    server.stop().await;
}

async fn operator_changes_are_audited_with_who_what_when_and_why(backend: Backend) {
    let server = TestServer::start(backend).await;
    let owner = server.account_token("owner@example.com");
    let org = server.create_org(&owner, "Audited").await;
    let mut op = server.operator(&server.operator_token());
    op.set_verification_status(pb::SetVerificationStatusRequest {
        name: org.name.clone(),
        verification_status: VerificationStatus::Verified.into(),
        reason: "documents checked".into(),
        validate_only: false,
    })
    .await
    .unwrap();
    op.set_organization_state(pb::SetOrganizationStateRequest {
        name: org.name.clone(),
        state: State::Inactive.into(),
        reason: "unpaid invoice".into(),
        validate_only: false,
    })
    .await
    .unwrap();
    op.set_capabilities(pb::SetCapabilitiesRequest {
        name: org.name.clone(),
        capabilities: Some(loopback_proto::r#type::v1::Capabilities {
            limits: [("max_projects".to_string(), 50)].into(),
            flags: [("sso_allowed".to_string(), true)].into(),
            ..Default::default()
        }),
        reason: "enterprise plan".into(),
        ..Default::default()
    })
    .await
    .unwrap();
    // A reason is required.
    let err = op
        .set_organization_state(pb::SetOrganizationStateRequest {
            name: org.name.clone(),
            state: State::Active.into(),
            reason: "  ".into(),
            validate_only: false,
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert_eq!(loopback_tests::bad_fields(&err), ["reason"]);

    let db = Database::connect(&server.database_url).await.unwrap();
    let org_id = org.name.trim_start_matches("organizations/");
    let rows = db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            format!(
                "SELECT actor, method, reason, details, time FROM audit_events WHERE organization_id = '{org_id}' ORDER BY id"
            ),
        ))
        .await
        .unwrap();
    let events: Vec<(String, String, String, String)> = rows
        .iter()
        .map(|r| {
            (
                r.try_get::<String>("", "actor").unwrap(),
                r.try_get::<String>("", "method").unwrap(),
                r.try_get::<String>("", "reason").unwrap(),
                r.try_get::<String>("", "details").unwrap(),
            )
        })
        .filter(|(_, m, _, _)| m.starts_with("Set"))
        .collect();
    let methods: Vec<&str> = events.iter().map(|e| e.1.as_str()).collect();
    assert_eq!(
        methods,
        [
            "SetVerificationStatus",
            "SetOrganizationState",
            "SetCapabilities"
        ]
    );
    assert!(events.iter().all(|e| e.0 == "operator:op"));
    assert_eq!(events[0].2, "documents checked");
    assert!(events[0].3.contains("IN_SETUP") && events[0].3.contains("VERIFIED"));
    assert_eq!(events[1].2, "unpaid invoice");
    assert_eq!(events[2].2, "enterprise plan");
    assert!(events[2].3.contains("max_projects"));
    server.stop().await;
}

backend_tests!(
    deleted_org_is_invisible_listed_for_operators_and_comes_back,
    delete_with_live_projects_needs_force_and_undelete_restores_exactly_those,
    retried_creates_with_the_same_request_id_return_the_same_resource,
    validate_only_writes_nothing_and_stale_etags_abort,
    operator_changes_are_audited_with_who_what_when_and_why,
);
