//! Acceptance (people & access): membership, role, invite and provider
//! changes are audited; ListAuditEvents shows admins their organization's
//! events and operators everyone's, filtered and keyset-paginated.

use loopback_proto::orgcore::v1 as pb;
use loopback_tests::{Backend, TestServer, backend_tests, bad_fields};
use tonic::Code;

async fn list(
    server: &TestServer,
    token: &str,
    req: pb::ListAuditEventsRequest,
) -> Result<Vec<pb::AuditEvent>, tonic::Status> {
    let mut out = Vec::new();
    let mut req = req;
    loop {
        let page = server
            .audit(token)
            .list_audit_events(req.clone())
            .await?
            .into_inner();
        out.extend(page.audit_events);
        if page.next_page_token.is_empty() {
            return Ok(out);
        }
        req.page_token = page.next_page_token;
    }
}

async fn people_changes_are_audited_and_listed_per_organization(backend: Backend) {
    let server = TestServer::start(backend).await;
    let owner = server.account_token("owner@example.com");
    let org = server.create_org(&owner, "Acme").await;
    server
        .set_capabilities(
            &org.name,
            &[],
            &[("custom_roles_allowed", true), ("sso_allowed", true)],
        )
        .await;
    let (_, member) = server
        .add_member(&owner, &org.name, "bob@example.com", &["viewer"])
        .await;
    server
        .members(&owner)
        .update_member(pb::UpdateMemberRequest {
            member: Some(pb::Member {
                name: member.name.clone(),
                roles: vec!["member".into()],
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["roles".into()],
            }),
            validate_only: false,
        })
        .await
        .unwrap();
    server
        .roles(&owner)
        .create_role(pb::CreateRoleRequest {
            parent: org.name.clone(),
            role_id: "auditors".into(),
            role: Some(pb::Role {
                permissions: vec!["orgcore.audit.list".into()],
                ..Default::default()
            }),
            validate_only: false,
        })
        .await
        .unwrap();
    server
        .auth_providers(&owner)
        .create_auth_provider(pb::CreateAuthProviderRequest {
            parent: org.name.clone(),
            auth_provider: Some(pb::AuthProvider {
                display_name: "SSO".into(),
                config: Some(pb::auth_provider::Config::Oidc(pb::OidcConfig {
                    issuer_uri: "https://login.example.com".into(),
                    client_id: "c".into(),
                    client_secret: "very-secret".into(),
                    ..Default::default()
                })),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap();
    server
        .members(&owner)
        .remove_member(pb::RemoveMemberRequest {
            name: member.name.clone(),
            ..Default::default()
        })
        .await
        .unwrap();
    // Another organization's events must not show up.
    let other_owner = server.account_token("other@example.com");
    let other = server.create_org(&other_owner, "Other").await;

    let events = list(
        &server,
        &owner,
        pb::ListAuditEventsRequest {
            parent: org.name.clone(),
            page_size: 2,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let methods: Vec<&str> = events.iter().map(|e| e.method.as_str()).collect();
    for m in [
        "CreateOrganization",
        "SetCapabilities",
        "CreateInvite",
        "AcceptInvite",
        "UpdateMember",
        "CreateRole",
        "CreateAuthProvider",
        "RemoveMember",
    ] {
        assert!(methods.contains(&m), "{m} audited: {methods:?}");
    }
    // Newest first, each exactly once across pages, only this organization.
    assert_eq!(methods.first(), Some(&"RemoveMember"));
    let mut names: Vec<&str> = events.iter().map(|e| e.name.as_str()).collect();
    names.dedup();
    assert_eq!(names.len(), events.len());
    assert!(events.iter().all(|e| e.organization == org.name));
    assert!(
        events
            .iter()
            .all(|e| !e.details_json.contains("very-secret")),
        "secrets never in the audit log"
    );

    // Filters: by actor and by resource prefix.
    let by_bob: Vec<String> = list(
        &server,
        &owner,
        pb::ListAuditEventsRequest {
            parent: org.name.clone(),
            actor: format!("account:{}", member.account.trim_start_matches("accounts/")),
            ..Default::default()
        },
    )
    .await
    .unwrap()
    .into_iter()
    .map(|e| e.method)
    .collect();
    assert_eq!(by_bob, ["AcceptInvite"]);
    let members_only = list(
        &server,
        &owner,
        pb::ListAuditEventsRequest {
            parent: org.name.clone(),
            resource: format!("{}/members/", org.name),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(members_only.len(), 2, "UpdateMember and RemoveMember");

    // Viewers may not read the audit log; other tenants get NOT_FOUND.
    let (viewer, _) = server
        .add_member(&owner, &org.name, "viewer@example.com", &["viewer"])
        .await;
    let err = list(
        &server,
        &viewer,
        pb::ListAuditEventsRequest {
            parent: org.name.clone(),
            ..Default::default()
        },
    )
    .await
    .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    let err = list(
        &server,
        &other_owner,
        pb::ListAuditEventsRequest {
            parent: org.name.clone(),
            ..Default::default()
        },
    )
    .await
    .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    // Only operators list across organizations.
    let err = list(&server, &owner, pb::ListAuditEventsRequest::default())
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    let all = list(
        &server,
        &server.operator_token(),
        pb::ListAuditEventsRequest::default(),
    )
    .await
    .unwrap();
    assert!(all.iter().any(|e| e.organization == other.name));
    assert!(all.iter().any(|e| e.organization == org.name));

    // Bad filters name their field.
    let err = server
        .audit(&owner)
        .list_audit_events(pb::ListAuditEventsRequest {
            parent: org.name.clone(),
            start_time: Some(prost_types::Timestamp {
                seconds: 100,
                nanos: 0,
            }),
            end_time: Some(prost_types::Timestamp {
                seconds: 50,
                nanos: 0,
            }),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&err), ["end_time"]);
    server.stop().await;
}

backend_tests!(people_changes_are_audited_and_listed_per_organization);
