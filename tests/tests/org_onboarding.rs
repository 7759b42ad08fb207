//! Acceptance (org-core, onboarding): an organization completes its
//! checklist — the legal profile, a payment method that billing reports —
//! and submits itself for verification; until then the submission is
//! refused naming each missing item. Operators list the review queue
//! (oldest submission first) and decide with SetVerificationStatus. Every
//! step is in the audit log; bad tax ids, countries and emails are refused
//! naming the field; only owners and admins submit; another tenant's
//! onboarding is NOT_FOUND — on SQLite and PostgreSQL.

use std::time::{Duration, Instant};

use loopback_proto::orgcore::v1 as pb;
use loopback_proto::r#type::v1::{PostalAddress, VerificationStatus};
use loopback_tests::requests::{card, legal_profile, update_profile};
use loopback_tests::{
    Backend, TestServer, backend_tests, bad_fields, metadata, precondition_subjects, reason,
};
use tonic::{Code, Status};

const EVENTUALLY: Duration = Duration::from_secs(20);

fn mask(paths: &[&str]) -> Option<prost_types::FieldMask> {
    Some(prost_types::FieldMask {
        paths: paths.iter().map(|p| p.to_string()).collect(),
    })
}

async fn status(server: &TestServer, token: &str, org: &str) -> pb::OnboardingStatus {
    server
        .onboarding(token)
        .get_onboarding_status(pb::GetOnboardingStatusRequest {
            organization: org.into(),
        })
        .await
        .unwrap()
        .into_inner()
        .onboarding_status
        .unwrap()
}

async fn submit(
    server: &TestServer,
    token: &str,
    org: &str,
) -> Result<pb::SubmitForVerificationResponse, Status> {
    server
        .onboarding(token)
        .submit_for_verification(pb::SubmitForVerificationRequest {
            organization: org.into(),
            validate_only: false,
        })
        .await
        .map(tonic::Response::into_inner)
}

async fn set_profile(
    server: &TestServer,
    token: &str,
    profile: pb::OrganizationProfile,
) -> Result<pb::OrganizationProfile, Status> {
    server
        .onboarding(token)
        .update_organization_profile(update_profile(profile))
        .await
        .map(|r| r.into_inner().profile.unwrap())
}

async fn review_queue(server: &TestServer, page_size: i32, token: &str) -> (Vec<String>, String) {
    let page = server
        .onboarding(&server.operator_token())
        .list_review_queue(pb::ListReviewQueueRequest {
            page_size,
            page_token: token.into(),
        })
        .await
        .unwrap()
        .into_inner();
    let names = page
        .entries
        .into_iter()
        .map(|e| e.organization.unwrap().name)
        .collect();
    (names, page.next_page_token)
}

/// Polls until `org`'s `payment_method` item is `complete` (billing reports
/// it right after its commit; this only absorbs scheduling).
async fn wait_for_payment_method(server: &TestServer, token: &str, org: &str, complete: bool) {
    let deadline = Instant::now() + EVENTUALLY;
    loop {
        let s = status(server, token, org).await;
        let item = s.items.iter().find(|i| i.item == "payment_method").unwrap();
        if item.complete == complete {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "billing's payment method fact never arrived: {s:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Profile, payment method, submit: a complete organization, PENDING.
async fn onboard(server: &TestServer, token: &str, org: &str) {
    set_profile(server, token, legal_profile(org, "DE", "DE123456789"))
        .await
        .unwrap();
    server
        .payment_methods(token)
        .create_payment_method(card(org, "tok_visa_4242"))
        .await
        .unwrap();
    wait_for_payment_method(server, token, org, true).await;
    submit(server, token, org).await.unwrap();
}

async fn onboarding_end_to_end_with_an_operator_review(backend: Backend) {
    let server = TestServer::start(backend).await;
    let owner = server.account_token("owner@example.com");
    let org = server.create_org(&owner, "Acme").await;
    assert_eq!(
        org.verification_status,
        i32::from(VerificationStatus::InSetup)
    );

    // Nothing done yet: the checklist says what is missing.
    let s = status(&server, &owner, &org.name).await;
    assert_eq!(s.name, format!("{}/onboarding", org.name));
    assert!(!s.complete);
    assert!(s.submit_time.is_none());
    let items: Vec<(&str, bool)> = s
        .items
        .iter()
        .map(|i| (i.item.as_str(), i.complete))
        .collect();
    assert_eq!(items, [("profile", false), ("payment_method", false)]);
    assert!(s.items[0].description.contains("legal name"));
    assert!(s.items[1].description.contains("payment method"));

    // Submitting names each missing item.
    let err = submit(&server, &owner, &org.name).await.unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert_eq!(reason(&err).as_deref(), Some("ONBOARDING_INCOMPLETE"));
    assert_eq!(precondition_subjects(&err), ["profile", "payment_method"]);
    {
        use tonic_types::StatusExt as _;
        let failure = err.get_details_precondition_failure().unwrap();
        assert!(failure.violations.iter().all(|v| v.r#type == "ONBOARDING"));
    }

    // The profile alone: still refused, naming the payment method only.
    let empty = server
        .onboarding(&owner)
        .get_organization_profile(pb::GetOrganizationProfileRequest {
            name: format!("{}/profile", org.name),
        })
        .await
        .unwrap()
        .into_inner()
        .profile
        .unwrap();
    assert_eq!(empty.legal_name, "");
    assert_eq!(empty.etag, "\"0\"");
    let mut profile = legal_profile(&org.name, "de", "de 123.456.789");
    profile.etag = empty.etag.clone();
    let saved = set_profile(&server, &owner, profile).await.unwrap();
    assert_eq!(saved.tax_id, "DE123456789", "normalised");
    assert_eq!(saved.address.as_ref().unwrap().country, "DE");
    assert_eq!(saved.etag, "\"1\"");
    assert!(saved.update_time.is_some());
    let err = submit(&server, &owner, &org.name).await.unwrap_err();
    assert_eq!(reason(&err).as_deref(), Some("ONBOARDING_INCOMPLETE"));
    assert_eq!(precondition_subjects(&err), ["payment_method"]);

    // A payment method: billing tells org-core.
    let method = server
        .payment_methods(&owner)
        .create_payment_method(card(&org.name, "tok_visa_4242"))
        .await
        .unwrap()
        .into_inner()
        .payment_method
        .unwrap();
    wait_for_payment_method(&server, &owner, &org.name, true).await;
    assert!(status(&server, &owner, &org.name).await.complete);

    // validate_only checks and writes nothing.
    server
        .onboarding(&owner)
        .submit_for_verification(pb::SubmitForVerificationRequest {
            organization: org.name.clone(),
            validate_only: true,
        })
        .await
        .unwrap();
    let s = status(&server, &owner, &org.name).await;
    assert_eq!(
        s.verification_status,
        i32::from(VerificationStatus::InSetup)
    );
    assert!(s.submit_time.is_none());

    // Submit: PENDING, with the submit time.
    let submitted = submit(&server, &owner, &org.name).await.unwrap();
    let pending = submitted.organization.unwrap();
    assert_eq!(
        pending.verification_status,
        i32::from(VerificationStatus::Pending)
    );
    assert!(submitted.onboarding_status.unwrap().submit_time.is_some());
    let read = server
        .orgs(&owner)
        .get_organization(pb::GetOrganizationRequest {
            name: org.name.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .organization
        .unwrap();
    assert_eq!(
        read.verification_status,
        i32::from(VerificationStatus::Pending)
    );

    // Only IN_SETUP organizations are submitted.
    let err = submit(&server, &owner, &org.name).await.unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert_eq!(reason(&err).as_deref(), Some("NOT_IN_SETUP"));
    assert_eq!(metadata(&err)["verification_status"], "PENDING");

    // A second organization submits later: the queue is oldest first.
    let other_owner = server.account_token("other@example.com");
    let later = server.create_org(&other_owner, "Later").await;
    onboard(&server, &other_owner, &later.name).await;
    let (queue, next) = review_queue(&server, 0, "").await;
    assert_eq!(queue, [org.name.clone(), later.name.clone()]);
    assert!(next.is_empty());
    let (first, token) = review_queue(&server, 1, "").await;
    assert_eq!(first, std::slice::from_ref(&org.name));
    let (second, token) = review_queue(&server, 1, &token).await;
    assert_eq!(second, std::slice::from_ref(&later.name));
    assert!(token.is_empty(), "the last page");
    let entry = server
        .onboarding(&server.operator_token())
        .list_review_queue(pb::ListReviewQueueRequest::default())
        .await
        .unwrap()
        .into_inner()
        .entries
        .remove(0);
    assert_eq!(entry.profile.unwrap().legal_name, "Acme GmbH");
    assert!(entry.submitted_by.starts_with("account:"));
    assert!(entry.submit_time.is_some());
    // The queue is for operators.
    let err = server
        .onboarding(&owner)
        .list_review_queue(pb::ListReviewQueueRequest::default())
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);

    // The operator verifies the first: it leaves the queue.
    let verified = server
        .operator(&server.operator_token())
        .set_verification_status(pb::SetVerificationStatusRequest {
            name: org.name.clone(),
            verification_status: VerificationStatus::Verified.into(),
            reason: "documents checked".into(),
            validate_only: false,
        })
        .await
        .unwrap()
        .into_inner()
        .organization
        .unwrap();
    assert_eq!(
        verified.verification_status,
        i32::from(VerificationStatus::Verified)
    );
    assert_eq!(
        review_queue(&server, 0, "").await.0,
        std::slice::from_ref(&later.name)
    );

    // Every step is in the organization's one audit log.
    let expected = [
        (
            "org-core",
            "UpdateOrganizationProfile",
            format!("{}/profile", org.name),
        ),
        ("billing", "CreatePaymentMethod", method.name.clone()),
        (
            "org-core",
            "ReportOnboardingItem",
            format!("{}/onboarding", org.name),
        ),
        ("org-core", "SubmitForVerification", org.name.clone()),
        ("org-core", "SetVerificationStatus", org.name.clone()),
    ];
    let deadline = Instant::now() + EVENTUALLY;
    let events = loop {
        let events = server
            .audit(&owner)
            .list_audit_events(pb::ListAuditEventsRequest {
                parent: org.name.clone(),
                page_size: 1000,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .audit_events;
        if expected
            .iter()
            .all(|(_, m, _)| events.iter().any(|e| e.method == *m))
        {
            break events;
        }
        assert!(
            Instant::now() < deadline,
            "missing audit events: {:?}",
            events.iter().map(|e| &e.method).collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    for (service, method, resource) in &expected {
        let e = events
            .iter()
            .find(|e| e.method == *method)
            .unwrap_or_else(|| panic!("{method} audited"));
        assert_eq!(&e.service, service, "{method}");
        assert_eq!(&e.resource, resource, "{method}");
    }
    let report = events
        .iter()
        .find(|e| e.method == "ReportOnboardingItem")
        .unwrap();
    assert_eq!(report.actor, "service:billing");
    let details: serde_json::Value = serde_json::from_str(&report.details_json).unwrap();
    assert_eq!(details["item"], "payment_method");
    assert_eq!(details["complete"], true);
    let submit_event = events
        .iter()
        .find(|e| e.method == "SubmitForVerification")
        .unwrap();
    let details: serde_json::Value = serde_json::from_str(&submit_event.details_json).unwrap();
    assert_eq!(details["from"], "IN_SETUP");
    assert_eq!(details["to"], "PENDING");
    let decided = events
        .iter()
        .find(|e| e.method == "SetVerificationStatus")
        .unwrap();
    assert_eq!(decided.reason, "documents checked");
    let profile_event = events
        .iter()
        .find(|e| e.method == "UpdateOrganizationProfile")
        .unwrap();
    assert!(profile_event.actor.starts_with("account:"));

    // Removing the last payment method: billing reports that too.
    let later_method = server
        .payment_methods(&other_owner)
        .list_payment_methods(loopback_proto::billing::v1::ListPaymentMethodsRequest {
            parent: later.name.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .payment_methods
        .remove(0);
    server
        .payment_methods(&other_owner)
        .delete_payment_method(loopback_proto::billing::v1::DeletePaymentMethodRequest {
            name: later_method.name,
            validate_only: false,
        })
        .await
        .unwrap();
    wait_for_payment_method(&server, &other_owner, &later.name, false).await;
    server.stop().await;
}

/// Bad tax ids: `(country, tax id)`, each refused naming `profile.tax_id`.
const BAD_TAX_IDS: &[(&str, &str)] = &[
    // Wrong length.
    ("DE", "DE12345678"),
    ("DE", "DE1234567890"),
    ("FR", "FR1234567890"),
    ("IT", "IT1234567890"),
    ("PL", "PL123456789"),
    ("DK", "DK123456789"),
    ("DE", "DE"),
    // Wrong or missing country prefix.
    ("DE", "FR123456789"),
    ("DE", "123456789"),
    ("AT", "DE12345678"),
    ("GR", "GR123456789"),
    ("NL", "BE123456789B01"),
    // Letters where digits go (and the reverse).
    ("DE", "DE12345678A"),
    ("NL", "NL123456789A01"),
    ("AT", "AT123456789"),
    ("BE", "BE012345678X"),
    ("FI", "FI1234567X"),
    ("SE", "SE1234567890AB"),
    ("CY", "CY123456789"),
    // Other rules of a format.
    ("BE", "BE2123456789"),
    ("SE", "SE123456789012"),
    // Characters no tax id has.
    ("US", "12_345"),
    ("US", "ÄÖÜ123"),
];

/// Good VAT numbers: `(country, as typed, as stored)`.
const GOOD_TAX_IDS: &[(&str, &str, &str)] = &[
    ("DE", "DE123456789", "DE123456789"),
    ("FR", "FR 40 303 265 045", "FR40303265045"),
    ("FR", "FRXX123456789", "FRXX123456789"),
    ("NL", "nl123456789b01", "NL123456789B01"),
    ("AT", "ATU12345678", "ATU12345678"),
    ("BE", "BE0123.456.789", "BE0123456789"),
    ("IT", "IT12345678901", "IT12345678901"),
    ("ES", "ESX1234567L", "ESX1234567L"),
    ("PL", "PL1234567890", "PL1234567890"),
    ("SE", "SE123456789001", "SE123456789001"),
    ("GR", "EL123456789", "EL123456789"),
    ("IE", "IE1234567WA", "IE1234567WA"),
    ("DK", "DK12345678", "DK12345678"),
    ("PT", "PT123456789", "PT123456789"),
    ("LT", "LT123456789012", "LT123456789012"),
    ("GB", "GB123456789", "GB123456789"),
    ("GB", "XI123456789", "XI123456789"),
    // No published format: the generic rule.
    ("US", "12-3456789", "12-3456789"),
    ("CH", "CHE-123.456.789", "CHE-123456789"),
];

async fn bad_profiles_are_refused_naming_the_field(backend: Backend) {
    let server = TestServer::start(backend).await;
    let owner = server.account_token("owner@example.com");
    let org = server.create_org(&owner, "Acme").await;

    for (country, tax_id) in BAD_TAX_IDS {
        let err = set_profile(&server, &owner, legal_profile(&org.name, country, tax_id))
            .await
            .expect_err(&format!("{country} {tax_id} refused"));
        assert_eq!(err.code(), Code::InvalidArgument, "{country} {tax_id}");
        assert_eq!(bad_fields(&err), ["profile.tax_id"], "{country} {tax_id}");
    }
    for country in ["XX", "Germany", "", "EU", "UK", "D", "DEU", "1A"] {
        let err = set_profile(&server, &owner, legal_profile(&org.name, country, ""))
            .await
            .expect_err(country);
        assert_eq!(err.code(), Code::InvalidArgument, "{country:?}");
        assert_eq!(bad_fields(&err), ["profile.address.country"], "{country:?}");
    }
    for email in [
        "billing",
        "billing@",
        "@acme.example",
        "a b@acme.example",
        "x@-y.com",
        "",
    ] {
        let mut profile = legal_profile(&org.name, "DE", "DE123456789");
        profile.billing_email = email.into();
        let err = set_profile(&server, &owner, profile)
            .await
            .expect_err(email);
        assert_eq!(bad_fields(&err), ["profile.billing_email"], "{email:?}");
    }
    for name in ["", "   ", &"x".repeat(201)] {
        let mut profile = legal_profile(&org.name, "DE", "DE123456789");
        profile.legal_name = name.to_string();
        let err = set_profile(&server, &owner, profile).await.unwrap_err();
        assert_eq!(bad_fields(&err), ["profile.legal_name"]);
    }
    // Every bad field at once, a huge value kept small, a bad address.
    let mut profile = legal_profile(&org.name, "ZZ", &"9".repeat(100_000));
    profile.legal_name = String::new();
    profile.billing_email = "nope".into();
    let address = profile.address.as_mut().unwrap();
    address.address_lines = vec!["a".into(), "b".into(), "c".into(), "d".into()];
    address.postal_code = "<script>".into();
    let err = set_profile(&server, &owner, profile).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    let mut fields = bad_fields(&err);
    fields.sort();
    assert_eq!(
        fields,
        [
            "profile.address.address_lines",
            "profile.address.country",
            "profile.address.postal_code",
            "profile.billing_email",
            "profile.legal_name",
            "profile.tax_id",
        ]
    );
    assert!(err.message().len() < 1_000);
    assert!(err.details().len() < 4_096);
    let err = set_profile(
        &server,
        &owner,
        pb::OrganizationProfile {
            name: "organizations/nope/profile".into(),
            ..legal_profile(&org.name, "DE", "")
        },
    )
    .await
    .unwrap_err();
    assert_eq!(bad_fields(&err), ["profile.name"]);
    let err = server
        .onboarding(&owner)
        .update_organization_profile(pb::UpdateOrganizationProfileRequest {
            profile: Some(legal_profile(&org.name, "DE", "")),
            update_mask: mask(&["legal_name", "website"]),
            validate_only: false,
        })
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&err), ["update_mask.paths[1]"]);
    // Nothing bad was stored.
    let s = status(&server, &owner, &org.name).await;
    assert!(!s.items[0].complete);

    // Good VAT numbers of many countries, normalised.
    for (country, typed, stored) in GOOD_TAX_IDS {
        let saved = set_profile(&server, &owner, legal_profile(&org.name, country, typed))
            .await
            .unwrap_or_else(|e| panic!("{country} {typed}: {e:?}"));
        assert_eq!(saved.tax_id, *stored, "{country} {typed}");
        assert_eq!(saved.address.unwrap().country, *country);
    }

    // The tax id must fit the country the profile ends up with.
    set_profile(
        &server,
        &owner,
        legal_profile(&org.name, "DE", "DE123456789"),
    )
    .await
    .unwrap();
    let move_to_france = pb::UpdateOrganizationProfileRequest {
        profile: Some(legal_profile(&org.name, "FR", "")),
        update_mask: mask(&["address"]),
        validate_only: false,
    };
    let err = server
        .onboarding(&owner)
        .update_organization_profile(move_to_france.clone())
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&err), ["profile.tax_id"]);
    let mut both = move_to_france;
    both.profile.as_mut().unwrap().tax_id = "FR40303265045".into();
    both.update_mask = mask(&["address", "tax_id"]);
    let moved = server
        .onboarding(&owner)
        .update_organization_profile(both)
        .await
        .unwrap()
        .into_inner()
        .profile
        .unwrap();
    assert_eq!(moved.tax_id, "FR40303265045");
    assert_eq!(moved.legal_name, "Acme GmbH", "untouched by the mask");
    // A tax id alone is checked against the stored country.
    let err = server
        .onboarding(&owner)
        .update_organization_profile(pb::UpdateOrganizationProfileRequest {
            profile: Some(legal_profile(&org.name, "", "DE123456789")),
            update_mask: mask(&["tax_id"]),
            validate_only: false,
        })
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&err), ["profile.tax_id"]);
    // Clearing the tax id is allowed.
    let cleared = server
        .onboarding(&owner)
        .update_organization_profile(pb::UpdateOrganizationProfileRequest {
            profile: Some(legal_profile(&org.name, "", "")),
            update_mask: mask(&["tax_id"]),
            validate_only: false,
        })
        .await
        .unwrap()
        .into_inner()
        .profile
        .unwrap();
    assert_eq!(cleared.tax_id, "");

    // Etags: a stale one is ABORTED; validate_only writes nothing.
    let mut stale = legal_profile(&org.name, "DE", "DE123456789");
    stale.etag = "\"1\"".into();
    let err = set_profile(&server, &owner, stale).await.unwrap_err();
    assert_eq!(err.code(), Code::Aborted);
    let mut check_only = update_profile(legal_profile(&org.name, "DE", "DE999999999"));
    check_only.validate_only = true;
    let would_be = server
        .onboarding(&owner)
        .update_organization_profile(check_only)
        .await
        .unwrap()
        .into_inner()
        .profile
        .unwrap();
    assert_eq!(would_be.tax_id, "DE999999999");
    let stored = server
        .onboarding(&owner)
        .get_organization_profile(pb::GetOrganizationProfileRequest {
            name: format!("{}/profile", org.name),
        })
        .await
        .unwrap()
        .into_inner()
        .profile
        .unwrap();
    assert_eq!(stored.tax_id, "");
    assert_eq!(stored.etag, cleared.etag);
    server.stop().await;
}

async fn who_may_do_what_and_other_tenants_see_nothing(backend: Backend) {
    let server = TestServer::start(backend).await;
    let owner = server.account_token("owner@example.com");
    let org = server.create_org(&owner, "Acme").await;
    let profile_name = format!("{}/profile", org.name);

    // Readers read; they neither change the profile nor submit.
    for role in ["viewer", "member"] {
        let (token, _) = server
            .add_member(&owner, &org.name, &format!("{role}@example.com"), &[role])
            .await;
        status(&server, &token, &org.name).await;
        server
            .onboarding(&token)
            .get_organization_profile(pb::GetOrganizationProfileRequest {
                name: profile_name.clone(),
            })
            .await
            .unwrap();
        let err = set_profile(&server, &token, legal_profile(&org.name, "DE", ""))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::PermissionDenied, "{role}");
        assert_eq!(metadata(&err)["permission"], "orgcore.profile.update");
        let err = submit(&server, &token, &org.name).await.unwrap_err();
        assert_eq!(err.code(), Code::PermissionDenied, "{role}");
        assert_eq!(metadata(&err)["permission"], "orgcore.onboarding.submit");
    }
    // Billing admins keep the profile invoices are addressed to, but do not
    // submit; admins do.
    let (billing_admin, _) = server
        .add_member(&owner, &org.name, "ba@example.com", &["billing_admin"])
        .await;
    set_profile(&server, &billing_admin, legal_profile(&org.name, "DE", ""))
        .await
        .unwrap();
    let err = submit(&server, &billing_admin, &org.name)
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    let (admin, _) = server
        .add_member(&owner, &org.name, "admin@example.com", &["admin"])
        .await;
    let err = submit(&server, &admin, &org.name).await.unwrap_err();
    assert_eq!(reason(&err).as_deref(), Some("ONBOARDING_INCOMPLETE"));
    assert_eq!(precondition_subjects(&err), ["payment_method"]);

    // Another tenant: NOT_FOUND for everything, never PERMISSION_DENIED.
    let stranger = server.account_token("stranger@example.com");
    server.create_org(&stranger, "Elsewhere").await;
    let not_found = [
        server
            .onboarding(&stranger)
            .get_organization_profile(pb::GetOrganizationProfileRequest {
                name: profile_name.clone(),
            })
            .await
            .map(|_| ()),
        set_profile(&server, &stranger, legal_profile(&org.name, "DE", ""))
            .await
            .map(|_| ()),
        server
            .onboarding(&stranger)
            .get_onboarding_status(pb::GetOnboardingStatusRequest {
                organization: org.name.clone(),
            })
            .await
            .map(|_| ()),
        submit(&server, &stranger, &org.name).await.map(|_| ()),
    ];
    for result in not_found {
        assert_eq!(result.unwrap_err().code(), Code::NotFound);
    }

    // Reports are for services: ordered by revision, audited once per change.
    let billing = server.service_token("billing");
    let report = |complete: bool, revision: i64| pb::ReportOnboardingItemRequest {
        organization: org.name.clone(),
        item: "payment_method".into(),
        complete,
        revision,
    };
    let err = server
        .onboarding(&owner)
        .report_onboarding_item(report(true, 1))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    let changed = |r: pb::ReportOnboardingItemRequest| {
        let mut client = server.onboarding(&billing);
        async move {
            client
                .report_onboarding_item(r)
                .await
                .unwrap()
                .into_inner()
                .changed
        }
    };
    assert!(changed(report(true, 5)).await);
    assert!(!changed(report(true, 6)).await, "the same fact again");
    assert!(
        !changed(report(false, 4)).await,
        "an older report is ignored"
    );
    wait_for_payment_method(&server, &owner, &org.name, true).await;
    assert!(changed(report(false, 7)).await);
    wait_for_payment_method(&server, &owner, &org.name, false).await;
    for (bad, field) in [
        (
            pb::ReportOnboardingItemRequest {
                item: "profile".into(),
                ..report(true, 8)
            },
            "item",
        ),
        (report(true, 0), "revision"),
        (
            pb::ReportOnboardingItemRequest {
                organization: "organizations/x".into(),
                ..report(true, 8)
            },
            "organization",
        ),
    ] {
        let err = server
            .onboarding(&billing)
            .report_onboarding_item(bad)
            .await
            .unwrap_err();
        assert_eq!(bad_fields(&err), [field]);
    }
    let events = server
        .audit(&owner)
        .list_audit_events(pb::ListAuditEventsRequest {
            parent: org.name.clone(),
            page_size: 1000,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .audit_events;
    let reports = events
        .iter()
        .filter(|e| e.method == "ReportOnboardingItem")
        .count();
    assert_eq!(reports, 2, "only changes are audited");

    // A BLOCKED organization cannot submit (status table); a VERIFIED one
    // is not IN_SETUP.
    server
        .set_status(&org.name, VerificationStatus::Blocked)
        .await;
    let err = submit(&server, &owner, &org.name).await.unwrap_err();
    assert_eq!(reason(&err).as_deref(), Some("ENTITY_STATUS"));
    server
        .set_status(&org.name, VerificationStatus::Verified)
        .await;
    let err = submit(&server, &owner, &org.name).await.unwrap_err();
    assert_eq!(reason(&err).as_deref(), Some("NOT_IN_SETUP"));
    // A deleted organization is NOT_FOUND.
    server
        .orgs(&owner)
        .delete_organization(pb::DeleteOrganizationRequest {
            name: org.name.clone(),
            ..Default::default()
        })
        .await
        .unwrap();
    let err = server
        .onboarding(&owner)
        .get_onboarding_status(pb::GetOnboardingStatusRequest {
            organization: org.name.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    server.stop().await;
}

async fn the_checklist_is_the_deployments(backend: Backend) {
    let server = TestServer::start_with(backend, &["--onboarding-checklist=profile,tax_id"]).await;
    let owner = server.account_token("owner@example.com");
    let org = server.create_org(&owner, "Acme").await;
    let err = submit(&server, &owner, &org.name).await.unwrap_err();
    assert_eq!(precondition_subjects(&err), ["profile", "tax_id"]);
    set_profile(&server, &owner, legal_profile(&org.name, "US", ""))
        .await
        .unwrap();
    let err = submit(&server, &owner, &org.name).await.unwrap_err();
    assert_eq!(precondition_subjects(&err), ["tax_id"]);
    set_profile(
        &server,
        &owner,
        legal_profile(&org.name, "US", "12-3456789"),
    )
    .await
    .unwrap();
    // No payment method needed in this deployment.
    let s = status(&server, &owner, &org.name).await;
    let items: Vec<&str> = s.items.iter().map(|i| i.item.as_str()).collect();
    assert_eq!(items, ["profile", "tax_id"]);
    assert!(s.complete);
    submit(&server, &owner, &org.name).await.unwrap();
    server.stop().await;
}

async fn an_address_is_whole_and_bounded(backend: Backend) {
    let server = TestServer::start(backend).await;
    let owner = server.account_token("owner@example.com");
    let org = server.create_org(&owner, "Acme").await;
    let mut profile = legal_profile(&org.name, "DE", "DE123456789");
    profile.address = Some(PostalAddress {
        address_lines: vec![
            "  Hauptstraße 1 ".into(),
            String::new(),
            "Hinterhaus".into(),
        ],
        city: " Berlin ".into(),
        postal_code: "10115".into(),
        region: "Berlin".into(),
        country: "DE".into(),
    });
    let saved = set_profile(&server, &owner, profile).await.unwrap();
    let address = saved.address.unwrap();
    assert_eq!(address.address_lines, ["Hauptstraße 1", "Hinterhaus"]);
    assert_eq!(address.city, "Berlin");
    // Without street and city the profile item is not complete.
    let mut partial = legal_profile(&org.name, "DE", "DE123456789");
    partial.address = Some(PostalAddress {
        country: "DE".into(),
        ..Default::default()
    });
    set_profile(&server, &owner, partial).await.unwrap();
    let s = status(&server, &owner, &org.name).await;
    assert!(!s.items[0].complete);
    assert!(s.items[0].description.contains("street address, city"));
    let mut long = legal_profile(&org.name, "DE", "");
    long.address.as_mut().unwrap().city = "x".repeat(101);
    let err = set_profile(&server, &owner, long).await.unwrap_err();
    assert_eq!(bad_fields(&err), ["profile.address.city"]);
    let mut missing = legal_profile(&org.name, "DE", "");
    missing.address = None;
    let err = set_profile(&server, &owner, missing).await.unwrap_err();
    assert_eq!(
        bad_fields(&err),
        ["profile.address", "profile.address.country"]
    );
    server.stop().await;
}

backend_tests!(
    onboarding_end_to_end_with_an_operator_review,
    bad_profiles_are_refused_naming_the_field,
    who_may_do_what_and_other_tenants_see_nothing,
    the_checklist_is_the_deployments,
    an_address_is_whole_and_bounded,
);
