//! Acceptance (billing): spending thresholds fire exactly once per period,
//! also under concurrent ingestion; a hard limit makes every service refuse
//! create actions with SPENDING_LIMIT_REACHED until the limit is raised.

use std::time::Duration;

use loopback_proto::billing::v1 as pb;
use loopback_proto::orgcore::v1 as ocpb;
use loopback_proto::r#type::v1::Money;
use loopback_tests::requests::spending_limit as limit;
use loopback_tests::{Backend, TestServer, backend_tests, bad_fields, reason};
use sea_orm::{ConnectionTrait as _, Database, Statement};
use tonic::Code;

const FLAGS: &[&str] = &["--price=compute.vcpu_hours=4"];

fn event(org: &str, quantity: i64, key: String) -> pb::UsageEvent {
    pb::UsageEvent {
        organization: org.into(),
        project: String::new(),
        meter: "compute.vcpu_hours".into(),
        quantity,
        event_time: Some(loopback_runtime::fields::timestamp(chrono::Utc::now())),
        idempotency_key: key,
    }
}

async fn thresholds_fire_once_each_under_concurrent_ingestion(backend: Backend) {
    let server = TestServer::start_with(backend, FLAGS).await;
    let owner = server.account_token("owner@example.com");
    let org = server.verified_org(&owner, "Acme").await;
    server
        .spending(&owner)
        .set_spending_limit(limit(&org.name, 1000, &[50, 80, 100], false))
        .await
        .unwrap();
    let svc = server.service_token("metering");
    // 400 events of 4 minor units each = 1600, crossing 50/80/100 % of 1000,
    // sent from 8 concurrent writers (with retried duplicates).
    let calls = (0..8).map(|w| {
        let mut client = server.usage(&svc);
        let org = org.name.clone();
        async move {
            for i in 0..50 {
                let e = event(&org, 1, format!("w{w}-{i}"));
                client
                    .record_usage(pb::RecordUsageRequest {
                        event: Some(e.clone()),
                    })
                    .await
                    .unwrap();
                if i % 10 == 0 {
                    client
                        .record_usage(pb::RecordUsageRequest { event: Some(e) })
                        .await
                        .unwrap();
                }
            }
        }
    });
    futures::future::join_all(calls).await;
    let status = server
        .spending(&owner)
        .get_spending_status(pb::GetSpendingStatusRequest {
            organization: org.name.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(status.spend.unwrap().amount_minor, 1600);
    let thresholds: Vec<i32> = status.alerts.iter().map(|a| a.threshold_percent).collect();
    assert_eq!(thresholds, [50, 80, 100]);
    for a in &status.alerts {
        let at = a.spend_at_crossing.as_ref().unwrap().amount_minor;
        assert!(
            at * 100 >= 1000 * i64::from(a.threshold_percent),
            "fired only once crossed"
        );
    }
    assert!(!status.limit_reached, "a soft limit never blocks");
    // Exactly one row per threshold and period in the database.
    let db = Database::connect(&server.billing_database_url())
        .await
        .unwrap();
    let rows = db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT threshold_percent FROM spending_alerts".to_string(),
        ))
        .await
        .unwrap();
    assert_eq!(rows.len(), 3);
    // A soft limit leaves create actions alone.
    server
        .projects(&owner)
        .create_project(ocpb::CreateProjectRequest {
            parent: org.name.clone(),
            project: Some(ocpb::Project {
                display_name: "still fine".into(),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap();
    server.stop().await;
}

async fn create_project(
    server: &TestServer,
    token: &str,
    org: &str,
    name: &str,
) -> Result<ocpb::Project, tonic::Status> {
    server
        .projects(token)
        .create_project(ocpb::CreateProjectRequest {
            parent: org.into(),
            project: Some(ocpb::Project {
                display_name: name.into(),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .map(|r| r.into_inner().project.unwrap())
}

async fn a_hard_limit_blocks_creates_everywhere_until_it_is_raised(backend: Backend) {
    let server = TestServer::start_with(backend, FLAGS).await;
    let owner = server.account_token("owner@example.com");
    let org = server.verified_org(&owner, "Acme").await;
    let existing = create_project(&server, &owner, &org.name, "existing")
        .await
        .unwrap();
    server
        .spending(&owner)
        .set_spending_limit(limit(&org.name, 100, &[100], true))
        .await
        .unwrap();
    let svc = server.service_token("metering");
    server
        .usage(&svc)
        .record_usage(pb::RecordUsageRequest {
            event: Some(event(&org.name, 30, "big".into())),
        })
        .await
        .unwrap();
    // 120 >= 100: org-core refuses new projects...
    let err = create_project(&server, &owner, &org.name, "blocked")
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::ResourceExhausted);
    assert_eq!(reason(&err).as_deref(), Some("SPENDING_LIMIT_REACHED"));
    // ...so do quota reservations for platform services...
    let err = server
        .quotas(&svc)
        .reserve_quota(ocpb::ReserveQuotaRequest {
            organization: org.name.clone(),
            limit: "max_hosts".into(),
            amount: 1,
            request_id: uuid::Uuid::new_v4().to_string(),
            ttl_seconds: 0,
        })
        .await
        .unwrap_err();
    assert_eq!(reason(&err).as_deref(), Some("SPENDING_LIMIT_REACHED"));
    // ...and the authority tells every other service, through its policy.
    let decision = server
        .authority(&svc)
        .authorize(ocpb::AuthorizeRequest {
            principal: Some(loopback_proto::r#type::v1::Principal {
                kind: loopback_proto::r#type::v1::PrincipalKind::Account.into(),
                subject: "sub-owner@example.com".into(),
                email: String::new(),
            }),
            organization: org.name.clone(),
            permission: "orgcore.projects.create".into(),
            action_class: loopback_proto::r#type::v1::ActionClass::Create.into(),
            resource: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(decision.decision(), ocpb::Decision::DenySpendingLimit);
    assert!(decision.policy.unwrap().capabilities.unwrap().flags["spending_limit_reached"]);
    // Existing resources keep running: operating on them still works.
    server
        .projects(&owner)
        .update_project(ocpb::UpdateProjectRequest {
            project: Some(ocpb::Project {
                name: existing.name.clone(),
                description: "still running".into(),
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["description".into()],
            }),
            validate_only: false,
        })
        .await
        .unwrap();
    let status = server
        .spending(&owner)
        .get_spending_status(pb::GetSpendingStatusRequest {
            organization: org.name.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(status.limit_reached);

    // Raising the limit unblocks at once.
    server
        .spending(&owner)
        .set_spending_limit(limit(&org.name, 10_000, &[100], true))
        .await
        .unwrap();
    let mut unblocked = false;
    for _ in 0..50 {
        if create_project(&server, &owner, &org.name, "after raise")
            .await
            .is_ok()
        {
            unblocked = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(unblocked);
    // The changes are audited at org-core.
    let events = server
        .audit(&owner)
        .list_audit_events(ocpb::ListAuditEventsRequest {
            parent: org.name.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .audit_events;
    assert_eq!(
        events
            .iter()
            .filter(|e| e.method == "SetSpendingLimitReached")
            .count(),
        2
    );
    server.stop().await;
}

async fn spending_limits_are_validated_and_isolated(backend: Backend) {
    let server = TestServer::start_with(backend, FLAGS).await;
    let owner = server.account_token("owner@example.com");
    let org = server.verified_org(&owner, "Acme").await;
    let mut bad = limit(&org.name, 100, &[0, 50], false);
    if let Some(l) = bad.spending_limit.as_mut() {
        l.monthly_limit = Some(Money {
            currency_code: "USD".into(),
            amount_minor: 100,
        });
    }
    let err = server
        .spending(&owner)
        .set_spending_limit(bad)
        .await
        .unwrap_err();
    assert_eq!(
        bad_fields(&err),
        [
            "spending_limit.monthly_limit",
            "spending_limit.alert_thresholds_percent"
        ]
    );
    let (viewer, _) = server
        .add_member(&owner, &org.name, "viewer@example.com", &["viewer"])
        .await;
    server
        .spending(&viewer)
        .get_spending_status(pb::GetSpendingStatusRequest {
            organization: org.name.clone(),
        })
        .await
        .unwrap();
    let err = server
        .spending(&viewer)
        .set_spending_limit(limit(&org.name, 100, &[50], false))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    // BLOCKED: the limit can still be read, not changed.
    server
        .set_status(
            &org.name,
            loopback_proto::r#type::v1::VerificationStatus::Blocked,
        )
        .await;
    let mut refused = None;
    for _ in 0..50 {
        match server
            .spending(&owner)
            .set_spending_limit(limit(&org.name, 100, &[50], false))
            .await
        {
            Err(e) => {
                refused = Some(e);
                break;
            }
            Ok(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    let err = refused.expect("refused once the block reaches billing");
    assert_eq!(reason(&err).as_deref(), Some("ENTITY_STATUS"));
    server
        .spending(&owner)
        .get_spending_status(pb::GetSpendingStatusRequest {
            organization: org.name.clone(),
        })
        .await
        .unwrap();
    let err = server
        .spending(&server.account_token("stranger@example.com"))
        .get_spending_status(pb::GetSpendingStatusRequest {
            organization: org.name.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    server.stop().await;
}

backend_tests!(
    thresholds_fire_once_each_under_concurrent_ingestion,
    a_hard_limit_blocks_creates_everywhere_until_it_is_raised,
    spending_limits_are_validated_and_isolated,
);
