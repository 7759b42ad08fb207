//! Acceptance: bad input gets INVALID_ARGUMENT naming every bad field; bad
//! or missing credentials get UNAUTHENTICATED; pagination is keyset-based
//! and its tokens are bound to their query.

use loopback_proto::orgcore::v1 as pb;
use loopback_runtime::auth::{Authenticator, Principal, PrincipalKind};
use loopback_tests::{Backend, TestServer, backend_tests, bad_fields, reason};
use tonic::Code;

fn invalid(err: &tonic::Status) -> Vec<String> {
    assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
    assert_eq!(reason(err).as_deref(), Some("INVALID_ARGUMENT"));
    bad_fields(err)
}

async fn bad_input_is_refused_naming_the_field(backend: Backend) {
    let server = TestServer::start(backend).await;
    let owner = server.account_token("owner@example.com");
    let org = server.verified_org(&owner, "Acme").await;
    let mut orgs = server.orgs(&owner);
    let mut projects = server.projects(&owner);

    // Bad resource names.
    for name in [
        "",
        "organizations/",
        "organizations/nope",
        "orgs/123",
        &format!("{}/extra", org.name),
    ] {
        let err = orgs
            .get_organization(pb::GetOrganizationRequest { name: name.into() })
            .await
            .unwrap_err();
        assert_eq!(invalid(&err), ["name"], "{name:?}");
    }
    let err = projects
        .get_project(pb::GetProjectRequest {
            name: format!("{}/projects/not-a-uuid", org.name),
        })
        .await
        .unwrap_err();
    assert_eq!(invalid(&err), ["name"]);
    let err = projects
        .list_projects(pb::ListProjectsRequest {
            parent: "organizations/x".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(invalid(&err), ["parent"]);

    // Display names: empty, blank, oversize, control characters.
    for bad in ["", "   ", &"x".repeat(201), "tab\u{7}bell"] {
        let err = orgs
            .create_organization(pb::CreateOrganizationRequest {
                organization: Some(pb::Organization {
                    display_name: bad.into(),
                    ..Default::default()
                }),
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_eq!(invalid(&err), ["organization.display_name"], "{bad:?}");
    }
    let err = orgs
        .create_organization(pb::CreateOrganizationRequest::default())
        .await
        .unwrap_err();
    assert_eq!(invalid(&err), ["organization"]);

    // Several bad fields at once are all named.
    let err = projects
        .create_project(pb::CreateProjectRequest {
            parent: org.name.clone(),
            project: Some(pb::Project {
                display_name: String::new(),
                description: "d".repeat(2001),
                labels: [("Bad Key".to_string(), "v".to_string())].into(),
                ..Default::default()
            }),
            request_id: "not-a-uuid".into(),
            validate_only: false,
        })
        .await
        .unwrap_err();
    assert_eq!(
        invalid(&err),
        [
            "project.display_name",
            "project.description",
            "project.labels",
            "request_id"
        ]
    );

    // Unknown and immutable update_mask paths.
    let err = orgs
        .update_organization(pb::UpdateOrganizationRequest {
            organization: Some(pb::Organization {
                name: org.name.clone(),
                display_name: "ok".into(),
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec![
                    "display_name".into(),
                    "verification_status".into(),
                    "bogus".into(),
                ],
            }),
            validate_only: false,
        })
        .await
        .unwrap_err();
    assert_eq!(
        invalid(&err),
        ["update_mask.paths[1]", "update_mask.paths[2]"]
    );

    // Malformed etag.
    let err = orgs
        .delete_organization(pb::DeleteOrganizationRequest {
            name: org.name.clone(),
            etag: "garbage".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(invalid(&err), ["etag"]);

    // Page sizes and tokens.
    for (size, token, field) in [
        (-1, "", "page_size"),
        (1001, "", "page_size"),
        (10, "%%%", "page_token"),
        (10, "eyJrIjoiYSJ9", "page_token"),
    ] {
        let err = projects
            .list_projects(pb::ListProjectsRequest {
                parent: org.name.clone(),
                page_size: size,
                page_token: token.into(),
                show_deleted: false,
            })
            .await
            .unwrap_err();
        assert_eq!(invalid(&err), [field], "{size} {token:?}");
    }

    // Operator verbs: unspecified status, DELETED state, unknown capability keys.
    let mut op = server.operator(&server.operator_token());
    let err = op
        .set_verification_status(pb::SetVerificationStatusRequest {
            name: org.name.clone(),
            verification_status: 0,
            reason: "x".into(),
            validate_only: false,
        })
        .await
        .unwrap_err();
    assert_eq!(invalid(&err), ["verification_status"]);
    let err = op
        .set_organization_state(pb::SetOrganizationStateRequest {
            name: org.name.clone(),
            state: loopback_proto::r#type::v1::State::Deleted.into(),
            reason: "x".into(),
            validate_only: false,
        })
        .await
        .unwrap_err();
    assert_eq!(invalid(&err), ["state"]);
    let err = op
        .set_capabilities(pb::SetCapabilitiesRequest {
            name: org.name.clone(),
            capabilities: Some(loopback_proto::r#type::v1::Capabilities {
                limits: [
                    ("max_unicorns".to_string(), 1),
                    ("max_projects".to_string(), -5),
                ]
                .into(),
                flags: [("free_lunch".to_string(), true)].into(),
                ..Default::default()
            }),
            reset_keys: vec!["nope".into()],
            reason: "x".into(),
            validate_only: false,
        })
        .await
        .unwrap_err();
    let mut fields = invalid(&err);
    fields.sort();
    assert_eq!(
        fields,
        [
            "capabilities.flags[free_lunch]",
            "capabilities.limits[max_projects]",
            "capabilities.limits[max_unicorns]",
            "reset_keys[0]"
        ]
    );
    server.stop().await;
}

async fn missing_malformed_expired_and_forged_tokens_are_unauthenticated(backend: Backend) {
    let server = TestServer::start(backend).await;
    let list = |channel: loopback_tests::Authed| async move {
        pb::organization_service_client::OrganizationServiceClient::new(channel)
            .list_organizations(pb::ListOrganizationsRequest::default())
            .await
    };
    let err = list(server.authed(None)).await.unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);
    assert!(err.message().contains("Bearer"));
    for token in ["", "not-a-jwt", "a.b.c"] {
        let err = list(server.authed(Some(token))).await.unwrap_err();
        assert_eq!(err.code(), Code::Unauthenticated, "{token:?}");
    }
    let alice = Principal {
        kind: PrincipalKind::Account,
        subject: "alice".into(),
        email: Some("alice@example.com".into()),
        name: None,
    };
    let expired = server
        .app
        .auth
        .mint(&alice, chrono::Duration::hours(-2))
        .unwrap();
    assert_eq!(
        list(server.authed(Some(&expired)))
            .await
            .unwrap_err()
            .code(),
        Code::Unauthenticated
    );
    // A token signed by a key this server does not know.
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("other.json");
    Authenticator::generate_key_file(&key).unwrap();
    let forger = Authenticator::from_key_files(&[key], "loopback", "loopback").unwrap();
    let forged = forger.mint(&alice, chrono::Duration::hours(1)).unwrap();
    assert_eq!(
        list(server.authed(Some(&forged))).await.unwrap_err().code(),
        Code::Unauthenticated
    );
    // A forged operator token cannot reach operator verbs.
    let forged_op = forger
        .mint(
            &Principal {
                kind: PrincipalKind::Operator,
                subject: "mallory".into(),
                email: None,
                name: None,
            },
            chrono::Duration::hours(1),
        )
        .unwrap();
    let err =
        pb::operator_service_client::OperatorServiceClient::new(server.authed(Some(&forged_op)))
            .set_verification_status(pb::SetVerificationStatusRequest::default())
            .await
            .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);
    // A valid token works, and creates the account on first use.
    let ok = server
        .app
        .auth
        .mint(&alice, chrono::Duration::hours(1))
        .unwrap();
    list(server.authed(Some(&ok))).await.unwrap();
    let account = server
        .accounts(&ok)
        .get_current_account(pb::GetCurrentAccountRequest {})
        .await
        .unwrap()
        .into_inner()
        .account
        .unwrap();
    assert_eq!(account.email, "alice@example.com");
    assert_eq!(account.subject, "alice");
    assert!(account.name.starts_with("accounts/"));
    server.stop().await;
}

async fn pages_walk_every_item_once_and_tokens_are_bound_to_their_query(backend: Backend) {
    let server = TestServer::start(backend).await;
    let owner = server.account_token("owner@example.com");
    let mut created = Vec::new();
    for i in 0..23 {
        created.push(server.create_org(&owner, &format!("org {i}")).await.name);
    }
    let mut orgs = server.orgs(&owner);
    let mut seen = Vec::new();
    let mut token = String::new();
    let mut pages = 0;
    loop {
        let page = orgs
            .list_organizations(pb::ListOrganizationsRequest {
                page_size: 5,
                page_token: token.clone(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        pages += 1;
        assert!(page.organizations.len() <= 5);
        seen.extend(page.organizations.into_iter().map(|o| o.name));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(pages, 5);
    assert_eq!(seen, created, "creation order, each once");

    // A token from one query is refused for another.
    let first = orgs
        .list_organizations(pb::ListOrganizationsRequest {
            page_size: 5,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let err = orgs
        .list_organizations(pb::ListOrganizationsRequest {
            page_size: 5,
            page_token: first.next_page_token.clone(),
            verification_status: loopback_proto::r#type::v1::VerificationStatus::Verified.into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(invalid(&err), ["page_token"]);
    // ...and by another caller.
    let err = server
        .orgs(&server.account_token("bob@example.com"))
        .list_organizations(pb::ListOrganizationsRequest {
            page_size: 5,
            page_token: first.next_page_token,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(invalid(&err), ["page_token"]);
    server.stop().await;
}

backend_tests!(
    bad_input_is_refused_naming_the_field,
    missing_malformed_expired_and_forged_tokens_are_unauthenticated,
    pages_walk_every_item_once_and_tokens_are_bound_to_their_query,
);
