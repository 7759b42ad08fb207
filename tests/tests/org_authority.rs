//! AuthorityService: policies and the change feed, first version (the
//! caching client and multi-replica feed arrive with the authority issue).

use std::time::Duration;

use futures::StreamExt as _;
use loopback_proto::orgcore::v1 as pb;
use loopback_proto::r#type::v1::{ActionClass, VerificationStatus};
use loopback_tests::{Backend, TestServer, backend_tests};
use tonic::Code;

async fn policy_reflects_status_and_watch_streams_changes_in_order(backend: Backend) {
    let server = TestServer::start(backend).await;
    let owner = server.account_token("owner@example.com");
    let svc = server.service_token("billing");
    let org = server.create_org(&owner, "Watched").await;
    let policy = server
        .authority(&svc)
        .get_organization_policy(pb::GetOrganizationPolicyRequest {
            organization: org.name.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .policy
        .unwrap();
    assert_eq!(policy.verification_status(), VerificationStatus::InSetup);
    assert_eq!(
        policy.allowed_action_classes,
        [ActionClass::Read as i32, ActionClass::Setup as i32]
    );
    assert!(policy.features.contains(&"github".to_string()));
    assert!(policy.revision > 0);

    let mut stream = server
        .authority(&svc)
        .watch_organization_policies(pb::WatchOrganizationPoliciesRequest { from_revision: 0 })
        .await
        .unwrap()
        .into_inner();
    let first = tokio::time::timeout(Duration::from_secs(5), stream.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(first.kind, "created");
    assert_eq!(first.organization, org.name);
    let start = first.revision;

    server
        .set_status(&org.name, VerificationStatus::Verified)
        .await;
    server
        .set_status(&org.name, VerificationStatus::Blocked)
        .await;
    let a = tokio::time::timeout(Duration::from_secs(5), stream.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let b = tokio::time::timeout(Duration::from_secs(5), stream.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(a.kind, "verification_status");
    assert_eq!(b.kind, "verification_status");
    assert!(start < a.revision && a.revision < b.revision);
    assert_eq!(
        b.policy.unwrap().verification_status(),
        VerificationStatus::Blocked
    );

    // Resuming from a revision replays only what came after it.
    let mut resumed = server
        .authority(&svc)
        .watch_organization_policies(pb::WatchOrganizationPoliciesRequest {
            from_revision: a.revision,
        })
        .await
        .unwrap()
        .into_inner();
    let next = tokio::time::timeout(Duration::from_secs(5), resumed.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(next.revision, b.revision);

    // Accounts cannot watch.
    let err = server
        .authority(&owner)
        .watch_organization_policies(pb::WatchOrganizationPoliciesRequest { from_revision: 0 })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    server.stop().await;
}

async fn authorize_answers_membership_permission_and_status(backend: Backend) {
    let server = TestServer::start(backend).await;
    let owner = server.account_token("owner@example.com");
    let svc = server.service_token("dns");
    let org = server.verified_org(&owner, "Acme").await;
    let ask = |subject: &str, permission: &str, class: ActionClass| pb::AuthorizeRequest {
        principal: Some(loopback_proto::r#type::v1::Principal {
            kind: loopback_proto::r#type::v1::PrincipalKind::Account.into(),
            subject: subject.into(),
            email: String::new(),
        }),
        organization: org.name.clone(),
        permission: permission.into(),
        action_class: class.into(),
        resource: String::new(),
    };
    let mut authority = server.authority(&svc);
    let allow = authority
        .authorize(ask(
            "sub-owner@example.com",
            "orgcore.projects.create",
            ActionClass::Create,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(allow.decision(), pb::Decision::Allow);
    assert_eq!(allow.policy.unwrap().organization, org.name);
    let stranger = authority
        .authorize(ask(
            "sub-nobody@example.com",
            "orgcore.projects.create",
            ActionClass::Create,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(stranger.decision(), pb::Decision::DenyNotFound);
    assert!(stranger.policy.is_none(), "no policy leaks to non-members");
    let err = authority
        .authorize(ask(
            "sub-owner@example.com",
            "orgcore.unicorns.create",
            ActionClass::Create,
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert_eq!(loopback_tests::bad_fields(&err), ["permission"]);
    server.stop().await;
}

backend_tests!(
    policy_reflects_status_and_watch_streams_changes_in_order,
    authorize_answers_membership_permission_and_status,
);
