//! Acceptance (service kit): org-core and billing run as separate OS
//! processes — the real `org-core` and `billing` binaries, each with its own
//! database — and billing finds org-core by `--org-core-url`. The billing
//! scenario runs across them; with org-core stopped billing keeps reading
//! from its cache, writes succeed while the cache is fresh and then fail
//! closed, and everything recovers when org-core returns, without
//! restarting billing. Writes billing acknowledged during the outage reach
//! org-core's audit log once org-core is back, each exactly once.
//!
//! How a standalone service gets its keys, as the README says: every
//! process verifies tokens with the same JWT key file, and billing's own
//! token towards org-core is minted from it with `loopbackd token --service
//! billing`.

mod interop_common;

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use interop_common::{Process, binary, clean_command, free_port, run};
use loopback_proto::billing::v1 as bpb;
use loopback_proto::orgcore::v1 as pb;
use loopback_proto::r#type::v1 as tpb;
use loopback_runtime::auth::{
    Authenticator, DEFAULT_AUDIENCE, DEFAULT_ISSUER, Principal, PrincipalKind,
};
use loopback_tests::requests::{card, spending_limit, vcpu_usage};
use loopback_tests::{Backend, backend_tests, connect_as, pg, reason};
use tonic::Code;

/// billing trusts a cached decision for writes this long after org-core
/// was last seen; short, so the test sees writes fail closed soon.
const STALENESS_SECONDS: u64 = 4;
const EVENTUALLY: Duration = Duration::from_secs(30);

async fn database_url(backend: Backend, dir: &Path, service: &str) -> String {
    match backend {
        Backend::Sqlite => loopback_runtime::db::sqlite_url(dir, &format!("{service}.db")).unwrap(),
        Backend::Postgres => pg::fresh_database().await,
    }
}

/// Starts `name` on `addr`, retrying while the port is still held by a
/// process just killed.
fn spawn(name: &str, addr: SocketAddr, data_dir: &Path, flags: &[String]) -> Process {
    let deadline = Instant::now() + EVENTUALLY;
    loop {
        match Process::spawn(name, addr, data_dir, flags) {
            Ok(process) => return process,
            Err(why) if Instant::now() < deadline && why.contains("in use") => {
                std::thread::sleep(Duration::from_millis(200));
            }
            Err(why) => panic!("{name} did not start on {addr}: {why}"),
        }
    }
}

fn principal(kind: PrincipalKind, subject: &str, email: Option<&str>) -> Principal {
    Principal {
        kind,
        subject: subject.into(),
        email: email.map(String::from),
        name: None,
    }
}

/// Polls `check` until it returns `Some`, or fails after [`EVENTUALLY`].
async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + EVENTUALLY;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn org_core_and_billing_as_separate_processes(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let shared = dir.path().join("shared");
    let (core_dir, billing_dir) = (dir.path().join("org-core"), dir.path().join("billing"));
    for d in [&shared, &core_dir, &billing_dir] {
        std::fs::create_dir_all(d).unwrap();
    }
    // The documented way to give a standalone service its keys and token.
    let minted = run(clean_command(&binary("loopbackd"))
        .arg("--data-dir")
        .arg(&shared)
        .args(["token", "--service", "billing", "--ttl-hours", "2"]));
    assert!(minted.status.success(), "{minted:?}");
    let token_file = shared.join("billing.token");
    std::fs::write(&token_file, &minted.stdout).unwrap();
    let key_file = shared.join(loopback_runtime::config::DEV_KEY_FILE);
    let auth =
        Authenticator::from_key_files(&[&key_file], DEFAULT_ISSUER, DEFAULT_AUDIENCE).unwrap();
    let mint = |p: Principal| auth.mint(&p, chrono::Duration::hours(1)).unwrap();

    let core_addr: SocketAddr = ([127, 0, 0, 1], free_port()).into();
    let billing_addr: SocketAddr = ([127, 0, 0, 1], free_port()).into();
    let core_flags = vec![
        format!("--jwt-key-file={}", key_file.display()),
        format!(
            "--org-core-database-url={}",
            database_url(backend, &core_dir, "org-core").await
        ),
    ];
    let billing_flags = vec![
        format!("--jwt-key-file={}", key_file.display()),
        format!(
            "--billing-database-url={}",
            database_url(backend, &billing_dir, "billing").await
        ),
        format!("--org-core-url=http://{core_addr}"),
        format!("--service-token-file={}", token_file.display()),
        format!("--authority-staleness-seconds={STALENESS_SECONDS}"),
        "--price=compute.vcpu_hours=4".into(),
    ];
    let core = spawn("org-core", core_addr, &core_dir, &core_flags);
    let billing = spawn("billing", billing_addr, &billing_dir, &billing_flags);

    let owner_token = mint(principal(
        PrincipalKind::Account,
        "sub-owner",
        Some("owner@example.com"),
    ));
    let operator_token = mint(principal(PrincipalKind::Operator, "op", None));
    let metering_token = mint(principal(PrincipalKind::Service, "metering", None));
    let orgs = || async {
        pb::organization_service_client::OrganizationServiceClient::new(
            connect_as(core_addr, &owner_token).await,
        )
    };
    let projects = || async {
        pb::project_service_client::ProjectServiceClient::new(
            connect_as(core_addr, &owner_token).await,
        )
    };
    let payments = || async {
        bpb::payment_method_service_client::PaymentMethodServiceClient::new(
            connect_as(billing_addr, &owner_token).await,
        )
    };
    let spending = || async {
        bpb::spending_limit_service_client::SpendingLimitServiceClient::new(
            connect_as(billing_addr, &owner_token).await,
        )
    };
    let invoices = || async {
        bpb::invoice_service_client::InvoiceServiceClient::new(
            connect_as(billing_addr, &owner_token).await,
        )
    };

    // Verify → payment method → usage → invoice → hard spending limit.
    let org = orgs()
        .await
        .create_organization(pb::CreateOrganizationRequest {
            organization: Some(pb::Organization {
                display_name: "Acme".into(),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .organization
        .unwrap();
    pb::operator_service_client::OperatorServiceClient::new(
        connect_as(core_addr, &operator_token).await,
    )
    .set_verification_status(pb::SetVerificationStatusRequest {
        name: org.name.clone(),
        verification_status: tpb::VerificationStatus::Verified.into(),
        reason: "documents checked".into(),
        validate_only: false,
    })
    .await
    .unwrap();
    let method = payments()
        .await
        .create_payment_method(card(&org.name, "tok_visa_4242"))
        .await
        .unwrap()
        .into_inner()
        .payment_method
        .unwrap();
    let mut usage_client = bpb::usage_service_client::UsageServiceClient::new(
        connect_as(billing_addr, &metering_token).await,
    );
    assert!(
        usage_client
            .record_usage(vcpu_usage(&org.name, 10, "u-1"))
            .await
            .unwrap()
            .into_inner()
            .recorded
    );
    let period = loopback_billing::usage::period_of(chrono::Utc::now());
    let invoice = invoices()
        .await
        .generate_invoice(bpb::GenerateInvoiceRequest {
            parent: org.name.clone(),
            period,
        })
        .await
        .unwrap()
        .into_inner()
        .invoice
        .unwrap();
    assert_eq!(invoice.subtotal.unwrap().amount_minor, 40);
    let finalized = invoices()
        .await
        .finalize_invoice(bpb::FinalizeInvoiceRequest {
            name: invoice.name.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .invoice
        .unwrap();
    assert_eq!(finalized.invoice_number, "INV-000001");
    spending()
        .await
        .set_spending_limit(spending_limit(&org.name, 30, &[50], true))
        .await
        .unwrap();
    // This period's spend (40) is already past the hard limit (30).
    let refused = eventually("CreateProject refused by the hard limit", || async {
        let err = projects()
            .await
            .create_project(pb::CreateProjectRequest {
                parent: org.name.clone(),
                project: Some(pb::Project {
                    display_name: "Web".into(),
                    ..Default::default()
                }),
                ..Default::default()
            })
            .await
            .err()?;
        (reason(&err).as_deref() == Some("SPENDING_LIMIT_REACHED")).then_some(err)
    })
    .await;
    assert_eq!(refused.code(), Code::ResourceExhausted);

    // Warm billing's cache for the calls made during the outage. The hard
    // limit's policy change is still travelling the feed to billing, where
    // it drops the organization's cached decisions: warm again once it
    // will have arrived (a push, normally milliseconds).
    let set_default = bpb::SetDefaultPaymentMethodRequest {
        name: method.name.clone(),
    };
    let list = bpb::ListPaymentMethodsRequest {
        parent: org.name.clone(),
        ..Default::default()
    };
    for settle in [Duration::from_millis(0), Duration::from_secs(1)] {
        tokio::time::sleep(settle).await;
        payments()
            .await
            .set_default_payment_method(set_default.clone())
            .await
            .unwrap();
        payments()
            .await
            .list_payment_methods(list.clone())
            .await
            .unwrap();
    }

    // org-core goes away at once.
    core.kill();
    let read = payments()
        .await
        .list_payment_methods(list.clone())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        read.payment_methods.len(),
        1,
        "billing reads answer from the cache"
    );
    payments()
        .await
        .set_default_payment_method(set_default.clone())
        .await
        .expect("a write within the staleness bound is allowed from the cache");
    // Once the cache is older than the staleness bound, writes fail closed.
    tokio::time::sleep(Duration::from_secs(STALENESS_SECONDS + 1)).await;
    let failed = payments()
        .await
        .set_default_payment_method(set_default.clone())
        .await
        .unwrap_err();
    assert_eq!(failed.code(), Code::Unavailable);
    assert_eq!(reason(&failed).as_deref(), Some("AUTHORITY_UNAVAILABLE"));
    let read = payments()
        .await
        .list_payment_methods(list.clone())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        read.payment_methods.len(),
        1,
        "reads still answer once writes fail closed"
    );

    // org-core returns (same database, same address); billing recovers by itself.
    let core = spawn("org-core", core_addr, &core_dir, &core_flags);
    eventually("billing writes to recover", || async {
        payments()
            .await
            .set_default_payment_method(set_default.clone())
            .await
            .ok()
    })
    .await;

    // Every billing write billing acknowledged is in org-core's one audit
    // log, once — including the one made while org-core was down.
    let audit = || async {
        pb::audit_service_client::AuditServiceClient::new(connect_as(core_addr, &owner_token).await)
    };
    let events = eventually("billing's writes in the audit log", || async {
        let events = audit()
            .await
            .list_audit_events(pb::ListAuditEventsRequest {
                parent: org.name.clone(),
                page_size: 1000,
                ..Default::default()
            })
            .await
            .ok()?
            .into_inner()
            .audit_events;
        let defaults = events
            .iter()
            .filter(|e| e.method == "SetDefaultPaymentMethod")
            .count();
        (defaults >= 4).then_some(events)
    })
    .await;
    let billing_events: Vec<_> = events.iter().filter(|e| e.service == "billing").collect();
    let count = |method: &str| billing_events.iter().filter(|e| e.method == method).count();
    assert_eq!(
        count("SetDefaultPaymentMethod"),
        4,
        "two warming the cache, one during and one after the outage, once each"
    );
    assert_eq!(count("CreatePaymentMethod"), 1);
    assert_eq!(count("GenerateInvoice"), 1);
    assert_eq!(count("FinalizeInvoice"), 1);
    assert_eq!(count("SetSpendingLimit"), 1);
    let owner_actor = events
        .iter()
        .find(|e| e.method == "CreateOrganization")
        .map(|e| e.actor.clone())
        .unwrap();
    for e in &billing_events {
        assert_eq!(
            e.actor, owner_actor,
            "billing's events name the same account as org-core's"
        );
        assert_eq!(e.organization, org.name);
    }
    let mut names: Vec<_> = events.iter().map(|e| e.name.clone()).collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), events.len(), "no event is logged twice");
    drop((billing, core));
}

/// Acceptance (onboarding): billing tells org-core whether an organization
/// has a payment method; a change made while org-core is down still
/// arrives once org-core is back, without restarting billing.
async fn payment_method_facts_reach_org_core_after_an_outage(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let shared = dir.path().join("shared");
    let (core_dir, billing_dir) = (dir.path().join("org-core"), dir.path().join("billing"));
    for d in [&shared, &core_dir, &billing_dir] {
        std::fs::create_dir_all(d).unwrap();
    }
    let minted = run(clean_command(&binary("loopbackd"))
        .arg("--data-dir")
        .arg(&shared)
        .args(["token", "--service", "billing", "--ttl-hours", "2"]));
    assert!(minted.status.success(), "{minted:?}");
    let token_file = shared.join("billing.token");
    std::fs::write(&token_file, &minted.stdout).unwrap();
    let key_file = shared.join(loopback_runtime::config::DEV_KEY_FILE);
    let auth =
        Authenticator::from_key_files(&[&key_file], DEFAULT_ISSUER, DEFAULT_AUDIENCE).unwrap();
    let owner_token = auth
        .mint(
            &principal(
                PrincipalKind::Account,
                "sub-owner",
                Some("owner@example.com"),
            ),
            chrono::Duration::hours(1),
        )
        .unwrap();
    let core_addr: SocketAddr = ([127, 0, 0, 1], free_port()).into();
    let billing_addr: SocketAddr = ([127, 0, 0, 1], free_port()).into();
    let core_flags = vec![
        format!("--jwt-key-file={}", key_file.display()),
        format!(
            "--org-core-database-url={}",
            database_url(backend, &core_dir, "org-core").await
        ),
    ];
    let billing_flags = vec![
        format!("--jwt-key-file={}", key_file.display()),
        format!(
            "--billing-database-url={}",
            database_url(backend, &billing_dir, "billing").await
        ),
        format!("--org-core-url=http://{core_addr}"),
        format!("--service-token-file={}", token_file.display()),
        format!("--authority-staleness-seconds={STALENESS_SECONDS}"),
    ];
    let core = spawn("org-core", core_addr, &core_dir, &core_flags);
    let billing = spawn("billing", billing_addr, &billing_dir, &billing_flags);
    let onboarding = || async {
        pb::onboarding_service_client::OnboardingServiceClient::new(
            connect_as(core_addr, &owner_token).await,
        )
    };
    let payments = || async {
        bpb::payment_method_service_client::PaymentMethodServiceClient::new(
            connect_as(billing_addr, &owner_token).await,
        )
    };
    let has_payment_method = |org: String| async move {
        let status = onboarding()
            .await
            .get_onboarding_status(pb::GetOnboardingStatusRequest { organization: org })
            .await
            .ok()?
            .into_inner()
            .onboarding_status?;
        status
            .items
            .iter()
            .find(|i| i.item == "payment_method")
            .map(|i| i.complete)
    };

    let org = pb::organization_service_client::OrganizationServiceClient::new(
        connect_as(core_addr, &owner_token).await,
    )
    .create_organization(pb::CreateOrganizationRequest {
        organization: Some(pb::Organization {
            display_name: "Acme".into(),
            ..Default::default()
        }),
        ..Default::default()
    })
    .await
    .unwrap()
    .into_inner()
    .organization
    .unwrap();
    // An IN_SETUP organization adds a payment method: org-core hears of it.
    let method = payments()
        .await
        .create_payment_method(card(&org.name, "tok_visa_4242"))
        .await
        .unwrap()
        .into_inner()
        .payment_method
        .unwrap();
    eventually("the payment method fact", || async {
        has_payment_method(org.name.clone()).await.filter(|c| *c)
    })
    .await;
    // Warm billing's cache for the delete made during the outage.
    let delete = |validate_only: bool| bpb::DeletePaymentMethodRequest {
        name: method.name.clone(),
        validate_only,
    };
    payments()
        .await
        .delete_payment_method(delete(true))
        .await
        .unwrap();

    // org-core goes away; the last payment method goes while it is away.
    core.kill();
    payments()
        .await
        .delete_payment_method(delete(false))
        .await
        .expect("a write within the staleness bound is allowed from the cache");

    // org-core returns: the fact arrives by itself.
    let core = spawn("org-core", core_addr, &core_dir, &core_flags);
    eventually("the payment method removal to reach org-core", || async {
        has_payment_method(org.name.clone()).await.filter(|c| !*c)
    })
    .await;
    let events = eventually("both reports in the audit log", || async {
        let events = pb::audit_service_client::AuditServiceClient::new(
            connect_as(core_addr, &owner_token).await,
        )
        .list_audit_events(pb::ListAuditEventsRequest {
            parent: org.name.clone(),
            page_size: 1000,
            ..Default::default()
        })
        .await
        .ok()?
        .into_inner()
        .audit_events;
        let reports: Vec<_> = events
            .into_iter()
            .filter(|e| e.method == "ReportOnboardingItem")
            .collect();
        (reports.len() == 2).then_some(reports)
    })
    .await;
    let facts: Vec<serde_json::Value> = events
        .iter()
        .map(|e| {
            serde_json::from_str::<serde_json::Value>(&e.details_json).unwrap()["complete"].clone()
        })
        .collect();
    // Newest first: the removal, then the first payment method.
    assert_eq!(facts, [serde_json::json!(false), serde_json::json!(true)]);
    assert!(events.iter().all(|e| e.actor == "service:billing"));
    drop((billing, core));
}

backend_tests!(
    org_core_and_billing_as_separate_processes,
    payment_method_facts_reach_org_core_after_an_outage,
);
