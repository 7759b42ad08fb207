//! Acceptance (billing): usage ingestion is idempotent under concurrency and
//! the cost summary equals the exact expected totals, on both backends.

use std::collections::BTreeMap;

use loopback_proto::billing::v1 as pb;
use loopback_tests::{Backend, TestServer, backend_tests, bad_fields};
use tonic::Code;

/// The price book these tests run with (minor units per unit).
const PRICES: &[(&str, i64)] = &[
    ("compute.vcpu_hours", 4),
    ("storage.gb_hours", 1),
    ("network.egress_gb", 9),
];

fn flags() -> Vec<String> {
    vec![
        format!(
            "--price={}",
            PRICES
                .iter()
                .map(|(m, p)| format!("{m}={p}"))
                .collect::<Vec<_>>()
                .join(",")
        ),
        "--tax-rate-bps=1900".into(),
    ]
}

fn event(
    org: &str,
    project: Option<&str>,
    meter: &str,
    quantity: i64,
    key: &str,
) -> pb::UsageEvent {
    pb::UsageEvent {
        organization: org.into(),
        project: project.map(String::from).unwrap_or_default(),
        meter: meter.into(),
        quantity,
        event_time: Some(loopback_runtime::fields::timestamp(chrono::Utc::now())),
        idempotency_key: key.into(),
    }
}

async fn ten_thousand_events_with_retried_duplicates_cost_exactly_what_they_should(
    backend: Backend,
) {
    let flags = flags();
    let flag_refs: Vec<&str> = flags.iter().map(String::as_str).collect();
    let server = TestServer::start_with(backend, &flag_refs).await;
    let owner = server.account_token("owner@example.com");
    let org = server.verified_org(&owner, "Acme").await;
    let projects: Vec<String> = {
        let mut out = Vec::new();
        for i in 0..3 {
            out.push(
                server
                    .projects(&owner)
                    .create_project(loopback_proto::orgcore::v1::CreateProjectRequest {
                        parent: org.name.clone(),
                        project: Some(loopback_proto::orgcore::v1::Project {
                            display_name: format!("p{i}"),
                            ..Default::default()
                        }),
                        ..Default::default()
                    })
                    .await
                    .unwrap()
                    .into_inner()
                    .project
                    .unwrap()
                    .name,
            );
        }
        out
    };
    // 10,000 distinct events, deterministic quantities.
    let mut events = Vec::new();
    let mut expected: BTreeMap<(String, String), (i64, i64)> = BTreeMap::new();
    for i in 0..10_000usize {
        let (meter, price) = PRICES[i % PRICES.len()];
        let project = if i % 4 == 0 {
            None
        } else {
            Some(projects[i % projects.len()].as_str())
        };
        let quantity = (i as i64 * 7919) % 1000 + 1;
        let e = event(&org.name, project, meter, quantity, &format!("evt-{i}"));
        let entry = expected
            .entry((project.unwrap_or_default().to_string(), meter.to_string()))
            .or_default();
        entry.0 += quantity;
        entry.1 += quantity * price;
        events.push(e);
    }
    // 10 % are retried: sent again, in other batches.
    let mut submissions = events.clone();
    submissions.extend(events.iter().step_by(10).cloned());
    let svc = server.service_token("metering");
    let batches: Vec<Vec<pb::UsageEvent>> = submissions.chunks(500).map(<[_]>::to_vec).collect();
    let calls = batches.into_iter().map(|batch| {
        let mut client = server.usage(&svc);
        async move {
            client
                .batch_record_usage(pb::BatchRecordUsageRequest { events: batch })
                .await
        }
    });
    let results = futures::future::join_all(calls).await;
    let mut recorded = 0;
    let mut duplicates = 0;
    for r in results {
        for result in r.unwrap().into_inner().results {
            assert_eq!(result.code, 0, "{}", result.message);
            if result.recorded {
                recorded += 1;
            } else {
                duplicates += 1;
            }
        }
    }
    assert_eq!((recorded, duplicates), (10_000, 1_000));

    let summary = server
        .costs(&owner)
        .get_cost_summary(pb::GetCostSummaryRequest {
            organization: org.name.clone(),
            group_by_project: true,
            group_by_meter: true,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let got: BTreeMap<(String, String), (i64, i64)> = summary
        .lines
        .iter()
        .map(|l| {
            let project = if l.project.is_empty() {
                String::new()
            } else {
                l.project.clone()
            };
            (
                (project, l.meter.clone()),
                (l.quantity, l.amount.as_ref().unwrap().amount_minor),
            )
        })
        .collect();
    assert_eq!(got, expected);
    let subtotal: i64 = expected.values().map(|(_, amount)| amount).sum();
    let tax = (subtotal * 1900 + 5_000) / 10_000;
    assert_eq!(summary.subtotal.unwrap().amount_minor, subtotal);
    assert_eq!(summary.tax.unwrap().amount_minor, tax);
    assert_eq!(summary.total.as_ref().unwrap().amount_minor, subtotal + tax);
    assert_eq!(summary.total.unwrap().currency_code, "EUR");
    // Ungrouped: one line with the same subtotal.
    let flat = server
        .costs(&owner)
        .get_cost_summary(pb::GetCostSummaryRequest {
            organization: org.name.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(flat.lines.len(), 1);
    assert_eq!(flat.subtotal.unwrap().amount_minor, subtotal);

    // The generated and finalized invoice of the period says the same, to the cent.
    let draft = server
        .invoices(&owner)
        .generate_invoice(pb::GenerateInvoiceRequest {
            parent: org.name.clone(),
            period: summary.period.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .invoice
        .unwrap();
    let invoice = server
        .invoices(&owner)
        .finalize_invoice(pb::FinalizeInvoiceRequest { name: draft.name })
        .await
        .unwrap()
        .into_inner()
        .invoice
        .unwrap();
    assert_eq!(invoice.subtotal.unwrap().amount_minor, subtotal);
    assert_eq!(invoice.tax.unwrap().amount_minor, tax);
    assert_eq!(invoice.total.unwrap().amount_minor, subtotal + tax);
    server.stop().await;
}

async fn bad_usage_is_refused_per_event_and_only_services_may_record(backend: Backend) {
    let flags = flags();
    let flag_refs: Vec<&str> = flags.iter().map(String::as_str).collect();
    let server = TestServer::start_with(backend, &flag_refs).await;
    let owner = server.account_token("owner@example.com");
    let org = server.create_org(&owner, "Acme").await;
    let svc = server.service_token("metering");
    let mut usage = server.usage(&svc);

    let err = usage
        .record_usage(pb::RecordUsageRequest {
            event: Some(event(&org.name, None, "unicorn.rides", 1, "a")),
        })
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&err), ["event.meter"]);
    let err = usage
        .record_usage(pb::RecordUsageRequest {
            event: Some(event(&org.name, None, "compute.vcpu_hours", -1, "b")),
        })
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&err), ["event.quantity"]);
    let mut future = event(&org.name, None, "compute.vcpu_hours", 1, "c");
    future.event_time = Some(loopback_runtime::fields::timestamp(
        chrono::Utc::now() + chrono::Duration::days(3),
    ));
    let err = usage
        .record_usage(pb::RecordUsageRequest {
            event: Some(future),
        })
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&err), ["event.event_time"]);
    let unknown_org = format!("organizations/{}", uuid::Uuid::now_v7());
    let err = usage
        .record_usage(pb::RecordUsageRequest {
            event: Some(event(&unknown_org, None, "compute.vcpu_hours", 1, "d")),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);

    // A batch: each event on its own.
    let batch = usage
        .batch_record_usage(pb::BatchRecordUsageRequest {
            events: vec![
                event(&org.name, None, "compute.vcpu_hours", 3, "ok-1"),
                event(&org.name, None, "nope", 3, "bad-1"),
                event(&org.name, None, "compute.vcpu_hours", 3, "ok-1"),
            ],
        })
        .await
        .unwrap()
        .into_inner()
        .results;
    assert_eq!(
        batch
            .iter()
            .map(|r| (r.code, r.recorded))
            .collect::<Vec<_>>(),
        [(0, true), (3, false), (0, false)]
    );
    let err = usage
        .batch_record_usage(pb::BatchRecordUsageRequest { events: vec![] })
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&err), ["events"]);

    // Accounts may not record usage.
    let err = server
        .usage(&owner)
        .record_usage(pb::RecordUsageRequest {
            event: Some(event(&org.name, None, "compute.vcpu_hours", 1, "e")),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    // Another tenant cannot read the costs.
    let err = server
        .costs(&server.account_token("stranger@example.com"))
        .get_cost_summary(pb::GetCostSummaryRequest {
            organization: org.name.clone(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    let err = server
        .costs(&owner)
        .get_cost_summary(pb::GetCostSummaryRequest {
            organization: org.name.clone(),
            period: "2026-13".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&err), ["period"]);
    server.stop().await;
}

backend_tests!(
    ten_thousand_events_with_retried_duplicates_cost_exactly_what_they_should,
    bad_usage_is_refused_per_event_and_only_services_may_record,
);
