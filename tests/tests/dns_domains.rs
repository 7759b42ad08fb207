//! Acceptance (dns): domains. Names are IDNA-normalised and public-suffix
//! aware; ownership is verified over real DNS against a responder the test
//! runs on 127.0.0.1 — it passes when the TXT record matches and fails
//! clearly when it does not or the name does not resolve; a verified name
//! belongs to one organization, and another learns nothing about the
//! holder; the expiry sweep moves expired registrations.

use loopback_dns::Dns;
use loopback_proto::dns::v1 as pb;
use loopback_tests::requests::dns::create_zone;
use loopback_tests::responder::Responder;
use loopback_tests::{Backend, TestServer, backend_tests, bad_fields, metadata, reason};
use tonic::Code;

fn create(org: &str, name: &str) -> pb::CreateDomainRequest {
    pb::CreateDomainRequest {
        parent: org.into(),
        domain: Some(pb::Domain {
            domain_name: name.into(),
            registrar: "Gandi".into(),
            registration_time: Some(prost_types::Timestamp {
                seconds: 1_700_000_000,
                nanos: 0,
            }),
            expire_time: Some(prost_types::Timestamp {
                seconds: 4_100_000_000,
                nanos: 0,
            }),
            auto_renew: true,
            ..Default::default()
        }),
        ..Default::default()
    }
}

async fn verify(server: &TestServer, token: &str, name: &str) -> Result<pb::Domain, tonic::Status> {
    server
        .domains(token)
        .verify_domain(pb::VerifyDomainRequest { name: name.into() })
        .await
        .map(|r| r.into_inner().domain.unwrap())
}

async fn names_are_normalised_and_must_be_registrable(backend: Backend) {
    let server = TestServer::start(backend).await;
    let owner = server.account_token("owner@example.com");
    let org = server.verified_org(&owner, "Acme").await.name;
    let domain = server
        .domains(&owner)
        .create_domain(create(&org, "Bücher.DE."))
        .await
        .unwrap()
        .into_inner()
        .domain
        .unwrap();
    assert_eq!(domain.domain_name, "xn--bcher-kva.de");
    assert_eq!(domain.unicode_name, "bücher.de");
    assert_eq!(domain.state, pb::domain::State::PendingVerification as i32);
    assert_eq!(
        domain.verification_record,
        "_loopback-challenge.xn--bcher-kva.de."
    );
    assert!(domain.verification_token.starts_with("loopback-verify="));
    assert_eq!(domain.allowed_actions, ["verify", "update", "delete"]);

    for bad in [
        "co.uk",
        "com",
        "www.example.com",
        "example.invalid-tld",
        "exa mple.com",
        "",
    ] {
        let err = server
            .domains(&owner)
            .create_domain(create(&org, bad))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument, "{bad}");
        assert_eq!(bad_fields(&err), ["domain.domain_name"], "{bad}: {err:?}");
    }
    let err = server
        .domains(&owner)
        .create_domain(create(&org, "co.uk"))
        .await
        .unwrap_err();
    assert!(err.message().contains("public suffix"), "{err:?}");
    let mut backwards = create(&org, "example.com");
    backwards.domain.as_mut().unwrap().expire_time = Some(prost_types::Timestamp {
        seconds: 1_600_000_000,
        nanos: 0,
    });
    let err = server
        .domains(&owner)
        .create_domain(backwards)
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&err), ["domain.expire_time"]);
    // The same name twice in one organization.
    let err = server
        .domains(&owner)
        .create_domain(create(&org, "XN--BCHER-KVA.de"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::AlreadyExists);
    server.stop().await;
}

async fn ownership_is_verified_over_dns_and_a_verified_name_has_one_holder(backend: Backend) {
    let dns = Responder::start().await;
    let server =
        TestServer::start_with(backend, &[&dns.flag(), "--dns-lookup-timeout-seconds=2"]).await;
    let owner = server.account_token("owner@acme.example");
    let org = server.verified_org(&owner, "Acme").await.name;
    let rival_owner = server.account_token("owner@rival.example");
    let rival = server.verified_org(&rival_owner, "Rival").await.name;

    let domain = server
        .domains(&owner)
        .create_domain(create(&org, "acme-corp.com"))
        .await
        .unwrap()
        .into_inner()
        .domain
        .unwrap();
    // A rival may track the same name while nobody has verified it.
    let rivals = server
        .domains(&rival_owner)
        .create_domain(create(&rival, "acme-corp.com"))
        .await
        .unwrap()
        .into_inner()
        .domain
        .unwrap();
    assert_ne!(rivals.verification_token, domain.verification_token);

    // The name does not resolve.
    let err = verify(&server, &owner, &domain.name).await.unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert_eq!(reason(&err).as_deref(), Some("DOMAIN_VERIFICATION_FAILED"));
    assert_eq!(metadata(&err)["problem"], "NXDOMAIN");
    assert_eq!(
        metadata(&err)["record"],
        "_loopback-challenge.acme-corp.com."
    );
    assert!(
        err.message().contains(&domain.verification_token),
        "{err:?}"
    );
    // It resolves, without a TXT record.
    dns.set_txt("_loopback-challenge.acme-corp.com", &[]);
    let err = verify(&server, &owner, &domain.name).await.unwrap_err();
    assert_eq!(metadata(&err)["problem"], "NO_TXT_RECORD", "{err:?}");
    // Other values only (the rival's token is not ours).
    dns.set_txt(
        "_loopback-challenge.acme-corp.com",
        &["google-site-verification=abc", &rivals.verification_token],
    );
    let err = verify(&server, &owner, &domain.name).await.unwrap_err();
    assert_eq!(metadata(&err)["problem"], "TOKEN_MISMATCH", "{err:?}");
    assert!(err.message().contains("2 TXT record(s)"), "{err:?}");
    let still = server
        .domains(&owner)
        .get_domain(pb::GetDomainRequest {
            name: domain.name.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .domain
        .unwrap();
    assert_eq!(still.state, pb::domain::State::PendingVerification as i32);

    // The matching value, among others: verified.
    dns.set_txt(
        "_loopback-challenge.acme-corp.com",
        &["google-site-verification=abc", &domain.verification_token],
    );
    let verified = verify(&server, &owner, &domain.name).await.unwrap();
    assert_eq!(verified.state, pb::domain::State::Verified as i32);
    assert!(verified.verify_time.is_some());

    // The rival can neither verify its record of the name (even with its
    // own token published) nor add it again, and learns nothing about who
    // holds it.
    dns.set_txt(
        "_loopback-challenge.acme-corp.com",
        &[&rivals.verification_token],
    );
    let first = &verify(&server, &rival_owner, &rivals.name)
        .await
        .unwrap_err();
    assert_eq!(first.code(), Code::AlreadyExists, "{first:?}");
    assert_eq!(reason(first).as_deref(), Some("DOMAIN_ALREADY_VERIFIED"));
    let third_owner = server.account_token("owner@third.example");
    let third = server.verified_org(&third_owner, "Third").await.name;
    let again = server
        .domains(&third_owner)
        .create_domain(create(&third, "ACME-corp.com"))
        .await
        .unwrap_err();
    for err in [first, &again] {
        assert_eq!(err.code(), Code::AlreadyExists, "{err:?}");
        let text = format!("{} {:?}", err.message(), metadata(err));
        for secret in [org.as_str(), "Acme", "owner@acme", &domain.name] {
            let org_id = secret.trim_start_matches("organizations/");
            assert!(!text.contains(org_id), "{secret} revealed in {text}");
        }
        assert_eq!(metadata(err).keys().collect::<Vec<_>>(), ["domain"]);
    }
    // Nor host a zone under it.
    let err = server
        .zones(&rival_owner)
        .create_zone(create_zone(&rival, "shop.acme-corp.com"))
        .await
        .unwrap_err();
    assert_eq!(reason(&err).as_deref(), Some("DOMAIN_ALREADY_VERIFIED"));
    // The holder can.
    server
        .zones(&owner)
        .create_zone(create_zone(&org, "shop.acme-corp.com"))
        .await
        .unwrap();

    // Once the holder removes it, the name is free.
    server
        .domains(&owner)
        .delete_domain(pb::DeleteDomainRequest {
            name: domain.name.clone(),
            etag: verified.etag.clone(),
            validate_only: false,
        })
        .await
        .unwrap();
    let theirs = verify(&server, &rival_owner, &rivals.name).await.unwrap();
    assert_eq!(theirs.state, pb::domain::State::Verified as i32);
    server.stop().await;
}

async fn the_sweep_expires_registrations_and_frees_their_names(backend: Backend) {
    let dns = Responder::start().await;
    let server = TestServer::start_with(backend, &[&dns.flag()]).await;
    let owner = server.account_token("owner@example.com");
    let org = server.verified_org(&owner, "Acme").await.name;
    let domain = server
        .domains(&owner)
        .create_domain(create(&org, "soon-gone.com"))
        .await
        .unwrap()
        .into_inner()
        .domain
        .unwrap();
    dns.set_txt(
        "_loopback-challenge.soon-gone.com",
        &[&domain.verification_token],
    );
    verify(&server, &owner, &domain.name).await.unwrap();
    // The registration ends in two seconds (set through the API).
    let soon = chrono::Utc::now() + chrono::Duration::seconds(2);
    let updated = server
        .domains(&owner)
        .update_domain(pb::UpdateDomainRequest {
            domain: Some(pb::Domain {
                name: domain.name.clone(),
                expire_time: Some(loopback_runtime::fields::timestamp(soon)),
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["expire_time".into()],
            }),
            validate_only: false,
        })
        .await
        .unwrap()
        .into_inner()
        .domain
        .unwrap();
    assert_eq!(updated.state, pb::domain::State::Verified as i32);
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    let moved = server.service::<Dns>().expire_domains().await.unwrap();
    assert_eq!(moved, 1);
    let expired = server
        .domains(&owner)
        .get_domain(pb::GetDomainRequest {
            name: domain.name.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .domain
        .unwrap();
    assert_eq!(expired.state, pb::domain::State::Expired as i32);
    assert_eq!(expired.allowed_actions, ["update", "delete"]);
    let err = verify(&server, &owner, &domain.name).await.unwrap_err();
    assert_eq!(reason(&err).as_deref(), Some("INVALID_DOMAIN_STATE"));
    // The name is free: another organization may verify it.
    let other_owner = server.account_token("other@example.com");
    let other = server.verified_org(&other_owner, "Other").await.name;
    let theirs = server
        .domains(&other_owner)
        .create_domain(create(&other, "soon-gone.com"))
        .await
        .unwrap()
        .into_inner()
        .domain
        .unwrap();
    dns.set_txt(
        "_loopback-challenge.soon-gone.com",
        &[&theirs.verification_token],
    );
    verify(&server, &other_owner, &theirs.name).await.unwrap();
    // Renewed (a future expiry), the first one is pending again — and must
    // prove ownership anew, which it now cannot.
    let renewed = server
        .domains(&owner)
        .update_domain(pb::UpdateDomainRequest {
            domain: Some(pb::Domain {
                name: domain.name.clone(),
                expire_time: Some(prost_types::Timestamp {
                    seconds: 4_100_000_000,
                    nanos: 0,
                }),
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["expire_time".into()],
            }),
            validate_only: false,
        })
        .await
        .unwrap()
        .into_inner()
        .domain
        .unwrap();
    assert_eq!(renewed.state, pb::domain::State::PendingVerification as i32);
    let err = verify(&server, &owner, &domain.name).await.unwrap_err();
    assert_eq!(err.code(), Code::AlreadyExists);
    // Listing by state.
    let pending = server
        .domains(&owner)
        .list_domains(pb::ListDomainsRequest {
            parent: org.clone(),
            state: pb::domain::State::PendingVerification.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .domains;
    assert_eq!(pending.len(), 1);
    server.stop().await;
}

backend_tests!(
    names_are_normalised_and_must_be_registrable,
    ownership_is_verified_over_dns_and_a_verified_name_has_one_holder,
    the_sweep_expires_registrations_and_frees_their_names,
);
