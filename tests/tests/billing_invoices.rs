//! Acceptance (billing): invoices. The status machine (every legal move
//! works, every illegal one is refused), finalized invoices never change
//! (late usage goes to the next draft), the finalized invoice of a period
//! equals its cost summary to the cent, invoice numbers are sequential and
//! gap-free under concurrent finalizes, tenant isolation and permissions,
//! field-naming INVALID_ARGUMENT, and readable, escaped exports — on SQLite
//! and PostgreSQL.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike as _, Duration, TimeZone as _, Utc};
use loopback_proto::billing::v1 as pb;
use loopback_proto::r#type::v1::VerificationStatus;
use loopback_tests::{Backend, TestServer, backend_tests, bad_fields, metadata, reason};
use sea_orm::sea_query::{Alias, Query};
use sea_orm::{ConnectionTrait as _, Database};
use tonic::Code;

/// The price book these tests run with (minor units per unit).
const PRICES: &[(&str, i64)] = &[
    ("compute.vcpu_hours", 4),
    ("storage.gb_hours", 1),
    ("network.egress_gb", 9),
];
const TAX_BPS: i64 = 1900;

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
        format!("--tax-rate-bps={TAX_BPS}"),
    ]
}

fn price(meter: &str) -> i64 {
    PRICES.iter().find(|(m, _)| *m == meter).unwrap().1
}

fn tax(subtotal: i64) -> i64 {
    (subtotal * TAX_BPS + 5_000) / 10_000
}

async fn start(backend: Backend) -> TestServer {
    let flags = flags();
    let refs: Vec<&str> = flags.iter().map(String::as_str).collect();
    TestServer::start_with(backend, &refs).await
}

fn period_of(t: DateTime<Utc>) -> String {
    format!("{:04}-{:02}", t.year(), t.month())
}

/// The current billing period.
fn this_period() -> String {
    period_of(Utc::now())
}

/// Noon on the first day of the previous month: a time usage may still be
/// recorded for.
fn last_month() -> DateTime<Utc> {
    let now = Utc::now();
    let first = Utc
        .with_ymd_and_hms(now.year(), now.month(), 1, 12, 0, 0)
        .unwrap();
    let prev = first - Duration::days(1);
    Utc.with_ymd_and_hms(prev.year(), prev.month(), 1, 12, 0, 0)
        .unwrap()
}

fn event(
    org: &str,
    project: Option<&str>,
    meter: &str,
    quantity: i64,
    key: &str,
    at: DateTime<Utc>,
) -> pb::UsageEvent {
    pb::UsageEvent {
        organization: org.into(),
        project: project.map(String::from).unwrap_or_default(),
        meter: meter.into(),
        quantity,
        event_time: Some(loopback_runtime::fields::timestamp(at)),
        idempotency_key: key.into(),
    }
}

/// Records `events` in batches of 250, concurrently; returns how many were
/// new.
async fn record(server: &TestServer, events: &[pb::UsageEvent]) -> usize {
    let svc = server.service_token("metering");
    let calls = events.chunks(250).map(|batch| {
        let mut client = server.usage(&svc);
        let batch = batch.to_vec();
        async move {
            client
                .batch_record_usage(pb::BatchRecordUsageRequest { events: batch })
                .await
        }
    });
    let mut recorded = 0;
    for r in futures::future::join_all(calls).await {
        for result in r.unwrap().into_inner().results {
            assert_eq!(result.code, 0, "{}", result.message);
            recorded += usize::from(result.recorded);
        }
    }
    recorded
}

async fn create_project(server: &TestServer, token: &str, org: &str, name: &str) -> String {
    server
        .projects(token)
        .create_project(loopback_proto::orgcore::v1::CreateProjectRequest {
            parent: org.into(),
            project: Some(loopback_proto::orgcore::v1::Project {
                display_name: name.into(),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .project
        .unwrap()
        .name
}

async fn generate(server: &TestServer, token: &str, org: &str, period: &str) -> pb::Invoice {
    server
        .invoices(token)
        .generate_invoice(pb::GenerateInvoiceRequest {
            parent: org.into(),
            period: period.into(),
        })
        .await
        .unwrap()
        .into_inner()
        .invoice
        .unwrap()
}

async fn get(server: &TestServer, token: &str, name: &str) -> pb::Invoice {
    server
        .invoices(token)
        .get_invoice(pb::GetInvoiceRequest { name: name.into() })
        .await
        .unwrap()
        .into_inner()
        .invoice
        .unwrap()
}

async fn summary(
    server: &TestServer,
    token: &str,
    org: &str,
    period: &str,
) -> pb::GetCostSummaryResponse {
    server
        .costs(token)
        .get_cost_summary(pb::GetCostSummaryRequest {
            organization: org.into(),
            period: period.into(),
            group_by_project: true,
            group_by_meter: true,
        })
        .await
        .unwrap()
        .into_inner()
}

const VERBS: [&str; 5] = [
    "generate",
    "finalize",
    "void",
    "mark_paid",
    "mark_uncollectible",
];

/// Applies a verb to an invoice.
async fn apply(
    server: &TestServer,
    token: &str,
    inv: &pb::Invoice,
    verb: &str,
) -> Result<pb::Invoice, tonic::Status> {
    let mut c = server.invoices(token);
    let name = inv.name.clone();
    match verb {
        "generate" => c
            .generate_invoice(pb::GenerateInvoiceRequest {
                parent: inv.name.split("/invoices/").next().unwrap().into(),
                period: inv.period.clone(),
            })
            .await
            .map(|r| r.into_inner().invoice.unwrap()),
        "finalize" => c
            .finalize_invoice(pb::FinalizeInvoiceRequest { name })
            .await
            .map(|r| r.into_inner().invoice.unwrap()),
        "void" => c
            .void_invoice(pb::VoidInvoiceRequest { name })
            .await
            .map(|r| r.into_inner().invoice.unwrap()),
        "mark_paid" => c
            .mark_invoice_paid(pb::MarkInvoicePaidRequest { name })
            .await
            .map(|r| r.into_inner().invoice.unwrap()),
        "mark_uncollectible" => c
            .mark_invoice_uncollectible(pb::MarkInvoiceUncollectibleRequest { name })
            .await
            .map(|r| r.into_inner().invoice.unwrap()),
        other => panic!("unknown verb {other}"),
    }
}

fn status_name(s: i32) -> &'static str {
    match pb::InvoiceStatus::try_from(s).unwrap() {
        pb::InvoiceStatus::Draft => "draft",
        pb::InvoiceStatus::Open => "open",
        pb::InvoiceStatus::Paid => "paid",
        pb::InvoiceStatus::Void => "void",
        pb::InvoiceStatus::Uncollectible => "uncollectible",
        pb::InvoiceStatus::Unspecified => "unspecified",
    }
}

/// Drives a fresh draft of `period` to `status` along legal moves.
async fn invoice_in(
    server: &TestServer,
    token: &str,
    org: &str,
    period: &str,
    status: &str,
) -> pb::Invoice {
    let draft = generate(server, token, org, period).await;
    let path: &[&str] = match status {
        "draft" => &[],
        "open" => &["finalize"],
        "paid" => &["finalize", "mark_paid"],
        "void" => &["void"],
        "uncollectible" => &["finalize", "mark_uncollectible"],
        other => panic!("unknown status {other}"),
    };
    let mut inv = draft;
    for verb in path {
        inv = apply(server, token, &inv, verb).await.unwrap();
    }
    assert_eq!(status_name(inv.status), status);
    inv
}

/// Usage lines of an invoice: (project, meter) → (quantity, amount).
fn usage_lines(inv: &pb::Invoice) -> BTreeMap<(String, String), (i64, i64)> {
    inv.lines
        .iter()
        .filter(|l| l.kind == pb::InvoiceLineKind::Usage as i32)
        .map(|l| {
            (
                (l.project.clone(), l.meter.clone()),
                (l.quantity, l.amount.as_ref().unwrap().amount_minor),
            )
        })
        .collect()
}

fn summary_lines(s: &pb::GetCostSummaryResponse) -> BTreeMap<(String, String), (i64, i64)> {
    s.lines
        .iter()
        .map(|l| {
            (
                (l.project.clone(), l.meter.clone()),
                (l.quantity, l.amount.as_ref().unwrap().amount_minor),
            )
        })
        .collect()
}

/// The invoice and the summary agree line by line and to the cent.
fn assert_agree(inv: &pb::Invoice, s: &pb::GetCostSummaryResponse) {
    assert_eq!(usage_lines(inv), summary_lines(s));
    assert_eq!(inv.subtotal, s.subtotal);
    assert_eq!(inv.tax, s.tax);
    assert_eq!(inv.total, s.total);
    let tax_line = inv.lines.last().unwrap();
    assert_eq!(tax_line.kind, pb::InvoiceLineKind::Tax as i32);
    assert_eq!(tax_line.amount, inv.tax);
}

fn minor(m: &Option<loopback_proto::r#type::v1::Money>) -> i64 {
    m.as_ref().unwrap().amount_minor
}

/// (1) Every status × every verb: the six legal moves work, the nineteen
/// others are FAILED_PRECONDITION / INVALID_INVOICE_TRANSITION naming
/// from and to, and change nothing. `allowed_actions` says the same.
async fn every_legal_transition_works_and_every_illegal_one_is_refused(backend: Backend) {
    let server = start(backend).await;
    let owner = server.account_token("owner@example.com");
    let org = server.verified_org(&owner, "Acme").await;
    let legal: BTreeMap<(&str, &str), &str> = [
        (("draft", "generate"), "draft"),
        (("draft", "finalize"), "open"),
        (("draft", "void"), "void"),
        (("open", "void"), "void"),
        (("open", "mark_paid"), "paid"),
        (("open", "mark_uncollectible"), "uncollectible"),
    ]
    .into_iter()
    .collect();
    let target = |verb: &str| match verb {
        "generate" => "draft",
        "finalize" => "open",
        "void" => "void",
        "mark_paid" => "paid",
        "mark_uncollectible" => "uncollectible",
        _ => unreachable!(),
    };
    let statuses = ["draft", "open", "paid", "void", "uncollectible"];
    let mut month = 0u32;
    for status in statuses {
        for verb in VERBS {
            // A fresh invoice per case, each in its own past period.
            let period = format!("{:04}-{:02}", 2024 + month / 12, month % 12 + 1);
            month += 1;
            let inv = invoice_in(&server, &owner, &org.name, &period, status).await;
            let mut allowed: Vec<&str> = VERBS
                .into_iter()
                .filter(|v| legal.contains_key(&(status, *v)))
                .collect();
            let mut shown: Vec<&str> = inv.allowed_actions.iter().map(String::as_str).collect();
            allowed.sort_unstable();
            shown.sort_unstable();
            assert_eq!(shown, allowed, "allowed_actions of a {status} invoice");
            match (
                legal.get(&(status, verb)),
                apply(&server, &owner, &inv, verb).await,
            ) {
                (Some(to), Ok(after)) => {
                    assert_eq!(status_name(after.status), *to, "{status} --{verb}-->");
                    assert_eq!(after.name, inv.name);
                }
                (None, Err(err)) => {
                    assert_eq!(
                        err.code(),
                        Code::FailedPrecondition,
                        "{status} --{verb}--> {err:?}"
                    );
                    assert_eq!(reason(&err).as_deref(), Some("INVALID_INVOICE_TRANSITION"));
                    let meta = metadata(&err);
                    assert_eq!(meta["from"], status);
                    assert_eq!(meta["to"], target(verb));
                    assert_eq!(meta["action"], verb);
                    assert_eq!(meta["invoice"], inv.name);
                    assert_eq!(
                        get(&server, &owner, &inv.name).await,
                        inv,
                        "a refused move changes nothing"
                    );
                }
                (Some(_), Err(err)) => panic!("{status} --{verb}--> should work: {err:?}"),
                (None, Ok(after)) => {
                    panic!("{status} --{verb}--> should be refused, got {after:?}")
                }
            }
        }
    }
    // Statuses carry their timestamps; only finalized invoices have numbers.
    let open = invoice_in(&server, &owner, &org.name, "2023-01", "open").await;
    assert!(open.finalize_time.is_some() && open.paid_time.is_none());
    let paid = apply(&server, &owner, &open, "mark_paid").await.unwrap();
    assert!(paid.paid_time.is_some());
    assert_eq!(paid.invoice_number, open.invoice_number);
    let voided_draft = invoice_in(&server, &owner, &org.name, "2023-02", "void").await;
    assert!(voided_draft.invoice_number.is_empty() && voided_draft.void_time.is_some());
    server.stop().await;
}

/// (2) Finalizing freezes an invoice: regenerating is refused and changes
/// nothing, later usage of that period is billed on the next draft, and
/// later status changes keep the lines.
async fn a_finalized_invoice_never_changes_and_late_usage_goes_to_the_next_draft(backend: Backend) {
    let server = start(backend).await;
    let owner = server.account_token("owner@example.com");
    let org = server.verified_org(&owner, "Acme").await;
    let p = create_project(&server, &owner, &org.name, "web").await;
    let at = last_month();
    let (prev, now) = (period_of(at), this_period());
    record(
        &server,
        &[
            event(&org.name, Some(&p), "compute.vcpu_hours", 10, "a", at),
            event(&org.name, None, "storage.gb_hours", 7, "b", at),
        ],
    )
    .await;
    // A draft follows the usage.
    let draft = generate(&server, &owner, &org.name, &prev).await;
    assert_eq!(minor(&draft.subtotal), 10 * 4 + 7);
    record(
        &server,
        &[event(&org.name, Some(&p), "compute.vcpu_hours", 5, "c", at)],
    )
    .await;
    let refreshed = generate(&server, &owner, &org.name, &prev).await;
    assert_eq!(refreshed.name, draft.name, "one invoice per period");
    assert_eq!(minor(&refreshed.subtotal), 15 * 4 + 7);

    let finalized = apply(&server, &owner, &refreshed, "finalize")
        .await
        .unwrap();
    assert_eq!(finalized.invoice_number, "INV-000001");
    assert_eq!(minor(&finalized.subtotal), 15 * 4 + 7);

    // Late usage for the finalized period, and a retry of an old event.
    let late = record(
        &server,
        &[
            event(&org.name, Some(&p), "compute.vcpu_hours", 100, "late-1", at),
            event(&org.name, None, "network.egress_gb", 3, "late-2", at),
            event(&org.name, Some(&p), "compute.vcpu_hours", 10, "a", at),
        ],
    )
    .await;
    assert_eq!(late, 2, "the retry is counted once");
    let err = apply(&server, &owner, &finalized, "generate")
        .await
        .unwrap_err();
    assert_eq!(reason(&err).as_deref(), Some("INVALID_INVOICE_TRANSITION"));
    assert_eq!(metadata(&err)["from"], "open");
    assert_eq!(
        get(&server, &owner, &finalized.name).await,
        finalized,
        "unchanged, to the timestamp"
    );
    // The finalized period's summary still equals its invoice ...
    assert_agree(
        &finalized,
        &summary(&server, &owner, &org.name, &prev).await,
    );
    // ... and the late usage is on the next period's draft.
    let next = generate(&server, &owner, &org.name, &now).await;
    assert_eq!(status_name(next.status), "draft");
    assert_eq!(
        usage_lines(&next),
        [
            ((String::new(), "network.egress_gb".to_string()), (3, 27)),
            ((p.clone(), "compute.vcpu_hours".to_string()), (100, 400)),
        ]
        .into_iter()
        .collect()
    );
    assert_agree(&next, &summary(&server, &owner, &org.name, &now).await);

    // Paying keeps the lines and totals.
    let paid = apply(&server, &owner, &finalized, "mark_paid")
        .await
        .unwrap();
    assert_eq!(paid.lines, finalized.lines);
    assert_eq!(paid.total, finalized.total);
    assert_eq!(paid.invoice_number, finalized.invoice_number);
    server.stop().await;
}

/// (3) Thousands of events with retried duplicates, recorded concurrently:
/// the finalized invoice equals the cost summary of its period line by line
/// and to the cent, and both equal the independently computed totals.
async fn the_finalized_invoice_equals_the_cost_summary_to_the_cent(backend: Backend) {
    let server = start(backend).await;
    let owner = server.account_token("owner@example.com");
    let org = server.verified_org(&owner, "Acme").await;
    let mut projects = Vec::new();
    for i in 0..3 {
        projects.push(create_project(&server, &owner, &org.name, &format!("p{i}")).await);
    }
    let period = this_period();
    let mut events = Vec::new();
    let mut expected: BTreeMap<(String, String), (i64, i64)> = BTreeMap::new();
    for i in 0..3_000usize {
        let (meter, price) = PRICES[i % PRICES.len()];
        let project = if i % 5 == 0 {
            None
        } else {
            Some(projects[i % projects.len()].as_str())
        };
        let quantity = (i as i64 * 7919) % 997 + 1;
        events.push(event(
            &org.name,
            project,
            meter,
            quantity,
            &format!("evt-{i}"),
            Utc::now(),
        ));
        let e = expected
            .entry((project.unwrap_or_default().to_string(), meter.to_string()))
            .or_default();
        e.0 += quantity;
        e.1 += quantity * price;
    }
    let mut submissions = events.clone();
    submissions.extend(events.iter().step_by(10).cloned());
    submissions.rotate_left(1234);
    assert_eq!(record(&server, &submissions).await, 3_000);
    let subtotal: i64 = expected.values().map(|(_, a)| a).sum();

    let draft = generate(&server, &owner, &org.name, &period).await;
    let finalized = apply(&server, &owner, &draft, "finalize").await.unwrap();
    let s = summary(&server, &owner, &org.name, &period).await;
    assert_agree(&finalized, &s);
    assert_eq!(usage_lines(&finalized), expected);
    assert_eq!(minor(&finalized.subtotal), subtotal);
    assert_eq!(minor(&finalized.tax), tax(subtotal));
    assert_eq!(minor(&finalized.total), subtotal + tax(subtotal));
    assert_eq!(finalized.total.as_ref().unwrap().currency_code, "EUR");
    assert_eq!(finalized.tax_rate_bps, 1900);
    // Each line's amount is its quantity times the unit price it shows.
    for l in finalized
        .lines
        .iter()
        .filter(|l| l.kind == pb::InvoiceLineKind::Usage as i32)
    {
        assert_eq!(minor(&l.unit_price), price(&l.meter));
        assert_eq!(minor(&l.amount), l.quantity * price(&l.meter));
    }
    // The ungrouped summary agrees too.
    let flat = server
        .costs(&owner)
        .get_cost_summary(pb::GetCostSummaryRequest {
            organization: org.name.clone(),
            period: period.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(flat.total, finalized.total);
    server.stop().await;
}

/// (3b) Usage recorded while its period is being finalized is never lost
/// and never billed twice: what the finalized invoice holds equals its
/// period's summary, and the rest is on the next period.
async fn usage_racing_a_finalize_is_billed_exactly_once(backend: Backend) {
    let server = start(backend).await;
    let owner = server.account_token("owner@example.com");
    let org = server.verified_org(&owner, "Acme").await;
    let at = last_month();
    let (prev, now) = (period_of(at), this_period());
    let events: Vec<pb::UsageEvent> = (0..3_000)
        .map(|i| {
            event(
                &org.name,
                None,
                "compute.vcpu_hours",
                i % 13 + 1,
                &format!("r-{i}"),
                at,
            )
        })
        .collect();
    let all: i64 = events.iter().map(|e| e.quantity * 4).sum();
    let draft = generate(&server, &owner, &org.name, &prev).await;
    let svc = server.service_token("metering");
    // One event at a time from 12 writers, while the period is finalized.
    let writers = events.chunks(250).map(|chunk| {
        let mut client = server.usage(&svc);
        let chunk = chunk.to_vec();
        async move {
            for e in chunk {
                let r = client
                    .record_usage(pb::RecordUsageRequest { event: Some(e) })
                    .await
                    .unwrap();
                assert!(r.into_inner().recorded);
            }
        }
    });
    let finalize = async {
        tokio::time::sleep(std::time::Duration::from_millis(150)).await;
        apply(&server, &owner, &draft, "finalize").await.unwrap()
    };
    let (_, finalized) = tokio::join!(futures::future::join_all(writers), finalize);
    let s_prev = summary(&server, &owner, &org.name, &prev).await;
    let s_now = summary(&server, &owner, &org.name, &now).await;
    assert_agree(&finalized, &s_prev);
    assert_eq!(get(&server, &owner, &finalized.name).await, finalized);
    assert_eq!(
        minor(&s_prev.subtotal) + minor(&s_now.subtotal),
        all,
        "every event billed exactly once"
    );
    server.stop().await;
}

/// (4) Concurrent finalizes of many periods' drafts (each finalize sent
/// twice at once) number the invoices 1..n with no gap and no repeat, per
/// organization.
async fn invoice_numbers_are_sequential_and_gap_free_under_concurrent_finalizes(backend: Backend) {
    let server = start(backend).await;
    let owner = server.account_token("owner@example.com");
    let acme = server.verified_org(&owner, "Acme").await;
    let globex = server.verified_org(&owner, "Globex").await;
    let mut drafts = Vec::new();
    for m in 1..=12 {
        drafts.push(generate(&server, &owner, &acme.name, &format!("2025-{m:02}")).await);
    }
    for m in 1..=5 {
        drafts.push(generate(&server, &owner, &globex.name, &format!("2025-{m:02}")).await);
    }
    let mut clients = Vec::new();
    for _ in 0..drafts.len() * 2 {
        clients.push(
            loopback_proto::billing::v1::invoice_service_client::InvoiceServiceClient::new(
                server.own_connection(&owner).await,
            ),
        );
    }
    let calls = drafts
        .iter()
        .chain(drafts.iter())
        .zip(clients)
        .map(|(d, mut c)| {
            let name = d.name.clone();
            async move {
                c.finalize_invoice(pb::FinalizeInvoiceRequest { name })
                    .await
            }
        });
    let results = futures::future::join_all(calls).await;
    let mut numbers: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut refused = 0;
    for r in results {
        match r {
            Ok(r) => {
                let inv = r.into_inner().invoice.unwrap();
                let org = inv.name.split("/invoices/").next().unwrap().to_string();
                numbers.entry(org).or_default().push(inv.invoice_number);
            }
            Err(err) => {
                assert_eq!(err.code(), Code::FailedPrecondition, "{err:?}");
                assert_eq!(reason(&err).as_deref(), Some("INVALID_INVOICE_TRANSITION"));
                refused += 1;
            }
        }
    }
    assert_eq!(
        refused,
        drafts.len(),
        "each draft is finalized exactly once"
    );
    for (org, n) in [(&acme.name, 12), (&globex.name, 5)] {
        let mut got = numbers.remove(org).unwrap();
        got.sort();
        let want: Vec<String> = (1..=n).map(|i| format!("INV-{i:06}")).collect();
        assert_eq!(got, want, "numbers of {org}");
    }
    // The stored invoices say the same, and the next number follows on.
    let listed = server
        .invoices(&owner)
        .list_invoices(pb::ListInvoicesRequest {
            parent: acme.name.clone(),
            status: pb::InvoiceStatus::Open.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .invoices;
    assert_eq!(listed.len(), 12);
    let next = invoice_in(&server, &owner, &acme.name, "2024-12", "open").await;
    assert_eq!(next.invoice_number, "INV-000013");
    // Voiding an open invoice does not free its number.
    apply(&server, &owner, &next, "void").await.unwrap();
    let after = invoice_in(&server, &owner, &acme.name, "2024-11", "open").await;
    assert_eq!(after.invoice_number, "INV-000014");
    server.stop().await;
}

/// (5) Another tenant gets NOT_FOUND, a viewer reads but cannot manage, a
/// billing admin manages, bad periods and names are INVALID_ARGUMENT naming
/// the field, BLOCKED organizations keep reading but cannot operate.
async fn invoices_are_isolated_permissioned_and_validated(backend: Backend) {
    let server = start(backend).await;
    let owner = server.account_token("owner@example.com");
    let org = server.verified_org(&owner, "Acme").await;
    let inv = generate(&server, &owner, &org.name, "2026-01").await;
    let id = inv.name.rsplit('/').next().unwrap().to_string();

    // Another tenant: NOT_FOUND for every RPC, never PERMISSION_DENIED.
    let stranger = server.account_token("stranger@example.com");
    let other = server.verified_org(&stranger, "Globex").await;
    for verb in VERBS {
        let err = apply(&server, &stranger, &inv, verb).await.unwrap_err();
        assert_eq!(err.code(), Code::NotFound, "{verb}: {err:?}");
    }
    let mut s = server.invoices(&stranger);
    let err = s
        .get_invoice(pb::GetInvoiceRequest {
            name: inv.name.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    let err = s
        .list_invoices(pb::ListInvoicesRequest {
            parent: org.name.clone(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    let err = s
        .export_invoice(pb::ExportInvoiceRequest {
            name: inv.name.clone(),
            format: pb::InvoiceExportFormat::Html.into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    // Acme's invoice id under the stranger's own organization: NOT_FOUND.
    let smuggled = format!("{}/invoices/{id}", other.name);
    let err = s
        .get_invoice(pb::GetInvoiceRequest {
            name: smuggled.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    let err = s
        .finalize_invoice(pb::FinalizeInvoiceRequest { name: smuggled })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    assert_eq!(get(&server, &owner, &inv.name).await, inv, "untouched");

    // A viewer reads but does not manage; a billing admin manages.
    let (viewer, _) = server
        .add_member(&owner, &org.name, "viewer@example.com", &["viewer"])
        .await;
    assert_eq!(get(&server, &viewer, &inv.name).await, inv);
    let listed = server
        .invoices(&viewer)
        .list_invoices(pb::ListInvoicesRequest {
            parent: org.name.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.invoices, vec![inv.clone()]);
    for verb in VERBS {
        let err = apply(&server, &viewer, &inv, verb).await.unwrap_err();
        assert_eq!(err.code(), Code::PermissionDenied, "{verb}: {err:?}");
        assert_eq!(metadata(&err)["permission"], "billing.invoices.manage");
    }
    let (billing_admin, _) = server
        .add_member(&owner, &org.name, "billing@example.com", &["billing_admin"])
        .await;
    let finalized = apply(&server, &billing_admin, &inv, "finalize")
        .await
        .unwrap();
    let html = server
        .invoices(&billing_admin)
        .export_invoice(pb::ExportInvoiceRequest {
            name: finalized.name.clone(),
            format: pb::InvoiceExportFormat::Html.into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(
        String::from_utf8(html.content)
            .unwrap()
            .contains("INV-000001")
    );

    // Bad input names the field.
    let mut c = server.invoices(&owner);
    for bad in [
        "2026-13", "2026-1", "26-01", "", "2026-00", "abcd-ef", "1999-12", "2999-01",
    ] {
        let err = c
            .generate_invoice(pb::GenerateInvoiceRequest {
                parent: org.name.clone(),
                period: bad.into(),
            })
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument, "{bad:?}");
        assert_eq!(bad_fields(&err), ["period"], "{bad:?}");
    }
    let err = c
        .generate_invoice(pb::GenerateInvoiceRequest {
            parent: "organizations/not-a-uuid".into(),
            period: "2026-13".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&err), ["parent", "period"]);
    let bad_names = [
        String::new(),
        "organizations/x/invoices/y".to_string(),
        format!("{}/invoices/not-a-uuid", org.name),
        format!("{}/paymentMethods/{id}", org.name),
        format!("{}/invoices/{id}/extra", org.name),
    ];
    for name in &bad_names {
        let err = c
            .get_invoice(pb::GetInvoiceRequest { name: name.clone() })
            .await
            .unwrap_err();
        assert_eq!(bad_fields(&err), ["name"], "{name:?}");
        let err = c
            .void_invoice(pb::VoidInvoiceRequest { name: name.clone() })
            .await
            .unwrap_err();
        assert_eq!(bad_fields(&err), ["name"], "{name:?}");
    }
    let missing = format!("{}/invoices/{}", org.name, uuid::Uuid::now_v7());
    let err = c
        .get_invoice(pb::GetInvoiceRequest { name: missing })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    let err = c
        .list_invoices(pb::ListInvoicesRequest {
            parent: org.name.clone(),
            period: "2026-13".into(),
            status: 42,
            page_size: -1,
            ..Default::default()
        })
        .await
        .unwrap_err();
    let mut fields = bad_fields(&err);
    fields.sort();
    assert_eq!(fields, ["page_size", "period", "status"]);
    let err = c
        .export_invoice(pb::ExportInvoiceRequest {
            name: inv.name.clone(),
            format: pb::InvoiceExportFormat::Unspecified.into(),
        })
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&err), ["format"]);

    // BLOCKED: reads work, every write is ENTITY_STATUS (via the authority).
    server
        .set_status(&org.name, VerificationStatus::Blocked)
        .await;
    let mut refused = None;
    for _ in 0..50 {
        match c
            .generate_invoice(pb::GenerateInvoiceRequest {
                parent: org.name.clone(),
                period: "2026-02".into(),
            })
            .await
        {
            Err(e) => {
                refused = Some(e);
                break;
            }
            Ok(_) => tokio::time::sleep(std::time::Duration::from_millis(100)).await,
        }
    }
    let err = refused.expect("refused once the block reaches billing");
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert_eq!(reason(&err).as_deref(), Some("ENTITY_STATUS"));
    let err = apply(&server, &owner, &finalized, "mark_paid")
        .await
        .unwrap_err();
    assert_eq!(reason(&err).as_deref(), Some("ENTITY_STATUS"));
    assert_eq!(get(&server, &owner, &finalized.name).await, finalized);
    server.stop().await;
}

/// Listing filters by status and period and pages by keyset, in creation
/// order; a page token only continues its own query.
async fn invoices_list_by_status_and_period_in_pages(backend: Backend) {
    let server = start(backend).await;
    let owner = server.account_token("owner@example.com");
    let org = server.verified_org(&owner, "Acme").await;
    let mut all = Vec::new();
    for (m, status) in ["draft", "open", "paid", "open", "void", "draft", "open"]
        .iter()
        .enumerate()
    {
        all.push(
            invoice_in(
                &server,
                &owner,
                &org.name,
                &format!("2025-{:02}", m + 1),
                status,
            )
            .await,
        );
    }
    let names = |v: &[pb::Invoice]| v.iter().map(|i| i.name.clone()).collect::<Vec<_>>();
    let mut c = server.invoices(&owner);
    let mut seen = Vec::new();
    let mut token = String::new();
    loop {
        let page = c
            .list_invoices(pb::ListInvoicesRequest {
                parent: org.name.clone(),
                page_size: 3,
                page_token: token.clone(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        assert!(page.invoices.len() <= 3);
        seen.extend(page.invoices);
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(
        names(&seen),
        names(&all),
        "every invoice once, in creation order"
    );
    let open = c
        .list_invoices(pb::ListInvoicesRequest {
            parent: org.name.clone(),
            status: pb::InvoiceStatus::Open.into(),
            page_size: 2,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(open.invoices.len(), 2);
    assert!(
        open.invoices
            .iter()
            .all(|i| i.status == pb::InvoiceStatus::Open as i32)
    );
    // The open-filtered token does not continue an unfiltered query.
    let err = c
        .list_invoices(pb::ListInvoicesRequest {
            parent: org.name.clone(),
            page_size: 2,
            page_token: open.next_page_token.clone(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(bad_fields(&err), ["page_token"]);
    let rest = c
        .list_invoices(pb::ListInvoicesRequest {
            parent: org.name.clone(),
            status: pb::InvoiceStatus::Open.into(),
            page_size: 2,
            page_token: open.next_page_token,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(rest.invoices.len(), 1);
    assert!(rest.next_page_token.is_empty());
    let by_period = c
        .list_invoices(pb::ListInvoicesRequest {
            parent: org.name.clone(),
            period: "2025-03".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(names(&by_period.invoices), [all[2].name.clone()]);
    assert_eq!(status_name(by_period.invoices[0].status), "paid");
    server.stop().await;
}

/// Plants a usage row straight into billing's database (the API refuses
/// such meters and projects; stored data must still render safely).
async fn plant_usage(server: &TestServer, org: &str, project: &str, meter: &str, quantity: i64) {
    let db = Database::connect(&server.billing_database_url())
        .await
        .unwrap();
    let org_id = org.strip_prefix("organizations/").unwrap();
    let now = Utc::now();
    let insert = Query::insert()
        .into_table(Alias::new("usage_events"))
        .columns(
            [
                "organization_id",
                "idempotency_key",
                "project_id",
                "meter",
                "quantity",
                "event_time",
                "period",
                "record_time",
                "reporter",
            ]
            .map(Alias::new),
        )
        .values_panic([
            org_id.into(),
            "planted".into(),
            project.into(),
            meter.into(),
            quantity.into(),
            now.into(),
            this_period().into(),
            now.into(),
            "test".into(),
        ])
        .to_owned();
    db.execute(&insert).await.unwrap();
    db.close().await.unwrap();
}

/// (6) The HTML export is a self-contained page with the number, every line
/// and the totals, and escapes HTML in project names and meters; the JSON
/// export carries the same numbers.
async fn exports_are_readable_and_escape_html(backend: Backend) {
    let server = start(backend).await;
    let owner = server.account_token("owner@example.com");
    let org = server.verified_org(&owner, "Acme").await;
    let p = create_project(&server, &owner, &org.name, "web").await;
    let now = Utc::now();
    record(
        &server,
        &[
            event(&org.name, Some(&p), "compute.vcpu_hours", 1234, "a", now),
            event(&org.name, None, "network.egress_gb", 17, "b", now),
        ],
    )
    .await;
    let evil_project = "<b>\"x\"&'y'</b>";
    let evil_meter = "<script>alert(\"pwn\")</script>";
    plant_usage(&server, &org.name, evil_project, evil_meter, 5).await;
    let draft = generate(&server, &owner, &org.name, &this_period()).await;
    let export = |name: String, format: pb::InvoiceExportFormat| {
        let mut c = server.invoices(&owner);
        async move {
            c.export_invoice(pb::ExportInvoiceRequest {
                name,
                format: format.into(),
            })
            .await
            .unwrap()
            .into_inner()
        }
    };
    // A draft exports as a draft.
    let draft_html = String::from_utf8(
        export(draft.name.clone(), pb::InvoiceExportFormat::Html)
            .await
            .content,
    )
    .unwrap();
    assert!(draft_html.contains("Draft invoice"));
    let inv = server
        .invoices(&owner)
        .finalize_invoice(pb::FinalizeInvoiceRequest {
            name: draft.name.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .invoice
        .unwrap();
    let subtotal = 1234 * 4 + 17 * 9;
    assert_eq!(
        minor(&inv.subtotal),
        subtotal,
        "the unknown meter is priced at 0"
    );
    let doc = export(inv.name.clone(), pb::InvoiceExportFormat::Html).await;
    assert_eq!(doc.content_type, "text/html; charset=utf-8");
    assert_eq!(doc.filename, "INV-000001.html");
    let html = String::from_utf8(doc.content).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(
        html.contains("<style>") && !html.contains("<link") && !html.contains("src="),
        "self-contained"
    );
    assert!(html.contains("INV-000001"));
    let euros = |m: i64| format!("{}.{:02} EUR", m / 100, m % 100);
    for l in inv
        .lines
        .iter()
        .filter(|l| l.kind == pb::InvoiceLineKind::Usage as i32)
    {
        if l.meter == evil_meter {
            continue;
        }
        assert!(html.contains(&l.meter), "line {}", l.meter);
        assert!(
            html.contains(&euros(minor(&l.amount))),
            "amount of {}",
            l.meter
        );
        assert!(html.contains(&l.quantity.to_string()));
    }
    assert!(html.contains(p.rsplit('/').next().unwrap()), "the project");
    assert!(html.contains(&euros(subtotal)));
    assert!(html.contains(&euros(tax(subtotal))));
    assert!(html.contains(&euros(subtotal + tax(subtotal))), "the total");
    assert!(html.contains("Tax 19 %"));
    // Escaped, never raw.
    assert!(!html.contains("<script>") && !html.contains("<b>"));
    assert!(html.contains("&lt;script&gt;alert(&quot;pwn&quot;)&lt;/script&gt;"));
    assert!(html.contains("&lt;b&gt;&quot;x&quot;&amp;&#39;y&#39;&lt;/b&gt;"));

    let doc = export(inv.name.clone(), pb::InvoiceExportFormat::Json).await;
    assert_eq!(doc.content_type, "application/json");
    assert_eq!(doc.filename, "INV-000001.json");
    let json: serde_json::Value = serde_json::from_slice(&doc.content).unwrap();
    assert_eq!(json["invoice_number"], "INV-000001");
    assert_eq!(json["name"], inv.name.as_str());
    assert_eq!(json["status"], "open");
    assert_eq!(json["currency"], "EUR");
    assert_eq!(json["subtotal_minor"], subtotal);
    assert_eq!(json["total_minor"], minor(&inv.total));
    assert_eq!(json["lines"].as_array().unwrap().len(), inv.lines.len());
    assert!(
        json["lines"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l["meter"] == evil_meter)
    );
    server.stop().await;
}

/// The legal profile a bill-to is copied from, with text that must be
/// escaped in HTML.
fn awkward_profile(org: &str) -> loopback_proto::orgcore::v1::OrganizationProfile {
    let mut profile = loopback_tests::requests::legal_profile(org, "NL", "NL123456789B01");
    profile.legal_name = "<b>Acme & Söhne</b> \"B.V.\"".into();
    profile.address.as_mut().unwrap().address_lines = vec!["Keizersgracht <1>".into()];
    profile
}

async fn invoices_are_addressed_to_the_legal_profile_as_finalized(backend: Backend) {
    let server = start(backend).await;
    let owner = server.account_token("owner@example.com");
    let org = server.verified_org(&owner, "Acme").await;
    server
        .onboarding(&owner)
        .update_organization_profile(loopback_tests::requests::update_profile(awkward_profile(
            &org.name,
        )))
        .await
        .unwrap();
    record(
        &server,
        &[event(
            &org.name,
            None,
            "compute.vcpu_hours",
            3,
            "a",
            Utc::now(),
        )],
    )
    .await;
    // A draft is addressed to nobody yet.
    let draft = generate(&server, &owner, &org.name, &this_period()).await;
    assert!(draft.bill_to.is_none());
    let inv = server
        .invoices(&owner)
        .finalize_invoice(pb::FinalizeInvoiceRequest {
            name: draft.name.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .invoice
        .unwrap();
    let bill_to = inv.bill_to.clone().expect("finalized with a bill-to");
    assert_eq!(bill_to.legal_name, "<b>Acme & Söhne</b> \"B.V.\"");
    assert_eq!(bill_to.tax_id, "NL123456789B01");
    assert_eq!(bill_to.billing_email, "billing@acme.example");
    let address = bill_to.address.clone().unwrap();
    assert_eq!(address.country, "NL");
    assert_eq!(address.city, "Berlin");
    assert_eq!(address.address_lines, ["Keizersgracht <1>"]);

    // The profile changes afterwards: the finalized invoice does not.
    let mut moved = loopback_tests::requests::legal_profile(&org.name, "DE", "DE123456789");
    moved.legal_name = "Acme GmbH".into();
    server
        .onboarding(&owner)
        .update_organization_profile(loopback_tests::requests::update_profile(moved))
        .await
        .unwrap();
    assert_eq!(
        get(&server, &owner, &inv.name).await.bill_to,
        Some(bill_to.clone())
    );
    server
        .invoices(&owner)
        .mark_invoice_paid(pb::MarkInvoicePaidRequest {
            name: inv.name.clone(),
        })
        .await
        .unwrap();
    assert_eq!(
        get(&server, &owner, &inv.name).await.bill_to,
        Some(bill_to.clone())
    );

    // The documents show it; the HTML escapes it.
    let export = |format: pb::InvoiceExportFormat| {
        let mut c = server.invoices(&owner);
        let name = inv.name.clone();
        async move {
            c.export_invoice(pb::ExportInvoiceRequest {
                name,
                format: format.into(),
            })
            .await
            .unwrap()
            .into_inner()
            .content
        }
    };
    let html = String::from_utf8(export(pb::InvoiceExportFormat::Html).await).unwrap();
    assert!(html.contains("Bill to"));
    assert!(!html.contains("<b>Acme"), "never raw");
    assert!(html.contains("&lt;b&gt;Acme &amp; Söhne&lt;/b&gt; &quot;B.V.&quot;"));
    assert!(html.contains("Keizersgracht &lt;1&gt;"));
    assert!(html.contains("NL123456789B01"));
    assert!(html.contains("billing@acme.example"));
    assert!(!html.contains("Acme GmbH"), "the profile as it was");
    let json: serde_json::Value =
        serde_json::from_slice(&export(pb::InvoiceExportFormat::Json).await).unwrap();
    assert_eq!(
        json["bill_to"]["legal_name"],
        "<b>Acme & Söhne</b> \"B.V.\""
    );
    assert_eq!(json["bill_to"]["tax_id"], "NL123456789B01");
    assert_eq!(json["bill_to"]["address"]["country"], "NL");

    // An organization without a profile: finalized without a bill-to.
    let bare = server.verified_org(&owner, "Bare").await;
    let draft = generate(&server, &owner, &bare.name, &this_period()).await;
    let inv = server
        .invoices(&owner)
        .finalize_invoice(pb::FinalizeInvoiceRequest { name: draft.name })
        .await
        .unwrap()
        .into_inner()
        .invoice
        .unwrap();
    assert!(inv.bill_to.is_none());
    let json: serde_json::Value = serde_json::from_slice(&{
        let mut c = server.invoices(&owner);
        c.export_invoice(pb::ExportInvoiceRequest {
            name: inv.name.clone(),
            format: pb::InvoiceExportFormat::Json.into(),
        })
        .await
        .unwrap()
        .into_inner()
        .content
    })
    .unwrap();
    assert!(json["bill_to"].is_null());
    server.stop().await;
}

backend_tests!(
    invoices_are_addressed_to_the_legal_profile_as_finalized,
    every_legal_transition_works_and_every_illegal_one_is_refused,
    a_finalized_invoice_never_changes_and_late_usage_goes_to_the_next_draft,
    the_finalized_invoice_equals_the_cost_summary_to_the_cent,
    usage_racing_a_finalize_is_billed_exactly_once,
    invoice_numbers_are_sequential_and_gap_free_under_concurrent_finalizes,
    invoices_are_isolated_permissioned_and_validated,
    invoices_list_by_status_and_period_in_pages,
    exports_are_readable_and_escape_html,
);
