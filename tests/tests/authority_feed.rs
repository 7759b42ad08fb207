//! Acceptance (the authority): the change feed across replicas on one
//! PostgreSQL, in order and without gaps, resumable, with a resync signal
//! after compaction; quota reservations across replicas.

use std::collections::BTreeSet;
use std::time::Duration;

use futures::StreamExt as _;
use loopback_proto::orgcore::v1 as pb;
use loopback_proto::r#type::v1::VerificationStatus;
use loopback_tests::{Backend, TestServer, backend_tests, reason};
use tonic::Code;

type Watch = tonic::Streaming<pb::WatchOrganizationPoliciesResponse>;

async fn watch(server: &TestServer, from: i64) -> Watch {
    server
        .authority(&server.service_token("watcher"))
        .watch_organization_policies(pb::WatchOrganizationPoliciesRequest {
            from_revision: from,
        })
        .await
        .unwrap()
        .into_inner()
}

async fn next(stream: &mut Watch) -> pb::WatchOrganizationPoliciesResponse {
    tokio::time::timeout(Duration::from_secs(5), stream.next())
        .await
        .expect("a change within five seconds (one second by design: NOTIFY wakes watchers at once, polling every 500 ms is the fallback)")
        .expect("stream open")
        .expect("no error")
}

const STATUSES: [VerificationStatus; 4] = [
    VerificationStatus::Verified,
    VerificationStatus::Pending,
    VerificationStatus::Waitlist,
    VerificationStatus::Blocked,
];

async fn a_watcher_on_one_replica_sees_every_change_made_through_another_in_order(
    backend: Backend,
) {
    let a = TestServer::start(backend).await;
    let b = a.start_replica().await;
    let owner = a.account_token("owner@example.com");
    let org = a.create_org(&owner, "Acme").await;
    let mut stream = watch(&b, 0).await;
    let created = next(&mut stream).await;
    assert_eq!(created.kind, "created");

    // A status change through replica A reaches the watcher on B within a second.
    a.set_status(&org.name, VerificationStatus::Blocked).await;
    let change = next(&mut stream).await;
    assert_eq!(change.kind, "verification_status");
    assert_eq!(change.organization, org.name);
    assert_eq!(
        change.policy.unwrap().verification_status(),
        VerificationStatus::Blocked
    );

    // Concurrent writers on both replicas: every change arrives exactly once, in order.
    let mut orgs = Vec::new();
    for i in 0..6 {
        orgs.push(a.create_org(&owner, &format!("org {i}")).await.name);
    }
    let mut seen = Vec::new();
    for _ in 0..6 {
        seen.push(next(&mut stream).await.revision);
    }
    let (ra, rb) = (&a, &b);
    let writes = orgs.iter().enumerate().flat_map(|(i, org)| {
        STATUSES.iter().enumerate().map(move |(j, status)| {
            let server = if (i + j) % 2 == 0 { ra } else { rb };
            let org = org.clone();
            async move {
                server
                    .operator(&server.operator_token())
                    .set_verification_status(pb::SetVerificationStatusRequest {
                        name: org,
                        verification_status: (*status).into(),
                        reason: "race".into(),
                        validate_only: false,
                    })
                    .await
                    .unwrap();
            }
        })
    });
    futures::future::join_all(writes).await;
    // Each (org, status) pair in sequence per org, but orgs interleave: count
    // the changes the database holds and compare.
    let db = sea_orm::Database::connect(&a.database_url).await.unwrap();
    use sea_orm::ConnectionTrait as _;
    let rows = db
        .query_all_raw(sea_orm::Statement::from_string(
            db.get_database_backend(),
            "SELECT revision FROM policy_changes ORDER BY revision".to_string(),
        ))
        .await
        .unwrap();
    let all: Vec<i64> = rows
        .iter()
        .map(|r| r.try_get::<i64>("", "revision").unwrap())
        .collect();
    let last_seen = *seen.last().unwrap();
    let expected: Vec<i64> = all.iter().copied().filter(|r| *r > last_seen).collect();
    let mut received = Vec::new();
    while received.len() < expected.len() {
        received.push(next(&mut stream).await.revision);
    }
    assert_eq!(
        received, expected,
        "every committed change, once, in revision order"
    );

    // Kill the watcher mid-stream and resume from its last revision: no gap, no duplicate.
    drop(stream);
    let resume_from = received[received.len() / 2];
    let mut resumed = watch(&b, resume_from).await;
    let mut again = Vec::new();
    for _ in received.iter().filter(|r| **r > resume_from) {
        again.push(next(&mut resumed).await.revision);
    }
    let tail: Vec<i64> = received
        .iter()
        .copied()
        .filter(|r| *r > resume_from)
        .collect();
    assert_eq!(again, tail);
    a.set_status(&org.name, VerificationStatus::Verified).await;
    let fresh = next(&mut resumed).await;
    assert!(fresh.revision > *received.last().unwrap());
    assert!(!fresh.resync);
    b.stop().await;
    a.stop().await;
}

async fn a_compacted_revision_gets_a_resync_signal(backend: Backend) {
    let server = TestServer::start(backend).await;
    let owner = server.account_token("owner@example.com");
    let org = server.create_org(&owner, "Acme").await;
    server
        .set_status(&org.name, VerificationStatus::Verified)
        .await;
    server
        .set_status(&org.name, VerificationStatus::Pending)
        .await;
    let removed = server
        .service::<loopback_org_core::OrgCore>()
        .compact_changes(chrono::Duration::zero())
        .await
        .unwrap();
    assert_eq!(removed, 2, "all but the newest change");
    let mut stream = watch(&server, 1).await;
    let first = next(&mut stream).await;
    assert!(first.resync, "revision 1 is gone: reload");
    // A watcher that is current keeps streaming without a resync.
    server
        .set_status(&org.name, VerificationStatus::Blocked)
        .await;
    let change = next(&mut stream).await;
    assert!(!change.resync);
    assert_eq!(change.kind, "verification_status");
    server.stop().await;
}

fn reserve(org: &str, request_id: &str, ttl_seconds: i32) -> pb::ReserveQuotaRequest {
    pb::ReserveQuotaRequest {
        organization: org.into(),
        limit: "max_hosts".into(),
        amount: 1,
        request_id: request_id.into(),
        ttl_seconds,
    }
}

async fn forty_concurrent_reservations_across_two_replicas_yield_exactly_eight(backend: Backend) {
    let a = TestServer::start_with(backend, &["--default-limit=max_hosts=8"]).await;
    let b = a.start_replica().await;
    let owner = a.account_token("owner@example.com");
    let org = a.verified_org(&owner, "Acme").await;
    let svc = a.service_token("hosts");
    let ids: Vec<String> = (0..40).map(|_| uuid::Uuid::new_v4().to_string()).collect();
    let calls = ids.iter().enumerate().map(|(i, id)| {
        let mut client = if i % 2 == 0 {
            a.quotas(&svc)
        } else {
            b.quotas(&svc)
        };
        let req = reserve(&org.name, id, 300);
        async move {
            client
                .reserve_quota(req)
                .await
                .map(|r| r.into_inner().reservation.unwrap())
        }
    });
    let results = futures::future::join_all(calls).await;
    let granted: Vec<&pb::QuotaReservation> =
        results.iter().filter_map(|r| r.as_ref().ok()).collect();
    assert_eq!(granted.len(), 8, "exactly the limit");
    for err in results.iter().filter_map(|r| r.as_ref().err()) {
        assert_eq!(err.code(), Code::ResourceExhausted, "{err:?}");
        assert_eq!(reason(err).as_deref(), Some("LIMIT_REACHED"));
    }
    // A retried request_id returns the same reservation and does not double-count.
    let first = granted[0].clone();
    let rid = first.name.rsplit('/').next().unwrap().to_string();
    let retried = b
        .quotas(&svc)
        .reserve_quota(reserve(&org.name, &rid, 300))
        .await
        .unwrap()
        .into_inner()
        .reservation
        .unwrap();
    assert_eq!(retried, first);
    let usage = a
        .quotas(&svc)
        .get_organization_usage(pb::GetOrganizationUsageRequest {
            organization: org.name.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    let hosts = usage
        .limits
        .iter()
        .find(|l| l.limit == "max_hosts")
        .unwrap();
    assert_eq!((hosts.usage, hosts.limit_value, hosts.headroom), (8, 8, 0));
    assert!(hosts.warning);
    assert_eq!(hosts.source, "reservations");

    // Commit one, release another: a unit frees up.
    a.quotas(&svc)
        .commit_quota(pb::CommitQuotaRequest {
            name: first.name.clone(),
        })
        .await
        .unwrap();
    let committed = a
        .quotas(&svc)
        .commit_quota(pb::CommitQuotaRequest {
            name: first.name.clone(),
        })
        .await
        .unwrap();
    assert_eq!(
        committed.into_inner().reservation.unwrap().state(),
        pb::quota_reservation::State::Committed
    );
    a.quotas(&svc)
        .release_quota(pb::ReleaseQuotaRequest {
            name: granted[1].name.clone(),
        })
        .await
        .unwrap();
    // The freed unit goes to a short-lived reservation that is never committed...
    let short = a
        .quotas(&svc)
        .reserve_quota(reserve(&org.name, &uuid::Uuid::new_v4().to_string(), 1))
        .await
        .unwrap()
        .into_inner()
        .reservation
        .unwrap();
    let full = a
        .quotas(&svc)
        .reserve_quota(reserve(&org.name, &uuid::Uuid::new_v4().to_string(), 300))
        .await;
    assert_eq!(full.unwrap_err().code(), Code::ResourceExhausted);
    // ...and frees its unit when it expires.
    let mut freed = false;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if a.quotas(&svc)
            .reserve_quota(reserve(&org.name, &uuid::Uuid::new_v4().to_string(), 300))
            .await
            .is_ok()
        {
            freed = true;
            break;
        }
    }
    assert!(freed, "the expired reservation's unit came back");
    let err = a
        .quotas(&svc)
        .commit_quota(pb::CommitQuotaRequest { name: short.name })
        .await
        .unwrap_err();
    assert_eq!(reason(&err).as_deref(), Some("RESERVATION_EXPIRED"));

    // Accounts cannot reserve; a blocked organization cannot either.
    let err = a
        .quotas(&owner)
        .reserve_quota(reserve(&org.name, &uuid::Uuid::new_v4().to_string(), 300))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    a.set_status(&org.name, VerificationStatus::Blocked).await;
    let err = a
        .quotas(&svc)
        .reserve_quota(reserve(&org.name, &uuid::Uuid::new_v4().to_string(), 300))
        .await
        .unwrap_err();
    assert_eq!(reason(&err).as_deref(), Some("ENTITY_STATUS"));
    b.stop().await;
    a.stop().await;
}

async fn usage_reports_are_idempotent_and_limit_requests_set_overrides(backend: Backend) {
    let server = TestServer::start(backend).await;
    let owner = server.account_token("owner@example.com");
    let org = server.verified_org(&owner, "Acme").await;
    let svc = server.service_token("dns");
    let report = |usage: i64, revision: i64| pb::ReportUsageRequest {
        organization: org.name.clone(),
        limit: "max_dns_zones".into(),
        usage,
        revision,
    };
    assert!(
        server
            .quotas(&svc)
            .report_usage(report(4, 2))
            .await
            .unwrap()
            .into_inner()
            .accepted
    );
    assert!(
        !server
            .quotas(&svc)
            .report_usage(report(1, 1))
            .await
            .unwrap()
            .into_inner()
            .accepted,
        "older report ignored"
    );
    assert!(
        !server
            .quotas(&svc)
            .report_usage(report(9, 2))
            .await
            .unwrap()
            .into_inner()
            .accepted,
        "same revision ignored"
    );
    let usage = server
        .quotas(&owner)
        .get_organization_usage(pb::GetOrganizationUsageRequest {
            organization: org.name.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    let zones = usage
        .limits
        .iter()
        .find(|l| l.limit == "max_dns_zones")
        .unwrap();
    assert_eq!(
        (
            zones.usage,
            zones.limit_value,
            zones.headroom,
            zones.warning
        ),
        (4, 5, 1, true)
    );
    let members = usage
        .limits
        .iter()
        .find(|l| l.limit == "max_members")
        .unwrap();
    assert_eq!((members.usage, members.source.as_str()), (1, "org-core"));
    let keys: BTreeSet<&str> = usage.limits.iter().map(|l| l.limit.as_str()).collect();
    assert!(keys.contains("max_projects") && keys.contains("max_hosts"));

    // Ask for more projects; an operator approves, which sets the override.
    let request = server
        .limit_requests(&owner)
        .create_limit_increase_request(pb::CreateLimitIncreaseRequestRequest {
            parent: org.name.clone(),
            limit_increase_request: Some(pb::LimitIncreaseRequest {
                limit: "max_projects".into(),
                requested_value: 25,
                justification: "launching in three regions".into(),
                ..Default::default()
            }),
            validate_only: false,
        })
        .await
        .unwrap()
        .into_inner()
        .limit_increase_request
        .unwrap();
    assert_eq!(request.current_value, 10);
    let dup = server
        .limit_requests(&owner)
        .create_limit_increase_request(pb::CreateLimitIncreaseRequestRequest {
            parent: org.name.clone(),
            limit_increase_request: Some(pb::LimitIncreaseRequest {
                limit: "max_projects".into(),
                requested_value: 30,
                justification: "again".into(),
                ..Default::default()
            }),
            validate_only: false,
        })
        .await
        .unwrap_err();
    assert_eq!(dup.code(), Code::AlreadyExists);
    let err = server
        .limit_requests(&owner)
        .approve_limit_increase_request(pb::ApproveLimitIncreaseRequestRequest {
            name: request.name.clone(),
            reason: "self-service".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied, "only operators decide");
    let open = server
        .limit_requests(&server.operator_token())
        .list_limit_increase_requests(pb::ListLimitIncreaseRequestsRequest {
            state: pb::limit_increase_request::State::Open.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .limit_increase_requests;
    assert_eq!(open.len(), 1);
    let approved = server
        .limit_requests(&server.operator_token())
        .approve_limit_increase_request(pb::ApproveLimitIncreaseRequestRequest {
            name: request.name.clone(),
            reason: "enterprise contract".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .limit_increase_request
        .unwrap();
    assert_eq!(
        approved.state(),
        pb::limit_increase_request::State::Approved
    );
    assert_eq!(approved.decision_reason, "enterprise contract");
    let now = server
        .orgs(&owner)
        .get_organization(pb::GetOrganizationRequest {
            name: org.name.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .organization
        .unwrap();
    assert_eq!(now.capabilities.unwrap().limits["max_projects"], 25);
    // Deciding twice is refused.
    let err = server
        .limit_requests(&server.operator_token())
        .deny_limit_increase_request(pb::DenyLimitIncreaseRequestRequest {
            name: request.name,
            reason: "changed my mind".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(reason(&err).as_deref(), Some("REQUEST_DECIDED"));

    // Features: listed for anyone, and in the policy.
    let features = server
        .authority(&owner)
        .list_features(pb::ListFeaturesRequest::default())
        .await
        .unwrap()
        .into_inner()
        .features;
    assert!(features.iter().all(|f| f.enabled));
    server.stop().await;

    let limited = TestServer::start_with(backend, &["--features=github,monitoring"]).await;
    let features = limited
        .authority(&limited.service_token("ui"))
        .list_features(pb::ListFeaturesRequest::default())
        .await
        .unwrap()
        .into_inner()
        .features;
    let on: Vec<&str> = features
        .iter()
        .filter(|f| f.enabled)
        .map(|f| f.name.as_str())
        .collect();
    assert_eq!(on, ["github", "monitoring"]);
    assert_eq!(features.len(), 6);
    limited.stop().await;
}

backend_tests!(
    a_watcher_on_one_replica_sees_every_change_made_through_another_in_order,
    a_compacted_revision_gets_a_resync_signal,
    forty_concurrent_reservations_across_two_replicas_yield_exactly_eight,
    usage_reports_are_idempotent_and_limit_requests_set_overrides,
);
