//! Acceptance (service kit): every service's writes land in the
//! organization's one audit log. billing's writes (payment methods, invoice
//! transitions, spending limits) reach org-core's log through billing's
//! transactional outbox and show in `ListAuditEvents` beside org-core's own,
//! with actor, method, resource and reason; `AppendAuditEvents` is for
//! services only, validates every record and keeps each record once.

use std::time::{Duration, Instant};

use loopback_proto::billing::v1 as bpb;
use loopback_proto::orgcore::v1 as pb;
use loopback_proto::r#type::v1 as tpb;
use loopback_tests::requests::{card, spending_limit};
use loopback_tests::{Backend, TestServer, backend_tests, bad_fields};
use tonic::Code;

const EVENTUALLY: Duration = Duration::from_secs(20);

async fn events_of(server: &TestServer, token: &str, org: &str) -> Vec<pb::AuditEvent> {
    server
        .audit(token)
        .list_audit_events(pb::ListAuditEventsRequest {
            parent: org.into(),
            page_size: 1000,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .audit_events
}

async fn billing_writes_are_audited_beside_org_cores(backend: Backend) {
    let server = TestServer::start_with(backend, &["--price=compute.vcpu_hours=4"]).await;
    let owner = server.account_token("owner@example.com");
    let org = server.verified_org(&owner, "Acme").await;
    let method = server
        .payment_methods(&owner)
        .create_payment_method(card(&org.name, "tok_visa_4242"))
        .await
        .unwrap()
        .into_inner()
        .payment_method
        .unwrap();
    server
        .spending(&owner)
        .set_spending_limit(spending_limit(&org.name, 100_000, &[80], false))
        .await
        .unwrap();
    let period = loopback_billing::usage::period_of(chrono::Utc::now());
    let invoice = server
        .invoices(&owner)
        .generate_invoice(bpb::GenerateInvoiceRequest {
            parent: org.name.clone(),
            period,
        })
        .await
        .unwrap()
        .into_inner()
        .invoice
        .unwrap();
    server
        .invoices(&owner)
        .finalize_invoice(bpb::FinalizeInvoiceRequest {
            name: invoice.name.clone(),
        })
        .await
        .unwrap();
    server
        .invoices(&owner)
        .void_invoice(bpb::VoidInvoiceRequest {
            name: invoice.name.clone(),
        })
        .await
        .unwrap();

    let expected = [
        ("CreatePaymentMethod", method.name.clone()),
        ("SetSpendingLimit", format!("{}/spendingLimit", org.name)),
        ("GenerateInvoice", invoice.name.clone()),
        ("FinalizeInvoice", invoice.name.clone()),
        ("VoidInvoice", invoice.name.clone()),
    ];
    let deadline = Instant::now() + EVENTUALLY;
    let events = loop {
        let events = events_of(&server, &owner, &org.name).await;
        if expected
            .iter()
            .all(|(m, _)| events.iter().any(|e| e.method == *m))
        {
            break events;
        }
        assert!(
            Instant::now() < deadline,
            "billing's writes never reached the audit log: {:?}",
            events.iter().map(|e| &e.method).collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let owner_actor = events
        .iter()
        .find(|e| e.method == "CreateOrganization")
        .map(|e| e.actor.clone())
        .unwrap();
    assert!(owner_actor.starts_with("account:"), "{owner_actor}");
    for (method, resource) in &expected {
        let matching: Vec<_> = events.iter().filter(|e| e.method == *method).collect();
        assert_eq!(matching.len(), 1, "{method} logged once");
        let e = matching[0];
        assert_eq!(e.service, "billing");
        assert_eq!(&e.resource, resource);
        assert_eq!(e.actor, owner_actor, "the same actor as org-core records");
        assert_eq!(e.organization, org.name);
        assert_eq!(e.reason, "", "billing verbs take no reason");
        let details: serde_json::Value = serde_json::from_str(&e.details_json).unwrap();
        assert!(details.is_object());
        assert!(
            !e.details_json.contains("tok_visa"),
            "no secret is ever audited"
        );
    }
    let finalize = events
        .iter()
        .find(|e| e.method == "FinalizeInvoice")
        .unwrap();
    let details: serde_json::Value = serde_json::from_str(&finalize.details_json).unwrap();
    assert_eq!(details["from"], "draft");
    assert_eq!(details["to"], "open");
    // One log: filtering by a billing resource finds billing's events.
    let by_resource = server
        .audit(&owner)
        .list_audit_events(pb::ListAuditEventsRequest {
            parent: org.name.clone(),
            resource: format!("{}/paymentMethods/", org.name),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .audit_events;
    assert_eq!(by_resource.len(), 1);
    assert_eq!(by_resource[0].method, "CreatePaymentMethod");
    server.stop().await;
}

fn record(id: &str, org: &str) -> pb::AuditRecord {
    pb::AuditRecord {
        id: id.into(),
        event_time: Some(loopback_runtime::fields::timestamp(chrono::Utc::now())),
        method: "ConnectRepository".into(),
        resource: format!("{org}/repositories/r1"),
        organization: org.into(),
        actor: Some(pb::audit_record::Actor::Principal(tpb::Principal {
            kind: tpb::PrincipalKind::Account.into(),
            subject: "sub-owner@example.com".into(),
            email: "owner@example.com".into(),
        })),
        reason: String::new(),
        details_json: "{\"repository\":\"r1\"}".into(),
    }
}

async fn appended_records_are_validated_and_kept_once(backend: Backend) {
    let server = TestServer::start(backend).await;
    let owner = server.account_token("owner@example.com");
    let org = server.verified_org(&owner, "Acme").await;
    let service = server.service_token("integrations");
    let id = uuid::Uuid::now_v7().to_string();
    let append = |records: Vec<pb::AuditRecord>| pb::AppendAuditEventsRequest { records };

    let first = server
        .audit(&service)
        .append_audit_events(append(vec![record(&id, &org.name)]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first.appended, 1);
    let again = server
        .audit(&service)
        .append_audit_events(append(vec![record(&id, &org.name)]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again.appended, 0, "a record sent twice is kept once");
    let events = events_of(&server, &owner, &org.name).await;
    let appended: Vec<_> = events
        .iter()
        .filter(|e| e.method == "ConnectRepository")
        .collect();
    assert_eq!(appended.len(), 1);
    assert_eq!(appended[0].service, "integrations", "the calling service");
    let owner_actor = events
        .iter()
        .find(|e| e.method == "CreateOrganization")
        .map(|e| e.actor.clone())
        .unwrap();
    assert_eq!(
        appended[0].actor, owner_actor,
        "accounts by their account id"
    );

    // Accounts may not write the log.
    let err = server
        .audit(&owner)
        .append_audit_events(append(vec![record(
            &uuid::Uuid::now_v7().to_string(),
            &org.name,
        )]))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);

    // Every bad record field is named.
    let mut bad = record("not-a-uuid", "orgs/x");
    bad.details_json = "[1,2".into();
    bad.method = String::new();
    bad.actor = None;
    let err = server
        .audit(&service)
        .append_audit_events(append(vec![record(&id, &org.name), bad]))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    let mut fields = bad_fields(&err);
    fields.sort();
    assert_eq!(
        fields,
        [
            "records[1].actor",
            "records[1].details_json",
            "records[1].id",
            "records[1].method",
            "records[1].organization"
        ]
    );
    server.stop().await;
}

backend_tests!(
    billing_writes_are_audited_beside_org_cores,
    appended_records_are_validated_and_kept_once,
);
