//! Acceptance (people & access): invites end to end, `max_members` under
//! concurrency.

use loopback_proto::orgcore::v1 as pb;
use loopback_tests::{Backend, TestServer, backend_tests, bad_fields, reason};
use tonic::Code;

fn invite_req(org: &str, email: &str, roles: &[&str]) -> pb::CreateInviteRequest {
    pb::CreateInviteRequest {
        parent: org.into(),
        invite: Some(pb::Invite {
            email: email.into(),
            roles: roles.iter().map(|r| r.to_string()).collect(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

async fn list_invites(
    server: &TestServer,
    token: &str,
    org: &str,
    state: pb::invite::State,
) -> Vec<pb::Invite> {
    server
        .invites(token)
        .list_invites(pb::ListInvitesRequest {
            parent: org.into(),
            state: state.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .invites
}

async fn invite_round_trip_across_two_accounts(backend: Backend) {
    let server = TestServer::start(backend).await;
    let owner = server.account_token("owner@example.com");
    // Inviting is a setup action: allowed while IN_SETUP.
    let org = server.create_org(&owner, "Acme").await;
    let created = server
        .invites(&owner)
        .create_invite(invite_req(&org.name, "  Bob@Example.COM ", &["admin"]))
        .await
        .unwrap()
        .into_inner();
    let invite = created.invite.unwrap();
    assert_eq!(invite.email, "bob@example.com", "normalised");
    assert_eq!(invite.state(), pb::invite::State::Pending);
    assert!(created.invite_token.starts_with("lbinv_"));
    let pending = list_invites(&server, &owner, &org.name, pb::invite::State::Pending).await;
    assert_eq!(
        pending.iter().map(|i| i.name.clone()).collect::<Vec<_>>(),
        std::slice::from_ref(&invite.name)
    );

    // The token is stored only as a hash.
    let db = sea_orm::Database::connect(&server.database_url)
        .await
        .unwrap();
    use sea_orm::ConnectionTrait as _;
    let rows = db
        .query_all_raw(sea_orm::Statement::from_string(
            db.get_database_backend(),
            "SELECT token_hash FROM invites".to_string(),
        ))
        .await
        .unwrap();
    let stored: String = rows[0].try_get("", "token_hash").unwrap();
    assert!(!stored.contains(&created.invite_token) && stored.len() == 64);

    // Someone else cannot accept it.
    let mallory = server.account_token("mallory@example.com");
    let err = server
        .invites(&mallory)
        .accept_invite(pb::AcceptInviteRequest {
            invite_token: created.invite_token.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    assert_eq!(reason(&err).as_deref(), Some("INVITE_EMAIL_MISMATCH"));

    // Bob accepts (his token's email differs only in case).
    let bob = server.account_token("BOB@example.com");
    let member = server
        .invites(&bob)
        .accept_invite(pb::AcceptInviteRequest {
            invite_token: created.invite_token.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .member
        .unwrap();
    assert_eq!(member.roles, ["admin"]);
    assert_eq!(member.email, "bob@example.com");
    assert!(member.join_time.is_some());
    // Bob now sees the organization and the member list shows both.
    let orgs = server
        .orgs(&bob)
        .list_organizations(pb::ListOrganizationsRequest::default())
        .await
        .unwrap()
        .into_inner()
        .organizations;
    assert_eq!(orgs.len(), 1);
    let members = server
        .members(&bob)
        .list_members(pb::ListMembersRequest {
            parent: org.name.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .members;
    let mut emails: Vec<String> = members.iter().map(|m| m.email.clone()).collect();
    emails.sort();
    assert_eq!(emails, ["bob@example.com", "owner@example.com"]);

    // The token cannot be used again.
    let err = server
        .invites(&bob)
        .accept_invite(pb::AcceptInviteRequest {
            invite_token: created.invite_token.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert_eq!(reason(&err).as_deref(), Some("INVITE_ALREADY_USED"));
    let accepted = list_invites(&server, &owner, &org.name, pb::invite::State::Accepted).await;
    assert_eq!(accepted.len(), 1);
    assert_eq!(accepted[0].accepted_by, member.account);

    // A revoked invite is refused with its own reason.
    let carol = server
        .invites(&owner)
        .create_invite(invite_req(&org.name, "carol@example.com", &["viewer"]))
        .await
        .unwrap()
        .into_inner();
    // A second pending invite for the same email is ALREADY_EXISTS.
    let err = server
        .invites(&owner)
        .create_invite(invite_req(&org.name, "carol@example.com", &["viewer"]))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::AlreadyExists);
    server
        .invites(&owner)
        .revoke_invite(pb::RevokeInviteRequest {
            name: carol.invite.unwrap().name,
            validate_only: false,
        })
        .await
        .unwrap();
    let err = server
        .invites(&server.account_token("carol@example.com"))
        .accept_invite(pb::AcceptInviteRequest {
            invite_token: carol.invite_token,
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert_eq!(reason(&err).as_deref(), Some("INVITE_REVOKED"));

    // An expired invite is refused with its own reason; resending rotates the
    // token and revives it, and the old token no longer works.
    let dave = server
        .invites(&owner)
        .create_invite(invite_req(&org.name, "dave@example.com", &[]))
        .await
        .unwrap()
        .into_inner();
    let dave_invite = dave.invite.unwrap();
    assert_eq!(dave_invite.roles, ["member"], "default role");
    db.execute_unprepared(&format!(
        "UPDATE invites SET expire_time = create_time WHERE id = '{}'",
        dave_invite.name.rsplit('/').next().unwrap()
    ))
    .await
    .unwrap();
    let expired = list_invites(&server, &owner, &org.name, pb::invite::State::Expired).await;
    assert_eq!(expired.len(), 1);
    let dave_token = server.account_token("dave@example.com");
    let err = server
        .invites(&dave_token)
        .accept_invite(pb::AcceptInviteRequest {
            invite_token: dave.invite_token.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert_eq!(reason(&err).as_deref(), Some("INVITE_EXPIRED"));
    let resent = server
        .invites(&owner)
        .resend_invite(pb::ResendInviteRequest {
            name: dave_invite.name.clone(),
            ttl_hours: 1,
        })
        .await
        .unwrap()
        .into_inner();
    assert_ne!(resent.invite_token, dave.invite_token);
    let err = server
        .invites(&dave_token)
        .accept_invite(pb::AcceptInviteRequest {
            invite_token: dave.invite_token,
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound, "the old token is gone");
    server
        .invites(&dave_token)
        .accept_invite(pb::AcceptInviteRequest {
            invite_token: resent.invite_token,
        })
        .await
        .unwrap();
    server.stop().await;
}

async fn max_members_holds_under_concurrent_invites_and_accepts(backend: Backend) {
    let server = TestServer::start(backend).await;
    let owner = server.account_token("owner@example.com");
    let org = server.create_org(&owner, "Small").await;
    server
        .set_capabilities(&org.name, &[("max_members", 5)], &[])
        .await;
    // 30 concurrent invites: the owner plus 4 pending fill the limit of 5.
    let calls = (0..30).map(|i| {
        let mut client = server.invites(&owner);
        let req = invite_req(&org.name, &format!("user{i}@example.com"), &["viewer"]);
        async move {
            client
                .create_invite(req)
                .await
                .map(|r| (i, r.into_inner().invite_token))
        }
    });
    let results = futures::future::join_all(calls).await;
    let ok: Vec<(usize, String)> = results
        .iter()
        .filter_map(|r| r.as_ref().ok().cloned())
        .collect();
    assert_eq!(ok.len(), 4, "owner + 4 pending = 5");
    for err in results.iter().filter_map(|r| r.as_ref().err()) {
        assert_eq!(err.code(), Code::ResourceExhausted, "{err:?}");
        assert_eq!(reason(err).as_deref(), Some("LIMIT_REACHED"));
    }
    // Concurrent accepts of those 4 plus new invites racing them: never above 5.
    let accepts = ok.iter().map(|(i, token)| {
        let mut client = server.invites(&server.account_token(&format!("user{i}@example.com")));
        let token = token.clone();
        async move {
            client
                .accept_invite(pb::AcceptInviteRequest {
                    invite_token: token,
                })
                .await
                .map(|_| ())
        }
    });
    let more_invites = (30..56).map(|i| {
        let mut client = server.invites(&owner);
        let req = invite_req(&org.name, &format!("user{i}@example.com"), &["viewer"]);
        async move { client.create_invite(req).await.map(|_| ()) }
    });
    let (accepted, invited) = futures::future::join(
        futures::future::join_all(accepts),
        futures::future::join_all(more_invites),
    )
    .await;
    assert!(accepted.iter().all(|r| r.is_ok()), "{accepted:?}");
    assert!(
        invited
            .iter()
            .all(|r| r.as_ref().unwrap_err().code() == Code::ResourceExhausted)
    );
    let members = server
        .members(&owner)
        .list_members(pb::ListMembersRequest {
            parent: org.name.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .members;
    assert_eq!(members.len(), 5);
    server.stop().await;
}

async fn bad_invites_are_refused_naming_the_field(backend: Backend) {
    let server = TestServer::start(backend).await;
    let owner = server.account_token("owner@example.com");
    let org = server.create_org(&owner, "Acme").await;
    let mut invites = server.invites(&owner);
    for bad in [
        "",
        "not-an-email",
        "a@b",
        "two@@example.com",
        "sp ace@example.com",
    ] {
        let err = invites
            .create_invite(invite_req(&org.name, bad, &["member"]))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument, "{bad:?}");
        assert_eq!(bad_fields(&err), ["invite.email"], "{bad:?}");
    }
    let err = invites
        .create_invite(invite_req(&org.name, "x@example.com", &["no-such-role"]))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert_eq!(bad_fields(&err), ["invite.roles[0]"]);
    let mut req = invite_req(&org.name, "x@example.com", &["member"]);
    req.ttl_hours = 10_000;
    let err = invites.create_invite(req).await.unwrap_err();
    assert_eq!(bad_fields(&err), ["ttl_hours"]);
    let err = invites
        .accept_invite(pb::AcceptInviteRequest {
            invite_token: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&err), ["invite_token"]);
    let err = invites
        .accept_invite(pb::AcceptInviteRequest {
            invite_token: "lbinv_guessed".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    server.stop().await;
}

backend_tests!(
    invite_round_trip_across_two_accounts,
    max_members_holds_under_concurrent_invites_and_accepts,
    bad_invites_are_refused_naming_the_field,
);
