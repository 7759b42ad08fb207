//! Acceptance: the status table (DESIGN.md §4). For every verification
//! status and state, which action classes pass, and refusals carry
//! FAILED_PRECONDITION + ENTITY_STATUS with the status in metadata. Shown
//! both through org-core's own RPCs and through AuthorityService.Authorize.

use loopback_proto::orgcore::v1 as pb;
use loopback_proto::r#type::v1::{ActionClass, PrincipalKind, State, VerificationStatus};
use loopback_tests::{Backend, TestServer, backend_tests, metadata, reason};
use tonic::Code;

/// The table from DESIGN.md §4, written out independently of the code
/// (read, setup, create, operate).
const TABLE: &[(VerificationStatus, [bool; 4])] = &[
    (VerificationStatus::InSetup, [true, true, false, false]),
    (VerificationStatus::Verified, [true, true, true, true]),
    (VerificationStatus::Pending, [true, true, false, true]),
    (VerificationStatus::Waitlist, [true, true, false, false]),
    (VerificationStatus::Blocked, [true, false, false, false]),
];

const CLASSES: [ActionClass; 4] = [
    ActionClass::Read,
    ActionClass::Setup,
    ActionClass::Create,
    ActionClass::Operate,
];

fn status_name(s: VerificationStatus) -> &'static str {
    s.as_str_name().trim_start_matches("VERIFICATION_STATUS_")
}

async fn set_state(server: &TestServer, org: &str, state: State) {
    server
        .operator(&server.operator_token())
        .set_organization_state(pb::SetOrganizationStateRequest {
            name: org.into(),
            state: state.into(),
            reason: "test".into(),
            validate_only: false,
        })
        .await
        .unwrap();
}

/// Tries one RPC of each class as the owner and returns (allowed, error).
async fn try_class(
    server: &TestServer,
    token: &str,
    org: &str,
    project: &str,
    class: ActionClass,
) -> Result<(), tonic::Status> {
    match class {
        ActionClass::Read => server
            .projects(token)
            .list_projects(pb::ListProjectsRequest {
                parent: org.into(),
                ..Default::default()
            })
            .await
            .map(|_| ()),
        ActionClass::Setup => server
            .orgs(token)
            .update_organization(pb::UpdateOrganizationRequest {
                organization: Some(pb::Organization {
                    name: org.into(),
                    display_name: "Renamed".into(),
                    ..Default::default()
                }),
                update_mask: Some(prost_types::FieldMask {
                    paths: vec!["display_name".into()],
                }),
                validate_only: true,
            })
            .await
            .map(|_| ()),
        ActionClass::Create => server
            .projects(token)
            .create_project(pb::CreateProjectRequest {
                parent: org.into(),
                project: Some(pb::Project {
                    display_name: "new".into(),
                    ..Default::default()
                }),
                validate_only: true,
                ..Default::default()
            })
            .await
            .map(|_| ()),
        ActionClass::Operate => server
            .projects(token)
            .update_project(pb::UpdateProjectRequest {
                project: Some(pb::Project {
                    name: project.into(),
                    description: "changed".into(),
                    ..Default::default()
                }),
                update_mask: Some(prost_types::FieldMask {
                    paths: vec!["description".into()],
                }),
                validate_only: true,
            })
            .await
            .map(|_| ()),
        ActionClass::Unspecified => unreachable!(),
    }
}

async fn authorize(server: &TestServer, org: &str, class: ActionClass) -> pb::AuthorizeResponse {
    server
        .authority(&server.service_token("billing"))
        .authorize(pb::AuthorizeRequest {
            principal: Some(loopback_proto::r#type::v1::Principal {
                kind: PrincipalKind::Account.into(),
                subject: "sub-owner@example.com".into(),
                email: "owner@example.com".into(),
            }),
            organization: org.into(),
            permission: match class {
                ActionClass::Read => "orgcore.projects.list",
                ActionClass::Setup => "orgcore.organizations.update",
                ActionClass::Create => "orgcore.projects.create",
                _ => "orgcore.projects.update",
            }
            .into(),
            action_class: class.into(),
            resource: String::new(),
        })
        .await
        .unwrap()
        .into_inner()
}

async fn every_status_allows_exactly_its_action_classes(backend: Backend) {
    let server = TestServer::start(backend).await;
    let owner = server.account_token("owner@example.com");
    let org = server.verified_org(&owner, "Acme").await;
    // A project to operate on, created while verified.
    let project = server
        .projects(&owner)
        .create_project(pb::CreateProjectRequest {
            parent: org.name.clone(),
            project: Some(pb::Project {
                display_name: "web".into(),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .project
        .unwrap();

    for (status, expected) in TABLE {
        server.set_status(&org.name, *status).await;
        for (class, allowed) in CLASSES.iter().zip(expected) {
            let result = try_class(&server, &owner, &org.name, &project.name, *class).await;
            let decision = authorize(&server, &org.name, *class).await;
            if *allowed {
                assert!(
                    result.is_ok(),
                    "{status:?} {class:?} should pass: {result:?}"
                );
                assert_eq!(
                    decision.decision(),
                    pb::Decision::Allow,
                    "{status:?} {class:?}"
                );
            } else {
                let err = result.expect_err(&format!("{status:?} {class:?} should be refused"));
                assert_eq!(
                    err.code(),
                    Code::FailedPrecondition,
                    "{status:?} {class:?}: {err:?}"
                );
                assert_eq!(reason(&err).as_deref(), Some("ENTITY_STATUS"));
                let meta = metadata(&err);
                assert_eq!(meta["verification_status"], status_name(*status));
                assert_eq!(meta["state"], "ACTIVE");
                assert_eq!(meta["organization"], org.name);
                assert!(!meta["action"].is_empty());
                assert_eq!(
                    decision.decision(),
                    pb::Decision::DenyEntityStatus,
                    "{status:?} {class:?}"
                );
            }
            let policy = decision.policy.unwrap();
            assert_eq!(policy.verification_status(), *status);
        }
    }

    // Lifecycle: INACTIVE is read-only whatever the status; ACTIVE again restores.
    server
        .set_status(&org.name, VerificationStatus::Verified)
        .await;
    set_state(&server, &org.name, State::Inactive).await;
    for class in CLASSES {
        let result = try_class(&server, &owner, &org.name, &project.name, class).await;
        if class == ActionClass::Read {
            assert!(result.is_ok(), "INACTIVE read: {result:?}");
        } else {
            let err = result.expect_err("INACTIVE refuses writes");
            assert_eq!(err.code(), Code::FailedPrecondition);
            assert_eq!(reason(&err).as_deref(), Some("ENTITY_STATUS"));
            assert_eq!(metadata(&err)["state"], "INACTIVE");
        }
    }
    set_state(&server, &org.name, State::Active).await;
    for class in CLASSES {
        try_class(&server, &owner, &org.name, &project.name, class)
            .await
            .unwrap();
    }

    // DELETED: invisible to everything, NOT_FOUND.
    server
        .orgs(&owner)
        .delete_organization(pb::DeleteOrganizationRequest {
            name: org.name.clone(),
            force: true,
            ..Default::default()
        })
        .await
        .unwrap();
    for class in CLASSES {
        let err = try_class(&server, &owner, &org.name, &project.name, class)
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::NotFound, "DELETED {class:?}");
        assert_eq!(
            authorize(&server, &org.name, class).await.decision(),
            pb::Decision::DenyNotFound
        );
    }
    server.stop().await;
}

async fn refusal_message_says_what_to_do(backend: Backend) {
    let server = TestServer::start(backend).await;
    let owner = server.account_token("owner@example.com");
    let org = server.create_org(&owner, "Fresh").await;
    assert_eq!(org.verification_status(), VerificationStatus::InSetup);
    assert_eq!(org.state(), State::Active);
    assert!(!org.allowed_actions.contains(&"create_project".to_string()));
    let err = try_class(&server, &owner, &org.name, "", ActionClass::Create)
        .await
        .unwrap_err();
    assert!(err.message().contains("IN_SETUP"), "{}", err.message());
    assert!(err.message().contains("verif"), "{}", err.message());
    let verified = server
        .set_status(&org.name, VerificationStatus::Verified)
        .await;
    assert!(
        verified
            .allowed_actions
            .contains(&"set_verification_status".to_string())
    );
    let seen_by_owner = server
        .orgs(&owner)
        .get_organization(pb::GetOrganizationRequest {
            name: org.name.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .organization
        .unwrap();
    assert!(
        seen_by_owner
            .allowed_actions
            .contains(&"create_project".to_string())
    );
    assert!(
        !seen_by_owner
            .allowed_actions
            .contains(&"set_verification_status".to_string())
    );
    server.stop().await;
}

backend_tests!(
    every_status_allows_exactly_its_action_classes,
    refusal_message_says_what_to_do
);
